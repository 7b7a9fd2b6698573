//! Reports: pure writers over `impl Write`, from a run's stats to text. The reference tool's
//! lines come first, byte for byte; what it lacks follows.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::engine::conn::{Closure, Failure};
use crate::engine::knee::{Knee, KneeGate};
use crate::engine::probe::ProbeOutcome;
use crate::engine::signal;
use crate::engine::stats::{
    BeatStats, Counts, Fallback, HoldSpan, Latency, LossCause, ProbeStats, SIGNIFICANT_FIGURES,
    Stats, StopCause, TlsStats,
};
use crate::engine::tls;
use crate::engine::{Outcome, Stop};
use crate::judge::thresholds::{self, Verdict};
use crate::judge::{End, Finding};
use crate::units::duration::{go_style, significant};

/// The percentiles the reports list: the text report's label, the JSON summary's key, and
/// the quantile.
pub const PERCENTILES: [(&str, &str, f64); 7] = [
    ("p50", "p50", 0.50),
    ("p75", "p75", 0.75),
    ("p90", "p90", 0.90),
    ("p95", "p95", 0.95),
    ("p99", "p99", 0.99),
    ("p99.9", "p99_9", 0.999),
    ("p99.99", "p99_99", 0.9999),
];

/// Rows in the latency histogram.
const HISTOGRAM_ROWS: u64 = 10;

/// `Total: 4, Dialing: 1, Established: 1, Closed: 0, Error: 0, NotInitiated: 2`
pub fn write_live_line(w: &mut impl Write, c: &Counts) -> io::Result<()> {
    writeln!(
        w,
        "Total: {}, Dialing: {}, Established: {}, Closed: {}, Error: {}, NotInitiated: {}",
        c.total, c.dialing, c.established, c.closed, c.error, c.not_initiated
    )
}

/// With heartbeats, after each live line: the interval's beat latency, then the
/// connections that stopped answering so far. Nothing without heartbeats, so the line
/// stays the reference tool's.
pub fn write_interval_beats(w: &mut impl Write, stats: &Stats) -> io::Result<()> {
    let Some(beats) = &stats.beats else {
        return Ok(());
    };
    let interval = &beats.interval;
    let (p50, p99) = if interval.is_empty() {
        ("-".to_string(), "-".to_string())
    } else {
        (
            go_style(significant(interval.quantile(0.5), 3)),
            go_style(significant(interval.quantile(0.99), 3)),
        )
    };
    writeln!(
        w,
        "Beats: p50 {p50}, p99 {p99} (this interval), {} answered, {} stopped answering",
        beats.answered,
        beats.stopped_total()
    )
}

/// What the final report is about.
pub struct Summary<'a> {
    /// `name(ip):port`.
    pub target: &'a str,
    pub outcome: &'a Outcome,
    pub requested_rate: Option<f64>,
    /// The hold asked for (`--hold`), to tell a hold cut short from one that ran its time.
    pub planned_hold: Duration,
    pub verdicts: &'a [Verdict],
    /// The probe's name, when the run probed its connections.
    pub probe: Option<&'a str>,
    /// Columns the histogram bars may fill.
    pub width: usize,
}

/// The final report: the reference tool's block, byte for byte and ending with its empty
/// line, then what it lacks.
pub fn write_final(w: &mut impl Write, s: &Summary) -> io::Result<()> {
    let stats = &s.outcome.stats;
    let counts = &stats.counts;
    writeln!(w, "--- {} tcp test statistics ---", s.target)?;
    write_live_line(w, counts)?;
    writeln!(w, "--- tcpgoon execution statistics ---")?;
    writeln!(
        w,
        "Total established connections: {}",
        counts.ever_established()
    )?;
    writeln!(
        w,
        "Max concurrent established connections: {}",
        stats.max_established
    )?;
    writeln!(
        w,
        "Number of established connections on closure: {}",
        counts.established
    )?;
    if stats.connect.moments.count > 0 {
        writeln!(
            w,
            "Response time stats for {} successful connections min/avg/max/dev = {}",
            stats.connect.moments.count,
            min_avg_max_dev(&stats.connect)
        )?;
    }
    if stats.time_to_error.moments.count > 0 {
        writeln!(
            w,
            "Time to error stats for {} failed connections min/avg/max/dev = {}",
            stats.time_to_error.moments.count,
            min_avg_max_dev(&stats.time_to_error)
        )?;
    }
    // The reference block ends with an empty line: the reference tool builds it as one
    // string ending in a newline and prints that with `fmt.Println`, which adds another.
    writeln!(w)?;
    if stats.connect.moments.count > 0 {
        writeln!(w, "Connect latency percentiles:")?;
        write_percentile_table(w, &stats.connect)?;
        writeln!(w, "Connect latency histogram (logarithmic rows):")?;
        write_histogram(w, &stats.connect, s.width)?;
    }
    if stats.handshake_rtt.moments.count > 0 {
        writeln!(
            w,
            "Handshake RTT (the kernel's): {}",
            percentiles(&stats.handshake_rtt)
        )?;
        writeln!(
            w,
            "Own delay (connect latency less the kernel's RTT): {}",
            percentiles(&stats.own_delay)
        )?;
        let n = stats.syn_retransmitted;
        writeln!(
            w,
            "SYN retransmissions: {n} connection{} needed one{}",
            if n == 1 { "" } else { "s" },
            if n > 0 {
                " (the server's SYN or accept queue was full)"
            } else {
                ""
            }
        )?;
    }
    if stats.time_to_error.moments.count > 0 {
        writeln!(w, "Time to error percentiles:")?;
        write_percentile_table(w, &stats.time_to_error)?;
    }
    // The causes that happened; the JSON summary keeps every key, zeros included.
    let failures: Vec<String> = Failure::ALL
        .iter()
        .filter(|f| stats.failures_of(**f) > 0)
        .map(|f| format!("{} {}", f.label(), stats.failures_of(*f)))
        .collect();
    writeln!(
        w,
        "Errors by cause: {}",
        if failures.is_empty() {
            "none".to_string()
        } else {
            failures.join(", ")
        }
    )?;
    if let Some(tls) = &stats.tls {
        write_tls(w, stats, tls)?;
    }
    let closures: Vec<String> = Closure::ALL
        .iter()
        .map(|c| format!("{} {}", c.label(), stats.closures_of(*c)))
        .collect();
    writeln!(w, "Closed by cause: {}", closures.join(", "))?;
    if let (Some(probe), Some(name)) = (&stats.probe, s.probe) {
        write_probe(w, name, probe)?;
    }
    if let Some(beats) = &stats.beats {
        write_beats(w, beats)?;
    }
    writeln!(w, "Bytes received: {}", stats.bytes_received)?;
    let made = counts.total - counts.not_initiated;
    writeln!(
        w,
        "Attempt rate: {} achieved, {} requested ({} attempts in {})",
        rate_text(achieved_rate(made, s.outcome.dial_span)),
        s.requested_rate
            .map_or_else(|| "unlimited".to_string(), |r| rate_text(Some(r))),
        made,
        go_style(s.outcome.dial_span)
    )?;
    if !stats.schedule_lag.histogram.is_empty() {
        writeln!(
            w,
            "Start lag behind schedule: {}",
            percentiles(&stats.schedule_lag)
        )?;
    }
    writeln!(w, "Wall time: {}", go_style(s.outcome.wall))?;
    for verdict in s.verdicts {
        writeln!(
            w,
            "Threshold {}: {} (measured {})",
            verdict.gate,
            if verdict.passed { "passed" } else { "FAILED" },
            verdict.measured
        )?;
    }
    match s.outcome.stop {
        None => {}
        Some(Stop::Interrupted(sig)) => {
            writeln!(
                w,
                "{}",
                interruption(signal::name(sig), counts, stats.hold, s.planned_hold)
            )?;
        }
        Some(Stop::LocalLimit(cause)) => writeln!(
            w,
            "Run stopped by a local limit: {} ({})",
            cause.label(),
            local_limit_hint(cause)
        )?,
    }
    Ok(())
}

/// What a signal cut short. Before a hold, it stopped dialing only if attempts were still to
/// be made; once every attempt is made, the run waits for those still dialing. A hold
/// begins only once every attempt has an outcome, so a run that began one was not
/// interrupted while dialing; after a hold that ran its time, the run waits only for
/// replacements (`--reconnect`) still dialing.
fn interruption(
    signal: &str,
    counts: &Counts,
    hold: Option<HoldSpan>,
    planned: Duration,
) -> String {
    let made = counts.total - counts.not_initiated;
    let still_dialing = match counts.dialing {
        0 => String::new(),
        1 => "; 1 was still dialing".to_string(),
        n => format!("; {n} were still dialing"),
    };
    match hold {
        None if made < counts.total => format!(
            "Run interrupted by {signal}: dialing stopped early, after {made} of {} \
             attempts{still_dialing}",
            counts.total
        ),
        None => format!("Run interrupted by {signal} after every attempt was made{still_dialing}"),
        Some(hold) if hold.duration < planned => format!(
            "Run interrupted by {signal} during the hold: every attempt was made, and the hold \
             was cut short after {} of {}",
            go_style(hold.duration),
            go_style(planned)
        ),
        Some(hold) => format!(
            "Run interrupted by {signal} after the {} hold, while replacements were still dialing",
            go_style(hold.duration)
        ),
    }
}

fn min_avg_max_dev(latency: &Latency) -> String {
    let m = &latency.moments;
    format!(
        "{}/{}/{}/{}",
        go_style(m.min()),
        go_style(m.mean()),
        go_style(m.max()),
        go_style(m.stddev())
    )
}

fn percentiles(latency: &Latency) -> String {
    let mut parts: Vec<String> = PERCENTILES
        .iter()
        .filter(|(name, _, _)| ["p50", "p90", "p99", "p99.9"].contains(name))
        .map(|(name, _, q)| format!("{name} {}", percentile_text(latency, *q)))
        .collect();
    parts.push(format!("max {}", go_style(latency.moments.max())));
    parts.join(", ")
}

/// The handshakes: their time, what was negotiated, and how they failed, with what to do
/// about a certificate rejected.
fn write_tls(w: &mut impl Write, stats: &Stats, tls: &TlsStats) -> io::Result<()> {
    // The causes are on the `Errors by cause:` line; here, what each failure said.
    if !tls.failures.is_empty() {
        writeln!(w, "TLS failures:")?;
    }
    for (detail, n) in &tls.failures {
        writeln!(w, "  {detail}: {n}")?;
    }
    if stats.failures_of(Failure::CertificateRejected) > 0 {
        // One line per distinct remedy, in the order the failures were first seen.
        let mut hints: Vec<&str> = Vec::new();
        for (detail, _) in tls
            .failures
            .iter()
            .filter(|(d, _)| d.starts_with("certificate: "))
        {
            let hint = tls::certificate_hint(detail);
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        for hint in hints {
            writeln!(w, "Certificates rejected: {hint}")?;
        }
    }
    write_latency(
        w,
        "TLS handshake",
        "handshakes (TCP established to handshake done)",
        &tls.handshake,
    )?;
    for (negotiated, n) in &tls.negotiated {
        writeln!(w, "Negotiated {negotiated}: {n}")?;
    }
    Ok(())
}

/// `Probe (redis): served 40, rejected 0, unserved 20, closed before answering 0`, with the
/// connections still awaiting an answer when there are any, then time to served.
fn write_probe(w: &mut impl Write, name: &str, probe: &ProbeStats) -> io::Result<()> {
    let outcomes: Vec<String> = ProbeOutcome::ALL
        .iter()
        .map(|o| format!("{} {}", o.label(), probe.of(*o)))
        .collect();
    if name == "tls" {
        // Served is the handshake done: nothing is asked, so nothing can be refused.
        write!(
            w,
            "Served (TLS handshake done): {}",
            probe.of(ProbeOutcome::Served)
        )?;
    } else {
        write!(w, "Probe ({name}): {}", outcomes.join(", "))?;
    }
    if probe.awaiting > 0 {
        write!(w, ", awaiting an answer {}", probe.awaiting)?;
    }
    writeln!(w)?;
    if !probe.rejected_statuses.is_empty() {
        let statuses: Vec<String> = (probe.rejected_statuses.iter())
            .map(|(status, n)| format!("{status} ×{n}"))
            .collect();
        writeln!(w, "HTTP statuses rejected: {}", statuses.join(", "))?;
    }
    if !probe.events.is_empty() {
        let events: Vec<String> = (probe.events.iter())
            .map(|(what, n)| format!("{what} ×{n}"))
            .collect();
        writeln!(w, "Protocol events: {}", events.join(", "))?;
    }
    write_latency(
        w,
        "Time to served",
        "served connections",
        &probe.time_to_served,
    )
}

/// `<what> stats for N <counted> min/avg/max/dev = …` and its percentile table, when
/// anything was measured.
fn write_latency(
    w: &mut impl Write,
    what: &str,
    counted: &str,
    latency: &Latency,
) -> io::Result<()> {
    if latency.moments.count == 0 {
        return Ok(());
    }
    writeln!(
        w,
        "{what} stats for {} {counted} min/avg/max/dev = {}",
        latency.moments.count,
        min_avg_max_dev(latency)
    )?;
    writeln!(w, "{what} percentiles:")?;
    write_percentile_table(w, latency)
}

/// `Heartbeats: due 600, sent 600, answered 590, late 4, stopped answering 10 (no answer in
/// time 10, wrong answer 0, closed with a beat out 0), first at 1.52s`, then beat latency,
/// from each beat's due time to its answer.
fn write_beats(w: &mut impl Write, beats: &BeatStats) -> io::Result<()> {
    let causes: Vec<String> = StopCause::ALL
        .iter()
        .map(|c| format!("{} {}", c.label(), beats.stopped[c.index()]))
        .collect();
    write!(
        w,
        "Heartbeats: due {}, sent {}, answered {}, late {}, stopped answering {} ({})",
        beats.due,
        beats.sent,
        beats.answered,
        beats.late,
        beats.stopped_total(),
        causes.join(", ")
    )?;
    if let Some(first) = beats.first_stop {
        write!(w, ", first at {}", go_style(first))?;
    }
    writeln!(w)?;
    // Latency from each beat's due time to its answer.
    write_latency(w, "Beat latency", "answered beats", &beats.latency)
}

/// A percentile as the histogram knows it: to its significant figures, no more. The value
/// is HDR's for the ceiling rank (the sample at rank ⌈q × count⌉), clamped to the exact
/// minimum and maximum, then rounded. The exact max is a measurement and prints whole.
fn percentile_text(latency: &Latency, quantile: f64) -> String {
    go_style(significant(
        latency.quantile(quantile),
        u32::from(SIGNIFICANT_FIGURES),
    ))
}

fn write_percentile_table(w: &mut impl Write, latency: &Latency) -> io::Result<()> {
    for (name, _, q) in PERCENTILES {
        writeln!(w, "  {name:<7} {}", percentile_text(latency, q))?;
    }
    writeln!(w, "  {:<7} {}", "max", go_style(latency.moments.max()))
}

/// Counts per row between the exact minimum and maximum, in microseconds, each row's
/// lower bound a constant factor above the one before (a logarithmic scale): a tail a
/// thousand times the median gets rows of its own instead of leaving every other sample
/// in the first. Fewer rows when the range holds fewer microseconds than rows.
pub fn histogram_rows(latency: &Latency) -> Vec<(Duration, u64)> {
    let min = (latency.moments.min().as_micros() as u64).max(1);
    let max = (latency.moments.max().as_micros() as u64).max(min);
    let edges = log_edges(min, max, HISTOGRAM_ROWS);
    let rows = edges.len() - 1;
    let mut counts = vec![0u64; rows];
    for item in latency.histogram.inner().iter_recorded() {
        let value = item.value_iterated_to().clamp(min, max);
        // The last edge is past `max`: some row starts at or below `value`.
        let row = edges.partition_point(|&e| e <= value) - 1;
        counts[row.min(rows - 1)] += item.count_at_value();
    }
    counts
        .into_iter()
        .zip(&edges)
        .map(|(n, from)| (Duration::from_micros(*from), n))
        .collect()
}

/// `rows + 1` strictly increasing edges from `min` to `max + 1`, spaced by a constant
/// ratio, rounded to whole microseconds (fewer when `max + 1 - min` is smaller than `rows`).
fn log_edges(min: u64, max: u64, rows: u64) -> Vec<u64> {
    let end = max + 1;
    let rows = rows.min(end - min) as usize;
    let ratio = end as f64 / min as f64;
    let mut edges: Vec<u64> = (0..=rows)
        .map(|i| (min as f64 * ratio.powf(i as f64 / rows as f64)).round() as u64)
        .collect();
    edges[0] = min;
    edges[rows] = end;
    // Rounding may make two edges equal: space them a microsecond apart, from both ends.
    for i in 1..rows {
        edges[i] = edges[i].max(edges[i - 1] + 1);
    }
    for i in (1..rows).rev() {
        edges[i] = edges[i].min(edges[i + 1] - 1);
    }
    edges
}

/// A horizontal bar per row, labelled with the row's lower bound, scaled to `width`.
fn write_histogram(w: &mut impl Write, latency: &Latency, width: usize) -> io::Result<()> {
    let rows = histogram_rows(latency);
    let labels: Vec<String> = rows.iter().map(|(from, _)| go_style(*from)).collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let most = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let count_width = most.to_string().len();
    let bar_space = width.saturating_sub(label_width + count_width + 6).max(10);
    for ((_, n), label) in rows.iter().zip(&labels) {
        let bar = (*n as u128 * bar_space as u128 / most as u128) as usize;
        let bar = if *n > 0 { bar.max(1) } else { 0 };
        let bar = if bar > 0 {
            format!(" {}", "#".repeat(bar))
        } else {
            String::new()
        };
        writeln!(w, "  {label:>label_width$} | {n:>count_width$}{bar}")?;
    }
    Ok(())
}

/// Attempts per second over the span from the first attempt to the last.
pub fn achieved_rate(made: u64, span: Duration) -> Option<f64> {
    (made >= 2 && !span.is_zero()).then(|| (made - 1) as f64 / span.as_secs_f64())
}

fn rate_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r >= 100.0 => format!("{r:.0}/s"),
        Some(r) => format!("{r:.2}/s"),
        None => "n/a".to_string(),
    }
}

/// What to do about a local limit.
pub fn local_limit_hint(cause: Failure) -> &'static str {
    match cause {
        Failure::NoLocalPort => {
            "the ephemeral ports toward this target are used up: spread the connections over \
             more source addresses with --source, widen net.ipv4.ip_local_port_range, or let \
             TIME_WAIT sockets expire"
        }
        Failure::NoFileDescriptors => {
            "the process or system ran out of file descriptors: raise `ulimit -n` or fs.file-max"
        }
        _ => "the kernel ran out of socket memory: see net.ipv4.tcp_mem and net.core.*mem*",
    }
}

/// What a run spread its attempts over, beyond what the final report already says.
pub struct Spread<'a> {
    /// The addresses attempts went to, in turn.
    pub targets: &'a [SocketAddr],
    /// The connections asked for, before reconnects.
    pub connections: u64,
    pub reconnect: bool,
    /// How long the run settled, when it did.
    pub settled: Option<Duration>,
}

/// Lines after the final report for `--reconnect`, `--hold`, attempts that fell back to a
/// name's other addresses, and several target addresses; nothing when none of them applies.
pub fn write_spread_and_hold(w: &mut impl Write, stats: &Stats, s: &Spread) -> io::Result<()> {
    if s.reconnect {
        writeln!(
            w,
            "Reconnects: {} (Total {} = {} connections + {} reconnects)",
            stats.reconnects, stats.counts.total, s.connections, stats.reconnects
        )?;
    }
    if let Some(hold) = stats.hold {
        writeln!(
            w,
            "Hold: {}, established during the hold min/max = {}/{}",
            go_style(hold.duration),
            hold.min_established,
            hold.max_established
        )?;
    }
    // A settle with nothing open ends at once: nothing to say.
    if let Some(settled) = s.settled.filter(|d| !d.is_zero()) {
        writeln!(
            w,
            "Settled: {} after the last outcome, reading, before the verdict (--settle)",
            go_style(settled)
        )?;
    }
    for fallback in &stats.fallbacks {
        writeln!(w, "Fallbacks: {}", fallback_text(fallback))?;
    }
    if stats.by_target.len() > 1 {
        writeln!(w, "By target address:")?;
        for (addr, counts) in s.targets.iter().zip(&stats.by_target) {
            write!(w, "  {addr}  ")?;
            write_live_line(w, counts)?;
        }
    }
    Ok(())
}

/// `10 connections were refused by [::1]:80 and made to 127.0.0.1:80`, or for attempts no
/// address took, `3 attempts were refused by [::1]:80, and no other address took them`.
fn fallback_text(f: &Fallback) -> String {
    let how = match f.cause {
        Failure::Refused => "refused by",
        Failure::Reset => "reset by",
        Failure::Unreachable => "unreachable at",
        _ => "failed at",
    };
    match f.to {
        Some(to) => format!(
            "{} connection{} {how} {} and made to {to}",
            f.count,
            if f.count == 1 { " was" } else { "s were" },
            f.from
        ),
        None => format!(
            "{} attempt{} {how} {}, and no other address took {}",
            f.count,
            if f.count == 1 { " was" } else { "s were" },
            f.from,
            if f.count == 1 { "it" } else { "them" }
        ),
    }
}

/// The finding line of `tcpgoon limit`: how many connections were still held once the first
/// loss had settled, and why it was lost; or that none was lost. With a knee, this is what
/// the search went on to, and [`write_knee`] follows.
pub fn write_limit(w: &mut impl Write, outcome: &Outcome) -> io::Result<()> {
    let stats = &outcome.stats;
    let ended = Finding::ended(outcome);
    if let (Finding::Interrupted(signal), None) = (ended, stats.first_loss) {
        return writeln!(
            w,
            "Search interrupted by {} with {} concurrent connections held and none lost",
            signal::name(signal),
            stats.counts.established
        );
    }
    let outcome_line = match stats.first_loss {
        Some(loss) => {
            let how = match loss.cause {
                LossCause::Failed(_) => "an attempt failed",
                LossCause::Dropped(_) => "the peer dropped a held connection",
                LossCause::NotServed(_) => "a connection was not served",
                LossCause::StoppedAnswering(_) => "a connection stopped answering heartbeats",
            };
            let after = format!(
                "after {} attempt{} in {}",
                loss.attempts,
                if loss.attempts == 1 { "" } else { "s" },
                go_style(loss.after)
            );
            let when = format!("when {how} ({}), {after}", loss.cause.label());
            let held = stats.held();
            // What the count after the settle stands on, when it differs from the moment.
            let settled = match outcome.settled {
                Some(settled) if held != loss.held => format!(
                    "; counted after a {} settle ({} were open when the loss was seen)",
                    go_style(settled),
                    loss.held
                ),
                Some(settled) => format!("; counted after a {} settle", go_style(settled)),
                None => String::new(),
            };
            match loss.cause {
                LossCause::Failed(cause) if cause.is_local_limit() => format!(
                    "No server limit found: this machine's limit came first, with {} concurrent \
                     connections held {when}: {}",
                    loss.held,
                    local_limit_hint(cause)
                ),
                LossCause::Failed(_) if ended == Finding::NoConnection => {
                    format!(
                        "No connection could be made, so there is no limit to measure: an \
                         attempt failed ({}) before any was established, {after}",
                        loss.cause.label(),
                    )
                }
                LossCause::Dropped(_) if ended == Finding::NoConnection => {
                    let none_held = match outcome.settled {
                        Some(settled) if loss.held > 0 => format!(
                            "every one established ({}): none was still held after a {} \
                             settle",
                            loss.cause.label(),
                            go_style(settled)
                        ),
                        _ => format!(
                            "the first one established ({}) with none other held",
                            loss.cause.label()
                        ),
                    };
                    format!(
                        "No connection stayed open, so there is no limit to measure: the peer \
                         dropped {none_held}, {after}"
                    )
                }
                LossCause::Dropped(_) if ended == Finding::Evicted => {
                    let dropped = loss.dropped.expect("an eviction is a drop");
                    format!(
                        "No capacity limit found: the server dropped a connection it had held \
                         for {}{}: an idle timeout or an eviction, not a refusal of new \
                         connections. Held when it was dropped: {}; still held after the \
                         settle: {held} ({after})",
                        go_style(dropped.open_for),
                        if dropped.oldest { ", the oldest" } else { "" },
                        loss.held,
                    )
                }
                LossCause::NotServed(_) if ended == Finding::NoConnection => {
                    format!(
                        "No connection was served, so there is no limit to measure: the first \
                         one established was {}, {after}",
                        loss.cause.label()
                    )
                }
                _ => format!(
                    "Limit: {held} concurrent connections {} {when}{settled}",
                    if stats.probe.is_some() {
                        "served and held"
                    } else {
                        "held"
                    }
                ),
            }
        }
        None => match stats.hold {
            Some(hold) => format!(
                "No limit found: {} connections established and held for {}",
                hold.min_established,
                go_style(hold.duration)
            ),
            None => format!(
                "No limit found: {} connections established",
                stats.counts.established
            ),
        },
    };
    writeln!(w, "{outcome_line}")
}

/// With a knee, the line that says it: where beat latency first exceeded its bound, and
/// what the search went on to, which ended it.
pub fn write_knee(w: &mut impl Write, outcome: &Outcome) -> io::Result<()> {
    let Some(knee) = &outcome.stats.knee else {
        return Ok(());
    };
    writeln!(
        w,
        "Knee: {} concurrent connections held with beat latency {}; at {} it was {}, {} in, \
         and stayed above for two periods; the search went on until {}",
        knee.held,
        knee_bound(knee),
        knee.above,
        knee_measured(knee),
        go_style(knee.at),
        End::of(outcome).phrase(),
    )
}

/// `p99 within 50ms`.
pub fn knee_bound(knee: &Knee) -> String {
    format!(
        "{} within {}",
        statistic_of(&knee.gate.name),
        go_style(knee.gate.bound)
    )
}

/// The statistic over the window that exceeded the bound: `52.3ms`, or `above 50ms` when
/// its slow beats were not answered by the end.
pub fn knee_measured(knee: &Knee) -> String {
    match knee.measured {
        Some(measured) => thresholds::shown(measured, knee.gate.bound),
        None => format!("above {}", go_style(knee.gate.bound)),
    }
}

/// `p99` of `beat:p99`.
fn statistic_of(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// With beat latency bounds that were never exceeded, a line saying so: the search ended
/// otherwise (a loss, the maximum, a stop), and the beats kept within them until then.
pub fn write_knee_not_reached(
    w: &mut impl Write,
    outcome: &Outcome,
    gates: &[KneeGate],
) -> io::Result<()> {
    if gates.is_empty() || outcome.stats.knee.is_some() {
        return Ok(());
    }
    let bounds: Vec<String> = gates
        .iter()
        .map(|g| format!("{} {}", statistic_of(&g.name), go_style(g.bound)))
        .collect();
    writeln!(
        w,
        "No knee: beat latency stayed within its bound ({}) until {}",
        bounds.join(", "),
        End::of(outcome).phrase()
    )
}

/// What a writer writes, as text: for the tests of `write_*` functions, here and in server.
#[cfg(test)]
pub(crate) fn written(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::{Loss, Stats};
    use crate::report::written as text;

    #[test]
    fn an_interruption_says_what_it_cut_short() {
        let hold = |millis| {
            Some(HoldSpan {
                min_established: 5,
                max_established: 5,
                duration: Duration::from_millis(millis),
            })
        };
        let planned = Duration::from_secs(5);
        let counts = |not_initiated, dialing| Counts {
            total: 5,
            not_initiated,
            dialing,
            established: 5 - not_initiated - dialing,
            ..Counts::default()
        };
        assert_eq!(
            interruption("SIGINT", &counts(3, 1), None, Duration::ZERO),
            "Run interrupted by SIGINT: dialing stopped early, after 2 of 5 attempts; 1 was \
             still dialing"
        );
        assert_eq!(
            interruption("SIGINT", &counts(5, 0), None, Duration::ZERO),
            "Run interrupted by SIGINT: dialing stopped early, after 0 of 5 attempts"
        );
        // Every attempt made: nothing was left to dial, whatever was still dialing.
        assert_eq!(
            interruption("SIGINT", &counts(0, 4), None, Duration::ZERO),
            "Run interrupted by SIGINT after every attempt was made; 4 were still dialing"
        );
        assert_eq!(
            interruption("SIGTERM", &counts(0, 0), None, Duration::ZERO),
            "Run interrupted by SIGTERM after every attempt was made"
        );
        assert_eq!(
            interruption("SIGINT", &counts(0, 0), hold(1200), planned),
            "Run interrupted by SIGINT during the hold: every attempt was made, and the hold \
             was cut short after 1.2s of 5s"
        );
        assert_eq!(
            interruption("SIGTERM", &counts(0, 1), hold(5001), planned),
            "Run interrupted by SIGTERM after the 5.001s hold, while replacements were still \
             dialing"
        );
    }

    #[test]
    fn histogram_rows_cover_min_to_max_and_every_sample() {
        let mut latency = Latency::default();
        for micros in [100, 100, 150, 199, 1000, 1100] {
            latency.record(Duration::from_micros(micros));
        }
        let rows = histogram_rows(&latency);
        assert_eq!(rows.len(), 10);
        // Edges 100 × 11.01^(i/10): 100, 127, 162, 205, …, 866, then 1101 past the max.
        assert_eq!(rows[0], (Duration::from_micros(100), 2));
        assert_eq!(rows[1], (Duration::from_micros(127), 1));
        assert_eq!(rows[2], (Duration::from_micros(162), 1));
        assert_eq!(rows[9], (Duration::from_micros(866), 2));
        assert_eq!(rows.iter().map(|(_, n)| n).sum::<u64>(), 6);
        let mut single = Latency::default();
        single.record(Duration::from_micros(7));
        assert_eq!(histogram_rows(&single), vec![(Duration::from_micros(7), 1)]);
        // Three microseconds of range: three rows, one each.
        let mut narrow = Latency::default();
        for micros in [7, 8, 9] {
            narrow.record(Duration::from_micros(micros));
        }
        let micros = |rows: Vec<(Duration, u64)>| -> Vec<(u128, u64)> {
            rows.into_iter().map(|(d, n)| (d.as_micros(), n)).collect()
        };
        assert_eq!(micros(histogram_rows(&narrow)), [(7, 1), (8, 1), (9, 1)]);
    }

    #[test]
    fn a_long_tail_leaves_the_bulk_spread_over_rows_of_its_own() {
        // The shape: 2956 of 3000 between 50 and 150µs, 44 between 1 and 5ms. On a
        // linear scale all 2956 fell in the first row.
        let mut latency = Latency::default();
        for i in 0..2956u64 {
            latency.record(Duration::from_micros(50 + i % 101));
        }
        for i in 0..44u64 {
            latency.record(Duration::from_micros(1000 + i * 90));
        }
        let rows = histogram_rows(&latency);
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.iter().map(|(_, n)| n).sum::<u64>(), 3000);
        let biggest = rows.iter().map(|(_, n)| *n).max().unwrap();
        assert!(biggest < 1500, "{rows:?}");
        assert!(rows.iter().filter(|(_, n)| *n > 0).count() >= 5, "{rows:?}");
        // Each row starts the same factor after the one before, to the microsecond.
        let ratio = (5011.0f64 / 50.0).powf(0.1);
        for pair in rows.windows(2) {
            let (a, b) = (pair[0].0.as_micros() as f64, pair[1].0.as_micros() as f64);
            assert!((b / a - ratio).abs() < 0.02, "{rows:?}");
        }
    }

    #[test]
    fn percentiles_print_the_histogram_s_digits_and_take_the_ceiling_rank() {
        let mut latency = Latency::default();
        // Seven samples: p75 is rank ⌈0.75 × 7⌉ = 6 (rounding to the nearest, as the hdrh
        // Python implementation does, gives rank 5).
        for micros in [1, 2, 3, 4, 5, 6, 7] {
            latency.record(Duration::from_micros(micros));
        }
        assert_eq!(percentile_text(&latency, 0.75), "6µs");
        let mut slow = Latency::default();
        for micros in [300_018, 300_071, 300_275] {
            slow.record(Duration::from_micros(micros));
        }
        assert_eq!(percentile_text(&slow, 0.5), "300ms");
        assert_eq!(percentile_text(&slow, 0.99), "300ms");
    }

    #[test]
    fn fallbacks_say_where_attempts_went() {
        let (v6, v4) = ("[::1]:80".parse().unwrap(), "127.0.0.1:80".parse().unwrap());
        let mut stats = Stats::new(14);
        for _ in 0..10 {
            stats.fell_back(v6, Failure::Refused, Some(v4));
        }
        stats.fell_back(v6, Failure::Unreachable, Some(v4));
        for _ in 0..3 {
            stats.fell_back(v6, Failure::Refused, None);
        }
        let spread = Spread {
            targets: &[v6],
            connections: 14,
            reconnect: false,
            settled: None,
        };
        assert_eq!(
            text(|w| write_spread_and_hold(w, &stats, &spread)),
            "Fallbacks: 10 connections were refused by [::1]:80 and made to 127.0.0.1:80\n\
             Fallbacks: 1 connection was unreachable at [::1]:80 and made to 127.0.0.1:80\n\
             Fallbacks: 3 attempts were refused by [::1]:80, and no other address took them\n"
        );
    }

    #[test]
    fn live_line_is_the_reference_format() {
        let counts = Counts {
            total: 4,
            not_initiated: 2,
            dialing: 1,
            established: 1,
            closed: 0,
            error: 0,
        };
        assert_eq!(
            text(|w| write_live_line(w, &counts)),
            "Total: 4, Dialing: 1, Established: 1, Closed: 0, Error: 0, NotInitiated: 2\n"
        );
    }

    #[test]
    fn final_report_keeps_the_reference_lines() {
        let mut stats = Stats::new(4);
        for micros in [49_892, 50_000, 50_188, 50_740] {
            stats.dialing(0);
            stats.established(0, Duration::from_micros(micros));
        }
        let outcome = Outcome {
            stats,
            stop: None,
            wall: Duration::from_millis(3000),
            dial_span: Duration::from_millis(2997),
            settled: None,
            settle: Duration::ZERO,
            origin: std::time::SystemTime::UNIX_EPOCH,
            first_attempt_lag: None,
        };
        let report = text(|w| {
            write_final(
                w,
                &Summary {
                    target: "example.host(10.0.0.7):80",
                    outcome: &outcome,
                    requested_rate: Some(1.0 / 0.999),
                    planned_hold: Duration::ZERO,
                    verdicts: &[],
                    probe: None,
                    width: 80,
                },
            )
        });
        // The reference block, byte for byte: cmdutil/userOutput.go's printClosureReport
        // prints the header, the counts (`ReportConnectionsStatus(gc, 0)`), then
        // `fmt.Println(...CliReport())`, whose string (mtcpclient/reporting.go) ends in a
        // newline of its own: an empty line closes the block.
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(
            lines[..8],
            [
                "--- example.host(10.0.0.7):80 tcp test statistics ---",
                "Total: 4, Dialing: 0, Established: 4, Closed: 0, Error: 0, NotInitiated: 0",
                "--- tcpgoon execution statistics ---",
                "Total established connections: 4",
                "Max concurrent established connections: 4",
                "Number of established connections on closure: 4",
                "Response time stats for 4 successful connections min/avg/max/dev = 49.892ms/50.205ms/50.74ms/326µs",
                "",
            ]
        );
        assert_eq!(lines[8], "Connect latency percentiles:");
        assert!(!report.contains("Time to error stats"));
        // Percentiles to the histogram's 3 significant digits (50.015ms, 50.207ms before);
        // the max is exact.
        assert!(
            report.contains("Connect latency percentiles:\n  p50     50ms\n  p75     50.2ms\n"),
            "{report}"
        );
        assert!(
            report.contains("  p99.99  50.7ms\n  max     50.74ms\n"),
            "{report}"
        );
        // Rows 49.892ms × 1.0017^i: the lower bounds of a logarithmic scale.
        assert!(
            report.contains("Connect latency histogram (logarithmic rows):\n  49.892ms | 1 #"),
            "{report}"
        );
        assert!(report.contains("\n  49.976ms | 1 #"), "{report}");
        assert!(report.contains("\n  50.061ms | 0\n"), "{report}");
        assert!(!report.contains("Threshold"));
        assert!(report.contains("\nErrors by cause: none\n"), "{report}");
        assert!(
            report
                .contains("Attempt rate: 1.00/s achieved, 1.00/s requested (4 attempts in 2.997s)"),
            "{report}"
        );
    }

    /// A `limit` outcome: `held` open at the end, the first loss a drop of a connection open
    /// for `open_for` (the oldest) with `at_loss` open then, after a 200 ms settle.
    fn limit_outcome(held: u64, at_loss: u64, open_for: Duration) -> Outcome {
        let mut stats = Stats::new(500);
        for _ in 0..held {
            stats.dialing(0);
            stats.established(0, Duration::from_micros(100));
        }
        stats.first_loss = Some(Loss {
            cause: LossCause::Dropped(Closure::PeerClosed),
            held: at_loss,
            attempts: at_loss + 1,
            after: Duration::from_secs(2),
            dropped: Some(crate::engine::stats::Dropped {
                open_for,
                oldest: true,
            }),
        });
        Outcome {
            stats,
            stop: None,
            wall: Duration::from_secs(2),
            dial_span: Duration::from_secs(2),
            settled: Some(Duration::from_millis(200)),
            settle: Duration::from_millis(200),
            origin: std::time::SystemTime::UNIX_EPOCH,
            first_attempt_lag: None,
        }
    }

    #[test]
    fn the_limit_is_what_was_held_after_the_settle() {
        let outcome = limit_outcome(50, 255, Duration::from_millis(3));
        assert_eq!(Finding::of(&outcome), Finding::Found);
        assert_eq!(
            text(|w| write_limit(w, &outcome)),
            "Limit: 50 concurrent connections held when the peer dropped a held connection \
             (closed by peer), after 256 attempts in 2s; counted after a 200ms settle (255 \
             were open when the loss was seen)\n"
        );
    }

    #[test]
    fn a_drop_of_the_oldest_long_after_the_settle_is_an_eviction() {
        let outcome = limit_outcome(80, 100, Duration::from_secs(2));
        assert_eq!(Finding::of(&outcome), Finding::Evicted);
        assert_eq!(
            text(|w| write_limit(w, &outcome)),
            "No capacity limit found: the server dropped a connection it had held for 2s, the \
             oldest: an idle timeout or an eviction, not a refusal of new connections. Held \
             when it was dropped: 100; still held after the settle: 80 (after 101 attempts in \
             2s)\n"
        );
        // Without a settle there is nothing to tell a refusal by: it is the limit.
        let mut unsettled = limit_outcome(80, 100, Duration::from_secs(2));
        unsettled.settle = Duration::ZERO;
        assert_eq!(Finding::of(&unsettled), Finding::Found);
        // Nothing held after the settle: no limit to measure, whatever was dropped.
        assert_eq!(
            Finding::of(&limit_outcome(0, 100, Duration::from_secs(2))),
            Finding::NoConnection
        );
    }

    #[test]
    fn past_a_knee_the_report_and_the_verdict_say_what_ended_the_search() {
        use crate::judge::verdict;
        let knee = Knee {
            gate: KneeGate {
                name: "beat:p99".to_string(),
                quantile: 0.99,
                bound: Duration::from_millis(50),
            },
            held: 148,
            above: 150,
            at: Duration::from_millis(750),
            measured: Some(Duration::from_micros(50_500)),
            due: 100,
            within: 98,
        };
        let said = "Knee: 148 concurrent connections held with beat latency p99 within 50ms; at \
                    150 it was 50.5ms, 750ms in, and stayed above for two periods; the search \
                    went on until ";
        let knee_at = "148 concurrent connections held with beat latency p99 within 50ms, then \
                       50.5ms at 150";
        // An eviction past the knee: the line says it as without a knee; the knee stands.
        let mut evicted = limit_outcome(80, 100, Duration::from_secs(2));
        evicted.stats.knee = Some(knee.clone());
        assert_eq!(Finding::of(&evicted), Finding::Knee);
        assert_eq!(Finding::ended(&evicted), Finding::Evicted);
        assert!(text(|w| write_limit(w, &evicted)).starts_with("No capacity limit found: "));
        assert_eq!(
            text(|w| write_knee(w, &evicted)),
            format!("{said}a loss ended the search\n")
        );
        let ending = verdict::of_limit(&evicted, None);
        assert_eq!(
            (ending.status, ending.verdict.as_str()),
            (
                0,
                format!(
                    "FOUND: {knee_at}; then the server dropped a connection it had held for 2s \
                     (an idle timeout or an eviction); 80 still held"
                )
                .as_str()
            )
        );
        // Interrupted past the knee, before any loss: the first loss is not known.
        let mut interrupted = limit_outcome(230, 230, Duration::ZERO);
        interrupted.stats.first_loss = None;
        interrupted.stop = Some(Stop::Interrupted(libc::SIGINT));
        interrupted.stats.knee = Some(knee);
        assert_eq!(
            text(|w| write_knee(w, &interrupted)),
            format!("{said}a signal interrupted the search\n")
        );
        let ending = verdict::of_limit(&interrupted, None);
        assert_eq!(
            (ending.status, ending.verdict.as_str()),
            (
                1,
                format!(
                    "INCOMPLETE (exit 1): {knee_at}; then interrupted by SIGINT, with 230 held \
                     and none lost: the first loss is not known"
                )
                .as_str()
            )
        );
    }
}
