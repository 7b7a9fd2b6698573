//! `tcpgoon server --workers N`: one server as N processes of this binary on one port
//! (`SO_REUSEPORT`), each the single-threaded server it always is, with its own open-files
//! limit, so that one command holds more connections than one process may. This module is
//! the parent's side: it picks the port, starts the workers (`commands::workers`), tells
//! each its share ([`Assignment`]), and is one mio loop over their stdout pipes, their
//! pidfds and the signalfd, which hands the summed counts to the caller to print.
//!
//! The port: the parent binds a socket with `SO_REUSEPORT` to the address asked for (port
//! 0: the kernel picks one), and never listens on it, so it takes no connection; it holds
//! the port until every worker listens on it, then closes. A bind that fails (the port is
//! taken) fails here, once, before any worker starts.
//!
//! What a worker says is one JSON line at a time (`report::server::WorkerLine`): that it
//! listens, its counts each interval, its counts at its stop. The parent says `listening
//! on` once every worker listens; a stats line each time every worker still serving has
//! sent its next counts (the sum of the latest of each, a stopped worker's final counts
//! included); and at the end, once every worker has ended, the sum of their final counts.
//!
//! Signals: the first SIGINT, SIGTERM or SIGHUP is passed on, once, to every worker (to
//! one still starting, as soon as it listens: until then it has not blocked them, and the
//! signal would kill it before it could report), and the next one ends the parent at once,
//! which takes every worker with it (`PR_SET_PDEATHSIG`). A worker that ends without its
//! final counts (killed, or crashed) is named on stderr with the counts it took with it,
//! and the command exits 1; the others serve on.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;

use crate::cli::WorkerCount;
use crate::commands::workers::{self, Received, Workers};
use crate::engine::limits::RESERVED_FDS;
use crate::engine::metrics::Metrics;
use crate::engine::server::{Counts, ServerConfig, Stop, reserve_port};
use crate::engine::signal::{Caught, SignalFd};
use crate::engine::tls;
use crate::error::{self, Error};
use crate::report::server::{WorkerLine, read_worker_line, write_counts};

const SIGNALS: Token = Token(usize::MAX);

/// What the parent tells a worker, as the JSON value of `commands::workers::ENV`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// Which worker it is, from 0.
    pub index: usize,
    pub count: usize,
    /// The port every worker listens on, picked by the parent.
    pub port: u16,
    /// The certificate the parent made at start (`--tls` without `--cert`) and its key,
    /// PEM, so that every worker serves the same one.
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    /// How often to send its counts when the server's own interval is 0 (`-i 0`) but the
    /// parent needs them (`--metrics`), in microseconds.
    #[serde(default)]
    pub interval_us: Option<u64>,
}

impl Assignment {
    pub fn read(text: &str) -> Result<Assignment, Error> {
        serde_json::from_str(text).map_err(|e| {
            Error::Usage(format!(
                "{}: not the assignment of a server's worker ({e})",
                workers::ENV
            ))
        })
    }

    /// The worker's configuration: its share of the whole server's, on the port picked.
    pub fn config(&self, whole: &ServerConfig) -> Result<ServerConfig, Error> {
        let mut config = whole.worker_share(self.index, self.count);
        config.addr.set_port(self.port);
        if let (Some(cert), Some(key)) = (&self.cert_pem, &self.key_pem) {
            config.tls = Some(tls::Server::from_made(cert, key).map_err(Error::Usage)?);
        }
        if let Some(us) = self.interval_us {
            config.interval = Duration::from_micros(us);
        }
        Ok(config)
    }
}

/// How many workers `--workers auto` starts: one per core, or as many as `connections`
/// (`-m`, when it has a limit) need at `per_process` connections a process, and never more
/// than `connections`, so each has one to accept.
pub fn auto_count(cores: usize, per_process: u64, connections: Option<u64>) -> usize {
    let Some(connections) = connections else {
        return cores.max(1);
    };
    let needed = connections.div_ceil(per_process.max(1));
    let wanted = u64::try_from(cores).unwrap_or(u64::MAX).max(needed);
    usize::try_from(wanted.min(connections))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The number of workers asked for, `auto` resolved (and said on stderr); bad input when
/// `-m` would leave a worker nothing to accept.
pub fn count(asked: WorkerCount, config: &ServerConfig, hard_limit: u64) -> Result<usize, Error> {
    let connections = config.max_connections;
    let count = match asked {
        WorkerCount::Count(n) => n as usize,
        WorkerCount::Auto => {
            let cores = workers::cores();
            let per_process = hard_limit.saturating_sub(RESERVED_FDS);
            let n = auto_count(cores, per_process, connections);
            let why = if n > cores {
                format!(
                    "-m {} at {per_process} connections a process (the open-files limit)",
                    connections.unwrap_or(0)
                )
            } else if n < cores {
                format!(
                    "fewer than the {cores} cores: -m {} leaves no more to accept",
                    connections.unwrap_or(0)
                )
            } else {
                format!("one per core, {cores}")
            };
            error::say(format_args!(
                "--workers auto: {n} worker{} ({why})",
                if n == 1 { "" } else { "s" }
            ));
            n
        }
    };
    if let Some(m) = connections.filter(|&m| m < count as u64) {
        return Err(Error::Usage(format!(
            "-m {m} split over {count} workers leaves a worker none to accept: give -m {count} \
             or more (0: no limit), or fewer workers"
        )));
    }
    Ok(count)
}

/// What the parent hands its caller to print.
pub enum Said<'a> {
    /// Every worker listens, on this address.
    Listening(SocketAddr),
    /// The workers' counts, summed.
    Counts(&'a Counts),
}

/// How the workers ended, together.
pub struct Ended {
    /// The sum of the final counts of the workers that reported them.
    pub counts: Counts,
    /// Why the server stopped: the signal passed on, or the workers' own reason; `None`
    /// when no worker reported its stop.
    pub stop: Option<Stop>,
    /// Workers that ended without their final counts, or failed: each was named on
    /// stderr.
    pub failed: usize,
}

/// What the parent knows of one worker.
#[derive(Default)]
struct Known {
    /// It listens (and reads its signals from a signalfd).
    listening: bool,
    /// The stopping signal was passed on to it.
    signalled: bool,
    /// Its latest counts, and the number of their interval.
    latest: Option<(u64, Counts)>,
    /// Its counts at its stop, and why it stopped.
    last: Option<(Counts, Stop)>,
    /// It has ended and been reaped.
    ended: bool,
    /// What was wrong with what it wrote, if anything.
    broken: Option<String>,
}

/// The parent's loop and everything it owns.
pub struct Group<'s> {
    poll: Poll,
    workers: Workers,
    known: Vec<Known>,
    signals: &'s SignalFd,
    /// The socket holding the port until every worker listens.
    reserved: Option<Socket>,
    addr: SocketAddr,
    /// The stopping signal the parent got, passed on.
    stop_signal: Option<libc::c_int>,
    said_listening: bool,
    /// The number of the last interval whose counts were said.
    said_tick: u64,
}

fn stdout_token(index: usize) -> Token {
    Token(2 * index)
}

fn pidfd_token(index: usize) -> Token {
    Token(2 * index + 1)
}

fn watch(poll: &Poll, fd: RawFd, token: Token) -> Result<(), Error> {
    poll.registry()
        .register(&mut SourceFd(&fd), token, Interest::READABLE)
        .map_err(|e| Error::system("cannot watch a worker", e))
}

impl<'s> Group<'s> {
    /// Holds the port, and starts `count` workers on it, each with its share of `config`.
    /// With `interval`, the workers send their counts that often, whatever the server's
    /// own interval.
    pub fn start(
        config: &ServerConfig,
        count: usize,
        signals: &'s SignalFd,
        interval: Option<Duration>,
    ) -> Result<Group<'s>, Error> {
        let (reserved, addr) = reserve_port(config.addr)?;
        let made = config.tls.as_ref().filter(|tls| tls.made_pem.is_some());
        let workers = Workers::spawn(count, |index| {
            let assignment = Assignment {
                index,
                count,
                port: addr.port(),
                cert_pem: made.and_then(|tls| tls.made_pem.clone()),
                key_pem: made.and_then(|tls| tls.made_key_pem.clone()),
                interval_us: interval.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            };
            serde_json::to_string(&assignment).expect("an assignment serializes")
        })?;
        let poll = Poll::new().map_err(|e| Error::system("cannot create the event poll", e))?;
        signals.register(poll.registry(), SIGNALS)?;
        for worker in &workers.list {
            if let Some(fd) = worker.stdout_fd() {
                watch(&poll, fd, stdout_token(worker.index))?;
            }
            watch(&poll, worker.pidfd(), pidfd_token(worker.index))?;
        }
        Ok(Group {
            poll,
            known: (0..count).map(|_| Known::default()).collect(),
            workers,
            signals,
            reserved: Some(reserved),
            addr,
            stop_signal: None,
            said_listening: false,
            said_tick: 0,
        })
    }

    /// The address every worker listens on (with the port picked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until every worker has ended, handing `say` what there is to print.
    pub fn serve(
        mut self,
        mut say: impl FnMut(Said<'_>) -> Result<(), Error>,
        mut metrics: Option<&mut Metrics<Counts>>,
    ) -> Result<Ended, Error> {
        let mut events = Events::with_capacity(64);
        if let Some(metrics) = metrics.as_deref_mut() {
            metrics.register(self.poll.registry())?;
        }
        let mut busy = false;
        while !self.known.iter().all(|k| k.ended) {
            let timeout = match busy {
                true => Some(Duration::ZERO),
                false => (metrics.as_deref())
                    .and_then(Metrics::next_deadline)
                    .map(|at| at.saturating_duration_since(Instant::now())),
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::system("cannot wait for the workers", e));
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    SIGNALS => self.on_signal(),
                    // `--metrics`: a scrape reads the workers' counts summed, as of now.
                    token
                        if let Some(metrics) = metrics.as_deref_mut()
                            && metrics.owns(token) =>
                    {
                        let sum = self.sum();
                        metrics.on_event(self.poll.registry(), token, &sum, now);
                    }
                    Token(token) => {
                        let index = token / 2;
                        if index >= self.known.len() {
                            continue;
                        }
                        self.read(index);
                        if token % 2 == 1 {
                            self.end(index);
                        }
                    }
                }
            }
            self.say_what_is_new(&mut say)?;
            busy = (metrics.as_deref_mut()).is_some_and(|m| m.turn(self.poll.registry(), now));
        }
        if let Some(metrics) = metrics {
            metrics.deregister(self.poll.registry());
        }
        Ok(self.ended())
    }

    /// The workers' counts summed: each one's last, or its final counts once it stopped.
    fn sum(&self) -> Counts {
        let mut sum = Counts::default();
        for known in &self.known {
            match (&known.last, &known.latest) {
                (Some((counts, _)), _) => sum.add(counts),
                (None, Some((_, counts))) if !known.ended => sum.add(counts),
                _ => {}
            }
        }
        sum
    }

    fn on_signal(&mut self) {
        while let Some(caught) = self.signals.read() {
            let Caught::Stop(signal) = caught else {
                continue;
            };
            if self.stop_signal.is_none() {
                self.stop_signal = Some(signal);
                for index in 0..self.known.len() {
                    self.pass_on(index);
                }
                // Nothing more is passed on: the next signal ends this process, and the
                // workers with it.
                self.signals.let_next_kill();
            }
        }
    }

    /// Passes the stopping signal on to a worker that listens, once.
    fn pass_on(&mut self, index: usize) {
        let known = &mut self.known[index];
        if let Some(signal) = self.stop_signal
            && known.listening
            && !known.signalled
            && !known.ended
        {
            known.signalled = true;
            self.workers.list[index].signal(signal);
        }
    }

    /// Reads what the worker wrote; a worker that writes what is not its line is broken,
    /// and killed.
    fn read(&mut self, index: usize) {
        let lines = match self.workers.list[index].read_lines() {
            Ok(Received::Lines(lines) | Received::Closed(lines)) => lines,
            Err(e) => {
                self.break_off(index, format!("its output could not be read: {e}"));
                return;
            }
        };
        for line in lines {
            if self.known[index].ended {
                return;
            }
            match read_worker_line(&line) {
                Ok(line) => self.take(index, line),
                Err(e) => {
                    self.break_off(index, e);
                    return;
                }
            }
        }
    }

    fn take(&mut self, index: usize, line: WorkerLine) {
        match line {
            WorkerLine::Listening { port } if port == self.addr.port() => {
                self.known[index].listening = true;
                self.pass_on(index);
            }
            WorkerLine::Listening { port } => {
                self.break_off(
                    index,
                    format!("it listens on port {port}, not the one given"),
                );
            }
            WorkerLine::Tick { tick, counts } => self.known[index].latest = Some((tick, counts)),
            WorkerLine::Final { counts, stop } => self.known[index].last = Some((counts, stop)),
        }
    }

    fn break_off(&mut self, index: usize, why: String) {
        let worker = &mut self.workers.list[index];
        worker.kill();
        self.known[index].broken.get_or_insert(why);
        self.known[index].last = None;
        self.end(index);
    }

    /// Reaps a worker whose pidfd is readable, after its last lines were read.
    fn end(&mut self, index: usize) {
        if self.known[index].ended || !self.workers.list[index].reap() {
            return;
        }
        let known = &mut self.known[index];
        known.ended = true;
        let worker = &self.workers.list[index];
        let succeeded = worker.status.is_some_and(|s| s.success());
        if known.last.is_some() && succeeded && known.broken.is_none() {
            return;
        }
        let lost = match (&known.last, &known.latest) {
            (Some(_), _) => String::new(),
            (None, Some((_, counts))) => {
                let mut line = Vec::new();
                let _ = write_counts(&mut line, counts);
                format!(
                    "; its counts are lost (last said: {})",
                    String::from_utf8_lossy(&line).trim_end()
                )
            }
            (None, None) => "; its counts are lost (it said none)".to_string(),
        };
        let broken = known
            .broken
            .as_ref()
            .map(|why| format!(" ({why})"))
            .unwrap_or_default();
        error::say(format_args!(
            "worker {index} (pid {}) {}{broken}{lost}",
            worker.pid,
            worker.ending()
        ));
    }

    fn say_what_is_new(
        &mut self,
        say: &mut impl FnMut(Said<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if !self.said_listening {
            let started = self.known.iter().all(|k| k.listening || k.ended);
            if !started || !self.known.iter().any(|k| k.listening) {
                return Ok(());
            }
            self.said_listening = true;
            // Every worker listens: the port needs no holding any more.
            self.reserved = None;
            say(Said::Listening(self.addr))?;
        }
        // The workers still serving have each sent counts this new.
        let serving = self.known.iter().filter(|k| k.last.is_none() && !k.ended);
        let Some(newest) = serving.map(|k| k.latest.map_or(0, |(tick, _)| tick)).min() else {
            return Ok(());
        };
        if newest > self.said_tick {
            self.said_tick = newest;
            say(Said::Counts(&self.sum()))?;
        }
        Ok(())
    }

    fn ended(&self) -> Ended {
        let mut counts = Counts::default();
        let mut stops = Vec::new();
        for known in &self.known {
            if let Some((last, stop)) = &known.last {
                counts.add(last);
                stops.push(*stop);
            }
        }
        let stop = match self.stop_signal {
            Some(signal) => Some(Stop::Signal(signal)),
            None => whole_stop(&stops),
        };
        let failed = self
            .known
            .iter()
            .zip(&self.workers.list)
            .filter(|(known, worker)| {
                known.last.is_none()
                    || known.broken.is_some()
                    || !worker.status.is_some_and(|s| s.success())
            })
            .count();
        Ended {
            counts,
            stop,
            failed,
        }
    }
}

/// Why the whole server stopped, from why each worker did: every one at its share of `-m`
/// is the whole `-m` reached; else a signal a worker got (from elsewhere than the parent),
/// else the duration.
fn whole_stop(stops: &[Stop]) -> Option<Stop> {
    let accepted: Option<u64> = stops
        .iter()
        .map(|stop| match stop {
            Stop::MaxConnections(n) => Some(*n),
            _ => None,
        })
        .sum();
    match accepted {
        Some(n) if !stops.is_empty() => Some(Stop::MaxConnections(n)),
        _ => stops
            .iter()
            .find(|stop| matches!(stop, Stop::Signal(_)))
            .or_else(|| stops.iter().find(|stop| matches!(stop, Stop::Duration(_))))
            .copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn auto_is_a_worker_per_core_or_as_many_as_the_open_files_limit_needs() {
        assert_eq!(auto_count(2, 19_968, None), 2);
        assert_eq!(auto_count(2, 19_968, Some(10)), 2);
        assert_eq!(auto_count(2, 19_968, Some(39_936)), 2);
        assert_eq!(auto_count(2, 19_968, Some(39_937)), 3);
        assert_eq!(auto_count(2, 19_968, Some(1_000_000)), 51);
        // Never more workers than connections to accept.
        assert_eq!(auto_count(8, 19_968, Some(3)), 3);
        assert_eq!(auto_count(0, 19_968, None), 1);
    }

    #[test]
    fn the_whole_stop_is_the_whole_m_or_the_workers_reason() {
        let m = |n| Stop::MaxConnections(n);
        let d = Stop::Duration(Duration::from_secs(2));
        assert_eq!(whole_stop(&[m(4), m(3), m(3)]), Some(m(10)));
        assert_eq!(whole_stop(&[m(4), d, m(3)]), Some(d));
        assert_eq!(
            whole_stop(&[m(4), Stop::Signal(libc::SIGTERM)]),
            Some(Stop::Signal(libc::SIGTERM))
        );
        assert_eq!(whole_stop(&[]), None);
    }

    #[test]
    fn an_assignment_reads_back_and_gives_the_worker_its_share_on_the_port() {
        let assignment = Assignment {
            index: 1,
            count: 3,
            port: 40123,
            cert_pem: None,
            key_pem: None,
            interval_us: None,
        };
        let text = serde_json::to_string(&assignment).unwrap();
        assert_eq!(Assignment::read(&text).unwrap(), assignment);
        assert!(Assignment::read("{}").is_err());
        assert!(Assignment::read("").is_err());
    }
}
