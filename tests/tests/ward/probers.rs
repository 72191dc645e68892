//! The first-party probers against real servers on loopback, through the real host.

use crate::util::{HttpServer, closed_port, grant, load};
use std::time::Duration;
use ward::plugin::{CallError, ProbeStatus};
use ward_tests::artifacts;

const T: Duration = Duration::from_secs(5);

fn sample(o: &ward::plugin::ProbeOutcome, name: &str) -> Option<f64> {
    o.samples.iter().find(|s| s.name == name).map(|s| s.value)
}

#[tokio::test]
async fn http_up_with_blackbox_samples() {
    let server = HttpServer::start(200, "status: ok");
    let http = load(artifacts::HTTP).await;
    let (g, denied) = grant(&[&server.addr.to_string()]).await;
    let url = format!("http://{}/health", server.addr);
    let config = r#"{"expect_status":[200],"body_contains":"ok"}"#;
    let o = http.probe(&url, config, &g, T).await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    assert_eq!(sample(&o, "probe_http_status_code"), Some(200.0));
    assert_eq!(sample(&o, "probe_http_content_length"), Some(10.0));
    assert_eq!(sample(&o, "probe_http_ssl"), Some(0.0));
    let phases: Vec<&str> = o
        .samples
        .iter()
        .filter(|s| s.name == "probe_http_duration_seconds")
        .flat_map(|s| s.labels.iter().map(|(_, v)| v.as_str()))
        .collect();
    assert!(
        phases.contains(&"processing") && phases.contains(&"transfer"),
        "{phases:?}"
    );
    assert!(o.duration > Duration::ZERO);
    assert!(denied.lock().unwrap().is_empty());
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn http_down_on_wrong_status_body_or_refused() {
    let server = HttpServer::start(503, "maintenance");
    let http = load(artifacts::HTTP).await;
    let (g, _) = grant(&[&server.addr.to_string()]).await;
    let url = format!("http://{}/", server.addr);
    let o = http.probe(&url, "{}", &g, T).await.unwrap();
    assert_eq!(o.status, ProbeStatus::Down);
    assert!(o.message.contains("503"), "{}", o.message);

    let ok = HttpServer::start(200, "hello");
    let (g, _) = grant(&[&ok.addr.to_string()]).await;
    let url = format!("http://{}/", ok.addr);
    let o = http
        .probe(&url, r#"{"body_contains":"bye"}"#, &g, T)
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Down);
    assert!(o.message.contains("bye"), "{}", o.message);
    let o = http
        .probe(&url, r#"{"body_regex":"^h.l+o$"}"#, &g, T)
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);

    let port = closed_port();
    let (g, _) = grant(&[&format!("127.0.0.1:{port}")]).await;
    let o = http
        .probe(&format!("http://127.0.0.1:{port}/"), "{}", &g, T)
        .await
        .unwrap();
    assert_eq!(
        o.status,
        ProbeStatus::Down,
        "refused is the target's failure"
    );
}

#[tokio::test]
async fn http_follows_redirects_within_the_grant() {
    let server = HttpServer::start_with(|path| match path {
        "/old" => (302, vec![("Location".into(), "/new".into())], String::new()),
        _ => (200, vec![], "moved here".into()),
    });
    let http = load(artifacts::HTTP).await;
    let (g, _) = grant(&[&server.addr.to_string()]).await;
    let o = http
        .probe(&format!("http://{}/old", server.addr), "{}", &g, T)
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    assert_eq!(sample(&o, "probe_http_redirects"), Some(1.0));
}

#[tokio::test]
async fn http_bad_config_names_the_field() {
    let http = load(artifacts::HTTP).await;
    let (g, _) = grant(&["127.0.0.1:*"]).await;
    let err = http
        .probe("http://127.0.0.1:1/", r#"{"expect_status":["x"]}"#, &g, T)
        .await
        .unwrap_err();
    match err {
        CallError::Guest { kind, message } => {
            assert_eq!(kind, "config");
            assert!(message.starts_with("expect_status"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let err = http
        .probe("http://127.0.0.1:1/", r#"{"no_such_option":1}"#, &g, T)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_option"), "{err}");
}

#[tokio::test]
async fn tcp_up_down_and_expect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(3).flatten() {
            use std::io::{Read, Write};
            let mut s = stream;
            s.set_read_timeout(Some(Duration::from_millis(500))).ok();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"+PONG\r\n");
        }
    });
    let tcp = load(artifacts::TCP).await;
    let (g, _) = grant(&[&addr.to_string()]).await;
    let o = tcp.probe(&addr.to_string(), "{}", &g, T).await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    let o = tcp
        .probe(
            &addr.to_string(),
            r#"{"send":"PING\r\n","expect":"^\\+PONG"}"#,
            &g,
            T,
        )
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    let o = tcp
        .probe(
            &addr.to_string(),
            r#"{"send":"PING\r\n","expect":"^-ERR"}"#,
            &g,
            T,
        )
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Down, "{}", o.message);

    let port = closed_port();
    let target = format!("127.0.0.1:{port}");
    let (g, _) = grant(&[&target]).await;
    let o = tcp.probe(&target, "{}", &g, T).await.unwrap();
    assert_eq!(o.status, ProbeStatus::Down);
    assert!(o.message.contains("refused"), "{}", o.message);
}

#[tokio::test]
async fn network_outside_the_grant_is_a_permission_error_and_logged() {
    let server = HttpServer::start(200, "secret");
    let other = closed_port();
    // Granted something else only.
    let (g, denied) = grant(&[&format!("127.0.0.1:{other}")]).await;

    let http = load(artifacts::HTTP).await;
    let err = http
        .probe(&format!("http://{}/", server.addr), "{}", &g, T)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "permission", "{err}");

    let tcp = load(artifacts::TCP).await;
    let err = tcp
        .probe(&server.addr.to_string(), "{}", &g, T)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "permission", "{err}");

    let grab = load(artifacts::NETGRAB).await;
    let err = grab
        .probe(&server.addr.to_string(), "{}", &g, T)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "permission", "{err}");

    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "nothing reached the server"
    );
    let denied = denied.lock().unwrap().clone();
    assert!(
        denied
            .iter()
            .all(|d| d.ends_with(&format!(":{}", server.addr.port()))),
        "{denied:?}"
    );
    assert!(denied.len() >= 3, "each attempt is logged: {denied:?}");

    // With the grant, the same guest gets through both ways.
    let (g, denied) = grant(&[&server.addr.to_string()]).await;
    let o = grab
        .probe(&server.addr.to_string(), "{}", &g, T)
        .await
        .unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    assert!(denied.lock().unwrap().is_empty());
}

/// The `tls` capability reads the chain of a server with a self-signed certificate (which a
/// verifying client would refuse), within the grant only.
#[tokio::test]
async fn tls_capability_reads_certificate_expiry() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 5, 17);
    let cert = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });

    let tls = load(artifacts::TLS).await;
    let (g, _) = grant(&[&addr.to_string()]).await;
    let o = tls.probe(&addr.to_string(), "{}", &g, T).await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.message);
    assert!(
        o.message.contains("CN=rcgen self signed cert") || o.message.contains("1 certificates"),
        "{}",
        o.message
    );
    // 2031-05-17T00:00:00Z
    assert_eq!(
        sample(&o, "probe_ssl_earliest_cert_expiry"),
        Some(1_936_742_400.0)
    );

    let (g, denied) = grant(&["127.0.0.1:1"]).await;
    let err = tls.probe(&addr.to_string(), "{}", &g, T).await.unwrap_err();
    assert_eq!(err.reason(), "permission", "{err}");
    assert_eq!(denied.lock().unwrap().as_slice(), [addr.to_string()]);
}
