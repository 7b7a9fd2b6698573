//! Where a run's live output goes, chosen once from the configuration and the terminals the
//! process was given: interval lines or JSON ticks on stdout, a status line on stderr, or
//! neither. The choice is a pure function of those facts ([`OutputMode::choose`]), so every
//! combination is tested without a terminal; the drivers only gather the facts and wire
//! what was chosen.

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::cli::Progress;
use crate::engine::signal::SignalFd;
use crate::engine::stats::Counts;
use crate::error::Error;
use crate::report::hdrlog::HdrLog;
use crate::report::live::{Lines, Live};
use crate::report::outlet::{Outlet, StdStreams};
use crate::report::progress::{self, StatusLine};
use crate::report::text;

/// How often the status line is redrawn at least.
pub const REDRAW: Duration = Duration::from_millis(250);

/// What the process's standard streams are, read once at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminals {
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    /// stdout is a pipe or a socket: its reader may show its lines on this very screen.
    pub stdout_pipe: bool,
}

impl Terminals {
    pub fn of_this_process() -> Terminals {
        Terminals {
            stdout_tty: io::stdout().is_terminal(),
            stderr_tty: io::stderr().is_terminal(),
            stdout_pipe: progress::is_pipe_or_socket(io::stdout().as_raw_fd()),
        }
    }
}

/// The live outputs chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputMode {
    /// What stdout carries at each interval.
    pub lines: Lines,
    /// A status line on stderr.
    pub bar: bool,
    /// With `-i 0`, the one interval line the reference tool still prints at the start.
    pub line_at_start: bool,
    terminals: Terminals,
}

impl OutputMode {
    /// `live_on`: the interval is not zero.
    pub fn choose(
        progress: Progress,
        json: bool,
        debug: bool,
        live_on: bool,
        terminals: Terminals,
    ) -> OutputMode {
        // A pipe or socket on stdout may have a reader showing its lines on this very screen
        // (`| tee log`, `--json | jq`), where a status line on stderr would run into them:
        // auto draws it only when stdout is a terminal, a file or a device.
        let bar = live_on
            && !debug
            && match progress {
                Progress::Bar => true,
                Progress::Lines => false,
                Progress::Auto => terminals.stderr_tty && !terminals.stdout_pipe,
            };
        let plain_lines = !json
            && match progress {
                Progress::Lines => true,
                Progress::Bar => false,
                Progress::Auto => !(bar && terminals.stdout_tty),
            };
        let lines = match (live_on, json, plain_lines) {
            (false, _, _) => Lines::Off,
            (true, true, _) => Lines::Json,
            (true, false, true) => Lines::Plain,
            (true, false, false) => Lines::Off,
        };
        OutputMode {
            lines,
            bar,
            // With `-i 0` the reference tool still prints its line once, at the start: its
            // reporter prints, and only then sees the interval is 0 and stops
            // (mtcpclient/reporting.go, ReportConnectionsStatus).
            line_at_start: !live_on && plain_lines,
            terminals,
        }
    }

    /// The live outputs, wired to the process's streams.
    pub fn live<'a>(
        &self,
        outlets: &StdStreams,
        hdr: Option<HdrLog<'a>>,
        debug: bool,
    ) -> Live<'a, Outlet> {
        Live {
            out: outlets.stdout(),
            lines: self.lines,
            bar: self.bar.then(|| {
                let width = || progress::terminal_width(io::stderr().as_raw_fd());
                StatusLine::new(
                    outlets.stderr(),
                    width,
                    progress::use_color(self.terminals.stderr_tty),
                )
            }),
            bar_shares_stdout: self.terminals.stdout_tty && outlets.shared(),
            hdr,
            debug: debug.then(|| outlets.stderr()),
        }
    }

    /// With `-i 0`, the reference tool's one line, before any attempt; queued for stdout's
    /// writer, as every live line is, so a stdout that blocks holds up nothing.
    pub fn write_line_at_start(&self, live: &mut Live<'_, Outlet>, connections: u64) {
        if self.line_at_start {
            let _ = text::write_live_line(&mut live.out, &Counts::new(connections))
                .and_then(|()| live.out.flush());
        }
    }

    /// The signals the loop reads: a status line also redraws when the terminal resizes.
    pub fn signals(&self) -> Result<SignalFd, Error> {
        if self.bar {
            SignalFd::with_resize()
        } else {
            SignalFd::new()
        }
        .map_err(|e| Error::system("cannot set up signal handling", e))
    }

    /// The width the final report fits: the terminal's, read now, or 80.
    pub fn report_width(&self) -> usize {
        if self.terminals.stdout_tty {
            progress::terminal_width(io::stdout().as_raw_fd())
        } else {
            80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMINAL: Terminals = Terminals {
        stdout_tty: true,
        stderr_tty: true,
        stdout_pipe: false,
    };
    const PIPE: Terminals = Terminals {
        stdout_tty: false,
        stderr_tty: true,
        stdout_pipe: true,
    };
    const FILE: Terminals = Terminals {
        stdout_tty: false,
        stderr_tty: true,
        stdout_pipe: false,
    };
    const NO_TERMINAL: Terminals = Terminals {
        stdout_tty: false,
        stderr_tty: false,
        stdout_pipe: true,
    };

    fn auto(terminals: Terminals) -> (Lines, bool) {
        let mode = OutputMode::choose(Progress::Auto, false, false, true, terminals);
        (mode.lines, mode.bar)
    }

    #[test]
    fn auto_draws_a_status_line_only_where_no_reader_of_stdout_shares_the_screen() {
        assert_eq!(auto(TERMINAL), (Lines::Off, true));
        assert_eq!(auto(FILE), (Lines::Plain, true));
        assert_eq!(auto(PIPE), (Lines::Plain, false));
        assert_eq!(auto(NO_TERMINAL), (Lines::Plain, false));
    }

    #[test]
    fn forced_modes_win_and_json_replaces_the_lines() {
        let bar = OutputMode::choose(Progress::Bar, false, false, true, NO_TERMINAL);
        assert_eq!((bar.lines, bar.bar), (Lines::Off, true));
        let lines = OutputMode::choose(Progress::Lines, false, false, true, TERMINAL);
        assert_eq!((lines.lines, lines.bar), (Lines::Plain, false));
        let json = OutputMode::choose(Progress::Auto, true, false, true, FILE);
        assert_eq!((json.lines, json.bar), (Lines::Json, true));
        let debug = OutputMode::choose(Progress::Bar, false, true, true, TERMINAL);
        assert!(
            !debug.bar,
            "--debug lines and a status line would run into each other"
        );
    }

    #[test]
    fn with_no_interval_only_the_reference_tools_line_at_the_start() {
        let quiet = OutputMode::choose(Progress::Auto, false, false, false, PIPE);
        assert_eq!((quiet.lines, quiet.bar), (Lines::Off, false));
        assert!(quiet.line_at_start);
        let json = OutputMode::choose(Progress::Auto, true, false, false, PIPE);
        assert!(!json.line_at_start);
    }
}
