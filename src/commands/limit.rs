//! `tcpgoon limit`: open connections at a steady rate until the first one is lost (an
//! attempt fails, or the peer drops a held connection) or the maximum is open and has been
//! held, then say how many were held at that moment and why. The engine does the work with
//! `stop_at_first_loss`; this module sets it up and reports. With `--json` the report is
//! the JSON summary, with what was found in its `limit` field.

use std::io::{self, Write};

use crate::cli::LimitArgs;
use crate::cli::config::LimitConfig;
use crate::commands::warn_about_ports;
use crate::engine::Engine;
use crate::engine::Outcome;
use crate::engine::limits;
use crate::engine::signal::SignalFd;
use crate::error::{self, Error};
use crate::judge::verdict;
use crate::report::json::{self, micros};
use crate::report::live::{self, Lines, Live};
use crate::report::outlet::StdStreams;
use crate::report::schema::{self, LimitOptions, Options, Rate};
use crate::report::summary_file::SummaryFile;
use crate::report::{self, Spread, Summary};
use crate::units::duration::canonical;

pub fn run(args: LimitArgs) -> Result<u8, Error> {
    let config = LimitConfig::resolve(args)?;
    limits::fit_open_files(config.plan.connections)?;
    limits::reserve_descriptors(config.plan.connections);
    warn_about_ports(&config.plan)?;
    let summary_file = config
        .summary
        .as_deref()
        .map(SummaryFile::open)
        .transpose()?;
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let mut outlets =
        StdStreams::spawn().map_err(|e| Error::system("cannot start the output's writers", e))?;
    let mut live = Live {
        out: outlets.stdout(),
        lines: if config.plan.interval.is_zero() {
            Lines::Off
        } else if config.json {
            Lines::Json
        } else {
            Lines::Plain
        },
        bar: None,
        bar_shares_stdout: false,
        hdr: None,
        debug: config.debug.then(|| outlets.stderr()),
    };
    let (outcome, open) = Engine::new(config.plan.clone(), Some(&signals))?.run(&mut live)?;
    // As for `run`: the next signal ends the process, and the report follows the live lines.
    signals.let_next_kill();
    drop(live);
    let dropped = outlets.dropped();
    outlets.finish_stdout();
    let summary = Summary {
        target: &config.target.label(),
        outcome: &outcome,
        requested_rate: Some(config.rate),
        planned_hold: config.plan.hold_time(),
        verdicts: &[],
        probe: config.plan.served_by(),
        width: 80,
    };
    let spread = Spread {
        targets: &config.plan.targets,
        connections: config.plan.connections,
        reconnect: false,
        settled: None,
    };
    let mut ending = verdict::of_limit(&outcome, None);
    // The file first: whether it could be written is part of the verdict.
    let summary_failed = summary_file.and_then(|file| {
        let line = format!("{}\n", summary_json(&config, &outcome, dropped, &ending));
        file.write(line.as_bytes()).err()
    });
    if summary_failed.is_some() {
        ending = verdict::of_limit(&outcome, Some("the --summary could not be written"));
    }
    let mut out = io::stdout().lock();
    if config.json {
        let summary = summary_json(&config, &outcome, dropped, &ending);
        let written = writeln!(out, "{summary}").and_then(|()| out.flush());
        error::unless_reader_gone(written)
            .map_err(|e| Error::system("cannot write the report", e))?;
        drop(open);
        outlets.finish();
        return match summary_failed {
            Some(message) => Err(Error::System(message)),
            None => Ok(ending.status),
        };
    }
    let written = report::write_final(&mut out, &summary)
        .and_then(|()| report::write_spread_and_hold(&mut out, &outcome.stats, &spread))
        .and_then(|()| live::write_dropped(&mut out, dropped))
        .and_then(|()| report::write_limit(&mut out, &outcome))
        .and_then(|()| writeln!(out, "{}", ending.verdict))
        .and_then(|()| out.flush());
    error::unless_reader_gone(written).map_err(|e| Error::system("cannot write the report", e))?;
    // Closed only now that the report is out.
    drop(open);
    outlets.finish();
    match summary_failed {
        Some(message) => Err(Error::System(message)),
        None => Ok(ending.status),
    }
}

/// The JSON summary of a `limit` run, with what it found in `limit`: the same object for
/// `--json` and `--summary`.
fn summary_json(
    config: &LimitConfig,
    outcome: &Outcome,
    dropped: u64,
    ending: &verdict::Ending,
) -> schema::Summary {
    json::summary(&json::SummaryInput {
        host: &config.target.name,
        addr: config.plan.targets[0],
        targets: &config.plan.targets,
        label: &config.target.label(),
        options: options_json(config),
        outcome,
        requested_rate: Some(config.rate),
        verdicts: &[],
        probe: config.plan.probe.as_ref().map(|p| p.name.as_str()),
        live_lines_dropped: dropped,
        limit: Some(json::limit_finding(outcome)),
        verdict: &ending.verdict,
        exit_status: ending.status,
        shard: crate::engine::pacer::Shard::WHOLE,
        start_at: None,
        merged: None,
    })
}

/// The options of a `limit` run, for its JSON summary.
fn options_json(config: &LimitConfig) -> Options {
    let plan = &config.plan;
    let addresses = |list: &[std::net::SocketAddr]| list.iter().map(|a| a.to_string()).collect();
    Options::Limit(Box::new(LimitOptions {
        rate: Rate(config.rate),
        connections: plan.connections,
        dial_timeout_us: micros(plan.dial_timeout),
        interval_us: micros(plan.interval),
        hold_us: micros(plan.hold),
        settle_us: micros(plan.settle),
        dial_timeout: canonical(plan.dial_timeout),
        interval: canonical(plan.interval),
        hold: canonical(plan.hold),
        settle: canonical(plan.settle),
        probe: plan.probe.as_ref().map(|p| p.name.clone()),
        targets: addresses(&plan.targets),
        fallbacks: addresses(&plan.fallbacks),
        sources: plan.sources.iter().map(|a| a.to_string()).collect(),
    }))
}
