//! The live status line for a terminal: a progress bar of attempts made, the counts that
//! matter, the current attempt rate and the connect p99 so far, redrawn in place on stderr.
//! The formatting is a pure function; [`StatusLine`] only tracks what the rate needs and
//! where the cursor is.

use std::io::{self, Write};
use std::time::Duration;

use crate::cli::duration::go_style;
use crate::engine::stats::Stats;

const CLEAR_LINE: &str = "\r\x1b[2K";

/// What the status line shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub made: u64,
    pub total: u64,
    pub established: u64,
    /// With a probe: connections served so far.
    pub served: Option<u64>,
    pub closed: u64,
    pub errors: u64,
    /// Attempts per second since the previous redraw.
    pub rate: f64,
    pub p99: Option<Duration>,
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The line for `view`, fitted to `width` columns (the bar takes what the text leaves).
pub fn format_line(view: &View, width: usize, color: bool) -> String {
    let served = view
        .served
        .map_or_else(String::new, |n| format!(" served {n}"));
    let counts = format!(
        " {}/{} est {}{served} closed {} err {} {:.0}/s p99 {}",
        view.made,
        view.total,
        view.established,
        view.closed,
        view.errors,
        view.rate,
        view.p99.map_or_else(|| "-".to_string(), go_style),
    );
    let bar_width = width.saturating_sub(counts.chars().count() + 3).min(40);
    let filled = if view.total == 0 {
        0
    } else {
        (bar_width as u128 * u128::from(view.made.min(view.total)) / u128::from(view.total))
            as usize
    };
    let bar = if bar_width >= 5 {
        format!(
            "[{}{}] ",
            "#".repeat(filled),
            "-".repeat(bar_width - filled)
        )
    } else {
        String::new()
    };
    let counts = if color {
        format!(
            " {}/{} est {}{served} closed {} err {} {:.0}/s p99 {}",
            view.made,
            view.total,
            paint(&view.established.to_string(), "32", true),
            paint(&view.closed.to_string(), "33", view.closed > 0),
            paint(&view.errors.to_string(), "31", view.errors > 0),
            view.rate,
            view.p99.map_or_else(|| "-".to_string(), go_style),
        )
    } else {
        counts
    };
    format!("{bar}{}", counts.trim_start())
}

/// A status line on a terminal, redrawn in place.
pub struct StatusLine<W: Write> {
    out: W,
    width: usize,
    color: bool,
    last: Option<(Duration, u64)>,
    drawn: bool,
}

impl<W: Write> StatusLine<W> {
    pub fn new(out: W, width: usize, color: bool) -> StatusLine<W> {
        StatusLine {
            out,
            width,
            color,
            last: None,
            drawn: false,
        }
    }

    /// Redraws the line for `stats` at `elapsed` since the start.
    pub fn draw(&mut self, elapsed: Duration, stats: &Stats) -> io::Result<()> {
        let counts = &stats.counts;
        let made = counts.total - counts.not_initiated;
        let rate = match self.last {
            Some((at, before)) if elapsed > at => {
                (made - before) as f64 / (elapsed - at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((elapsed, made));
        let view = View {
            made,
            total: counts.total,
            established: counts.established,
            served: stats
                .probe
                .as_ref()
                .map(|p| p.of(crate::engine::probe::ProbeOutcome::Served)),
            closed: counts.closed,
            errors: counts.error,
            rate,
            p99: (stats.connect.moments.count > 0).then(|| stats.connect.quantile(0.99)),
        };
        write!(
            self.out,
            "{CLEAR_LINE}{}",
            format_line(&view, self.width, self.color)
        )?;
        self.drawn = true;
        self.out.flush()
    }

    /// Erases the line, so the final report starts on a clean one.
    pub fn erase(&mut self) -> io::Result<()> {
        if self.drawn {
            write!(self.out, "{CLEAR_LINE}")?;
            self.drawn = false;
        }
        self.out.flush()
    }
}

/// Columns of the terminal on `fd`, or of $COLUMNS, or 80.
pub fn terminal_width(fd: std::os::fd::RawFd) -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        return usize::from(size.ws_col);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(80)
}

/// Colour only on a terminal, and never when NO_COLOR is set (to anything but empty).
pub fn use_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> View {
        View {
            made: 500,
            total: 1000,
            established: 480,
            served: None,
            closed: 5,
            errors: 15,
            rate: 1234.4,
            p99: Some(Duration::from_micros(1500)),
        }
    }

    #[test]
    fn line_shows_progress_counts_rate_and_p99() {
        let line = format_line(&view(), 100, false);
        assert!(
            line.starts_with("[####################--------------------] 500/1000"),
            "{line}"
        );
        assert!(
            line.ends_with("est 480 closed 5 err 15 1234/s p99 1.5ms"),
            "{line}"
        );
        assert!(line.chars().count() <= 100);
    }

    #[test]
    fn a_probe_adds_the_served_count() {
        let view = View {
            served: Some(470),
            ..view()
        };
        let line = format_line(&view, 120, false);
        assert!(line.contains("est 480 served 470 closed 5"), "{line}");
    }

    #[test]
    fn narrow_terminals_lose_the_bar_first() {
        let line = format_line(&view(), 50, false);
        assert!(line.starts_with("500/1000"), "{line}");
    }

    #[test]
    fn color_is_only_escape_codes_around_numbers() {
        let plain = format_line(&view(), 100, false);
        let colored = format_line(&view(), 100, true);
        assert!(colored.contains("\x1b[31m15\x1b[0m"));
        let stripped = colored
            .replace("\x1b[32m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn redraws_in_place_and_erases() {
        let mut stats = Stats::new(4);
        stats.dialing(0);
        stats.established(0, Duration::from_millis(2));
        let mut out = Vec::new();
        let mut line = StatusLine::new(&mut out, 80, false);
        line.draw(Duration::from_millis(250), &stats).unwrap();
        stats.dialing(0);
        line.draw(Duration::from_millis(500), &stats).unwrap();
        line.erase().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches(CLEAR_LINE).count(), 3);
        assert!(
            text.contains("2/4 est 1 closed 0 err 0 4/s p99 2ms"),
            "{text:?}"
        );
        assert!(text.ends_with(CLEAR_LINE));
    }
}
