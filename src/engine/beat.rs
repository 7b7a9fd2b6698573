//! Heartbeats: proof over time that the application still serves a held connection. Once a
//! connection is served, it repeats its probe's request every period for as long as it is
//! held, and each answer is read and judged as it arrives, as the probe's was.
//!
//! Two pure parts, time and bytes as parameters, no socket:
//! - [`BeatSchedule`]: when beat `j` of the connection made by attempt `seq` is due. The
//!   beats of N connections are spread evenly over the period (attempt k's phase is k/N of
//!   it), so a thousand held connections do not beat in lockstep, and each connection's
//!   beats are due on an absolute schedule, origin + phase + j × period, never a period
//!   after the last answer: a server that answers late does not push its next beat back,
//!   and a beat's latency runs from its *due* time, so a late loop or socket counts too
//!   (coordinated omission, as wrk2 avoids it).
//! - [`BeatReply`] with [`BeatReader`]: where one answer ends and whether it is the right
//!   one, read incrementally in 32 bits of state, never buffered.
//!
//! ```text
//!  Served ──due──▶ Sent ──answer whole and right──▶ Answered ──next due──▶ Sent …
//!                   │ ├──answer wrong─────────────▶ Stopped (mismatch)
//!                   │ └──peer closed──────────────▶ Stopped (closed)
//!                   └──not answered by due + timeout──▶ Stopped (timeout)
//! ```
//! One beat is out at a time: a beat that comes due while the one before is still out is
//! sent the moment that one is answered, and its latency still runs from its own due time.
//! Bytes that arrive while no beat is out (the rest of a reply after its judged part, or
//! what a server pushes) are read and discarded.

use std::time::{Duration, Instant};

use crate::engine::probe::{http_status_refuses, status_line_byte};
use crate::engine::session_output::{BeatEvents, Output};
use crate::engine::stats::StopCause;

/// `--heartbeat` as the plan has it: the period, the timeout, what each beat sends and how
/// its answer reads. The engine adds the schedule's origin when the run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatPlan {
    pub period: Duration,
    pub timeout: Duration,
    pub request: Vec<u8>,
    pub reply: BeatReply,
}

/// `--heartbeat`: what a served connection sends on its schedule, and how the answer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub schedule: BeatSchedule,
    /// A beat not answered this long after it was due: the connection stopped answering.
    pub timeout: Duration,
    pub request: Vec<u8>,
    pub reply: BeatReply,
}

/// An empty simple query: PostgreSQL answers EmptyQueryResponse, then ReadyForQuery.
pub const POSTGRES_EMPTY_QUERY: &[u8] = b"Q\0\0\0\x05\0";

/// How a beat's answer is read: where it ends, and what makes it right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeatReply {
    /// One line, ending at `\n`, that begins with `expect` (redis `+PONG`, memcached
    /// `VERSION`).
    Line { expect: Vec<u8> },
    /// An HTTP response head, ending at the blank line; right when its status is below 500
    /// and not 429 (a HEAD request's answer has no body).
    HttpHead,
    /// PostgreSQL's messages up to ReadyForQuery; an ErrorResponse before it is wrong.
    Postgres,
    /// Bytes that begin with `expect` (`--send`/`--expect`): answered when `expect` is whole.
    Prefix { expect: Vec<u8> },
    /// A WebSocket pong: the session reads frames itself (`engine::ws_session`), so there is
    /// nothing here to read.
    WsPong,
    /// An MQTT PINGRESP: the session reads packets itself (`engine::mqtt_session`).
    MqttPing,
    /// An HTTP/2 PING's ACK: the session reads frames itself (`engine::h2_session`).
    H2PingAck,
}

/// What the bytes of an answer say so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Pending,
    Answered,
    Wrong,
}

/// An answer being read: 32 bits whose meaning depends on the [`BeatReply`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeatReader(pub [u16; 2]);

impl BeatReply {
    /// Takes the next bytes of the answer; `Answered` or `Wrong` once they decide it, and
    /// what follows them in `bytes` is not this answer's.
    pub fn read(&self, reader: &mut BeatReader, bytes: &[u8]) -> Read {
        match self {
            BeatReply::Line { expect } => read_line(expect, reader, bytes),
            BeatReply::Prefix { expect } => read_prefix(expect, reader, bytes),
            BeatReply::HttpHead => read_http_head(reader, bytes),
            BeatReply::Postgres => read_postgres(reader, bytes),
            BeatReply::WsPong | BeatReply::MqttPing | BeatReply::H2PingAck => Read::Pending,
        }
    }
}

/// [0]: bytes of `expect` matched.
fn read_prefix(expect: &[u8], reader: &mut BeatReader, bytes: &[u8]) -> Read {
    let matched = usize::from(reader.0[0]);
    let wanted = &expect[matched.min(expect.len())..];
    let n = wanted.len().min(bytes.len());
    if wanted[..n] != bytes[..n] {
        return Read::Wrong;
    }
    // `expect` is at most u16::MAX long (the command line checks it).
    reader.0[0] = (matched + n) as u16;
    if matched + n == expect.len() {
        Read::Answered
    } else {
        Read::Pending
    }
}

/// [0]: bytes of `expect` matched; the line ends at `\n`.
fn read_line(expect: &[u8], reader: &mut BeatReader, bytes: &[u8]) -> Read {
    for &byte in bytes {
        let matched = usize::from(reader.0[0]);
        if matched < expect.len() {
            if byte != expect[matched] {
                return Read::Wrong;
            }
            reader.0[0] += 1;
        } else if byte == b'\n' {
            return Read::Answered;
        }
    }
    Read::Pending
}

/// [0]: where in the head: 0-4 matching `HTTP/`, 5 in the version, 6-8 the status's digits,
/// 9 in the rest of the head. [1]: the status so far (10 bits), then the run of `\r\n\r\n`
/// bytes seen (2 bits, at 12).
fn read_http_head(reader: &mut BeatReader, bytes: &[u8]) -> Read {
    let [mut at, mut bits] = reader.0;
    for &byte in bytes {
        match at {
            0..=8 => {
                if !status_line_byte(&mut at, &mut bits, byte) {
                    return Read::Wrong;
                }
            }
            _ => {
                // The run of the blank line's bytes: \r \n \r \n, counted 0-3 in bits 12-13.
                let run = bits >> 12;
                let status = bits & 0x3ff;
                let expected = if run % 2 == 0 { b'\r' } else { b'\n' };
                let run = if byte == expected {
                    run + 1
                } else if byte == b'\r' {
                    1
                } else {
                    0
                };
                if run == 4 {
                    return if http_status_refuses(status) {
                        Read::Wrong
                    } else {
                        Read::Answered
                    };
                }
                bits = status | run << 12;
            }
        }
    }
    reader.0 = [at, bits];
    Read::Pending
}

/// PostgreSQL's messages: a type byte, a big-endian length that counts itself, a body.
/// [0]: 0 the type byte is next, 1-4 that many length bytes read, 5 in the body; bit 8
/// marks ReadyForQuery. [1] with [0]'s top byte: the length, or the body's bytes left.
fn read_postgres(reader: &mut BeatReader, bytes: &[u8]) -> Read {
    let [head, low] = reader.0;
    let mut at = head & 0xff;
    let mut ready = head & 0x100 != 0;
    let mut left = u32::from(head >> 9) << 16 | u32::from(low);
    for &byte in bytes {
        match at {
            0 => {
                ready = match byte {
                    b'E' => return Read::Wrong,
                    b'Z' => true,
                    _ => false,
                };
                (at, left) = (1, 0);
            }
            1..=4 => {
                if at == 1 && byte != 0 {
                    return Read::Wrong;
                }
                left = left << 8 | u32::from(byte);
                at += 1;
                if at == 5 {
                    // A length that does not count itself, or 8 MiB and more: not an answer
                    // to an empty query.
                    if !(4..1 << 23).contains(&left) {
                        return Read::Wrong;
                    }
                    left -= 4;
                }
            }
            _ => left -= 1,
        }
        if at == 5 && left == 0 {
            if ready {
                return Read::Answered;
            }
            at = 0;
        }
    }
    // `left` is below 2^23 here (checked when its last byte came), so it fits in 7 + 16 bits.
    reader.0 = [
        at | u16::from(ready) << 8 | ((left >> 16) as u16) << 9,
        left as u16,
    ];
    Read::Pending
}

/// When each connection's beats are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatSchedule {
    pub origin: Instant,
    pub period: Duration,
    /// How many connections share the period: attempt k's phase is (k mod spread)/spread
    /// of it.
    pub spread: u64,
    /// Once the run is over, no beat due after this is sent: the beats already out are
    /// waited for, answered or timed out, and none is begun.
    pub until: Option<Instant>,
}

impl BeatSchedule {
    fn phase(&self, seq: u64) -> Duration {
        let spread = self.spread.max(1);
        let nanos = self.period.as_nanos() * u128::from(seq % spread) / u128::from(spread);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When beat `j` of attempt `seq`'s connection is due.
    pub fn due(&self, seq: u64, j: u32) -> Instant {
        let offset = self.phase(seq) + self.period.saturating_mul(j);
        self.origin.checked_add(offset).unwrap_or(self.origin)
    }

    /// The first beat of attempt `seq`'s connection due after `served`: a connection's
    /// first beat comes at least a moment after it was served, at most a period after.
    pub fn first_after(&self, seq: u64, served: Instant) -> u32 {
        let start = self.origin + self.phase(seq);
        if served < start {
            return 0;
        }
        let since = served.duration_since(start).as_nanos();
        let period = self.period.as_nanos().max(1);
        u32::try_from(since / period + 1).unwrap_or(u32::MAX)
    }
}

impl Heartbeat {
    /// Beat `j` of attempt `seq` is next, `now`, for every protocol's session: `true` when
    /// it is due now (its request is to be written; the output says it came due, and its
    /// deadline is the beat's timeout), else `false` (the deadline is its due time, none
    /// once the run is over).
    pub fn wait(&self, seq: u64, j: u32, now: Instant) -> (Output, bool) {
        let due = self.schedule.due(seq, j);
        if self.schedule.until.is_some_and(|until| due > until) {
            // The run is over: no more beats.
            return (Output::default(), false);
        }
        if now < due {
            let out = Output {
                deadline: Some(due),
                ..Output::default()
            };
            return (out, false);
        }
        let out = Output {
            deadline: Some(due.checked_add(self.timeout).unwrap_or(due)),
            beat: BeatEvents {
                due: Some(due),
                ..BeatEvents::default()
            },
            ..Output::default()
        };
        (out, true)
    }

    /// Beat `j` of attempt `seq`, out, `now`: when its timeout has passed, the output that
    /// says it stopped answering then, as of its due time.
    pub fn timed_out(&self, seq: u64, j: u32, now: Instant) -> Option<Output> {
        let due = self.schedule.due(seq, j);
        (now >= due.checked_add(self.timeout).unwrap_or(due)).then(|| Output {
            beat: BeatEvents {
                stopped: Some((StopCause::Timeout, due)),
                ..BeatEvents::default()
            },
            ..Output::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reply: &BeatReply, pieces: &[&[u8]]) -> Read {
        let mut reader = BeatReader::default();
        for piece in pieces {
            match reply.read(&mut reader, piece) {
                Read::Pending => {}
                decided => return decided,
            }
        }
        Read::Pending
    }

    fn bytewise(reply: &BeatReply, answer: &[u8]) -> Read {
        let pieces: Vec<&[u8]> = answer.chunks(1).collect();
        read_all(reply, &pieces)
    }

    fn line(expect: &str) -> BeatReply {
        BeatReply::Line {
            expect: expect.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_line_is_answered_at_its_end_and_wrong_at_its_first_wrong_byte() {
        let redis = line("+PONG");
        assert_eq!(read_all(&redis, &[b"+PONG\r\n"]), Read::Answered);
        assert_eq!(bytewise(&redis, b"+PONG\r\n"), Read::Answered);
        assert_eq!(read_all(&redis, &[b"+PONG"]), Read::Pending);
        assert_eq!(read_all(&redis, &[b"+PONG\r"]), Read::Pending);
        assert_eq!(read_all(&redis, &[b"-LOADING\r\n"]), Read::Wrong);
        assert_eq!(read_all(&redis, &[b"+PO", b"X"]), Read::Wrong);
        let memcached = line("VERSION");
        assert_eq!(
            read_all(&memcached, &[b"VERSION 1.6", b".18\r\n"]),
            Read::Answered
        );
        assert_eq!(read_all(&memcached, &[b"ERROR\r\n"]), Read::Wrong);
    }

    #[test]
    fn a_prefix_is_answered_when_whole() {
        let echo = BeatReply::Prefix {
            expect: b"ping".to_vec(),
        };
        assert_eq!(read_all(&echo, &[b"pi", b"ng\n"]), Read::Answered);
        assert_eq!(bytewise(&echo, b"ping"), Read::Answered);
        assert_eq!(read_all(&echo, &[b"pong"]), Read::Wrong);
        assert_eq!(read_all(&echo, &[b"pin"]), Read::Pending);
    }

    #[test]
    fn an_http_head_ends_at_its_blank_line_and_a_5xx_or_429_is_wrong() {
        let head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 615\r\n\r\n";
        assert_eq!(read_all(&BeatReply::HttpHead, &[head]), Read::Answered);
        assert_eq!(bytewise(&BeatReply::HttpHead, head), Read::Answered);
        assert_eq!(
            read_all(&BeatReply::HttpHead, &[&head[..head.len() - 1]]),
            Read::Pending
        );
        let not_found = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(bytewise(&BeatReply::HttpHead, not_found), Read::Answered);
        for status in ["500", "502", "503", "429"] {
            let answer = format!("HTTP/1.1 {status} Busy\r\nRetry-After: 1\r\n\r\n");
            assert_eq!(
                bytewise(&BeatReply::HttpHead, answer.as_bytes()),
                Read::Wrong,
                "{status}"
            );
        }
        assert_eq!(
            read_all(&BeatReply::HttpHead, &[b"SSH-2.0-OpenSSH\r\n"]),
            Read::Wrong
        );
        assert_eq!(
            read_all(&BeatReply::HttpHead, &[b"HTTP/1.1 2x0 OK\r\n\r\n"]),
            Read::Wrong
        );
        // A bare \r inside a header line does not start the blank line's count anew wrongly.
        let odd = b"HTTP/1.0 200 OK\r\nX: a\r\r\n\r\n";
        assert_eq!(bytewise(&BeatReply::HttpHead, odd), Read::Answered);
    }

    /// One backend message: type, length counting itself, body.
    fn pg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn postgres_answers_an_empty_query_at_ready_for_query_and_an_error_is_wrong() {
        let mut answer = pg(b'I', b"");
        answer.extend(pg(b'Z', b"I"));
        assert_eq!(read_all(&BeatReply::Postgres, &[&answer]), Read::Answered);
        assert_eq!(bytewise(&BeatReply::Postgres, &answer), Read::Answered);
        // A notice first, then the answer.
        let mut noticed = pg(b'N', b"SNOTICE\0Mhello\0\0");
        noticed.extend(&answer);
        assert_eq!(bytewise(&BeatReply::Postgres, &noticed), Read::Answered);
        assert_eq!(
            read_all(&BeatReply::Postgres, &[&answer[..answer.len() - 1]]),
            Read::Pending
        );
        let error = pg(b'E', b"SFATAL\0C57P01\0Mterminating connection\0\0");
        assert_eq!(read_all(&BeatReply::Postgres, &[&error]), Read::Wrong);
        // A length of 16 MiB or more, or one that does not count itself.
        assert_eq!(
            read_all(&BeatReply::Postgres, &[b"I\x01\0\0\0"]),
            Read::Wrong
        );
        assert_eq!(
            read_all(&BeatReply::Postgres, &[b"I\0\0\0\x03"]),
            Read::Wrong
        );
    }

    #[test]
    fn a_long_postgres_message_is_skipped_in_pieces() {
        let mut answer = pg(b'S', &[b'x'; 70_000]);
        answer.extend(pg(b'Z', b"I"));
        let pieces: Vec<&[u8]> = answer.chunks(4096).collect();
        assert_eq!(read_all(&BeatReply::Postgres, &pieces), Read::Answered);
    }

    #[test]
    fn beats_are_spread_over_the_period_on_an_absolute_schedule() {
        let origin = Instant::now();
        let ms = Duration::from_millis;
        let schedule = BeatSchedule {
            origin,
            period: ms(100),
            spread: 4,
            until: None,
        };
        assert_eq!(schedule.due(0, 0), origin);
        assert_eq!(schedule.due(1, 0), origin + ms(25));
        assert_eq!(schedule.due(3, 2), origin + ms(275));
        // Attempt 5 of 4 (a replacement) takes attempt 1's phase.
        assert_eq!(schedule.due(5, 1), origin + ms(125));
        // The first beat after being served is due after it, within a period.
        assert_eq!(schedule.first_after(1, origin), 0);
        assert_eq!(schedule.first_after(1, origin + ms(25)), 1);
        assert_eq!(schedule.first_after(1, origin + ms(30)), 1);
        assert_eq!(schedule.first_after(1, origin + ms(125)), 2);
        for served in [0, 7, 25, 99, 100, 1234] {
            let served = origin + ms(served);
            let j = schedule.first_after(2, served);
            let due = schedule.due(2, j);
            assert!(due >= served && due <= served + ms(100), "{j}");
        }
    }
}
