//! Past one machine: `run --shard I/N` with one `--start-at`, `tcpgoon merge`, and
//! `server --reuse-port`, through the real binary. The shards run as separate processes,
//! and in `three_hosts_make_one_run` from three network namespaces of their own, each
//! with its own address, as three machines would.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{BIN, Guard, Output, finish, run, run_bad_input, start_server};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use serde_json::Value;

/// `@<unix seconds>` this far ahead.
fn start_in(ahead: Duration) -> String {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + ahead;
    format!("@{}.{:06}", at.as_secs(), at.subsec_micros())
}

/// The summary line of a `--json` run.
fn summary(out: &Output) -> Value {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("\"type\":\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {out:?}"));
    serde_json::from_str(line).unwrap()
}

fn histogram(latency: &Value) -> Histogram<u64> {
    let encoded = latency["histogram"].as_str().expect("a histogram");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// A merged summary's timeline: there, forward in time, adding up to the merged total at
/// every sample, ending at the merged counts, its peak established at least each shard's.
fn check_merged_timeline(merged: &Value, shards: &[Value]) -> Vec<[u64; 6]> {
    let rows = common::timeline_rows(merged);
    assert!(rows.len() >= 2, "{}", merged["timeline"]);
    assert!(rows.len() <= 512, "{}", rows.len());
    let peak = rows.iter().map(|r| r[3]).max().unwrap();
    for shard in shards {
        let own = common::timeline_rows(shard)
            .iter()
            .map(|r| r[3])
            .max()
            .unwrap();
        assert!(peak >= own, "merged peak {peak} below a shard's {own}");
    }
    rows
}

/// Runs `merge` over `inputs` written to files (one file each), with `extra` arguments.
fn merge(inputs: &[&str], extra: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let files: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = std::env::temp_dir().join(format!(
                "tcpgoon-shards-{}-{n}-{i}.jsonl",
                std::process::id()
            ));
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        })
        .collect();
    let mut args = vec!["merge"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    out
}

/// Starts `command` (the binary's arguments, or a wrapper's) with piped output.
fn spawn_command(mut command: Command) -> Guard {
    Guard(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start"),
    )
}

/// The shards 0/n … n-1/n of `-c connections` against `port`, all started at once with one
/// `--start-at`, each `--json`; `wrap` turns shard i's arguments into its command.
fn shards(
    n: u64,
    host: &str,
    port: &str,
    connections: u64,
    extra: &[&str],
    wrap: impl Fn(u64, Vec<String>) -> Command,
) -> Vec<Output> {
    let start = start_in(Duration::from_millis(1500));
    let guards: Vec<Guard> = (0..n)
        .map(|i| {
            let mut args: Vec<String> = [
                "run",
                host,
                port,
                "-y",
                "-i",
                "0",
                "--json",
                "-s",
                "2ms",
                "-c",
                &connections.to_string(),
                "--shard",
                &format!("{i}/{n}"),
                "--start-at",
                &start,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(extra.iter().map(|s| s.to_string()));
            spawn_command(wrap(i, args))
        })
        .collect();
    let started = Instant::now();
    guards
        .into_iter()
        .map(|g| finish(g, started, Duration::from_secs(30)))
        .collect()
}

fn local(_: u64, args: Vec<String>) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    c
}

#[test]
fn shards_with_one_start_merge_into_the_run_one_process_would_make() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let outs = shards(3, "127.0.0.1", &port, 20, &[], local);
    let mut expected = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut origins = Vec::new();
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.code, Some(0), "{out:?}");
        let s = summary(out);
        // Shard i of 20 makes attempts i, i+3, …: 7, 7 and 6 of them.
        assert_eq!(s["counts"]["total"], [7, 7, 6][i], "{s}");
        assert_eq!(s["counts"]["established"], [7, 7, 6][i]);
        assert_eq!(s["shard"]["index"], i as u64);
        assert_eq!(s["shard"]["count"], 3);
        assert_eq!(s["options"]["connections"], 20);
        assert!(s["first_attempt_late_us"].is_u64(), "{s}");
        origins.push(s["schedule_origin_us"].as_u64().unwrap());
        expected.add(histogram(&s["connect_latency_us"])).unwrap();
    }
    assert!(origins.iter().all(|o| *o == origins[0]), "{origins:?}");
    let texts: Vec<&str> = outs.iter().map(|o| o.stdout.as_str()).collect();

    let merged = merge(&texts, &["--json"]);
    assert_eq!(merged.code, Some(0), "{merged:?}");
    let m = summary(&merged);
    assert_eq!(m["counts"]["total"], 20);
    assert_eq!(m["counts"]["established"], 20);
    assert_eq!(m["attempts"], 20);
    assert_eq!(m["exit_status"], 0);
    assert_eq!(m["merged"]["shards"], 3);
    assert_eq!(m["merged"]["missing_shards"], 0);
    assert_eq!(m["merged"]["missing_ranges"], serde_json::json!([]));
    assert!(m["merged"]["start_skew_us"].is_u64(), "{m}");
    assert_eq!(m["schedule_origin_us"].as_u64(), Some(origins[0]));
    // The merged histogram is the histogram of every shard's samples, value for value.
    let got = histogram(&m["connect_latency_us"]);
    assert_eq!(got, expected);
    assert_eq!(got.len(), 20);
    assert_eq!(
        m["connect_latency_us"]["p99"].as_u64(),
        Some(expected.value_at_quantile(0.99).clamp(
            m["connect_latency_us"]["min"].as_u64().unwrap(),
            m["connect_latency_us"]["max"].as_u64().unwrap()
        ))
    );
    // The moments add up exactly: the merged count is every shard's.
    assert_eq!(m["connect_latency_us"]["moments"]["count"], 20);
    // The counts over time: each shard's, summed on the one origin.
    let own: Vec<Value> = outs.iter().map(summary).collect();
    check_merged_timeline(&m, &own);

    // The text report is the run's, then what was merged; a stream of all three on stdin
    // is the same as three files.
    let text = merge(&texts, &[]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert_eq!(
        text.final_counts(),
        common::Counts::parse(
            "Total: 20, Dialing: 0, Established: 20, Closed: 0, Error: 0, NotInitiated: 0"
        )
    );
    assert!(
        text.stdout.contains("Merged: 3 of 3 shards"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("an upper bound"), "{}", text.stdout);
    let stream = texts.concat();
    let stdin = common::run_with_input(&["merge", "-"], &stream);
    assert_eq!(stdin.code, Some(0), "{stdin:?}");
    assert_eq!(stdin.final_counts(), text.final_counts());
    assert_eq!(
        stdin.line("Response time stats"),
        text.line("Response time stats")
    );

    // Two shards of three: the third's attempts were never made, so the run is incomplete.
    let partial = merge(&texts[..2], &[]);
    assert_eq!(partial.code, Some(1), "{partial:?}");
    assert_eq!(partial.final_counts().not_initiated, 6);
    assert!(
        partial
            .line("Missing shards: ")
            .starts_with("Missing shards: 1 of 3 (2); their 6 attempts"),
        "{}",
        partial.stdout
    );
    // In its timeline the missing shard's 6 attempts are not initiated throughout.
    let partial = merge(&texts[..2], &["--json"]);
    let p = summary(&partial);
    let rows = check_merged_timeline(&p, &own[..2]);
    assert!(rows.iter().all(|r| r[1] >= 6), "{rows:?}");
    assert_eq!(rows.last().unwrap()[3], 14, "{rows:?}");

    // A latency measure this merge does not know (one a later version adds) is merged
    // from its encoding all the same: here a copy of each shard's connect latency, nested
    // under a name no tcpgoon gives (`tls` is a measure the merge reads now).
    let with_new: Vec<String> = outs
        .iter()
        .map(|o| {
            let mut s = summary(o);
            s["quic"] = serde_json::json!({ "handshake_us": s["connect_latency_us"].clone() });
            format!("{s}\n")
        })
        .collect();
    let texts_new: Vec<&str> = with_new.iter().map(String::as_str).collect();
    let out = merge(&texts_new, &["--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let other = &summary(&out)["merged"]["other_latencies"]["quic.handshake_us"];
    assert_eq!(other["count"], 20, "{other}");
    assert_eq!(histogram(other), expected);
    let out = merge(&texts_new, &[]);
    assert!(
        out.line("Also merged, quic.handshake_us: 20 samples")
            .contains("p99"),
        "{}",
        out.stdout
    );

    // A merged summary is a whole run's: merging it again changes nothing.
    let again = merge(&[&merged.stdout], &["--json"]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(
        common::timeline_rows(&summary(&again)),
        common::timeline_rows(&m)
    );
    let again = merge(&[&merged.stdout], &[]);
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.final_counts(), text.final_counts());
    assert_eq!(
        again.line("Response time stats"),
        text.line("Response time stats")
    );
}

#[test]
fn the_merge_judges_the_run_s_gates_on_the_merged_run() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    // No connect takes under a microsecond: the gate fails on every shard, and the merge.
    let outs = shards(
        2,
        "127.0.0.1",
        &port,
        6,
        &["--max-latency", "max=1us", "--min-established", "50%"],
        local,
    );
    for out in &outs {
        assert_eq!(out.code, Some(3), "{out:?}");
    }
    let texts: Vec<&str> = outs.iter().map(|o| o.stdout.as_str()).collect();
    let merged = merge(&texts, &[]);
    assert_eq!(merged.code, Some(3), "{merged:?}");
    assert!(
        merged
            .stdout
            .contains("Threshold established >= 50% (3 of 6): passed"),
        "{}",
        merged.stdout
    );
    assert!(merged.stdout.contains("FAILED"), "{}", merged.stdout);
}

#[test]
fn summaries_of_different_runs_are_refused() {
    let (_a, port_a) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let (_b, port_b) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let one = |port: &str, shard: &str, c: &str| {
        let out = run(&[
            "run",
            "127.0.0.1",
            port,
            "-y",
            "-i",
            "0",
            "--json",
            "-s",
            "0",
            "-c",
            c,
            "--shard",
            shard,
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        out.stdout
    };
    let a0 = one(&port_a, "0/2", "4");
    let b1 = one(&port_b, "1/2", "4");
    let a1_of3 = one(&port_a, "1/3", "4");
    let a1_c6 = one(&port_a, "1/2", "6");
    for (inputs, says) in [
        (vec![&a0, &b1], "different targets"),
        (vec![&a0, &a1_of3], "different shard counts"),
        (vec![&a0, &a1_c6], "different schedules"),
        (vec![&a0, &a0], "shard 0/2 given twice"),
    ] {
        let texts: Vec<&str> = inputs.iter().map(|s| s.as_str()).collect();
        let out = merge(&texts, &[]);
        assert_eq!(out.code, Some(64), "{says}: {out:?}");
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    // Not summaries at all.
    let out = merge(&["{\"type\":\"tick\"}\n"], &[]);
    assert_eq!(out.code, Some(64), "{out:?}");
    assert!(out.stderr.contains("no summary"), "{}", out.stderr);
    let out = merge(&["not json\n"], &[]);
    assert_eq!(out.code, Some(64), "{out:?}");
    run_bad_input(&["merge"]);
    run_bad_input(&["merge", "/nonexistent/tcpgoon-summary.jsonl"]);
    run_bad_input(&["merge", "--bogus", "-"]);
}

#[test]
fn bad_shards_and_start_times_are_bad_input() {
    for shard in ["3/3", "1/0", "x/3", "1", "-1/3", "1/3/4"] {
        let out = run_bad_input(&["run", "127.0.0.1", "9", "-y", "--shard", shard]);
        assert!(out.stderr.contains("--shard"), "{shard}: {}", out.stderr);
    }
    // Five connections over six shards leave the last with none: more shards than
    // connections are refused, whatever the index.
    for shard in ["5/6", "0/6"] {
        let out = run_bad_input(&["run", "127.0.0.1", "9", "-y", "-c", "5", "--shard", shard]);
        assert!(out.stderr.contains("none to make"), "{}", out.stderr);
    }
    let out = run_bad_input(&[
        "run",
        "127.0.0.1",
        "9",
        "-y",
        "--shard",
        "0/2",
        "--min-established",
        "10",
    ]);
    assert!(out.stderr.contains("percentage"), "{}", out.stderr);
    for past in ["@1", "2020-01-01T00:00:00Z"] {
        let out = run_bad_input(&["run", "127.0.0.1", "9", "-y", "--start-at", past]);
        assert!(out.stderr.contains("in the past"), "{past}: {}", out.stderr);
    }
    for bad in ["tomorrow", "2030-01-01", "@", "2030-02-30T00:00:00Z"] {
        let out = run_bad_input(&["run", "127.0.0.1", "9", "-y", "--start-at", bad]);
        assert!(out.stderr.contains("RFC 3339"), "{bad}: {}", out.stderr);
    }
}

#[test]
fn a_run_waits_for_its_start_and_says_how_late_it_began() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let start = start_in(Duration::from_millis(700));
    let started = Instant::now();
    let out = run(&[
        "run",
        "127.0.0.1",
        &port,
        "-y",
        "-i",
        "0",
        "-c",
        "3",
        "-s",
        "1ms",
        "--start-at",
        &start,
        "--shard",
        "1/2",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    // It did not begin before its start: the start was 700ms away.
    assert!(started.elapsed() >= Duration::from_millis(600), "{out:?}");
    assert_eq!(out.final_counts().total, 1);
    assert!(
        out.line("Shard: ")
            .starts_with("Shard: 1/2, attempts 1, ... of the schedule's 3"),
        "{}",
        out.stdout
    );
    let line = out.line("Start: at ");
    assert!(line.contains("(--start-at)"), "{line}");
    assert!(
        line.contains("started ") && line.ends_with(" late"),
        "{line}"
    );
}

#[test]
fn a_signal_while_waiting_for_the_start_ends_the_run_with_nothing_attempted() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let start = start_in(Duration::from_secs(20));
    let guard = common::spawn(&[
        "run",
        "127.0.0.1",
        &port,
        "-y",
        "-i",
        "0",
        "-c",
        "5",
        "--start-at",
        &start,
    ]);
    let pid = guard.0.id();
    common::wait_for("the run to read its signals", || {
        common::reads_signal(pid, libc::SIGINT)
    });
    let started = Instant::now();
    common::signal(&guard, libc::SIGINT);
    let out = finish(guard, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{out:?}");
    let counts = out.final_counts();
    assert_eq!((counts.total, counts.not_initiated), (5, 5), "{out:?}");
    assert!(
        out.stdout.contains("Start: at ") && out.stdout.contains("no attempt was made"),
        "{}",
        out.stdout
    );
}

#[test]
fn servers_sharing_a_port_with_reuse_port_take_its_connections_between_them() {
    let (first, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--reuse-port"]);
    let (second, _) =
        common::start_server_at(&port, &["-m", "0", "-d", "30s", "-i", "0", "--reuse-port"]);
    // Without it, the port is taken.
    let refused = run(&["server", "-p", &port, "-m", "0", "-d", "1s", "-i", "0"]);
    assert_eq!(refused.code, Some(64), "{refused:?}");
    let out = run(&[
        "run",
        "127.0.0.1",
        &port,
        "-y",
        "-i",
        "0",
        "-c",
        "40",
        "-s",
        "0",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut accepted = 0;
    for server in [first, second] {
        common::signal(&server, libc::SIGTERM);
        let out = finish(server, Instant::now(), Duration::from_secs(10));
        let (taken, _) = server_counts(&out);
        // The kernel spreads them by a hash of each connection: both get some (all 40 to
        // one has odds of 2 in 2^40).
        assert!(taken > 0, "{out:?}");
        accepted += taken;
    }
    assert_eq!(accepted, 40);
}

/// `ip …` in the calling thread's network namespace; panics on failure.
fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("run ip");
    assert!(status.success(), "ip {args}: {status}");
}

/// The last `Accepted: …` line of a server's output: its counts at the stop.
fn server_counts(out: &Output) -> (u64, u64) {
    let line = out
        .stdout
        .lines()
        .rfind(|l| l.starts_with("Accepted: "))
        .unwrap_or_else(|| panic!("{out:?}"));
    let field = |name: &str| {
        line.split(", ")
            .find_map(|part| part.strip_prefix(name)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("Accepted: "), field("Turned away: "))
}

#[test]
fn three_hosts_make_one_run() {
    // This thread's namespace is the server's host; each client host is a namespace of a
    // `sleep` of its own, joined to it by a veth pair: 10.77.i.2 there, 10.77.i.1 here. The
    // server listens on 10.77.255.1, which each client reaches through its veth.
    let result = common::in_private_net(|| {
        let hosts: Vec<Guard> = (0..3)
            .map(|_| {
                let mut c = Command::new("unshare");
                c.args(["--net", "sleep", "60"]);
                Guard(c.spawn().expect("unshare --net sleep"))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        ip("addr add 10.77.255.1/32 dev lo");
        for (i, host) in hosts.iter().enumerate() {
            let pid = host.0.id();
            let ns = format!("/proc/{pid}/ns/net");
            ip(&format!(
                "link add s{i} type veth peer name c{i} netns {pid}"
            ));
            ip(&format!("addr add 10.77.{i}.1/24 dev s{i}"));
            ip(&format!("link set s{i} up"));
            let inside = |args: &str| {
                let status = Command::new("nsenter")
                    .arg(format!("--net={ns}"))
                    .arg("ip")
                    .args(args.split_whitespace())
                    .status()
                    .expect("nsenter ip");
                assert!(status.success(), "in host {i}: ip {args}");
            };
            inside("link set lo up");
            inside(&format!("addr add 10.77.{i}.2/24 dev c{i}"));
            inside(&format!("link set c{i} up"));
            inside(&format!("route add 10.77.255.1/32 via 10.77.{i}.1"));
        }
        // The server turns away every connection past 45 open, as a server at its limit
        // does: the merged report must say, count for count, what it saw.
        let (server, port) = common::start_server(&[
            "-b",
            "10.77.255.1",
            "-m",
            "0",
            "-d",
            "60s",
            "-i",
            "0",
            "--reject-after",
            "45",
            "full",
        ]);
        let pids: Vec<u32> = hosts.iter().map(|h| h.0.id()).collect();
        let outs = shards(3, "10.77.255.1", &port, 60, &[], |i, args| {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/proc/{}/ns/net", pids[i as usize]))
                .arg(BIN)
                .args(args);
            c
        });
        common::signal(&server, libc::SIGTERM);
        let seen = finish(server, Instant::now(), Duration::from_secs(10));
        (outs, seen)
    });
    let Some((outs, seen)) = result else { return };
    let (accepted, turned_away) = server_counts(&seen);
    let mut expected = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    for (i, out) in outs.iter().enumerate() {
        assert!(out.stderr.is_empty() || out.code.is_some(), "{out:?}");
        let s = summary(out);
        assert_eq!(s["counts"]["total"], 20, "shard {i}: {s}");
        expected.add(histogram(&s["connect_latency_us"])).unwrap();
    }
    let texts: Vec<&str> = outs.iter().map(|o| o.stdout.as_str()).collect();
    let merged = merge(&texts, &["--json"]);
    let m = summary(&merged);
    // Every connection the server accepted was established; those it turned away the
    // clients saw closed; the rest are held.
    assert_eq!(accepted, 60, "{seen:?}");
    assert_eq!(turned_away, 15, "{seen:?}");
    assert_eq!(m["counts"]["total"], 60, "{m}");
    assert_eq!(m["counts"]["established"], accepted - turned_away, "{m}");
    assert_eq!(m["counts"]["closed"], turned_away, "{m}");
    assert_eq!(m["counts"]["error"], 0, "{m}");
    assert_eq!(m["bytes_received"], turned_away * 4, "{m}");
    // Connections were closed by the peer: the whole run fails, and so does the merge.
    assert_eq!(merged.code, Some(2), "{merged:?}");
    assert_eq!(m["exit_status"], 2);
    let got = histogram(&m["connect_latency_us"]);
    assert_eq!(got, expected);
    assert_eq!(got.len(), 60);
    assert_eq!(m["merged"]["shards"], 3);
}

#[test]
fn tls_shards_merge_their_handshakes_and_what_was_negotiated() {
    let (_server, port) = start_server(&["--tls", "-m", "0", "-d", "30s", "-i", "0"]);
    let outs = shards(2, "127.0.0.1", &port, 20, &["--tls", "--insecure"], local);
    for out in &outs {
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    let inputs: Vec<&str> = outs.iter().map(|o| o.stdout.as_str()).collect();
    let merged = merge(&inputs, &["--json"]);
    assert_eq!(merged.code, Some(0), "{merged:?}");
    let summary: serde_json::Value =
        serde_json::from_str(merged.stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["tls_handshake_us"]["count"], 20, "{summary}");
    let negotiated = summary["tls"]["negotiated"]
        .as_array()
        .expect("tls.negotiated");
    let total: u64 = negotiated
        .iter()
        .map(|n| n["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 20, "{summary}");
    // The merged handshake histogram holds every shard's samples.
    let per_shard: Vec<serde_json::Value> = outs
        .iter()
        .map(|o| serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap())
        .collect();
    let max = per_shard
        .iter()
        .map(|s| s["tls_handshake_us"]["max"].as_u64().unwrap())
        .max();
    assert_eq!(
        summary["tls_handshake_us"]["max"].as_u64(),
        max,
        "{summary}"
    );
    // It says it was TLS, as the shards recorded it, nested keys and all.
    let tls = &per_shard[0]["options"]["tls"];
    assert!(tls["trust"].is_string() && tls["alpn"].is_array(), "{tls}");
    assert_eq!(&summary["options"]["tls"], tls, "{summary}");
    assert_eq!(summary["options"], per_shard[0]["options"], "{summary}");
    check_merged_timeline(&summary, &per_shard);
    // And the text report says it as a run's would, with nothing left as "Also merged".
    let text = merge(&inputs, &[]);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.line("Negotiated TLS 1.3 ").ends_with(": 20"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("Also merged"), "{}", text.stdout);
}
