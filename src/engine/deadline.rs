//! Deadlines. Dial deadlines: every attempt gets the same timeout and attempts start in
//! order, so the deadlines come due in the order they were pushed: a FIFO queue is exact
//! and O(1), no timer wheel or heap needed ([`DeadlineQueue`]). Session deadlines with
//! heartbeats come in any order (each connection beats on its own phase, and a beat's
//! deadline is its due time or its timeout), so they are a heap ([`DeadlineHeap`]).
//! Entries of either are never removed early; the engine checks, when one comes due,
//! whether it is still its connection's.
//!
//! A zero timeout is none (`--dial-timeout 0`, as the reference tool's Go dialer reads it):
//! nothing is queued, so nothing expires, and the kernel's SYN retries decide how long an
//! attempt may take.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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

/// Deadlines in any order, earliest first. A connection has at most two in it at once (its
/// current one and one it left behind), so its size follows the connections, not the beats.
#[derive(Debug)]
pub struct DeadlineHeap<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for DeadlineHeap<K> {
    fn default() -> Self {
        DeadlineHeap {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> DeadlineHeap<K> {
    pub fn push_at(&mut self, deadline: Instant, key: K) {
        self.heap.push(Reverse((deadline, key)));
    }

    /// The earliest deadline queued.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((deadline, _))| *deadline)
    }

    /// Removes and returns one key whose deadline has passed at `now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((deadline, _))) if *deadline <= now => {
                self.heap.pop().map(|Reverse((_, k))| k)
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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

    #[test]
    fn a_heap_expires_deadlines_in_time_order_whatever_the_push_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut h = DeadlineHeap::default();
        h.push_at(t0 + ms(30), 'c');
        h.push_at(t0 + ms(10), 'a');
        h.push_at(t0 + ms(20), 'b');
        assert_eq!(h.next_deadline(), Some(t0 + ms(10)));
        assert_eq!(h.pop_expired(t0 + ms(9)), None);
        assert_eq!(h.pop_expired(t0 + ms(25)), Some('a'));
        assert_eq!(h.pop_expired(t0 + ms(25)), Some('b'));
        assert_eq!(h.pop_expired(t0 + ms(25)), None);
        assert_eq!(h.len(), 1);
        assert_eq!(h.pop_expired(t0 + ms(30)), Some('c'));
        assert!(h.is_empty());
    }
}
