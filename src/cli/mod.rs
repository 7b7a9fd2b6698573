//! The command line: help texts, parsing from a vector (so tests and fuzz targets can feed
//! one), the value parsers (durations, thresholds, ports, sources), and the second stage that
//! turns arguments as typed into the validated configuration the engine runs. Only the
//! resolved form reaches the engine. Parsing never exits the process: help and version come
//! back as values.
//!
//! May import `engine` (the plan it builds, the host and source forms it checks) and
//! `error`; never `report` or `commands`.
//!
//! | file | what it owns |
//! |---|---|
//! | `parse.rs` | subcommands and flags as typed |
//! | `duration.rs` | durations as users type them and as reports print them |
//! | `thresholds.rs` | `--max-latency` and `--min-established`: parsed, then judged |
//! | `config.rs` | arguments resolved and checked into what the engine needs |

pub mod config;
pub mod duration;
pub mod parse;
pub mod thresholds;

pub use parse::*;
