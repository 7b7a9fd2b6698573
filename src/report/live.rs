//! Every live output of a run, as the engine's [`Observer`]: interval lines or JSON ticks on
//! stdout, the status line on stderr, the HdrHistogram log, and `--debug` events on stderr.
//! Each goes through an [`Outlet`], so none can block the loop; what they lose to a reader
//! that does not keep up, the final report counts ([`write_dropped`]).

use std::io::{self, Write};
use std::time::Duration;

use crate::engine::conn::{Failure, State};
use crate::engine::probe::ProbeOutcome;
use crate::engine::stats::Stats;
use crate::engine::{ConnEvent, Observer};
use crate::report::hdrlog::HdrLog;
use crate::report::json;
use crate::report::outlet::Outlet;
use crate::report::progress::StatusLine;
use crate::report::text;
use crate::units::duration::go_style;

/// What goes to stdout at each interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Off,
    /// The reference tool's `Total:` line.
    Plain,
    /// A JSON `tick` object.
    Json,
}

/// Every live output of a run: interval lines or JSON ticks on stdout, the status line on
/// stderr, the HdrHistogram log, and `--debug` events on stderr.
pub struct Live<'a, W: Write> {
    pub out: W,
    pub lines: Lines,
    pub bar: Option<StatusLine<Outlet>>,
    /// stdout's lines reach the terminal the status line is on: each one is written with
    /// the status line erased, then it is drawn again below it.
    pub bar_shares_stdout: bool,
    pub hdr: Option<HdrLog<'a>>,
    pub debug: Option<Outlet>,
}

impl<W: Write> Observer for Live<'_, W> {
    fn tick(&mut self, elapsed: Duration, stats: &Stats) {
        let shared = self.bar_shares_stdout && self.lines != Lines::Off;
        if let Some(bar) = self.bar.as_mut().filter(|_| shared) {
            let _ = bar.erase();
        }
        // A closed stdout (a pipe to `head`, say) must not stop the run or lose its count.
        let _ = match self.lines {
            Lines::Off => Ok(()),
            Lines::Plain => text::write_live_line(&mut self.out, &stats.counts)
                .and_then(|()| text::write_interval_beats(&mut self.out, stats)),
            Lines::Json => json::write_tick(&mut self.out, elapsed, stats),
        }
        .and_then(|()| self.out.flush());
        if let Some(bar) = self.bar.as_mut().filter(|_| shared) {
            let _ = bar.redraw();
        }
        if let Some(hdr) = &mut self.hdr {
            hdr.interval(elapsed, stats);
        }
    }

    fn refresh(&mut self, elapsed: Duration, stats: &Stats) {
        if let Some(bar) = &mut self.bar {
            let _ = bar.draw(elapsed, stats);
        }
    }

    fn resized(&mut self) {
        if let Some(bar) = &mut self.bar {
            let _ = bar.redraw();
        }
    }

    fn conn_event(&mut self, event: ConnEvent) {
        let Some(err) = &mut self.debug else { return };
        if let Some(line) = debug_line(&event) {
            let _ = writeln!(err, "{line}");
        }
    }
}

/// `--debug`'s line for a connection's event; `None` for one it does not show.
pub fn debug_line(event: &ConnEvent) -> Option<String> {
    let event = *event;
    let line = match (event.probe, event.state) {
        _ if let Some(said) = event.said => format!(
            "connection {}: {} after {}",
            event.seq,
            said.label(),
            go_style(event.elapsed)
        ),
        _ if event.beat_stopped.is_some() => format!(
            "connection {}: stopped answering heartbeats ({}) after {}",
            event.seq,
            event.beat_stopped.map_or("", |c| c.label()),
            go_style(event.elapsed)
        ),
        (Some(ProbeOutcome::Served), _) => format!(
            "connection {}: served in {}",
            event.seq,
            go_style(event.elapsed)
        ),
        (Some(outcome), _) => format!(
            "connection {}: {} after {}",
            event.seq,
            outcome.label(),
            go_style(event.elapsed)
        ),
        (None, state) => match state {
            State::Dialing => match event.failure {
                None => format!("connection {}: dialing", event.seq),
                // It fell back: the address it was on failed, and it dials the next.
                Some(failure) => format!(
                    "connection {}: {} after {}, dialing the next address",
                    event.seq,
                    failure.label(),
                    go_style(event.elapsed)
                ),
            },
            State::Established => format!(
                "connection {}: established in {}",
                event.seq,
                go_style(event.elapsed)
            ),
            State::Error => format!(
                "connection {}: error ({}) after {}",
                event.seq,
                failure_text(&event),
                go_style(event.elapsed)
            ),
            State::Closed => format!(
                "connection {}: closed ({}) after {}",
                event.seq,
                event.closure.map_or("unknown", |c| c.label()),
                go_style(event.elapsed)
            ),
            State::NotInitiated => return None,
        },
    };
    Some(line)
}

/// A failure's cause; for one with no name of its own, with the OS error behind it, the only
/// clue to what happened: `other: Permission denied (os error 13)`.
fn failure_text(event: &ConnEvent) -> String {
    match (event.failure, event.os_error) {
        (Some(Failure::Other), Some(errno)) => {
            format!("other: {}", io::Error::from_raw_os_error(errno))
        }
        (failure, _) => failure.map_or("unknown", Failure::label).to_string(),
    }
}

/// The final report's line on the live output lost to a reader that was not keeping up;
/// nothing when none was lost.
pub fn write_dropped(w: &mut impl Write, dropped: u64) -> io::Result<()> {
    let lines = if dropped == 1 { "line" } else { "lines" };
    match dropped {
        0 => Ok(()),
        n => writeln!(
            w,
            "Live output: {n} {lines} dropped (the reader was not keeping up)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_lines_are_told_only_when_there_are_some() {
        let text = |n| {
            let mut out = Vec::new();
            write_dropped(&mut out, n).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0), "");
        assert_eq!(
            text(1),
            "Live output: 1 line dropped (the reader was not keeping up)\n"
        );
        assert_eq!(
            text(1234),
            "Live output: 1234 lines dropped (the reader was not keeping up)\n"
        );
    }
}
