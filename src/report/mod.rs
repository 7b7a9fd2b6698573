//! The reports: pure writers over `impl Write`, from a finished run's state (or a tick's
//! stats) to text, JSON Lines or an HdrHistogram log. The engine never formats; these never
//! measure, and never decide: verdicts and exit statuses are the judge's. Live output is written into an outlet, whose own
//! thread makes the blocking writes, so a reader that stops reading never stalls the loop.
//!
//! May import `judge` (verdicts, findings, exit statuses), `engine` (stats, outcomes),
//! `units` (durations and wall-clock times as reports print them) and `error`; never `cli`
//! (its sibling: the reports know nothing of the flags) or `commands`.
//!
//! | file | what it writes |
//! |---|---|
//! | `text.rs` | the reference tool's lines, byte for byte, then what it lacks; `limit`'s finding |
//! | `schema.rs` | the `--json` objects as typed structs, written by `json.rs`, read by the merge and the plot |
//! | `json.rs` | `--json`: a `tick` object per interval and a `summary` at the end |
//! | `hdrlog.rs` | `--hdr-log`: connect latencies as an HdrHistogram interval log |
//! | `progress.rs` | the live status line on a terminal |
//! | `live.rs` | every live output of a run, as the engine's observer |
//! | `metrics.rs` | `--metrics`: the stats as a scrape sees them, Prometheus text or OpenMetrics |
//! | `outlet.rs` | where live output goes: bounded queues, drained by writer threads |
//! | `server.rs` | `tcpgoon server`'s lines |
//! | `hdr.rs` | a histogram's HdrHistogram V2 encoding, checked and bounded before it is decoded |
//! | `read.rs` | `--json` output read back and checked, once, for the merge and the plot: bounded lines, no contradictions |
//! | `summary.rs` | `--json` summaries read back, and the shards of a run merged into one |
//! | `shards.rs` | the lines of a sharded run and of a merge |
//! | `worker_line.rs` | `run --workers`: what a worker tells its parent, and the parent's sum of it |
//! | `summary_file.rs` | `--summary`: the JSON summary in a file of its own |
//! | `plot/` | `tcpgoon plot`: `--json` output read back and drawn as an SVG picture |

pub mod hdr;
pub mod hdrlog;
pub mod json;
pub mod live;
pub mod metrics;
pub mod outlet;
#[cfg(test)]
mod pinned;
pub mod plot;
pub mod progress;
pub mod read;
pub mod schema;
pub mod server;
pub mod shards;
pub mod summary;
pub mod summary_file;
pub mod text;
pub mod worker_line;

#[cfg(test)]
pub(crate) use text::written;
pub use text::{
    PERCENTILES, Spread, Summary, achieved_rate, histogram_rows, local_limit_hint, write_final,
    write_knee, write_knee_not_reached, write_limit, write_live_line, write_spread_and_hold,
};
