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
