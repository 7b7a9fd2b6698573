//! Every live output of a run, as the engine's [`Observer`]: interval lines or JSON ticks on
//! stdout, the status line on stderr, the HdrHistogram log, and `--debug` events on stderr.

use std::io::{self, Write};
use std::time::Duration;

use crate::cli::duration::go_style;
use crate::engine::conn::State;
use crate::engine::stats::Stats;
use crate::engine::{ConnEvent, Observer};
use crate::report::hdrlog::HdrLog;
use crate::report::json;
use crate::report::progress::StatusLine;
use crate::report::text;

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
    pub bar: Option<StatusLine<io::Stderr>>,
    pub hdr: Option<HdrLog<'a>>,
    pub debug: Option<io::Stderr>,
}

impl<W: Write> Observer for Live<'_, W> {
    fn tick(&mut self, elapsed: Duration, stats: &Stats) {
        // A closed stdout (a pipe to `head`, say) must not stop the run or lose its count.
        let _ = match self.lines {
            Lines::Off => Ok(()),
            Lines::Plain => text::write_live_line(&mut self.out, &stats.counts),
            Lines::Json => json::write_tick(&mut self.out, elapsed, stats),
        }
        .and_then(|()| self.out.flush());
        if let Some(hdr) = &mut self.hdr {
            hdr.interval(elapsed, stats);
        }
    }

    fn refresh(&mut self, elapsed: Duration, stats: &Stats) {
        if let Some(bar) = &mut self.bar {
            let _ = bar.draw(elapsed, stats);
        }
    }

    fn conn_event(&mut self, event: ConnEvent) {
        let Some(err) = &mut self.debug else { return };
        let line = match event.state {
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
                event.failure.map_or("unknown", |f| f.label()),
                go_style(event.elapsed)
            ),
            State::Closed => format!(
                "connection {}: closed ({}) after {}",
                event.seq,
                event.closure.map_or("unknown", |c| c.label()),
                go_style(event.elapsed)
            ),
            State::NotInitiated => return,
        };
        let _ = writeln!(err, "{line}");
    }
}
