//! The command line as typed: subcommands and flags, parsed from a vector so tests and fuzz
//! targets can feed one. Parsing never exits the process; help and version come back as
//! values. Each value is checked for form by its parser in `values`; checks that need more
//! than one flag, or the outside world, belong to `config`.

use std::ffi::OsString;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use std::path::PathBuf;

use crate::cli::complete::Shell;
use crate::cli::flags::{FLAGS, Flag, Sub};
use crate::cli::help::{self, HELP};
use crate::cli::values::{
    DEFAULT_SETTLE, Progress, interval, interval_with_unit, long_with_unit, millis, parse_bool,
    parse_escaped, parse_port, parse_port_or_zero, parse_probe_bytes, parse_probe_kind,
    parse_progress, parse_rate, parse_shard, whole_number, with_unit,
};
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeKind;
use crate::engine::source;
use crate::engine::tls::Versions;
use crate::error::Error;
use crate::judge::thresholds::{self, Thresholds};
use crate::units::wallclock::parse_wall_time;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help(&'static str),
    Version,
    Run(RunArgs),
    Limit(LimitArgs),
    Server(ServerArgs),
    /// `tcpgoon completions SHELL`: the shell's completion script.
    Completions(Shell),
    /// `tcpgoon man`: the man page, in roff.
    Man,
    Plot(PlotArgs),
    Merge(MergeArgs),
}

/// `tcpgoon merge` as typed: the files of `--json` summaries to merge (`-` for stdin).
#[derive(Debug, Clone, PartialEq)]
pub struct MergeArgs {
    pub json: bool,
    pub files: Vec<String>,
}

/// Which address family to resolve a host name to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Where connections go from and to: options shared by `run` and `limit`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Addressing {
    pub sources: Vec<IpAddr>,
    pub all_addresses: bool,
    pub family: Option<Family>,
}

/// How each established connection is probed, as typed: options shared by `run` and
/// `limit`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probing {
    pub kind: Option<ProbeKind>,
    pub send: Option<Vec<u8>>,
    pub expect: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// `--tls` and the options that shape its handshake, as typed: shared by `run` and
/// `limit`. `cli::tls` checks them together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsArgs {
    pub on: bool,
    pub insecure: bool,
    pub sni: Option<String>,
    pub ca: Option<PathBuf>,
    /// In the order given; each `--alpn` adds one.
    pub alpn: Vec<String>,
    pub version: Option<Versions>,
}

/// `tcpgoon limit` as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitArgs {
    pub host: String,
    pub port: u16,
    /// Attempts per second.
    pub rate: f64,
    /// `None`: as many as the open-files limit allows.
    pub connections: Option<u64>,
    pub dial_timeout: Duration,
    pub hold: Duration,
    pub settle: Duration,
    pub interval: Duration,
    pub debug: bool,
    /// `--summary <FILE>`: the JSON summary, written there as well.
    pub summary: Option<PathBuf>,
    /// stdout carries JSON Lines: ticks, then a summary with the finding.
    pub json: bool,
    pub addressing: Addressing,
    pub probing: Probing,
    pub tls: TlsArgs,
}

/// `tcpgoon run` as typed, each value checked for form.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    pub host: String,
    pub port: u16,
    pub connections: u64,
    pub sleep: Duration,
    pub dial_timeout: Duration,
    pub interval: Duration,
    pub assume_yes: bool,
    pub debug: bool,
    pub progress: Progress,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    /// `--summary <FILE>`: the JSON summary, written there as well as the report.
    pub summary: Option<PathBuf>,
    pub thresholds: Thresholds,
    pub hold: Duration,
    pub settle: Duration,
    pub reconnect: bool,
    pub addressing: Addressing,
    pub probing: Probing,
    /// `--shard I/N`: this process makes attempts I, I+N, … of the schedule.
    pub shard: Shard,
    /// `--start-at`: when the schedule starts, by the wall clock.
    pub start_at: Option<SystemTime>,
    pub tls: TlsArgs,
}

/// `tcpgoon plot` as typed: the `--json` outputs to draw, and where the picture goes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotArgs {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
}

/// `tcpgoon server` as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerArgs {
    pub port: u16,
    pub bind: String,
    /// `-m` as given (0: no limit); `None` when not given, since its default depends on
    /// `--accept-limit` (`config` decides).
    pub max_connections: Option<u64>,
    pub duration: Duration,
    pub backlog: u32,
    pub no_accept: bool,
    /// Accept this many, then stop accepting for good.
    pub accept_limit: Option<u64>,
    pub close_after: Option<Duration>,
    pub reset: bool,
    /// The bytes of `--greeting`, its escapes read.
    pub greeting: Option<Vec<u8>>,
    pub echo: bool,
    /// Hold at most this many open; `None` for no limit (0 closes every one at once).
    pub max_open: Option<u64>,
    /// `--reject-after K TEXT`: hold K open at once, and write TEXT's bytes (its escapes
    /// read) to each connection beyond them before closing it.
    pub reject_after: Option<(u64, Vec<u8>)>,
    pub interval: Duration,
    /// Share the port with other servers (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// `--tls`: serve TLS, with `--cert` and `--key` or a certificate made at start.
    pub tls: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

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
        let command = args.first().filter(|_| skip == 1).and_then(|c| c.to_str());
        if matches!(
            command,
            Some("run" | "limit" | "server" | "merge" | "plot" | "help")
        ) {
            return Ok(Command::Version);
        }
        // Asked for alone, `--version extra` is `version extra`, and is refused as it is.
        if wants_help {
            return Ok(Command::Help(HELP));
        }
        let rest = args[..skip]
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
        return Ok(Command::Version);
    }
    let sorted = spelling.sort_out(args[..skip].iter().cloned().chain(options).collect());
    let (superseded, repeats) = (sorted.superseded, sorted.repeats);
    let mut args = sorted.args;
    let subcommand = args.subcommand().map_err(usage)?;
    match subcommand.as_deref() {
        None => {
            if wants_help {
                return Ok(Command::Help(HELP));
            }
            match leftover(args).into_iter().chain(lossy(operands)).next() {
                None => Ok(Command::Help(HELP)),
                Some(first) if looks_like_flag(&first) => Err(Error::Usage(format!(
                    "unknown option '{first}'; see `tcpgoon --help`"
                ))),
                Some(first) => Err(Error::Usage(format!(
                    "unexpected argument '{first}'; see `tcpgoon --help`"
                ))),
            }
        }
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
            if wants_help {
                return Ok(Command::Help(HELP));
            }
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
            if wants_help {
                return Ok(Command::Help(HELP));
            }
            reject_leftover(args, lossy(operands), "man")?;
            Ok(Command::Man)
        }
        Some("version") => {
            if wants_help {
                return Ok(Command::Help(HELP));
            }
            reject_leftover(args, lossy(operands), "version")?;
            Ok(Command::Version)
        }
        Some("run") => {
            if wants_help {
                return Ok(Command::Help(help::text(Sub::Run)));
            }
            parse_run(
                Args {
                    args,
                    superseded,
                    repeats,
                },
                lossy(operands),
            )
            .map(Command::Run)
        }
        Some("limit") => {
            if wants_help {
                return Ok(Command::Help(help::text(Sub::Limit)));
            }
            parse_limit(
                Args {
                    args,
                    superseded,
                    repeats,
                },
                lossy(operands),
            )
            .map(Command::Limit)
        }
        Some("server") => {
            if wants_help {
                return Ok(Command::Help(help::text(Sub::Server)));
            }
            parse_server(
                Args {
                    args,
                    superseded,
                    repeats,
                },
                lossy(operands),
                pairs,
            )
            .map(Command::Server)
        }
        Some("merge") => {
            if wants_help {
                return Ok(Command::Help(help::text(Sub::Merge)));
            }
            parse_merge(args, lossy(operands)).map(Command::Merge)
        }
        Some("plot") => {
            if wants_help {
                return Ok(Command::Help(help::text(Sub::Plot)));
            }
            parse_plot(
                Args {
                    args,
                    superseded,
                    repeats,
                },
                operands,
            )
            .map(Command::Plot)
        }
        Some(other) => Err(Error::Usage(format!(
            "unknown command '{other}': expected run, limit, server, merge, plot, completions, \
             man, version or help"
        ))),
    }
}

/// An option that takes two values (`--reject-after K TEXT`), taken out of the command line
/// before pico-args, which reads one value per key, sees it. `values` holds fewer than two
/// when the command line ended first.
#[derive(Debug)]
struct Pair {
    key: &'static str,
    values: Vec<OsString>,
}

/// How a subcommand's options are spelled: which take a value and which are flags. pico-args
/// reads `--key value`, `--key=value`, `-k value` and `-k=value` wherever they stand; the
/// original tool's parser (cobra's pflag) also takes `-c5`, clusters such as `-yd` and
/// `-yc5`, and `--` ending the options, which [`Spelling::normalize`] rewrites into forms
/// pico-args reads. (pico-args' own `combined-flags` finds a flag's letter in any argument
/// that starts with one dash, `-y=true` included, and `short-space-opt` matches a key as a
/// prefix wherever it stands; neither follows a cluster from left to right, where the first
/// option that takes a value takes the rest.)
struct Spelling {
    /// The subcommand's options that take one value, each spelling (from the flag table).
    values: Vec<&'static str>,
    /// Its flags, each spelling.
    flags: Vec<&'static str>,
    /// Its options that take two values.
    pairs: Vec<&'static str>,
    /// The names of its options that add up when repeated.
    repeatable: Vec<&'static str>,
    sub: Option<Sub>,
}

impl Spelling {
    fn of(command: Option<&OsString>) -> Spelling {
        let sub = command.and_then(|c| c.to_str()).and_then(Sub::named);
        match sub {
            Some(sub) => Spelling {
                values: sub.value_options(),
                flags: sub.switches(),
                pairs: sub.pair_options(),
                repeatable: sub.repeatable(),
                sub: Some(sub),
            },
            None => Spelling {
                values: Vec::new(),
                flags: vec!["-h", "--help"],
                pairs: Vec::new(),
                repeatable: Vec::new(),
                sub: None,
            },
        }
    }

    /// Splits the arguments at `--` into options and operands, with every cluster of short
    /// options taken apart: `-yd` is `-y -d`, `-c5` is `-c 5`, `-yc5` is `-y -c 5`, `-yd=false`
    /// is `-y -d=false`. A value keeps its place, so `--greeting -yd` greets with `-yd`; one
    /// that starts with `-` is joined to its key (`--greeting=-yd`), since pico-args finds
    /// keys anywhere and would take `--greeting -d` for a `-d` without a value. A letter that
    /// names no option ends the cluster, which stays whole from there for the error to show.
    /// An option with two values (`--reject-after K TEXT`, `--reject-after=K TEXT`) takes the
    /// next arguments as they are, whatever they look like, and comes back on its own.
    fn normalize(&self, args: &[OsString]) -> (Vec<OsString>, Vec<OsString>, Vec<Pair>) {
        let mut options: Vec<OsString> = Vec::with_capacity(args.len());
        let mut pairs: Vec<Pair> = Vec::new();
        let mut pair_values_next = 0;
        let mut value_next = false;
        for (i, arg) in args.iter().enumerate() {
            if pair_values_next > 0 {
                pair_values_next -= 1;
                if let Some(pair) = pairs.last_mut() {
                    pair.values.push(arg.clone());
                }
                continue;
            }
            if std::mem::take(&mut value_next) {
                match options.pop() {
                    Some(mut key) if arg.len() > 1 && arg.as_encoded_bytes().starts_with(b"-") => {
                        key.push("=");
                        key.push(arg);
                        options.push(key);
                    }
                    key => options.extend(key.into_iter().chain([arg.clone()])),
                }
                continue;
            }
            let text = match arg.to_str() {
                Some("--") => return (options, args[i + 1..].to_vec(), pairs),
                Some(text) => text,
                None => {
                    options.push(arg.clone());
                    continue;
                }
            };
            let pair = self.pairs.iter().find_map(|&key| {
                let rest = text.strip_prefix(key)?;
                match rest.strip_prefix('=') {
                    Some(first) => Some((key, vec![OsString::from(first)])),
                    None => rest.is_empty().then(|| (key, Vec::new())),
                }
            });
            if let Some((key, values)) = pair {
                pair_values_next = 2 - values.len();
                pairs.push(Pair { key, values });
                continue;
            }
            match text.strip_prefix('-') {
                Some(cluster) if !cluster.is_empty() && !cluster.starts_with('-') => {
                    value_next = self.take_apart(cluster, &mut options);
                }
                _ => {
                    value_next = self.values.contains(&text);
                    options.push(arg.clone());
                }
            }
        }
        (options, Vec::new(), pairs)
    }

    /// Pushes the options of `-<cluster>`; true when the last takes its value from the next
    /// argument.
    fn take_apart(&self, cluster: &str, options: &mut Vec<OsString>) -> bool {
        let mut rest = cluster;
        while let Some(letter) = rest.chars().next() {
            let key = format!("-{letter}");
            let after = &rest[letter.len_utf8()..];
            if self.values.contains(&key.as_str()) {
                if after.is_empty() {
                    options.push(key.into());
                    return true;
                }
                if after.starts_with('=') {
                    // `-c=5`, read by pico-args as it reads `--connections=5`.
                    options.push(format!("-{rest}").into());
                } else {
                    // `-c5` is `-c=5`: joined, so that a value spelled like an option
                    // (`-i-d`) stays the value, as pflag reads it.
                    options.push(format!("{key}={after}").into());
                }
                return false;
            }
            let is_flag = self.flags.contains(&key.as_str()) || key == "-h" || key == "-V";
            if !is_flag || after.starts_with('=') {
                // An unknown letter, or `-y=true`: `flag` reads the latter.
                options.push(format!("-{rest}").into());
                return false;
            }
            options.push(key.into());
            rest = after;
        }
        false
    }

    /// Sorts normalized options into those that stand, those `superseded`, and the
    /// occurrences of the repeatable options. Of an option given more than once, the last
    /// stands, as with the reference tool's parser (pflag sets the value each time it meets
    /// the option), so `-c 5 -c 3` is 3 and `-y -y` is `-y`; short and long forms are one
    /// option. Each keeps its spelling; the superseded ones are still read, so that a bad
    /// value is an error wherever it stands, as it is for pflag. A repeatable option adds
    /// each occurrence, in the order given (pico-args would take `--key value` forms before
    /// `--key=value` ones).
    fn sort_out(&self, options: Vec<OsString>) -> Args {
        let found = self.occurrences(&options);
        let last_of = |name: &str| found.iter().rposition(|(_, _, n)| *n == name);
        #[derive(Clone, Copy)]
        enum Place {
            Stands,
            Superseded,
            Repeat(usize),
        }
        let mut places = vec![Place::Stands; options.len()];
        let mut repeats = Vec::new();
        for (k, (at, span, name)) in found.iter().enumerate() {
            let place = if self.repeatable.contains(name) {
                repeats.push((*name, Vec::new()));
                Place::Repeat(repeats.len() - 1)
            } else if last_of(name) != Some(k) {
                Place::Superseded
            } else {
                continue;
            };
            places[*at..at + span].fill(place);
        }
        let (mut kept, mut superseded) = (Vec::new(), Vec::new());
        for (arg, place) in options.into_iter().zip(places) {
            match place {
                Place::Stands => kept.push(arg),
                Place::Superseded => superseded.push(arg),
                Place::Repeat(r) => repeats[r].1.push(arg),
            }
        }
        Args {
            args: pico_args::Arguments::from_vec(kept),
            superseded: pico_args::Arguments::from_vec(superseded),
            repeats,
        }
    }

    /// Each option among normalized options, in order: where it starts, how many arguments
    /// it spans (a key and its value are two, `key=value` one), and its name.
    fn occurrences(&self, options: &[OsString]) -> Vec<(usize, usize, &'static str)> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < options.len() {
            let text = options[i].to_str().unwrap_or("");
            let key = text.split_once('=').map_or(text, |(key, _)| key);
            let span = if self.values.contains(&text) {
                2.min(options.len() - i)
            } else {
                1
            };
            if let Some(name) = self.name(key) {
                found.push((i, span, name));
            }
            i += span;
        }
        found
    }

    /// The name of the option `key` spells: its long form when it has one.
    fn name(&self, key: &str) -> Option<&'static str> {
        match self.sub {
            Some(sub) => sub
                .flags()
                .find(|flag| flag.spellings().any(|s| s == key))
                .map(Flag::name),
            None => self.flags.contains(&key).then_some("--help"),
        }
    }

    /// Whether `short` or `long` is among normalized options as an option, not as the value
    /// of one: `--greeting -h` asks for no help.
    fn asks_for(&self, options: &[OsString], short: &str, long: &str) -> bool {
        let mut value_next = false;
        options.iter().any(|arg| {
            let arg = arg.to_str().unwrap_or("");
            let is_value = std::mem::replace(&mut value_next, self.values.contains(&arg));
            !is_value && (arg == short || arg == long)
        })
    }
}

/// A subcommand's options, sorted out by [`Spelling::sort_out`].
struct Args {
    /// The options that stand: each given once.
    args: pico_args::Arguments,
    /// Those a later one of the same name superseded: only checked.
    superseded: pico_args::Arguments,
    /// Each occurrence of a repeatable option, in order: its name and its arguments.
    repeats: Vec<(&'static str, Vec<OsString>)>,
}

fn lossy(args: Vec<OsString>) -> Vec<String> {
    args.into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn parse_run(mut args: Args, operands: Vec<String>) -> Result<RunArgs, Error> {
    let connections = option(&mut args, &["-c", "--connections"], whole_number)?.unwrap_or(100);
    let sleep = option(&mut args, &["-s", "--sleep"], millis)?.unwrap_or(Duration::from_millis(10));
    let dial_timeout =
        option(&mut args, &["-t", "--dial-timeout"], millis)?.unwrap_or(Duration::from_secs(5));
    let interval =
        option(&mut args, &["-i", "--interval"], interval)?.unwrap_or(Duration::from_secs(1));
    let progress = option(&mut args, &["--progress"], parse_progress)?.unwrap_or(Progress::Auto);
    let hdr_log = option(&mut args, &["--hdr-log"], |s| Ok(PathBuf::from(s)))?;
    let summary = option(&mut args, &["--summary"], |s| Ok(PathBuf::from(s)))?;
    let thresholds = Thresholds {
        max_latency: repeated(&mut args, "--max-latency", thresholds::parse_max_latency)?,
        min_established: option(
            &mut args,
            &["--min-established"],
            thresholds::parse_min_established,
        )?,
    };
    let hold = option(&mut args, &["--hold"], long_with_unit)?.unwrap_or(Duration::ZERO);
    let settle = option(&mut args, &["--settle"], with_unit)?.unwrap_or(DEFAULT_SETTLE);
    let assume_yes = flag(&mut args, &["-y", "--assume-yes"])?;
    let debug = flag(&mut args, &["-d", "--debug"])?;
    let json = flag(&mut args, &["--json"])?;
    let reconnect = flag(&mut args, &["--reconnect"])?;
    let shard = option(&mut args, &["--shard"], parse_shard)?.unwrap_or(Shard::WHOLE);
    let start_at = option(&mut args, &["--start-at"], parse_wall_time)?;
    let addressing = parse_addressing(&mut args)?;
    let probing = parse_probing(&mut args)?;
    let tls = parse_tls(&mut args)?;
    let (host, port) = host_and_port(args, operands, "run")?;
    Ok(RunArgs {
        host,
        port,
        connections,
        sleep,
        dial_timeout,
        interval,
        assume_yes,
        debug,
        progress,
        json,
        hdr_log,
        summary,
        thresholds,
        hold,
        settle,
        reconnect,
        addressing,
        probing,
        shard,
        start_at,
        tls,
    })
}

/// `merge [--json] FILE…`: at least one file; `-` is stdin.
fn parse_merge(mut args: pico_args::Arguments, operands: Vec<String>) -> Result<MergeArgs, Error> {
    let json = flag_in(&mut args, &["--json"])?.unwrap_or(false);
    let mut files = leftover(args);
    if let Some(flag) = files.iter().find(|a| looks_like_flag(a)) {
        return Err(Error::Usage(format!(
            "unknown option '{flag}' for merge; see `tcpgoon merge --help`"
        )));
    }
    files.extend(operands);
    if files.is_empty() {
        return Err(Error::Usage(
            "merge takes the --json output of each shard: FILE… or - for stdin".to_string(),
        ));
    }
    Ok(MergeArgs { json, files })
}

fn parse_limit(mut args: Args, operands: Vec<String>) -> Result<LimitArgs, Error> {
    let rate = option(&mut args, &["-r", "--rate"], parse_rate)?.unwrap_or(1000.0);
    let connections = option(&mut args, &["-c", "--connections"], |s| {
        whole_number(s).and_then(|n| match n {
            0 => Err("must be at least 1".to_string()),
            n => Ok(n),
        })
    })?;
    let dial_timeout =
        option(&mut args, &["-t", "--dial-timeout"], with_unit)?.unwrap_or(Duration::from_secs(1));
    let hold = option(&mut args, &["--hold"], long_with_unit)?.unwrap_or(Duration::from_secs(5));
    let settle = option(&mut args, &["--settle"], with_unit)?.unwrap_or(DEFAULT_SETTLE);
    let interval = option(&mut args, &["-i", "--interval"], interval_with_unit)?
        .unwrap_or(Duration::from_secs(1));
    let debug = flag(&mut args, &["-d", "--debug"])?;
    let summary = option(&mut args, &["--summary"], |s| Ok(PathBuf::from(s)))?;
    let json = flag(&mut args, &["--json"])?;
    let addressing = parse_addressing(&mut args)?;
    let probing = parse_probing(&mut args)?;
    let tls = parse_tls(&mut args)?;
    let (host, port) = host_and_port(args, operands, "limit")?;
    Ok(LimitArgs {
        host,
        port,
        rate,
        connections,
        dial_timeout,
        hold,
        settle,
        interval,
        debug,
        summary,
        json,
        addressing,
        probing,
        tls,
    })
}

/// `plot FILE... -o OUT`: at least one input (`-` is stdin), and the output.
fn parse_plot(mut args: Args, operands: Vec<OsString>) -> Result<PlotArgs, Error> {
    let output = option(&mut args, &["-o", "--output"], |s| match s {
        "" => Err("needs a path, not an empty one".to_string()),
        s => Ok(PathBuf::from(s)),
    })?;
    let mut inputs = args.args.finish();
    if let Some(flag) = inputs
        .iter()
        .find(|a| looks_like_flag(&a.to_string_lossy()))
    {
        return Err(Error::Usage(format!(
            "unknown option '{}' for plot; see `tcpgoon help plot`",
            flag.to_string_lossy()
        )));
    }
    inputs.extend(operands);
    let Some(output) = output else {
        return Err(Error::Usage(
            "plot needs -o <FILE>, the SVG to write; see `tcpgoon help plot`".to_string(),
        ));
    };
    if inputs.is_empty() {
        return Err(Error::Usage(
            "plot takes at least one FILE, the --json output of a run, limit or merge; \
             see `tcpgoon help plot`"
                .to_string(),
        ));
    }
    Ok(PlotArgs {
        inputs: inputs.into_iter().map(PathBuf::from).collect(),
        output,
    })
}

fn parse_addressing(args: &mut Args) -> Result<Addressing, Error> {
    // Every --source adds its addresses: one list, checked as a whole (no address twice).
    let sources = repeated(args, "--source", |s| Ok(s.to_string()))?;
    let sources = if sources.is_empty() {
        Vec::new()
    } else {
        source::parse_sources(&sources.join(","))
            .map_err(|e| Error::Usage(format!("--source: {e}")))?
    };
    let all_addresses = flag(args, &["--all-addresses"])?;
    let family = match (flag(args, &["-4"])?, flag(args, &["-6"])?) {
        (true, true) => {
            return Err(Error::Usage(
                "-4 and -6 exclude each other; give one".to_string(),
            ));
        }
        (true, false) => Some(Family::V4),
        (false, true) => Some(Family::V6),
        (false, false) => None,
    };
    Ok(Addressing {
        sources,
        all_addresses,
        family,
    })
}

/// Application probes: a preset (`--probe`) or bytes given by hand (`--send`, `--expect`).
fn parse_probing(args: &mut Args) -> Result<Probing, Error> {
    Ok(Probing {
        kind: option(args, &["--probe"], parse_probe_kind)?,
        send: option(args, &["--send"], parse_probe_bytes)?,
        expect: option(args, &["--expect"], parse_probe_bytes)?,
        timeout: option(args, &["--probe-timeout"], with_unit)?,
    })
}

/// `--tls` and its options; `cli::tls` checks how they combine.
fn parse_tls(args: &mut Args) -> Result<TlsArgs, Error> {
    Ok(TlsArgs {
        sni: option(args, &["--sni"], |s| match s {
            "" => Err("needs a name".to_string()),
            s => Ok(s.to_string()),
        })?,
        ca: option(args, &["--ca"], |s| Ok(PathBuf::from(s)))?,
        alpn: repeated(args, "--alpn", |s| match s.len() {
            1..=255 => Ok(s.to_string()),
            _ => Err(format!("'{s}': a protocol name is 1 to 255 bytes")),
        })?,
        version: option(args, &["--tls-version"], |s| match s {
            "1.2" => Ok(Versions::Tls12),
            "1.3" => Ok(Versions::Tls13),
            _ => Err(format!("'{s}': expected 1.2 or 1.3")),
        })?,
        on: flag(args, &["--tls"])?,
        insecure: flag(args, &["--insecure"])?,
    })
}

/// The two free arguments every client command ends with, before or after `--`; anything
/// else left is an error.
fn host_and_port(args: Args, operands: Vec<String>, command: &str) -> Result<(String, u16), Error> {
    let mut free = leftover(args.args);
    if let Some(flag) = free.iter().find(|a| looks_like_flag(a)) {
        return Err(Error::Usage(format!(
            "unknown option '{flag}' for {command}; see `tcpgoon {command} --help`"
        )));
    }
    free.extend(operands);
    let [host, port] = <[String; 2]>::try_from(free).map_err(|free| {
        Error::Usage(format!(
            "{command} takes <host> <port>, got {} argument{}; see `tcpgoon {command} --help`",
            free.len(),
            if free.len() == 1 { "" } else { "s" }
        ))
    })?;
    let port = parse_port(&port).map_err(|e| Error::Usage(format!("<port>: {e}")))?;
    Ok((host, port))
}

fn parse_server(
    mut args: Args,
    operands: Vec<String>,
    pairs: Vec<Pair>,
) -> Result<ServerArgs, Error> {
    let port = option(&mut args, &["-p", "--port"], parse_port_or_zero)?.unwrap_or(54321);
    let bind = option(&mut args, &["-b", "--bind"], |s| Ok(s.to_string()))?
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let max_connections = option(&mut args, &["-m", "--maxconnections"], whole_number)?;
    let duration = option(&mut args, &["-d", "--duration"], long_with_unit)?
        .unwrap_or(Duration::from_secs(30));
    let backlog = option(&mut args, &["--backlog"], |s| {
        whole_number(s).and_then(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| *n <= i32::MAX as u32)
                .ok_or_else(|| format!("'{s}' is too large"))
        })
    })?
    .unwrap_or(1024);
    let accept_limit = option(&mut args, &["--accept-limit"], whole_number)?;
    let close_after = option(&mut args, &["--close-after"], with_unit)?;
    let greeting = option(&mut args, &["--greeting"], parse_escaped)?;
    let max_open = option(&mut args, &["--max-open"], whole_number)?;
    let interval = option(&mut args, &["-i", "--interval"], interval_with_unit)?
        .unwrap_or(Duration::from_secs(1));
    let cert = option(&mut args, &["--cert"], |s| Ok(PathBuf::from(s)))?;
    let key = option(&mut args, &["--key"], |s| Ok(PathBuf::from(s)))?;
    let no_accept = flag(&mut args, &["--no-accept"])?;
    let reset = flag(&mut args, &["--reset"])?;
    let echo = flag(&mut args, &["--echo"])?;
    let reuse_port = flag(&mut args, &["--reuse-port"])?;
    let tls = flag(&mut args, &["--tls"])?;
    let reject_after = reject_after(pairs)?;
    reject_leftover(args.args, operands, "server")?;
    Ok(ServerArgs {
        port,
        bind,
        max_connections,
        duration,
        backlog,
        no_accept,
        accept_limit,
        close_after,
        reset,
        greeting,
        echo,
        max_open,
        reject_after,
        interval,
        reuse_port,
        tls,
        cert,
        key,
    })
}

/// `--reject-after K TEXT`, from the options with two values (it is the only one).
fn reject_after(pairs: Vec<Pair>) -> Result<Option<(u64, Vec<u8>)>, Error> {
    // Given twice, the last counts, as for every option; each is checked all the same.
    let mut last = None;
    for Pair { values, .. } in pairs
        .into_iter()
        .filter(|pair| pair.key == "--reject-after")
    {
        last = Some(reject_after_pair(values)?);
    }
    Ok(last)
}

fn reject_after_pair(values: Vec<OsString>) -> Result<(u64, Vec<u8>), Error> {
    const NAME: &str = "--reject-after";
    let [count, text] = <[OsString; 2]>::try_from(values).map_err(|_| {
        Error::Usage(format!(
            "{NAME} needs two values, a count and a text: e.g. {NAME} 100 \
             '-ERR max number of clients reached\\r\\n'"
        ))
    })?;
    let count =
        whole_number(&count.to_string_lossy()).map_err(|e| Error::Usage(format!("{NAME}: {e}")))?;
    let text = text.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{NAME}: the text is not UTF-8; write such bytes as \\xHH"
        ))
    })?;
    let bytes = parse_escaped(text).map_err(|e| Error::Usage(format!("{NAME}: {e}")))?;
    Ok((count, bytes))
}

/// Reads an option's value with `parse`, naming the flag in the error. `keys` lists the
/// short form first when there is one, the long form last. Given more than once, the last
/// value counts (the earlier ones are checked all the same: see [`Spelling::sort_out`]).
fn option<T>(
    args: &mut Args,
    keys: &[&'static str],
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    let value = value_in(&mut args.args, keys, parse)?;
    while value_in(&mut args.superseded, keys, parse)?.is_some() {}
    Ok(value)
}

/// The first value of the option `keys` among `args`, taken out of them.
fn value_in<T>(
    args: &mut pico_args::Arguments,
    keys: &[&'static str],
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    let name = keys[keys.len() - 1];
    match *keys {
        [short, long] => args.opt_value_from_fn([short, long], parse),
        _ => args.opt_value_from_fn(name, parse),
    }
    .map_err(|e| option_error(name, e))
}

/// Whether a flag was given, short form first in `keys` as for [`option`]: alone, or as
/// the original tool's parser also takes it, `--debug=false`, `-y=true`. Given more than
/// once, the last counts, as for an option.
fn flag(args: &mut Args, keys: &[&'static str]) -> Result<bool, Error> {
    let on = flag_in(&mut args.args, keys)?;
    while flag_in(&mut args.superseded, keys)?.is_some() {}
    Ok(on.unwrap_or(false))
}

/// One occurrence of the flag `keys` among `args`, taken out of them: `None` when there is
/// none, else whether it says on.
fn flag_in(args: &mut pico_args::Arguments, keys: &[&'static str]) -> Result<Option<bool>, Error> {
    let name = keys[keys.len() - 1];
    let bare = match *keys {
        [short, long] => args.contains([short, long]),
        _ => args.contains(name),
    };
    if bare {
        return Ok(Some(true));
    }
    let value = match *keys {
        [short, long] => args.opt_value_from_fn([short, long], parse_bool),
        _ => args.opt_value_from_fn(name, parse_bool),
    };
    value.map_err(|e| {
        let value = match e {
            pico_args::Error::Utf8ArgumentParsingFailed { value, .. } => value,
            _ => String::new(),
        };
        Error::Usage(format!(
            "{name}: '{value}' is not true or false; a flag is given alone, or with =true or \
             =false"
        ))
    })
}

/// Reads every occurrence of a repeatable option, in the order given.
fn repeated<T>(
    args: &mut Args,
    name: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, Error> {
    debug_assert!(FLAGS.iter().any(|flag| flag.repeats && flag.name() == name));
    let mut values = Vec::new();
    for (_, occurrence) in args.repeats.iter().filter(|(n, _)| *n == name) {
        let mut one = pico_args::Arguments::from_vec(occurrence.clone());
        values.extend(value_in(&mut one, &[name], parse)?);
    }
    Ok(values)
}

fn option_error(name: &str, e: pico_args::Error) -> Error {
    match e {
        pico_args::Error::OptionWithoutAValue(_) => Error::Usage(format!("{name} needs a value")),
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. }
        | pico_args::Error::ArgumentParsingFailed { cause } => {
            Error::Usage(format!("{name}: {cause}"))
        }
        other => Error::Usage(format!("{name}: {other}")),
    }
}

fn usage(e: pico_args::Error) -> Error {
    Error::Usage(e.to_string())
}

fn leftover(args: pico_args::Arguments) -> Vec<String> {
    args.finish()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn reject_leftover(
    args: pico_args::Arguments,
    operands: Vec<String>,
    command: &str,
) -> Result<(), Error> {
    let mut left = leftover(args).into_iter();
    if let Some(extra) = left.next() {
        let help = match command {
            "run" | "limit" | "server" | "plot" => format!("tcpgoon help {command}"),
            _ => "tcpgoon --help".to_string(),
        };
        return Err(if looks_like_flag(&extra) {
            Error::Usage(format!(
                "unknown option '{extra}' for {command}; see `{help}`"
            ))
        } else {
            Error::Usage(format!("unexpected argument '{extra}' for {command}"))
        });
    }
    match operands.into_iter().next() {
        None => Ok(()),
        Some(extra) => Err(Error::Usage(format!(
            "unexpected argument '{extra}' for {command}"
        ))),
    }
}

fn looks_like_flag(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &str) -> Result<Command, Error> {
        parse(words.split_whitespace().map(OsString::from).collect())
    }

    #[test]
    fn plot_takes_files_and_one_output() {
        let plot = |words: &str| match parse_words(words) {
            Ok(Command::Plot(args)) => args,
            other => panic!("{words}: {other:?}"),
        };
        let args = plot("plot a.jsonl - -o out.svg b.jsonl");
        assert_eq!(
            args.inputs,
            [PathBuf::from("a.jsonl"), "-".into(), "b.jsonl".into()]
        );
        assert_eq!(args.output, PathBuf::from("out.svg"));
        assert_eq!(
            plot("plot -o a.svg -o b.svg x").output,
            PathBuf::from("b.svg")
        );
        // After `--` a FILE may look like an option; `--` itself may be the output's name.
        assert_eq!(plot("plot -o x.svg -- -y").inputs, [PathBuf::from("-y")]);
        assert_eq!(plot("plot --output=-- x").output, PathBuf::from("--"));
        let empty = parse(["plot", "x", "-o", ""].map(OsString::from).to_vec());
        assert_eq!(
            empty,
            Err(Error::Usage(
                "--output: needs a path, not an empty one".to_string()
            ))
        );
        assert_eq!(
            parse_words("help plot"),
            Ok(Command::Help(help::text(Sub::Plot)))
        );
        assert_eq!(
            parse_words("plot x -h"),
            Ok(Command::Help(help::text(Sub::Plot)))
        );
        for (words, says) in [
            ("plot x", "plot needs -o"),
            ("plot -o x.svg", "at least one FILE"),
            ("plot x -o", "--output needs a value"),
            ("plot x --output=", "--output needs a value"),
            ("plot x -o y --json", "unknown option '--json' for plot"),
        ] {
            match parse_words(words) {
                Err(Error::Usage(message)) => assert!(message.contains(says), "{words}: {message}"),
                other => panic!("{words}: {other:?}"),
            }
        }
    }

    #[test]
    fn limit_takes_json() {
        let Ok(Command::Limit(args)) = parse_words("limit h 80 --json") else {
            panic!()
        };
        assert!(args.json);
        let Ok(Command::Limit(args)) = parse_words("limit h 80") else {
            panic!()
        };
        assert!(!args.json);
    }

    fn run_args(words: &str) -> RunArgs {
        match parse_words(words) {
            Ok(Command::Run(args)) => args,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    fn usage_error(words: &str) -> String {
        match parse_words(words) {
            Err(Error::Usage(message)) => message,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    #[test]
    fn reference_command_lines_keep_their_meaning() {
        let args = run_args("run example.host 80 --connections 4 --sleep 999 -t 1 -y");
        assert_eq!(args.host, "example.host");
        assert_eq!(args.port, 80);
        assert_eq!(args.connections, 4);
        assert_eq!(args.sleep, Duration::from_millis(999));
        assert_eq!(args.dial_timeout, Duration::from_millis(1));
        assert_eq!(args.interval, Duration::from_secs(1));
        assert!(args.assume_yes);
        assert!(!args.debug);
    }

    #[test]
    fn defaults_match_the_reference() {
        let args = run_args("run ::1 8080");
        assert_eq!(args.connections, 100);
        assert_eq!(args.sleep, Duration::from_millis(10));
        assert_eq!(args.dial_timeout, Duration::from_millis(5000));
        assert_eq!(args.interval, Duration::from_secs(1));
        assert!(!args.assume_yes);
    }

    #[test]
    fn flags_go_anywhere_and_take_units_or_equals() {
        let args = run_args("run -c 7 -i 250ms --sleep=1.5s -d [::1] 1");
        assert_eq!(args.connections, 7);
        assert_eq!(args.interval, Duration::from_millis(250));
        assert_eq!(args.sleep, Duration::from_millis(1500));
        assert!(args.debug);
        assert_eq!(args.host, "[::1]");
    }

    #[test]
    fn reporting_options() {
        let args = run_args(
            "run h 1 --json --hdr-log l.hlog --progress bar --max-latency p99=20ms --max-latency max=1s --min-established 95%",
        );
        assert!(args.json);
        assert_eq!(args.hdr_log, Some(PathBuf::from("l.hlog")));
        assert_eq!(args.progress, Progress::Bar);
        assert_eq!(args.thresholds.max_latency.len(), 2);
        assert_eq!(
            args.thresholds.min_established,
            thresholds::parse_min_established("95%").ok()
        );
        assert_eq!(run_args("run h 1").progress, Progress::Auto);
    }

    #[test]
    fn summary_takes_a_path_for_run_and_limit() {
        let args = run_args("run h 1 --summary out.json");
        assert_eq!(args.summary, Some(PathBuf::from("out.json")));
        assert_eq!(run_args("run h 1").summary, None);
        let Ok(Command::Limit(limit)) = parse_words("limit h 1 --summary=l.json") else {
            panic!("limit with --summary refused");
        };
        assert_eq!(limit.summary, Some(PathBuf::from("l.json")));
    }

    #[test]
    fn help_and_version_are_values() {
        assert_eq!(parse_words(""), Ok(Command::Help(HELP)));
        assert_eq!(parse_words("--help"), Ok(Command::Help(HELP)));
        assert_eq!(
            parse_words("help run"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
        assert_eq!(
            parse_words("run -h"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
        assert_eq!(
            parse_words("server --help"),
            Ok(Command::Help(help::text(Sub::Server)))
        );
        assert_eq!(parse_words("-V"), Ok(Command::Version));
        assert_eq!(parse_words("version"), Ok(Command::Version));
    }

    #[test]
    fn the_version_however_asked_for_takes_no_arguments() {
        for words in [
            "version extra",
            "--version extra",
            "-V extra",
            "extra -V",
            "-V -- extra",
        ] {
            assert_eq!(
                usage_error(words),
                "unexpected argument 'extra' for version",
                "{words}"
            );
        }
        for words in ["--version --bogus", "version --bogus", "-Vx"] {
            let message = usage_error(words);
            assert!(
                message.starts_with("unknown option '-"),
                "{words}: {message}"
            );
            assert!(
                message.ends_with("for version; see `tcpgoon --help`"),
                "{words}: {message}"
            );
        }
        for words in ["--version", "-V", "version", "-V -V", "version --version"] {
            assert_eq!(parse_words(words), Ok(Command::Version), "{words}");
        }
        assert_eq!(parse_words("--version -h"), Ok(Command::Help(HELP)));
        // Within a command's options, as -h is.
        assert_eq!(parse_words("run h 80 -V"), Ok(Command::Version));
    }

    #[test]
    fn values_given_with_equals_are_not_flags() {
        // Found by the `cli_args` fuzz target: an `h` or `V` inside `-s=1h` or
        // `-b=localhost` was read as -h or -V, so these printed help instead of running.
        assert_eq!(run_args("run h 80 -s=1h").sleep, Duration::from_secs(3600));
        assert_eq!(
            run_args("run h 80 -i=1h -t=2h").interval,
            Duration::from_secs(3600)
        );
        let Ok(Command::Server(args)) = parse_words("server -b=localhost -d=1h --greeting=-V")
        else {
            panic!("server arguments rejected");
        };
        assert_eq!(args.bind, "localhost");
        assert_eq!(args.duration, Duration::from_secs(3600));
        assert_eq!(args.greeting.as_deref(), Some(&b"-V"[..]));
        let Ok(Command::Limit(limit)) = parse_words("limit h 80 -t=2h") else {
            panic!("limit arguments rejected");
        };
        assert_eq!(limit.dial_timeout, Duration::from_secs(7200));
        // Clustered short flags still count.
        assert_eq!(
            parse_words("run -yh"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
        assert_eq!(parse_words("run h 80 -yV"), Ok(Command::Version));
        assert!(run_args("run h 80 -yd").debug);
    }

    #[test]
    fn an_interval_is_0_or_at_least_10ms() {
        for command in ["run h 80", "limit h 80", "server"] {
            for short in ["1ns", "9ms", "9999us", "0.009s"] {
                assert_eq!(
                    usage_error(&format!("{command} -i {short}")),
                    format!(
                        "--interval: '{short}' is shorter than 10ms: give 10ms or more, or 0 \
                         to turn the live lines off"
                    )
                );
            }
        }
        assert_eq!(run_args("run h 80 -i 0").interval, Duration::ZERO);
        assert_eq!(
            run_args("run h 80 -i 10ms").interval,
            Duration::from_millis(10)
        );
        // A bare number is run's, the original's, alone: limit and server ask for a unit.
        assert_eq!(
            run_args("run h 80 -i .01").interval,
            Duration::from_millis(10)
        );
        assert_eq!(
            usage_error("run h 80 -i 0.009"),
            "--interval: '0.009' is shorter than 10ms: give 10ms or more, or 0 to turn the \
             live lines off"
        );
        for command in ["limit h 80", "server"] {
            assert_eq!(
                usage_error(&format!("{command} -i 2")),
                "--interval: '2' has no unit: write 2s or 2ms"
            );
            assert!(parse_words(&format!("{command} -i 0")).is_ok());
        }
    }

    #[test]
    fn an_attached_value_spelled_like_an_option_is_the_value() {
        // Found by the cli_args fuzz target: `-i-d` took `-d` for the next option.
        assert_eq!(
            usage_error("server -p 0 -i-d 2s"),
            "--interval: invalid duration '-d': expected a number with a unit (ns, us, ms, \
             s, m, h), e.g. 10ms, 1.5s or 1m30s"
        );
        let Ok(Command::Server(server)) = parse_words("server -p0 -i2s -d0") else {
            panic!("server arguments rejected");
        };
        assert_eq!(server.interval, Duration::from_secs(2));
        assert_eq!(run_args("run h 80 -yc5").connections, 5);
    }

    #[test]
    fn a_flag_the_original_lacks_takes_no_bare_number() {
        for (words, error) in [
            (
                "run h 80 --hold 1",
                "--hold: '1' has no unit: write 1s or 1ms",
            ),
            (
                "run h 80 --settle 5",
                "--settle: '5' has no unit: write 5ms or 5s",
            ),
            (
                "run h 80 --probe greeting --probe-timeout 100",
                "--probe-timeout: '100' has no unit: write 100ms or 100s",
            ),
            (
                "run h 80 --max-latency p99=1",
                "--max-latency: '1' has no unit: write 1ms or 1s",
            ),
            (
                "limit h 80 -t 200",
                "--dial-timeout: '200' has no unit: write 200ms or 200s",
            ),
            (
                "limit h 80 --hold 3",
                "--hold: '3' has no unit: write 3s or 3ms",
            ),
            (
                "server -d 2",
                "--duration: '2' has no unit: write 2s or 2ms",
            ),
            (
                "server --close-after 50",
                "--close-after: '50' has no unit: write 50ms or 50s",
            ),
        ] {
            assert_eq!(usage_error(words), error, "{words}");
        }
        // The original's flags keep its bare units; 0 needs none anywhere; compounds are read.
        let args = run_args("run h 80 -s 999 -t 1 -i 2 --hold 0 --settle 0");
        assert_eq!(args.sleep, Duration::from_millis(999));
        assert_eq!(args.dial_timeout, Duration::from_millis(1));
        assert_eq!(args.interval, Duration::from_secs(2));
        assert_eq!(
            run_args("run h 80 --hold 1m30s").hold,
            Duration::from_secs(90)
        );
        let Ok(Command::Server(server)) = parse_words("server -d 0 --close-after 1m0.5s") else {
            panic!("server arguments rejected");
        };
        assert_eq!(server.duration, Duration::ZERO);
        assert_eq!(server.close_after, Some(Duration::from_millis(60_500)));
    }

    #[test]
    fn bad_input_names_what_is_wrong() {
        assert!(usage_error("run h 80 --bogus").contains("'--bogus'"));
        assert!(usage_error("run h 80 -c x").contains("--connections"));
        assert!(usage_error("run h 80 -c -1").contains("--connections"));
        assert!(usage_error("run h 80 -s 5parsecs").contains("--sleep"));
        assert!(usage_error("run h 0").contains("port"));
        assert!(usage_error("run h 65536").contains("out of range"));
        assert!(usage_error("run h").contains("<host> <port>"));
        assert!(usage_error("run h 1 2").contains("got 3 arguments"));
        assert!(usage_error("run h 80 -c").contains("needs a value"));
        assert!(usage_error("launch").contains("unknown command"));
        assert!(usage_error("server --port 70000").contains("out of range"));
        assert!(usage_error("server extra").contains("unexpected argument"));
        assert!(usage_error("run h 80 --max-latency p99").contains("--max-latency"));
        assert!(usage_error("run h 80 --min-established 101%").contains("--min-established"));
        assert!(usage_error("run h 80 --progress loud").contains("--progress"));
    }

    #[test]
    fn an_option_given_twice_keeps_the_last_value() {
        // As the reference tool's parser (pflag) does: each occurrence sets the value.
        assert_eq!(run_args("run h 80 -c 5 -c 3").connections, 3);
        assert_eq!(run_args("run h 80 -c5 --connections=7 -c 6").connections, 6);
        assert_eq!(run_args("run -c 5 h 80 --connections 9").connections, 9);
        assert_eq!(
            run_args("run h 80 -s 1 --sleep=2 -s 3").sleep,
            Duration::from_millis(3)
        );
        assert_eq!(
            run_args("run h 80 --progress bar --progress lines").progress,
            Progress::Lines
        );
        let args = run_args("run h 80 -y -y -d --debug --json --json -4 -4");
        assert!(args.assume_yes && args.debug && args.json);
        assert_eq!(args.addressing.family, Some(Family::V4));
        assert!(!run_args("run h 80 -y -y=false").assume_yes);
        assert!(run_args("run h 80 -y=false -y").assume_yes);
        assert!(run_args("run h 80 -yd -dy").assume_yes);
        let Ok(Command::Limit(limit)) =
            parse_words("limit h 80 --all-addresses --all-addresses -r 5 -r 7")
        else {
            panic!("limit arguments rejected");
        };
        assert!(limit.addressing.all_addresses);
        assert_eq!(limit.rate, 7.0);
        let Ok(Command::Server(server)) =
            parse_words("server --reset --reset -p 1 -p 0 --greeting -a --greeting b")
        else {
            panic!("server arguments rejected");
        };
        assert!(server.reset);
        assert_eq!(
            (server.port, server.greeting.as_deref()),
            (0, Some(&b"b"[..]))
        );
        // A value is checked wherever it stands, as pflag checks each.
        assert_eq!(
            usage_error("run h 80 -c x -c 3"),
            "--connections: 'x' is not a whole number"
        );
        assert!(usage_error("run h 80 -y=maybe -y").starts_with("--assume-yes: 'maybe'"));
        assert!(usage_error("run h 80 -c -c 3").contains("--connections"));
        // Repeatable options add up instead, in the order given, whatever the spelling.
        let args = run_args("run h 80 --max-latency=p50=1ms --max-latency p99=2ms");
        let names: Vec<&str> = args
            .thresholds
            .max_latency
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["p50", "p99"]);
        let args = run_args(
            "run h 80 --max-latency p50=1ms --max-latency=p99=2ms --source 127.0.0.2 --source 127.0.0.3,127.0.0.4",
        );
        assert_eq!(args.thresholds.max_latency.len(), 2);
        assert_eq!(
            args.addressing.sources,
            ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map(|s| s.parse::<IpAddr>().unwrap())
        );
        assert_eq!(
            usage_error("run h 80 --source 127.0.0.2 --source 127.0.0.2"),
            "--source: source address 127.0.0.2 is given twice"
        );
        // Different options that exclude each other still do.
        assert!(usage_error("run h 80 -4 -6 -4").contains("exclude each other"));
    }

    /// An option's short and long forms are one option: the lists pair them as the help
    /// does (`-c, --connections <N>`).
    #[test]
    fn short_and_long_forms_name_one_option() {
        for (command, help) in [
            ("run", help::text(Sub::Run)),
            ("limit", help::text(Sub::Limit)),
            ("server", help::text(Sub::Server)),
        ] {
            let spelling = Spelling::of(Some(&OsString::from(command)));
            for line in help.lines().map(str::trim_start) {
                let Some((short, rest)) = line.split_once(", --") else {
                    continue;
                };
                if short.len() != 2 || !short.starts_with('-') {
                    continue;
                }
                let long = format!("--{}", rest.split([' ', ',']).next().unwrap());
                assert_eq!(spelling.name(short), Some(long.as_str()), "{line}");
                assert_eq!(spelling.name(&long), Some(long.as_str()), "{line}");
            }
        }
    }

    #[test]
    fn addressing_options() {
        let args = run_args(
            "run h 80 --source 127.0.0.2,127.0.0.0/31 --all-addresses -6 --hold 2s --reconnect",
        );
        assert_eq!(
            args.addressing.sources,
            ["127.0.0.2", "127.0.0.0", "127.0.0.1"].map(|s| s.parse::<IpAddr>().unwrap())
        );
        assert!(args.addressing.all_addresses);
        assert_eq!(args.addressing.family, Some(Family::V6));
        assert_eq!(args.hold, Duration::from_secs(2));
        assert!(args.reconnect);
        let plain = run_args("run h 80");
        assert_eq!(plain.addressing, Addressing::default());
        assert_eq!(plain.hold, Duration::ZERO);
        assert!(!plain.reconnect);
        assert!(usage_error("run h 80 -4 -6").contains("exclude each other"));
        assert!(usage_error("run h 80 --source 10.0.0.0/8").contains("--source"));
        assert!(usage_error("run h 80 --source").contains("needs a value"));
    }

    #[test]
    fn limit_options() {
        let Ok(Command::Limit(args)) = parse_words("limit ::1 8080") else {
            panic!("limit arguments rejected");
        };
        assert_eq!((args.host.as_str(), args.port), ("::1", 8080));
        assert_eq!(args.rate, 1000.0);
        assert_eq!(args.connections, None);
        assert_eq!(args.dial_timeout, Duration::from_secs(1));
        assert_eq!(args.hold, Duration::from_secs(5));
        let Ok(Command::Limit(args)) =
            parse_words("limit h 1 -r 2.5 -c 300 -t 200ms --hold 500ms -4 --source 127.0.0.2")
        else {
            panic!("limit arguments rejected");
        };
        assert_eq!(args.rate, 2.5);
        assert_eq!(args.connections, Some(300));
        assert_eq!(args.dial_timeout, Duration::from_millis(200));
        assert_eq!(args.hold, Duration::from_millis(500));
        assert_eq!(args.addressing.family, Some(Family::V4));
        for (bad, why) in [
            ("-r 0", "--rate: '0' is not a rate"),
            ("-r -5", "--rate: '-5' is not a rate"),
            ("-r fast", "--rate: 'fast'"),
            (
                "-r 2000000000",
                "--rate: '2000000000' is too high: expected attempts per second, more than 0 \
                 and at most 1000000000",
            ),
            ("-r 1e3", "--rate: '1e3'"),
            ("-c 0", "--connections: must be at least 1"),
            ("-y", "unknown option '-y' for limit"),
        ] {
            let message = usage_error(&format!("limit h 1 {bad}"));
            assert!(message.contains(why), "{bad}: {message}");
        }
        assert!(usage_error("limit h").contains("limit takes <host> <port>"));
        assert_eq!(
            parse_words("help limit"),
            Ok(Command::Help(help::text(Sub::Limit)))
        );
        assert_eq!(
            parse_words("limit -h"),
            Ok(Command::Help(help::text(Sub::Limit)))
        );
    }

    #[test]
    fn help_asked_of_help_or_version_is_given() {
        assert_eq!(
            parse_words("help run -h"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
        assert_eq!(
            parse_words("help -h limit"),
            Ok(Command::Help(help::text(Sub::Limit)))
        );
        assert_eq!(parse_words("help --help"), Ok(Command::Help(HELP)));
        assert_eq!(parse_words("version -h"), Ok(Command::Help(HELP)));
        assert!(usage_error("help run -x").contains("'-x'"));
    }

    #[test]
    fn help_on_an_unknown_topic_is_the_general_help() {
        assert_eq!(parse_words("help bogus"), Ok(Command::Help(HELP)));
        assert_eq!(parse_words("help bogus extra"), Ok(Command::Help(HELP)));
        assert_eq!(parse_words("help -- version"), Ok(Command::Help(HELP)));
    }

    #[test]
    fn a_value_that_spells_an_option_is_a_value() {
        let Ok(Command::Server(args)) = parse_words("server -p 0 -d 1s --greeting -d") else {
            panic!("--greeting -d rejected");
        };
        assert_eq!(args.greeting.as_deref(), Some(&b"-d"[..]));
        assert_eq!(args.duration, Duration::from_secs(1));
        let Ok(Command::Server(args)) = parse_words("server --greeting -p -p 0 -d 1s") else {
            panic!("--greeting -p rejected");
        };
        assert_eq!((args.greeting.as_deref(), args.port), (Some(&b"-p"[..]), 0));
        let args = run_args("run 127.0.0.1 1 -c 1 --hdr-log -c");
        assert_eq!(args.hdr_log, Some(PathBuf::from("-c")));
        assert_eq!(args.connections, 1);
        // In a cluster too: the value after `-yc` is -c's.
        assert!(usage_error("run h 1 -yc -5").contains("--connections: '-5'"));
    }

    #[test]
    fn a_value_that_looks_like_help_or_version_is_a_value() {
        let Ok(Command::Server(args)) = parse_words("server --greeting -h -p 0") else {
            panic!("--greeting -h taken for help");
        };
        assert_eq!(args.greeting.as_deref(), Some(&b"-h"[..]));
        let Ok(Command::Server(args)) = parse_words("server --greeting -V") else {
            panic!("--greeting -V taken for the version");
        };
        assert_eq!(args.greeting.as_deref(), Some(&b"-V"[..]));
        assert!(usage_error("run h 1 -c -h").contains("-c"));
        assert_eq!(
            parse_words("server -p 0 -h"),
            Ok(Command::Help(help::text(Sub::Server)))
        );
        assert_eq!(
            parse_words("run h 1 -yh"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
    }

    /// The lists of options that take a value are the ones the help shows with a `<VALUE>`;
    /// the lists of flags, the others.
    #[test]
    fn value_options_are_those_the_help_gives_a_value() {
        for (help, listed, values) in [
            (help::text(Sub::Run), Sub::Run.value_options(), 1),
            (help::text(Sub::Limit), Sub::Limit.value_options(), 1),
            (help::text(Sub::Server), Sub::Server.value_options(), 1),
            (help::text(Sub::Server), Sub::Server.pair_options(), 2),
            (help::text(Sub::Run), Sub::Run.switches(), 0),
            (help::text(Sub::Limit), Sub::Limit.switches(), 0),
            (help::text(Sub::Server), Sub::Server.switches(), 0),
        ] {
            let mut shown: Vec<&str> = help
                .lines()
                .map(str::trim_start)
                .filter(|line| line.starts_with('-'))
                .map(|line| line.split("  ").next().unwrap())
                // An option's line, not prose that starts with one: each key alone or with
                // its `<VALUE>`.
                .filter(|usage| {
                    usage
                        .split(", ")
                        .all(|key| key.split(' ').nth(1).is_none_or(|v| v.starts_with('<')))
                })
                .filter(|usage| {
                    let key = usage.split(", ").last().unwrap_or_default();
                    key.matches('<').count() == values
                })
                .flat_map(|usage| usage.split(", "))
                .map(|key| key.split(' ').next().unwrap())
                .collect();
            let mut listed = listed.to_vec();
            shown.sort_unstable();
            listed.sort_unstable();
            assert_eq!(shown, listed);
        }
    }

    #[test]
    fn the_original_tools_spellings_are_read_as_it_reads_them() {
        let args = run_args("run h 80 -c5 -i0 -s10ms -t1");
        assert_eq!(args.connections, 5);
        assert_eq!(args.interval, Duration::ZERO);
        assert_eq!(args.sleep, Duration::from_millis(10));
        assert_eq!(args.dial_timeout, Duration::from_millis(1));
        let args = run_args("run -yd h 80");
        assert!(args.assume_yes && args.debug);
        let args = run_args("run -yc5 h 80");
        assert!(args.assume_yes && !args.debug);
        assert_eq!(args.connections, 5);
        assert_eq!(run_args("run -dc=7 h 80").connections, 7);
        assert_eq!(run_args("run -c=7 h 80").connections, 7);
        assert_eq!(
            run_args("run -yi 250ms h 80").interval,
            Duration::from_millis(250)
        );
        let args = run_args("run h 80 --assume-yes=true --debug=false --json=1 --reconnect=F");
        assert!(args.assume_yes && !args.debug && args.json && !args.reconnect);
        assert!(run_args("run h 80 -y=true").assume_yes);
        assert!(!run_args("run h 80 -y=false").assume_yes);
        let args = run_args("run -yd=false h 80");
        assert!(args.assume_yes && !args.debug);
        assert_eq!(
            run_args("run h 80 -46=false").addressing.family,
            Some(Family::V4)
        );
        assert!(usage_error("run h 80 -46").contains("exclude each other"));
        // `--` ends the options: what follows is <host> <port>.
        let args = run_args("run -c 5 -y -- 127.0.0.1 80");
        assert_eq!((args.host.as_str(), args.port), ("127.0.0.1", 80));
        assert_eq!(args.connections, 5);
        assert_eq!(run_args("run h -- 80").port, 80);
        assert!(usage_error("run -- h 80 -y").contains("got 3 arguments"));
        assert!(usage_error("run h 80 -- -y").contains("got 3 arguments"));
        // A value is a value, `--` included.
        assert!(usage_error("run h 80 -c --").contains("--connections: '--'"));
        let Ok(Command::Limit(limit)) = parse_words("limit -r5 -c10 -d -- ::1 8080") else {
            panic!("limit arguments rejected");
        };
        assert_eq!(
            (limit.rate, limit.connections, limit.debug),
            (5.0, Some(10), true)
        );
        assert_eq!(limit.host, "::1");
        let Ok(Command::Server(server)) =
            parse_words("server -p0 -m0 -d2s --greeting -yd --reset=true")
        else {
            panic!("server arguments rejected");
        };
        assert_eq!((server.port, server.max_connections), (0, Some(0)));
        assert_eq!(server.duration, Duration::from_secs(2));
        assert_eq!(server.greeting.as_deref(), Some(&b"-yd"[..]));
        assert!(server.reset);
        assert!(usage_error("server -p 0 -- 5").contains("unexpected argument '5'"));
        assert_eq!(
            parse_words("help -- run"),
            Ok(Command::Help(help::text(Sub::Run)))
        );
    }

    #[test]
    fn misspelled_flags_are_named() {
        for (line, message) in [
            ("run h 80 -y=true", None),
            (
                "run h 80 -y=maybe",
                Some(
                    "--assume-yes: 'maybe' is not true or false; a flag is given alone, or with \
                     =true or =false",
                ),
            ),
            (
                "run h 80 --json=",
                Some(
                    "--json: '' is not true or false; a flag is given alone, or with =true or =false",
                ),
            ),
            (
                "run h 80 -yx",
                Some("unknown option '-x' for run; see `tcpgoon run --help`"),
            ),
            (
                "run h 80 -xy",
                Some("unknown option '-xy' for run; see `tcpgoon run --help`"),
            ),
            (
                "run h 80 -ch",
                Some("--connections: 'h' is not a whole number"),
            ),
            (
                "limit h 80 -y",
                Some("unknown option '-y' for limit; see `tcpgoon limit --help`"),
            ),
        ] {
            match message {
                None => assert!(run_args(line).assume_yes),
                Some(message) => assert_eq!(usage_error(line), message, "{line}"),
            }
        }
    }

    #[test]
    fn server_options() {
        let Ok(Command::Server(args)) = parse_words(
            "server -p 0 -m 0 -d 2s --backlog 4 --no-accept --close-after 50ms --reset --greeting hi \
             --max-open 40",
        ) else {
            panic!("server arguments rejected");
        };
        assert_eq!(args.port, 0);
        assert_eq!(args.bind, "127.0.0.1");
        assert_eq!(args.max_connections, Some(0));
        assert_eq!(args.duration, Duration::from_secs(2));
        assert_eq!(args.backlog, 4);
        assert!(args.no_accept && args.reset);
        assert_eq!(args.close_after, Some(Duration::from_millis(50)));
        assert_eq!(args.greeting.as_deref(), Some(&b"hi"[..]));
        assert_eq!(args.max_open, Some(40));
        assert_eq!(
            (args.accept_limit, args.echo, args.reject_after),
            (None, false, None)
        );
        let Ok(Command::Server(args)) =
            parse_words(r"server --accept-limit 40 --echo --greeting +OK\r\n")
        else {
            panic!("server arguments rejected");
        };
        assert_eq!(args.max_connections, None);
        assert_eq!((args.accept_limit, args.echo), (Some(40), true));
        assert_eq!(args.greeting.as_deref(), Some(&b"+OK\r\n"[..]));
    }

    #[test]
    fn reject_after_takes_a_count_and_a_text_as_they_stand() {
        let reject_after = |words: &str| match parse_words(words) {
            Ok(Command::Server(args)) => args.reject_after,
            other => panic!("{words:?} gave {other:?}"),
        };
        let refusal = |text: &[u8]| text.to_vec();
        assert_eq!(
            reject_after(r"server --reject-after 2 -ERR\x20max\r\n -p 0"),
            Some((2, refusal(b"-ERR max\r\n")))
        );
        // The text may spell an option, or help: it is still the text.
        assert_eq!(
            reject_after("server -p 0 --reject-after=0 -h"),
            Some((0, refusal(b"-h")))
        );
        assert_eq!(
            reject_after("server --reject-after 1 --greeting --greeting x"),
            Some((1, refusal(b"--greeting")))
        );
        assert_eq!(
            reject_after("server --reject-after 1 -- -p 0"),
            Some((1, refusal(b"--")))
        );
        // Given twice, the last counts.
        assert_eq!(
            reject_after("server --reject-after 1 a --reject-after 2 b"),
            Some((2, refusal(b"b")))
        );
        let Ok(Command::Server(args)) = parse_words("server --greeting --reject-after -p 0") else {
            panic!("--greeting --reject-after rejected");
        };
        assert_eq!(args.greeting.as_deref(), Some(&b"--reject-after"[..]));
        assert_eq!(args.reject_after, None);
        assert!(usage_error("server --reject-after 2").contains("needs two values"));
        assert!(usage_error("server --reject-after").contains("needs two values"));
        assert!(usage_error("server --reject-after= x").contains("'' is not a whole number"));
        assert!(usage_error("server --reject-after -1 x").contains("'-1' is not a whole number"));
        assert!(usage_error(r"server --reject-after 1 \q").contains(r"'\q' is not an escape"));
        // An earlier one is checked all the same, as pflag checks every value.
        assert!(
            usage_error("server --reject-after x a --reject-after 2 b")
                .contains("'x' is not a whole number")
        );
        assert!(usage_error("server --reject-after 1 a b").contains("unexpected argument 'b'"));
        assert!(usage_error("server --reject-afterwards 1").contains("--reject-afterwards"));
        assert!(usage_error("run h 1 --reject-after 1 a").contains("--reject-after"));
    }

    #[test]
    fn greeting_reads_escapes() {
        let Ok(Command::Server(args)) = parse_words(r"server --greeting \x00hi\t\\") else {
            panic!("--greeting rejected");
        };
        assert_eq!(args.greeting.as_deref(), Some(&b"\0hi\t\\"[..]));
        assert!(usage_error(r"server --greeting \x4").starts_with(r"--greeting: '\x4'"));
    }
}
