//! Networks a run can be pointed at without a server: a private network namespace, and
//! loopback sockets that hold, refuse, or never accept.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A listener on an ephemeral loopback port that accepts and holds everything, until
/// dropped: then it stops, and closes its listener and every connection it holds.
pub struct HoldingListener {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HoldingListener {
    pub fn start() -> HoldingListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        // Non-blocking, so the thread is never stuck in accept and sees `stop` within one
        // poll timeout.
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let mut ready = libc::pollfd {
                        fd: listener.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one pollfd, for a descriptor the listener owns.
                    unsafe { libc::poll(&mut ready, 1, 10) };
                    loop {
                        match listener.accept() {
                            Ok((stream, _)) => held.push(stream),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            // Out of descriptors, or a connection reset before it was
                            // accepted: wait rather than spin on it.
                            Err(_) => {
                                std::thread::sleep(Duration::from_millis(10));
                                break;
                            }
                        }
                    }
                }
                // Returning drops the listener and every held connection.
            }
        });
        HoldingListener {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for HoldingListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback port that refuses connections, for as long as this lives: a socket is bound
/// to it but does not listen, and the kernel answers a SYN to such a port with a reset.
/// Keeping it bound keeps another test's listener, or a connect's choice of local port
/// (which could connect to itself), from taking the port before the test dials it.
///
/// It reads as the port's text (`&port` where a `&str` goes, `{port}` in [`args!`]), so
/// the usual `let port = closed_port();` keeps the port closed until the end of the test.
pub struct ClosedPort {
    _socket: socket2::Socket,
    port: String,
}

impl std::fmt::Display for ClosedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.port)
    }
}

impl std::ops::Deref for ClosedPort {
    type Target = str;

    fn deref(&self) -> &str {
        &self.port
    }
}

pub fn closed_port() -> ClosedPort {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("create a socket");
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any_port.into()).expect("bind a loopback port");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("bound address")
        .port();
    ClosedPort {
        _socket: socket,
        port: port.to_string(),
    }
}

/// A listener with backlog 0 that never accepts: the kernel completes one handshake into
/// its queue and drops later SYNs, so further attempts can only time out. Keep the socket
/// alive for as long as the port is in use.
pub fn full_backlog_listener() -> (socket2::Socket, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("create a socket");
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any_port.into()).expect("bind a loopback port");
    socket.listen(0).expect("listen");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("listener address")
        .port();
    (socket, port.to_string())
}

/// Runs `f` on a thread of its own inside a new network namespace whose loopback is up, and
/// returns its result; `None`, after saying why, when namespaces are not available. The
/// sockets that thread opens and the processes it spawns live in the namespace, and
/// a sysctl written from it changes the namespace's settings only, so a test can narrow
/// the port range without touching the machine's.
pub fn in_private_net<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: unshare changes only this thread's network namespace.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    eprintln!(
                        "skipped: cannot make a network namespace: {}",
                        std::io::Error::last_os_error()
                    );
                    return None;
                }
                let up = Command::new("ip")
                    .args(["link", "set", "lo", "up"])
                    .status()
                    .expect("run `ip link set lo up`");
                assert!(up.success(), "ip link set lo up: {up}");
                Some(f())
            })
            .join()
            .expect("namespaced test thread")
    })
}
