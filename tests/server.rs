//! `tcpgoon server` on its own, driven by plain std sockets.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{finish, run, signal, start_server};

fn connect(port: &str) -> TcpStream {
    let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Reads until end of stream or an error, returning what arrived and how it ended.
fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (data, Ok(())),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => return (data, Err(e.kind())),
        }
    }
}

#[test]
fn the_first_line_names_the_real_port_and_it_accepts() {
    let started = Instant::now();
    let (server, port) = start_server(&["-m", "0", "-i", "0", "--greeting", "hi"]);
    let mut stream = connect(&port);
    // The greeting shows the server at that port has accepted the connection.
    let mut greeting = [0u8; 2];
    stream.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"hi");
    stream.write_all(b"read and discarded").unwrap();
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "Accepted: 1, Open: 1, Closed: 0",
            "stopping: interrupted by SIGTERM"
        ],
        "{out:?}"
    );
    assert_eq!(read_to_end(&mut stream), (Vec::new(), Ok(())));
}

#[test]
fn it_binds_to_loopback_by_default() {
    let started = Instant::now();
    let (server, port) = start_server(&["-i", "0"]);
    // The kernel's own view of the socket: /proc/net/tcp prints 127.0.0.1 as 0100007F and
    // the LISTEN state as 0A.
    let port_hex = format!(":{:04X}", port.parse::<u16>().unwrap());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let listening: Vec<&str> = table
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.get(1)?.ends_with(&port_hex) && fields.get(3) == Some(&"0A"))
                .then_some(fields[1])
        })
        .collect();
    assert_eq!(listening, [format!("0100007F{port_hex}")], "{table}");
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    let help = run(&["help", "server"]);
    assert!(
        help.stdout.contains("[default: 127.0.0.1]"),
        "{}",
        help.stdout
    );
}

#[test]
fn duration_stops_it_with_exit_0() {
    let started = Instant::now();
    let (server, _port) = start_server(&["-d", "300ms", "-i", "0"]);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().last(),
        Some("stopping: ran for 300ms (--duration 300ms)"),
        "{out:?}"
    );
    assert!(
        out.elapsed >= Duration::from_millis(300) && out.elapsed < Duration::from_secs(3),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn maxconnections_stops_it_and_closes_every_connection() {
    let started = Instant::now();
    let (server, port) = start_server(&["-m", "3", "-i", "0"]);
    let mut streams: Vec<TcpStream> = (0..3).map(|_| connect(&port)).collect();
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "Accepted: 3, Open: 3, Closed: 0",
            "stopping: 3 connections accepted (--maxconnections 3)"
        ],
        "{out:?}"
    );
    for stream in &mut streams {
        assert_eq!(read_to_end(stream), (Vec::new(), Ok(())));
    }
    let refused = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn sigint_stops_it_with_exit_0() {
    let started = Instant::now();
    let (server, _port) = start_server(&["-i", "0"]);
    signal(&server, libc::SIGINT);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().last(),
        Some("stopping: interrupted by SIGINT"),
        "{out:?}"
    );
}

#[test]
fn stats_lines_count_accepted_open_and_closed() {
    const AFTER: &str = "Accepted: 2, Open: 1, Closed: 1";
    let started = Instant::now();
    let (mut server, port) = start_server(&["-m", "0", "-i", "50ms"]);
    let first = connect(&port);
    let _second = connect(&port);
    drop(first);
    // Read interval lines as they come until one shows the close, however long a loaded
    // machine takes to get there; then let a few more intervals pass.
    let mut interval = Vec::new();
    while interval.last().map(String::as_str) != Some(AFTER) {
        let line = common::first_line(&mut server);
        assert!(!line.is_empty(), "the server's output ended: {interval:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{interval:?}");
        interval.push(line);
    }
    let seen = interval.len();
    std::thread::sleep(Duration::from_millis(300));
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    let rest: Vec<&str> = out.stdout.lines().collect();
    let Some((later, last_two)) = rest.split_last_chunk::<2>() else {
        panic!("no final counts: {out:?}");
    };
    assert_eq!(last_two, &[AFTER, "stopping: interrupted by SIGTERM"]);
    interval.extend(later.iter().map(|l| l.to_string()));
    // The interval lines alone: the first before any connection, then counts that only
    // grow and always add up, and after the close a line every 50 ms, all the same (300 ms
    // is six intervals; a loaded machine may skip some, not all).
    assert_eq!(
        interval[0], "Accepted: 0, Open: 0, Closed: 0",
        "{interval:?}"
    );
    let mut previous = (0, 0);
    for line in &interval {
        let numbers: Vec<u64> = line
            .split(", ")
            .map(|part| part.split_once(": ").and_then(|(_, n)| n.parse().ok()))
            .collect::<Option<_>>()
            .unwrap_or_else(|| panic!("not a stats line: {line:?}"));
        let [accepted, open, closed] = numbers[..] else {
            panic!("not a stats line: {line:?}");
        };
        assert!(line.starts_with("Accepted: "), "{line:?}");
        assert_eq!(accepted, open + closed, "{line:?}");
        assert!(
            accepted >= previous.0 && closed >= previous.1,
            "{interval:?}"
        );
        previous = (accepted, closed);
    }
    let after = &interval[seen..];
    assert!(
        !after.is_empty() && after.iter().all(|l| l == AFTER),
        "{interval:?}"
    );
}

#[test]
fn close_after_closes_each_connection_with_a_fin() {
    let (_server, port) = start_server(&["-m", "0", "--close-after", "100ms", "-i", "0"]);
    let started = Instant::now();
    let mut stream = connect(&port);
    assert_eq!(read_to_end(&mut stream), (Vec::new(), Ok(())));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
        "closed after {waited:?}"
    );
}

#[test]
fn reset_closes_with_a_reset() {
    let (_server, port) = start_server(&["-m", "0", "--close-after", "10ms", "--reset"]);
    let mut stream = connect(&port);
    assert_eq!(
        read_to_end(&mut stream),
        (Vec::new(), Err(ErrorKind::ConnectionReset))
    );
}

#[test]
fn max_open_holds_that_many_and_turns_the_rest_away() {
    let started = Instant::now();
    let (server, port) =
        start_server(&["-m", "0", "-i", "0", "--max-open", "2", "--greeting", "hi"]);
    // A held connection is greeted; one turned away is closed before it could be.
    let greeted = |stream: &mut TcpStream| {
        let mut first = [0u8; 1];
        match stream.read(&mut first) {
            Ok(1) => true,
            Ok(_) => false,
            Err(e) => panic!("reading from the server: {e}"),
        }
    };
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(&port)).collect();
    for stream in &mut held {
        assert!(greeted(stream));
    }
    let mut third = connect(&port);
    assert_eq!(read_to_end(&mut third), (Vec::new(), Ok(())));
    // A place frees up once the server has read a held connection's FIN; until then a new
    // connection is turned away too.
    drop(held.remove(0));
    let mut turned_away = 1;
    loop {
        let mut next = connect(&port);
        if greeted(&mut next) {
            held.push(next);
            break;
        }
        turned_away += 1;
        assert!(started.elapsed() < Duration::from_secs(5), "no place freed");
    }
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some(
            format!(
                "Accepted: {}, Open: 2, Closed: {}, Turned away: {turned_away}",
                3 + turned_away,
                1 + turned_away
            )
            .as_str()
        ),
        "{out:?}"
    );
}

#[test]
fn max_open_with_reset_turns_the_rest_away_with_a_reset() {
    let (_server, port) = start_server(&["-m", "0", "-i", "0", "--max-open", "1", "--reset"]);
    let _held = connect(&port);
    let mut second = connect(&port);
    assert_eq!(
        read_to_end(&mut second),
        (Vec::new(), Err(ErrorKind::ConnectionReset))
    );
}

#[test]
fn greeting_is_written_to_each_connection() {
    let (_server, port) =
        start_server(&["-m", "0", "--greeting", "hello", "--close-after", "50ms"]);
    for _ in 0..3 {
        let mut stream = connect(&port);
        assert_eq!(read_to_end(&mut stream), (b"hello".to_vec(), Ok(())));
    }
}

#[test]
fn bind_failures_exit_64_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let cases: &[&[&str]] = &[
        &["server", "-p", &taken_port],
        &["server", "-b", "not-an-address"],
        &["server", "-b", "300.1.1.1"],
        &["server", "-b", "192.0.2.1"],
        &["server", "--bogus"],
        &["server", "-p", "65536"],
    ];
    for args in cases {
        common::run_bad_input(args);
    }
    let out = run(&["server", "-p", &taken_port]);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{taken_port}")),
        "{}",
        out.stderr
    );
}

#[test]
fn listening_on_every_address_warns_that_other_machines_can_reach_it() {
    for bind in ["0.0.0.0", "::"] {
        let started = Instant::now();
        // Stopped by a signal: the test sends nothing to the port, from anywhere.
        let (server, port) = start_server(&["-b", bind, "-i", "0"]);
        signal(&server, libc::SIGTERM);
        let out = finish(server, started, Duration::from_secs(10));
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{bind}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("tcpgoon: warning: listening on "),
            "{bind}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!(
                ": port {port} takes connections from other machines"
            )),
            "{bind}: {}",
            out.stderr
        );
    }
    let started = Instant::now();
    let (server, _port) = start_server(&["-i", "0"]);
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
}

#[test]
fn a_stdout_it_cannot_write_to_exits_1_with_a_message() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    // Were the failure ignored, it would serve for its 2 s and exit 0.
    let out = std::process::Command::new(common::BIN)
        .args(["server", "-p", "0", "-d", "2s", "-i", "0"])
        .stdout(full)
        .output()
        .expect("run tcpgoon server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "tcpgoon: cannot write to stdout: No space left on device (os error 28)\n"
    );
}

#[test]
fn a_closed_stdout_does_not_stop_it() {
    let started = Instant::now();
    let (mut server, _port) = start_server(&["-i", "20ms"]);
    // Nobody reads the stats lines any more: each write fails with EPIPE.
    drop(server.0.stdout.take());
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.0.try_wait().unwrap().is_none(), "the server stopped");
    signal(&server, libc::SIGTERM);
    let status = server.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "after {:?}", started.elapsed());
}

#[test]
fn it_listens_on_ipv6_loopback_when_asked() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let started = Instant::now();
    let mut guard = common::spawn(&["server", "-p", "0", "-b", "::1", "-m", "1", "-i", "0"]);
    let mut stdout = guard.0.stdout.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    guard.0.stdout = Some(stdout);
    let first = String::from_utf8(first).unwrap();
    let port = first
        .strip_prefix("listening on [::1]:")
        .unwrap_or_else(|| panic!("{first}"));
    TcpStream::connect(format!("[::1]:{port}")).unwrap();
    let out = finish(guard, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().last(),
        Some("stopping: 1 connection accepted (--maxconnections 1)")
    );
}

#[test]
fn greeting_takes_escapes() {
    let (_server, port) = start_server(&[
        "-m",
        "0",
        "-i",
        "0",
        "--greeting",
        r"+OK\r\n\x00\\",
        "--close-after",
        "50ms",
    ]);
    let mut stream = connect(&port);
    assert_eq!(read_to_end(&mut stream), (b"+OK\r\n\0\\".to_vec(), Ok(())));
}

#[test]
fn a_bad_escape_exits_64_with_one_line() {
    for greeting in [r"a\qb", r"\x4", "ends\\"] {
        common::run_bad_input(&["server", "--greeting", greeting]);
    }
    let out = common::run_bad_input(&["server", "--greeting", r"a\qb"]);
    assert!(
        out.stderr.contains(r"'\q' is not an escape"),
        "{}",
        out.stderr
    );
}

#[test]
fn accept_limit_accepts_that_many_and_leaves_the_rest_queued() {
    let started = Instant::now();
    let (server, port) = start_server(&[
        "-i",
        "0",
        "--accept-limit",
        "40",
        "--backlog",
        "128",
        "--greeting",
        "hi",
    ]);
    // Every connect returns: the kernel completes the handshakes, accepted or not.
    let mut streams: Vec<TcpStream> = (0..60).map(|_| connect(&port)).collect();
    for stream in &streams {
        stream.set_nonblocking(true).unwrap();
    }
    // The greeting shows which were accepted. Wait for 40, then give the rest a while.
    let mut greeted = vec![false; streams.len()];
    let mut enough_at: Option<Instant> = None;
    loop {
        for (stream, greeted) in streams.iter_mut().zip(&mut greeted) {
            let mut two = [0u8; 2];
            match stream.read(&mut two) {
                Ok(2) if !*greeted => *greeted = true,
                Ok(n) => panic!("{n} bytes: {two:?}, greeted before: {greeted}"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading from the server: {e}"),
            }
        }
        let count = greeted.iter().filter(|g| **g).count();
        if count >= 40 && enough_at.is_none() {
            enough_at = Some(Instant::now());
        }
        if enough_at.is_some_and(|at| at.elapsed() > Duration::from_millis(300)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {count} greeted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(greeted.iter().filter(|g| **g).count(), 40);
    // Accepted in the order they queued: the first 40.
    assert!(greeted[..40].iter().all(|g| *g), "{greeted:?}");
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "Accepted: 40, Open: 40, Closed: 0, Queued: 20",
            "stopping: interrupted by SIGTERM"
        ],
        "{out:?}"
    );
    drop(streams);
}

#[test]
fn no_accept_counts_the_queue() {
    let started = Instant::now();
    let (server, port) = start_server(&["-i", "0", "--no-accept", "--backlog", "8"]);
    let _streams: Vec<TcpStream> = (0..3).map(|_| connect(&port)).collect();
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some("Accepted: 0, Open: 0, Closed: 0, Queued: 3"),
        "{out:?}"
    );
}

#[test]
fn accept_limit_and_no_accept_exit_64_with_one_line() {
    let cases: &[&[&str]] = &[
        &["server", "--accept-limit", "-1"],
        &["server", "--accept-limit", "4", "-m", "10"],
        &["server", "--accept-limit", "4", "--no-accept"],
    ];
    for args in cases {
        common::run_bad_input(args);
    }
}

/// Whether `stream` has bytes to read within `wait`: `Some(bytes)` read so far (up to
/// `want`), `None` when nothing came.
fn read_within(stream: &mut TcpStream, want: usize, wait: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut data = vec![0u8; want];
    let mut got = 0;
    while got < want {
        match stream.read(&mut data[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("reading from the server: {e}"),
        }
    }
    (got > 0).then(|| data[..got].to_vec())
}

/// The most the kernel can hold of one direction of a loopback connection, in the
/// receiver's and the sender's buffers, from their autotuning limits.
fn kernel_buffers_limit() -> usize {
    let max = |name: &str| -> usize {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .ok()
            .and_then(|text| text.split_whitespace().last()?.parse().ok())
            .unwrap_or(16 << 20)
    };
    max("tcp_rmem") + max("tcp_wmem")
}

#[test]
fn echo_writes_back_everything_without_holding_up_the_others() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let started = Instant::now();
    let (server, port) = start_server(&["-m", "0", "-i", "0", "--echo"]);
    // Small buffers on the test's side, so what the kernel can hold is the server's share:
    // more than that, and the writer can only finish if the server keeps reading while its
    // echo waits to be read, holding it all.
    let size = kernel_buffers_limit() + (1 << 20);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut big = TcpStream::from(socket);
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let pattern = |i: usize| (i % 251) as u8;
    let written = Arc::new(AtomicUsize::new(0));
    let writer = std::thread::spawn({
        let mut stream = big.try_clone().unwrap();
        let written = written.clone();
        move || {
            let chunk: Vec<u8> = (0..size).map(pattern).collect();
            for piece in chunk.chunks(64 * 1024) {
                stream.write_all(piece).unwrap();
                written.fetch_add(piece.len(), Ordering::SeqCst);
            }
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
    });
    // Unread, the echo backs up until the writer stops: the server has stopped reading.
    let mut last = (0, Instant::now());
    while last.1.elapsed() < Duration::from_millis(300) {
        std::thread::sleep(Duration::from_millis(20));
        let now = written.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{last:?}");
    }
    assert!(
        last.0 < size,
        "all {size} bytes were taken while nothing read their echo"
    );
    // Meanwhile another connection is served at once.
    let mut other = connect(&port);
    other.write_all(b"ping").unwrap();
    assert_eq!(
        read_within(&mut other, 4, Duration::from_secs(5)).as_deref(),
        Some(&b"ping"[..])
    );
    // Read slowly: every byte comes back, in order, and then the server closes.
    let mut echoed = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = big.read(&mut buf).expect("read the echo");
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, pattern(echoed + i), "byte {}", echoed + i);
        }
        echoed += n;
        std::thread::sleep(Duration::from_micros(500));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{echoed} echoed"
        );
    }
    assert_eq!(echoed, size);
    writer.join().expect("writer");
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some("Accepted: 2, Open: 1, Closed: 1"),
        "{out:?}"
    );
}

#[test]
fn reject_after_writes_its_text_to_each_beyond_the_k_open_and_closes_it() {
    let started = Instant::now();
    let (server, port) =
        start_server(&["-m", "0", "-i", "0", "--reject-after", "2", r"-ERR max\r\n"]);
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect(&port)).collect();
    let mut third = connect(&port);
    assert_eq!(read_to_end(&mut third), (b"-ERR max\r\n".to_vec(), Ok(())));
    for stream in &mut held {
        assert_eq!(read_within(stream, 1, Duration::from_millis(200)), None);
    }
    // Open at once, as redis-server's maxclients: a place frees up once the server has read
    // a held connection's FIN; until then a new connection is turned away too.
    drop(held.remove(0));
    let mut turned_away = 1;
    loop {
        let mut next = connect(&port);
        match read_within(&mut next, 10, Duration::from_millis(200)) {
            None => {
                held.push(next);
                break;
            }
            Some(text) => assert_eq!(text, b"-ERR max\r\n"),
        }
        turned_away += 1;
        assert!(started.elapsed() < Duration::from_secs(5), "no place freed");
    }
    signal(&server, libc::SIGTERM);
    let out = finish(server, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.lines().next(),
        Some(
            format!(
                "Accepted: {}, Open: 2, Closed: {}, Turned away: {turned_away}",
                3 + turned_away,
                1 + turned_away
            )
            .as_str()
        ),
        "{out:?}"
    );
}

#[test]
fn echo_and_reject_after_refuse_bad_input_with_one_line() {
    let cases: &[&[&str]] = &[
        &["server", "--reject-after", "2", r"\x4"],
        &["server", "--reject-after", "2"],
        &["server", "--reject-after", "two", "x"],
        &["server", "--echo", "--no-accept"],
        &["server", "--reject-after", "2", "x", "--no-accept"],
        &["server", "--reject-after", "2", "x", "--max-open", "2"],
        &["server", "--reject-after", "2", "x", "--reset"],
    ];
    for args in cases {
        common::run_bad_input(args);
    }
}

/// A stdout nobody reads holds up neither accepting nor serving: the stats lines it does
/// not take are dropped and counted, the `listening on` line is not, and comes first.
#[test]
fn a_stdout_nobody_reads_stops_neither_accepting_nor_serving() {
    use std::process::{Command, Stdio};
    const PORT: &str = "45454";
    let checked = common::in_private_net(|| {
        let (pipe, stdout) = common::full_pipe();
        let started = Instant::now();
        let server = common::Guard(
            Command::new(common::BIN)
                .args(["server", "-p", PORT, "-m", "0", "-d", "30s", "-i", "10ms"])
                .args(["--greeting", "hi"])
                .stdin(Stdio::null())
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::piped())
                .spawn()
                .expect("start tcpgoon server"),
        );
        // Its first line is in the pipe, behind what fills it, so the port is a fixed one
        // (safe in a network namespace of the test's own) and a connect says it listens.
        common::wait_for("the server to listen", || {
            TcpStream::connect(format!("127.0.0.1:{PORT}")).is_ok()
        });
        let before = common::unread(&pipe);
        // Each connection served only when the server's loop accepts it and greets it; the
        // hold spans some 300 stats intervals.
        let run = run(&[
            "run",
            "127.0.0.1",
            PORT,
            "-c",
            "50",
            "-s",
            "1ms",
            "--hold",
            "3s",
            "-i",
            "0",
            "--probe",
            "greeting",
            "--probe-timeout",
            "2s",
            "-y",
        ]);
        assert_eq!(run.code, Some(0), "{run:?}");
        let counts = run.final_counts();
        assert_eq!((counts.total, counts.established), (50, 50), "{run:?}");
        // Nothing was read, so nothing more could go into the pipe.
        assert_eq!(common::unread(&pipe), before);
        signal(&server, libc::SIGTERM);
        let mut pipe = std::fs::File::from(pipe);
        let mut written = Vec::new();
        pipe.read_to_end(&mut written).unwrap();
        // Its stdout is closed, so it has exited, or is about to.
        let mut server = server;
        let mut stderr = String::new();
        server
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = server.0.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(30));
        let out = (status.code(), stderr);
        assert_eq!(out.0, Some(0), "{out:?}");
        assert!(written[..before].iter().all(|&b| b == b'x'));
        let written = String::from_utf8(written[before..].to_vec()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(
            lines[0],
            format!("listening on 127.0.0.1:{PORT}"),
            "{written}"
        );
        assert_eq!(
            lines[lines.len() - 2..],
            [
                "Accepted: 51, Open: 0, Closed: 51",
                "stopping: interrupted by SIGTERM"
            ],
            "{written}"
        );
        let interval_lines = lines[1..lines.len() - 2].len() as u64;
        assert!(
            lines[1..lines.len() - 2]
                .iter()
                .all(|l| l.starts_with("Accepted: ")),
            "{written}"
        );
        // `tcpgoon: stats lines dropped: D of T (stdout was not read as fast as they came)`
        let (dropped, of) = out
            .1
            .lines()
            .find_map(|l| l.strip_prefix("tcpgoon: stats lines dropped: "))
            .and_then(|rest| rest.split_once(" (stdout was not read"))
            .and_then(|(numbers, _)| numbers.split_once(" of "))
            .map(|(d, t)| (d.parse::<u64>().unwrap(), t.parse::<u64>().unwrap()))
            .unwrap_or_else(|| panic!("no count of dropped lines: {out:?}"));
        assert!(dropped > 0, "{out:?}");
        assert_eq!(interval_lines + dropped, of, "{written}\n{}", out.1);
    });
    if checked.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this test");
    }
}
