//! Value parsers: each takes one flag's text and gives the typed value or a message saying
//! what was expected. Form only; checks that need more than one flag, or the outside world,
//! belong to `config`.

use std::time::Duration;

use crate::cli::duration::{self, BareUnit};

/// A count: digits only, no sign, no separators.
pub fn whole_number(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a whole number"));
    }
    text.parse().map_err(|_| format!("'{text}' is too large"))
}

/// A port to connect to: 1-65535.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match parse_port_or_zero(text)? {
        0 => Err("port 0 cannot be connected to; expected 1-65535".to_string()),
        port => Ok(port),
    }
}

/// A port to listen on: 0 asks the kernel for a free one.
pub fn parse_port_or_zero(text: &str) -> Result<u16, String> {
    let n = whole_number(text).map_err(|_| format!("'{text}' is not a port: expected 1-65535"))?;
    u16::try_from(n).map_err(|_| format!("port {text} is out of range: expected 1-65535"))
}

/// How long a run keeps its connections open after the last outcome, by default: long
/// enough for a server's refusal after the handshake to arrive (BENCHMARKS.md, "Settle").
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(50);

/// A duration for a flag the reference tool does not have: a bare number other than 0 is
/// refused, since nothing would say its unit.
pub(crate) fn with_unit(text: &str) -> Result<Duration, String> {
    let bare = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if bare && text.bytes().any(|b| b != b'0' && b != b'.') {
        return Err(format!("'{text}' needs a unit: e.g. {text}ms or {text}s"));
    }
    duration::parse(text, BareUnit::Millis).map_err(|e| e.to_string())
}

pub(crate) fn millis(text: &str) -> Result<Duration, String> {
    duration::parse(text, BareUnit::Millis).map_err(|e| e.to_string())
}

pub(crate) fn seconds(text: &str) -> Result<Duration, String> {
    duration::parse(text, BareUnit::Seconds).map_err(|e| e.to_string())
}

/// The shortest `--interval` other than 0: shorter, the live lines are a flood that keeps a
/// core busy writing them (`-i 1ns` wrote some 67000 a second).
const SHORTEST_INTERVAL: Duration = Duration::from_millis(10);

/// `--interval`: a duration (bare = seconds) of at least [`SHORTEST_INTERVAL`], or 0 for
/// no live lines.
pub(crate) fn interval(text: &str) -> Result<Duration, String> {
    let interval = seconds(text)?;
    if !interval.is_zero() && interval < SHORTEST_INTERVAL {
        return Err(format!(
            "'{text}' is shorter than 10ms: give 10ms or more, or 0 to turn the live lines off"
        ));
    }
    Ok(interval)
}

/// The most attempts per second `--rate` takes.
const MAX_RATE: f64 = 1e9;

/// Attempts per second: a positive number, fractions allowed (0.5 is one every 2 s).
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match text.parse::<f64>() {
        Ok(rate) if valid && rate > 0.0 && rate <= MAX_RATE => Ok(rate),
        Ok(rate) if valid && rate > MAX_RATE => Err(format!(
            "'{text}' is too high: expected attempts per second, more than 0 and at most \
             {MAX_RATE}"
        )),
        _ => Err(format!(
            "'{text}' is not a rate: expected attempts per second, more than 0 and at most \
             {MAX_RATE}"
        )),
    }
}

/// The spellings of true and false the original tool's flags take (Go's `strconv.ParseBool`).
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" | "TRUE" | "True" | "t" | "T" | "1" => Ok(true),
        "false" | "FALSE" | "False" | "f" | "F" | "0" => Ok(false),
        _ => Err(format!("'{text}' is not true or false")),
    }
}

/// How live progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A redrawn status line when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Always the redrawn status line on stderr.
    Bar,
    /// Always the reference tool's plain `Total:` lines.
    Lines,
}

pub(crate) fn parse_progress(text: &str) -> Result<Progress, String> {
    match text {
        "auto" => Ok(Progress::Auto),
        "bar" => Ok(Progress::Bar),
        "lines" => Ok(Progress::Lines),
        _ => Err(format!(
            "'{text}' is not a progress mode: expected auto, bar or lines"
        )),
    }
}
