//! Wall-clock times as users write them (`--start-at`): RFC 3339 (`2026-12-02T01:30:00Z`,
//! `2026-12-02T02:30:00.250+01:00`) or `@` and Unix seconds (`@1796175000`, `@1796175000.5`),
//! and as reports print them (RFC 3339, UTC, to the microsecond). No time-zone database is
//! needed: RFC 3339 carries its offset.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `digits` ASCII digits at the start of `text`, as a number, and the rest.
fn digits(text: &str, count: usize) -> Option<(u32, &str)> {
    let head = text.get(..count)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &text[count..]))
}

/// A fraction of a second after its point: up to nine digits.
fn fraction(text: &str) -> Option<(Duration, &str)> {
    let end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 || end > 9 {
        return None;
    }
    let nanos: u32 = format!("{:0<9}", &text[..end]).parse().ok()?;
    Some((Duration::from_nanos(u64::from(nanos)), &text[end..]))
}

const FORMS: &str = "give RFC 3339 (2026-12-02T01:30:00Z) or @unix-seconds (@1796175000)";

/// `--start-at`'s value: RFC 3339 with its offset, or `@` and Unix seconds.
pub fn parse_wall_time(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("'{text}' is not a time: {FORMS}");
    if let Some(seconds) = text.strip_prefix('@') {
        let (whole, frac) = match seconds.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (seconds, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let frac = match frac {
            Some(f) => match fraction(f) {
                Some((d, "")) => d,
                _ => return Err(bad()),
            },
            None => Duration::ZERO,
        };
        return UNIX_EPOCH
            .checked_add(Duration::from_secs(whole) + frac)
            .ok_or_else(bad);
    }
    let parsed = (|| {
        let (year, rest) = digits(text, 4)?;
        let (month, rest) = digits(rest.strip_prefix('-')?, 2)?;
        let (day, rest) = digits(rest.strip_prefix('-')?, 2)?;
        let rest = rest
            .strip_prefix('T')
            .or_else(|| rest.strip_prefix('t'))
            .or_else(|| rest.strip_prefix(' '))?;
        let (hour, rest) = digits(rest, 2)?;
        let (minute, rest) = digits(rest.strip_prefix(':')?, 2)?;
        let (second, rest) = digits(rest.strip_prefix(':')?, 2)?;
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(rest) => fraction(rest)?,
            None => (Duration::ZERO, rest),
        };
        let offset = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (oh, r) = digits(&rest[1..], 2)?;
                let (om, r) = digits(r.strip_prefix(':')?, 2)?;
                if !r.is_empty() || oh > 23 || om > 59 {
                    return None;
                }
                sign * i64::from(oh * 3600 + om * 60)
            }
        };
        let year = i64::from(year);
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            // A leap second is read as the second after it.
            || second > 60
        {
            return None;
        }
        let seconds = days_from_civil(year, month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second)
            - offset;
        let seconds = u64::try_from(seconds).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds) + frac)
    })();
    parsed.ok_or_else(bad)
}

/// `2026-12-02T01:30:00.000250Z`: RFC 3339 in UTC, microseconds shown when there are any.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    let micros = since.subsec_micros();
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Microseconds since the Unix epoch, as the JSON summary carries wall-clock times.
pub fn unix_micros(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn both_forms_name_the_same_instant() {
        assert_eq!(parse_wall_time("@0"), Ok(UNIX_EPOCH));
        assert_eq!(parse_wall_time("1970-01-01T00:00:00Z"), Ok(UNIX_EPOCH));
        assert_eq!(
            parse_wall_time("2026-12-02T01:30:00Z"),
            Ok(at(1_796_175_000, 0))
        );
        assert_eq!(parse_wall_time("@1796175000"), Ok(at(1_796_175_000, 0)));
        assert_eq!(
            parse_wall_time("2026-12-02T02:30:00.25+01:00"),
            Ok(at(1_796_175_000, 250_000_000))
        );
        assert_eq!(
            parse_wall_time("2026-12-01t20:30:00-05:00"),
            Ok(at(1_796_175_000, 0))
        );
        assert_eq!(
            parse_wall_time("@1796175000.000001"),
            Ok(at(1_796_175_000, 1000))
        );
        assert_eq!(
            parse_wall_time("2024-02-29T12:00:00Z"),
            Ok(at(1_709_208_000, 0))
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        for text in [
            "",
            "@",
            "@-5",
            "@1.",
            "@1.1234567890",
            "@x",
            "2026-12-02",
            "2026-12-02T01:30:00",
            "2026-13-02T01:30:00Z",
            "2026-02-30T01:30:00Z",
            "2025-02-29T01:30:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T01:30:00+1:00",
            "2026-12-02T01:30:00Zjunk",
            "2026-12-02T01:30Z",
            "１９７０-01-01T00:00:00Z",
            "@99999999999999999999",
        ] {
            let error = parse_wall_time(text).unwrap_err();
            assert!(error.contains("RFC 3339"), "{text:?}: {error}");
        }
    }

    #[test]
    fn printed_times_read_back() {
        for time in [
            UNIX_EPOCH,
            at(1_796_175_000, 0),
            at(1_796_175_000, 250_000_000),
            at(951_782_400, 123_456_000),
        ] {
            assert_eq!(parse_wall_time(&rfc3339(time)), Ok(time));
        }
        assert_eq!(rfc3339(at(1_796_175_000, 0)), "2026-12-02T01:30:00Z");
        assert_eq!(
            rfc3339(at(1_796_175_000, 250_000_000)),
            "2026-12-02T01:30:00.250000Z"
        );
        assert_eq!(unix_micros(at(1, 5000)), 1_000_005);
    }
}
