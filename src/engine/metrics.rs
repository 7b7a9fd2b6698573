//! `--metrics`: an HTTP/1.1 endpoint, `GET /metrics`, served by the run's own loop (or the
//! server's, `tcpgoon server --metrics`): no thread, no runtime. A listener under its own token, and the scrapes it accepts in a slab
//! of their own, each read until its request head ends, answered, and closed.
//!
//! ```text
//!  accepted ──head whole──▶ GET /metrics: 200 and the exposition (OpenMetrics when the
//!     │                     Accept header names it, else Prometheus text 0.0.4)
//!     │                     GET or HEAD elsewhere: 404; another method: 405
//!     ├──head past 8 KiB──▶ 431
//!     ├──not HTTP─────────▶ 400          ──▶ written (the rest on WRITABLE) ──▶ closed
//!     └──peer closed, or SCRAPE_TIMEOUT since accepted ──────────────────────▶ closed
//! ```
//!
//! A scraper never holds the run up: at most [`MAX_SCRAPES`] at once (past them, new ones
//! wait in the listen backlog until one gives its slot back), at most [`MAX_HEAD`] bytes read from each, at most
//! [`ACCEPT_BATCH`] accepted a turn (the rest the next turn, the poll not waiting), and every
//! write non-blocking. The answer is rendered when the request is whole, from the stats of
//! that turn of the loop (once a turn and format at most, however many scrapers ask).
//! [`Scrape`] is the sans-I/O part: bytes and time in, bytes out; the engine never formats,
//! so the exposition is a function handed in ([`Render`]).
//!
//! After the run, [`Metrics::linger`] keeps answering (`--metrics-linger`), so a last scrape
//! sees the final counts: a loop of its own over the listener and the signals, which a
//! SIGINT, SIGTERM or SIGHUP ends.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use crate::engine::signal::{Caught, SignalFd};
use crate::engine::stats::Stats;
use crate::engine::timer;
use crate::error::Error;

/// Scrapes served at once.
pub const MAX_SCRAPES: usize = 64;
/// The most a request head may be.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections accepted a turn.
pub const ACCEPT_BATCH: usize = 16;
/// From a scrape's accept to its answer written: a scraper that reads nothing gives its
/// slot back after this.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// From a scrape's accept to its request head whole: a scraper sends its request in one
/// go, so one that dribbles it (a byte at a time, each a wakeup of the loop) or sends
/// nothing gives its slot back after this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections accepted a second, at most, in bursts of up to [`ACCEPT_BATCH`]: a scraper
/// that connects again and again (a megabyte request each time, refused with 431) costs
/// the loop a bounded share of its time; the rest wait in the listen backlog.
pub const ACCEPTS_PER_SECOND: u32 = 100;

/// The listener's token in the run's loop; the scrapes' are below it, one per slab key.
/// Another loop whose own tokens are up there gives it another ([`Metrics::bind_at`]).
pub const LISTENER: Token = Token(usize::MAX - 2);
/// The token of the signals while lingering (the run's loop has its own).
const SIGNALS: Token = Token(usize::MAX);

/// The exposition's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`, ending with `# EOF`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The exposition of the stats in a format: the run's [`Stats`], or another loop's counts.
pub type Render<S = Stats> = Box<dyn Fn(&S, Format) -> Vec<u8>>;

/// What a request asks for, once its head is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `GET /metrics`; `head`: `HEAD /metrics`, the headers without the body.
    Metrics {
        format: Format,
        head: bool,
    },
    NotFound,
    MethodNotAllowed,
    TooLarge,
    BadRequest,
}

/// Reads a request head: `GET /metrics HTTP/1.1`, headers, an empty line.
fn ask_of(head: &[u8]) -> Ask {
    let Ok(head) = std::str::from_utf8(head) else {
        return Ask::BadRequest;
    };
    let mut lines = head.split("\r\n");
    let mut request = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request.next(),
        request.next(),
        request.next(),
        request.next(),
    ) else {
        return Ask::BadRequest;
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Ask::BadRequest;
    }
    let path = target.split('?').next().unwrap_or_default();
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return Ask::MethodNotAllowed;
    }
    if path != "/metrics" {
        return Ask::NotFound;
    }
    let openmetrics = lines
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .any(|(_, value)| accepts_openmetrics(value));
    Ask::Metrics {
        format: if openmetrics {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        },
        head: head_only,
    }
}

/// Whether an Accept header's value names OpenMetrics text, with a weight above zero.
fn accepts_openmetrics(value: &str) -> bool {
    value.split(',').any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        media.eq_ignore_ascii_case("application/openmetrics-text")
            && !params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
    })
}

/// The whole response to `ask`, `body` being the exposition when it asks for it.
pub fn response(ask: Ask, body: impl FnOnce(Format) -> Vec<u8>) -> Vec<u8> {
    let (status, content_type, body, send_body) = match ask {
        Ask::Metrics { format, head } => ("200 OK", format.content_type(), body(format), !head),
        Ask::NotFound => (
            "404 Not Found",
            "text/plain",
            b"try /metrics\n".to_vec(),
            true,
        ),
        Ask::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            b"GET /metrics\n".to_vec(),
            true,
        ),
        Ask::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain",
            b"request head over 8 KiB\n".to_vec(),
            true,
        ),
        Ask::BadRequest => (
            "400 Bad Request",
            "text/plain",
            b"bad request\n".to_vec(),
            true,
        ),
    };
    let allow = if ask == Ask::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if send_body {
        out.extend_from_slice(&body);
    }
    out
}

/// One scrape's exchange, without its socket: the request read, then the response written.
#[derive(Debug)]
pub struct Scrape {
    head: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    answered: bool,
    accepted: Instant,
}

impl Scrape {
    pub fn new(now: Instant) -> Scrape {
        Scrape {
            head: Vec::new(),
            out: Vec::new(),
            written: 0,
            answered: false,
            accepted: now,
        }
    }

    /// Takes bytes the scraper sent. Once the head is whole (or too long, or the scraper
    /// sent more than a head), the response is rendered and waits to be written
    /// ([`Scrape::unwritten`]); whatever comes after it is ignored.
    pub fn received(&mut self, bytes: &[u8], body: impl FnOnce(Format) -> Vec<u8>) {
        if self.answered {
            return;
        }
        // Where the head's end can be: it may straddle the last read.
        let from = self.head.len().saturating_sub(3);
        let room = MAX_HEAD + 4 - self.head.len();
        self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        let ask = match self.head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => ask_of(&self.head[..from + at]),
            // Full: an end that starts within the bound would have been found.
            None if self.head.len() >= MAX_HEAD + 4 => Ask::TooLarge,
            None => return,
        };
        self.answered = true;
        self.head = Vec::new();
        self.out = response(ask, body);
    }

    /// The response's bytes still to write; empty before the request is whole.
    pub fn unwritten(&self) -> &[u8] {
        &self.out[self.written..]
    }

    pub fn wrote(&mut self, n: usize) {
        self.written = (self.written + n).min(self.out.len());
    }

    /// Answered, and the answer written: the connection is to be closed.
    pub fn done(&self) -> bool {
        self.answered && self.written == self.out.len()
    }

    /// Whether the request is still being read.
    pub fn reading(&self) -> bool {
        !self.answered
    }

    /// [`HEAD_TIMEOUT`] after the accept while its head is read, [`SCRAPE_TIMEOUT`] once
    /// it is answered.
    pub fn deadline(&self) -> Instant {
        self.accepted
            + match self.answered {
                false => HEAD_TIMEOUT,
                true => SCRAPE_TIMEOUT,
            }
    }
}

/// The endpoint: its listener, the scrapes being served, and how to render `S`.
pub struct Metrics<S = Stats> {
    listener: TcpListener,
    /// The listener's token; the scrapes' are the [`MAX_SCRAPES`] below it.
    token: Token,
    scrapes: Slab<(TcpStream, Scrape)>,
    render: Render<S>,
    /// The last exposition rendered in each format, and the turn it was rendered in: the
    /// scrapes of one turn share it, so many scrapers at once cost one rendering a turn.
    rendered: [Option<(Instant, Vec<u8>)>; 2],
    /// Connections may wait to be accepted: the last turn stopped at its batch.
    accept_pending: bool,
    /// Accepts allowed now ([`ACCEPTS_PER_SECOND`], in bursts of [`ACCEPT_BATCH`]), as of
    /// `refilled`.
    accepts_left: f64,
    refilled: Option<Instant>,
}

/// The listen backlog: connections past the scrapes served at once wait there, each costing
/// the kernel a socket and the loop nothing; past it, the kernel drops their SYNs, and its
/// work on their retransmissions is the run's machine's (the kernel caps it at
/// `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM.nonblocking().cloexec(),
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(socket)))
}

impl<S> Metrics<S> {
    /// Binds `addr`, listening, under the tokens from [`LISTENER`] down; bad input when
    /// that cannot be done.
    pub fn bind(addr: SocketAddr, render: Render<S>) -> Result<Metrics<S>, Error> {
        Metrics::bind_at(addr, render, LISTENER)
    }

    /// Binds `addr`, the listener under `token` and the scrapes under the [`MAX_SCRAPES`]
    /// tokens below it, for a loop whose own tokens are elsewhere.
    pub fn bind_at(addr: SocketAddr, render: Render<S>, token: Token) -> Result<Metrics<S>, Error> {
        assert!(
            token.0 > MAX_SCRAPES,
            "no room for the scrapes' tokens below {token:?}"
        );
        let listener = listen(addr)
            .map_err(|e| Error::Usage(format!("--metrics: cannot listen on {addr}: {e}")))?;
        Ok(Metrics {
            listener,
            token,
            scrapes: Slab::with_capacity(MAX_SCRAPES),
            render,
            rendered: [None, None],
            accept_pending: false,
            accepts_left: ACCEPT_BATCH as f64,
            refilled: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Has `registry` watch the listener and the scrapes in progress.
    pub fn register(&mut self, registry: &Registry) -> Result<(), Error> {
        let watch = |e| Error::system("cannot watch the metrics listener", e);
        registry
            .register(&mut self.listener, self.token, Interest::READABLE)
            .map_err(watch)?;
        for (key, (stream, _)) in &mut self.scrapes {
            registry
                .register(
                    stream,
                    token_of(self.token, key),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(watch)?;
        }
        // What came while nothing watched is accepted on the next turn.
        self.accept_pending = true;
        Ok(())
    }

    /// Has `registry` stop watching them, for another loop to take them up.
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.listener);
        for (_, (stream, _)) in &mut self.scrapes {
            let _ = registry.deregister(stream);
        }
    }

    /// Whether an event under `token` is the endpoint's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.token || key_of(self.token, token).is_some()
    }

    /// Serves an event under one of its tokens, `now`, from `stats`.
    pub fn on_event(&mut self, registry: &Registry, token: Token, stats: &S, now: Instant) {
        if token == self.token {
            self.accept(registry, now);
        } else if let Some(key) = key_of(self.token, token) {
            self.serve(registry, key, stats, now);
        }
    }

    /// A turn's own work, `now`: the accepts left over, the scrapes past their deadline
    /// closed. Returns whether work is left for the next turn at once.
    pub fn turn(&mut self, registry: &Registry, now: Instant) -> bool {
        if self.accept_pending {
            self.accept(registry, now);
        }
        let expired: Vec<usize> = (self.scrapes.iter())
            .filter(|(_, (_, scrape))| scrape.deadline() <= now)
            .map(|(key, _)| key)
            .collect();
        for key in expired {
            self.remove(registry, key);
        }
        // Accepts that wait for the rate are no work now: `next_deadline` wakes the loop.
        self.accept_pending && self.accepts_left >= 1.0
    }

    /// The earliest scrape deadline, or when the next accept is allowed when one waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        let scrapes = self.scrapes.iter().map(|(_, (_, s))| s.deadline()).min();
        // Only while connections wait for the rate: not at capacity, nor with none waiting.
        let waiting = self.accept_pending && self.scrapes.len() < MAX_SCRAPES;
        let accept = self
            .refilled
            .filter(|_| waiting && self.accepts_left < 1.0)
            .map(|at| {
                at + Duration::from_secs_f64(
                    (1.0 - self.accepts_left) / f64::from(ACCEPTS_PER_SECOND),
                )
            });
        scrapes.into_iter().chain(accept).min()
    }

    /// Refills the accepts allowed, `now`; whether one is allowed.
    fn may_accept(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled {
            let earned =
                now.saturating_duration_since(at).as_secs_f64() * f64::from(ACCEPTS_PER_SECOND);
            self.accepts_left = (self.accepts_left + earned).min(ACCEPT_BATCH as f64);
        }
        self.refilled = Some(now);
        self.accepts_left >= 1.0
    }

    /// Accepts up to a batch, and none past [`MAX_SCRAPES`] at once: the rest wait in the
    /// listen backlog, where they cost the loop nothing (a connection accepted only to be
    /// closed would cost it two system calls, and a scraper that connects again at once
    /// would make that a loop); a slot given back accepts again.
    fn accept(&mut self, registry: &Registry, now: Instant) {
        self.accept_pending = false;
        for _ in 0..ACCEPT_BATCH {
            if self.scrapes.len() >= MAX_SCRAPES {
                return;
            }
            if !self.may_accept(now) {
                // The next accept is allowed at `next_deadline`; till then the rest wait in
                // the backlog.
                self.accept_pending = true;
                return;
            }
            let mut stream = match self.listener.accept() {
                Ok((stream, _)) => {
                    self.accepts_left -= 1.0;
                    stream
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: all taken. Another error (out of descriptors): the next
                // connection's event tries again.
                Err(_) => return,
            };
            let key = self.scrapes.vacant_entry().key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if registry
                .register(&mut stream, token_of(self.token, key), interest)
                .is_ok()
            {
                self.scrapes.insert((stream, Scrape::new(now)));
            }
        }
        self.accept_pending = true;
    }

    /// Reads what the scraper sent (at most a head's worth), writes what the answer has
    /// left, and closes the connection once it is done or the scraper is gone.
    fn serve(&mut self, registry: &Registry, key: usize, stats: &S, now: Instant) {
        let Some((stream, scrape)) = self.scrapes.get_mut(key) else {
            return;
        };
        let (render, rendered) = (&self.render, &mut self.rendered);
        let mut body = |format: Format| {
            let cached = &mut rendered[format as usize];
            match cached {
                Some((at, bytes)) if *at == now => bytes.clone(),
                _ => cached.insert((now, render(stats, format))).1.clone(),
            }
        };
        let mut gone = false;
        let mut buf = [0u8; 4096];
        while scrape.reading() {
            match stream.read(&mut buf) {
                Ok(0) => {
                    gone = true;
                    break;
                }
                Ok(n) => scrape.received(&buf[..n], &mut body),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    gone = true;
                    break;
                }
            }
        }
        while !gone && !scrape.unwritten().is_empty() {
            match stream.write(scrape.unwritten()) {
                Ok(0) => gone = true,
                Ok(n) => scrape.wrote(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => gone = true,
            }
        }
        if gone || scrape.done() {
            self.remove(registry, key);
        }
    }

    fn remove(&mut self, registry: &Registry, key: usize) {
        let (mut stream, _) = self.scrapes.remove(key);
        let _ = registry.deregister(&mut stream);
        // A slot is free: a connection may be waiting in the backlog for it, with no new
        // event to say so.
        if self.scrapes.len() == MAX_SCRAPES - 1 {
            self.accept_pending = true;
        }
    }

    /// After the run: keeps answering scrapes from the final `stats` for `linger`, in a
    /// loop of its own, until then or a stopping signal.
    pub fn linger(&mut self, stats: &S, linger: Duration) -> Result<(), Error> {
        let signals = SignalFd::new().map_err(|e| Error::system("cannot watch for signals", e))?;
        let mut poll = Poll::new().map_err(|e| Error::system("cannot create the event poll", e))?;
        signals.register(poll.registry(), SIGNALS)?;
        self.register(poll.registry())?;
        let mut events = Events::with_capacity(256);
        let end = Instant::now() + linger;
        loop {
            let now = Instant::now();
            let mut stop = false;
            for event in events.iter() {
                if event.token() == SIGNALS {
                    while let Some(caught) = signals.read() {
                        stop |= matches!(caught, Caught::Stop(_));
                    }
                } else {
                    self.on_event(poll.registry(), event.token(), stats, now);
                }
            }
            let more = self.turn(poll.registry(), now);
            if stop || now >= end {
                break;
            }
            let due = self.next_deadline().map_or(end, |d| d.min(end));
            let timeout = if more {
                Duration::ZERO
            } else {
                due.saturating_duration_since(now)
            };
            timer::wait(&mut poll, &mut events, Some(timeout))?;
        }
        self.deregister(poll.registry());
        signals.let_next_kill();
        Ok(())
    }
}

/// The token of the scrape at `key`, below the listener's.
fn token_of(listener: Token, key: usize) -> Token {
    Token(listener.0 - 1 - key)
}

fn key_of(listener: Token, token: Token) -> Option<usize> {
    let key = listener.0.checked_sub(1)?.checked_sub(token.0)?;
    (key < MAX_SCRAPES).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(format: Format) -> Vec<u8> {
        format!("{format:?}\n").into_bytes()
    }

    /// The response a scrape gives to `request`, fed in pieces of `piece` bytes.
    fn exchange(request: &[u8], piece: usize) -> String {
        let mut scrape = Scrape::new(Instant::now());
        for chunk in request.chunks(piece) {
            scrape.received(chunk, body);
        }
        String::from_utf8(scrape.unwritten().to_vec()).unwrap()
    }

    #[test]
    fn get_metrics_is_answered_with_the_exposition_in_the_format_asked() {
        let plain = exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
        assert_eq!(
            plain,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 11\r\nConnection: close\r\n\r\nPrometheus\n"
        );
        // Prometheus' own Accept header, read a byte at a time.
        let accept = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n";
        let open = exchange(accept, 1);
        assert!(open.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"), "{open}");
        assert!(open.ends_with("\r\n\r\nOpenMetrics\n"), "{open}");
        let refused = exchange(
            b"GET /metrics?x=1 HTTP/1.0\r\naccept: application/openmetrics-text; q=0\r\n\r\n",
            7,
        );
        assert!(refused.ends_with("Prometheus\n"), "{refused}");
        let head = exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n", 5);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
    }

    #[test]
    fn anything_else_gets_its_status() {
        let status = |request: &[u8]| {
            let response = exchange(request, 3);
            response.lines().next().unwrap().to_string()
        };
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
        assert_eq!(
            status(b"POST /metrics HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed"
        );
        assert_eq!(status(b"\x16\x03\x01\r\n\r\n"), "HTTP/1.1 400 Bad Request");
        assert_eq!(
            status(b"GET metrics HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(
            status(b"GET /metrics SPDY\r\n\r\n"),
            "HTTP/1.1 400 Bad Request"
        );
    }

    #[test]
    fn a_head_past_its_bound_is_refused_and_nothing_more_is_kept() {
        let mut scrape = Scrape::new(Instant::now());
        let mut request = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        request.resize(1 << 20, b'a');
        for chunk in request.chunks(4096) {
            scrape.received(chunk, |_| panic!("not rendered"));
            assert!(scrape.head.len() <= MAX_HEAD + 4);
        }
        let response = String::from_utf8(scrape.unwritten().to_vec()).unwrap();
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
        // A head that ends right at the bound is still read.
        let mut request = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        request.resize(MAX_HEAD, b'a');
        request.extend_from_slice(b"\r\n\r\n");
        assert!(exchange(&request, 100).starts_with("HTTP/1.1 200 OK"));
    }

    #[test]
    fn a_scrape_is_done_once_its_answer_is_written_and_has_a_deadline() {
        let now = Instant::now();
        let mut scrape = Scrape::new(now);
        assert_eq!(scrape.deadline(), now + HEAD_TIMEOUT);
        scrape.received(b"GET /metrics HTTP/1.1\r\n", body);
        assert!(scrape.reading() && scrape.unwritten().is_empty() && !scrape.done());
        scrape.received(b"\r\n", body);
        assert!(!scrape.reading());
        assert_eq!(scrape.deadline(), now + SCRAPE_TIMEOUT);
        let len = scrape.unwritten().len();
        scrape.wrote(len - 1);
        assert!(!scrape.done());
        assert_eq!(scrape.unwritten().len(), 1);
        scrape.wrote(1);
        assert!(scrape.done());
        // What comes after the head is ignored.
        scrape.received(b"GET /metrics HTTP/1.1\r\n\r\n", |_| {
            panic!("answered twice")
        });
    }

    #[test]
    fn tokens_and_keys_map_both_ways_and_stay_clear_of_the_connections() {
        for listener in [LISTENER, Token(usize::MAX - 3)] {
            let metrics: Metrics<()> = Metrics::bind_at(
                "127.0.0.1:0".parse().unwrap(),
                Box::new(|_, _| Vec::new()),
                listener,
            )
            .unwrap();
            for key in [0, 1, MAX_SCRAPES - 1] {
                assert_eq!(key_of(listener, token_of(listener, key)), Some(key));
                assert!(metrics.owns(token_of(listener, key)));
            }
            assert!(metrics.owns(listener));
            assert!(!metrics.owns(Token(0)));
            assert!(!metrics.owns(Token(1 << 20)));
            assert!(!metrics.owns(Token(usize::MAX)));
            assert!(!metrics.owns(Token(usize::MAX - 1)));
            assert!(!metrics.owns(Token(listener.0 + 1)));
            assert!(!metrics.owns(token_of(listener, MAX_SCRAPES)));
            assert_eq!(key_of(listener, token_of(listener, MAX_SCRAPES)), None);
        }
    }
}
