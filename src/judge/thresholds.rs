//! CI gates: `--max-latency <PCT>=<DUR>` and `--min-established <N or PCT%>`, parsed from
//! text and judged against a finished run's stats. Pure: no I/O, no clock.

use std::fmt;
use std::time::Duration;

use crate::engine::stats::{SIGNIFICANT_FIGURES, Stats};
use crate::units::duration::{self, BareUnit};

/// Which connect-latency statistic a `--max-latency` gate bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// A percentile, as a quantile in (0, 1].
    Percentile(f64),
    Mean,
    Max,
}

/// Which latency a `--max-latency` gate bounds: a bare statistic is connect latency, as
/// the run saw it; `rtt:` the kernel's handshake round trip; `served:` time to served;
/// `beat:` a heartbeat's latency, from its due time to its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Connect,
    HandshakeRtt,
    Served,
    Beat,
}

impl Measure {
    /// How a gate's message names it.
    pub fn label(self) -> &'static str {
        match self {
            Measure::Connect => "connect",
            Measure::HandshakeRtt => "handshake RTT",
            Measure::Served => "time to served",
            Measure::Beat => "beat latency",
        }
    }
}

/// `--max-latency p99=20ms`: the statistic must not exceed the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxLatency {
    /// As the user wrote it (`p99`, `p99.9`, `max`, `mean`, `rtt:p99`), for messages.
    pub name: String,
    pub measure: Measure,
    pub statistic: Statistic,
    pub limit: Duration,
}

/// `--min-established 950` or `--min-established 95%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinEstablished {
    Count(u64),
    /// Percent of the connections asked for, 0 to 100.
    Percent(Percent),
}

/// A percentage exactly as written in decimal: `digits` × 10^-`scale` percent, with no
/// trailing zero after the point (`99.50` is 995 × 10^-1), so equal values compare equal.
/// Kept exact rather than as a float, so that the share of a total is rounded up exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent {
    digits: u64,
    scale: u32,
}

impl Percent {
    /// `digits` × 10^-`scale` percent; `None` above 100% or past 10^-18.
    pub fn new(mut digits: u64, mut scale: u32) -> Option<Percent> {
        while scale > 0 && digits.is_multiple_of(10) {
            digits /= 10;
            scale -= 1;
        }
        let hundred = 100u64.checked_mul(10u64.checked_pow(scale)?)?;
        (digits <= hundred).then_some(Percent { digits, scale })
    }

    pub fn as_f64(self) -> f64 {
        self.digits as f64 / 10f64.powi(self.scale as i32)
    }

    /// `⌈total × self / 100⌉`, exactly.
    pub fn of(self, total: u64) -> u64 {
        let whole = 100 * 10u128.pow(self.scale);
        let share = u128::from(total) * u128::from(self.digits);
        // At most `total`, since `digits` is at most 100 × 10^scale.
        share.div_ceil(whole) as u64
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{}", self.digits);
        }
        let padded = format!("{:0>width$}", self.digits, width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{whole}.{fraction}")
    }
}

impl MinEstablished {
    /// The number of connections this asks for out of `total`, rounded up.
    pub fn required(self, total: u64) -> u64 {
        match self {
            MinEstablished::Count(n) => n,
            MinEstablished::Percent(p) => p.of(total),
        }
    }
}

impl fmt::Display for MinEstablished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinEstablished::Count(n) => write!(f, "{n}"),
            MinEstablished::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// p0 would be the minimum: no gate on the fastest connection is a latency limit.
fn not_a_percentile(name: &str) -> String {
    format!("'{name}' is not a percentile: expected more than p0, at most p100, e.g. p99.9")
}

/// Reads `p99=20ms`, `p99.9=5ms`, `max=1s` (a bare number other than 0 is refused),
/// `mean=3ms`, each of connect latency; `rtt:p99=1ms` bounds the kernel's handshake round
/// trip, `served:p99=20ms` time to served.
pub fn parse_max_latency(text: &str) -> Result<MaxLatency, String> {
    let (name, limit) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not <statistic>=<duration>, e.g. p99=20ms"))?;
    let (measure, statistic_name) = match name.split_once(':') {
        None => (Measure::Connect, name),
        Some(("rtt", rest)) => (Measure::HandshakeRtt, rest),
        Some(("served", rest)) => (Measure::Served, rest),
        Some(("beat", rest)) => (Measure::Beat, rest),
        Some((other, _)) => {
            return Err(format!(
                "'{other}:' is not a measure: expected rtt:, served: or beat: before the \
                 statistic, or none for connect latency"
            ));
        }
    };
    let statistic = match statistic_name {
        "max" | "p100" => Statistic::Max,
        "mean" | "avg" => Statistic::Mean,
        _ => {
            let digits = statistic_name.strip_prefix('p').ok_or_else(|| {
                format!("'{statistic_name}' is not a statistic: expected p50, p99.9, max or mean")
            })?;
            let valid = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !digits.starts_with('.')
                && !digits.ends_with('.')
                && digits.matches('.').count() <= 1
                && digits.len() <= 12;
            let percent: f64 = if valid {
                digits.parse().map_err(|_| String::new())
            } else {
                Err(String::new())
            }
            .map_err(|_| not_a_percentile(statistic_name))?;
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(not_a_percentile(statistic_name));
            }
            if percent == 100.0 {
                Statistic::Max
            } else {
                Statistic::Percentile(percent / 100.0)
            }
        }
    };
    let limit = duration::parse_with_unit(limit, BareUnit::Millis).map_err(|e| e.to_string())?;
    Ok(MaxLatency {
        name: name.to_string(),
        measure,
        statistic,
        limit,
    })
}

/// Reads `950` or `95%` (or `99.5%`). Zero is refused: it would pass every run, even one
/// where nothing was established.
pub fn parse_min_established(text: &str) -> Result<MinEstablished, String> {
    let min = parse_min_established_or_zero(text)?;
    if min.required(u64::MAX) == 0 {
        return Err(format!(
            "'{text}' passes every run, even one where nothing was established: give at \
             least 1, or more than 0%"
        ));
    }
    Ok(min)
}

fn parse_min_established_or_zero(text: &str) -> Result<MinEstablished, String> {
    if let Some(percent) = text.strip_suffix('%') {
        let valid = !percent.is_empty()
            && percent.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && percent.matches('.').count() <= 1
            // Leading zeros do not count: `.5%` must read back as it prints, `0.5%`.
            && percent.trim_start_matches('0').len() <= 12
            && percent != ".";
        if !valid {
            return Err(format!(
                "'{text}' is not a percentage: expected e.g. 95% or 99.5%"
            ));
        }
        // At most 12 digits that are not leading zeros: the number fits in a u64.
        let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
        let digits = format!("{whole}{fraction}")
            .parse()
            .map_err(|_| format!("'{text}' is not a percentage"))?;
        return Percent::new(digits, fraction.len() as u32)
            .map(MinEstablished::Percent)
            .ok_or_else(|| format!("'{text}' is more than 100%"));
    }
    crate::units::whole_number(text)
        .map(MinEstablished::Count)
        .map_err(|_| format!("'{text}' is not a count or a percentage: expected e.g. 950 or 95%"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateKind {
    MinEstablished,
    MaxLatency,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub kind: GateKind,
    /// `p99 <= 20ms`, `established >= 95% (190 of 200)`.
    pub gate: String,
    /// What the gate measures, for the verdict line: `p99`, `handshake RTT p99`,
    /// `established`.
    pub label: String,
    /// The measured value, readable.
    pub measured: String,
    pub passed: bool,
    /// For latency gates: the limit and the measured value in microseconds.
    pub latency_micros: Option<(u64, u64)>,
}

/// The gates a run is judged by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    pub max_latency: Vec<MaxLatency>,
    pub min_established: Option<MinEstablished>,
}

impl Thresholds {
    pub fn is_empty(&self) -> bool {
        self.max_latency.is_empty() && self.min_established.is_none()
    }

    /// Judges `stats`. Latency gates with no established connection fail: there is no
    /// latency to vouch for.
    pub fn judge(&self, stats: &Stats) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        if let Some(min) = self.min_established {
            let total = stats.counts.total;
            let required = min.required(total);
            // With a probe, only the connections served count.
            let have = stats.held();
            verdicts.push(Verdict {
                kind: GateKind::MinEstablished,
                gate: format!("established >= {min} ({required} of {total})"),
                label: "established".to_string(),
                measured: format!("{have}"),
                passed: have >= required,
                latency_micros: None,
            });
        }
        for gate in &self.max_latency {
            let latency = match gate.measure {
                Measure::Connect => Some(&stats.connect),
                Measure::HandshakeRtt => Some(&stats.handshake_rtt),
                Measure::Served => stats.probe.as_ref().map(|p| &p.time_to_served),
                Measure::Beat => stats.beats.as_ref().map(|b| &b.latency),
            };
            let measured =
                latency
                    .filter(|l| l.moments.count > 0)
                    .map(|latency| match gate.statistic {
                        Statistic::Percentile(q) => latency.quantile(q),
                        Statistic::Mean => latency.moments.mean(),
                        Statistic::Max => latency.moments.max(),
                    });
            let statistic = gate.name.rsplit(':').next().unwrap_or(&gate.name);
            verdicts.push(Verdict {
                kind: GateKind::MaxLatency,
                gate: format!(
                    "{} {statistic} <= {}",
                    gate.measure.label(),
                    duration::go_style(gate.limit)
                ),
                label: match gate.measure {
                    Measure::Connect => statistic.to_string(),
                    other => format!("{} {statistic}", other.label()),
                },
                measured: measured.map_or_else(
                    || match gate.measure {
                        Measure::Served => "no served connection".to_string(),
                        Measure::Beat => "no beat answered".to_string(),
                        _ => "no established connection".to_string(),
                    },
                    |m| shown(m, gate.limit),
                ),
                passed: measured.is_some_and(|m| m <= gate.limit),
                latency_micros: measured
                    .map(|m| (gate.limit.as_micros() as u64, m.as_micros() as u64)),
            });
        }
        verdicts
    }
}

/// A measured latency as the reports print it: to the histograms' significant figures,
/// unless rounding would make it read as on the other side of the limit (a missed
/// `p99 <= 20ms` measured at 20.04ms is not `20ms`): then to the microsecond.
pub fn shown(measured: Duration, limit: Duration) -> String {
    let rounded = duration::significant(measured, u32::from(SIGNIFICANT_FIGURES));
    duration::go_style(if (rounded > limit) == (measured > limit) {
        rounded
    } else {
        measured
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_gate_bounds_heartbeat_latency_and_fails_with_no_beat_answered() {
        let gate = parse_max_latency("beat:p99=100ms").unwrap();
        assert_eq!(gate.measure, Measure::Beat);
        assert_eq!(gate.statistic, Statistic::Percentile(0.99));
        let thresholds = Thresholds {
            max_latency: vec![gate],
            min_established: None,
        };
        let mut stats = Stats::new(1);
        stats.beat_each();
        let verdict = &thresholds.judge(&stats)[0];
        assert!(!verdict.passed);
        assert_eq!(verdict.measured, "no beat answered");
        assert_eq!(verdict.gate, "beat latency p99 <= 100ms");
        stats.beat_answered(Duration::from_millis(20), false);
        assert!(thresholds.judge(&stats)[0].passed);
        for _ in 0..10 {
            stats.beat_answered(Duration::from_millis(1500), true);
        }
        let verdict = &thresholds.judge(&stats)[0];
        assert!(!verdict.passed);
        assert_eq!(verdict.measured, "1.5s");
        assert!(
            parse_max_latency("beats:p99=1ms")
                .unwrap_err()
                .contains("beat:")
        );
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_latency_gates() {
        let gate = parse_max_latency("p99=20ms").unwrap();
        assert_eq!(gate.statistic, Statistic::Percentile(0.99));
        assert_eq!(gate.limit, ms(20));
        assert_eq!(parse_max_latency("p99.9=5ms").unwrap().limit, ms(5));
        let Statistic::Percentile(q) = parse_max_latency("p99.9=5ms").unwrap().statistic else {
            panic!("p99.9 is not a percentile");
        };
        assert!((q - 0.999).abs() < 1e-12);
        assert_eq!(
            parse_max_latency("max=1s").unwrap().statistic,
            Statistic::Max
        );
        assert_eq!(
            parse_max_latency("p100=1s").unwrap().statistic,
            Statistic::Max
        );
        assert_eq!(
            parse_max_latency("mean=1s").unwrap().statistic,
            Statistic::Mean
        );
        for bad in [
            "p99",
            "=5ms",
            "p=5ms",
            "p0=5ms",
            "p101=5ms",
            "q99=5ms",
            "p99=fast",
            "p.5=1ms",
            "p9.=1ms",
            "p1.2.3=1ms",
            "pNaN=1ms",
            "pinf=1ms",
        ] {
            assert!(parse_max_latency(bad).is_err(), "{bad:?} accepted");
        }
        // The message must not offer what it refuses.
        for refused in ["p0=5ms", "p101=5ms", "p0.0=1ms"] {
            let message = parse_max_latency(refused).unwrap_err();
            assert!(
                message.ends_with("expected more than p0, at most p100, e.g. p99.9"),
                "{refused}: {message}"
            );
        }
    }

    #[test]
    fn parses_min_established() {
        assert_eq!(parse_min_established("950"), Ok(MinEstablished::Count(950)));
        assert_eq!(
            parse_min_established("95%"),
            Ok(MinEstablished::Percent(Percent::new(95, 0).unwrap()))
        );
        assert_eq!(
            parse_min_established("99.50%"),
            Ok(MinEstablished::Percent(Percent::new(995, 1).unwrap()))
        );
        assert_eq!(parse_min_established("95.0%"), parse_min_established("95%"));
        for bad in ["", "%", "-5", "101%", "ninety%", "5.5", ".%", "1e2%"] {
            assert!(parse_min_established(bad).is_err(), "{bad:?} accepted");
        }
        // Zero passes every run: no gate at all.
        for zero in ["0", "000", "0%", "0.0%", ".0%", "0.000000000%"] {
            let message = parse_min_established(zero).unwrap_err();
            assert!(message.contains("passes every run"), "{zero:?}: {message}");
        }
        assert_eq!(parse_min_established("1"), Ok(MinEstablished::Count(1)));
        assert_eq!(
            parse_min_established("0.000000001%").map(|m| m.required(1)),
            Ok(1)
        );
        // Found by the `thresholds` fuzz target: a percentage of 12 characters printed with
        // a leading zero, 13, and was not read back.
        for text in [".88889444445%", "00000000000099.5%"] {
            let min = parse_min_established(text).unwrap();
            assert_eq!(parse_min_established(&min.to_string()), Ok(min), "{text}");
        }
        for (text, printed) in [("95.0%", "95%"), ("0.50%", "0.5%"), (".05%", "0.05%")] {
            assert_eq!(
                parse_min_established(text).unwrap().to_string(),
                printed,
                "{text}"
            );
        }
    }

    #[test]
    fn a_percentage_of_a_total_is_rounded_up_exactly() {
        let min = |text| parse_min_established(text).unwrap();
        assert_eq!(min("95%").required(200), 190);
        assert_eq!(min("95%").required(199), 190);
        assert_eq!(min("100%").required(7), 7);
        assert_eq!(min("0.01%").required(7), 1);
        // 0.1 has no exact float: 70% of 10 as floats is 7.000000000000001.
        assert_eq!(min("70%").required(10), 7);
        assert_eq!(min("0.1%").required(1000), 1);
        assert_eq!(min("0.1%").required(1001), 2);
        // Past 2^53 a float cannot hold the total: 50% of 2^53 + 1 is 2^52 + 1, rounded up.
        assert_eq!(min("50%").required((1 << 53) + 1), (1 << 52) + 1);
        assert_eq!(min("100%").required(u64::MAX), u64::MAX);
        assert_eq!(
            min("99.999999999%").required(u64::MAX),
            18_446_744_073_525_084_175
        );
    }

    #[test]
    fn judges_a_run() {
        let mut stats = Stats::new(10);
        for i in 1..=9 {
            stats.dialing(0);
            stats.established(0, ms(i));
        }
        stats.dialing(0);
        stats.failed(0, crate::engine::conn::Failure::Refused, ms(1));
        let thresholds = Thresholds {
            // The histogram reports the top of a value's bucket: 5ms reads as 5.003ms.
            max_latency: vec![
                parse_max_latency("p50=5004us").unwrap(),
                parse_max_latency("max=8ms").unwrap(),
            ],
            min_established: Some(parse_min_established("90%").unwrap()),
        };
        let verdicts = thresholds.judge(&stats);
        assert_eq!(verdicts.len(), 3);
        assert!(verdicts[0].passed, "{verdicts:?}");
        assert_eq!(verdicts[0].gate, "established >= 90% (9 of 10)");
        assert!(verdicts[1].passed, "{verdicts:?}");
        assert!(!verdicts[2].passed, "{verdicts:?}");
        assert_eq!(verdicts[2].measured, "9ms");
        assert_eq!(verdicts[2].latency_micros, Some((8000, 9000)));
    }

    #[test]
    fn measured_latencies_keep_the_digits_that_decide_the_gate() {
        let us = Duration::from_micros;
        assert_eq!(shown(us(23_449), ms(20)), "23.4ms");
        assert_eq!(shown(us(1_448), ms(20)), "1.45ms");
        // Rounded, each would read as on the wrong side of its limit.
        assert_eq!(shown(us(20_040), ms(20)), "20.04ms");
        assert_eq!(shown(us(19_996), us(19_997)), "19.996ms");
        assert_eq!(shown(us(20_000), ms(20)), "20ms");
    }

    #[test]
    fn latency_gates_fail_without_a_connection() {
        let stats = Stats::new(1);
        let thresholds = Thresholds {
            max_latency: vec![parse_max_latency("p99=1s").unwrap()],
            min_established: None,
        };
        assert!(!thresholds.judge(&stats)[0].passed);
    }
}
