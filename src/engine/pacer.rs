//! Absolute schedules: attempt k is due at `start + k × interval`, stats tick j at
//! `start + j × interval`. Nothing is computed as "last + interval", so lateness in one step
//! never shifts the ones after it. Time is a parameter; only the engine reads the clock.
//!
//! A shard (`--shard I/N`) makes attempts I, I+N, I+2N, … of the whole schedule: its k-th
//! attempt is due at `start + (I + k × N) × interval`, so N shards with one start together
//! keep exactly the schedule one process would.

use std::time::{Duration, Instant};

/// `start + step × k`, without overflow for any count the tool accepts.
fn nth(start: Instant, step: Duration, k: u64) -> Instant {
    let offset = step.as_nanos().saturating_mul(u128::from(k));
    let offset = Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
    start
        .checked_add(offset)
        .unwrap_or(start + Duration::from_secs(1 << 40))
}

/// Which part of a schedule one process makes: attempts `index`, `index + count`, … of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole schedule: 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// How many of a schedule's `total` attempts are this shard's.
    pub fn attempts(self, total: u64) -> u64 {
        if self.index >= total {
            0
        } else {
            (total - self.index - 1) / self.count + 1
        }
    }
}

/// When each of `total` attempts is due.
#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    step: Duration,
    total: u64,
    next: u64,
    /// Slots given to attempts outside the schedule: each moves the rest one step later.
    given: u64,
    shard: Shard,
}

impl Pacer {
    pub fn new(start: Instant, step: Duration, total: u64) -> Pacer {
        Pacer::sharded(start, step, total, Shard::WHOLE)
    }

    /// The `total` attempts of `shard`, on the whole schedule's steps.
    pub fn sharded(start: Instant, step: Duration, total: u64, shard: Shard) -> Pacer {
        Pacer {
            start,
            step,
            total,
            next: 0,
            given: 0,
            shard,
        }
    }

    /// When this pacer's attempt `k` (counted from 0) is due.
    pub fn scheduled(&self, k: u64) -> Instant {
        let slot = k
            .saturating_add(self.given)
            .saturating_mul(self.shard.count)
            .saturating_add(self.shard.index);
        nth(self.start, self.step, slot)
    }

    /// Gives the slot that is due to an attempt outside the schedule (a replacement for a
    /// dropped connection): the attempts still to come each move one step later, so the
    /// schedule and the others together keep to one attempt per step.
    pub fn give_slot(&mut self) {
        self.given += 1;
    }

    /// When the next attempt is due, or `None` once every attempt has been made.
    pub fn next_due(&self) -> Option<Instant> {
        (self.next < self.total).then(|| self.scheduled(self.next))
    }

    /// Claims the next attempt if it is due at `now`, returning its index.
    pub fn take_due(&mut self, now: Instant) -> Option<u64> {
        let due = self.next_due()?;
        if due > now {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }

    /// Attempts made so far.
    pub fn made(&self) -> u64 {
        self.next
    }

    /// Attempts never to be made, once the run has stopped dialing.
    pub fn stop(&mut self) {
        self.total = self.next;
    }
}

/// Ticks at `start`, `start + interval`, …; a late tick does not delay the next one.
#[derive(Debug, Clone)]
pub struct Ticker {
    start: Instant,
    interval: Duration,
    next: u64,
}

impl Ticker {
    pub fn new(start: Instant, interval: Duration) -> Ticker {
        Ticker {
            start,
            interval,
            next: 0,
        }
    }

    /// When the next tick is due; `None` when ticks are off (interval 0).
    pub fn next_due(&self) -> Option<Instant> {
        (!self.interval.is_zero()).then(|| nth(self.start, self.interval, self.next))
    }

    /// True when a tick is due at `now`; ticks missed entirely are skipped, not bunched.
    pub fn take_due(&mut self, now: Instant) -> bool {
        match self.next_due() {
            Some(due) if due <= now => {
                let elapsed = now.duration_since(self.start).as_nanos();
                let passed = elapsed / self.interval.as_nanos();
                self.next = u64::try_from(passed).unwrap_or(u64::MAX).saturating_add(1);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn attempts_follow_the_absolute_schedule() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, ms(10), 3);
        assert_eq!(pacer.take_due(t0), Some(0));
        assert_eq!(pacer.take_due(t0), None);
        assert_eq!(pacer.next_due(), Some(t0 + ms(10)));
        // Served late: the next one is still due at its own time, not 10ms after this.
        assert_eq!(pacer.take_due(t0 + ms(17)), Some(1));
        assert_eq!(pacer.next_due(), Some(t0 + ms(20)));
        assert_eq!(pacer.take_due(t0 + ms(19)), None);
        assert_eq!(pacer.take_due(t0 + ms(20)), Some(2));
        assert_eq!(pacer.next_due(), None);
        assert_eq!(pacer.made(), 3);
    }

    #[test]
    fn zero_sleep_makes_every_attempt_due_at_once() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, Duration::ZERO, 1000);
        let taken = std::iter::from_fn(|| pacer.take_due(t0)).count();
        assert_eq!(taken, 1000);
    }

    #[test]
    fn a_late_start_catches_up_without_drift() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, ms(1), 100);
        let taken = std::iter::from_fn(|| pacer.take_due(t0 + ms(49))).count();
        assert_eq!(taken, 50);
        assert_eq!(pacer.scheduled(99), t0 + ms(99));
    }

    #[test]
    fn a_slot_given_away_moves_the_rest_one_step() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, ms(10), 3);
        assert_eq!(pacer.take_due(t0), Some(0));
        pacer.give_slot();
        assert_eq!(pacer.next_due(), Some(t0 + ms(20)));
        assert_eq!(pacer.take_due(t0 + ms(19)), None);
        assert_eq!(pacer.take_due(t0 + ms(20)), Some(1));
        assert_eq!(pacer.scheduled(2), t0 + ms(30));
        assert_eq!(pacer.made(), 2);
    }

    #[test]
    fn shards_together_make_the_whole_schedule() {
        let t0 = Instant::now();
        let whole = Pacer::new(t0, ms(3), 10);
        let mut due: Vec<Instant> = (0..3)
            .flat_map(|index| {
                let shard = Shard { index, count: 3 };
                let n = shard.attempts(10);
                let pacer = Pacer::sharded(t0, ms(3), n, shard);
                (0..n).map(move |k| pacer.scheduled(k))
            })
            .collect();
        due.sort();
        let expected: Vec<Instant> = (0..10).map(|k| whole.scheduled(k)).collect();
        assert_eq!(due, expected);
        assert_eq!(
            [0, 1, 2].map(|index| Shard { index, count: 3 }.attempts(10)),
            [4, 3, 3]
        );
        assert_eq!(Shard { index: 5, count: 6 }.attempts(5), 0);
        assert_eq!(Shard::WHOLE.attempts(7), 7);
    }

    #[test]
    fn stopping_leaves_the_rest_unmade() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0, Duration::ZERO, 10);
        pacer.take_due(t0);
        pacer.stop();
        assert_eq!(pacer.take_due(t0), None);
        assert_eq!(pacer.made(), 1);
    }

    #[test]
    fn huge_schedules_do_not_overflow() {
        let t0 = Instant::now();
        let pacer = Pacer::new(t0, Duration::from_secs(360_000_000), u64::MAX);
        assert!(pacer.scheduled(u64::MAX - 1) > t0);
    }

    #[test]
    fn ticks_skip_missed_intervals() {
        let t0 = Instant::now();
        let mut ticker = Ticker::new(t0, ms(100));
        assert!(ticker.take_due(t0));
        assert!(!ticker.take_due(t0 + ms(99)));
        assert!(ticker.take_due(t0 + ms(350)));
        assert_eq!(ticker.next_due(), Some(t0 + ms(400)));
        assert!(!ticker.take_due(t0 + ms(399)));
        assert!(ticker.take_due(t0 + ms(400)));
    }

    #[test]
    fn zero_interval_never_ticks() {
        let t0 = Instant::now();
        let mut ticker = Ticker::new(t0, Duration::ZERO);
        assert_eq!(ticker.next_due(), None);
        assert!(!ticker.take_due(t0 + ms(1000)));
    }
}
