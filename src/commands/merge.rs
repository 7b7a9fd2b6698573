//! `tcpgoon merge`: read the `--json` output of a run's shards (files, or `-` for stdin;
//! opened by `input`, bounded by `report::read`), merge their summaries, judge the run's
//! thresholds on the merged run, and print the report the whole run would have printed,
//! with its exit status.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;

use super::input;
use crate::cli::MergeArgs;
use crate::error::{self, Error};
use crate::judge::thresholds::{self, Thresholds};
use crate::judge::verdict;
use crate::report::json;
use crate::report::read::Lines;
use crate::report::schema::RunOptions;
use crate::report::shards::{merged_json, write_merged};
use crate::report::summary::{self, ShardSummary};
use crate::report::{self, Spread, Summary, progress};

pub fn run(args: MergeArgs) -> Result<u8, Error> {
    let mut summaries = Vec::new();
    let mut stdin_read = false;
    for file in &args.files {
        if file == "-" {
            if stdin_read {
                return Err(Error::Usage("merge: - (stdin) given twice".to_string()));
            }
            stdin_read = true;
        }
        let name = if file == "-" { "stdin" } else { file.as_str() };
        let reader = input::open(file).map_err(|e| Error::Usage(format!("merge: {e}")))?;
        read_summaries(reader, name, &mut summaries)?;
    }
    let merged = summary::merge(summaries).map_err(|e| Error::Usage(format!("merge: {e}")))?;
    let thresholds = thresholds_of(&merged.first.run_options)?;
    let verdicts = thresholds.judge(&merged.outcome.stats);
    let ending = verdict::of_run(&merged.outcome, &verdicts, None);
    for missed in verdicts.iter().filter(|v| !v.passed) {
        error::say(format_args!(
            "threshold missed: {} (measured {})",
            missed.gate, missed.measured
        ));
    }
    let first = &merged.first;
    let mut out = io::stdout().lock();
    let written = if args.json {
        let summary = json::summary(&json::SummaryInput {
            host: &first.host,
            addr: first
                .targets
                .first()
                .copied()
                .unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
            targets: &first.targets,
            label: &first.label,
            // The run's options as the shards recorded them (they share them): carried
            // over whole, nested objects (`probe`, `tls`) and keys a later run adds
            // included, rather than rebuilt key by key.
            options: first.options.clone(),
            outcome: &merged.outcome,
            requested_rate: merged.requested_rate,
            verdicts: &verdicts,
            probe: first.probe.as_deref(),
            live_lines_dropped: 0,
            limit: None,
            verdict: &ending.verdict,
            exit_status: ending.status,
            shard: crate::engine::pacer::Shard::WHOLE,
            start_at: first
                .start_at
                .as_deref()
                .and_then(|t| crate::units::wallclock::parse_wall_time(t).ok()),
            merged: Some(merged_json(&merged)),
        });
        writeln!(out, "{summary}")
    } else {
        let width = if io::stdout().is_terminal() {
            progress::terminal_width(io::stdout().as_raw_fd())
        } else {
            80
        };
        let options = &first.run_options;
        let micros = std::time::Duration::from_micros;
        let (hold, settle) = (micros(options.hold_us), micros(options.settle_us));
        let planned_hold = if hold.is_zero() {
            hold
        } else {
            hold.max(settle)
        };
        let spread = Spread {
            targets: &first.targets,
            connections: first.connections,
            reconnect: options.reconnect,
            settled: merged.outcome.settled,
        };
        report::write_final(
            &mut out,
            &Summary {
                target: &first.label,
                outcome: &merged.outcome,
                requested_rate: merged.requested_rate,
                planned_hold,
                verdicts: &verdicts,
                probe: first.probe.as_deref(),
                width,
            },
        )
        .and_then(|()| report::write_spread_and_hold(&mut out, &merged.outcome.stats, &spread))
        .and_then(|()| write_merged(&mut out, &merged))
        .and_then(|()| writeln!(out, "{}", ending.verdict))
    };
    error::unless_reader_gone(written.and_then(|()| out.flush()))
        .map_err(|e| Error::system("cannot write the report", e))?;
    Ok(ending.status)
}

/// Every summary in `reader`, one JSON object a line; other lines (ticks) are skipped.
/// The lines are bounded as `read::Lines` bounds them.
fn read_summaries(
    reader: impl BufRead,
    name: &str,
    into: &mut Vec<ShardSummary>,
) -> Result<(), Error> {
    let usage = |e: String| Error::Usage(format!("merge: {e}"));
    for line in Lines::new(reader, name) {
        let (source, line) = line.map_err(usage)?;
        if let Some(summary) = summary::read_line(&line, &source).map_err(usage)? {
            into.push(summary);
        }
    }
    Ok(())
}

/// The run's gates, as its summary recorded them.
fn thresholds_of(options: &RunOptions) -> Result<Thresholds, Error> {
    let bad = |e: String| Error::Usage(format!("merge: the summary's thresholds: {e}"));
    let max_latency = options
        .max_latency
        .iter()
        .map(|gate| thresholds::parse_max_latency(gate))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let min_established = options
        .min_established
        .as_deref()
        .map(thresholds::parse_min_established)
        .transpose()
        .map_err(bad)?;
    Ok(Thresholds {
        max_latency,
        min_established,
    })
}
