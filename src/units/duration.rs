//! Durations as users type them and as reports print them.
//!
//! Parsing accepts a decimal number with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), or
//! several in a row (`1m30s`, `1h2m3.5s`: what [`go_style`] prints reads back). A bare number
//! takes the unit the flag has always had, so scripts written for the reference tool keep
//! their meaning ([`parse`]); flags it does not have refuse one ([`parse_with_unit`]).
//! Arithmetic is exact on integers: `1.5s` is 1_500_000_000 nanoseconds, never a float
//! rounded.
//!
//! Two printers: [`canonical`] writes a form that [`parse`] reads back to the same value, and
//! [`go_style`] reproduces the reference tool's `time.Duration.String()` after truncation to
//! microseconds, so its report lines stay byte-for-byte the same.

use std::fmt;
use std::time::Duration;

/// The unit a number without a suffix is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareUnit {
    Millis,
    Seconds,
}

impl BareUnit {
    fn nanos(self) -> u128 {
        match self {
            BareUnit::Millis => 1_000_000,
            BareUnit::Seconds => 1_000_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError(String);

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses `250us`, `10ms`, `1.5s`, `2m`, a compound such as `1m30s` or `1h2m3.5s` (the
/// form the reports print, Go's), or a bare number in `bare` units. In a compound every
/// number has its unit: `1m30` is refused, not read as 1m30 of anything.
pub fn parse(text: &str, bare: BareUnit) -> Result<Duration, ParseDurationError> {
    let invalid = || {
        ParseDurationError(format!(
            "invalid duration '{text}': expected a number with a unit (ns, us, ms, s, m, h), \
             e.g. 10ms, 1.5s or 1m30s"
        ))
    };
    let too_long = || {
        ParseDurationError(format!(
            "duration '{text}' is too long: the most is 100000h"
        ))
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let mut nanos: u128 = 0;
    let mut rest = text;
    let mut first = true;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let suffix_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (suffix, next) = after.split_at(suffix_end);
        let unit_nanos = if suffix.is_empty() {
            // Only the last number can lack a unit; alone, it takes the bare unit.
            if !first {
                return Err(ParseDurationError(format!(
                    "invalid duration '{text}': each number of a compound duration needs a \
                     unit, e.g. 1m30s"
                )));
            }
            bare.nanos()
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == suffix)
                .map(|(_, n)| *n)
                .ok_or_else(invalid)?
        };
        let part = match amount(number, unit_nanos) {
            Amount::Nanos(part) => part,
            Amount::Invalid => return Err(invalid()),
            Amount::TooLong => return Err(too_long()),
            Amount::TooFine => {
                return Err(ParseDurationError(format!(
                    "duration '{text}' is finer than a nanosecond"
                )));
            }
        };
        nanos = nanos.checked_add(part).ok_or_else(too_long)?;
        if nanos > MAX_NANOS {
            return Err(too_long());
        }
        rest = next;
        first = false;
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// [`parse`] for a flag the reference tool does not have: a bare number other than 0 is
/// refused, since nothing would say its unit, with the fix in the message (`likely` first:
/// the unit the flag's bare numbers used to mean).
pub fn parse_with_unit(text: &str, likely: BareUnit) -> Result<Duration, ParseDurationError> {
    let value = parse(text, likely)?;
    let bare = text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if bare && !value.is_zero() {
        let (first, second) = match likely {
            BareUnit::Millis => ("ms", "s"),
            BareUnit::Seconds => ("s", "ms"),
        };
        return Err(ParseDurationError(format!(
            "'{text}' has no unit: write {text}{first} or {text}{second}"
        )));
    }
    Ok(value)
}

enum Amount {
    Nanos(u128),
    Invalid,
    TooLong,
    TooFine,
}

/// One number of a duration, `12`, `1.5` or `.5`, times its unit, exactly.
fn amount(number: &str, unit_nanos: u128) -> Amount {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Amount::Invalid;
    }
    // Leading zeros carry no value: only the digits after them can make a number too long.
    let significant = whole.trim_start_matches('0');
    let whole_value: u128 = if significant.is_empty() {
        0
    } else if significant.len() > 20 {
        return Amount::TooLong;
    } else {
        match significant.parse() {
            Ok(value) => value,
            Err(_) => return Amount::Invalid,
        }
    };
    let Some(mut nanos) = whole_value.checked_mul(unit_nanos) else {
        return Amount::TooLong;
    };
    // Digits past nanosecond precision cannot change the result; ignoring them keeps the
    // arithmetic in range for any input length.
    let mut scale = unit_nanos;
    for digit in fraction.bytes() {
        if scale == 1 {
            if digit != b'0' {
                return Amount::TooFine;
            }
            continue;
        }
        scale /= 10;
        nanos += u128::from(digit - b'0') * scale;
    }
    Amount::Nanos(nanos)
}

/// The longest duration accepted anywhere: long enough for any soak, short enough that
/// adding it to an `Instant` can never overflow.
const MAX_NANOS: u128 = 100_000 * 3_600_000_000_000;

/// A form [`parse`] reads back to exactly `d`: the largest unit that divides it evenly.
pub fn canonical(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    let (name, unit) = UNITS
        .iter()
        .rev()
        .filter(|(name, _)| *name != "µs")
        .find(|(_, unit)| nanos.is_multiple_of(*unit))
        .copied()
        .unwrap_or(("ns", 1));
    format!("{}{}", nanos / unit, name)
}

/// The reference tool's rendering: Go's `Duration.Truncate(time.Microsecond).String()`.
pub fn go_style(d: Duration) -> String {
    let micros = d.as_micros();
    let nanos = micros * 1_000;
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000 {
        return format!("{}µs", with_fraction(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", with_fraction(nanos, 6));
    }
    let seconds_text = with_fraction(nanos % 60_000_000_000, 9);
    let total_minutes = nanos / 60_000_000_000;
    if total_minutes == 0 {
        return format!("{seconds_text}s");
    }
    let hours = total_minutes / 60;
    let minutes = total_minutes % 60;
    if hours == 0 {
        format!("{minutes}m{seconds_text}s")
    } else {
        format!("{hours}h{minutes}m{seconds_text}s")
    }
}

/// `d` in whole microseconds rounded to `digits` significant digits (half up): a value read
/// from a histogram that keeps that many is printed with no digit it does not have.
/// `1448µs` at 3 digits is `1.45ms`; `300275µs` is `300ms`; `52µs` stays `52µs`.
pub fn significant(d: Duration, digits: u32) -> Duration {
    let micros = d.as_micros();
    let width = micros.checked_ilog10().map_or(0, |l| l + 1);
    if width <= digits {
        return Duration::from_micros(micros as u64);
    }
    let scale = 10u128.pow(width - digits);
    let rounded = (micros + scale / 2) / scale * scale;
    Duration::from_micros(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// `value / 10^digits` printed with the fractional part's trailing zeros dropped.
fn with_fraction(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let text = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", text.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_units_and_bare_numbers() {
        assert_eq!(
            parse("250us", BareUnit::Millis),
            Ok(Duration::from_micros(250))
        );
        assert_eq!(
            parse("250µs", BareUnit::Millis),
            Ok(Duration::from_micros(250))
        );
        assert_eq!(parse("10ms", BareUnit::Seconds), Ok(ms(10)));
        assert_eq!(parse("1.5s", BareUnit::Millis), Ok(ms(1500)));
        assert_eq!(parse("2m", BareUnit::Millis), Ok(ms(120_000)));
        assert_eq!(parse("1h", BareUnit::Millis), Ok(ms(3_600_000)));
        assert_eq!(parse("999", BareUnit::Millis), Ok(ms(999)));
        assert_eq!(parse("1", BareUnit::Seconds), Ok(ms(1000)));
        assert_eq!(parse("0", BareUnit::Millis), Ok(Duration::ZERO));
        assert_eq!(parse(".5s", BareUnit::Millis), Ok(ms(500)));
        assert_eq!(parse("3.", BareUnit::Millis), Ok(ms(3)));
        assert_eq!(
            parse("1.000000001s", BareUnit::Millis),
            Ok(Duration::new(1, 1))
        );
        assert_eq!(parse("7ns", BareUnit::Millis), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(parse("1m30s", BareUnit::Millis), Ok(ms(90_000)));
        assert_eq!(parse("1h2m3.5s", BareUnit::Seconds), Ok(ms(3_723_500)));
        assert_eq!(parse("1s500ms", BareUnit::Millis), Ok(ms(1500)));
        assert_eq!(parse("1h0m0s", BareUnit::Millis), Ok(ms(3_600_000)));
        assert_eq!(parse("2m0.001s", BareUnit::Millis), Ok(ms(120_001)));
        assert_eq!(
            parse("1ms250us", BareUnit::Millis),
            Ok(Duration::from_micros(1250))
        );
        // What the reports print reads back: go_style is a compound for a minute or more.
        for d in [
            ms(65_500),
            ms(3_723_000),
            Duration::from_micros(3_600_000_001),
        ] {
            assert_eq!(
                parse(&go_style(d), BareUnit::Millis),
                Ok(d),
                "{}",
                go_style(d)
            );
        }
        for bad in ["1m30", "1m 30s", "1m30x", "1.5.5m", "m30s", "99999h2000h"] {
            assert!(parse(bad, BareUnit::Millis).is_err(), "{bad:?} accepted");
        }
        assert!(
            parse("1m30", BareUnit::Millis)
                .unwrap_err()
                .to_string()
                .contains("each number of a compound duration needs a unit")
        );
    }

    #[test]
    fn a_flag_without_a_bare_unit_asks_for_one() {
        let error = |text, likely| parse_with_unit(text, likely).unwrap_err().to_string();
        assert_eq!(
            error("1", BareUnit::Seconds),
            "'1' has no unit: write 1s or 1ms"
        );
        assert_eq!(
            error("2.5", BareUnit::Millis),
            "'2.5' has no unit: write 2.5ms or 2.5s"
        );
        assert_eq!(parse_with_unit("0", BareUnit::Millis), Ok(Duration::ZERO));
        assert_eq!(
            parse_with_unit("0.0", BareUnit::Seconds),
            Ok(Duration::ZERO)
        );
        assert_eq!(parse_with_unit("1m30s", BareUnit::Millis), Ok(ms(90_000)));
        assert_eq!(parse_with_unit("20ms", BareUnit::Seconds), Ok(ms(20)));
        assert!(parse_with_unit("5x", BareUnit::Seconds).is_err());
    }

    #[test]
    fn leading_zeros_do_not_make_a_number_too_long() {
        // Found by the `duration` fuzz target: 21 or more digits were refused as too long
        // even when all but the last were zeros.
        assert_eq!(
            parse("00000000000000000000000", BareUnit::Millis),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            parse("0000000000000000000000001.5s", BareUnit::Millis),
            Ok(ms(1500))
        );
        assert!(parse("000000000000000000000100001h", BareUnit::Millis).is_err());
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "",
            "ms",
            ".",
            "-5",
            "1..2",
            "1.2.3",
            "5 ms",
            "5x",
            "1e3",
            "+1",
            "0.5ns",
            "1.0001us0",
        ] {
            assert!(parse(bad, BareUnit::Millis).is_err(), "{bad:?} accepted");
        }
        assert!(parse("100001h", BareUnit::Millis).is_err());
        assert!(parse("99999999999999999999999999h", BareUnit::Millis).is_err());
    }

    #[test]
    fn canonical_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(250),
            ms(1500),
            ms(120_000),
            Duration::new(3601, 5),
        ] {
            assert_eq!(
                parse(&canonical(d), BareUnit::Seconds),
                Ok(d),
                "{}",
                canonical(d)
            );
        }
        assert_eq!(canonical(ms(1500)), "1500ms");
        assert_eq!(canonical(ms(120_000)), "2m");
    }

    #[test]
    fn significant_rounds_to_the_digits_kept() {
        let us = Duration::from_micros;
        assert_eq!(significant(us(300_275), 3), us(300_000));
        assert_eq!(go_style(significant(us(300_275), 3)), "300ms");
        assert_eq!(go_style(significant(us(1_448), 3)), "1.45ms");
        assert_eq!(go_style(significant(us(23_449), 3)), "23.4ms");
        assert_eq!(go_style(significant(us(23_450), 3)), "23.5ms");
        assert_eq!(go_style(significant(us(99_950), 3)), "100ms");
        assert_eq!(go_style(significant(us(1_003_917), 3)), "1s");
        assert_eq!(significant(us(52), 3), us(52));
        assert_eq!(significant(us(999), 3), us(999));
        assert_eq!(significant(Duration::ZERO, 3), Duration::ZERO);
        // Below a microsecond is below the histograms' unit.
        assert_eq!(significant(Duration::from_nanos(999), 3), Duration::ZERO);
    }

    #[test]
    fn go_style_matches_reference_samples() {
        assert_eq!(go_style(Duration::from_nanos(49_892_123)), "49.892ms");
        assert_eq!(go_style(Duration::from_micros(50_740)), "50.74ms");
        assert_eq!(go_style(Duration::from_micros(319)), "319µs");
        assert_eq!(go_style(Duration::from_micros(5_000_819)), "5.000819s");
        assert_eq!(go_style(Duration::from_micros(5_002_496)), "5.002496s");
        assert_eq!(go_style(Duration::from_micros(1_448)), "1.448ms");
        assert_eq!(go_style(Duration::from_micros(99)), "99µs");
        assert_eq!(go_style(Duration::from_nanos(999)), "0s");
        assert_eq!(go_style(Duration::ZERO), "0s");
        assert_eq!(go_style(ms(1000)), "1s");
        assert_eq!(go_style(ms(65_500)), "1m5.5s");
        assert_eq!(go_style(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_style(ms(3_723_000)), "1h2m3s");
    }
}
