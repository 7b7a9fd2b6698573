//! JSON Lines output: a `tick` object per interval and a `summary` object at the end, each
//! one line on stdout. The schema is documented in docs/output.md ("JSON Lines"). Pure writers
//! over `impl Write`; values are built as a small tree so every object is valid JSON by
//! construction.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::engine::conn::{Closure, Failure};
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeOutcome;
use crate::engine::signal;
use crate::engine::stats::{Counts, Latency, ProbeStats, Stats, TlsStats};
use crate::engine::timeline::Timeline;
use crate::engine::{Outcome, Stop};
use crate::judge::Finding;
use crate::judge::thresholds::Verdict;
use crate::report::{PERCENTILES, achieved_rate, write_limit};
use crate::units::wallclock::{rfc3339, unix_micros};

/// Schema version of both objects; bumped on any incompatible change.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(u64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
    /// A value read back from a summary, written as it was read, whatever its keys (a
    /// merge's `options`, as its shards recorded them).
    Read(serde_json::Value),
}

impl Json {
    /// A duration in whole microseconds, as every `_us` field gives it.
    pub fn micros(d: Duration) -> Json {
        Json::Int(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    fn opt_float(v: Option<f64>) -> Json {
        v.filter(|f| f.is_finite()).map_or(Json::Null, Json::Float)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(n) => write!(f, "{n}"),
            Json::Float(x) if x.is_finite() => {
                // Rust prints integral floats without a point; JSON readers take either.
                write!(f, "{}", (x * 1000.0).round() / 1000.0)
            }
            Json::Float(_) => f.write_str("null"),
            Json::Str(s) => write_string(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Read(value) => write!(f, "{value}"),
            Json::Object(fields) => {
                f.write_char('{')?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn counts(c: &Counts) -> Json {
    Json::Object(vec![
        ("total", Json::Int(c.total)),
        ("not_initiated", Json::Int(c.not_initiated)),
        ("dialing", Json::Int(c.dialing)),
        ("established", Json::Int(c.established)),
        ("closed", Json::Int(c.closed)),
        ("error", Json::Int(c.error)),
    ])
}

/// One interval's object.
pub fn write_tick(w: &mut impl Write, elapsed: Duration, stats: &Stats) -> io::Result<()> {
    let tick = Json::Object(vec![
        ("type", Json::Str("tick".into())),
        ("version", Json::Int(SCHEMA_VERSION)),
        ("elapsed_us", Json::micros(elapsed)),
        ("counts", counts(&stats.counts)),
        (
            "max_concurrent_established",
            Json::Int(stats.max_established),
        ),
        ("bytes_received", Json::Int(stats.bytes_received)),
        (
            "connect_p99_us",
            if stats.connect.moments.count > 0 {
                Json::micros(stats.connect.quantile(0.99))
            } else {
                Json::Null
            },
        ),
        ("probe", probe_counts(stats.probe.as_ref(), None)),
    ]);
    writeln!(w, "{tick}")
}

/// A probe's outcomes, each key always present (`served`, `rejected`, `unserved`,
/// `closed_before_answer`, `awaiting`); `null` without a probe.
fn probe_counts(probe: Option<&ProbeStats>, name: Option<&str>) -> Json {
    let Some(probe) = probe else {
        return Json::Null;
    };
    let mut fields = Vec::new();
    if let Some(name) = name {
        fields.push(("name", Json::Str(name.into())));
    }
    fields.extend(
        ProbeOutcome::ALL
            .iter()
            .map(|o| (o.key(), Json::Int(probe.of(*o)))),
    );
    fields.push(("awaiting", Json::Int(probe.awaiting)));
    fields.push(("served_open", Json::Int(probe.served_open)));
    Json::Object(fields)
}

/// `--tls`: what was negotiated and how handshakes failed, each as `{"name": count}` in the
/// order first seen; `null` without TLS.
fn tls_counts(tls: Option<&TlsStats>) -> Json {
    let Some(tls) = tls else {
        return Json::Null;
    };
    let list = |items: &[(String, u64)]| {
        Json::Array(
            items
                .iter()
                .map(|(name, n)| {
                    Json::Object(vec![
                        ("name", Json::Str(name.clone())),
                        ("count", Json::Int(*n)),
                    ])
                })
                .collect(),
        )
    };
    Json::Object(vec![
        ("negotiated", list(&tls.negotiated)),
        ("failures", list(&tls.failures)),
    ])
}

/// The V2 compressed (deflate) serialization, base64-encoded: the form HdrHistogram
/// interval logs and tools exchange, so runs can be merged exactly later.
pub fn encode_histogram(latency: &Latency) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(latency.histogram.inner(), &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// A latency object: count, moments, percentiles and the histogram's encoding.
pub fn latency(latency: &Latency) -> Json {
    let m = &latency.moments;
    if m.count == 0 {
        return Json::Object(vec![("count", Json::Int(0))]);
    }
    let mut fields = vec![
        ("count", Json::Int(m.count)),
        ("min", Json::micros(m.min())),
        ("mean", Json::micros(m.mean())),
        ("max", Json::micros(m.max())),
        ("stddev", Json::micros(m.stddev())),
    ];
    for (_, key, q) in PERCENTILES {
        fields.push((key, Json::micros(latency.quantile(q))));
    }
    fields.push(("histogram", Json::Str(encode_histogram(latency))));
    // Exact, for a merge: sums in nanoseconds (the sum of squares as a decimal string, as
    // it can pass 2^64), so the merged min/avg/max/dev are those of all the samples.
    let (sum, sum_of_squares) = m.sums();
    fields.push((
        "moments",
        Json::Object(vec![
            ("count", Json::Int(m.count)),
            ("sum_ns", Json::Str(sum.to_string())),
            ("sum_squares_ns2", Json::Str(sum_of_squares.to_string())),
            ("min_ns", Json::Int(nanos(m.min()))),
            ("max_ns", Json::Int(nanos(m.max()))),
        ]),
    ));
    Json::Object(fields)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What the summary describes, besides the outcome.
pub struct SummaryInput<'a> {
    pub host: &'a str,
    pub addr: std::net::SocketAddr,
    /// Every address attempts went to, in turn (`--all-addresses`); `addr` is the first.
    pub targets: &'a [std::net::SocketAddr],
    pub label: &'a str,
    pub options: Vec<(&'static str, Json)>,
    pub outcome: &'a Outcome,
    pub requested_rate: Option<f64>,
    pub verdicts: &'a [Verdict],
    /// The probe's name, when the run probed its connections.
    pub probe: Option<&'a str>,
    /// Live lines (ticks, debug lines, status-line redraws, HDR log intervals) dropped
    /// because their reader was not keeping up.
    pub live_lines_dropped: u64,
    /// `tcpgoon limit`'s finding ([`limit_finding`]); `None` for a run.
    pub limit: Option<Json>,
    /// The verdict line, as the text report ends with it.
    pub verdict: &'a str,
    pub exit_status: u8,
    /// Which part of the schedule this was (`--shard`; 0/1 for a whole run).
    pub shard: Shard,
    /// `--start-at`, when given.
    pub start_at: Option<SystemTime>,
    /// For a merge: what it merged; `None` for a run.
    pub merged: Option<Json>,
}

/// `tcpgoon limit`'s finding: its kind, the connections held (served and held, with a
/// probe) once the first loss had settled, the text report's finding line, and of the
/// first loss, when there was one, what was held when it was seen, when (`loss_us`, since
/// the start), after how many `attempts`, and its `cause` as the report names it.
pub fn limit_finding(outcome: &Outcome) -> Json {
    let finding = match Finding::of(outcome) {
        Finding::Found => "found",
        Finding::Evicted => "evicted",
        Finding::NoConnection => "no_connection",
        Finding::LocalLimit => "local_limit",
        Finding::NoLimit => "no_limit",
        Finding::Interrupted(_) => "interrupted",
    };
    let mut line = Vec::new();
    let text = match write_limit(&mut line, outcome) {
        Ok(()) => String::from_utf8_lossy(&line).trim_end().to_string(),
        Err(_) => String::new(),
    };
    let loss = outcome.stats.first_loss;
    Json::Object(vec![
        ("finding", Json::Str(finding.into())),
        ("held", Json::Int(outcome.stats.held())),
        ("text", Json::Str(text)),
        (
            "held_at_loss",
            loss.map_or(Json::Null, |l| Json::Int(l.held)),
        ),
        (
            "loss_us",
            loss.map_or(Json::Null, |l| Json::micros(l.after)),
        ),
        (
            "attempts",
            loss.map_or(Json::Null, |l| Json::Int(l.attempts)),
        ),
        (
            "cause",
            loss.map_or(Json::Null, |l| Json::Str(l.cause.label().into())),
        ),
    ])
}

pub fn write_summary(w: &mut impl Write, s: &SummaryInput) -> io::Result<()> {
    writeln!(w, "{}", summary(s))
}

/// The summary object, for a command to add its own fields to before writing it.
pub fn summary(s: &SummaryInput) -> Json {
    let stats = &s.outcome.stats;
    let made = stats.counts.total - stats.counts.not_initiated;
    let stopped = match s.outcome.stop {
        None => Json::Null,
        Some(Stop::Interrupted(sig)) => Json::Object(vec![
            ("reason", Json::Str("interrupted".into())),
            ("signal", Json::Str(signal::name(sig).into())),
        ]),
        Some(Stop::LocalLimit(cause)) => Json::Object(vec![
            ("reason", Json::Str("local_limit".into())),
            ("cause", Json::Str(cause.key().into())),
        ]),
    };
    Json::Object(vec![
        ("type", Json::Str("summary".into())),
        ("version", Json::Int(SCHEMA_VERSION)),
        (
            "target",
            Json::Object(vec![
                ("host", Json::Str(s.host.into())),
                ("ip", Json::Str(s.addr.ip().to_string())),
                ("port", Json::Int(u64::from(s.addr.port()))),
                ("label", Json::Str(s.label.into())),
            ]),
        ),
        ("options", Json::Object(s.options.clone())),
        ("counts", counts(&stats.counts)),
        (
            "max_concurrent_established",
            Json::Int(stats.max_established),
        ),
        (
            "failures",
            Json::Object(
                Failure::ALL
                    .iter()
                    .map(|f| (f.key(), Json::Int(stats.failures_of(*f))))
                    .collect(),
            ),
        ),
        (
            "closures",
            Json::Object(
                Closure::ALL
                    .iter()
                    .map(|c| (c.key(), Json::Int(stats.closures_of(*c))))
                    .collect(),
            ),
        ),
        ("bytes_received", Json::Int(stats.bytes_received)),
        ("connect_latency_us", latency(&stats.connect)),
        ("time_to_error_us", latency(&stats.time_to_error)),
        ("schedule_lag_us", latency(&stats.schedule_lag)),
        ("handshake_rtt_us", latency(&stats.handshake_rtt)),
        ("own_delay_us", latency(&stats.own_delay)),
        ("syn_retransmitted", Json::Int(stats.syn_retransmitted)),
        ("probe", probe_counts(stats.probe.as_ref(), s.probe)),
        (
            "time_to_served_us",
            stats
                .probe
                .as_ref()
                .map_or(Json::Null, |p| latency(&p.time_to_served)),
        ),
        ("tls", tls_counts(stats.tls.as_ref())),
        (
            "tls_handshake_us",
            stats
                .tls
                .as_ref()
                .map_or(Json::Null, |t| latency(&t.handshake)),
        ),
        ("attempts", Json::Int(made)),
        ("requested_rate", Json::opt_float(s.requested_rate)),
        (
            "achieved_rate",
            Json::opt_float(achieved_rate(made, s.outcome.dial_span)),
        ),
        ("wall_time_us", Json::micros(s.outcome.wall)),
        ("dial_span_us", Json::micros(s.outcome.dial_span)),
        ("stopped", stopped),
        (
            "thresholds",
            Json::Array(
                s.verdicts
                    .iter()
                    .map(|v| {
                        let mut fields = vec![
                            ("gate", Json::Str(v.gate.clone())),
                            ("measured", Json::Str(v.measured.clone())),
                            ("passed", Json::Bool(v.passed)),
                        ];
                        if let Some((limit, measured)) = v.latency_micros {
                            fields.push(("limit_us", Json::Int(limit)));
                            fields.push(("measured_us", Json::Int(measured)));
                        }
                        Json::Object(fields)
                    })
                    .collect(),
            ),
        ),
        ("reconnects", Json::Int(stats.reconnects)),
        (
            "settled_us",
            s.outcome.settled.map_or(Json::Null, Json::micros),
        ),
        (
            "hold",
            stats.hold.map_or(Json::Null, |h| {
                Json::Object(vec![
                    ("duration_us", Json::micros(h.duration)),
                    ("min_established", Json::Int(h.min_established)),
                    ("max_established", Json::Int(h.max_established)),
                ])
            }),
        ),
        (
            "by_target",
            Json::Array(
                s.targets
                    .iter()
                    .zip(&stats.by_target)
                    .map(|(addr, c)| {
                        Json::Object(vec![
                            ("addr", Json::Str(addr.to_string())),
                            ("counts", counts(c)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("live_lines_dropped", Json::Int(s.live_lines_dropped)),
        (
            "fallbacks",
            Json::Array(
                stats
                    .fallbacks
                    .iter()
                    .map(|f| {
                        Json::Object(vec![
                            ("from", Json::Str(f.from.to_string())),
                            ("cause", Json::Str(f.cause.key().into())),
                            (
                                "to",
                                f.to.map_or(Json::Null, |to| Json::Str(to.to_string())),
                            ),
                            ("count", Json::Int(f.count)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "shard",
            Json::Object(vec![
                ("index", Json::Int(s.shard.index)),
                ("count", Json::Int(s.shard.count)),
            ]),
        ),
        (
            "start_at",
            s.start_at.map_or(Json::Null, |t| Json::Str(rfc3339(t))),
        ),
        (
            "schedule_origin_us",
            Json::Int(unix_micros(s.outcome.origin)),
        ),
        (
            "first_attempt_late_us",
            s.outcome.first_attempt_lag.map_or(Json::Null, Json::micros),
        ),
        ("merged", s.merged.clone().unwrap_or(Json::Null)),
        ("limit", s.limit.clone().unwrap_or(Json::Null)),
        ("verdict", Json::Str(s.verdict.into())),
        ("timeline", timeline(&stats.timeline)),
        ("exit_status", Json::Int(u64::from(s.exit_status))),
    ])
}

/// The names of a timeline sample's numbers, in order: `columns` in the summary's
/// `timeline`.
pub const TIMELINE_COLUMNS: [&str; 7] = [
    "elapsed_us",
    "not_initiated",
    "dialing",
    "established",
    "closed",
    "error",
    "served_open",
];

/// The counts over time: the step between samples, the columns, and one array of numbers
/// per sample (`served_open` is `null` without a probe).
fn timeline(timeline: &Timeline) -> Json {
    let samples = timeline.samples().iter().map(|s| {
        Json::Array(vec![
            Json::micros(s.elapsed),
            Json::Int(s.not_initiated),
            Json::Int(s.dialing),
            Json::Int(s.established),
            Json::Int(s.closed),
            Json::Int(s.error),
            s.served_open.map_or(Json::Null, Json::Int),
        ])
    });
    Json::Object(vec![
        ("step_us", Json::micros(timeline.step())),
        (
            "columns",
            Json::Array(
                TIMELINE_COLUMNS
                    .iter()
                    .map(|c| Json::Str((*c).into()))
                    .collect(),
            ),
        ),
        ("samples", Json::Array(samples.collect())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let value = Json::Object(vec![
            (
                "a",
                Json::Str("quote\" back\\ nl\n tab\t bell\u{7} é".into()),
            ),
            (
                "b",
                Json::Array(vec![Json::Int(1), Json::Null, Json::Bool(false)]),
            ),
            ("c", Json::Float(f64::NAN)),
            ("d", Json::Float(2.5)),
        ]);
        assert_eq!(
            value.to_string(),
            r#"{"a":"quote\" back\\ nl\n tab\t bell\u0007 é","b":[1,null,false],"c":null,"d":2.5}"#
        );
    }

    #[test]
    fn tick_is_one_line() {
        let mut stats = Stats::new(3);
        stats.dialing(0);
        stats.established(0, Duration::from_micros(1500));
        let mut out = Vec::new();
        write_tick(&mut out, Duration::from_secs(1), &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"tick\",\"version\":1,\"elapsed_us\":1000000,\"counts\":{\"total\":3,\"not_initiated\":2,\"dialing\":0,\"established\":1,\"closed\":0,\"error\":0},\"max_concurrent_established\":1,\"bytes_received\":0,\"connect_p99_us\":1500,\"probe\":null}\n"
        );
    }
}
