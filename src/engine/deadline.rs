//! Dial deadlines. Every attempt gets the same timeout and attempts start in order, so the
//! deadlines come due in the order they were pushed: a FIFO queue is exact and O(1), no
//! timer wheel or heap needed. Entries are never removed early; the engine checks, when one
//! comes due, whether its connection is still dialing.
//!
//! A zero timeout is none (`--dial-timeout 0`, as the reference tool's Go dialer reads it):
//! nothing is queued, so nothing expires, and the kernel's SYN retries decide how long an
//! attempt may take.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct DeadlineQueue<K> {
    timeout: Duration,
    queue: VecDeque<(Instant, K)>,
}

impl<K> DeadlineQueue<K> {
    pub fn new(timeout: Duration) -> DeadlineQueue<K> {
        DeadlineQueue {
            timeout,
            queue: VecDeque::new(),
        }
    }

    /// Starts the clock for `key`, whose attempt began at `started` (never before the last).
    /// Without a timeout there is no clock to start.
    pub fn push(&mut self, started: Instant, key: K) {
        if self.timeout.is_zero() {
            return;
        }
        let deadline = started
            .checked_add(self.timeout)
            .unwrap_or(started + Duration::from_secs(1 << 40));
        debug_assert!(self.queue.back().is_none_or(|(last, _)| *last <= deadline));
        self.queue.push_back((deadline, key));
    }

    /// Queues `key` for `deadline`, never before the last one queued: a deadline its owner
    /// computed (a session's), on the same clock.
    pub fn push_at(&mut self, deadline: Instant, key: K) {
        debug_assert!(self.queue.back().is_none_or(|(last, _)| *last <= deadline));
        self.queue.push_back((deadline, key));
    }

    /// The earliest deadline still queued.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns one key whose deadline has passed at `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        match self.queue.front() {
            Some((deadline, _)) if *deadline <= now => self.queue.pop_front().map(|(_, k)| k),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_expire_in_push_order_at_their_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = DeadlineQueue::new(ms(300));
        q.push(t0, 'a');
        q.push(t0 + ms(10), 'b');
        q.push(t0 + ms(10), 'c');
        assert_eq!(q.next_deadline(), Some(t0 + ms(300)));
        assert_eq!(q.pop_expired(t0 + ms(299)), None);
        assert_eq!(q.pop_expired(t0 + ms(300)), Some('a'));
        assert_eq!(q.pop_expired(t0 + ms(300)), None);
        assert_eq!(q.next_deadline(), Some(t0 + ms(310)));
        assert_eq!(q.pop_expired(t0 + ms(400)), Some('b'));
        assert_eq!(q.pop_expired(t0 + ms(400)), Some('c'));
        assert_eq!(q.pop_expired(t0 + ms(400)), None);
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn a_zero_timeout_expires_nothing() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::new(Duration::ZERO);
        q.push(t0, 'a');
        q.push(t0, 'b');
        assert!(q.is_empty());
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.pop_expired(t0 + Duration::from_secs(3600)), None);
    }
}
