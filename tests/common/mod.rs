//! Runs the real binary. Every child is killed and waited for on drop, and every run has a
//! time limit, so a hung process fails its test instead of hanging the suite.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tcpgoon");

/// A finished run of the binary.
#[derive(Debug)]
pub struct Output {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The first stdout line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{}", self.stdout))
    }

    /// The final report's state counts: the `Total:` line right after the report header.
    pub fn final_counts(&self) -> Counts {
        let mut lines = self.stdout.lines();
        lines
            .find(|l| l.ends_with(" tcp test statistics ---"))
            .unwrap_or_else(|| panic!("no final report in:\n{}", self.stdout));
        Counts::parse(lines.next().expect("a Total line after the header"))
    }

    /// The count of `cause` on the `Errors by cause:` line.
    pub fn failures(&self, cause: &str) -> u64 {
        cause_count(self.line("Errors by cause: "), cause)
    }

    /// The count of `cause` on the `Closed by cause:` line.
    pub fn closures(&self, cause: &str) -> u64 {
        cause_count(self.line("Closed by cause: "), cause)
    }
}

fn cause_count(line: &str, cause: &str) -> u64 {
    let (_, list) = line.split_once(": ").expect("a cause list");
    list.split(", ")
        .find_map(|item| item.strip_prefix(cause)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no cause {cause:?} in {line:?}"))
}

/// `Total: 4, Dialing: 1, Established: 1, Closed: 0, Error: 0, NotInitiated: 2`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub dialing: u64,
    pub established: u64,
    pub closed: u64,
    pub error: u64,
    pub not_initiated: u64,
}

impl Counts {
    pub fn parse(line: &str) -> Counts {
        let values: Vec<u64> = line
            .split(", ")
            .map(|part| {
                part.split_once(": ")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or_else(|| panic!("not a Total line: {line:?}"))
            })
            .collect();
        let [total, dialing, established, closed, error, not_initiated] = values[..] else {
            panic!("not a Total line: {line:?}");
        };
        assert!(line.starts_with("Total: "), "not a Total line: {line:?}");
        Counts {
            total,
            dialing,
            established,
            closed,
            error,
            not_initiated,
        }
    }

    pub fn adds_up(&self) -> bool {
        self.dialing + self.established + self.closed + self.error + self.not_initiated
            == self.total
    }
}

/// A child process killed and reaped on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with piped output.
pub fn spawn(args: &[&str]) -> Guard {
    Guard(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpgoon"),
    )
}

/// Waits for a spawned run to end (killing it after `limit`) and collects its output.
pub fn finish(mut guard: Guard, started: Instant, limit: Duration) -> Output {
    let child = &mut guard.0;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).expect("read stdout");
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).expect("read stderr");
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tcpgoon") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("tcpgoon still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    Output {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
        elapsed,
    }
}

/// Runs the binary to completion, with a 60 s limit.
pub fn run(args: &[&str]) -> Output {
    let started = Instant::now();
    finish(spawn(args), started, Duration::from_secs(60))
}

/// A listener on an ephemeral loopback port that accepts and holds everything, until
/// dropped.
pub struct HoldingListener {
    pub addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl HoldingListener {
    pub fn start() -> HoldingListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => held.push(s),
                    Err(_) => break,
                }
            }
        });
        HoldingListener {
            addr,
            _thread: thread,
        }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("listener address").port();
    drop(listener);
    port.to_string()
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
