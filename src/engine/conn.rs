//! One connection: its lifecycle, the stack of layers it is made of, and how a failure is
//! classified.
//!
//! ```text
//!  NotInitiated ──attempt──▶ Dialing ──transport up──▶ Established ──peer FIN/RST──▶ Closed
//!                               │
//!                               └──refused / timed out / local limit / …──▶ Error
//! ```
//! A connection is a stack of sans-I/O layers over its socket, driven by the loop as rustls'
//! examples drive a session: a [`Transport`] (plain TCP, or a TLS session over it) under a
//! [`Session`] (none, or a probe). The loop hands readiness and `now` to the connection
//! ([`Conn::drive`] while dialing; [`Conn::write`] and [`Conn::read`] once established), and
//! acts on what comes back ([`Step`], [`Read`], the session's [`Output`]); it never asks
//! which layers a connection has.
//!
//! Dialing is two stages. *Connecting*: the TCP connect is under way, under the dial
//! deadline ([`Conn::connecting`]). *Handshaking*, with `--tls`: the connect is done and
//! the TLS handshake is under way, under its own deadline ([`Conn::handshaking`]). Up (the
//! connect done, and the handshake if there is one), it is Established and its session
//! opens: it writes the session's bytes and awaits its outcome (`session`). Failed (refused,
//! timed out, an alert, a certificate rejected, a close during the handshake…), it is an
//! Error. A connection reset before the loop looked was Established, then Closed.
//!
//! Every attempt ends in exactly one of Established (still open when the run ends), Closed
//! or Error; attempts never made stay NotInitiated. Only Dialing and Established connections
//! own a socket; the engine keeps those in its slab and drops the socket on the transition
//! out, so a final state costs nothing but a counter.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::engine::session::{Output, Session, SessionState};
use crate::engine::source::Route;
use crate::engine::tls::{self, TlsFailure};
pub use crate::engine::transport::Closure;
use crate::engine::transport::{
    Drive, Handshake, Progress, TlsDone, Transport, check_connect, handshake,
};

/// The states the reference tool reports, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotInitiated,
    Dialing,
    Established,
    Closed,
    Error,
}

/// Why an attempt ended in Error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Refused,
    TimedOut,
    Reset,
    Unreachable,
    /// EADDRNOTAVAIL: every local port toward this target is taken.
    NoLocalPort,
    /// EMFILE or ENFILE.
    NoFileDescriptors,
    /// ENOBUFS or ENOMEM.
    NoBufferSpace,
    Other,
    /// `--tls`: the server sent an alert during the handshake.
    TlsAlert,
    /// `--tls`: the server's certificate did not verify.
    CertificateRejected,
    /// `--tls`: what the server sent is not TLS, or not what the protocol allows.
    TlsProtocol,
    /// `--tls`: the peer closed or reset the connection during the handshake.
    ClosedDuringHandshake,
    /// `--tls`: the handshake was not done by the probe timeout.
    HandshakeTimedOut,
}

impl Failure {
    pub const ALL: [Failure; 13] = [
        Failure::Refused,
        Failure::TimedOut,
        Failure::Reset,
        Failure::Unreachable,
        Failure::NoLocalPort,
        Failure::NoFileDescriptors,
        Failure::NoBufferSpace,
        Failure::Other,
        Failure::TlsAlert,
        Failure::CertificateRejected,
        Failure::TlsProtocol,
        Failure::ClosedDuringHandshake,
        Failure::HandshakeTimedOut,
    ];

    /// The causes of a failed TCP connect: the first of [`Failure::ALL`].
    pub const TCP: &'static [Failure] = Failure::ALL.split_at(8).0;
    /// The causes of a failed TLS handshake, after the TCP connect: the rest.
    pub const TLS: &'static [Failure] = Failure::ALL.split_at(8).1;

    /// A failure of the TLS handshake, the TCP connection made.
    pub fn is_tls(self) -> bool {
        Failure::TLS.contains(&self)
    }

    pub fn classify(e: &io::Error) -> Failure {
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Failure::Refused,
            Some(libc::ETIMEDOUT) => Failure::TimedOut,
            Some(libc::ECONNRESET) | Some(libc::ECONNABORTED) => Failure::Reset,
            Some(libc::EHOSTUNREACH)
            | Some(libc::ENETUNREACH)
            | Some(libc::ENETDOWN)
            | Some(libc::EHOSTDOWN) => Failure::Unreachable,
            Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) => Failure::NoLocalPort,
            Some(libc::EMFILE) | Some(libc::ENFILE) => Failure::NoFileDescriptors,
            Some(libc::ENOBUFS) | Some(libc::ENOMEM) => Failure::NoBufferSpace,
            _ => Failure::Other,
        }
    }

    /// A limit of this machine, not the server's doing: it ends the run.
    pub fn is_local_limit(self) -> bool {
        matches!(
            self,
            Failure::NoLocalPort | Failure::NoFileDescriptors | Failure::NoBufferSpace
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::TimedOut => "timed out",
            Failure::Reset => "reset",
            Failure::Unreachable => "unreachable",
            Failure::NoLocalPort => "no free local port",
            Failure::NoFileDescriptors => "out of file descriptors",
            Failure::NoBufferSpace => "out of socket buffers",
            Failure::Other => "other",
            Failure::TlsAlert => "TLS alert",
            Failure::CertificateRejected => "certificate rejected",
            Failure::TlsProtocol => "protocol error",
            Failure::ClosedDuringHandshake => "closed during handshake",
            Failure::HandshakeTimedOut => "handshake timed out",
        }
    }

    /// The key used in JSON output.
    pub fn key(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::TimedOut => "timed_out",
            Failure::Reset => "reset",
            Failure::Unreachable => "unreachable",
            Failure::NoLocalPort => "no_local_port",
            Failure::NoFileDescriptors => "no_file_descriptors",
            Failure::NoBufferSpace => "no_buffer_space",
            Failure::Other => "other",
            Failure::TlsAlert => "tls_alert",
            Failure::CertificateRejected => "certificate_rejected",
            Failure::TlsProtocol => "protocol_error",
            Failure::ClosedDuringHandshake => "closed_during_handshake",
            Failure::HandshakeTimedOut => "handshake_timed_out",
        }
    }

    pub fn index(self) -> usize {
        Failure::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// What the run's connections are made of, the same for all: the layers each one stacks
/// once its TCP connect is done.
#[derive(Debug, Clone)]
pub struct Stack {
    /// A TLS session over the socket (`--tls`); `None`: plain TCP.
    pub tls: Option<tls::Client>,
    /// What it speaks once up; `None`: being established is all.
    pub session: Option<Session>,
}

impl Stack {
    /// Whether a connection writes anything: a TLS handshake, or a session's bytes.
    pub fn writes(&self) -> bool {
        self.tls.is_some() || self.session.is_some()
    }
}

/// A connection that owns a socket: one still dialing, or one established.
#[derive(Debug)]
pub struct Conn {
    /// Its socket, and its TLS session while it has one.
    pub transport: Transport,
    /// The attempt's index in the schedule; tells a reused slab slot from its predecessor.
    pub seq: u64,
    pub started: Instant,
    pub state: State,
    /// Where it goes; a replacement for it goes the same way.
    pub route: Route,
    /// Which of the attempt's addresses it is on: 0 for its route's target, then the plan's
    /// fallback addresses in turn. (16 bits: a name has far fewer addresses, and it packs
    /// with the small fields below, keeping the connection at 128 bytes.)
    pub hop: u16,
    /// Why the attempt's first address failed, once it has fallen back from it.
    pub first_failure: Option<Failure>,
    pub session: SessionState,
}

// Held connections are many (a benchmark holds 100,000): what each costs is counted. In a
// release build, that is; with debug assertions mio's socket carries a registry id too.
#[cfg(not(debug_assertions))]
const _: () = assert!(std::mem::size_of::<Conn>() == 128);

/// What driving a dialing connection gave: the one step the loop acts on next.
#[derive(Debug)]
pub enum Step {
    /// Nothing until the socket is ready again.
    Wait,
    /// The TCP connect is done and a TLS handshake began, `now`: its deadline runs from
    /// here. Drive it again.
    Handshaking,
    /// Up: established.
    Up(Up),
    /// The attempt failed: its cause, the OS error behind it when there was one, and for a
    /// failed TLS handshake, its detail for the report.
    Failed {
        cause: Failure,
        os_error: Option<i32>,
        tls: Option<String>,
    },
    /// Established and then dropped by the peer before this loop looked.
    Dropped(Up, Closure),
}

/// A connection just established.
#[derive(Debug)]
pub struct Up {
    /// When it was seen established.
    pub at: Instant,
    /// When its TCP connect was seen done: its connect latency runs to here.
    pub connected: Instant,
    /// What the kernel measured of the TCP handshake.
    pub tcp: Option<Handshake>,
    /// The TLS handshake's measure, when there was one.
    pub tls: Option<TlsDone>,
    /// What came with the handshake's last flight raises no new event: read it now.
    pub read_now: bool,
}

/// What reading an established connection gave.
#[derive(Debug, Default)]
pub struct Read {
    pub bytes: u64,
    /// What these bytes did to the session: its outcome, when they decided it, its
    /// heartbeats, its next deadline.
    pub session: Output,
    pub closed: Option<Closure>,
    /// It stopped at the transport's read budget with more to read: read it again soon,
    /// whether a new event comes or not.
    pub more: bool,
}

impl Conn {
    /// Still in its TCP connect: the dial deadline is its.
    pub fn connecting(&self) -> bool {
        self.state == State::Dialing && !self.transport.handshaking()
    }

    /// In its TLS handshake: the handshake deadline is its.
    pub fn handshaking(&self) -> bool {
        self.state == State::Dialing && self.transport.handshaking()
    }

    /// Moves a dialing connection on as far as its socket allows, `now`. A reset can only
    /// come after the TCP handshake (a reset answering the SYN reads as a refusal), so a
    /// connecting socket that reports one was established and dropped before this loop
    /// looked; over TLS it is a handshake closed by the peer.
    pub fn drive(&mut self, stack: &Stack, now: Instant) -> Step {
        if !self.transport.handshaking() {
            match check_connect(self.transport.sock()) {
                Progress::Pending => return Step::Wait,
                Progress::Failed(e) if dropped_after_handshake(&e) && stack.tls.is_some() => {
                    return Step::Failed {
                        cause: Failure::ClosedDuringHandshake,
                        os_error: e.raw_os_error(),
                        tls: Some(TlsFailure::Closed.detail()),
                    };
                }
                Progress::Failed(e) if dropped_after_handshake(&e) => {
                    let up = Up {
                        at: now,
                        connected: now,
                        tcp: handshake(self.transport.sock()),
                        tls: None,
                        read_now: false,
                    };
                    return Step::Dropped(up, Closure::classify(&e));
                }
                Progress::Failed(e) => {
                    return Step::Failed {
                        cause: Failure::classify(&e),
                        os_error: e.raw_os_error(),
                        tls: None,
                    };
                }
                Progress::Connected => {
                    let tcp = handshake(self.transport.sock());
                    let Some(client) = &stack.tls else {
                        return Step::Up(Up {
                            at: now,
                            connected: now,
                            tcp,
                            tls: None,
                            read_now: false,
                        });
                    };
                    return match client.session() {
                        Ok(session) => {
                            self.transport.start(Some(session), now, tcp);
                            Step::Handshaking
                        }
                        Err(failure) => tls_failed(failure),
                    };
                }
            }
        }
        match self.transport.drive().0 {
            Drive::Handshaking => Step::Wait,
            Drive::Failed { failure, .. } => tls_failed(failure),
            Drive::Up => {
                // The handshake can finish in the call that started it (the peer's flight
                // read before this thread ran again): `now` may predate the ClientHello.
                let at = Instant::now().max(now);
                let done = self.transport.tls_done(at).expect("a handshake was driven");
                Step::Up(Up {
                    at,
                    connected: done.began,
                    tcp: done.tcp,
                    tls: Some(done),
                    read_now: true,
                })
            }
        }
    }

    /// Opens the connection's session, `now` that it is up, and writes what it has to say.
    pub fn open(&mut self, session: &Session, now: Instant) -> Output {
        let out = session.open_over(&mut self.session, self.transport.alpn(), now);
        out.and(self.write(session))
    }

    /// Writes what the session has yet to send, as far as the socket takes it (the rest
    /// goes when it is writable again), and what the transport holds. A write error is
    /// left for the read side to see.
    pub fn write(&mut self, session: &Session) -> Output {
        let mut out = Output::default();
        loop {
            let mut scratch = [0u8; 64];
            let unsent = session.unsent(&self.session, self.seq, &mut scratch);
            if unsent.is_empty() {
                let _ = self.transport.flush_tls();
                return out;
            }
            let wanted = unsent.len();
            let n = self.transport.send(unsent);
            out = out.and(session.on_sent(&mut self.session, self.seq, n));
            if n < wanted {
                return out;
            }
        }
    }

    /// Drops the TLS session once the handshake is done and nothing more goes through it:
    /// no answer is owed, and no heartbeat is to come.
    pub fn release(&mut self) {
        if !self.session.needs_transport() {
            self.transport.release();
        }
    }

    /// Reads until the socket would block (or the transport's read budget is spent),
    /// handing the plaintext to the session (if any), `now`, and discarding the rest; how
    /// the connection ended, if it did.
    pub fn read(&mut self, session: Option<&Session>, buf: &mut [u8], now: Instant) -> Read {
        let mut out = Output::default();
        let (state, seq) = (&mut self.session, self.seq);
        let received = self.transport.receive(buf, |bytes| {
            if let Some(session) = session {
                out = out.and(session.on_bytes(state, seq, bytes, now));
            }
        });
        if out.outcome.is_some() {
            self.release();
        }
        Read {
            bytes: received.bytes,
            session: out,
            closed: received.ended,
            more: received.more,
        }
    }
}

/// The step of a failed TLS handshake.
fn tls_failed(failure: TlsFailure) -> Step {
    let cause = match failure {
        TlsFailure::Alert(_) => Failure::TlsAlert,
        TlsFailure::Certificate(_) => Failure::CertificateRejected,
        TlsFailure::Protocol(_) => Failure::TlsProtocol,
        TlsFailure::Closed => Failure::ClosedDuringHandshake,
    };
    Step::Failed {
        cause,
        os_error: None,
        tls: Some(failure.detail()),
    }
}

/// Makes a non-blocking socket, binds it to `source` if one is given, and starts connecting
/// it. `EINPROGRESS` is the normal result and counts as success here; any other error is the
/// attempt's failure. `nodelay`: the connection will write (a TLS handshake, a probe, beats),
/// so each small write goes out at once: with Nagle's algorithm a probe's request written
/// right after the TLS Finished waited for the server's delayed ACK of it, and time to
/// served was 40 ms where it is 0.2 ms in plain TCP.
pub fn start_connect(
    source: Option<IpAddr>,
    addr: SocketAddr,
    nodelay: bool,
) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    search_ports_in_order(&socket);
    if nodelay {
        socket.set_tcp_nodelay(true)?;
    }
    if let Some(source) = source {
        bind_source(&socket, source)?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// `IP_LOCAL_PORT_RANGE` (Linux 6.3), from linux/in.h; the libc crate does not have it yet.
const IP_LOCAL_PORT_RANGE: libc::c_int = 51;

/// Gives the socket a local port range of its own, 1-65535, which the kernel narrows to the
/// system's range: the ports on offer stay the same. What changes is the search for a free
/// one at connect time. Without a range of its own, the kernel tries the ports of one parity
/// first, all of them, and only then the others; once half the range is in use toward a
/// target, every connect scans that whole half before it finds a port (here a burst of
/// 19000 connections took 3.5 s instead of 0.5 s). With one, it walks the range in order
/// from where the last search ended. Older kernels refuse the option, and keep their search.
fn search_ports_in_order(socket: &Socket) {
    let range: u32 = (65535 << 16) | 1;
    // SAFETY: setsockopt reads `range` for the length we pass; the fd is open for this call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            IP_LOCAL_PORT_RANGE,
            (&range as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        );
    }
}

/// Binds to `source` without taking a port. A plain bind to port 0 would reserve a port
/// for the socket alone, out of one range shared by every target, and make the kernel search
/// for a free port on each bind (slower and slower as ports fill). With
/// `IP_BIND_ADDRESS_NO_PORT` the port is chosen at connect time, when the whole 4-tuple is
/// known, so each (source, target) pair gets the whole ephemeral range.
pub fn bind_source(socket: &Socket, source: IpAddr) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` for the length we pass; the fd is open for this call.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))
}

/// Asks the kernel about `source` before any attempt, so a bad source is a setup error
/// rather than thousands of attempts failing, counted against the server. A UDP socket is
/// bound to it (without a port, as attempts bind): that fails when it is not an address of
/// this machine. Then it is connected to each of `targets` in turn, which for UDP looks the
/// route up and checks the pair but sends nothing; TCP meets the same checks at connect,
/// so a target refused here (from an IPv4-mapped source toward a plain IPv6 target:
/// EAFNOSUPPORT) would fail every attempt. Returns each target's answer.
pub fn check_source(source: IpAddr, targets: &[SocketAddr]) -> io::Result<Vec<io::Result<()>>> {
    let domain = if source.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
    bind_source(&socket, source)?;
    Ok(targets
        .iter()
        .map(|target| socket.connect(&SockAddr::from(*target)))
        .collect())
}

/// Whether a dialing socket's error means the connection was established and then dropped
/// by the peer. Linux reports a reset that answers the SYN as a refusal; a reset after the
/// handshake as ECONNRESET (or EPIPE, once the peer's FIN had come too).
pub fn dropped_after_handshake(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_writes_sends_small_writes_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        for writes in [false, true] {
            let stream = start_connect(None, addr, writes).unwrap();
            assert_eq!(
                socket2::SockRef::from(&stream).tcp_nodelay().unwrap(),
                writes
            );
        }
    }

    #[test]
    fn classifies_errno_into_causes() {
        let of = |errno| Failure::classify(&io::Error::from_raw_os_error(errno));
        assert_eq!(of(libc::ECONNREFUSED), Failure::Refused);
        assert_eq!(of(libc::ETIMEDOUT), Failure::TimedOut);
        assert_eq!(of(libc::ECONNRESET), Failure::Reset);
        assert_eq!(of(libc::ENETUNREACH), Failure::Unreachable);
        assert_eq!(of(libc::EADDRNOTAVAIL), Failure::NoLocalPort);
        assert_eq!(of(libc::EMFILE), Failure::NoFileDescriptors);
        assert_eq!(of(libc::ENOBUFS), Failure::NoBufferSpace);
        assert_eq!(of(libc::EPERM), Failure::Other);
        assert!(of(libc::EMFILE).is_local_limit());
        assert!(!of(libc::ECONNREFUSED).is_local_limit());
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
    }
}

/// A connection's stack driven with bytes and instants only: a TLS transport under a probe
/// session on the client's side, a rustls server in memory on the other, no socket.
#[cfg(test)]
mod stack_tests {
    use std::collections::VecDeque;
    use std::io::{self, Read, Write};
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use crate::engine::probe::{Probe, ProbeKind, ProbeOutcome};
    use crate::engine::session::{Output, Session, SessionState};
    use crate::engine::tls::{Client, Server, Trust, Versions};
    use crate::engine::transport::{Drive, Transport};

    /// The client's side of a byte pipe: what the server wrote waits in `incoming`; an empty
    /// read would block.
    #[derive(Default)]
    struct Wire {
        incoming: VecDeque<u8>,
        outgoing: Vec<u8>,
    }

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.incoming.len());
            for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.outgoing.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The server's turn: takes what the client wrote, answers `PING` with `+PONG`, and
    /// puts what it has to send on the wire. Returns the plaintext it read.
    fn serve(server: &mut rustls::Connection, wire: &mut Wire) -> Vec<u8> {
        let outgoing = std::mem::take(&mut wire.outgoing);
        let mut from_client = &outgoing[..];
        while !from_client.is_empty() {
            server.read_tls(&mut from_client).unwrap();
            server.process_new_packets().unwrap();
        }
        let mut plain = Vec::new();
        let _ = server.reader().read_to_end(&mut plain);
        if plain.ends_with(b"PING\r\n") {
            server.writer().write_all(b"+PONG\r\n").unwrap();
        }
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).unwrap();
        }
        wire.incoming.extend(out);
        plain
    }

    #[test]
    fn a_tls_connection_with_a_probe_is_served_over_bytes_alone() {
        let server_tls = Server::self_signed().unwrap();
        let mut server = server_tls.session().unwrap();
        let client = Client::new(
            &Trust::Insecure,
            Versions::Both,
            &[],
            Some("localhost"),
            IpAddr::from([127, 0, 0, 1]),
        )
        .unwrap();
        let redis = Probe::preset(&ProbeKind::Redis, "localhost", 6379, Duration::from_secs(2));
        let session = Session::probe(redis);
        // Time is a parameter: the connect is seen done at t0, each turn 1 ms later.
        let t0 = Instant::now();
        let turn = |n: u32| t0 + Duration::from_millis(u64::from(n));
        let mut transport = Transport::tls(Wire::default(), client.session().unwrap(), t0, None);
        let mut state = SessionState::Off;

        // The handshake: the client's flights and the server's answers, turn by turn.
        let mut turns = 0;
        loop {
            turns += 1;
            assert!(turns < 10, "no end to the handshake");
            let (drive, _) = transport.drive();
            match drive {
                Drive::Handshaking => {}
                Drive::Up => break,
                Drive::Failed { failure, .. } => panic!("{failure:?}"),
            }
            serve(&mut server, transport.sock_mut());
        }
        let done = transport.tls_done(turn(turns)).unwrap();
        assert_eq!(done.began, t0);
        assert_eq!(done.took, Duration::from_millis(u64::from(turns)));
        assert!(
            done.negotiated.starts_with("TLS 1.3 "),
            "{}",
            done.negotiated
        );

        // Up: the session opens, its deadline the probe's timeout from now, and writes.
        let opened = turn(turns);
        let out = session.open(&mut state, opened);
        assert_eq!(out.outcome, None);
        assert_eq!(out.deadline, Some(opened + Duration::from_secs(2)));
        let mut scratch = [0u8; 64];
        let unsent = session.unsent(&state, 0, &mut scratch);
        let n = transport.send(unsent);
        session.on_sent(&mut state, 0, n);
        assert!(session.unsent(&state, 0, &mut scratch).is_empty());
        // The server finishes its side of the handshake and gets the probe in plaintext.
        assert_eq!(serve(&mut server, transport.sock_mut()), b"PING\r\n");

        // The answer comes back through the transport to the session: served.
        let mut outcome = None;
        let mut buf = [0u8; 1024];
        let received = transport.receive(&mut buf, |bytes| {
            if outcome.is_none() {
                outcome = session.on_bytes(&mut state, 0, bytes, opened).outcome;
            }
        });
        assert_eq!(outcome, Some(ProbeOutcome::Served));
        assert_eq!(received.ended, None);
        assert!(received.bytes > 0);
        assert_eq!(state, SessionState::Served);
        // Nothing is owed through the session any more: the transport lets it go, and the
        // deadline finds nothing to judge.
        transport.release();
        assert!(!transport.handshaking() && transport.tls_done(opened).is_none());
        assert_eq!(
            session.on_deadline(&mut state, 0, opened + Duration::from_secs(2)),
            Output::default()
        );
    }
}
