//! The Prometheus-compatible HTTP API of the real `ward` binary: JSON shapes and errors as
//! Prometheus writes them, auth, text import and remote write with hand-built bodies, limits.

use crate::util::{HttpResponse, Ward, enc, http, http_get, import, post_form, read_response};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// 2023-11-14T22:13:20Z, in ms.
const T0: i64 = 1_700_000_000_000;

const DATA: &str = "\
# TYPE up gauge
# HELP up Whether the target answered.
up{job=\"api\",instance=\"a:80\"} 1 1700000000000
up{job=\"api\",instance=\"b:80\"} 0 1700000000000
up{job=\"db\",instance=\"c:5432\"} 1 1700000000000
up{job=\"api\",instance=\"a:80\"} 1 1700000015000
up{job=\"api\",instance=\"b:80\"} 1 1700000015000
up{job=\"db\",instance=\"c:5432\"} 1 1700000015000
http_requests_total{job=\"api\",code=\"200\"} 10 1700000000000
http_requests_total{job=\"api\",code=\"200\"} 25 1700000015000
http_requests_total{job=\"api\",code=\"500\"} 0.5 1700000015500
";

fn get(ward: &Ward, path: &str) -> HttpResponse {
    http(ward.addr, "GET", path, &[], b"")
}

fn data_ward() -> Ward {
    let ward = Ward::start_without_sampler("");
    import(ward.addr, DATA);
    ward
}

fn assert_error(r: &HttpResponse, status: u16, kind: &str, contains: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "error", "{}", r.body);
    assert_eq!(v["errorType"], kind, "{}", r.body);
    let message = v["error"].as_str().unwrap_or_default();
    assert!(message.contains(contains), "{message:?} lacks {contains:?}");
}

#[test]
fn queries_answer_in_prometheus_json() {
    let ward = data_ward();
    let r = get(
        &ward,
        "/api/v1/query?query=up%7Bjob%3D%22api%22%7D&time=1700000010",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a:80","job":"api"},"value":[1700000010,"1"]},{"metric":{"__name__":"up","instance":"b:80","job":"api"},"value":[1700000010,"0"]}]}}"#
    );
    // Grafana's health check; a fractional time keeps its milliseconds.
    let r = get(&ward, "/api/v1/query?query=1%2B1&time=1700000000.781");
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.781,"2"]}}"#
    );
    // RFC 3339 times, and a form POST as Grafana sends it.
    let r = post_form(
        ward.addr,
        "/api/v1/query_range",
        "query=sum+by+(job)+(up)&start=2023-11-14T22:13:20Z&end=2023-11-14T22:13:50Z&step=15s",
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"api"},"values":[[1700000000,"1"],[1700000015,"2"],[1700000030,"2"]]},{"metric":{"job":"db"},"values":[[1700000000,"1"],[1700000015,"1"],[1700000030,"1"]]}]}}"#
    );
    // A range selector at an instant is a matrix of the raw samples.
    let r = get(
        &ward,
        &format!(
            "/api/v1/query?query={}&time=1700000016",
            enc(r#"http_requests_total{code="500"}[1m]"#)
        ),
    );
    assert_eq!(
        r.json()["data"]["result"][0]["values"],
        serde_json::json!([[1700000015.5, "0.5"]])
    );
    assert!(r.body.contains("[1700000015.500,\"0.5\"]"), "{}", r.body);
    let r = get(&ward, "/api/v1/format_query?query=sum(up)by(job)");
    assert_eq!(r.body, r#"{"status":"success","data":"sum by (job) (up)"}"#);
}

#[test]
fn bad_requests_get_prometheus_errors() {
    let ward = data_ward();
    let r = get(&ward, "/api/v1/query?query=sum(up");
    assert_error(&r, 400, "bad_data", "invalid parameter \"query\": 1:");
    let r = get(&ward, "/api/v1/query?query=up&time=yesterday");
    assert_error(
        &r,
        400,
        "bad_data",
        "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp",
    );
    let r = get(&ward, "/api/v1/query?query=up&timeout=soon");
    assert_error(&r, 400, "bad_data", "invalid parameter \"timeout\"");
    let r = get(&ward, "/api/v1/query_range?query=up&start=10&end=5&step=1");
    assert_error(
        &r,
        400,
        "bad_data",
        "end timestamp must not be before start time",
    );
    let r = get(&ward, "/api/v1/query_range?query=up&start=0&end=100&step=0");
    assert_error(
        &r,
        400,
        "bad_data",
        "zero or negative query resolution step",
    );
    let r = get(
        &ward,
        "/api/v1/query_range?query=up&start=0&end=86400&step=1",
    );
    assert_error(
        &r,
        400,
        "bad_data",
        "exceeded maximum resolution of 11,000 points",
    );
    let r = get(&ward, "/api/v1/query_range?query=up&end=100&step=1");
    assert_error(&r, 400, "bad_data", "invalid parameter \"start\"");
    // Many-to-many matching fails at evaluation: 422.
    let r = get(
        &ward,
        &format!(
            "/api/v1/query?query={}&time=1700000016",
            enc("up + on(job) group_left up")
        ),
    );
    assert_error(&r, 422, "execution", "");
    let r = get(&ward, "/api/v1/series");
    assert_error(&r, 400, "bad_data", "no match[] parameter provided");
    let r = get(
        &ward,
        &format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#)),
    );
    assert_error(&r, 400, "bad_data", "at least one non-empty matcher");
    let r = get(&ward, "/api/v1/series?match[]=rate(up%5B5m%5D)");
    assert_error(&r, 400, "bad_data", "invalid parameter \"match[]\"");
    let r = get(&ward, "/api/v1/label/1x/values");
    assert_error(&r, 400, "bad_data", "invalid label name");

    let r = get(&ward, "/api/v1/nope");
    assert_eq!((r.status, r.body.as_str()), (404, "404 page not found\n"));
    let r = http(ward.addr, "DELETE", "/api/v1/query", &[], b"");
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = get(&ward, "/api/v1/write");
    assert_eq!(r.status, 405, "{}", r.body);
}

#[test]
fn series_labels_metadata_and_status() {
    let ward = data_ward();
    let r = get(
        &ward,
        "/api/v1/series?match[]=up&match[]=http_requests_total%7Bcode%3D%22500%22%7D",
    );
    let v = r.json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(4), "{}", r.body);
    assert_eq!(
        v["data"][0],
        serde_json::json!({"__name__": "http_requests_total", "code": "500", "job": "api"})
    );
    let r = get(&ward, "/api/v1/series?match[]=up&limit=2");
    assert_eq!(r.json()["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        r.json()["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    let r = get(&ward, "/api/v1/labels");
    assert_eq!(
        r.body,
        r#"{"status":"success","data":["__name__","code","instance","job"]}"#
    );
    let r = get(&ward, "/api/v1/labels?match[]=up");
    assert_eq!(
        r.json()["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let r = get(
        &ward,
        "/api/v1/label/job/values?start=1699990000&end=1700010000",
    );
    assert_eq!(r.body, r#"{"status":"success","data":["api","db"]}"#);
    let r = get(
        &ward,
        "/api/v1/label/instance/values?limit=1&match[]=up%7Bjob%3D%22api%22%7D",
    );
    assert_eq!(
        r.body,
        r#"{"status":"success","data":["a:80"],"warnings":["results truncated due to limit"]}"#
    );
    let r = get(&ward, "/api/v1/label/nothing/values");
    assert_eq!(r.body, r#"{"status":"success","data":[]}"#);

    let r = get(&ward, "/api/v1/metadata");
    assert_eq!(
        r.body,
        r#"{"status":"success","data":{"up":[{"type":"gauge","help":"Whether the target answered.","unit":""}]}}"#
    );
    let v = get(&ward, "/api/v1/status/buildinfo").json();
    assert_eq!(v["data"]["version"], "2.53.0");
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][field].is_string(), "{field}: {v}");
    }
    let v = get(&ward, "/api/v1/status/tsdb?limit=1").json();
    let d = &v["data"];
    assert_eq!(d["headStats"]["numSeries"], 5, "{v}");
    assert_eq!(d["headStats"]["maxTime"], T0 + 15_500, "{v}");
    assert_eq!(
        d["seriesCountByMetricName"],
        serde_json::json!([{"name": "up", "value": 3}])
    );
    for list in [
        "labelValueCountByLabelName",
        "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair",
    ] {
        assert_eq!(d[list].as_array().map(Vec::len), Some(1), "{list}: {v}");
    }
    let r = get(&ward, "/api/v1/status/tsdb?limit=0");
    assert_error(&r, 400, "bad_data", "limit must be a positive number");
}

#[test]
fn federate_writes_the_latest_samples_as_text() {
    let ward = Ward::start_without_sampler("");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    import(
        ward.addr,
        &format!(
            "up{{job=\"a\"}} 0 {}\nup{{job=\"a\"}} 1 {now}\nup{{job=\"b\",path=\"q\\\"x\"}} 2000000 {now}\nother 3 {now}\n",
            now - 1000
        ),
    );
    let r = get(&ward, "/federate?match[]=up");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        format!(
            "# TYPE up untyped\nup{{job=\"a\"}} 1 {now}\nup{{job=\"b\",path=\"q\\\"x\"}} 2e+06 {now}\n"
        )
    );
    assert_eq!(get(&ward, "/federate").body, "");
    let r = get(&ward, "/federate?match[]=up%7B");
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn import_writes_good_lines_and_names_the_bad_ones() {
    let ward = Ward::start_without_sampler("");
    let body = "ok_metric{a=\"1\"} 1 1700000000000\n\
                ok_metric{a=\"2\"} 2 1700000000000\n\
                bad{a=\"1\" 3 1700000000000\n\
                \n\
                ok_metric{a=\"3\"} x 1700000000000\n\
                ok_metric{a=\"4\"} 4\n";
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        body.as_bytes(),
    );
    assert_error(&r, 400, "bad_data", "2 lines refused (first: line 3:");
    let v = r.json();
    assert_eq!(v["data"]["samplesWritten"], 3, "{v}");
    assert_eq!(v["data"]["linesRead"], 6, "{v}");
    assert_eq!(v["data"]["rejected"][0]["line"], 3, "{v}");
    assert_eq!(v["data"]["rejected"][1]["line"], 5, "{v}");
    assert!(
        v["data"]["rejected"][1]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid value \"x\""),
        "{v}"
    );
    let v = get(&ward, "/api/v1/series?match[]=ok_metric").json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(3), "{v}");
    // A line without a timestamp gets the arrival time, which is newer than the others by
    // far more than the out-of-order window: the store now refuses the old ones, by line.
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        b"ok_metric{a=\"5\"} 5 1700000000000\n",
    );
    assert_error(
        &r,
        400,
        "bad_data",
        "line 1: sample is older than the out-of-order window",
    );

    let (_, metrics) = http_get(ward.addr, "/metrics");
    for line in [
        "ward_ingest_samples_written_total{endpoint=\"import\"} 3",
        "ward_ingest_samples_rejected_total{endpoint=\"import\",reason=\"bad_line\"} 2",
        "ward_ingest_samples_rejected_total{endpoint=\"import\",reason=\"out_of_window\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(
        metrics.contains("ward_http_request_duration_seconds_count{handler=\"/api/v1/series\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "ward_http_requests_total{handler=\"/api/v1/import/prometheus\",code=\"400\"} 2"
        ),
        "{metrics}"
    );
}

/// A protobuf encoder just big enough for `prometheus.WriteRequest`.
mod pb {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    pub fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> Vec<u8> {
        let mut ts = Vec::new();
        for (n, v) in labels {
            let mut l = Vec::new();
            bytes(&mut l, 1, n.as_bytes());
            bytes(&mut l, 2, v.as_bytes());
            bytes(&mut ts, 1, &l);
        }
        for (v, t) in samples {
            let mut s = Vec::new();
            varint(&mut s, 1 << 3 | 1);
            s.extend_from_slice(&v.to_le_bytes());
            varint(&mut s, 2 << 3);
            varint(&mut s, *t as u64);
            bytes(&mut ts, 2, &s);
        }
        ts
    }

    pub fn metadata(kind: u64, name: &str, help: &str) -> Vec<u8> {
        let mut m = Vec::new();
        varint(&mut m, 1 << 3);
        varint(&mut m, kind);
        bytes(&mut m, 2, name.as_bytes());
        bytes(&mut m, 4, help.as_bytes());
        m
    }

    /// A snappy-compressed `WriteRequest`.
    pub fn write_request(series: &[Vec<u8>], metadata: &[Vec<u8>]) -> Vec<u8> {
        let mut req = Vec::new();
        for s in series {
            bytes(&mut req, 1, s);
        }
        for m in metadata {
            bytes(&mut req, 3, m);
        }
        snap::raw::Encoder::new().compress_vec(&req).unwrap()
    }
}

fn remote_write(addr: SocketAddr, body: &[u8]) -> HttpResponse {
    http(
        addr,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        body,
    )
}

#[test]
fn remote_write_stores_series_and_refuses_bad_data() {
    let ward = Ward::start_without_sampler("");
    let body = pb::write_request(
        &[
            pb::series(
                &[("__name__", "rw_metric"), ("job", "x")],
                // Out of order within the window: merged.
                &[(2.0, T0 + 15_000), (1.0, T0), (f64::INFINITY, T0 + 30_000)],
            ),
            pb::series(&[("__name__", "rw_metric"), ("job", "y")], &[(5.5, T0)]),
        ],
        &[pb::metadata(1, "rw_metric", "A counter.")],
    );
    let r = remote_write(ward.addr, &body);
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = get(
        &ward,
        "/api/v1/query_range?query=rw_metric&start=1700000000&end=1700000030&step=15",
    );
    assert_eq!(
        r.json()["data"]["result"][0]["values"],
        serde_json::json!([[1700000000, "1"], [1700000015, "2"], [1700000030, "+Inf"]]),
        "{}",
        r.body
    );
    let v = get(&ward, "/api/v1/metadata?metric=rw_metric").json();
    assert_eq!(v["data"]["rw_metric"][0]["type"], "counter", "{v}");

    // Metadata alone is a valid request.
    let r = remote_write(
        ward.addr,
        &pb::write_request(&[], &[pb::metadata(2, "g", "h")]),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        get(&ward, "/api/v1/metadata?metric=g").json()["data"]["g"][0]["type"],
        "gauge"
    );

    // A bad series is named; the good one beside it is written.
    let body = pb::write_request(
        &[
            pb::series(&[("__name__", "rw_metric"), ("1bad", "v")], &[(1.0, T0)]),
            pb::series(&[("__name__", "rw_metric"), ("job", "z")], &[(7.0, T0)]),
        ],
        &[],
    );
    let r = remote_write(ward.addr, &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("invalid label name \"1bad\""), "{}", r.body);
    assert!(r.body.contains("1 written"), "{}", r.body);
    let v = get(&ward, "/api/v1/series?match[]=rw_metric%7Bjob%3D%22z%22%7D").json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");

    // Older than the out-of-order window (1h behind the newest sample): 400, not retried.
    let body = pb::write_request(
        &[pb::series(
            &[("__name__", "rw_metric"), ("job", "x")],
            &[(1.0, T0 - 7_200_000)],
        )],
        &[],
    );
    let r = remote_write(ward.addr, &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("older than the out-of-order window"),
        "{}",
        r.body
    );

    let r = remote_write(ward.addr, b"not snappy at all");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.starts_with("snappy:"), "{}", r.body);
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let r = remote_write(ward.addr, &garbage);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("decoding the write request"), "{}", r.body);
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/write",
        &[("Content-Encoding", "gzip")],
        b"x",
    );
    assert_eq!(r.status, 415, "{}", r.body);

    let (_, metrics) = http_get(ward.addr, "/metrics");
    assert!(
        metrics.contains("ward_ingest_samples_written_total{endpoint=\"remote_write\"} 5"),
        "{metrics}"
    );
}

#[test]
fn gzip_import_is_read_and_its_text_bounded() {
    let gzip = |text: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        gz.finish().unwrap()
    };
    let ward = Ward::start_without_sampler("[api]\nmax_body_bytes = 100000\n");
    // Many lines, so that the compressed stream crosses several reads and line boundaries
    // fall inside its blocks.
    let text: String = (0..2_000)
        .map(|i| format!("gz_metric{{i=\"{}\"}} {i} {}\n", i % 50, T0 + i * 1000))
        .collect();
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Content-Encoding", "gzip")],
        &gzip(text.as_bytes()),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let v = get(&ward, "/api/v1/series?match[]=gz_metric").json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(50), "{v}");
    // Small compressed, large decompressed: refused at the limit, saying so.
    let bomb = gzip(&vec![b'\n'; 1_000_000]);
    assert!(bomb.len() < 100_000);
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Content-Encoding", "gzip")],
        &bomb,
    );
    assert_error(
        &r,
        413,
        "bad_data",
        "decompressed request body exceeds the limit of 100000 bytes",
    );
    // Not gzip at all, and an encoding ward does not read.
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Content-Encoding", "gzip")],
        b"gz_metric 1\n",
    );
    assert_error(&r, 400, "bad_data", "request body is not valid gzip");
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Content-Encoding", "br")],
        b"x",
    );
    assert_eq!(r.status, 415, "{}", r.body);
}

/// Sends only the head of a request declaring `len` body bytes, and reads the answer: ward
/// must refuse it from the declared length without waiting for the body.
fn declare_only(addr: SocketAddr, path: &str, len: usize) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    read_response(s)
}

#[test]
fn oversized_bodies_are_refused() {
    let ward =
        Ward::start_without_sampler("[api]\nmax_body_bytes = 4096\nmax_samples_per_request = 3\n");
    let r = declare_only(ward.addr, "/api/v1/write", 1 << 20);
    assert_eq!(r.status, 413, "{}", r.body);
    let r = declare_only(ward.addr, "/api/v1/import/prometheus", 1 << 20);
    assert_eq!(r.status, 413, "{}", r.body);
    // A small body that decompresses past the limit: refused from snappy's header.
    let zeros = snap::raw::Encoder::new()
        .compress_vec(&[0u8; 50_000])
        .unwrap();
    assert!(zeros.len() < 4096);
    let r = remote_write(ward.addr, &zeros);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.body.contains("decompressed request of 50000 bytes"),
        "{}",
        r.body
    );
    // Too many samples in one request: remote write refuses it whole...
    let body = pb::write_request(
        &[pb::series(
            &[("__name__", "m")],
            &[(1.0, T0), (2.0, T0 + 1), (3.0, T0 + 2), (4.0, T0 + 3)],
        )],
        &[],
    );
    let r = remote_write(ward.addr, &body);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("nothing was written"), "{}", r.body);
    // ... import stops at the limit and says how far it got.
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        b"m 1 1700000000000\nm 2 1700000000001\nm 3 1700000000002\nm 4 1700000000003\n",
    );
    assert_error(
        &r,
        413,
        "bad_data",
        "more than 3 samples in one request; stopped at line 4",
    );
    assert_eq!(r.json()["data"]["samplesWritten"], 3);
}

#[test]
fn tokens_guard_reads_and_writes() {
    let ward =
        Ward::start_without_sampler("[api]\nread_token = \"reader\"\nwrite_token = \"writer\"\n");
    let with = |token: &str| format!("Bearer {token}");
    let r = get(&ward, "/api/v1/query?query=1");
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = http(
        ward.addr,
        "GET",
        "/api/v1/query?query=1",
        &[("Authorization", &with("nope"))],
        b"",
    );
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
    for token in ["reader", "writer"] {
        let r = http(
            ward.addr,
            "GET",
            "/api/v1/query?query=1&time=1",
            &[("Authorization", &with(token))],
            b"",
        );
        assert_eq!(r.status, 200, "{token}: {}", r.body);
    }
    let r = get(&ward, "/metrics");
    assert_eq!(r.status, 401);
    let line = b"m 1 1700000000000\n";
    let r = http(ward.addr, "POST", "/api/v1/import/prometheus", &[], line);
    assert_eq!(r.status, 401);
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Authorization", &with("reader"))],
        line,
    );
    assert_eq!((r.status, r.body.as_str()), (403, "Forbidden\n"));
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/write",
        &[("Authorization", &with("reader"))],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = http(
        ward.addr,
        "POST",
        "/api/v1/import/prometheus",
        &[("Authorization", &with("writer"))],
        line,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    // Health stays open.
    let (status, body) = http_get(ward.addr, "/-/healthy");
    assert_eq!((status, body.as_str()), (200, "ward is Healthy.\n"));
}
