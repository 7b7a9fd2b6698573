//! A randomized fault test. A server in this process picks a behaviour for each connection
//! it accepts (hold, close after a while, reset, send bytes and hold) and now and then stops
//! accepting for a while so its small backlog fills and attempts time out. The real client
//! runs against it with random options (pace, timeout, interval, hold, reconnect). Whatever
//! happens, the client's JSON summary must
//! account for every attempt exactly once, its exit status must agree with its counts, it
//! must exit promptly, and once it has exited the server must see every connection it
//! accepted closed: nothing leaked, nothing left half-open.
//!
//! Then hostile servers (below): every probe kind, plain and over TLS, against a server that
//! answers the probe, or a heartbeat, with garbage, an endless reply, the right answer a
//! byte a second, or the right answer and a reset; each run bounded in time and in address
//! space, its counts, exit status and named loss checked.
//!
//! The seed is printed; `TCPGOON_SEED=<n> cargo test --test random_faults` replays a run,
//! and `TCPGOON_CASE=<words>` (`"Http Endless"`) runs only the hostile cases so named.

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use serde_json::Value;

use common::args;

/// xorshift64*: small, seedable, good enough to pick behaviours.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

enum Behaviour {
    Hold,
    CloseAfter(Duration),
    ResetAfter(Duration),
    SendThenHold(usize),
}

struct Held {
    stream: TcpStream,
    close_at: Option<(Instant, bool)>,
}

/// What the server saw, once the client had exited and the server drained.
#[derive(Debug)]
struct ServerTally {
    accepted: u64,
    closed_by_server: u64,
    closed_by_client: u64,
    still_open: u64,
}

const LISTENER: Token = Token(usize::MAX);

fn serve(
    listener: std::net::TcpListener,
    seed: u64,
    client_done: Arc<AtomicBool>,
    tally: mpsc::Sender<ServerTally>,
) {
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut poll = Poll::new().unwrap();
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(256);
    let mut held: HashMap<usize, Held> = HashMap::new();
    let mut next_key = 0;
    let mut t = ServerTally {
        accepted: 0,
        closed_by_server: 0,
        closed_by_client: 0,
        still_open: 0,
    };
    let mut paused_until = Instant::now();
    let mut next_pause = Instant::now() + rng.millis(50, 400);
    let mut drain_deadline = None;
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        let done = client_done.load(Ordering::SeqCst);
        if done && drain_deadline.is_none() {
            drain_deadline = Some(now + Duration::from_secs(3));
            paused_until = now;
        }
        if let Some(deadline) = drain_deadline
            && (held.is_empty() && now > paused_until + Duration::from_millis(200)
                || now > deadline)
        {
            break;
        }
        if !done && now >= next_pause {
            // A burst of not accepting: the backlog fills, later SYNs are dropped.
            paused_until = now + rng.millis(50, 300);
            next_pause = paused_until + rng.millis(100, 500);
        }
        // Accept whenever not paused (the listener is edge-triggered, so try every turn).
        while Instant::now() >= paused_until {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    t.accepted += 1;
                    let key = next_key;
                    next_key += 1;
                    poll.registry()
                        .register(&mut stream, Token(key), Interest::READABLE)
                        .unwrap();
                    let behaviour = match rng.below(4) {
                        0 => Behaviour::Hold,
                        1 => Behaviour::CloseAfter(rng.millis(0, 300)),
                        2 => Behaviour::ResetAfter(rng.millis(0, 300)),
                        _ => Behaviour::SendThenHold(1 + rng.below(4096) as usize),
                    };
                    let close_at = match behaviour {
                        Behaviour::Hold => None,
                        Behaviour::CloseAfter(d) => Some((now + d, false)),
                        Behaviour::ResetAfter(d) => Some((now + d, true)),
                        Behaviour::SendThenHold(n) => {
                            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                            let _ = stream.write(&bytes);
                            None
                        }
                    };
                    held.insert(key, Held { stream, close_at });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("accept failed: {e}"),
            }
        }
        let due: Vec<usize> = held
            .iter()
            .filter(|(_, h)| h.close_at.is_some_and(|(at, _)| at <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let h = held.remove(&key).unwrap();
            if h.close_at.is_some_and(|(_, reset)| reset) {
                socket2::SockRef::from(&h.stream)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            t.closed_by_server += 1;
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        for event in events.iter() {
            if event.token() == LISTENER {
                continue;
            }
            let key = event.token().0;
            let Some(h) = held.get_mut(&key) else {
                continue;
            };
            let closed = loop {
                match h.stream.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break true,
                }
            };
            if closed {
                held.remove(&key);
                t.closed_by_client += 1;
            }
        }
    }
    t.still_open = held.len() as u64;
    tally.send(t).unwrap();
}

fn one_round(seed: u64) {
    let mut rng = Rng(seed);
    let backlog = 2 + rng.below(14) as i32;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    socket.listen(backlog).unwrap();
    socket.set_nonblocking(true).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port().to_string();

    let connections = 20 + rng.below(281);
    let sleep_ms = [0, 0, 1, 2][rng.below(4) as usize];
    let timeout_ms = 100 + rng.below(301);
    let interval = ["0", "100ms", "250ms"][rng.below(3) as usize];
    let hold_ms = [0, 0, 100, 300][rng.below(4) as usize];
    let reconnect = rng.below(3) == 0;
    let mut args: Vec<String> = ["run", "127.0.0.1", &port, "-c", &connections.to_string()]
        .map(String::from)
        .to_vec();
    args.extend([
        "-s".into(),
        format!("{sleep_ms}ms"),
        "-t".into(),
        format!("{timeout_ms}ms"),
    ]);
    args.extend(["-i", interval, "-y", "--json"].map(String::from));
    if hold_ms > 0 {
        args.extend(["--hold".into(), format!("{hold_ms}ms")]);
    }
    if reconnect {
        args.push("--reconnect".into());
    }
    eprintln!("seed {seed}: backlog {backlog}, tcpgoon {}", args.join(" "));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let client_done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let server = {
        let done = client_done.clone();
        std::thread::spawn(move || serve(listener, seed, done, tx))
    };
    let out = common::run(&args);
    client_done.store(true, Ordering::SeqCst);
    let tally = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server tally");
    server.join().unwrap();
    eprintln!("seed {seed}: exit {:?}, server {tally:?}", out.code);

    let summary: Value = serde_json::from_str(out.stdout.lines().last().expect("a summary line"))
        .unwrap_or_else(|e| panic!("seed {seed}: summary is not JSON ({e}): {}", out.stdout));
    let count = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("seed {seed}: not a count: {v}"))
    };
    let counts = &summary["counts"];
    let [total, not_initiated, dialing, established, closed, error] = [
        "total",
        "not_initiated",
        "dialing",
        "established",
        "closed",
        "error",
    ]
    .map(|k| count(&counts[k]));

    // Every attempt is in exactly one final state, and the counts add up to -c plus the
    // replacements --reconnect made.
    let reconnects = count(&summary["reconnects"]);
    if !reconnect {
        assert_eq!(reconnects, 0, "seed {seed}");
    }
    assert_eq!(total, connections + reconnects, "seed {seed}: {counts}");
    assert_eq!((not_initiated, dialing), (0, 0), "seed {seed}: {counts}");
    assert_eq!(established + closed + error, total, "seed {seed}: {counts}");
    let failures: u64 = summary["failures"]
        .as_object()
        .unwrap()
        .values()
        .map(count)
        .sum();
    let closures: u64 = summary["closures"]
        .as_object()
        .unwrap()
        .values()
        .map(count)
        .sum();
    assert_eq!(failures, error, "seed {seed}: {summary}");
    assert_eq!(closures, closed, "seed {seed}: {summary}");
    assert_eq!(
        count(&summary["connect_latency_us"]["count"]),
        established + closed,
        "seed {seed}"
    );
    assert_eq!(
        count(&summary["time_to_error_us"]["count"]),
        error,
        "seed {seed}"
    );

    // The exit status agrees with the counts, and with what the summary says it is.
    let expected = if error + closed > 0 { 2 } else { 0 };
    assert_eq!(
        out.code,
        Some(expected),
        "seed {seed}: {counts}\n{}",
        out.stderr
    );
    assert_eq!(
        count(&summary["exit_status"]),
        expected as u64,
        "seed {seed}"
    );

    // The run ends within the dial timeout (plus a margin for a busy machine) of the
    // last attempt.
    // A replacement can start at the very end of the hold and take the whole timeout.
    let schedule = Duration::from_millis(sleep_ms * (connections - 1));
    let limit = schedule
        + Duration::from_millis(timeout_ms * if reconnect { 2 } else { 1 })
        + Duration::from_millis(hold_ms)
        + Duration::from_millis(500);
    let wall = Duration::from_micros(count(&summary["wall_time_us"]));
    assert!(
        wall <= limit,
        "seed {seed}: loop ran {wall:?}, limit {limit:?}"
    );
    assert!(
        out.elapsed <= limit + Duration::from_secs(1),
        "seed {seed}: process ran {:?}",
        out.elapsed
    );

    // Once the client is gone, the server has seen every connection it accepted closed.
    assert_eq!(tally.still_open, 0, "seed {seed}: {tally:?}");
    assert_eq!(
        tally.accepted,
        tally.closed_by_server + tally.closed_by_client,
        "seed {seed}: {tally:?}"
    );
    // (The server can accept one more connection than the client saw established: a
    // handshake that completes in the instant between the client's last look at a
    // timed-out attempt and its close. So that comparison cannot be exact.)
    assert!(
        closed <= tally.closed_by_server,
        "seed {seed}: {tally:?} vs {counts}"
    );
}

#[test]
fn random_faults_never_lose_a_connection() {
    let seed = std::env::var("TCPGOON_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("random_faults seed: {seed} (replay with TCPGOON_SEED={seed})");
    let mut seeds = Rng(seed);
    for _ in 0..4 {
        one_round(seeds.next() | 1);
    }
}

// Hostile servers: for every probe kind, a server that answers each connection with
// garbage, an endless reply, the right answer a byte a second (slower than the probe's
// timeout, or within it), or the right answer and then a reset; and the same in answer to
// a heartbeat, the probe answered right. Each run is judged through the real binary's
// report: it ends in time, every attempt has one final state, its exit status is 0 only
// where the answer was right and the connection held, and the loss is named for what the
// server did. Each runs under an address-space limit, so a reply that grew the client's
// memory would kill it.

/// The probes `run --help` lists, and one of our own (`--send`/`--expect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Redis,
    Memcached,
    Http,
    Postgres,
    Ssh,
    Smtp,
    Greeting,
    Custom,
    Mqtt,
}

const KINDS: [Kind; 9] = [
    Kind::Redis,
    Kind::Memcached,
    Kind::Http,
    Kind::Postgres,
    Kind::Ssh,
    Kind::Smtp,
    Kind::Greeting,
    Kind::Custom,
    Kind::Mqtt,
];

impl Kind {
    fn args(self) -> Vec<String> {
        let name = match self {
            Kind::Redis => "redis",
            Kind::Memcached => "memcached",
            Kind::Http => "http",
            Kind::Postgres => "postgres",
            Kind::Ssh => "ssh",
            Kind::Smtp => "smtp",
            Kind::Greeting => "greeting",
            Kind::Mqtt => "mqtt",
            Kind::Custom => {
                return ["--send", "HELLO\\r\\n", "--expect", "WORLD"]
                    .map(String::from)
                    .to_vec();
            }
        };
        vec!["--probe".into(), name.into()]
    }

    /// The server speaks first: nothing to send, so no heartbeat either.
    fn speaks_first(self) -> bool {
        matches!(self, Kind::Ssh | Kind::Smtp | Kind::Greeting)
    }

    /// Whether `got` is a whole request: the probe's, or a beat's.
    fn whole_request(self, got: &[u8], beat: bool) -> bool {
        match self {
            Kind::Http => got.ends_with(b"\r\n\r\n"),
            // A startup message is its length first; a beat's empty query a `Q` before it.
            Kind::Postgres => {
                let at = usize::from(beat);
                got.len() >= at + 4
                    && got.len()
                        >= at + u32::from_be_bytes(got[at..at + 4].try_into().unwrap()) as usize
            }
            // A CONNECT (its remaining length one byte: under 128), or a PINGREQ.
            Kind::Mqtt => got.len() >= 2 && got.len() >= 2 + usize::from(got[1]),
            _ => got.ends_with(b"\n"),
        }
    }

    /// The right answer to the probe, or to a beat.
    fn answer(self, beat: bool) -> &'static [u8] {
        match (self, beat) {
            (Kind::Redis, _) => b"+PONG\r\n",
            (Kind::Memcached, _) => b"VERSION 1\r\n",
            (Kind::Http, _) => b"HTTP/1.1 200 OK\r\n\r\n",
            // An MD5 password request: the server took the connection.
            (Kind::Postgres, false) => &[b'R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4],
            // EmptyQueryResponse, ReadyForQuery.
            (Kind::Postgres, true) => &[b'I', 0, 0, 0, 4, b'Z', 0, 0, 0, 5, b'I'],
            (Kind::Ssh, _) => b"SSH-2.0-hostile\r\n",
            (Kind::Smtp, _) => b"220 hostile\r\n",
            (Kind::Greeting, _) => b"hi\r\n",
            (Kind::Custom, _) => b"WORLD\r\n",
            // CONNACK 0, PINGRESP.
            (Kind::Mqtt, false) => b"\x20\x02\x00\x00",
            (Kind::Mqtt, true) => b"\xd0\x00",
        }
    }

    /// How many bytes of the right answer it takes to judge it served (or a beat
    /// answered): the expected prefix, a status, a whole message or line.
    fn decided_after(self, beat: bool) -> usize {
        match (self, beat) {
            (Kind::Redis, false) => 5,
            (Kind::Memcached, false) => 7,
            (Kind::Http, false) => 12,
            (Kind::Ssh, _) => 4,
            (Kind::Smtp, _) => 3,
            (Kind::Greeting, _) => 1,
            (Kind::Custom, _) => 5,
            // A line to its end, a head to its blank line, messages to ReadyForQuery, an
            // MQTT packet whole.
            _ => self.answer(beat).len(),
        }
    }

    /// An endless reply: a head, then `filler` for ever. Right as far as the probe reads
    /// (but for PostgreSQL: notices without end, never the authentication request), and
    /// never whole for a heartbeat that reads to a line's end, a head's blank line or
    /// ReadyForQuery (MQTT: the CONNACK, then PUBLISH packets without end, never a
    /// PINGRESP).
    fn endless(self, beat: bool) -> (&'static [u8], &'static [u8]) {
        const PUBLISH: &[u8] = b"\x30\x05\x00\x01txx";
        match self {
            Kind::Mqtt if beat => (b"", PUBLISH),
            Kind::Mqtt => (b"\x20\x02\x00\x00", PUBLISH),
            Kind::Redis => (b"+PONG", b"G"),
            Kind::Memcached => (b"VERSION ", b"1"),
            Kind::Http => (b"HTTP/1.1 200 OK\r\n", b"X-Hostile: y\r\n"),
            Kind::Postgres => (b"", &[b'N', 0, 0, 0, 8, b'S', b'x', 0, 0]),
            Kind::Ssh => (b"SSH-2.0-", b"x"),
            Kind::Smtp => (b"220 ", b"x"),
            Kind::Greeting => (b"", b"x"),
            Kind::Custom => (b"WORLD", b"x"),
        }
    }

    /// Whether a reply may begin with `byte` and still be read on: garbage starts with any
    /// other byte, so that it is garbage to the probe (a greeting takes any byte).
    fn may_begin(self, byte: u8, beat: bool) -> bool {
        match self {
            Kind::Greeting => true,
            // A notice may come at any time.
            Kind::Postgres => byte == self.answer(beat)[0] || byte == b'N',
            // Any packet type but the reserved 0 may begin a packet: garbage is not MQTT.
            Kind::Mqtt => byte >> 4 != 0,
            _ => byte == self.answer(beat)[0],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostility {
    Garbage,
    Endless,
    /// The right answer a byte a second, slower than the timeout that judges it.
    DribbleSlow,
    /// The right answer a byte a second, within the timeout.
    DribbleInTime,
    /// The right answer, then a reset.
    AnswerThenReset,
}

const HOSTILITIES: [Hostility; 5] = [
    Hostility::Garbage,
    Hostility::Endless,
    Hostility::DribbleSlow,
    Hostility::DribbleInTime,
    Hostility::AnswerThenReset,
];

/// One run against one hostile server.
#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    hostility: Hostility,
    /// Hostile to the heartbeats, the probe answered right; else to the probe.
    beat: bool,
    tls: bool,
    seed: u64,
}

/// A dribble's pace.
const DRIBBLE: Duration = Duration::from_secs(1);

impl Case {
    fn name(&self) -> String {
        format!(
            "{:?} {:?}{}{} (seed {})",
            self.kind,
            self.hostility,
            if self.beat { " to a heartbeat" } else { "" },
            if self.tls { " over TLS" } else { "" },
            self.seed
        )
    }

    /// The timeout that judges the hostile answer: the probe's, or the heartbeat's. A byte
    /// comes each second, the first a second after the request: a slow dribble's timeout
    /// ends half a second before the deciding byte (and at most 2.5 s in), one in time
    /// ends two seconds after it.
    fn timeout(&self) -> Duration {
        let decided = DRIBBLE * self.kind.decided_after(self.beat) as u32;
        match self.hostility {
            Hostility::DribbleSlow => {
                (decided - Duration::from_millis(500)).min(Duration::from_millis(2500))
            }
            Hostility::DribbleInTime => decided + Duration::from_secs(2),
            _ => Duration::from_millis(1500),
        }
    }

    /// Connections per run.
    const CONNECTIONS: u64 = 2;

    /// A hold, so the server's misbehaviour (a stream, a reset, a beat) meets a held
    /// connection; a heartbeat every second with it gives each connection one beat (due
    /// 1 s and 0.5 s in, by attempt).
    const HOLD: Duration = Duration::from_millis(1200);

    /// This case's hold: [`Case::HOLD`], or, for an endless reply with no beat, long
    /// enough that the run reads past the address-space limit even on a busy machine (the
    /// proof that it keeps nothing of what it reads).
    fn hold(&self) -> Duration {
        if self.hostility == Hostility::Endless && !self.beat {
            Duration::from_secs(4)
        } else {
            Case::HOLD
        }
    }

    fn args(&self, port: u16) -> Vec<String> {
        let mut args = args!(
            "run 127.0.0.1 {port} -c {} -s 10ms -y -i 0 --hold {}ms",
            Case::CONNECTIONS,
            self.hold().as_millis()
        );
        args.extend(self.kind.args());
        let timeout = format!("{}ms", self.timeout().as_millis());
        if self.beat {
            args.extend(args!(
                "--probe-timeout 2s --heartbeat 1s --heartbeat-timeout {timeout}"
            ));
        } else {
            args.extend(args!("--probe-timeout {timeout}"));
        }
        if self.tls {
            args.extend(args!("--tls --insecure"));
        }
        args
    }

    /// The longest the run may take: the hold, or the probe's timeout (or, to a
    /// heartbeat, the beat's due time and its timeout) when that is longer, and the time
    /// a busy machine may add.
    fn time_bound(&self) -> Duration {
        let judged = if self.beat {
            DRIBBLE + self.timeout()
        } else {
            self.timeout()
        };
        judged.max(self.hold()) + Duration::from_secs(3)
    }
}

/// A connection of the hostile server: plain, or TLS over it.
enum Wire {
    Plain(std::net::TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>>),
}

impl Wire {
    fn tcp(&self) -> &std::net::TcpStream {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(s) => &s.sock,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// A self-signed server configuration for the TLS cases (the client runs `--insecure`).
fn tls_config() -> Arc<rustls::ServerConfig> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .unwrap();
    Arc::new(config)
}

/// A hostile server on an ephemeral loopback port, a thread per connection, until dropped.
/// A connection's thread ends when the client's side is gone (a read finds the end, a
/// write fails).
struct HostileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostileServer {
    fn start(case: Case, tls: Option<Arc<rustls::ServerConfig>>) -> HostileServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut n: u64 = 0;
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).unwrap();
                            let wire = match &tls {
                                Some(config) => Wire::Tls(Box::new(rustls::StreamOwned::new(
                                    rustls::ServerConnection::new(config.clone()).unwrap(),
                                    stream,
                                ))),
                                None => Wire::Plain(stream),
                            };
                            n += 1;
                            let rng = Rng((case.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
                            std::thread::spawn(move || {
                                let _ = hostile_connection(wire, case, rng);
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            }
        });
        HostileServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one whole request, the probe's or a beat's.
fn read_request(wire: &mut Wire, kind: Kind, beat: bool) -> std::io::Result<()> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !kind.whole_request(&got, beat) {
        match wire.read(&mut buf)? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(())
}

/// Reads and discards until the client is gone.
fn hold(wire: &mut Wire) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while wire.read(&mut buf)? > 0 {}
    Ok(())
}

/// One connection: the probe's request (unless the server speaks first) answered with
/// hostility, or answered right and each beat's with hostility.
fn hostile_connection(mut wire: Wire, case: Case, mut rng: Rng) -> std::io::Result<()> {
    let kind = case.kind;
    if let Wire::Tls(tls) = &mut wire {
        // The handshake first: the hostility is in what comes over it.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
    }
    if !kind.speaks_first() {
        read_request(&mut wire, kind, false)?;
    }
    if !case.beat {
        return misbehave(&mut wire, case, &mut rng);
    }
    wire.write_all(kind.answer(false))?;
    wire.flush()?;
    loop {
        read_request(&mut wire, kind, true)?;
        misbehave(&mut wire, case, &mut rng)?;
    }
}

/// Answers one request as `case` has it; returns when the next request may be read.
fn misbehave(wire: &mut Wire, case: Case, rng: &mut Rng) -> std::io::Result<()> {
    let kind = case.kind;
    match case.hostility {
        Hostility::Garbage => {
            let len = 1 + rng.below(512) as usize;
            let mut garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            while kind.may_begin(garbage[0], case.beat) && kind != Kind::Greeting {
                garbage[0] = rng.next() as u8;
            }
            wire.write_all(&garbage)?;
            wire.flush()?;
            hold(wire)
        }
        Hostility::Endless => {
            let (head, filler) = kind.endless(case.beat);
            wire.write_all(head)?;
            // Whole fillers: a PostgreSQL notice cut short would be garbage.
            let whole = filler.len() * (64 * 1024 / filler.len());
            let stream: Vec<u8> = filler.iter().copied().cycle().take(whole).collect();
            loop {
                wire.write_all(&stream)?;
            }
        }
        Hostility::DribbleSlow | Hostility::DribbleInTime => {
            for byte in kind.answer(case.beat) {
                std::thread::sleep(DRIBBLE);
                wire.write_all(std::slice::from_ref(byte))?;
                wire.flush()?;
            }
            if case.beat { Ok(()) } else { hold(wire) }
        }
        Hostility::AnswerThenReset => {
            wire.write_all(kind.answer(case.beat))?;
            wire.flush()?;
            // Now and then at once, else a moment after.
            std::thread::sleep(rng.millis(0, 100));
            socket2::SockRef::from(wire.tcp()).set_linger(Some(Duration::ZERO))?;
            Err(ErrorKind::ConnectionReset.into())
        }
    }
}

/// Cases run at once.
const PARALLEL: usize = 16;

/// The address space a run may have (`prlimit --as`): twice what it needs (a run here,
/// over TLS and beating, runs in 16 MiB), far less than an endless reply it kept would
/// take (each endless case checks it read more than this).
const ADDRESS_SPACE: u64 = 32 << 20;

/// Runs `case` against its hostile server, under the address-space limit, and judges what
/// the binary reports.
fn hostile_round(case: Case, tls: Option<Arc<rustls::ServerConfig>>) {
    let name = case.name();
    let server = HostileServer::start(case, tls);
    let args = case.args(server.port);
    let started = Instant::now();
    let child = std::process::Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg(common::BIN)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start prlimit tcpgoon");
    let bound = case.time_bound();
    let out = common::finish(
        common::Guard(child),
        started,
        bound + Duration::from_secs(10),
    );
    drop(server);
    let context = format!(
        "{name}: tcpgoon {}\n{}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    assert!(
        out.elapsed <= bound,
        "{context}\nran {:?}, bound {bound:?}",
        out.elapsed
    );
    assert!(!out.stderr.contains("panicked"), "{context}");
    assert!(
        out.code.is_some(),
        "{context}\nkilled by a signal: out of memory under the limit?"
    );

    // Every attempt was established (the server accepts them all) and ended in one state;
    // each established connection has one probe outcome.
    let n = Case::CONNECTIONS;
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{context}");
    assert_eq!(counts.total, n, "{context}");
    assert_eq!(counts.established + counts.closed, n, "{context}");
    out.probe_adds_up();
    let [served, rejected, unserved, closed_first] = out.probe_counts();

    // What the run should have found, and so its exit status and the loss it names.
    let expect_served = |served_n: u64| assert_eq!(served, served_n, "{context}");
    let mut expected_exit = 2;
    let verdict = out.verdict().to_string();
    let names = |what: &str| {
        assert!(
            verdict.contains(what),
            "{context}\nverdict names no {what:?}"
        )
    };
    if case.beat {
        expect_served(n);
        let line = out.line("Heartbeats: ");
        let [_, sent, answered, _, stopped] = out.beat_counts();
        let of = |label: &str| number_after(line, label);
        match case.hostility {
            Hostility::Garbage => assert_eq!(of("wrong answer"), n, "{context}"),
            Hostility::Endless if case.kind == Kind::Custom => {
                // Its prefix answers the beat; what streams after is never read as an
                // answer (no second beat is due before the hold ends).
                assert_eq!(answered, sent, "{context}");
                expected_exit = 0;
            }
            Hostility::Endless | Hostility::DribbleSlow => {
                assert_eq!(of("no answer in time"), n, "{context}");
            }
            Hostility::DribbleInTime => {
                assert_eq!((answered, stopped), (n, 0), "{context}");
                expected_exit = 0;
            }
            Hostility::AnswerThenReset => {
                // Answered, then reset with no beat out.
                assert_eq!((answered, stopped), (n, 0), "{context}");
                assert_eq!(counts.closed, n, "{context}");
                assert_eq!(out.closures("reset by peer"), n, "{context}");
                names("reset by the server");
            }
        }
        if stopped > 0 {
            assert_eq!(stopped, n, "{context}");
            names("stopped answering heartbeats");
        }
    } else {
        match case.hostility {
            Hostility::Garbage if case.kind == Kind::Greeting => {
                // Any byte is a greeting.
                expect_served(n);
                expected_exit = 0;
            }
            Hostility::Garbage => {
                assert_eq!(rejected, n, "{context}");
                names("rejected by the application");
            }
            Hostility::Endless if case.kind == Kind::Postgres => {
                assert_eq!(unserved, n, "{context}");
                names("not served");
            }
            Hostility::Endless => {
                // The reply begins right: served, and what streams after is discarded.
                expect_served(n);
                expected_exit = 0;
            }
            Hostility::DribbleSlow => {
                assert_eq!(unserved, n, "{context}");
                names("not served");
            }
            Hostility::DribbleInTime => {
                expect_served(n);
                expected_exit = 0;
            }
            Hostility::AnswerThenReset => {
                // Reset at once, the answer may be lost with the connection.
                assert_eq!(served + closed_first, n, "{context}");
                assert_eq!(counts.closed, n, "{context}");
                assert_eq!(out.closures("reset by peer"), n, "{context}");
                names("reset by the server");
            }
        }
    }
    assert_eq!(out.code, Some(expected_exit), "{context}");
    let received: u64 = out.line("Bytes received: ")["Bytes received: ".len()..]
        .parse()
        .unwrap_or_else(|_| panic!("{context}\nno byte count"));
    eprintln!(
        "{name}: exit {expected_exit} in {:?}, {received} bytes received",
        out.elapsed
    );
    if case.hostility == Hostility::Endless {
        // Had it kept what it read, the address-space limit would have killed it.
        assert!(
            received > ADDRESS_SPACE,
            "{context}\nonly {received} bytes read"
        );
    }
    if expected_exit == 0 {
        assert!(verdict.starts_with("PASS"), "{context}");
        assert_eq!(counts.established, n, "{context}");
    } else {
        assert!(verdict.starts_with("FAIL (exit 2)"), "{context}");
    }
}

/// The count after `label` in a report line: `... wrong answer 2, ...`.
fn number_after(line: &str, label: &str) -> u64 {
    let at = line
        .find(&format!("{label} "))
        .unwrap_or_else(|| panic!("no {label} in {line}"));
    line[at + label.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count after {label} in {line}"))
}

#[test]
fn hostile_servers_never_hang_leak_or_pass_for_serving() {
    if !common::installed("prlimit") {
        return;
    }
    let seed = std::env::var("TCPGOON_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("hostile servers seed: {seed} (replay with TCPGOON_SEED={seed})");
    let mut seeds = Rng(seed);
    let tls = tls_config();
    let mut cases = Vec::new();
    for kind in KINDS {
        for hostility in HOSTILITIES {
            for beat in [false, true] {
                if beat && kind.speaks_first() {
                    continue;
                }
                for over_tls in [false, true] {
                    cases.push(Case {
                        kind,
                        hostility,
                        beat,
                        tls: over_tls,
                        seed: seeds.next() | 1,
                    });
                }
            }
        }
    }
    // `TCPGOON_CASE=<words>` runs only the cases whose name holds them.
    if let Ok(only) = std::env::var("TCPGOON_CASE") {
        cases.retain(|case| case.name().contains(&only));
    }
    // The longest first, a few at a time: most of a case's time is spent waiting on a
    // dribble or a timeout, but an endless reply keeps a core busy.
    cases.sort_by_key(|case| std::cmp::Reverse(case.time_bound()));
    let queue = std::sync::Mutex::new(cases.iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    // (Not in a `while let`, which would hold the lock through the run.)
                    let next = queue.lock().unwrap().next();
                    let Some(case) = next else { break };
                    let tls = case.tls.then(|| tls.clone());
                    let run = std::thread::scope(|inner| {
                        inner.spawn(|| hostile_round(*case, tls)).join()
                    });
                    if let Err(e) = run {
                        let why = e
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        let name = case.name();
                        let why = if why.contains(&name) {
                            why
                        } else {
                            format!("{name}: {why}")
                        };
                        failures.lock().unwrap().push(why);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
