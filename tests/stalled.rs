//! A reader that stops reading: a FIFO nobody reads on stderr, a full pipe on stdout. The run
//! goes on without its live lines (they are dropped and counted), a signal still ends it at
//! once, and a second signal ends the process while its report waits for the reader.
//!
//! Every run dials 3000 connections one every 2 ms, so an uninterrupted one lasts 6 s;
//! it is signalled after 1 to 4.5 s. Timings are printed (`--nocapture` shows them): the
//! bounds asserted are generous, for a loaded machine, where the aim is well under 100 ms.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Guard, blocks_signal, go_duration, start_server, wait_for};

/// The run's loop must end this soon after the signal.
const PROMPT: Duration = Duration::from_secs(1);

fn run_command(port: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(common::BIN);
    command
        .args(["run", "127.0.0.1", port, "-c", "3000", "-s", "2ms", "-y"])
        .args(extra)
        .stdin(Stdio::null());
    command
}

/// The value in the report's `Live output: N lines dropped …` line; 0 without one.
fn dropped(report: &[String]) -> u64 {
    report
        .iter()
        .find_map(|l| l.strip_prefix("Live output: "))
        .map_or(0, |rest| {
            let n = rest.split(' ').next().unwrap();
            assert!(
                rest.ends_with("dropped (the reader was not keeping up)"),
                "{rest}"
            );
            n.parse().unwrap()
        })
}

fn line<'a>(report: &'a [String], prefix: &str) -> &'a str {
    report
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {report:#?}"))
}

/// When the run's loop ended, at the latest: its report gives its length (`Wall time`) from
/// its start, and the start came before `started_by`, when its first output was read.
fn loop_end_by(started_by: Instant, wall: Duration) -> Instant {
    started_by + wall
}

/// A named pipe in a directory of its own, removed on drop.
struct Fifo {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl Fifo {
    fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!("tcpgoon-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a directory for the FIFO");
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and a mode.
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        Fifo { dir, path }
    }

    /// Opens the FIFO's two ends: (read end, write end). The read end is opened first,
    /// without waiting for a writer, so opening the write end does not wait either; reads
    /// from it then block as from any pipe.
    fn open(&self) -> (std::fs::File, std::fs::File) {
        use std::os::unix::fs::OpenOptionsExt;
        let read = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
            .expect("open the FIFO for reading");
        let write = std::fs::File::options()
            .write(true)
            .open(&self.path)
            .expect("open the FIFO for writing");
        // SAFETY: plain fcntl calls on a descriptor `read` owns.
        unsafe {
            let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        (read, write)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lines of a child's output as they arrive, each with the moment it was read, from a
/// thread that reads until end of file.
struct Arrivals {
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl Arrivals {
    fn start(source: impl Read + Send + 'static) -> Arrivals {
        use std::io::BufRead;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Arrivals { lines }
    }

    /// The next line, if one arrives within `limit`.
    fn next(&self, limit: Duration) -> Option<(Instant, String)> {
        self.lines.recv_timeout(limit).ok()
    }

    /// The lines up to and including the first that starts with `prefix`, and when that one
    /// arrived; `None` when it has not arrived by `deadline`.
    fn until(&self, prefix: &str, deadline: Instant) -> Option<(Vec<String>, Instant)> {
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, line) = self.next(left)?;
            let found = line.starts_with(prefix);
            lines.push(line);
            if found {
                return Some((lines, at));
            }
        }
    }

    /// Every line still to come, until the source ends.
    fn rest(&self) -> Vec<String> {
        self.lines.iter().map(|(_, line)| line).collect()
    }
}

#[test]
fn a_stderr_nobody_reads_holds_up_neither_the_run_nor_its_signal() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let fifo = Fifo::new("stalled-stderr");
    let (fifo_read, fifo_write) = fifo.open();
    let mut child = Guard(
        run_command(&port, &["-d"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fifo_write))
            .spawn()
            .expect("start tcpgoon"),
    );
    let stdout = Arrivals::start(child.0.stdout.take().unwrap());
    let (started_by, first) = stdout
        .next(Duration::from_secs(10))
        .expect("the first live line");
    assert!(first.ends_with("NotInitiated: 3000"), "{first}");
    // Two debug lines a connection fill the FIFO in about two seconds; then it takes no more.
    let mut held = 0;
    wait_for("the FIFO to fill and stay full", || {
        std::thread::sleep(Duration::from_millis(200));
        let now = common::unread(&fifo_read);
        let full = now > 0 && now == held;
        held = now;
        full
    });
    std::thread::sleep(Duration::from_millis(300));
    common::signal(&child, libc::SIGTERM);
    let signalled = Instant::now();

    // The report comes out on stdout while stderr is still stalled.
    let (report, reported) = stdout
        .until("Wall time: ", signalled + 3 * PROMPT)
        .unwrap_or_else(|| panic!("no report within {:?} of SIGTERM", 3 * PROMPT));
    let reported_within = reported.duration_since(signalled);
    let wall = go_duration(line(&report, "Wall time: "));
    let loop_ended_within = loop_end_by(started_by, wall).saturating_duration_since(signalled);
    // The process waits for the FIFO's reader, to write what stderr has yet to get.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the process did not wait for stderr's reader"
    );

    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &fifo_read, &mut text).expect("read the FIFO");
        text
    });
    let drained_at = Instant::now();
    wait_for("the run to exit once stderr is read", || {
        child.0.try_wait().unwrap().is_some()
    });
    let exited_within = drained_at.elapsed();
    let status = child.0.wait().unwrap();
    let stderr = drain.join().unwrap();
    let report = [report, stdout.rest()].concat();
    eprintln!(
        "stalled stderr: loop ended {loop_ended_within:?} after SIGTERM, report read \
         {reported_within:?} after it; exit {exited_within:?} after the FIFO was drained"
    );
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("Run interrupted by SIGTERM: dialing stopped early, after ")),
        "{report:#?}"
    );
    assert!(
        loop_ended_within < PROMPT && reported_within < PROMPT,
        "loop ended {loop_ended_within:?}, report read {reported_within:?} after SIGTERM"
    );

    // Every connection event is a debug line written or one counted as dropped.
    let totals = report
        .iter()
        .skip_while(|l| !l.ends_with(" tcp test statistics ---"))
        .nth(1)
        .map(|l| common::Counts::parse(l))
        .expect("the final counts");
    let ever: u64 = line(&report, "Total established connections: ")
        .parse()
        .unwrap();
    let made = totals.total - totals.not_initiated;
    let events = made + ever + totals.error + totals.closed;
    let written = stderr
        .lines()
        .filter(|l| l.starts_with("connection "))
        .count() as u64;
    assert_eq!(
        written + dropped(&report),
        events,
        "{written} written and {} dropped of {events} events: {totals:?}",
        dropped(&report)
    );
    assert!(made > 500, "the run stalled with stderr: {totals:?}");
}

/// `tcpgoon run … -i 10ms -d` with stdout on a full pipe nobody reads, and stderr read;
/// returns the child, and when its first debug line was read.
fn with_stdout_stalled(
    port: &str,
    extra: &[&str],
) -> (Guard, Arrivals, Instant, std::os::fd::OwnedFd) {
    let (read, write) = common::full_pipe();
    let mut child = Guard(
        run_command(port, &[&["-i", "10ms", "-d"][..], extra].concat())
            .stdout(Stdio::from(write))
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpgoon"),
    );
    let stderr = Arrivals::start(child.0.stderr.take().unwrap());
    // Its first live line is stuck behind the full pipe, but the run goes on.
    let (started_by, first) = stderr
        .next(Duration::from_secs(5))
        .expect("a first debug line: the run is stuck behind its stdout");
    assert_eq!(first, "connection 0: dialing");
    (child, stderr, started_by, read)
}

#[test]
fn a_stdout_nobody_reads_loses_live_lines_and_the_report_says_how_many() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    for json in [false, true] {
        let mode: &[&str] = if json { &["--json"] } else { &[] };
        let (child, _stderr, started_by, read) = with_stdout_stalled(&port, mode);
        // A tick every 10 ms: JSON ticks fill the 64 KiB queue in about 3 s, text lines take
        // far longer, so only the JSON run goes on long enough to lose some.
        std::thread::sleep(Duration::from_millis(if json { 4500 } else { 1500 }));
        common::signal(&child, libc::SIGTERM);
        let signalled = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let mut child = child;
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the report did not wait for stdout's reader"
        );
        let stdout = Arrivals::start(std::fs::File::from(read));
        wait_for("the run to exit once stdout is read", || {
            child.0.try_wait().unwrap().is_some()
        });
        assert_eq!(child.0.wait().unwrap().code(), Some(1));
        let lines = stdout.rest();
        // The pipe was full of filler before the first line.
        let lines: Vec<String> = lines
            .iter()
            .map(|l| l.trim_start_matches('x').to_string())
            .collect();
        let (live, wall, dropped, stopped) = if json {
            let objects: Vec<serde_json::Value> = lines
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let (summary, ticks) = objects.split_last().unwrap();
            assert!(ticks.iter().all(|t| t["type"] == "tick"));
            (
                ticks.len(),
                Duration::from_micros(summary["wall_time_us"].as_u64().unwrap()),
                summary["live_lines_dropped"].as_u64().unwrap(),
                summary["stopped"]["signal"] == "SIGTERM",
            )
        } else {
            let live = lines
                .iter()
                .take_while(|l| l.starts_with("Total: "))
                .count();
            (
                live,
                go_duration(line(&lines, "Wall time: ")),
                self::dropped(&lines),
                lines.iter().any(|l| {
                    l.starts_with("Run interrupted by SIGTERM: dialing stopped early, after ")
                }),
            )
        };
        let loop_ended_within = loop_end_by(started_by, wall).saturating_duration_since(signalled);
        eprintln!(
            "stalled stdout{}: loop ended {loop_ended_within:?} after SIGTERM; {live} live \
             lines written, {dropped} dropped",
            if json { " (--json)" } else { "" }
        );
        assert!(stopped, "{lines:#?}");
        assert!(
            loop_ended_within < PROMPT,
            "loop ended {loop_ended_within:?} after SIGTERM"
        );
        if json {
            // 450 ticks of about 230 bytes: far more than fits in the pipe and the queue.
            assert!(
                live > 10 && dropped > 100,
                "{live} written, {dropped} dropped"
            );
        } else {
            // About 150 lines: all of them fit in the queue, and are written once read.
            assert!(
                live > 100 && dropped == 0,
                "{live} written, {dropped} dropped"
            );
        }
    }
}

#[test]
fn a_second_sigterm_ends_the_process_while_its_report_waits_for_the_reader() {
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let (mut child, _stderr, _, _read) = with_stdout_stalled(&port, &[]);
    let pid = child.0.id();
    assert!(common::reads_signal(pid, libc::SIGTERM));
    std::thread::sleep(Duration::from_millis(1000));
    common::signal(&child, libc::SIGTERM);
    wait_for("SIGTERM to be unblocked after the first one", || {
        !blocks_signal(pid, libc::SIGTERM)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the first SIGTERM ended the process instead of the run"
    );
    common::signal(&child, libc::SIGTERM);
    let signalled = Instant::now();
    wait_for("the second SIGTERM to end the process", || {
        child.0.try_wait().unwrap().is_some()
    });
    let within = signalled.elapsed();
    eprintln!("second SIGTERM: the process ended {within:?} after it");
    let status = child.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert!(within < PROMPT, "ended {within:?} after the second SIGTERM");
}
