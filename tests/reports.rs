//! Output for people and CI: JSON Lines, the HdrHistogram log, the terminal status line, and
//! threshold gates, through the real binary against the built-in server.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{args, closed_port, run};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn decode(encoded: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("a V2 histogram")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn json_lines_carry_ticks_and_a_summary_that_adds_up() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 40 -s 5ms -i 50ms -y --json"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let objects = json_lines(&out.stdout);
    let (summary, ticks) = objects.split_last().expect("at least a summary");
    assert!(ticks.len() >= 3, "{} ticks", ticks.len());
    for tick in ticks {
        assert_eq!(tick["type"], "tick");
        let c = &tick["counts"];
        let sum: u64 = ["not_initiated", "dialing", "established", "closed", "error"]
            .iter()
            .map(|k| n(&c[k]))
            .sum();
        assert_eq!(sum, n(&c["total"]), "{tick}");
    }
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["exit_status"], 0);
    assert_eq!(
        summary["live_lines_dropped"], 0,
        "a reader that keeps up loses none"
    );
    assert_eq!(summary["target"]["port"], port.parse::<u64>().unwrap());
    assert_eq!(summary["options"]["connections"], 40);
    assert_eq!(summary["options"]["sleep"], "5ms");
    let c = &summary["counts"];
    assert_eq!((n(&c["total"]), n(&c["established"])), (40, 40));
    let latency = &summary["connect_latency_us"];
    assert_eq!(n(&latency["count"]), 40);
    for key in [
        "min", "mean", "max", "stddev", "p50", "p75", "p90", "p95", "p99", "p99_9", "p99_99",
    ] {
        assert!(latency[key].is_u64(), "{key} missing: {latency}");
    }
    assert!(n(&latency["min"]) <= n(&latency["p50"]) && n(&latency["p50"]) <= n(&latency["max"]));
    let histogram = decode(latency["histogram"].as_str().expect("histogram string"));
    assert_eq!(histogram.len(), 40);
    let failures: u64 = summary["failures"]
        .as_object()
        .unwrap()
        .values()
        .map(n)
        .sum();
    assert_eq!(failures, 0);
    assert!(summary["achieved_rate"].as_f64().unwrap() > 100.0);
    assert!((summary["requested_rate"].as_f64().unwrap() - 200.0).abs() < 0.01);
    assert!(n(&summary["wall_time_us"]) >= 195_000);
    assert!(summary["stopped"].is_null());
}

#[test]
fn json_summary_counts_failures_by_cause() {
    let port = closed_port();
    let out = run(&args!("run 127.0.0.1 {port} -c 7 -s 0 -y --json"));
    assert_eq!(out.code, Some(2));
    let objects = json_lines(&out.stdout);
    let summary = objects.last().unwrap();
    assert_eq!(summary["exit_status"], 2);
    assert_eq!(summary["counts"]["error"], 7);
    assert_eq!(summary["failures"]["refused"], 7);
    assert_eq!(summary["time_to_error_us"]["count"], 7);
    assert_eq!(
        decode(summary["time_to_error_us"]["histogram"].as_str().unwrap()).len(),
        7
    );
    assert_eq!(summary["connect_latency_us"]["count"], 0);
}

/// The interval histograms of an HdrHistogram interval log, in order.
fn read_hdr_log(path: &std::path::Path) -> Vec<Histogram<u64>> {
    let log = std::fs::read(path).unwrap();
    let mut deserializer = Deserializer::new();
    IntervalLogIterator::new(&log)
        .filter_map(|entry| match entry.expect("a well-formed log entry") {
            LogEntry::Interval(h) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                Some(deserializer.deserialize(&mut bytes.as_slice()).unwrap())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn hdr_log_without_live_ticks_holds_the_whole_run_in_one_interval() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let dir = std::env::temp_dir().join(format!("tcpgoon-hdr0-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.hlog");
    let out =
        run(&args!("run 127.0.0.1 {port} -c 25 -s 2ms -i 0 -y --hdr-log"; path.to_str().unwrap()));
    assert_eq!(out.code, Some(0), "{out:?}");
    let intervals = read_hdr_log(&path);
    assert_eq!(intervals.len(), 1, "one interval for the whole run");
    assert_eq!(intervals[0].len(), 25);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hdr_log_reads_back_with_every_established_connection() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let dir = std::env::temp_dir().join(format!("tcpgoon-hdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.hlog");
    let out = run(
        &args!("run 127.0.0.1 {port} -c 60 -s 4ms -i 50ms -y --hdr-log"; path.to_str().unwrap()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let intervals = read_hdr_log(&path);
    let total: u64 = intervals.iter().map(Histogram::len).sum();
    assert_eq!(total, 60);
    assert!(intervals.len() >= 4, "{} intervals", intervals.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_hdr_log_that_cannot_be_written_leaves_the_report_whole_and_exits_1() {
    let port = closed_port();
    let base = [
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "3",
        "-s",
        "0",
        "-i",
        "0",
        "-y",
    ];
    let out = run(&[&base[..], &["--hdr-log", "/dev/full"]].concat());
    assert_eq!(out.code, Some(1), "{out:?}");
    // The report is out, as without the log.
    assert_eq!(out.final_counts().error, 3, "{}", out.stdout);
    assert!(out.stdout.contains("Wall time: "), "{}", out.stdout);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("tcpgoon: --hdr-log: cannot write '/dev/full': "),
        "{}",
        out.stderr
    );
    // With --json, the summary is out too, and says the status the process exits with.
    let out = run(&[&base[..], &["--hdr-log", "/dev/full", "--json"]].concat());
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines = json_lines(&out.stdout);
    let summary = lines.last().expect("a summary");
    assert_eq!(summary["type"], "summary", "{summary}");
    assert_eq!(summary["exit_status"], 1, "{summary}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn an_hdr_log_on_a_fifo_nobody_reads_is_refused_without_waiting() {
    let dir = std::env::temp_dir().join(format!("tcpgoon-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("log.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo: {made}");
    let port = closed_port();
    let started = std::time::Instant::now();
    let child = common::spawn(
        &args!("run 127.0.0.1 {port} -c 1 -i 0 -y --hdr-log"; fifo.to_str().unwrap()),
    );
    // Opening a FIFO for writing waited for a reader that never came.
    let out = common::finish(child, started, Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.code, Some(64), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("is a FIFO with no reader"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn forced_terminal_mode_redraws_one_status_line_on_stderr() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = common::finish(
        common::Guard(
            std::process::Command::new(common::BIN)
                .args(args!(
                    "run 127.0.0.1 {port} -c 30 -s 20ms -y --progress bar"
                ))
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        ),
        std::time::Instant::now(),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let redraws = out.stderr.matches("\r\x1b[2K").count();
    // 600 ms of dialing at four redraws a second, plus the final erase.
    assert!(redraws >= 3, "{redraws} redraws: {:?}", out.stderr);
    assert!(
        out.stderr.ends_with("\r\x1b[2K"),
        "the line is erased: {:?}",
        out.stderr
    );
    assert!(out.stderr.contains("/30 est "), "{:?}", out.stderr);
    assert!(out.stderr.contains(" p99 "), "{:?}", out.stderr);
    assert!(
        !out.stderr.contains("\x1b[3"),
        "NO_COLOR is honoured: {:?}",
        out.stderr
    );
    assert!(
        out.stdout.starts_with("--- 127.0.0.1:"),
        "no plain lines: {}",
        out.stdout
    );
}

#[test]
fn a_missed_latency_threshold_exits_3_and_says_which() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -y --max-latency p50=10s --max-latency p99=1us"
    ));
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(
        out.stdout
            .contains("Threshold connect p50 <= 10s: passed (measured ")
    );
    assert!(
        out.stdout
            .contains("Threshold connect p99 <= 1µs: FAILED (measured ")
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("threshold missed: connect p99 <= 1µs (measured ")
    );
}

#[test]
fn met_thresholds_exit_0() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 10 -s 0 -y --json --max-latency p99=10s --min-established 100%"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let summary = json_lines(&out.stdout).pop().unwrap();
    let gates = summary["thresholds"].as_array().unwrap();
    assert_eq!(gates.len(), 2);
    assert!(gates.iter().all(|g| g["passed"] == true), "{gates:?}");
    assert_eq!(gates[1]["limit_us"], 10_000_000);
}

#[test]
fn min_established_tolerates_failures_while_it_is_met() {
    let cases = [
        (
            "1",
            0,
            "Threshold established >= 1 (1 of 4): passed (measured 1)",
        ),
        (
            "75%",
            2,
            "Threshold established >= 75% (3 of 4): FAILED (measured 1)",
        ),
    ];
    for (minimum, code, verdict) in cases {
        // One handshake completes, the rest time out. Each run needs its own listener:
        // a run's connection stays in the accept queue after it.
        let (_listener, port) = common::full_backlog_listener();
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 4 -s 0 -t 200ms -y --min-established {minimum}"
        ));
        assert_eq!(out.code, Some(code), "{out:?}");
        assert!(out.stdout.contains(verdict), "{}", out.stdout);
    }
}

#[test]
fn min_established_above_the_connections_is_bad_input() {
    let out = run(&args!("run 127.0.0.1 80 -c 5 -y --min-established 6"));
    assert_eq!(out.code, Some(64));
    assert!(
        out.stderr
            .contains("--min-established 6 is more than the 5 connections")
    );
}

/// Runs `tcpgoon` under `script`, so both its stdout and stderr are a terminal.
fn run_on_a_terminal(args: &[&str], no_color: bool) -> String {
    let mut script = common::on_a_terminal(args, "");
    if no_color {
        script.env("NO_COLOR", "1");
    } else {
        script.env_remove("NO_COLOR");
    }
    let out = script.output().expect("run script");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_the_status_line_is_coloured_unless_no_color() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let args = ["run", "127.0.0.1", &port, "-c", "30", "-s", "10ms", "-y"];
    let screen = run_on_a_terminal(&args, false);
    assert!(screen.contains("\r\x1b[2K[#"), "{screen:?}");
    assert!(
        screen.contains(" est \x1b[32m"),
        "established is green: {screen:?}"
    );
    assert!(
        !screen.contains("Total: 30, Dialing: 0, Established: 0"),
        "no plain lines: {screen:?}"
    );
    assert!(
        screen.contains("Total: 30, Dialing: 0, Established: 30"),
        "{screen:?}"
    );
    let screen = run_on_a_terminal(&args, true);
    assert!(screen.contains("\r\x1b[2K[#"), "{screen:?}");
    assert!(
        !screen.contains("\x1b[32m") && !screen.contains("\x1b[0m"),
        "{screen:?}"
    );
}

#[test]
fn the_prompt_is_on_the_terminal_and_not_in_redirected_json() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let dir = std::env::temp_dir().join(format!("tcpgoon-prompt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.jsonl");
    let args = [
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "5",
        "-s",
        "10ms",
        "-i",
        "20ms",
        "--json",
    ];
    let redirect = format!("> {}", path.display());
    let (code, screen) = common::type_into(common::on_a_terminal(&args, &redirect), "y\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("*\t- # of concurrent connections: 5\r\n"),
        "the warning is on the terminal: {screen:?}"
    );
    assert!(
        screen.contains("Do you want to continue? (y/N): "),
        "the question is on the terminal: {screen:?}"
    );
    let stdout = std::fs::read_to_string(&path).unwrap();
    let objects = json_lines(&stdout);
    let (summary, ticks) = objects.split_last().expect("a summary");
    assert!(!ticks.is_empty(), "{stdout}");
    assert!(ticks.iter().all(|t| t["type"] == "tick"), "{stdout}");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["counts"]["established"], 5);

    // Declined: the refusal reaches the terminal, and stdout gets nothing at all.
    let (code, screen) = common::type_into(common::on_a_terminal(&args, &redirect), "n\n");
    assert_eq!(code, Some(1), "{screen}");
    assert!(
        screen.contains("Do you want to continue? (y/N): "),
        "{screen:?}"
    );
    assert!(
        screen.contains("Execution aborted as prompted by the user"),
        "{screen:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_interrupted_hold_is_reported_as_the_hold_cut_short() {
    use std::io::{BufRead, BufReader};
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let started = std::time::Instant::now();
    let mut child = common::spawn(&args!(
        "run 127.0.0.1 {port} -c 5 -s 0 -i 20ms --progress lines -y --hold 30s"
    ));
    // Every attempt is made and established before the signal: the run is holding.
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "ended: {seen}");
        seen.push_str(&line);
        if line.starts_with("Total: 5, Dialing: 0, Established: 5, Closed: 0") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    common::signal(&child, libc::SIGINT);
    let status = child.0.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the hold ran on"
    );
    assert_eq!(status.code(), Some(1), "{rest}");
    let line = rest
        .lines()
        .find(|l| l.starts_with("Run interrupted by SIGINT"))
        .unwrap_or_else(|| panic!("no interruption line: {rest}"));
    let cut = line
        .strip_prefix(
            "Run interrupted by SIGINT during the hold: every attempt was made, and the hold \
             was cut short after ",
        )
        .and_then(|l| l.strip_suffix(" of 30s"))
        .unwrap_or_else(|| panic!("{line}"));
    let held = common::go_duration(cut);
    assert!(
        held >= Duration::from_millis(200) && held < Duration::from_secs(20),
        "{line}"
    );
    assert!(rest.contains(&format!("Hold: {cut}, ")), "{rest}");
    assert!(!rest.contains("dialing stopped early"), "{rest}");
}

#[test]
fn limit_against_a_closed_port_says_no_connection_could_be_made_and_exits_2() {
    let out = run(&["limit", "127.0.0.1", &closed_port(), "-i", "0"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let line = out.before_verdict();
    assert!(
        line.starts_with(
            "No connection could be made, so there is no limit to measure: an attempt failed \
             (refused) before any was established, after "
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Limit: "), "{}", out.stdout);
    assert_eq!(out.final_counts().established, 0);
}

#[test]
fn limit_against_a_server_that_drops_every_connection_exits_2() {
    // Each connection is established and then closed at once: none is ever held, so there
    // is no limit to report, and CI must not read the search as a success.
    for reset in [false, true] {
        let mut server = vec!["-m", "0", "-d", "30s", "-i", "0", "--max-open", "0"];
        if reset {
            server.push("--reset");
        }
        let (_server, port) = common::start_server(&server);
        // 200 ms apart, so the first is dropped before the second is made.
        let out = run(&args!("limit 127.0.0.1 {port} -r 5 -c 10 -i 0"));
        assert_eq!(out.code, Some(2), "{out:?}");
        let cause = if reset {
            "reset by peer"
        } else {
            "closed by peer"
        };
        let line = out.before_verdict();
        assert!(
            line.starts_with(&format!(
                "No connection stayed open, so there is no limit to measure: the peer dropped \
                 the first one established ({cause}) with none other held, after 1 attempt in "
            )),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("Limit: "), "{}", out.stdout);
    }
}
