//! One connection: its lifecycle, its socket, and how a failure is classified.
//!
//! ```text
//!  NotInitiated ──attempt──▶ Dialing ──handshake done──▶ Established ──peer FIN/RST──▶ Closed
//!                               │
//!                               └──refused / timed out / local limit / …──▶ Error
//! ```
//! Every attempt ends in exactly one of Established (still open when the run ends), Closed
//! or Error; attempts never made stay NotInitiated. Only Dialing and Established connections
//! own a socket; the engine keeps those in its slab and drops the socket on the transition
//! out, so a final state costs nothing but a counter.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

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
}

impl Failure {
    pub const ALL: [Failure; 8] = [
        Failure::Refused,
        Failure::TimedOut,
        Failure::Reset,
        Failure::Unreachable,
        Failure::NoLocalPort,
        Failure::NoFileDescriptors,
        Failure::NoBufferSpace,
        Failure::Other,
    ];

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

/// A connection that owns a socket: one still dialing, or one established.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    /// The attempt's index in the schedule; tells a reused slab slot from its predecessor.
    pub seq: u64,
    pub started: Instant,
    pub state: State,
}

/// Makes a non-blocking socket and starts connecting it. `EINPROGRESS` is the normal
/// result and counts as success here; any other error is the attempt's failure.
pub fn start_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
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
