//! The event loop of a run: one thread, one `mio::Poll`, every open connection in a slab
//! whose key is its token.
//!
//! Each turn of the loop makes the attempts that are due (a bounded batch, so events, ticks
//! and signals are served even with `--sleep 0`), fails the attempts whose dial deadline has
//! passed, emits a stats tick when one is due, then polls with a timeout that is the nearest
//! of: next attempt, next tick, earliest deadline, end of the hold.
//!
//! A run goes through three phases. *Dialing*: attempts are made on schedule (and, with
//! `--reconnect`, a connection the peer closes is replaced at once by a new attempt along the
//! same route). *Holding* (`--hold`): once every attempt has an outcome, the connections are
//! kept open and read for the hold time, still replaced when dropped. *Draining*: no new
//! attempts; the run ends when none is still dialing. A signal ends the run at once; a local
//! limit stops dialing and skips the hold; with `stop_at_first_loss` (`tcpgoon limit`) the
//! first failed attempt or dropped connection ends it.
//!
//! The engine never formats: it hands ticks and per-connection events to an [`Observer`]
//! and returns an [`Outcome`] for the reports.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::conn::{self, Closure, Conn, Failure, Progress, State};
use crate::deadline::DeadlineQueue;
use crate::error::Error;
use crate::pacer::{Pacer, Ticker};
use crate::signal::SignalFd;
use crate::source::{Route, Routes};
use crate::stats::{Loss, LossCause, Stats};
use crate::timer::Alarm;

const SIGNALS: Token = Token(usize::MAX);
const ALARM: Token = Token(usize::MAX - 1);

/// Attempts made per loop turn before events are served again.
const DIAL_BATCH: usize = 256;

/// What the engine is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Attempts go to these in turn (see `source` for the order); at least one.
    pub targets: Vec<SocketAddr>,
    /// Addresses to bind before connecting, taken in turn per target family; empty lets the
    /// kernel choose. Each target's family must have a source when any is given.
    pub sources: Vec<IpAddr>,
    pub connections: u64,
    pub sleep: Duration,
    pub dial_timeout: Duration,
    /// Between stats ticks; zero turns them off.
    pub interval: Duration,
    /// Between redraws of a live display, when one is shown.
    pub refresh: Option<Duration>,
    /// After every attempt has an outcome, keep the connections open this long.
    pub hold: Duration,
    /// Replace each connection the peer closes with a new attempt, until the hold ends.
    pub reconnect: bool,
    /// End the run at the first failed attempt or dropped connection.
    pub stop_at_first_loss: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dialing,
    Holding { since: Instant, until: Instant },
    Draining,
}

/// Why a run stopped before its schedule was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupted(libc::c_int),
    LocalLimit(Failure),
}

/// A connection's change of state, for `--debug`.
#[derive(Debug, Clone, Copy)]
pub struct ConnEvent {
    pub seq: u64,
    pub state: State,
    /// Time since the attempt started.
    pub elapsed: Duration,
    pub failure: Option<Failure>,
    pub closure: Option<Closure>,
}

/// Receives what happens during a run.
pub trait Observer {
    /// A stats tick: once at start, then every interval.
    fn tick(&mut self, elapsed: Duration, stats: &Stats);
    /// Time to redraw a live display (only when the plan asks for a refresh period).
    fn refresh(&mut self, _elapsed: Duration, _stats: &Stats) {}
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
    phase: Phase,
    /// Routes of dropped connections waiting to be replaced.
    replacements: VecDeque<Route>,
    next_replacement_seq: u64,
    /// The first loss ended the run (`stop_at_first_loss`).
    lost: bool,
    pacer: Pacer,
    ticker: Ticker,
    refresher: Option<Ticker>,
    deadlines: DeadlineQueue<(usize, u64)>,
    stats: Stats,
    signals: Option<&'s SignalFd>,
    stop: Option<Stop>,
    start: Instant,
    last_attempt: Option<Instant>,
    read_buf: Box<[u8]>,
}

impl<'s> Engine<'s> {
    pub fn new(plan: Plan, signals: Option<&'s SignalFd>) -> Result<Engine<'s>, Error> {
        let poll = Poll::new().map_err(|e| Error::system("cannot create the event poll", e))?;
        if let Some(signals) = signals {
            signals.register(poll.registry(), SIGNALS)?;
        }
        let alarm = Alarm::registered(poll.registry(), ALARM)?;
        let routes = Routes::new(plan.targets.clone(), &plan.sources).map_err(Error::Usage)?;
        let mut stats = Stats::new(plan.connections);
        stats.split_by_target(plan.targets.len());
        let start = Instant::now();
        let capacity = usize::try_from(plan.connections)
            .unwrap_or(usize::MAX)
            .min(1 << 16);
        Ok(Engine {
            poll,
            alarm,
            conns: Slab::with_capacity(capacity),
            pacer: Pacer::new(start, plan.sleep, plan.connections),
            ticker: Ticker::new(start, plan.interval),
            refresher: plan.refresh.map(|period| Ticker::new(start, period)),
            deadlines: DeadlineQueue::new(plan.dial_timeout),
            stats,
            routes,
            phase: Phase::Dialing,
            replacements: VecDeque::new(),
            next_replacement_seq: plan.connections,
            lost: false,
            signals,
            stop: None,
            start,
            last_attempt: None,
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            plan,
        })
    }

    /// Runs until every attempt has an outcome, a signal arrives, or a local limit is hit.
    /// The connections still open come back with the outcome, to be closed when dropped.
    pub fn run(
        mut self,
        observer: &mut impl Observer,
    ) -> Result<(Outcome, OpenConnections), Error> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            if self.ticker.take_due(now) {
                observer.tick(now.duration_since(self.start), &self.stats);
            }
            if self.refresher.as_mut().is_some_and(|r| r.take_due(now)) {
                observer.refresh(now.duration_since(self.start), &self.stats);
            }
            let batch_full = self.dial_due(observer);
            self.expire_deadlines(now, observer);
            if self.advance(Instant::now()) {
                break;
            }
            let timeout = if batch_full {
                Some(Duration::ZERO)
            } else {
                self.alarm
                    .poll_timeout(self.next_wakeup(), now)
                    .map_err(|e| Error::system("cannot arm the timer", e))?
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::system("polling failed", e)),
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == SIGNALS {
                    self.on_signal();
                } else if event.token() == ALARM {
                    self.alarm.fired();
                } else {
                    let readable = event.is_readable() || event.is_read_closed();
                    self.on_conn_event(event.token().0, readable, now, observer);
                }
            }
        }
        let end = Instant::now();
        if let (Some(hold), Phase::Holding { since, .. }) = (&mut self.stats.hold, self.phase) {
            // Interrupted while holding.
            hold.duration = end.saturating_duration_since(since);
        }
        let dial_span = self.last_attempt.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(self.start)
        });
        let outcome = Outcome {
            stats: self.stats,
            stop: self.stop,
            wall: end.duration_since(self.start),
            dial_span,
        };
        let open = OpenConnections { _conns: self.conns };
        Ok((outcome, open))
    }

    /// Moves through the phases; true when the run is over.
    fn advance(&mut self, now: Instant) -> bool {
        if matches!(self.stop, Some(Stop::Interrupted(_))) || self.lost {
            return true;
        }
        if self.stop.is_some() {
            self.replacements.clear();
        }
        let quiet = self.pacer.next_due().is_none()
            && self.stats.counts.dialing == 0
            && self.replacements.is_empty();
        match self.phase {
            Phase::Dialing if quiet => {
                if self.plan.hold.is_zero() || self.stop.is_some() {
                    self.phase = Phase::Draining;
                } else {
                    self.phase = Phase::Holding {
                        since: now,
                        until: now + self.plan.hold,
                    };
                    self.stats.start_hold();
                }
            }
            Phase::Holding { since, until } => {
                let nothing_left = quiet && self.stats.counts.established == 0;
                if now >= until || nothing_left {
                    self.phase = Phase::Draining;
                    self.replacements.clear();
                    if let Some(hold) = &mut self.stats.hold {
                        hold.duration = now.saturating_duration_since(since);
                    }
                }
            }
            _ => {}
        }
        self.phase == Phase::Draining && self.stats.counts.dialing == 0
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let hold_end = match self.phase {
            Phase::Holding { until, .. } => Some(until),
            _ => None,
        };
        let replacement = (!self.replacements.is_empty()).then(Instant::now);
        [
            self.pacer.next_due(),
            self.ticker.next_due(),
            self.refresher.as_ref().and_then(Ticker::next_due),
            self.deadlines.next_deadline(),
            hold_end,
            replacement,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Makes the attempts that are due, replacements first, at most a batch. True when more
    /// are due already.
    fn dial_due(&mut self, observer: &mut impl Observer) -> bool {
        for _ in 0..DIAL_BATCH {
            let started = Instant::now();
            if let Some(route) = self.replacements.pop_front() {
                let seq = self.next_replacement_seq;
                self.next_replacement_seq += 1;
                self.stats.reconnecting(route.target);
                self.dial(seq, route, started, observer);
                continue;
            }
            let Some(seq) = self.pacer.take_due(started) else {
                return false;
            };
            let lag = started.saturating_duration_since(self.pacer.scheduled(seq));
            self.stats.schedule_lag.record(lag);
            let route = self.routes.route(seq);
            self.stats.dialing(route.target);
            self.dial(seq, route, started, observer);
        }
        !self.replacements.is_empty()
            || self
                .pacer
                .next_due()
                .is_some_and(|due| due <= Instant::now())
    }

    /// Starts attempt `seq`, already counted as Dialing.
    fn dial(&mut self, seq: u64, route: Route, started: Instant, observer: &mut impl Observer) {
        self.last_attempt = Some(started);
        observer.conn_event(ConnEvent {
            seq,
            state: State::Dialing,
            elapsed: Duration::ZERO,
            failure: None,
            closure: None,
        });
        let target = self.routes.target(route);
        let registered = conn::start_connect(route.source, target).and_then(|mut stream| {
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            self.poll.registry().register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            entry.insert(Conn {
                stream,
                seq,
                started,
                state: State::Dialing,
                route,
            });
            Ok(key)
        });
        match registered {
            Ok(key) => self.deadlines.push(started, (key, seq)),
            Err(e) => {
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(started);
                self.record_failure(seq, route, Failure::classify(&e), elapsed, now, observer);
            }
        }
    }

    /// Fails the attempts still dialing at their deadline. The handshake may have completed
    /// in the kernel after the last poll; one last look tells that apart from a timeout.
    fn expire_deadlines(&mut self, now: Instant, observer: &mut impl Observer) {
        while let Some((key, seq)) = self.deadlines.pop_expired(now) {
            let Some(conn) = self.conns.get(key) else {
                continue;
            };
            if conn.seq != seq || conn.state != State::Dialing {
                continue;
            }
            match conn::check_connect(&conn.stream) {
                Progress::Connected => self.establish(key, now, observer),
                Progress::Failed(e) => self.fail(key, Failure::classify(&e), now, observer),
                Progress::Pending => self.fail(key, Failure::TimedOut, now, observer),
            }
        }
    }

    fn on_signal(&mut self) {
        let Some(signals) = self.signals else { return };
        while let Some(signal) = signals.read() {
            if self.stop.is_none() || matches!(self.stop, Some(Stop::LocalLimit(_))) {
                self.stop = Some(Stop::Interrupted(signal));
                self.pacer.stop();
            }
            if signal == libc::SIGINT {
                signals.let_next_interrupt_kill();
            }
        }
    }

    fn on_conn_event(
        &mut self,
        key: usize,
        readable: bool,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if conn.state == State::Dialing {
            match conn::check_connect(&conn.stream) {
                Progress::Pending => return,
                Progress::Failed(e) => {
                    self.fail(key, Failure::classify(&e), now, observer);
                    return;
                }
                Progress::Connected => self.establish(key, now, observer),
            }
        }
        if readable {
            self.drain(key, now, observer);
        }
    }

    fn establish(&mut self, key: usize, now: Instant, observer: &mut impl Observer) {
        let conn = &mut self.conns[key];
        conn.state = State::Established;
        let latency = now.saturating_duration_since(conn.started);
        let (seq, target) = (conn.seq, conn.route.target);
        self.stats.established(target, latency);
        observer.conn_event(ConnEvent {
            seq,
            state: State::Established,
            elapsed: latency,
            failure: None,
            closure: None,
        });
    }

    /// Reads and discards until the socket would block; end-of-stream or an error closes it.
    fn drain(&mut self, key: usize, now: Instant, observer: &mut impl Observer) {
        let conn = &mut self.conns[key];
        let (bytes, closure) = conn::discard_until_blocked(&mut conn.stream, &mut self.read_buf);
        self.stats.bytes_received += bytes;
        if let Some(how) = closure {
            let conn = self.conns.remove(key);
            self.stats.closed(conn.route.target, how);
            observer.conn_event(ConnEvent {
                seq: conn.seq,
                state: State::Closed,
                elapsed: now.saturating_duration_since(conn.started),
                failure: None,
                closure: Some(how),
            });
            let replacing = self.plan.reconnect
                && self.stop.is_none()
                && matches!(self.phase, Phase::Dialing | Phase::Holding { .. });
            if replacing {
                self.replacements.push_back(conn.route);
            }
            self.note_loss(LossCause::Dropped(how), now);
        }
    }

    /// Keeps the first loss, and ends the run on it when the plan says so.
    fn note_loss(&mut self, cause: LossCause, now: Instant) {
        if self.stats.first_loss.is_none() {
            let counts = &self.stats.counts;
            self.stats.first_loss = Some(Loss {
                cause,
                held: counts.established,
                attempts: counts.total - counts.not_initiated,
                after: now.saturating_duration_since(self.start),
            });
        }
        if self.plan.stop_at_first_loss {
            self.lost = true;
            self.pacer.stop();
            self.replacements.clear();
        }
    }

    /// Ends a dialing connection in Error; its socket is closed here.
    fn fail(&mut self, key: usize, cause: Failure, now: Instant, observer: &mut impl Observer) {
        let conn = self.conns.remove(key);
        let elapsed = now.saturating_duration_since(conn.started);
        self.record_failure(conn.seq, conn.route, cause, elapsed, now, observer);
    }

    fn record_failure(
        &mut self,
        seq: u64,
        route: Route,
        cause: Failure,
        elapsed: Duration,
        now: Instant,
        observer: &mut impl Observer,
    ) {
        self.stats.failed(route.target, cause, elapsed);
        observer.conn_event(ConnEvent {
            seq,
            state: State::Error,
            elapsed,
            failure: Some(cause),
            closure: None,
        });
        if cause.is_local_limit() && self.stop.is_none() {
            self.stop = Some(Stop::LocalLimit(cause));
            self.pacer.stop();
        }
        self.note_loss(LossCause::Failed(cause), now);
    }
}
