//! Percentiles against the Python reference implementation of HdrHistogram: tcpgoon takes
//! the ceiling rank, `hdrh` the nearest (docs/output.md). The check itself is
//! tests/hdrh/ranks.py, run with the pinned `hdrhistogram` that .ci/run installs in
//! target/hdrh-venv. tests/hdrh/beats.py reads an `--hdr-log` of a run with heartbeats
//! back with the reference log reader: the beats are in intervals tagged `beat`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{HoldingListener, args, run, start_server};

/// The venv's python with the pinned `hdrh`, or `None` (and the test skipped) outside CI
/// when it is missing.
fn reference_python() -> Option<std::path::PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hdrh-venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing; .ci/run makes it",
            python.display()
        );
        eprintln!("skipped: no {} (.ci/run makes it)", python.display());
        return None;
    }
    Some(python)
}

#[test]
fn percentiles_take_the_ceiling_rank_where_hdrh_takes_the_nearest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = reference_python() else {
        return;
    };
    let server = HoldingListener::start();
    let port = server.port();
    // 7 connections: p75 is the 6th by the ceiling rank, the 5th by the nearest.
    let out = run(&args!("run 127.0.0.1 {port} -c 7 -s 1ms -i 0 -y --json"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut check = Command::new(&python)
        .arg(root.join("tests/hdrh/ranks.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(out.stdout.as_bytes())
        .unwrap();
    let result = check.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "{report}");
    assert_eq!(
        report.lines().filter(|l| l.contains(": tcpgoon ")).count(),
        7,
        "{report}"
    );
}

#[test]
fn the_hdr_log_s_beat_intervals_read_back_with_the_reference_reader() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = reference_python() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("tcpgoon-hdrh-beats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (log, output) = (dir.join("beats.hlog"), dir.join("run.jsonl"));
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 1ms -i 200ms -y --json --expect ping --heartbeat 50ms \
         --hold 1s --hdr-log {} --send", log.display();
        "ping\\n"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    std::fs::write(&output, &out.stdout).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.starts_with("Tag=beat,")), "{text}");
    let result = Command::new(&python)
        .arg(root.join("tests/hdrh/beats.py"))
        .args([&log, &output])
        .output()
        .expect("start python");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "{report}");
    assert!(report.contains("beats: "), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
