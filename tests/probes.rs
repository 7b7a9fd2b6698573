//! Served, not just established: `--probe`, `--send` and `--expect` against servers that
//! take connections into their accept queue without serving them (`server --accept-limit`),
//! echo, or refuse after accepting (`--reject-after`, redis-server, memcached), or a proxy
//! at its maxconn (HAProxy); and the kernel's own measure of the handshake (a SYN
//! retransmitted at a full SYN queue).

mod common;

use std::time::Duration;

use common::{
    Output, in_private_net, installed, memcached, redis, run, run_bad_input, start_server,
};

fn run_probe(port: &str, connections: &str, probe: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "127.0.0.1",
        port,
        "-c",
        connections,
        "-s",
        "1ms",
        "-y",
        "-i",
        "0",
    ];
    args.extend_from_slice(probe);
    run(&args)
}

/// `tcpgoon server --accept-limit <k> --greeting hi`: it accepts and greets `k`, and
/// leaves the rest in its accept queue, their handshakes done.
fn accepting(k: &str) -> (common::Guard, String) {
    start_server(&[
        "-d",
        "60s",
        "-i",
        "0",
        "--backlog",
        "128",
        "--accept-limit",
        k,
        "--greeting",
        "hi\\r\\n",
    ])
}

const GREETING: [&str; 4] = ["--probe", "greeting", "--probe-timeout", "300ms"];

#[test]
fn without_a_probe_the_accept_queue_passes_for_held_connections() {
    let (_server, port) = accepting("40");
    let out = run_probe(&port, "60", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 60, "{}", out.stdout);
}

#[test]
fn forty_served_and_twenty_unserved_at_an_accept_limit_of_40() {
    let (_server, port) = accepting("40");
    let out = run_probe(&port, "60", &GREETING);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.final_counts().established, 60, "{}", out.stdout);
    assert_eq!(out.probe_counts(), [40, 0, 20, 0], "{}", out.stdout);
    assert!(
        out.stdout.contains("Time to served percentiles:"),
        "{}",
        out.stdout
    );
    out.probe_adds_up();
}

#[test]
fn as_many_as_the_server_accepts_are_served_and_pass() {
    let (_server, port) = accepting("40");
    let out = run_probe(&port, "40", &GREETING);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.probe_counts(), [40, 0, 0, 0], "{}", out.stdout);
    out.probe_adds_up();
}

#[test]
fn the_json_summary_carries_the_probe_and_time_to_served() {
    let (_server, port) = accepting("40");
    let mut args = GREETING.to_vec();
    args.push("--json");
    let out = run_probe(&port, "60", &args);
    assert_eq!(out.code, Some(2), "{out:?}");
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    let probe = &summary["probe"];
    assert_eq!(probe["name"], "greeting", "{summary}");
    assert_eq!(probe["served"], 40, "{summary}");
    assert_eq!(probe["unserved"], 20, "{summary}");
    assert_eq!(probe["rejected"], 0, "{summary}");
    assert_eq!(probe["closed_before_answer"], 0, "{summary}");
    assert_eq!(probe["awaiting"], 0, "{summary}");
    assert_eq!(summary["counts"]["established"], 60, "{summary}");
    assert_eq!(summary["time_to_served_us"]["count"], 40, "{summary}");
    assert!(summary["time_to_served_us"]["histogram"].is_string());
    assert_eq!(summary["options"]["probe"]["expect"], "", "{summary}");
    assert_eq!(summary["exit_status"], 2, "{summary}");
}

#[test]
fn min_established_counts_served_connections() {
    for (min, code) in [("10", 0), ("11", 2)] {
        let (_server, port) = accepting("10");
        let mut args = GREETING.to_vec();
        args.extend(["--min-established", min]);
        let out = run_probe(&port, "15", &args);
        assert_eq!(out.code, Some(code), "--min-established {min}: {out:?}");
    }
}

#[test]
fn a_probe_of_ones_own_against_an_echo_server() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"]);
    let out = run_probe(&port, "20", &["--send", "ping\\r\\n", "--expect", "ping"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.probe_counts(), [20, 0, 0, 0], "{}", out.stdout);
    out.probe_adds_up();
    let out = run_probe(
        &port,
        "20",
        &["--send", "ping\\r\\n", "--expect", "pong", "-d"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [0, 20, 0, 0], "{}", out.stdout);
    assert!(
        out.stderr.contains("connection 0: rejected after "),
        "{}",
        out.stderr
    );
    out.probe_adds_up();
}

#[test]
fn a_server_that_writes_an_error_and_closes_is_rejected() {
    let (_server, port) = start_server(&[
        "-m",
        "0",
        "-d",
        "60s",
        "-i",
        "0",
        "--reject-after",
        "5",
        "-ERR max number of clients reached\\r\\n",
    ]);
    let out = run_probe(
        &port,
        "8",
        &["--send", "PING\\r\\n", "--expect", "+PONG", "-d"],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    // The 5 held never answer (the server does not speak redis); the 3 beyond get the error.
    let [served, rejected, unserved, closed] = out.probe_counts();
    assert_eq!((served, rejected), (0, 3), "{}", out.stdout);
    assert_eq!(unserved + closed, 5, "{}", out.stdout);
    assert_eq!(out.final_counts().closed, 3, "{}", out.stdout);
    out.probe_adds_up();
}

#[test]
fn redis_past_maxclients_is_rejected_and_memcached_serves_its_preset() {
    if !installed("redis-server") || !installed("memcached") {
        return;
    }
    in_private_net(|| {
        let _redis = redis(50);
        let out = run_probe("6379", "60", &["--probe", "redis"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [50, 10, 0, 0], "{}", out.stdout);
        out.probe_adds_up();
        let out = run_probe("6379", "50", &["--probe", "redis"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [50, 0, 0, 0], "{}", out.stdout);
        let _memcached = memcached(64);
        let out = run_probe("11211", "20", &["--probe", "memcached"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [20, 0, 0, 0], "{}", out.stdout);
        out.probe_adds_up();
        let out = run(&[
            "limit",
            "127.0.0.1",
            "6379",
            "-r",
            "10000",
            "-i",
            "0",
            "--probe",
            "redis",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let line = out.line("Limit: ");
        assert!(
            line.starts_with(
                "Limit: 50 concurrent connections served and held when a connection was not \
                 served (rejected)"
            ),
            "{line}"
        );
    });
}

#[test]
fn limit_finds_what_the_server_serves_not_what_it_queues() {
    for rate in ["1000", "20000"] {
        // Without a probe, the queue's handshakes count too: no limit within 200.
        let (_server, port) = accepting("40");
        let plain = run(&[
            "limit",
            "127.0.0.1",
            &port,
            "-r",
            rate,
            "-c",
            "100",
            "-i",
            "0",
            "--hold",
            "100ms",
        ]);
        assert_eq!(plain.code, Some(4), "{plain:?}");
        let (_server, port) = accepting("40");
        let mut args = vec![
            "limit",
            "127.0.0.1",
            &port,
            "-r",
            rate,
            "-c",
            "100",
            "-i",
            "0",
        ];
        args.extend(GREETING);
        let out = run(&args);
        assert_eq!(out.code, Some(0), "--rate {rate}: {out:?}");
        let line = out.line("Limit: ");
        assert!(
            line.starts_with(
                "Limit: 40 concurrent connections served and held when a connection was not \
                 served (unserved)"
            ),
            "--rate {rate}: {line}"
        );
    }
}

#[test]
fn probe_options_that_cannot_go_together_are_bad_input() {
    for (args, says) in [
        (
            &["--probe", "redis", "--send", "x"][..],
            "give one or the other",
        ),
        (&["--probe", "gopher"], "is not a probe"),
        (&["--probe", "postgres:"], "postgres:USER needs a role"),
        (&["--send", "\\q"], "--send"),
        (&["--probe-timeout", "1s"], "--probe-timeout needs a probe"),
        (
            &["--probe", "ssh", "--probe-timeout", "5"],
            "has no unit: write 5ms or 5s",
        ),
    ] {
        let mut line = vec!["run", "127.0.0.1", "9", "-y"];
        line.extend_from_slice(args);
        let out = run_bad_input(&line);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn a_full_syn_queue_shows_as_syn_retransmissions() {
    // A listener that never accepts, with a backlog of 1: once its queue is full the kernel
    // drops the SYNs, and each client sends its SYN again after a second. The server's
    // accept queue frees one place when the test accepts, so one retransmitted SYN gets in.
    let out = in_private_net(|| {
        let (listener, port) = common::full_backlog_listener();
        let runner = std::thread::spawn(move || {
            run(&[
                "run",
                "127.0.0.1",
                &port,
                "-c",
                "4",
                "-s",
                "0",
                "-y",
                "-i",
                "0",
                "-t",
                "3s",
            ])
        });
        std::thread::sleep(Duration::from_millis(400));
        // Free the queue: what was dropped gets in on its retransmission.
        let mut accepted = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        listener.set_nonblocking(true).unwrap();
        while std::time::Instant::now() < deadline {
            if let Ok((socket, _)) = listener.accept() {
                accepted.push(socket);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = runner.join().unwrap();
        drop(accepted);
        out
    });
    let Some(out) = out else { return };
    let line = out.line("SYN retransmissions: ");
    let n: u64 = line["SYN retransmissions: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 1, "{}", out.stdout);
    assert!(
        line.ends_with("(the server's SYN or accept queue was full)"),
        "{line}"
    );
    assert!(
        out.stdout.contains("Handshake RTT (the kernel's): p50 "),
        "{}",
        out.stdout
    );
}

#[test]
fn latency_gates_on_the_kernels_rtt_and_on_time_to_served() {
    let (_server, port) = accepting("40");
    // A bare statistic is connect latency; rtt: the kernel's round trip; served: time to
    // served. A gate of 1 ns cannot be met by any of them.
    for (gate, says) in [
        ("p99=1ns", "threshold missed: connect p99 <= 0s"),
        ("rtt:p99=1ns", "threshold missed: handshake RTT p99 <= 0s"),
        (
            "served:max=1ns",
            "threshold missed: time to served max <= 0s",
        ),
    ] {
        let mut args = GREETING.to_vec();
        args.extend(["--max-latency", gate]);
        let out = run_probe(&port, "5", &args);
        assert_eq!(out.code, Some(3), "{gate}: {out:?}");
        assert!(out.stderr.contains(says), "{gate}: {}", out.stderr);
    }
    let mut args = GREETING.to_vec();
    args.extend([
        "--max-latency",
        "rtt:p99=1s",
        "--max-latency",
        "served:p99=1s",
    ]);
    let out = run_probe(&port, "5", &args);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = run_bad_input(&[
        "run",
        "127.0.0.1",
        "9",
        "-y",
        "--max-latency",
        "served:p99=1s",
    ]);
    assert!(out.stderr.contains("needs a probe"), "{}", out.stderr);
    run_bad_input(&["run", "127.0.0.1", "9", "-y", "--max-latency", "ttl:p99=1s"]);
}

#[test]
fn a_proxy_at_its_maxconn_leaves_the_rest_unserved() {
    // HAProxy with `maxconn 5` on its frontend stops accepting at 5: the kernel completes
    // the handshakes of the rest into the listener's queue, so they are established (and
    // held) as far as TCP can tell. Only an answer from behind the proxy tells them apart.
    if !installed("haproxy") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tcpgoon-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("haproxy.cfg");
    in_private_net(|| {
        let (_backend, backend) =
            start_server(&["-m", "0", "-d", "30s", "-i", "0", "--greeting", "hi\\r\\n"]);
        std::fs::write(
            &config,
            format!(
                "global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 5s\n    \
                 timeout client 30s\n    timeout server 30s\nfrontend fe\n    bind \
                 127.0.0.1:9000\n    maxconn 5\n    default_backend be\nbackend be\n    \
                 server s1 127.0.0.1:{backend}\n"
            ),
        )
        .unwrap();
        let _proxy = haproxy(&config);
        common::wait_until_serving(9000, b"", b"hi");
        // The check's own connection is closed: let the proxy count it gone.
        std::thread::sleep(Duration::from_millis(300));
        let out = run_probe(
            "9000",
            "8",
            &["--probe", "greeting", "--probe-timeout", "300ms"],
        );
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.final_counts().established, 8, "{}", out.stdout);
        assert_eq!(out.probe_counts(), [5, 0, 3, 0], "{}", out.stdout);
        assert_eq!(out.verdict(), "FAIL (exit 2): 3 not served");
        out.probe_adds_up();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_http_5xx_or_429_is_a_rejection_that_names_its_status() {
    // Another 4xx is the application answering: served.
    for (greeting, served, rejected, named) in [
        (
            "HTTP/1.1 503 Service Unavailable\\r\\n\\r\\n",
            0,
            4,
            Some("503 ×4"),
        ),
        (
            "HTTP/1.1 429 Too Many Requests\\r\\n\\r\\n",
            0,
            4,
            Some("429 ×4"),
        ),
        ("HTTP/1.0 404 Not Found\\r\\n\\r\\n", 4, 0, None),
    ] {
        for tls in [false, true] {
            let mut server = vec!["-m", "0", "-d", "30s", "-i", "0", "--greeting", greeting];
            let mut probe = vec!["--probe", "http", "--probe-timeout", "2s"];
            if tls {
                server.push("--tls");
                probe.extend(["--tls", "--insecure"]);
            }
            let (_server, port) = start_server(&server);
            let out = run_probe(&port, "4", &probe);
            assert_eq!(
                out.probe_counts(),
                [served, rejected, 0, 0],
                "{}",
                out.stdout
            );
            out.probe_adds_up();
            match named {
                Some(named) => {
                    assert_eq!(out.code, Some(2), "{out:?}");
                    assert_eq!(
                        out.line("HTTP statuses rejected: "),
                        format!("HTTP statuses rejected: {named}")
                    );
                }
                None => {
                    assert_eq!(out.code, Some(0), "{out:?}");
                    assert!(!out.stdout.contains("HTTP statuses"), "{}", out.stdout);
                }
            }
        }
    }
    // The JSON summary names them too.
    let (_server, port) = start_server(&[
        "-m",
        "0",
        "-d",
        "30s",
        "-i",
        "0",
        "--greeting",
        "HTTP/1.1 503 Service Unavailable\\r\\n\\r\\n",
    ]);
    let out = run_probe(&port, "3", &["--probe", "http", "--json"]);
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(
        summary["probe"]["rejected_statuses"],
        serde_json::json!([{"status": 503, "count": 3}]),
        "{summary}"
    );
}

#[test]
fn a_proxy_with_every_backend_down_is_rejected_by_its_503() {
    if !installed("haproxy") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tcpgoon-haproxy-503-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("haproxy.cfg");
    in_private_net(|| {
        let down = common::closed_port();
        std::fs::write(
            &config,
            format!(
                "global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 1s\n    \
                 timeout client 30s\n    timeout server 30s\n    retries 0\nfrontend fe\n    \
                 bind 127.0.0.1:9001\n    default_backend be\nbackend be\n    \
                 server s1 127.0.0.1:{down}\n"
            ),
        )
        .unwrap();
        let _proxy = haproxy(&config);
        common::wait_until_serving(9001, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 503");
        let out = run_probe("9001", "5", &["--probe", "http", "--probe-timeout", "3s"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [0, 5, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("HTTP statuses rejected: "),
            "HTTP statuses rejected: 503 ×5"
        );
        out.probe_adds_up();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// HAProxy in the foreground (`-db`) with `config`, its output dropped; stopped on drop.
fn haproxy(config: &std::path::Path) -> common::Guard {
    common::Guard(
        std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start haproxy"),
    )
}
