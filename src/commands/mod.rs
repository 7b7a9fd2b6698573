//! The commands: one thin driver per subcommand. Each resolves its configuration from the
//! parsed arguments, runs the engine, writes its reports and returns the exit status. Nothing
//! here measures or formats: the engine measures, the reports format.
//!
//! May import every layer below: `cli`, `report`, `judge`, `engine`, `units`, `error`. No
//! driver imports another; what `run` and `limit` share is in `finish` and `output`, what `merge` and `plot` share in
//! `input`.
//!
//! | file | subcommand |
//! |---|---|
//! | `run.rs` | `tcpgoon run`: the reference tool's job, with the live outputs asked for |
//! | `limit.rs` | `tcpgoon limit`: open connections until the first is lost |
//! | `server.rs` | `tcpgoon server`: a target with the faults real servers have |
//! | `merge.rs` | `tcpgoon merge`: the shards' summaries as the report of the whole run |
//! | `plot.rs` | `tcpgoon plot`: `--json` outputs drawn as one SVG picture |
//! | `finish.rs` | what `run` and `limit` share: limits checked, outputs opened, the report's tail |
//! | `output.rs` | the live outputs chosen from the configuration and the terminals |
//! | `workers.rs` | what `run --workers` and `server --workers` share: the worker processes, none left behind |
//! | `input.rs` | what `merge` and `plot` share: their FILEs opened, a FIFO without waiting |

mod finish;
mod input;
pub mod limit;
pub mod merge;
mod output;
pub mod plot;
pub mod run;
pub mod server;
mod server_workers;
pub mod workers;

use std::io::Write;

use crate::cli::{self, Command};
use crate::engine::Plan;
use crate::engine::limits;
use crate::engine::source::Routes;
use crate::error::{self, Error};
use crate::judge::exit;

/// Carries out a parsed command and returns the process's exit status.
pub fn execute(command: Command) -> Result<u8, Error> {
    match command {
        Command::Help(text) => {
            print_or_ignore_broken_pipe(text);
            Ok(exit::SUCCESS)
        }
        Command::Version => {
            print_or_ignore_broken_pipe(&cli::version_text());
            Ok(exit::SUCCESS)
        }
        Command::Completions(shell) => {
            print_or_ignore_broken_pipe(&cli::complete::script(shell));
            Ok(exit::SUCCESS)
        }
        Command::Man => {
            print_or_ignore_broken_pipe(&cli::man::page());
            Ok(exit::SUCCESS)
        }
        Command::Run(args) => run::run(args),
        Command::Limit(args) => limit::run(args),
        Command::Server(args) => server::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Plot(args) => plot::run(args),
    }
}

fn print_or_ignore_broken_pipe(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// Warns on stderr about kernel port settings the plan is likely to run into.
pub(crate) fn warn_about_ports(plan: &Plan) -> Result<(), Error> {
    let routes = Routes::new(plan.targets.clone(), &plan.sources).map_err(Error::Usage)?;
    let use_ = limits::PortUse {
        per_pair: routes.most_per_pair(plan.connections),
        per_target: plan.connections.div_ceil(plan.targets.len().max(1) as u64),
        loopback_v4: (plan.targets.iter()).all(|t| t.ip().is_loopback() && t.is_ipv4()),
    };
    for warning in limits::port_warnings(&limits::port_settings(), use_) {
        error::say(format_args!("warning: {warning}"));
    }
    Ok(())
}
