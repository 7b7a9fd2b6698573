//! The reports: pure writers over `impl Write`, from a finished run's state (or a tick's
//! stats) to text, JSON Lines or an HdrHistogram log, and the exit-status table. The engine
//! never formats; these never measure. Live output is written into an outlet, whose own
//! thread makes the blocking writes, so a reader that stops reading never stalls the loop.
//!
//! May import `cli` (durations as users write them, threshold verdicts), `engine` (stats,
//! outcomes) and `error`; never `commands`.
//!
//! | file | what it writes |
//! |---|---|
//! | `text.rs` | the reference tool's lines, byte for byte, then what it lacks; `limit`'s finding |
//! | `json.rs` | `--json`: a `tick` object per interval and a `summary` at the end |
//! | `hdrlog.rs` | `--hdr-log`: connect latencies as an HdrHistogram interval log |
//! | `progress.rs` | the live status line on a terminal |
//! | `live.rs` | every live output of a run, as the engine's observer |
//! | `outlet.rs` | where live output goes: bounded queues, drained by writer threads |
//! | `server.rs` | `tcpgoon server`'s lines |
//! | `summary_file.rs` | `--summary`: the JSON summary in a file of its own |
//! | `plot/` | `tcpgoon plot`: `--json` output read back and drawn as an SVG picture |
//! | `exit.rs` | exit statuses, decided in one place |
//! | `verdict.rs` | the verdict line, made with the exit status from the same final state |

pub mod exit;
pub mod hdrlog;
pub mod json;
pub mod live;
pub mod outlet;
pub mod plot;
pub mod progress;
pub mod server;
pub mod summary_file;
pub mod text;
pub mod verdict;

#[cfg(test)]
pub(crate) use text::written;
pub use text::{
    Finding, PERCENTILES, Spread, Summary, achieved_rate, histogram_rows, local_limit_hint,
    write_final, write_limit, write_live_line, write_spread_and_hold,
};
