//! `tcpgoon merge` and `tcpgoon plot` against files they did not write, through the real
//! binary: summaries of real runs edited to contradict themselves, endless input
//! (`/dev/zero`), and a FIFO nobody writes to. Each is refused quickly, with exit 64 and
//! one line naming the file and line, and the two commands refuse the same things.

mod common;

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Guard, Output, finish, run, start_server};
use serde_json::{Value, json};

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpgoon-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary with `stdin` as its standard input, killed after `limit`.
fn run_within(args: &[&str], stdin: Stdio, limit: Duration) -> Output {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpgoon");
    finish(Guard(child), started, limit)
}

/// Exit 64 and one line on stderr, `tcpgoon: ` first, nothing on stdout, no internal
/// names; returns the line.
fn refused(what: &str, out: &Output) -> String {
    assert_eq!(out.code, Some(64), "{what}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{what}: {}", out.stderr);
    assert!(
        out.stderr.starts_with("tcpgoon: "),
        "{what}: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
    for internal in [
        "panicked",
        "IoError",
        "Custom {",
        "InvalidCookie",
        "kind:",
        "u64",
        "Some(",
    ] {
        assert!(
            !out.stderr.contains(internal),
            "{what}: says {internal}: {}",
            out.stderr
        );
    }
    out.stderr.trim_end().to_string()
}

/// The summary line of a `--json` run's output.
fn summary_of(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .find(|l| l.contains("\"type\":\"summary\""))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    serde_json::from_str(line).unwrap()
}

/// Writes `summary` as the one line of `path`.
fn write_summary(path: &Path, summary: &Value) {
    std::fs::write(path, format!("{summary}\n")).unwrap();
}

/// A real shard's summary: 20 connections held by the built-in server, with a timeline.
fn real_summary() -> Value {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let out = run(&[
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "20",
        "-s",
        "1ms",
        "-y",
        "-i",
        "0",
        "--json",
        "--shard",
        "0/1",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    summary_of(&out.stdout)
}

#[test]
fn contradictions_are_refused_by_merge_and_plot_alike() {
    let dir = scratch("contradictions");
    let good = real_summary();
    let svg = dir.join("out.svg");
    let svg = svg.to_str().unwrap();
    // The real summary itself merges and plots.
    let path = dir.join("good.jsonl");
    write_summary(&path, &good);
    let merged = run(&["merge", path.to_str().unwrap()]);
    assert_eq!(merged.code, Some(0), "{merged:?}");
    let plotted = run(&["plot", path.to_str().unwrap(), "-o", svg]);
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let _ = std::fs::remove_file(svg);

    let total = good["counts"]["total"].as_u64().unwrap();
    let samples = good["timeline"]["samples"].as_array().unwrap().clone();
    assert!(samples.len() >= 3, "{}", good["timeline"]);
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "back_in_time",
            Box::new(|s| {
                let samples = s["timeline"]["samples"].as_array_mut().unwrap();
                let (a, b) = (samples[0][0].clone(), samples[1][0].clone());
                samples[0][0] = b;
                samples[1][0] = a;
            }),
            "back in time",
        ),
        (
            "null_histogram",
            Box::new(|s| s["connect_latency_us"]["histogram"] = Value::Null),
            "histogram",
        ),
        (
            "bad_histogram",
            Box::new(|s| s["connect_latency_us"]["histogram"] = json!("AAAAAAAA")),
            "not an HdrHistogram",
        ),
        (
            "established_past_total",
            Box::new(move |s| {
                s["counts"]["established"] = json!(total + 1);
            }),
            "more than",
        ),
        (
            "outcomes_do_not_add_up",
            Box::new(|s| s["counts"]["error"] = json!(1)),
            "add up",
        ),
        (
            "huge_total",
            Box::new(|s| {
                let huge = u64::MAX - 5;
                s["counts"]["total"] = json!(huge);
                s["counts"]["not_initiated"] = json!(huge - 20);
            }),
            "4294967296",
        ),
        (
            "too_many_samples",
            Box::new(|s| {
                let samples = s["timeline"]["samples"].as_array_mut().unwrap();
                let last = samples.last().unwrap().clone();
                let end = last[0].as_u64().unwrap();
                for k in 1..=600 {
                    let mut more = last.clone();
                    more[0] = json!(end + k);
                    samples.push(more);
                }
            }),
            "512",
        ),
        (
            "negative",
            Box::new(|s| s["counts"]["established"] = json!(-1)),
            "-1",
        ),
        (
            "ends_elsewhere",
            Box::new(|s| {
                let samples = s["timeline"]["samples"].as_array_mut().unwrap();
                let last = samples.len() - 1;
                samples[last][3] = json!(0);
                samples[last][1] = json!(20);
            }),
            "timeline",
        ),
    ];
    for (name, edit, says) in cases {
        let mut summary = good.clone();
        edit(&mut summary);
        let path = dir.join(format!("{name}.jsonl"));
        write_summary(&path, &summary);
        let file = path.to_str().unwrap();
        let merge = refused(&format!("merge {name}"), &run(&["merge", file]));
        let plot = refused(&format!("plot {name}"), &run(&["plot", file, "-o", svg]));
        for (command, line) in [("merge", &merge), ("plot", &plot)] {
            assert!(
                line.contains(&format!("{name}.jsonl:1")),
                "{command} {name}: names no file and line: {line}"
            );
            assert!(line.contains(says), "{command} {name}: {line}");
        }
        assert!(!Path::new(svg).exists(), "plot {name} drew it");
    }
    // -1 is said in words: what was found, and what was expected.
    let mut negative = good.clone();
    negative["counts"]["established"] = json!(-1);
    let path = dir.join("negative.jsonl");
    write_summary(&path, &negative);
    let line = refused("merge -1", &run(&["merge", path.to_str().unwrap()]));
    assert!(line.contains("counts.established"), "{line}");
    assert!(line.contains("whole number"), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_limit_summary_is_named_as_one() {
    let dir = scratch("limit");
    let (_stuck, stuck) = start_server(&[
        "-m",
        "0",
        "-d",
        "20s",
        "-i",
        "0",
        "--no-accept",
        "--backlog",
        "16",
    ]);
    let out = run(&[
        "limit",
        "127.0.0.1",
        &stuck,
        "-c",
        "1000",
        "-r",
        "1000",
        "-t",
        "300ms",
        "-i",
        "0",
        "--json",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let path = dir.join("limit.jsonl");
    std::fs::write(&path, &out.stdout).unwrap();
    let line = refused("merge limit", &run(&["merge", path.to_str().unwrap()]));
    assert!(line.contains("tcpgoon limit"), "{line}");
    assert!(!line.contains("sleep_us"), "{line}");
    // plot draws it.
    let svg = dir.join("limit.svg");
    let plotted = run(&["plot", path.to_str().unwrap(), "-o", svg.to_str().unwrap()]);
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn endless_input_ends_with_one_line() {
    let dir = scratch("endless");
    let svg = dir.join("out.svg");
    let svg = svg.to_str().unwrap();
    let limit = Duration::from_secs(20);
    let null = || Stdio::null();
    let zero = || Stdio::from(File::open("/dev/zero").unwrap());
    for (args, stdin) in [
        (vec!["merge", "/dev/zero"], null()),
        (vec!["plot", "/dev/zero", "-o", svg], null()),
        (vec!["merge", "-"], zero()),
        (vec!["plot", "-", "-o", svg], zero()),
    ] {
        let line = refused(&format!("{args:?}"), &run_within(&args, stdin, limit));
        assert!(line.contains("16 MiB"), "{args:?}: {line}");
    }
    // Many short lines, past the size of anything tcpgoon writes: a file of 256 MiB, read
    // from stdin (a pipe, fed by `yes`).
    for args in [vec!["merge", "-"], vec!["plot", "-", "-o", svg]] {
        let mut yes = Command::new("yes")
            .arg(format!("{{\"pad\":\"{}\"}}", "x".repeat(4096)))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = Stdio::from(yes.stdout.take().unwrap());
        let out = run_within(&args, stdin, Duration::from_secs(60));
        let _ = yes.kill();
        let _ = yes.wait();
        let line = refused(&format!("{args:?} <yes"), &out);
        // plot refuses the first line, a JSON object without a type; merge skips it, and
        // reads on to the bound.
        if args[0] == "merge" {
            assert!(line.contains("256 MiB"), "{line}");
        }
    }
    assert!(!Path::new(svg).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_without_a_writer_is_refused_at_once() {
    let dir = scratch("fifo");
    let fifo = dir.join("in.fifo");
    let name = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let fifo = fifo.to_str().unwrap();
    let svg = dir.join("out.svg");
    let limit = Duration::from_secs(10);
    for args in [
        vec!["merge", fifo],
        vec!["plot", fifo, "-o", svg.to_str().unwrap()],
    ] {
        let line = refused(
            &format!("{args:?}"),
            &run_within(&args, Stdio::null(), limit),
        );
        assert!(line.contains("FIFO"), "{args:?}: {line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_help_states_the_bounds() {
    for command in ["merge", "plot"] {
        let out = run(&[command, "--help"]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("16 MiB"), "{command}: {}", out.stdout);
        assert!(out.stdout.contains("256 MiB"), "{command}: {}", out.stdout);
    }
}

#[test]
fn a_reconnect_run_s_growing_timeline_is_no_contradiction() {
    // Replacements join the total as they are made: each sample adds up to the total so
    // far, and the last to the summary's counts. plot and merge take it; a sample that
    // adds up to less than the one before is still refused.
    let (_server, port) =
        start_server(&["-m", "0", "-d", "30s", "-i", "0", "--close-after", "100ms"]);
    let out = run(&[
        "run",
        "127.0.0.1",
        &port,
        "-c",
        "5",
        "-s",
        "10ms",
        "-y",
        "-i",
        "100ms",
        "--json",
        "--reconnect",
        "--hold",
        "1s",
    ]);
    let summary = summary_of(&out.stdout);
    assert!(summary["reconnects"].as_u64().unwrap() > 5, "{summary}");
    let dir = scratch("reconnect");
    let (file, svg) = (dir.join("reconnect.jsonl"), dir.join("reconnect.svg"));
    write_summary(&file, &summary);
    let path = file.to_str().unwrap();
    let plot = run(&["plot", path, "-o", svg.to_str().unwrap()]);
    assert_eq!(plot.code, Some(0), "{plot:?}");
    let merge = run(&["merge", path]);
    assert_eq!(merge.code, Some(2), "{merge:?}");
    assert!(merge.stdout.contains("FAIL (exit 2)"), "{}", merge.stdout);

    let mut shrinking = summary.clone();
    let samples = shrinking["timeline"]["samples"].as_array_mut().unwrap();
    let last = samples.len() - 2;
    // One sample's closed count lowered below the one before: the total so far shrinks.
    let closed = shrinking["timeline"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "closed")
        .unwrap();
    let row = shrinking["timeline"]["samples"][last]
        .as_array_mut()
        .unwrap();
    row[closed] = serde_json::json!(0);
    write_summary(&file, &shrinking);
    let said = refused(
        "a shrinking timeline",
        &run(&["plot", path, "-o", svg.to_str().unwrap()]),
    );
    assert!(said.contains("timeline does not add up"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
