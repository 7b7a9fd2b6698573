//! `tcpgoon limit`: open connections at a steady rate until the first one is lost (an
//! attempt fails, or the peer drops a held connection) or the maximum is open and has been
//! held, then say how many were held at that moment and why. With `--max-latency beat:…`
//! it also finds the knee, the most held before beat latency first exceeded its bound, and
//! goes on past it to the first loss or the maximum: the report gives both, and which ended
//! the search. The engine does the work with `stop_at_first_loss` and its knee watch; this
//! module sets it up and reports. With `--json` the report is the JSON summary, with what
//! was found in its `limit` field.

use std::io::{self, Write};

use crate::cli::LimitArgs;
use crate::cli::config::LimitConfig;
use crate::commands::finish::{self, Outputs, Report};
use crate::engine::pacer::Shard;
use crate::engine::signal::SignalFd;
use crate::engine::{Engine, Outcome};
use crate::error::Error;
use crate::judge::verdict::{self, Ending};
use crate::report::json::{self, micros};
use crate::report::live::{self, Lines, Live};
use crate::report::schema::{self, LimitOptions, Options, Rate};
use crate::report::{self, Spread, Summary};
use crate::units::duration::canonical;

pub fn run(args: LimitArgs) -> Result<u8, Error> {
    let config = LimitConfig::resolve(args)?;
    let mut metrics = finish::bind_metrics(&config.metrics, &config.target, Shard::WHOLE)?;
    finish::check_limits(&config.plan)?;
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let outputs = Outputs::open(config.summary.as_deref(), config.json)?;
    let mut live = Live {
        out: outputs.streams.stdout(),
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
        debug: config.debug.then(|| outputs.streams.stderr()),
    };
    let mut engine = Engine::new(config.plan.clone(), Some(&signals))?;
    if let Some(metrics) = metrics.as_mut() {
        engine = engine.with_metrics(metrics)?;
    }
    let (outcome, open) = engine.run(&mut live)?;
    // As for `run`: the next signal ends the process, and the report follows the live lines.
    signals.let_next_kill();
    drop(live);
    let report = LimitReport {
        dropped: outputs.streams.dropped(),
        config: &config,
        outcome: &outcome,
    };
    let status = outputs.finish(&report, None, open);
    finish::after_report(
        metrics.as_mut(),
        &config.metrics,
        &config.target,
        Shard::WHOLE,
        &outcome.stats,
        status,
    )
}

/// `limit`'s report: the final lines and what was found, or the JSON summary with it.
struct LimitReport<'a> {
    config: &'a LimitConfig,
    outcome: &'a Outcome,
    dropped: u64,
}

impl Report for LimitReport<'_> {
    fn ending(&self, output_failed: Option<&str>) -> Ending {
        verdict::of_limit(self.outcome, output_failed)
    }

    fn summary(&self, ending: &Ending) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let summary = summary_json(self.config, self.outcome, self.dropped, ending);
        schema::write_line(&mut line, &summary).map(|()| line)
    }

    fn text(&self, mut out: &mut dyn Write, ending: &Ending) -> io::Result<()> {
        let (config, outcome) = (self.config, self.outcome);
        let summary = Summary {
            target: &config.target.label(),
            outcome,
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
        report::write_final(&mut out, &summary)?;
        report::write_spread_and_hold(&mut out, &outcome.stats, &spread)?;
        live::write_dropped(&mut out, self.dropped)?;
        report::write_limit(&mut out, outcome)?;
        report::write_knee(&mut out, outcome)?;
        report::write_knee_not_reached(&mut out, outcome, &config.plan.knee)?;
        writeln!(&mut out, "{}", ending.verdict)
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
