//! `--heartbeat`: every served connection repeats its probe's request on a schedule for as
//! long as it is held, and a server that stops answering fails the run, though it keeps
//! every socket open. Against the built-in server (`--echo`, frozen with SIGSTOP, or
//! `--mute-after`), and against real servers from Debian's packages: redis-server (stopped
//! with SIGSTOP, or paused with CLIENT PAUSE) and memcached, each in a private network
//! namespace on its usual port. nginx (keep-alive, over TLS) is in tests/tls.rs and
//! PostgreSQL in tests/postgres.rs.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::{
    Guard, Output, args, go_duration, in_private_net, installed, memcached, redis, run,
    run_bad_input, signal, start_server,
};
use serde_json::Value;

/// Freezes the server's process (SIGSTOP) `after` from now, on a thread of its own; the
/// test sends SIGCONT once its run is over.
fn stop_after(server: &Guard, after: Duration) -> thread::JoinHandle<()> {
    let pid = server.0.id();
    thread::spawn(move || {
        thread::sleep(after);
        // SAFETY: kill sends a signal to a process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    })
}

/// A percentile of the beat latency table, `  p99     1.2ms`.
fn beat_percentile(out: &Output, name: &str) -> Duration {
    let table = out
        .stdout
        .split("Beat latency percentiles:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no beat latency table: {}", out.stdout));
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} row: {table}"));
    go_duration(row.split_whitespace().nth(1).unwrap())
}

/// The run's last line when it wrote JSON: its summary.
fn summary(out: &Output) -> Value {
    serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON")
}

const ECHO: &[&str] = &["-m", "0", "-d", "60s", "-i", "0", "--echo"];

/// `tcpgoon server --echo` for a minute, quiet, with `extra` options.
fn echo_server(extra: &[&str]) -> (Guard, String) {
    start_server(&[ECHO, extra].concat())
}

#[test]
fn every_beat_answered_passes_and_is_counted() {
    let (_server, port) = echo_server(&[]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -y -i 0 --expect ping --heartbeat 50ms --hold 1s --send";
        "ping\\n"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "PASS: 20 of 20 established, served, held and answered every heartbeat"
    );
    let [due, sent, answered, late, stopped] = out.beat_counts();
    // 20 connections, a beat each 50 ms for about a second: about 400 beats.
    assert!((300..=460).contains(&answered), "{}", out.stdout);
    assert_eq!((due, sent, stopped, late), (answered, answered, 0, 0));
    assert!(beat_percentile(&out, "max") < Duration::from_millis(50));
    out.probe_adds_up();
}

#[test]
fn the_json_carries_each_ticks_beats_and_the_summary_s_histogram() {
    let (_server, port) = echo_server(&[]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 1ms -y -i 200ms --json --expect ping --heartbeat 50ms --hold 1s --send";
        "ping\\n"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let ticks: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "tick")
        .collect();
    assert!(ticks.len() >= 4, "{}", out.stdout);
    // Once the connections beat, each tick has the interval's p50 and p99.
    let beating: Vec<&Value> = ticks
        .iter()
        .filter(|t| t["beats"]["p99_us"].is_u64())
        .collect();
    assert!(beating.len() >= 3, "{}", out.stdout);
    for tick in &beating {
        assert!(tick["beats"]["p50_us"].as_u64() <= tick["beats"]["p99_us"].as_u64());
        assert_eq!(tick["beats"]["stopped"], 0);
    }
    let s = summary(&out);
    let beats = &s["beats"];
    assert_eq!(beats["sent"], beats["answered"], "{beats}");
    assert!(beats["answered"].as_u64().unwrap() > 100, "{beats}");
    assert_eq!(beats["stopped"]["timeout"], 0);
    assert!(beats["first_stop_us"].is_null());
    assert_eq!(beats["latency_us"]["count"], beats["answered"]);
    assert!(beats["latency_us"]["histogram"].is_string());
    // Without heartbeats, neither has a `beats` key.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 1ms -y -i 100ms --json --hold 300ms"
    ));
    assert!(!out.stdout.contains("\"beats\""), "{}", out.stdout);
}

#[test]
fn a_server_frozen_mid_hold_stops_answering_and_fails_the_run() {
    let (server, port) = echo_server(&[]);
    let freezer = stop_after(&server, Duration::from_millis(1000));
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 50 -s 1ms -y -i 0 --expect ping --heartbeat 100ms --heartbeat-timeout 300ms --hold 2s --send";
        "ping\\n"
    ));
    freezer.join().unwrap();
    signal(&server, libc::SIGCONT);
    assert_eq!(out.code, Some(2), "{out:?}");
    // Every connection stays established: the kernel holds them; none is served.
    assert_eq!(out.final_counts().established, 50, "{}", out.stdout);
    let verdict = out.verdict();
    assert!(
        verdict.starts_with("FAIL (exit 2): 50 of 50 stopped answering heartbeats (first at "),
        "{verdict}"
    );
    let first = go_duration(
        verdict
            .rsplit("first at ")
            .next()
            .unwrap()
            .trim_end_matches(')'),
    );
    assert!(
        first > Duration::from_millis(900) && first < Duration::from_millis(2000),
        "{verdict}"
    );
    assert!(
        out.line("Heartbeats: ")
            .contains("stopped answering 50 (no answer in time 50, wrong answer 0,"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_muted_server_is_caught_without_a_signal() {
    let (_server, port) = echo_server(&["--mute-after", "1s"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -y -i 0 --json --expect ping --heartbeat 100ms --heartbeat-timeout 200ms --hold 2s --send";
        "ping\\n"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let s = summary(&out);
    assert_eq!(s["beats"]["stopped"]["timeout"], 20, "{}", s["beats"]);
    assert_eq!(s["probe"]["served_open"], 0);
    assert_eq!(s["counts"]["established"], 20);
}

/// The summary's timeline, by column name: each sample's value of `column`.
fn timeline_column(s: &Value, column: &str) -> Vec<Value> {
    let timeline = &s["timeline"];
    let columns = timeline["columns"].as_array().expect("columns");
    let at = columns
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {timeline}"));
    timeline["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[at].clone())
        .collect()
}

#[test]
fn the_timeline_has_beat_latency_per_sample_and_the_stops_so_far() {
    let (_server, port) = echo_server(&["--mute-after", "1s"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -y -i 0 --json --expect ping --heartbeat 100ms --heartbeat-timeout 200ms --hold 2s --send";
        "ping\n"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let s = summary(&out);
    let p50 = timeline_column(&s, "beat_p50_us");
    let p99 = timeline_column(&s, "beat_p99_us");
    let stopped = timeline_column(&s, "beats_stopped");
    // Beats answered in the first second, each sample's since the one before.
    let answered = p99.iter().filter(|v| v.is_u64()).count();
    assert!(answered >= 5, "{}", s["timeline"]);
    for (a, b) in p50.iter().zip(&p99) {
        assert_eq!(a.is_null(), b.is_null());
        assert!(a.as_u64() <= b.as_u64(), "{a} > {b}");
    }
    // The stops so far: from none to all 20, never down.
    let stopped: Vec<u64> = stopped.iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(stopped[0], 0);
    assert_eq!(*stopped.last().unwrap(), 20);
    assert!(stopped.windows(2).all(|w| w[0] <= w[1]), "{stopped:?}");
    // Muted, nothing is answered: the last samples have no beat latency.
    assert!(p99.last().unwrap().is_null(), "{}", s["timeline"]);
    // Without heartbeats, no beat columns.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 2 -s 1ms -y -i 0 --json --expect ping --hold 300ms --send";
        "ping\n"
    ));
    let columns = summary(&out)["timeline"]["columns"].to_string();
    assert!(!columns.contains("beat"), "{columns}");
}

#[test]
fn replacements_beat_too() {
    // Each connection is closed after 700 ms and replaced: the originals alone could answer
    // at most 70 beats of the 300 that 10 slots beating for 3 s make.
    let (_server, port) = echo_server(&["--close-after", "700ms"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 1ms -y -i 0 --reconnect --expect ping --heartbeat 100ms --hold 3s --send";
        "ping\n"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let [_, _, answered, _, _] = out.beat_counts();
    assert!(answered > 200, "{}", out.stdout);
    let reconnects: u64 = out.line("Reconnects: ")["Reconnects: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(reconnects >= 30, "{}", out.stdout);
}

#[test]
fn a_wrong_answer_stops_the_connection() {
    // The greeting serves the probe; the echo of the beat is not what --expect asks for.
    let (_server, port) = echo_server(&["--greeting", "pong"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 1ms -y -i 0 --expect pong --heartbeat 100ms --hold 1s --send";
        "ping"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.line("Heartbeats: ").contains("wrong answer 5"),
        "{}",
        out.stdout
    );
}

#[test]
fn redis_stopped_during_the_hold_fails_and_redis_running_passes() {
    if !installed("redis-server") {
        return;
    }
    in_private_net(|| {
        let server = redis(1000);
        let out = run(&args!(
            "run 127.0.0.1 6379 -c 200 -s 1ms -y -i 0 --probe redis --heartbeat 100ms --hold 3s"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        let [_, _, answered, _, stopped] = out.beat_counts();
        assert!(answered > 4000, "{}", out.stdout);
        assert_eq!(stopped, 0);

        let freezer = stop_after(&server, Duration::from_millis(1500));
        // The case, under default timeouts: the hold ends 1.5 s after the freeze,
        // with every connection's beat out; the run waits for them (5 s, the probe
        // timeout), and each is a beat left unanswered since its due time.
        let out = run(&args!(
            "run 127.0.0.1 6379 -c 200 -s 1ms -y -i 0 --probe redis --heartbeat 100ms --hold 3s"
        ));
        freezer.join().unwrap();
        signal(&server, libc::SIGCONT);
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.verdict()
                .starts_with("FAIL (exit 2): 200 of 200 stopped answering heartbeats (first at 1."),
            "{}",
            out.verdict()
        );
    });
}

#[test]
fn redis_paused_for_a_second_shows_in_beat_latency_and_trips_a_beat_gate() {
    if !installed("redis-server") {
        return;
    }
    in_private_net(|| {
        let _server = redis(1000);
        let pauser = thread::spawn(|| {
            thread::sleep(Duration::from_millis(1000));
            let mut admin = TcpStream::connect("127.0.0.1:6379").unwrap();
            admin.write_all(b"CLIENT PAUSE 1000\r\n").unwrap();
            let mut reply = [0u8; 16];
            let n = admin.read(&mut reply).unwrap();
            assert!(reply[..n].starts_with(b"+OK"), "{:?}", &reply[..n]);
        });
        let out = run(&args!(
            "run 127.0.0.1 6379 -c 50 -s 1ms -y -i 0 --probe redis --heartbeat 100ms --hold 3s --max-latency beat:p99=100ms"
        ));
        pauser.join().unwrap();
        // Every beat answered, late: the gate fails, not the connections.
        assert_eq!(out.code, Some(3), "{out:?}");
        let [_, _, _, late, stopped] = out.beat_counts();
        assert_eq!(stopped, 0, "{}", out.stdout);
        assert!(late > 0, "{}", out.stdout);
        assert!(
            beat_percentile(&out, "p99") > Duration::from_millis(900),
            "{}",
            out.stdout
        );
        assert!(
            out.verdict()
                .starts_with("FAIL (exit 3): beat latency p99 1.")
                && out.verdict().ends_with("s > 100ms"),
            "{}",
            out.verdict()
        );
    });
}

#[test]
fn memcached_answers_its_beats() {
    if !installed("memcached") {
        return;
    }
    in_private_net(|| {
        let _server = memcached(1024);
        let out = run(&args!(
            "run 127.0.0.1 11211 -c 100 -s 1ms -y -i 0 --probe memcached --heartbeat 100ms --hold 1500ms"
        ));
        assert_eq!(out.code, Some(0), "{out:?}");
        let [due, sent, answered, _, stopped] = out.beat_counts();
        assert!(answered > 1000, "{}", out.stdout);
        assert_eq!((due, sent, stopped), (answered, answered, 0));
    });
}

#[test]
fn a_heartbeat_needs_a_probe_that_asks() {
    for (words, says) in [
        (
            "run h 1 --probe greeting --heartbeat 1s",
            "--heartbeat with --probe greeting: that probe only listens",
        ),
        (
            "run h 1 --probe ssh --heartbeat 1s",
            "--heartbeat with --probe ssh",
        ),
        (
            "run h 1 --expect x --heartbeat 1s",
            "--heartbeat with no --send",
        ),
        (
            "run h 1 --heartbeat 1s",
            "--heartbeat repeats a probe's request",
        ),
        (
            "run h 1 --tls --insecure --heartbeat 1s",
            "--heartbeat repeats a probe's request",
        ),
        (
            "run h 1 --probe redis --heartbeat 0",
            "--heartbeat must be longer than 0",
        ),
        (
            "run h 1 --probe redis --heartbeat-timeout 1s",
            "--heartbeat-timeout needs --heartbeat",
        ),
        (
            "run h 1 --probe redis --max-latency beat:p99=1ms",
            "--max-latency beat:… needs --heartbeat",
        ),
        (
            "limit h 1 --probe smtp --heartbeat 1s",
            "--heartbeat with --probe smtp",
        ),
        ("run h 1 --probe redis --heartbeat 100", "has no unit"),
    ] {
        let words: Vec<&str> = words
            .split(' ')
            .map(|w| if w == "h" { "127.0.0.1" } else { w })
            .collect();
        let out = run_bad_input(&words);
        assert!(out.stderr.contains(says), "{words:?}: {}", out.stderr);
    }
}
