//! Exit statuses, decided in one place from a run's final state.
//!
//! | status | meaning |
//! |---|---|
//! | 0  | every connection was established (with `--probe`: and served) and was still open when the run ended |
//! | 1  | the run did not complete: interrupted, declined at the prompt, or stopped by a local limit; or the report or `--hdr-log` could not be written |
//! | 2  | the run completed, but some connections failed or were closed by the peer (with `--min-established`: fewer than it asks for were established) |
//! | 3  | every connection was established, but a `--max-latency` threshold was missed |
//! | 64 | bad input or setup: unknown flag, bad value, unresolvable host |
//!
//! `tcpgoon limit` has its own meanings: 0 it found the peer's limit, 1 it was interrupted or
//! stopped by a limit of this machine first, 2 no connection could be made (an attempt
//! failed before any was established: nothing to measure), 4 every connection up to its
//! maximum was held (no limit found), 64 bad input. With `--max-latency beat:…`, a knee
//! found is 0 whatever the search went on to (a loss, the maximum), and 1 when it was then
//! interrupted or stopped by this machine's limit before any loss.

use crate::engine::Outcome;
use crate::engine::stats::Counts;
use crate::error::Error;
use crate::judge::Finding;
use crate::judge::thresholds::{GateKind, Verdict};

pub const SUCCESS: u8 = 0;
pub const INCOMPLETE: u8 = 1;
pub const CONNECTION_FAILURES: u8 = 2;
pub const THRESHOLD_MISSED: u8 = 3;
pub const NO_LIMIT_FOUND: u8 = 4;
pub const USAGE: u8 = 64;

/// The status of a finished run whose own outputs (`--hdr-log`, `--summary`) were all
/// written, or not (`output_failed`: the run is then incomplete, as the report says).
pub fn of_run(outcome: &Outcome, verdicts: &[Verdict], output_failed: bool) -> u8 {
    if output_failed {
        INCOMPLETE
    } else {
        of_outcome(outcome, verdicts)
    }
}

/// The status of a finished run, judged by the gates it was given.
pub fn of_outcome(outcome: &Outcome, verdicts: &[Verdict]) -> u8 {
    // A connection that stopped answering its heartbeats is served no more.
    let stopped = outcome
        .stats
        .beats
        .as_ref()
        .map_or(0, |b| b.stopped_total());
    let not_served = outcome.stats.probe.as_ref().map_or(0, |p| p.not_served()) + stopped;
    of_counts(
        &outcome.stats.counts,
        not_served,
        outcome.stop.is_some(),
        verdicts,
    )
}

/// Without `--min-established`, any failed or closed connection, and with a probe any
/// established one the application did not serve (`not_served`), fails the run; with it,
/// they are tolerated as long as enough connections were established (and served).
pub fn of_counts(
    counts: &Counts,
    not_served: u64,
    stopped_early: bool,
    verdicts: &[Verdict],
) -> u8 {
    let missed = |kind| verdicts.iter().any(|v| v.kind == kind && !v.passed);
    let tolerates_failures = verdicts.iter().any(|v| v.kind == GateKind::MinEstablished);
    if stopped_early || counts.not_initiated > 0 || counts.dialing > 0 {
        INCOMPLETE
    } else if missed(GateKind::MinEstablished)
        || (!tolerates_failures && (counts.error > 0 || counts.closed > 0 || not_served > 0))
    {
        CONNECTION_FAILURES
    } else if missed(GateKind::MaxLatency) {
        THRESHOLD_MISSED
    } else {
        SUCCESS
    }
}

/// The status of `tcpgoon limit`, from what it found and what ended the search (the same
/// but with a knee, when the search went on past it).
pub fn of_finding(finding: Finding, ended: Finding) -> u8 {
    match (finding, ended) {
        // The knee is the finding; what came after it is information, unless the search was
        // cut short: then the first loss is not known.
        (Finding::Knee, Finding::LocalLimit | Finding::Interrupted(_)) => INCOMPLETE,
        (Finding::Knee, _) => SUCCESS,
        (finding, _) => of_search(finding),
    }
}

/// The status of a search that found no knee.
fn of_search(finding: Finding) -> u8 {
    match finding {
        Finding::Found | Finding::Knee => SUCCESS,
        // Not a limit found: CI must not read a server that takes no connection as a pass.
        Finding::NoConnection => CONNECTION_FAILURES,
        Finding::LocalLimit | Finding::Interrupted(_) => INCOMPLETE,
        Finding::NoLimit | Finding::Evicted => NO_LIMIT_FOUND,
    }
}

/// The status of `tcpgoon limit`, whose own output (`--summary`) was written or not.
pub fn of_limit(finding: Finding, ended: Finding, output_failed: bool) -> u8 {
    if output_failed {
        INCOMPLETE
    } else {
        of_finding(finding, ended)
    }
}

/// The status of a run that never got going.
pub fn of_error(error: &Error) -> u8 {
    match error {
        Error::Usage(_) => USAGE,
        Error::Incomplete(_) | Error::System(_) => INCOMPLETE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        established: u64,
        closed: u64,
        error: u64,
        dialing: u64,
        not_initiated: u64,
    ) -> Counts {
        Counts {
            total: established + closed + error + dialing + not_initiated,
            not_initiated,
            dialing,
            established,
            closed,
            error,
        }
    }

    #[test]
    fn status_follows_the_final_counts() {
        assert_eq!(of_counts(&counts(10, 0, 0, 0, 0), 0, false, &[]), SUCCESS);
        // Established and held, but one the application never served.
        assert_eq!(
            of_counts(&counts(10, 0, 0, 0, 0), 1, false, &[]),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(9, 0, 1, 0, 0), 0, false, &[]),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(9, 1, 0, 0, 0), 0, false, &[]),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(0, 0, 10, 0, 0), 0, false, &[]),
            CONNECTION_FAILURES
        );
        assert_eq!(of_counts(&counts(5, 0, 0, 1, 4), 0, false, &[]), INCOMPLETE);
        assert_eq!(of_counts(&counts(10, 0, 0, 0, 0), 0, true, &[]), INCOMPLETE);
    }

    fn verdict(kind: GateKind, passed: bool) -> Verdict {
        Verdict {
            kind,
            gate: String::new(),
            label: String::new(),
            measured: String::new(),
            passed,
            latency_micros: None,
        }
    }

    #[test]
    fn gates_decide_between_success_failures_and_missed_thresholds() {
        let latency_missed = [verdict(GateKind::MaxLatency, false)];
        let latency_met = [verdict(GateKind::MaxLatency, true)];
        assert_eq!(
            of_counts(&counts(10, 0, 0, 0, 0), 0, false, &latency_missed),
            THRESHOLD_MISSED
        );
        assert_eq!(
            of_counts(&counts(10, 0, 0, 0, 0), 0, false, &latency_met),
            SUCCESS
        );
        // Failures outrank a missed latency gate; an incomplete run outranks both.
        assert_eq!(
            of_counts(&counts(9, 0, 1, 0, 0), 0, false, &latency_missed),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(9, 0, 0, 1, 0), 0, false, &latency_missed),
            INCOMPLETE
        );
        // --min-established tolerates failures while it is met.
        let enough = [verdict(GateKind::MinEstablished, true)];
        let too_few = [verdict(GateKind::MinEstablished, false)];
        assert_eq!(
            of_counts(&counts(9, 0, 1, 0, 0), 0, false, &enough),
            SUCCESS
        );
        assert_eq!(
            of_counts(&counts(5, 0, 5, 0, 0), 0, false, &too_few),
            CONNECTION_FAILURES
        );
        let enough_but_slow = [
            verdict(GateKind::MinEstablished, true),
            verdict(GateKind::MaxLatency, false),
        ];
        assert_eq!(
            of_counts(&counts(9, 1, 0, 0, 0), 0, false, &enough_but_slow),
            THRESHOLD_MISSED
        );
    }

    #[test]
    fn limit_findings_map_to_documented_statuses() {
        let alone = |finding| of_finding(finding, finding);
        assert_eq!(alone(Finding::Found), 0);
        assert_eq!(alone(Finding::LocalLimit), 1);
        assert_eq!(alone(Finding::Interrupted(libc::SIGINT)), 1);
        assert_eq!(alone(Finding::NoConnection), 2);
        assert_eq!(alone(Finding::NoLimit), 4);
        assert_eq!(alone(Finding::Evicted), 4);
        // A knee is found, whatever the search went on to; unless it was cut short.
        let knee = |ended| of_finding(Finding::Knee, ended);
        assert_eq!(knee(Finding::Found), 0);
        assert_eq!(knee(Finding::NoLimit), 0);
        assert_eq!(knee(Finding::Evicted), 0);
        assert_eq!(knee(Finding::NoConnection), 0);
        assert_eq!(knee(Finding::LocalLimit), 1);
        assert_eq!(knee(Finding::Interrupted(libc::SIGTERM)), 1);
    }

    #[test]
    fn errors_map_to_documented_statuses() {
        assert_eq!(of_error(&Error::Usage("x".into())), USAGE);
        assert_eq!(of_error(&Error::Incomplete("x".into())), INCOMPLETE);
    }
}
