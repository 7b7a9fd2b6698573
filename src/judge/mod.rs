//! The judge: from a run's final state to its decisions. The gates a user set
//! (`--max-latency`, `--min-established`) and their verdicts, what a limit search found,
//! the exit status, and the verdict line made from the same status. Reports print these
//! decisions and the command line parses the gates into them; neither decides.
//!
//! May import `engine` (the final state it judges), `units` and `error`; never `cli`,
//! `report` or `commands`.
//!
//! | file | what it owns |
//! |---|---|
//! | `thresholds.rs` | `--max-latency` and `--min-established`: parsed, then judged |
//! | `finding.rs` | what a limit search found |
//! | `exit.rs` | exit statuses, decided in one place |
//! | `verdict.rs` | the verdict line, made with the exit status from the same final state |

pub mod exit;
pub mod finding;
pub mod thresholds;
pub mod verdict;

pub use finding::{End, Finding};
