//! `--json` summaries read back, and the summaries of a run's shards merged into the run's
//! own state, so the text and JSON writers print the report the whole run would have
//! printed. Pure: text in, stats out; `commands::merge` reads the files.
//!
//! The merge is exact where the run's measures are: counts and causes add up, latency
//! moments add up (their sums are carried in nanoseconds), and histograms are merged from
//! their HdrHistogram V2 encodings, value for value. Max concurrent established does not
//! add up (the shards need not peak at once): the sum of their maxima is an upper bound,
//! and the report says so. Summaries that are not of one run are refused, saying why:
//! different targets, schedules, probes, TLS settings or gates, a shard whose counts are
//! not its share of the schedule, sums past 2^64-1. Nothing a summary says is trusted to
//! size the work: missing shards are counted from the shards present, never listed.
//!
//! The counts over time (each summary's `timeline`) merge too: the merged sample at a
//! moment is the sum of every shard's counts then, each shard's samples a step function
//! placed on the merged origin, so every merged sample adds up to the merged total and the
//! last is the merged run's end. Each line is read and checked by `read`, the plot's
//! reader too, so the merge refuses what the plot refuses.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use crate::engine::conn::{Closure, Failure};
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeOutcome;
use crate::engine::stats::{
    BeatStats, Counts, Fallback, HoldSpan, Latency, LatencyHistogram, Moments, Overflow,
    ProbeStats, Stats, StopCause, TlsStats,
};
use crate::engine::timeline::{BeatSample, Sample, Timeline};
use crate::engine::{Outcome, Stop};
use crate::report::read::{self, Line};
use crate::report::schema::{self, Head, Options, RunOptions, SCHEMA_VERSION, Summary, Tally};

/// Where in the stats a latency measure goes.
type LatencySlot = fn(&mut Stats) -> &mut Latency;

/// Where in a summary a latency measure is.
type LatencyField = fn(&Summary) -> &schema::Latency;

/// The latency measures every summary carries: each one's key, where the summary holds
/// it, and where it goes in the stats. A measure added to the summary is merged once it
/// is listed here; until then, it is merged as one of the `other_latencies`.
const LATENCIES: [(&str, LatencyField, LatencySlot); 5] = [
    (
        "connect_latency_us",
        |s| &s.connect_latency_us,
        |s| &mut s.connect,
    ),
    (
        "time_to_error_us",
        |s| &s.time_to_error_us,
        |s| &mut s.time_to_error,
    ),
    (
        "schedule_lag_us",
        |s| &s.schedule_lag_us,
        |s| &mut s.schedule_lag,
    ),
    (
        "handshake_rtt_us",
        |s| &s.handshake_rtt_us,
        |s| &mut s.handshake_rtt,
    ),
    ("own_delay_us", |s| &s.own_delay_us, |s| &mut s.own_delay),
];

/// One shard's summary, read back.
#[derive(Debug, Clone)]
pub struct ShardSummary {
    /// Where it was read: `FILE:LINE`, for messages.
    pub source: String,
    pub host: String,
    pub ip: String,
    pub port: u64,
    pub label: String,
    pub shard: Shard,
    /// The whole run's connections (`-c`), and its spacing.
    pub connections: u64,
    pub sleep_us: u64,
    pub start_at: Option<String>,
    pub origin_us: u64,
    pub first_attempt_late_us: Option<u64>,
    pub outcome: Outcome,
    /// The summary's `options` object, as it was.
    pub options: Options,
    /// What the merge reads of them, as a run's.
    pub run_options: RunOptions,
    pub probe: Option<String>,
    pub targets: Vec<SocketAddr>,
    pub requested_rate: Option<f64>,
    /// Latency objects this reader does not know (measures added after it), by their path
    /// in the summary (`tls.handshake_us`): merged all the same, from their encodings.
    pub other_latencies: Vec<(String, Latency)>,
    /// The counts over time, as the summary's `timeline` has them; empty without one.
    pub timeline: Vec<Sample>,
}

/// A summary's line, or why it is not one; `Ok(None)` for other lines (ticks). The line is
/// read and checked by `read::read_line`, as the plot reads it; what the merge needs
/// besides is required here.
pub fn read_line(line: &str, source: &str) -> Result<Option<ShardSummary>, String> {
    let Line::Summary(checked) = read::read_line(line, source)? else {
        return Ok(None);
    };
    let value = &checked.value;
    let read = || {
        let head = Head::deserialize(value).unwrap_or_default();
        let version = head.version.ok_or("the summary has no version")?;
        if version != SCHEMA_VERSION {
            return Err(format!(
                "schema version {version}, and this tcpgoon reads {SCHEMA_VERSION}"
            ));
        }
        let limit_options = value
            .get("options")
            .is_some_and(|o| o.get("rate").is_some());
        if limit_options || value.get("limit").is_some_and(|l| !l.is_null()) {
            return Err(
                "a summary of `tcpgoon limit`, which merge does not take: merge takes the \
                 summaries of `tcpgoon run --shard I/N`; `tcpgoon plot` draws a limit search"
                    .to_string(),
            );
        }
        let summary = Summary::deserialize(value).map_err(|e| {
            format!(
                "not a summary of `tcpgoon run`: {}",
                read::serde_words_in(&e.to_string(), value)
            )
        })?;
        let timeline = checked.timeline.clone().unwrap_or_default();
        read_summary(&summary, other_latencies(value)?, timeline)
    };
    read()
        .map(|mut s| {
            s.source = source.to_string();
            Some(s)
        })
        .map_err(|e| format!("{source}: {e}"))
}

fn counts(c: &schema::Counts) -> Result<Counts, String> {
    let counts = Counts {
        total: c.total,
        not_initiated: c.not_initiated,
        dialing: c.dialing,
        established: c.established,
        closed: c.closed,
        error: c.error,
    };
    if !counts.adds_up() {
        return Err(format!(
            "its counts do not add up: {}",
            serde_json::to_string(c).unwrap_or_default()
        ));
    }
    Ok(counts)
}

/// A latency object: its exact moments and its histogram, decoded.
pub fn latency(l: &schema::Latency, key: &str) -> Result<Latency, String> {
    let count = l.count;
    if count == 0 {
        return Ok(Latency::default());
    }
    let m = l.moments.as_ref().ok_or_else(|| {
        format!("{key} has no exact moments: made by a tcpgoon older than `merge`")
    })?;
    let big = |name: &str, sum: &str| -> Result<u128, String> {
        sum.parse().map_err(|_| {
            format!("{key}.moments.{name} is \"{sum}\": expected a whole number, in digits")
        })
    };
    let moments = Moments::from_parts(
        m.count,
        big("sum_ns", &m.sum_ns)?,
        big("sum_squares_ns2", &m.sum_squares_ns2)?,
        m.min_ns,
        m.max_ns,
    );
    let encoded = l
        .histogram
        .as_deref()
        .ok_or_else(|| format!("{key} has no histogram"))?;
    let decoded = read::decode_histogram(encoded).map_err(|e| format!("{key}.histogram is {e}"))?;
    // On the reports' bounds: `decode_histogram` checked that its values fit them.
    let histogram = LatencyHistogram::from_histogram(&decoded)
        .ok_or_else(|| format!("{key}.histogram is past the reports' bounds"))?;
    if moments.count != count || histogram.len() != count {
        return Err(format!(
            "{key}: its count ({count}), moments ({}) and histogram ({}) disagree",
            moments.count,
            histogram.len()
        ));
    }
    Ok(Latency { moments, histogram })
}

/// The counts a tally holds for each of `all`, by its name.
fn keyed<T: Copy, const N: usize>(
    tally: &Tally,
    what: &str,
    all: [T; N],
    name: fn(T) -> &'static str,
) -> Result<[u64; N], String> {
    let mut out = [0; N];
    for (slot, item) in out.iter_mut().zip(all) {
        *slot = tally
            .get(name(item))
            .ok_or_else(|| format!("the summary has no {what}.{}", name(item)))?;
    }
    Ok(out)
}

fn failure_of(key: &str) -> Result<Failure, String> {
    Failure::ALL
        .into_iter()
        .find(|f| f.key() == key)
        .ok_or_else(|| format!("unknown failure cause '{}'", read::cut(key, 40)))
}

fn addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("'{}' is not an address", read::cut(s, 60)))
}

fn read_summary(
    v: &Summary,
    other_latencies: Vec<(String, Latency)>,
    timeline: Vec<Sample>,
) -> Result<ShardSummary, String> {
    let c = counts(&v.counts)?;
    let mut stats = Stats::new(c.total);
    stats.counts = c;
    stats.failures = keyed(&v.failures, "failures", Failure::ALL, Failure::key)?;
    stats.closures = keyed(&v.closures, "closures", Closure::ALL, Closure::key)?;
    stats.max_established = v.max_concurrent_established;
    stats.bytes_received = v.bytes_received;
    for (key, read, slot) in LATENCIES {
        *slot(&mut stats) = latency(read(v), key)?;
    }
    stats.syn_retransmitted = v.syn_retransmitted;
    stats.reconnects = v.reconnects;
    let probe = match &v.probe {
        None => None,
        Some(p) => {
            let mut stats_of = ProbeStats::default();
            for o in ProbeOutcome::ALL {
                stats_of.outcomes[o.index()] = p
                    .outcomes
                    .get(o.key())
                    .ok_or_else(|| format!("the summary has no probe.{}", o.key()))?;
            }
            stats_of.awaiting = p.awaiting;
            stats_of.served_open = p.served_open;
            stats_of.rejected_statuses = (p.rejected_statuses.iter())
                .map(|s| (s.status, s.count))
                .collect();
            stats_of.events = (p.events.iter())
                .map(|e| (e.what.clone(), e.count))
                .collect();
            let served = v
                .time_to_served_us
                .as_ref()
                .ok_or("the summary has no time_to_served_us")?;
            stats_of.time_to_served = latency(served, "time_to_served_us")?;
            stats.probe = Some(stats_of);
            Some(p.name.clone().ok_or("the summary has no probe.name")?)
        }
    };
    if let Some(tls) = &v.tls {
        let list =
            |items: &[schema::Named]| items.iter().map(|n| (n.name.clone(), n.count)).collect();
        let handshake = v
            .tls_handshake_us
            .as_ref()
            .ok_or("the summary has no tls_handshake_us")?;
        stats.tls = Some(TlsStats {
            handshake: latency(handshake, "tls_handshake_us")?,
            negotiated: list(&tls.negotiated),
            failures: list(&tls.failures),
        });
    }
    if let Some(beats) = &v.beats {
        let mut stopped = [0; StopCause::ALL.len()];
        for cause in StopCause::ALL {
            stopped[cause.index()] = beats
                .stopped
                .get(cause.key())
                .ok_or_else(|| format!("the summary has no beats.stopped.{}", cause.key()))?;
        }
        stats.beats = Some(BeatStats {
            due: beats.due,
            sent: beats.sent,
            answered: beats.answered,
            late: beats.late,
            stopped,
            first_stop: beats.first_stop_us.map(Duration::from_micros),
            latency: latency(&beats.latency_us, "beats.latency_us")?,
            interval: Default::default(),
            since_sample: Default::default(),
            out: 0,
        });
    }
    stats.hold = v.hold.map(|hold| HoldSpan {
        duration: Duration::from_micros(hold.duration_us),
        min_established: hold.min_established,
        max_established: hold.max_established,
    });
    let mut targets = Vec::new();
    for t in &v.by_target {
        targets.push(addr(&t.addr)?);
        stats.by_target.push(counts(&t.counts)?);
    }
    for f in &v.fallbacks {
        stats.fallbacks.push(Fallback {
            from: addr(&f.from)?,
            cause: failure_of(&f.cause)?,
            to: f.to.as_deref().map(addr).transpose()?,
            count: f.count,
        });
    }
    let stop = match &v.stopped {
        None => None,
        Some(s) => match s.reason.as_str() {
            "interrupted" => Some(Stop::Interrupted(match s.signal.as_deref() {
                Some("SIGTERM") => libc::SIGTERM,
                Some("SIGHUP") => libc::SIGHUP,
                _ => libc::SIGINT,
            })),
            "local_limit" => Some(Stop::LocalLimit(failure_of(
                s.cause
                    .as_deref()
                    .ok_or("the summary has no stopped.cause")?,
            )?)),
            other => {
                return Err(format!("unknown stop reason '{}'", read::cut(other, 40)));
            }
        },
    };
    let run_options = v.options.as_run().map_err(|e| read::serde_words(&e))?;
    if targets.is_empty() {
        targets = run_options
            .targets
            .iter()
            .filter_map(|a| addr(a).ok())
            .collect();
    }
    let shard = Shard {
        index: v.shard.index,
        count: v.shard.count,
    };
    if shard.count == 0 || shard.index >= shard.count {
        return Err(format!(
            "shard {}/{} is not a shard",
            shard.index, shard.count
        ));
    }
    let origin_us = v.schedule_origin_us;
    let outcome = Outcome {
        stats,
        stop,
        wall: Duration::from_micros(v.wall_time_us),
        dial_span: Duration::from_micros(v.dial_span_us),
        settled: v.settled_us.map(Duration::from_micros),
        settle: Duration::from_micros(run_options.settle_us),
        origin: UNIX_EPOCH + Duration::from_micros(origin_us),
        first_attempt_lag: v.first_attempt_late_us.map(Duration::from_micros),
    };
    Ok(ShardSummary {
        source: String::new(),
        host: v.target.host.clone(),
        ip: v.target.ip.clone(),
        port: v.target.port,
        label: v.target.label.clone(),
        shard,
        connections: run_options.connections,
        sleep_us: run_options.sleep_us,
        start_at: v.start_at.clone(),
        origin_us,
        first_attempt_late_us: v.first_attempt_late_us,
        probe,
        targets,
        requested_rate: v.requested_rate.map(|r| r.0),
        other_latencies,
        timeline,
        outcome,
        options: v.options.clone(),
        run_options,
    })
}

/// Every object with a `histogram` in the summary that is not one of the known measures.
fn other_latencies(v: &Value) -> Result<Vec<(String, Latency)>, String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, Latency)>) -> Result<(), String> {
        let Value::Object(map) = v else {
            return Ok(());
        };
        if map.get("histogram").is_some_and(Value::is_string) {
            let read = schema::Latency::deserialize(v).map_err(|e| format!("{path}: {e}"))?;
            out.push((path.to_string(), latency(&read, path)?));
            return Ok(());
        }
        for (key, child) in map {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            // A merge's own summary carries what it merged under `merged`: read as a run's.
            let known = path.is_empty()
                && (LATENCIES.iter().any(|(k, _, _)| k == key)
                    || key == "time_to_served_us"
                    || key == "tls_handshake_us"
                    || key == "beats"
                    || key == "merged");
            if !known {
                walk(child, &child_path, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(v, "", &mut out)?;
    Ok(out)
}

/// The shards of one run, merged.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The first shard's summary, for what all share (target, options).
    pub first: ShardSummary,
    pub outcome: Outcome,
    pub shards: u64,
    /// Indices of the shards merged, in order.
    pub present: Vec<u64>,
    /// The shards not merged, as a count and a few ranges.
    pub missing: MissingShards,
    /// How many attempts the missing shards would have made: counted as NotInitiated.
    pub missing_attempts: u64,
    /// The spread of the shards' first attempts against their due times: the latest less
    /// the earliest, by the wall clock (the start skew); `None` with fewer than two.
    pub start_skew: Option<Duration>,
    pub requested_rate: Option<f64>,
    /// The latency objects this reader does not know, merged, by path.
    pub other_latencies: Vec<(String, Latency)>,
}

/// The ranges of missing shards a report shows; the rest are counted.
pub const MISSING_RANGES_SHOWN: usize = 8;

/// The shards of a run's count that are not in a merge: how many, the first
/// `MISSING_RANGES_SHOWN` runs of consecutive indices (first and last, inclusive), and how
/// many runs more. Bounded whatever the count: a summary can say it is one of 2^64-1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingShards {
    pub count: u64,
    pub ranges: Vec<(u64, u64)>,
    pub more_ranges: u64,
}

impl MissingShards {
    /// The gaps `present` (ascending, distinct, each below `shards`) leaves in
    /// `0..shards`: one pass over the shards present, none over the count.
    pub fn of(present: &[u64], shards: u64) -> MissingShards {
        let mut missing = MissingShards {
            count: shards.saturating_sub(present.len() as u64),
            ..MissingShards::default()
        };
        let mut gap = |first: u64, last: u64| {
            if missing.ranges.len() < MISSING_RANGES_SHOWN {
                missing.ranges.push((first, last));
            } else {
                missing.more_ranges += 1;
            }
        };
        // The first index not yet accounted for; `None` past the last of u64.
        let mut from = Some(0u64);
        for &index in present {
            if let Some(first) = from
                && index > first
            {
                gap(first, index - 1);
            }
            from = index.checked_add(1);
        }
        if let Some(first) = from
            && first < shards
        {
            gap(first, shards - 1);
        }
        missing
    }
}

impl std::fmt::Display for MissingShards {
    /// `2-5, 8, 9-10`, then `… and K more ranges` when some are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, &(first, last)) in self.ranges.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            if first == last {
                write!(f, "{first}")?;
            } else {
                write!(f, "{first}-{last}")?;
            }
        }
        if self.more_ranges > 0 {
            write!(f, ", … and {} more ranges", self.more_ranges)?;
        }
        Ok(())
    }
}

fn name(s: &ShardSummary) -> String {
    format!("shard {}/{} ({})", s.shard.index, s.shard.count, s.source)
}

/// A shard's counts are its share of the schedule: `--shard I/N` of `-c C` makes attempts
/// I, I+N, … below C, no more and no fewer, and with `--reconnect` its replacements on top
/// of them, each in exactly one state (summed without wrapping). A run that stopped early
/// counts the rest as not initiated, so this holds for every run tcpgoon writes. Gives
/// the shard's share.
fn check_share(s: &ShardSummary) -> Result<u64, String> {
    if s.shard.count > s.connections {
        return Err(format!(
            "{} is one of {} shards of a run of {} connections: no run has more shards than \
             connections",
            name(s),
            s.shard.count,
            s.connections
        ));
    }
    let counts = &s.outcome.stats.counts;
    let share = s.shard.attempts(s.connections);
    let reconnects = s.outcome.stats.reconnects;
    if share.checked_add(reconnects) != Some(counts.total) {
        let replacements = match reconnects {
            0 => String::new(),
            n => format!(" and {n} replacements (--reconnect)"),
        };
        return Err(format!(
            "{} counts {} attempts, and its share of the run's {} connections is {}{}: not a \
             shard of this run",
            name(s),
            counts.total,
            s.connections,
            share,
            replacements
        ));
    }
    if !counts.adds_up() {
        return Err(format!(
            "{}: its counts do not add up to its total of {}",
            name(s),
            counts.total
        ));
    }
    Ok(share)
}

/// The run options every shard of one run shares beyond its schedule, each with what a
/// difference is called and the flag that sets it. Keys not listed here and not in
/// `OWN_OPTIONS` (ones a later tcpgoon records) are compared too, as run options.
const SHARED_OPTIONS: [(&str, &str, &str); 8] = [
    ("probe", "probes", "--probe"),
    ("tls", "TLS settings", "--tls"),
    ("max_latency", "gates", "--max-latency"),
    ("min_established", "gates", "--min-established"),
    ("dial_timeout_us", "dial timeouts", "--dial-timeout"),
    ("hold_us", "hold times", "--hold"),
    ("settle_us", "settle times", "--settle"),
    ("reconnect", "reconnects", "--reconnect"),
];

/// Run options a shard may have of its own: the schedule (`-c`, `-s`, compared on their
/// own), the durations as given (their microseconds are compared), the tick interval
/// (which shapes no outcome), and each machine's own addresses.
const OWN_OPTIONS: [&str; 11] = [
    "connections",
    "sleep_us",
    "sleep",
    "dial_timeout",
    "hold",
    "settle",
    "interval",
    "interval_us",
    "targets",
    "fallbacks",
    "sources",
];

/// An option as compared: absent and `null` alike, a `--ca` file as a file whatever its
/// path (each machine has its own copy of the CA, where it keeps it), gates in any order.
fn comparable(key: &str, value: Option<&Value>) -> Value {
    let mut value = value.cloned().unwrap_or(Value::Null);
    match key {
        "tls" => {
            if let Some(trust) = value.get_mut("trust")
                && trust
                    .as_str()
                    .is_some_and(|t| t != "system" && t != "insecure")
            {
                *trust = Value::String("a --ca file".to_string());
            }
        }
        "max_latency" => {
            if let Value::Array(gates) = &mut value {
                gates.sort_by_key(|g| g.to_string());
            }
        }
        _ => {}
    }
    value
}

/// An option's value in a message: a string as it is, a list of strings joined, `none`
/// for nothing, anything else as JSON; cut short past 100 characters.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => "none".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The first run option (probe, TLS, gate, …) in which `s` differs from `first`, said
/// as merge refuses it.
fn different_options(first: &ShardSummary, s: &ShardSummary) -> Option<String> {
    let object = |o: &Options| match serde_json::to_value(o) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (object(&first.options), object(&s.options));
    let known = SHARED_OPTIONS
        .iter()
        .map(|&(key, what, flag)| (key.to_string(), what.to_string(), flag.to_string()));
    let later = a
        .keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .filter(|k| {
            !OWN_OPTIONS.contains(&k.as_str()) && !SHARED_OPTIONS.iter().any(|(key, ..)| key == k)
        })
        .map(|k| (k.clone(), "run options".to_string(), format!("options.{k}")));
    for (key, what, flag) in known.chain(later) {
        let (x, y) = (comparable(&key, a.get(&key)), comparable(&key, b.get(&key)));
        if x != y {
            return Some(format!(
                "different {what}: {} ran with {flag} {}, {} with {flag} {}",
                name(first),
                shown(&x),
                name(s),
                shown(&y)
            ));
        }
    }
    None
}

/// What overflowed in a merge, said as merge refuses it.
fn overflowed(Overflow(what): Overflow) -> String {
    format!("the shards' {what} add up past 2^64-1: these are not the counts of one run")
}

/// Merges the summaries of one run's shards, or says why they are not one run's.
pub fn merge(mut shards: Vec<ShardSummary>) -> Result<Merged, String> {
    if shards.is_empty() {
        return Err("no summary in the input: give the --json output of `tcpgoon run`".to_string());
    }
    shards.sort_by_key(|s| s.shard.index);
    let first = shards[0].clone();
    for s in &shards[1..] {
        let target = |s: &ShardSummary| format!("{} ({}) port {}", s.host, s.ip, s.port);
        if (&s.host, &s.ip, s.port) != (&first.host, &first.ip, first.port) {
            return Err(format!(
                "different targets: {} ran against {}, {} against {}",
                name(&first),
                target(&first),
                name(s),
                target(s)
            ));
        }
        if s.shard.count != first.shard.count {
            return Err(format!(
                "different shard counts: {} is one of {}, {} one of {}",
                name(&first),
                first.shard.count,
                name(s),
                s.shard.count
            ));
        }
        if (s.connections, s.sleep_us) != (first.connections, first.sleep_us) {
            return Err(format!(
                "different schedules: {} has -c {} -s {}us, {} has -c {} -s {}us",
                name(&first),
                first.connections,
                first.sleep_us,
                name(s),
                s.connections,
                s.sleep_us
            ));
        }
        if s.start_at != first.start_at {
            let shown = |t: &Option<String>| t.clone().unwrap_or_else(|| "none".to_string());
            return Err(format!(
                "different start times: {} has --start-at {}, {} has {}",
                name(&first),
                shown(&first.start_at),
                name(s),
                shown(&s.start_at)
            ));
        }
        if let Some(difference) = different_options(&first, s) {
            return Err(difference);
        }
        // `--heartbeat` is not among the options a summary records; its beats are.
        let beating = |s: &ShardSummary| s.outcome.stats.beats.is_some();
        if beating(s) != beating(&first) {
            let ran = |s: &ShardSummary| if beating(s) { "with" } else { "without" };
            return Err(format!(
                "different heartbeats: {} ran {} --heartbeat, {} {} it",
                name(&first),
                ran(&first),
                name(s),
                ran(s)
            ));
        }
    }
    for pair in shards.windows(2) {
        if pair[0].shard.index == pair[1].shard.index {
            return Err(format!(
                "shard {}/{} given twice: {} and {}",
                pair[0].shard.index, pair[0].shard.count, pair[0].source, pair[1].source
            ));
        }
    }
    // The present shards' shares: at most the run's -c, as no two are one shard.
    let mut present_share = 0u64;
    for s in &shards {
        present_share = present_share
            .checked_add(check_share(s)?)
            .ok_or_else(|| overflowed(Overflow("shares of -c".to_string())))?;
    }
    // Times from the earliest origin: the shards of one --start-at share it; without one,
    // each started on its own, and the merged run spans them all.
    let origin = shards.iter().map(|s| s.origin_us).min().unwrap_or(0);
    let since_origin =
        |s: &ShardSummary, d: Duration| Duration::from_micros(s.origin_us - origin) + d;
    let mut stats = Stats::new(0);
    let mut stop = None;
    let mut settled: Option<Duration> = None;
    let mut wall = Duration::ZERO;
    let mut dial_span = Duration::ZERO;
    for s in &shards {
        let o = &s.outcome;
        stats.absorb(&o.stats).map_err(overflowed)?;
        // An interruption says more than a local limit; either makes the run incomplete.
        stop = match (stop, o.stop) {
            (Some(Stop::Interrupted(sig)), _) => Some(Stop::Interrupted(sig)),
            (_, Some(theirs)) => Some(theirs),
            (ours, None) => ours,
        };
        if let Some(d) = o.settled {
            settled = Some(settled.map_or(d, |m| m.max(d)));
        }
        wall = wall.max(since_origin(s, o.wall));
        if o.stats.counts.total > o.stats.counts.not_initiated {
            dial_span = dial_span.max(since_origin(s, o.dial_span));
        }
    }
    let count = first.shard.count;
    let present: Vec<u64> = shards.iter().map(|s| s.shard.index).collect();
    // The shares of all the shards make the run's -c: the missing shards' attempts are
    // what the present ones' leave, counted without a pass over the shard count.
    let missing_attempts = first
        .connections
        .checked_sub(present_share)
        .ok_or_else(|| overflowed(Overflow("shares of -c".to_string())))?;
    let missing = MissingShards::of(&present, count);
    let grow = |n: &mut u64, what: &str| {
        *n = n
            .checked_add(missing_attempts)
            .ok_or_else(|| overflowed(Overflow(what.to_string())))?;
        Ok::<(), String>(())
    };
    grow(&mut stats.counts.total, "counts.total")?;
    grow(&mut stats.counts.not_initiated, "counts.not_initiated")?;
    let tracks: Vec<Track> = shards
        .iter()
        .map(|s| Track {
            offset: since_origin(s, Duration::ZERO),
            total: s.outcome.stats.counts.total,
            samples: &s.timeline,
        })
        .collect();
    stats.timeline = merge_timelines(&tracks, missing_attempts);
    // Each shard's first attempt, by the wall clock, against the time it was due.
    let mut late = Vec::new();
    for s in &shards {
        if let Some(l) = s.first_attempt_late_us {
            late.push(s.origin_us.checked_add(l).ok_or_else(|| {
                format!(
                    "{}: its schedule_origin_us and first_attempt_late_us add up past 2^64-1",
                    name(s)
                )
            })?);
        }
    }
    let start_skew = (late.len() >= 2).then(|| {
        let (lo, hi) = (late.iter().min(), late.iter().max());
        Duration::from_micros(hi.unwrap_or(&0) - lo.unwrap_or(&0))
    });
    let shard_zero = shards.iter().find(|s| s.shard.index == 0);
    let outcome = Outcome {
        stats,
        stop,
        wall,
        dial_span,
        settled,
        settle: first.outcome.settle,
        origin: UNIX_EPOCH + Duration::from_micros(origin),
        first_attempt_lag: shard_zero.and_then(|s| s.outcome.first_attempt_lag),
    };
    let requested_rate = (first.sleep_us > 0).then(|| 1e6 / first.sleep_us as f64);
    let mut other_latencies: Vec<(String, Latency)> = Vec::new();
    for (path, latency) in shards.iter().flat_map(|s| &s.other_latencies) {
        match other_latencies.iter_mut().find(|(p, _)| p == path) {
            Some((_, merged)) => merged.merge(latency, path).map_err(overflowed)?,
            None => other_latencies.push((path.clone(), latency.clone())),
        }
    }
    Ok(Merged {
        other_latencies,
        first,
        outcome,
        shards: count,
        present,
        missing,
        missing_attempts,
        start_skew,
        requested_rate,
    })
}

/// One shard's counts over time, as the merge places them.
#[derive(Debug, Clone, Copy)]
pub struct Track<'a> {
    /// Its origin, from the merged run's.
    pub offset: Duration,
    /// Its attempts: all not initiated before its first sample.
    pub total: u64,
    pub samples: &'a [Sample],
}

/// The shards' timelines summed as step functions of time on the merged origin: at each
/// moment one of them has a sample, each shard counts as its latest sample by then (all
/// not initiated before its first, its last values after its last), and the `missing`
/// attempts of absent shards as not initiated throughout. The sums go through the
/// timeline's own `sample` and `finish`, so the merge keeps its bound and step, and ends at
/// the sum of the shards' ends. `served_open` is summed when a shard has it, and so are
/// the connections that stopped answering heartbeats. The beat latency quantiles of a
/// merged sample are the largest any shard had in its samples since the merged sample
/// before: quantiles of parts do not merge exactly, and the largest is an upper bound of
/// the whole's. A shard without a timeline (a summary from before them) leaves the merge
/// without one: its share of each moment is not known.
pub fn merge_timelines(tracks: &[Track], missing: u64) -> Timeline {
    let mut timeline = Timeline::new();
    if tracks.is_empty() || tracks.iter().any(|t| t.samples.is_empty()) {
        return timeline;
    }
    let probed = tracks
        .iter()
        .any(|t| t.samples.iter().any(|s| s.served_open.is_some()));
    let beating = tracks
        .iter()
        .any(|t| t.samples.iter().any(|s| s.beats.is_some()));
    // The shards' beat latency since the merged sample before: their largest quantiles.
    let mut pending = BeatSample::default();
    let mut moments: Vec<(Duration, usize)> = tracks
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.samples.iter().map(move |s| (t.offset + s.elapsed, i)))
        .collect();
    moments.sort();
    // How many of each track's samples are due by the moment being summed.
    let mut due = vec![0usize; tracks.len()];
    let mut at = 0;
    while at < moments.len() {
        let now = moments[at].0;
        while at < moments.len() && moments[at].0 == now {
            let (_, i) = moments[at];
            if let Some(b) = tracks[i].samples[due[i]].beats {
                pending.p50 = pending.p50.max(b.p50);
                pending.p99 = pending.p99.max(b.p99);
            }
            due[i] += 1;
            at += 1;
        }
        let mut sum = Sample {
            elapsed: now,
            not_initiated: missing,
            served_open: probed.then_some(0),
            beats: beating.then_some(pending),
            ..Sample::default()
        };
        for (track, &n) in tracks.iter().zip(&due) {
            let Some(s) = n.checked_sub(1).map(|last| track.samples[last]) else {
                sum.not_initiated += track.total;
                continue;
            };
            sum.not_initiated += s.not_initiated;
            sum.dialing += s.dialing;
            sum.established += s.established;
            sum.closed += s.closed;
            sum.error += s.error;
            // The states of each sample add up to its shard's total, and the totals to the
            // run's: their sums fit. What a sample says beside them is not checked against
            // them, so its sums stop at the top rather than wrap.
            sum.served_open =
                (sum.served_open).map(|v| v.saturating_add(s.served_open.unwrap_or(0)));
            if let (Some(b), Some(sb)) = (&mut sum.beats, s.beats) {
                b.stopped = b.stopped.saturating_add(sb.stopped);
            }
        }
        if at == moments.len() {
            timeline.finish(sum);
        } else if timeline.sample(sum) {
            pending = BeatSample::default();
        }
    }
    timeline
}

/// The time a summary names, back as a `SystemTime`.
pub fn unix_time(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::timeline::CAPACITY;

    /// A sample of `total` attempts at `ms`, `established` of them established and the rest
    /// not initiated.
    fn at(ms: u64, total: u64, established: u64) -> Sample {
        Sample {
            elapsed: Duration::from_millis(ms),
            not_initiated: total - established,
            established,
            ..Sample::default()
        }
    }

    fn adds_up(s: &Sample, total: u64) -> bool {
        s.not_initiated + s.dialing + s.established + s.closed + s.error == total
    }

    #[test]
    fn shards_are_summed_on_the_merged_origin() {
        let a = [at(0, 2, 0), at(1, 2, 1), at(2, 2, 2)];
        // Shard b started 5 ms after a: before then, all its attempts are not initiated.
        let b = [at(0, 3, 0), at(1, 3, 3)];
        let tracks = [
            Track {
                offset: Duration::ZERO,
                total: 2,
                samples: &a,
            },
            Track {
                offset: Duration::from_millis(5),
                total: 3,
                samples: &b,
            },
        ];
        let merged = merge_timelines(&tracks, 0);
        let got: Vec<(u128, u64, u64)> = merged
            .samples()
            .iter()
            .map(|s| (s.elapsed.as_millis(), s.not_initiated, s.established))
            .collect();
        assert_eq!(got, [(0, 5, 0), (1, 4, 1), (2, 3, 2), (5, 3, 2), (6, 0, 5)]);
        assert!(merged.samples().iter().all(|s| s.served_open.is_none()));
    }

    #[test]
    fn a_missing_shard_is_not_initiated_throughout() {
        let a = [at(0, 4, 1), at(3, 4, 4)];
        let tracks = [Track {
            offset: Duration::from_millis(2),
            total: 4,
            samples: &a,
        }];
        let merged = merge_timelines(&tracks, 3);
        for s in merged.samples() {
            assert!(s.not_initiated >= 3, "{s:?}");
            assert!(adds_up(s, 7), "{s:?}");
        }
        assert_eq!(merged.samples().last().unwrap().established, 4);
        assert_eq!(merged.samples()[0].elapsed, Duration::from_millis(2));
    }

    fn beating(ms: u64, p99_us: Option<u64>, stopped: u64) -> Sample {
        Sample {
            beats: Some(BeatSample {
                p50: p99_us.map(|us| Duration::from_micros(us / 2)),
                p99: p99_us.map(Duration::from_micros),
                stopped,
            }),
            ..at(ms, 2, 2)
        }
    }

    #[test]
    fn beats_merge_as_a_sum_of_stops_and_the_largest_quantiles() {
        let a = [beating(0, Some(100), 0), beating(4, Some(900), 1)];
        let b = [beating(0, Some(300), 0), beating(4, None, 2)];
        let tracks = [
            Track {
                offset: Duration::ZERO,
                total: 2,
                samples: &a,
            },
            Track {
                offset: Duration::ZERO,
                total: 2,
                samples: &b,
            },
        ];
        let merged = merge_timelines(&tracks, 0);
        let got: Vec<(Option<u128>, u64)> = merged
            .samples()
            .iter()
            .map(|s| {
                let b = s.beats.unwrap();
                (b.p99.map(|d| d.as_micros()), b.stopped)
            })
            .collect();
        assert_eq!(got, [(Some(300), 0), (Some(900), 3)]);
    }

    #[test]
    fn served_open_is_summed_when_a_shard_has_it() {
        let probed = [Sample {
            served_open: Some(2),
            ..at(0, 2, 2)
        }];
        let plain = [at(1, 1, 1)];
        let track = |samples| Track {
            offset: Duration::ZERO,
            total: 0,
            samples,
        };
        let merged = merge_timelines(
            &[
                Track {
                    total: 2,
                    ..track(&probed)
                },
                Track {
                    total: 1,
                    ..track(&plain)
                },
            ],
            0,
        );
        let served: Vec<Option<u64>> = merged.samples().iter().map(|s| s.served_open).collect();
        assert_eq!(served, [Some(2), Some(2)]);
        // Without a timeline from every shard there is none.
        let none = merge_timelines(&[track(&probed), track(&[])], 0);
        assert!(none.samples().is_empty());
    }

    #[test]
    fn a_long_merge_keeps_the_bound_and_adds_up_everywhere() {
        // Three shards of 512 samples each, 1 ms apart, started 300 ms after one another:
        // 1536 moments over 1.1 s, in one timeline of at most CAPACITY.
        let shards: Vec<Vec<Sample>> = (0..3)
            .map(|_| (0..512).map(|ms| at(ms, 1000, ms.min(1000))).collect())
            .collect();
        let tracks: Vec<Track> = shards
            .iter()
            .enumerate()
            .map(|(i, samples)| Track {
                offset: Duration::from_millis(300 * i as u64),
                total: 1000,
                samples,
            })
            .collect();
        let merged = merge_timelines(&tracks, 500);
        let samples = merged.samples();
        assert!(samples.len() <= CAPACITY, "{}", samples.len());
        assert!(samples.len() >= CAPACITY / 2, "{}", samples.len());
        assert!(merged.step() > Duration::from_millis(1));
        assert!(samples.iter().all(|s| adds_up(s, 3500)));
        assert!(samples.windows(2).all(|p| p[0].elapsed < p[1].elapsed));
        let last = samples.last().unwrap();
        assert_eq!(last.elapsed, Duration::from_millis(1111));
        assert_eq!(
            (last.established, last.not_initiated),
            (3 * 511, 3500 - 1533)
        );
    }

    #[test]
    fn missing_shards_are_a_count_and_the_first_ranges() {
        let of = |present: &[u64], shards| MissingShards::of(present, shards);
        assert_eq!(of(&[0, 1, 2], 3), MissingShards::default());
        let m = of(&[0, 1, 6, 7], 11);
        assert_eq!((m.count, m.more_ranges), (7, 0));
        assert_eq!(m.ranges, [(2, 5), (8, 10)]);
        assert_eq!(m.to_string(), "2-5, 8-10");
        assert_eq!(of(&[1], 3).to_string(), "0, 2");
        // One pass over what is present, whatever the count.
        let m = of(&[1], u64::MAX);
        assert_eq!(m.count, u64::MAX - 1);
        assert_eq!(m.to_string(), format!("0, 2-{}", u64::MAX - 1));
        assert_eq!(of(&[u64::MAX - 1], u64::MAX).ranges, [(0, u64::MAX - 2)]);
        let odd: Vec<u64> = (0..20).map(|k| 2 * k + 1).collect();
        let m = of(&odd, 1000);
        assert_eq!(m.ranges.len(), MISSING_RANGES_SHOWN);
        assert_eq!(m.more_ranges, 13);
        assert_eq!(
            m.to_string(),
            "0, 2, 4, 6, 8, 10, 12, 14, … and 13 more ranges"
        );
    }

    #[test]
    fn options_are_compared_as_runs_differ() {
        let tls = |trust: &str| {
            comparable(
                "tls",
                Some(&serde_json::json!({"trust": trust, "alpn": []})),
            )
        };
        assert_eq!(tls("/a/ca.pem"), tls("/b/ca.pem"));
        assert_ne!(tls("/a/ca.pem"), tls("system"));
        assert_ne!(tls("insecure"), tls("system"));
        let gates = |g: Value| comparable("max_latency", Some(&g));
        assert_eq!(
            gates(serde_json::json!(["max=1s", "p99=2s"])),
            gates(serde_json::json!(["p99=2s", "max=1s"]))
        );
        assert_eq!(comparable("probe", None), Value::Null);
        assert_eq!(shown(&Value::Null), "none");
        assert_eq!(shown(&serde_json::json!(["a=1", "b=2"])), "a=1 b=2");
        assert_eq!(shown(&Value::String("é".repeat(300))).chars().count(), 101);
    }
}
