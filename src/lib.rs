//! tcpgoon: how many concurrent TCP connections can a server accept and hold?
//!
//! The program is seven layers, each a folder; imports run one way, from the top down, and
//! the two siblings `cli` and `report` never import each other (`tests/layout.rs` checks
//! it):
//!
//! ```text
//!                    ┌─▶ cli ────┐
//!  main ─▶ commands ─┤           ├─▶ judge ─▶ engine ─▶ units ─▶ error
//!                    └─▶ report ─┘
//!
//!  commands  one driver per subcommand: chooses and wires, joins cli and report
//!  cli       help, parsing, the flag table, configuration resolved from the arguments
//!  report    pure writers: text, JSON Lines, HDR logs, plots, the live view
//!  judge     gates, findings, exit statuses and the verdict line
//!  engine    the event loops and what they drive: connections, pacing, deadlines, stats
//!  units     durations, wall-clock times and whole numbers, read and printed
//!  error     the one error type
//! ```
//!
//! `main` parses the command line with [`cli::parse`] and hands the result to [`execute`],
//! which picks the subcommand's driver in [`commands`]. A driver resolves its configuration
//! ([`cli::config`]), runs the [`engine`], has the [`judge`] decide, and writes its
//! [`report`]. [`error`] is the one error type every layer returns.

// signalfd, timerfd, TCP_INFO's layout and IP_LOCAL_PORT_RANGE are Linux's: say so rather
// than fail on the first missing libc item.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "tcpgoon runs on Linux only: it needs signalfd, timerfd, TCP_INFO and IP_LOCAL_PORT_RANGE"
);

pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod judge;
pub mod report;
pub mod units;

pub use commands::execute;
