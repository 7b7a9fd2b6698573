//! `run --workers N|auto`: the run made by N processes of this binary, each the
//! single-threaded loop of any run, making shard I of N of one schedule with one start (the
//! `--shard`/`--start-at` machinery), and this process, the parent, owning the terminal: one
//! live view (the workers' last words summed, at the interval), one report, one JSON
//! summary, one `--summary` file, one `--hdr-log`, one exit status, all from the exact merge
//! of the workers' summaries, as `tcpgoon merge` computes it.
//!
//! The parent's loop is a mio poll of its own, over the workers' stdout pipes, their pidfds
//! and the signals: it never blocks on anything else. A signal is passed on, once, to every
//! worker, whose report then comes within the loop's turn; a worker that ends with no
//! summary (killed) is named, and its attempts count as not initiated (exit 1).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};

use super::{HdrLogFile, RunReport, confirm, open_outputs, options_json, say_missed};
use crate::cli::config::{RunConfig, check_start_at};
use crate::cli::{MetricsArgs, Progress, RunArgs, WorkerCount};
use crate::commands::finish::{self, Report};
use crate::commands::output::REDRAW;
use crate::commands::workers::{self, Received, Workers};
use crate::engine::metrics::Metrics;
use crate::engine::pacer::Shard;
use crate::engine::signal::Caught;
use crate::engine::stats::Stats;
use crate::engine::target::Target;
use crate::engine::{ConnEvent, Observer, limits};
use crate::error::{self, Error};
use crate::judge::exit;
use crate::judge::thresholds::Thresholds;
use crate::judge::verdict::{self, Ending};
use crate::report::json::{self, micros};
use crate::report::live::{self, Live};
use crate::report::outlet::Outlet;
use crate::report::shards::merged_json;
use crate::report::summary::{self, Merged, ShardSummary, unix_time};
use crate::report::worker_line::{self, Latest};
use crate::report::{self, Spread, Summary};

/// What the parent decided for worker `index`, handed over in [`workers::ENV`].
#[derive(Debug, Serialize, Deserialize)]
struct Spec {
    index: u64,
    count: u64,
    /// The schedule's start, in microseconds since the Unix epoch.
    start_at_us: u64,
    /// The target as the parent resolved it, once for every worker.
    host: String,
    port: u16,
    addrs: Vec<SocketAddr>,
    /// This worker's source addresses: its share of `--source`.
    sources: Vec<IpAddr>,
    /// How often to tell the parent the counts between ticks, for its status line.
    refresh_us: Option<u64>,
}

/// How long the parent gives the workers to start before the schedule's start: each must
/// be waiting in its poll before it comes.
fn start_margin(count: usize) -> Duration {
    Duration::from_millis(200) + Duration::from_millis(5) * count as u32
}

/// After a stop was passed on, how long the workers have to report before they are killed.
const REPORT_GRACE: Duration = Duration::from_secs(3);

/// A worker's configuration: the run as typed, as shard `index` of `count`, with the
/// parent's start, target and sources; its outputs are the lines its parent reads.
pub(super) fn worker_config(mut args: RunArgs, spec: &str) -> Result<RunConfig, Error> {
    let bad = |e: String| Error::Usage(format!("{}: {e}", workers::ENV));
    let spec: Spec = serde_json::from_str(spec).map_err(|e| bad(e.to_string()))?;
    if spec.count == 0 || spec.index >= spec.count || spec.count > args.connections {
        return Err(bad(format!(
            "worker {}/{} of a run",
            spec.index, spec.count
        )));
    }
    args.shard = Shard {
        index: spec.index,
        count: spec.count,
    };
    args.start_at = Some(unix_time(spec.start_at_us));
    args.addressing.sources = spec.sources;
    args.assume_yes = true;
    args.json = true;
    args.progress = Progress::Lines;
    args.hdr_log = None;
    args.summary = None;
    args.metrics = MetricsArgs::default();
    // The parent judges the gates, on the whole run.
    args.thresholds = Thresholds::default();
    args.workers = None;
    let target = Target {
        name: spec.host,
        port: spec.port,
        addrs: spec.addrs,
    };
    let mut config = RunConfig::resolve_with(args, Some(target))?;
    config.plan.refresh = spec.refresh_us.map(Duration::from_micros);
    Ok(config)
}

/// A worker's observer: its lines to the parent, and `--debug`'s lines on its stderr.
pub(super) struct Feed {
    pub parent: Outlet,
    /// `--debug`: its lines, each saying which worker it comes from.
    pub debug: Option<Outlet>,
    pub index: u64,
}

impl Observer for Feed {
    fn tick(&mut self, elapsed: Duration, stats: &Stats) {
        // A line the parent does not take in time is dropped: the next one says it all.
        let _ = worker_line::write(&mut self.parent, elapsed, stats, true)
            .and_then(|()| self.parent.flush());
    }

    fn refresh(&mut self, elapsed: Duration, stats: &Stats) {
        let _ = worker_line::write(&mut self.parent, elapsed, stats, false)
            .and_then(|()| self.parent.flush());
    }

    fn conn_event(&mut self, event: ConnEvent) {
        if let (Some(err), Some(line)) = (&mut self.debug, live::debug_line(&event)) {
            let _ = writeln!(err, "worker {}: {line}", self.index);
        }
    }
}

/// How many workers `count` asks for, and why, in words for the report.
fn how_many(count: WorkerCount, connections: u64) -> Result<(u64, String), Error> {
    let (_, hard) =
        limits::nofile().map_err(|e| Error::system("cannot read the open-files limit", e))?;
    let per_process = hard.saturating_sub(limits::RESERVED_FDS).max(1);
    let for_files = connections.div_ceil(per_process);
    let n = match count {
        WorkerCount::Count(n) => n,
        WorkerCount::Auto => (workers::cores() as u64).max(for_files),
    };
    if n > connections {
        return Err(Error::Usage(format!(
            "--workers {n}: {n} workers of {connections} connections leave some with none to \
             make; use at most {connections}"
        )));
    }
    let why = match count {
        WorkerCount::Count(_) => String::new(),
        WorkerCount::Auto => format!(
            " (auto: {} cores; {connections} connections at most {per_process} a process \
             under the open-files limit of {hard})",
            workers::cores()
        ),
    };
    Ok((n, why))
}

/// Worker `index`'s share of the sources: with at least as many sources as workers, every
/// `count`th from its own (each pair of source and target then has one worker's
/// connections); with fewer, all of them.
fn sources_of(sources: &[IpAddr], index: u64, count: u64) -> Vec<IpAddr> {
    if (sources.len() as u64) < count {
        return sources.to_vec();
    }
    sources
        .iter()
        .skip(index as usize)
        .step_by(count as usize)
        .copied()
        .collect()
}

/// `run --workers`: the parent.
pub(super) fn run(args: RunArgs, count: WorkerCount) -> Result<u8, Error> {
    if args.shard != Shard::WHOLE {
        return Err(Error::Usage(
            "--workers with --shard: a shard runs in one process; give --workers to a run \
             that is not sharded, or shard it over more processes with --shard alone"
                .to_string(),
        ));
    }
    let (count, why) = how_many(count, args.connections)?;
    let mut config = RunConfig::resolve(args)?;
    // One endpoint, this process's, with the workers' sums.
    let mut metrics = finish::bind_metrics(&config.metrics, &config.target, Shard::WHOLE)?;
    // Each worker's share must fit under its own open-files limit; the ports are the
    // whole run's, as the workers share the kernel's.
    let largest_share = Shard { index: 0, count }.attempts(config.whole_connections);
    limits::fit_open_files(largest_share)?;
    crate::commands::warn_about_ports(&config.plan)?;
    if !config.assume_yes && !confirm(&config) {
        return Ok(exit::INCOMPLETE);
    }
    let (mut hdr_log, outputs, mode) = open_outputs(&config)?;
    let signals = mode.signals()?;
    let start_at = match config.plan.start_at {
        Some(at) => at,
        None => SystemTime::now() + start_margin(count as usize),
    };
    check_start_at(start_at, SystemTime::now())?;
    let hdr = hdr_log.as_mut().map(HdrLogFile::begin).transpose()?;
    let mut live = mode.live(&outputs.streams, hdr, config.debug);
    mode.write_line_at_start(&mut live, config.plan.connections);
    let start_at_us = micros(
        start_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let refresh_us = mode.bar.then(|| micros(REDRAW.min(config.plan.interval)));
    let spec = |index: usize| {
        serde_json::to_string(&Spec {
            index: index as u64,
            count,
            start_at_us,
            host: config.target.name.clone(),
            port: config.target.port,
            addrs: config.target.addrs.clone(),
            sources: sources_of(&config.plan.sources, index as u64, count),
            refresh_us,
        })
        .unwrap_or_default()
    };
    let mut workers = Workers::spawn(count as usize, spec)?;
    let shares: Vec<u64> = (0..count)
        .map(|index| Shard { index, count }.attempts(config.whole_connections))
        .collect();
    let mut parent = Parent::new(&workers, &shares, start_at)?;
    let gathered = parent.run(&mut workers, &signals, &mut live, metrics.as_mut())?;
    signals.let_next_kill();
    outputs.streams.keep_everything();
    let Live { bar, hdr, .. } = live;
    if let Some(mut bar) = bar {
        let _ = bar.erase();
    }
    // Said at once, not queued: the run may end here, with no report to wait for.
    for line in &gathered.lost {
        error::say(format_args!("{line}"));
    }
    let mut stderr = outputs.streams.stderr();
    if let Some(status) = gathered.refused {
        return Ok(status);
    }
    if gathered.summaries.is_empty() {
        return Err(Error::Incomplete(
            "no worker reported: the run has no report".to_string(),
        ));
    }
    let merged = summary::merge(gathered.summaries)
        .map_err(|e| Error::System(format!("the workers' summaries do not merge: {e}")))?;
    let logged = hdr.map_or(Ok(()), |hdr| {
        hdr.finish(merged.outcome.wall, &merged.outcome.stats)
    });
    let hdr_failed = hdr_log.as_mut().and_then(|log| log.finish(logged));
    let verdicts = config.thresholds.judge(&merged.outcome.stats);
    say_missed(&verdicts, &mut stderr);
    config.plan.start_at = Some(start_at);
    let report = WorkersReport {
        run: RunReport {
            config: &config,
            outcome: &merged.outcome,
            verdicts: &verdicts,
            dropped: outputs.streams.dropped() + hdr_log.as_ref().map_or(0, HdrLogFile::dropped),
            mode,
        },
        merged: &merged,
        workers: count,
        why,
        lost: gathered.lost.len() as u64,
        max_seen: parent.max_established,
    };
    let status = outputs.finish(&report, hdr_failed, ());
    drop(workers);
    finish::after_report(
        metrics.as_mut(),
        &config.metrics,
        &config.target,
        Shard::WHOLE,
        &merged.outcome.stats,
        status,
    )
}

/// What the workers left: their summaries, and a line for each that left none.
struct Gathered {
    summaries: Vec<ShardSummary>,
    lost: Vec<String>,
    /// A worker refused the run (bad input, exit 64): the status the run ends with.
    refused: Option<u8>,
}

/// The parent's loop.
struct Parent {
    poll: Poll,
    latest: Vec<Latest>,
    summaries: Vec<Option<ShardSummary>>,
    closed: Vec<bool>,
    /// Workers that ended with no report, named already.
    named: Vec<bool>,
    /// When the schedule starts, on the monotonic clock.
    origin: Instant,
    ticks_shown: u64,
    last_draw: Option<Instant>,
    max_established: u64,
}

const SIGNALS: Token = Token(usize::MAX);

fn out_token(index: usize) -> Token {
    Token(2 * index)
}

fn pid_token(index: usize) -> Token {
    Token(2 * index + 1)
}

impl Parent {
    fn new(workers: &Workers, shares: &[u64], start_at: SystemTime) -> Result<Parent, Error> {
        let poll = Poll::new().map_err(|e| Error::system("cannot create the poll", e))?;
        let registry = poll.registry();
        let register = |fd: RawFd, token| {
            registry
                .register(&mut SourceFd(&fd), token, Interest::READABLE)
                .map_err(|e| Error::system("cannot watch a worker", e))
        };
        for worker in &workers.list {
            if let Some(fd) = worker.stdout_fd() {
                register(fd, out_token(worker.index))?;
            }
            register(worker.pidfd(), pid_token(worker.index))?;
        }
        let now = (Instant::now(), SystemTime::now());
        let origin = match start_at.duration_since(now.1) {
            Ok(ahead) => now.0 + ahead,
            Err(behind) => now.0.checked_sub(behind.duration()).unwrap_or(now.0),
        };
        Ok(Parent {
            poll,
            latest: shares.iter().map(|&share| Latest::new(share)).collect(),
            summaries: shares.iter().map(|_| None).collect(),
            closed: shares.iter().map(|_| false).collect(),
            named: shares.iter().map(|_| false).collect(),
            origin,
            ticks_shown: 0,
            last_draw: None,
            max_established: 0,
        })
    }

    fn run(
        &mut self,
        workers: &mut Workers,
        signals: &crate::engine::signal::SignalFd,
        live: &mut Live<'_, Outlet>,
        mut metrics: Option<&mut Metrics>,
    ) -> Result<Gathered, Error> {
        signals.register(self.poll.registry(), SIGNALS)?;
        if let Some(metrics) = metrics.as_deref_mut() {
            metrics.register(self.poll.registry())?;
        }
        let mut busy = false;
        let mut events = Events::with_capacity(256);
        let mut passed_on = false;
        let mut kill_at: Option<Instant> = None;
        let mut lost = Vec::new();
        let mut refused = None;
        while !(workers.all_ended() && self.closed.iter().all(|&c| c)) {
            let now = Instant::now();
            let deadline = [kill_at, metrics.as_deref().and_then(Metrics::next_deadline)]
                .into_iter()
                .flatten()
                .min();
            let timeout = match busy {
                true => Some(Duration::ZERO),
                false => deadline.map(|at| at.saturating_duration_since(now)),
            };
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(Error::system("poll", e));
            }
            let now = Instant::now();
            if kill_at.is_some_and(|at| now >= at) {
                for worker in workers.list.iter_mut().filter(|w| w.status.is_none()) {
                    self.named[worker.index] = true;
                    lost.push(format!(
                        "worker {} (pid {}) did not report within {} of the stop: killed",
                        worker.index,
                        worker.pid,
                        crate::units::duration::go_style(REPORT_GRACE)
                    ));
                    worker.kill();
                }
                kill_at = None;
            }
            for event in &events {
                match event.token() {
                    SIGNALS => {
                        while let Some(caught) = signals.read() {
                            match caught {
                                Caught::Stop(signal) if !passed_on => {
                                    workers.signal(signal);
                                    passed_on = true;
                                    kill_at = Some(now + REPORT_GRACE);
                                }
                                // A second stop: no more waiting for reports.
                                Caught::Stop(_) => kill_at = Some(now),
                                Caught::Resized => live.resized(),
                            }
                        }
                    }
                    token
                        if let Some(metrics) = metrics.as_deref_mut()
                            && metrics.owns(token) =>
                    {
                        let stats = self.sum();
                        metrics.on_event(self.poll.registry(), token, &stats, now);
                    }
                    Token(t) => {
                        let index = t / 2;
                        self.read(index, workers)?;
                        if t % 2 == 1 && workers.list[index].reap() {
                            // Its pipe may still hold its last lines.
                            self.read(index, workers)?;
                            self.closed[index] = true;
                        }
                    }
                }
            }
            // A worker that ended with no summary: named, and the others stopped if it
            // refused the run.
            for worker in workers.list.iter().filter(|w| w.status.is_some()) {
                let i = worker.index;
                if self.closed[i] && self.summaries[i].is_none() && !self.named[i] {
                    self.named[i] = true;
                    let share = self.latest[i].line.counts.total.max(1);
                    let code = worker.status.and_then(|s| s.code());
                    lost.push(format!(
                        "worker {i} (pid {}) {} with no report: its {} attempts count as \
                         NotInitiated",
                        worker.pid,
                        worker.ending(),
                        share
                    ));
                    if code == Some(i32::from(exit::USAGE)) && refused.is_none() {
                        refused = Some(exit::USAGE);
                    }
                }
            }
            if refused.is_some() && !passed_on {
                workers.signal(libc::SIGTERM);
                passed_on = true;
                kill_at = Some(Instant::now() + REPORT_GRACE);
            }
            self.show(live, now);
            busy = (metrics.as_deref_mut()).is_some_and(|m| m.turn(self.poll.registry(), now));
        }
        if let Some(metrics) = metrics {
            metrics.deregister(self.poll.registry());
        }
        Ok(Gathered {
            summaries: self.summaries.iter_mut().filter_map(Option::take).collect(),
            lost,
            refused,
        })
    }

    /// Takes in what worker `index` wrote; a line that is not one of ours ends it.
    fn read(&mut self, index: usize, workers: &mut Workers) -> Result<(), Error> {
        let worker = &mut workers.list[index];
        let (lines, closed) = match worker.read_lines() {
            Ok(Received::Lines(lines)) => (lines, false),
            Ok(Received::Closed(lines)) => (lines, true),
            Err(e) => {
                worker.kill();
                return Err(Error::System(format!(
                    "worker {index} (pid {}) wrote what is not its output: {e}",
                    worker.pid
                )));
            }
        };
        for line in lines {
            let text = String::from_utf8_lossy(&line);
            let source = format!("worker {index}");
            match worker_line::read_line(&text) {
                Ok(Some(line)) => self.latest[index]
                    .update(line)
                    .map_err(|e| Error::System(format!("{source}: {e}")))?,
                Ok(None) => {
                    self.summaries[index] = summary::read_line(&text, &source)
                        .map_err(|e| Error::System(format!("{source}: {e}")))?;
                }
                Err(e) => return Err(Error::System(format!("{source}: {e}"))),
            }
        }
        if closed {
            self.closed[index] = true;
        }
        Ok(())
    }

    /// The live view: a tick once every worker still running has sent it, and the status
    /// line redrawn at its pace.
    fn show(&mut self, live: &mut Live<'_, Outlet>, now: Instant) {
        let next = self.ticks_shown + 1;
        let ready = self
            .latest
            .iter()
            .zip(&self.closed)
            .all(|(w, &closed)| closed || w.ticks >= next);
        let any = self.latest.iter().any(|w| w.ticks >= next);
        let elapsed = now.saturating_duration_since(self.origin);
        if ready && any {
            self.ticks_shown = self
                .latest
                .iter()
                .map(|w| w.ticks)
                .min()
                .unwrap_or(next)
                .max(next);
            let stats = self.sum();
            live.tick(elapsed, &stats);
            live.refresh(elapsed, &stats);
            self.last_draw = Some(now);
        } else if live.bar.is_some()
            && self
                .last_draw
                .is_none_or(|at| now.duration_since(at) >= REDRAW)
        {
            let stats = self.sum();
            live.refresh(elapsed, &stats);
            self.last_draw = Some(now);
        }
    }

    fn sum(&mut self) -> Stats {
        let established: u64 = self.latest.iter().map(|w| w.line.counts.established).sum();
        self.max_established = self.max_established.max(established);
        worker_line::sum(self.latest.iter(), self.max_established)
    }
}

/// `run --workers`'s report: `run`'s, from the merged workers, with what the workers were.
struct WorkersReport<'a> {
    run: RunReport<'a>,
    merged: &'a Merged,
    workers: u64,
    why: String,
    lost: u64,
    /// The most established at once in the sums the parent saw (at each line it read).
    max_seen: u64,
}

impl Report for WorkersReport<'_> {
    fn ending(&self, output_failed: Option<&str>) -> Ending {
        verdict::of_run(self.run.outcome, self.run.verdicts, output_failed)
    }

    fn summary(&self, ending: &Ending) -> io::Result<Vec<u8>> {
        let config = self.run.config;
        let mut line = Vec::new();
        json::write_summary(
            &mut line,
            &json::SummaryInput {
                host: &config.target.name,
                addr: config.plan.targets[0],
                targets: &config.plan.targets,
                label: &config.target.label(),
                options: options_json(config),
                outcome: self.run.outcome,
                requested_rate: config.requested_rate(),
                verdicts: self.run.verdicts,
                probe: config.plan.served_by(),
                live_lines_dropped: self.run.dropped,
                limit: None,
                verdict: &ending.verdict,
                exit_status: ending.status,
                shard: Shard::WHOLE,
                start_at: config.plan.start_at,
                merged: Some(merged_json(self.merged)),
            },
        )
        .map(|()| line)
    }

    fn text(&self, mut out: &mut dyn Write, ending: &Ending) -> io::Result<()> {
        let (config, outcome) = (self.run.config, self.run.outcome);
        let spread = Spread {
            targets: &config.plan.targets,
            connections: config.whole_connections,
            reconnect: config.plan.reconnect,
            settled: outcome.settled,
        };
        let summary = Summary {
            target: &config.target.label(),
            outcome,
            requested_rate: config.requested_rate(),
            planned_hold: config.plan.hold_time(),
            verdicts: self.run.verdicts,
            probe: config.plan.served_by(),
            width: self.run.mode.report_width(),
        };
        report::write_final(&mut out, &summary)?;
        report::write_spread_and_hold(&mut out, &outcome.stats, &spread)?;
        let merged = self.merged;
        write!(
            out,
            "Workers: {}{}, {} reported",
            self.workers,
            self.why,
            merged.present.len()
        )?;
        match merged.start_skew {
            Some(skew) => writeln!(
                out,
                "; start skew {} (their first attempts, each against its due time)",
                crate::units::duration::go_style(skew)
            )?,
            None => writeln!(out)?,
        }
        if self.lost > 0 {
            writeln!(
                out,
                "Workers lost: {} of {}; their {} attempts count as NotInitiated",
                merged.missing.count, merged.shards, merged.missing_attempts
            )?;
        }
        if merged.present.len() > 1 {
            writeln!(
                out,
                "Max concurrent established: the sum of the workers' maxima, an upper bound; \
                 {} at once in the live counts",
                self.max_seen
            )?;
        }
        live::write_dropped(&mut out, self.run.dropped)?;
        writeln!(out, "{}", ending.verdict)
    }
}
