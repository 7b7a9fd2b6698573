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
//! header it is in and a few counters ([`PgReader`]), never the bytes.

use std::time::Duration;

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
}

impl ProbeKind {
    /// Every kind, by the name `--probe` takes (postgres also as `postgres:USER`).
    pub const NAMES: [&'static str; 7] = [
        "greeting",
        "redis",
        "memcached",
        "http",
        "postgres",
        "ssh",
        "smtp",
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
    /// PostgreSQL's messages after a startup message (see [`PgReader`]); `expect` is their
    /// first byte, `R`.
    Postgres,
}

impl Probe {
    /// The preset for `kind`. `host` is the host as typed, for HTTP's `Host` header.
    pub fn preset(kind: &ProbeKind, host: &str, port: u16, timeout: Duration) -> Probe {
        let (name, send, expect): (&str, Vec<u8>, &[u8]) = match kind {
            ProbeKind::Greeting => ("greeting", Vec::new(), b""),
            ProbeKind::Redis => ("redis", b"PING\r\n".to_vec(), b"+PONG"),
            ProbeKind::Memcached => ("memcached", b"version\r\n".to_vec(), b"VERSION"),
            ProbeKind::Http => {
                let authority = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let request =
                    format!("HEAD / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tcpgoon\r\n\r\n");
                ("http", request.into_bytes(), b"HTTP/")
            }
            ProbeKind::Postgres { user } => ("postgres", postgres_startup(user), b"R"),
            ProbeKind::Ssh => ("ssh", Vec::new(), b"SSH-"),
            ProbeKind::Smtp => ("smtp", Vec::new(), b"220"),
        };
        let reply = match kind {
            ProbeKind::Postgres { .. } => Reply::Postgres,
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

    /// Judges `bytes`, the next that arrived. `Pending` until the expected prefix is whole.
    pub fn on_bytes(&self, state: &mut ProbeState, bytes: &[u8]) -> Answer {
        if bytes.is_empty() {
            return Answer::Pending;
        }
        if self.reply == Reply::Postgres {
            return state.postgres.on_bytes(bytes);
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

/// Where one connection's probe stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// Bytes of `send` written.
    pub sent: u16,
    /// Bytes of `expect` matched.
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
/// request's code (its first four bytes) is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgReader {
    /// Bytes of the current message's header (type and length) read: 0 to 5.
    head: u8,
    kind: u8,
    /// The length the header gives: 4 and the body's.
    len: u32,
    /// Bytes of the body read.
    read: u32,
    /// An authentication request's code: 0 is AuthenticationOk.
    code: u32,
    /// AuthenticationOk came; the session is ready at ReadyForQuery.
    authenticated: bool,
}

impl PgReader {
    fn on_bytes(&mut self, bytes: &[u8]) -> Answer {
        for &byte in bytes {
            if self.head == 0 {
                match byte {
                    // ErrorResponse: too many clients, no such role or database…
                    b'E' => return Answer::Rejected,
                    // An authentication request; a notice may come at any time.
                    b'R' | b'N' => {}
                    // ParameterStatus, BackendKeyData, ReadyForQuery: after
                    // AuthenticationOk only.
                    b'S' | b'K' | b'Z' if self.authenticated => {}
                    _ => return Answer::Rejected,
                }
                (self.kind, self.len, self.read, self.code) = (byte, 0, 0, 0);
                self.head = 1;
                continue;
            }
            if self.head < 5 {
                self.len = self.len << 8 | u32::from(byte);
                self.head += 1;
                if self.head < 5 {
                    continue;
                }
                if self.len < 4 {
                    return Answer::Rejected;
                }
            } else {
                if self.kind == b'R' && self.read < 4 {
                    self.code = self.code << 8 | u32::from(byte);
                }
                self.read += 1;
            }
            if self.read == self.len - 4 {
                self.head = 0;
                match self.kind {
                    // Too short to carry a code: not PostgreSQL.
                    b'R' if self.read < 4 => return Answer::Rejected,
                    b'R' if self.code == 0 => self.authenticated = true,
                    // It asks for a password (or another proof): it took the connection.
                    b'R' => return Answer::Served,
                    b'Z' => return Answer::Served,
                    _ => {}
                }
            }
        }
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

    /// Feeds `bytes` one at a time, as they could arrive; the answer and how many bytes it
    /// took.
    fn pg_judge(bytes: &[u8]) -> (Answer, usize) {
        let probe = Probe::preset(
            &ProbeKind::Postgres {
                user: "postgres".to_string(),
            },
            "h",
            5432,
            Duration::ZERO,
        );
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
    fn what_postgres_never_sends_is_a_rejection() {
        for reply in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            // ReadyForQuery before authentication.
            &pg_message(b'Z', b"I"),
            // A length that does not count itself.
            &[b'R', 0, 0, 0, 3],
            // An authentication request without its code.
            &pg_message(b'R', &[0, 0]),
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
