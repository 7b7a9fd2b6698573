//! Fault scenarios: `tcpgoon run` against `tcpgoon server` misbehaving on purpose, each
//! checked for exact counts where the kernel's behaviour is exact, and generous bounds where
//! timing is involved.

mod common;

use std::time::{Duration, Instant};

use common::{Output, args, closed_port, finish, min_max, run, signal, spawn, start_server};

fn run_against(port: &str, args: &[&str]) -> Output {
    let mut full = vec!["run", "127.0.0.1", port, "-i", "0", "-y"];
    full.extend_from_slice(args);
    run(&full)
}

#[test]
fn a_server_that_accepts_everything_gets_exit_0() {
    let (_server, port) = start_server(&["-m", "0", "-i", "0"]);
    let out = run_against(&port, &["-c", "200", "-s", "0"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.total, counts.established), (200, 200), "{counts:?}");
    assert!(counts.adds_up());
    assert_eq!(
        out.line("Total established connections: "),
        "Total established connections: 200"
    );
}

#[test]
fn nothing_listening_is_every_attempt_refused() {
    let port = closed_port();
    let out = run_against(&port, &["-c", "30", "-s", "0"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.total, counts.error), (30, 30), "{counts:?}");
    assert_eq!(out.failures("refused"), 30);
}

#[test]
fn a_full_accept_queue_times_the_rest_out() {
    // Nothing accepts, so Linux completes the handshake for backlog + 1 connections and
    // drops every later SYN; the first retransmission comes after 1 s, long after the
    // 300 ms dial timeout.
    let (_server, port) = start_server(&["--no-accept", "--backlog", "4", "-i", "0"]);
    let out = run_against(&port, &["-c", "30", "-t", "300ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(
        (counts.established, counts.error, counts.closed),
        (5, 25, 0),
        "{}",
        out.stdout
    );
    assert_eq!(out.failures("timed out"), 25);
    let (min, max) = min_max(out.line("Time to error stats for 25 failed connections"));
    // Never before the timeout; after it, by no more than a loaded machine's scheduling.
    assert!(
        min >= Duration::from_millis(300) && max < Duration::from_millis(300 + 250),
        "timed out between {min:?} and {max:?}"
    );
}

/// Runs 20 attempts 20 ms apart against a server started with `server_args`, which closes
/// each connection soon after accepting it, and checks that every closure is counted as
/// `cause` and none as `other`.
fn every_closure_is(server_args: &[&str], cause: &str, other: &str) {
    let (_server, port) = start_server(server_args);
    let out = run_against(&port, &["-c", "20", "-s", "20ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(counts.error, 0, "{}", out.stdout);
    assert_eq!(counts.established + counts.closed, 20, "{}", out.stdout);
    // Attempt k is closed at k × 20 ms plus the server's delay, and the run ends at 380 ms:
    // most are closed before it ends, unless the server is very late.
    assert!(counts.closed >= 5, "{}", out.stdout);
    assert_eq!(out.closures(cause), counts.closed, "{}", out.stdout);
    assert_eq!(out.closures(other), 0);

    // With a hold that outlasts every close, the count is exact.
    let out = run_against(&port, &["-c", "20", "-s", "20ms", "--hold", "500ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.closed, counts.error), (20, 0), "{}", out.stdout);
    assert_eq!(out.closures(cause), 20, "{}", out.stdout);
}

#[test]
fn connections_the_server_closes_are_counted_as_closed_by_peer() {
    every_closure_is(
        &["-m", "0", "--close-after", "50ms", "-i", "0"],
        "closed by peer",
        "reset by peer",
    );
}

#[test]
fn connections_the_server_resets_are_counted_as_reset() {
    every_closure_is(
        &["-m", "0", "--reset", "--close-after", "10ms", "-i", "0"],
        "reset by peer",
        "closed by peer",
    );
}

#[test]
fn a_server_holding_at_most_20_closes_the_other_10() {
    // The client never closes, so the server's first 20 stay open and it closes each later
    // one as it accepts it; the hold gives the last FIN time to arrive.
    let (_server, port) = start_server(&["-m", "0", "--max-open", "20", "-i", "0"]);
    let out = run_against(&port, &["-c", "30", "-s", "5ms", "--hold", "300ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(
        (counts.established, counts.closed, counts.error),
        (20, 10, 0),
        "{}",
        out.stdout
    );
    assert_eq!(out.closures("closed by peer"), 10, "{}", out.stdout);
}

#[test]
fn a_server_holding_none_closes_every_connection() {
    let (_server, port) = start_server(&["-m", "0", "--max-open", "0", "-i", "0"]);
    let out = run_against(&port, &["-c", "10", "-s", "5ms", "--hold", "300ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(
        (counts.established, counts.closed),
        (0, 10),
        "{}",
        out.stdout
    );
    assert_eq!(out.closures("closed by peer"), 10, "{}", out.stdout);
}

#[test]
fn a_reset_before_the_client_looks_is_still_a_connection_closed_by_reset() {
    // The server resets each connection as it accepts it, often before the client has
    // handled the end of its handshake. A reset can only come after the handshake (one that
    // answers the SYN is a refusal), so each is established and then closed by a reset,
    // never a failed attempt.
    let (_server, port) = start_server(&["-m", "0", "--max-open", "0", "--reset", "-i", "0"]);
    let out = run_against(&port, &["-c", "200", "-s", "0", "--hold", "300ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!((counts.closed, counts.error), (200, 0), "{}", out.stdout);
    assert_eq!(out.closures("reset by peer"), 200, "{}", out.stdout);
    assert_eq!(
        out.line("Total established connections: "),
        "Total established connections: 200"
    );
}

#[test]
fn greeting_bytes_are_counted_exactly() {
    // The run ends when its last attempt has an outcome, so every greeting must arrive
    // before that: the server stops after 10 connections (sending each its greeting, then
    // a FIN) and the 11th attempt, 200 ms later, is refused.
    let (_server, port) = start_server(&["-m", "10", "--greeting", "hello", "-i", "0"]);
    let out = run_against(&port, &["-c", "11", "-s", "200ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.closed, counts.error), (10, 1), "{}", out.stdout);
    assert_eq!(out.line("Bytes received: "), "Bytes received: 50");
    assert_eq!(out.closures("closed by peer"), 10);
    assert_eq!(out.failures("refused"), 1);
}

#[test]
fn a_server_that_stops_after_5_leaves_every_attempt_accounted_for() {
    // Attempts 50 ms apart: the server takes the first five, then closes them and its
    // listener and exits. Later attempts find nothing listening (or, if one slipped into
    // the accept queue before the listener closed, are reset).
    let started = Instant::now();
    let (server, port) = start_server(&["-m", "5", "-i", "0"]);
    let out = run_against(&port, &["-c", "10", "-s", "50ms"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(counts.total, 10);
    assert_eq!(counts.established, 0, "{}", out.stdout);
    assert_eq!(out.closures("closed by peer"), 5, "{}", out.stdout);
    assert_eq!(
        out.failures("refused") + out.closures("reset by peer"),
        5,
        "{}",
        out.stdout
    );
    assert_eq!(counts.closed + counts.error, 10);
    let server = finish(server, started, Duration::from_secs(10));
    assert_eq!(server.code, Some(0), "{server:?}");
    assert_eq!(
        server.stdout.lines().last(),
        Some("stopping: 5 connections accepted (--maxconnections 5)")
    );
}

#[test]
fn sigterm_to_the_client_reports_every_connection() {
    let (_server, port) = start_server(&["-m", "0", "-i", "0"]);
    let started = Instant::now();
    // One live line, printed as the run starts, and no more before the signal.
    let mut client = spawn(&args!("run 127.0.0.1 {port} -c 100 -s 20ms -i 10s -y"));
    // From the first line on, attempts are due every 20 ms: about 25 in 500 ms.
    let first = common::first_line(&mut client);
    assert!(first.ends_with("NotInitiated: 100"), "{first}");
    std::thread::sleep(Duration::from_millis(500));
    signal(&client, libc::SIGTERM);
    let out = finish(client, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(counts.total, 100);
    assert_eq!((counts.error, counts.closed), (0, 0), "{counts:?}");
    assert!(
        counts.established >= 10 && counts.not_initiated >= 50,
        "{counts:?}"
    );
    assert!(out.stdout.contains("Run interrupted by SIGTERM"));
}
