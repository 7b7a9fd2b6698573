//! `tcpgoon server`: resolve the arguments, raise the open-files limit, run the server's
//! loop, and print where it listens, its counts, and why it stopped.

use std::io::{self, Write};

use crate::cli::ServerArgs;
use crate::engine::limits;
use crate::engine::server::{Server, ServerConfig};
use crate::engine::signal::SignalFd;
use crate::error::{self, Error};
use crate::report::exit;
use crate::report::server::{write_counts, write_listening, write_stopping};

/// `tcpgoon server`: listen, say where, serve until a stop, say why. Every stop exits 0,
/// unless its lines could not be written.
pub fn run(args: ServerArgs) -> Result<u8, Error> {
    let config = ServerConfig::resolve(args)?;
    limits::raise_open_files()?;
    // Blocked before the listener exists, so a signal sent as soon as the port is known is
    // read by the loop rather than killing the process.
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let server = Server::new(config, Some(&signals))?;
    let addr = server.local_addr();
    if addr.ip().is_unspecified() {
        error::say(format_args!(
            "warning: listening on {addr}: port {} takes connections from other machines; \
             --bind 127.0.0.1 or ::1 keeps it to this one",
            addr.port()
        ));
    }
    if let Some(tls) = &server.tls() {
        let made = if tls.made_pem.is_some() {
            " (self-signed, made at start for localhost, 127.0.0.1 and ::1)"
        } else {
            ""
        };
        error::say(format_args!(
            "TLS certificate SHA-256 {}{made}",
            tls.fingerprint
        ));
    }
    let mut out = io::stdout();
    // A closed stdout must not stop the server, so a reader gone (EPIPE) is ignored here
    // and below. Any other write error (a full disk) is one: at once for this line, which
    // scripts and tests wait for to learn the port (so it is flushed at once), and after
    // the stop for the others.
    let unwritten = |e| Error::system("cannot write to stdout", e);
    error::unless_reader_gone(write_listening(&mut out, addr).and_then(|()| out.flush()))
        .map_err(unwritten)?;
    let mut failed = None;
    let outcome = server.run(|counts| {
        let written = write_counts(&mut out, counts).and_then(|()| out.flush());
        if let Err(e) = error::unless_reader_gone(written) {
            failed.get_or_insert(e);
        }
    })?;
    // Nothing reads the signals now: the next one ends the process, even while its last
    // lines wait for a reader.
    signals.let_next_kill();
    let written = write_counts(&mut out, &outcome.counts)
        .and_then(|()| write_stopping(&mut out, &outcome.stop))
        .and_then(|()| out.flush());
    match failed {
        Some(e) => Err(unwritten(e)),
        None => error::unless_reader_gone(written)
            .map(|()| exit::SUCCESS)
            .map_err(unwritten),
    }
}
