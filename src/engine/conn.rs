//! One connection: its lifecycle, its socket, and how a failure is classified.
//!
//! ```text
//!  NotInitiated ──attempt──▶ Dialing ──handshake done──▶ Established ──peer FIN/RST──▶ Closed
//!                               │
//!                               └──refused / timed out / local limit / …──▶ Error
//! ```
//! With `--tls` an attempt stays Dialing through its TLS handshake, which starts once the
//! TCP connect is done (its session in [`Conn::tls`]): done, it is Established; failed (an
//! alert, a certificate rejected, a protocol error, a close, a timeout), it is an Error.
//! Every attempt ends in exactly one of Established (still open when the run ends), Closed
//! or Error; attempts never made stay NotInitiated. Only Dialing and Established connections
//! own a socket; the engine keeps those in its slab and drops the socket on the transition
//! out, so a final state costs nothing but a counter.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::engine::probe::ProbeState;
use crate::engine::source::Route;
use crate::engine::tls::Session;

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

/// Reads and discards what `stream` has until it would block. Returns the bytes read and,
/// when the stream ended (end-of-stream or an error), how.
pub fn discard_until_blocked(stream: &mut impl io::Read, buf: &mut [u8]) -> (u64, Option<Closure>) {
    read_until_blocked(stream, buf, |_| {})
}

/// Reads what `stream` has until it would block, handing each piece to `seen` before it is
/// discarded. Returns as [`discard_until_blocked`] does.
pub fn read_until_blocked(
    stream: &mut impl io::Read,
    buf: &mut [u8],
    mut seen: impl FnMut(&[u8]),
) -> (u64, Option<Closure>) {
    let mut bytes = 0;
    loop {
        match stream.read(buf) {
            Ok(0) => return (bytes, Some(Closure::PeerClosed)),
            Ok(n) => {
                bytes += n as u64;
                seen(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (bytes, None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (bytes, Some(Closure::classify(&e))),
        }
    }
}

/// A connection that owns a socket: one still dialing, or one established.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    /// The attempt's index in the schedule; tells a reused slab slot from its predecessor.
    pub seq: u64,
    pub started: Instant,
    pub state: State,
    /// Where it goes; a replacement for it goes the same way.
    pub route: Route,
    /// Which of the attempt's addresses it is on: 0 for its route's target, then the plan's
    /// fallback addresses in turn.
    pub hop: usize,
    /// Why the attempt's first address failed, once it has fallen back from it.
    pub first_failure: Option<Failure>,
    pub probe: ProbeSlot,
    /// `--tls`: the session, from the TCP connect until the handshake (and a probe's
    /// exchange) no longer needs it; then dropped, with every buffer it holds.
    pub tls: Option<Box<TlsHandshake>>,
}

/// A connection whose TCP connect is done and whose TLS handshake is not (it is still
/// Dialing), or one established whose probe speaks TLS.
#[derive(Debug)]
pub struct TlsHandshake {
    pub session: Session,
    /// When the TCP connect was seen done; the handshake's time runs from here.
    pub connected: Instant,
    /// What the kernel measured of the TCP handshake, read when it was done.
    pub kernel: Option<Handshake>,
    /// Still handshaking; false once established (the session serves a probe).
    pub handshaking: bool,
}

/// Where an established connection's probe stands (`engine::probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSlot {
    /// No probe: the run does not probe, or the connection is still dialing.
    Off,
    Awaiting(ProbeState),
    Served,
    /// Rejected or unserved: it has its outcome; what arrives now is discarded.
    NotServed,
}

/// Makes a non-blocking socket, binds it to `source` if one is given, and starts connecting
/// it. `EINPROGRESS` is the normal result and counts as success here; any other error is the
/// attempt's failure.
pub fn start_connect(source: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    search_ports_in_order(&socket);
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
pub fn handshake(stream: &TcpStream) -> Option<Handshake> {
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
