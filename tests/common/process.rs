//! The real binary as a child process: started with piped output, killed and reaped on drop,
//! and every run under a time limit, so a hung process fails its test instead of hanging
//! the suite. Also what a test asks of a process from outside: signals, the signals it
//! blocks (from /proc), and whether a program it needs is installed.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::output::Output;

pub const BIN: &str = env!("CARGO_BIN_EXE_tcpgoon");

/// An argument vector written as the command line it is: `format!`, then split at ASCII
/// whitespace. `args!("run 127.0.0.1 {port} -c 5 -y")` is `["run", "127.0.0.1", port, "-c",
/// "5", "-y"]`. No quoting: a value that may hold white space (a path, a payload) goes
/// after a `;`, each one argument as it is: `args!("run 127.0.0.1 {port} --summary"; path)`.
#[allow(unused_macros)]
macro_rules! args {
    ($line:literal $(, $value:expr)* $(; $($whole:expr),+)?) => {
        format!($line $(, $value)*)
            .split_ascii_whitespace()
            .map(String::from)
            .chain([$($(String::from($whole)),+)?])
            .collect::<Vec<String>>()
    };
}
#[allow(unused_imports)]
pub(crate) use args;

/// A child process killed and reaped on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with piped output.
pub fn spawn(args: &[impl AsRef<str>]) -> Guard {
    Guard(
        Command::new(BIN)
            .args(args.iter().map(AsRef::as_ref))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpgoon"),
    )
}

/// Waits for a spawned run to end (killing it after `limit`) and collects its output.
pub fn finish(mut guard: Guard, started: Instant, limit: Duration) -> Output {
    let child = &mut guard.0;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).expect("read stdout");
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).expect("read stderr");
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tcpgoon") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tcpgoon still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    Output {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        elapsed,
    }
}

/// Runs the binary to completion, with a 60 s limit.
pub fn run(args: &[impl AsRef<str>]) -> Output {
    let started = Instant::now();
    finish(spawn(args), started, Duration::from_secs(60))
}

/// Runs the binary to completion with `input` on its stdin (a pipe, closed after it), with
/// a 60 s limit.
pub fn run_with_input(args: &[impl AsRef<str>], input: &str) -> Output {
    use std::io::Write;
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args.iter().map(AsRef::as_ref))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpgoon");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A process that has stopped reading (it got its answer) may close the pipe first.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    finish(Guard(child), started, Duration::from_secs(60))
}

/// Runs the binary and checks it refused its arguments as bad input should: exit 64, one
/// line on stderr that starts `tcpgoon: `, no panic, nothing on stdout.
pub fn run_bad_input<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> Output {
    let out = run(args);
    assert_eq!(out.code, Some(64), "{args:?}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    assert!(
        out.stderr.starts_with("tcpgoon: "),
        "{args:?}: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out
}

/// Polls `done` every 10 ms until it holds; fails the test after 10 s.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the first line a spawned process prints, waiting up to 10 s for it; the rest of its
/// output stays in the pipe for [`finish`]. A process that has printed has started, however
/// slowly a loaded machine ran it.
pub fn first_line(guard: &mut Guard) -> String {
    let stdout = guard.0.stdout.take().expect("piped stdout");
    // Read on a thread, so a process that never prints fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = stdout;
        let line = read_line_unbuffered(&mut stdout);
        let _ = tx.send((line, stdout));
    });
    let Ok((line, stdout)) = rx.recv_timeout(Duration::from_secs(10)) else {
        panic!("tcpgoon printed no line within 10 s");
    };
    guard.0.stdout = Some(stdout);
    line
}

/// One line, read a byte at a time so nothing after it leaves the pipe.
fn read_line_unbuffered(r: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while let Ok(1) = r.read(&mut byte) {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Sends `signal` to a spawned process.
pub fn signal(guard: &Guard, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child, which has not been reaped yet.
    unsafe { libc::kill(guard.0.id() as i32, signal) };
}

/// Whether `pid` has `signal` blocked, from the kernel's view in /proc: a run blocks the
/// signals it reads from its signalfd, and unblocks them once the next one is to kill.
pub fn blocks_signal(pid: u32, signal: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("a SigBlk line");
    mask & (1 << (signal - 1)) != 0
}

/// Whether `pid` reads `signal` from a signalfd: it has one open and the signal blocked.
/// The blocked mask alone is not enough: starting a writer thread blocks every signal for
/// a moment, before the signalfd exists, and a signal sent then kills the process once
/// that moment is over.
pub fn reads_signal(pid: u32, signal: libc::c_int) -> bool {
    let has_signalfd = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok).any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[signalfd]")
            })
        })
        .unwrap_or(false);
    has_signalfd && blocks_signal(pid, signal)
}

/// Whether `program` is installed; under CI its absence fails the test.
pub fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed; .ci/run installs it"
        );
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
    }
    found
}
