//! tcpgoon: how many concurrent TCP connections can a server accept and hold?
//!
//! `main` parses the command line with [`cli::parse`] and hands the result to [`execute`];
//! everything else lives in the modules below, each owning one part of the job.

pub mod cli;
pub mod client;
pub mod config;
pub mod conn;
pub mod deadline;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exit;
pub mod hdrlog;
pub mod json;
pub mod limit;
pub mod limits;
pub mod pacer;
pub mod progress;
pub mod report;
pub mod server;
pub mod signal;
pub mod source;
pub mod stats;
pub mod target;
pub mod thresholds;
pub mod timer;

use std::io::Write;

use cli::Command;
use error::Error;

/// Carries out a parsed command and returns the process's exit status.
pub fn execute(command: Command) -> Result<u8, Error> {
    match command {
        Command::Help(text) => {
            print_or_ignore_broken_pipe(text);
            Ok(exit::SUCCESS)
        }
        Command::Version => {
            print_or_ignore_broken_pipe(&format!("tcpgoon {}\n", cli::VERSION));
            Ok(exit::SUCCESS)
        }
        Command::Run(args) => client::run(args),
        Command::Limit(args) => limit::run(args),
        Command::Server(args) => server::run(args),
    }
}

fn print_or_ignore_broken_pipe(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}
