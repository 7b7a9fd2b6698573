//! `tcpgoon run`: resolve the target, ask for confirmation, check local limits, drive the
//! engine with the live outputs asked for, print the report, and return the exit status.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cli::RunArgs;
use crate::cli::config::{RunConfig, check_start_at};
use crate::cli::values::escape;
use crate::commands::finish::{self, Outputs, Report};
use crate::commands::output::{OutputMode, REDRAW, Terminals};
use crate::commands::workers;
use crate::engine::limits;
use crate::engine::{Engine, Outcome};
use crate::error::{self, Error};
use crate::judge::exit;
use crate::judge::thresholds::Verdict;
use crate::judge::verdict::{self, Ending};
use crate::report::hdrlog::{HdrLog, HdrLogSink};
use crate::report::json::{self, micros};
use crate::report::live::{self, Lines, Live};
use crate::report::schema::{Options, ProbeOptions, RunOptions, TlsOptions};
use crate::report::shards::write_schedule;
use crate::report::{self, Spread, Summary};
use crate::units::duration::canonical;

mod fanout;

pub fn run(args: RunArgs) -> Result<u8, Error> {
    if let Some(spec) = workers::this_process() {
        let config = fanout::worker_config(args, &spec)?;
        return drive(config, true);
    }
    if let Some(count) = args.workers {
        return fanout::run(args, count);
    }
    drive(RunConfig::resolve(args)?, false)
}

/// The run in this process; as a `worker` of `run --workers`, its live output is the lines
/// its parent reads ([`worker_line`]), and its report the JSON summary.
fn drive(mut config: RunConfig, worker: bool) -> Result<u8, Error> {
    let mut metrics = finish::bind_metrics(&config.metrics, &config.target, config.plan.shard)?;
    if worker {
        // The parent warned about the ports, once, for the whole run.
        limits::fit_open_files(config.plan.connections)?;
        limits::reserve_descriptors(config.plan.connections);
    } else {
        finish::check_limits(&config.plan)?;
    }
    if !config.assume_yes && !confirm(&config) {
        return Ok(exit::INCOMPLETE);
    }
    let (mut hdr_log, outputs, mode) = open_outputs(&config)?;
    if mode.bar {
        config.plan.refresh = Some(REDRAW.min(config.plan.interval));
    }
    let hdr = hdr_log.as_mut().map(HdrLogFile::begin).transpose()?;
    let mut live = mode.live(&outputs.streams, hdr, config.debug);
    if worker {
        live.lines = Lines::Off;
        live.bar = None;
    }
    mode.write_line_at_start(&mut live, config.plan.connections);
    // The answer to the question may have come after the start.
    if let Some(at) = config.plan.start_at {
        check_start_at(at, SystemTime::now())?;
    }
    let signals = mode.signals()?;
    let mut engine = Engine::new(config.plan.clone(), Some(&signals))?;
    if let Some(metrics) = metrics.as_mut() {
        engine = engine.with_metrics(metrics)?;
    }
    let (outcome, open) = if worker {
        let mut feed = fanout::Feed {
            parent: outputs.streams.stdout(),
            debug: live.debug.take(),
            index: config.plan.shard.index,
        };
        engine.run(&mut feed)?
    } else {
        engine.run(&mut live)?
    };
    // Nothing reads the signals now: the next one ends the process, even while the report
    // waits for a reader. Nor is anything dropped: only the report waits on the output.
    signals.let_next_kill();
    outputs.streams.keep_everything();
    let Live { bar, hdr, .. } = live;
    if let Some(mut bar) = bar {
        let _ = bar.erase();
    }
    let logged = hdr.map_or(Ok(()), |hdr| hdr.finish(outcome.wall, &outcome.stats));
    let hdr_failed = hdr_log.as_mut().and_then(|log| log.finish(logged));
    let verdicts = config.thresholds.judge(&outcome.stats);
    say_missed(&verdicts, &mut outputs.streams.stderr());
    let report = RunReport {
        config: &config,
        outcome: &outcome,
        verdicts: &verdicts,
        dropped: outputs.streams.dropped() + hdr_log.as_ref().map_or(0, HdrLogFile::dropped),
        mode,
    };
    let status = outputs.finish(&report, hdr_failed, open);
    finish::after_report(
        metrics.as_mut(),
        &config.metrics,
        &config.target,
        config.plan.shard,
        &outcome.stats,
        status,
    )
}

/// One line on stderr for each gate the run missed, before the report.
fn say_missed(verdicts: &[Verdict], stderr: &mut impl Write) {
    for missed in verdicts.iter().filter(|v| !v.passed) {
        let (gate, measured) = (&missed.gate, &missed.measured);
        error::say_to(
            stderr,
            format_args!("threshold missed: {gate} (measured {measured})"),
        );
    }
}

/// What a run writes besides its live lines, opened before the first attempt: the
/// `--hdr-log` file, the `--summary` file and the output's writers; and the live outputs
/// chosen from the configuration and this process's terminals.
fn open_outputs(config: &RunConfig) -> Result<(Option<HdrLogFile>, Outputs, OutputMode), Error> {
    let hdr_log = config
        .hdr_log
        .as_deref()
        .map(HdrLogFile::create)
        .transpose()?;
    let outputs = Outputs::open(config.summary.as_deref(), config.json)?;
    let mode = OutputMode::choose(
        config.progress,
        config.json,
        config.debug,
        !config.plan.interval.is_zero(),
        Terminals::of_this_process(),
    );
    Ok((hdr_log, outputs, mode))
}

/// `--hdr-log`: the file, created before the first attempt, and its path for messages.
struct HdrLogFile {
    sink: HdrLogSink,
    path: PathBuf,
}

impl HdrLogFile {
    fn create(path: &Path) -> Result<HdrLogFile, Error> {
        let sink = HdrLogSink::create(path).map_err(|e| {
            Error::Usage(match e.raw_os_error() {
                Some(libc::ENXIO) => format!(
                    "--hdr-log: '{}' is a FIFO with no reader: start its reader first",
                    path.display()
                ),
                _ => format!("--hdr-log: cannot create '{}': {e}", path.display()),
            })
        })?;
        Ok(HdrLogFile {
            sink,
            path: path.to_path_buf(),
        })
    }

    fn begin(&mut self) -> Result<HdrLog<'_>, Error> {
        (self.sink.begin(SystemTime::now())).map_err(|e| Error::system("--hdr-log", e))
    }

    /// Closes the file once the log's last interval is `logged`; says why the log could not
    /// be written. A log that cannot be written costs the report nothing: it is said after
    /// the report.
    fn finish(&mut self, logged: Result<(), String>) -> Option<String> {
        logged
            .and_then(|()| self.sink.finish().map_err(|e| e.to_string()))
            .err()
            .map(|e| format!("--hdr-log: cannot write '{}': {e}", self.path.display()))
    }

    fn dropped(&self) -> u64 {
        self.sink.dropped()
    }
}

/// `run`'s report: the reference tool's final lines and what they lack, or the JSON summary.
struct RunReport<'a> {
    config: &'a RunConfig,
    outcome: &'a Outcome,
    verdicts: &'a [Verdict],
    dropped: u64,
    mode: OutputMode,
}

impl Report for RunReport<'_> {
    fn ending(&self, output_failed: Option<&str>) -> Ending {
        verdict::of_run(self.outcome, self.verdicts, output_failed)
    }

    fn summary(&self, ending: &Ending) -> io::Result<Vec<u8>> {
        let config = self.config;
        let mut line = Vec::new();
        json::write_summary(
            &mut line,
            &json::SummaryInput {
                host: &config.target.name,
                addr: config.plan.targets[0],
                targets: &config.plan.targets,
                label: &config.target.label(),
                options: options_json(config),
                outcome: self.outcome,
                requested_rate: config.requested_rate(),
                verdicts: self.verdicts,
                probe: config.plan.served_by(),
                live_lines_dropped: self.dropped,
                limit: None,
                verdict: &ending.verdict,
                exit_status: ending.status,
                shard: config.plan.shard,
                start_at: config.plan.start_at,
                merged: None,
            },
        )
        .map(|()| line)
    }

    fn text(&self, mut out: &mut dyn Write, ending: &Ending) -> io::Result<()> {
        let (config, outcome) = (self.config, self.outcome);
        let spread = Spread {
            targets: &config.plan.targets,
            connections: config.plan.connections,
            reconnect: config.plan.reconnect,
            settled: outcome.settled,
        };
        let summary = Summary {
            target: &config.target.label(),
            outcome,
            requested_rate: config.requested_rate(),
            planned_hold: config.plan.hold_time(),
            verdicts: self.verdicts,
            probe: config.plan.served_by(),
            width: self.mode.report_width(),
        };
        report::write_final(&mut out, &summary)?;
        report::write_spread_and_hold(&mut out, &outcome.stats, &spread)?;
        write_schedule(
            &mut out,
            config.plan.shard,
            config.whole_connections,
            config.plan.start_at,
            outcome,
        )?;
        live::write_dropped(&mut out, self.dropped)?;
        writeln!(&mut out, "{}", ending.verdict)
    }
}

fn options_json(config: &RunConfig) -> Options {
    let plan = &config.plan;
    let addresses = |list: &[std::net::SocketAddr]| list.iter().map(|a| a.to_string()).collect();
    Options::Run(Box::new(RunOptions {
        // The whole run's, with --shard too: the summary's counts are this shard's.
        connections: config.whole_connections,
        sleep_us: micros(plan.sleep),
        dial_timeout_us: micros(plan.dial_timeout),
        interval_us: micros(plan.interval),
        hold_us: micros(plan.hold),
        sleep: canonical(plan.sleep),
        dial_timeout: canonical(plan.dial_timeout),
        interval: canonical(plan.interval),
        hold: canonical(plan.hold),
        settle_us: micros(plan.settle),
        settle: canonical(plan.settle),
        reconnect: plan.reconnect,
        probe: plan.probe.as_ref().map(|p| ProbeOptions {
            name: p.name.clone(),
            send: escape(&p.send),
            expect: escape(&p.expect),
            timeout_us: micros(p.timeout),
        }),
        tls: plan.tls.as_ref().map(|t| TlsOptions {
            sni: t.sni.clone(),
            trust: t.trust.clone(),
            versions: t.versions.to_string(),
            alpn: t.alpn.clone(),
            timeout_us: micros(t.timeout),
        }),
        targets: addresses(&plan.targets),
        fallbacks: addresses(&plan.fallbacks),
        sources: plan.sources.iter().map(|a| a.to_string()).collect(),
        max_latency: config
            .thresholds
            .max_latency
            .iter()
            .map(|g| format!("{}={}", g.name, canonical(g.limit)))
            .collect(),
        min_established: config.thresholds.min_established.map(|m| m.to_string()),
    }))
}

/// The reference tool's warning block and question, in its words and layout
/// (cmdutil/userOutput.go, AskForUserConfirmation; the refusal is cmdutil/closureLogic.go's
/// CloseAbruptly). They go to stderr, where the person at the terminal sees them when stdout
/// is redirected, and where they cannot break `--json`'s promise that stdout carries JSON
/// only. The answer is read from stdin, whatever it is: a terminal, or a pipe
/// (`echo y | tcpgoon run …`). At the end of input without a whole answer, as the reference
/// tool does, the response is not processed and the run does not start, so `</dev/null`
/// never waits. Returns whether the run goes ahead.
fn confirm(config: &RunConfig) -> bool {
    let mut out = io::stderr().lock();
    // Nothing to do about a prompt that cannot be shown: the answer decides all the same.
    let _ = write!(
        out,
        "****************************** WARNING ******************************\n\
         * You are going to run a TCP stress check with these arguments:\n\
         *\t- Host: {}\n\
         *\t- TCP Port: {}\n\
         *\t- # of concurrent connections: {}\n\
         *********************************************************************\n",
        config.target.name, config.target.port, config.plan.connections
    );
    let stdin = io::stdin();
    loop {
        let _ = write!(out, "Do you want to continue? (y/N): ").and_then(|()| out.flush());
        let mut answer = String::new();
        // As Go's `ReadString('\n')`: an answer is a whole line.
        let read = stdin.lock().read_line(&mut answer);
        if !(read.is_ok() && answer.ends_with('\n')) {
            let _ = writeln!(out, "Response not processed");
            drop(out);
            error::say(format_args!(
                "no answer on standard input: pass -y (--assume-yes) to run without asking"
            ));
            return false;
        }
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return true,
            "" | "n" | "no" => {
                let _ = writeln!(out, "\n*** Execution aborted as prompted by the user ***");
                return false;
            }
            _ => {
                let _ = writeln!(out, "\nSorry, response not recognized. Try again, please");
            }
        }
    }
}
