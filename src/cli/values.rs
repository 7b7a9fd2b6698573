//! Value parsers: each takes one flag's text and gives the typed value or a message saying
//! what was expected. Form only; checks that need more than one flag, or the outside world,
//! belong to `config`.

use std::time::Duration;

use crate::engine::probe::ProbeKind;
use crate::units::duration::{self, BareUnit};

pub use crate::units::whole_number;

/// `--shard I/N`: shard I of N, 0 <= I < N.
pub fn parse_shard(text: &str) -> Result<crate::engine::pacer::Shard, String> {
    let bad = || format!("'{text}' is not I/N: give the shard's index and the count, 0 <= I < N");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let index = whole_number(index).map_err(|_| bad())?;
    let count = whole_number(count).map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(format!(
            "'{text}': the index counts from 0 and is less than the count (0/{n} to {m}/{n})",
            n = count.max(1),
            m = count.max(1) - 1
        ));
    }
    Ok(crate::engine::pacer::Shard { index, count })
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
/// refused, since nothing would say its unit. For the short ones (a settle, a timeout, a
/// latency), whose error suggests milliseconds first.
pub(crate) fn with_unit(text: &str) -> Result<Duration, String> {
    duration::parse_with_unit(text, BareUnit::Millis).map_err(|e| e.to_string())
}

/// [`with_unit`] for the long ones (a hold, a server's lifetime, an interval), whose error
/// suggests seconds first.
pub(crate) fn long_with_unit(text: &str) -> Result<Duration, String> {
    duration::parse_with_unit(text, BareUnit::Seconds).map_err(|e| e.to_string())
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

/// `--interval` of `run`: a duration (bare = seconds, the original's) of at least
/// [`SHORTEST_INTERVAL`], or 0 for no live lines.
pub(crate) fn interval(text: &str) -> Result<Duration, String> {
    at_least_shortest(text, seconds(text)?)
}

/// `--interval` of `limit` and `server`, which the original does not have: as [`interval`],
/// with a unit.
pub(crate) fn interval_with_unit(text: &str) -> Result<Duration, String> {
    at_least_shortest(text, long_with_unit(text)?)
}

fn at_least_shortest(text: &str, interval: Duration) -> Result<Duration, String> {
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

/// `--workers`: how many processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCount {
    /// One per core, or more when the open-files limit needs them.
    Auto,
    Count(usize),
}

/// `--workers N|auto`: N at least 1.
pub fn parse_workers(text: &str) -> Result<WorkerCount, String> {
    if text == "auto" {
        return Ok(WorkerCount::Auto);
    }
    match whole_number(text) {
        Ok(0) => Err("0 workers serve nothing: give 1 or more, or auto".to_string()),
        Ok(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n <= 1024)
            .map(WorkerCount::Count)
            .ok_or_else(|| format!("'{text}' workers are too many: at most 1024")),
        Err(_) => Err(format!("'{text}' is not a number of workers or auto")),
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

impl Progress {
    pub const NAMES: [&'static str; 3] = ["auto", "bar", "lines"];
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

/// The escapes [`parse_escaped`] reads, as its errors name them.
const ESCAPES: &str = "\\r, \\n, \\t, \\0, \\\\ or \\xHH";

/// Bytes to send, as typed: text, with `\r`, `\n`, `\t`, `\0` (a NUL byte), `\\` (one
/// backslash) and `\xHH` (the byte of two hex digits, either case) for what a command line
/// cannot carry well. Every other backslash is an error, so a typo is not sent as written.
/// A digit after `\0` is a digit (`\01` is NUL, then `1`): there are no octal escapes.
pub fn parse_escaped(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        bytes.extend_from_slice(&rest.as_bytes()[..at]);
        let escape = &rest[at + 1..];
        let mut chars = escape.chars();
        let (byte, len) = match chars.next() {
            Some('r') => (b'\r', 1),
            Some('n') => (b'\n', 1),
            Some('t') => (b'\t', 1),
            Some('0') => (0, 1),
            Some('\\') => (b'\\', 1),
            Some('x') => {
                let hex: String = chars.take(2).collect();
                match (hex.len(), u8::from_str_radix(&hex, 16)) {
                    (2, Ok(byte)) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => (byte, 3),
                    _ => {
                        return Err(format!(
                            "'\\x{}' is not an escape: \\x takes two hex digits (\\x41 is A)",
                            hex.escape_debug()
                        ));
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "'\\{}' is not an escape: expected {ESCAPES}",
                    other.escape_debug()
                ));
            }
            None => {
                return Err(format!(
                    "a lone \\ ends the text: expected {ESCAPES} (\\\\ for a backslash)"
                ));
            }
        };
        bytes.push(byte);
        rest = &escape[len..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    Ok(bytes)
}

/// The inverse of [`parse_escaped`]: printable ASCII as itself, a backslash doubled, `\r`,
/// `\n`, `\t` and `\0` by name, and every other byte as `\xHH`. The text is printable ASCII
/// on one line, and `parse_escaped(&escape(bytes))` gives the bytes back.
pub fn escape(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'\\' => text.push_str("\\\\"),
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            0 => text.push_str("\\0"),
            b' '..=b'~' => text.push(char::from(byte)),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text
}

/// `--probe`: a preset's name, or `postgres:USER` for another role.
pub(crate) fn parse_probe_kind(text: &str) -> Result<ProbeKind, String> {
    let (name, user) = match text.split_once(':') {
        Some((name, user)) => (name, Some(user)),
        None => (text, None),
    };
    let kind = match (name, user) {
        ("postgres", None) => ProbeKind::Postgres {
            user: "postgres".to_string(),
        },
        ("postgres", Some(user)) if !user.is_empty() && !user.contains('\0') => {
            ProbeKind::Postgres {
                user: user.to_string(),
            }
        }
        ("postgres", Some(_)) => return Err(format!("'{text}': postgres:USER needs a role")),
        ("greeting", None) => ProbeKind::Greeting,
        ("redis", None) => ProbeKind::Redis,
        ("memcached", None) => ProbeKind::Memcached,
        ("http", None) => ProbeKind::Http,
        ("ssh", None) => ProbeKind::Ssh,
        ("smtp", None) => ProbeKind::Smtp,
        ("mqtt", None) => ProbeKind::Mqtt,
        ("mqtt-ws", None) => ProbeKind::MqttWs {
            path: "/mqtt".to_string(),
        },
        ("h2", None) => ProbeKind::H2,
        ("h2c", None) => ProbeKind::H2c,
        ("ws", None) => ProbeKind::Ws {
            path: "/".to_string(),
        },
        (kind @ ("ws" | "mqtt-ws"), Some(path)) => {
            // The request line's path: no space or control byte can be in it.
            if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(format!(
                    "'{text}': {kind}:PATH needs a path that begins with / and has no spaces"
                ));
            }
            if path.len() > 8192 {
                return Err(format!("'{text}': {kind}:PATH is longer than 8192 bytes"));
            }
            let path = path.to_string();
            match kind {
                "ws" => ProbeKind::Ws { path },
                _ => ProbeKind::MqttWs { path },
            }
        }
        _ => {
            return Err(format!(
                "'{text}' is not a probe: expected {}, or postgres:USER, ws:PATH, mqtt-ws:PATH",
                ProbeKind::NAMES.join(", ")
            ));
        }
    };
    Ok(kind)
}

/// `--send` and `--expect`: escaped bytes, at most 65535 of them.
pub(crate) fn parse_probe_bytes(text: &str) -> Result<Vec<u8>, String> {
    let bytes = parse_escaped(text)?;
    if bytes.len() > usize::from(u16::MAX) {
        return Err(format!(
            "{} bytes is too long for a probe: at most {}",
            bytes.len(),
            u16::MAX
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_read() {
        assert_eq!(
            parse_escaped(r"-ERR max\r\n").unwrap(),
            b"-ERR max\r\n".to_vec()
        );
        assert_eq!(
            parse_escaped(r"\t\0\\\x41\x7e\xFF\x00").unwrap(),
            b"\t\0\\A~\xff\0".to_vec()
        );
        assert_eq!(parse_escaped(r"\01").unwrap(), b"\x001".to_vec());
        assert_eq!(parse_escaped(r"\\n").unwrap(), b"\\n".to_vec());
        assert_eq!(parse_escaped("").unwrap(), b"".to_vec());
        assert_eq!(parse_escaped("hello").unwrap(), b"hello".to_vec());
        assert_eq!(parse_escaped("µs\\n").unwrap(), "µs\n".as_bytes().to_vec());
    }

    #[test]
    fn a_bad_escape_is_an_error_that_names_it() {
        let error = |text| parse_escaped(text).unwrap_err();
        assert!(
            error(r"a\qb").starts_with(r"'\q' is not an escape"),
            "{}",
            error(r"a\qb")
        );
        assert!(error(r"\x4").starts_with(r"'\x4' is not an escape"));
        assert!(error(r"\x4g").starts_with(r"'\x4g' is not an escape"));
        assert!(error(r"\x").starts_with(r"'\x' is not an escape"));
        assert!(error(r"\x+1").starts_with(r"'\x+1' is not an escape"));
        assert!(error(r"\xµ").starts_with(r"'\xµ' is not an escape"));
        assert!(error(r"\µ").starts_with(r"'\µ' is not an escape"));
        assert!(error("ab\\").starts_with(r"a lone \ ends the text"));
        // A line break after the backslash stays out of the message's one line.
        assert!(!error("\\\n").contains('\n'), "{}", error("\\\n"));
        assert!(!error("\\x\n1").contains('\n'), "{}", error("\\x\n1"));
    }

    #[test]
    fn escape_is_the_inverse() {
        assert_eq!(escape(b"-ERR max\r\n"), r"-ERR max\r\n");
        assert_eq!(escape(b"a\\b\t\0\x7f\xff"), r"a\\b\t\0\x7f\xff");
        let every_byte: Vec<u8> = (0..=255).collect();
        let text = escape(&every_byte);
        assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)), "{text}");
        assert_eq!(parse_escaped(&text).unwrap(), every_byte);
    }
}
