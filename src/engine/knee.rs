//! The knee of a `tcpgoon limit` search with heartbeats and a beat latency bound
//! (`--max-latency beat:p99=50ms`): the most connections held while the beats stayed within
//! the bound. A pure policy, time as a parameter: the loop tells it of each beat that comes
//! due and each that is answered, and once a turn of the time and the connections held; it
//! says when the bound was first exceeded, and at how many connections.
//!
//! Beats are counted in buckets by their *due* time, a couple of attempts wide, and the
//! statistic is judged over a window of one heartbeat period (the last beat of every held
//! connection) that slides a bucket at a time. A window is judged once the end of its last
//! bucket plus the bound has passed: by then each beat due in it was either answered within
//! the bound or is above it, answered or not, so which side of the bound a percentile is on
//! follows from two counts, without waiting for the slowest answers: the q-quantile of `due`
//! beats is within the bound when at least ⌈q × due⌉ of them were answered within it (the
//! max, when all were). A mean would need every answer, so it is not a statistic a search
//! can stop on.
//!
//! The latency of a beat follows the server's load when it was due, so the window that first
//! exceeds the bound is the one whose last bucket brought the slow beats: the knee is the
//! connections held when that bucket began (the window that ended there was within the
//! bound), and the count when it ended is the first seen above it. The knee is not the end
//! of the search: it goes on to the first loss or the maximum, and the watch, which judges
//! no more, keeps taking the slow answers of that one window, so the statistic's value over
//! it is known once they are in.
//!
//! Memory is bounded by the window and the bound: the buckets from (now − bound − period)
//! on, and the latencies above the bound within them (at most 1 − q of a window's beats
//! before the first window exceeds it); past the knee, that window's slow latencies only.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A bound a search stops on: a percentile (or the max) of beat latency.
#[derive(Debug, Clone, PartialEq)]
pub struct KneeGate {
    /// As the user wrote it, `beat:p99`, for the reports.
    pub name: String,
    /// The quantile bounded, in (0, 1]; 1 is the max.
    pub quantile: f64,
    pub bound: Duration,
}

impl KneeGate {
    /// How many of `due` beats must be within the bound for the quantile to be: its rank.
    fn rank(&self, due: u64) -> u64 {
        // A whisker below, so that 0.99 × 100 is 99 and not 99.00000000000001.
        ((self.quantile * due as f64) - 1e-9)
            .ceil()
            .clamp(1.0, due as f64) as u64
    }
}

/// Where the bound was first exceeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Knee {
    pub gate: KneeGate,
    /// The connections held when the window that exceeded the bound began its last bucket.
    pub held: u64,
    /// The connections held when that bucket ended: the first count seen above the bound.
    pub above: u64,
    /// The end of that bucket, from the schedule's origin.
    pub at: Duration,
    /// The statistic over the window, once enough of its answers came; `None`: above the
    /// bound, by how much unknown (its slow beats were not answered by the end).
    pub measured: Option<Duration>,
    /// Beats due in the window, and answered within the bound.
    pub due: u64,
    pub within: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    due: u64,
    within: u64,
    /// Connections held when it began (as the loop last said).
    held: u64,
}

/// Watches one gate over a search.
#[derive(Debug)]
pub struct KneeWatch {
    gate: KneeGate,
    origin: Instant,
    width: Duration,
    /// Buckets per window.
    span: u64,
    /// Buckets from index `first` on.
    buckets: VecDeque<Bucket>,
    first: u64,
    /// The next bucket whose window is to be judged.
    next: u64,
    held: u64,
    /// Latencies above the bound, by the bucket they were due in.
    slow: Vec<(u64, Duration)>,
    /// Where the windows began to exceed the bound, while they still do.
    found: Option<Knee>,
    /// The index of the first exceeding window's last bucket.
    found_at: u64,
    /// The windows exceeded the bound for two periods on end: `found` is the knee.
    confirmed: bool,
    stopped: bool,
}

impl KneeWatch {
    /// Beats on the schedule from `origin`, every `period`, with attempts `step` apart.
    pub fn new(gate: KneeGate, origin: Instant, period: Duration, step: Duration) -> KneeWatch {
        // Two attempts wide, but at least ten buckets a period (a percentile over one
        // period), and never finer than a millisecond.
        let width = step
            .saturating_mul(2)
            .min(period / 10)
            .max(Duration::from_millis(1));
        let span = (period.as_nanos().div_ceil(width.as_nanos()) as u64).max(1);
        KneeWatch {
            gate,
            origin,
            width,
            span,
            buckets: VecDeque::new(),
            first: 0,
            next: 0,
            held: 0,
            slow: Vec::new(),
            found: None,
            found_at: 0,
            confirmed: false,
            stopped: false,
        }
    }

    fn index(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.origin).as_nanos() / self.width.as_nanos()) as u64
    }

    fn end_of(&self, index: u64) -> Instant {
        self.origin
            + self
                .width
                .saturating_mul(u32::try_from(index + 1).unwrap_or(u32::MAX))
    }

    /// The bucket `index`, made (with those before it) when it is new; `None` when it has
    /// been dropped.
    fn bucket(&mut self, index: u64) -> Option<&mut Bucket> {
        let offset = usize::try_from(index.checked_sub(self.first)?).ok()?;
        while self.buckets.len() <= offset {
            self.buckets.push_back(Bucket {
                due: 0,
                within: 0,
                held: self.held,
            });
        }
        self.buckets.get_mut(offset)
    }

    /// A beat came due at `due`.
    pub fn due(&mut self, due: Instant) {
        let index = self.index(due);
        if self.stopped || self.confirmed {
            return;
        }
        // One due late (it waited for the beat before it) may fall in a window already
        // judged, which went without it; it counts in the windows to come.
        if let Some(bucket) = self.bucket(index) {
            bucket.due += 1;
        }
    }

    /// A beat was answered `now`, `latency` after it was due.
    pub fn answered(&mut self, now: Instant, latency: Duration) {
        let index = self.index(now.checked_sub(latency).unwrap_or(self.origin));
        if self.confirmed {
            // Past the knee, only its window's slow answers still count: for its statistic.
            if latency > self.gate.bound && self.found_window().contains(&index) {
                self.slow.push((index, latency));
            }
            return;
        }
        if self.stopped {
            return;
        }
        if index < self.first && !(self.found.is_some() && index + self.span > self.found_at) {
            return;
        }
        if latency <= self.gate.bound {
            if let Some(bucket) = self.bucket(index) {
                bucket.within += 1;
            }
        } else {
            self.slow.push((index, latency));
        }
    }

    /// The search ended otherwise (a loss, a stop), or another bound found the knee: nothing
    /// more is judged. A watch that found the knee still takes its window's slow answers.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// `now`, with `held` connections held: judges the windows whose time has come. Returns
    /// the knee the first time the bound is exceeded.
    pub fn turn(&mut self, now: Instant, held: u64) -> Option<&Knee> {
        if self.stopped || self.confirmed {
            return None;
        }
        // The buckets begun since the last turn begin with the count it saw: the last
        // count of the bucket before them.
        self.bucket(self.index(now));
        self.held = held;
        while self.end_of(self.next) + self.gate.bound <= now {
            let last = self.next;
            self.next += 1;
            let from = (last + 1).saturating_sub(self.span);
            let (due, within) = self.window(from, last);
            if due == 0 {
                // No beat, no evidence either way.
            } else if within < self.gate.rank(due) {
                if self.found.is_none() {
                    let held_at =
                        |watch: &mut Self, index| watch.bucket(index).map_or(0, |b| b.held);
                    self.found = Some(Knee {
                        gate: self.gate.clone(),
                        held: held_at(self, last),
                        above: held_at(self, last + 1),
                        at: self.end_of(last).saturating_duration_since(self.origin),
                        measured: None,
                        due,
                        within,
                    });
                    self.found_at = last;
                }
                // Exceeded for two periods on end: the later window holds none of the
                // beats of the first, so no pause shorter than a period makes a knee.
                if last >= self.found_at + 2 * self.span {
                    self.confirmed = true;
                    // Nothing more is judged: only the knee's window's slow answers are kept.
                    self.buckets = VecDeque::new();
                    let window = self.found_window();
                    self.slow.retain(|(i, _)| window.contains(i));
                    return self.found.as_ref();
                }
            } else {
                self.found = None;
            }
            self.forget_before((self.next + 1).saturating_sub(self.span));
        }
        None
    }

    /// The buckets of the window that first exceeded the bound.
    fn found_window(&self) -> std::ops::RangeInclusive<u64> {
        (self.found_at + 1).saturating_sub(self.span)..=self.found_at
    }

    /// Beats due and within the bound over buckets `from..=last`.
    fn window(&self, from: u64, last: u64) -> (u64, u64) {
        let start = from.saturating_sub(self.first) as usize;
        let end = (last + 1).saturating_sub(self.first) as usize;
        self.buckets
            .range(start.min(self.buckets.len())..end.min(self.buckets.len()))
            .fold((0, 0), |(due, within), b| (due + b.due, within + b.within))
    }

    /// Drops the buckets no window to come will need, and the slow latencies of those
    /// outside the windows to come and the one that first exceeded the bound.
    fn forget_before(&mut self, index: u64) {
        while self.first < index && !self.buckets.is_empty() {
            self.buckets.pop_front();
            self.first += 1;
        }
        let keep = match self.found {
            Some(_) => (self.found_at + 1)
                .saturating_sub(self.span)
                .min(self.first),
            None => self.first,
        };
        self.slow.retain(|(i, _)| *i >= keep);
    }

    /// When a window is next to be judged.
    pub fn next_deadline(&self) -> Option<Instant> {
        (!self.stopped && !self.confirmed && !self.buckets.is_empty())
            .then(|| self.end_of(self.next) + self.gate.bound)
    }

    /// The knee, when the bound was exceeded, with the statistic over its window as far as
    /// its answers came.
    pub fn knee(&self) -> Option<Knee> {
        let mut knee = self.found.clone().filter(|_| self.confirmed)?;
        let mut slow: Vec<Duration> = self
            .slow
            .iter()
            .filter(|(i, _)| self.found_window().contains(i))
            .map(|(_, latency)| *latency)
            .collect();
        slow.sort_unstable();
        let rank = self.gate.rank(knee.due);
        knee.measured = rank
            .checked_sub(knee.within + 1)
            .and_then(|k| slow.get(k as usize).copied());
        Some(knee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn p99(bound: Duration) -> KneeGate {
        KneeGate {
            name: "beat:p99".to_string(),
            quantile: 0.99,
            bound,
        }
    }

    /// A search at 200/s against a server whose latency is 1 ms for each connection past
    /// 100, each connection beating every 100 ms at its dial time modulo the period: beats
    /// due at t, with c(t) connections, are answered at t + (c(t) − 100) ms, plus `pause`
    /// for those due in `paused`. Returns the knee and when it was confirmed.
    fn search(paused: std::ops::Range<u64>, pause: Duration) -> (Knee, u64) {
        let t0 = Instant::now();
        let mut watch = KneeWatch::new(p99(ms(50)), t0, ms(100), ms(5));
        let held = |tick: u64| tick / 5;
        let latency = |c: u64| ms(c.saturating_sub(100)) + Duration::from_micros(100);
        let mut answers: Vec<(Instant, Duration)> = Vec::new();
        for tick in 0..3000u64 {
            let now = t0 + ms(tick);
            for seq in 0..held(tick) {
                if (seq * 5) % 100 == tick % 100 {
                    watch.due(now);
                    let extra = if paused.contains(&tick) {
                        pause
                    } else {
                        Duration::ZERO
                    };
                    let l = latency(held(tick)) + extra;
                    answers.push((now + l, l));
                }
            }
            answers.sort_by_key(|(at, _)| *at);
            while answers.first().is_some_and(|(at, _)| *at <= now) {
                let (_, l) = answers.remove(0);
                watch.answered(now, l);
            }
            if watch.turn(now, held(tick)).is_some() {
                return (watch.knee().expect("a knee"), tick);
            }
        }
        panic!("the bound was never exceeded");
    }

    #[test]
    fn the_knee_of_a_server_that_slows_with_its_load_is_where_it_crosses_the_bound() {
        let (knee, confirmed) = search(0..0, Duration::ZERO);
        // Beats are above 50 ms from 150 connections on.
        assert!((147..=149).contains(&knee.held), "{knee:?}");
        assert!(knee.above > knee.held && knee.above <= 151, "{knee:?}");
        // Confirmed two periods (and the bound) after it was first exceeded.
        assert!((950..=1020).contains(&confirmed), "{confirmed}");
        // Its slow beats were answered meanwhile: the statistic is known.
        let measured = knee.measured.expect("measured");
        assert!(measured > ms(50) && measured < ms(52), "{measured:?}");
    }

    #[test]
    fn past_the_knee_it_judges_no_more_and_keeps_only_its_window_s_slow_answers() {
        // The server of `search`, whose answers past 150 connections take 50 to 250 ms.
        let t0 = Instant::now();
        let mut watch = KneeWatch::new(p99(ms(50)), t0, ms(100), ms(5));
        let held = |tick: u64| tick / 5;
        let mut answers: Vec<(Instant, Duration)> = Vec::new();
        let mut confirmed = None;
        for tick in 0..1750u64 {
            let now = t0 + ms(tick);
            for seq in 0..held(tick) {
                if (seq * 5) % 100 == tick % 100 {
                    watch.due(now);
                    let l = ms(held(tick).saturating_sub(100)) + Duration::from_micros(100);
                    answers.push((now + l, l));
                }
            }
            answers.sort_by_key(|(at, _)| *at);
            while answers.first().is_some_and(|(at, _)| *at <= now) {
                let (_, l) = answers.remove(0);
                watch.answered(now, l);
            }
            if watch.turn(now, held(tick)).is_some() {
                assert!(confirmed.is_none(), "a knee is found once");
                confirmed = Some(tick);
                // Another bound's knee, or a loss, stops it: it still takes its answers.
                watch.stop();
            }
            if confirmed.is_some() {
                assert!(watch.buckets.is_empty(), "{}", watch.buckets.len());
                assert_eq!(watch.next_deadline(), None);
            }
        }
        assert!(confirmed.is_some());
        let knee = watch.knee().expect("a knee");
        assert!((147..=149).contains(&knee.held), "{knee:?}");
        // Only the slow answers of the knee's window (a period's beats at most) are kept.
        assert!(watch.slow.len() <= 20, "{}", watch.slow.len());
        let measured = knee.measured.expect("measured");
        assert!(measured > ms(50) && measured < ms(52), "{measured:?}");
    }

    #[test]
    fn a_pause_shorter_than_a_period_is_not_a_knee() {
        // Everything answered 80 ms late for 60 ms at 100 connections.
        let (knee, _) = search(500..560, ms(80));
        assert!((147..=149).contains(&knee.held), "{knee:?}");
    }

    #[test]
    fn a_window_is_judged_from_counts_once_its_end_plus_the_bound_has_passed() {
        let t0 = Instant::now();
        let gate = KneeGate {
            name: "beat:max".to_string(),
            quantile: 1.0,
            bound: ms(20),
        };
        let mut watch = KneeWatch::new(gate, t0, ms(100), ms(5));
        watch.turn(t0, 3);
        // A beat due in each 10 ms bucket; the first answered in time, none after.
        watch.due(t0 + ms(1));
        watch.answered(t0 + ms(5), ms(4));
        watch.due(t0 + ms(11));
        assert!(watch.turn(t0 + ms(39), 4).is_none());
        assert_eq!(watch.next_deadline(), Some(t0 + ms(40)));
        for tick in 40..250 {
            let now = t0 + ms(tick);
            if tick % 10 == 0 {
                watch.due(now);
            }
            if let Some(knee) = watch.turn(now, 5 + tick / 10).cloned() {
                // The window to 20 ms first exceeded; it still did two periods later.
                assert_eq!((knee.held, knee.above, knee.due, knee.within), (3, 3, 2, 1));
                assert_eq!(knee.at, ms(20));
                assert_eq!(tick, 240);
                assert_eq!(watch.knee().unwrap().measured, None);
                assert_eq!(watch.next_deadline(), None);
                return;
            }
        }
        panic!("no knee");
    }
    #[test]
    fn a_percentile_allows_its_share_above_the_bound_and_a_stopped_watch_judges_nothing() {
        let t0 = Instant::now();
        let gate = KneeGate {
            name: "beat:p50".to_string(),
            quantile: 0.5,
            bound: ms(10),
        };
        let mut watch = KneeWatch::new(gate.clone(), t0, ms(100), ms(5));
        watch.turn(t0, 1);
        for _ in 0..4 {
            watch.due(t0);
        }
        watch.answered(t0 + ms(1), ms(1));
        watch.answered(t0 + ms(1), ms(1));
        watch.answered(t0 + ms(30), ms(30));
        assert!(watch.turn(t0 + ms(200), 1).is_none(), "2 of 4 within: p50");
        assert_eq!(gate.rank(100), 50);
        assert_eq!(p99(ms(1)).rank(100), 99);
        assert_eq!(p99(ms(1)).rank(3), 3);
        let mut stopped = KneeWatch::new(p99(ms(10)), t0, ms(100), ms(5));
        stopped.turn(t0, 1);
        stopped.due(t0);
        stopped.stop();
        assert!(stopped.turn(t0 + ms(500), 1).is_none());
        assert_eq!(stopped.knee(), None);
    }

    #[test]
    fn its_memory_is_bounded_by_the_window_and_the_bound() {
        let t0 = Instant::now();
        let mut watch = KneeWatch::new(p99(ms(50)), t0, ms(100), ms(1));
        for tick in 0..10_000u64 {
            let now = t0 + ms(tick);
            watch.due(now);
            watch.answered(now, Duration::ZERO);
            watch.turn(now, tick);
        }
        // 2 ms buckets: 50 a period, 25 for the bound, and the one being filled.
        assert!(watch.buckets.len() <= 80, "{}", watch.buckets.len());
    }
}
