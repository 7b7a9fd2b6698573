//! The run's phases as a policy: what the loop does next, decided from `now` and the counts
//! the loop reports, with no socket in sight. The loop asks it which attempt to dial and
//! when, tells it of each close, loss and stop, and asks each turn whether the run is over
//! and when it must look again.
//!
//! ```text
//!  Dialing ──every attempt has an outcome──▶ Holding  (--hold)  ──its end, or none open──▶ Draining
//!     │                                   └─▶ Settling (no hold) ──its end, or none open──▶ Draining
//!     ├──every attempt has an outcome, no hold nor settle, or a stop────────────────────▶ Draining
//!     └──first loss (stop_at_first_loss)──▶ Settling ──its end, or nothing left──▶ Draining
//!  Draining ──none dialing──▶ over          a signal: over at once, from any phase
//! ```
//! *Dialing*: attempts are made on schedule ([`Pacer`]); with `reconnect`, a connection
//! the peer closes is replaced by a new attempt along the same route in the schedule's next
//! slot (the slot is given away, so the two together keep the requested rate; scheduled
//! attempts and replacements take turns). *Holding*: once every attempt has an outcome, the
//! connections are kept open for the hold, still replaced when dropped; a replacement then
//! waits one step after the last attempt. *Settling*: without a hold, the connections are
//! kept open for the settle period, and nothing is replaced. *Draining*: no new attempts;
//! the run is over once none is still dialing. An outcome still owed (an attempt dialing, a
//! probe awaiting its answer) keeps the run dialing, so a late outcome moves the settle on.
//!
//! A drop after the last scheduled attempt is replaced only when a hold is to come: a server
//! that drops everything cannot keep a run without one going. A local limit stops dialing
//! and ends the hold; with `stop_at_first_loss` (`tcpgoon limit`) the first loss stops
//! dialing and the run settles before it is over. A signal ends the run at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::conn::Failure;
use crate::engine::pacer::Pacer;
use crate::engine::source::Route;

/// Why a run stopped before its schedule was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupted(libc::c_int),
    LocalLimit(Failure),
}

/// What the plan asks of the phases.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// How long a hold lasts once every attempt has an outcome; zero: no hold.
    pub hold: Duration,
    /// Without a hold (or after the first loss), how long the connections are kept open
    /// and read once the outcomes are in.
    pub settle: Duration,
    /// Replace each connection the peer closes, until the hold ends.
    pub reconnect: bool,
    /// End the run at the first failed attempt or dropped connection.
    pub stop_at_first_loss: bool,
    /// One step of this process's schedule: how long a replacement waits after the last
    /// attempt once the schedule is done.
    pub step: Duration,
}

/// What the loop reports of its connections each turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub dialing: u64,
    pub established: u64,
    /// Established connections whose session still owes its outcome.
    pub awaiting: u64,
}

/// An attempt to make now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dial {
    /// The schedule's attempt `seq`, which was due at `due`.
    Scheduled { seq: u64, due: Instant },
    /// A replacement for a dropped connection, along its route, numbered after the
    /// schedule's attempts.
    Replacement { seq: u64, route: Route },
}

/// What a turn's [`Phases::advance`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turn {
    /// The hold began: the established count is followed from here.
    pub hold_began: bool,
    pub over: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dialing,
    Holding { since: Instant, until: Instant },
    Settling { since: Instant, until: Instant },
    Draining,
}

/// The run's phase, its schedule, and the drops waiting to be replaced.
#[derive(Debug)]
pub struct Phases {
    rules: Rules,
    pacer: Pacer,
    phase: Phase,
    /// Routes of dropped connections waiting to be replaced.
    replacements: VecDeque<Route>,
    next_replacement_seq: u64,
    /// Once the schedule is done, no replacement is dialed before this: one step after the
    /// last attempt.
    next_replacement_at: Instant,
    /// The last slot of the schedule went to a replacement: the next goes to the schedule.
    replaced_last: bool,
    stop: Option<Stop>,
    /// The first loss stopped dialing (`stop_at_first_loss`): the run settles, then ends.
    lost: bool,
    held: Option<Duration>,
    settled: Option<Duration>,
}

impl Phases {
    /// Dialing on `pacer`'s schedule, from `start`; replacements are numbered from
    /// `first_replacement`.
    pub fn new(rules: Rules, pacer: Pacer, first_replacement: u64, start: Instant) -> Phases {
        Phases {
            rules,
            pacer,
            phase: Phase::Dialing,
            replacements: VecDeque::new(),
            next_replacement_seq: first_replacement,
            next_replacement_at: start,
            replaced_last: false,
            stop: None,
            lost: false,
            held: None,
            settled: None,
        }
    }

    /// The next attempt to make, if one is due at `now`, which is when it starts. A
    /// replacement takes the schedule's slot when one is due; once the schedule is done, it
    /// waits one step after the last attempt.
    pub fn next_dial(&mut self, now: Instant) -> Option<Dial> {
        let dial = match self.pacer.next_due() {
            Some(due) if due <= now => {
                if self.replacing() && !self.replacements.is_empty() && !self.replaced_last {
                    self.pacer.give_slot();
                    self.replaced_last = true;
                    self.replacement()?
                } else {
                    let seq = self.pacer.take_due(now)?;
                    self.replaced_last = false;
                    Dial::Scheduled {
                        seq,
                        due: self.pacer.scheduled(seq),
                    }
                }
            }
            None if self
                .replacement_after_schedule()
                .is_some_and(|at| at <= now) =>
            {
                self.replacement()?
            }
            _ => return None,
        };
        self.next_replacement_at = now + self.rules.step;
        Some(dial)
    }

    fn replacement(&mut self) -> Option<Dial> {
        let route = self.replacements.pop_front()?;
        let seq = self.next_replacement_seq;
        self.next_replacement_seq += 1;
        Some(Dial::Replacement { seq, route })
    }

    /// When the next attempt is due (it may be past): the schedule's next, or once it is
    /// done a replacement's.
    pub fn dial_due(&self) -> Option<Instant> {
        self.pacer
            .next_due()
            .or_else(|| self.replacement_after_schedule())
    }

    /// When the loop must look again at the latest: the next attempt, or the end of a hold
    /// or settle.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phase_end = match self.phase {
            Phase::Holding { until, .. } | Phase::Settling { until, .. } => Some(until),
            _ => None,
        };
        [self.dial_due(), phase_end].into_iter().flatten().min()
    }

    /// When the next replacement is due once the schedule is done. `None` while the
    /// schedule runs (replacements take its slots), and when none is waiting.
    fn replacement_after_schedule(&self) -> Option<Instant> {
        (self.pacer.next_due().is_none() && self.replacing() && !self.replacements.is_empty())
            .then_some(self.next_replacement_at)
    }

    /// Whether dropped connections are replaced at all: with `reconnect`, until a stop.
    fn may_replace(&self) -> bool {
        self.rules.reconnect && self.stop.is_none() && !self.lost
    }

    /// Whether dropped connections are replaced now: while the schedule runs and during the
    /// hold, never after a stop.
    fn replacing(&self) -> bool {
        self.may_replace()
            && match self.phase {
                Phase::Dialing => self.pacer.next_due().is_some(),
                Phase::Holding { .. } => true,
                Phase::Settling { .. } | Phase::Draining => false,
            }
    }

    /// An established connection along `route` was closed by its peer: it is queued for
    /// replacement when the run is replacing (with a hold to come, a drop after the last
    /// scheduled attempt waits for the hold).
    pub fn closed(&mut self, route: Route) {
        let hold_to_come = self.phase == Phase::Dialing && !self.rules.hold.is_zero();
        if self.replacing() || (self.may_replace() && hold_to_come) {
            self.replacements.push_back(route);
        }
    }

    /// An attempt failed, a connection dropped or a session was not served. Returns whether
    /// that stops the run (`stop_at_first_loss`): dialing stops, and the run settles.
    pub fn lost(&mut self) -> bool {
        if self.rules.stop_at_first_loss {
            self.lost = true;
            self.pacer.stop();
            self.replacements.clear();
        }
        self.rules.stop_at_first_loss
    }

    /// This machine ran out of something: no more attempts; the hold ends. The first stop
    /// is kept.
    pub fn local_limit(&mut self, cause: Failure) {
        if self.stop.is_none() {
            self.stop = Some(Stop::LocalLimit(cause));
            self.pacer.stop();
        }
    }

    /// A signal asks the run to end at once; it overrides a local limit.
    pub fn interrupted(&mut self, signal: libc::c_int) {
        if self.stop.is_none() || matches!(self.stop, Some(Stop::LocalLimit(_))) {
            self.stop = Some(Stop::Interrupted(signal));
            self.pacer.stop();
        }
    }

    /// Whether an attempt may go on to its next address: not once the run is ending at
    /// once, with nobody to wait for the dial.
    pub fn may_fall_back(&self) -> bool {
        !self.lost && !matches!(self.stop, Some(Stop::Interrupted(_)))
    }

    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    /// How long the hold lasted, once it has ended.
    pub fn held(&self) -> Option<Duration> {
        self.held
    }

    /// How long the run settled, once it has; `None` when it did not.
    pub fn settled(&self) -> Option<Duration> {
        self.settled
    }

    /// Moves through the phases, `now`, with the connections as `tally` counts them.
    pub fn advance(&mut self, now: Instant, tally: Tally) -> Turn {
        let mut turn = Turn::default();
        turn.over = self.step(now, tally, &mut turn.hold_began);
        turn
    }

    fn step(&mut self, now: Instant, tally: Tally, hold_began: &mut bool) -> bool {
        if matches!(self.stop, Some(Stop::Interrupted(_))) {
            return true;
        }
        if self.lost {
            // The first loss stopped dialing; what is still dialing may yet connect or fail.
            return match self.phase {
                Phase::Settling { until, .. } => {
                    let nothing_left = tally.established == 0 && tally.dialing == 0;
                    if now >= until || nothing_left {
                        self.finish(now);
                        self.phase = Phase::Draining;
                        true
                    } else {
                        false
                    }
                }
                Phase::Draining => true,
                _ if self.rules.settle.is_zero() => true,
                _ => {
                    self.finish(now);
                    self.phase = Phase::Settling {
                        since: now,
                        until: now + self.rules.settle,
                    };
                    // Nothing left to watch: settled at once.
                    self.step(now, tally, hold_began)
                }
            };
        }
        let scheduled_done = self.pacer.next_due().is_none();
        if self.stop.is_some() || (scheduled_done && self.rules.hold.is_zero()) {
            self.replacements.clear();
        }
        // Replacements still queued once the schedule is done wait for the hold.
        let quiet = scheduled_done && tally.dialing == 0 && tally.awaiting == 0;
        match self.phase {
            Phase::Dialing if quiet => {
                self.phase = if self.stop.is_some() {
                    Phase::Draining
                } else if !self.rules.hold.is_zero() {
                    *hold_began = true;
                    Phase::Holding {
                        since: now,
                        until: now + self.rules.hold,
                    }
                } else if !self.rules.settle.is_zero() {
                    Phase::Settling {
                        since: now,
                        until: now + self.rules.settle,
                    }
                } else {
                    Phase::Draining
                };
                // A hold or settle with nothing open ends here, not at its end.
                return self.step(now, tally, hold_began);
            }
            Phase::Holding { until, .. } => {
                let nothing_left = quiet && tally.established == 0 && self.replacements.is_empty();
                if now >= until || nothing_left || self.stop.is_some() {
                    self.finish(now);
                    self.phase = Phase::Draining;
                    self.replacements.clear();
                }
            }
            Phase::Settling { until, .. }
                if now >= until || tally.established == 0 || self.stop.is_some() =>
            {
                self.finish(now);
                self.phase = Phase::Draining;
            }
            _ => {}
        }
        self.phase == Phase::Draining && tally.dialing == 0
    }

    /// Records how long the hold or the settle lasted, when the run is in one: as it leaves
    /// it, or as the run ends in it (a signal).
    pub fn finish(&mut self, now: Instant) {
        match self.phase {
            Phase::Holding { since, .. } => {
                self.held = Some(now.saturating_duration_since(since));
            }
            Phase::Settling { since, .. } => {
                self.settled = Some(now.saturating_duration_since(since));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const ROUTE: Route = Route {
        target: 0,
        source: None,
    };

    fn rules() -> Rules {
        Rules {
            hold: Duration::ZERO,
            settle: Duration::ZERO,
            reconnect: false,
            stop_at_first_loss: false,
            step: ms(10),
        }
    }

    /// `attempts` attempts 10ms apart from `t0`, under `rules`.
    fn phases(rules: Rules, attempts: u64, t0: Instant) -> Phases {
        Phases::new(rules, Pacer::new(t0, rules.step, attempts), attempts, t0)
    }

    fn dialing(n: u64) -> Tally {
        Tally {
            dialing: n,
            ..Tally::default()
        }
    }

    fn established(n: u64) -> Tally {
        Tally {
            established: n,
            ..Tally::default()
        }
    }

    fn over(p: &mut Phases, now: Instant, tally: Tally) -> bool {
        p.advance(now, tally).over
    }

    #[test]
    fn attempts_are_dialed_on_schedule_then_the_run_drains() {
        let t0 = Instant::now();
        let mut p = phases(rules(), 2, t0);
        assert_eq!(p.next_dial(t0), Some(Dial::Scheduled { seq: 0, due: t0 }));
        assert_eq!(p.next_dial(t0), None);
        assert_eq!(p.dial_due(), Some(t0 + ms(10)));
        assert_eq!(p.next_deadline(), Some(t0 + ms(10)));
        assert!(!over(&mut p, t0, dialing(1)));
        let late = t0 + ms(13);
        assert_eq!(
            p.next_dial(late),
            Some(Dial::Scheduled {
                seq: 1,
                due: t0 + ms(10)
            })
        );
        assert_eq!(p.dial_due(), None);
        // The last attempt still dialing: not over.
        assert!(!over(&mut p, late, dialing(1)));
        assert!(over(&mut p, late, established(2)));
        assert_eq!((p.held(), p.settled(), p.stop()), (None, None, None));
    }

    #[test]
    fn the_hold_begins_once_the_last_attempt_has_its_outcome() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                hold: ms(500),
                ..rules()
            },
            1,
            t0,
        );
        p.next_dial(t0);
        assert_eq!(p.advance(t0 + ms(1), dialing(1)), Turn::default());
        let up = t0 + ms(2);
        assert_eq!(
            p.advance(up, established(1)),
            Turn {
                hold_began: true,
                over: false
            }
        );
        assert_eq!(p.next_deadline(), Some(up + ms(500)));
        assert!(!over(&mut p, up + ms(499), established(1)));
        assert_eq!(p.held(), None);
        assert!(over(&mut p, up + ms(500), established(1)));
        assert_eq!(p.held(), Some(ms(500)));
        assert_eq!(p.settled(), None);
    }

    #[test]
    fn a_hold_with_nothing_open_ends_at_once() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                hold: ms(500),
                ..rules()
            },
            1,
            t0,
        );
        p.next_dial(t0);
        let turn = p.advance(t0 + ms(1), Tally::default());
        assert!(turn.hold_began && turn.over);
        assert_eq!(p.held(), Some(Duration::ZERO));
    }

    #[test]
    fn the_settle_runs_from_the_last_outcome_and_ends_when_none_is_open() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                settle: ms(100),
                ..rules()
            },
            1,
            t0,
        );
        p.next_dial(t0);
        // Established, its probe's answer still owed: the outcome is not in yet.
        let awaiting = Tally {
            established: 1,
            awaiting: 1,
            ..Tally::default()
        };
        assert!(!over(&mut p, t0 + ms(1), awaiting));
        assert!(!over(&mut p, t0 + ms(150), awaiting));
        assert_eq!(p.next_deadline(), None);
        // The late outcome: the settle runs from here, not from the attempt.
        let outcome = t0 + ms(200);
        assert!(!over(&mut p, outcome, established(1)));
        assert_eq!(p.next_deadline(), Some(outcome + ms(100)));
        assert!(!over(&mut p, outcome + ms(99), established(1)));
        assert!(over(&mut p, outcome + ms(100), established(1)));
        assert_eq!(p.settled(), Some(ms(100)));

        // Every connection closed while settling: settled then.
        let mut p = phases(
            Rules {
                settle: ms(100),
                ..rules()
            },
            1,
            t0,
        );
        p.next_dial(t0);
        assert!(!over(&mut p, t0, established(1)));
        assert!(over(&mut p, t0 + ms(30), Tally::default()));
        assert_eq!(p.settled(), Some(ms(30)));
    }

    #[test]
    fn reconnect_replaces_during_the_schedule_in_its_next_slot() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                reconnect: true,
                ..rules()
            },
            3,
            t0,
        );
        assert!(matches!(
            p.next_dial(t0),
            Some(Dial::Scheduled { seq: 0, .. })
        ));
        p.closed(ROUTE);
        // The next slot goes to the replacement, numbered after the schedule's attempts;
        // the schedule moves one step on.
        assert_eq!(
            p.next_dial(t0 + ms(10)),
            Some(Dial::Replacement {
                seq: 3,
                route: ROUTE
            })
        );
        assert_eq!(p.dial_due(), Some(t0 + ms(20)));
        p.closed(ROUTE);
        // Turns: the schedule's attempt first, though a replacement waits.
        assert!(matches!(
            p.next_dial(t0 + ms(20)),
            Some(Dial::Scheduled { seq: 1, .. })
        ));
        assert!(matches!(
            p.next_dial(t0 + ms(30)),
            Some(Dial::Replacement { seq: 4, .. })
        ));
        assert!(matches!(
            p.next_dial(t0 + ms(40)),
            Some(Dial::Scheduled { seq: 2, .. })
        ));
        // Schedule done, no hold: a drop now is not replaced.
        p.closed(ROUTE);
        assert_eq!(p.dial_due(), None);
        assert!(!over(&mut p, t0 + ms(41), dialing(1)));
        assert!(over(&mut p, t0 + ms(42), established(2)));
    }

    #[test]
    fn reconnect_replaces_during_the_hold_but_not_while_draining() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                hold: ms(1000),
                reconnect: true,
                ..rules()
            },
            1,
            t0,
        );
        assert!(p.next_dial(t0).is_some());
        // Dropped after the last attempt, with a hold to come: waits for the hold, one step
        // after the last attempt.
        p.closed(ROUTE);
        assert!(p.advance(t0 + ms(1), Tally::default()).hold_began);
        assert_eq!(p.dial_due(), Some(t0 + ms(10)));
        assert_eq!(p.next_dial(t0 + ms(9)), None);
        assert_eq!(
            p.next_dial(t0 + ms(10)),
            Some(Dial::Replacement {
                seq: 1,
                route: ROUTE
            })
        );
        assert!(!over(&mut p, t0 + ms(11), dialing(1)));
        // Dropped during the hold: replaced a step after the one before.
        p.closed(ROUTE);
        assert_eq!(p.next_deadline(), Some(t0 + ms(20)));
        assert!(p.next_dial(t0 + ms(20)).is_some());
        // The hold ends; what drops while draining stays dropped.
        assert!(!over(&mut p, t0 + ms(1001), dialing(1)));
        assert_eq!(p.held(), Some(ms(1000)));
        p.closed(ROUTE);
        assert_eq!(p.dial_due(), None);
        assert_eq!(p.next_dial(t0 + ms(2000)), None);
        assert!(over(&mut p, t0 + ms(1002), Tally::default()));
    }

    #[test]
    fn the_first_loss_stops_dialing_and_the_run_settles() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                settle: ms(100),
                stop_at_first_loss: true,
                reconnect: true,
                ..rules()
            },
            10,
            t0,
        );
        assert!(p.next_dial(t0).is_some());
        assert!(p.next_dial(t0 + ms(10)).is_some());
        p.closed(ROUTE);
        assert!(p.lost());
        // No more attempts, nor replacements, nor fallbacks.
        assert_eq!(p.dial_due(), None);
        assert_eq!(p.next_dial(t0 + ms(20)), None);
        assert!(!p.may_fall_back());
        // It settles from the loss, the one still dialing included.
        let loss = t0 + ms(15);
        let tally = Tally {
            dialing: 1,
            established: 1,
            ..Tally::default()
        };
        assert!(!over(&mut p, loss, tally));
        assert_eq!(p.next_deadline(), Some(loss + ms(100)));
        assert!(!over(&mut p, loss + ms(50), established(1)));
        assert!(over(&mut p, loss + ms(100), established(1)));
        assert_eq!(p.settled(), Some(ms(100)));
        assert_eq!(p.stop(), None);

        // Without a settle, over at once.
        let mut p = phases(
            Rules {
                stop_at_first_loss: true,
                ..rules()
            },
            10,
            t0,
        );
        p.next_dial(t0);
        assert!(p.lost());
        assert!(over(&mut p, t0, dialing(1)));
        // Without stop_at_first_loss, a loss is only counted.
        let mut p = phases(rules(), 10, t0);
        assert!(!p.lost());
        assert!(p.dial_due().is_some());
    }

    #[test]
    fn a_signal_ends_the_run_at_once_even_in_a_hold() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                hold: ms(1000),
                ..rules()
            },
            1,
            t0,
        );
        p.next_dial(t0);
        assert!(p.advance(t0, established(1)).hold_began);
        p.local_limit(Failure::NoFileDescriptors);
        p.interrupted(libc::SIGINT);
        assert_eq!(p.stop(), Some(Stop::Interrupted(libc::SIGINT)));
        assert!(!p.may_fall_back());
        // Over with connections still dialing and open; the hold is measured to the end.
        assert!(over(&mut p, t0 + ms(5), dialing(3)));
        assert_eq!(p.held(), None);
        p.finish(t0 + ms(5));
        assert_eq!(p.held(), Some(ms(5)));
        // A later local limit does not replace the signal.
        p.local_limit(Failure::NoLocalPort);
        assert_eq!(p.stop(), Some(Stop::Interrupted(libc::SIGINT)));
    }

    #[test]
    fn a_local_limit_stops_dialing_and_ends_the_hold() {
        let t0 = Instant::now();
        let mut p = phases(
            Rules {
                hold: ms(1000),
                reconnect: true,
                ..rules()
            },
            5,
            t0,
        );
        p.next_dial(t0);
        p.local_limit(Failure::NoLocalPort);
        assert_eq!(p.stop(), Some(Stop::LocalLimit(Failure::NoLocalPort)));
        assert_eq!(p.dial_due(), None);
        // Fallbacks go on: the run waits for what is dialing.
        assert!(p.may_fall_back());
        p.closed(ROUTE);
        // No hold after a stop: drains, over once nothing dials.
        assert_eq!(p.advance(t0 + ms(1), dialing(1)), Turn::default());
        assert!(over(&mut p, t0 + ms(2), established(1)));
        assert_eq!(p.held(), None);
    }
}
