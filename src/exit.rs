//! Exit statuses, decided in one place from a run's final state.
//!
//! | status | meaning |
//! |---|---|
//! | 0  | every connection was established and was still open when the run ended |
//! | 1  | the run did not complete: interrupted, declined at the prompt, or stopped by a local limit |
//! | 2  | the run completed, but some connections failed or were closed by the peer |
//! | 64 | bad input or setup: unknown flag, bad value, unresolvable host |

use crate::engine::Outcome;
use crate::error::Error;
use crate::stats::Counts;

pub const SUCCESS: u8 = 0;
pub const INCOMPLETE: u8 = 1;
pub const CONNECTION_FAILURES: u8 = 2;
pub const USAGE: u8 = 64;

/// The status of a finished run.
pub fn of_outcome(outcome: &Outcome) -> u8 {
    of_counts(&outcome.stats.counts, outcome.stop.is_some())
}

pub fn of_counts(counts: &Counts, stopped_early: bool) -> u8 {
    if stopped_early || counts.not_initiated > 0 || counts.dialing > 0 {
        INCOMPLETE
    } else if counts.error > 0 || counts.closed > 0 {
        CONNECTION_FAILURES
    } else {
        SUCCESS
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
        assert_eq!(of_counts(&counts(10, 0, 0, 0, 0), false), SUCCESS);
        assert_eq!(
            of_counts(&counts(9, 0, 1, 0, 0), false),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(9, 1, 0, 0, 0), false),
            CONNECTION_FAILURES
        );
        assert_eq!(
            of_counts(&counts(0, 0, 10, 0, 0), false),
            CONNECTION_FAILURES
        );
        assert_eq!(of_counts(&counts(5, 0, 0, 1, 4), false), INCOMPLETE);
        assert_eq!(of_counts(&counts(10, 0, 0, 0, 0), true), INCOMPLETE);
    }

    #[test]
    fn errors_map_to_documented_statuses() {
        assert_eq!(of_error(&Error::Usage("x".into())), USAGE);
        assert_eq!(of_error(&Error::Incomplete("x".into())), INCOMPLETE);
    }
}
