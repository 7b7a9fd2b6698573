//! `tcpgoon server`'s lines on stdout: where it listens, its counts at each interval and at
//! the stop, and why it stopped. Pure writers over `impl Write`.

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::engine::server::{Counts, Stop};
use crate::engine::signal;
use crate::units::duration::canonical;

/// `listening on 127.0.0.1:54321` (`[::1]:54321` for IPv6).
pub fn write_listening(w: &mut impl Write, addr: SocketAddr) -> io::Result<()> {
    writeln!(w, "listening on {addr}")
}

/// `Accepted: 5, Open: 3, Closed: 2`, with the connections turned away and the accept
/// errors appended when there were any, the length of the accept queue while the server
/// does not accept, and with `--tls` the handshakes by stage (`Handshaking: 1, Handshakes
/// done: 3, Handshakes failed: 1`), then the failures' causes that happened.
pub fn write_counts(w: &mut impl Write, c: &Counts) -> io::Result<()> {
    write!(
        w,
        "Accepted: {}, Open: {}, Closed: {}",
        c.accepted, c.open, c.closed
    )?;
    if c.turned_away > 0 {
        write!(w, ", Turned away: {}", c.turned_away)?;
    }
    if c.accept_errors > 0 {
        write!(w, ", Accept errors: {}", c.accept_errors)?;
    }
    if let Some(queued) = c.queued {
        write!(w, ", Queued: {queued}")?;
    }
    if let Some(tls) = &c.tls {
        write!(
            w,
            ", Handshaking: {}, Handshakes done: {}, Handshakes failed: {}",
            tls.handshaking,
            tls.done,
            tls.failed()
        )?;
        for (label, n) in [
            ("Alert sent", tls.alert_sent),
            ("Alert received", tls.alert_received),
            ("Closed in handshake", tls.closed),
            ("Other TLS failures", tls.other),
        ] {
            if n > 0 {
                write!(w, ", {label}: {n}")?;
            }
        }
    }
    writeln!(w)
}

/// `stopping: 5 connections accepted (--maxconnections 5)`, and the like.
pub fn write_stopping(w: &mut impl Write, stop: &Stop) -> io::Result<()> {
    match *stop {
        Stop::MaxConnections(n) => writeln!(
            w,
            "stopping: {n} connection{} accepted (--maxconnections {n})",
            if n == 1 { "" } else { "s" }
        ),
        Stop::Duration(d) => {
            let d = canonical(d);
            writeln!(w, "stopping: ran for {d} (--duration {d})")
        }
        Stop::Signal(sig) => writeln!(w, "stopping: interrupted by {}", signal::name(sig)),
    }
}

/// What a worker of `tcpgoon server --workers` tells its parent, one JSON object a line on
/// its stdout: that it listens, its counts at each interval (numbered from 1, the first at
/// its start), and its counts at its stop with why it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkerLine {
    Listening { port: u16 },
    Tick { tick: u64, counts: Counts },
    Final { counts: Counts, stop: Stop },
}

/// One [`WorkerLine`], as the line a worker writes.
pub fn write_worker_line(w: &mut impl Write, line: &WorkerLine) -> io::Result<()> {
    let mut text = serde_json::to_vec(line).map_err(io::Error::other)?;
    text.push(b'\n');
    w.write_all(&text)
}

/// A line a worker wrote (without its `\n`), or what is wrong with it.
pub fn read_worker_line(line: &[u8]) -> Result<WorkerLine, String> {
    serde_json::from_slice(line).map_err(|e| format!("not a worker's line ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::server::TlsCounts;
    use crate::report::written as text;
    use std::time::Duration;

    #[test]
    fn listening_line_shows_the_address_as_connected_to() {
        let v4: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        let v6: SocketAddr = "[::1]:40123".parse().unwrap();
        assert_eq!(
            text(|w| write_listening(w, v4)),
            "listening on 127.0.0.1:40123\n"
        );
        assert_eq!(
            text(|w| write_listening(w, v6)),
            "listening on [::1]:40123\n"
        );
    }

    #[test]
    fn counts_line_mentions_turned_away_and_accept_errors_only_when_there_are_some() {
        let mut counts = Counts {
            accepted: 5,
            open: 3,
            closed: 2,
            accept_errors: 0,
            turned_away: 0,
            queued: None,
            tls: None,
        };
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 5, Open: 3, Closed: 2\n"
        );
        counts.accept_errors = 7;
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 5, Open: 3, Closed: 2, Accept errors: 7\n"
        );
        counts.turned_away = 1;
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 5, Open: 3, Closed: 2, Turned away: 1, Accept errors: 7\n"
        );
        // Not accepting: the queue is there, empty or not.
        counts.queued = Some(0);
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 5, Open: 3, Closed: 2, Turned away: 1, Accept errors: 7, Queued: 0\n"
        );
    }

    #[test]
    fn with_tls_the_handshakes_by_stage_and_the_causes_that_happened() {
        let mut counts = Counts {
            accepted: 6,
            open: 4,
            closed: 2,
            tls: Some(TlsCounts::default()),
            ..Counts::default()
        };
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 6, Open: 4, Closed: 2, Handshaking: 0, Handshakes done: 0, \
             Handshakes failed: 0\n"
        );
        counts.tls = Some(TlsCounts {
            handshaking: 1,
            done: 3,
            alert_received: 1,
            closed: 1,
            ..TlsCounts::default()
        });
        assert_eq!(
            text(|w| write_counts(w, &counts)),
            "Accepted: 6, Open: 4, Closed: 2, Handshaking: 1, Handshakes done: 3, \
             Handshakes failed: 2, Alert received: 1, Closed in handshake: 1\n"
        );
    }

    #[test]
    fn stopping_line_says_why() {
        let line = |stop| text(|w| write_stopping(w, &stop));
        assert_eq!(
            line(Stop::MaxConnections(5)),
            "stopping: 5 connections accepted (--maxconnections 5)\n"
        );
        assert_eq!(
            line(Stop::MaxConnections(1)),
            "stopping: 1 connection accepted (--maxconnections 1)\n"
        );
        assert_eq!(
            line(Stop::Duration(Duration::from_millis(1500))),
            "stopping: ran for 1500ms (--duration 1500ms)\n"
        );
        assert_eq!(
            line(Stop::Signal(libc::SIGINT)),
            "stopping: interrupted by SIGINT\n"
        );
    }

    #[test]
    fn a_worker_line_reads_back_as_written() {
        let lines = [
            WorkerLine::Listening { port: 40123 },
            WorkerLine::Tick {
                tick: 3,
                counts: Counts {
                    accepted: 5,
                    open: 3,
                    closed: 2,
                    queued: Some(1),
                    tls: Some(TlsCounts::default()),
                    ..Counts::default()
                },
            },
            WorkerLine::Final {
                counts: Counts::default(),
                stop: Stop::Duration(Duration::from_millis(1500)),
            },
            WorkerLine::Final {
                counts: Counts::default(),
                stop: Stop::Signal(libc::SIGINT),
            },
        ];
        for line in lines {
            let written = text(|w| write_worker_line(w, &line));
            assert_eq!(written.matches('\n').count(), 1, "{written}");
            assert!(written.ends_with('\n'), "{written}");
            assert_eq!(read_worker_line(written.trim_end().as_bytes()), Ok(line));
        }
        assert!(read_worker_line(b"").is_err());
        assert!(read_worker_line(b"{\"listening\":{\"port\":70000}}").is_err());
        assert!(read_worker_line(b"{\"listening\":{\"port\":1,\"x\":2}}").is_err());
    }
}
