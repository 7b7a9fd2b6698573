//! The live status line for a terminal: a progress bar of attempts made, the counts that
//! matter, the current attempt rate and the connect p99 so far, redrawn in place on stderr.
//! The formatting is a pure function of what it shows and the columns it has; [`StatusLine`]
//! tracks what the rate needs and what is on the screen, and asks for the terminal's width
//! at every redraw, so a resized window gets a line that fits at the next one.
//!
//! The line never takes more than the width less one column (a line that filled the last
//! column would leave the cursor waiting to wrap). Each field keeps a steady width as its
//! number grows: counts are as wide as the total, the rate at least five digits, the p99
//! three significant digits in a six-column slot, so nothing shifts during a run. When the
//! fields do not fit, they go in [`DROP_ORDER`]: the bar shrinks first and goes below five
//! cells, then the beat p99 (with `--heartbeat`), the rate, the p99, closed, served, errors
//! and established; the attempts made out of the total stay while they fit (under ten
//! columns, the line is empty).
//!
//! With heartbeats, the last field is the beat latency p99 of the interval so far (the one
//! live lines and ticks report). Just after a tick the new interval has no answered beat
//! yet: the field keeps the last value it showed then rather than blink to `-`.
//!
//! How it stays on one row whatever the window does. Each redraw returns to the line's
//! first column, erases the row (`\r\x1b[2K`), writes the line with autowrap off
//! (`\x1b[?7l` … `\x1b[?7h`, so a window narrowed between the width's reading and the
//! write cuts the line rather than wrapping it), and leaves the cursor on the first column
//! (`\r`). A terminal that rewraps its lines when the window narrows (tmux, VTE, kitty and
//! most others) splits the drawn line into as many rows as the new width needs, and the
//! cursor, at its start, stays on the first of them: the next redraw also erases the rows
//! below it that the line now takes (each with `\x1b[B\x1b[2K`, between a save and a
//! restore of the cursor, `\x1b7` … `\x1b8`, which also makes it harmless on one that cuts
//! the line instead, such as xterm). Nothing stale is left above the next line or the final
//! report. (Erasing to the end of the screen, `\x1b[J`, would do it in one, but tmux saves
//! the whole screen to its history when that is done from the top row, so every redraw
//! would leave a copy there.)

use std::io::{self, Write};
use std::time::Duration;

use crate::engine::stats::Stats;

/// Erases the row the cursor is on, from its first column.
const ERASE_ROW: &str = "\r\x1b[2K";
const AUTOWRAP_OFF: &str = "\x1b[?7l";
const AUTOWRAP_ON: &str = "\x1b[?7h";

/// What erases a line of `drawn` columns, with the cursor at its start, on a terminal
/// `width` columns wide: its row, and the rows below it that a rewrap split it into.
fn erasure(drawn: usize, width: usize) -> String {
    let below = drawn.div_ceil(width.max(1)).saturating_sub(1);
    if below == 0 {
        return ERASE_ROW.to_string();
    }
    format!("\x1b7{}\x1b8{ERASE_ROW}", "\x1b[B\x1b[2K".repeat(below))
}

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
    /// With heartbeats: the interval's beat p99 (`None` inside: none answered yet).
    pub beat_p99: Option<Option<Duration>>,
}

/// A field of the status line (besides the bar), in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Attempts made out of the total: never dropped.
    Made,
    Established,
    Served,
    Closed,
    Errors,
    Rate,
    P99,
    BeatP99,
}

/// Which field goes first when the line does not fit (after the bar): the beat p99, the
/// rate and the p99 are the report's business, a closure is rarer than an error, and the counts of
/// what the server took are the last to go. A new field is placed in this list.
pub const DROP_ORDER: [Field; 7] = [
    Field::BeatP99,
    Field::Rate,
    Field::P99,
    Field::Closed,
    Field::Served,
    Field::Errors,
    Field::Established,
];

/// The bar's cells at most, and at least (below that it is left out).
const BAR_MAX: usize = 40;
const BAR_MIN: usize = 5;

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Digits of `n` in decimal.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// A duration in six columns: three significant digits right-aligned in four, then the
/// unit in two (`175µs`, `1.50ms`, `12.3ms`, ` 123ms`, `1.50s `); past 999 s it grows.
pub fn steady_duration(d: Duration) -> String {
    let micros = d.as_micros() as f64;
    let (value, unit) = if micros < 999.5 {
        (micros, "µs")
    } else if micros < 999_500.0 {
        (micros / 1e3, "ms")
    } else {
        (micros / 1e6, "s ")
    };
    let number = if value < 9.995 && unit != "µs" {
        format!("{value:.2}")
    } else if value < 99.95 && unit != "µs" {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{number:>4}{unit}")
}

/// One field as shown: its plain text (for its width) and its text with colour.
struct Shown {
    field: Field,
    plain: String,
    painted: String,
}

fn fields(view: &View, color: bool) -> Vec<Shown> {
    let count = digits(view.total);
    let num = |n: u64| format!("{n:>count$}");
    let mut shown = Vec::new();
    let mut add = |field, label: &str, number: String, code: &str, colored: bool| {
        let plain = format!("{label}{number}");
        let painted = format!("{label}{}", paint(&number, code, color && colored));
        shown.push(Shown {
            field,
            plain,
            painted,
        });
    };
    add(
        Field::Made,
        "",
        format!("{}/{}", num(view.made), view.total),
        "",
        false,
    );
    add(
        Field::Established,
        "est ",
        num(view.established),
        "32",
        true,
    );
    if let Some(served) = view.served {
        add(Field::Served, "served ", num(served), "32", true);
    }
    add(
        Field::Closed,
        "closed ",
        num(view.closed),
        "33",
        view.closed > 0,
    );
    add(
        Field::Errors,
        "err ",
        num(view.errors),
        "31",
        view.errors > 0,
    );
    let rate = format!("{:.0}", view.rate.max(0.0));
    add(Field::Rate, "", format!("{rate:>5}/s"), "", false);
    let p99 = view
        .p99
        .map_or_else(|| format!("{:>6}", "-"), steady_duration);
    add(Field::P99, "p99 ", p99, "", false);
    if let Some(beat) = view.beat_p99 {
        let beat = beat.map_or_else(|| format!("{:>6}", "-"), steady_duration);
        add(Field::BeatP99, "beat p99 ", beat, "", false);
    }
    shown
}

/// Columns of the fields, one space between each.
fn columns(fields: &[Shown]) -> usize {
    let text: usize = fields.iter().map(|f| f.plain.chars().count()).sum();
    text + fields.len().saturating_sub(1)
}

/// The line for `view` on a terminal `width` columns wide: at most `width - 1` columns,
/// the fields that fit (see [`DROP_ORDER`]), and the bar in what they leave.
pub fn format_line(view: &View, width: usize, color: bool) -> String {
    let room = width.saturating_sub(1);
    let mut shown = fields(view, color);
    let all = shown.len();
    for field in DROP_ORDER {
        if columns(&shown) <= room {
            break;
        }
        shown.retain(|f| f.field != field);
    }
    if columns(&shown) > room {
        // Only the attempts are left, and even they do not fit: cut, they would misread.
        return String::new();
    }
    let text = shown
        .iter()
        .map(|f| f.painted.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // "[", the cells, "] ".
    let bar_width = room.saturating_sub(columns(&shown) + 3).min(BAR_MAX);
    // The bar goes first: once a field is dropped, the room it leaves is not the bar's.
    if bar_width < BAR_MIN || shown.len() < all {
        return text;
    }
    let filled = if view.total == 0 {
        0
    } else {
        (bar_width as u128 * u128::from(view.made.min(view.total)) / u128::from(view.total))
            as usize
    };
    format!(
        "[{}{}] {text}",
        "#".repeat(filled),
        "-".repeat(bar_width - filled)
    )
}

/// Columns of a line, without its colour's escape codes.
fn width_of(line: &str) -> usize {
    let mut columns = 0;
    let mut in_escape = false;
    for c in line.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, _) => columns += 1,
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    columns
}

/// A status line on a terminal, redrawn in place.
pub struct StatusLine<W: Write> {
    out: W,
    /// The terminal's width now: asked at every redraw.
    width: Box<dyn FnMut() -> usize>,
    color: bool,
    last: Option<(Duration, u64)>,
    /// The beat p99 shown last, kept while a new interval has no answered beat yet.
    last_beat_p99: Option<Duration>,
    /// What was drawn last, to draw again after a resize or a line from stdout.
    view: Option<View>,
    /// Columns of the line on the screen, if there is one.
    drawn: Option<usize>,
}

impl<W: Write> StatusLine<W> {
    pub fn new(out: W, width: impl FnMut() -> usize + 'static, color: bool) -> StatusLine<W> {
        StatusLine {
            out,
            width: Box::new(width),
            color,
            last: None,
            last_beat_p99: None,
            view: None,
            drawn: None,
        }
    }

    /// Redraws the line for `stats` at `elapsed` since the start.
    pub fn draw(&mut self, elapsed: Duration, stats: &Stats) -> io::Result<()> {
        let counts = &stats.counts;
        let made = counts.total - counts.not_initiated;
        let rate = match self.last {
            Some((at, before)) if elapsed > at => {
                made.saturating_sub(before) as f64 / (elapsed - at).as_secs_f64()
            }
            _ => 0.0,
        };
        self.last = Some((elapsed, made));
        let beat_p99 = stats.beats.as_ref().map(|beats| {
            if !beats.interval.is_empty() {
                self.last_beat_p99 = Some(beats.interval.quantile(0.99));
            }
            self.last_beat_p99
        });
        self.view = Some(View {
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
            beat_p99,
        });
        self.redraw()
    }

    /// Draws what was drawn last again, fitted to the width the terminal has now (after a
    /// resize, or after erasing it for a line of stdout's on the same terminal).
    pub fn redraw(&mut self) -> io::Result<()> {
        let Some(view) = self.view else {
            return Ok(());
        };
        let width = (self.width)();
        let line = format_line(&view, width, self.color);
        write!(
            self.out,
            "{AUTOWRAP_OFF}{}{line}{AUTOWRAP_ON}\r",
            erasure(self.drawn.unwrap_or(0), width)
        )?;
        self.drawn = Some(width_of(&line));
        self.out.flush()
    }

    /// Erases the line, so the next line (or the final report) starts on a clean row.
    pub fn erase(&mut self) -> io::Result<()> {
        if let Some(drawn) = self.drawn.take() {
            write!(self.out, "{}", erasure(drawn, (self.width)()))?;
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

/// Whether `fd` is a pipe or a socket: what a reader may pass on to a screen.
pub fn is_pipe_or_socket(fd: std::os::fd::RawFd) -> bool {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `stat` when it succeeds, and it is read only then.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: filled by the successful call above.
    let mode = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    mode == libc::S_IFIFO || mode == libc::S_IFSOCK
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
            beat_p99: None,
        }
    }

    #[test]
    fn line_shows_progress_counts_rate_and_p99() {
        let line = format_line(&view(), 100, false);
        assert_eq!(
            line,
            "[###################-------------------]  500/1000 est  480 closed    5 err   15  \
             1234/s p99 1.50ms"
        );
    }

    #[test]
    fn a_probe_adds_the_served_count() {
        let view = View {
            served: Some(470),
            ..view()
        };
        let line = format_line(&view, 120, false);
        assert!(line.contains("est  480 served  470 closed    5"), "{line}");
    }

    #[test]
    fn never_wider_than_the_terminal_less_one_column() {
        for total in [1, 9, 10, 999, 1000, 65_535, 1_000_000, u64::MAX] {
            let view = View {
                made: total,
                total,
                established: total,
                served: Some(total),
                closed: total,
                errors: total,
                rate: 1e9,
                p99: Some(Duration::from_secs(5000)),
                beat_p99: Some(Some(Duration::from_secs(5000))),
            };
            for width in 0..=200 {
                let line = format_line(&view, width, false);
                assert!(width_of(&line) < width.max(1), "{width} columns: {line:?}");
            }
        }
    }

    #[test]
    fn narrow_terminals_lose_the_bar_then_the_fields_in_drop_order() {
        let view = View {
            served: Some(470),
            ..view()
        };
        let full = format_line(&view, 200, false);
        assert!(full.starts_with('['), "{full}");
        let text = full.split_once("] ").unwrap().1.to_string();
        // Without the bar, exactly as wide as the fields: nothing dropped yet.
        assert_eq!(format_line(&view, width_of(&text) + 1, false), text);
        let mut seen = vec![text.clone()];
        let mut width = width_of(&text) + 1;
        while width > 0 {
            width -= 1;
            let line = format_line(&view, width, false);
            if seen.last() != Some(&line) {
                seen.push(line);
            }
        }
        let gone = |line: &str| -> Vec<&str> {
            ["/s", "p99", "closed", "served", "err", "est"]
                .into_iter()
                .filter(|label| !line.contains(label))
                .collect()
        };
        assert_eq!(gone(&seen[1]), ["/s"], "{seen:#?}");
        assert_eq!(gone(&seen[2]), ["/s", "p99"], "{seen:#?}");
        assert_eq!(gone(&seen[3]), ["/s", "p99", "closed"], "{seen:#?}");
        assert_eq!(gone(&seen[4]), ["/s", "p99", "closed", "served"]);
        assert_eq!(seen[5], " 500/1000 est  480");
        assert_eq!(seen[6], " 500/1000");
        assert_eq!(seen[7], "", "{seen:#?}");
        assert_eq!(seen.len(), 8, "{seen:#?}");
    }

    #[test]
    fn heartbeats_add_the_beat_p99_last_and_it_goes_first() {
        let view = View {
            beat_p99: Some(Some(Duration::from_micros(12_300))),
            ..view()
        };
        let full = format_line(&view, 200, false);
        assert!(full.ends_with("p99 1.50ms beat p99 12.3ms"), "{full}");
        let text = full.split_once("] ").unwrap().1;
        // One column short of all the fields: the beat p99 goes, the rate stays.
        let line = format_line(&view, width_of(text), false);
        assert!(!line.contains("beat") && line.contains("/s"), "{line}");
        let none_yet = View {
            beat_p99: Some(None),
            ..view
        };
        assert!(format_line(&none_yet, 200, false).ends_with("beat p99      -"));
    }

    #[test]
    fn forty_columns_keep_the_counts_of_a_few_thousand() {
        let view = View {
            made: 2999,
            total: 3000,
            established: 2990,
            served: None,
            closed: 3,
            errors: 6,
            rate: 1000.0,
            p99: None,
            beat_p99: None,
        };
        assert_eq!(
            format_line(&view, 40, false),
            "2999/3000 est 2990 closed    3 err    6"
        );
    }

    #[test]
    fn fields_keep_their_width_as_the_numbers_grow() {
        for width in [40, 80, 120] {
            let widths: Vec<usize> = (0..=3000u64)
                .step_by(7)
                .map(|n| {
                    let view = View {
                        made: n,
                        total: 3000,
                        established: n * 9 / 10,
                        served: None,
                        closed: n / 100,
                        errors: n / 20,
                        rate: (n * 10) as f64,
                        p99: (n > 0).then(|| Duration::from_micros(n * 97)),
                        beat_p99: Some((n > 0).then(|| Duration::from_micros(n * 31))),
                    };
                    width_of(&format_line(&view, width, false))
                })
                .collect();
            assert!(
                widths.windows(2).all(|w| w[0] == w[1]),
                "{width} columns: {widths:?}"
            );
        }
    }

    #[test]
    fn durations_take_six_columns() {
        let cases = [
            (0, "   0µs"),
            (7, "   7µs"),
            (175, " 175µs"),
            (999, " 999µs"),
            (1000, "1.00ms"),
            (1500, "1.50ms"),
            (12_345, "12.3ms"),
            (99_960, " 100ms"),
            (123_456, " 123ms"),
            (999_400, " 999ms"),
            (999_600, "1.00s "),
            (65_000_000, "65.0s "),
        ];
        for (micros, text) in cases {
            assert_eq!(steady_duration(Duration::from_micros(micros)), text);
            assert_eq!(width_of(text), 6);
        }
    }

    #[test]
    fn color_is_only_escape_codes_around_numbers() {
        let plain = format_line(&view(), 100, false);
        let colored = format_line(&view(), 100, true);
        assert!(colored.contains("\x1b[31m  15\x1b[0m"), "{colored:?}");
        let stripped = colored
            .replace("\x1b[32m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn redraws_in_place_at_the_width_of_each_redraw_and_erases() {
        use std::cell::Cell;
        use std::rc::Rc;
        let mut stats = Stats::new(4);
        stats.dialing(0);
        stats.established(0, Duration::from_millis(2));
        let mut out = Vec::new();
        let columns = Rc::new(Cell::new(80));
        let mut line = StatusLine::new(
            &mut out,
            {
                let c = columns.clone();
                move || c.get()
            },
            false,
        );
        line.draw(Duration::from_millis(250), &stats).unwrap();
        stats.dialing(0);
        line.draw(Duration::from_millis(500), &stats).unwrap();
        columns.set(20);
        line.redraw().unwrap();
        line.erase().unwrap();
        line.erase().unwrap();
        let text = String::from_utf8(out).unwrap();
        let frames: Vec<&str> = text.split_inclusive(&format!("{AUTOWRAP_ON}\r")).collect();
        assert_eq!(frames.len(), 4, "three draws, then the erasure: {text:?}");
        let draw = |frame: &str, erase: &str| -> String {
            let start = format!("{AUTOWRAP_OFF}{erase}");
            frame
                .strip_prefix(&start)
                .and_then(|s| s.strip_suffix(&format!("{AUTOWRAP_ON}\r")))
                .unwrap_or_else(|| panic!("{frame:?} starts {start:?}"))
                .to_string()
        };
        let first = draw(frames[0], ERASE_ROW);
        assert!(
            first.ends_with(" 1/4 est 1 closed 0 err 0     0/s p99 2.00ms"),
            "{first:?}"
        );
        let second = draw(frames[1], ERASE_ROW);
        assert!(
            second.ends_with(" 2/4 est 1 closed 0 err 0     4/s p99 2.00ms"),
            "{second:?}"
        );
        assert_eq!(width_of(&second), 79);
        // At 20 columns the line of 79 takes four rows: the three below go too.
        let below = format!("\x1b7{}\x1b8{ERASE_ROW}", "\x1b[B\x1b[2K".repeat(3));
        assert_eq!(draw(frames[2], &below), "2/4 est 1 err 0");
        assert_eq!(frames[3], ERASE_ROW, "erased once: {text:?}");
    }

    #[test]
    fn an_erasure_takes_the_rows_a_narrower_window_split_the_line_into() {
        assert_eq!(erasure(0, 80), ERASE_ROW);
        assert_eq!(erasure(79, 80), ERASE_ROW);
        assert_eq!(erasure(40, 40), ERASE_ROW);
        assert_eq!(
            erasure(41, 40),
            format!("\x1b7\x1b[B\x1b[2K\x1b8{ERASE_ROW}")
        );
        assert_eq!(erasure(119, 0).matches("\x1b[B").count(), 118);
        assert_eq!(width_of("\x1b[32m480\x1b[0m µs"), 6);
    }
}
