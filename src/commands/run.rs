//! `tcpgoon run`: resolve the target, ask for confirmation, check local limits, drive the
//! engine with the live outputs asked for, print the report, and return the exit status.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::config::{RunConfig, check_start_at};
use crate::cli::values::escape;
use crate::cli::{Progress, RunArgs};
use crate::commands::warn_about_ports;
use crate::engine::Engine;
use crate::engine::limits;
use crate::engine::signal::SignalFd;
use crate::engine::stats::Counts;
use crate::error::{self, Error};
use crate::judge::exit;
use crate::judge::verdict::{self, Ending};
use crate::report::hdrlog::HdrLogSink;
use crate::report::json::{self, micros};
use crate::report::live::{self, Lines, Live};
use crate::report::outlet::StdStreams;
use crate::report::progress::{self, StatusLine};
use crate::report::schema::{Options, ProbeOptions, RunOptions, TlsOptions};
use crate::report::shards::write_schedule;
use crate::report::summary_file::SummaryFile;
use crate::report::{self, Spread, Summary};
use crate::units::duration::canonical;

/// How often the status line is redrawn at least.
const REDRAW: Duration = Duration::from_millis(250);

pub fn run(args: RunArgs) -> Result<u8, Error> {
    let mut config = RunConfig::resolve(args)?;
    limits::fit_open_files(config.plan.connections)?;
    limits::reserve_descriptors(config.plan.connections);
    warn_about_ports(&config.plan)?;
    if !config.assume_yes && !confirm(&config) {
        return Ok(exit::INCOMPLETE);
    }
    let mut hdr_sink = match &config.hdr_log {
        Some(path) => Some(HdrLogSink::create(path).map_err(|e| {
            Error::Usage(match e.raw_os_error() {
                Some(libc::ENXIO) => format!(
                    "--hdr-log: '{}' is a FIFO with no reader: start its reader first",
                    path.display()
                ),
                _ => format!("--hdr-log: cannot create '{}': {e}", path.display()),
            })
        })?),
        None => None,
    };
    let summary_file = config
        .summary
        .as_deref()
        .map(SummaryFile::open)
        .transpose()?;
    let mut outlets =
        StdStreams::spawn().map_err(|e| Error::system("cannot start the output's writers", e))?;

    let live_on = !config.plan.interval.is_zero();
    let stderr_tty = io::stderr().is_terminal();
    let stdout_tty = io::stdout().is_terminal();
    // A pipe or socket on stdout may have a reader showing its lines on this very screen
    // (`| tee log`, `--json | jq`), where a status line on stderr would run into them: auto
    // draws it only when stdout is a terminal, a file or a device.
    let bar = live_on
        && !config.debug
        && match config.progress {
            Progress::Bar => true,
            Progress::Lines => false,
            Progress::Auto => stderr_tty && !progress::is_pipe_or_socket(io::stdout().as_raw_fd()),
        };
    let plain_lines = !config.json
        && match config.progress {
            Progress::Lines => true,
            Progress::Bar => false,
            Progress::Auto => !(bar && stdout_tty),
        };
    let lines = if !live_on {
        Lines::Off
    } else if config.json {
        Lines::Json
    } else if plain_lines {
        Lines::Plain
    } else {
        Lines::Off
    };
    // With `-i 0` the reference tool still prints its line once, at the start: its reporter
    // prints, and only then sees the interval is 0 and stops (mtcpclient/reporting.go,
    // ReportConnectionsStatus).
    let line_at_start = !live_on && plain_lines;
    if bar {
        config.plan.refresh = Some(REDRAW.min(config.plan.interval));
    }
    let started = SystemTime::now();
    let hdr = match &mut hdr_sink {
        Some(sink) => Some(
            sink.begin(started)
                .map_err(|e| Error::system("--hdr-log", e))?,
        ),
        None => None,
    };
    let mut live = Live {
        out: outlets.stdout(),
        lines,
        bar: bar.then(|| {
            let width = || progress::terminal_width(io::stderr().as_raw_fd());
            StatusLine::new(outlets.stderr(), width, progress::use_color(stderr_tty))
        }),
        bar_shares_stdout: stdout_tty && outlets.shared(),
        hdr,
        debug: config.debug.then(|| outlets.stderr()),
    };
    if line_at_start {
        // Before any attempt, like the reference tool's; queued for stdout's writer, as
        // every live line is, so a stdout that blocks holds up nothing.
        let _ = report::write_live_line(&mut live.out, &Counts::new(config.plan.connections))
            .and_then(|()| live.out.flush());
    }
    // The answer to the question may have come after the start.
    if let Some(at) = config.plan.start_at {
        check_start_at(at, SystemTime::now())?;
    }
    let signals = if bar {
        SignalFd::with_resize()
    } else {
        SignalFd::new()
    }
    .map_err(|e| Error::system("cannot set up signal handling", e))?;
    let (outcome, open) = Engine::new(config.plan.clone(), Some(&signals))?.run(&mut live)?;
    // Nothing reads the signals now: the next one ends the process, even while the report
    // waits for a reader. Nor is anything dropped: only the report waits on the output.
    signals.let_next_kill();
    outlets.keep_everything();

    let Live { bar, hdr, .. } = live;
    if let Some(mut bar) = bar {
        let _ = bar.erase();
    }
    // A log that cannot be written costs the report nothing: it is said after the report,
    // and the status is 1, as for a report that cannot be written.
    let hdr_failed = hdr
        .map_or(Ok(()), |hdr| hdr.finish(outcome.wall, &outcome.stats))
        .and_then(|()| {
            hdr_sink
                .as_mut()
                .map_or(Ok(()), |sink| sink.finish().map_err(|e| e.to_string()))
        })
        .err()
        .map(|e| {
            let path = config.hdr_log.as_deref().unwrap_or(Path::new(""));
            format!("--hdr-log: cannot write '{}': {e}", path.display())
        });

    let verdicts = config.thresholds.judge(&outcome.stats);
    for missed in verdicts.iter().filter(|v| !v.passed) {
        error::say_to(
            &mut outlets.stderr(),
            format_args!(
                "threshold missed: {} (measured {})",
                missed.gate, missed.measured
            ),
        );
    }
    let dropped = outlets.dropped() + hdr_sink.as_ref().map_or(0, HdrLogSink::dropped);
    let label = config.target.label();
    let summary_of = |ending: &Ending| {
        let mut line = Vec::new();
        json::write_summary(
            &mut line,
            &json::SummaryInput {
                host: &config.target.name,
                addr: config.plan.targets[0],
                targets: &config.plan.targets,
                label: &label,
                options: options_json(&config),
                outcome: &outcome,
                requested_rate: config.requested_rate(),
                verdicts: &verdicts,
                probe: config.plan.served_by(),
                live_lines_dropped: dropped,
                limit: None,
                verdict: &ending.verdict,
                exit_status: ending.status,
                shard: config.plan.shard,
                start_at: config.plan.start_at,
                merged: None,
            },
        )
        .map(|()| line)
    };
    let mut ending = verdict::of_run(
        &outcome,
        &verdicts,
        hdr_failed
            .as_ref()
            .map(|_| "the --hdr-log could not be written"),
    );
    // The file first: whether it could be written is part of the verdict the report ends with.
    let summary_failed = summary_file.and_then(|file| {
        summary_of(&ending)
            .map_err(|e| e.to_string())
            .and_then(|line| file.write(&line))
            .err()
    });
    if summary_failed.is_some() {
        let failed = match hdr_failed {
            Some(_) => "the --hdr-log and the --summary could not be written",
            None => "the --summary could not be written",
        };
        ending = verdict::of_run(&outcome, &verdicts, Some(failed));
    }
    // The report follows the live lines, and may wait for their reader.
    outlets.finish_stdout();
    let mut out = io::stdout().lock();
    let written = if config.json {
        summary_of(&ending).and_then(|line| out.write_all(&line))
    } else {
        let width = if stdout_tty {
            progress::terminal_width(io::stdout().as_raw_fd())
        } else {
            80
        };
        let spread = Spread {
            targets: &config.plan.targets,
            connections: config.plan.connections,
            reconnect: config.plan.reconnect,
            settled: outcome.settled,
        };
        report::write_final(
            &mut out,
            &Summary {
                target: &label,
                outcome: &outcome,
                requested_rate: config.requested_rate(),
                planned_hold: config.plan.hold_time(),
                verdicts: &verdicts,
                probe: config.plan.served_by(),
                width,
            },
        )
        .and_then(|()| report::write_spread_and_hold(&mut out, &outcome.stats, &spread))
        .and_then(|()| {
            write_schedule(
                &mut out,
                config.plan.shard,
                config.whole_connections,
                config.plan.start_at,
                &outcome,
            )
        })
        .and_then(|()| live::write_dropped(&mut out, dropped))
        .and_then(|()| writeln!(out, "{}", ending.verdict))
    };
    error::unless_reader_gone(written.and_then(|()| out.flush()))
        .map_err(|e| Error::system("cannot write the report", e))?;
    // Closed only now that the report is out.
    drop(open);
    // What stderr has yet to get, when it is not stdout's file.
    outlets.finish();
    match (hdr_failed, summary_failed) {
        (None, None) => Ok(ending.status),
        (Some(message), None) | (None, Some(message)) => Err(Error::System(message)),
        (Some(hdr), Some(summary)) => {
            error::say(format_args!("{hdr}"));
            Err(Error::System(summary))
        }
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
