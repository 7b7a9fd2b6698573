//! The lines a sharded run (`--shard`, `--start-at`) and a merge (`tcpgoon merge`) add
//! after the final report: which part of the schedule a run made, how late it started
//! against `--start-at`, and what a merge merged. Pure writers over `impl Write`.

use std::io::{self, Write};
use std::time::SystemTime;

use crate::engine::Outcome;
use crate::engine::pacer::Shard;
use crate::report::json::{latency, micros};
use crate::report::schema::{self, Entries};
use crate::report::summary::Merged;
use crate::units::duration::go_style;
use crate::units::wallclock::rfc3339;

/// `Shard: 1/3, attempts 1, 4, 7, … of the schedule's 10 (4 here)` and `Start: …`, each
/// only when it applies.
pub fn write_schedule(
    w: &mut impl Write,
    shard: Shard,
    whole_connections: u64,
    start_at: Option<SystemTime>,
    outcome: &Outcome,
) -> io::Result<()> {
    if shard != Shard::WHOLE {
        let first: Vec<String> = (0..3)
            .map(|k| shard.index + k * shard.count)
            .filter(|a| *a < whole_connections)
            .map(|a| a.to_string())
            .collect();
        writeln!(
            w,
            "Shard: {}/{}, attempts {}, ... of the schedule's {} ({} here)",
            shard.index,
            shard.count,
            first.join(", "),
            whole_connections,
            shard.attempts(whole_connections)
        )?;
    }
    if let Some(at) = start_at {
        write!(w, "Start: at {} (--start-at); ", rfc3339(at))?;
        match outcome.first_attempt_lag {
            Some(lag) if shard.index == 0 => {
                writeln!(w, "the first attempt started {} late", go_style(lag))?
            }
            Some(lag) => writeln!(
                w,
                "the first attempt (attempt {}, due {} x sleep later) started {} late",
                shard.index,
                shard.index,
                go_style(lag)
            )?,
            None => writeln!(w, "no attempt was made")?,
        }
    }
    Ok(())
}

/// What a merge merged, and what its figures mean.
pub fn write_merged(w: &mut impl Write, merged: &Merged) -> io::Result<()> {
    write!(
        w,
        "Merged: {} of {} shards",
        merged.present.len(),
        merged.shards
    )?;
    if let Some(at) = &merged.first.start_at {
        write!(w, ", started at {at} (--start-at)")?;
    }
    match merged.start_skew {
        Some(skew) => writeln!(
            w,
            "; start skew {} (the shards' first attempts, each against its due time)",
            go_style(skew)
        )?,
        None => writeln!(w)?,
    }
    if merged.missing.count > 0 {
        writeln!(
            w,
            "Missing shards: {} of {} ({}); their {} attempts count as NotInitiated",
            merged.missing.count, merged.shards, merged.missing, merged.missing_attempts
        )?;
    }
    for (path, latency) in &merged.other_latencies {
        if latency.moments.count == 0 {
            continue;
        }
        let parts: Vec<String> = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)]
            .iter()
            .map(|(name, q)| format!("{name} {}", go_style(latency.quantile(*q))))
            .collect();
        writeln!(
            w,
            "Also merged, {path}: {} samples, {}, max {}",
            latency.moments.count,
            parts.join(", "),
            go_style(latency.moments.max())
        )?;
    }
    if merged.present.len() > 1 {
        writeln!(
            w,
            "Max concurrent established: the sum of the shards' maxima, an upper bound \
             (shards need not peak at once)"
        )?;
    }
    Ok(())
}

/// The JSON summary's `merged` object.
pub fn merged_json(merged: &Merged) -> schema::Merged {
    schema::Merged {
        shards: merged.shards,
        present: merged.present.clone(),
        missing_shards: merged.missing.count,
        missing_ranges: merged.missing.ranges.iter().map(|&(a, b)| [a, b]).collect(),
        missing_ranges_more: merged.missing.more_ranges,
        missing_attempts: merged.missing_attempts,
        start_skew_us: merged.start_skew.map(micros),
        max_concurrent_established: "upper bound: the sum of the shards' maxima".to_string(),
        other_latencies: Entries(
            merged
                .other_latencies
                .iter()
                .map(|(path, l)| (path.clone(), latency(l)))
                .collect(),
        ),
    }
}
