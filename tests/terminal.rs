//! The live view in a real terminal: tcpgoon runs in a tmux pane of a given width, and the
//! tests read the screen with `capture-pane` while it runs and after it ends. A status line
//! never takes more than the width less one column, it leaves no rows of itself above the
//! report (at 40, 80 and 120 columns, and after the window is resized mid-run), and a pipe
//! whose reader shares the screen (`| tee`, `--json | cat`) gets no status line running
//! into its lines.
//!
//! Each test has a tmux server of its own (`-L`, a socket named after the process and the
//! test), killed on drop. Screens are polled until a marker appears, within a bound.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::args;

/// How long a screen may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A detached tmux session running one shell command in a pane of its own size.
struct Tmux {
    socket: String,
    /// Whether [`Tmux::rows`] reads the history above the screen too (by default it does).
    history: bool,
}

impl Tmux {
    /// Starts `command` (shell text) in a `width` × `height` pane; when it ends, the pane
    /// shows `EXIT <status>` and stays.
    fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("tcpgoon-test-{}-{name}", std::process::id()),
            history: true,
        };
        // The shell traps SIGINT (a Ctrl-C reaches the whole foreground group) and lives on
        // to print the status; trapped, not ignored, so its children get it as usual.
        let shell = format!("trap true INT; {command}; echo \"EXIT $?\"; exec sleep 120");
        let out = tmux.command(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &shell,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn command(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color")
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }

    /// The pane's rows, from the start of its history: as the screen shows them, or with
    /// `joined`, rows that wrapped joined into the lines that were written.
    fn rows(&self, joined: bool) -> Vec<String> {
        let mut args = vec!["capture-pane", "-p"];
        if self.history {
            args.extend(["-S", "-"]);
        }
        if joined {
            args.push("-J");
        }
        let out = self.command(&args);
        assert!(out.status.success(), "tmux capture-pane: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows
    }

    fn resize(&self, width: u16) {
        let out = self.command(&["resize-window", "-x", &width.to_string()]);
        assert!(out.status.success(), "tmux resize-window: {out:?}");
    }

    /// Polls the screen until `done` holds for its rows; fails the test after PATIENCE.
    fn wait_for(&self, what: &str, joined: bool, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rows = self.rows(joined);
            if done(&rows) {
                return rows;
            }
            assert!(Instant::now() < deadline, "waited for {what}: {rows:#?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the command to end; returns its exit status and the rows, joined.
    fn finished(&self) -> (String, Vec<String>) {
        let rows = self.wait_for("the run to end", true, |rows| {
            rows.iter().any(|r| r.starts_with("EXIT "))
        });
        let exit = rows.iter().find(|r| r.starts_with("EXIT ")).unwrap();
        (exit["EXIT ".len()..].to_string(), rows)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
    }
}

fn columns(row: &str) -> usize {
    row.chars().count()
}

/// `tcpgoon run` against the built-in server, as shell text.
fn run_command(port: &str, connections: u32, rest: &str) -> String {
    format!(
        "{} run 127.0.0.1 {port} -c {connections} -s 1ms -y {rest}",
        common::BIN
    )
}

/// Whether `row` is a status line of a run of `total`: `… <made>/<total> est …`.
fn is_status(row: &str, total: u32) -> bool {
    row.contains(&format!("/{total} est"))
}

/// Checks a run's screen once it has ended: above the report, only `before` (and empty
/// rows), nothing of the status line left anywhere, every connection established, and the
/// report whole, down to its last line and the exit status.
fn check_final_screen(rows: &[String], exit: &str, total: u32, before: &[String]) {
    assert_eq!(exit, "0", "{rows:#?}");
    let header = rows
        .iter()
        .position(|r| r.starts_with("--- 127.0.0.1:") && r.ends_with(" tcp test statistics ---"))
        .unwrap_or_else(|| panic!("no report header: {rows:#?}"));
    let above: Vec<&String> = rows[..header].iter().filter(|r| !r.is_empty()).collect();
    assert_eq!(
        above,
        before.iter().collect::<Vec<_>>(),
        "rows left above the report: {rows:#?}"
    );
    assert!(
        !rows
            .iter()
            .any(|r| is_status(r, total) || r.contains("\x1b")),
        "a status line is left: {rows:#?}"
    );
    assert_eq!(
        rows[header + 1],
        format!(
            "Total: {total}, Dialing: 0, Established: {total}, Closed: 0, Error: 0, NotInitiated: 0"
        ),
        "{rows:#?}"
    );
    for line in [
        "--- tcpgoon execution statistics ---",
        &format!("Total established connections: {total}"),
        "Connect latency percentiles:",
    ] {
        assert!(rows.iter().any(|r| r == line), "no {line:?}: {rows:#?}");
    }
    let wall = rows.iter().position(|r| r.starts_with("Wall time: "));
    let end = rows.iter().position(|r| r.starts_with("EXIT "));
    assert!(
        wall.is_some() && wall < end,
        "the report is whole: {rows:#?}"
    );
}

/// Runs `total` connections in a pane `width` columns wide, checking the screen as it goes.
fn status_line_at(name: &str, width: u16, total: u32) {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let tmux = Tmux::start(name, width, 20, &run_command(&port, total, ""));
    let width = usize::from(width);
    // Joined: a status line that wrapped would be one line wider than the pane.
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let rows = tmux.rows(true);
        if rows.iter().any(|r| r.starts_with("--- ")) {
            break;
        }
        for row in rows.iter().filter(|r| !r.is_empty()) {
            assert!(
                is_status(row, total),
                "only the status line is on the screen during the run: {rows:#?}"
            );
            assert!(columns(row) < width, "wider than {width}: {rows:#?}");
            seen.push(row.clone());
        }
        assert!(
            rows.iter().filter(|r| !r.is_empty()).count() <= 1,
            "{rows:#?}"
        );
        assert!(Instant::now() < deadline, "the run did not end: {rows:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!seen.is_empty(), "the status line was never seen");
    // Steady: as wide from the first redraw to the last, each field where it was.
    let layout = |row: &String| (columns(row), row.find(" est "), row.find(" err "));
    assert!(
        seen.iter().all(|row| layout(row) == layout(&seen[0])),
        "the line changed width or shape: {seen:#?}"
    );
    let (exit, rows) = tmux.finished();
    check_final_screen(&rows, &exit, total, &[]);
}

#[test]
fn at_40_columns_the_status_line_fits_and_leaves_nothing_above_the_report() {
    status_line_at("w40", 40, 2000);
}

#[test]
fn at_80_columns_the_status_line_fits_and_leaves_nothing_above_the_report() {
    status_line_at("w80", 80, 2000);
}

#[test]
fn at_120_columns_the_status_line_fits_and_leaves_nothing_above_the_report() {
    status_line_at("w120", 120, 2000);
}

/// Resizes the window of a run through 120, 40, 80, 30 and 120 columns, then 40 until it
/// ends; after each resize, waits for the screen to show one status row that fits. `lines`
/// are printed before the run, to start it at the bottom of a full screen. Returns the
/// final rows (from the start of the history, or only the screen).
fn resized_mid_run(name: &str, lines: usize, height: u16, history: bool) -> Vec<String> {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let total = 4000;
    let command = format!("seq {lines}; {}", run_command(&port, total, ""));
    let mut tmux = Tmux::start(name, 120, height, &command);
    tmux.history = history;
    let printed: Vec<String> = (1..=lines).map(|n| n.to_string()).collect();
    let status = |rows: &[String], width: u16| {
        // Only the lines printed before, then one status row that fits.
        rows.len() == lines + 1
            && rows[..lines] == printed[..]
            && is_status(&rows[lines], total)
            && columns(&rows[lines]) < usize::from(width)
    };
    let rows = tmux.wait_for("a status line", true, |rows| status(rows, 120));
    // The widest line, the one a narrower window splits into rows.
    assert!(columns(&rows[lines]) > 80, "{rows:#?}");
    for width in [40u16, 80, 30, 120] {
        tmux.resize(width);
        let what = format!("one status row under {width} columns");
        tmux.wait_for(&what, true, |rows| status(rows, width));
    }
    tmux.resize(40);
    let (exit, rows) = tmux.finished();
    let before: Vec<String> = rows
        .iter()
        .filter(|r| printed.contains(r))
        .cloned()
        .collect();
    check_final_screen(&rows, &exit, total, &before);
    rows
}

#[test]
fn a_window_resized_mid_run_gets_a_line_that_fits_and_leaves_no_stale_rows() {
    // A screen in use: the run starts on its last row.
    let rows = resized_mid_run("resize", 30, 20, true);
    let printed: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
    assert!(rows.starts_with(&printed), "{rows:#?}");
}

#[test]
fn a_fresh_pane_resized_mid_run_shows_no_stale_rows() {
    // The run starts on the top row of an empty pane tall enough for the whole report:
    // narrowing it, tmux pushes the rows it splits the line into above the screen, into
    // its history (see progress.rs); the screen itself is clean.
    let rows = resized_mid_run("resize-fresh", 0, 120, false);
    assert!(rows[0].starts_with("--- 127.0.0.1:"), "{rows:#?}");
}

/// The lines on the screen that came through a pipe, joined where they wrapped.
fn piped_screen(name: &str, rest: &str, pipe: &str) -> (Vec<String>, u32) {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let total = 600;
    let command = format!(
        "{} | {pipe}",
        run_command(&port, total, &format!("-i 100ms {rest}"))
    );
    let tmux = Tmux::start(name, 80, 50, &command);
    let (exit, rows) = tmux.finished();
    assert_eq!(exit, "0", "{rows:#?}");
    (rows, total)
}

/// The screen's rows above `EXIT `, less the empty ones, each parsed as one JSON object.
fn json_rows(rows: &[String]) -> Vec<serde_json::Value> {
    rows.iter()
        .take_while(|r| !r.starts_with("EXIT "))
        .filter(|r| !r.is_empty())
        .map(|r| serde_json::from_str(r).unwrap_or_else(|e| panic!("{e}: {r:?} in {rows:#?}")))
        .collect()
}

#[test]
fn piped_through_tee_on_the_same_screen_its_lines_come_out_whole() {
    let log = std::env::temp_dir().join(format!("tcpgoon-tee-{}.log", std::process::id()));
    let (rows, total) = piped_screen("tee", "", &format!("tee {}", log.display()));
    let lines: Vec<&String> = rows
        .iter()
        .take_while(|r| !r.starts_with("--- 127.0.0.1:"))
        .collect();
    assert!(lines.len() >= 3, "live lines are on the screen: {rows:#?}");
    for line in &lines {
        assert!(
            line.starts_with(&format!("Total: {total}, Dialing: "))
                && line.ends_with(|c: char| c.is_ascii_digit()),
            "a live line is whole: {line:?} in {rows:#?}"
        );
    }
    assert!(!rows.iter().any(|r| is_status(r, total)), "{rows:#?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert!(
        !logged.contains('\x1b'),
        "the log has no escapes: {logged:?}"
    );
    assert!(logged.contains("Wall time: "), "{logged}");
}

#[test]
fn json_through_cat_on_the_same_screen_is_one_object_a_line() {
    let (rows, total) = piped_screen("json", "--json", "cat");
    let objects = json_rows(&rows);
    let (summary, ticks) = objects.split_last().unwrap();
    assert!(ticks.len() >= 3, "{rows:#?}");
    assert!(ticks.iter().all(|t| t["type"] == "tick"), "{rows:#?}");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["counts"]["established"], total);
}

#[test]
fn json_on_the_terminal_itself_keeps_the_status_line_below_whole_objects() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let total = 2000;
    let tmux = Tmux::start(
        "json-tty",
        80,
        50,
        &run_command(&port, total, "-i 200ms --json"),
    );
    // Mid-run: the status line is the last row, under whole JSON lines.
    let rows = tmux.wait_for("ticks above a status line", true, |rows| {
        rows.len() >= 3 && rows.last().is_some_and(|r| is_status(r, total))
    });
    let status = rows.last().unwrap();
    assert!(columns(status) < 80, "{rows:#?}");
    let (exit, rows) = tmux.finished();
    assert_eq!(exit, "0", "{rows:#?}");
    let objects = json_rows(&rows);
    let (summary, ticks) = objects.split_last().unwrap();
    assert!(ticks.len() >= 3, "{rows:#?}");
    assert_eq!(summary["counts"]["established"], total);
}

#[test]
fn interrupted_with_ctrl_c_the_report_starts_where_the_status_line_was() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let total = 5000;
    let tmux = Tmux::start("ctrl-c", 80, 60, &run_command(&port, total, ""));
    tmux.wait_for("a status line", true, |rows| {
        rows.len() == 1 && is_status(&rows[0], total)
    });
    let out = tmux.command(&["send-keys", "C-c"]);
    assert!(out.status.success(), "{out:?}");
    let (exit, rows) = tmux.finished();
    assert_eq!(exit, "1", "{rows:#?}");
    assert!(
        rows[0].starts_with("--- 127.0.0.1:") && rows[0].ends_with(" tcp test statistics ---"),
        "the report is on the first row, where the status line (and the ^C) were: {rows:#?}"
    );
    assert!(!rows.iter().any(|r| is_status(r, total)), "{rows:#?}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("Run interrupted by SIGINT: dialing stopped early")),
        "{rows:#?}"
    );
}

#[test]
fn each_sigwinch_redraws_the_status_line_and_the_run_goes_on() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let started = Instant::now();
    let child = common::spawn(&args!(
        "run 127.0.0.1 {port} -c 30 -s 100ms -y --progress bar"
    ));
    // The run takes about 3 s: a redraw every 250 ms makes about 12 of them. Forty
    // SIGWINCHes, one each 25 ms over its first second, each make one more (two that
    // arrive while the loop is busy are read as one).
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..40 {
        common::signal(&child, libc::SIGWINCH);
        std::thread::sleep(Duration::from_millis(25));
    }
    let out = common::finish(child, started, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "SIGWINCH does not stop the run: {out:?}");
    let counts = out.final_counts();
    assert_eq!(counts.established, 30, "{out:?}");
    let redraws = out.stderr.matches("\x1b[?7l").count();
    assert!(
        redraws >= 12 + 25,
        "{redraws} redraws for about 12 of the timer's and 40 signals: {:?}",
        out.stderr
    );
}

#[test]
fn redirected_to_a_file_the_status_line_stays_on_the_terminal_and_the_lines_go_to_the_file() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let total = 2000;
    let log = std::env::temp_dir().join(format!("tcpgoon-file-{}.log", std::process::id()));
    let command = format!(
        "{} > {}",
        run_command(&port, total, "-i 200ms"),
        log.display()
    );
    let tmux = Tmux::start("file", 80, 20, &command);
    tmux.wait_for("a status line", true, |rows| {
        rows.len() == 1 && is_status(&rows[0], total) && columns(&rows[0]) < 80
    });
    let (exit, rows) = tmux.finished();
    assert_eq!(
        rows,
        ["EXIT 0"],
        "the terminal keeps nothing of the line: {exit}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert!(!logged.contains('\x1b'), "{logged:?}");
    let live = logged
        .lines()
        .take_while(|l| l.starts_with(&format!("Total: {total}, ")))
        .count();
    assert!(live >= 3, "{logged}");
    assert!(logged.contains("Wall time: "), "{logged}");
}

#[test]
fn with_heartbeats_the_status_line_shows_the_interval_s_beat_p99() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"]);
    let run = run_command(
        &port,
        50,
        "--send 'ping\\n' --expect ping --heartbeat 50ms --hold 2s",
    );
    let tmux = Tmux::start("beats", 120, 20, &run);
    // A duration, not `-`: a beat answered in the interval.
    tmux.wait_for("a beat p99 on the status line", true, |rows| {
        rows.iter().any(|r| {
            is_status(r, 50)
                && r.split_once(" beat p99 ")
                    .is_some_and(|(_, p99)| p99.trim().ends_with('s') && columns(r) < 120)
        })
    });
    let (exit, rows) = tmux.finished();
    assert_eq!(exit, "0", "{rows:#?}");
    assert!(!rows.iter().any(|r| r.contains(" beat p99 ")), "{rows:#?}");
}

#[test]
fn with_workers_the_status_line_shows_their_sums() {
    let (_server, port) = common::start_server(&["-m", "0", "-d", "60s", "-i", "0"]);
    let command = run_command(&port, 400, "--workers 2 --hold 2s");
    let tmux = Tmux::start("workers", 100, 20, &command);
    // Each worker makes 200: 400 established on the line is the two summed.
    let rows = tmux.wait_for("the sum of the workers", true, |rows| {
        rows.iter()
            .any(|r| is_status(r, 400) && r.contains(" 400/400 est "))
    });
    assert!(
        rows.iter().filter(|r| !r.is_empty()).count() <= 1,
        "only the status line during the run: {rows:#?}"
    );
    let (exit, rows) = tmux.finished();
    check_final_screen(&rows, &exit, 400, &[]);
    assert!(
        rows.iter().any(|r| r.starts_with("Workers: 2, 2 reported")),
        "{rows:#?}"
    );
}
