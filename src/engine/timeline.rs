//! The run's counts over time, for plots: a sample of the counts by state at most once a
//! step, in a bounded buffer. The step starts at a millisecond; when the buffer is full,
//! every other sample goes and the step doubles, so a run of any length keeps between
//! half the buffer and all of it, evenly spread, in a few kilobytes. Time is a parameter:
//! the loop passes how long the run has gone, and its last sample is taken at the end
//! whatever the step, so the last point is the final state.

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

    /// Takes a sample unless one was taken in this step already.
    pub fn sample(&mut self, sample: Sample) {
        if let Some(last) = self.samples.last()
            && self.slot(last.elapsed) >= self.slot(sample.elapsed)
        {
            return;
        }
        self.push(sample);
    }

    /// Takes the last sample, the state at the end, whatever the step: it replaces one taken
    /// in the same step.
    pub fn finish(&mut self, sample: Sample) {
        if let Some(last) = self.samples.last()
            && self.slot(last.elapsed) >= self.slot(sample.elapsed)
            && self.samples.len() > 1
        {
            self.samples.pop();
        }
        self.push(sample);
    }

    fn push(&mut self, sample: Sample) {
        if self.samples.len() == CAPACITY {
            self.step *= 2;
            let step = self.step;
            let mut last_slot = None;
            self.samples.retain(|s| {
                let slot = s.elapsed.as_nanos() / step.as_nanos();
                let keep = last_slot != Some(slot);
                last_slot = Some(slot);
                keep
            });
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
}
