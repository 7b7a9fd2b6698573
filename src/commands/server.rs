//! `tcpgoon server`: resolve the arguments, raise the open-files limit, run the server's
//! loop, and print where it listens, its counts, and why it stopped. The loop never waits
//! for stdout: its stats lines go through an outlet (`report::outlet`). With `--workers`
//! the loop is the parent's over its workers (`server_workers`), and the lines are the
//! same, their counts summed; a worker (a process started with `workers::ENV`) runs the
//! server's loop and writes its lines for the parent, as JSON.

use std::io::{self, Write};
use std::time::Duration;

use crate::cli::ServerArgs;
use crate::commands::server_workers::{self, Assignment, Group, Said};
use crate::commands::workers;
use crate::engine::limits;
use crate::engine::metrics::Metrics;
use crate::engine::server::{self as engine_server, Counts, Server, ServerConfig, Stop};
use crate::engine::signal::SignalFd;
use crate::engine::tls;
use crate::error::{self, Error};
use crate::judge::exit;
use crate::report::metrics::render_server;
use crate::report::outlet::{self, Outlet, WriterThread};
use crate::report::server::{
    WorkerLine, write_counts, write_listening, write_stopping, write_worker_line,
};

/// Bytes of stats lines that may wait for stdout's reader, besides those being written: a
/// page, about a hundred lines. Each line supersedes the one before, so a longer backlog
/// of them would only be older news.
const QUEUED: usize = 4096;

/// `tcpgoon server`: listen, say where, serve until a stop, say why. Every stop exits 0,
/// unless its lines could not be written, or (with `--workers`) a worker was lost.
pub fn run(args: ServerArgs) -> Result<u8, Error> {
    if let Some(assignment) = workers::this_process() {
        return worker(args, &assignment);
    }
    let asked = args.workers;
    let metrics_args = args.metrics.clone();
    let config = ServerConfig::resolve(args)?;
    let hard_limit = limits::raise_open_files()?;
    let count = asked
        .map(|asked| server_workers::count(asked, &config, hard_limit))
        .transpose()?;
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
    let Some(count) = count else {
        let mut server = Server::new(config, Some(&signals))?;
        if let Some(metrics) = metrics.as_mut() {
            server = server.with_metrics(metrics)?;
        }
        say_where(server.tls(), server.local_addr());
        let mut lines = Lines::start()?;
        lines.listening(server.local_addr())?;
        let outcome = server.run(|counts| lines.counts(counts))?;
        // Nothing reads the signals now: the next one ends the process, even while its
        // last lines wait for a reader.
        signals.let_next_kill();
        let status = lines.finish(&outcome.counts, Some(&outcome.stop));
        let lingered = linger(metrics.as_mut(), &metrics_args, &outcome.counts);
        status?;
        return lingered.map(|()| exit::SUCCESS);
    };
    // With `-i 0` the workers would tell the parent nothing until they stop: a scrape
    // wants their counts, so they send them each second, and the parent prints no line.
    let quiet = config.interval.is_zero();
    let every = (quiet && metrics.is_some()).then_some(Duration::from_secs(1));
    let group = Group::start(&config, count, &signals, every)?;
    say_where(config.tls.as_ref(), group.addr());
    let mut lines = Lines::start()?;
    let ended = group.serve(
        |said| match said {
            Said::Listening(addr) => lines.listening(addr),
            Said::Counts(counts) => {
                if !quiet {
                    lines.counts(counts);
                }
                Ok(())
            }
        },
        metrics.as_mut(),
    )?;
    signals.let_next_kill();
    let status = lines.finish(&ended.counts, ended.stop.as_ref());
    let lingered = linger(metrics.as_mut(), &metrics_args, &ended.counts);
    status?;
    lingered?;
    Ok(if ended.failed > 0 {
        exit::INCOMPLETE
    } else {
        exit::SUCCESS
    })
}

/// `--metrics-linger`: the endpoint answers from the final counts (the last line's) this
/// long, or until a signal; the status stands.
fn linger(
    metrics: Option<&mut Metrics<Counts>>,
    args: &crate::cli::MetricsArgs,
    counts: &Counts,
) -> Result<(), Error> {
    match metrics {
        Some(metrics) if !args.linger.is_zero() => metrics.linger(counts, args.linger),
        _ => Ok(()),
    }
}

/// The warnings and notes on stderr about where and how it listens.
fn say_where(tls: Option<&tls::Server>, addr: std::net::SocketAddr) {
    if addr.ip().is_unspecified() {
        error::say(format_args!(
            "warning: listening on {addr}: port {} takes connections from other machines; \
             --bind 127.0.0.1 or ::1 keeps it to this one",
            addr.port()
        ));
    }
    if let Some(tls) = tls {
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
}

/// The lines on stdout. Its loop writes each stats line to an outlet, whose thread makes
/// the blocking write: a stdout that is not read (a full pipe, a stalled terminal) costs
/// stats lines, never the loop's time, so the server goes on accepting and answering. A
/// closed stdout must not stop the server either, so a reader gone (EPIPE) is ignored; any
/// other write error (a full disk) is one, said after the stop.
struct Lines {
    writer: WriterThread,
    lines: Outlet,
    offered: u64,
}

fn unwritten(e: io::Error) -> Error {
    Error::system("cannot write to stdout", e)
}

impl Lines {
    fn start() -> Result<Lines, Error> {
        let writer = WriterThread::stdout(QUEUED)
            .map_err(|e| Error::system("cannot start the output's writer", e))?;
        let lines = writer.outlet(0);
        Ok(Lines {
            writer,
            lines,
            offered: 0,
        })
    }

    /// Scripts and tests wait for this line to learn the port. When stdout can take it, it
    /// is written and flushed here, before any connection is accepted, and an error is one
    /// at once; when it cannot (nobody reads it), the line waits first in the outlet, which
    /// drops nothing for a line alone, and the loop does not wait for it.
    fn listening(&mut self, addr: std::net::SocketAddr) -> Result<(), Error> {
        if outlet::has_room(libc::STDOUT_FILENO) {
            let mut out = io::stdout();
            error::unless_reader_gone(write_listening(&mut out, addr).and_then(|()| out.flush()))
                .map_err(unwritten)
        } else {
            let _ = write_listening(&mut self.lines, addr);
            Ok(())
        }
    }

    fn counts(&mut self, counts: &Counts) {
        self.offered += 1;
        // Never fails, never blocks: a line that does not fit is dropped and counted.
        let _ = write_counts(&mut self.lines, counts);
    }

    /// The last lines: nothing is dropped from now on, they are kept and written after the
    /// ones queued before them.
    fn finish(mut self, counts: &Counts, stop: Option<&Stop>) -> Result<(), Error> {
        self.lines.keep_everything();
        let dropped = self.writer.dropped();
        let _ = write_counts(&mut self.lines, counts)
            .and_then(|()| stop.map_or(Ok(()), |stop| write_stopping(&mut self.lines, stop)));
        drop(self.lines);
        let written = self.writer.finish();
        if dropped > 0 {
            error::say(format_args!(
                "stats lines dropped: {dropped} of {} (stdout was not read as fast as \
                 they came)",
                self.offered
            ));
        }
        error::unless_reader_gone(written).map_err(unwritten)
    }
}

/// A worker of `tcpgoon server --workers`: its share of the server, on the port the parent
/// picked, its lines written as JSON for the parent (`report::server::WorkerLine`).
fn worker(args: ServerArgs, assignment: &str) -> Result<u8, Error> {
    let assignment = Assignment::read(assignment)?;
    let config = assignment.config(&ServerConfig::resolve(args)?)?;
    limits::raise_open_files()?;
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let server = Server::new(config, Some(&signals))?;
    let mut writer = WriterThread::stdout(QUEUED)
        .map_err(|e| Error::system("cannot start the output's writer", e))?;
    let mut lines = writer.outlet(0);
    // The pipe to the parent is empty: this line goes at once, and tells the parent the
    // signals are read from now on.
    let mut out = io::stdout();
    write_worker_line(
        &mut out,
        &WorkerLine::Listening {
            port: server.local_addr().port(),
        },
    )
    .and_then(|()| out.flush())
    .map_err(unwritten)?;
    let mut tick = 0;
    let outcome = server.run(|counts| {
        tick += 1;
        // A line dropped is no loss: the parent sums the latest of each worker.
        let _ = write_worker_line(
            &mut lines,
            &WorkerLine::Tick {
                tick,
                counts: *counts,
            },
        );
    })?;
    signals.let_next_kill();
    lines.keep_everything();
    let _ = write_worker_line(
        &mut lines,
        &WorkerLine::Final {
            counts: outcome.counts,
            stop: outcome.stop,
        },
    );
    drop(lines);
    writer.finish().map_err(unwritten)?;
    Ok(exit::SUCCESS)
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
