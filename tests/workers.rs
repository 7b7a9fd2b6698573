//! `run --workers N|auto` through the real binary: N worker processes make one run, and the
//! parent's report, JSON summary, `--hdr-log` and exit status are those of the whole run.
//! Nothing is left behind: a signal reaches every worker and the report comes within a
//! second, a killed worker is named and its attempts count as not initiated, and the
//! parent killed takes its workers with it.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{Output, args, finish, run, run_bad_input, spawn, start_server};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;

fn summary(out: &Output) -> Value {
    let line = (out.stdout.lines())
        .find(|l| l.contains("\"type\":\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {out:?}"));
    serde_json::from_str(line).unwrap()
}

fn histogram(encoded: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let path = task.unwrap().path().join("children");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        found.extend(text.split_whitespace().map(|p| p.parse::<u32>().unwrap()));
    }
    found
}

/// Whether process `pid` is gone (or a zombie nobody will run again).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits until `pid` has `n` children (its workers), and returns them.
fn workers_of(pid: u32, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = children(pid);
        if found.len() == n {
            return found;
        }
        assert!(Instant::now() < deadline, "{pid} has children {found:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn three_workers_make_the_run_three_shards_make() {
    // The server turns away every connection past 45 open: the counts do not depend on
    // which process made which attempt.
    let server = [
        "-m",
        "0",
        "-d",
        "60s",
        "-i",
        "0",
        "--reject-after",
        "45",
        "full",
    ];
    let (guard, port) = start_server(&server);
    let dir = common::TempDir::new("workers-three");
    let log = dir.path("run.hlog");
    let out = run(
        &args!("run 127.0.0.1 {port} -c 90 -s 1ms -i 100ms -y --json --workers 3 --hdr-log"; log.clone()),
    );
    drop(guard);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let s = summary(&out);

    let (guard, port) = start_server(&server);
    let start = {
        let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(1);
        format!("@{}.{:06}", at.as_secs(), at.subsec_micros())
    };
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let file = dir.path(&format!("shard{i}.jsonl"));
            let guard = spawn(&args!(
                "run 127.0.0.1 {port} -c 90 -s 1ms -i 0 -y --json --shard {i}/3 --start-at {start}"
            ));
            (guard, file)
        })
        .collect();
    let started = Instant::now();
    let mut files = Vec::new();
    for (guard, file) in shards {
        let out = finish(guard, started, Duration::from_secs(30));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file);
    }
    drop(guard);
    let mut merge_args = vec!["merge".to_string(), "--json".to_string()];
    merge_args.extend(files);
    let merged = run(&merge_args);
    let m = summary(&merged);

    // The same counts, causes and exit status, and the same kind of merge.
    for key in [
        "total",
        "not_initiated",
        "dialing",
        "established",
        "closed",
        "error",
    ] {
        assert_eq!(s["counts"][key], m["counts"][key], "{key}: {s} / {m}");
    }
    assert_eq!(s["counts"]["established"], 45, "{s}");
    assert_eq!(s["counts"]["closed"], 45, "{s}");
    assert_eq!(s["closures"], m["closures"]);
    assert_eq!(s["exit_status"], m["exit_status"]);
    assert_eq!(s["merged"]["shards"], 3);
    assert_eq!(s["merged"]["present"], serde_json::json!([0, 1, 2]));
    assert_eq!(s["options"]["connections"], 90);
    // The merged histogram holds every connection, value for value as the report says.
    let connect = &s["connect_latency_us"];
    let h = histogram(connect["histogram"].as_str().unwrap());
    assert_eq!(h.len(), 90);
    assert_eq!(connect["count"], 90);
    assert!(s["connect_latency_us"]["p99"].as_u64().unwrap() > 0, "{s}");
    // The live view's log and the merge agree: the --hdr-log's intervals, written from
    // the workers' lines as they came and closed with the merge, add up to the merged
    // histogram, none counted twice.
    let bytes = std::fs::read(&log).unwrap();
    let mut total = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(i) = entry.unwrap()
            && i.tag().is_none()
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(i.encoded_histogram())
                .unwrap();
            let interval: Histogram<u64> = deserializer.deserialize(&mut raw.as_slice()).unwrap();
            total.add(interval).unwrap();
        }
    }
    assert_eq!(total.len(), 90);
    let mut merged_hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    merged_hist.add(&h).unwrap();
    assert_eq!(total, merged_hist);
}

#[test]
fn the_live_view_is_the_sum_of_the_workers() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 300 -s 2ms -i 200ms -y --json --workers 3 --hold 500ms"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let ticks: Vec<Value> = (out.stdout.lines())
        .filter(|l| l.contains("\"type\":\"tick\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(ticks.len() >= 4, "{out:?}");
    let mut last_established = 0;
    for tick in &ticks {
        let c = &tick["counts"];
        assert_eq!(c["total"], 300, "{tick}");
        let sum: u64 = ["not_initiated", "dialing", "established", "closed", "error"]
            .iter()
            .map(|k| c[k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 300, "{tick}");
        last_established = c["established"].as_u64().unwrap();
    }
    // The last ticks come during the hold, with every worker's connections up: more than
    // any one worker made.
    assert_eq!(last_established, 300, "{out:?}");
    // Each worker's own line stays between it and its parent.
    assert!(!out.stdout.contains("\"type\":\"worker\""), "{out:?}");
    let text = run(&args!(
        "run 127.0.0.1 {port} -c 60 -s 1ms -i 100ms -y --workers 2 --hold 300ms --progress lines"
    ));
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout
            .lines()
            .any(|l| l
                == "Total: 60, Dialing: 0, Established: 60, Closed: 0, Error: 0, NotInitiated: 0"),
        "{text:?}"
    );
    assert!(text.stdout.contains("Workers: 2, 2 reported"), "{text:?}");
    assert!(
        text.stdout
            .ends_with("PASS: 60 of 60 established and held\n"),
        "{text:?}"
    );
}

#[test]
fn a_killed_worker_is_named_and_its_attempts_count_as_not_initiated() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 90 -s 1ms -i 0 -y --workers 3 --hold 5s"
    ));
    let started = Instant::now();
    let parent = guard.0.id();
    let workers = workers_of(parent, 3);
    std::thread::sleep(Duration::from_millis(700));
    // The workers are started in order: the second is worker 1.
    let mut sorted = workers.clone();
    sorted.sort();
    let victim = sorted[1];
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "worker 1 (pid {victim}) was killed by SIGKILL with no report: its 30 attempts count as NotInitiated"
        )),
        "{out:?}"
    );
    assert!(
        out.stdout.lines().any(|l| l
            == "Total: 90, Dialing: 0, Established: 60, Closed: 0, Error: 0, NotInitiated: 30"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("Workers lost: 1 of 3; their 30 attempts count as NotInitiated"),
        "{out:?}"
    );
    assert!(out.stdout.contains("INCOMPLETE (exit 1)"), "{out:?}");
    assert!(workers.iter().all(|&w| gone(w)), "{workers:?}");
}

#[test]
fn sigint_reaches_every_worker_and_the_report_comes_within_a_second() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 200 -s 1ms -i 0 -y --workers 4 --hold 30s"
    ));
    let workers = workers_of(guard.0.id(), 4);
    std::thread::sleep(Duration::from_millis(800));
    common::signal(&guard, libc::SIGINT);
    let signalled = Instant::now();
    let out = finish(guard, signalled, Duration::from_secs(10));
    assert!(
        out.elapsed < Duration::from_secs(1),
        "{:?} {out:?}",
        out.elapsed
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout
            .contains("INCOMPLETE (exit 1): interrupted by SIGINT"),
        "{out:?}"
    );
    assert!(out.stdout.contains("Workers: 4, 4 reported"), "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l
            == "Total: 200, Dialing: 0, Established: 200, Closed: 0, Error: 0, NotInitiated: 0"),
        "{out:?}"
    );
    assert!(workers.iter().all(|&w| gone(w)), "{workers:?}");
}

#[test]
fn the_parent_killed_takes_every_worker_with_it() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let mut guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 60 -s 1ms -i 0 -y --workers 3 --hold 30s"
    ));
    let workers = workers_of(guard.0.id(), 3);
    std::thread::sleep(Duration::from_millis(500));
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !workers.iter().all(|&w| gone(w)) {
        assert!(Instant::now() < deadline, "workers left: {workers:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn auto_says_what_it_picked() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 40 -s 1ms -i 0 -y --workers auto"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let cores = std::thread::available_parallelism().unwrap().get();
    let line = out.line("Workers: ");
    assert!(
        line.starts_with(&format!(
            "Workers: {cores} (auto: {cores} cores; 40 connections at most "
        )),
        "{line}"
    );
    assert!(line.contains(&format!(", {cores} reported")), "{line}");
}

#[test]
fn workers_refuse_what_they_cannot_do() {
    for (line, says) in [
        (
            "run 127.0.0.1 9 -c 10 --workers 0 -y",
            "'0' is not a worker count: expected 1-1024 or auto",
        ),
        (
            "run 127.0.0.1 9 -c 10 --workers many -y",
            "'many' is not a worker count",
        ),
        (
            "run 127.0.0.1 9 -c 3 --workers 4 -y",
            "--workers 4: 4 workers of 3 connections leave some with none to make; use at most 3",
        ),
        (
            "run 127.0.0.1 9 -c 10 --workers 2 --shard 0/2 -y",
            "--workers with --shard",
        ),
        ("limit 127.0.0.1 9 --workers 2", "--workers"),
    ] {
        let out = run_bad_input(&line.split(' ').collect::<Vec<_>>());
        assert!(out.stderr.contains(says), "{line}: {out:?}");
    }
}

/// The body of `GET /metrics` on 127.0.0.1:`port`, once it answers.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut text = String::new();
            if stream.read_to_string(&mut text).is_ok() && text.starts_with("HTTP/1.1 200 ") {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "no answer on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn series(text: &str, name: &str) -> u64 {
    let line = (text.lines())
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
}

#[test]
fn one_metrics_endpoint_in_the_parent_has_the_workers_sums() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let metrics = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 90 -s 1ms -i 100ms -y --workers 3 --hold 3s --json --metrics 127.0.0.1:{metrics} --metrics-linger 10s"
    ));
    let started = Instant::now();
    let established =
        format!("tcpgoon_connections{{target=\"127.0.0.1:{port}\",state=\"established\"}}");
    // During the hold, every worker's connections in the one scrape.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(metrics);
        if series(&text, &established) == 90 {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Lingering, the counters are the merged summary's.
    std::thread::sleep(Duration::from_millis(3500));
    let text = scrape(metrics);
    let attempts = format!("tcpgoon_attempts_total{{target=\"127.0.0.1:{port}\"}}");
    assert_eq!(series(&text, &attempts), 90, "{text}");
    assert_eq!(series(&text, &established), 90, "{text}");
    common::signal(&guard, libc::SIGTERM);
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(summary(&out)["counts"]["established"], 90);
}

#[test]
fn sixty_thousand_held_by_four_workers_against_a_server_of_four_past_one_open_files_limit() {
    // Each side is one command; each process holds 15,000, under the 20,000 open files one
    // process may have here, and the 60,000 go over six source addresses (a /29), split
    // among the workers, under the 28,232 ports of one (source, target) pair.
    let (server, port) = start_server(&[
        "--workers",
        "4",
        "--reuse-port",
        "-m",
        "0",
        "-d",
        "120s",
        "-i",
        "0",
        "--backlog",
        "4096",
    ]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 60000 -s 50us -i 0 -y --workers 4 --source 127.0.1.0/29 --hold 1s --json"
    ));
    let s = summary(&out);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(s["counts"]["established"], 60000, "{s}");
    assert_eq!(s["hold"]["min_established"], 60000, "{s}");
    assert_eq!(s["merged"]["present"], serde_json::json!([0, 1, 2, 3]));
    common::signal(&server, libc::SIGTERM);
    let seen = finish(server, Instant::now(), Duration::from_secs(20));
    assert!(
        seen.stdout
            .lines()
            .any(|l| l.starts_with("Accepted: 60000,")),
        "{seen:?}"
    );
}

#[test]
fn with_every_worker_killed_the_run_says_so_and_exits_1() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -i 0 -y --workers 2 --hold 5s"
    ));
    let started = Instant::now();
    let workers = workers_of(guard.0.id(), 2);
    std::thread::sleep(Duration::from_millis(500));
    for &w in &workers {
        unsafe { libc::kill(w as i32, libc::SIGKILL) };
    }
    let out = finish(guard, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(1), "{out:?}");
    for &w in &workers {
        assert!(
            out.stderr
                .contains(&format!("(pid {w}) was killed by SIGKILL with no report")),
            "{out:?}"
        );
    }
    assert!(
        out.stderr
            .contains("no worker reported: the run has no report"),
        "{out:?}"
    );
    assert!(!out.stdout.contains("PASS"), "{out:?}");
}
