//! The bottom layer of a connection: its socket, plain or through a TLS session. One type
//! for both ends, the run's connections and the built-in server's, with one handshake drive
//! loop and one failure type ([`TlsFailure`]).
//!
//! rustls is sans-I/O: a session takes the bytes the socket has and hands back the bytes
//! to write; the loop owns the socket and its readiness. So a [`Transport`] is generic over
//! the socket, and the tests drive one over bytes in memory.
//!
//! ```text
//!  TCP connected ──(plain)──────────────────────────────────────────▶ Up
//!        └──(TLS) first flight──▶ Handshaking ──done, flight queued──▶ Up
//!                                    ├──alert / bad certificate / bad record──▶ Failed
//!                                    └──EOF or reset from the peer────────────▶ Failed
//! ```
//! Once up, reads and writes carry the session's plaintext. A run's connection drops its
//! TLS session ([`Transport::release`]) once nothing above it needs one: a held connection
//! that is only watched for the peer's close keeps no rustls buffers; what arrives
//! afterwards (TLS 1.3 session tickets, a close_notify) is read and discarded as
//! ciphertext, and the close is the TCP one, as for a plain connection.
//!
//! Also the TCP layer's own measure: the non-blocking connect's completion check
//! ([`check_connect`]) and what the kernel measured of the handshake ([`Handshake`]).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::engine::tls::TlsFailure;

/// How an established connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closure {
    /// The peer sent FIN.
    PeerClosed,
    /// The peer sent RST.
    Reset,
    /// Any other read error.
    Other,
}

impl Closure {
    pub const ALL: [Closure; 3] = [Closure::PeerClosed, Closure::Reset, Closure::Other];

    pub fn label(self) -> &'static str {
        match self {
            Closure::PeerClosed => "closed by peer",
            Closure::Reset => "reset by peer",
            Closure::Other => "read error",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Closure::PeerClosed => "fin",
            Closure::Reset => "reset",
            Closure::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        Closure::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    pub fn classify(e: &io::Error) -> Closure {
        match e.raw_os_error() {
            Some(libc::ECONNRESET) | Some(libc::ECONNABORTED) | Some(libc::EPIPE) => Closure::Reset,
            _ => Closure::Other,
        }
    }
}

/// A connection's byte stream: its socket, and the TLS session over it when there is one.
pub struct Transport<S = TcpStream> {
    sock: S,
    tls: Option<Box<Tls>>,
}

/// A TLS session and what its connection measured when it began.
struct Tls {
    conn: rustls::Connection,
    /// When the handshake began: the TCP connect seen done.
    began: Instant,
    /// What the kernel measured of the TCP handshake, read when it was done.
    tcp: Option<Handshake>,
}

impl<S: fmt::Debug> fmt::Debug for Transport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("sock", &self.sock)
            .field(
                "tls",
                &self
                    .tls
                    .as_ref()
                    .map(|t| t.conn.is_handshaking())
                    .map(|h| if h { "handshaking" } else { "up" }),
            )
            .finish()
    }
}

/// Where a transport stands after it was driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drive {
    /// Still handshaking: wait for the socket.
    Handshaking,
    /// Up: plain, or the handshake done (its last flight may still wait to be written:
    /// see [`Transport::wants_write`]).
    Up,
    /// The handshake failed; `alert_sent`: the session owed the peer an alert for it (the
    /// peer's bytes were at fault), and it was handed to the socket if it took it.
    Failed {
        failure: TlsFailure,
        alert_sent: bool,
    },
}

/// The handshake's measure, once it is done: when it began, how long it took, what was
/// negotiated. `None` from a plain transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDone {
    pub began: Instant,
    pub took: Duration,
    /// `TLS 1.3 TLS13_AES_128_GCM_SHA256`: the version and suite the server chose.
    pub negotiated: String,
    pub tcp: Option<Handshake>,
}

/// What reading a transport gave: bytes off the socket, and how it ended if it did.
#[derive(Debug, Default)]
pub struct Received {
    /// Bytes read from the socket (ciphertext, through TLS).
    pub bytes: u64,
    pub ended: Option<Closure>,
    /// It stopped at [`READ_BUDGET`], the socket not yet drained: the caller comes back
    /// for the rest (readiness is edge-triggered, so no new event may say so).
    pub more: bool,
}

/// The most one [`Transport::receive`] reads before it returns with the socket not yet
/// drained. A peer that writes without end keeps a socket readable for ever: read to
/// `WouldBlock`, it would hold the loop, and with it every deadline, tick and other
/// connection, in one connection's reads.
pub const READ_BUDGET: u64 = 256 * 1024;

impl<S> Transport<S> {
    pub fn plain(sock: S) -> Transport<S> {
        Transport { sock, tls: None }
    }

    /// Over `sock`, through `conn` (a client's or a server's session), its handshake
    /// beginning `now`; `tcp` is the kernel's measure of the TCP handshake, when read.
    pub fn tls(
        sock: S,
        conn: rustls::Connection,
        now: Instant,
        tcp: Option<Handshake>,
    ) -> Transport<S> {
        Transport {
            sock,
            tls: Some(Box::new(Tls {
                conn,
                began: now,
                tcp,
            })),
        }
    }

    pub fn sock(&self) -> &S {
        &self.sock
    }

    pub fn sock_mut(&mut self) -> &mut S {
        &mut self.sock
    }

    /// Replaces the socket (an attempt falling back to its next address, before any
    /// session began).
    pub fn set_sock(&mut self, sock: S) {
        self.sock = sock;
        self.tls = None;
    }

    /// Starts a TLS session over a socket just connected, `now`; `None` leaves it plain.
    pub fn start(
        &mut self,
        conn: Option<rustls::Connection>,
        now: Instant,
        tcp: Option<Handshake>,
    ) {
        self.tls = conn.map(|conn| {
            Box::new(Tls {
                conn,
                began: now,
                tcp,
            })
        });
    }

    /// Still in its TLS handshake.
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.is_handshaking())
    }

    /// The handshake's measure, `now` that it is done; `None` for a plain transport.
    pub fn tls_done(&self, now: Instant) -> Option<TlsDone> {
        let tls = self.tls.as_ref()?;
        Some(TlsDone {
            began: tls.began,
            took: now.saturating_duration_since(tls.began),
            negotiated: negotiated(&tls.conn),
            tcp: tls.tcp,
        })
    }

    /// The protocol the server chose in ALPN, while the TLS session is kept.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tls.as_ref().and_then(|t| t.conn.alpn_protocol())
    }

    /// The session has bytes to write still (a flight, an alert, queued plaintext).
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.conn.wants_write())
    }
}

impl<S: Read + Write> Transport<S> {
    /// Moves the handshake on as far as the socket allows: writes what is due, reads what
    /// has come, writes the answer. Returns where it stands and the bytes read. A plain
    /// transport is up at once.
    pub fn drive(&mut self) -> (Drive, u64) {
        let Some(tls) = self.tls.as_mut() else {
            return (Drive::Up, 0);
        };
        let conn = &mut tls.conn;
        let sock = &mut self.sock;
        let mut read = 0;
        let closed = Drive::Failed {
            failure: TlsFailure::Closed,
            alert_sent: false,
        };
        loop {
            if flush(conn, sock).is_err() {
                return (closed, read);
            }
            if !conn.is_handshaking() {
                return (Drive::Up, read);
            }
            match conn.read_tls(sock) {
                Ok(0) => return (closed, read),
                Ok(n) => {
                    read += n as u64;
                    if let Err(e) = conn.process_new_packets() {
                        // The alert rustls owes the peer, if it can go out at once.
                        let alert_sent = conn.wants_write();
                        let _ = conn.write_tls(sock);
                        let failure = TlsFailure::of(&e);
                        return (
                            Drive::Failed {
                                failure,
                                alert_sent,
                            },
                            read,
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return (Drive::Handshaking, read);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return (closed, read),
            }
        }
    }

    /// Writes what the session holds until the socket takes no more; an error means the
    /// peer is gone.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => flush(&mut tls.conn, &mut self.sock),
            None => Ok(()),
        }
    }

    /// Writes as much of `bytes` as the socket takes now (through TLS: as the session
    /// takes, then what the socket takes of it); how many of `bytes` were taken. A write
    /// error is left for the read side to see.
    pub fn send(&mut self, bytes: &[u8]) -> usize {
        if let Some(tls) = self.tls.as_mut() {
            let taken = tls.conn.writer().write(bytes).unwrap_or(0);
            let _ = flush(&mut tls.conn, &mut self.sock);
            return taken;
        }
        let mut sent = 0;
        while sent < bytes.len() {
            match self.sock.write(&bytes[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        sent
    }

    /// Reads what the socket has until it would block, or [`READ_BUDGET`] is read,
    /// handing the plaintext to `seen`. `buf` is the plain transport's read buffer.
    pub fn receive(&mut self, buf: &mut [u8], mut seen: impl FnMut(&[u8])) -> Received {
        let Some(tls) = self.tls.as_mut() else {
            return read_up_to(&mut self.sock, buf, READ_BUDGET, seen);
        };
        let conn = &mut tls.conn;
        let mut out = Received::default();
        let mut plain = [0u8; 4096];
        loop {
            match conn.read_tls(&mut self.sock) {
                Ok(0) => {
                    out.ended = Some(Closure::PeerClosed);
                    return out;
                }
                Ok(n) => {
                    out.bytes += n as u64;
                    if conn.process_new_packets().is_err() {
                        out.ended = Some(Closure::Other);
                        return out;
                    }
                    loop {
                        match conn.reader().read(&mut plain) {
                            Ok(0) => {
                                out.ended = Some(Closure::PeerClosed);
                                return out;
                            }
                            Ok(n) => seen(&plain[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                out.ended = Some(Closure::classify(&e));
                                return out;
                            }
                        }
                    }
                    let _ = flush(conn, &mut self.sock);
                    if out.bytes >= READ_BUDGET {
                        out.more = true;
                        return out;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    out.ended = Some(Closure::classify(&e));
                    return out;
                }
            }
        }
    }

    /// Drops the TLS session, and every buffer it holds, once its handshake is done and
    /// what it had to write is written; the connection goes on as plain TCP. For a run's
    /// held connection, whose session nothing above needs any more.
    pub fn release(&mut self) {
        let Some(tls) = self.tls.as_mut() else { return };
        if tls.conn.is_handshaking() {
            return;
        }
        let _ = flush(&mut tls.conn, &mut self.sock);
        if !tls.conn.wants_write() {
            self.tls = None;
        }
    }
}

/// Writes what `conn` has to send until the socket takes no more.
fn flush(conn: &mut rustls::Connection, sock: &mut impl Write) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `TLS 1.3 TLS13_AES_128_GCM_SHA256`: the version and suite the server chose.
fn negotiated(conn: &rustls::Connection) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let suite = conn
        .negotiated_cipher_suite()
        .map_or("unknown".to_string(), |s| format!("{:?}", s.suite()));
    match conn.alpn_protocol() {
        Some(alpn) => format!("{version} {suite} ALPN {}", String::from_utf8_lossy(alpn)),
        None => format!("{version} {suite}"),
    }
}

/// The plaintext stream, as rustls' own `Stream` reads and writes it: the built-in server's
/// greeting, echo and refusal go through this.
impl<S: Read + Write> Read for Transport<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.as_deref_mut().map(|t| &mut t.conn) {
            None => self.sock.read(buf),
            Some(rustls::Connection::Client(c)) => rustls::Stream::new(c, &mut self.sock).read(buf),
            Some(rustls::Connection::Server(c)) => rustls::Stream::new(c, &mut self.sock).read(buf),
        }
    }
}

impl<S: Read + Write> Write for Transport<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.tls.as_deref_mut().map(|t| &mut t.conn) {
            None => self.sock.write(buf),
            Some(rustls::Connection::Client(c)) => {
                rustls::Stream::new(c, &mut self.sock).write(buf)
            }
            Some(rustls::Connection::Server(c)) => {
                rustls::Stream::new(c, &mut self.sock).write(buf)
            }
        }
    }

    /// Writes out what the session holds (a flight, plaintext taken while the socket was
    /// full) as far as the socket takes it now.
    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

/// Reads what `stream` has until it would block, handing each piece to `seen` before it is
/// discarded. Returns the bytes read and, when the stream ended (end-of-stream or an
/// error), how.
pub fn read_until_blocked(
    stream: &mut impl Read,
    buf: &mut [u8],
    seen: impl FnMut(&[u8]),
) -> (u64, Option<Closure>) {
    let received = read_up_to(stream, buf, u64::MAX, seen);
    (received.bytes, received.ended)
}

/// Reads as [`read_until_blocked`] does, but returns once `budget` bytes are read, with
/// `more` set: the stream may have more.
pub fn read_up_to(
    stream: &mut impl Read,
    buf: &mut [u8],
    budget: u64,
    mut seen: impl FnMut(&[u8]),
) -> Received {
    let mut out = Received::default();
    loop {
        match stream.read(buf) {
            Ok(0) => {
                out.ended = Some(Closure::PeerClosed);
                return out;
            }
            Ok(n) => {
                out.bytes += n as u64;
                seen(&buf[..n]);
                if out.bytes >= budget {
                    out.more = true;
                    return out;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.ended = Some(Closure::classify(&e));
                return out;
            }
        }
    }
}

/// What the kernel measured of a connection's handshake (`TCP_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The kernel's round-trip time right after the handshake: its only sample then is the
    /// SYN's, answered by the SYN-ACK.
    pub rtt: Duration,
    /// The SYN had to be sent again: the server's SYN or accept queue was full.
    pub syn_retransmitted: bool,
}

/// Reads the handshake's measure from a socket just established; `None` if the kernel
/// will not say.
pub fn handshake(stream: &impl AsRawFd) -> Option<Handshake> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which is that large; the
    // descriptor is open for the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: zeroed, then filled by the kernel: every field is an integer.
    let info = unsafe { info.assume_init() };
    Some(Handshake {
        rtt: Duration::from_micros(u64::from(info.tcpi_rtt)),
        // Nothing but the SYN can have been sent again before the handshake completed.
        syn_retransmitted: info.tcpi_total_retrans > 0,
    })
}

/// Where a dialing connection stands after an event.
#[derive(Debug)]
pub enum Progress {
    Connected,
    Pending,
    Failed(io::Error),
}

/// The non-blocking connect's documented completion check: `take_error`, then `peer_addr`.
pub fn check_connect(stream: &TcpStream) -> Progress {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Progress::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Progress::Connected,
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Progress::Pending,
        Err(e) => Progress::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tls::{Client, Server, Trust, Versions};
    use std::collections::VecDeque;
    use std::net::IpAddr;

    /// Both ends of a byte pipe in memory, never blocking for good: an empty read is
    /// WouldBlock.
    #[derive(Default)]
    struct Pipe {
        incoming: VecDeque<u8>,
        outgoing: Vec<u8>,
        closed: bool,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return if self.closed {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(self.incoming.len());
            for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.outgoing.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn client(trust: Trust, versions: Versions) -> Client {
        Client::new(
            &trust,
            versions,
            &[],
            Some("localhost"),
            IpAddr::from([127, 0, 0, 1]),
        )
        .unwrap()
    }

    fn failed(failure: TlsFailure) -> Drive {
        Drive::Failed {
            failure,
            alert_sent: false,
        }
    }

    /// Runs a handshake between a client session and the server, in memory, to its end.
    fn handshake(client: &Client, server: &Server) -> (Drive, Transport<Pipe>) {
        let now = Instant::now();
        let mut session = Transport::tls(Pipe::default(), client.session().unwrap(), now, None);
        let mut conn = server.session().unwrap();
        for _ in 0..10 {
            let (drive, _) = session.drive();
            if drive != Drive::Handshaking {
                return (drive, session);
            }
            // Server side: take what the client wrote, answer.
            let pipe = session.sock_mut();
            let outgoing = std::mem::take(&mut pipe.outgoing);
            let mut from_client = &outgoing[..];
            while !from_client.is_empty() {
                conn.read_tls(&mut from_client).unwrap();
            }
            if conn.process_new_packets().is_err() {
                let mut out = Vec::new();
                while conn.wants_write() {
                    conn.write_tls(&mut out).unwrap();
                }
                session.sock_mut().incoming.extend(out);
                continue;
            }
            let mut out = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut out).unwrap();
            }
            session.sock_mut().incoming.extend(out);
        }
        panic!("no end to the handshake");
    }

    #[test]
    fn a_self_signed_server_is_unknown_until_trusted() {
        let server = Server::self_signed().unwrap();
        assert_eq!(server.fingerprint.len(), 32 * 3 - 1);
        let (drive, _) = handshake(&client(Trust::System, Versions::Both), &server);
        assert_eq!(
            drive,
            Drive::Failed {
                failure: TlsFailure::Certificate(
                    "the server's certificate is signed by an issuer not in --ca or the \
                     system's roots"
                        .to_string()
                ),
                alert_sent: true
            }
        );
        assert_eq!(
            TlsFailure::Certificate("unknown issuer".into()).detail(),
            "certificate: unknown issuer"
        );
        let (drive, session) = handshake(&client(Trust::Insecure, Versions::Both), &server);
        assert_eq!(drive, Drive::Up);
        let negotiated = session.tls_done(Instant::now()).unwrap().negotiated;
        assert!(negotiated.starts_with("TLS 1.3 TLS13_"), "{negotiated}");
        let dir = std::env::temp_dir().join(format!("tcpgoon-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, server.made_pem.as_ref().unwrap()).unwrap();
        let (drive, _) = handshake(&client(Trust::File(ca), Versions::Tls12), &server);
        assert_eq!(drive, Drive::Up);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn version_is_what_was_offered() {
        let server = Server::self_signed().unwrap();
        let (drive, session) = handshake(&client(Trust::Insecure, Versions::Tls12), &server);
        assert_eq!(drive, Drive::Up);
        let negotiated = session.tls_done(Instant::now()).unwrap().negotiated;
        assert!(negotiated.starts_with("TLS 1.2 TLS_ECDHE_"), "{negotiated}");
    }

    /// A peer that never stops writing: every read fills the buffer.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'x');
            Ok(buf.len())
        }
    }

    impl Write for Endless {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_endless_peer_is_read_a_budget_at_a_time() {
        let mut buf = [0u8; 64 * 1024];
        let mut seen = 0;
        let mut endless = Transport::plain(Endless);
        let got = endless.receive(&mut buf, |bytes| seen += bytes.len() as u64);
        assert!(got.more && got.ended.is_none(), "{got:?}");
        assert_eq!((got.bytes, seen), (READ_BUDGET, READ_BUDGET));
        // A peer that stops is read to its end, under the budget or not.
        let mut pipe = Pipe::default();
        pipe.incoming.extend([b'y'; 1000]);
        let got = Transport::plain(pipe).receive(&mut buf, |_| {});
        assert!(!got.more && got.ended.is_none(), "{got:?}");
        assert_eq!(got.bytes, 1000);
        let (bytes, ended) = read_until_blocked(
            &mut Pipe {
                closed: true,
                ..Pipe::default()
            },
            &mut buf,
            |_| {},
        );
        assert_eq!((bytes, ended), (0, Some(Closure::PeerClosed)));
    }

    #[test]
    fn bytes_that_are_not_tls_are_a_protocol_error_and_eof_a_close() {
        let client = client(Trust::Insecure, Versions::Both);
        let now = Instant::now();
        let mut pipe = Pipe::default();
        pipe.incoming.extend(b"SSH-2.0-OpenSSH_9.2\r\n");
        let mut s = Transport::tls(pipe, client.session().unwrap(), now, None);
        let (drive, read) = s.drive();
        assert!(
            matches!(
                drive,
                Drive::Failed {
                    failure: TlsFailure::Protocol(_),
                    ..
                }
            ),
            "{drive:?}"
        );
        assert_eq!(read, 21);
        let pipe = Pipe {
            closed: true,
            ..Pipe::default()
        };
        let mut s = Transport::tls(pipe, client.session().unwrap(), now, None);
        assert_eq!(s.drive().0, failed(TlsFailure::Closed));
        // The ClientHello went out first.
        assert_eq!(s.sock().outgoing[0], 0x16);
    }
}
