//! Servers to run against: the binary's own `tcpgoon server` on an ephemeral port, and real
//! servers with connection caps, from Debian's packages (`.ci/run` installs them). redis and
//! memcached run on their usual ports, so only in a private network namespace
//! ([`in_private_net`](super::net::in_private_net)).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{Guard, finish, first_line, spawn, wait_for};

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
