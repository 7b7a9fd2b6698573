//! The verdict: the line a person reads first, the last of the text report and the JSON
//! summary's `verdict`. It is made with the exit status, from the same final state, and
//! states it: `PASS: 5000 of 5000 established and held`, `FAIL (exit 2): 54 refused, 3
//! closed by the server`, `INCOMPLETE (exit 1): interrupted by SIGINT`, `FAIL (exit 3): p99
//! 23.4ms > 20ms`; for `limit`, `FOUND: …` or `NO LIMIT (exit 4): …`. The status comes
//! from `exit.rs` and the words from the status, so the two cannot disagree.

use std::time::Duration;

use crate::engine::conn::{Closure, Failure};
use crate::engine::probe::ProbeOutcome;
use crate::engine::signal;
use crate::engine::stats::Stats;
use crate::engine::{Outcome, Stop};
use crate::judge::Finding;
use crate::judge::exit;
use crate::judge::thresholds::{GateKind, Verdict};
use crate::units::duration::go_style;

/// How a run ends: its exit status, and the line that says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: u8,
    pub verdict: String,
}

impl Ending {
    fn new(status: u8, word: &str, text: String) -> Ending {
        let verdict = if status == exit::SUCCESS {
            format!("{word}: {text}")
        } else {
            format!("{word} (exit {status}): {text}")
        };
        Ending { status, verdict }
    }
}

/// The ending of `tcpgoon run`, judged by its gates. `output_failed` says which of the
/// run's own outputs could not be written (the `--hdr-log`, the `--summary`), if any: the
/// run is then incomplete, whatever the server did.
pub fn of_run(outcome: &Outcome, gates: &[Verdict], output_failed: Option<&str>) -> Ending {
    let status = exit::of_run(outcome, gates, output_failed.is_some());
    let stats = &outcome.stats;
    let counts = &stats.counts;
    let what = match (&stats.probe, &stats.beats) {
        (Some(_), Some(_)) => "established, served, held and answered every heartbeat",
        (Some(_), None) => "established, served and held",
        _ => "established and held",
    };
    let losses = losses(stats);
    let text = match status {
        exit::SUCCESS => {
            let mut text = format!("{} of {} {what}", stats.held(), counts.total);
            for gate in gates.iter().filter(|g| g.kind == GateKind::MinEstablished) {
                text.push_str(&format!(" ({})", gate.gate));
            }
            if !losses.is_empty() {
                text.push_str(&format!("; {}", losses.join(", ")));
            }
            for gate in gates.iter().filter(|g| g.kind == GateKind::MaxLatency) {
                text.push_str(&format!("; {}", latency_gate(gate)));
            }
            text
        }
        exit::INCOMPLETE => {
            let mut reasons = Vec::new();
            match outcome.stop {
                Some(Stop::Interrupted(sig)) => {
                    let made = counts.total - counts.not_initiated;
                    reasons.push(if made < counts.total {
                        format!(
                            "interrupted by {}, after {made} of {} attempts",
                            signal::name(sig),
                            counts.total
                        )
                    } else {
                        format!("interrupted by {}", signal::name(sig))
                    });
                }
                Some(Stop::LocalLimit(cause)) => {
                    reasons.push(format!("stopped by a local limit: {}", cause.label()));
                }
                None => {}
            }
            if outcome.stop.is_none() && (counts.dialing > 0 || counts.not_initiated > 0) {
                reasons.push(format!(
                    "{} still dialing, {} not attempted",
                    counts.dialing, counts.not_initiated
                ));
            }
            reasons.extend(output_failed.map(str::to_string));
            reasons.join("; ")
        }
        exit::CONNECTION_FAILURES => {
            let mut parts: Vec<String> = gates
                .iter()
                .filter(|g| g.kind == GateKind::MinEstablished && !g.passed)
                .map(|g| {
                    let held = if stats.probe.is_some() {
                        "served and held"
                    } else {
                        "held"
                    };
                    format!("{} {held}, short of {}", stats.held(), g.gate)
                })
                .collect();
            parts.extend(losses);
            parts.join(", ")
        }
        _ => gates
            .iter()
            .filter(|g| g.kind == GateKind::MaxLatency && !g.passed)
            .map(latency_gate)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let word = match status {
        exit::SUCCESS => "PASS",
        exit::INCOMPLETE => "INCOMPLETE",
        _ => "FAIL",
    };
    Ending::new(status, word, text)
}

/// The ending of `tcpgoon limit`; `output_failed` as for [`of_run`]. With a knee, it says
/// the knee, then what the search went on to: `FOUND: 148 concurrent connections held with
/// beat latency p99 within 50ms, then 50.5ms at 150; the first loss ended the search at 250
/// concurrent connections served and held (closed before answering)`.
pub fn of_limit(outcome: &Outcome, output_failed: Option<&str>) -> Ending {
    let finding = Finding::of(outcome);
    let ended = Finding::ended(outcome);
    let status = exit::of_limit(finding, ended, output_failed.is_some());
    let (word, text) = match outcome.stats.knee.as_ref() {
        Some(knee) => {
            let statistic = knee.gate.name.rsplit(':').next().unwrap_or(&knee.gate.name);
            let word = if exit::of_finding(finding, ended) == exit::SUCCESS {
                "FOUND"
            } else {
                "INCOMPLETE"
            };
            (
                word,
                format!(
                    "{} concurrent connections held with beat latency {statistic} within {}, \
                     then {} at {}; {}",
                    knee.held,
                    go_style(knee.gate.bound),
                    knee.measured.map_or_else(
                        || format!("above {}", go_style(knee.gate.bound)),
                        |m| crate::judge::thresholds::shown(m, knee.gate.bound)
                    ),
                    knee.above,
                    past_the_knee(outcome, ended)
                ),
            )
        }
        None => search_ending(outcome, ended),
    };
    match output_failed {
        // What was found still stands; the run is incomplete for what it failed to write.
        Some(failed) => Ending::new(status, "INCOMPLETE", format!("{failed}; {word}: {text}")),
        None => Ending::new(status, word, text),
    }
}

/// `served and held`, with a probe; `held` without.
fn held_text(stats: &Stats) -> &'static str {
    if stats.probe.is_some() {
        "served and held"
    } else {
        "held"
    }
}

/// What ended a search that went on past its knee: the first loss, or none up to the
/// maximum, or a stop before either (the first loss is then not known).
fn past_the_knee(outcome: &Outcome, ended: Finding) -> String {
    let stats = &outcome.stats;
    let held = stats.held();
    let held_text = held_text(stats);
    let loss = stats.first_loss.map_or("", |l| l.cause.label());
    match ended {
        Finding::NoLimit => format!(
            "no loss up to the maximum: all {} connections established and {held_text}",
            stats
                .hold
                .map_or(stats.counts.established, |h| h.min_established)
        ),
        Finding::Evicted => format!("then {}", search_ending(outcome, ended).1),
        Finding::NoConnection => {
            format!("then the first loss ({loss}) left nothing {held_text} once it settled")
        }
        Finding::LocalLimit | Finding::Interrupted(_) => format!(
            "then {}, with {held} {held_text} and none lost: the first loss is not known",
            match (stats.first_loss, outcome.stop) {
                (Some(l), _) => format!("this machine's limit came ({})", l.cause.label()),
                (None, Some(Stop::LocalLimit(c))) => {
                    format!("this machine's limit came ({})", c.label())
                }
                (None, Some(Stop::Interrupted(sig))) => {
                    format!("interrupted by {}", signal::name(sig))
                }
                (None, None) => "stopped".to_string(),
            }
        ),
        Finding::Found | Finding::Knee => format!(
            "the first loss ended the search at {held} concurrent connections {held_text} \
             ({loss})"
        ),
    }
}

/// The verdict's word and text for what ended a search (never `Knee`).
fn search_ending(outcome: &Outcome, ended: Finding) -> (&'static str, String) {
    let stats = &outcome.stats;
    let held = stats.held();
    let held_text = held_text(stats);
    let loss = stats.first_loss.map(|l| l.cause.label());
    match ended {
        Finding::Found | Finding::Knee => (
            "FOUND",
            format!(
                "{held} concurrent connections {held_text}, then one was lost ({})",
                loss.unwrap_or_default()
            ),
        ),
        Finding::NoLimit => (
            "NO LIMIT",
            format!(
                "all {} connections established and {held_text}",
                stats
                    .hold
                    .map_or(stats.counts.established, |h| h.min_established)
            ),
        ),
        Finding::Evicted => (
            "NO LIMIT",
            format!(
                "the server dropped a connection it had held for {} (an idle timeout or an \
                 eviction); {held} still {held_text}",
                stats
                    .first_loss
                    .and_then(|l| l.dropped)
                    .map_or_else(String::new, |d| go_style(d.open_for))
            ),
        ),
        Finding::NoConnection => (
            "FAIL",
            format!(
                "nothing was {held_text}, so there is no limit to measure ({})",
                loss.unwrap_or_default()
            ),
        ),
        Finding::LocalLimit => {
            let cause = match (stats.first_loss, outcome.stop) {
                (Some(l), _) => l.cause.label().to_string(),
                (None, Some(Stop::LocalLimit(c))) => c.label().to_string(),
                _ => String::new(),
            };
            (
                "INCOMPLETE",
                format!(
                    "this machine's limit came first ({cause}), with {held} {held_text}: a \
                     lower bound"
                ),
            )
        }
        Finding::Interrupted(sig) => (
            "INCOMPLETE",
            format!(
                "interrupted by {} with {held} {held_text} and none lost: a lower bound",
                signal::name(sig)
            ),
        ),
    }
}

/// `p99 23.4ms > 20ms`, `handshake RTT p99 90µs <= 1ms`.
fn latency_gate(gate: &Verdict) -> String {
    match gate.latency_micros {
        Some((limit, _)) => format!(
            "{} {} {} {}",
            gate.label,
            gate.measured,
            if gate.passed { "<=" } else { ">" },
            go_style(Duration::from_micros(limit))
        ),
        None => format!("{}: {}", gate.label, gate.measured),
    }
}

/// What was lost, by cause, the causes that happened only: attempts that failed, held
/// connections the server closed, and with a probe, established ones it did not serve
/// (those closed before answering are among the closed).
fn losses(stats: &Stats) -> Vec<String> {
    let mut losses: Vec<String> = Failure::ALL
        .iter()
        .map(|f| (stats.failures_of(*f), failure_text(*f)))
        .chain(
            Closure::ALL
                .iter()
                .map(|c| (stats.closures_of(*c), closure_text(*c))),
        )
        .filter(|(n, _)| *n > 0)
        .map(|(n, text)| format!("{n} {text}"))
        .collect();
    if let Some(probe) = &stats.probe {
        for (n, text) in [
            (
                probe.of(ProbeOutcome::Rejected),
                "rejected by the application",
            ),
            (probe.of(ProbeOutcome::Unserved), "not served"),
            (probe.awaiting, "still awaiting an answer"),
        ] {
            if n > 0 {
                losses.push(format!("{n} {text}"));
            }
        }
        if let Some(beats) = stats.beats.as_ref().filter(|b| b.stopped_total() > 0) {
            losses.push(format!(
                "{} of {} stopped answering heartbeats (first at {})",
                beats.stopped_total(),
                probe.of(ProbeOutcome::Served),
                go_style(beats.first_stop.unwrap_or_default())
            ));
        }
    }
    losses
}

fn failure_text(f: Failure) -> String {
    match f {
        Failure::Refused | Failure::TimedOut | Failure::Unreachable => f.label().to_string(),
        Failure::Reset => "reset while connecting".to_string(),
        _ => format!("failed ({})", f.label()),
    }
}

fn closure_text(c: Closure) -> String {
    match c {
        Closure::PeerClosed => "closed by the server",
        Closure::Reset => "reset by the server",
        Closure::Other => "lost to a read error",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::Counts;

    /// A run that ended with these counts.
    fn outcome_with(counts: Counts) -> Outcome {
        let mut stats = Stats::new(counts.total);
        stats.counts = counts;
        Outcome {
            stats,
            stop: None,
            wall: Duration::from_secs(1),
            dial_span: Duration::from_secs(1),
            settled: None,
            settle: Duration::ZERO,
            origin: std::time::SystemTime::UNIX_EPOCH,
            first_attempt_lag: None,
        }
    }

    fn run_of(established: u64, refused: u64, closed: u64) -> Outcome {
        let mut stats = Stats::new(established + refused + closed);
        for _ in 0..established + closed {
            stats.dialing(0);
            stats.established(0, Duration::from_micros(100));
        }
        for _ in 0..refused {
            stats.dialing(0);
            stats.failed(0, Failure::Refused, Duration::from_micros(50));
        }
        let mut outcome = outcome_with(stats.counts);
        outcome.stats = stats;
        for _ in 0..closed {
            outcome.stats.closed(0, Closure::PeerClosed);
        }
        outcome
    }

    #[test]
    fn a_run_that_held_everything_passes() {
        let ending = of_run(&run_of(5000, 0, 0), &[], None);
        assert_eq!(ending.status, exit::SUCCESS);
        assert_eq!(ending.verdict, "PASS: 5000 of 5000 established and held");
    }

    #[test]
    fn failures_are_counted_by_cause() {
        let ending = of_run(&run_of(43, 54, 3), &[], None);
        assert_eq!(ending.status, exit::CONNECTION_FAILURES);
        assert_eq!(
            ending.verdict,
            "FAIL (exit 2): 54 refused, 3 closed by the server"
        );
    }

    #[test]
    fn an_interrupted_run_is_incomplete() {
        let mut outcome = outcome_with(Counts {
            total: 100,
            not_initiated: 74,
            established: 26,
            ..Counts::default()
        });
        outcome.stop = Some(Stop::Interrupted(libc::SIGINT));
        let ending = of_run(&outcome, &[], None);
        assert_eq!(ending.status, exit::INCOMPLETE);
        assert_eq!(
            ending.verdict,
            "INCOMPLETE (exit 1): interrupted by SIGINT, after 26 of 100 attempts"
        );
        let ending = of_run(
            &run_of(5, 0, 0),
            &[],
            Some("the --summary could not be written"),
        );
        assert_eq!(
            ending.verdict,
            "INCOMPLETE (exit 1): the --summary could not be written"
        );
    }

    fn gate(kind: GateKind, label: &str, passed: bool, limit: u64, measured: &str) -> Verdict {
        Verdict {
            kind,
            gate: format!("{label} <= {}", go_style(Duration::from_micros(limit))),
            label: label.to_string(),
            measured: measured.to_string(),
            passed,
            latency_micros: Some((limit, 0)),
        }
    }

    #[test]
    fn latency_gates_say_what_was_measured_against_what() {
        let missed = [gate(GateKind::MaxLatency, "p99", false, 20_000, "23.4ms")];
        let ending = of_run(&run_of(10, 0, 0), &missed, None);
        assert_eq!(ending.status, exit::THRESHOLD_MISSED);
        assert_eq!(ending.verdict, "FAIL (exit 3): p99 23.4ms > 20ms");
        let met = [gate(GateKind::MaxLatency, "p99", true, 20_000, "1.45ms")];
        assert_eq!(
            of_run(&run_of(10, 0, 0), &met, None).verdict,
            "PASS: 10 of 10 established and held; p99 1.45ms <= 20ms"
        );
    }

    #[test]
    fn a_met_minimum_passes_and_still_names_the_losses() {
        let enough = [Verdict {
            kind: GateKind::MinEstablished,
            gate: "established >= 90% (9 of 10)".to_string(),
            label: "established".to_string(),
            measured: "9".to_string(),
            passed: true,
            latency_micros: None,
        }];
        assert_eq!(
            of_run(&run_of(9, 1, 0), &enough, None).verdict,
            "PASS: 9 of 10 established and held (established >= 90% (9 of 10)); 1 refused"
        );
        let too_few = [Verdict {
            passed: false,
            ..enough[0].clone()
        }];
        assert_eq!(
            of_run(&run_of(5, 5, 0), &too_few, None).verdict,
            "FAIL (exit 2): 5 held, short of established >= 90% (9 of 10), 5 refused"
        );
    }
}
