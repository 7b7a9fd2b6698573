//! `--tls`: the handshake on every connection, through the real binaries. `server --tls`
//! with its self-signed certificate (unknown to the system, so verified it is rejected), or
//! with one the test makes with openssl (trusted with `--ca`); a plain server answered with
//! TLS; the versions; `limit --tls` against `server --tls --accept-limit`; and
//! `--tls --probe http` against Debian's nginx, with its own config in a temp dir.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Guard, Output, TempDir, args, in_private_net, installed, nginx_tls, openssl_cert, run,
    start_server,
};

fn run_tls(port: &str, connections: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "127.0.0.1",
        port,
        "-c",
        connections,
        "-s",
        "0",
        "-y",
        "-i",
        "0",
        "--tls",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The count on a line `<prefix><count>`.
fn count_after(out: &Output, prefix: &str) -> u64 {
    out.line(prefix)[prefix.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no count after {prefix:?} in:\n{}", out.stdout))
}

/// The counts add up, and every attempt ended: none is left dialing.
fn every_attempt_ended(out: &Output, total: u64) {
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{}", out.stdout);
    assert_eq!(counts.total, total, "{}", out.stdout);
    assert_eq!(counts.dialing + counts.not_initiated, 0, "{}", out.stdout);
}

#[test]
fn two_hundred_handshakes_served_with_their_percentiles() {
    let (_server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "200", &["--insecure"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    every_attempt_ended(&out, 200);
    assert_eq!(out.final_counts().established, 200, "{}", out.stdout);
    assert_eq!(count_after(&out, "Served (TLS handshake done): "), 200);
    assert!(
        out.stdout
            .contains("TLS handshake stats for 200 handshakes (TCP established to handshake done)"),
        "{}",
        out.stdout
    );
    let table = out
        .stdout
        .split_once("TLS handshake percentiles:\n")
        .expect("a handshake percentile table")
        .1;
    for (row, name) in table.lines().zip(["p50", "p75", "p90", "p95", "p99"]) {
        assert!(
            row.trim_start().starts_with(name),
            "{row:?} in\n{}",
            out.stdout
        );
    }
    let negotiated = out.line("Negotiated TLS 1.3 ");
    assert!(negotiated.ends_with(": 200"), "{negotiated}");
    assert_eq!(out.line("Errors by cause: "), "Errors by cause: none");
    assert!(!out.stdout.contains("TLS failures:"), "{}", out.stdout);
}

#[test]
fn an_unknown_issuer_fails_every_attempt_and_says_what_to_do() {
    let (_server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "20", &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    every_attempt_ended(&out, 20);
    assert_eq!(out.final_counts().error, 20, "{}", out.stdout);
    assert_eq!(out.failures("certificate rejected"), 20, "{}", out.stdout);
    assert!(
        out.stdout.contains("\n  certificate: the server's certificate is signed by an issuer not in --ca or the system's roots: 20\n"),
        "{}",
        out.stdout
    );
    assert!(out.line("Certificates rejected: ").contains("--ca FILE"));
    assert!(out.line("Certificates rejected: ").contains("--insecure"));
}

#[test]
fn ca_trusts_the_servers_certificate_and_sni_is_checked() {
    if !installed("openssl") {
        return;
    }
    let dir = TempDir::new("tls-ca");
    let (cert, key) = openssl_cert(&dir);
    let (_server, port) = start_server(&[
        "--tls", "--cert", &cert, "--key", &key, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let out = run_tls(&port, "30", &["--ca", &cert]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 30, "{}", out.stdout);
    // By name, the name is sent and checked; a name the certificate lacks is a mismatch.
    let by_name = run(&[
        "run",
        "localhost",
        &port,
        "-4",
        "-c",
        "5",
        "-s",
        "0",
        "-y",
        "-i",
        "0",
        "--tls",
        "--ca",
        &cert,
    ]);
    assert_eq!(by_name.code, Some(0), "{by_name:?}");
    let wrong = run_tls(&port, "5", &["--ca", &cert, "--sni", "other.test"]);
    assert_eq!(wrong.code, Some(2), "{wrong:?}");
    assert!(
        wrong.stdout.contains(
            "\n  certificate: the server's certificate is not valid for the name 'other.test': 5\n"
        ),
        "{}",
        wrong.stdout
    );
    // The server's own self-signed one is not that CA's.
    let (_other, other_port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&other_port, "5", &["--ca", &cert]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stdout.contains("certificate: the server's certificate is signed by an issuer not in --ca or the system's roots: 5"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_plain_server_fails_the_handshake() {
    // It reads the ClientHello and says nothing: the handshake times out.
    let (_silent, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "10", &["--insecure", "--probe-timeout", "300ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    every_attempt_ended(&out, 10);
    assert_eq!(out.failures("handshake timed out"), 10, "{}", out.stdout);
    // It greets in plain text: not TLS.
    let (_greeting, port) =
        start_server(&["-m", "0", "-d", "30s", "-i", "0", "--greeting", "hi\\r\\n"]);
    let out = run_tls(&port, "10", &["--insecure"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    every_attempt_ended(&out, 10);
    assert_eq!(out.failures("protocol error"), 10, "{}", out.stdout);
    // It closes each one at once: closed during the handshake.
    let (_closing, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "0"]);
    let out = run_tls(&port, "10", &["--insecure"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    every_attempt_ended(&out, 10);
    assert_eq!(
        out.failures("closed during handshake"),
        10,
        "{}",
        out.stdout
    );
}

#[test]
fn the_version_asked_for_is_negotiated_and_counted() {
    let (_server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "20", &["--insecure", "--tls-version", "1.2"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out.line("Negotiated TLS 1.2 ");
    assert!(line.starts_with("Negotiated TLS 1.2 TLS_ECDHE_"), "{line}");
    assert!(line.ends_with(": 20"), "{line}");
    let out = run_tls(
        &port,
        "20",
        &["--insecure", "--tls-version", "1.3", "--alpn", "h2"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out.line("Negotiated TLS 1.3 ");
    assert!(line.ends_with(" ALPN h2: 20"), "{line}");
}

#[test]
fn json_and_the_hdr_log_carry_the_handshakes() {
    let (_server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let dir = TempDir::new("tls-json");
    let log = dir.path("run.hdr");
    let out = run_tls(&port, "50", &["--insecure", "--json", "--hdr-log", &log]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["counts"]["established"], 50);
    let handshake = &summary["tls_handshake_us"];
    assert_eq!(handshake["count"], 50, "{summary}");
    assert!(handshake["p99"].as_u64().is_some(), "{summary}");
    assert!(!handshake["histogram"].as_str().unwrap_or("").is_empty());
    assert_eq!(summary["time_to_served_us"]["count"], 50);
    assert_eq!(summary["tls"]["negotiated"][0]["count"], 50, "{summary}");
    assert_eq!(summary["options"]["tls"]["trust"], "insecure");
    assert_eq!(summary["failures"]["certificate_rejected"], 0);
    let log = std::fs::read_to_string(&log).expect("the HDR log");
    assert!(log.contains("Tag=tls_handshake,"), "{log}");
    assert!(log.contains("Tag=served,"), "{log}");
    // Without --insecure: every failure in the JSON too.
    let out = run_tls(&port, "10", &["--json"]);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["failures"]["certificate_rejected"], 10, "{summary}");
    assert_eq!(
        summary["tls"]["failures"][0]["name"],
        "certificate: the server's certificate is signed by an issuer not in --ca or the system's roots"
    );
    assert_eq!(summary["tls"]["failures"][0]["count"], 10);
}

#[test]
fn limit_finds_the_accept_limit_of_a_tls_server() {
    let (_server, port) = start_server(&["--tls", "--accept-limit", "30", "-d", "30s", "-i", "0"]);
    let out = run(&[
        "limit",
        "127.0.0.1",
        &port,
        "--tls",
        "--insecure",
        "-r",
        "500",
        "--probe-timeout",
        "300ms",
        "-i",
        "0",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out.line("Limit: ");
    assert!(
        line.starts_with("Limit: 30 concurrent connections served and held when an attempt failed (handshake timed out)"),
        "{line}"
    );
}

#[test]
fn the_servers_greeting_and_echo_go_over_tls() {
    let (_server, port) = start_server(&[
        "--tls",
        "-m",
        "0",
        "-d",
        "30s",
        "-i",
        "0",
        "--greeting",
        "+OK\\r\\n",
    ]);
    let out = run_tls(&port, "20", &["--insecure", "--expect", "+OK"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.line("Probe (custom): ")
            .starts_with("Probe (custom): served 20,")
    );
    let (_echo, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0", "--echo"]);
    let out = run_tls(
        &port,
        "20",
        &["--insecure", "--send", "ping", "--expect", "ping"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.line("Probe (custom): ")
            .starts_with("Probe (custom): served 20,")
    );
}

#[test]
fn tls_options_need_tls_and_bad_ones_are_bad_input() {
    for (args, message) in [
        (&["--insecure"][..], "--insecure needs --tls"),
        (&["--sni", "a.test"][..], "--sni needs --tls"),
        (
            &["--tls", "--tls-version", "1.1"][..],
            "expected 1.2 or 1.3",
        ),
        (
            &["--tls", "--insecure", "--ca", "x.pem"][..],
            "exclude each other",
        ),
        (
            &["--tls", "--ca", "/nonexistent/ca.pem"][..],
            "--ca '/nonexistent/ca.pem'",
        ),
    ] {
        let mut full = vec!["run", "127.0.0.1", "9", "-y"];
        full.extend_from_slice(args);
        let out = common::run_bad_input(&full);
        assert!(out.stderr.contains(message), "{args:?}: {out:?}");
    }
    let out = common::run_bad_input(&["server", "--cert", "c.pem", "--key", "k.pem"]);
    assert!(out.stderr.contains("need --tls"), "{out:?}");
}

/// A run refused as bad input (exit 64, one line) within `limit`: a refusal that waits or
/// reads without end fails here instead of hanging the suite.
fn refused_within(args: &[&str], limit: Duration) -> Output {
    let started = Instant::now();
    let out = common::finish(common::spawn(args), started, limit);
    assert_eq!(out.code, Some(64), "{args:?}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    assert!(out.stderr.starts_with("tcpgoon: --ca '"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out
}

#[test]
fn ca_is_a_regular_file_read_to_a_bound() {
    let run = |ca: &str| {
        let args = [
            "run",
            "127.0.0.1",
            "9",
            "-c",
            "1",
            "-y",
            "--tls",
            "--ca",
            ca,
        ];
        refused_within(&args, Duration::from_secs(10))
    };
    // A device is refused before a byte of it is read: it was read without end.
    let out = run("/dev/zero");
    assert!(out.stderr.contains("not a regular file"), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(5), "{out:?}");
    // A FIFO with no writer is refused at once: opening it waited for a writer.
    let dir = TempDir::new("tls-ca-fifo");
    let fifo = dir.path("ca.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo: {made}");
    let out = run(&fifo);
    assert!(out.stderr.contains("not a regular file"), "{out:?}");
    // A regular file past the bound: refused, having read no more than the bound.
    let big = dir.path("big.pem");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(17 << 20))
        .expect("make a 17 MiB file");
    let out = run(&big);
    assert!(out.stderr.contains("larger than 16 MiB"), "{out:?}");
}

#[test]
fn tls_with_an_http_probe_against_nginx() {
    if !installed("nginx") || !installed("openssl") {
        return;
    }
    let dir = TempDir::new("tls-nginx");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let _nginx = nginx_tls(&dir, &cert, &key, "return 200 \"ok\\n\";");
        let out = run(&[
            "run",
            "127.0.0.1",
            "8443",
            "-c",
            "100",
            "-s",
            "1ms",
            "-y",
            "-i",
            "0",
            "--tls",
            "--ca",
            &cert,
            "--probe",
            "http",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.line("Probe (http): ")
                .starts_with("Probe (http): served 100,"),
            "{}",
            out.stdout
        );
        assert!(
            out.line("Negotiated TLS 1.3 ").ends_with(": 100"),
            "{}",
            out.stdout
        );
        // Without --ca: rejected, and nginx hears why.
        let out = run(&[
            "run",
            "127.0.0.1",
            "8443",
            "-c",
            "5",
            "-s",
            "1ms",
            "-y",
            "-i",
            "0",
            "--tls",
            "--probe",
            "http",
        ]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stdout.contains("certificate: the server's certificate is signed by an issuer not in --ca or the system's roots: 5"),
            "{}",
            out.stdout
        );
    });
}

#[test]
fn heartbeats_go_over_tls_on_nginx_s_kept_alive_connections() {
    if !installed("nginx") || !installed("openssl") {
        return;
    }
    let dir = TempDir::new("tls-nginx-beats");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let _nginx = nginx_tls(&dir, &cert, &key, "return 200 \"ok\\n\";");
        // A HEAD on the kept-alive connection every 100 ms, through its TLS session.
        let out = run(&args!(
            "run 127.0.0.1 8443 -c 50 -s 1ms -y -i 0 --tls --probe http --heartbeat 100ms --hold 1500ms --ca";
            &cert
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        let beats = out.line("Heartbeats: ");
        assert!(beats.contains("stopped answering 0 ("), "{}", out.stdout);
        let [_, _, answered, _, _] = out.beat_counts();
        assert!(answered > 500, "{}", out.stdout);
        assert_eq!(
            out.verdict(),
            "PASS: 50 of 50 established, served, held and answered every heartbeat"
        );
    });
}

/// Stops a server with SIGTERM and returns its final counts line, parsed into its parts:
/// `Accepted: 5, Open: 0, ..., Handshakes done: 5, Handshakes failed: 0`.
fn final_server_counts(server: Guard) -> Vec<(String, u64)> {
    common::signal(&server, libc::SIGTERM);
    let out = common::finish(
        server,
        std::time::Instant::now(),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"stopping: interrupted by SIGTERM"),
        "{out:?}"
    );
    let line = lines[lines.len() - 2];
    line.split(", ")
        .map(|part| {
            let (label, n) = part.split_once(": ").expect("a part `Label: N`");
            (label.to_string(), n.parse().expect("a count"))
        })
        .collect()
}

/// The count of `label` in a server's counts, 0 when the part is not there.
fn part(counts: &[(String, u64)], label: &str) -> u64 {
    counts
        .iter()
        .find(|(l, _)| l == label)
        .map_or(0, |(_, n)| *n)
}

/// Each accepted connection is handshaking, done or failed, and the causes add up to the
/// failures.
fn handshakes_add_up(counts: &[(String, u64)]) {
    let failed = part(counts, "Handshakes failed");
    let causes: u64 = [
        "Alert sent",
        "Alert received",
        "Closed in handshake",
        "Other TLS failures",
    ]
    .iter()
    .map(|cause| part(counts, cause))
    .sum();
    assert_eq!(failed, causes, "{counts:?}");
    assert_eq!(
        part(counts, "Accepted"),
        part(counts, "Handshaking") + part(counts, "Handshakes done") + failed,
        "{counts:?}"
    );
    assert_eq!(
        part(counts, "Accepted"),
        part(counts, "Open") + part(counts, "Closed"),
        "{counts:?}"
    );
}

#[test]
fn the_server_counts_the_handshakes_done() {
    let (server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "40", &["--insecure"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let counts = final_server_counts(server);
    handshakes_add_up(&counts);
    assert_eq!(part(&counts, "Accepted"), 40, "{counts:?}");
    assert_eq!(part(&counts, "Handshakes done"), 40, "{counts:?}");
    assert_eq!(part(&counts, "Handshakes failed"), 0, "{counts:?}");
    // Only the parts that a line always has, and none of the causes.
    let labels: Vec<&str> = counts.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Accepted",
            "Open",
            "Closed",
            "Handshaking",
            "Handshakes done",
            "Handshakes failed"
        ]
    );
    // Without --tls, no handshake is counted.
    let (plain, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!("run 127.0.0.1 {port} -c 3 -s 0 -y -i 0"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let counts = final_server_counts(plain);
    assert!(
        counts.iter().all(|(l, _)| !l.contains("andshak")),
        "{counts:?}"
    );
}

#[test]
fn the_server_counts_the_handshakes_a_client_rejects() {
    // Its certificate is self-signed: a verifying client rejects it, and says so in an
    // alert.
    let (server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run_tls(&port, "20", &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.failures("certificate rejected"), 20, "{}", out.stdout);
    let counts = final_server_counts(server);
    handshakes_add_up(&counts);
    assert_eq!(part(&counts, "Handshakes done"), 0, "{counts:?}");
    assert_eq!(part(&counts, "Handshakes failed"), 20, "{counts:?}");
    assert_eq!(part(&counts, "Alert received"), 20, "{counts:?}");
}

#[test]
fn the_server_counts_plain_clients_as_failed_handshakes() {
    // A plain client waiting for a greeting: neither side speaks, until the client's probe
    // gives up and closes.
    let (server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -y -i 0 --probe greeting --probe-timeout 200ms"
    ));
    assert_ne!(out.code, Some(0), "{out:?}");
    let counts = final_server_counts(server);
    handshakes_add_up(&counts);
    assert_eq!(part(&counts, "Accepted"), 10, "{counts:?}");
    assert_eq!(part(&counts, "Closed in handshake"), 10, "{counts:?}");
    // A plain client that speaks first: what it sends is not TLS, and the server says so.
    let (server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -y -i 0 --probe http --probe-timeout 500ms"
    ));
    assert_ne!(out.code, Some(0), "{out:?}");
    let counts = final_server_counts(server);
    handshakes_add_up(&counts);
    assert_eq!(part(&counts, "Alert sent"), 10, "{counts:?}");
    // Closed by the server itself, by --close-after, while the handshake waits.
    let (server, port) = start_server(&[
        "--tls",
        "-m",
        "0",
        "-d",
        "30s",
        "-i",
        "0",
        "--close-after",
        "100ms",
    ]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 0 -y -i 0 --hold 400ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = final_server_counts(server);
    handshakes_add_up(&counts);
    assert_eq!(part(&counts, "Closed in handshake"), 5, "{counts:?}");
}

/// `openssl s_server` on a free port of 127.0.0.1 with `cert` and `key`, answering each
/// connection with a page (`-www`), one connection at a time.
fn openssl_server(cert: &str, key: &str) -> (Guard, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let server = Guard(
        Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", cert, "-key", key, "-www", "-quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server"),
    );
    common::wait_for("openssl s_server to listen", || {
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok()
    });
    (server, port)
}

/// A certificate made as `openssl req -x509` makes one by default: a CA's (basic
/// constraints CA:TRUE), for `names`.
fn openssl_default_cert(dir: &TempDir, name: &str, names: &str) -> (String, String) {
    let (cert, key) = (
        dir.path(&format!("{name}.pem")),
        dir.path(&format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=tcpgoon default"])
        .args(["-addext", &format!("subjectAltName={names}")])
        .args(["-keyout", &key, "-out", &cert])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req: {status}");
    (cert, key)
}

#[test]
fn ca_pins_a_servers_own_certificate_as_curl_does_and_failures_are_words() {
    if !installed("openssl") {
        return;
    }
    let dir = TempDir::new("tls-pin");
    let (cert, key) = openssl_default_cert(&dir, "default", "DNS:localhost,IP:127.0.0.1");
    let (_s_server, port) = openssl_server(&cert, &key);
    if installed("curl") {
        let curl = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "--cacert", &cert])
            .arg(format!("https://127.0.0.1:{port}/"))
            .status()
            .expect("run curl");
        assert!(curl.success(), "curl --cacert: {curl}");
    }
    let out = run_tls(&port, "1", &["--ca", &cert]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 1, "{}", out.stdout);
    // A leaf signed by a CA, with only the leaf in --ca: pinned too.
    let (leaf, leaf_key) = {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "tcpgoon test CA");
        let issuer = rcgen::Issuer::new(ca, rcgen::KeyPair::generate().unwrap());
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let made = params.signed_by(&key, &issuer).unwrap();
        let (cert, key_path) = (dir.path("leaf.pem"), dir.path("leaf.key"));
        std::fs::write(&cert, made.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert, key_path)
    };
    let (_leaf_server, port) = start_server(&[
        "--tls", "--cert", &leaf, "--key", &leaf_key, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let out = run(&args!("run localhost {port} -4 -c 3 -s 0 -y -i 0 --tls --ca"; &leaf));
    assert_eq!(out.code, Some(0), "{out:?}");
    // Pinned, the certificate's name is still checked, and the failure is said in words
    // with a hint that fits it: not --ca, which is given.
    let (other, other_key) = openssl_default_cert(&dir, "other", "DNS:other.test");
    let (_misnamed, port) = start_server(&[
        "--tls", "--cert", &other, "--key", &other_key, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let out = run(&args!("run localhost {port} -4 -c 3 -s 0 -y -i 0 --tls --ca"; &other));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stdout.contains(
            "\n  certificate: the server's certificate is not valid for the name 'localhost': 3\n"
        ),
        "{}",
        out.stdout
    );
    let hint = out.line("Certificates rejected: ");
    assert!(hint.contains("--sni") && !hint.contains("--ca"), "{hint}");
    // Expired: said so, and no --ca advice.
    let expired = {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let made = params.self_signed(&key).unwrap();
        let (cert, key_path) = (dir.path("expired.pem"), dir.path("expired.key"));
        std::fs::write(&cert, made.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert, key_path)
    };
    let (_expired, port) = start_server(&[
        "--tls", "--cert", &expired.0, "--key", &expired.1, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let out = run(&args!("run localhost {port} -4 -c 3 -s 0 -y -i 0 --tls --ca"; &expired.0));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stdout
            .contains("\n  certificate: the server's certificate has expired: 3\n"),
        "{}",
        out.stdout
    );
    let hint = out.line("Certificates rejected: ");
    assert!(!hint.contains("--ca"), "{hint}");
}

/// A certificate for `names` made by rcgen, valid from `from` to `to` (years), self-signed
/// or signed by `issuer`, written to `dir` as `name.pem` and `name.key`.
fn rcgen_cert(
    dir: &TempDir,
    name: &str,
    names: &[&str],
    (from, to): (i32, i32),
    issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
) -> (String, String) {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let made = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let (cert, key_path) = (
        dir.path(&format!("{name}.pem")),
        dir.path(&format!("{name}.key")),
    );
    std::fs::write(&cert, made.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert, key_path)
}

/// A run by name against `server --tls` with `cert` and `key`, `extra` added: it fails with
/// one certificate failure, said in words (no CamelCase name of rustls's or webpki's);
/// returns that failure's line and the hint.
fn refused_certificate(cert: &str, key: &str, extra: &[&str]) -> (String, String) {
    let (_server, port) = start_server(&[
        "--tls", "--cert", cert, "--key", key, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let mut args = args!("run localhost {port} -4 -c 3 -s 0 -y -i 0 --tls");
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = run(&args);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.failures("certificate rejected"), 3, "{}", out.stdout);
    let failure = out.line("  certificate: ").to_string();
    let hint = out.line("Certificates rejected: ")["Certificates rejected: ".len()..].to_string();
    for said in [&failure, &hint, &out.stderr] {
        let camel = said
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
        assert!(!camel, "an enum's name in {said:?}");
    }
    (failure, hint)
}

#[test]
fn certificate_failures_are_words_with_the_hint_that_fits_them() {
    if !installed("openssl") {
        return;
    }
    let dir = TempDir::new("tls-words");
    // Under the system's roots, `openssl req -x509`'s default certificate (a CA's): pinning
    // it with --ca is what serves, so the hint says --ca, and --ca does serve.
    let (cert, key) = openssl_default_cert(&dir, "default", "DNS:localhost,IP:127.0.0.1");
    let (failure, hint) = refused_certificate(&cert, &key, &[]);
    assert_eq!(
        failure,
        "  certificate: the server's certificate is a CA's certificate, and not one of --ca's: 3"
    );
    assert!(hint.starts_with("--ca FILE"), "{hint}");
    let (_server, port) = start_server(&[
        "--tls", "--cert", &cert, "--key", &key, "-m", "0", "-d", "30s", "-i", "0",
    ]);
    let out = run(&args!("run localhost {port} -4 -c 3 -s 0 -y -i 0 --tls --ca"; &cert));
    assert_eq!(out.code, Some(0), "{out:?}");
    // Out of its dates, under the system's roots: no --ca mends that.
    let expired = rcgen_cert(&dir, "expired", &["localhost"], (2020, 2021), None);
    let (failure, hint) = refused_certificate(&expired.0, &expired.1, &[]);
    assert_eq!(
        failure,
        "  certificate: the server's certificate has expired: 3"
    );
    assert!(
        hint.contains("out of its dates") && !hint.contains("--ca"),
        "{hint}"
    );
    let early = rcgen_cert(&dir, "early", &["localhost"], (2090, 2091), None);
    let (failure, hint) = refused_certificate(&early.0, &early.1, &[]);
    assert_eq!(
        failure,
        "  certificate: the server's certificate is not valid yet: 3"
    );
    assert!(!hint.contains("--ca"), "{hint}");
    // A leaf its CA signed, that CA in --ca (verified, not pinned), for another name.
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "tcpgoon words CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_pem = dir.path("ca.pem");
    std::fs::write(&ca_pem, ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let other = rcgen_cert(&dir, "other", &["other.test"], (2020, 2090), Some(&issuer));
    let (failure, hint) = refused_certificate(&other.0, &other.1, &["--ca", &ca_pem]);
    assert_eq!(
        failure,
        "  certificate: the server's certificate is not valid for the name 'localhost': 3"
    );
    assert!(
        hint.starts_with("--sni") && !hint.contains("--ca"),
        "{hint}"
    );
}
