//! Application probes: proof that the application, not only the kernel, took a connection.
//! The kernel completes the handshake of every connection it queues, whether the application
//! ever accepts it or not; a probe asks each established connection for an answer only the
//! application can give.
//!
//! Sans-I/O, as rustls and quinn-proto are: a [`Probe`] says what to send and judges the
//! bytes that arrive, and the engine owns the socket. Per connection only a [`ProbeState`]
//! (two counters) is kept: what arrives is matched against the expected prefix as it comes,
//! so nothing is buffered.
//!
//! ```text
//!  Established ──probe sent──▶ Awaiting ──reply begins with `expect`──▶ Served
//!                                 │  ├──reply differs─────────────────▶ Rejected
//!                                 │  └──peer closed before answering──▶ ClosedBeforeAnswer
//!                                 └──no reply by the probe timeout────▶ Unserved
//! ```
//! Every connection that was established gets exactly one outcome; until it has one it is
//! awaiting. The bytes after the expected prefix are read and discarded: the probe is sent
//! once, it is not a load generator.
//!
//! PostgreSQL is read as its messages, not as a prefix, since a session can fail after it
//! was authenticated: with trust the server answers AuthenticationOk (an `R`) for any role,
//! and only then finds that the role or its database does not exist, or that the last
//! slots are reserved for superusers, and sends an ErrorResponse (`E`, FATAL) and closes.
//! So an `R` that asks for credentials serves (the server took the connection and awaits a
//! password the probe does not have); AuthenticationOk serves once ReadyForQuery (`Z`)
//! follows; an `E` at any point before that rejects. Per connection it keeps the message
//! header it is in and a few flags, in 32 bits ([`PgReader`]), never the bytes.

use std::time::Duration;

use crate::engine::mqtt;

/// The probes `--probe` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    /// The server speaks first (SSH, SMTP, FTP, MySQL…): any byte.
    Greeting,
    Redis,
    Memcached,
    Http,
    /// A startup message for this role; an authentication request answers it.
    Postgres {
        user: String,
    },
    Ssh,
    Smtp,
    /// A WebSocket opening handshake for this path.
    Ws {
        path: String,
    },
    /// An MQTT CONNECT (`--mqtt-version` and the rest shape it: see `Probe::mqtt`).
    Mqtt,
    /// MQTT over WebSocket: the opening handshake for this path, subprotocol `mqtt`, then
    /// the CONNECT in a binary frame.
    MqttWs {
        path: String,
    },
    /// HTTP/2 over TLS, `h2` chosen in ALPN: the SETTINGS exchange.
    H2,
    /// HTTP/2 over plain TCP with prior knowledge: the SETTINGS exchange.
    H2c,
}

impl ProbeKind {
    /// Every kind, by the name `--probe` takes (postgres also as `postgres:USER`, ws as
    /// `ws:PATH`, mqtt-ws as `mqtt-ws:PATH`).
    pub const NAMES: [&'static str; 12] = [
        "greeting",
        "redis",
        "memcached",
        "http",
        "postgres",
        "ssh",
        "smtp",
        "ws",
        "mqtt",
        "mqtt-ws",
        "h2",
        "h2c",
    ];
}

/// What a probe sends and what answer serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// For reports: `redis`, `postgres`, `custom`…
    pub name: String,
    /// Written once, as soon as the connection is established; may be empty.
    pub send: Vec<u8>,
    /// The reply must begin with these; empty: any byte serves.
    pub expect: Vec<u8>,
    /// Established and not answered this long: unserved.
    pub timeout: Duration,
    /// How what arrives is read.
    pub reply: Reply,
}

/// How a probe reads its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// It begins with `expect`.
    Prefix,
    /// An HTTP status line (`expect` is its `HTTP/`), judged by its status: see
    /// [`http_status_refuses`].
    HttpStatus,
    /// PostgreSQL's messages after a startup message (see [`PgReader`]); `expect` is their
    /// first byte, `R`.
    Postgres,
    /// A WebSocket opening handshake, `send[..request_len]` with its key's 24 bytes at
    /// `key_at`: the connection's session is a WebSocket one (`engine::ws_session`), which
    /// reads the answer itself. What serves it: `served_by`, and the first message back
    /// must begin with `expect`.
    WebSocket {
        key_at: u16,
        request_len: u16,
        served_by: WsServedBy,
    },
    /// An MQTT CONNECT's template (`mqtt::connect_template`) in `send`, the client id's
    /// length at `len_at` and the attempt's number to go at `id_at`: the connection's
    /// session is an MQTT one (`engine::mqtt_session`), which reads the CONNACK itself.
    Mqtt { len_at: u16, id_at: u16 },
    /// MQTT over WebSocket: the handshake in `send[..request_len]` (its key at `key_at`),
    /// the CONNECT's template after it (its client id's length at `len_at`, the attempt's
    /// number at `id_at`, both within the template).
    MqttWs {
        key_at: u16,
        request_len: u16,
        len_at: u16,
        id_at: u16,
    },
    /// HTTP/2's preface and SETTINGS exchange: the connection's session is an HTTP/2 one
    /// (`engine::h2_session`), which writes and reads it itself; `tls`: over TLS, `h2`
    /// chosen in ALPN.
    Http2 { tls: bool },
}

/// What serves a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsServedBy {
    /// The upgrade itself.
    Upgrade,
    /// The first message the server sends after it (`--expect` alone).
    Message,
    /// The first message back after ours, the text `send[request_len..]` (`--send`).
    Reply,
}

impl Probe {
    /// The preset for `kind`. `host` is the host as typed, for HTTP's `Host` header.
    pub fn preset(kind: &ProbeKind, host: &str, port: u16, timeout: Duration) -> Probe {
        let (name, send, expect): (&str, Vec<u8>, &[u8]) = match kind {
            ProbeKind::Greeting => ("greeting", Vec::new(), b""),
            ProbeKind::Redis => ("redis", b"PING\r\n".to_vec(), b"+PONG"),
            ProbeKind::Memcached => ("memcached", b"version\r\n".to_vec(), b"VERSION"),
            ProbeKind::Http => {
                let authority = authority(host, port);
                let request =
                    format!("HEAD / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tcpgoon\r\n\r\n");
                ("http", request.into_bytes(), b"HTTP/")
            }
            ProbeKind::Ws { path } => {
                return Probe::websocket(host, port, path, None, &[], None, timeout);
            }
            ProbeKind::Mqtt | ProbeKind::MqttWs { .. } => {
                let prefix = mqtt::default_prefix();
                let fields = mqtt::ConnectFields {
                    version: mqtt::Version::V311,
                    prefix: &prefix,
                    keep_alive: 0,
                    user: None,
                    password: None,
                };
                return match kind {
                    ProbeKind::MqttWs { path } => {
                        Probe::mqtt_ws(host, port, path, &fields, timeout)
                    }
                    _ => Probe::mqtt(&fields, timeout),
                };
            }
            ProbeKind::H2 | ProbeKind::H2c => {
                let tls = *kind == ProbeKind::H2;
                return Probe {
                    name: if tls { "h2" } else { "h2c" }.to_string(),
                    send: Vec::new(),
                    expect: Vec::new(),
                    timeout,
                    reply: Reply::Http2 { tls },
                };
            }
            ProbeKind::Postgres { user } => ("postgres", postgres_startup(user), b"R"),
            ProbeKind::Ssh => ("ssh", Vec::new(), b"SSH-"),
            ProbeKind::Smtp => ("smtp", Vec::new(), b"220"),
        };
        let reply = match kind {
            ProbeKind::Postgres { .. } => Reply::Postgres,
            ProbeKind::Http => Reply::HttpStatus,
            _ => Reply::Prefix,
        };
        Probe {
            name: name.to_string(),
            send,
            expect: expect.to_vec(),
            timeout,
            reply,
        }
    }

    /// A WebSocket opening handshake for `path`, with a subprotocol and more headers.
    /// `--probe ws`; with `--send`/`--expect` (`message`: the text to send, if any, and
    /// what the first message back begins with), served by that message.
    pub fn websocket(
        host: &str,
        port: u16,
        path: &str,
        protocol: Option<&str>,
        headers: &[String],
        message: Option<(Option<Vec<u8>>, Vec<u8>)>,
        timeout: Duration,
    ) -> Probe {
        let (mut send, key_at) = websocket_request(&authority(host, port), path, protocol, headers);
        let request_len = send.len();
        let (served_by, expect) = match message {
            None => (WsServedBy::Upgrade, Vec::new()),
            Some((None, expect)) => (WsServedBy::Message, expect),
            Some((Some(text), expect)) => {
                send.extend_from_slice(&text);
                (WsServedBy::Reply, expect)
            }
        };
        Probe {
            name: "ws".to_string(),
            send,
            expect,
            timeout,
            // The request is at most u16::MAX long (the command line checks the headers).
            reply: Reply::WebSocket {
                key_at: key_at as u16,
                request_len: request_len as u16,
                served_by,
            },
        }
    }

    /// An MQTT CONNECT with these fields: its CONNACK serves.
    pub fn mqtt(fields: &mqtt::ConnectFields, timeout: Duration) -> Probe {
        let (send, len_at, id_at) = mqtt::connect_template(fields);
        Probe {
            name: "mqtt".to_string(),
            send,
            expect: Vec::new(),
            timeout,
            // The template is under 64 KiB (the command line bounds its parts).
            reply: Reply::Mqtt {
                len_at: len_at as u16,
                id_at: id_at as u16,
            },
        }
    }

    /// `--probe mqtt-ws`: the WebSocket handshake for `path` asking for the subprotocol
    /// `mqtt`, then the CONNECT `fields` make, in binary frames.
    pub fn mqtt_ws(
        host: &str,
        port: u16,
        path: &str,
        fields: &mqtt::ConnectFields,
        timeout: Duration,
    ) -> Probe {
        let (mut send, key_at) = websocket_request(&authority(host, port), path, Some("mqtt"), &[]);
        let request_len = send.len();
        let (template, len_at, id_at) = mqtt::connect_template(fields);
        send.extend_from_slice(&template);
        Probe {
            name: "mqtt-ws".to_string(),
            send,
            expect: Vec::new(),
            timeout,
            // The path is at most 8192 bytes and the template under 64 KiB (the command
            // line bounds their parts).
            reply: Reply::MqttWs {
                key_at: key_at as u16,
                request_len: request_len as u16,
                len_at: len_at as u16,
                id_at: id_at as u16,
            },
        }
    }

    /// `--send` and `--expect` given by hand.
    pub fn custom(send: Vec<u8>, expect: Vec<u8>, timeout: Duration) -> Probe {
        Probe {
            name: "custom".to_string(),
            send,
            expect,
            timeout,
            reply: Reply::Prefix,
        }
    }

    /// What is still to be written.
    pub fn unsent(&self, state: &ProbeState) -> &[u8] {
        &self.send[usize::from(state.sent).min(self.send.len())..]
    }

    /// The HTTP status that rejected the probe `state` stands for; `None` when it was not
    /// rejected by a status (served, pending, or a reply that is not HTTP).
    pub fn rejected_status(&self, state: &ProbeState) -> Option<u16> {
        let (at, status) = unpack_status(state.matched);
        let refused = at == STATUS_WHOLE && http_status_refuses(status);
        (self.reply == Reply::HttpStatus && refused).then_some(status)
    }

    /// Judges `bytes`, the next that arrived. `Pending` until the expected prefix is whole.
    pub fn on_bytes(&self, state: &mut ProbeState, bytes: &[u8]) -> Answer {
        if bytes.is_empty() {
            return Answer::Pending;
        }
        match self.reply {
            Reply::Postgres => return state.postgres.on_bytes(bytes),
            Reply::HttpStatus => return on_status_line(state, bytes),
            // Read by its own session.
            Reply::WebSocket { .. }
            | Reply::Mqtt { .. }
            | Reply::MqttWs { .. }
            | Reply::Http2 { .. } => {
                return Answer::Pending;
            }
            Reply::Prefix => {}
        }
        let matched = usize::from(state.matched);
        let wanted = &self.expect[matched..];
        let n = wanted.len().min(bytes.len());
        if wanted[..n] != bytes[..n] {
            return Answer::Rejected;
        }
        // `expect` is at most u16::MAX long (see `cli`), so this fits.
        state.matched = (matched + n) as u16;
        if usize::from(state.matched) == self.expect.len() {
            Answer::Served
        } else {
            Answer::Pending
        }
    }
}

/// The handshake request for `path` on `authority`, with `headers` (each `Name: value`)
/// and a subprotocol; and where its key goes.
pub fn websocket_request(
    authority: &str,
    path: &str,
    protocol: Option<&str>,
    headers: &[String],
) -> (Vec<u8>, usize) {
    let mut text = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nUser-Agent: tcpgoon\r\nSec-WebSocket-Key: "
    );
    let key_at = text.len();
    text.push_str(&"x".repeat(24));
    text.push_str("\r\n");
    if let Some(protocol) = protocol {
        text.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    (text.into_bytes(), key_at)
}

/// The `Host` header's value for `host` as typed: an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether an HTTP status refuses the request: a server error (5xx: HAProxy's 503 with
/// every backend down, a 502 from a proxy whose upstream is gone) or 429, too many
/// requests. Any other status, a 404 or a 401 included, is the application answering.
pub fn http_status_refuses(status: u16) -> bool {
    status >= 500 || status == 429
}

/// Where [`status_line_byte`] is once the status's three digits are read.
pub const STATUS_WHOLE: u16 = 9;

/// Reads one byte of an HTTP status line's start, `HTTP/1.1 503`: `at` is where it is (0-4
/// in `HTTP/`, 5 in the version, 6-8 in the status, [`STATUS_WHOLE`] past it) and `status`
/// the digits so far. False when the byte cannot be there. The probe and the HTTP
/// heartbeat both read with it.
pub fn status_line_byte(at: &mut u16, status: &mut u16, byte: u8) -> bool {
    match *at {
        0..=4 => {
            if byte != b"HTTP/"[usize::from(*at)] {
                return false;
            }
            *at += 1;
        }
        5 => {
            if byte == b' ' {
                *at = 6;
            } else if !(byte.is_ascii_digit() || byte == b'.') {
                return false;
            }
        }
        6..=8 => {
            if !byte.is_ascii_digit() {
                return false;
            }
            *status = *status * 10 + u16::from(byte - b'0');
            *at += 1;
        }
        _ => {}
    }
    true
}

/// For [`Reply::HttpStatus`], `matched` holds where the status line is (4 bits) and its
/// status so far (12 bits: at most 999).
fn unpack_status(matched: u16) -> (u16, u16) {
    (matched & 0xf, matched >> 4)
}

fn on_status_line(state: &mut ProbeState, bytes: &[u8]) -> Answer {
    let (mut at, mut status) = unpack_status(state.matched);
    let mut answer = Answer::Pending;
    for &byte in bytes {
        if !status_line_byte(&mut at, &mut status, byte) {
            answer = Answer::Rejected;
            break;
        }
        if at == STATUS_WHOLE {
            answer = if http_status_refuses(status) {
                Answer::Rejected
            } else {
                Answer::Served
            };
            break;
        }
    }
    state.matched = at | status << 4;
    answer
}

/// Where one connection's probe stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// Bytes of `send` written.
    pub sent: u16,
    /// Bytes of `expect` matched; for an HTTP status line, where it is and its status.
    pub matched: u16,
    /// Where a PostgreSQL reply stands ([`Reply::Postgres`]).
    pub postgres: PgReader,
}

impl ProbeState {
    pub fn on_sent(&mut self, n: usize) {
        self.sent = self
            .sent
            .saturating_add(u16::try_from(n).unwrap_or(u16::MAX));
    }
}

/// Reads PostgreSQL's backend messages as they arrive, in any pieces: each is a type byte,
/// a big-endian length that counts itself, and a body, of which only an authentication
/// request's code (its first four bytes) is looked at.
///
/// It lives in every connection's probe slot, so its whole state is 32 bits, kept at the
/// slot's 2-byte alignment (a `u32` would add 8 bytes to every connection, probed or not):
/// the length (24 bits: no message before ReadyForQuery comes near 16 MiB, and libpq refuses
/// far shorter ones, so a longer one is not PostgreSQL), where in the message it is, the
/// message's kind, and two flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgReader([u16; 2]);

// A connection's probe slot (`conn::ProbeSlot`) holds this; at 8 bytes and 2-byte alignment
// it adds nothing to a connection's size.
const _: () =
    assert!(std::mem::size_of::<ProbeState>() == 8 && std::mem::align_of::<ProbeState>() == 2);

/// [`PgReader`]'s state, unpacked.
#[derive(Debug, Clone, Copy, Default)]
struct Pg {
    /// In the header, the length so far; in the body, the bytes of it still to come.
    left: u32,
    /// 0: the type byte is next; 1-4: that many header bytes read; 5-9: in the body, with
    /// `at - 5` of an authentication request's code read.
    at: u8,
    kind: PgKind,
    /// AuthenticationOk came; the session is ready at ReadyForQuery.
    authenticated: bool,
    /// A byte of this authentication request's code is not zero: it is not AuthenticationOk.
    code_nonzero: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PgKind {
    /// ParameterStatus, BackendKeyData, NoticeResponse: read past.
    #[default]
    Other,
    Authentication,
    ReadyForQuery,
}

const PG_LEFT: u32 = (1 << 24) - 1;

impl PgReader {
    fn unpack(self) -> Pg {
        let bits = u32::from(self.0[0]) << 16 | u32::from(self.0[1]);
        Pg {
            left: bits & PG_LEFT,
            at: (bits >> 24 & 0xf) as u8,
            kind: match bits >> 28 & 3 {
                1 => PgKind::Authentication,
                2 => PgKind::ReadyForQuery,
                _ => PgKind::Other,
            },
            authenticated: bits >> 30 & 1 == 1,
            code_nonzero: bits >> 31 == 1,
        }
    }

    fn pack(pg: Pg) -> PgReader {
        let kind = match pg.kind {
            PgKind::Other => 0,
            PgKind::Authentication => 1,
            PgKind::ReadyForQuery => 2,
        };
        let bits = pg.left
            | u32::from(pg.at) << 24
            | kind << 28
            | u32::from(pg.authenticated) << 30
            | u32::from(pg.code_nonzero) << 31;
        PgReader([(bits >> 16) as u16, bits as u16])
    }

    fn on_bytes(&mut self, bytes: &[u8]) -> Answer {
        let mut pg = self.unpack();
        for &byte in bytes {
            if pg.at == 0 {
                pg.kind = match byte {
                    // ErrorResponse: too many clients, no such role or database…
                    b'E' => return Answer::Rejected,
                    b'R' => PgKind::Authentication,
                    // A notice may come at any time.
                    b'N' => PgKind::Other,
                    // ParameterStatus, BackendKeyData, ReadyForQuery: after
                    // AuthenticationOk only.
                    b'S' | b'K' if pg.authenticated => PgKind::Other,
                    b'Z' if pg.authenticated => PgKind::ReadyForQuery,
                    _ => return Answer::Rejected,
                };
                (pg.left, pg.code_nonzero, pg.at) = (0, false, 1);
                continue;
            }
            if pg.at < 5 {
                if pg.at == 1 && byte != 0 {
                    // 16 MiB or more: not a message PostgreSQL sends here.
                    return Answer::Rejected;
                }
                pg.left = pg.left << 8 | u32::from(byte);
                pg.at += 1;
                if pg.at < 5 {
                    continue;
                }
                if pg.left < 4 {
                    // A length that does not count itself.
                    return Answer::Rejected;
                }
                pg.left -= 4;
                if pg.kind == PgKind::Authentication && pg.left < 4 {
                    // Too short to carry a code.
                    return Answer::Rejected;
                }
            } else {
                if pg.kind == PgKind::Authentication && pg.at < 9 {
                    pg.code_nonzero |= byte != 0;
                    pg.at += 1;
                }
                pg.left -= 1;
            }
            if pg.left == 0 {
                pg.at = 0;
                match pg.kind {
                    PgKind::Authentication if !pg.code_nonzero => pg.authenticated = true,
                    // It asks for a password (or another proof): it took the connection.
                    PgKind::Authentication | PgKind::ReadyForQuery => return Answer::Served,
                    PgKind::Other => {}
                }
            }
        }
        *self = PgReader::pack(pg);
        Answer::Pending
    }
}

/// What the bytes so far say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Pending,
    Served,
    Rejected,
}

/// The outcome of an established connection's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    Served,
    /// The reply did not begin with what was expected (redis: `-ERR max number of clients`).
    Rejected,
    /// No reply in time: still in the accept queue, or the application is stuck.
    Unserved,
    /// The peer closed or reset the connection before the answer was whole.
    ClosedBeforeAnswer,
}

impl ProbeOutcome {
    pub const ALL: [ProbeOutcome; 4] = [
        ProbeOutcome::Served,
        ProbeOutcome::Rejected,
        ProbeOutcome::Unserved,
        ProbeOutcome::ClosedBeforeAnswer,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ProbeOutcome::Served => "served",
            ProbeOutcome::Rejected => "rejected",
            ProbeOutcome::Unserved => "unserved",
            ProbeOutcome::ClosedBeforeAnswer => "closed before answering",
        }
    }

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            ProbeOutcome::Served => "served",
            ProbeOutcome::Rejected => "rejected",
            ProbeOutcome::Unserved => "unserved",
            ProbeOutcome::ClosedBeforeAnswer => "closed_before_answer",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// PostgreSQL's StartupMessage, protocol 3.0: length, version, then `user` and its value,
/// each NUL-terminated, and a final NUL. The database defaults to the user's name.
fn postgres_startup(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for part in ["user", user] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_status_line_is_judged_by_its_status_in_any_pieces() {
        let http = Probe::preset(&ProbeKind::Http, "h", 80, Duration::from_secs(1));
        for (reply, answer, status) in [
            (&b"HTTP/1.1 200 OK\r\n"[..], Answer::Served, None),
            (b"HTTP/1.0 404 Not Found\r\n", Answer::Served, None),
            (b"HTTP/2 301 Moved\r\n", Answer::Served, None),
            (
                b"HTTP/1.1 503 Service Unavailable\r\n",
                Answer::Rejected,
                Some(503),
            ),
            (
                b"HTTP/1.1 429 Too Many Requests\r\n",
                Answer::Rejected,
                Some(429),
            ),
            (b"HTTP/1.1 500", Answer::Rejected, Some(500)),
            (b"SSH-2.0-OpenSSH\r\n", Answer::Rejected, None),
            (b"HTTP/1.1 5x3", Answer::Rejected, None),
        ] {
            // Whole, and a byte at a time.
            let mut state = ProbeState::default();
            assert_eq!(http.on_bytes(&mut state, reply), answer, "{reply:?}");
            assert_eq!(http.rejected_status(&state), status, "{reply:?}");
            let mut state = ProbeState::default();
            let mut last = Answer::Pending;
            for byte in reply {
                last = http.on_bytes(&mut state, std::slice::from_ref(byte));
                if last != Answer::Pending {
                    break;
                }
            }
            assert_eq!(last, answer, "{reply:?} byte by byte");
            assert_eq!(http.rejected_status(&state), status, "{reply:?}");
        }
        let mut state = ProbeState::default();
        assert_eq!(http.on_bytes(&mut state, b"HTTP/1.1 50"), Answer::Pending);
        assert_eq!(http.rejected_status(&state), None);
    }

    fn redis() -> Probe {
        Probe::preset(&ProbeKind::Redis, "127.0.0.1", 6379, Duration::from_secs(1))
    }

    #[test]
    fn an_answer_is_judged_as_it_arrives_in_pieces() {
        let probe = redis();
        let mut state = ProbeState::default();
        assert_eq!(probe.on_bytes(&mut state, b"+P"), Answer::Pending);
        assert_eq!(probe.on_bytes(&mut state, b""), Answer::Pending);
        assert_eq!(probe.on_bytes(&mut state, b"ON"), Answer::Pending);
        assert_eq!(probe.on_bytes(&mut state, b"G\r\n"), Answer::Served);
        let mut state = ProbeState::default();
        assert_eq!(
            probe.on_bytes(&mut state, b"-ERR max number of clients reached\r\n"),
            Answer::Rejected
        );
        let mut state = ProbeState::default();
        assert_eq!(probe.on_bytes(&mut state, b"+PO"), Answer::Pending);
        assert_eq!(probe.on_bytes(&mut state, b"X"), Answer::Rejected);
    }

    #[test]
    fn a_greeting_is_any_byte() {
        let probe = Probe::preset(&ProbeKind::Greeting, "h", 22, Duration::ZERO);
        assert!(probe.send.is_empty());
        let mut state = ProbeState::default();
        assert_eq!(probe.on_bytes(&mut state, b"\0"), Answer::Served);
    }

    #[test]
    fn what_is_sent_is_tracked_until_all_is_written() {
        let probe = redis();
        let mut state = ProbeState::default();
        assert_eq!(probe.unsent(&state), b"PING\r\n");
        state.on_sent(4);
        assert_eq!(probe.unsent(&state), b"\r\n");
        state.on_sent(2);
        assert!(probe.unsent(&state).is_empty());
    }

    #[test]
    fn http_names_the_host_as_typed() {
        let probe = Probe::preset(&ProbeKind::Http, "example.test", 8080, Duration::ZERO);
        assert_eq!(
            probe.send,
            b"HEAD / HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: tcpgoon\r\n\r\n"
        );
        let v6 = Probe::preset(&ProbeKind::Http, "::1", 80, Duration::ZERO);
        assert!(
            v6.send
                .starts_with(b"HEAD / HTTP/1.1\r\nHost: [::1]:80\r\n")
        );
        assert_eq!(probe.expect, b"HTTP/");
    }

    #[test]
    fn postgres_sends_a_startup_message_for_the_role() {
        let user = "postgres".to_string();
        let probe = Probe::preset(&ProbeKind::Postgres { user }, "h", 5432, Duration::ZERO);
        let mut want = vec![0, 0, 0, 0, 0, 3, 0, 0];
        want.extend_from_slice(b"user\0postgres\0\0");
        want[3] = want.len() as u8;
        assert_eq!(probe.send, want);
        assert_eq!(probe.expect, b"R");
        // "too many clients" comes as an ErrorResponse, E.
        let mut state = ProbeState::default();
        assert_eq!(
            probe.on_bytes(&mut state, b"E\0\0\0\x60SFATAL"),
            Answer::Rejected
        );
    }

    fn pg_message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        message
    }

    fn pg_probe() -> Probe {
        let user = "postgres".to_string();
        Probe::preset(&ProbeKind::Postgres { user }, "h", 5432, Duration::ZERO)
    }

    /// Feeds `bytes` one at a time, as they could arrive; the answer and how many bytes it
    /// took.
    fn pg_judge(bytes: &[u8]) -> (Answer, usize) {
        let probe = pg_probe();
        let mut state = ProbeState::default();
        for (i, byte) in bytes.iter().enumerate() {
            let answer = probe.on_bytes(&mut state, std::slice::from_ref(byte));
            if answer != Answer::Pending {
                return (answer, i + 1);
            }
        }
        (Answer::Pending, bytes.len())
    }

    #[test]
    fn postgres_with_trust_is_served_once_the_session_is_ready() {
        let mut reply = pg_message(b'R', &0u32.to_be_bytes());
        reply.extend(pg_message(b'S', b"server_version\x0015.18\0"));
        reply.extend(pg_message(b'N', b"SNOTICE\0Mhi\0\0"));
        reply.extend(pg_message(b'K', &[0, 0, 0, 7, 1, 2, 3, 4]));
        let ready = pg_message(b'Z', b"I");
        assert_eq!(pg_judge(&reply), (Answer::Pending, reply.len()));
        reply.extend(&ready);
        assert_eq!(pg_judge(&reply), (Answer::Served, reply.len()));
    }

    #[test]
    fn postgres_asking_for_a_password_is_served() {
        // MD5 (5) with its salt; SASL (10) with its mechanisms.
        let md5 = pg_message(b'R', &[0, 0, 0, 5, 9, 9, 9, 9]);
        assert_eq!(pg_judge(&md5), (Answer::Served, md5.len()));
        let sasl = pg_message(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
        assert_eq!(pg_judge(&sasl), (Answer::Served, sasl.len()));
    }

    #[test]
    fn postgres_errors_before_or_after_authentication_are_rejections() {
        let fatal = pg_message(
            b'E',
            b"SFATAL\0C53300\0Msorry, too many clients already\0\0",
        );
        assert_eq!(pg_judge(&fatal), (Answer::Rejected, 1));
        // Trust authenticates any role; the missing role is found after.
        let mut reply = pg_message(b'R', &0u32.to_be_bytes());
        let at = reply.len();
        reply.extend(pg_message(b'E', b"SFATAL\0C28000\0\0"));
        assert_eq!(pg_judge(&reply), (Answer::Rejected, at + 1));
    }

    #[test]
    fn postgres_messages_up_to_16_mib_are_read_past() {
        let mut reply = pg_message(b'R', &0u32.to_be_bytes());
        reply.extend([b'N', 0, 0xff, 0xff, 0xff]);
        assert_eq!(pg_judge(&reply), (Answer::Pending, reply.len()));
        let (probe, mut probe_state) = (pg_probe(), ProbeState::default());
        assert_eq!(probe.on_bytes(&mut probe_state, &reply), Answer::Pending);
        let body = vec![b'x'; 0xff_ffff - 4];
        assert_eq!(probe.on_bytes(&mut probe_state, &body), Answer::Pending);
        let ready = pg_message(b'Z', b"I");
        assert_eq!(probe.on_bytes(&mut probe_state, &ready), Answer::Served);
    }

    #[test]
    fn what_postgres_never_sends_is_a_rejection() {
        for reply in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            // ReadyForQuery before authentication.
            &pg_message(b'Z', b"I"),
            // A length that does not count itself.
            &[b'R', 0, 0, 0, 3],
            // An authentication request without its code.
            &pg_message(b'R', &[0, 0]),
            // A notice of 16 MiB.
            &[b'N', 1, 0, 0, 0],
        ] {
            assert_eq!(pg_judge(reply).0, Answer::Rejected, "{reply:?}");
        }
    }

    #[test]
    fn outcomes_have_stable_indexes() {
        for (i, o) in ProbeOutcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }
}
