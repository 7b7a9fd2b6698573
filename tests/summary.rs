//! `--summary <FILE>`: the JSON summary in a file, the human report on stdout, for run and
//! limit; a path that cannot be written is bad input before any connection.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;

use common::{HoldingListener, args, closed_port, run, start_server};
use serde_json::Value;

/// A fresh path in a directory of the test's own.
fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpgoon-summary-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("summary.json")
}

fn read_summary(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("the summary file");
    assert_eq!(text.lines().count(), 1, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn run_writes_the_summary_to_the_file_and_the_report_to_stdout() {
    let port = closed_port();
    let path = temp_path("run");
    // Whatever the file held before is replaced.
    std::fs::write(&path, "x".repeat(100_000)).unwrap();
    let out =
        run(&args!("run 127.0.0.1 {port} -c 4 -s 0 -i 0 -y --summary"; path.to_str().unwrap()));
    assert_eq!(out.code, Some(2), "{out:?}");
    // The human report, as without --summary.
    assert_eq!(out.final_counts().error, 4);
    assert_eq!(out.verdict(), "FAIL (exit 2): 4 refused");
    let summary = read_summary(&path);
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["counts"]["error"], 4);
    assert_eq!(summary["failures"]["refused"], 4);
    assert_eq!(summary["verdict"], out.verdict());
    assert_eq!(summary["exit_status"], 2);
}

#[test]
fn with_json_the_file_holds_the_summary_stdout_ends_with() {
    let server = HoldingListener::start();
    let port = server.port();
    let path = temp_path("json");
    let out = run(
        &args!("run 127.0.0.1 {port} -c 3 -s 0 -i 0 -y --json --summary"; path.to_str().unwrap()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(out.stdout.lines().last(), file.lines().next(), "{file}");
    assert_eq!(
        read_summary(&path)["verdict"],
        "PASS: 3 of 3 established and held"
    );
}

#[test]
fn limit_writes_its_summary_with_the_finding() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "10"]);
    let path = temp_path("limit");
    let out =
        run(&args!("limit 127.0.0.1 {port} -r 500 -c 50 -i 0 --summary"; path.to_str().unwrap()));
    assert_eq!(out.code, Some(0), "{out:?}");
    let summary = read_summary(&path);
    assert_eq!(summary["limit"]["finding"], "found");
    assert_eq!(summary["limit"]["held"], 10);
    assert_eq!(summary["limit"]["text"], out.before_verdict());
    assert_eq!(summary["verdict"], out.verdict());
    assert_eq!(summary["exit_status"], 0);
    let counts = &summary["counts"];
    let sum: u64 = ["not_initiated", "dialing", "established", "closed", "error"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap())
        .sum();
    assert_eq!(counts["total"].as_u64(), Some(sum), "{counts}");
}

#[test]
fn limit_with_json_and_summary_writes_the_same_summary_to_both() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "10"]);
    let path = temp_path("limit-json");
    let out = run(
        &args!("limit 127.0.0.1 {port} -r 500 -c 50 -i 0 --json --summary"; path.to_str().unwrap()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(out.stdout.lines().last(), file.lines().next(), "{file}");
    let summary = read_summary(&path);
    let limit = &summary["limit"];
    assert_eq!(limit["finding"], "found");
    assert_eq!(limit["held"], 10);
    // The first loss: the eleventh connection, closed by the server at once.
    assert_eq!(limit["held_at_loss"], 10, "{limit}");
    assert!(
        limit["attempts"].as_u64().is_some_and(|a| a >= 11),
        "{limit}"
    );
    assert!(limit["loss_us"].as_u64().is_some(), "{limit}");
    assert!(limit["cause"].is_string(), "{limit}");
    assert!(
        summary["verdict"].as_str().unwrap().starts_with("FOUND"),
        "{summary}"
    );
}

#[test]
fn a_summary_that_cannot_be_written_is_bad_input_before_any_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = temp_path("bad");
    let dir = dir.parent().unwrap();
    let missing = dir.join("no-such-dir").join("s.json");
    for (command, path) in [
        ("run", missing.to_str().unwrap()),
        ("run", dir.to_str().unwrap()),
        ("limit", missing.to_str().unwrap()),
    ] {
        let mut args = vec![command, "127.0.0.1", &port, "-c", "3", "-i", "0"];
        if command == "run" {
            args.push("-y");
        }
        args.extend(["--summary", path]);
        let out = run(&args);
        assert_eq!(out.code, Some(64), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr
                .starts_with(&format!("tcpgoon: --summary: cannot write '{path}': ")),
            "{}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "{command} {path}");
        // Not one connection was made.
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "{accepted:?}"
        );
    }
    assert!(!missing.exists());
}

#[test]
fn a_summary_that_fails_to_write_at_the_end_makes_the_run_incomplete() {
    // /dev/full opens, and every write to it fails (ENOSPC): the report still comes, and
    // its verdict and status say the summary is missing.
    let server = HoldingListener::start();
    let port = server.port();
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 0 -i 0 -y --summary /dev/full"
    ));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.final_counts().established, 3);
    assert_eq!(
        out.verdict(),
        "INCOMPLETE (exit 1): the --summary could not be written"
    );
    assert!(
        out.stderr
            .starts_with("tcpgoon: --summary: cannot write '/dev/full': No space left"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_summary_and_an_hdr_log_in_one_file_is_bad_input_before_any_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let path = temp_path("one-file");
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let new = path.to_str().unwrap().to_string();
    let other_name = dir.join("sub/../summary.json");
    let existing = dir.join("existing.log");
    std::fs::write(&existing, "kept").unwrap();
    let link = dir.join("link.log");
    std::fs::hard_link(&existing, &link).unwrap();
    for (summary, log) in [
        (new.as_str(), new.as_str()),
        (new.as_str(), other_name.to_str().unwrap()),
        (existing.to_str().unwrap(), link.to_str().unwrap()),
    ] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 3 -i 0 -y --summary {summary} --hdr-log {log}"
        ));
        assert_eq!(out.code, Some(64), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("the same file"), "{}", out.stderr);
        assert_eq!(out.stdout, "");
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "{accepted:?}"
        );
    }
    assert!(!path.exists());
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept");
}
