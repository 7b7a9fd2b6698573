//! The command line as typed: subcommands and flags, parsed from a vector so tests and fuzz
//! targets can feed one. Parsing never exits the process; help and version come back as
//! values. Each value is checked for form by its parser in `values`; checks that need more
//! than one flag, or the outside world, belong to `config`.
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the dispatcher: help and version first, then the subcommand's parser |
//! | `args.rs` | the arguments as typed, one struct per subcommand |
//! | `lexer.rs` | the pre-lexer: clusters taken apart, `--`, two-value options, repeats |
//! | `read.rs` | one option's value, a flag, the repeats, what is left over |
//! | `subcommands.rs` | one parser per subcommand, and the option groups they share |

mod args;
mod lexer;
mod read;
mod subcommands;
#[cfg(test)]
mod tests;

use std::ffi::OsString;

pub use args::*;
use lexer::Spelling;
use read::{leftover, looks_like_flag, reject_leftover, usage};
use subcommands::{parse_limit, parse_merge, parse_plot, parse_run, parse_server};

use crate::cli::complete::Shell;
use crate::cli::flags::Sub;
use crate::cli::help::{self, HELP};
use crate::error::Error;

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Command, Error> {
    // The subcommand is the first argument, unless that is an option.
    let skip = usize::from(
        args.first()
            .is_some_and(|first| !first.as_encoded_bytes().starts_with(b"-")),
    );
    let spelling = Spelling::of(args.first().filter(|_| skip == 1));
    let (options, operands, pairs) = spelling.normalize(&args[skip..]);
    let wants_help = spelling.asks_for(&options, "-h", "--help");
    if spelling.asks_for(&options, "-V", "--version") {
        return version(&args[..skip], options, operands, wants_help);
    }
    let mut sorted = spelling.sort_out(args[..skip].iter().cloned().chain(options).collect());
    let subcommand = sorted.args.subcommand().map_err(usage)?;
    let name = subcommand.as_deref();
    // `-h` anywhere asks for the help of a subcommand that has one, else the general help;
    // `help -h` is `help`, and an unknown command is refused whatever else it holds.
    let known = matches!(name, None | Some("completions" | "man" | "version"))
        || name.and_then(Sub::named).is_some();
    if wants_help && known {
        return Ok(Command::Help(name.and_then(help::topic).unwrap_or(HELP)));
    }
    let mut args = sorted.args;
    match name {
        None => match leftover(args).into_iter().chain(lossy(operands)).next() {
            None => Ok(Command::Help(HELP)),
            Some(first) if looks_like_flag(&first) => Err(Error::Usage(format!(
                "unknown option '{first}'; see `tcpgoon --help`"
            ))),
            Some(first) => Err(Error::Usage(format!(
                "unexpected argument '{first}'; see `tcpgoon --help`"
            ))),
        },
        Some("help") => {
            // `help run -h` asks for help twice: the topic's is the answer.
            while args.contains(["-h", "--help"]) {}
            let mut operands = lossy(operands).into_iter();
            let topic = match args.opt_free_from_str::<String>().map_err(usage)? {
                Some(topic) => Some(topic),
                None => operands.next(),
            };
            let help = match topic.as_deref() {
                None => HELP,
                Some(name) => match help::topic(name) {
                    Some(help) => help,
                    // The reference tool's `help` (cobra's) answers a topic it does not know
                    // with the general usage, and exits 0: so does this one.
                    None => return Ok(Command::Help(HELP)),
                },
            };
            reject_leftover(args, operands.collect(), "help")?;
            Ok(Command::Help(help))
        }
        Some("completions") => {
            let mut free = leftover(args).into_iter().chain(lossy(operands));
            let (Some(shell), None) = (free.next(), free.next()) else {
                return Err(Error::Usage(format!(
                    "completions takes one shell: {}; e.g. tcpgoon completions bash",
                    Shell::NAMES.join(", ")
                )));
            };
            Shell::parse(&shell)
                .map(Command::Completions)
                .map_err(Error::Usage)
        }
        Some("man") => {
            reject_leftover(args, lossy(operands), "man")?;
            Ok(Command::Man)
        }
        Some("version") => {
            reject_leftover(args, lossy(operands), "version")?;
            Ok(Command::Version)
        }
        Some(other) => {
            sorted.args = args;
            match Sub::named(other) {
                Some(Sub::Run) => parse_run(sorted, lossy(operands)).map(Command::Run),
                Some(Sub::Limit) => parse_limit(sorted, lossy(operands)).map(Command::Limit),
                Some(Sub::Server) => {
                    parse_server(sorted, lossy(operands), pairs).map(Command::Server)
                }
                Some(Sub::Merge) => parse_merge(sorted.args, lossy(operands)).map(Command::Merge),
                // Paths need not be UTF-8.
                Some(Sub::Plot) => parse_plot(sorted, operands).map(Command::Plot),
                None => Err(Error::Usage(format!(
                    "unknown command '{other}': expected run, limit, server, merge, plot, \
                     completions, man, version or help"
                ))),
            }
        }
    }
}

/// `-V` or `--version` anywhere: the version, after a subcommand too, but for `version`
/// itself or no subcommand, where anything else given is refused.
fn version(
    first: &[OsString],
    options: Vec<OsString>,
    operands: Vec<OsString>,
    wants_help: bool,
) -> Result<Command, Error> {
    let command = first.first().and_then(|c| c.to_str());
    if command.is_some_and(|c| c == "help" || Sub::named(c).is_some()) {
        return Ok(Command::Version);
    }
    // Asked for alone, `--version extra` is `version extra`, and is refused as it is.
    if wants_help {
        return Ok(Command::Help(HELP));
    }
    let rest = first
        .iter()
        .filter(|first| first.to_str() != Some("version"))
        .chain(
            options
                .iter()
                .filter(|o| !matches!(o.to_str(), Some("-V" | "--version"))),
        )
        .cloned()
        .collect();
    reject_leftover(
        pico_args::Arguments::from_vec(rest),
        lossy(operands),
        "version",
    )?;
    Ok(Command::Version)
}

fn lossy(args: Vec<OsString>) -> Vec<String> {
    args.into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}
