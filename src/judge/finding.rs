//! What a `tcpgoon limit` search found, decided from its final state: the peer's limit,
//! the knee of its beat latency (`--max-latency beat:…`), an eviction, no connection at
//! all, this machine's limit first, or no limit; and what ended the search, which with a
//! knee is what came after it. The text report, the exit status and the verdict line all
//! read this one decision.

use std::time::Duration;

use crate::engine::stats::Loss;
use crate::engine::{Outcome, Stop};

/// What `tcpgoon limit` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The peer's limit: an attempt failed or a held connection was dropped.
    Found,
    /// Beat latency exceeded its bound before any loss: the knee. The search went on past
    /// it; what ended it is [`Finding::ended`].
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
    /// What the search found: the knee, when there was one, else what ended it.
    pub fn of(outcome: &Outcome) -> Finding {
        // A knee is kept only when it came before any loss (the engine judges no more once
        // one came); the loss that ended the search after it is the second finding.
        if outcome.stats.knee.is_some() {
            return Finding::Knee;
        }
        Finding::ended(outcome)
    }

    /// What ended the search, knee or not: never `Knee`.
    pub fn ended(outcome: &Outcome) -> Finding {
        let held = outcome.stats.held();
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

/// What ended a search, in a word: with a knee, what the search went on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The first loss (and the connections still held once it settled).
    Loss,
    /// Every connection up to the maximum was established and held: no loss.
    Maximum,
    Interrupted,
    /// This machine's limit, before any loss: the count is a lower bound.
    LocalLimit,
}

impl End {
    pub fn of(outcome: &Outcome) -> End {
        match Finding::ended(outcome) {
            Finding::Found | Finding::Evicted | Finding::NoConnection | Finding::Knee => End::Loss,
            Finding::NoLimit => End::Maximum,
            Finding::Interrupted(_) => End::Interrupted,
            Finding::LocalLimit => End::LocalLimit,
        }
    }

    /// As the JSON summary's `limit.ended_by` names it.
    pub fn name(self) -> &'static str {
        match self {
            End::Loss => "loss",
            End::Maximum => "maximum",
            End::Interrupted => "interrupted",
            End::LocalLimit => "local_limit",
        }
    }

    /// As the report's `Knee:` and `No knee:` lines end: `until a loss ended the search`.
    pub fn phrase(self) -> &'static str {
        match self {
            End::Loss => "a loss ended the search",
            End::Maximum => "the maximum was held",
            End::Interrupted => "a signal interrupted the search",
            End::LocalLimit => "this machine's limit ended the search",
        }
    }
}

/// Whether the first loss was a drop of a connection open for longer than the settle: a
/// server turning a connection away does it as it accepts it, well within the settle.
fn held_past_the_settle(loss: Loss, settle: Duration) -> bool {
    !settle.is_zero() && loss.dropped.is_some_and(|d| d.open_for > settle)
}
