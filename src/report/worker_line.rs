//! `run --workers`: what a worker tells its parent while it runs, one JSON object a line on
//! the pipe that is its stdout, and the parent's sum of what its workers said last, as the
//! [`Stats`] its live outputs draw (the interval lines, the JSON ticks, the status line and
//! the HdrHistogram log are the ones a single process writes, from the sum).
//!
//! A worker writes a line at each stats tick (`"tick": true`, with its latencies, whole, so
//! that a line lost or late costs no sample) and at each redraw of a status line (counts
//! only); at the end, its `--json` summary, which the parent merges as `tcpgoon merge`
//! would. The lines are this program talking to itself: not a documented format.

use std::io::{self, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::stats::{
    BeatStats, Counts, Latency, LatencyHistogram, ProbeStats, Stats, StopCause, TlsStats, count_in,
};
use crate::report::json::{self, micros};
use crate::report::read;
use crate::report::schema;
use crate::report::summary;

/// The `kind` of a worker's line.
pub const KIND: &str = "worker";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerLine {
    #[serde(rename = "type")]
    pub kind: String,
    /// A stats tick, not only a redraw.
    pub tick: bool,
    pub elapsed_us: u64,
    pub counts: schema::Counts,
    pub bytes_received: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<LineProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats: Option<LineBeats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LineLatency>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineProbe {
    pub outcomes: Vec<u64>,
    pub awaiting: u64,
    pub served_open: u64,
    pub rejected_statuses: Vec<(u16, u64)>,
    pub events: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineBeats {
    pub due: u64,
    pub sent: u64,
    pub answered: u64,
    pub late: u64,
    pub stopped: Vec<u64>,
    pub out: u64,
}

/// The latencies so far, whole; the beats' of this interval alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineLatency {
    pub connect: schema::Latency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<schema::Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<schema::Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat: Option<schema::Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_interval: Option<String>,
}

/// A worker's line for `stats` at `elapsed`: with its latencies at a `tick`.
pub fn write(w: &mut impl Write, elapsed: Duration, stats: &Stats, tick: bool) -> io::Result<()> {
    let line = WorkerLine {
        kind: KIND.to_string(),
        tick,
        elapsed_us: micros(elapsed),
        counts: json::counts(&stats.counts),
        bytes_received: stats.bytes_received,
        probe: stats.probe.as_ref().map(|p| LineProbe {
            outcomes: p.outcomes.to_vec(),
            awaiting: p.awaiting,
            served_open: p.served_open,
            rejected_statuses: p.rejected_statuses.clone(),
            events: p.events.clone(),
        }),
        beats: stats.beats.as_ref().map(|b| LineBeats {
            due: b.due,
            sent: b.sent,
            answered: b.answered,
            late: b.late,
            stopped: b.stopped.to_vec(),
            out: b.out,
        }),
        latency: tick.then(|| LineLatency {
            connect: json::latency(&stats.connect),
            served: (stats.probe.as_ref()).map(|p| json::latency(&p.time_to_served)),
            handshake: (stats.tls.as_ref()).map(|t| json::latency(&t.handshake)),
            beat: (stats.beats.as_ref()).map(|b| json::latency(&b.latency)),
            beat_interval: (stats.beats.as_ref())
                .filter(|b| !b.interval.is_empty())
                .map(|b| json::encode_histogram_of(&b.interval)),
        }),
    };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// What one worker said last, decoded.
#[derive(Debug, Clone)]
pub struct Latest {
    pub line: WorkerLine,
    pub connect: Latency,
    pub served: Option<Latency>,
    pub handshake: Option<Latency>,
    pub beat: Option<Latency>,
    /// The beats of the worker's last tick's interval.
    pub beat_interval: Option<LatencyHistogram>,
    /// Its ticks so far.
    pub ticks: u64,
}

/// Reads a worker's line: `None` for a line of another kind (its summary).
pub fn read_line(text: &str) -> Result<Option<WorkerLine>, String> {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type", default)]
        kind: String,
    }
    let kind: Kind = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if kind.kind != KIND {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl Latest {
    /// Its state before its first line: every attempt of its share not initiated.
    pub fn new(share: u64) -> Latest {
        Latest {
            line: WorkerLine {
                kind: KIND.to_string(),
                tick: false,
                elapsed_us: 0,
                counts: json::counts(&Counts::new(share)),
                bytes_received: 0,
                probe: None,
                beats: None,
                latency: None,
            },
            connect: Latency::default(),
            served: None,
            handshake: None,
            beat: None,
            beat_interval: None,
            ticks: 0,
        }
    }

    /// Takes in its next line; a tick's latencies replace the last ones.
    pub fn update(&mut self, mut line: WorkerLine) -> Result<(), String> {
        if let Some(latency) = line.latency.take() {
            let decode = |l: &Option<schema::Latency>, key| {
                l.as_ref().map(|l| summary::latency(l, key)).transpose()
            };
            self.connect = summary::latency(&latency.connect, "connect")?;
            self.served = decode(&latency.served, "served")?;
            self.handshake = decode(&latency.handshake, "handshake")?;
            self.beat = decode(&latency.beat, "beat")?;
            self.beat_interval = match &latency.beat_interval {
                Some(encoded) => Some(
                    read::decode_histogram(encoded)
                        .ok()
                        .and_then(|h| LatencyHistogram::from_histogram(&h))
                        .ok_or("beat_interval: not a histogram of latencies")?,
                ),
                None => None,
            };
        }
        if line.tick {
            self.ticks += 1;
        }
        self.line = line;
        Ok(())
    }
}

/// The sum of what every worker said last, as the stats of one run of `total` attempts.
/// `max_established` is the most established at once seen so far in the sums.
pub fn sum<'a>(workers: impl Iterator<Item = &'a Latest>, max_established: u64) -> Stats {
    let mut stats = Stats::new(0);
    stats.counts.not_initiated = 0;
    stats.max_established = max_established;
    for w in workers {
        let (c, line) = (&mut stats.counts, &w.line);
        c.total += line.counts.total;
        c.not_initiated += line.counts.not_initiated;
        c.dialing += line.counts.dialing;
        c.established += line.counts.established;
        c.closed += line.counts.closed;
        c.error += line.counts.error;
        stats.bytes_received += line.bytes_received;
        let _ = stats.connect.merge(&w.connect, "connect");
        if let Some(p) = &line.probe {
            let probe = stats.probe.get_or_insert_with(ProbeStats::default);
            for (sum, n) in probe.outcomes.iter_mut().zip(&p.outcomes) {
                *sum += n;
            }
            probe.awaiting += p.awaiting;
            probe.served_open += p.served_open;
            for (status, n) in &p.rejected_statuses {
                count_in(&mut probe.rejected_statuses, *status, *n);
            }
            for (what, n) in &p.events {
                count_in(&mut probe.events, what.clone(), *n);
            }
            if let Some(served) = &w.served {
                let _ = probe.time_to_served.merge(served, "served");
            }
        }
        if let Some(handshake) = &w.handshake {
            let tls = stats.tls.get_or_insert_with(TlsStats::default);
            let _ = tls.handshake.merge(handshake, "handshake");
        }
        if let Some(b) = &line.beats {
            let beats = stats.beats.get_or_insert_with(BeatStats::default);
            beats.due += b.due;
            beats.sent += b.sent;
            beats.answered += b.answered;
            beats.late += b.late;
            beats.out += b.out;
            for (cause, n) in StopCause::ALL.iter().zip(&b.stopped) {
                beats.stopped[cause.index()] += n;
            }
            if let Some(beat) = &w.beat {
                let _ = beats.latency.merge(beat, "beat");
            }
            if let Some(interval) = &w.beat_interval {
                beats.interval.merge(interval);
            }
        }
    }
    stats
}
