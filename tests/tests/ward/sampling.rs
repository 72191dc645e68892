//! Native sampling through the real `ward` binary: node_exporter's families of this machine,
//! process-exporter's families of a service's process tree and of a name pattern, and the
//! supervisor's series, all queryable over the API.

use crate::util::{Ward, api, enc, eventually};
use std::time::Duration;

fn query(w: &Ward, q: &str) -> Vec<serde_json::Value> {
    api(w.addr, &format!("/api/v1/query?query={}", enc(q)))["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn value(v: &serde_json::Value) -> f64 {
    v["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn the_machine_services_and_process_groups_are_sampled_into_the_store() {
    let w = Ward::start(
        r#"
[sampler]
interval = "1s"
[[sampler.processes]]
name = "sleepers"
pattern = "^sleep$"

[[service]]
name = "tree"
command = "sh"
args = ["-c", "sleep 1000 & sleep 1000 & wait"]
"#,
    );
    eventually(Duration::from_secs(15), "a sampled process tree", || {
        let r = query(&w, "namedprocess_namegroup_num_procs{groupname=\"tree\"}");
        (r.len() == 1 && value(&r[0]) == 3.0).then_some(())
    });
    // The pattern group holds at least the service's two sleeps.
    let r = query(
        &w,
        "namedprocess_namegroup_num_procs{groupname=\"sleepers\"}",
    );
    assert!(value(&r[0]) >= 2.0, "{r:?}");
    let rss = query(
        &w,
        "namedprocess_namegroup_memory_bytes{groupname=\"tree\",memtype=\"resident\"}",
    );
    assert!(value(&rss[0]) > 100_000.0, "{rss:?}");
    // Every CPU has its modes; memory and load as node_exporter names them.
    let cpus = std::thread::available_parallelism().unwrap().get();
    let idle = query(&w, "node_cpu_seconds_total{mode=\"idle\"}");
    assert!(idle.len() >= cpus.min(1), "{idle:?}");
    let total = query(&w, "node_memory_MemTotal_bytes");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(value(&total[0]), kib * 1024.0);
    assert_eq!(query(&w, "node_load1").len(), 1);
    // Labelled as a scrape of node_exporter would be, so that dashboards find the host:
    // "Node Exporter Full" lists `label_values(node_uname_info, job)`, then the instances.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let jobs = api(
        w.addr,
        &format!(
            "/api/v1/label/job/values?match[]={}",
            enc("node_uname_info")
        ),
    );
    assert_eq!(jobs, serde_json::json!(["node"]));
    let instances = api(
        w.addr,
        &format!(
            "/api/v1/label/instance/values?match[]={}",
            enc("node_uname_info{job=\"node\"}")
        ),
    );
    assert_eq!(instances, serde_json::json!([host.trim()]));
    let r = query(&w, "node_load1{job=\"node\"}");
    assert_eq!(r[0]["metric"]["instance"], host.trim());
    // Counters move between rounds: rate() over them works.
    eventually(Duration::from_secs(15), "a cpu rate", || {
        let r = query(&w, "sum(rate(node_cpu_seconds_total[5s]))");
        (r.len() == 1 && value(&r[0]) > 0.0).then_some(())
    });
    // The supervisor's series.
    let up = query(&w, "ward_service_up{service=\"tree\"}");
    assert_eq!(value(&up[0]), 1.0);
    let running = query(&w, "ward_service_state{service=\"tree\",state=\"running\"}");
    assert_eq!(value(&running[0]), 1.0);
}
