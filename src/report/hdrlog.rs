//! `--hdr-log <FILE>`: connect latencies as an HdrHistogram interval log, one histogram per
//! stats interval (and one for the last, partial interval), or one for the whole run when
//! live stats are off (`-i 0`), in the standard format other HdrHistogram tools read. Values
//! are microseconds. With a probe, each interval has a second histogram, tagged `served`:
//! time to served (with `--tls` and no probe: to the handshake done); with `--tls`, a
//! third, tagged `tls_handshake`: TCP established to handshake done; with `--heartbeat`,
//! one more, tagged `beat`: the beat latency of the beats answered in the interval. The
//! file is written
//! through an [`Outlet`], so a log on a FIFO nobody reads does not stall the run: its
//! intervals are dropped and counted like live lines.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriter, IntervalLogWriterBuilder, Tag};

use crate::engine::stats::Stats;
use crate::report::outlet::{CAPACITY, Outlet, WriterThread};

/// The log's file and serializer; they must outlive the [`HdrLog`] that writes into them.
pub struct HdrLogSink {
    writer: WriterThread,
    file: Outlet,
    serializer: V2DeflateSerializer,
}

impl HdrLogSink {
    /// Creates (or truncates) the log at `path`. Opening a FIFO for writing waits for a
    /// reader, so it is opened non-blocking: with no reader the open fails at once, with
    /// ENXIO. Writes then block as they would have (the flag is cleared once it is open).
    pub fn create(path: &std::path::Path) -> io::Result<HdrLogSink> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor `file` owns, open for the whole call.
        let cleared = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        };
        if !cleared {
            return Err(io::Error::last_os_error());
        }
        let writer = WriterThread::spawn("hdr-log", vec![Box::new(file)], CAPACITY)?;
        Ok(HdrLogSink {
            file: writer.outlet(0),
            writer,
            serializer: V2DeflateSerializer::new(),
        })
    }

    /// Starts the log: its header says when the run started and what the values mean.
    pub fn begin(&mut self, started: SystemTime) -> io::Result<HdrLog<'_>> {
        let end = self.file.clone();
        let writer = IntervalLogWriterBuilder::new()
            .add_comment("tcpgoon connect latency, microseconds")
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut self.file, &mut self.serializer)?;
        Ok(HdrLog {
            writer,
            end,
            previous: None,
            previous_served: None,
            previous_handshake: None,
            previous_beats: None,
            previous_at: None,
            failed: None,
        })
    }
}

pub struct HdrLog<'a> {
    writer: IntervalLogWriter<'a, 'a, Outlet, V2DeflateSerializer>,
    /// The outlet `writer` writes into, for the end of the run.
    end: Outlet,
    previous: Option<Histogram<u64>>,
    /// Time to served as of the previous interval, with a probe.
    previous_served: Option<Histogram<u64>>,
    /// TLS handshake times as of the previous interval, with `--tls`.
    previous_handshake: Option<Histogram<u64>>,
    /// Beat latency as of the previous interval, with `--heartbeat`.
    previous_beats: Option<Histogram<u64>>,
    /// When the interval being recorded began: the first tick starts the first interval.
    previous_at: Option<Duration>,
    failed: Option<String>,
}

impl HdrLog<'_> {
    /// Writes what was recorded since the last call, as the interval ending at `elapsed`:
    /// connect latency untagged, and with a probe, time to served tagged `served` (and
    /// the TLS handshakes tagged `tls_handshake`, the beats tagged `beat`).
    pub fn interval(&mut self, elapsed: Duration, stats: &Stats) {
        let total = stats.connect.histogram.inner();
        let served = stats
            .probe
            .as_ref()
            .map(|p| p.time_to_served.histogram.inner());
        let handshake = stats.tls.as_ref().map(|t| t.handshake.histogram.inner());
        let beats = stats.beats.as_ref().map(|b| b.latency.histogram.inner());
        let Some(began) = self.previous_at else {
            self.previous = Some(total.clone());
            self.previous_served = served.cloned();
            self.previous_handshake = handshake.cloned();
            self.previous_beats = beats.cloned();
            self.previous_at = Some(elapsed);
            return;
        };
        if self.failed.is_some() || elapsed <= began {
            return;
        }
        let span = elapsed - began;
        let result = Self::write_delta(&mut self.writer, total, &self.previous, began, span, None)
            .and_then(|()| match served {
                Some(served) => Self::write_delta(
                    &mut self.writer,
                    served,
                    &self.previous_served,
                    began,
                    span,
                    Tag::new("served"),
                ),
                None => Ok(()),
            })
            .and_then(|()| match handshake {
                Some(handshake) => Self::write_delta(
                    &mut self.writer,
                    handshake,
                    &self.previous_handshake,
                    began,
                    span,
                    Tag::new("tls_handshake"),
                ),
                None => Ok(()),
            })
            .and_then(|()| match beats {
                Some(beats) => Self::write_delta(
                    &mut self.writer,
                    beats,
                    &self.previous_beats,
                    began,
                    span,
                    Tag::new("beat"),
                ),
                None => Ok(()),
            });
        if let Err(e) = result {
            self.failed = Some(e);
        }
        self.previous = Some(total.clone());
        self.previous_served = served.cloned();
        self.previous_handshake = handshake.cloned();
        self.previous_beats = beats.cloned();
        self.previous_at = Some(elapsed);
    }

    /// Writes `total` less `previous` as one interval.
    fn write_delta(
        writer: &mut IntervalLogWriter<'_, '_, Outlet, V2DeflateSerializer>,
        total: &Histogram<u64>,
        previous: &Option<Histogram<u64>>,
        began: Duration,
        span: Duration,
        tag: Option<Tag<'_>>,
    ) -> Result<(), String> {
        let mut delta = total.clone();
        if let Some(previous) = previous {
            // Counts only grow, so the subtraction cannot go negative.
            let _ = delta.subtract(previous);
        }
        writer
            .write_histogram(&delta, began, span, tag)
            .map_err(|e| e.to_string())
    }

    /// Ends the log with the last interval, which is kept whatever the reader does (the
    /// loop is over); reports the first error met formatting it, if any.
    pub fn finish(mut self, elapsed: Duration, stats: &Stats) -> Result<(), String> {
        self.end.keep_everything();
        if self.previous_at.is_none() {
            // No tick came (live stats off): the only interval is the whole run.
            self.previous_at = Some(Duration::ZERO);
        }
        self.interval(elapsed, stats);
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl HdrLogSink {
    /// The intervals dropped because the reader was not keeping up.
    pub fn dropped(&self) -> u64 {
        self.writer.dropped()
    }

    /// Waits until the whole log is written; reports the first write error, if any.
    pub fn finish(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.writer.finish()
    }
}
