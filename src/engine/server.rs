//! `tcpgoon server`: a target for `tcpgoon run` on this machine, with the faults real servers
//! have. It listens (on loopback unless told otherwise), accepts until the kernel has no more
//! queued, holds every connection open, reads and discards whatever arrives, and can instead
//! leave its accept queue full (`--no-accept`), stop accepting for good after so many
//! (`--accept-limit`), close each connection after a while (`--close-after`), hold only so
//! many at once and close the rest as they come (`--max-open`), after writing them a refusal
//! (`--reject-after`), close with a reset rather than a FIN (`--reset`), greet each one, or
//! write back what arrives (`--echo`). An echo can be made to slow down as connections pile
//! up, by `--slow-by` for each connection open past `--slow-after` (the knee a heartbeat's
//! latency finds), or to stop coming after `--mute-after` (a server that stops answering
//! but keeps its sockets open). With `--h2` it speaks HTTP/2's opening exchange: its
//! SETTINGS as the greeting, then every SETTINGS acknowledged and every PING answered
//! ([`ServerReader`]), and past `--max-open` its SETTINGS and a GOAWAY ENHANCE_YOUR_CALM
//! as the refusal; `--slow-by` and `--mute-after` shape those answers as they do an echo.
//!
//! A connection is served or turned away. A served one is owed the greeting, then (with
//! `--echo`) what it sent; a turned-away one is owed the refusal, and is closed once that is
//! written. Writes never block: what the socket does not take waits in the connection, and
//! is written when the socket is WRITABLE again. An echo waiting to be written is at most
//! [`ECHO_LIMIT`] bytes; while it is that full the connection is not read, so the peer's
//! writes wait in the kernel's buffers, as a server that cannot keep up makes them wait.
//!
//! Like the run's engine it is one thread and one `mio::Poll`: the listener, the signalfd, a
//! timerfd and every accepted connection (in a slab keyed by its token) are registered with
//! it. Every connection gets the same `--close-after`, so those deadlines come due in accept
//! order and a FIFO [`DeadlineQueue`] holds them. It stops on SIGINT, SIGTERM or SIGHUP, after
//! `--maxconnections` accepts, or after `--duration`, and then drops its listener and every
//! connection at once, so clients see a refusal, a FIN or (with `--reset`) a reset at once.
//!
//! With `--tls` every accepted connection is wrapped in a rustls session before anything
//! else: its reads and writes go through it, the first of them drive the handshake, and
//! every fault mode works over it as over plain TCP (a greeting or a refusal is written
//! once the handshake is done; a connection turned away without one is closed during it).
//! The handshake is driven on its own until it is done, so the counts tell each session's
//! stage: handshaking, done, or failed, by cause ([`TlsCounts`]). A session that fails is
//! closed at once, after the alert rustls owes the client, if the socket takes it.
//!
//! With `--metrics` the loop also serves the scrape endpoint (`engine::metrics`), from
//! its counts of the moment: the endpoint's listener under [`METRICS`], just below the
//! server's own tokens, and its scrapes under the tokens below that.
//!
//! [`Server`] never formats: it hands its counts to a callback and returns a [`Stop`];
//! `report::server` turns those into the lines on stdout.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::engine::deadline::{DeadlineHeap, DeadlineQueue};
use crate::engine::h2::ServerReader;
use crate::engine::metrics::Metrics;
use crate::engine::mqtt_serve::MqttServe;
use crate::engine::pacer::Ticker;
use crate::engine::signal::{Caught, SignalFd};
use crate::engine::timer::{self, Alarm};
use crate::engine::tls::{self, TlsFailure};
use crate::engine::transport::{self, Drive, Transport};
use crate::engine::ws_serve::{After, WsServe};
use crate::error::Error;

const SIGNALS: Token = Token(usize::MAX);
const ALARM: Token = Token(usize::MAX - 1);
const LISTENER: Token = Token(usize::MAX - 2);
/// `--metrics`: its listener's token; its scrapes' are the ones below it, far above any
/// connection's slab key.
pub const METRICS: Token = Token(usize::MAX - 3);

/// How long to wait before accepting again when accept fails for lack of descriptors or
/// memory: the queued connection stays queued, and no new event would announce it.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The most echoed bytes a connection keeps waiting for its peer to read (`--echo`).
pub const ECHO_LIMIT: usize = 64 * 1024;

/// What the server is asked to do: `tcpgoon server`'s arguments, checked (`cli::config`
/// parses the address to listen on, so a bad one is bad input, not a failure to bind).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Stop after accepting this many; `None` for no limit.
    pub max_connections: Option<u64>,
    /// Stop after this long; `None` for no limit.
    pub duration: Option<Duration>,
    pub backlog: i32,
    pub no_accept: bool,
    /// Accept this many, then never again (the listener stays open, and the kernel goes on
    /// queueing up to the backlog); `None` for no limit.
    pub accept_limit: Option<u64>,
    pub close_after: Option<Duration>,
    pub reset: bool,
    /// Written to each accepted connection; never empty.
    pub greeting: Option<Vec<u8>>,
    /// Write back what arrives on each connection, rather than discard it.
    pub echo: bool,
    /// Hold at most this many open at once; `None` for no limit.
    pub max_open: Option<u64>,
    /// Written to each connection `max_open` turns away before it is closed; may be empty.
    pub refusal: Vec<u8>,
    pub interval: Duration,
    /// Share the port with other listeners (`SO_REUSEPORT`): the kernel spreads new
    /// connections over them, so a group of processes holds more than one's open-files
    /// limit allows.
    pub reuse_port: bool,
    /// Serve TLS with this certificate (`--tls`).
    pub tls: Option<tls::Server>,
    /// `--slow-after K --slow-by D`: each echo waits D for every connection open past K
    /// when its bytes arrived.
    pub slow: Option<Slow>,
    /// `--mute-after`: from this long after the start, what arrives is read and never
    /// echoed.
    pub mute_after: Option<Duration>,
    /// `--h2`: what a served connection sends is read as HTTP/2 and answered (its SETTINGS
    /// acknowledged, its PINGs), rather than echoed; `greeting` and `refusal` are HTTP/2's.
    pub h2: bool,
    /// `--ws`: each connection is a WebSocket (`engine::ws_serve`), its answers written as
    /// an echo is (so `--slow-by` and `--mute-after` shape them).
    pub ws: Option<WsServeConfig>,
    /// `--mqtt`: each connection is an MQTT client (`engine::mqtt_serve`), its answers
    /// written as an echo is.
    pub mqtt: bool,
    /// `--mqtt-refuse-past K`: each connection beyond K open at once is refused in its
    /// CONNACK, then closed.
    pub mqtt_refuse_past: Option<u64>,
}

/// `--ws` and its faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsServeConfig {
    /// `--ws-wrong-accept`.
    pub wrong_accept: bool,
    /// `--ws-close-past K`: upgrade each connection beyond K open at once, then close it
    /// with 1013.
    pub close_past: Option<u64>,
}

/// An echo's delay as connections pile up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slow {
    pub after: u64,
    pub by: Duration,
}

impl Slow {
    /// How long an echo waits with `open` connections open.
    pub fn delay(&self, open: u64) -> Duration {
        let past = u32::try_from(open.saturating_sub(self.after)).unwrap_or(u32::MAX);
        self.by.saturating_mul(past)
    }
}

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub accepted: u64,
    /// Accepted and not yet closed by either side.
    pub open: u64,
    pub closed: u64,
    /// Accepts that failed for lack of descriptors or memory (each is retried).
    pub accept_errors: u64,
    /// Accepted while `--max-open` (or `--reject-after`) were open, and closed at once, or
    /// once the refusal was written (counted in `closed` too, once closed).
    pub turned_away: u64,
    /// Connections whose handshake the kernel completed, waiting in the listener's queue,
    /// while the server is not accepting (`--no-accept`, or `--accept-limit` reached); `None`
    /// while it accepts, or when the kernel would not say.
    pub queued: Option<u64>,
    /// With `--tls`: the handshakes of the sessions, by stage.
    pub tls: Option<TlsCounts>,
}

/// Where the TLS sessions' handshakes stand. Every accepted connection gets a session, but
/// those `--max-open` closes at once, so with `--tls` those accepted add up to
/// `handshaking + done + failed()` (+ those turned away at once); each is in one of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsCounts {
    /// Open, the handshake under way.
    pub handshaking: u64,
    /// Handshakes completed (the connection may have closed since).
    pub done: u64,
    /// Failed: the client's bytes broke the handshake, and the server sent an alert.
    pub alert_sent: u64,
    /// Failed: the client sent an alert (a certificate it rejected, a version it lacks).
    pub alert_received: u64,
    /// Failed: closed or reset before the handshake was done, by the client or by
    /// `--close-after`.
    pub closed: u64,
    /// Failed otherwise: a session that could not be made, or an error with no alert.
    pub other: u64,
}

impl TlsCounts {
    pub fn failed(&self) -> u64 {
        self.alert_sent + self.alert_received + self.closed + self.other
    }

    /// Counts a failed handshake, from the failure and whether the session owed the client
    /// an alert for it (the client's bytes broke it).
    fn failed_with(&mut self, failure: &TlsFailure, alert_sent: bool) {
        *match failure {
            TlsFailure::Alert(_) => &mut self.alert_received,
            TlsFailure::Closed => &mut self.closed,
            _ if alert_sent => &mut self.alert_sent,
            _ => &mut self.other,
        } += 1;
    }
}

impl Counts {
    /// Adds another server's counts to these: the counts of the servers together. A count
    /// of the queue one of them does not know stays unknown only if none knows it.
    pub fn add(&mut self, other: &Counts) {
        self.accepted += other.accepted;
        self.open += other.open;
        self.closed += other.closed;
        self.accept_errors += other.accept_errors;
        self.turned_away += other.turned_away;
        self.queued = match (self.queued, other.queued) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.tls = match (self.tls, other.tls) {
            (None, None) => None,
            (a, b) => {
                let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
                Some(TlsCounts {
                    handshaking: a.handshaking + b.handshaking,
                    done: a.done + b.done,
                    alert_sent: a.alert_sent + b.alert_sent,
                    alert_received: a.alert_received + b.alert_received,
                    closed: a.closed + b.closed,
                    other: a.other + b.other,
                })
            }
        };
    }
}

/// Worker `index`'s share of `total` split over `count` workers: `total / count`, and one
/// more for each of the first `total % count`. The shares add up to `total`.
pub fn share(total: u64, index: usize, count: usize) -> u64 {
    let (index, count) = (index as u64, count.max(1) as u64);
    total / count + u64::from(index < total % count)
}

impl ServerConfig {
    /// The configuration of worker `index` of `count`, each a server of its own on the same
    /// port (`SO_REUSEPORT`): every cap of the whole server split over them by [`share`]
    /// (`-m`, `--accept-limit`, `--max-open`, `--ws-close-past`, `--mqtt-refuse-past`,
    /// `--slow-after`), and `--slow-by` times `count`, so an echo waits about as long as one
    /// server's would with the connections spread evenly: `count * by * (open / count - after
    /// / count)` is `by * (open - after)`.
    pub fn worker_share(&self, index: usize, count: usize) -> ServerConfig {
        let split = |cap: Option<u64>| cap.map(|total| share(total, index, count));
        let factor = u32::try_from(count).unwrap_or(u32::MAX);
        ServerConfig {
            max_connections: split(self.max_connections),
            accept_limit: split(self.accept_limit),
            max_open: split(self.max_open),
            ws: self.ws.map(|ws| WsServeConfig {
                close_past: split(ws.close_past),
                ..ws
            }),
            mqtt_refuse_past: split(self.mqtt_refuse_past),
            slow: self.slow.map(|slow| Slow {
                after: share(slow.after, index, count),
                by: slow.by.saturating_mul(factor),
            }),
            reuse_port: true,
            ..self.clone()
        }
    }
}

/// Binds a socket to `addr` the way the server's listeners are bound, with `SO_REUSEPORT`,
/// and does not listen on it: it holds the port (the one the kernel picked, for port 0)
/// for listeners that share it, and takes no connection itself. A failure is the user's to
/// fix, as the server's own bind is.
pub fn reserve_port(addr: SocketAddr) -> Result<(Socket, SocketAddr), Error> {
    let bound = (|| {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::STREAM.cloexec(),
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&addr.into())?;
        let local = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP address"))?;
        Ok((socket, local))
    })();
    bound.map_err(|e| bind_error(addr, e))
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stop {
    MaxConnections(u64),
    Duration(Duration),
    Signal(libc::c_int),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The counts at the stop, before the connections still open were closed.
    pub counts: Counts,
    pub stop: Stop,
}

/// What the server does with an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Held: greeted, read from (and echoed to), closed by the peer, `--close-after` or the
    /// stop.
    Served,
    /// Over `--reject-after`: written the refusal, then closed.
    TurnedAway,
}

/// An accepted connection.
#[derive(Debug)]
struct Held {
    stream: Transport,
    /// Its place in accept order; tells a reused slab slot from its predecessor.
    seq: u64,
    role: Role,
    /// How much of its message (the greeting, or the refusal) has been written.
    sent: usize,
    /// Bytes read and not yet echoed: `echo[echoed..]`, at most [`ECHO_LIMIT`].
    echo: Vec<u8>,
    echoed: usize,
    /// The peer has finished sending (`--echo`): it is closed once its echo is written.
    read_closed: bool,
    /// With `--slow-by`: its echo waits until then.
    echo_at: Option<Instant>,
    /// A TLS session whose handshake is not done: nothing else is read or written yet. One
    /// closed while handshaking was closed during it.
    handshaking: bool,
    /// With `--ws`: its WebSocket, whose answers go to `echo`.
    ws: Option<Box<WsServe>>,
    /// With `--mqtt`: its MQTT, whose answers go to `echo`.
    mqtt: Option<Box<MqttServe>>,
    /// With `--h2`: the client's preface and frames as they are read.
    h2: ServerReader,
}

impl Held {
    fn unechoed(&self) -> usize {
        self.echo.len() - self.echoed
    }
}

/// The server's event loop and everything it owns.
pub struct Server<'s> {
    poll: Poll,
    alarm: Alarm,
    listener: Option<TcpListener>,
    /// Registered and taking connections off the listener's queue.
    accepting: bool,
    local_addr: SocketAddr,
    conns: Slab<Held>,
    closing: Option<DeadlineQueue<(usize, u64)>>,
    /// With `--slow-by`: when each delayed echo is due.
    echoes: DeadlineHeap<(usize, u64)>,
    /// With `--mute-after`: from then on nothing is echoed.
    mute_at: Option<Instant>,
    /// The clock, read once a turn of the loop.
    now: Instant,
    ticker: Ticker,
    stop_at: Option<Instant>,
    accept_retry_at: Option<Instant>,
    config: ServerConfig,
    signals: Option<&'s SignalFd>,
    counts: Counts,
    /// Connections turned away whose refusal is still being written: open, not held.
    refusing: u64,
    /// With `--ws-close-past` or `--mqtt-refuse-past`: connections past the cap being
    /// answered in their protocol (a close with 1013, a refusing CONNACK), then closed.
    answering_away: u64,
    stop: Option<Stop>,
    read_buf: Box<[u8]>,
    /// `--metrics`: the scrape endpoint, served by this loop from its counts.
    metrics: Option<&'s mut Metrics<Counts>>,
}

/// A non-blocking listener with the backlog asked for. SO_REUSEADDR lets a restarted server
/// take its port back while the last one's connections sit in TIME_WAIT; SO_REUSEPORT, when
/// asked for, lets several servers listen on one port.
fn listen(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(socket)))
}

fn bind_error(addr: SocketAddr, e: io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => ": pick another port with -p, or -p 0 for a free one",
        Some(libc::EADDRNOTAVAIL) => ": --bind must be an address of this machine",
        Some(libc::EACCES) => ": ports below 1024 need privileges",
        _ => "",
    };
    Error::Usage(format!("cannot listen on {addr}: {e}{hint}"))
}

impl<'s> Server<'s> {
    /// Binds and listens; a failure here is the user's to fix (exit 64).
    pub fn new(config: ServerConfig, signals: Option<&'s SignalFd>) -> Result<Server<'s>, Error> {
        let mut listener = listen(config.addr, config.backlog, config.reuse_port)
            .map_err(|e| bind_error(config.addr, e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::system("cannot read the listening address", e))?;
        let poll = Poll::new().map_err(|e| Error::system("cannot create the event poll", e))?;
        // With --no-accept (or --accept-limit 0) the listener is never watched: nothing takes
        // connections off its queue, which is the point.
        let accepting = !config.no_accept && config.accept_limit != Some(0);
        if accepting {
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)
                .map_err(|e| Error::system("cannot watch the listener", e))?;
        }
        if let Some(signals) = signals {
            signals.register(poll.registry(), SIGNALS)?;
        }
        let alarm = Alarm::registered(poll.registry(), ALARM)?;
        let start = Instant::now();
        Ok(Server {
            poll,
            alarm,
            listener: Some(listener),
            accepting,
            local_addr,
            conns: Slab::new(),
            closing: config.close_after.map(DeadlineQueue::new),
            echoes: DeadlineHeap::default(),
            mute_at: config.mute_after.and_then(|d| start.checked_add(d)),
            now: start,
            ticker: Ticker::new(start, config.interval),
            stop_at: config.duration.and_then(|d| start.checked_add(d)),
            accept_retry_at: None,
            signals,
            counts: Counts {
                tls: config.tls.as_ref().map(|_| TlsCounts::default()),
                ..Counts::default()
            },
            refusing: 0,
            answering_away: 0,
            stop: None,
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            config,
            metrics: None,
        })
    }

    /// Serves `metrics` (bound under [`METRICS`]) from this loop, with the counts of each
    /// moment; it is let go when the loop stops, for the command to linger with.
    pub fn with_metrics(mut self, metrics: &'s mut Metrics<Counts>) -> Result<Server<'s>, Error> {
        metrics.register(self.poll.registry())?;
        self.metrics = Some(metrics);
        Ok(self)
    }

    /// The certificate it serves TLS with, if it does.
    pub fn tls(&self) -> Option<&tls::Server> {
        self.config.tls.as_ref()
    }

    /// Where it listens, with the port the kernel picked when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until a stop; `tick` gets the counts at start and every interval. The listener
    /// and every connection are closed when this returns.
    pub fn run(mut self, mut tick: impl FnMut(&Counts)) -> Result<Outcome, Error> {
        let mut events = Events::with_capacity(1024);
        let stop = loop {
            let now = Instant::now();
            self.now = now;
            if self.ticker.take_due(now) {
                self.count_queued();
                tick(&self.counts);
            }
            if self.stop.is_none() && self.stop_at.is_some_and(|at| at <= now) {
                self.stop = self.config.duration.map(Stop::Duration);
            }
            if self.accept_retry_at.is_some_and(|at| at <= now) {
                self.accept_retry_at = None;
                self.accept_all(now);
            }
            self.close_due(now);
            while let Some((key, seq)) = self.echoes.pop_expired(now) {
                if self.conns.get(key).is_some_and(|held| held.seq == seq) {
                    self.write_out(key);
                }
            }
            if let Some(stop) = self.stop {
                break stop;
            }
            let scrapes_left = (self.metrics.as_deref_mut())
                .is_some_and(|metrics| metrics.turn(self.poll.registry(), now));
            let timeout = if scrapes_left {
                Some(Duration::ZERO)
            } else {
                self.alarm
                    .poll_timeout(self.next_wakeup(), now)
                    .map_err(|e| Error::system("cannot arm the timer", e))?
            };
            timer::wait(&mut self.poll, &mut events, timeout)?;
            let now = Instant::now();
            self.now = now;
            for event in events.iter() {
                match event.token() {
                    SIGNALS => self.on_signal(),
                    ALARM => self.alarm.fired(),
                    LISTENER => self.accept_all(now),
                    token if self.metrics.as_deref().is_some_and(|m| m.owns(token)) => {
                        // The queue's length is read at each tick; a scrape reads it now.
                        self.count_queued();
                        if let Some(metrics) = self.metrics.as_deref_mut() {
                            metrics.on_event(self.poll.registry(), token, &self.counts, now);
                        }
                    }
                    Token(key) if self.config.tls.is_some() => {
                        // The session may hold bytes to write, or plaintext already read
                        // from the socket, whatever the event says: each side is done each
                        // time, and written again after the read (which drives the
                        // handshake, and may finish it).
                        self.write_out(key);
                        self.read_in(key);
                        self.write_out(key);
                    }
                    Token(key) => {
                        // Writing first: what it frees in the echo is room for the reads.
                        if event.is_writable() {
                            self.write_out(key);
                        }
                        if event.is_readable()
                            || event.is_read_closed()
                            || event.is_error()
                            || (event.is_writable() && (self.config.echo || self.config.h2))
                        {
                            self.read_in(key);
                        }
                    }
                }
            }
        };
        // The listener goes first, so a client arriving now is refused rather than queued
        // and then reset. The connections are read once more, since unread data would turn
        // their FIN into a reset, and are closed when `self` is dropped, on return.
        self.count_queued();
        if let Some(metrics) = self.metrics.take() {
            metrics.deregister(self.poll.registry());
        }
        self.listener = None;
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.discard(key);
        }
        Ok(Outcome {
            counts: self.counts,
            stop,
        })
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.ticker.next_due(),
            self.stop_at,
            self.accept_retry_at,
            self.closing.as_ref().and_then(DeadlineQueue::next_deadline),
            self.echoes.next_deadline(),
            self.metrics.as_deref().and_then(Metrics::next_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_signal(&mut self) {
        let Some(signals) = self.signals else { return };
        // Its SignalFd takes only the stopping signals.
        while let Some(Caught::Stop(signal)) = signals.read() {
            self.stop.get_or_insert(Stop::Signal(signal));
            signals.let_next_kill();
        }
    }

    /// Accepts until the queue is empty, or until `--maxconnections` or `--accept-limit` is
    /// reached.
    fn accept_all(&mut self, now: Instant) {
        while self.stop.is_none() && self.accepting {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, _)) => self.hold(stream, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Interrupted, or a client that gave up while queued: take the next one.
                Err(e)
                    if e.kind() == io::ErrorKind::Interrupted
                        || e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(_) => {
                    // Out of descriptors or memory: the connection stays queued, and no new
                    // event would announce it, so try again shortly.
                    self.counts.accept_errors += 1;
                    self.accept_retry_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// The listener stays open, so the kernel goes on completing handshakes into its queue,
    /// but nothing takes them off it again, and no event about it wakes the loop.
    fn stop_accepting(&mut self) {
        if let Some(listener) = &mut self.listener
            && self.accepting
        {
            let _ = self.poll.registry().deregister(listener);
        }
        self.accepting = false;
        self.accept_retry_at = None;
    }

    /// The length of the listener's queue, when it is not being accepted from. For a
    /// listening socket, Linux's TCP_INFO gives that length as `tcpi_unacked` (the Recv-Q
    /// that `ss -l` shows).
    fn count_queued(&mut self) {
        self.counts.queued = match &self.listener {
            Some(listener) if !self.accepting => accept_queue_length(listener),
            _ => None,
        };
    }

    fn hold(&mut self, mut stream: TcpStream, now: Instant) {
        self.counts.accepted += 1;
        self.counts.open += 1;
        let seq = self.counts.accepted;
        if self.config.max_connections == Some(seq) {
            self.stop = Some(Stop::MaxConnections(seq));
        }
        if self.config.accept_limit == Some(seq) {
            self.stop_accepting();
        }
        if self.config.reset {
            // A zero linger turns every later close of this socket into a reset. Should it
            // fail, the connection still closes, with a FIN.
            let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        // Those being refused are open until their refusal is written, but not held.
        let held = self.counts.open - self.refusing;
        let over_limit = self.config.max_open.is_some_and(|max| held > max);
        if over_limit {
            self.counts.turned_away += 1;
        }
        if over_limit && self.config.refusal.is_empty() {
            // Closed before anything could arrive on it, so the peer sees a FIN (or the
            // reset) and never a reset for unread data.
            drop(stream);
            self.counts.open -= 1;
            self.counts.closed += 1;
            return;
        }
        let role = if over_limit {
            Role::TurnedAway
        } else {
            Role::Served
        };
        // A TLS session writes its handshake, whatever the server has to say.
        let writes = role == Role::TurnedAway
            || self.config.greeting.is_some()
            || self.config.echo
            || self.config.tls.is_some();
        let interest = if writes {
            // Small answers go out at once, not after the peer's delayed ACK of the last
            // (a TLS session's tickets, then a WebSocket upgrade's answer, waited 40 ms).
            let _ = stream.set_nodelay(true);
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let registered = self
            .poll
            .registry()
            .register(&mut stream, Token(key), interest);
        let stream = registered
            .map_err(drop)
            .and_then(|()| match &self.config.tls {
                None => Ok(Transport::plain(stream)),
                Some(tls) => tls
                    .session()
                    .map(|session| Transport::tls(stream, session, now, None))
                    .map_err(drop),
            });
        let Ok(stream) = stream else {
            // Not watched (or without its session) means never read or closed by us:
            // close it now. With --tls its handshake has failed.
            self.counts.open -= 1;
            self.counts.closed += 1;
            if let Some(tls) = &mut self.counts.tls {
                tls.other += 1;
            }
            return;
        };
        let handshaking = stream.handshaking();
        if let Some(tls) = self.counts.tls.as_mut().filter(|_| handshaking) {
            tls.handshaking += 1;
        }
        // Past a protocol's cap, K open at once (these among them), it is answered with a
        // refusal in that protocol, then closed.
        let open = self.counts.open - 1 - self.refusing - self.answering_away;
        let cap = self
            .config
            .ws
            .and_then(|ws| ws.close_past)
            .or(self.config.mqtt_refuse_past);
        let past = role == Role::Served && cap.is_some_and(|k| open >= k);
        if past {
            self.answering_away += 1;
            self.counts.turned_away += 1;
        }
        let ws = (self.config.ws)
            .filter(|_| role == Role::Served)
            .map(|ws| Box::new(WsServe::new(ws.wrong_accept, past)));
        let mqtt =
            (self.config.mqtt && role == Role::Served).then(|| Box::new(MqttServe::new(past)));
        entry.insert(Held {
            stream,
            seq,
            role,
            sent: 0,
            echo: Vec::new(),
            echoed: 0,
            read_closed: false,
            echo_at: None,
            handshaking,
            ws,
            mqtt,
            h2: ServerReader::default(),
        });
        match role {
            Role::Served => {
                if let Some(closing) = &mut self.closing {
                    closing.push(now, (key, seq));
                }
            }
            Role::TurnedAway => self.refusing += 1,
        }
        // A greeting or a refusal usually fits in the socket at once; a ClientHello may
        // have arrived already.
        self.write_out(key);
    }

    /// Whether the connection is there and past its TLS handshake (a plain one always is).
    /// A handshake not done is driven as far as the socket allows first: when that finishes
    /// it, it is counted done; when it fails, the connection is closed.
    fn handshaken(&mut self, key: usize) -> bool {
        let Some(held) = self.conns.get_mut(key) else {
            return false;
        };
        if !held.handshaking {
            return true;
        }
        let (drive, _) = held.stream.drive();
        if drive == Drive::Handshaking {
            return false;
        }
        held.handshaking = false;
        let tls = self.counts.tls.as_mut();
        match drive {
            Drive::Handshaking => unreachable!("returned above"),
            Drive::Up => {
                if let Some(tls) = tls {
                    tls.handshaking -= 1;
                    tls.done += 1;
                }
                true
            }
            Drive::Failed {
                failure,
                alert_sent,
            } => {
                if let Some(tls) = tls {
                    tls.handshaking -= 1;
                    tls.failed_with(&failure, alert_sent);
                }
                self.close(key);
                false
            }
        }
    }

    /// Writes what the connection is owed, until the socket takes no more: the rest of its
    /// message, then its echo. A turned-away connection whose refusal is written, or a
    /// served one whose peer has finished sending and has its echo, is closed.
    fn write_out(&mut self, key: usize) {
        if !self.handshaken(key) {
            return;
        }
        let Some(held) = self.conns.get_mut(key) else {
            return;
        };
        let message: &[u8] = match held.role {
            Role::Served => self.config.greeting.as_deref().unwrap_or_default(),
            Role::TurnedAway => &self.config.refusal,
        };
        let written = held
            .stream
            .flush()
            .and_then(|()| write_until_blocked(&mut held.stream, &message[held.sent..]));
        let written = written.and_then(|n| {
            held.sent += n;
            if held.sent < message.len()
                || held.unechoed() == 0
                || held.echo_at.is_some_and(|at| at > self.now)
            {
                return Ok(());
            }
            held.echo_at = None;
            held.echoed += write_until_blocked(&mut held.stream, &held.echo[held.echoed..])?;
            if held.unechoed() == 0 {
                // Written out: the buffer is let go, so only a connection whose peer does not
                // keep up holds one.
                held.echo = Vec::new();
                held.echoed = 0;
            }
            Ok(())
        });
        let done = held.sent == message.len() && held.unechoed() == 0;
        let read_closed = held.read_closed;
        match (written, held.role) {
            // The peer is gone: nothing more can reach it.
            (Err(_), _) => self.close(key),
            (Ok(()), Role::TurnedAway) if done => {
                // Read once, so that what it sent does not turn the FIN into a reset.
                self.discard(key);
                if self.conns.contains(key) {
                    self.close(key);
                }
            }
            (Ok(()), Role::Served) if done && read_closed => self.close(key),
            (Ok(()), _) => {}
        }
    }

    /// Reads until the socket would block: with `--echo`, what a served connection sends is
    /// written back, and reading pauses while [`ECHO_LIMIT`] bytes wait to be; otherwise it
    /// is discarded.
    fn read_in(&mut self, key: usize) {
        if !self.handshaken(key) {
            return;
        }
        let Some(held) = self.conns.get_mut(key) else {
            return;
        };
        if !(self.config.echo || self.config.h2) || held.role == Role::TurnedAway {
            self.discard(key);
            return;
        }
        loop {
            let Some(held) = self.conns.get_mut(key) else {
                return;
            };
            if held.read_closed {
                // Nothing more to read; a reset (an error event) ends the wait for the echo
                // to be read.
                if !matches!(held.stream.sock().take_error(), Ok(None)) {
                    self.close(key);
                }
                return;
            }
            // A WebSocket's answers may be a few bytes longer than what they answer.
            let room = ECHO_LIMIT.saturating_sub(held.unechoed());
            if room == 0 {
                return;
            }
            let read = room.min(self.read_buf.len());
            match held.stream.read(&mut self.read_buf[..read]) {
                Ok(0) => {
                    held.read_closed = true;
                    // Closed once its echo is written: perhaps at once.
                    self.write_out(key);
                    return;
                }
                Ok(_) if self.mute_at.is_some_and(|at| at <= self.now) => {
                    // Muted: read, so the peer's writes never wait, and never answered.
                }
                Ok(n) => {
                    if held.echoed > 0 {
                        held.echo.drain(..held.echoed);
                        held.echoed = 0;
                    }
                    if self.config.h2 {
                        if held
                            .h2
                            .on_bytes(&self.read_buf[..n], &mut held.echo)
                            .is_err()
                        {
                            // Not HTTP/2: nothing to answer it with.
                            self.close(key);
                            return;
                        }
                    } else if let Some(ws) = &mut held.ws {
                        if ws.on_bytes(&self.read_buf[..n], &mut held.echo) == After::Close {
                            // Closed once its answers are written; nothing more is read.
                            held.read_closed = true;
                        }
                    } else if let Some(mqtt) = &mut held.mqtt {
                        if mqtt.on_bytes(&self.read_buf[..n], &mut held.echo) == After::Close {
                            held.read_closed = true;
                        }
                    } else {
                        held.echo.extend_from_slice(&self.read_buf[..n]);
                    }
                    if let Some(slow) = self.config.slow
                        && held.echo_at.is_none()
                    {
                        let delay = slow.delay(self.counts.open);
                        if !delay.is_zero() {
                            let at = self.now.checked_add(delay).unwrap_or(self.now);
                            held.echo_at = Some(at);
                            self.echoes.push_at(at, (key, held.seq));
                        }
                    }
                    self.write_out(key);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(key);
                    return;
                }
            }
        }
    }

    /// Reads and discards until the socket would block; end of stream or an error closes it.
    fn discard(&mut self, key: usize) {
        if !self.handshaken(key) {
            return;
        }
        let Some(held) = self.conns.get_mut(key) else {
            return;
        };
        let (_, ended) =
            transport::read_until_blocked(&mut held.stream, &mut self.read_buf, |_| {});
        if ended.is_some() {
            self.close(key);
        }
    }

    /// Closes the connections whose `--close-after` has passed.
    fn close_due(&mut self, now: Instant) {
        while let Some((key, seq)) = self.closing.as_mut().and_then(|q| q.pop_expired(now)) {
            if self.conns.get(key).is_some_and(|held| held.seq == seq) {
                // Unread data at close makes the kernel send a reset instead of a FIN.
                self.discard(key);
                if self.conns.get(key).is_some_and(|held| held.seq == seq) {
                    self.close(key);
                }
            }
        }
    }

    /// The one way a connection leaves: dropping the socket sends the FIN (or, after a zero
    /// linger, the reset).
    fn close(&mut self, key: usize) {
        let held = self.conns.remove(key);
        if held.role == Role::TurnedAway {
            self.refusing -= 1;
        }
        if held.ws.as_ref().is_some_and(|ws| ws.turned_away())
            || held.mqtt.as_ref().is_some_and(|mqtt| mqtt.refuses())
        {
            self.answering_away -= 1;
        }
        if let Some(tls) = self.counts.tls.as_mut().filter(|_| held.handshaking) {
            tls.handshaking -= 1;
            tls.closed += 1;
        }
        drop(held);
        self.counts.open -= 1;
        self.counts.closed += 1;
    }
}

/// Writes until the socket would block or `bytes` are all written; how many were. An error,
/// or a socket that takes nothing, means the peer is gone.
fn write_until_blocked(stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// How many connections wait in a listening socket's queue; `None` if the kernel would not
/// say.
fn accept_queue_length(listener: &TcpListener) -> Option<u64> {
    // SAFETY: tcp_info is plain integers, for which all zeros is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: TCP_INFO writes at most `len` bytes into `info` and sets `len` to how many.
    let rc = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    // Linux's TCP_LISTEN state, which libc does not name.
    const LISTEN: u8 = 10;
    let filled = std::mem::offset_of!(libc::tcp_info, tcpi_sacked);
    (rc == 0 && len as usize >= filled && info.tcpi_state == LISTEN)
        .then_some(u64::from(info.tcpi_unacked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for total in [0u64, 1, 2, 5, 10, 25_000, 25_001] {
            for count in 1..=7 {
                let shares: Vec<u64> = (0..count).map(|i| share(total, i, count)).collect();
                assert_eq!(shares.iter().sum::<u64>(), total, "{total} over {count}");
                let (min, max) = (shares.iter().min(), shares.iter().max());
                assert!(max.unwrap() - min.unwrap() <= 1, "{shares:?}");
                // The larger shares come first.
                assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
            }
        }
        assert_eq!([0, 1, 2].map(|i| share(10, i, 3)), [4, 3, 3]);
    }

    #[test]
    fn a_worker_gets_its_share_of_every_cap_and_listens_on_a_shared_port() {
        let whole = ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            max_connections: Some(10),
            duration: Some(Duration::from_secs(3)),
            backlog: 128,
            no_accept: false,
            accept_limit: Some(7),
            close_after: None,
            reset: false,
            greeting: None,
            echo: true,
            max_open: Some(5),
            refusal: Vec::new(),
            interval: Duration::from_secs(1),
            reuse_port: false,
            tls: None,
            slow: Some(Slow {
                after: 4,
                by: Duration::from_millis(1),
            }),
            mute_after: None,
            h2: false,
            ws: Some(WsServeConfig {
                wrong_accept: false,
                close_past: Some(2),
            }),
            mqtt: false,
            mqtt_refuse_past: Some(3),
        };
        let second = whole.worker_share(1, 2);
        assert_eq!(second.max_connections, Some(5));
        assert_eq!(second.accept_limit, Some(3));
        assert_eq!(second.max_open, Some(2));
        assert_eq!(second.ws.unwrap().close_past, Some(1));
        assert_eq!(second.mqtt_refuse_past, Some(1));
        assert_eq!(
            second.slow,
            Some(Slow {
                after: 2,
                by: Duration::from_millis(2)
            })
        );
        assert!(second.reuse_port);
        assert_eq!(second.duration, whole.duration);
        assert_eq!(whole.worker_share(0, 2).max_open, Some(3));
        // With the connections spread evenly, an echo waits as long as one server's would.
        let one = whole.slow.unwrap().delay(10);
        let each = second.slow.unwrap().delay(5);
        assert_eq!(one, each);
    }

    #[test]
    fn counts_add_up_with_unknown_parts() {
        let mut sum = Counts {
            accepted: 3,
            open: 2,
            closed: 1,
            queued: None,
            ..Counts::default()
        };
        sum.add(&Counts {
            accepted: 4,
            open: 4,
            queued: Some(2),
            tls: Some(TlsCounts {
                done: 4,
                ..TlsCounts::default()
            }),
            ..Counts::default()
        });
        assert_eq!(
            sum,
            Counts {
                accepted: 7,
                open: 6,
                closed: 1,
                queued: Some(2),
                tls: Some(TlsCounts {
                    done: 4,
                    ..TlsCounts::default()
                }),
                ..Counts::default()
            }
        );
    }

    #[test]
    fn a_reserved_port_is_shared_by_a_listener_and_takes_no_connection() {
        let (reserved, addr) = reserve_port("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(addr.port(), 0);
        // Nothing listens: a connection is refused.
        assert!(std::net::TcpStream::connect(addr).is_err());
        let listener = listen(addr, 16, true).unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let mut accepted = None;
        for _ in 0..100 {
            if let Ok((stream, _)) = listener.accept() {
                accepted = Some(stream);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(accepted.is_some());
        drop((client, reserved));
    }
}
