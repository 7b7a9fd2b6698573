//! The pre-lexer: the arguments of a subcommand rewritten into forms pico-args reads, and
//! sorted into the options that stand, those a later one superseded, and the occurrences of
//! the repeatable ones. Which options take a value, two values or none, and which repeat,
//! is the flag table's word (`flags.rs`).

use std::ffi::OsString;

use crate::cli::flags::{Flag, Sub};

/// An option that takes two values (`--reject-after K TEXT`), taken out of the command line
/// before pico-args, which reads one value per key, sees it. `values` holds fewer than two
/// when the command line ended first.
#[derive(Debug)]
pub(super) struct Pair {
    pub(super) key: &'static str,
    pub(super) values: Vec<OsString>,
}

/// How a subcommand's options are spelled: which take a value and which are flags. pico-args
/// reads `--key value`, `--key=value`, `-k value` and `-k=value` wherever they stand; the
/// original tool's parser (cobra's pflag) also takes `-c5`, clusters such as `-yd` and
/// `-yc5`, and `--` ending the options, which [`Spelling::normalize`] rewrites into forms
/// pico-args reads. (pico-args' own `combined-flags` finds a flag's letter in any argument
/// that starts with one dash, `-y=true` included, and `short-space-opt` matches a key as a
/// prefix wherever it stands; neither follows a cluster from left to right, where the first
/// option that takes a value takes the rest.)
pub(super) struct Spelling {
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
    pub(super) fn of(command: Option<&OsString>) -> Spelling {
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
    pub(super) fn normalize(&self, args: &[OsString]) -> (Vec<OsString>, Vec<OsString>, Vec<Pair>) {
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
    pub(super) fn take_apart(&self, cluster: &str, options: &mut Vec<OsString>) -> bool {
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
    pub(super) fn sort_out(&self, options: Vec<OsString>) -> Args {
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
    pub(super) fn occurrences(&self, options: &[OsString]) -> Vec<(usize, usize, &'static str)> {
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
    pub(super) fn name(&self, key: &str) -> Option<&'static str> {
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
    pub(super) fn asks_for(&self, options: &[OsString], short: &str, long: &str) -> bool {
        let mut value_next = false;
        options.iter().any(|arg| {
            let arg = arg.to_str().unwrap_or("");
            let is_value = std::mem::replace(&mut value_next, self.values.contains(&arg));
            !is_value && (arg == short || arg == long)
        })
    }
}

/// A subcommand's options, sorted out by [`Spelling::sort_out`].
pub(super) struct Args {
    /// The options that stand: each given once.
    pub(super) args: pico_args::Arguments,
    /// Those a later one of the same name superseded: only checked.
    pub(super) superseded: pico_args::Arguments,
    /// Each occurrence of a repeatable option, in order: its name and its arguments.
    pub(super) repeats: Vec<(&'static str, Vec<OsString>)>,
}
