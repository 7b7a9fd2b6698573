//! The whole command line, as `main` hands it to `cli::parse`.
//!
//! The input is the argument list after the program name, one argument per line (one final
//! newline is dropped, so seed files stay ordinary text files); an argument need not be
//! UTF-8, as on Unix it need not be. Properties, beyond never panicking:
//! - a rejected command line is a usage error (exit 64) whose message is one line;
//! - an accepted `run` or `server` holds values in range, and its canonical command line
//!   (every option spelled out, durations as `duration::canonical` writes them) parses back
//!   to the same arguments;
//! - `--key=value` means what `--key value` means, for every option that takes a value, on
//!   a command line where no value starts with `-`.
//!
//! The arguments are destructured field by field, so a new flag does not compile here until
//! this target renders it too.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tcpgoon::cli::{self, Command, HELP, RUN_HELP, RunArgs, SERVER_HELP, ServerArgs};
use tcpgoon::duration::canonical;
use tcpgoon::error::Error;

/// The longest duration any flag accepts (`duration::parse` refuses more than 100000h).
const LONGEST: Duration = Duration::from_secs(100_000 * 3600);

/// The options that take a value, short and long forms, by subcommand.
const RUN_VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--connections",
    "-s",
    "--sleep",
    "-t",
    "--dial-timeout",
    "-i",
    "--interval",
];
const SERVER_VALUE_OPTIONS: &[&str] = &[
    "-p",
    "--port",
    "-b",
    "--bind",
    "-m",
    "--maxconnections",
    "-d",
    "--duration",
    "--backlog",
    "--close-after",
    "--greeting",
    "-i",
    "--interval",
];

fuzz_target!(|data: &[u8]| {
    let args = split_arguments(data);
    let parsed = cli::parse(args.clone());
    match &parsed {
        Err(Error::Usage(message)) => {
            assert!(!message.is_empty(), "empty usage error");
            assert!(
                !message.contains('\n'),
                "usage error spans lines: {message:?}"
            );
        }
        Err(other) => panic!("a command line can only be a usage error, got {other:?}"),
        Ok(Command::Help(text)) => assert!([HELP, RUN_HELP, SERVER_HELP].contains(text)),
        Ok(Command::Version) => {}
        Ok(Command::Run(run)) => {
            check_run(run);
            assert_eq!(reparse(run_line(run)), parsed, "canonical run line differs");
        }
        Ok(Command::Server(server)) => {
            check_server(server);
            assert_eq!(
                reparse(server_line(server)),
                parsed,
                "canonical server line differs"
            );
        }
    }
    if let Some(spaced) = without_equals(&args) {
        let respelled = cli::parse(spaced.clone());
        match (&parsed, &respelled) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{args:?} and {spaced:?} differ"),
            (Err(_), Err(_)) => {}
            _ => panic!("{args:?} gave {parsed:?} but {spaced:?} gave {respelled:?}"),
        }
    }
});

fn split_arguments(data: &[u8]) -> Vec<OsString> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|b| *b == b'\n')
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect()
}

/// The same arguments with every `--key=value` of a value option split into two arguments;
/// `None` when there is none to split.
fn without_equals(args: &[OsString]) -> Option<Vec<OsString>> {
    let value_options = match args.first()?.to_str()? {
        "run" => RUN_VALUE_OPTIONS,
        "server" => SERVER_VALUE_OPTIONS,
        _ => return None,
    };
    // A value that looks like a flag (`--greeting -b=x`) makes the line ambiguous: pico-args
    // finds keys anywhere, preferring `-b` to `-b=`, so splitting changes which one it takes.
    let flag_like_value = args.windows(2).any(|pair| {
        pair[0]
            .to_str()
            .is_some_and(|key| value_options.contains(&key))
            && pair[1].as_encoded_bytes().starts_with(b"-")
    });
    if flag_like_value {
        return None;
    }
    let mut changed = false;
    let mut spaced = Vec::with_capacity(args.len() + 1);
    for arg in args {
        let split = arg
            .to_str()
            .and_then(|text| text.split_once('='))
            .filter(|(key, value)| {
                value_options.contains(key)
                    && !value.is_empty()
                    && !value.starts_with(['-', '"', '\''])
            });
        match split {
            Some((key, value)) => {
                spaced.push(OsString::from(key));
                spaced.push(OsString::from(value));
                changed = true;
            }
            None => spaced.push(arg.clone()),
        }
    }
    changed.then_some(spaced)
}

fn reparse(line: Vec<String>) -> Result<Command, Error> {
    cli::parse(line.into_iter().map(OsString::from).collect())
}

fn check_run(run: &RunArgs) {
    assert_ne!(run.port, 0, "run accepted port 0");
    for d in [run.sleep, run.dial_timeout, run.interval] {
        assert!(d <= LONGEST, "{d:?} is longer than any flag allows");
    }
}

fn check_server(server: &ServerArgs) {
    assert!(
        server.backlog <= i32::MAX as u32,
        "backlog {}",
        server.backlog
    );
    for d in [server.duration, server.interval]
        .into_iter()
        .chain(server.close_after)
    {
        assert!(d <= LONGEST, "{d:?} is longer than any flag allows");
    }
}

/// `run` with every option given. Short keys, because pico-args looks for the short key
/// first: a value further on that happens to equal a long key cannot then be taken for it.
fn run_line(run: &RunArgs) -> Vec<String> {
    let RunArgs {
        host,
        port,
        connections,
        sleep,
        dial_timeout,
        interval,
        assume_yes,
        debug,
    } = run;
    let mut line = vec![
        "run".to_string(),
        host.clone(),
        port.to_string(),
        "-c".to_string(),
        connections.to_string(),
        "-s".to_string(),
        canonical(*sleep),
        "-t".to_string(),
        canonical(*dial_timeout),
        "-i".to_string(),
        canonical(*interval),
    ];
    if *assume_yes {
        line.push("-y".to_string());
    }
    if *debug {
        line.push("-d".to_string());
    }
    line
}

/// `server` with every option given, in the order `cli` reads them, so each option is found
/// before any later value that happens to spell its key. The free-text values come as
/// `--key=TEXT` where they can: apart they could be taken for a flag (`--bind -h`), or for an
/// option read earlier that this line does not give (`--greeting --close-after`).
fn server_line(server: &ServerArgs) -> Vec<String> {
    let ServerArgs {
        port,
        bind,
        max_connections,
        duration,
        backlog,
        no_accept,
        close_after,
        reset,
        greeting,
        interval,
    } = server;
    let mut line = vec!["server".to_string(), "-p".to_string(), port.to_string()];
    push_text(&mut line, "--bind", bind);
    line.extend([
        "-m".to_string(),
        max_connections.to_string(),
        "-d".to_string(),
        canonical(*duration),
        "--backlog".to_string(),
        backlog.to_string(),
    ]);
    if let Some(close_after) = close_after {
        line.push("--close-after".to_string());
        line.push(canonical(*close_after));
    }
    if let Some(text) = greeting {
        push_text(&mut line, "--greeting", text);
    }
    line.push("-i".to_string());
    line.push(canonical(*interval));
    if *no_accept {
        line.push("--no-accept".to_string());
    }
    if *reset {
        line.push("--reset".to_string());
    }
    line
}

/// `--key=TEXT`, or `--key TEXT` where pico-args would read the joined form differently:
/// it rejects an empty value and strips quotes around one.
fn push_text(line: &mut Vec<String>, key: &str, text: &str) {
    if text.is_empty() || text.starts_with(['"', '\'']) {
        line.push(key.to_string());
        line.push(text.to_string());
    } else {
        line.push(format!("{key}={text}"));
    }
}
