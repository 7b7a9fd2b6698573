//! The run's counts over time, for plots: a sample of the counts by state at most once a
//! step, in a bounded buffer. The step starts at a millisecond; when the buffer is full,
//! every other sample goes and the step doubles, so a run of any length keeps between
//! half the buffer and all of it, evenly spread, in a few kilobytes. Time is a parameter:
//! the loop passes how long the run has gone, and its last sample is taken at the end
//! whatever the step, so the last point is the final state.
//!
//! With heartbeats a sample also carries the beat latency of the beats answered since the
//! sample before it (the loop keeps a histogram for that, emptied only when `sample` says
//! it took one) and the connections that stopped answering so far. A sample that goes (the
//! thinning, or the end replacing one of its step) leaves its beat latency to the next one
//! kept, as the larger of the two quantiles: there is no exact merge of quantiles, and the
//! larger is an upper bound of the pair's.

use std::time::Duration;

/// Samples kept at most; at least half as many once the run is longer than this many steps.
pub const CAPACITY: usize = 512;

/// The first step: short runs (a limit search at 100000/s lasts a few milliseconds) keep
/// their shape.
pub const FIRST_STEP: Duration = Duration::from_millis(1);

/// The counts by state at one moment of the run (as `stats::Counts` has them, which
/// builds these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub elapsed: Duration,
    pub not_initiated: u64,
    pub dialing: u64,
    pub established: u64,
    pub closed: u64,
    pub error: u64,
    /// Connections served and still open (`None` without a probe).
    pub served_open: Option<u64>,
    /// `--heartbeat` only.
    pub beats: Option<BeatSample>,
}

/// The heartbeats at one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeatSample {
    /// Beat latency of the beats answered since the sample before (`None`: none was).
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// Connections that stopped answering, so far.
    pub stopped: u64,
}

impl BeatSample {
    /// `later`'s, with the beat latency of `self` (an earlier sample that goes) folded in.
    fn absorbed_by(self, later: BeatSample) -> BeatSample {
        let max = |a: Option<Duration>, b: Option<Duration>| a.max(b);
        BeatSample {
            p50: max(self.p50, later.p50),
            p99: max(self.p99, later.p99),
            stopped: later.stopped,
        }
    }
}

impl Sample {
    /// This sample, with the beat latency of `gone` (an earlier one that goes) folded in.
    fn absorbing(mut self, gone: &Sample) -> Sample {
        if let (Some(gone), Some(beats)) = (gone.beats, self.beats) {
            self.beats = Some(gone.absorbed_by(beats));
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    step: Duration,
    samples: Vec<Sample>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            step: FIRST_STEP,
            samples: Vec::new(),
        }
    }

    /// The spacing the samples keep (at least; a quiet loop samples less often).
    pub fn step(&self) -> Duration {
        self.step
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Takes a sample unless one was taken in this step already; says whether it took it.
    pub fn sample(&mut self, sample: Sample) -> bool {
        if let Some(last) = self.samples.last()
            && self.slot(last.elapsed) >= self.slot(sample.elapsed)
        {
            return false;
        }
        self.push(sample);
        true
    }

    /// Takes the last sample, the state at the end, whatever the step: it replaces one taken
    /// in the same step.
    pub fn finish(&mut self, sample: Sample) {
        if let Some(last) = self.samples.last()
            && self.slot(last.elapsed) >= self.slot(sample.elapsed)
            && self.samples.len() > 1
        {
            let gone = self.samples.pop().unwrap_or_default();
            self.push(sample.absorbing(&gone));
            return;
        }
        self.push(sample);
    }

    fn push(&mut self, sample: Sample) {
        if self.samples.len() == CAPACITY {
            self.step *= 2;
            let step = self.step;
            let mut kept: Vec<Sample> = Vec::with_capacity(CAPACITY);
            let mut gone: Option<Sample> = None;
            let mut last_slot = None;
            for s in self.samples.drain(..) {
                let slot = s.elapsed.as_nanos() / step.as_nanos();
                if last_slot == Some(slot) {
                    gone = Some(gone.map_or(s, |g| s.absorbing(&g)));
                    continue;
                }
                last_slot = Some(slot);
                kept.push(gone.take().map_or(s, |g| s.absorbing(&g)));
            }
            self.samples = kept;
            if let Some(g) = gone {
                self.samples.push(sample.absorbing(&g));
                return;
            }
        }
        self.samples.push(sample);
    }

    fn slot(&self, elapsed: Duration) -> u128 {
        elapsed.as_nanos() / self.step.as_nanos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, established: u64) -> Sample {
        Sample {
            elapsed: Duration::from_millis(ms),
            not_initiated: 1000 - established,
            established,
            ..Sample::default()
        }
    }

    #[test]
    fn one_sample_a_step() {
        let mut t = Timeline::new();
        for us in [0, 300, 999, 1000, 1500, 2100] {
            t.sample(Sample {
                elapsed: Duration::from_micros(us),
                ..at(0, 0)
            });
        }
        let kept: Vec<u128> = t.samples().iter().map(|s| s.elapsed.as_micros()).collect();
        assert_eq!(kept, [0, 1000, 2100]);
    }

    #[test]
    fn a_long_run_stays_bounded_and_spread() {
        let mut t = Timeline::new();
        for ms in 0..100_000 {
            t.sample(at(ms, ms % 1000));
        }
        t.finish(at(100_000, 7));
        let samples = t.samples();
        assert!(samples.len() <= CAPACITY, "{}", samples.len());
        assert!(samples.len() >= CAPACITY / 2, "{}", samples.len());
        assert_eq!(samples[0].elapsed, Duration::ZERO);
        assert_eq!(samples.last().unwrap().elapsed, Duration::from_secs(100));
        assert_eq!(samples.last().unwrap().established, 7);
        // Evenly spread: no gap between neighbours wider than two steps.
        for pair in samples.windows(2) {
            assert!(pair[1].elapsed - pair[0].elapsed <= t.step() * 2);
        }
    }

    #[test]
    fn the_end_is_always_the_last_sample() {
        let mut t = Timeline::new();
        t.sample(at(0, 0));
        t.sample(at(5, 3));
        t.finish(at(5, 4));
        assert_eq!(t.samples().len(), 2);
        assert_eq!(t.samples()[1].established, 4);
    }

    fn beat(ms: u64, p99_us: Option<u64>) -> Sample {
        Sample {
            beats: Some(BeatSample {
                p50: None,
                p99: p99_us.map(Duration::from_micros),
                stopped: 0,
            }),
            ..at(ms, 0)
        }
    }

    #[test]
    fn sample_says_whether_it_took_one() {
        let mut t = Timeline::new();
        assert!(t.sample(at(0, 0)));
        assert!(!t.sample(Sample {
            elapsed: Duration::from_micros(500),
            ..at(0, 0)
        }));
        assert!(t.sample(at(1, 0)));
    }

    #[test]
    fn a_sample_that_goes_leaves_its_beat_latency_to_the_next() {
        let mut t = Timeline::new();
        for ms in 0..CAPACITY as u64 {
            // Every odd sample goes at the first thinning: its p99 is the larger.
            let p99 = if ms % 2 == 1 { 1000 + ms } else { ms };
            t.sample(beat(ms, Some(p99)));
        }
        t.sample(beat(CAPACITY as u64, Some(1)));
        let p99 = |s: &Sample| s.beats.unwrap().p99.unwrap().as_micros();
        let s = t.samples();
        assert_eq!(s.len(), CAPACITY / 2 + 1);
        assert_eq!(p99(&s[0]), 0);
        assert_eq!(p99(&s[1]), 1001);
        assert_eq!(p99(&s[2]), 1003);
        // The last one thinned away (ms 511) went to the sample that caused the thinning.
        assert_eq!(p99(s.last().unwrap()), 1000 + CAPACITY as u128 - 1);
        // The end replacing a sample of its step keeps the replaced one's latency too.
        t.finish(beat(CAPACITY as u64 + 1, None));
        assert_eq!(
            p99(t.samples().last().unwrap()),
            1000 + CAPACITY as u128 - 1
        );
    }
}
