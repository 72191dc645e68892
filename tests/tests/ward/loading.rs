//! What the host accepts as a plugin, and the errors for what it refuses.

use crate::util::host;
use std::path::Path;
use std::time::Duration;
use ward::plugin::{Kind, Tier};
use ward_tests::artifacts;

async fn refuse(path: &Path) -> String {
    match host().load_file(path).await {
        Ok(p) => panic!("{} loaded as a {}", path.display(), p.kind()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn every_kind_loads_and_reports_itself() {
    for (path, kind, name) in [
        (artifacts::HTTP, Kind::Prober, "http"),
        (artifacts::TCP, Kind::Prober, "tcp"),
        (artifacts::DISCOVERER, Kind::Discoverer, "discoverer"),
        (artifacts::ALERT_RULE, Kind::AlertRule, "alert-rule"),
        (artifacts::NOTIFIER, Kind::Notifier, "notifier"),
    ] {
        let p = host().load_file(Path::new(path)).await.unwrap();
        assert_eq!(p.kind(), kind, "{path}");
        assert_eq!(p.name(), name, "the name is the file stem");
        assert_eq!(p.interface().version.to_string(), "0.1.0");
        assert_eq!(p.description().kind, kind);
        assert!(!p.description().summary.is_empty());
        assert_eq!(p.sha256().len(), 64);
    }
    let http = host().load_file(Path::new(artifacts::HTTP)).await.unwrap();
    assert_eq!(http.description().capabilities, vec!["network"]);
    let schema = &http.description().config_schema;
    assert!(
        schema["properties"]["expect_status"].is_object(),
        "{schema}"
    );
}

#[tokio::test]
async fn a_prober_call_on_another_kind_is_refused() {
    let p = host()
        .load_file(Path::new(artifacts::NOTIFIER))
        .await
        .unwrap();
    let (g, _) = crate::util::grant(&[]).await;
    let err = p
        .probe("x", "{}", &g, std::time::Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "plugin is a notifier, not a prober");
}

#[tokio::test]
async fn bad_files_are_refused_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let garbage = write("garbage.wasm", b"this is not wasm");
    let e = refuse(&garbage).await;
    assert!(
        e.starts_with(&format!(
            "{}: not a WebAssembly component",
            garbage.display()
        )),
        "{e}"
    );

    let core = write("core.wasm", &[0, b'a', b's', b'm', 1, 0, 0, 0]);
    let e = refuse(&core).await;
    assert!(
        e.contains("a core WebAssembly module, not a component"),
        "{e}"
    );

    let noop = std::fs::read(artifacts::NOOP_V1).unwrap();
    let truncated = write("half.wasm", &noop[..noop.len() / 2]);
    let e = refuse(&truncated).await;
    assert!(e.contains("half.wasm: not a WebAssembly component"), "{e}");

    let e = refuse(Path::new(artifacts::FUTURE)).await;
    assert!(
        e.ends_with("future.wasm: built against ward:plugin@1.0.0, which this ward (serving ward:plugin@0.1.0, compatible with 0.1.x) cannot load"),
        "{e}"
    );

    let e = refuse(&dir.path().join("missing.wasm")).await;
    assert!(e.contains("missing.wasm: cannot read"), "{e}");

    // Precompiled code is never accepted from the plugins directory.
    let cwasm = wasmtime::Engine::default()
        .precompile_component(&noop)
        .unwrap();
    let pre = write("pre.wasm", &cwasm);
    let e = refuse(&pre).await;
    assert!(e.contains("precompiled artifact"), "{e}");
}

#[tokio::test]
async fn unchanged_content_is_served_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let h = ward::plugin::Host::new(ward::plugin::HostOptions {
        cache_dir: Some(dir.path().join("cache")),
        max_instances: 4,
        baseline: false,
        ..Default::default()
    })
    .unwrap();
    let first = h.load_file(Path::new(artifacts::TCP)).await.unwrap();
    assert!(!first.from_cache());
    assert_eq!(first.tier(), Tier::Optimized);
    let second = h.load_file(Path::new(artifacts::TCP)).await.unwrap();
    assert!(second.from_cache());
    assert_eq!(first.sha256(), second.sha256());
    let entries = std::fs::read_dir(dir.path().join("cache")).unwrap().count();
    assert_eq!(entries, 1);
    // A corrupt entry is replaced, not trusted.
    for e in std::fs::read_dir(dir.path().join("cache")).unwrap() {
        std::fs::write(e.unwrap().path(), b"garbage").unwrap();
    }
    let third = h.load_file(Path::new(artifacts::TCP)).await.unwrap();
    assert!(!third.from_cache());
}

/// New code serves the baseline compiler's output at once; the optimized code compiled after
/// it behaves the same, goes to the cache (baseline code never does), and is what the next
/// load of that content serves.
#[tokio::test]
async fn new_code_serves_baseline_first_and_the_cache_keeps_only_optimized_code() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let h = ward::plugin::Host::new(ward::plugin::HostOptions {
        cache_dir: Some(cache.clone()),
        max_instances: 4,
        ..Default::default()
    })
    .unwrap();
    let entries = || std::fs::read_dir(&cache).unwrap().count();
    let (g, _) = crate::util::grant(&[]).await;
    let path = Path::new(artifacts::NOOP_V1);

    let first = h.load_file(path).await.unwrap();
    assert_eq!(first.tier(), Tier::Baseline);
    assert!(!first.from_cache());
    assert_eq!(entries(), 0, "baseline code is not cached");
    let answer = |p: ward::plugin::LoadedPlugin| {
        let g = g.clone();
        async move {
            p.probe("x", "{}", &g, Duration::from_secs(5))
                .await
                .unwrap()
                .message
        }
    };

    // A version replaced before its turn is not optimized.
    let bytes = std::fs::read(path).unwrap();
    assert!(
        h.optimize(&first, bytes.clone(), || false)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(entries(), 0);

    let optimized = h
        .optimize(&first, bytes, || true)
        .await
        .unwrap()
        .expect("optimized");
    assert_eq!(optimized.tier(), Tier::Optimized);
    assert_eq!(optimized.sha256(), first.sha256());
    assert_eq!(optimized.description(), first.description());
    assert_eq!(
        optimized.loaded_at(),
        first.loaded_at(),
        "serving since the baseline load"
    );
    assert_eq!(entries(), 1);

    let again = h.load_file(path).await.unwrap();
    assert_eq!(again.tier(), Tier::Optimized);
    assert!(again.from_cache());
    let messages = [
        answer(first).await,
        answer(optimized).await,
        answer(again).await,
    ];
    assert_eq!(messages, ["noop v1", "noop v1", "noop v1"]);
}
