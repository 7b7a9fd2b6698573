//! Runs the real binary. Every child is killed and waited for on drop, and every run has a
//! time limit, so a hung process fails its test instead of hanging the suite.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tcpgoon");

/// An argument vector written as the command line it is: `format!`, then split at ASCII
/// whitespace. `args!("run 127.0.0.1 {port} -c 5 -y")` is `["run", "127.0.0.1", port, "-c",
/// "5", "-y"]`. No quoting: a value that may hold white space (a path, a payload) goes
/// after a `;`, each one argument as it is: `args!("run 127.0.0.1 {port} --summary"; path)`.
#[allow(unused_macros)]
macro_rules! args {
    ($line:literal $(, $value:expr)* $(; $($whole:expr),+)?) => {
        format!($line $(, $value)*)
            .split_ascii_whitespace()
            .map(String::from)
            .chain([$($(String::from($whole)),+)?])
            .collect::<Vec<String>>()
    };
}
#[allow(unused_imports)]
pub(crate) use args;

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

    /// The count of `cause` on the `Errors by cause:` line, which lists only the causes
    /// that happened (`none` when none did): 0 for a known cause it does not list.
    pub fn failures(&self, cause: &str) -> u64 {
        assert!(FAILURE_CAUSES.contains(&cause), "no cause {cause:?}");
        let line = self.line("Errors by cause: ");
        if line == "Errors by cause: none" {
            return 0;
        }
        let (_, list) = line.split_once(": ").expect("a cause list");
        for item in list.split(", ") {
            let (label, n) = item.rsplit_once(' ').expect("a cause and its count");
            assert!(FAILURE_CAUSES.contains(&label), "unknown cause in {line:?}");
            assert!(
                n.parse::<u64>().is_ok_and(|n| n > 0),
                "a zero listed: {line:?}"
            );
        }
        list.split(", ")
            .find_map(|item| item.strip_prefix(cause)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// The verdict: the report's last line.
    pub fn verdict(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The line before the verdict: `limit`'s finding.
    pub fn before_verdict(&self) -> &str {
        let lines: Vec<&str> = self.stdout.lines().collect();
        lines.len().checked_sub(2).map_or("", |i| lines[i])
    }

    /// The count of `cause` on the `Closed by cause:` line.
    pub fn closures(&self, cause: &str) -> u64 {
        cause_count(self.line("Closed by cause: "), cause)
    }

    /// The `Probe (<name>): served N, rejected N, unserved N, closed before answering N`
    /// counts.
    pub fn probe_counts(&self) -> [u64; 4] {
        let line = self.line("Probe (");
        let (_, list) = line.split_once("): ").expect("a probe line");
        let mut counts = [0; 4];
        for (i, label) in ["served", "rejected", "unserved", "closed before answering"]
            .iter()
            .enumerate()
        {
            counts[i] = list
                .split(", ")
                .find_map(|item| item.strip_prefix(label)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {label} in {line:?}"));
        }
        counts
    }

    /// Every count adds up: states to the total, probe outcomes to the connections
    /// established.
    pub fn probe_adds_up(&self) {
        let counts = self.final_counts();
        assert!(counts.adds_up(), "{}", self.stdout);
        let outcomes: u64 = self.probe_counts().iter().sum();
        assert_eq!(
            outcomes,
            counts.established + counts.closed,
            "{}",
            self.stdout
        );
    }
}

/// The labels of the `Errors by cause:` line, in its order.
pub const FAILURE_CAUSES: [&str; 13] = [
    "refused",
    "timed out",
    "reset",
    "unreachable",
    "no free local port",
    "out of file descriptors",
    "out of socket buffers",
    "other",
    "TLS alert",
    "certificate rejected",
    "protocol error",
    "closed during handshake",
    "handshake timed out",
];

pub fn cause_count(line: &str, cause: &str) -> u64 {
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
pub fn spawn(args: &[impl AsRef<str>]) -> Guard {
    Guard(
        Command::new(BIN)
            .args(args.iter().map(AsRef::as_ref))
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
pub fn run(args: &[impl AsRef<str>]) -> Output {
    let started = Instant::now();
    finish(spawn(args), started, Duration::from_secs(60))
}

/// Runs the binary to completion with `input` on its stdin (a pipe, closed after it), with
/// a 60 s limit.
pub fn run_with_input(args: &[impl AsRef<str>], input: &str) -> Output {
    use std::io::Write;
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args.iter().map(AsRef::as_ref))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpgoon");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A process that has stopped reading (it got its answer) may close the pipe first.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    finish(Guard(child), started, Duration::from_secs(60))
}

/// Runs the binary to completion inside a mount namespace of its own where /etc/hosts is
/// `hosts`, so names resolve as a test needs without a resolver; 30 s limit.
pub fn run_with_hosts(hosts: &str, args: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "tcpgoon-hosts-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&file, hosts).unwrap();
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        ])
        .arg(&file)
        .arg(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = finish(
        Guard(command.spawn().expect("start unshare")),
        started,
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_file(&file);
    out
}

/// Runs the binary and checks it refused its arguments as bad input should: exit 64, one
/// line on stderr that starts `tcpgoon: `, no panic, nothing on stdout.
pub fn run_bad_input<S: AsRef<str> + std::fmt::Debug>(args: &[S]) -> Output {
    let out = run(args);
    assert_eq!(out.code, Some(64), "{args:?}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    assert!(
        out.stderr.starts_with("tcpgoon: "),
        "{args:?}: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out
}

/// Polls `done` every 10 ms until it holds; fails the test after 10 s.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `script` running `tcpgoon <args> <redirect>` on a terminal of its own (a pty): what
/// the terminal shows comes out on `script`'s stdout. `redirect` is shell text.
pub fn on_a_terminal(args: &[&str], redirect: &str) -> Command {
    let command = std::iter::once(BIN)
        .chain(args.iter().copied())
        .chain([redirect])
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]);
    script
}

/// Runs `terminal` (from [`on_a_terminal`]) with `input` typed at it; returns its exit
/// status and what the terminal showed.
pub fn type_into(mut terminal: Command, input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = terminal
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

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

/// Starts `tcpgoon server -p 0 <args>` and reads the port it got from its first line,
/// `listening on <ip>:<port>`. The rest of its output stays in the pipe for [`finish`].
pub fn start_server(args: &[&str]) -> (Guard, String) {
    start_server_at("0", args)
}

/// Starts `tcpgoon server -p <port> <args>`, as [`start_server`] does. A fixed port is only
/// safe where nothing else can take it: in a private network namespace.
pub fn start_server_at(port: &str, args: &[&str]) -> (Guard, String) {
    let mut full = vec!["server", "-p", port];
    full.extend_from_slice(args);
    let mut guard = spawn(&full);
    let line = first_line(&mut guard);
    let Some(addr) = line.strip_prefix("listening on ") else {
        let out = finish(guard, Instant::now(), Duration::from_secs(5));
        panic!("server's first line is {line:?}, not `listening on`: {out:?}");
    };
    let port = addr
        .trim_end()
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_ne!(port, 0, "{line}");
    (guard, port.to_string())
}

/// Reads the first line a spawned process prints, waiting up to 10 s for it; the rest of its
/// output stays in the pipe for [`finish`]. A process that has printed has started, however
/// slowly a loaded machine ran it.
pub fn first_line(guard: &mut Guard) -> String {
    let stdout = guard.0.stdout.take().expect("piped stdout");
    // Read on a thread, so a process that never prints fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = stdout;
        let line = read_line_unbuffered(&mut stdout);
        let _ = tx.send((line, stdout));
    });
    let Ok((line, stdout)) = rx.recv_timeout(Duration::from_secs(10)) else {
        panic!("tcpgoon printed no line within 10 s");
    };
    guard.0.stdout = Some(stdout);
    line
}

/// One line, read a byte at a time so nothing after it leaves the pipe.
fn read_line_unbuffered(r: &mut impl Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while let Ok(1) = r.read(&mut byte) {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Sends `signal` to a spawned process.
pub fn signal(guard: &Guard, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child, which has not been reaped yet.
    unsafe { libc::kill(guard.0.id() as i32, signal) };
}

/// Reads a duration as the report prints it (Go style): `1.5s`, `300.2ms`, `87µs`, `2m3s`.
pub fn go_duration(text: &str) -> Duration {
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or_else(|| panic!("no unit in {text:?}"));
        let (number, tail) = rest.split_at(split);
        let number: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad number in {text:?}"));
        let (scale, tail) = [("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("h", 3600.0)]
            .into_iter()
            .chain([("m", 60.0), ("s", 1.0)])
            .find_map(|(unit, scale)| tail.strip_prefix(unit).map(|t| (scale, t)))
            .unwrap_or_else(|| panic!("unknown unit in {text:?}"));
        total += Duration::from_secs_f64(number * scale);
        rest = tail;
    }
    total
}

/// The min and max of a `min/avg/max/dev = a/b/c/d` line.
pub fn min_max(line: &str) -> (Duration, Duration) {
    let values: Vec<Duration> = line
        .rsplit(" = ")
        .next()
        .expect("a min/avg/max/dev line")
        .split('/')
        .map(go_duration)
        .collect();
    assert_eq!(values.len(), 4, "{line}");
    (values[0], values[2])
}

/// Runs `f` on a thread of its own inside a new network namespace whose loopback is up, and
/// returns its result; `None`, after saying why, when namespaces are not available. The
/// sockets that thread opens and the processes it spawns live in the namespace, and
/// [`sysctl`] called from it changes the namespace's settings only, so a test can narrow
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

/// Sets `name` (dotted, as `sysctl` spells it) for the calling thread's network namespace.
pub fn sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {value:?} to {path}: {e}"));
}

/// A listener on any address (the built-in server binds one address, and some tests need
/// `[::]`) that holds every connection it accepts, or with `close_after` closes each one
/// after that long: a server with an idle timeout.
pub struct PolicyListener {
    pub addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl PolicyListener {
    pub fn start(bind: &str, close_after: Option<Duration>) -> Self {
        let listener = TcpListener::bind(bind).expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                match close_after {
                    Some(after) => {
                        std::thread::spawn(move || {
                            std::thread::sleep(after);
                            drop(stream);
                        });
                    }
                    None => held.push(stream),
                }
            }
        });
        PolicyListener {
            addr,
            _thread: thread,
        }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

/// Whether `pid` has `signal` blocked, from the kernel's view in /proc: a run blocks the
/// signals it reads from its signalfd, and unblocks them once the next one is to kill.
pub fn blocks_signal(pid: u32, signal: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("a SigBlk line");
    mask & (1 << (signal - 1)) != 0
}

/// Whether `pid` reads `signal` from a signalfd: it has one open and the signal blocked.
/// The blocked mask alone is not enough: starting a writer thread blocks every signal for
/// a moment, before the signalfd exists, and a signal sent then kills the process once
/// that moment is over.
pub fn reads_signal(pid: u32, signal: libc::c_int) -> bool {
    let has_signalfd = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok).any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[signalfd]")
            })
        })
        .unwrap_or(false);
    has_signalfd && blocks_signal(pid, signal)
}

/// A pipe that already holds all it can (one page), so the next write to it blocks until
/// someone reads. Returns (read end, write end).
pub fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = write.as_raw_fd();
    // SAFETY: plain fcntl calls and writes on a descriptor this function owns.
    unsafe {
        assert!(libc::fcntl(w, libc::F_SETPIPE_SZ, 4096) > 0);
        let flags = libc::fcntl(w, libc::F_GETFL);
        libc::fcntl(w, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let page = [b'x'; 4096];
        while libc::write(w, page.as_ptr().cast(), page.len()) > 0 {}
        libc::fcntl(w, libc::F_SETFL, flags);
    }
    (read, write)
}

/// Bytes waiting to be read in the pipe or FIFO `fd`.
pub fn unread(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// A named pipe in a directory of its own, removed on drop.
pub struct Fifo {
    dir: std::path::PathBuf,
    pub path: std::path::PathBuf,
}

impl Fifo {
    pub fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!("tcpgoon-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a directory for the FIFO");
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and a mode.
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        Fifo { dir, path }
    }

    /// Opens the FIFO's two ends: (read end, write end). The read end is opened first,
    /// without waiting for a writer, so opening the write end does not wait either; reads
    /// from it then block as from any pipe.
    pub fn open(&self) -> (std::fs::File, std::fs::File) {
        use std::os::unix::fs::OpenOptionsExt;
        let read = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
            .expect("open the FIFO for reading");
        let write = std::fs::File::options()
            .write(true)
            .open(&self.path)
            .expect("open the FIFO for writing");
        // SAFETY: plain fcntl calls on a descriptor `read` owns.
        unsafe {
            let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        (read, write)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lines of a child's output as they arrive, each with the moment it was read, from a
/// thread that reads until end of file.
pub struct Arrivals {
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl Arrivals {
    pub fn start(source: impl Read + Send + 'static) -> Arrivals {
        use std::io::BufRead;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Arrivals { lines }
    }

    /// The next line, if one arrives within `limit`.
    pub fn next(&self, limit: Duration) -> Option<(Instant, String)> {
        self.lines.recv_timeout(limit).ok()
    }

    /// The lines up to and including the first that starts with `prefix`, and when that one
    /// arrived; `None` when it has not arrived by `deadline`.
    pub fn until(&self, prefix: &str, deadline: Instant) -> Option<(Vec<String>, Instant)> {
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, line) = self.next(left)?;
            let found = line.starts_with(prefix);
            lines.push(line);
            if found {
                return Some((lines, at));
            }
        }
    }

    /// Every line still to come, until the source ends.
    pub fn rest(&self) -> Vec<String> {
        self.lines.iter().map(|(_, line)| line).collect()
    }
}

/// Real servers with connection caps, from Debian's packages (`.ci/run` installs them):
/// each on its usual port, so only in a private network namespace ([`in_private_net`]).
///
/// Whether `program` is installed; under CI its absence fails the test.
pub fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed; .ci/run installs it"
        );
        eprintln!("skipped: {program} is not installed (.ci/run installs it)");
    }
    found
}

/// Waits until a server on 127.0.0.1:`port` answers `request` with a reply starting
/// `expect`, then gives it a moment to forget the probe's connection.
pub fn wait_until_serving(port: u16, request: &[u8], expect: &[u8]) {
    wait_for("the server to answer", || {
        let Ok(mut probe) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = probe.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 64];
        probe.write_all(request).is_ok()
            && probe
                .read(&mut reply)
                .is_ok_and(|n| reply[..n].starts_with(expect))
    });
    std::thread::sleep(Duration::from_millis(50));
}

pub fn redis(max_clients: u32) -> Guard {
    let guard = Guard(
        Command::new("redis-server")
            .args(["--port", "6379", "--bind", "127.0.0.1", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--maxclients",
                &max_clients.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_until_serving(6379, b"PING\r\n", b"+PONG");
    guard
}

pub fn memcached(max_conns: u32) -> Guard {
    let guard = Guard(
        Command::new("memcached")
            .args(["-p", "11211", "-l", "127.0.0.1", "-U", "0", "-u", "root"])
            .args(["-c", &max_conns.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start memcached"),
    );
    wait_until_serving(11211, b"version\r\n", b"VERSION");
    guard
}

/// A PostgreSQL server from Debian's `postgresql` package, in a directory of its own under
/// the temp dir: it listens on 127.0.0.1 only, on a port that was free, with its unix socket
/// in that directory, trust for every role, fsync off, and a cap of exactly
/// `max_connections` (none reserved for superusers). One cluster is made with initdb per
/// test binary and copied for each server, as initdb takes seconds. Run as root (CI), it
/// runs as the `postgres` system user: PostgreSQL refuses to run as root. Stopped
/// (immediate shutdown, SIGQUIT) and its directory removed on drop.
pub struct Postgres {
    child: Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

/// The newest installed `/usr/lib/postgresql/<major>/bin`, and its major version.
fn postgres_bin() -> Option<(std::path::PathBuf, u32)> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((bin, major))
        })
        .max_by_key(|(_, major)| *major)
}

/// Whether PostgreSQL's server is installed; under CI its absence fails the test.
pub fn postgres_installed() -> bool {
    let found = postgres_bin().is_some();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "postgresql is not installed; .ci/run installs it"
        );
        eprintln!("skipped: postgresql is not installed (.ci/run installs it)");
    }
    found
}

/// The uid and gid of the `postgres` user when this process is root, else `None` (the
/// server then runs as this user).
fn postgres_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: a NUL-terminated name; the entry is read at once, before another getpw call.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    assert!(
        !entry.is_null(),
        "no postgres user (the postgresql package makes it)"
    );
    // SAFETY: getpwnam returned a valid entry.
    Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

fn chown_to(path: &std::path::Path, ids: Option<(u32, u32)>) {
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

/// The cluster initdb made, once per test binary, for [`postgres`] to copy.
fn postgres_template() -> &'static std::path::Path {
    static TEMPLATE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let (bin, _) = postgres_bin().expect("postgresql installed");
        let ids = postgres_ids();
        let dir = std::env::temp_dir().join(format!("tcpgoon-pg-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the template's directory");
        chown_to(&dir, ids);
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = ids {
            use std::os::unix::process::CommandExt;
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Trust on loopback and the socket; nothing else may connect.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");
        TEMPLATE_DIR.set(dir).expect("set once");
        // SAFETY: registers a plain function; the test harness ends with exit(), which
        // runs it.
        unsafe { libc::atexit(remove_postgres_template) };
        data
    })
}

static TEMPLATE_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

extern "C" fn remove_postgres_template() {
    if let Some(dir) = TEMPLATE_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts a [`Postgres`] with a cap of `max_connections` and waits until it answers a
/// startup message with an authentication request.
pub fn postgres(max_connections: u32) -> Postgres {
    postgres_reserving(max_connections, 0)
}

/// [`postgres`], with `reserved` of the `max_connections` slots kept for superusers.
pub fn postgres_reserving(max_connections: u32, reserved: u32) -> Postgres {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let (bin, major) = postgres_bin().expect("postgresql installed");
    let template = postgres_template();
    let ids = postgres_ids();
    let dir = std::env::temp_dir().join(format!(
        "tcpgoon-pg-{}-{}",
        std::process::id(),
        SERVERS.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the server's directory");
    chown_to(&dir, ids);
    let data = dir.join("data");
    // -a keeps the owner and the 0700 mode PostgreSQL insists on.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(&data)
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy the template cluster: {copied}");
    // A port that was free a moment ago; the tests run in a network namespace of their own.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut command = Command::new(bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .arg("-c")
        .arg(format!("max_connections={max_connections}"))
        .arg("-c")
        .arg(format!("superuser_reserved_connections={reserved}"))
        .args(["-c", "fsync=off", "-c", "autovacuum=off"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).expect("create the log"));
    if major >= 16 {
        // PostgreSQL 16 also reserves slots for roles with pg_use_reserved_connections.
        command.args(["-c", "reserved_connections=0"]);
    }
    if let Some((uid, gid)) = ids {
        use std::os::unix::process::CommandExt;
        command.uid(uid).gid(gid);
    }
    let server = Postgres {
        child: command.spawn().expect("start postgres"),
        dir,
        port,
    };
    let mut startup = vec![0, 0, 0, 0, 0, 3, 0, 0];
    startup.extend_from_slice(b"user\0postgres\0\0");
    startup[3] = startup.len() as u8;
    wait_for("postgres to answer", || {
        let Ok(mut probe) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = probe.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 1];
        probe.write_all(&startup).is_ok()
            && probe.read(&mut reply).is_ok_and(|n| reply[..n] == *b"R")
    });
    // The check's backend must have exited before a test counts slots.
    server.wait_idle();
    server
}

impl Postgres {
    pub fn port(&self) -> String {
        self.port.to_string()
    }

    /// Runs `sql` as the superuser over the unix socket; fails the test when psql does.
    pub fn sql(&self, sql: &str) {
        let (bin, _) = postgres_bin().expect("postgresql installed");
        let out = Command::new(bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port(),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-qc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until every backend the postmaster forked for a client has exited (those of
    /// the last run, of a check, of psql), so the next run has every slot. It reads /proc
    /// rather than asking the server, as asking takes a slot and leaves a backend behind.
    pub fn wait_idle(&self) {
        let postmaster = self.child.id().to_string();
        wait_for("the clients' backends to exit", || {
            let Ok(procs) = std::fs::read_dir("/proc") else {
                return false;
            };
            !procs.filter_map(Result::ok).any(|entry| {
                let path = entry.path();
                // ppid is the field after the state, which follows the parenthesized name.
                let child = std::fs::read_to_string(path.join("stat")).is_ok_and(|stat| {
                    stat.rsplit_once(") ")
                        .and_then(|(_, rest)| rest.split(' ').nth(1))
                        .is_some_and(|ppid| ppid == postmaster)
                });
                // A backend titles itself `postgres: USER DB HOST(PORT) …` or `… [local] …`;
                // one just forked still has the postmaster's command line. The helpers
                // (checkpointer, walwriter…) have titles of neither kind.
                let title = std::fs::read(path.join("cmdline")).unwrap_or_default();
                let title = String::from_utf8_lossy(&title);
                let client = title.contains(" 127.0.0.1(")
                    || title.contains(" [local]")
                    || !title.starts_with("postgres: ");
                child && client
            })
        });
    }

    /// What the server wrote to its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; the postmaster stops its children before it exits.
        // SAFETY: a signal to our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A summary's `timeline`, as rows of elapsed_us, not_initiated, dialing, established,
/// closed and error (found by column name), checked: time runs forward, every row adds up
/// to the summary's total, and the last row is the summary's own counts.
pub fn timeline_rows(summary: &serde_json::Value) -> Vec<[u64; 6]> {
    let t = &summary["timeline"];
    let columns: Vec<&str> = t["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline columns in {summary}"))
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let keys = [
        "elapsed_us",
        "not_initiated",
        "dialing",
        "established",
        "closed",
        "error",
    ];
    let at = keys.map(|k| columns.iter().position(|c| *c == k).expect(k));
    let rows: Vec<[u64; 6]> = t["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline samples in {summary}"))
        .iter()
        .map(|row| at.map(|i| row[i].as_u64().unwrap_or_else(|| panic!("{row}"))))
        .collect();
    let total = summary["counts"]["total"].as_u64().unwrap();
    for pair in rows.windows(2) {
        assert!(pair[0][0] <= pair[1][0], "time went back: {pair:?}");
    }
    for row in &rows {
        assert_eq!(
            row[1..].iter().sum::<u64>(),
            total,
            "{row:?} does not add up"
        );
    }
    let end = rows
        .last()
        .unwrap_or_else(|| panic!("no samples in {summary}"));
    let counts = &summary["counts"];
    for (i, key) in keys[1..].iter().enumerate() {
        assert_eq!(
            Some(end[i + 1]),
            counts[*key].as_u64(),
            "last sample {end:?} vs counts {counts}"
        );
    }
    rows
}
