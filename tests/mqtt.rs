//! `--probe mqtt`: a CONNECT's CONNACK serves a connection, PINGREQ is its heartbeat, and
//! what the broker says (a refusal's code) is counted by name. Against a real broker,
//! Debian's mosquitto, run with a config of each test's own on a free loopback port and
//! capped with `max_connections K`: past K, mosquitto accepts the connection and closes it
//! at once, with the CONNECT unread, so the kernel resets it and no CONNACK ever comes.

mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{
    Guard, TempDir, args, finish, installed, openssl_cert, run, run_bad_input, signal, spawn,
    wait_for,
};

/// A free port on 127.0.0.1: bound and let go, for mosquitto to listen on.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// mosquitto with `listener` (its listener's lines after `listener PORT 127.0.0.1`) and
/// `rest` (the config's other lines), its config and log in `dir`; waited for until it
/// says it is running. Stopped on drop.
fn mosquitto(dir: &TempDir, listener: &str, rest: &str) -> (Guard, u16) {
    let port = free_port();
    let (conf, log) = (dir.path("mosquitto.conf"), dir.path("mosquitto.log"));
    std::fs::write(
        &conf,
        format!(
            "persistence false\nlog_dest file {log}\nlog_type all\nuser root\n{rest}\n\
             listener {port} 127.0.0.1\n{listener}\n"
        ),
    )
    .expect("write mosquitto.conf");
    let guard = Guard(
        Command::new("mosquitto")
            .args(["-c", &conf])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto"),
    );
    wait_for("mosquitto to run", || {
        std::fs::read_to_string(&log).is_ok_and(|text| text.contains(" running"))
    });
    (guard, port)
}

fn mosquitto_log(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.path("mosquitto.log")).unwrap_or_default()
}

#[test]
fn k_plus_one_past_max_connections_is_k_served_and_one_reset_before_its_connack() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-cap");
    let (_broker, port) = mosquitto(&dir, "max_connections 5\nallow_anonymous true", "");
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 6 -s 20ms -y -i 0 --probe mqtt --hold 500ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    // The sixth: established, then reset by mosquitto with no CONNACK.
    assert_eq!(out.probe_counts(), [5, 0, 0, 1], "{}", out.stdout);
    assert_eq!(
        out.closures("reset by peer") + out.closures("closed by peer"),
        1,
        "{}",
        out.stdout
    );
    assert!(
        out.verdict().starts_with("FAIL (exit 2)"),
        "{}",
        out.verdict()
    );
    out.probe_adds_up();
    assert!(
        mosquitto_log(&dir).contains("denied: max_connections exceeded"),
        "{}",
        mosquitto_log(&dir)
    );
}

#[test]
fn k_at_max_connections_passes_in_3_1_1_and_5_each_with_its_own_client_id() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-k");
    let (_broker, port) = mosquitto(&dir, "max_connections 5\nallow_anonymous true", "");
    for version in ["3.1.1", "5"] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 5 -s 20ms -y -i 0 --probe mqtt --mqtt-version {version} --mqtt-client-id load-{version}- --hold 500ms"
        ));
        assert_eq!(out.code, Some(0), "{version}: {out:?}");
        assert_eq!(out.verdict(), "PASS: 5 of 5 established, served and held");
        assert_eq!(out.probe_counts(), [5, 0, 0, 0]);
    }
    // One id per attempt (a broker drops the older of two connections with one id), the
    // protocol level asked for, clean session, no keep-alive without a heartbeat.
    let log = mosquitto_log(&dir);
    for seq in 0..5 {
        assert!(
            log.contains(&format!(" as load-3.1.1-{seq} (p2, c1, k0)")),
            "{log}"
        );
        assert!(
            log.contains(&format!(" as load-5-{seq} (p5, c1, k0)")),
            "{log}"
        );
    }
}

#[test]
fn a_second_run_with_the_same_ids_takes_the_first_s_connections_over() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-takeover");
    let (_broker, port) = mosquitto(&dir, "allow_anonymous true", "");
    // Two runs with one prefix give their connections the same ids: the second's CONNECTs
    // take the first's sessions over, and mosquitto 2.0.11 closes the first's connections
    // (with no DISCONNECT, in 5.0 too): why each connection has an id of its own.
    let started = std::time::Instant::now();
    let first = spawn(&args!(
        "run 127.0.0.1 {port} -c 3 -s 5ms -y -i 0 --probe mqtt --mqtt-version 5 --mqtt-client-id same- --hold 2s"
    ));
    thread::sleep(Duration::from_millis(500));
    let second = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 5ms -y -i 0 --probe mqtt --mqtt-version 5 --mqtt-client-id same- --hold 300ms"
    ));
    assert_eq!(second.code, Some(0), "{second:?}");
    let first = finish(first, started, Duration::from_secs(30));
    assert_eq!(first.code, Some(2), "{first:?}");
    assert_eq!(first.probe_counts(), [3, 0, 0, 0], "{}", first.stdout);
    assert_eq!(first.closures("closed by peer"), 3, "{}", first.stdout);
    assert!(
        first.verdict().contains("3 closed by the server"),
        "{}",
        first.verdict()
    );
    assert!(first.final_counts().adds_up());
    let log = mosquitto_log(&dir);
    for seq in 0..3 {
        assert!(
            log.contains(&format!(
                "Client same-{seq} already connected, closing old connection"
            )),
            "{log}"
        );
    }
}

#[test]
fn a_refusal_is_a_rejection_named_by_its_code_in_either_version() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-auth");
    let (_broker, port) = mosquitto(&dir, "allow_anonymous false", "");
    for (version, named) in [
        ("3.1.1", "CONNACK refused: not authorized (5)"),
        ("5", "CONNACK refused: not authorized (0x87)"),
    ] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 3 -s 5ms -y -i 0 --probe mqtt --mqtt-version {version} --hold 300ms"
        ));
        assert_eq!(out.code, Some(2), "{version}: {out:?}");
        assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("Protocol events:"),
            format!("Protocol events: {named} ×3")
        );
        assert!(out.verdict().contains("3 rejected"), "{}", out.verdict());
        out.probe_adds_up();
    }
    // A user name mosquitto does not know, with a password: the same refusal, in JSON too.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 5ms -y -i 0 --probe mqtt --mqtt-user nobody --mqtt-password secret --hold 200ms --json"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let summary = out
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in {}", out.stdout));
    let events = &summary["probe"]["events"];
    assert_eq!(
        events,
        &serde_json::json!([{"what": "CONNACK refused: not authorized (5)", "count": 2}]),
        "{summary}"
    );
}

#[test]
fn over_tls_with_mosquitto_s_certificate_it_serves_and_beats() {
    if !installed("mosquitto") || !installed("openssl") {
        return;
    }
    let dir = TempDir::new("mqtt-tls");
    let (cert, key) = openssl_cert(&dir);
    let (_broker, port) = mosquitto(
        &dir,
        &format!("max_connections 4\nallow_anonymous true\ncertfile {cert}\nkeyfile {key}"),
        "",
    );
    // One past the cap first, on a fresh broker: mosquitto 2.0.11 closes it before the TLS
    // handshake is done. (It miscounts the clients that have left, its count falling below
    // zero, eclipse-mosquitto issue 1460: after a run it may let more than the cap in.)
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 10ms -y -i 0 --tls --ca {cert} --probe mqtt --hold 500ms"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.probe_counts(), [4, 0, 0, 0], "{}", out.stdout);
    assert_eq!(out.failures("closed during handshake"), 1, "{}", out.stdout);
    assert!(out.final_counts().adds_up(), "{}", out.stdout);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 4 -s 10ms -y -i 0 --tls --ca {cert} --probe mqtt --mqtt-version 5 --heartbeat 200ms --hold 1s"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 4 of 4 established, served, held and answered every heartbeat"
    );
    let [_, _, answered, _, stopped] = out.beat_counts();
    assert!(answered >= 12, "{}", out.stdout);
    assert_eq!(stopped, 0);
}

#[test]
fn pingreqs_are_answered_and_a_stopped_broker_stops_answering() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-beat");
    let (broker, port) = mosquitto(&dir, "allow_anonymous true", "");
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 5ms -y -i 0 --probe mqtt --heartbeat 200ms --hold 2s"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 10 of 10 established, served, held and answered every heartbeat"
    );
    let [due, sent, answered, _, stopped] = out.beat_counts();
    assert!(answered >= 80, "{}", out.stdout);
    assert_eq!((due, sent, stopped), (answered, answered, 0));
    // The keep-alive asked for: 200 ms rounded up to a second.
    assert!(mosquitto_log(&dir).contains("(p2, c1, k1)"));

    // Stopped half a second into the hold: every connection stops answering, none closes.
    let pid = broker.0.id();
    let freezer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        // SAFETY: kill sends a signal to a process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    });
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 5ms -y -i 0 --probe mqtt --heartbeat 200ms --heartbeat-timeout 400ms --hold 2s"
    ));
    freezer.join().unwrap();
    signal(&broker, libc::SIGCONT);
    assert_ne!(out.code, Some(0), "{out:?}");
    let [_, _, _, _, stopped] = out.beat_counts();
    assert_eq!(stopped, 10, "{}", out.stdout);
    assert!(
        out.verdict()
            .contains("10 of 10 stopped answering heartbeats"),
        "{}",
        out.verdict()
    );
}

#[test]
fn limit_finds_max_connections() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-limit");
    let (_broker, port) = mosquitto(&dir, "max_connections 20\nallow_anonymous true", "");
    let out = run(&args!(
        "limit 127.0.0.1 {port} -c 200 --rate 50 -i 0 --probe mqtt"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let limit = out.line("Limit: ");
    assert!(
        limit.starts_with(
            "Limit: 20 concurrent connections served and held when a connection was not \
             served (closed before answering), after 21 attempts"
        ),
        "{limit}\n{}",
        out.stdout
    );
}

#[test]
fn mqtt_options_need_the_mqtt_probe_and_good_values() {
    for bad in [
        args!("run 127.0.0.1 9 --probe mqtt --mqtt-version 4"),
        args!("run 127.0.0.1 9 --probe mqtt --mqtt-version 3"),
        args!("run 127.0.0.1 9 --probe redis --mqtt-version 5"),
        args!("run 127.0.0.1 9 --mqtt-user u"),
        args!("run 127.0.0.1 9 --probe mqtt --mqtt-client-id"; "a b"),
        args!("run 127.0.0.1 9 --probe mqtt --mqtt-client-id"; "x".repeat(65)),
        args!("run 127.0.0.1 9 --probe mqtt --mqtt-password p"),
        args!("limit 127.0.0.1 9 --probe mqtt --mqtt-version 6"),
    ] {
        run_bad_input(&bad);
    }
    let out = run_bad_input(&args!("run 127.0.0.1 9 --probe mqtt --mqtt-version 4"));
    assert_eq!(
        out.stderr.trim_end(),
        "tcpgoon: --mqtt-version: '4': expected 3.1.1 or 5"
    );
}

/// mosquitto with a WebSocket listener as well, capped at `cap`; its port. (mosquitto 2.0.11
/// starts only with a TCP listener beside it; the WebSocket one binds every address, which
/// in the tests' namespace is loopback alone.)
fn mosquitto_ws(dir: &TempDir, cap: u32) -> (Guard, u16) {
    let ws_port = free_port();
    let (guard, _) = mosquitto(
        dir,
        &format!("listener {ws_port}\nprotocol websockets\nmax_connections {cap}"),
        "allow_anonymous true",
    );
    (guard, ws_port)
}

#[test]
fn over_websocket_it_serves_and_beats_and_the_listener_s_cap_is_not_enforced() {
    if !installed("mosquitto") {
        return;
    }
    let dir = TempDir::new("mqtt-ws");
    let (_broker, port) = mosquitto_ws(&dir, 5);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 10ms -y -i 0 --probe mqtt-ws --heartbeat 200ms --hold 1s"
    ));
    assert_eq!(out.code, Some(0), "{out:?}\n{}", mosquitto_log(&dir));
    assert_eq!(
        out.verdict(),
        "PASS: 3 of 3 established, served, held and answered every heartbeat"
    );
    assert!(out.line("Heartbeats:").contains(", stopped answering 0 "));
    // mosquitto 2.0.11 does not count WebSocket clients against max_connections: 7 past a
    // cap of 5 are all served, in either version (what it does, not what its manual says).
    for version in ["3.1.1", "5"] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 7 -s 10ms -y -i 0 --probe mqtt-ws:/mqtt --mqtt-version \
             {version} --hold 500ms"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [7, 0, 0, 0], "{}", out.stdout);
        out.probe_adds_up();
    }
    // Its clients are MQTT clients to the broker: each connected with its own id.
    let log = mosquitto_log(&dir);
    assert!(log.matches("New client connected").count() >= 17, "{log}");
}

#[test]
fn the_built_in_server_refuses_past_k_in_its_connack_in_either_version() {
    let (_server, port) = common::start_server(&["-m", "0", "--mqtt", "--mqtt-refuse-past", "5"]);
    for (version, refusal) in [
        ("3.1.1", "CONNACK refused: server unavailable (3) ×2"),
        ("5", "CONNACK refused: quota exceeded (0x97) ×2"),
    ] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 7 -s 10ms -y -i 0 --probe mqtt --mqtt-version {version} \
             --heartbeat 100ms --hold 500ms"
        ));
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [5, 2, 0, 0], "{}", out.stdout);
        assert_eq!(
            out.line("Protocol events:"),
            format!("Protocol events: {refusal}")
        );
        assert!(out.line("Heartbeats:").contains(", stopped answering 0 "));
        out.probe_adds_up();
        assert!(out.final_counts().adds_up(), "{}", out.stdout);
    }
    let out = run(&args!(
        "limit 127.0.0.1 {port} -c 50 --rate 20 -i 0 --probe mqtt"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "FOUND: 5 concurrent connections served and held, then one was lost (rejected)"
    );
}
