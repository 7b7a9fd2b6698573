//! Reading an option out of the sorted arguments: its value through its parser, a flag's
//! on or off, every occurrence of a repeatable one, and what is left over, each failure a
//! usage error that names the option.

use super::lexer::Args;
use crate::cli::flags::FLAGS;
use crate::cli::values::parse_bool;
use crate::error::Error;

/// Reads an option's value with `parse`, naming the flag in the error. `keys` lists the
/// short form first when there is one, the long form last. Given more than once, the last
/// value counts (the earlier ones are checked all the same: see [`Spelling::sort_out`]).
pub(super) fn option<T>(
    args: &mut Args,
    keys: &[&'static str],
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    let value = value_in(&mut args.args, keys, parse)?;
    while value_in(&mut args.superseded, keys, parse)?.is_some() {}
    Ok(value)
}

/// The first value of the option `keys` among `args`, taken out of them.
pub(super) fn value_in<T>(
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
pub(super) fn flag(args: &mut Args, keys: &[&'static str]) -> Result<bool, Error> {
    let on = flag_in(&mut args.args, keys)?;
    while flag_in(&mut args.superseded, keys)?.is_some() {}
    Ok(on.unwrap_or(false))
}

/// One occurrence of the flag `keys` among `args`, taken out of them: `None` when there is
/// none, else whether it says on.
pub(super) fn flag_in(
    args: &mut pico_args::Arguments,
    keys: &[&'static str],
) -> Result<Option<bool>, Error> {
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
pub(super) fn repeated<T>(
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

pub(super) fn option_error(name: &str, e: pico_args::Error) -> Error {
    match e {
        pico_args::Error::OptionWithoutAValue(_) => Error::Usage(format!("{name} needs a value")),
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. }
        | pico_args::Error::ArgumentParsingFailed { cause } => {
            Error::Usage(format!("{name}: {cause}"))
        }
        other => Error::Usage(format!("{name}: {other}")),
    }
}

pub(super) fn usage(e: pico_args::Error) -> Error {
    Error::Usage(e.to_string())
}

pub(super) fn leftover(args: pico_args::Arguments) -> Vec<String> {
    args.finish()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

pub(super) fn reject_leftover(
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

pub(super) fn looks_like_flag(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-')
}
