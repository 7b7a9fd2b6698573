//! `tcpgoon server --workers N`: one command, N processes on one port (SO_REUSEPORT), one
//! `listening on` line, stats lines and a final count summed over the workers; signals
//! passed on, a lost worker named, and no worker left behind.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Guard, Output, finish, run_bad_input, signal, spawn, start_server, wait_for};

/// The processes whose parent is `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The fields after the command's name, which is in parentheses: state, then ppid.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == pid {
            found.push(child);
        }
    }
    found.sort_unstable();
    found
}

/// Whether the process `pid` is gone (or a zombie no one has reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

/// The server's workers, once every one listens (the parent says `listening on` only then).
fn workers_of(server: &Guard, count: usize) -> Vec<u32> {
    let workers = children(server.0.id());
    assert_eq!(workers.len(), count, "{workers:?}");
    workers
}

/// The final counts line: the last `Accepted:` line.
fn final_counts(out: &Output) -> &str {
    out.stdout
        .lines()
        .rfind(|l| l.starts_with("Accepted: "))
        .unwrap_or_else(|| panic!("no counts in {out:?}"))
}

/// A count of a server line: `Open` in `Accepted: 5, Open: 3, Closed: 2` is 3.
fn count(line: &str, name: &str) -> u64 {
    line.split(", ")
        .find_map(|part| part.strip_prefix(&format!("{name}: ")))
        .map_or(0, |n| n.parse().unwrap())
}

/// `@<unix seconds>` this far ahead.
fn start_in(ahead: Duration) -> String {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + ahead;
    format!("@{}.{:06}", at.as_secs(), at.subsec_micros())
}

#[test]
fn three_workers_accept_what_a_run_established_and_their_counts_are_summed() {
    let started = Instant::now();
    let (server, port) = start_server(&[
        "--workers",
        "3",
        "--reuse-port",
        "-m",
        "0",
        "-d",
        "0",
        "-i",
        "100ms",
    ]);
    workers_of(&server, 3);
    let run = common::run(&[
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "90",
        "-s",
        "1ms",
        "--hold",
        "300ms",
        "-y",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let established = run.final_counts().established;
    assert_eq!(established, 90, "{run:?}");
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    let last = final_counts(&out);
    assert_eq!(count(last, "Accepted"), established, "{out:?}");
    assert_eq!(count(last, "Open") + count(last, "Closed"), established);
    assert_eq!(
        out.stdout.lines().last(),
        Some("stopping: interrupted by SIGTERM"),
        "{out:?}"
    );
    // One stats line per interval, each in the format of one server's, and the largest
    // held count among them is the run's whole.
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Accepted: "))
        .collect();
    assert!(lines.len() >= 3, "{out:?}");
    assert!(lines.iter().all(|l| l.split(", ").count() == 3), "{out:?}");
    let most_open = lines.iter().map(|l| count(l, "Open")).max().unwrap();
    assert_eq!(most_open, 90, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn m_is_the_whole_server_s_split_over_the_workers() {
    let started = Instant::now();
    let (server, port) = start_server(&["--workers", "3", "-m", "10", "-d", "20s", "-i", "0"]);
    // Connections one at a time, until the server refuses them: a worker at its share
    // closes its listener (one queued to it then is reset), and the kernel sends the next
    // ones to the others, until the last one reaches its share.
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match TcpStream::connect(format!("127.0.0.1:{port}")) {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(held.len() >= 10, "{}", held.len());
    let out = finish(server, started, Duration::from_secs(15));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "Accepted: 10, Open: 10, Closed: 0",
            "stopping: 10 connections accepted (--maxconnections 10)"
        ],
        "{out:?}"
    );
}

#[test]
fn max_open_is_the_whole_server_s_and_holds_only_about() {
    let started = Instant::now();
    let (server, port) = start_server(&[
        "--workers",
        "3",
        "-m",
        "0",
        "-d",
        "0",
        "-i",
        "0",
        "--max-open",
        "6",
    ]);
    let streams: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(format!("127.0.0.1:{port}")).unwrap())
        .collect();
    // Every one accepted: those turned away are closed by the server at once.
    std::thread::sleep(Duration::from_millis(300));
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    drop(streams);
    assert_eq!(out.code, Some(0), "{out:?}");
    let last = final_counts(&out);
    assert_eq!(count(last, "Accepted"), 60, "{out:?}");
    // Each worker holds at most its share (2 each); with 60 spread over three by the
    // kernel's hash, each gets past its share, and the whole holds the whole cap.
    let open = count(last, "Open");
    assert!(open <= 6, "{out:?}");
    assert_eq!(count(last, "Turned away"), 60 - open, "{out:?}");
    assert_eq!(count(last, "Closed"), 60 - open, "{out:?}");
    assert!(
        open >= 4,
        "the hash gave a worker fewer than 2 of 60: {out:?}"
    );
}

#[test]
fn a_signal_reaches_every_worker_and_the_sum_comes_within_a_second() {
    let started = Instant::now();
    let (server, port) = start_server(&["--workers", "3", "-m", "0", "-d", "0", "-i", "0"]);
    let workers = workers_of(&server, 3);
    let streams: Vec<TcpStream> = (0..9)
        .map(|_| TcpStream::connect(format!("127.0.0.1:{port}")).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    signal(&server, libc::SIGINT);
    let out = finish(server, started, Duration::from_secs(10));
    let took = signalled.elapsed();
    drop(streams);
    assert!(took < Duration::from_secs(1), "took {took:?}: {out:?}");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "Accepted: 9, Open: 9, Closed: 0",
            "stopping: interrupted by SIGINT"
        ],
        "{out:?}"
    );
    // The parent reaped every worker before it exited.
    for pid in workers {
        assert!(gone(pid), "worker {pid} outlived the server");
    }
}

#[test]
fn a_killed_worker_is_named_with_the_counts_it_took_and_the_exit_is_1() {
    let started = Instant::now();
    let (server, port) = start_server(&["--workers", "2", "-m", "0", "-d", "0", "-i", "50ms"]);
    let workers = workers_of(&server, 2);
    let streams: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(format!("127.0.0.1:{port}")).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: a worker of our child, alive: its parent has not reaped it.
    unsafe { libc::kill(workers[1] as i32, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(200));
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    drop(streams);
    assert_eq!(out.code, Some(1), "{out:?}");
    let named = format!("(pid {}) was killed by SIGKILL", workers[1]);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains(&named))
        .unwrap_or_else(|| panic!("no line naming the worker: {out:?}"));
    assert!(line.starts_with("tcpgoon: worker "), "{line}");
    assert!(
        line.contains("its counts are lost (last said: Accepted: "),
        "{line}"
    );
    // What the survivor accepted is the final count; with the lost one's, the 20.
    let lost = count(line.split("last said: ").nth(1).unwrap(), "Accepted");
    let last = final_counts(&out);
    assert_eq!(count(last, "Accepted") + lost, 20, "{out:?}");
    assert!(gone(workers[0]) && gone(workers[1]));
}

#[test]
fn the_parent_killed_takes_every_worker_with_it() {
    let (server, _port) = start_server(&["--workers", "3", "-m", "0", "-d", "0", "-i", "0"]);
    let workers = workers_of(&server, 3);
    signal(&server, libc::SIGKILL);
    let killed = Instant::now();
    drop(server);
    wait_for("every worker to end", || {
        workers.iter().all(|&pid| gone(pid))
    });
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "{:?}",
        killed.elapsed()
    );
}

/// The SHA-256 fingerprint of the certificate the server at `port` presents, as openssl
/// prints it (`AB:CD:…`).
fn presented_fingerprint(port: &str) -> String {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null \
                 | openssl x509 -noout -fingerprint -sha256"
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("no fingerprint: {text:?}"))
        .1
        .to_string()
}

#[test]
fn with_tls_every_worker_serves_the_one_certificate_made_at_start() {
    if !common::installed("openssl") {
        return;
    }
    let started = Instant::now();
    let (server, port) =
        start_server(&["--workers", "2", "--tls", "-m", "0", "-d", "0", "-i", "0"]);
    // Twelve connections, each to the worker the kernel's hash picks: both workers, but
    // for a chance of one in 2,048.
    let presented: std::collections::BTreeSet<String> =
        (0..12).map(|_| presented_fingerprint(&port)).collect();
    let run = common::run(&[
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "20",
        "-s",
        "1ms",
        "--tls",
        "--insecure",
        "-y",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    // One certificate, said once, by the parent, and the one every worker presents.
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("TLS certificate SHA-256"))
        .collect();
    assert_eq!(said.len(), 1, "{out:?}");
    assert_eq!(presented.len(), 1, "{presented:?}");
    let fingerprint = presented.first().unwrap();
    assert!(
        said[0].contains(fingerprint.as_str()),
        "{said:?} {fingerprint}"
    );
    let last = final_counts(&out);
    assert_eq!(count(last, "Handshakes done"), 32, "{out:?}");
    assert_eq!(count(last, "Accepted"), 32, "{out:?}");
}

#[test]
fn past_one_open_files_limit_with_two_workers_and_two_clients() {
    // 25,000 held at once, more than one process may hold here (20,000 open files).
    const HELD: u64 = 25_000;
    let started = Instant::now();
    let (server, port) = start_server(&["--workers", "2", "-m", "0", "-d", "0", "-i", "250ms"]);
    let at = start_in(Duration::from_millis(500));
    let clients: Vec<Guard> = (0..2)
        .map(|shard| {
            spawn(&[
                "run",
                "127.0.0.1",
                &port,
                "-c",
                &HELD.to_string(),
                "-s",
                "150us",
                "--hold",
                "1s",
                "-i",
                "0",
                "--shard",
                &format!("{shard}/2"),
                "--start-at",
                &at,
                "--source",
                "127.0.0.1,127.0.0.2",
                "-y",
            ])
        })
        .collect();
    for client in clients {
        let out = finish(client, started, Duration::from_secs(50));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.final_counts().established, HELD / 2, "{out:?}");
    }
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(55));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(count(final_counts(&out), "Accepted"), HELD, "{out:?}");
    let most_open = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Accepted: "))
        .map(|l| count(l, "Open"))
        .max()
        .unwrap();
    assert_eq!(most_open, HELD, "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn auto_is_one_worker_per_core_and_says_so() {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().unwrap().get();
    let (server, _port) = start_server(&["--workers", "auto", "-m", "0", "-d", "0", "-i", "0"]);
    workers_of(&server, cores);
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = if cores == 1 { "" } else { "s" };
    assert_eq!(
        out.stderr,
        format!("tcpgoon: --workers auto: {cores} worker{s} (one per core, {cores})\n")
    );
}

#[test]
fn a_port_taken_is_bad_input_said_once_before_any_worker_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run_bad_input(&["server", "-p", &port, "--workers", "3"]);
    assert!(
        out.stderr.contains("cannot listen on 127.0.0.1:"),
        "{out:?}"
    );
}

#[test]
fn bad_worker_counts_are_bad_input() {
    for args in [
        &["server", "--workers", "0"][..],
        &["server", "--workers", "many"],
        &["server", "--workers", "4", "-m", "3"],
        &["server", "--workers", "2000"],
    ] {
        run_bad_input(args);
    }
}

#[test]
fn one_metrics_endpoint_in_the_parent_has_the_workers_counts_summed() {
    use std::io::{Read, Write};
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let (server, port) = start_server(&[
        "--workers",
        "3",
        "-m",
        "0",
        "-d",
        "60s",
        "-i",
        "0",
        "--metrics",
        &metrics_addr,
    ]);
    let started = Instant::now();
    let client = spawn(&[
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "90",
        "-s",
        "1ms",
        "-i",
        "0",
        "-y",
        "--hold",
        "3s",
    ]);
    let value = |text: &str, name: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
    };
    let mut last = String::new();
    wait_for("the summed counts on the endpoint", || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", metrics)) else {
            return false;
        };
        let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        last.clear();
        let _ = stream.read_to_string(&mut last);
        value(&last, "tcpgoon_server_open") == Some(90)
    });
    assert_eq!(
        value(&last, "tcpgoon_server_accepted_total"),
        Some(90),
        "{last}"
    );
    let out = finish(client, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out:?}");
    signal(&server, libc::SIGTERM);
    let seen = finish(server, started, Duration::from_secs(30));
    assert_eq!(seen.code, Some(0), "{seen:?}");
}
