//! Percentiles against the Python reference implementation of HdrHistogram: tcpgoon takes
//! the ceiling rank, `hdrh` the nearest (docs/output.md). The check itself is
//! tests/hdrh/ranks.py, run with the pinned `hdrhistogram` that .ci/run installs in
//! target/hdrh-venv.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{HoldingListener, args, run};

#[test]
fn percentiles_take_the_ceiling_rank_where_hdrh_takes_the_nearest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/hdrh-venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing; .ci/run makes it",
            python.display()
        );
        eprintln!("skipped: no {} (.ci/run makes it)", python.display());
        return;
    }
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
