//! `--probe ws`: the WebSocket opening handshake serves a connection, a ping is its
//! heartbeat, and what the server says (a refused upgrade's status, a close and its code)
//! is counted by name. Against a real server, Debian's python3-websockets
//! (tests/ws_server.py), capped at K connections: past K it refuses with 503 or closes with
//! 1013, and it may ping its clients and drop those that do not answer.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{
    Guard, TempDir, args, in_private_net, installed, nginx_tls, openssl_cert, run, run_bad_input,
    signal,
};

const PYTHON: &str = "/usr/bin/python3";

/// Debian's python3-websockets: under CI its absence fails the test.
fn websockets_installed() -> bool {
    if !installed(PYTHON) {
        return false;
    }
    let found = Command::new(PYTHON)
        .args(["-c", "import websockets"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "python3-websockets is not installed; .ci/run installs it"
    );
    if !found {
        eprintln!("skipped: python3-websockets is not installed (.ci/run installs it)");
    }
    found
}

/// tests/ws_server.py with `extra` options; its port once it listens.
fn ws_server(extra: &[&str]) -> (Guard, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_server.py");
    let mut child = Command::new(PYTHON)
        .arg(script)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the WebSocket server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("its first line");
    let port = line
        .strip_prefix("port ")
        .unwrap_or_else(|| panic!("no port in {line:?}"))
        .trim()
        .to_string();
    (Guard(child), port)
}

#[test]
fn k_plus_one_past_a_cap_that_refuses_with_503_is_k_served_and_one_named_rejection() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "5", "--past-k", "503"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 20ms -y -i 0 --probe ws --hold 500ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [5, 1, 0, 0], "{}", out.stdout);
    assert_eq!(
        out.line("HTTP statuses rejected:"),
        "HTTP statuses rejected: 503 ×1"
    );
    assert!(out.verdict().contains("1 rejected"), "{}", out.verdict());
    out.probe_adds_up();
    assert!(out.final_counts().adds_up(), "{}", out.stdout);
}

#[test]
fn k_at_the_cap_passes_and_the_path_is_sent() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 20ms -y -i 0 --probe ws:/chat/room?id=1 --hold 500ms"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict(), "PASS: 5 of 5 established, served and held");
    assert_eq!(out.probe_counts(), [5, 0, 0, 0]);
}

#[test]
fn send_and_expect_are_a_message_and_the_beginning_of_its_answer() {
    if !websockets_installed() {
        return;
    }
    // The server echoes: each connection's answer serves it, and is counted.
    let (_server, port) = ws_server(&["--max", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 20ms -y -i 0 --probe ws --send hello\\x20there \
         --expect hello --heartbeat 100ms --hold 500ms"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 5 of 5 established, served, held and answered every heartbeat"
    );
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: messages from the server ×5"
    );
    // An answer that does not begin with --expect rejects, and fails the run.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 20ms -y -i 0 --probe ws --send hello --expect bye"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
    out.probe_adds_up();
}

#[test]
fn expect_alone_waits_for_the_server_to_speak_first() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "5", "--greet", "welcome, 1 of 5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 4 -s 20ms -y -i 0 --probe ws --expect welcome"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.probe_counts(), [4, 0, 0, 0], "{}", out.stdout);
    // A server that says nothing after the upgrade leaves it unserved at the timeout.
    let (_quiet, port) = ws_server(&["--max", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 20ms -y -i 0 --probe ws --expect welcome \
         --probe-timeout 300ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [0, 0, 2, 0], "{}", out.stdout);
}

#[test]
fn limit_with_the_ws_probe_finds_the_cap() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "7", "--past-k", "503"]);
    let out = run(&args!(
        "limit 127.0.0.1 {port} -c 50 --rate 20 -i 0 --probe ws:/chat"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.line("Limit: ").starts_with(
            "Limit: 7 concurrent connections served and held when a connection was not served \
             (rejected), after 8 attempts in "
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.verdict(),
        "FOUND: 7 concurrent connections served and held, then one was lost (rejected)"
    );
    assert_eq!(
        out.line("HTTP statuses rejected:"),
        "HTTP statuses rejected: 503 ×1"
    );
}

#[test]
fn a_cap_that_closes_with_1013_counts_the_close_by_its_code() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "3", "--past-k", "1013"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 4 -s 20ms -y -i 0 --probe ws --hold 500ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    // The fourth was upgraded (served), then closed by the server with its code.
    assert_eq!(out.probe_counts(), [4, 0, 0, 0], "{}", out.stdout);
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: closed by the server with 1013 (try again later) ×1"
    );
    assert_eq!(out.final_counts().closed, 1, "{}", out.stdout);
    assert!(out.final_counts().adds_up());
}

#[test]
fn pings_beat_and_are_answered_and_a_frozen_server_stops_answering() {
    if !websockets_installed() {
        return;
    }
    let (server, port) = ws_server(&["--max", "100"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 5ms -y -i 0 --probe ws --heartbeat 100ms --hold 1500ms"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 20 of 20 established, served, held and answered every heartbeat"
    );
    let [due, sent, answered, late, stopped] = out.beat_counts();
    assert!(answered >= 200, "{}", out.stdout);
    assert_eq!(
        (due, sent, stopped),
        (answered, answered, 0),
        "{}",
        out.stdout
    );
    assert!(late <= answered);

    // Frozen a second into the hold: every connection stops answering, none closes.
    let pid = server.0.id();
    let freezer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(1000));
        // SAFETY: kill sends a signal to a process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    });
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 5ms -y -i 0 --probe ws --heartbeat 100ms --heartbeat-timeout 300ms --hold 2s"
    ));
    freezer.join().unwrap();
    signal(&server, libc::SIGCONT);
    assert_eq!(out.code, Some(2), "{out:?}");
    let [_, _, _, _, stopped] = out.beat_counts();
    assert_eq!(stopped, 20, "{}", out.stdout);
    assert!(
        out.verdict()
            .contains("20 of 20 stopped answering heartbeats"),
        "{}",
        out.verdict()
    );
    assert_eq!(out.final_counts().established, 20);
}

#[test]
fn the_server_s_own_pings_are_answered_so_it_keeps_the_connections() {
    if !websockets_installed() {
        return;
    }
    // The server pings each connection every 200 ms and drops one whose pong is 300 ms late.
    let (_server, port) = ws_server(&[
        "--max",
        "10",
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "0.3",
    ]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 5ms -y -i 0 --probe ws --hold 1500ms"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stdout.contains("Protocol events"), "{}", out.stdout);
    assert_eq!(out.final_counts().closed, 0);
}

#[test]
fn wss_through_nginx_proxying_to_the_server_serves_and_beats() {
    if !websockets_installed() || !installed("nginx") || !installed("openssl") {
        return;
    }
    let dir = TempDir::new("wss-nginx");
    let (cert, key) = openssl_cert(&dir);
    in_private_net(|| {
        let (_server, port) = ws_server(&["--max", "100"]);
        let _nginx = nginx_tls(
            &dir,
            &cert,
            &key,
            &format!(
                "proxy_pass http://127.0.0.1:{port}; proxy_http_version 1.1; \
                 proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade;"
            ),
        );
        let out = run(&args!(
            "run 127.0.0.1 8443 -c 10 -s 5ms -y -i 0 --tls --ca {cert} --probe ws --heartbeat 100ms --hold 1s"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(
            out.verdict(),
            "PASS: 10 of 10 established, served, held and answered every heartbeat"
        );
        let [_, _, answered, _, stopped] = out.beat_counts();
        assert!(answered >= 80, "{}", out.stdout);
        assert_eq!(stopped, 0);
    });
}

#[test]
fn headers_given_reach_the_server() {
    if !websockets_installed() {
        return;
    }
    let (_server, port) = ws_server(&["--max", "10", "--require", "Authorization:Bearer t0k"]);
    let without = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 5ms -y -i 0 --probe ws --hold 200ms"
    ));
    assert_eq!(without.code, Some(2), "{without:?}");
    assert_eq!(
        without.line("HTTP statuses rejected:"),
        "HTTP statuses rejected: 401 ×2"
    );
    let with = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 5ms -y -i 0 --probe ws --ws-protocol chat --hold 200ms --header";
        "Authorization: Bearer t0k"
    ));
    assert_eq!(with.code, Some(0), "{with:?}");
}

#[test]
fn ws_options_need_the_ws_probe_and_good_values() {
    for bad in [
        args!("run 127.0.0.1 9 --probe redis --header"; "A: b"),
        args!("run 127.0.0.1 9 --ws-protocol chat"),
        args!("run 127.0.0.1 9 --probe ws --header"; "no colon"),
        args!("run 127.0.0.1 9 --probe ws --header"; "Bad Name: x"),
        args!("run 127.0.0.1 9 --probe ws --header"; "A: b\r\nInjected: yes"),
        args!("run 127.0.0.1 9 --probe ws --ws-protocol"; "a b"),
    ] {
        run_bad_input(&bad);
    }
}

#[test]
fn a_101_with_the_wrong_accept_is_a_named_protocol_error() {
    // No real server answers with the wrong key on demand: a listener that answers every
    // handshake with the same 101, whose accept fits no fresh key.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            );
            // Held open: the verdict is the answer's, not a close's.
            std::mem::forget(stream);
        }
    });
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 5ms -y -i 0 --probe ws --hold 200ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: a 101 without the right Sec-WebSocket-Accept ×3"
    );
}

#[test]
fn a_ws_path_must_be_a_path() {
    for bad in ["ws:chat", "ws:/a b", "ws:"] {
        let out = run_bad_input(&args!("run 127.0.0.1 9 -c 1 --probe"; bad));
        assert!(out.stderr.contains("ws:PATH"), "{bad}: {}", out.stderr);
    }
}

// The built-in server's WebSocket mode: the error paths real servers do not take on demand.

#[test]
fn the_built_in_server_upgrades_echoes_and_closes_past_k_with_1013() {
    let (_server, port) = common::start_server(&["-m", "0", "--ws", "--ws-close-past", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 10ms -y -i 0 --probe ws --send hi --expect hi \
         --heartbeat 100ms --hold 1s"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    // The sixth was upgraded, then closed with 1013 before its message came back.
    assert_eq!(out.probe_counts(), [5, 0, 0, 1], "{}", out.stdout);
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: messages from the server ×5, closed by the server with 1013 (try \
         again later) ×1"
    );
    assert!(
        out.line("Heartbeats:").contains(", stopped answering 0 "),
        "{}",
        out.stdout
    );
    out.probe_adds_up();
    assert!(out.final_counts().adds_up(), "{}", out.stdout);
}

#[test]
fn the_built_in_server_s_wrong_accept_and_mute_fail_the_run() {
    let (_wrong, port) = common::start_server(&["-m", "0", "--ws", "--ws-wrong-accept"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 10ms -y -i 0 --probe ws"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
    assert_eq!(
        out.line("Protocol events:"),
        "Protocol events: a 101 without the right Sec-WebSocket-Accept ×3"
    );

    let (_mute, port) = common::start_server(&["-m", "0", "--ws", "--mute-after", "1s"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 10ms -y -i 0 --probe ws --heartbeat 100ms \
         --heartbeat-timeout 300ms --hold 2s"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.verdict()
            .starts_with("FAIL (exit 2): 3 of 3 stopped answering heartbeats (first at "),
        "{}",
        out.verdict()
    );
}

#[test]
fn debug_names_what_the_server_said_on_its_connection() {
    let (_server, port) = common::start_server(&["-m", "0", "--ws", "--ws-close-past", "1"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 10ms -y -i 0 --probe ws -d"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let said: Vec<&str> = (out.stderr.lines())
        .filter(|line| line.contains("1013"))
        .collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    assert!(
        said[0]
            .starts_with("connection 1: closed by the server with 1013 (try again later) after "),
        "{}",
        said[0]
    );
}

#[test]
fn a_connection_closed_by_a_close_frame_is_held_no_more() {
    // Upgraded and closed in one read: served, then not held, as the summary says.
    let (_server, port) = common::start_server(&["-m", "0", "--ws", "--ws-close-past", "5"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 10ms -y -i 0 --probe ws --hold 500ms --json"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["counts"]["established"], 5, "{summary}");
    assert_eq!(summary["probe"]["served"], 6, "{summary}");
    assert_eq!(summary["probe"]["served_open"], 5, "{summary}");
}

#[test]
fn the_json_ticks_count_what_the_server_said_as_the_run_goes() {
    let (_server, port) = common::start_server(&["-m", "0", "--ws", "--ws-close-past", "2"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 4 -s 50ms -y -i 100ms --probe ws --hold 300ms --json"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let ticks: Vec<serde_json::Value> = (out.stdout.lines())
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect(line))
        .filter(|value| value["type"] == "tick")
        .collect();
    let closed_by_1013 = |tick: &serde_json::Value| {
        (tick["probe"]["events"].as_array())
            .and_then(|events| {
                events
                    .iter()
                    .find(|e| e["what"] == "closed by the server with 1013 (try again later)")
            })
            .map_or(0, |e| e["count"].as_u64().unwrap())
    };
    // None at the start, both once the third and fourth were closed, before the end.
    assert_eq!(closed_by_1013(&ticks[0]), 0, "{}", out.stdout);
    let last = ticks.last().expect("ticks");
    assert_eq!(closed_by_1013(last), 2, "{}", out.stdout);
    assert!(ticks.len() >= 4, "{}", out.stdout);
}
