//! Hot reload of plugins and of the config under a running schedule, through the real binary,
//! and what the schedule writes to the store.

use crate::util::{Ward, eventually, http_get, install};
use std::sync::Arc;
use std::time::Duration;
use ward_tests::artifacts;

const NOOP_CHECK: &str = r#"
[[check]]
name = "n"
plugin = "noop"
targets = ["t"]
interval = "100ms"
timeout = "80ms"
"#;

fn message(ward: &Ward) -> String {
    ward.target("n", 0)["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn runs(ward: &Ward) -> u64 {
    ward.target("n", 0)["runs"].as_u64().unwrap_or(0)
}

#[test]
fn add_replace_break_and_remove_a_plugin_under_a_running_schedule() {
    let ward = Ward::start(NOOP_CHECK);
    let s = Duration::from_secs(10);

    // The check waits, visibly, for its plugin.
    eventually(s, "check waiting", || {
        (ward.target("n", 0)["status"] == "waiting").then_some(())
    });
    assert!(
        message(&ward).contains("\"noop\" is not loaded"),
        "{}",
        message(&ward)
    );

    // Added: starts.
    ward.install(artifacts::NOOP_V1, "noop");
    eventually(s, "v1 serving", || {
        (message(&ward) == "noop v1").then_some(())
    });
    assert_eq!(ward.plugin("noop")["version"], "0.1.0");
    assert_eq!(ward.plugin("noop")["state"], "loaded");

    // Replaced: the next run uses v2, first as baseline code, then as optimized code; no tick
    // is lost across either swap.
    let before = runs(&ward);
    let started = std::time::Instant::now();
    ward.install(artifacts::NOOP_V2, "noop");
    eventually(s, "v2 serving", || {
        (message(&ward) == "noop v2").then_some(())
    });
    eventually(s, "v2 optimized", || {
        (ward.plugin("noop")["tier"] == "optimized").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let elapsed = started.elapsed();
    let ran = runs(&ward) - before;
    let ticks = (elapsed.as_millis() / 100) as u64;
    assert!(
        ran + 2 >= ticks,
        "{ran} runs in {elapsed:?} at 100 ms: ticks were missed"
    );
    let p = ward.plugin("noop");
    assert_eq!(p["version"], "0.2.0");
    assert_eq!(p["state"], "loaded");
    let log = ward.stderr.lock().unwrap().clone();
    assert!(
        log.contains("baseline") && log.contains("optimized code serving"),
        "{log}"
    );
    let (_, metrics) = http_get(ward.addr, "/metrics");
    assert!(
        metrics.contains("plugin=\"noop\",kind=\"prober\",version=\"0.2.0\",tier=\"optimized\"} 1"),
        "{metrics}"
    );

    // Replaced by a broken file: v2 keeps serving, the failure is reported.
    let broken = ward.dir.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm\x0d\0\x01\0 definitely not a component").unwrap();
    install(broken.to_str().unwrap(), &ward.plugins_dir(), "noop");
    let p = eventually(s, "load failure reported", || {
        let p = ward.plugin("noop");
        (p["state"] == "stale").then_some(p)
    });
    let err = p["last_error"].as_str().unwrap();
    assert!(
        err.contains("noop.wasm") && err.contains("not a WebAssembly component"),
        "{err}"
    );
    assert_eq!(p["version"], "0.2.0");
    let before = runs(&ward);
    std::thread::sleep(Duration::from_millis(500));
    assert!(runs(&ward) >= before + 3, "the check keeps running on v2");
    assert_eq!(message(&ward), "noop v2");
    let (_, metrics) = http_get(ward.addr, "/metrics");
    assert!(
        metrics.contains("ward_plugin_reloads_total{plugin=\"noop\",result=\"failure\"} 1"),
        "{metrics}"
    );
    assert!(ward.stderr.lock().unwrap().contains("plugin load failed"));

    // Removed: stops; the check waits again.
    std::fs::remove_file(ward.plugins_dir().join("noop.wasm")).unwrap();
    eventually(s, "plugin removed", || {
        ward.plugin("noop").is_null().then_some(())
    });
    eventually(s, "check waiting again", || {
        (ward.target("n", 0)["status"] == "waiting").then_some(())
    });
}

#[test]
fn a_slow_copy_into_the_directory_is_not_reported_as_broken() {
    let ward = Ward::start(NOOP_CHECK);
    let bytes = std::fs::read(artifacts::NOOP_V1).unwrap();
    let path = ward.plugins_dir().join("noop.wasm");
    // Written in place in four pieces, 150 ms apart: what `cp` over a slow disk looks like.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in bytes.chunks(bytes.len() / 4 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    eventually(Duration::from_secs(10), "v1 serving", || {
        (message(&ward) == "noop v1").then_some(())
    });
    let p = ward.plugin("noop");
    assert_eq!(p["state"], "loaded");
    let (_, metrics) = http_get(ward.addr, "/metrics");
    assert!(!metrics.contains("result=\"failure\""), "{metrics}");
}

#[test]
fn config_reload_touches_only_what_changed() {
    let ward = Ward::start(NOOP_CHECK);
    ward.install(artifacts::NOOP_V1, "noop");
    eventually(Duration::from_secs(10), "n running", || {
        (runs(&ward) > 2).then_some(())
    });
    let config = ward.dir.path().join("ward.toml");

    // Add a check: it starts; the first keeps its run count (not restarted).
    let before = runs(&ward);
    std::fs::write(
        &config,
        format!("{NOOP_CHECK}\n[[check]]\nname = \"m\"\nplugin = \"noop\"\ntargets = [\"u\"]\ninterval = \"100ms\"\ntimeout = \"80ms\"\n"),
    )
    .unwrap();
    eventually(Duration::from_secs(10), "m running", || {
        (ward.target("m", 0)["status"] == "up").then_some(())
    });
    assert!(runs(&ward) >= before, "n was not restarted");

    // A broken config keeps the running one and says so.
    std::fs::write(&config, "[[check]]\nname = 1\n").unwrap();
    eventually(Duration::from_secs(10), "reload failure", || {
        let (_, m) = http_get(ward.addr, "/metrics");
        m.contains("ward_config_last_reload_successful 0")
            .then_some(())
    });
    assert!(
        ward.stderr.lock().unwrap().contains("ward.toml:2:8"),
        "the error names file and line: {}",
        ward.stderr.lock().unwrap()
    );
    assert_eq!(ward.target("m", 0)["status"], "up");

    // Remove m again.
    std::fs::write(&config, NOOP_CHECK).unwrap();
    eventually(Duration::from_secs(10), "m removed", || {
        ward.target("m", 0).is_null().then_some(())
    });
}

/// In-process: what one schedule writes to the store for a healthy and a failing plugin.
#[tokio::test]
async fn schedule_writes_blackbox_series_and_never_probe_success_for_plugin_failures() {
    let metrics = Arc::new(ward::metrics::Metrics::new());
    let registry = Arc::new(ward::plugin::Registry::new(metrics.clone()));
    let store =
        Arc::new(ward_store::Store::temporary(ward_store::StoreOptions::default()).unwrap());
    registry.install(crate::util::load(artifacts::NOOP_V1).await);
    registry.install(crate::util::load(artifacts::TRAP).await);
    let scheduler = ward::scheduler::Scheduler::new(registry, store.clone(), metrics, 8);
    let config = ward::Config::parse(
        r#"
[[check]]
name = "ok"
plugin = "noop"
targets = ["a", "b"]
interval = "100ms"
timeout = "90ms"
labels = { team = "infra" }

[[check]]
name = "bad"
plugin = "trap"
targets = ["a"]
interval = "100ms"
timeout = "90ms"
"#,
        "test.toml",
    )
    .unwrap();
    scheduler.apply(&config.checks);
    tokio::time::sleep(Duration::from_millis(700)).await;

    let select = |name: &str, check: &str| {
        store
            .select(
                &[
                    ward_store::Matcher::equal("__name__", name),
                    ward_store::Matcher::equal("check", check),
                ],
                i64::MIN,
                i64::MAX,
            )
            .unwrap()
    };
    let success = select("probe_success", "ok");
    assert_eq!(success.len(), 2, "one series per target");
    for s in &success {
        assert_eq!(s.labels.get("team"), Some("infra"));
        assert!(s.samples.len() >= 3, "{s:?}");
        assert!(s.samples.iter().all(|(_, v)| *v == 1.0));
    }
    assert_eq!(select("probe_duration_seconds", "ok").len(), 2);
    assert!(
        select("probe_success", "bad").is_empty(),
        "a trap is not 'target down'"
    );
    let errors = select("ward_probe_plugin_error", "bad");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].samples.iter().all(|(_, v)| *v == 1.0));
    let statuses = scheduler.statuses();
    let bad = statuses.iter().find(|c| c.name == "bad").unwrap();
    assert_eq!(bad.targets[0].error_reason.as_deref(), Some("trap"));
    // Backoff: after three failures in a row the trap is not called every tick.
    assert!(bad.targets[0].runs < 6, "{:?}", bad.targets[0]);
}
