//! The real `ward` binary writing probe results into its on-disk store: what it acknowledged
//! survives `kill -9`, and a restart on the same data directory carries on where it stopped.

use crate::util::{HttpServer, Ward, eventually, http_get};
use std::time::Duration;
use ward_store::{Matcher, Store, StoreOptions};
use ward_tests::artifacts;

fn probe_success(data: &std::path::Path) -> Vec<(i64, f64)> {
    let store = Store::open(
        data.join("store"),
        StoreOptions {
            maintenance_interval: None,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let got = store
        .select(
            &[
                Matcher::equal("__name__", "probe_success"),
                Matcher::equal("check", "web"),
            ],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    store.close().unwrap();
    assert!(got.len() <= 1, "{got:?}");
    got.into_iter()
        .next()
        .map(|s| s.samples)
        .unwrap_or_default()
}

#[test]
fn probe_results_survive_kill_9_and_a_restart_appends_to_them() {
    let server = HttpServer::start(200, "ok");
    let config = format!(
        r#"
[[check]]
name = "web"
plugin = "http"
targets = ["http://{addr}/"]
interval = "100ms"
timeout = "90ms"
grant = {{ net = ["{addr}"] }}
"#,
        addr = server.addr
    );
    let ward = Ward::start(&config);
    ward.install(artifacts::HTTP, "http");
    eventually(Duration::from_secs(20), "five probes of `web`", || {
        let runs = ward.target("web", 0)["runs"].as_u64().unwrap_or(0);
        (runs >= 5).then_some(())
    });
    let (status, metrics) = http_get(ward.addr, "/metrics");
    assert_eq!(status, 200);
    let appended = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ward_store_samples_appended_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no ward_store_samples_appended_total in\n{metrics}"));
    assert!(appended >= 5.0 * 3.0, "{appended}");
    assert!(metrics.contains("ward_store_disk_bytes "), "{metrics}");
    // Where the store's memory is, bounded by `[store]`'s defaults (8 MiB of cache, 2 MiB
    // of kept chunks).
    let gauge = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert!(gauge("ward_store_cache_bytes ") <= 8.0 * 1024.0 * 1024.0);
    assert!(gauge("ward_store_memtable_bytes ") > 0.0);
    assert!(gauge("ward_store_head_kept_bytes ") <= 2.0 * 1024.0 * 1024.0);
    let dir = ward.kill();

    let first = probe_success(&dir.path().join("data"));
    assert!(first.len() >= 4, "{first:?}");
    assert!(first.iter().all(|&(_, v)| v == 1.0), "{first:?}");

    let ward = Ward::start_in(dir);
    eventually(Duration::from_secs(20), "more probes after restart", || {
        let runs = ward.target("web", 0)["runs"].as_u64().unwrap_or(0);
        (runs >= 3).then_some(())
    });
    let dir = ward.kill();
    let second = probe_success(&dir.path().join("data"));
    assert!(
        second.len() >= first.len() + 2,
        "{} then {}",
        first.len(),
        second.len()
    );
    assert_eq!(&second[..first.len()], &first[..]);
    assert!(second.windows(2).all(|w| w[0].0 < w[1].0));
}
