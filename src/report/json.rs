//! JSON Lines output: a `tick` object per interval and a `summary` object at the end, each
//! one line on stdout, from a run's final state (or a tick's stats) into the typed
//! structs of `schema`, which docs/output.md ("JSON Lines") documents. Pure writers over
//! `impl Write`.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::engine::conn::{Closure, Failure};
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeOutcome;
use crate::engine::signal;
use crate::engine::stats::{
    BeatStats, Counts, Latency, LatencyHistogram, ProbeStats, Stats, StopCause, TlsStats,
};
use crate::engine::timeline::Timeline;
use crate::engine::{Outcome, Stop};
use crate::judge::thresholds::Verdict;
use crate::judge::{End, Finding};
use crate::report::schema::{
    self, Kind, Limit, Options, Rate, SCHEMA_VERSION, Summary, TIMELINE_BEAT_COLUMNS,
    TIMELINE_COLUMNS, Tally, Tick,
};
use crate::report::{PERCENTILES, achieved_rate, write_knee, write_limit};
use crate::units::wallclock::{rfc3339, unix_micros};

/// A duration in whole microseconds, as every `_us` field gives it.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub fn counts(c: &Counts) -> schema::Counts {
    schema::Counts {
        total: c.total,
        not_initiated: c.not_initiated,
        dialing: c.dialing,
        established: c.established,
        closed: c.closed,
        error: c.error,
    }
}

/// One interval's object.
pub fn write_tick(w: &mut impl Write, elapsed: Duration, stats: &Stats) -> io::Result<()> {
    schema::write_line(
        w,
        &Tick {
            kind: Kind::Tick,
            version: SCHEMA_VERSION,
            elapsed_us: micros(elapsed),
            counts: counts(&stats.counts),
            max_concurrent_established: stats.max_established,
            bytes_received: stats.bytes_received,
            connect_p99_us: (stats.connect.moments.count > 0)
                .then(|| micros(stats.connect.quantile(0.99))),
            probe: stats.probe.as_ref().map(|p| probe_counts(p, None)),
            beats: stats.beats.as_ref().map(|b| schema::TickBeats {
                p50_us: (!b.interval.is_empty()).then(|| micros(b.interval.quantile(0.5))),
                p99_us: (!b.interval.is_empty()).then(|| micros(b.interval.quantile(0.99))),
                answered: b.answered,
                stopped: b.stopped_total(),
            }),
        },
    )
}

/// A probe's outcomes, each key always present; its name in the summary.
fn probe_counts(probe: &ProbeStats, name: Option<&str>) -> schema::Probe {
    schema::Probe {
        name: name.map(str::to_string),
        outcomes: Tally::of(ProbeOutcome::ALL.iter().map(|o| (o.key(), probe.of(*o)))),
        awaiting: probe.awaiting,
        served_open: probe.served_open,
        rejected_statuses: (probe.rejected_statuses.iter())
            .map(|&(status, count)| schema::StatusCount { status, count })
            .collect(),
        events: (probe.events.iter())
            .map(|(what, count)| schema::EventCount {
                what: what.clone(),
                count: *count,
            })
            .collect(),
    }
}

/// `--heartbeat`: the beats' counts and latency.
fn beat_counts(beats: &BeatStats) -> schema::Beats {
    schema::Beats {
        due: beats.due,
        sent: beats.sent,
        answered: beats.answered,
        late: beats.late,
        stopped: Tally::of(
            StopCause::ALL
                .iter()
                .map(|c| (c.key(), beats.stopped[c.index()])),
        ),
        first_stop_us: beats.first_stop.map(micros),
        latency_us: latency(&beats.latency),
    }
}

/// `--tls`: what was negotiated and how handshakes failed, in the order first seen.
fn tls_counts(tls: &TlsStats) -> schema::Tls {
    let list = |items: &[(String, u64)]| {
        items
            .iter()
            .map(|(name, n)| schema::Named {
                name: name.clone(),
                count: *n,
            })
            .collect()
    };
    schema::Tls {
        negotiated: list(&tls.negotiated),
        failures: list(&tls.failures),
    }
}

/// The V2 compressed (deflate) serialization, base64-encoded: the form HdrHistogram
/// interval logs and tools exchange, so runs can be merged exactly later.
pub fn encode_histogram(latency: &Latency) -> String {
    encode_histogram_of(&latency.histogram)
}

/// [`encode_histogram`] of a histogram alone.
pub fn encode_histogram_of(histogram: &LatencyHistogram) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(histogram.inner(), &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// A latency object: count, moments, percentiles and the histogram's encoding.
pub fn latency(latency: &Latency) -> schema::Latency {
    let m = &latency.moments;
    if m.count == 0 {
        return schema::Latency::default();
    }
    let (sum, sum_of_squares) = m.sums();
    schema::Latency {
        count: m.count,
        min: Some(micros(m.min())),
        mean: Some(micros(m.mean())),
        max: Some(micros(m.max())),
        stddev: Some(micros(m.stddev())),
        percentiles: Tally::of(
            PERCENTILES
                .iter()
                .map(|(_, key, q)| (*key, micros(latency.quantile(*q)))),
        ),
        histogram: Some(encode_histogram(latency)),
        moments: Some(schema::Moments {
            count: m.count,
            sum_ns: sum.to_string(),
            sum_squares_ns2: sum_of_squares.to_string(),
            min_ns: nanos(m.min()),
            max_ns: nanos(m.max()),
        }),
    }
}

/// What the summary describes, besides the outcome.
pub struct SummaryInput<'a> {
    pub host: &'a str,
    pub addr: std::net::SocketAddr,
    /// Every address attempts went to, in turn (`--all-addresses`); `addr` is the first.
    pub targets: &'a [std::net::SocketAddr],
    pub label: &'a str,
    pub options: Options,
    pub outcome: &'a Outcome,
    pub requested_rate: Option<f64>,
    pub verdicts: &'a [Verdict],
    /// The probe's name, when the run probed its connections.
    pub probe: Option<&'a str>,
    /// Live lines (ticks, debug lines, status-line redraws, HDR log intervals) dropped
    /// because their reader was not keeping up.
    pub live_lines_dropped: u64,
    /// `tcpgoon limit`'s finding ([`limit_finding`]); `None` for a run.
    pub limit: Option<Limit>,
    /// The verdict line, as the text report ends with it.
    pub verdict: &'a str,
    pub exit_status: u8,
    /// Which part of the schedule this was (`--shard`; 0/1 for a whole run).
    pub shard: Shard,
    /// `--start-at`, when given.
    pub start_at: Option<SystemTime>,
    /// For a merge: what it merged; `None` for a run.
    pub merged: Option<schema::Merged>,
}

/// `tcpgoon limit`'s finding, as the summary's `limit` gives it.
pub fn limit_finding(outcome: &Outcome) -> Limit {
    let finding = match Finding::of(outcome) {
        Finding::Found => "found",
        Finding::Knee => "knee",
        Finding::Evicted => "evicted",
        Finding::NoConnection => "no_connection",
        Finding::LocalLimit => "local_limit",
        Finding::NoLimit => "no_limit",
        Finding::Interrupted(_) => "interrupted",
    };
    let mut line = Vec::new();
    let written = write_limit(&mut line, outcome).and_then(|()| write_knee(&mut line, outcome));
    let text = match written {
        Ok(()) => String::from_utf8_lossy(&line).trim_end().to_string(),
        Err(_) => String::new(),
    };
    let loss = outcome.stats.first_loss;
    Limit {
        finding: finding.to_string(),
        ended_by: Some(End::of(outcome).name().to_string()),
        held: outcome.stats.held(),
        text,
        held_at_loss: loss.map(|l| l.held),
        loss_us: loss.map(|l| micros(l.after)),
        attempts: loss.map(|l| l.attempts),
        cause: loss.map(|l| l.cause.label().to_string()),
        knee: outcome.stats.knee.as_ref().map(|knee| schema::KneeFound {
            gate: knee.gate.name.clone(),
            bound_us: micros(knee.gate.bound),
            held: knee.held,
            above: knee.above,
            measured_us: knee.measured.map(micros),
            at_us: micros(knee.at),
            beats_due: knee.due,
            beats_within: knee.within,
        }),
    }
}

pub fn write_summary(w: &mut impl Write, s: &SummaryInput) -> io::Result<()> {
    schema::write_line(w, &summary(s))
}

/// The summary object, for a command to change before writing it.
pub fn summary(s: &SummaryInput) -> Summary {
    let stats = &s.outcome.stats;
    let made = stats.counts.total - stats.counts.not_initiated;
    let stopped = s.outcome.stop.map(|stop| match stop {
        Stop::Interrupted(sig) => schema::Stopped {
            reason: "interrupted".to_string(),
            signal: Some(signal::name(sig).to_string()),
            cause: None,
        },
        Stop::LocalLimit(cause) => schema::Stopped {
            reason: "local_limit".to_string(),
            signal: None,
            cause: Some(cause.key().to_string()),
        },
    });
    Summary {
        kind: Kind::Summary,
        version: SCHEMA_VERSION,
        target: schema::Target {
            host: s.host.to_string(),
            ip: s.addr.ip().to_string(),
            port: u64::from(s.addr.port()),
            label: s.label.to_string(),
        },
        options: s.options.clone(),
        counts: counts(&stats.counts),
        max_concurrent_established: stats.max_established,
        failures: Tally::of(
            Failure::ALL
                .iter()
                .map(|f| (f.key(), stats.failures_of(*f))),
        ),
        closures: Tally::of(
            Closure::ALL
                .iter()
                .map(|c| (c.key(), stats.closures_of(*c))),
        ),
        bytes_received: stats.bytes_received,
        connect_latency_us: latency(&stats.connect),
        time_to_error_us: latency(&stats.time_to_error),
        schedule_lag_us: latency(&stats.schedule_lag),
        handshake_rtt_us: latency(&stats.handshake_rtt),
        own_delay_us: latency(&stats.own_delay),
        syn_retransmitted: stats.syn_retransmitted,
        probe: stats.probe.as_ref().map(|p| probe_counts(p, s.probe)),
        time_to_served_us: stats.probe.as_ref().map(|p| latency(&p.time_to_served)),
        tls: stats.tls.as_ref().map(tls_counts),
        tls_handshake_us: stats.tls.as_ref().map(|t| latency(&t.handshake)),
        beats: stats.beats.as_ref().map(beat_counts),
        attempts: made,
        requested_rate: s.requested_rate.map(Rate),
        achieved_rate: achieved_rate(made, s.outcome.dial_span).map(Rate),
        wall_time_us: micros(s.outcome.wall),
        dial_span_us: micros(s.outcome.dial_span),
        stopped,
        thresholds: s
            .verdicts
            .iter()
            .map(|v| schema::Threshold {
                gate: v.gate.clone(),
                measured: v.measured.clone(),
                passed: v.passed,
                limit_us: v.latency_micros.map(|(limit, _)| limit),
                measured_us: v.latency_micros.map(|(_, measured)| measured),
            })
            .collect(),
        reconnects: stats.reconnects,
        settled_us: s.outcome.settled.map(micros),
        hold: stats.hold.map(|h| schema::Hold {
            duration_us: micros(h.duration),
            min_established: h.min_established,
            max_established: h.max_established,
        }),
        by_target: s
            .targets
            .iter()
            .zip(&stats.by_target)
            .map(|(addr, c)| schema::TargetCounts {
                addr: addr.to_string(),
                counts: counts(c),
            })
            .collect(),
        live_lines_dropped: s.live_lines_dropped,
        fallbacks: stats
            .fallbacks
            .iter()
            .map(|f| schema::Fallback {
                from: f.from.to_string(),
                cause: f.cause.key().to_string(),
                to: f.to.map(|to| to.to_string()),
                count: f.count,
            })
            .collect(),
        shard: schema::Shard {
            index: s.shard.index,
            count: s.shard.count,
        },
        start_at: s.start_at.map(rfc3339),
        schedule_origin_us: unix_micros(s.outcome.origin),
        first_attempt_late_us: s.outcome.first_attempt_lag.map(micros),
        merged: s.merged.clone(),
        limit: s.limit.clone(),
        verdict: s.verdict.to_string(),
        timeline: Some(timeline(&stats.timeline, stats.beats.is_some())),
        exit_status: u64::from(s.exit_status),
    }
}

/// The counts over time: one array of numbers per sample, in `TIMELINE_COLUMNS`' order
/// (`served_open` is `null` without a probe), then, with heartbeats (`beats`), in
/// `TIMELINE_BEAT_COLUMNS`' (a quantile is `null` when no beat was answered since the
/// sample before).
fn timeline(timeline: &Timeline, beats: bool) -> schema::Timeline {
    let columns = TIMELINE_COLUMNS
        .iter()
        .chain(if beats {
            &TIMELINE_BEAT_COLUMNS[..]
        } else {
            &[]
        })
        .map(|c| c.to_string())
        .collect();
    schema::Timeline {
        step_us: micros(timeline.step()),
        columns,
        samples: timeline
            .samples()
            .iter()
            .map(|s| {
                let mut row = vec![
                    Some(micros(s.elapsed)),
                    Some(s.not_initiated),
                    Some(s.dialing),
                    Some(s.established),
                    Some(s.closed),
                    Some(s.error),
                    s.served_open,
                ];
                if beats {
                    let b = s.beats.unwrap_or_default();
                    row.extend([b.p50.map(micros), b.p99.map(micros), Some(b.stopped)]);
                }
                row
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
