//! The report a person reads first: the verdict line that ends every run and limit report
//! (and the JSON summary's `verdict`), the cause list with only the causes that happened,
//! percentiles to the histograms' significant digits, and the logarithmic histogram.

mod common;

use std::time::{Duration, Instant};

use common::{HoldingListener, args, closed_port, go_duration, run, spawn, start_server};
use serde_json::Value;

/// The last stdout line, parsed as the JSON summary.
fn summary_of(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("JSON")
}

#[test]
fn a_run_that_holds_every_connection_ends_with_pass() {
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!("run 127.0.0.1 {port} -c 20 -s 0 -i 0 -y"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict(), "PASS: 20 of 20 established and held");
    assert_eq!(out.line("Errors by cause: "), "Errors by cause: none");
    // In --json mode the verdict is the summary's, and stdout carries JSON only.
    let json = run(&args!("run 127.0.0.1 {port} -c 20 -s 0 -i 0 -y --json"));
    assert_eq!(json.code, Some(0), "{json:?}");
    assert!(
        json.stdout.lines().all(|l| l.starts_with('{')),
        "{}",
        json.stdout
    );
    let summary = summary_of(&json.stdout);
    assert_eq!(summary["verdict"], "PASS: 20 of 20 established and held");
    assert_eq!(summary["exit_status"], 0);
    // JSON keeps every cause, zeros included: 8 of the TCP connect, 5 of the TLS handshake.
    assert_eq!(summary["failures"].as_object().unwrap().len(), 13);
    assert_eq!(summary["limit"], Value::Null);
}

#[test]
fn refused_attempts_fail_the_run_by_cause() {
    let port = closed_port();
    let out = run(&args!("run 127.0.0.1 {port} -c 5 -s 0 -i 0 -y"));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.verdict(), "FAIL (exit 2): 5 refused");
    // Only the cause that happened: not the 8 of them with their zeros.
    assert_eq!(out.line("Errors by cause: "), "Errors by cause: refused 5");
    assert_eq!(out.failures("refused"), 5);
    assert_eq!(out.failures("timed out"), 0);
}

#[test]
fn connections_the_server_closes_are_named_in_the_verdict() {
    // The server holds 3 and closes every connection past them as it accepts it.
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "3"]);
    let out = run(&args!("run 127.0.0.1 {port} -c 6 -s 5ms -i 0 -y"));
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!(
        (counts.established, counts.closed),
        (3, 3),
        "{}",
        out.stdout
    );
    assert_eq!(out.verdict(), "FAIL (exit 2): 3 closed by the server");
}

#[test]
fn a_missed_latency_gate_says_what_was_measured_against_what() {
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -i 0 -y --max-latency p99=1us"
    ));
    assert_eq!(out.code, Some(3), "{out:?}");
    let measured = out
        .verdict()
        .strip_prefix("FAIL (exit 3): p99 ")
        .and_then(|rest| rest.strip_suffix(" > 1µs"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        go_duration(measured) > Duration::from_micros(1),
        "{measured}"
    );
    assert!(significant_digits(measured) <= 3, "{measured}");
    // A met one is named in the pass.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -i 0 -y --max-latency p99=10s"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let verdict = out.verdict();
    assert!(
        verdict.starts_with("PASS: 10 of 10 established and held; p99 ")
            && verdict.ends_with(" <= 10s"),
        "{verdict}"
    );
}

#[test]
fn an_interrupted_run_is_incomplete() {
    let server = HoldingListener::start();
    let port = server.port();
    let started = Instant::now();
    let mut child = spawn(&["run", "127.0.0.1", &port, "-c", "100", "-s", "20ms", "-y"]);
    // The first live line comes once signals are taken over.
    let first = common::first_line(&mut child);
    assert!(first.ends_with("NotInitiated: 100"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    common::signal(&child, libc::SIGINT);
    let out = common::finish(child, started, Duration::from_secs(20));
    assert_eq!(out.code, Some(1), "{out:?}");
    let counts = out.final_counts();
    let made = counts.total - counts.not_initiated;
    assert!(made < 100, "{}", out.stdout);
    assert_eq!(
        out.verdict(),
        format!("INCOMPLETE (exit 1): interrupted by SIGINT, after {made} of 100 attempts")
    );
}

#[test]
fn with_a_probe_the_verdict_says_served() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--greeting", "hi"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 0 -i 0 -y --probe greeting"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.verdict(), "PASS: 5 of 5 established, served and held");
}

#[test]
fn limit_ends_with_its_verdict() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "20"]);
    let out = run(&args!("limit 127.0.0.1 {port} -r 500 -c 100 -i 0"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.verdict(),
        "FOUND: 20 concurrent connections held, then one was lost (closed by peer)"
    );
    assert!(
        out.before_verdict().starts_with("Limit: 20 "),
        "{}",
        out.stdout
    );
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!("limit 127.0.0.1 {port} -c 10 --hold 100ms -i 0"));
    assert_eq!(out.code, Some(4), "{out:?}");
    assert_eq!(
        out.verdict(),
        "NO LIMIT (exit 4): all 10 connections established and held"
    );
    let port = closed_port();
    let out = run(&["limit", "127.0.0.1", &port, "-i", "0"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(
        out.verdict(),
        "FAIL (exit 2): nothing was held, so there is no limit to measure (refused)"
    );
}

/// Significant digits of a printed duration: `1.45ms` has 3, `300ms` 3 (at most), `52µs` 2.
fn significant_digits(text: &str) -> usize {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
}

#[test]
fn percentiles_print_no_more_digits_than_the_histogram_keeps() {
    // Nothing is accepted past the first handshake: the rest time out at 5 ms each, a time
    // to error of about 5.0xx ms, which the histogram keeps to 3 significant digits.
    let (_socket, port) = common::full_backlog_listener();
    let out = run(&args!("run 127.0.0.1 {port} -c 8 -s 0 -t 5 -i 0 -y"));
    assert_eq!(out.code, Some(2), "{out:?}");
    let timed_out = out.failures("timed out");
    assert!(timed_out >= 6, "{}", out.stdout);
    assert!(
        out.verdict().starts_with("FAIL (exit 2): ") && out.verdict().contains(" timed out"),
        "{}",
        out.stdout
    );
    let table: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Time to error percentiles:")
        .skip(1)
        .take_while(|l| l.starts_with("  p"))
        .collect();
    assert_eq!(table.len(), 7, "{}", out.stdout);
    for row in table {
        let value = row.split_whitespace().last().unwrap();
        assert!(go_duration(value) >= Duration::from_millis(5), "{row}");
        assert!(significant_digits(value) <= 3, "{row}: {}", out.stdout);
    }
}

#[test]
fn the_histogram_rows_grow_by_a_constant_factor_and_hold_every_sample() {
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!("run 127.0.0.1 {port} -c 200 -s 0 -i 0 -y"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let rows: Vec<(Duration, u64)> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Connect latency histogram (logarithmic rows):")
        .skip(1)
        .take_while(|l| l.contains(" | "))
        .map(|l| {
            let (label, rest) = l.split_once(" | ").unwrap();
            let count = rest.split_whitespace().next().unwrap().parse().unwrap();
            (go_duration(label.trim()), count)
        })
        .collect();
    assert!(!rows.is_empty(), "{}", out.stdout);
    assert_eq!(
        rows.iter().map(|(_, n)| n).sum::<u64>(),
        200,
        "{}",
        out.stdout
    );
    let (min, max) = common::min_max(out.line("Response time stats for "));
    assert_eq!(rows[0].0, min);
    let (lo, hi) = (min.as_micros() as f64, (max.as_micros() + 1) as f64);
    let rows_expected = 10.min(max.as_micros() + 1 - min.as_micros()) as usize;
    assert_eq!(rows.len(), rows_expected, "{}", out.stdout);
    // Each row starts a constant factor after the one before, to within the rounding of
    // both bounds to whole microseconds.
    let factor = (hi / lo).powf(1.0 / rows.len() as f64);
    for pair in rows.windows(2) {
        let (a, b) = (pair[0].0.as_micros() as f64, pair[1].0.as_micros() as f64);
        assert!(b > a, "{}", out.stdout);
        assert!(
            (b / a - factor).abs() <= 2.5 / a + 1e-9 || b - a == 1.0,
            "{a} to {b}, factor {factor}: {}",
            out.stdout
        );
    }
}
