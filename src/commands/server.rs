//! `tcpgoon server`: resolve the arguments, raise the open-files limit, run the server's
//! loop, and print where it listens, its counts, and why it stopped. The loop never waits
//! for stdout: its stats lines go through an outlet (`report::outlet`).

use std::io::{self, Write};

use crate::cli::ServerArgs;
use crate::engine::limits;
use crate::engine::metrics::Metrics;
use crate::engine::server::{self as engine_server, Counts, Server, ServerConfig};
use crate::engine::signal::SignalFd;
use crate::error::{self, Error};
use crate::judge::exit;
use crate::report::metrics::render_server;
use crate::report::outlet::{self, WriterThread};
use crate::report::server::{write_counts, write_listening, write_stopping};

/// Bytes of stats lines that may wait for stdout's reader, besides those being written: a
/// page, about a hundred lines. Each line supersedes the one before, so a longer backlog
/// of them would only be older news.
const QUEUED: usize = 4096;

/// `tcpgoon server`: listen, say where, serve until a stop, say why. Every stop exits 0,
/// unless its lines could not be written.
pub fn run(args: ServerArgs) -> Result<u8, Error> {
    let metrics_args = args.metrics.clone();
    let config = ServerConfig::resolve(args)?;
    limits::raise_open_files()?;
    // `--metrics`: bound before the server listens, so an address that cannot be bound is
    // bad input before anything is accepted.
    let mut metrics = (metrics_args.addr)
        .map(|addr| {
            Metrics::<Counts>::bind_at(addr, Box::new(render_server), engine_server::METRICS)
        })
        .transpose()?;
    // Blocked before the listener exists, so a signal sent as soon as the port is known is
    // read by the loop rather than killing the process.
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let mut server = Server::new(config, Some(&signals))?;
    if let Some(metrics) = metrics.as_mut() {
        server = server.with_metrics(metrics)?;
    }
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
    // Its loop writes each stats line to an outlet, whose thread makes the blocking write:
    // a stdout that is not read (a full pipe, a stalled terminal) costs stats lines, never
    // the loop's time, so the server goes on accepting and answering. A closed stdout must
    // not stop the server either, so a reader gone (EPIPE) is ignored; any other write
    // error (a full disk) is one, said after the stop.
    let mut writer = WriterThread::stdout(QUEUED)
        .map_err(|e| Error::system("cannot start the output's writer", e))?;
    let mut lines = writer.outlet(0);
    let unwritten = |e| Error::system("cannot write to stdout", e);
    // Scripts and tests wait for this line to learn the port. When stdout can take it, it is
    // written and flushed here, before any connection is accepted, and an error is one at
    // once; when it cannot (nobody reads it), the line waits first in the outlet, which
    // drops nothing for a line alone, and the loop does not wait for it.
    if outlet::has_room(libc::STDOUT_FILENO) {
        let mut out = io::stdout();
        error::unless_reader_gone(write_listening(&mut out, addr).and_then(|()| out.flush()))
            .map_err(unwritten)?;
    } else {
        let _ = write_listening(&mut lines, addr);
    }
    let mut offered = 0u64;
    let outcome = server.run(|counts| {
        offered += 1;
        // Never fails, never blocks: a line that does not fit is dropped and counted.
        let _ = write_counts(&mut lines, counts);
    })?;
    // Nothing reads the signals now: the next one ends the process, even while its last
    // lines wait for a reader. Nor is anything dropped from now on: the last lines are
    // kept, and written after the ones queued before them.
    signals.let_next_kill();
    lines.keep_everything();
    let dropped = writer.dropped();
    let _ = write_counts(&mut lines, &outcome.counts)
        .and_then(|()| write_stopping(&mut lines, &outcome.stop));
    drop(lines);
    let written = writer.finish();
    if dropped > 0 {
        error::say(format_args!(
            "stats lines dropped: {dropped} of {offered} (stdout was not read as fast as \
             they came)"
        ));
    }
    let status = error::unless_reader_gone(written)
        .map(|()| exit::SUCCESS)
        .map_err(unwritten);
    // `--metrics-linger`: the endpoint answers from the final counts (the last line's) this
    // long, or until a signal; the status stands.
    let lingered = match metrics.as_mut() {
        Some(metrics) if !metrics_args.linger.is_zero() => {
            metrics.linger(&outcome.counts, metrics_args.linger)
        }
        _ => Ok(()),
    };
    let status = status?;
    lingered.map(|()| status)
}

#[cfg(test)]
mod tests {
    use crate::engine::server::{Counts, TlsCounts};
    use crate::report::server::write_counts;

    /// Every part the server's stats line can carry is in its help.
    #[test]
    fn server_help_names_every_part_of_the_stats_line() {
        let counts = Counts {
            accepted: 1,
            open: 1,
            closed: 1,
            accept_errors: 1,
            turned_away: 1,
            queued: Some(1),
            tls: Some(TlsCounts {
                handshaking: 1,
                done: 1,
                alert_sent: 1,
                alert_received: 0,
                closed: 0,
                other: 0,
            }),
        };
        let mut line = Vec::new();
        write_counts(&mut line, &counts).unwrap();
        let mut line = String::from_utf8(line).unwrap();
        // Each cause of a failed handshake, in turn.
        for tls in [
            TlsCounts {
                alert_received: 1,
                ..TlsCounts::default()
            },
            TlsCounts {
                closed: 1,
                ..TlsCounts::default()
            },
            TlsCounts {
                other: 1,
                ..TlsCounts::default()
            },
        ] {
            let mut more = Vec::new();
            write_counts(
                &mut more,
                &Counts {
                    tls: Some(tls),
                    ..counts
                },
            )
            .unwrap();
            let more = String::from_utf8(more).unwrap();
            line = format!(
                "{}, {}",
                line.trim_end(),
                more.trim_end().rsplit(", ").next().unwrap()
            );
        }
        let parts: Vec<&str> = line.trim_end().split(", ").collect();
        assert_eq!(parts.len(), 13, "{line}");
        for part in parts {
            let shown = part.replace(": 1", ": N");
            assert!(
                crate::cli::help::text(crate::cli::flags::Sub::Server).contains(&shown),
                "{shown} is not in the help"
            );
        }
    }
}
