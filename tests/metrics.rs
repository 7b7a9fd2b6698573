//! `--metrics`: the run's loop answers `GET /metrics` while it runs, and during
//! `--metrics-linger` after its report. Scraped here with a plain TCP client, checked with
//! Debian's `promtool check metrics`, compared with the JSON summary, and scraped by a real
//! Prometheus (Debian's `prometheus`, its config and storage in a temp dir), whose HTTP API
//! must read the held count back. A scraper that floods or stalls must not hold the run up.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Guard, TempDir, args, closed_port, finish, first_line, installed, run_bad_input, signal, spawn,
    start_server, wait_for,
};
use serde_json::Value;

/// A loopback port nothing listens on now (the tests run in a namespace of their own).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tcpgoon server --echo` for a minute, quiet.
fn echo_server() -> (Guard, String) {
    start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"])
}

/// A response, split: its status line, its headers (lower-cased names), its body.
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange over a plain TCP connection to 127.0.0.1:`port`, read to its end
/// (the server closes); `None` when nothing listens or the answer is not whole.
fn http_get(port: u16, path: &str, accept: Option<&str>) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Scrapes `/metrics`, waiting up to 10 s for the endpoint to answer.
fn scrape(port: u16, accept: Option<&str>) -> Response {
    let mut got = None;
    wait_for("the metrics endpoint", || {
        got = http_get(port, "/metrics", accept);
        got.is_some()
    });
    let response = got.unwrap();
    assert_eq!(response.status, "HTTP/1.1 200 OK", "{}", response.body);
    response
}

/// The value of the series written `series` (name and labels as the exposition has them).
fn value(text: &str, series: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|r| r.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `promtool check metrics` on `text`; false when promtool is not installed (under CI its
/// absence fails the test).
fn promtool_passes(text: &str) -> bool {
    if !installed("promtool") {
        eprintln!("skipped promtool: not installed (.ci/run installs prometheus)");
        return false;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    true
}

const T: &str = "target=\"127.0.0.1:";

#[test]
fn a_scrape_during_the_run_sees_every_connection_held_and_passes_promtool() {
    let (_server, port) = echo_server();
    let metrics = free_port();
    let started = Instant::now();
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -y -i 0 --expect ping --heartbeat 200ms --hold 3s --metrics 127.0.0.1:{metrics} --send";
        "ping\\n"
    ));
    // Every connection is up within the first second of the three held.
    thread::sleep(Duration::from_millis(1200));
    let response = scrape(metrics, None);
    let text = &response.body;
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let target = format!("{T}{port}\"");
    let state = |s: &str| {
        value(
            text,
            &format!("tcpgoon_connections{{{target},state=\"{s}\"}}"),
        )
    };
    assert_eq!(state("established"), 20, "{text}");
    assert_eq!(
        (
            state("dialing"),
            state("closed"),
            state("error"),
            state("not_initiated")
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        value(text, &format!("tcpgoon_attempts_total{{{target}}}")),
        20
    );
    assert_eq!(
        value(
            text,
            &format!("tcpgoon_probe_outcomes_total{{{target},outcome=\"served\"}}")
        ),
        20
    );
    // A second of beats every 200 ms has been answered by now.
    assert!(value(text, &format!("tcpgoon_beats_answered_total{{{target}}}")) >= 20);
    assert_eq!(
        value(
            text,
            &format!("tcpgoon_connect_latency_seconds_count{{{target}}}")
        ),
        20
    );
    promtool_passes(text);
    // OpenMetrics when asked for, as Prometheus asks.
    let open = scrape(
        metrics,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.body.ends_with("\n# EOF\n"), "{}", open.body);
    assert!(open.body.contains("# TYPE tcpgoon_attempts counter\n"));
    // Elsewhere: not found.
    let other = http_get(metrics, "/", None).expect("an answer");
    assert_eq!(other.status, "HTTP/1.1 404 Not Found");
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out:?}");
    // Without --metrics-linger the endpoint is gone with the run.
    assert!(http_get(metrics, "/metrics", None).is_none());
}

/// The summary's count at `path` (`counts.established`, `beats.sent`).
fn at(summary: &Value, path: &str) -> u64 {
    let found = path.split('.').fold(summary, |v, key| &v[key]);
    found
        .as_u64()
        .unwrap_or_else(|| panic!("no {path} in {summary}"))
}

#[test]
fn while_it_lingers_the_counters_are_the_json_summary_s() {
    let (_server, port) = echo_server();
    let metrics = free_port();
    let started = Instant::now();
    let mut guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 12 -s 1ms -y -i 0 --json --expect ping --heartbeat 200ms --hold 1s --metrics 127.0.0.1:{metrics} --metrics-linger 60s --send";
        "ping\\n"
    ));
    // With -i 0 and --json, the only line is the summary: the report is out.
    let summary: Value = serde_json::from_str(&first_line(&mut guard)).expect("JSON");
    let text = scrape(metrics, None).body;
    promtool_passes(&text);
    let target = format!("{T}{port}\"");
    let series = |name: &str, label: Option<(&str, &str)>| {
        let labels = label.map_or(String::new(), |(k, v)| format!(",{k}=\"{v}\""));
        value(&text, &format!("{name}{{{target}{labels}}}"))
    };
    for state in ["not_initiated", "dialing", "established", "closed", "error"] {
        assert_eq!(
            series("tcpgoon_connections", Some(("state", state))),
            at(&summary, &format!("counts.{state}")),
            "{state}"
        );
    }
    assert_eq!(
        series("tcpgoon_attempts_total", None),
        at(&summary, "attempts")
    );
    let failures = summary["failures"].as_object().expect("failures");
    assert!(failures.len() >= 13);
    for (cause, n) in failures {
        let scraped = series("tcpgoon_failures_total", Some(("cause", cause)));
        assert_eq!(Some(scraped), n.as_u64(), "{cause}");
    }
    let closures = summary["closures"].as_object().expect("closures");
    for (cause, n) in closures {
        let scraped = series("tcpgoon_closures_total", Some(("cause", cause)));
        assert_eq!(Some(scraped), n.as_u64(), "{cause}");
    }
    for outcome in ["served", "rejected", "unserved", "closed_before_answer"] {
        let scraped = series("tcpgoon_probe_outcomes_total", Some(("outcome", outcome)));
        assert_eq!(
            scraped,
            at(&summary, &format!("probe.{outcome}")),
            "{outcome}"
        );
    }
    for beats in ["due", "sent", "answered", "late"] {
        let scraped = series(&format!("tcpgoon_beats_{beats}_total"), None);
        assert_eq!(scraped, at(&summary, &format!("beats.{beats}")), "{beats}");
    }
    assert!(at(&summary, "beats.answered") >= 12 * 4, "{summary}");
    for (cause, n) in summary["beats"]["stopped"].as_object().expect("stopped") {
        let scraped = series("tcpgoon_beats_stopped_total", Some(("cause", cause)));
        assert_eq!(Some(scraped), n.as_u64(), "{cause}");
    }
    assert_eq!(
        series("tcpgoon_connect_latency_seconds_count", None),
        at(&summary, "connect_latency_us.count")
    );
    assert_eq!(
        series("tcpgoon_beat_latency_seconds_count", None),
        at(&summary, "beats.latency_us.count")
    );
    assert_eq!(
        series("tcpgoon_received_bytes_total", None),
        at(&summary, "bytes_received")
    );
    // A signal ends the linger, and the run's own status stands.
    signal(&guard, libc::SIGINT);
    let out = finish(guard, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
}

#[test]
fn a_flooding_or_stalling_scraper_does_not_hold_the_run_up() {
    let (_server, port) = echo_server();
    let metrics = free_port();
    let started = Instant::now();
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 30 -s 1ms -y -i 0 --expect ping --heartbeat 100ms --hold 3s --metrics 127.0.0.1:{metrics} --send";
        "ping\\n"
    ));
    scrape(metrics, None);
    // One that sends 1 MB of head (refused with 431 past 8 KiB), then 100 that send nothing
    // (past the 64 served at once, left waiting in the backlog), and one that asks and never
    // reads.
    let flood = thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut head = b"GET /metrics HTTP/1.1\r\nX-Flood: ".to_vec();
        head.resize(1 << 20, b'a');
        // The endpoint stops reading and closes: the write fails, or stops at the window.
        let _ = stream.write_all(&head);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    });
    let answer = flood.join().unwrap();
    // The answer may be lost to the reset that the unread megabyte makes.
    if !answer.is_empty() {
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    }
    let idle: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", metrics)).ok())
        .collect();
    assert!(idle.len() >= 64, "{}", idle.len());
    let mut unread = TcpStream::connect(("127.0.0.1", metrics)).ok();
    if let Some(s) = unread.as_mut() {
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
    }
    // Held through the dialing and the first beats.
    thread::sleep(Duration::from_millis(1000));
    // The scrapers gone, the endpoint answers again, the run still holding.
    drop(idle);
    drop(unread);
    let text = scrape(metrics, None).body;
    let target = format!("{T}{port}\"");
    let established = value(
        &text,
        &format!("tcpgoon_connections{{{target},state=\"established\"}}"),
    );
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(established, 30, "{text}\n{out:?}");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 30 of 30 established, served, held and answered every heartbeat"
    );
    let [_, _, answered, late, stopped] = out.beat_counts();
    assert_eq!((late, stopped), (0, 0), "{}", out.stdout);
    assert!(answered >= 30 * 20, "{}", out.stdout);
    out.probe_adds_up();
}

#[test]
fn an_address_that_is_not_ip_port_or_cannot_be_bound_is_bad_input() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let port = free_port();
    for bad in ["localhost:9090", "127.0.0.1", "9090", "127.0.0.1:99999", ""] {
        let out = run_bad_input(&args!("run 127.0.0.1 {port} -c 1 -y --metrics"; bad));
        assert!(out.stderr.contains("--metrics"), "{bad}: {}", out.stderr);
    }
    let out = run_bad_input(&args!(
        "run 127.0.0.1 {port} -c 1 -y --metrics 127.0.0.1:{taken_port}"
    ));
    assert!(
        out.stderr.contains("cannot listen on 127.0.0.1:"),
        "{}",
        out.stderr
    );
    run_bad_input(&args!(
        "limit 127.0.0.1 {port} -c 1 --metrics 127.0.0.1:{taken_port}"
    ));
    let out = run_bad_input(&args!("run 127.0.0.1 {port} -c 1 -y --metrics-linger 1s"));
    assert!(out.stderr.contains("give --metrics too"), "{}", out.stderr);
}

/// Prometheus' HTTP API, asked over a plain TCP connection: the result's values.
fn prometheus_query(port: u16, query: &str) -> Vec<Value> {
    let Some(response) = http_get(port, &format!("/api/v1/query?query={query}"), None) else {
        return Vec::new();
    };
    // Chunked or not, the JSON object is the body's one line that begins with `{`.
    let Some(json) = response.body.lines().find(|l| l.starts_with('{')) else {
        return Vec::new();
    };
    let parsed: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    parsed["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Debian's `prometheus`, its config and storage in `dir`, scraping 127.0.0.1:`metrics`
/// every 100 ms, on a free port of its own (returned), once it lists its target; `None`
/// when it is not installed (under CI its absence fails the test).
fn start_prometheus(dir: &TempDir, metrics: u16) -> Option<(Guard, u16)> {
    if !installed("prometheus") {
        return None;
    }
    let web = free_port();
    let config = format!(
        "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\n\
         scrape_configs:\n  - job_name: tcpgoon\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
    );
    std::fs::write(dir.path("prometheus.yml"), config).unwrap();
    let prometheus = Guard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path("prometheus.yml")))
            .arg(format!("--storage.tsdb.path={}", dir.path("data")))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // Ready, it takes its targets from discovery a few seconds later: it scrapes once it
    // lists ours (down, until the run starts).
    wait_for("prometheus to be ready", || {
        http_get(web, "/-/ready", None).is_some_and(|r| r.status.contains(" 200 "))
    });
    wait_for("prometheus to list its target", || {
        http_get(web, "/api/v1/targets", None)
            .is_some_and(|r| r.body.contains(&format!("127.0.0.1:{metrics}")))
    });
    Some((prometheus, web))
}

#[test]
fn prometheus_scrapes_the_run_and_reads_back_the_held_count() {
    let dir = TempDir::new("metrics-prometheus");
    let metrics = free_port();
    let Some((_prometheus, web)) = start_prometheus(&dir, metrics) else {
        return;
    };
    let (_server, port) = echo_server();
    let started = Instant::now();
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 15 -s 1ms -y -i 0 --expect ping --heartbeat 200ms --hold 2s --metrics 127.0.0.1:{metrics} --metrics-linger 3s --send";
        "ping\\n"
    ));
    let query = "tcpgoon_connections%7Bstate%3D%22established%22%7D";
    let deadline = Instant::now() + Duration::from_secs(20);
    let (held, results) = loop {
        let results = prometheus_query(web, query);
        let held = results
            .first()
            .and_then(|r| r["value"][1].as_str().map(str::to_string));
        if held.as_deref() == Some("15") || Instant::now() > deadline {
            break (held, results);
        }
        thread::sleep(Duration::from_millis(50));
    };
    if held.as_deref() != Some("15") {
        let out = finish(guard, started, Duration::from_secs(30));
        let targets = http_get(web, "/api/v1/targets", None).map(|r| r.body);
        panic!("prometheus read back {results:?}\n{targets:?}\n{out:?}");
    }
    assert_eq!(results[0]["metric"]["job"], "tcpgoon", "{results:?}");
    assert_eq!(
        results[0]["metric"]["target"],
        format!("127.0.0.1:{port}"),
        "{results:?}"
    );
    let answered = prometheus_query(web, "tcpgoon_beats_answered_total");
    let answered: u64 = answered[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(answered > 0);
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn limit_serves_the_same_endpoint_through_its_search() {
    let (_server, port) = echo_server();
    let metrics = free_port();
    let started = Instant::now();
    let mut guard = spawn(&args!(
        "limit 127.0.0.1 {port} -r 500 -c 20 --hold 1s -i 0 --json --metrics 127.0.0.1:{metrics} --metrics-linger 60s"
    ));
    let summary: Value = serde_json::from_str(&first_line(&mut guard)).expect("JSON");
    assert_eq!(summary["limit"]["finding"], "no_limit", "{summary}");
    let text = scrape(metrics, None).body;
    promtool_passes(&text);
    let target = format!("{T}{port}\"");
    let established = format!("tcpgoon_connections{{{target},state=\"established\"}}");
    assert_eq!(value(&text, &established), 20, "{text}");
    assert_eq!(
        value(&text, &established),
        at(&summary, "counts.established")
    );
    // A signal ends the linger; the status is the search's: no limit found below -c.
    signal(&guard, libc::SIGTERM);
    let out = finish(guard, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(4), "{out:?}");
    assert_eq!(summary["exit_status"], 4, "{summary}");
}

/// The series of a `tcpgoon server --metrics` scrape that each part of its count line
/// (`Accepted: 5, Open: 0, …`) stands for.
const SERVER_PARTS: [(&str, &str); 10] = [
    ("Accepted", "tcpgoon_server_accepted_total"),
    ("Open", "tcpgoon_server_open"),
    ("Closed", "tcpgoon_server_closed_total"),
    ("Turned away", "tcpgoon_server_turned_away_total"),
    ("Accept errors", "tcpgoon_server_accept_errors_total"),
    ("Handshaking", "tcpgoon_server_tls_handshaking"),
    ("Handshakes done", "tcpgoon_server_tls_handshakes_total"),
    (
        "Alert sent",
        "tcpgoon_server_tls_handshake_failures_total{cause=\"alert_sent\"}",
    ),
    (
        "Alert received",
        "tcpgoon_server_tls_handshake_failures_total{cause=\"alert_received\"}",
    ),
    (
        "Closed in handshake",
        "tcpgoon_server_tls_handshake_failures_total{cause=\"closed\"}",
    ),
];

#[test]
fn the_server_s_scrape_passes_promtool_and_is_its_final_count_line() {
    let metrics = free_port();
    let started = Instant::now();
    let (mut server, port) = start_server(&args!(
        "-m 0 -d 3s -i 0 --echo --tls --max-open 3 --metrics 127.0.0.1:{metrics} --metrics-linger 60s"
    )
    .iter()
    .map(String::as_str)
    .collect::<Vec<_>>());
    // Five held for 1.5 s: three served, two turned away (and closed) past --max-open.
    let client = spawn(&args!(
        "run 127.0.0.1 {port} -c 5 -s 1ms -y -i 0 --tls --insecure --hold 1500ms"
    ));
    let mut during = String::new();
    wait_for("the server to hold three", || {
        during = http_get(metrics, "/metrics", None).map_or(String::new(), |r| r.body);
        during.contains("\ntcpgoon_server_open 3\n")
            && during.contains("\ntcpgoon_server_accepted_total 5\n")
    });
    assert_eq!(
        value(&during, "tcpgoon_server_turned_away_total"),
        2,
        "{during}"
    );
    assert_eq!(
        value(&during, "tcpgoon_server_tls_handshaking"),
        0,
        "{during}"
    );
    assert_eq!(
        value(&during, "tcpgoon_server_tls_handshakes_total"),
        3,
        "{during}"
    );
    promtool_passes(&during);
    let client = finish(client, started, Duration::from_secs(30));
    // Three of five served: the run's verdict is a failure, which is not this test's.
    assert!(client.stdout.contains("Total: 5"), "{client:?}");
    // After the stop (-d 3s): the final count line, then why it stopped.
    let counts = first_line(&mut server);
    let stopping = first_line(&mut server);
    assert_eq!(stopping, "stopping: ran for 3s (--duration 3s)", "{counts}");
    let text = scrape(metrics, None).body;
    promtool_passes(&text);
    let parts: Vec<(&str, u64)> = counts
        .split(", ")
        .map(|part| {
            let (name, n) = part.split_once(": ").expect("Name: N");
            (name, n.parse().expect("a count"))
        })
        .collect();
    assert!(parts.len() >= 6, "{counts}");
    for (name, n) in &parts {
        let series = match *name {
            "Handshakes failed" => {
                let failed: u64 = ["alert_sent", "alert_received", "closed", "other"]
                    .iter()
                    .map(|cause| {
                        value(
                            &text,
                            &format!(
                                "tcpgoon_server_tls_handshake_failures_total{{cause=\"{cause}\"}}"
                            ),
                        )
                    })
                    .sum();
                assert_eq!(failed, *n, "{counts}\n{text}");
                continue;
            }
            "Other TLS failures" => "tcpgoon_server_tls_handshake_failures_total{cause=\"other\"}",
            name => {
                SERVER_PARTS
                    .iter()
                    .find(|(part, _)| *part == name)
                    .unwrap_or_else(|| panic!("no series for {name}"))
                    .1
            }
        };
        assert_eq!(value(&text, series), *n, "{name} in {counts}\n{text}");
    }
    // The parts the line leaves out when zero are there, at zero.
    for (name, series) in SERVER_PARTS {
        if !parts.iter().any(|(part, _)| *part == name) {
            assert_eq!(value(&text, series), 0, "{name}\n{text}");
        }
    }
    assert_eq!(value(&text, "tcpgoon_server_accepted_total"), 5, "{text}");
    assert_eq!(
        value(&text, "tcpgoon_server_turned_away_total"),
        2,
        "{text}"
    );
    // OpenMetrics when asked for.
    let open = scrape(metrics, Some("application/openmetrics-text"));
    assert!(
        open.body
            .contains("# TYPE tcpgoon_server_accepted counter\n")
    );
    assert!(open.body.ends_with("\n# EOF\n"), "{}", open.body);
    // A signal ends the linger; the server's status stands.
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(http_get(metrics, "/metrics", None).is_none());
}

#[test]
fn the_server_s_endpoint_is_bad_input_when_it_cannot_be_bound() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let out = run_bad_input(&args!("server -p 0 --metrics 127.0.0.1:{taken_port}"));
    assert!(
        out.stderr
            .contains("--metrics: cannot listen on 127.0.0.1:"),
        "{}",
        out.stderr
    );
    let out = run_bad_input(&args!("server -p 0 --metrics localhost:9100"));
    assert!(out.stderr.contains("is not IP:PORT"), "{}", out.stderr);
    let out = run_bad_input(&args!("server -p 0 --metrics-linger 1s"));
    assert!(out.stderr.contains("give --metrics too"), "{}", out.stderr);
}

/// The single value Prometheus' API gives for `query` (URL-encoded), as a string.
fn prometheus_value(web: u16, query: &str) -> Option<String> {
    let results = prometheus_query(web, query);
    let [result] = results.as_slice() else {
        return None;
    };
    result["value"][1].as_str().map(str::to_string)
}

/// Seconds as Prometheus writes them, in whole microseconds.
fn micros_of(seconds: &str) -> Option<u64> {
    let seconds: f64 = seconds.parse().ok()?;
    seconds.is_finite().then(|| (seconds * 1e6).round() as u64)
}

#[test]
fn prometheus_reads_back_the_held_count_and_beat_quantiles_the_json_summary_has() {
    let dir = TempDir::new("metrics-prometheus-quantiles");
    let metrics = free_port();
    let Some((_prometheus, web)) = start_prometheus(&dir, metrics) else {
        return;
    };
    let (_server, port) = echo_server();
    let started = Instant::now();
    let mut guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 15 -s 1ms -y -i 0 --json --expect ping --heartbeat 100ms --hold 2s --metrics 127.0.0.1:{metrics} --metrics-linger 60s --send";
        "ping\\n"
    ));
    // The report is out: from now on every scrape has the final counts.
    let summary: Value = serde_json::from_str(&first_line(&mut guard)).expect("JSON");
    assert_eq!(at(&summary, "counts.established"), 15, "{summary}");
    assert!(at(&summary, "beats.answered") >= 15 * 10, "{summary}");
    let beats = &summary["beats"]["latency_us"];
    let connect = &summary["connect_latency_us"];
    // Each (query, what the summary says), in microseconds for the latencies.
    let mut expected: Vec<(String, u64, bool)> = vec![(
        "tcpgoon_connections%7Bstate%3D%22established%22%7D".to_string(),
        at(&summary, "counts.established"),
        false,
    )];
    for (key, q) in [
        ("p50", "0.5"),
        ("p90", "0.9"),
        ("p99", "0.99"),
        ("p99_9", "0.999"),
    ] {
        for (name, latency) in [("beat", beats), ("connect", connect)] {
            let json = latency[key]
                .as_u64()
                .unwrap_or_else(|| panic!("no {key} in {latency}"));
            expected.push((
                format!("tcpgoon_{name}_latency_quantile_seconds%7Bquantile%3D%22{q}%22%7D"),
                json,
                true,
            ));
        }
    }
    expected.push((
        "tcpgoon_beat_latency_quantile_seconds_count".to_string(),
        at(&summary, "beats.latency_us.count"),
        false,
    ));
    let read = |query: &str, micros: bool| {
        let value = prometheus_value(web, query)?;
        if micros {
            micros_of(&value)
        } else {
            value.parse().ok()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: Vec<Option<u64>> = expected.iter().map(|(q, _, m)| read(q, *m)).collect();
        let want: Vec<Option<u64>> = expected.iter().map(|(_, n, _)| Some(*n)).collect();
        if got == want {
            break;
        }
        if Instant::now() > deadline {
            signal(&guard, libc::SIGINT);
            let out = finish(guard, started, Duration::from_secs(10));
            let targets = http_get(web, "/api/v1/targets", None).map(|r| r.body);
            panic!("prometheus read back {got:?}, the summary says {want:?}\n{targets:?}\n{out:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    // The beat p99 as a query of the dashboard reads it: by its labels, the run's target.
    let p99 = prometheus_query(
        web,
        "tcpgoon_beat_latency_quantile_seconds%7Bquantile%3D%220.99%22%2Cjob%3D%22tcpgoon%22%7D",
    );
    assert_eq!(p99[0]["metric"]["target"], format!("127.0.0.1:{port}"));
    signal(&guard, libc::SIGINT);
    let out = finish(guard, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(summary["exit_status"], 0, "{summary}");
}

/// Debian's `prometheus-pushgateway` on a free loopback port (returned), in memory, once it
/// is ready; `None` when it is not installed (under CI its absence fails the test).
fn start_pushgateway() -> Option<(Guard, u16)> {
    if !installed("prometheus-pushgateway") {
        return None;
    }
    let port = free_port();
    let gateway = Guard(
        Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-pushgateway"),
    );
    wait_for("the pushgateway to be ready", || {
        http_get(port, "/-/ready", None).is_some_and(|r| r.status.contains(" 200 "))
    });
    Some((gateway, port))
}

/// The value of the one series on the pushgateway's `/metrics` named `name` whose labels
/// include every one of `labels` (it sorts them by name).
fn pushed(gateway: u16, name: &str, labels: &[&str]) -> Option<u64> {
    let text = http_get(gateway, "/metrics", None)?.body;
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect();
    let [line] = found.as_slice() else {
        return None;
    };
    line.rsplit(' ').next()?.parse().ok()
}

#[test]
fn a_run_pushes_its_final_counts_and_exit_status_to_a_real_pushgateway() {
    let Some((_gateway, gateway)) = start_pushgateway() else {
        return;
    };
    let (_server, port) = echo_server();
    let url = format!("http://localhost:{gateway}/metrics/job/tcpgoon/instance/ci");
    let out = common::run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 1ms -y -i 0 --json --expect ping --heartbeat 100ms --hold 1s --metrics-push {url} --send";
        "ping\\n"
    ));
    let summary: Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let group = ["job=\"tcpgoon\"", "instance=\"ci\""];
    let target = format!("target=\"127.0.0.1:{port}\"");
    let with = |more: &[&str]| -> Vec<String> {
        let mut labels: Vec<String> = group.iter().map(|l| l.to_string()).collect();
        labels.push(target.clone());
        labels.extend(more.iter().map(|l| l.to_string()));
        labels
    };
    let read = |name: &str, more: &[&str]| {
        let labels = with(more);
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        pushed(gateway, name, &labels)
    };
    assert_eq!(
        read("tcpgoon_connections", &["state=\"established\""]),
        Some(at(&summary, "counts.established"))
    );
    assert_eq!(at(&summary, "counts.established"), 6);
    assert_eq!(read("tcpgoon_exit_status", &[]), Some(0));
    assert_eq!(
        read("tcpgoon_beats_answered_total", &[]),
        Some(at(&summary, "beats.answered"))
    );
    assert_eq!(
        read("tcpgoon_beat_latency_quantile_seconds_count", &[]),
        Some(at(&summary, "beats.latency_us.count"))
    );
    // A failing run, pushed to the same group, replaces it: its status, nothing held.
    let closed = closed_port();
    let url = format!("http://127.0.0.1:{gateway}/metrics/job/tcpgoon/instance/ci");
    let failed = common::run(&args!(
        "run 127.0.0.1 {closed} -c 2 -y -i 0 --metrics-push {url}"
    ));
    assert_ne!(failed.code, Some(0), "{failed:?}");
    let code = u64::try_from(failed.code.expect("an exit status")).unwrap();
    let target = format!("target=\"127.0.0.1:{closed}\"");
    let labels = [group[0], group[1], &target];
    assert_eq!(pushed(gateway, "tcpgoon_exit_status", &labels), Some(code));
    assert_eq!(
        pushed(
            gateway,
            "tcpgoon_failures_total",
            &[group[0], group[1], &target, "cause=\"refused\""]
        ),
        Some(2)
    );
    assert!(
        pushed(
            gateway,
            "tcpgoon_exit_status",
            &[&format!("target=\"127.0.0.1:{port}\"")]
        )
        .is_none(),
        "the group was replaced"
    );
}

#[test]
fn a_push_that_fails_or_gets_no_answer_is_one_warning_and_the_status_stands() {
    let (_server, port) = echo_server();
    // Nothing listens: refused at once.
    let nothing = closed_port();
    let out = common::run(&args!(
        "run 127.0.0.1 {port} -c 2 -y -i 0 --metrics-push http://127.0.0.1:{nothing}/metrics/job/t"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "tcpgoon: warning: --metrics-push to http://127.0.0.1:{nothing}/metrics/job/t: cannot connect"
        )),
        "{}",
        out.stderr
    );
    // A listener that takes the connection and never answers: 5 s, then one line; a failing
    // run's status stays the failing one.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let closed = closed_port();
    let started = Instant::now();
    let out = common::run(&args!(
        "run 127.0.0.1 {closed} -c 1 -y -i 0 --metrics-push http://127.0.0.1:{silent_port}/metrics/job/t"
    ));
    let elapsed = started.elapsed();
    let unpushed = common::run(&args!("run 127.0.0.1 {closed} -c 1 -y -i 0"));
    assert_ne!(unpushed.code, Some(0), "{unpushed:?}");
    assert_eq!(out.code, unpushed.code, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with(": no answer within 5s; the exit status is the run's\n"),
        "{}",
        out.stderr
    );
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
    drop(silent);
}

#[test]
fn a_push_url_that_is_not_a_pushgateway_s_is_bad_input() {
    let port = free_port();
    let out = run_bad_input(&args!(
        "run 127.0.0.1 {port} -c 1 -y --metrics-push https://127.0.0.1:9091/metrics/job/t"
    ));
    assert!(
        out.stderr.contains("https:// is not supported"),
        "{}",
        out.stderr
    );
    for bad in [
        "127.0.0.1:9091/metrics/job/t",
        "ftp://127.0.0.1:9091/metrics/job/t",
        "http://127.0.0.1:9091/",
        "http://127.0.0.1:9091/metrics/job/t/instance",
        "http://127.0.0.1:99999/metrics/job/t",
        "http://127.0.0.1:9091/metrics/job/t?x=1",
        "",
    ] {
        let out = run_bad_input(&args!("run 127.0.0.1 {port} -c 1 -y --metrics-push"; bad));
        assert!(
            out.stderr.contains("--metrics-push"),
            "{bad}: {}",
            out.stderr
        );
    }
    // A name that resolves nowhere: said before the first attempt.
    let out = run_bad_input(&args!(
        "limit 127.0.0.1 {port} -c 1 --metrics-push http://no-such-host.invalid:9091/metrics/job/t"
    ));
    assert!(
        out.stderr
            .contains("--metrics-push: cannot resolve no-such-host.invalid"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_shard_s_series_say_which_shard_it_is() {
    let (_server, port) = echo_server();
    let metrics = free_port();
    let started = Instant::now();
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 10 -s 1ms -y -i 0 --hold 2s --shard 1/2 --metrics 127.0.0.1:{metrics}"
    ));
    let text = scrape(metrics, None).body;
    let labels = format!("{T}{port}\",shard=\"1/2\"");
    assert_eq!(
        value(&text, &format!("tcpgoon_connections_planned{{{labels}}}")),
        5,
        "{text}"
    );
    assert!(
        !text.contains(&format!("{T}{port}\"}}")),
        "a series without the shard: {text}"
    );
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out:?}");
}
