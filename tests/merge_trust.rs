//! `tcpgoon merge` does not trust what its shards' summaries say about each other: a shard
//! count is bounded by the run's connections, missing shards are a count and a few ranges
//! whatever their number, every sum is checked, each shard's counts are its share of the
//! schedule, and shards that ran with different probes, TLS settings or gates are not one
//! run. The summaries are real shards' `--json` output, edited as a hostile or broken file
//! would have them, merged through the real binary.

mod common;

use std::time::{Duration, Instant};

use common::{Output, finish, run, run_bad_input, spawn, start_server};
use serde_json::{Value, json};

/// One shard of `-c connections`, `--json`, against a fresh built-in server, with `extra`
/// arguments; its summary.
fn shard(port: &str, shard: &str, connections: u64, extra: &[&str]) -> Value {
    let c = connections.to_string();
    let mut args = vec![
        "run",
        "127.0.0.1",
        port,
        "-y",
        "-i",
        "0",
        "-s",
        "0",
        "--json",
        "-c",
        &c,
        "--shard",
        shard,
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("\"type\":\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {out:?}"));
    serde_json::from_str(line).unwrap()
}

/// Runs `merge` (with `extra` arguments) over the summaries, one file each, within 20 s.
fn merge(summaries: &[Value], extra: &[&str]) -> (Output, Vec<String>) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let files: Vec<String> = summaries
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = std::env::temp_dir().join(format!(
                "tcpgoon-merge-trust-{}-{n}-{i}.jsonl",
                std::process::id()
            ));
            std::fs::write(&path, format!("{s}\n")).unwrap();
            path.display().to_string()
        })
        .collect();
    let mut args = vec!["merge"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(String::as_str));
    let started = Instant::now();
    let out = finish(spawn(&args), started, Duration::from_secs(20));
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    (out, files)
}

/// Checks a merge was refused as bad input: exit 64, one line naming `says`, no report.
fn refused(out: &Output, says: &[&str]) {
    assert_eq!(out.code, Some(64), "{says:?}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("tcpgoon: merge: "), "{}", out.stderr);
    for s in says {
        assert!(out.stderr.contains(s), "{s:?} not in {}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn a_shard_count_above_the_connections_is_bad_input() {
    // Shard 1 of 2^64-1 had one attempt to make, and ran; now none of these runs.
    for (c, shard) in [("10", "1/18446744073709551615"), ("5", "0/6"), ("5", "5/6")] {
        let out = run_bad_input(&["run", "127.0.0.1", "9", "-y", "-c", c, "--shard", shard]);
        assert!(
            out.stderr.contains(&format!("--shard {shard}")),
            "{shard}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("at most {c} shards")),
            "{shard}: {}",
            out.stderr
        );
    }
}

#[test]
fn missing_shards_are_a_count_and_a_few_ranges_whatever_their_number() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    // One attempt: shard 1 of 2 of -c 2.
    let one = shard(&port, "1/2", 2, &[]);
    assert_eq!(one["counts"]["total"], 1, "{one}");

    // Said to be shard 1 of 2^64-1 of a run of 2^64-1 connections: its share is one
    // attempt, as it holds. The merge ends at once, with a line of bounded length.
    let mut huge = one.clone();
    huge["shard"]["count"] = json!(u64::MAX);
    huge["options"]["connections"] = json!(u64::MAX);
    let started = Instant::now();
    let (out, _) = merge(std::slice::from_ref(&huge), &[]);
    assert!(started.elapsed() < Duration::from_secs(10), "{out:?}");
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.line("Missing shards: ");
    assert!(
        line.starts_with(
            "Missing shards: 18446744073709551614 of 18446744073709551615 \
             (0, 2-18446744073709551614)"
        ),
        "{line}"
    );
    assert!(line.len() < 200, "{line}");
    let (out, _) = merge(&[huge], &["--json"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let m: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let merged = &m["merged"];
    assert_eq!(merged["missing_shards"], json!(u64::MAX - 1), "{merged}");
    assert_eq!(
        merged["missing_ranges"],
        json!([[0, 0], [2, u64::MAX - 1]]),
        "{merged}"
    );
    assert_eq!(merged["missing_ranges_more"], 0, "{merged}");
    assert_eq!(merged["missing_attempts"], json!(u64::MAX - 1), "{merged}");

    // Shards 1, 3, …, 39 of 1000 (one attempt each): 21 gaps, of which 8 are printed.
    let odd: Vec<Value> = (0..20)
        .map(|k| {
            let mut s = one.clone();
            s["shard"] = json!({"index": 2 * k + 1, "count": 1000});
            s["options"]["connections"] = json!(1000);
            s
        })
        .collect();
    let (out, _) = merge(&odd, &[]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.line("Missing shards: ");
    assert!(
        line.starts_with(
            "Missing shards: 980 of 1000 (0, 2, 4, 6, 8, 10, 12, 14, … and 13 more ranges)"
        ),
        "{line}"
    );
    assert!(line.contains("980 attempts"), "{line}");
    let (out, _) = merge(&odd, &["--json"]);
    let m: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let merged = &m["merged"];
    assert_eq!(merged["missing_shards"], 980, "{merged}");
    assert_eq!(merged["missing_ranges"].as_array().unwrap().len(), 8);
    assert_eq!(merged["missing_ranges_more"], 13, "{merged}");
    assert_eq!(m["counts"]["total"], 1000, "{m}");

    // A shard count above the run's connections is no run's.
    let mut over = one.clone();
    over["shard"]["count"] = json!(3);
    let (out, _) = merge(&[over], &[]);
    refused(&out, &["shard 1/3", "3 shards", "2 connections"]);
}

#[test]
fn every_shard_is_its_share_of_the_schedule_and_every_sum_is_checked() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let a = shard(&port, "0/2", 20, &[]);
    let b = shard(&port, "1/2", 20, &[]);
    let (out, _) = merge(&[a.clone(), b.clone()], &[]);
    assert_eq!(out.code, Some(0), "{out:?}");

    // A total of 2^64-6 that adds up: it wrapped a 20-connection run into `Total: 4`, PASS.
    let mut huge = b.clone();
    huge["counts"]["total"] = json!(u64::MAX - 5);
    huge["counts"]["not_initiated"] = json!(u64::MAX - 15);
    huge["timeline"] = Value::Null;
    // The file's own reader refuses it first: no run has that many connections.
    let (out, files) = merge(&[a.clone(), huge], &[]);
    refused(&out, &[&files[1], "18446744073709551610", "2^32"]);

    // One attempt too many, all counted.
    let mut more = b.clone();
    more["counts"]["total"] = json!(11);
    more["counts"]["not_initiated"] = json!(1);
    more["timeline"] = Value::Null;
    let (out, files) = merge(&[a.clone(), more], &[]);
    refused(&out, &["shard 1/2", &files[1], "11", "share"]);

    // Counts that add up to the total only by wrapping around.
    let mut wraps = b.clone();
    wraps["counts"]["not_initiated"] = json!(u64::MAX);
    wraps["counts"]["closed"] = json!(1);
    wraps["timeline"] = Value::Null;
    let (out, files) = merge(&[a.clone(), wraps], &[]);
    refused(&out, &[&files[1], "is more than counts.total"]);

    // Replacements (--reconnect) join a shard's total on top of its share.
    let (_closing, closing) =
        start_server(&["-m", "0", "-d", "60s", "-i", "0", "--close-after", "100ms"]);
    let hold = ["--reconnect", "--hold", "500ms"];
    let (r0, r1) = (
        shard(&closing, "0/2", 6, &hold),
        shard(&closing, "1/2", 6, &hold),
    );
    // Their timelines are read too: a sample adds up to the total so far, which the
    // replacements grow.
    assert!(
        r0["timeline"]["samples"]
            .as_array()
            .is_some_and(|s| s.len() > 2)
    );
    let reconnects = r0["reconnects"].as_u64().unwrap() + r1["reconnects"].as_u64().unwrap();
    assert!(reconnects > 0, "{r0}");
    let (out, _) = merge(std::slice::from_ref(&r0), &["--json"]);
    assert_ne!(out.code, Some(64), "{out:?}");
    let m: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        m["counts"]["total"].as_u64(),
        Some(6 + r0["reconnects"].as_u64().unwrap()),
        "{m}"
    );
    assert_eq!(m["merged"]["missing_attempts"], 3, "{m}");
    let (out, _) = merge(&[r0, r1], &["--json"]);
    assert_ne!(out.code, Some(64), "{out:?}");
    let m: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(m["counts"]["total"].as_u64(), Some(6 + reconnects), "{m}");

    // Replacements that the total does not count.
    let mut replaced = b.clone();
    replaced["reconnects"] = json!(5);
    let (out, files) = merge(&[a.clone(), replaced], &[]);
    refused(
        &out,
        &["shard 1/2", &files[1], "replacements (--reconnect)"],
    );

    // Sums past 2^64-1 are refused, each naming what overflowed (a count of connections,
    // such as a failure's, is bounded by its own file's total first).
    for (key, path) in [
        ("bytes_received", vec!["bytes_received"]),
        ("syn_retransmitted", vec!["syn_retransmitted"]),
    ] {
        let (mut x, mut y) = (a.clone(), b.clone());
        for s in [&mut x, &mut y] {
            let mut slot = &mut *s;
            for p in &path {
                slot = &mut slot[*p];
            }
            *slot = json!(u64::MAX / 2 + 1);
        }
        let (out, _) = merge(&[x, y], &[]);
        refused(&out, &[key, "2^64"]);
    }
}

#[test]
fn shards_with_different_probes_tls_or_gates_are_different_runs() {
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"]);
    let plain = shard(&port, "0/2", 4, &[]);
    let plain1 = shard(&port, "1/2", 4, &[]);
    let gated = shard(&port, "1/2", 4, &["--min-established", "50%"]);
    let latency = shard(&port, "1/2", 4, &["--max-latency", "max=10s"]);
    let probed = shard(&port, "1/2", 4, &["--send", "hi", "--expect", "hi"]);
    let beating = shard(
        &port,
        "0/2",
        4,
        &["--send", "hi", "--expect", "hi", "--heartbeat", "100ms"],
    );
    for (other, says) in [
        (&gated, ["different gates", "--min-established", "50%"]),
        (&latency, ["different gates", "--max-latency", "max=10s"]),
        (&probed, ["different probes", "--probe", "custom"]),
    ] {
        let (out, _) = merge(&[plain.clone(), other.clone()], &[]);
        refused(&out, &says);
        assert!(out.stderr.contains("shard 0/2"), "{}", out.stderr);
        assert!(out.stderr.contains("shard 1/2"), "{}", out.stderr);
    }
    // A shard that beat and one that did not.
    let (out, _) = merge(&[beating, probed.clone()], &[]);
    refused(
        &out,
        &["different heartbeats", "shard 0/2", "with --heartbeat"],
    );

    // The gates of every shard are compared, not only the first's: here the first has
    // them and the second not.
    let mut gated0 = gated.clone();
    gated0["shard"]["index"] = json!(0);
    let (out, _) = merge(&[gated0, plain1.clone()], &[]);
    refused(&out, &["different gates"]);

    // TLS settings, as the summaries recorded them.
    let tls = json!({"sni": null, "trust": "insecure", "versions": "1.2,1.3", "alpn": [],
                     "timeout_us": 5_000_000});
    let mut a = plain.clone();
    let mut b = plain1.clone();
    a["options"]["tls"] = tls.clone();
    let (out, _) = merge(&[a.clone(), b.clone()], &[]);
    refused(&out, &["different TLS settings", "--tls"]);
    b["options"]["tls"] = tls.clone();
    b["options"]["tls"]["alpn"] = json!(["h2"]);
    let (out, _) = merge(&[a.clone(), b.clone()], &[]);
    refused(&out, &["different TLS settings", "h2"]);
    // One CA file, at its own path on each machine, is one setting.
    a["options"]["tls"]["trust"] = json!("/etc/a/ca.pem");
    b["options"]["tls"] = tls;
    b["options"]["tls"]["trust"] = json!("/home/b/ca.pem");
    let (out, _) = merge(&[a.clone(), b.clone()], &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    b["options"]["tls"]["trust"] = json!("system");
    let (out, _) = merge(&[a, b], &[]);
    refused(&out, &["different TLS settings", "system"]);

    // The same gates, given in another order, are the same gates.
    let ab = shard(
        &port,
        "0/2",
        4,
        &["--max-latency", "max=10s", "--max-latency", "p99=9s"],
    );
    let ba = shard(
        &port,
        "1/2",
        4,
        &["--max-latency", "p99=9s", "--max-latency", "max=10s"],
    );
    let (out, _) = merge(&[ab, ba], &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
}
