//! `tcpgoon server`: resolve the arguments, raise the open-files limit, run the server's
//! loop, and print where it listens, its counts, and why it stopped.

use std::io::{self, Write};

use crate::cli::ServerArgs;
use crate::engine::limits;
use crate::engine::server::{Server, ServerConfig};
use crate::engine::signal::SignalFd;
use crate::error::Error;
use crate::report::exit;
use crate::report::server::{write_counts, write_listening, write_stopping};

/// `tcpgoon server`: listen, say where, serve until a stop, say why. Every stop exits 0.
pub fn run(args: ServerArgs) -> Result<u8, Error> {
    let config = ServerConfig::resolve(args)?;
    limits::raise_open_files()?;
    // Blocked before the listener exists, so a signal sent as soon as the port is known is
    // read by the loop rather than killing the process.
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let server = Server::new(config, Some(&signals))?;
    let mut out = io::stdout();
    // Written and flushed at once: scripts and tests wait for this line to learn the port.
    // A closed stdout must not stop the server, so write errors are ignored here and below.
    let _ = write_listening(&mut out, server.local_addr()).and_then(|()| out.flush());
    let outcome = server.run(|counts| {
        let _ = write_counts(&mut out, counts).and_then(|()| out.flush());
    })?;
    // Nothing reads the signals now: the next one ends the process, even while its last
    // lines wait for a reader.
    signals.let_next_kill();
    let _ = write_counts(&mut out, &outcome.counts)
        .and_then(|()| write_stopping(&mut out, &outcome.stop))
        .and_then(|()| out.flush());
    Ok(exit::SUCCESS)
}
