//! `--probe h2` (HTTP/2 over TLS, ALPN h2) and `--probe h2c` (prior knowledge over plain
//! TCP): the SETTINGS exchange serves a connection, a PING is its heartbeat, and what the
//! server says (a GOAWAY's error code, its ALPN choice, an HTTP/1 answer) is counted by
//! name. Against Debian's nginx, its config in a temp dir, in a network namespace of the
//! test's own (so its fixed ports are free).
//!
//! What nginx does at its cap, seen here: with `worker_connections` W and one listener it
//! holds W - 1 connections; the next is accepted and served, and nginx makes room by
//! closing its oldest idle HTTP/2 connection with GOAWAY NO_ERROR (an idle HTTP/2
//! connection is a reusable one to nginx, PINGs or not).

mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Guard, Output, TempDir, args, in_private_net, installed, openssl_cert, run, run_bad_input,
    signal,
};

/// nginx on 127.0.0.1 with `listens` (each a `listen` directive's arguments), TLS with
/// `cert` and `key`, `worker_connections` as given, one process; its files in `dir`;
/// stopped on drop. `port` is the one waited for.
fn nginx(dir: &TempDir, cert: &str, key: &str, listens: &[&str], workers: u32) -> Guard {
    let conf = dir.path("nginx.conf");
    let root = dir.path("");
    let listen: String = listens
        .iter()
        .map(|l| format!("    listen 127.0.0.1:{l};\n"))
        .collect();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {root}nginx.pid;\nerror_log {root}error.log;\n\
             events {{ worker_connections {workers}; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}body;\n\
             proxy_temp_path {root}proxy;\n  fastcgi_temp_path {root}fastcgi;\n\
             uwsgi_temp_path {root}uwsgi;\n  scgi_temp_path {root}scgi;\n\
             server {{\n{listen}    ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {cert};\n    ssl_certificate_key {key};\n\
             location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n"
        ),
    )
    .expect("write nginx.conf");
    let guard = Guard(
        Command::new("nginx")
            .args(["-c", &conf, "-p", &root, "-e", &dir.path("error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    for l in listens {
        let port = l.split_whitespace().next().unwrap();
        common::wait_for("nginx to listen", || {
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_ok()
        });
    }
    guard
}

/// nginx and openssl, or the test is skipped (and fails under CI).
fn tools() -> bool {
    installed("nginx") && installed("openssl")
}

fn every_attempt_counted(out: &Output) {
    out.probe_adds_up();
    assert!(out.final_counts().adds_up(), "{}", out.stdout);
}

#[test]
fn h2_over_tls_and_h2c_are_served_by_nginx() {
    if !tools() {
        return;
    }
    let dir = TempDir::new("h2-served");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let _nginx = nginx(&dir, &cert, &key, &["8443 ssl http2", "8080 http2"], 1024);
        let out = run(&args!(
            "run 127.0.0.1 8443 -c 50 -s 1ms -y -i 0 --tls --probe h2 --ca"; &cert
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [50, 0, 0, 0], "{}", out.stdout);
        assert!(
            out.line("Negotiated TLS 1.3 ").ends_with(" ALPN h2: 50"),
            "{}",
            out.stdout
        );
        assert_eq!(out.verdict(), "PASS: 50 of 50 established, served and held");
        every_attempt_counted(&out);

        let out = run(&args!(
            "run 127.0.0.1 8080 -c 50 -s 1ms -y -i 0 --probe h2c"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [50, 0, 0, 0], "{}", out.stdout);
        assert_eq!(out.verdict(), "PASS: 50 of 50 established, served and held");
    });
}

#[test]
fn past_nginx_s_cap_its_oldest_idle_connection_gets_goaway_no_error() {
    if !tools() {
        return;
    }
    let dir = TempDir::new("h2-cap");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        // 8 connections for the worker, one of them the listener's: 7 held.
        let _nginx = nginx(&dir, &cert, &key, &["8080 http2"], 8);
        let out = run(&args!(
            "run 127.0.0.1 8080 -c 7 -s 20ms -y -i 0 --probe h2c --hold 300ms"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        let out = run(&args!(
            "run 127.0.0.1 8080 -c 8 -s 20ms -y -i 0 --probe h2c --hold 300ms"
        ));
        assert_eq!(out.code, Some(2), "{out:?}");
        // Every one was served; the first was closed to make room for the eighth.
        assert_eq!(out.probe_counts(), [8, 0, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("Protocol events:"),
            "Protocol events: GOAWAY NO_ERROR (last stream 0, 0 bytes of debug data) ×1"
        );
        assert_eq!(out.closures("closed by peer"), 1, "{}", out.stdout);
        assert_eq!(out.verdict(), "FAIL (exit 2): 1 closed by the server");
        every_attempt_counted(&out);
    });
}

#[test]
fn a_listener_without_http2_is_named_by_its_alpn_choice_or_its_http1_answer() {
    if !tools() {
        return;
    }
    let dir = TempDir::new("h2-alpn");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let _nginx = nginx(&dir, &cert, &key, &["8444 ssl", "8081"], 1024);
        let out = run(&args!(
            "run 127.0.0.1 8444 -c 3 -s 1ms -y -i 0 --tls --probe h2 --ca"; &cert
        ));
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("Protocol events:"),
            "Protocol events: ALPN: the server chose http/1.1, not h2 ×3"
        );
        assert!(
            out.line("Negotiated TLS 1.3 ")
                .ends_with(" ALPN http/1.1: 3"),
            "{}",
            out.stdout
        );
        assert_eq!(
            out.verdict(),
            "FAIL (exit 2): 3 rejected by the application"
        );
        every_attempt_counted(&out);

        // Prior knowledge to an HTTP/1.1 listener: nginx answers 400 and closes.
        let out = run(&args!("run 127.0.0.1 8081 -c 3 -s 1ms -y -i 0 --probe h2c"));
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("Protocol events:"),
            "Protocol events: an HTTP/1 answer to the HTTP/2 preface ×3"
        );
        every_attempt_counted(&out);
    });
}

#[test]
fn another_alpn_or_the_wrong_transport_is_bad_input() {
    let cases: [(&str, &str); 4] = [
        (
            "--tls --probe h2 --alpn http/1.1",
            "--probe h2 speaks only h2: --alpn http/1.1",
        ),
        (
            "--tls --probe h2 --alpn h2 --alpn http/1.1",
            "--probe h2 speaks only h2: --alpn http/1.1",
        ),
        ("--probe h2", "--probe h2 is HTTP/2 over TLS: add --tls"),
        ("--tls --probe h2c", "--probe h2c is HTTP/2 over plain TCP"),
    ];
    for (extra, said) in cases {
        let line = format!("run 127.0.0.1 9 -c 1 -y {extra}");
        let out = run_bad_input(&line.split_whitespace().collect::<Vec<_>>());
        assert!(out.stderr.contains(said), "{extra}: {}", out.stderr);
    }
    let out = run_bad_input(&args!("limit 127.0.0.1 9 --tls --probe h2 --alpn spdy/3"));
    assert!(out.stderr.contains("--alpn spdy/3"), "{}", out.stderr);
}

#[test]
fn pings_are_answered_by_nginx_and_a_stopped_nginx_stops_answering() {
    if !tools() {
        return;
    }
    let dir = TempDir::new("h2-beats");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let nginx = nginx(&dir, &cert, &key, &["8443 ssl http2"], 1024);
        let out = run(&args!(
            "run 127.0.0.1 8443 -c 20 -s 1ms -y -i 0 --tls --probe h2 --heartbeat 200ms \
             --hold 2s --ca"; &cert
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        let [due, sent, answered, late, stopped] = out.beat_counts();
        assert!(answered >= 20 * 9, "{}", out.stdout);
        assert_eq!((due, sent, late, stopped), (answered, answered, 0, 0));
        assert_eq!(
            out.verdict(),
            "PASS: 20 of 20 established, served, held and answered every heartbeat"
        );

        // Frozen after a second: the PINGs out then go unanswered.
        let started = Instant::now();
        let client = common::spawn(&args!(
            "run 127.0.0.1 8443 -c 20 -s 1ms -y -i 0 --tls --probe h2 --heartbeat 200ms \
             --heartbeat-timeout 500ms --hold 3s --ca"; &cert
        ));
        thread::sleep(Duration::from_secs(1));
        signal(&nginx, libc::SIGSTOP);
        let out = common::finish(client, started, Duration::from_secs(30));
        signal(&nginx, libc::SIGCONT);
        assert_eq!(out.code, Some(2), "{out:?}");
        let [_, _, answered, _, stopped] = out.beat_counts();
        assert!(answered >= 20 * 3, "{}", out.stdout);
        assert_eq!(stopped, 20, "{}", out.stdout);
        assert!(
            out.verdict()
                .starts_with("FAIL (exit 2): 20 of 20 stopped answering heartbeats"),
            "{}",
            out.verdict()
        );
    });
}

#[test]
fn limit_with_h2_finds_nginx_evicting_its_oldest_connection_at_its_cap() {
    if !tools() {
        return;
    }
    let dir = TempDir::new("h2-limit");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let _nginx = nginx(&dir, &cert, &key, &["8443 ssl http2"], 8);
        let out = run(&args!(
            "limit 127.0.0.1 8443 --rate 100 --tls --probe h2 --ca"; &cert
        ));
        // The eighth served made nginx close the first: a drop of the oldest, which limit
        // tells apart from a refusal of new connections.
        assert_eq!(out.code, Some(4), "{out:?}");
        assert_eq!(
            out.line("Protocol events:"),
            "Protocol events: GOAWAY NO_ERROR (last stream 0, 0 bytes of debug data) ×1"
        );
        assert!(
            out.verdict()
                .starts_with("NO LIMIT (exit 4): the server dropped a connection")
                && out.verdict().ends_with("; 7 still served and held"),
            "{}",
            out.verdict()
        );
        assert!(
            out.stdout
                .contains(", the oldest: an idle timeout or an eviction"),
            "{}",
            out.stdout
        );
    });
}

#[test]
fn the_built_in_server_speaks_h2_and_turns_away_past_its_cap_with_goaway() {
    // h2c: five served and beating, the sixth turned away with a GOAWAY named by its code.
    let (_server, port) =
        common::start_server(&["-m", "0", "-d", "20s", "-i", "0", "--h2", "--max-open", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 10ms -y -i 0 --probe h2c --heartbeat 100ms --hold 1s"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [5, 1, 0, 0], "{}", out.stdout);
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: GOAWAY ENHANCE_YOUR_CALM (last stream 0, 20 bytes of debug data) ×1"
    );
    let [due, _, answered, late, stopped] = out.beat_counts();
    assert!(answered >= 5 * 9, "{}", out.stdout);
    assert_eq!((answered, late, stopped), (due, 0, 0), "{}", out.stdout);
    every_attempt_counted(&out);

    // limit finds the cap: the sixth is the first not served.
    let (_server, port) =
        common::start_server(&["-m", "0", "-d", "20s", "-i", "0", "--h2", "--max-open", "5"]);
    let out = run(&args!("limit 127.0.0.1 {port} --rate 100 --probe h2c"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "FOUND: 5 concurrent connections served and held, then one was lost (rejected)"
    );

    // Over TLS, ALPN h2; muted after a second, its PINGs go unanswered.
    let (_server, port) = common::start_server(&[
        "-m",
        "0",
        "-d",
        "20s",
        "-i",
        "0",
        "--h2",
        "--tls",
        "--mute-after",
        "1s",
    ]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 1ms -y -i 0 --tls --insecure --probe h2 --heartbeat 100ms \
         --heartbeat-timeout 300ms --hold 2s"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [10, 0, 0, 0], "{}", out.stdout);
    assert!(
        out.line("Negotiated TLS 1.3 ").ends_with(" ALPN h2: 10"),
        "{}",
        out.stdout
    );
    let [_, _, answered, _, stopped] = out.beat_counts();
    assert!(answered >= 10 * 8 && stopped == 10, "{}", out.stdout);
    assert!(
        out.verdict()
            .starts_with("FAIL (exit 2): 10 of 10 stopped answering heartbeats"),
        "{}",
        out.verdict()
    );

    // Not HTTP/2: bad input.
    for extra in [
        "--echo",
        "--greeting hi",
        "--reject-after 3 x",
        "--no-accept",
    ] {
        let line = format!("server -p 0 --h2 {extra}");
        let out = run_bad_input(&line.split_whitespace().collect::<Vec<_>>());
        assert!(out.stderr.contains("--h2"), "{extra}: {}", out.stderr);
    }
}
