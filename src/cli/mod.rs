//! The command line: help texts, parsing from a vector (so tests and fuzz targets can feed
//! one), the value parsers (durations, thresholds, ports, rates), and the second stage that
//! turns arguments as typed into the validated configuration the engine runs. Only the
//! resolved form reaches the engine. Parsing never exits the process: help and version come
//! back as values.
//!
//! May import `judge` (the gates it parses), `engine` (the plan it builds, the host and
//! source forms it checks), `units` and `error`; never `report` (its sibling) or
//! `commands`. Within the layer: `parse` → `values`; `config` takes what `parse` produced;
//! `complete` and `man` → `docs` → `help`; `help`, `docs`, `man` and `parse` → `flags`.
//!
//! | file | what it owns |
//! |---|---|
//! | `flags.rs` | the flag table: every option declared once, and its rows in the helps |
//! | `help.rs` | the help texts: their prose, with the table's options blocks laid in |
//! | `docs.rs` | what completions and the man page are made of: subcommands, options, summaries |
//! | `complete.rs` | `tcpgoon completions`: bash, zsh and fish scripts from the flag table |
//! | `man.rs` | `tcpgoon man`: the man page from the help texts and the flag table |
//! | `parse/` | subcommands and flags as typed: the dispatcher, the pre-lexer, one parser each |
//! | `values.rs` | one flag's text to its value: counts, ports, rates, durations, modes, escaped bytes |
//! | `config.rs` | arguments resolved and checked into what the engine needs |
//! | `tls.rs` | `--tls` and its options checked together into the TLS plan |

pub mod complete;
pub mod config;
pub mod docs;
pub mod flags;
pub mod help;
pub mod man;
pub mod parse;
pub mod tls;
pub mod values;

pub use flags::Sub;
pub use help::{HELP, VERSION, version_text};
pub use parse::{
    Addressing, Command, Family, LimitArgs, MergeArgs, MetricsArgs, PlotArgs, Probing, RunArgs,
    ServerArgs, TlsArgs, parse,
};
pub use values::{
    Progress, WorkerCount, escape, parse_escaped, parse_port, parse_port_or_zero, whole_number,
};
