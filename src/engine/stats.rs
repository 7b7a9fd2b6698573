//! What a run has measured: the count of connections in each state, failures and closures by
//! cause, and connect and time-to-error latencies. Each state change moves exactly one
//! connection from one count to another, so the counts add up to the total by construction.
//!
//! Latencies are kept twice, each for what it does best: exact moments (count, sum, sum of
//! squares, min, max, in nanoseconds) for the reference tool's min/avg/max/dev line, and an
//! HDR histogram (microseconds, fixed bounds) for percentiles. Neither grows with the number
//! of connections.

use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::conn::{Closure, Failure, State};
use crate::engine::knee::Knee;
use crate::engine::probe::ProbeOutcome;
use crate::engine::timeline::{BeatSample, Sample, Timeline};

/// Why the first connection was lost: an attempt failed, or a held connection was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossCause {
    Failed(Failure),
    Dropped(Closure),
    /// Established, but the application did not serve it (`--probe`).
    NotServed(ProbeOutcome),
    /// Served, then it stopped answering its heartbeats (`--heartbeat`).
    StoppedAnswering(StopCause),
}

impl LossCause {
    pub fn label(self) -> &'static str {
        match self {
            LossCause::Failed(f) => f.label(),
            LossCause::Dropped(c) => c.label(),
            LossCause::NotServed(o) => o.label(),
            LossCause::StoppedAnswering(c) => c.label(),
        }
    }

    pub fn is_local_limit(self) -> bool {
        matches!(self, LossCause::Failed(f) if f.is_local_limit())
    }
}

/// The first failed attempt or dropped connection of a run, and what was held then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    pub cause: LossCause,
    /// Connections established (with a probe: and served) and still open right after the
    /// loss.
    pub held: u64,
    /// Attempts made by the time of the loss, the lost one included.
    pub attempts: u64,
    /// Since the run started.
    pub after: Duration,
    /// For a dropped connection: how long it had been open, and whether it was the oldest.
    pub dropped: Option<Dropped>,
}

/// A held connection the peer dropped: how long it had been open (since its attempt
/// started), and whether none open then was older. A server at its limit turns away the
/// newest at once; an idle timeout or an eviction takes the oldest, long after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub open_for: Duration,
    pub oldest: bool,
}

/// The established count over a hold: its lowest and highest, and how long the hold lasted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldSpan {
    pub min_established: u64,
    pub max_established: u64,
    pub duration: Duration,
}

/// How many connections are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub not_initiated: u64,
    pub dialing: u64,
    pub established: u64,
    pub closed: u64,
    pub error: u64,
}

impl Counts {
    pub fn new(total: u64) -> Counts {
        Counts {
            total,
            not_initiated: total,
            ..Counts::default()
        }
    }

    fn slot(&mut self, state: State) -> &mut u64 {
        match state {
            State::NotInitiated => &mut self.not_initiated,
            State::Dialing => &mut self.dialing,
            State::Established => &mut self.established,
            State::Closed => &mut self.closed,
            State::Error => &mut self.error,
        }
    }

    /// Moves one connection from `from` to `to`.
    pub fn shift(&mut self, from: State, to: State) {
        let source = self.slot(from);
        debug_assert!(*source > 0, "no connection in {from:?} to move to {to:?}");
        *source -= 1;
        *self.slot(to) += 1;
    }

    /// True when every connection is in exactly one state. Summed without wrapping: counts
    /// read back from a file could add up to the total only modulo 2^64.
    pub fn adds_up(&self) -> bool {
        [
            self.not_initiated,
            self.dialing,
            self.established,
            self.closed,
            self.error,
        ]
        .into_iter()
        .try_fold(0u64, u64::checked_add)
            == Some(self.total)
    }

    /// Adds `other`'s counts, state by state.
    fn absorb(&mut self, other: &Counts) -> Result<(), Overflow> {
        add(&mut self.total, other.total, "counts.total")?;
        add(
            &mut self.not_initiated,
            other.not_initiated,
            "counts.not_initiated",
        )?;
        add(&mut self.dialing, other.dialing, "counts.dialing")?;
        add(
            &mut self.established,
            other.established,
            "counts.established",
        )?;
        add(&mut self.closed, other.closed, "counts.closed")?;
        add(&mut self.error, other.error, "counts.error")
    }

    /// Connections that completed the handshake at some point.
    pub fn ever_established(&self) -> u64 {
        self.established + self.closed
    }
}

/// A sum that would pass 2^64-1 (2^128-1 for latency sums): the parts were not of one
/// run. It names what was being added up, as the JSON summary names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow(pub String);

/// `a += b`, or the overflow of `what`.
fn add(a: &mut u64, b: u64, what: &str) -> Result<(), Overflow> {
    *a = a.checked_add(b).ok_or_else(|| Overflow(what.to_string()))?;
    Ok(())
}

/// `a += b` for each pair, or the overflow of the first whose sum does not fit, named
/// `object.key`.
fn add_each<const N: usize>(
    a: &mut [u64; N],
    b: &[u64; N],
    object: &str,
    keys: [&'static str; N],
) -> Result<(), Overflow> {
    for ((x, y), key) in a.iter_mut().zip(b).zip(keys) {
        add(x, *y, &format!("{object}.{key}"))?;
    }
    Ok(())
}

/// Adds `n` to the count kept under `key` in a list of named counts, or starts one.
fn add_named<K: PartialEq + Clone>(
    list: &mut Vec<(K, u64)>,
    key: &K,
    n: u64,
    what: &str,
) -> Result<(), Overflow> {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some((_, m)) => add(m, n, what),
        None => {
            list.push((key.clone(), n));
            Ok(())
        }
    }
}

/// Exact summary statistics of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moments {
    pub count: u64,
    sum: u128,
    sum_of_squares: u128,
    min: u64,
    max: u64,
}

impl Moments {
    pub fn record(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if self.count == 0 || nanos < self.min {
            self.min = nanos;
        }
        self.max = self.max.max(nanos);
        self.count += 1;
        self.sum += u128::from(nanos);
        self.sum_of_squares = self
            .sum_of_squares
            .saturating_add(u128::from(nanos) * u128::from(nanos));
    }

    pub fn min(&self) -> Duration {
        Duration::from_nanos(self.min)
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum / u128::from(self.count)) as u64)
    }

    /// Sum and sum of squares, in nanoseconds, for a merge to add up exactly.
    pub fn sums(&self) -> (u128, u128) {
        (self.sum, self.sum_of_squares)
    }

    /// Moments as another process recorded them (its count, sums, min and max in
    /// nanoseconds).
    pub fn from_parts(count: u64, sum: u128, sum_of_squares: u128, min: u64, max: u64) -> Moments {
        Moments {
            count,
            sum,
            sum_of_squares,
            min,
            max,
        }
    }

    /// Adds `other`'s durations to these: the moments of both sets together, or the
    /// overflow of `what` when a count or a sum would not fit (nothing is changed then).
    pub fn merge(&mut self, other: &Moments, what: &str) -> Result<(), Overflow> {
        if other.count == 0 {
            return Ok(());
        }
        let overflow = || Overflow(what.to_string());
        let count = self.count.checked_add(other.count).ok_or_else(overflow)?;
        let sum = self.sum.checked_add(other.sum).ok_or_else(overflow)?;
        let sum_of_squares = (self.sum_of_squares)
            .checked_add(other.sum_of_squares)
            .ok_or_else(overflow)?;
        if self.count == 0 || other.min < self.min {
            self.min = other.min;
        }
        self.max = self.max.max(other.max);
        (self.count, self.sum, self.sum_of_squares) = (count, sum, sum_of_squares);
        Ok(())
    }

    /// Population standard deviation, as the reference tool computes it.
    pub fn stddev(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let n = u128::from(self.count);
        // n²·variance = n·Σx² − (Σx)², exact in integers.
        let spread = n
            .saturating_mul(self.sum_of_squares)
            .saturating_sub(self.sum.saturating_mul(self.sum));
        let variance = spread as f64 / (n as f64 * n as f64);
        Duration::from_nanos(variance.sqrt() as u64)
    }
}

/// Latency in microseconds, from 1 µs to one hour at 3 significant digits.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

pub const HISTOGRAM_HIGHEST_MICROS: u64 = 3_600_000_000;
/// The significant figures every latency histogram keeps: what a value read from one is
/// worth printing (`cli::duration::significant`).
pub const SIGNIFICANT_FIGURES: u8 = 3;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(
            Histogram::new_with_bounds(1, HISTOGRAM_HIGHEST_MICROS, SIGNIFICANT_FIGURES)
                .expect("constant histogram bounds are valid"),
        )
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The latency at `quantile` (0.0 to 1.0).
    pub fn quantile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.0.value_at_quantile(quantile))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }

    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// A histogram read back from another process's encoding, on these bounds; `None` when
    /// its values do not fit them.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Option<LatencyHistogram> {
        let mut own = LatencyHistogram::default();
        own.0.add(histogram).ok()?;
        Some(own)
    }

    /// Adds `other`'s counts, value for value: exact, as both share the bounds.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds and precision on both sides, so every value fits.
        let _ = self.0.add(&other.0);
    }
}

/// One latency measure, kept both ways.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub moments: Moments,
    pub histogram: LatencyHistogram,
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        self.moments.record(d);
        self.histogram.record(d);
    }

    /// Both sets of latencies together, or the overflow of `what` (the measure's key).
    /// The histogram's counts are bounded by the moments' count, checked first.
    pub fn merge(&mut self, other: &Latency, what: &str) -> Result<(), Overflow> {
        self.moments.merge(&other.moments, what)?;
        self.histogram.merge(&other.histogram);
        Ok(())
    }

    /// The latency at `quantile`, within the histogram's precision (0.1%) and never outside
    /// the exact minimum and maximum.
    pub fn quantile(&self, quantile: f64) -> Duration {
        self.histogram
            .quantile(quantile)
            .clamp(self.moments.min(), self.moments.max())
    }
}

/// Attempts that fell back from their first address to a name's next ones, alike in where
/// they started, why that address failed, and which address took them (`None`: none did,
/// and the attempt ended in Error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    pub from: SocketAddr,
    pub cause: Failure,
    pub to: Option<SocketAddr>,
    pub count: u64,
}

/// Everything a run counts.
#[derive(Debug, Clone)]
pub struct Stats {
    pub counts: Counts,
    pub failures: [u64; Failure::ALL.len()],
    pub closures: [u64; Closure::ALL.len()],
    pub max_established: u64,
    pub bytes_received: u64,
    /// Attempt start to established.
    pub connect: Latency,
    /// Attempt start to failure.
    pub time_to_error: Latency,
    /// The kernel's round trip for each handshake (`TCP_INFO`).
    pub handshake_rtt: Latency,
    /// Connect latency less the kernel's round trip: the time this program took to see the
    /// handshake done (its own queueing).
    pub own_delay: Latency,
    /// Connections whose SYN was sent again before the handshake completed.
    pub syn_retransmitted: u64,
    /// How late each attempt started against its scheduled time: the pacing error.
    pub schedule_lag: Latency,
    /// Attempts made to replace connections the peer closed (`--reconnect`). Each joins the
    /// total, so the total is the connections asked for plus the reconnects.
    pub reconnects: u64,
    /// The counts per target address, in the order of the target list; empty unless there
    /// is more than one target.
    pub by_target: Vec<Counts>,
    /// Set when a hold began (`--hold`).
    pub hold: Option<HoldSpan>,
    pub first_loss: Option<Loss>,
    /// Where beat latency first exceeded a bound (`limit --max-latency beat:…`), when it
    /// did before any loss: the knee. The search goes on past it to the first loss.
    pub knee: Option<Knee>,
    /// Set when the run probes each connection (`--probe`).
    pub probe: Option<ProbeStats>,
    /// Attempts that fell back to another address, each counted once, at its outcome.
    pub fallbacks: Vec<Fallback>,
    /// The counts over time, sampled by the loop (for plots).
    pub timeline: Timeline,
    /// Set when each connection does a TLS handshake (`--tls`).
    pub tls: Option<TlsStats>,
    /// Set when served connections beat (`--heartbeat`).
    pub beats: Option<BeatStats>,
}

/// Why a served connection stopped answering its heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A beat was not answered by its due time plus the heartbeat timeout.
    Timeout,
    /// An answer was not the one asked for (an error, a 5xx, another protocol).
    Wrong,
    /// The peer closed while a beat was out.
    Closed,
}

impl StopCause {
    pub const ALL: [StopCause; 3] = [StopCause::Timeout, StopCause::Wrong, StopCause::Closed];

    pub fn index(self) -> usize {
        self as usize
    }

    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            StopCause::Timeout => "no answer in time",
            StopCause::Wrong => "wrong answer",
            StopCause::Closed => "closed with a beat out",
        }
    }

    /// How the JSON summary names it.
    pub fn key(self) -> &'static str {
        match self {
            StopCause::Timeout => "timeout",
            StopCause::Wrong => "wrong",
            StopCause::Closed => "closed",
        }
    }
}

/// What the heartbeats found. A served connection beats until it is closed or stops
/// answering; one that stops is no longer served (`ProbeStats::served_open` drops), and is
/// counted here once, by its cause. Nothing is kept per beat: counts and histograms only.
#[derive(Debug, Clone, Default)]
pub struct BeatStats {
    /// Beats whose due time came while their connection was beating.
    pub due: u64,
    pub sent: u64,
    pub answered: u64,
    /// Answered, but only after the next beat of the same connection was due.
    pub late: u64,
    /// Connections that stopped answering, by cause.
    pub stopped: [u64; StopCause::ALL.len()],
    /// When the first connection stopped answering, from the start of the run.
    pub first_stop: Option<Duration>,
    /// From each beat's due time to the end of its answer.
    pub latency: Latency,
    /// The same, for the current interval only: emptied at each tick.
    pub interval: LatencyHistogram,
    /// The same, since the timeline's last sample: emptied when it takes one.
    pub since_sample: LatencyHistogram,
    /// Beats out now: due, and neither answered nor ended by their connection stopping.
    pub out: u64,
}

impl BeatStats {
    /// Connections that stopped answering, whatever the cause.
    pub fn stopped_total(&self) -> u64 {
        self.stopped.iter().sum()
    }
}

/// What the TLS handshakes found. Each handshake done is an established connection; each
/// that failed is one failure among the TLS causes, with its detail counted here.
#[derive(Debug, Clone, Default)]
pub struct TlsStats {
    /// TCP established to handshake done.
    pub handshake: Latency,
    /// `TLS 1.3 TLS13_AES_128_GCM_SHA256` and the like: how many of each, in order seen.
    pub negotiated: Vec<(String, u64)>,
    /// `certificate: unknown issuer`, `alert: handshake failure`…: how many of each.
    pub failures: Vec<(String, u64)>,
}

/// The most kinds of protocol event counted apart.
pub const MAX_EVENT_KINDS: usize = 16;

pub fn count_in<K: PartialEq>(list: &mut Vec<(K, u64)>, what: K, times: u64) {
    match list.iter_mut().find(|(seen, _)| *seen == what) {
        Some((_, n)) => *n = n.saturating_add(times),
        None => list.push((what, times)),
    }
}

/// What the probes found. Every connection ever established has exactly one outcome or is
/// still awaiting one: the outcomes and `awaiting` add up to the connections established.
#[derive(Debug, Clone, Default)]
pub struct ProbeStats {
    pub outcomes: [u64; ProbeOutcome::ALL.len()],
    pub awaiting: u64,
    /// Served and still open.
    pub served_open: u64,
    /// Attempt start to the answer that served it.
    pub time_to_served: Latency,
    /// The HTTP statuses among the rejections (5xx, 429), and how many of each, in the
    /// order first seen.
    pub rejected_statuses: Vec<(u16, u64)>,
    /// What the protocol's peer said that ended or troubled a connection (a WebSocket close
    /// and its code, a frame no server may send), in words, and how many of each, in the
    /// order first seen.
    pub events: Vec<(String, u64)>,
}

impl ProbeStats {
    pub fn of(&self, outcome: ProbeOutcome) -> u64 {
        self.outcomes[outcome.index()]
    }

    /// Established connections with no answer that served them, awaiting ones included.
    pub fn not_served(&self) -> u64 {
        self.outcomes.iter().sum::<u64>() - self.of(ProbeOutcome::Served) + self.awaiting
    }
}

impl Stats {
    pub fn new(total: u64) -> Stats {
        Stats {
            counts: Counts::new(total),
            failures: [0; Failure::ALL.len()],
            closures: [0; Closure::ALL.len()],
            max_established: 0,
            bytes_received: 0,
            connect: Latency::default(),
            time_to_error: Latency::default(),
            handshake_rtt: Latency::default(),
            own_delay: Latency::default(),
            syn_retransmitted: 0,
            schedule_lag: Latency::default(),
            reconnects: 0,
            by_target: Vec::new(),
            hold: None,
            first_loss: None,
            knee: None,
            probe: None,
            fallbacks: Vec::new(),
            timeline: Timeline::new(),
            tls: None,
            beats: None,
        }
    }

    /// Counts TLS handshakes from now on.
    pub fn tls_each(&mut self) {
        self.tls = Some(TlsStats::default());
    }

    /// A handshake done `took` after its TCP connect, with what was negotiated.
    pub fn tls_done(&mut self, took: Duration, negotiated: String) {
        if let Some(tls) = &mut self.tls {
            tls.handshake.record(took);
            count_in(&mut tls.negotiated, negotiated, 1);
        }
    }

    /// A handshake failed; `detail` says how (the cause is counted by [`Stats::failed`]).
    pub fn tls_failed(&mut self, detail: String) {
        if let Some(tls) = &mut self.tls {
            count_in(&mut tls.failures, detail, 1);
        }
    }

    /// The counts now, `elapsed` into the run, as a sample of the timeline.
    pub fn now(&self, elapsed: Duration) -> Sample {
        let c = &self.counts;
        Sample {
            elapsed,
            not_initiated: c.not_initiated,
            dialing: c.dialing,
            established: c.established,
            closed: c.closed,
            error: c.error,
            served_open: self.probe.as_ref().map(|p| p.served_open),
            beats: self.beats.as_ref().map(|b| {
                let since = &b.since_sample;
                let quantile = |q| (!since.is_empty()).then(|| since.quantile(q));
                BeatSample {
                    p50: quantile(0.5),
                    p99: quantile(0.99),
                    stopped: b.stopped_total(),
                }
            }),
        }
    }

    /// Samples the timeline, `elapsed` into the run: a sample unless one was taken in this
    /// step already, and the beats since it counted afresh.
    pub fn sample_timeline(&mut self, elapsed: Duration) {
        let sample = self.now(elapsed);
        if self.timeline.sample(sample)
            && let Some(beats) = &mut self.beats
        {
            beats.since_sample.reset();
        }
    }

    /// Keeps counts per target too, for `targets` targets taking attempts in turn.
    pub fn split_by_target(&mut self, targets: usize) {
        if targets < 2 {
            return;
        }
        let total = self.counts.total;
        let n = targets as u64;
        self.by_target = (0..n)
            .map(|i| Counts::new(total / n + u64::from(i < total % n)))
            .collect();
    }

    /// Moves one connection toward `target` (its index among the run's targets) in the
    /// counts, and in that target's own when the run has several.
    fn shift(&mut self, target: usize, from: State, to: State) {
        self.counts.shift(from, to);
        if let Some(counts) = self.by_target.get_mut(target) {
            counts.shift(from, to);
        }
    }

    /// A replacement attempt toward `target`: it joins the total straight into Dialing.
    pub fn reconnecting(&mut self, target: usize) {
        self.reconnects += 1;
        for counts in [Some(&mut self.counts), self.by_target.get_mut(target)]
            .into_iter()
            .flatten()
        {
            counts.total += 1;
            counts.dialing += 1;
        }
    }

    pub fn start_hold(&mut self) {
        let now = self.counts.established;
        self.hold = Some(HoldSpan {
            min_established: now,
            max_established: now,
            duration: Duration::ZERO,
        });
    }

    fn track_hold(&mut self) {
        if let Some(hold) = &mut self.hold {
            hold.min_established = hold.min_established.min(self.counts.established);
            hold.max_established = hold.max_established.max(self.counts.established);
        }
    }

    pub fn dialing(&mut self, target: usize) {
        self.shift(target, State::NotInitiated, State::Dialing);
    }

    pub fn established(&mut self, target: usize, latency: Duration) {
        self.shift(target, State::Dialing, State::Established);
        self.max_established = self.max_established.max(self.counts.established);
        self.connect.record(latency);
        self.track_hold();
    }

    /// What the kernel measured of a handshake whose connect latency was `latency`.
    pub fn handshake(&mut self, latency: Duration, rtt: Duration, syn_retransmitted: bool) {
        self.handshake_rtt.record(rtt);
        self.own_delay.record(latency.saturating_sub(rtt));
        self.syn_retransmitted += u64::from(syn_retransmitted);
    }

    pub fn failed(&mut self, target: usize, cause: Failure, elapsed: Duration) {
        self.shift(target, State::Dialing, State::Error);
        self.failures[cause.index()] += 1;
        self.time_to_error.record(elapsed);
    }

    pub fn closed(&mut self, target: usize, how: Closure) {
        self.shift(target, State::Established, State::Closed);
        self.closures[how.index()] += 1;
        self.track_hold();
    }

    /// Counts probe outcomes from now on.
    pub fn probe_each(&mut self) {
        self.probe = Some(ProbeStats::default());
    }

    /// A probe went out on an established connection.
    pub fn probe_awaiting(&mut self) {
        if let Some(probe) = &mut self.probe {
            probe.awaiting += 1;
        }
    }

    /// A probe's outcome, `elapsed` after its attempt started.
    pub fn probe_outcome(&mut self, outcome: ProbeOutcome, elapsed: Duration) {
        if let Some(probe) = &mut self.probe {
            probe.awaiting -= 1;
            probe.outcomes[outcome.index()] += 1;
            if outcome == ProbeOutcome::Served {
                probe.served_open += 1;
                probe.time_to_served.record(elapsed);
            }
        }
    }

    /// A protocol event on a probed connection, in words, `n` times.
    pub fn probe_event(&mut self, what: String, n: u64) {
        if let Some(probe) = &mut self.probe {
            // A server may say many things (a close code is 16 bits): past a few kinds,
            // the rest are counted together, so that the list stays short.
            let known = probe.events.iter().any(|(seen, _)| *seen == what);
            let what = if known || probe.events.len() < MAX_EVENT_KINDS - 1 {
                what
            } else {
                "other events".to_string()
            };
            count_in(&mut probe.events, what, n);
        }
    }

    /// A probe rejected by this HTTP status (counted as rejected by [`Stats::probe_outcome`]).
    pub fn probe_rejected_status(&mut self, status: u16) {
        if let Some(probe) = &mut self.probe {
            match probe
                .rejected_statuses
                .iter_mut()
                .find(|(s, _)| *s == status)
            {
                Some((_, n)) => *n += 1,
                None => probe.rejected_statuses.push((status, 1)),
            }
        }
    }

    /// Counts heartbeats from now on.
    pub fn beat_each(&mut self) {
        self.beats = Some(BeatStats::default());
    }

    /// A beat came due on a beating connection.
    pub fn beat_due(&mut self) {
        if let Some(beats) = &mut self.beats {
            beats.due += 1;
            beats.out += 1;
        }
    }

    /// A beat's request was written whole.
    pub fn beat_sent(&mut self) {
        if let Some(beats) = &mut self.beats {
            beats.sent += 1;
        }
    }

    /// A beat was answered `latency` after it was due; `late`: after the next was due.
    pub fn beat_answered(&mut self, latency: Duration, late: bool) {
        if let Some(beats) = &mut self.beats {
            beats.answered += 1;
            beats.out = beats.out.saturating_sub(1);
            beats.late += u64::from(late);
            beats.latency.record(latency);
            beats.interval.record(latency);
            beats.since_sample.record(latency);
        }
    }

    /// A served connection stopped answering, `elapsed` into the run (for a beat left
    /// unanswered, its due time, which a later-found stop can precede): it is served no more.
    pub fn beat_stopped(&mut self, cause: StopCause, elapsed: Duration) {
        if let Some(beats) = &mut self.beats {
            beats.stopped[cause.index()] += 1;
            // Every stop ends the beat that was out.
            beats.out = beats.out.saturating_sub(1);
            beats.first_stop = Some(beats.first_stop.map_or(elapsed, |f| f.min(elapsed)));
        }
        if let Some(probe) = &mut self.probe {
            probe.served_open -= 1;
        }
    }

    /// A served connection was closed by the peer.
    pub fn served_closed(&mut self) {
        if let Some(probe) = &mut self.probe {
            probe.served_open -= 1;
        }
    }

    /// Connections held now: established, and with a probe, served.
    pub fn held(&self) -> u64 {
        self.probe
            .as_ref()
            .map_or(self.counts.established, |p| p.served_open)
    }

    /// An attempt that fell back from `from`, which failed with `cause`, ended at `to` (the
    /// address that took it), or in Error when `to` is `None`.
    pub fn fell_back(&mut self, from: SocketAddr, cause: Failure, to: Option<SocketAddr>) {
        match self
            .fallbacks
            .iter_mut()
            .find(|f| (f.from, f.cause, f.to) == (from, cause, to))
        {
            Some(fallback) => fallback.count += 1,
            None => self.fallbacks.push(Fallback {
                from,
                cause,
                to,
                count: 1,
            }),
        }
    }

    /// Adds another process's stats of the same run (a shard) to these: counts, causes and
    /// bytes add up, latencies merge exactly. Maxima of the established count do not add:
    /// their sum is an upper bound, as the shards need not peak at once.
    pub fn absorb(&mut self, other: &Stats) -> Result<(), Overflow> {
        self.counts.absorb(&other.counts)?;
        add_each(
            &mut self.failures,
            &other.failures,
            "failures",
            Failure::ALL.map(Failure::key),
        )?;
        add_each(
            &mut self.closures,
            &other.closures,
            "closures",
            Closure::ALL.map(Closure::key),
        )?;
        add(
            &mut self.max_established,
            other.max_established,
            "max_concurrent_established",
        )?;
        add(
            &mut self.bytes_received,
            other.bytes_received,
            "bytes_received",
        )?;
        self.connect.merge(&other.connect, "connect_latency_us")?;
        (self.time_to_error).merge(&other.time_to_error, "time_to_error_us")?;
        (self.handshake_rtt).merge(&other.handshake_rtt, "handshake_rtt_us")?;
        self.own_delay.merge(&other.own_delay, "own_delay_us")?;
        add(
            &mut self.syn_retransmitted,
            other.syn_retransmitted,
            "syn_retransmitted",
        )?;
        (self.schedule_lag).merge(&other.schedule_lag, "schedule_lag_us")?;
        add(&mut self.reconnects, other.reconnects, "reconnects")?;
        if self.by_target.len() < other.by_target.len() {
            self.by_target
                .resize(other.by_target.len(), Counts::default());
        }
        for (a, b) in self.by_target.iter_mut().zip(&other.by_target) {
            a.absorb(b)
                .map_err(|Overflow(what)| Overflow(format!("by_target {what}")))?;
        }
        self.hold = match (self.hold, other.hold) {
            (Some(mut a), Some(b)) => {
                add(
                    &mut a.min_established,
                    b.min_established,
                    "hold.min_established",
                )?;
                add(
                    &mut a.max_established,
                    b.max_established,
                    "hold.max_established",
                )?;
                a.duration = a.duration.max(b.duration);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        self.first_loss = self.first_loss.or(other.first_loss);
        self.knee = self.knee.take().or_else(|| other.knee.clone());
        match (&mut self.probe, &other.probe) {
            (Some(a), Some(b)) => {
                add_each(
                    &mut a.outcomes,
                    &b.outcomes,
                    "probe",
                    ProbeOutcome::ALL.map(ProbeOutcome::key),
                )?;
                add(&mut a.awaiting, b.awaiting, "probe.awaiting")?;
                add(&mut a.served_open, b.served_open, "probe.served_open")?;
                (a.time_to_served).merge(&b.time_to_served, "time_to_served_us")?;
                for (status, n) in &b.rejected_statuses {
                    add_named(
                        &mut a.rejected_statuses,
                        status,
                        *n,
                        "probe.rejected_statuses",
                    )?;
                }
                for (what, n) in &b.events {
                    match a.events.iter_mut().find(|(w, _)| w == what) {
                        Some((_, m)) => *m += n,
                        None => a.events.push((what.clone(), *n)),
                    }
                }
            }
            (None, Some(b)) => self.probe = Some(b.clone()),
            _ => {}
        }
        match (&mut self.tls, &other.tls) {
            (Some(a), Some(b)) => {
                a.handshake.merge(&b.handshake, "tls_handshake_us")?;
                for (what, n) in &b.negotiated {
                    add_named(&mut a.negotiated, what, *n, "tls.negotiated")?;
                }
                for (what, n) in &b.failures {
                    add_named(&mut a.failures, what, *n, "tls.failures")?;
                }
            }
            (None, Some(b)) => self.tls = Some(b.clone()),
            _ => {}
        }
        match (&mut self.beats, &other.beats) {
            (Some(a), Some(b)) => {
                add(&mut a.due, b.due, "beats.due")?;
                add(&mut a.sent, b.sent, "beats.sent")?;
                add(&mut a.answered, b.answered, "beats.answered")?;
                add(&mut a.late, b.late, "beats.late")?;
                add_each(
                    &mut a.stopped,
                    &b.stopped,
                    "beats.stopped",
                    StopCause::ALL.map(StopCause::key),
                )?;
                a.first_stop = match (a.first_stop, b.first_stop) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                a.latency.merge(&b.latency, "beats.latency_us")?;
                // The loop's own windows, not read from a summary: their histograms
                // saturate, as every histogram of the loop's does.
                a.interval.merge(&b.interval);
                a.since_sample.merge(&b.since_sample);
                add(&mut a.out, b.out, "beats.out")?;
            }
            (None, Some(b)) => self.beats = Some(b.clone()),
            _ => {}
        }
        for f in &other.fallbacks {
            match self
                .fallbacks
                .iter_mut()
                .find(|g| (g.from, g.cause, g.to) == (f.from, f.cause, f.to))
            {
                Some(g) => add(&mut g.count, f.count, "fallbacks.count")?,
                None => self.fallbacks.push(*f),
            }
        }
        Ok(())
    }

    pub fn failures_of(&self, cause: Failure) -> u64 {
        self.failures[cause.index()]
    }

    pub fn closures_of(&self, how: Closure) -> u64 {
        self.closures[how.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counts_follow_the_lifecycle_and_add_up() {
        let mut stats = Stats::new(4);
        for _ in 0..4 {
            stats.dialing(0);
        }
        stats.established(0, ms(1));
        stats.established(0, ms(3));
        stats.failed(0, Failure::Refused, ms(2));
        stats.closed(0, Closure::Reset);
        let c = stats.counts;
        assert_eq!((c.dialing, c.established, c.closed, c.error), (1, 1, 1, 1));
        assert!(c.adds_up());
        assert_eq!(c.ever_established(), 2);
        assert_eq!(stats.max_established, 2);
        assert_eq!(stats.failures_of(Failure::Refused), 1);
        assert_eq!(stats.closures_of(Closure::Reset), 1);
        assert_eq!(stats.connect.moments.count, 2);
        assert_eq!(stats.time_to_error.moments.count, 1);
    }

    #[test]
    fn reconnects_and_targets_keep_every_sum() {
        let mut stats = Stats::new(5);
        stats.split_by_target(2);
        assert_eq!(
            stats.by_target.iter().map(|c| c.total).collect::<Vec<_>>(),
            [3, 2]
        );
        for k in 0..5 {
            stats.dialing(k % 2);
            stats.established(k % 2, ms(1));
        }
        stats.start_hold();
        stats.closed(1, Closure::PeerClosed);
        stats.reconnecting(1);
        stats.established(1, ms(1));
        assert_eq!(stats.counts.total, 6);
        assert_eq!(stats.reconnects, 1);
        assert!(stats.counts.adds_up());
        assert!(stats.by_target.iter().all(Counts::adds_up));
        let sum: u64 = stats.by_target.iter().map(|c| c.total).sum();
        assert_eq!(sum, stats.counts.total);
        let hold = stats.hold.unwrap();
        assert_eq!((hold.min_established, hold.max_established), (4, 5));
        let mut single = Stats::new(5);
        single.split_by_target(1);
        assert!(single.by_target.is_empty());
    }

    #[test]
    fn moments_are_exact() {
        let mut m = Moments::default();
        for d in [ms(2), ms(4), ms(4), ms(4), ms(5), ms(5), ms(7), ms(9)] {
            m.record(d);
        }
        assert_eq!(m.min(), ms(2));
        assert_eq!(m.max(), ms(9));
        assert_eq!(m.mean(), ms(5));
        assert_eq!(m.stddev(), ms(2));
        assert_eq!(Moments::default().stddev(), Duration::ZERO);
    }

    #[test]
    fn merged_latencies_are_those_of_both_sets() {
        let (mut a, mut b, mut all) = (Latency::default(), Latency::default(), Latency::default());
        for (i, micros) in [7u64, 120, 3, 950, 44, 44, 12_000, 5]
            .into_iter()
            .enumerate()
        {
            let d = Duration::from_micros(micros);
            if i % 3 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            all.record(d);
        }
        a.merge(&b, "a").unwrap();
        assert_eq!(a.moments, all.moments);
        assert_eq!(a.histogram.inner(), all.histogram.inner());
        let mut empty = Latency::default();
        empty.merge(&all, "empty").unwrap();
        assert_eq!(empty.moments, all.moments);
    }

    #[test]
    fn counts_add_up_without_wrapping() {
        let mut c = Counts::new(10);
        assert!(c.adds_up());
        c.not_initiated = u64::MAX;
        c.closed = 11;
        // u64::MAX + 11 is 10 modulo 2^64.
        assert!(!c.adds_up());
    }

    #[test]
    fn absorbing_stops_at_a_sum_past_what_a_count_holds() {
        let mut a = Stats::new(1);
        let mut b = Stats::new(1);
        a.bytes_received = u64::MAX;
        b.bytes_received = 1;
        assert_eq!(a.absorb(&b), Err(Overflow("bytes_received".to_string())));
        let mut a = Stats::new(1);
        a.failures[Failure::Refused.index()] = u64::MAX;
        b.bytes_received = 0;
        b.failures[Failure::Refused.index()] = 1;
        assert_eq!(a.absorb(&b), Err(Overflow("failures.refused".to_string())));
        let mut a = Stats::new(1);
        a.connect.moments = Moments::from_parts(u64::MAX, 1, 1, 1, 1);
        let mut b = Stats::new(1);
        b.connect.record(Duration::from_micros(3));
        assert_eq!(
            a.absorb(&b),
            Err(Overflow("connect_latency_us".to_string()))
        );
        let (mut a, b) = (Stats::new(3), Stats::new(4));
        assert_eq!(a.absorb(&b), Ok(()));
        assert_eq!((a.counts.total, a.counts.not_initiated), (7, 7));
    }

    #[test]
    fn histogram_keeps_percentiles_within_its_precision() {
        let mut h = LatencyHistogram::default();
        for micros in 1..=1000 {
            h.record(Duration::from_micros(micros));
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.quantile(0.5), Duration::from_micros(500));
        assert_eq!(h.quantile(0.99), Duration::from_micros(990));
        assert_eq!(h.max(), Duration::from_micros(1000));
        h.record(Duration::from_secs(10 * 3600));
        assert_eq!(h.len(), 1001);
    }
}
