//! Misbehaving plugins are contained: each call fails with the right reason, quickly, and the
//! host and every other plugin carry on. Each in-process case runs on both code tiers: the
//! baseline compiler's code and Cranelift's are held to the same limits.

use crate::util::{HttpServer, Ward, eventually, grant, load_tiers};
use std::time::{Duration, Instant};
use ward::plugin::{CallError, Tier};
use ward_tests::artifacts;

#[tokio::test]
async fn infinite_loop_stops_at_the_deadline() {
    for p in load_tiers(artifacts::LOOP).await {
        let (g, _) = grant(&[]).await;
        let started = Instant::now();
        let err = p
            .probe("x", "{}", &g, Duration::from_millis(300))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(err, CallError::Timeout(Duration::from_millis(300)));
        assert!(
            took < Duration::from_secs(2),
            "{:?}: stopped after {took:?}",
            p.tier()
        );
    }
}

#[tokio::test]
async fn memory_bomb_hits_the_cap() {
    for p in load_tiers(artifacts::MEMBOMB).await {
        let (g, _) = grant(&[]).await;
        let err = p
            .probe("x", "{}", &g, Duration::from_secs(10))
            .await
            .unwrap_err();
        match err {
            CallError::Memory { desired, cap } => {
                assert_eq!(cap, 128 << 20);
                assert!(desired > cap);
            }
            other => panic!(
                "{:?}: expected a memory limit error, got {other:?}",
                p.tier()
            ),
        }
    }
}

#[tokio::test]
async fn trap_is_reported_as_a_trap() {
    for p in load_tiers(artifacts::TRAP).await {
        let (g, _) = grant(&[]).await;
        let err = p
            .probe("x", "{}", &g, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "trap", "{:?}: {err}", p.tier());
    }
}

#[tokio::test]
async fn huge_output_is_refused() {
    for p in load_tiers(artifacts::BIGOUT).await {
        let (g, _) = grant(&[]).await;
        let err = p
            .probe("x", r#"{"mode":"message"}"#, &g, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "output", "{err}");
        assert!(err.to_string().contains("67108864 bytes"), "{err}");
        let err = p
            .probe("x", r#"{"mode":"samples"}"#, &g, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            matches!(err.reason(), "output" | "memory"),
            "a million samples are refused or run out of memory: {err}"
        );
    }
}

#[tokio::test]
async fn a_failed_call_leaves_the_plugin_usable() {
    let traps = load_tiers(artifacts::TRAP).await;
    let noops = load_tiers(artifacts::NOOP_V1).await;
    let (g, _) = grant(&[]).await;
    for (p, noop) in traps.iter().zip(&noops) {
        for _ in 0..3 {
            assert!(
                p.probe("x", "{}", &g, Duration::from_secs(5))
                    .await
                    .is_err()
            );
            let o = noop
                .probe("x", "{}", &g, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(o.message, "noop v1");
        }
    }
}

/// Under a running schedule (the real binary), every hostile plugin is contained with its
/// reason, counted and logged, and a healthy check beside them keeps reporting on time.
#[test]
fn hostile_checks_do_not_disturb_a_healthy_one() {
    let server = HttpServer::start(200, "ok");
    let config = format!(
        r#"
[[check]]
name = "healthy"
plugin = "http"
targets = ["http://{addr}/"]
interval = "200ms"
timeout = "190ms"
grant = {{ net = ["{addr}"] }}

[[check]]
name = "spin"
plugin = "loop"
targets = ["a"]
interval = "300ms"
timeout = "100ms"

[[check]]
name = "bomb"
plugin = "membomb"
targets = ["a"]
interval = "1s"
timeout = "900ms"

[[check]]
name = "boom"
plugin = "trap"
targets = ["a"]
interval = "1s"
timeout = "900ms"

[[check]]
name = "sneaky"
plugin = "netgrab"
targets = ["{addr}"]
interval = "1s"
timeout = "900ms"

[[check]]
name = "chatty"
plugin = "bigout"
targets = ["a"]
interval = "1s"
timeout = "900ms"
"#,
        addr = server.addr
    );
    let ward = Ward::start(&config);
    for (artifact, name) in [
        (artifacts::HTTP, "http"),
        (artifacts::LOOP, "loop"),
        (artifacts::MEMBOMB, "membomb"),
        (artifacts::TRAP, "trap"),
        (artifacts::NETGRAB, "netgrab"),
        (artifacts::BIGOUT, "bigout"),
    ] {
        ward.install(artifact, name);
    }
    for (check, reason) in [
        ("spin", "timeout"),
        ("bomb", "memory"),
        ("boom", "trap"),
        ("sneaky", "permission"),
        ("chatty", "output"),
    ] {
        eventually(
            Duration::from_secs(20),
            &format!("{check} to fail with {reason}"),
            || {
                let t = ward.target(check, 0);
                (t["status"] == "error" && t["error_reason"] == reason).then_some(())
            },
        );
    }
    // Plugins load in whatever order their compiles finish: `http` may come last.
    let first = eventually(Duration::from_secs(20), "healthy to be up", || {
        let t = ward.target("healthy", 0);
        (t["status"] == "up").then_some(t)
    });
    let runs_before = first["runs"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let later = ward.target("healthy", 0);
    assert_eq!(later["status"], "up", "{later}");
    let runs = later["runs"].as_u64().unwrap() - runs_before;
    // 2 s at 200 ms: 10 ticks; allow for the polling edges.
    assert!(
        runs >= 8,
        "healthy check ran {runs} times in 2 s at a 200 ms interval"
    );
    let served = server.requests.load(std::sync::atomic::Ordering::Relaxed) as u64;
    assert!(
        served >= runs,
        "each run reached the server: {served} requests, {runs} runs"
    );

    let (_, metrics) = crate::util::http_get(ward.addr, "/metrics");
    for reason in ["timeout", "memory", "trap", "permission", "output"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "ward_plugin_failures_total has no {reason}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("ward_plugin_permission_denied_total{"),
        "{metrics}"
    );
    assert!(
        ward.stderr
            .lock()
            .unwrap()
            .contains("network access denied"),
        "denials are logged"
    );
}

/// A plugin that keeps failing is called less and less often (after three failures, every 2,
/// 4, ... up to 32 intervals), and a new version of it runs at the next tick.
#[test]
fn repeated_plugin_failures_back_off_until_a_new_version_arrives() {
    let ward = Ward::start(
        r#"
[[check]]
name = "flaky"
plugin = "flaky"
targets = ["a"]
interval = "100ms"
timeout = "90ms"
"#,
    );
    ward.install(artifacts::TRAP, "flaky");
    let first = eventually(Duration::from_secs(20), "the first failure", || {
        let t = ward.target("flaky", 0);
        (t["error_reason"] == "trap").then_some(Instant::now())
    });
    std::thread::sleep(Duration::from_secs(4));
    let t = ward.target("flaky", 0);
    let runs = t["runs"].as_u64().unwrap();
    let failures = t["consecutive_plugin_failures"].as_u64().unwrap();
    // 4 s at 100 ms is 40 ticks; backing off after the third failure (skipping 1, 3, 7, 15,
    // 31 ticks) leaves about 8 calls.
    assert!(
        (5..=14).contains(&runs),
        "{runs} calls in {:?} of failures: {t}",
        first.elapsed()
    );
    assert_eq!(failures, runs, "{t}");

    // Fixed: the next tick runs it, although the backoff had up to 32 ticks left.
    ward.install(artifacts::NOOP_V1, "flaky");
    let fixed = Instant::now();
    eventually(Duration::from_secs(20), "the new version to run", || {
        let t = ward.target("flaky", 0);
        (t["status"] == "up" && t["message"] == "noop v1").then_some(())
    });
    assert!(
        fixed.elapsed() < Duration::from_millis(1200),
        "the new version ran {:?} after it was installed",
        fixed.elapsed()
    );
    assert_eq!(ward.target("flaky", 0)["consecutive_plugin_failures"], 0);
}

#[tokio::test]
async fn fuel_when_configured_stops_a_busy_plugin() {
    for tier in [Tier::Baseline, Tier::Optimized] {
        let h = ward::plugin::Host::new(ward::plugin::HostOptions {
            limits: ward::plugin::Limits {
                fuel: Some(50_000_000),
                ..Default::default()
            },
            max_instances: 4,
            baseline: tier == Tier::Baseline,
            ..Default::default()
        })
        .unwrap();
        let spin = h
            .load_file(std::path::Path::new(artifacts::LOOP))
            .await
            .unwrap();
        assert_eq!(spin.tier(), tier);
        let (g, _) = grant(&[]).await;
        let err = spin
            .probe("x", "{}", &g, Duration::from_secs(20))
            .await
            .unwrap_err();
        assert_eq!(err, CallError::Fuel, "{tier:?}");
        // A plugin doing little work is unaffected.
        let noop = h
            .load_file(std::path::Path::new(artifacts::NOOP_V1))
            .await
            .unwrap();
        assert!(
            noop.probe("x", "{}", &g, Duration::from_secs(5))
                .await
                .is_ok()
        );
    }
}

/// Every call gets a fresh instance, although instance slots keep the memory a call touched
/// resident for the next one: nothing a call wrote (statics, grown memory) reaches the next
/// call, whichever plugin used the slot before. One slot, so every call reuses it.
#[tokio::test]
async fn no_state_survives_a_call_in_a_reused_slot() {
    for tier in [Tier::Baseline, Tier::Optimized] {
        let h = ward::plugin::Host::new(ward::plugin::HostOptions {
            max_instances: 1,
            baseline: tier == Tier::Baseline,
            ..Default::default()
        })
        .unwrap();
        let noop = h
            .load_file(std::path::Path::new(artifacts::NOOP_V1))
            .await
            .unwrap();
        let bomb = h
            .load_file(std::path::Path::new(artifacts::MEMBOMB))
            .await
            .unwrap();
        assert_eq!((noop.tier(), bomb.tier()), (tier, tier));
        let (g, _) = grant(&[]).await;
        let seen = |out: &ward::plugin::ProbeOutcome, name: &str| {
            out.samples
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.value)
                .unwrap_or_else(|| panic!("no sample {name} in {:?}", out.samples))
        };
        for round in 0..4 {
            for call in 0..3 {
                let out = noop
                    .probe("count", "{}", &g, Duration::from_secs(5))
                    .await
                    .unwrap();
                let at = format!("{tier:?}, round {round}, call {call}");
                assert_eq!(seen(&out, "noop_instance_calls"), 1.0, "{at}");
                assert_eq!(seen(&out, "noop_dirty_grown_bytes"), 0.0, "{at}");
            }
            // Fills the slot's memory up to the cap before it is stopped.
            let err = bomb
                .probe("x", "{}", &g, Duration::from_secs(10))
                .await
                .unwrap_err();
            assert!(matches!(err, CallError::Memory { .. }), "{err:?}");
        }
    }
}
