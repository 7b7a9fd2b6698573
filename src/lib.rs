//! tcpgoon: how many concurrent TCP connections can a server accept and hold?
//!
//! The program is four layers, each a folder; imports run one way, from the top down:
//!
//! ```text
//!  main.rs ──▶ commands ──▶ report ──▶ cli ──▶ engine ──▶ error
//!              one driver    pure       help,    the event loops and what
//!              per sub-      writers,   parsing, they drive: connections,
//!              command       exit       config   pacing, deadlines, stats
//!                            statuses
//! ```
//!
//! `main` parses the command line with [`cli::parse`] and hands the result to [`execute`],
//! which picks the subcommand's driver in [`commands`]. A driver resolves its configuration
//! ([`cli::config`]), runs the [`engine`], and writes its [`report`]. [`error`] is the one
//! error type every layer returns.

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
pub mod report;

pub use commands::execute;
