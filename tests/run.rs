//! `tcpgoon run` through the real binary, against listeners opened on ephemeral ports.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Guard, HoldingListener, args, blocks_signal, closed_port, finish, run, spawn, wait_for,
};

#[test]
fn all_established_exits_0_with_the_reference_report() {
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&["run", "127.0.0.1", &port, "-c", "20", "-s", "5ms", "-y"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0], "Total: 20, Dialing: 0, Established: 0, Closed: 0, Error: 0, NotInitiated: 20",
        "the first live line comes before any attempt"
    );
    // An address is its own name: the reference tool writes `host(ip)` only when the two
    // differ (cmdutil/userOutput.go's printClosureReport: `target := host; if host != ip
    // { target = host + "(" + ip + ")" }`, then `"---", target+":"+port, "tcp test
    // statistics", "---"`).
    let header = format!("--- 127.0.0.1:{port} tcp test statistics ---");
    let at = lines
        .iter()
        .position(|l| *l == header)
        .expect("report header");
    assert_eq!(
        lines[at + 1..at + 6],
        [
            "Total: 20, Dialing: 0, Established: 20, Closed: 0, Error: 0, NotInitiated: 0",
            "--- tcpgoon execution statistics ---",
            "Total established connections: 20",
            "Max concurrent established connections: 20",
            "Number of established connections on closure: 20",
        ]
    );
    let response = lines[at + 6];
    assert!(
        response
            .starts_with("Response time stats for 20 successful connections min/avg/max/dev = "),
        "{response}"
    );
    assert_eq!(response.matches('/').count(), 6, "{response}");
    // The reference block ends with an empty line (its report string ends in a newline and
    // is printed with `fmt.Println`); tcpgoon's own lines come after it.
    assert_eq!(lines[at + 7], "", "{}", out.stdout);
    assert_eq!(lines[at + 8], "Connect latency percentiles:");
    assert!(!out.stdout.contains("Time to error stats"));
    assert!(
        out.stdout
            .contains("Connect latency percentiles:\n  p50     ")
    );
    assert!(out.stdout.contains("\n  p99.99  "));
    assert!(
        out.stdout
            .contains("Connect latency histogram (logarithmic rows):\n")
    );
    assert_eq!(out.failures("refused"), 0);
    assert!(
        out.line("Attempt rate: ")
            .contains("200/s requested (20 attempts in ")
    );
}

#[test]
fn interval_0_prints_the_line_once_at_the_start() {
    // The reference tool's reporter prints before it looks at the interval, so with -i 0
    // its one `Total:` line comes at the start (mtcpclient/reporting.go,
    // ReportConnectionsStatus: `for { fmt.Println(gc); if intervalBetweenUpdates == 0 {
    // break } ... }`), then the final report.
    let server = HoldingListener::start();
    let port = server.port();
    let base = [
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "5",
        "-s",
        "0",
        "-i",
        "0",
        "-y",
    ];
    let out = run(&base);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Total: 5, Dialing: 0, Established: 0, Closed: 0, Error: 0, NotInitiated: 5",
            &format!("--- 127.0.0.1:{port} tcp test statistics ---"),
            "Total: 5, Dialing: 0, Established: 5, Closed: 0, Error: 0, NotInitiated: 0",
        ]
    );
    assert_eq!(out.stdout.matches("Total: ").count(), 2, "{}", out.stdout);
    // --json keeps stdout to JSON: no line, and no tick with -i 0.
    let out = run(&[&base[..], &["--json"]].concat());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("{\"type\":\"summary\""),
        "{}",
        out.stdout
    );
}

#[test]
fn an_option_given_twice_counts_with_its_last_value() {
    // The reference tool's parser (cobra's pflag) sets a flag's value each time it meets
    // it, so the last one counts and nothing is an error: `-c 5 -c 3` opens 3, `-y -y` is
    // `-y`.
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 0 -i 0 -y -c 3 -y --assume-yes"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.total, counts.established), (3, 3), "{}", out.stdout);
    // A bad value is an error wherever it stands, as with pflag.
    common::run_bad_input(&["run", "127.0.0.1", &port, "-c", "x", "-c", "3", "-y"]);
}

#[test]
fn the_run_ends_when_the_last_attempt_completes() {
    // 100 attempts 10 ms apart: the last is due at 990 ms. The reference tool takes 2.6 s.
    let server = HoldingListener::start();
    let out = run(&args!("run 127.0.0.1 {} -c 100 -s 10 -y", server.port()));
    assert_eq!(out.code, Some(0), "{out:?}");
    // The run's own time, from its first attempt's schedule to its end, leaves out the
    // process's start, which a loaded machine can make slow.
    let wall = common::go_duration(&out.line("Wall time: ")["Wall time: ".len()..]);
    assert!(
        wall >= Duration::from_millis(990) && wall < Duration::from_millis(1600),
        "ran {wall:?}"
    );
    assert!(out.elapsed >= wall, "{:?}", out.elapsed);
}

#[test]
fn a_name_is_resolved_and_shown_with_its_address() {
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&["run", "localhost", &port, "-c", "2", "-s", "0", "-y"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&format!(
        "--- localhost(127.0.0.1):{port} tcp test statistics ---"
    )));
}

#[test]
fn refused_port_exits_2_with_every_attempt_refused() {
    let port = closed_port();
    let out = run(&["run", "127.0.0.1", &port, "-c", "25", "-s", "0", "-y"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!(
        (counts.error, counts.established, counts.total),
        (25, 0, 25)
    );
    assert_eq!(out.failures("refused"), 25);
    // No attempt can take longer to fail than the whole process ran.
    let (min, max) = common::min_max(
        out.line("Time to error stats for 25 failed connections min/avg/max/dev = "),
    );
    assert!(
        min <= max && max <= out.elapsed,
        "time to error between {min:?} and {max:?}, in a run of {:?}",
        out.elapsed
    );
    assert!(!out.stdout.contains("Response time stats"));
    // The reference block ends with its empty line after the time-to-error line too.
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Time to error stats for "))
        .unwrap();
    assert_eq!(lines[at + 1..at + 3], ["", "Time to error percentiles:"]);
}

#[test]
fn dial_timeout_is_honoured_against_a_full_backlog() {
    let (_listener, port) = common::full_backlog_listener();
    let args = [
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "6",
        "-s",
        "0",
        "-t",
        "300ms",
        "-y",
    ];
    let out = run(&args);
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up());
    let timed_out = out.failures("timed out");
    assert_eq!(timed_out, counts.error, "{}", out.stdout);
    assert_eq!(counts.established + timed_out, 6, "{}", out.stdout);
    assert!(timed_out >= 4, "{}", out.stdout);
    assert!(out.stdout.contains(&format!(
        "Time to error stats for {timed_out} failed connections"
    )));
    assert!(
        out.elapsed < Duration::from_millis(1500),
        "took {:?}",
        out.elapsed
    );

    // The same, read exactly from the JSON summary: no timeout before 300 ms, and none
    // later than a loaded machine's scheduling (250 ms of slack) can explain.
    let (_listener, port) = common::full_backlog_listener();
    let out = run(&args!("run 127.0.0.1 {port} -c 6 -s 0 -t 300ms -y --json"));
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().expect("a summary")).expect("JSON");
    let errors = &summary["time_to_error_us"];
    assert!(errors["count"].as_u64().unwrap() >= 4, "{summary}");
    let (min, max) = (
        errors["min"].as_u64().unwrap(),
        errors["max"].as_u64().unwrap(),
    );
    assert!(300_000 <= min && min <= max, "{errors}");
    assert!(max < 300_000 + 250_000, "{errors}");
}

#[test]
fn dial_timeout_0_sets_no_timeout_of_its_own() {
    // The reference tool hands -t to Go's `net.DialTimeout` (tcpclient/connection.go:
    // `time.Duration(DefaultDialTimeoutInMs)*time.Millisecond`), where 0 is no timeout:
    // the kernel's SYN retries decide. Against a backlog that takes one handshake and drops
    // later SYNs, the other attempts stay dialing: none times out however long the run goes.
    let (_listener, port) = common::full_backlog_listener();
    let started = Instant::now();
    let child = spawn(&args!("run 127.0.0.1 {port} -c 3 -s 0 -t 0 -i 0 -y"));
    wait_for("signals to be taken over", || {
        common::reads_signal(child.0.id(), libc::SIGINT)
    });
    std::thread::sleep(Duration::from_millis(1200));
    common::signal(&child, libc::SIGINT);
    let out = finish(child, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{out:?}");
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}");
    assert_eq!(counts.error, 0, "{}", out.stdout);
    assert_eq!(out.failures("timed out"), 0);
    assert_eq!((counts.established, counts.dialing), (1, 2), "{counts:?}");

    // Where every attempt connects, -t 0 is just a run; `limit` takes it too.
    let server = HoldingListener::start();
    let out = run(&args!("run 127.0.0.1 {} -c 3 -s 0 -t 0 -y", server.port()));
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = run(&args!(
        "limit 127.0.0.1 {} -c 3 -t 0 --hold 0 -i 0",
        server.port()
    ));
    assert_eq!(out.code, Some(4), "{out:?}");
}

#[test]
fn a_signal_mid_run_gives_the_report_and_exit_1() {
    // SIGHUP is the terminal going away: the run ends as for the other two.
    for (signal, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let server = HoldingListener::start();
        let port = server.port();
        let started = Instant::now();
        let mut child = spawn(&["run", "127.0.0.1", &port, "-c", "100", "-s", "20ms", "-y"]);
        // The first live line is printed as the run starts, with signals already taken
        // over: from then on attempts are due every 20 ms, and 500 ms is about 25 of them.
        let first = common::first_line(&mut child);
        assert!(first.ends_with("NotInitiated: 100"), "{first}");
        std::thread::sleep(Duration::from_millis(500));
        common::signal(&child, signal);
        let signalled = Instant::now();
        let out = finish(child, started, Duration::from_secs(10));
        assert_eq!(out.code, Some(1), "{name}: {out:?}");
        let counts = out.final_counts();
        assert!(counts.adds_up(), "{name}: {counts:?}");
        assert!(
            counts.established >= 10 && counts.not_initiated >= 50,
            "{name}: {counts:?}"
        );
        let made = counts.total - counts.not_initiated;
        assert!(
            out.stdout.contains(&format!(
                "Run interrupted by {name}: dialing stopped early, after {made} of 100 attempts"
            )),
            "{}",
            out.stdout
        );
        // Uninterrupted, the schedule would run about 1.5 s more.
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "{name}: ended {:?} after the signal",
            signalled.elapsed()
        );
    }
}

#[test]
fn an_interrupt_after_every_attempt_was_made_does_not_say_dialing_stopped_early() {
    // The listener's backlog holds one handshake and its SYNs are dropped after that: the
    // other attempts are made and stay dialing until their 5 s timeout.
    let (_listener, port) = common::full_backlog_listener();
    let started = Instant::now();
    let mut child = spawn(&args!("run 127.0.0.1 {port} -c 5 -s 0 -i 20ms -y"));
    loop {
        let line = common::first_line(&mut child);
        assert!(line.starts_with("Total: 5, "), "{line:?}");
        if line.ends_with("NotInitiated: 0") {
            break;
        }
    }
    common::signal(&child, libc::SIGINT);
    let out = finish(child, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{out:?}");
    let counts = out.final_counts();
    assert_eq!(counts.not_initiated, 0, "{counts:?}");
    assert!(counts.dialing >= 1, "{counts:?}");
    assert!(
        !out.stdout.contains("dialing stopped early"),
        "{}",
        out.stdout
    );
    let expected = format!(
        "Run interrupted by SIGINT after every attempt was made; {} {} still dialing",
        counts.dialing,
        if counts.dialing == 1 { "was" } else { "were" }
    );
    assert!(out.stdout.contains(&expected), "{}", out.stdout);
}

#[test]
fn a_second_sigint_ends_the_process_at_once() {
    // The first SIGINT stops the run, which then writes its report to a stdout that is a
    // full pipe: that write blocks for as long as nobody reads, as behind a stuck pager.
    // A second SIGINT must end the process where it stands. (`--json`, so that nothing is
    // written before the report: with -i 0 the text output has a line at the start.)
    let server = HoldingListener::start();
    let (_read, write) = common::full_pipe();
    let mut child = Guard(
        Command::new(common::BIN)
            .args(["run", "127.0.0.1", &server.port(), "-c", "5", "-s", "0"])
            .args(["--hold", "60s", "-i", "0", "-y", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::null())
            .spawn()
            .expect("start tcpgoon"),
    );
    let pid = child.0.id();
    // SIGINT is blocked once the run reads signals from its descriptor.
    wait_for("signals to be taken over", || {
        common::reads_signal(pid, libc::SIGINT)
    });
    common::signal(&child, libc::SIGINT);
    wait_for("SIGINT to be unblocked after the first one", || {
        !blocks_signal(pid, libc::SIGINT)
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the first SIGINT ended the process instead of the run"
    );
    common::signal(&child, libc::SIGINT);
    wait_for("the second SIGINT to end the process", || {
        child.0.try_wait().unwrap().is_some()
    });
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

#[test]
fn a_sighup_ignored_from_the_start_stays_ignored() {
    // `nohup tcpgoon run …`: the run was asked to outlive its terminal, so a SIGHUP must
    // not end it, though the run reads its other signals from a descriptor.
    use std::os::unix::process::CommandExt;
    let server = HoldingListener::start();
    let mut command = Command::new(common::BIN);
    command
        .args(args!("run 127.0.0.1 {} -c 40 -s 10ms -y", server.port()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: signal() is async-signal-safe, as the code between fork and exec must be.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = Guard(command.spawn().expect("start tcpgoon"));
    let first = common::first_line(&mut child);
    assert!(first.ends_with("NotInitiated: 40"), "{first}");
    common::signal(&child, libc::SIGHUP);
    let out = finish(child, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stdout.contains("interrupted"), "{}", out.stdout);
    assert_eq!(out.final_counts().established, 40);
}

#[test]
fn output_nobody_reads_leaves_the_exit_status_alone() {
    // `tcpgoon run … | head -1` in a CI job: the reader is gone before the report is
    // written. The run still ends with its own status and no complaint; and a warning
    // written to a stderr whose reader is gone too is no panic (exit 101).
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let run = [
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "3",
        "-s",
        "100ms",
        "-i",
        "10ms",
        "-y",
    ];
    let mut child = spawn(&run);
    drop(child.0.stdout.take());
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    wait_for("the run to end", || child.0.try_wait().unwrap().is_some());
    assert_eq!(child.0.wait().unwrap().code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");

    let mut child = spawn(&[&run[..], &["--max-latency", "p50=1us"]].concat());
    drop(child.0.stdout.take());
    drop(child.0.stderr.take());
    wait_for("the run to end", || child.0.try_wait().unwrap().is_some());
    assert_eq!(child.0.wait().unwrap().code(), Some(3));

    // A report that cannot be written for another reason is an error, and says so.
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(common::BIN)
        .args(run)
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpgoon: cannot write the report: No space left on device (os error 28)\n"
    );
}

/// The reference tool's warning block, byte for byte (cmdutil/userOutput.go,
/// AskForUserConfirmation: `"*\t- Host: " + host`, a tab after the star), then its question.
fn warning_block(port: &str, connections: u64) -> String {
    format!(
        "****************************** WARNING ******************************\n\
         * You are going to run a TCP stress check with these arguments:\n\
         *\t- Host: 127.0.0.1\n\
         *\t- TCP Port: {port}\n\
         *\t- # of concurrent connections: {connections}\n\
         *********************************************************************\n\
         Do you want to continue? (y/N): "
    )
}

#[test]
fn the_answer_is_read_from_stdin_whatever_it_is() {
    // `echo y | tcpgoon run …` goes ahead, as with the reference tool, which reads its
    // answer from stdin with `bufio.NewReader(os.Stdin).ReadString('\n')`.
    let server = HoldingListener::start();
    let port = server.port();
    let args = ["run", "127.0.0.1", &port, "-c", "3", "-s", "0", "-i", "0"];
    let out = common::run_with_input(&args, "y\n");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stderr, warning_block(&port, 3));
    assert_eq!(out.final_counts().established, 3, "{}", out.stdout);

    // A refusal, and an answer not understood, in the reference tool's words: each is
    // printed with a newline before it (`fmt.Println("\nSorry, …")`, and CloseAbruptly's
    // `fmt.Println("\n*** Execution aborted as prompted by the user ***")`), exit 1.
    let out = common::run_with_input(&args, "maybe\nno\n");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "{}\nSorry, response not recognized. Try again, please\n\
             Do you want to continue? (y/N): \n\
             *** Execution aborted as prompted by the user ***\n",
            warning_block(&port, 3)
        )
    );
    assert_eq!(out.stdout, "", "nothing runs");
    let out = common::run_with_input(&args, "\n");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .ends_with("(y/N): \n*** Execution aborted as prompted by the user ***\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn at_the_end_of_input_without_an_answer_it_exits_1_at_once() {
    // `</dev/null`, or an answer cut short without its newline: the reference tool's
    // ReadString fails, and it prints "Response not processed" and exits 1. It never waits.
    let server = HoldingListener::start();
    let port = server.port();
    for input in ["", "y"] {
        let out = common::run_with_input(&["run", "127.0.0.1", &port, "-c", "3"], input);
        assert_eq!(out.code, Some(1), "{input:?}: {out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "{}Response not processed\n\
                 tcpgoon: no answer on standard input: pass -y (--assume-yes) to run without \
                 asking\n",
                warning_block(&port, 3)
            ),
            "{input:?}"
        );
        assert!(out.stdout.is_empty(), "{input:?}: {}", out.stdout);
        assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    }
    // With stdin closed as null is, too.
    let out = run(&["run", "127.0.0.1", &port, "-c", "3"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("Response not processed\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_input_exits_64_with_one_line() {
    let cases: &[&[&str]] = &[
        &["run", "127.0.0.1", "80", "--bogus", "-y"],
        &["run", "127.0.0.1", "80", "-c", "many", "-y"],
        &["run", "127.0.0.1", "80", "-c", "0", "-y"],
        &["run", "127.0.0.1", "80", "-s", "10 parsecs", "-y"],
        &["run", "127.0.0.1", "0", "-y"],
        &["run", "127.0.0.1", "65536", "-y"],
        &["run", "127.0.0.1", "-y"],
        &["run", "not a host", "80", "-y"],
        &["run", "two\nlines", "80", "-y"],
        &["run", "[10.0.0.7]", "80", "-y"],
        &["run", "127.0.0.1", "80", "-c", "1000000", "-y"],
        &["launch"],
    ];
    for args in cases {
        common::run_bad_input(args);
    }
}

#[test]
fn an_unresolvable_host_exits_64() {
    // In a private network namespace the resolver cannot reach any server, so the lookup
    // fails at once and no query leaves this machine.
    let probe = std::process::Command::new("unshare")
        .args(["--net", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: unshare --net is not available");
        return;
    }
    let out = std::process::Command::new("unshare")
        .args([
            "--net",
            common::BIN,
            "run",
            "no-such-host.invalid",
            "80",
            "-y",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot resolve host 'no-such-host.invalid'"),
        "{stderr}"
    );
}

#[test]
fn help_and_version() {
    let out = run(&["--help"]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("Exit status:"));
    let out = run(&["run", "--help"]);
    assert!(out.stdout.contains("-c, --connections <N>"));
    assert!(out.stdout.contains("64  bad input"));
    // The version, then the reference tool's two lines (cmd/version.go,
    // printTcpgoonVersion: `"Git Commit Hash: " + releaseInfo.githash`, then
    // `"UTC Build Time: " + releaseInfo.buildstamp`), filled in at build time.
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    for spelling in [&["--version"][..], &["-V"], &["version"]] {
        let out = run(spelling);
        assert_eq!(out.code, Some(0), "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        let [name, hash, time] = lines[..] else {
            panic!("{spelling:?}: {:?}", out.stdout);
        };
        assert_eq!(name, format!("tcpgoon {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(hash, format!("Git Commit Hash: {commit}"));
        let time = time
            .strip_prefix("UTC Build Time: ")
            .unwrap_or_else(|| panic!("{time:?}"));
        // YYYY-MM-DD HH:MM:SS
        let shape: String = time
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99 99:99:99", "{time:?}");
    }
    let out = run(&[] as &[&str]);
    assert!(out.stdout.contains("Usage:"));
    // An unknown topic gets the general help and exit 0, as the reference tool's `help`
    // (cobra's help command) answers one with the general usage and exits 0.
    let general = run(&["help"]);
    let out = run(&["help", "no-such-topic"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, general.stdout);
    assert_eq!(out.stderr, "");
}

#[test]
fn debug_prints_one_line_per_connection_event() {
    let port = closed_port();
    let out = run(&["run", "127.0.0.1", &port, "-c", "3", "-s", "0", "-y", "-d"]);
    assert_eq!(out.code, Some(2));
    let dialing = out
        .stderr
        .lines()
        .filter(|l| l.ends_with(": dialing"))
        .count();
    let refused = out
        .stderr
        .lines()
        .filter(|l| l.contains(": error (refused) after "))
        .count();
    assert_eq!((dialing, refused), (3, 3), "{}", out.stderr);
}

#[test]
fn debug_shows_the_os_error_behind_a_failure_of_cause_other() {
    // In a private network namespace, a route that prohibits 127.0.0.9 makes every
    // connect fail at once with EACCES, a cause with no name of its own.
    let out = common::in_private_net(|| {
        let route = Command::new("ip")
            .args(["route", "add", "prohibit", "127.0.0.9/32", "table", "local"])
            .status()
            .expect("run ip route");
        assert!(route.success(), "ip route add: {route}");
        run(&args!("run 127.0.0.9 9 -c 2 -s 0 -i 0 -y -d"))
    });
    let Some(out) = out else { return };
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.failures("other"), 2, "{}", out.stdout);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(": error ("))
        .collect();
    assert_eq!(errors.len(), 2, "{}", out.stderr);
    for line in errors {
        assert!(
            line.contains(": error (other: Permission denied (os error 13)) after "),
            "{line}"
        );
    }
}

/// Runs `tcpgoon` on a terminal (under `script`) with `answer` typed at the prompt.
fn answer_prompt(args: &[&str], answer: &str) -> (Option<i32>, String) {
    common::type_into(common::on_a_terminal(args, ""), answer)
}

#[test]
fn the_prompt_shows_the_warning_and_only_yes_continues() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let args = ["run", "127.0.0.1", &port, "-c", "3", "-s", "0", "-i", "0"];
    let (code, screen) = answer_prompt(&args, "y\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("* You are going to run a TCP stress check with these arguments:"));
    assert!(screen.contains("*\t- Host: 127.0.0.1\r\n"), "{screen:?}");
    assert!(
        screen.contains(&format!("*\t- TCP Port: {port}\r\n")),
        "{screen:?}"
    );
    assert!(
        screen.contains("*\t- # of concurrent connections: 3\r\n"),
        "{screen:?}"
    );
    assert!(screen.contains("Do you want to continue? (y/N): "));
    assert!(
        screen.contains("Total: 3, Dialing: 0, Established: 3"),
        "{screen}"
    );

    let (code, screen) = answer_prompt(&args, "YES\n");
    assert_eq!(code, Some(0), "{screen}");

    for declined in ["n\n", "\n", "maybe\nno\n"] {
        let (code, screen) = answer_prompt(&args, declined);
        assert_eq!(code, Some(1), "{declined:?}: {screen}");
        assert!(
            screen.contains("Execution aborted as prompted by the user"),
            "{screen}"
        );
        assert!(!screen.contains("tcp test statistics"), "{screen}");
    }
    let (_, screen) = answer_prompt(&args, "maybe\nno\n");
    assert!(
        screen.contains("Sorry, response not recognized. Try again, please"),
        "{screen}"
    );
}
