//! Durations: `duration::parse` on any text, and both printers on any `Duration`.
//!
//! The input is the text to parse; its first 12 bytes also make a `Duration` (seconds, then
//! nanoseconds) for the printers. Properties, beyond never panicking:
//! - an accepted duration is at most 100000h, and `canonical` prints it back to itself;
//! - a number with a unit means the same whatever the bare unit; a bare number in seconds
//!   is a thousand times the same number in milliseconds (or, finer than a microsecond, is
//!   refused in milliseconds);
//! - leading zeros do not change a number;
//! - `canonical` of any duration up to 100000h parses back to it, and longer ones are refused;
//! - `go_style` prints the duration truncated to microseconds, in Go's `1h2m3.5s` form, and
//!   `parse` reads that back (a compound, for a minute or more);
//! - `parse_with_unit` is `parse` but for a bare number other than 0, which it refuses.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tcpgoon::units::duration::{BareUnit, canonical, go_style, parse, parse_with_unit};

const LONGEST: Duration = Duration::from_secs(100_000 * 3600);

fuzz_target!(|data: &[u8]| {
    check_printers(duration_from(data));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let millis = parse(text, BareUnit::Millis);
    let seconds = parse(text, BareUnit::Seconds);
    for d in [&millis, &seconds].into_iter().flatten() {
        assert!(*d <= LONGEST, "{text:?} gave {d:?}, over 100000h");
        for bare in [BareUnit::Millis, BareUnit::Seconds] {
            assert_eq!(parse(&canonical(*d), bare), Ok(*d), "{text:?} as {d:?}");
        }
    }
    let bare = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    for (unit, value) in [(BareUnit::Millis, &millis), (BareUnit::Seconds, &seconds)] {
        let strict = parse_with_unit(text, unit);
        match value {
            Ok(d) if bare && !d.is_zero() => {
                assert!(
                    strict.is_err(),
                    "{text:?}: a bare number accepted without a unit"
                )
            }
            _ => assert_eq!(
                &strict, value,
                "{text:?}: parse_with_unit differs from parse"
            ),
        }
    }
    if bare {
        // Seconds carry three more digits of fraction than milliseconds can hold.
        if let Ok(s) = seconds {
            if s.subsec_nanos() % 1000 == 0 {
                assert_eq!(millis, Ok(s / 1000), "{text:?}");
            } else {
                assert!(millis.is_err(), "{text:?} in ms is finer than a nanosecond");
            }
        }
    } else {
        assert_eq!(
            millis, seconds,
            "{text:?} has a unit, yet the bare unit mattered"
        );
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        let padded = format!("0000000000000000000000{text}");
        let padded_value = parse(&padded, BareUnit::Millis).ok();
        assert_eq!(padded_value, millis.ok(), "{padded:?}");
    }
});

fn duration_from(data: &[u8]) -> Duration {
    let mut bytes = [0u8; 12];
    let n = data.len().min(12);
    bytes[..n].copy_from_slice(&data[..n]);
    let secs = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let nanos = u32::from_le_bytes(bytes[8..].try_into().unwrap()) % 1_000_000_000;
    Duration::new(secs, nanos)
}

fn check_printers(d: Duration) {
    let text = canonical(d);
    let back = parse(&text, BareUnit::Seconds);
    if d <= LONGEST {
        assert_eq!(back, Ok(d), "canonical {text:?}");
    } else {
        assert!(back.is_err(), "{text:?} over 100000h accepted");
    }

    let truncated = Duration::from_micros(d.as_micros() as u64);
    let go = go_style(d);
    if d <= LONGEST {
        assert_eq!(
            read_go_style(&go),
            Some(truncated),
            "go_style {go:?} of {d:?}"
        );
        assert_eq!(
            parse(&go, BareUnit::Millis),
            Ok(truncated),
            "go_style {go:?} does not read back"
        );
    } else {
        assert!(go.ends_with('s') && !go.is_empty(), "go_style {go:?}");
    }
}

/// Reads Go's `Duration.String()` form: `0s`, `12µs`, `1.5ms`, `2.25s`, `3m0.5s`,
/// `1h2m3s`. Minutes and seconds below an hour or minute are under 60, as Go prints them.
fn read_go_style(text: &str) -> Option<Duration> {
    if text.ends_with("µs") || text.ends_with("ms") || !text.contains(['m', 'h']) {
        return parse(text, BareUnit::Seconds).ok();
    }
    let (rest, seconds) = text.rsplit_once('m')?;
    let seconds = parse(seconds, BareUnit::Seconds).ok()?;
    if seconds >= Duration::from_secs(60) || !text.ends_with('s') {
        return None;
    }
    let (hours, minutes) = match rest.split_once('h') {
        Some((h, m)) => (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?),
        None => (0, rest.parse::<u64>().ok()?),
    };
    if hours > 0 && minutes >= 60 {
        return None;
    }
    Some(Duration::from_secs(hours * 3600 + minutes * 60) + seconds)
}
