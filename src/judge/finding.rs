//! What a `tcpgoon limit` search found, decided from its final state: the peer's limit,
//! the knee of its beat latency (`--max-latency beat:…`), an eviction, no connection at
//! all, this machine's limit first, or no limit. The text
//! report, the exit status and the verdict line all read this one decision.

use std::time::Duration;

use crate::engine::stats::Loss;
use crate::engine::{Outcome, Stop};

/// What `tcpgoon limit` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The peer's limit: an attempt failed or a held connection was dropped.
    Found,
    /// Beat latency exceeded its bound before any loss: the search ended at the knee.
    Knee,
    /// The peer dropped a connection it had held for longer than the settle, while newer
    /// ones stayed: an idle timeout or an eviction, not a refusal of new connections.
    Evicted,
    /// Nothing was held once the first loss had settled: an attempt failed before any
    /// connection was established, or the peer dropped every one. Nothing to measure.
    NoConnection,
    /// This machine's limit came first.
    LocalLimit,
    /// Every connection up to the maximum was established and held.
    NoLimit,
    Interrupted(libc::c_int),
}

impl Finding {
    pub fn of(outcome: &Outcome) -> Finding {
        let held = outcome.stats.held();
        // A knee is kept only when it came before any loss (and the engine judges no more
        // once one came); a loss met while the search settled after it does not change it.
        if outcome.stats.knee.is_some() {
            return Finding::Knee;
        }
        match (outcome.stats.first_loss, outcome.stop) {
            (Some(loss), _) if loss.cause.is_local_limit() => Finding::LocalLimit,
            (Some(loss), _) if loss.held == 0 || held == 0 => Finding::NoConnection,
            (Some(loss), _) if held_past_the_settle(loss, outcome.settle) => Finding::Evicted,
            (Some(_), _) => Finding::Found,
            (None, Some(Stop::Interrupted(signal))) => Finding::Interrupted(signal),
            (None, Some(Stop::LocalLimit(_))) => Finding::LocalLimit,
            (None, None) => Finding::NoLimit,
        }
    }
}

/// Whether the first loss was a drop of a connection open for longer than the settle: a
/// server turning a connection away does it as it accepts it, well within the settle.
fn held_past_the_settle(loss: Loss, settle: Duration) -> bool {
    !settle.is_zero() && loss.dropped.is_some_and(|d| d.open_for > settle)
}
