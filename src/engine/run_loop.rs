//! The event loop of a run: one thread, one `mio::Poll`, every open connection in a slab
//! whose key is its token.
//!
//! Each turn of the loop reads the clock once, as its poll returns, serves the events the
//! poll reported and the reads the last turn cut short (a connection is read up to a
//! budget a turn, so a peer that writes without end cannot hold the loop; the poll then
//! does not wait), emits a stats tick when one is due, makes the attempts that are due (a
//! bounded batch, so events, ticks and signals are served even with `--sleep 0`), fails the
//! attempts whose deadline has passed, then polls with a timeout that is the nearest of:
//! next attempt, next tick, earliest deadline, end of the hold or settle.
//!
//! Time is passed down as `now`. The clock is read in three places only: once a turn; right
//! after each connect, the one measurement point (the handshake is often done by the
//! connect's return, and its latency runs to there; the next attempt of the batch starts
//! there); and once when the engine is made, beside the wall clock, for the schedule's
//! origin.
//!
//! The run's phases (dialing on schedule, reconnect replacements, hold, settle, drain, the
//! stops) are decided by a pure policy, [`Phases`] in `phase`: the loop asks it which
//! attempt to dial, tells it of each close, loss and stop, and asks it each turn whether
//! the run is over. The loop owns the I/O; the policy owns the decisions.
//!
//! The settle exists because a handshake is the kernel's, and the application's refusal
//! comes after it: a server at its limit accepts, then closes (redis writes an error first).
//! A run that ended the moment its last handshake completed would call those connections
//! held. A hold is never shorter than the settle, so it covers the same ground. With
//! `stop_at_first_loss` (`tcpgoon limit`), what is counted as held is what the server still
//! held once it had had the time to drop the rest. A run that ends first settles the
//! attempts whose handshake the kernel has already finished, so they count as established
//! rather than dialing.
//!
//! An attempt whose address refuses it or fails, when the plan names fallback addresses (a
//! name's other addresses), dials the next one instead, as Go's dialer does for the
//! reference tool: still the same attempt, with its sequence number, its start (its latency
//! runs from there) and its deadline, so it ends in one final state like any other. A
//! timeout ends it (the dial timeout is the whole attempt's), as does a local limit.
//!
//! The engine never formats: it hands ticks and per-connection events to an [`Observer`]
//! and returns an [`Outcome`] for the reports.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::engine::beat::Heartbeat;
use crate::engine::beat::{BeatSchedule, HeartbeatPlan};
use crate::engine::conn::{self, Closure, Conn, Failure, Stack, State, Step, Up};
use crate::engine::deadline::{DeadlineHeap, DeadlineQueue};
use crate::engine::h2_session::H2Session;
use crate::engine::knee::{KneeGate, KneeWatch};
use crate::engine::metrics::Metrics;
use crate::engine::mqtt_session::MqttSession;
use crate::engine::mqtt_ws_session::MqttWsSession;
use crate::engine::pacer::{Pacer, Shard, Ticker};
pub use crate::engine::phase::Stop;
use crate::engine::phase::{Dial, Phases, Rules, Tally};
use crate::engine::probe::{Probe, ProbeOutcome};
use crate::engine::probe::{Reply, WsServedBy};
use crate::engine::session::{Output, Session, SessionState};
use crate::engine::session_output::PeerEvent;
use crate::engine::signal::{Caught, SignalFd};
use crate::engine::source::{Route, Routes};
use crate::engine::stats::{Dropped, Loss, LossCause, Stats, StopCause};
use crate::engine::timer::{self, Alarm};
use crate::engine::tls;
use crate::engine::transport::Transport;
use crate::engine::ws_session::{WsMessage, WsSession};
use crate::error::Error;

const SIGNALS: Token = Token(usize::MAX);
const ALARM: Token = Token(usize::MAX - 1);

/// Attempts made per loop turn before events are served again: few enough that a handshake
/// completed meanwhile waits at most this many connects to be seen (BENCHMARKS.md, "Own
/// delay"); one poll per batch costs the burst nothing measurable.
const DIAL_BATCH: usize = 16;

/// What the engine is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Attempts go to these in turn (see `source` for the order); at least one.
    pub targets: Vec<SocketAddr>,
    /// Addresses to bind before connecting, taken in turn per target family; empty lets the
    /// kernel choose. Each target's family must have a source when any is given.
    pub sources: Vec<IpAddr>,
    /// With one target: the addresses an attempt dials in turn when the one before refused
    /// it or failed. Empty: an attempt has its target only. Of the sources' family when any
    /// is given.
    pub fallbacks: Vec<SocketAddr>,
    pub connections: u64,
    pub sleep: Duration,
    pub dial_timeout: Duration,
    /// Between stats ticks; zero turns them off.
    pub interval: Duration,
    /// Between redraws of a live display, when one is shown.
    pub refresh: Option<Duration>,
    /// After every attempt has an outcome, keep the connections open this long.
    pub hold: Duration,
    /// After the last outcome (or, with `stop_at_first_loss`, the first loss), keep the
    /// connections open and read for this long, so closes the server sends late are counted.
    /// A hold is never shorter.
    pub settle: Duration,
    /// Replace each connection the peer closes with a new attempt, until the hold ends.
    pub reconnect: bool,
    /// End the run at the first failed attempt or dropped connection.
    pub stop_at_first_loss: bool,
    /// Ask each established connection for proof that the application took it.
    pub probe: Option<Probe>,
    /// The part of the schedule this process makes; `connections` is that part's count, and
    /// `sleep` the whole schedule's spacing.
    pub shard: Shard,
    /// The wall-clock time the schedule starts at (`--start-at`); `None`: at once.
    pub start_at: Option<SystemTime>,
    /// A TLS handshake on each connection, after its TCP connect (`--tls`).
    pub tls: Option<TlsPlan>,
    /// Heartbeats on each served connection (`--heartbeat`); only with a probe.
    pub heartbeat: Option<HeartbeatPlan>,
    /// Bounds on beat latency whose first crossing by a period's beats is the knee (`limit
    /// --max-latency beat:…`), before the search goes on to the first loss; only with
    /// heartbeats.
    pub knee: Vec<KneeGate>,
}

/// `--tls`: how each session is made, and how long its handshake may take.
#[derive(Debug, Clone)]
pub struct TlsPlan {
    pub client: tls::Client,
    /// From the TCP connect; then the attempt fails, handshake timed out.
    pub timeout: Duration,
    /// For the reports: the name sent (none for an address), what is trusted (`system`,
    /// `insecure`, or the `--ca` file), the versions offered, the ALPN protocols offered.
    pub sni: Option<String>,
    pub trust: String,
    pub versions: &'static str,
    pub alpn: Vec<String>,
}

impl Plan {
    /// What serves a connection, for the reports: the probe's name, or `tls` (the handshake
    /// done) with `--tls` alone; `None` when being established is all.
    pub fn served_by(&self) -> Option<&str> {
        match (&self.probe, &self.tls) {
            (Some(probe), _) => Some(&probe.name),
            (None, Some(_)) => Some("tls"),
            (None, None) => None,
        }
    }

    /// How long a hold lasts: as asked, but never shorter than the settle; zero without one.
    pub fn hold_time(&self) -> Duration {
        if self.hold.is_zero() {
            Duration::ZERO
        } else {
            self.hold.max(self.settle)
        }
    }
}

/// A connection's change of state, for `--debug`.
#[derive(Debug, Clone, Copy)]
pub struct ConnEvent {
    pub seq: u64,
    pub state: State,
    /// Time since the attempt started.
    pub elapsed: Duration,
    pub failure: Option<Failure>,
    /// The OS error number behind a failure, when there was one (a timeout has none).
    pub os_error: Option<i32>,
    pub closure: Option<Closure>,
    /// A probe's outcome (the state is then Established, or Closed for one closed before
    /// it answered).
    pub probe: Option<ProbeOutcome>,
    /// Served, it stopped answering its heartbeats, for this cause.
    pub beat_stopped: Option<StopCause>,
    /// What the protocol's peer said (a close and its code, a refusal and its reason).
    pub said: Option<PeerEvent>,
}

impl ConnEvent {
    /// Attempt `seq` is in `state`, `elapsed` after it started; nothing more to say of it.
    pub fn new(seq: u64, state: State, elapsed: Duration) -> ConnEvent {
        ConnEvent {
            seq,
            state,
            elapsed,
            failure: None,
            os_error: None,
            closure: None,
            probe: None,
            beat_stopped: None,
            said: None,
        }
    }
}

/// Receives what happens during a run.
pub trait Observer {
    /// A stats tick: once at start, then every interval.
    fn tick(&mut self, elapsed: Duration, stats: &Stats);
    /// Time to redraw a live display (only when the plan asks for a refresh period).
    fn refresh(&mut self, _elapsed: Duration, _stats: &Stats) {}
    /// The terminal was resized (SIGWINCH): time to redraw a live display at once.
    fn resized(&mut self) {}
    /// A connection changed state.
    fn conn_event(&mut self, _event: ConnEvent) {}
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub stats: Stats,
    pub stop: Option<Stop>,
    /// From the first attempt's due time to the end of the loop.
    pub wall: Duration,
    /// From the first attempt to the last one actually made.
    pub dial_span: Duration,
    /// How long the run settled (see the module's header); `None` when it did not: a hold
    /// covered it, the settle period was zero, or the run was stopped first.
    pub settled: Option<Duration>,
    /// The settle period the plan asked for.
    pub settle: Duration,
    /// The wall-clock time of the schedule's start: `--start-at`'s, or the run's own.
    pub origin: SystemTime,
    /// How late the first attempt started against its due time (origin + shard index ×
    /// sleep); `None` when no attempt was made.
    pub first_attempt_lag: Option<Duration>,
}

/// The connections a finished run leaves open; dropping this closes them. On loopback each
/// close costs the peer's teardown too (about 13 µs here), so a caller keeps this until its
/// report is out: the report does not wait for thousands of closes.
#[must_use = "dropping it closes the connections at once"]
pub struct OpenConnections {
    _conns: Slab<Conn>,
}

pub struct Engine<'s> {
    poll: Poll,
    alarm: Alarm,
    conns: Slab<Conn>,
    plan: Plan,
    routes: Routes,
    /// The schedule and the phases: what to dial, and when the run is over.
    phases: Phases,
    ticker: Ticker,
    refresher: Option<Ticker>,
    deadlines: DeadlineQueue<(usize, u64)>,
    /// The layers every connection stacks over its socket.
    stack: Stack,
    /// Established connections whose session awaits an answer, by when it is due.
    session_deadlines: DeadlineHeap<(usize, u64)>,
    /// Connections in their transport's handshake, by when it is due.
    handshake_deadlines: DeadlineQueue<(usize, u64)>,
    /// The beat latency bounds that end the search, each watched over the beats.
    knees: Vec<KneeWatch>,
    stats: Stats,
    signals: Option<&'s SignalFd>,
    /// `--metrics`: the scrape endpoint, served by this loop.
    metrics: Option<&'s mut Metrics>,
    start: Instant,
    origin: SystemTime,
    first_attempt_lag: Option<Duration>,
    last_attempt: Option<Instant>,
    read_buf: Box<[u8]>,
    /// Connections (key, seq) whose last read stopped at its budget with more to read.
    unread: Vec<(usize, u64)>,
    /// Look at each attempt right after its connect (see `dial`); the unit tests turn this
    /// off to leave attempts dialing for the loop to find.
    look_at_once: bool,
}

impl<'s> Engine<'s> {
    pub fn new(plan: Plan, signals: Option<&'s SignalFd>) -> Result<Engine<'s>, Error> {
        let poll = Poll::new().map_err(|e| Error::system("cannot create the event poll", e))?;
        if let Some(signals) = signals {
            signals.register(poll.registry(), SIGNALS)?;
        }
        let alarm = Alarm::registered(poll.registry(), ALARM)?;
        let routes = Routes::new(plan.targets.clone(), &plan.sources).map_err(Error::Usage)?;
        if !plan.fallbacks.is_empty() && plan.targets.len() != 1 {
            return Err(Error::Usage(
                "fallback addresses are for a run with one target address".to_string(),
            ));
        }
        // The schedule's origin, read from both clocks at once: the loop keeps to the
        // monotonic one, and waits for a later start in its poll like for any attempt. The
        // only reading of the clock outside the loop.
        let (start, origin) = {
            let now = Instant::now();
            let wall = SystemTime::now();
            match plan.start_at {
                Some(at) => (now + at.duration_since(wall).unwrap_or_default(), at),
                None => (now, wall),
            }
        };
        // Beats are due on the run's schedule too, spread over their period by attempt.
        let heartbeat = plan.heartbeat.as_ref().map(|beat| {
            Box::new(Heartbeat {
                schedule: BeatSchedule {
                    origin: start,
                    period: beat.period,
                    spread: beat_spread(&plan, beat.period),
                    until: None,
                },
                timeout: beat.timeout,
                request: beat.request.clone(),
                reply: beat.reply.clone(),
            })
        });
        let stack = Stack {
            tls: plan.tls.as_ref().map(|tls| tls.client.clone()),
            // With TLS and no probe, served is the handshake done.
            session: match (&plan.probe, &plan.tls) {
                (Some(probe), _)
                    if let Reply::WebSocket {
                        key_at,
                        request_len,
                        served_by,
                    } = probe.reply =>
                {
                    let (request, text) = probe.send.split_at(usize::from(request_len));
                    Some(Session::Ws(Box::new(WsSession {
                        request: request.to_vec(),
                        key_at: usize::from(key_at),
                        seed: run_seed(origin),
                        timeout: probe.timeout,
                        heartbeat: heartbeat.map(|beat| *beat),
                        message: match served_by {
                            WsServedBy::Upgrade => None,
                            WsServedBy::Message | WsServedBy::Reply => Some(WsMessage {
                                send: (served_by == WsServedBy::Reply).then(|| text.to_vec()),
                                expect: probe.expect.clone(),
                            }),
                        },
                    })))
                }
                (Some(probe), _)
                    if let Reply::MqttWs {
                        key_at,
                        request_len,
                        len_at,
                        id_at,
                    } = probe.reply =>
                {
                    let (request, template) = probe.send.split_at(usize::from(request_len));
                    Some(Session::MqttWs(Box::new(MqttWsSession {
                        request: request.to_vec(),
                        key_at: usize::from(key_at),
                        seed: run_seed(origin),
                        mqtt: MqttSession {
                            template: template.to_vec(),
                            len_at: usize::from(len_at),
                            id_at: usize::from(id_at),
                            timeout: probe.timeout,
                            heartbeat: heartbeat.map(|beat| *beat),
                        },
                    })))
                }
                (Some(probe), _) if let Reply::Mqtt { len_at, id_at } = probe.reply => {
                    Some(Session::Mqtt(Box::new(MqttSession {
                        template: probe.send.clone(),
                        len_at: usize::from(len_at),
                        id_at: usize::from(id_at),
                        timeout: probe.timeout,
                        heartbeat: heartbeat.map(|beat| *beat),
                    })))
                }
                (Some(probe), _) if let Reply::Http2 { tls } = probe.reply => {
                    Some(Session::H2(Box::new(H2Session {
                        tls,
                        timeout: probe.timeout,
                        heartbeat: heartbeat.map(|beat| *beat),
                    })))
                }
                (Some(probe), _) => Some(Session::Probe {
                    probe: probe.clone(),
                    heartbeat,
                }),
                (None, Some(_)) => Some(Session::TransportUp),
                (None, None) => None,
            },
        };
        let handshake_timeout = plan.tls.as_ref().map(|tls| tls.timeout);
        let mut stats = Stats::new(plan.connections);
        stats.split_by_target(plan.targets.len());
        if stack.session.is_some() {
            stats.probe_each();
        }
        if handshake_timeout.is_some() {
            stats.tls_each();
        }
        if plan.heartbeat.is_some() && plan.probe.is_some() {
            stats.beat_each();
        }
        let knees = match &plan.heartbeat {
            Some(beat) if plan.probe.is_some() => plan
                .knee
                .iter()
                .map(|gate| KneeWatch::new(gate.clone(), start, beat.period, plan.sleep))
                .collect(),
            _ => Vec::new(),
        };
        let capacity = usize::try_from(plan.connections)
            .unwrap_or(usize::MAX)
            .min(1 << 16);
        Ok(Engine {
            poll,
            alarm,
            conns: Slab::with_capacity(capacity),
            phases: Phases::new(
                Rules {
                    hold: plan.hold_time(),
                    settle: plan.settle,
                    reconnect: plan.reconnect,
                    stop_at_first_loss: plan.stop_at_first_loss,
                    // One of this shard's steps: the whole schedule's, times the shards.
                    step: plan
                        .sleep
                        .saturating_mul(u32::try_from(plan.shard.count).unwrap_or(u32::MAX)),
                },
                Pacer::sharded(start, plan.sleep, plan.connections, plan.shard),
                plan.connections,
                start,
            ),
            ticker: Ticker::new(start, plan.interval),
            refresher: plan.refresh.map(|period| Ticker::new(start, period)),
            deadlines: DeadlineQueue::new(plan.dial_timeout),
            session_deadlines: DeadlineHeap::default(),
            handshake_deadlines: DeadlineQueue::new(handshake_timeout.unwrap_or_default()),
            knees,
            stack,
            stats,
            routes,
            signals,
            metrics: None,
            start,
            origin,
            first_attempt_lag: None,
            last_attempt: None,
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            unread: Vec::new(),
            look_at_once: true,
            plan,
        })
    }

    /// Serves `metrics` from this loop, with the stats of each moment; it is let go when
    /// the run ends, for its owner to linger with.
    pub fn with_metrics(mut self, metrics: &'s mut Metrics) -> Result<Engine<'s>, Error> {
        metrics.register(self.poll.registry())?;
        self.metrics = Some(metrics);
        Ok(self)
    }

    /// Runs until every attempt has an outcome, a signal arrives, or a local limit is hit.
    /// The connections still open come back with the outcome, to be closed when dropped.
    pub fn run(
        mut self,
        observer: &mut impl Observer,
    ) -> Result<(Outcome, OpenConnections), Error> {
        let mut events = Events::with_capacity(1024);
        let end = loop {
            // The clock, read once a turn: as the poll returns (on the first turn, as the run
            // begins). Everything below takes `now`; only a connect reads the clock again
            // (see `dial`), and what it reads is the turn's `now` from there on.
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == SIGNALS {
                    if self.on_signal() {
                        observer.resized();
                    }
                } else if event.token() == ALARM {
                    self.alarm.fired();
                } else if self
                    .metrics
                    .as_deref()
                    .is_some_and(|m| m.owns(event.token()))
                {
                    if let Some(metrics) = self.metrics.as_deref_mut() {
                        metrics.on_event(self.poll.registry(), event.token(), &self.stats, now);
                    }
                } else {
                    let readable = event.is_readable() || event.is_read_closed();
                    let writable = event.is_writable();
                    self.on_conn_event(event.token().0, readable, writable, now, observer);
                }
            }
            self.drain_unread(now, observer);
            self.stats.sample_timeline(now.duration_since(self.start));
            if self.ticker.take_due(now) {
                observer.tick(now.duration_since(self.start), &self.stats);
                if let Some(beats) = &mut self.stats.beats {
                    beats.interval.reset();
                }
            }
            if self.refresher.as_mut().is_some_and(|r| r.take_due(now)) {
                observer.refresh(now.duration_since(self.start), &self.stats);
            }
            let (batch_full, now) = self.dial_due(now, observer);
            self.expire_deadlines(now, observer);
            self.expire_sessions(now, observer);
            self.expire_handshakes(now, observer);
            self.watch_knees(now);
            if self.advance(now) && !self.beats_out_at_the_end(now) {
                break now;
            }
            let scrapes_left = (self.metrics.as_deref_mut())
                .is_some_and(|metrics| metrics.turn(self.poll.registry(), now));
            let timeout = if batch_full || scrapes_left || !self.unread.is_empty() {
                Some(Duration::ZERO)
            } else {
                self.alarm
                    .poll_timeout(self.next_wakeup(), now)
                    .map_err(|e| Error::system("cannot arm the timer", e))?
            };
            timer::wait(&mut self.poll, &mut events, timeout)?;
        };
        if let Some(metrics) = self.metrics.take() {
            metrics.deregister(self.poll.registry());
        }
        self.settle_dialing(end, observer);
        if self.stats.knee.is_some() {
            // With what came of its window's slow beats while the search went on.
            self.stats.knee = self.knees.iter().find_map(KneeWatch::knee);
        }
        // Interrupted while holding or settling.
        self.phases.finish(end);
        self.note_hold();
        let last = self.stats.now(end.duration_since(self.start));
        self.stats.timeline.finish(last);
        let dial_span = self.last_attempt.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(self.start)
        });
        let outcome = Outcome {
            stats: self.stats,
            stop: self.phases.stop(),
            wall: end.duration_since(self.start),
            dial_span,
            settled: self.phases.settled(),
            settle: self.plan.settle,
            origin: self.origin,
            first_attempt_lag: self.first_attempt_lag,
        };
        let open = OpenConnections { _conns: self.conns };
        Ok((outcome, open))
    }

    /// Judges the beat latency bounds, `now`, until the first is exceeded: that is the knee,
    /// a finding but not the end of the search, which goes on (holding and beating) to the
    /// first loss or the maximum, so that both are known. A loss or a stop before the knee
    /// ends the judging. The knee is counted in connections established: those still
    /// awaiting their first answer load the server as much as the served ones.
    fn watch_knees(&mut self, now: Instant) {
        if self.knees.is_empty() || self.stats.knee.is_some() {
            return;
        }
        if self.stats.first_loss.is_some() || self.phases.stop().is_some() {
            self.knees.iter_mut().for_each(KneeWatch::stop);
            return;
        }
        let held = self.stats.counts.established;
        let found = self
            .knees
            .iter_mut()
            .find_map(|watch| watch.turn(now, held).cloned());
        if let Some(knee) = found {
            // The other bounds are judged no more: the search has its knee.
            self.knees.iter_mut().for_each(KneeWatch::stop);
            self.stats.knee = Some(knee);
        }
    }

    /// Moves through the phases; true when the run is over.
    fn advance(&mut self, now: Instant) -> bool {
        let counts = self.stats.counts;
        let tally = Tally {
            dialing: counts.dialing,
            established: counts.established,
            awaiting: self.stats.probe.as_ref().map_or(0, |p| p.awaiting),
        };
        let turn = self.phases.advance(now, tally);
        if turn.hold_began {
            self.stats.start_hold();
        }
        self.note_hold();
        turn.over
    }

    /// Records how long the hold lasted, once it has ended.
    fn note_hold(&mut self) {
        if let (Some(hold), Some(held)) = (&mut self.stats.hold, self.phases.held()) {
            hold.duration = held;
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.phases.next_deadline(),
            self.ticker.next_due(),
            self.refresher.as_ref().and_then(Ticker::next_due),
            self.deadlines.next_deadline(),
            self.session_deadlines.next_deadline(),
            self.handshake_deadlines.next_deadline(),
            self.knees.iter().filter_map(KneeWatch::next_deadline).min(),
            self.metrics.as_deref().and_then(Metrics::next_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Makes the attempts that are due at `now`, at most a batch (the policy says which: see
    /// `phase`). Each attempt starts when the one before it was seen connecting (the first at
    /// `now`), so the batch's own time is nobody's latency. Returns whether more are due
    /// already, and the time as last read.
    fn dial_due(&mut self, now: Instant, observer: &mut impl Observer) -> (bool, Instant) {
        let mut now = now;
        for _ in 0..DIAL_BATCH {
            let started = now;
            now = match self.phases.next_dial(started) {
                Some(Dial::Scheduled { seq, due }) => {
                    let lag = started.saturating_duration_since(due);
                    self.stats.schedule_lag.record(lag);
                    self.first_attempt_lag.get_or_insert(lag);
                    let route = self.routes.route(seq);
                    self.stats.dialing(route.target);
                    self.dial(seq, route, started, observer)
                }
                Some(Dial::Replacement { seq, route }) => {
                    self.stats.reconnecting(route.target);
                    self.dial(seq, route, started, observer)
                }
                None => return (false, now),
            };
        }
        let more = self.phases.dial_due().is_some_and(|due| due <= now);
        (more, now)
    }

    /// Starts attempt `seq`, already counted as Dialing, `started`. Returns the time read
    /// right after its connect.
    fn dial(
        &mut self,
        seq: u64,
        route: Route,
        started: Instant,
        observer: &mut impl Observer,
    ) -> Instant {
        self.last_attempt = Some(started);
        observer.conn_event(ConnEvent::new(seq, State::Dialing, Duration::ZERO));
        let mut hop = 0;
        let mut first_failure = None;
        let writes = self.stack.writes();
        let failed = loop {
            let target = self
                .address(route, hop)
                .unwrap_or(self.routes.target(route));
            let key = self.conns.vacant_entry().key();
            let connect = start_registered(&self.poll, route.source, target, Token(key), writes);
            // The measurement point: the connect's own return. On loopback the handshake is
            // often done by then, and its latency runs to here; a connect that fails at once
            // has taken this long.
            let now = Instant::now();
            let cause = match connect {
                Ok(stream) => {
                    let inserted = self.conns.insert(Conn {
                        transport: Transport::plain(stream),
                        seq,
                        started,
                        state: State::Dialing,
                        route,
                        hop,
                        first_failure,
                        session: SessionState::Off,
                    });
                    debug_assert_eq!(inserted, key);
                    self.deadlines.push(started, (key, seq));
                    // On loopback (and a near server) the handshake is often done by the
                    // time connect returns: looking now, not after the batch, keeps our own
                    // delay out of the latency. It costs two system calls when it is not
                    // done yet.
                    if self.look_at_once {
                        self.settle(key, now, false, observer);
                    }
                    return now;
                }
                Err(e) => (Failure::classify(&e), e.raw_os_error()),
            };
            if !self.falls_back(cause.0) || self.address(route, hop.saturating_add(1)).is_none() {
                break (cause, now);
            }
            self.note_fallback(
                seq,
                cause.0,
                now.saturating_duration_since(started),
                observer,
            );
            first_failure.get_or_insert(cause.0);
            hop = hop.saturating_add(1);
        };
        let (cause, now) = failed;
        let elapsed = now.saturating_duration_since(started);
        if let Some(first) = first_failure {
            self.stats.fell_back(self.routes.target(route), first, None);
        }
        self.record_failure(seq, route, cause, elapsed, now, observer);
        now
    }

    /// The address an attempt along `route` dials at `hop`: its target, then the plan's
    /// fallback addresses in turn; `None` past the last.
    fn address(&self, route: Route, hop: u16) -> Option<SocketAddr> {
        match hop {
            0 => Some(self.routes.target(route)),
            _ => self.plan.fallbacks.get(usize::from(hop) - 1).copied(),
        }
    }

    /// Whether an attempt that failed with `cause` goes on to its next address, if it has
    /// one: not after a timeout (the dial timeout is the whole attempt's) or a limit of this
    /// machine, and not once the run is ending at once, with nobody to wait for the dial.
    fn falls_back(&self, cause: Failure) -> bool {
        cause != Failure::TimedOut
            && !cause.is_local_limit()
            && !cause.is_tls()
            && self.phases.may_fall_back()
    }

    /// For `--debug`: attempt `seq` failed at an address with `cause`, `elapsed` after it
    /// started, and dials the next.
    fn note_fallback(
        &self,
        seq: u64,
        cause: Failure,
        elapsed: Duration,
        observer: &mut impl Observer,
    ) {
        observer.conn_event(ConnEvent {
            failure: Some(cause),
            ..ConnEvent::new(seq, State::Dialing, elapsed)
        });
    }

    /// Fails the attempts still dialing at their deadline. The handshake may have completed
    /// in the kernel after the last poll; one last look tells that apart from a timeout.
    fn expire_deadlines(&mut self, now: Instant, observer: &mut impl Observer) {
        while let Some((key, seq)) = self.deadlines.pop_expired(now) {
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            // One in its transport's handshake has its own deadline.
            if conn.seq != seq || !conn.connecting() {
                continue;
            }
            if !self.settle(key, now, false, observer) {
                self.fail(key, (Failure::TimedOut, None), now, observer);
            }
        }
    }

    /// Settles every attempt still dialing that the kernel has finished with; the others
    /// stay dialing. For a run that ends at once.
    fn settle_dialing(&mut self, now: Instant, observer: &mut impl Observer) {
        let dialing: Vec<(usize, u64)> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.connecting())
            .map(|(key, conn)| (key, conn.seq))
            .collect();
        for (key, seq) in dialing {
            // Settling one can settle the rest (a first loss does, in `note_loss`): each is
            // settled only while it is still dialing.
            let still_dialing = self
                .conns
                .get(key)
                .is_some_and(|conn| conn.seq == seq && conn.connecting());
            if still_dialing {
                self.settle(key, now, false, observer);
            }
        }
    }

    /// Moves a dialing connection on as far as its socket allows (`Conn::drive`), and acts
    /// on each step: a handshake's deadline starts, an established connection opens its
    /// session and is read when it has to be (`readable`, or what came with the handshake),
    /// a failed one ends. Returns whether it is no longer dialing.
    fn settle(
        &mut self,
        key: usize,
        now: Instant,
        readable: bool,
        observer: &mut impl Observer,
    ) -> bool {
        loop {
            let conn = &mut self.conns[key];
            match conn.drive(&self.stack, now) {
                Step::Wait => return false,
                Step::Handshaking => {
                    let seq = conn.seq;
                    self.handshake_deadlines.push(now, (key, seq));
                }
                Step::Up(up) => {
                    let (read_now, now) = (up.read_now, up.at);
                    self.establish(key, up, now, observer);
                    if (read_now || readable) && self.conns.contains(key) {
                        self.drain(key, now, observer);
                    }
                    return true;
                }
                Step::Failed {
                    cause,
                    os_error,
                    tls,
                } => {
                    if let Some(detail) = tls {
                        self.stats.tls_failed(detail);
                    }
                    self.fail(key, (cause, os_error), now, observer);
                    return true;
                }
                Step::Dropped(up, how) => {
                    self.establish(key, up, now, observer);
                    self.close(key, how, now, observer);
                    return true;
                }
            }
        }
    }

    /// Takes the pending signals; returns whether the terminal was resized.
    fn on_signal(&mut self) -> bool {
        let Some(signals) = self.signals else {
            return false;
        };
        let mut resized = false;
        while let Some(caught) = signals.read() {
            let Caught::Stop(signal) = caught else {
                resized = true;
                continue;
            };
            self.phases.interrupted(signal);
            signals.let_next_kill();
        }
        resized
    }

    fn on_conn_event(
        &mut self,
        key: usize,
        readable: bool,
        writable: bool,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.state == State::Dialing {
            // Establishing writes the session's first bytes, so this event's writability is
            // used up.
            self.settle(key, now, readable, observer);
            return;
        }
        if writable && let Some(session) = &self.stack.session {
            let out = conn.write(session);
            self.on_session(key, out, now, observer);
        }
        if writable && let Some(conn) = self.conns.get_mut(key) {
            conn.release();
        }
        if readable {
            self.drain(key, now, observer);
        }
    }

    /// Fails the handshakes not done by their deadline, after one last look at the socket.
    fn expire_handshakes(&mut self, now: Instant, observer: &mut impl Observer) {
        while let Some((key, seq)) = self.handshake_deadlines.pop_expired(now) {
            let handshaking = |engine: &Self| {
                engine
                    .conns
                    .get(key)
                    .is_some_and(|conn| conn.seq == seq && conn.handshaking())
            };
            if !handshaking(self) {
                continue;
            }
            self.settle(key, now, false, observer);
            if handshaking(self) {
                self.stats
                    .tls_failed(Failure::HandshakeTimedOut.label().to_string());
                self.fail(key, (Failure::HandshakeTimedOut, None), now, observer);
            }
        }
    }

    fn establish(&mut self, key: usize, up: Up, now: Instant, observer: &mut impl Observer) {
        let conn = &mut self.conns[key];
        conn.state = State::Established;
        // Over TLS the connect latency is the TCP connect's; the handshake has its own.
        if let Some(tls) = up.tls {
            self.stats.tls_done(tls.took, tls.negotiated);
        }
        let latency = up.connected.saturating_duration_since(conn.started);
        let (seq, target) = (conn.seq, conn.route.target);
        if let Some(first) = conn.first_failure {
            let (route, hop) = (conn.route, conn.hop);
            let from = self.routes.target(route);
            self.stats.fell_back(from, first, self.address(route, hop));
        }
        self.stats.established(target, latency);
        if let Some(handshake) = up.tcp {
            self.stats
                .handshake(latency, handshake.rtt, handshake.syn_retransmitted);
        }
        observer.conn_event(ConnEvent::new(seq, State::Established, latency));
        let Some(session) = &self.stack.session else {
            return;
        };
        let conn = &mut self.conns[key];
        let out = conn.open(session, now);
        self.stats.probe_awaiting();
        self.on_session(key, out, now, observer);
        self.conns[key].release();
    }

    /// The run is over, `now`, but beats are out: it waits for each to be answered or to
    /// time out (a server that froze just before the end does not pass for one that
    /// answered), and begins none. Not after a signal: that run is cut short anyway.
    fn beats_out_at_the_end(&mut self, now: Instant) -> bool {
        let out = self.stats.beats.as_ref().map_or(0, |b| b.out);
        if out == 0 || matches!(self.phases.stop(), Some(Stop::Interrupted(_))) {
            return false;
        }
        if let Some(schedule) = self
            .stack
            .session
            .as_mut()
            .and_then(Session::beat_schedule_mut)
        {
            schedule.until.get_or_insert(now);
        }
        true
    }

    /// Acts on what a connection's session handed back, `now`: its deadline queued, its
    /// outcome judged, its heartbeats counted, and a beat come due written.
    fn on_session(&mut self, key: usize, out: Output, now: Instant, observer: &mut impl Observer) {
        let seq = self.conns[key].seq;
        if let Some(deadline) = out.deadline {
            self.session_deadlines.push_at(deadline, (key, seq));
        }
        if let Some(outcome) = out.outcome {
            self.judge(key, outcome, now, observer);
        }
        if out.unserved {
            self.stats.served_closed();
        }
        if let Some(status) = out.rejected_status {
            self.stats.probe_rejected_status(status);
        }
        if let Some(said) = out.said {
            self.stats.probe_event(said.label(), 1);
            let conn = &self.conns[key];
            let mut event =
                ConnEvent::new(seq, conn.state, now.saturating_duration_since(conn.started));
            event.said = Some(said);
            observer.conn_event(event);
        }
        if out.messages > 0 {
            let what = "messages from the server".to_string();
            self.stats.probe_event(what, u64::from(out.messages));
        }
        let beat = out.beat;
        if beat.sent {
            self.stats.beat_sent();
        }
        if let Some((latency, late)) = beat.answered {
            self.stats.beat_answered(latency, late);
            for watch in &mut self.knees {
                watch.answered(now, latency);
            }
        }
        if let Some((cause, since)) = beat.stopped {
            self.stats
                .beat_stopped(cause, since.saturating_duration_since(self.start));
            let elapsed = now.saturating_duration_since(self.conns[key].started);
            observer.conn_event(ConnEvent {
                beat_stopped: Some(cause),
                ..ConnEvent::new(seq, State::Established, elapsed)
            });
            self.note_loss(LossCause::StoppedAnswering(cause), None, now, observer);
        }
        if let Some(due) = beat.due {
            self.stats.beat_due();
            for watch in &mut self.knees {
                watch.due(due);
            }
        }
        if (beat.due.is_some() || out.wants_write)
            && let Some(session) = &self.stack.session
            && let Some(conn) = self.conns.get_mut(key)
        {
            let out = conn.write(session);
            if out.beat.sent {
                self.stats.beat_sent();
            }
        }
        if out.close && self.conns.contains(key) {
            self.close(key, Closure::PeerClosed, now, observer);
        }
    }

    /// Counts a session's outcome, `now`; the connection stays as it is.
    fn judge(
        &mut self,
        key: usize,
        outcome: ProbeOutcome,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let conn = &self.conns[key];
        let elapsed = now.saturating_duration_since(conn.started);
        self.stats.probe_outcome(outcome, elapsed);
        observer.conn_event(ConnEvent {
            probe: Some(outcome),
            ..ConnEvent::new(conn.seq, conn.state, elapsed)
        });
        if outcome != ProbeOutcome::Served {
            self.note_loss(LossCause::NotServed(outcome), None, now, observer);
        }
    }

    /// Wakes the sessions whose deadline has passed: an answer still owed is unserved.
    fn expire_sessions(&mut self, now: Instant, observer: &mut impl Observer) {
        while let Some((key, seq)) = self.session_deadlines.pop_expired(now) {
            let (Some(session), Some(conn)) = (&self.stack.session, self.conns.get_mut(key)) else {
                continue;
            };
            if conn.seq != seq {
                continue;
            }
            let out = session.on_deadline(&mut conn.session, seq, now);
            self.on_session(key, out, now, observer);
        }
    }

    /// Reads until the socket would block, the session judging what it gets and the rest
    /// discarded; end-of-stream or an error closes it. A read stopped at its budget is
    /// taken up again next turn (`drain_unread`).
    fn drain(&mut self, key: usize, now: Instant, observer: &mut impl Observer) {
        let conn = &mut self.conns[key];
        let seq = conn.seq;
        let read = conn.read(self.stack.session.as_ref(), &mut self.read_buf, now);
        self.stats.bytes_received += read.bytes;
        self.on_session(key, read.session, now, observer);
        if let Some(how) = read.closed
            && self.conns.contains(key)
        {
            self.close(key, how, now, observer);
        } else if read.more && !self.unread.contains(&(key, seq)) {
            self.unread.push((key, seq));
        }
    }

    /// Reads on from the connections whose last read stopped at its budget, `now`: a peer
    /// that writes without end gets one budget a turn, and the loop goes on around it.
    fn drain_unread(&mut self, now: Instant, observer: &mut impl Observer) {
        for (key, seq) in std::mem::take(&mut self.unread) {
            if self
                .conns
                .get(key)
                .is_some_and(|c| c.seq == seq && c.state == State::Established)
            {
                self.drain(key, now, observer);
            }
        }
    }

    /// Ends an established connection in Closed; its socket is closed here. It is replaced
    /// when the plan says so and the run is still replacing (with a hold to come, a drop
    /// after the last scheduled attempt waits for the hold).
    fn close(&mut self, key: usize, how: Closure, now: Instant, observer: &mut impl Observer) {
        if let Some(session) = &self.stack.session {
            let out = session.on_close(&mut self.conns[key].session, now);
            self.on_session(key, out, now, observer);
        }
        let conn = self.conns.remove(key);
        if conn.session.served() {
            // Still served as it closes (a session's output counts one that left served
            // before: `Output::unserved`).
            self.stats.served_closed();
        }
        self.stats.closed(conn.route.target, how);
        // Only the first loss is kept, so only its age is worth a look through the others.
        let dropped = self.stats.first_loss.is_none().then(|| Dropped {
            open_for: now.saturating_duration_since(conn.started),
            oldest: !self
                .conns
                .iter()
                .any(|(_, c)| c.state == State::Established && c.started < conn.started),
        });
        let elapsed = now.saturating_duration_since(conn.started);
        observer.conn_event(ConnEvent {
            closure: Some(how),
            ..ConnEvent::new(conn.seq, State::Closed, elapsed)
        });
        self.phases.closed(conn.route);
        self.note_loss(LossCause::Dropped(how), dropped, now, observer);
    }

    /// Keeps the first loss, and ends the run on it when the plan says so.
    fn note_loss(
        &mut self,
        cause: LossCause,
        dropped: Option<Dropped>,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let stops = self.phases.lost();
        if self.stats.first_loss.is_some() {
            return;
        }
        let counts = &self.stats.counts;
        self.stats.first_loss = Some(Loss {
            cause,
            held: self.stats.held(),
            attempts: counts.total - counts.not_initiated,
            after: now.saturating_duration_since(self.start),
            dropped,
        });
        if stops {
            // The handshakes the kernel finished before the loss was seen were held too.
            // Settling them may meet more losses; those come after this one.
            self.settle_dialing(now, observer);
            let held = self.stats.held();
            if let Some(loss) = &mut self.stats.first_loss {
                loss.held = held;
            }
        }
    }

    /// Ends a dialing connection in Error, for a cause and the OS error number behind it, its
    /// socket closed here; unless the attempt has an
    /// address left to fall back to: then it dials that one, in the same slot, so its seq,
    /// its start and its deadline stay.
    fn fail(
        &mut self,
        key: usize,
        cause: (Failure, Option<i32>),
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let mut cause = cause;
        while self.falls_back(cause.0) {
            let conn = &self.conns[key];
            let Some(next) = self.address(conn.route, conn.hop.saturating_add(1)) else {
                break;
            };
            let (seq, started, source) = (conn.seq, conn.started, conn.route.source);
            self.note_fallback(
                seq,
                cause.0,
                now.saturating_duration_since(started),
                observer,
            );
            let conn = &mut self.conns[key];
            conn.hop = conn.hop.saturating_add(1);
            conn.first_failure.get_or_insert(cause.0);
            let writes = self.stack.writes();
            match start_registered(&self.poll, source, next, Token(key), writes) {
                // The failed socket is closed as it is replaced.
                Ok(stream) => {
                    self.conns[key].transport.set_sock(stream);
                    return;
                }
                Err(e) => cause = (Failure::classify(&e), e.raw_os_error()),
            }
        }
        let conn = self.conns.remove(key);
        let elapsed = now.saturating_duration_since(conn.started);
        if let Some(first) = conn.first_failure {
            self.stats
                .fell_back(self.routes.target(conn.route), first, None);
        }
        self.record_failure(conn.seq, conn.route, cause, elapsed, now, observer);
    }

    fn record_failure(
        &mut self,
        seq: u64,
        route: Route,
        (cause, os_error): (Failure, Option<i32>),
        elapsed: Duration,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        self.stats.failed(route.target, cause, elapsed);
        observer.conn_event(ConnEvent {
            failure: Some(cause),
            os_error,
            ..ConnEvent::new(seq, State::Error, elapsed)
        });
        if cause.is_local_limit() {
            self.phases.local_limit(cause);
        }
        self.note_loss(LossCause::Failed(cause), None, now, observer);
    }
}

/// How many connections share a heartbeat period's phases. A run spreads the beats of all
/// its connections over the period. A search (`limit`) rarely reaches its maximum, so it
/// spreads those of one period's attempts: attempt k beats at its own dial time modulo the
/// period, and whatever is held at any moment beats evenly over it (spread over the
/// maximum, the beats of the first few hundred would all fall in its first milliseconds),
/// so every moment of a search samples the server's latency at the load it has then.
fn beat_spread(plan: &Plan, period: Duration) -> u64 {
    let per_period = match plan.sleep.as_nanos() {
        0 => u128::MAX,
        step => period.as_nanos() / step,
    };
    if plan.stop_at_first_loss {
        u64::try_from(per_period)
            .unwrap_or(u64::MAX)
            .clamp(1, plan.connections.max(1))
    } else {
        plan.connections
    }
}

/// Starts connecting to `target` from `source`, its socket registered under `token`;
/// `writes`: the connection will write (see [`conn::start_connect`]).
fn start_registered(
    poll: &Poll,
    source: Option<IpAddr>,
    target: SocketAddr,
    token: Token,
    writes: bool,
) -> std::io::Result<mio::net::TcpStream> {
    let mut stream = conn::start_connect(source, target, writes)?;
    poll.registry()
        .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
    Ok(stream)
}

/// The run's seed for WebSocket keys and masks: its start on the wall clock and the
/// process, so that two runs, or two shards, make different keys.
fn run_seed(origin: SystemTime) -> u64 {
    let nanos = origin
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    crate::engine::ws::mix(nanos ^ u64::from(std::process::id()) << 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::Fallback;
    use std::net::TcpListener;

    struct Quiet;

    impl Observer for Quiet {
        fn tick(&mut self, _elapsed: Duration, _stats: &Stats) {}
    }

    /// An engine whose attempts go to `targets` in turn, made but never polled for, nor
    /// looked at after their connect.
    fn attempts_to(targets: Vec<SocketAddr>, stop_at_first_loss: bool) -> Engine<'static> {
        engine_to(targets, stop_at_first_loss, false)
    }

    fn engine_to(
        targets: Vec<SocketAddr>,
        stop_at_first_loss: bool,
        look_at_once: bool,
    ) -> Engine<'static> {
        let plan = Plan {
            connections: targets.len() as u64,
            targets,
            sources: Vec::new(),
            fallbacks: Vec::new(),
            sleep: Duration::ZERO,
            dial_timeout: Duration::from_secs(5),
            interval: Duration::ZERO,
            refresh: None,
            hold: Duration::ZERO,
            settle: Duration::ZERO,
            reconnect: false,
            stop_at_first_loss,
            probe: None,
            shard: Shard::WHOLE,
            start_at: None,
            tls: None,
            heartbeat: None,
            knee: Vec::new(),
        };
        let mut engine = Engine::new(plan, None).unwrap();
        engine.look_at_once = look_at_once;
        let start = engine.start;
        engine.dial_due(start, &mut Quiet);
        engine
    }

    /// The loop's `now` once the kernel has answered the attempts: any time after the last
    /// one started. Time is a parameter here as in the loop, and these tests never read the
    /// clock.
    fn later(engine: &Engine) -> Instant {
        engine.last_attempt.unwrap_or(engine.start) + Duration::from_millis(1)
    }

    #[test]
    fn a_loss_met_while_settling_settles_each_attempt_once() {
        // A socket that is bound and never listens refuses every attempt; the first refusal
        // met while settling is a loss, and settling for it settles the rest.
        let closed =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        closed
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let closed_addr = closed.local_addr().unwrap().as_socket().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = listener.local_addr().unwrap();
        let mut engine = attempts_to(vec![closed_addr, closed_addr, open_addr, closed_addr], true);
        let _accepted = listener.accept().unwrap();
        // Every attempt has its outcome in the kernel once each has reported an event; the
        // events are left unhandled, as if the loop had not got to them yet.
        let mut events = Events::with_capacity(16);
        let mut reported = std::collections::HashSet::new();
        for _ in 0..50 {
            if reported.len() == engine.conns.len() {
                break;
            }
            engine
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            reported.extend(events.iter().map(|e| e.token()));
        }
        assert_eq!(reported.len(), engine.conns.len());
        engine.settle_dialing(later(&engine), &mut Quiet);
        let counts = engine.stats.counts;
        assert_eq!(counts.total, 4);
        assert_eq!(
            counts.dialing + counts.established + counts.error,
            4,
            "{counts:?}"
        );
        assert_eq!((counts.established, counts.error), (1, 3), "{counts:?}");
    }

    /// A loopback address that refuses connections while the socket lives: bound, never
    /// listening.
    fn refusing() -> (socket2::Socket, SocketAddr) {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        (socket, addr)
    }

    /// Runs `connections` attempts to `target`, falling back to `fallbacks`, to the end.
    fn run_with_fallbacks(
        target: SocketAddr,
        fallbacks: Vec<SocketAddr>,
        connections: u64,
    ) -> Stats {
        let plan = Plan {
            targets: vec![target],
            sources: Vec::new(),
            fallbacks,
            connections,
            sleep: Duration::ZERO,
            dial_timeout: Duration::from_secs(5),
            interval: Duration::ZERO,
            refresh: None,
            hold: Duration::ZERO,
            settle: Duration::ZERO,
            reconnect: false,
            stop_at_first_loss: false,
            probe: None,
            shard: Shard::WHOLE,
            start_at: None,
            tls: None,
            heartbeat: None,
            knee: Vec::new(),
        };
        let (outcome, _open) = Engine::new(plan, None).unwrap().run(&mut Quiet).unwrap();
        outcome.stats
    }

    #[test]
    fn a_refused_attempt_falls_back_to_the_next_address_within_itself() {
        let (_closed, refused) = refusing();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let stats = run_with_fallbacks(refused, vec![open], 5);
        let counts = stats.counts;
        assert_eq!(counts.total, 5);
        assert_eq!(
            (counts.established, counts.error, counts.dialing),
            (5, 0, 0)
        );
        assert!(counts.adds_up());
        // Counted once, with its final outcome: no refusal is left among the failures.
        assert_eq!(stats.failures_of(Failure::Refused), 0);
        assert_eq!(stats.connect.moments.count, 5);
        assert_eq!(stats.time_to_error.moments.count, 0);
        assert_eq!(
            stats.fallbacks,
            [Fallback {
                from: refused,
                cause: Failure::Refused,
                to: Some(open),
                count: 5
            }]
        );
    }

    #[test]
    fn an_attempt_no_address_takes_ends_once_in_error() {
        let (_a, first) = refusing();
        let (_b, second) = refusing();
        let stats = run_with_fallbacks(first, vec![second], 4);
        let counts = stats.counts;
        assert_eq!((counts.total, counts.error, counts.established), (4, 4, 0));
        assert!(counts.adds_up());
        assert_eq!(stats.failures_of(Failure::Refused), 4);
        assert_eq!(stats.time_to_error.moments.count, 4);
        assert_eq!(
            stats.fallbacks,
            [Fallback {
                from: first,
                cause: Failure::Refused,
                to: None,
                count: 4
            }]
        );
        // Without fallbacks, nothing falls back.
        let stats = run_with_fallbacks(first, Vec::new(), 2);
        assert_eq!((stats.counts.error, stats.fallbacks.len()), (2, 0));
    }

    #[test]
    fn a_fallback_that_fails_at_once_gives_way_to_the_next() {
        // Bound to an IPv4 source, a connect to an IPv6 address fails before any packet:
        // that fallback is skipped for the one after it.
        let (_closed, refused) = refusing();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let unusable: SocketAddr = "[::1]:9".parse().unwrap();
        let plan = Plan {
            sources: vec![IpAddr::from([127, 0, 0, 1])],
            fallbacks: vec![unusable, open],
            ..attempts_to(vec![refused], false).plan
        };
        let (outcome, _open) = Engine::new(plan, None).unwrap().run(&mut Quiet).unwrap();
        let stats = outcome.stats;
        assert_eq!((stats.counts.established, stats.counts.error), (1, 0));
        assert_eq!(stats.fallbacks[0].to, Some(open));
    }

    #[test]
    fn fallbacks_are_for_one_target() {
        let (_a, first) = refusing();
        let mut plan = attempts_to(vec![first], false).plan;
        plan.targets.push(first);
        plan.fallbacks.push(first);
        assert!(Engine::new(plan, None).is_err());
    }

    /// An engine with one attempt toward `listener`, made but never polled for.
    fn one_attempt_to(listener: &TcpListener) -> Engine<'static> {
        let engine = attempts_to(vec![listener.local_addr().unwrap()], false);
        assert_eq!(engine.stats.counts.dialing, 1);
        engine
    }

    #[test]
    fn a_loopback_handshake_done_by_the_connect_is_seen_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let engine = engine_to(vec![listener.local_addr().unwrap()], false, true);
        // No poll between: the connect's own return found the handshake done.
        assert_eq!(
            engine.stats.counts.established, 1,
            "{:?}",
            engine.stats.counts
        );
        let own = engine.stats.own_delay.moments.max();
        assert!(own < Duration::from_millis(100), "{own:?}");
    }

    #[test]
    fn settling_counts_a_handshake_the_loop_has_not_seen() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut engine = one_attempt_to(&listener);
        // Accepted means the client's side got the SYN-ACK: the handshake is done there.
        let _accepted = listener.accept().unwrap();
        engine.settle_dialing(later(&engine), &mut Quiet);
        let counts = engine.stats.counts;
        assert_eq!((counts.dialing, counts.established), (0, 1));
        assert_eq!(engine.stats.connect.moments.count, 1);
    }

    #[test]
    fn a_reset_before_the_loop_looked_is_established_then_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut engine = one_attempt_to(&listener);
        let (accepted, _) = listener.accept().unwrap();
        socket2::SockRef::from(&accepted)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(accepted);
        // The reset has arrived once the socket no longer has a peer.
        let (key, _) = engine.conns.iter().next().unwrap();
        let reset = (0..5000).any(|_| {
            let arrived = engine.conns[key].transport.sock().peer_addr().is_err();
            if !arrived {
                std::thread::sleep(Duration::from_millis(1));
            }
            arrived
        });
        assert!(reset, "no reset arrived");
        engine.settle_dialing(later(&engine), &mut Quiet);
        let stats = &engine.stats;
        assert_eq!(
            (
                stats.counts.dialing,
                stats.counts.closed,
                stats.counts.error
            ),
            (0, 1, 0)
        );
        assert_eq!(stats.closures_of(Closure::Reset), 1);
        assert_eq!(stats.connect.moments.count, 1);
    }
}
