//! `tcpgoon limit`: open connections at a steady rate until the first one is lost (an
//! attempt fails, or the peer drops a held connection) or the maximum is open and has been
//! held, then say how many were held at that moment and why. The engine does the work with
//! `stop_at_first_loss`; this module sets it up and reports.

use std::io::{self, Write};

use crate::cli::LimitArgs;
use crate::cli::config::LimitConfig;
use crate::commands::warn_about_ports;
use crate::engine::Engine;
use crate::engine::limits;
use crate::engine::signal::SignalFd;
use crate::error::{self, Error};
use crate::report::exit;
use crate::report::live::{self, Lines, Live};
use crate::report::outlet::StdStreams;
use crate::report::{self, Finding, Spread, Summary};

pub fn run(args: LimitArgs) -> Result<u8, Error> {
    let config = LimitConfig::resolve(args)?;
    limits::fit_open_files(config.plan.connections)?;
    limits::reserve_descriptors(config.plan.connections);
    warn_about_ports(&config.plan)?;
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let mut outlets =
        StdStreams::spawn().map_err(|e| Error::system("cannot start the output's writers", e))?;
    let mut live = Live {
        out: outlets.stdout(),
        lines: if config.plan.interval.is_zero() {
            Lines::Off
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
    let mut out = io::stdout().lock();
    let written = report::write_final(&mut out, &summary)
        .and_then(|()| report::write_spread_and_hold(&mut out, &outcome.stats, &spread))
        .and_then(|()| live::write_dropped(&mut out, dropped))
        .and_then(|()| report::write_limit(&mut out, &outcome))
        .and_then(|()| out.flush());
    error::unless_reader_gone(written).map_err(|e| Error::system("cannot write the report", e))?;
    // Closed only now that the report is out.
    drop(open);
    outlets.finish();
    Ok(exit::of_finding(Finding::of(&outcome)))
}
