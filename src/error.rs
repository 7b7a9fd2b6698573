//! The program's errors: what went wrong before or around a run, never a connection's
//! outcome (a refused or timed-out connection is a result, counted in `stats`).

use std::fmt;
use std::io;

#[derive(Debug, PartialEq)]
pub enum Error {
    /// Bad input or setup: the user can fix the command line or the machine.
    Usage(String),
    /// The run could not go on: the prompt was declined or could not be asked.
    Incomplete(String),
    /// The operating system refused something the tool needs (poll, signals, a listener).
    System(String),
}

impl Error {
    pub fn system(what: &str, e: io::Error) -> Error {
        Error::System(format!("{what}: {e}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Incomplete(m) | Error::System(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

/// A write whose reader has gone (`tcpgoon run … | head`) is not a failure of the run: the
/// rest of the output is dropped, and the exit status still says how the run went.
pub fn unless_reader_gone(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes `tcpgoon: <message>` on stderr. Nothing is left to tell if stderr itself is gone,
/// so a failed write is ignored rather than a panic, as `eprintln!` would make it.
pub fn say(message: fmt::Arguments<'_>) {
    say_to(&mut io::stderr(), message);
}

/// [`say`], to `w`: stderr's stand-in while a run's live output owns it.
pub fn say_to(w: &mut impl io::Write, message: fmt::Arguments<'_>) {
    let _ = writeln!(w, "tcpgoon: {message}");
}

/// `message` on one line: control characters a user typed into an argument (a newline, an
/// escape) are shown escaped, so an error is always exactly one line on a terminal or in a log.
pub fn one_line(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            one_line("bad 'a\nb\tc\u{1b}[31m'"),
            "bad 'a\\nb\\tc\\u{1b}[31m'"
        );
        assert_eq!(one_line("µs and 'quotes' stay"), "µs and 'quotes' stay");
    }
}
