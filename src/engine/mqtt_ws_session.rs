//! MQTT over WebSocket (`--probe mqtt-ws[:PATH]`): the WebSocket opening handshake, asking
//! for the subprotocol `mqtt`, then an MQTT session (`engine::mqtt_session`) whose packets
//! travel in binary frames. Sans-I/O, as every session is; it is the two sessions' pieces
//! put together, not a third protocol.
//!
//! ```text
//!  up ──GET with Upgrade──▶ Head ──101 + right accept──▶ Up: the MQTT session, opened
//!                            ├──another status──▶ Done (rejected, the status named)
//!                            ├──101, wrong accept, or not HTTP──▶ Done (rejected)
//!                            └──no answer by the timeout──▶ Done (unserved)
//!  Up: MQTT's bytes out, each piece a masked binary frame; binary frames' payloads in, to
//!      the MQTT session; a ping from the server answered; a close frame ends it as a
//!      close of the connection ends the MQTT session (its code counted).
//! ```
//! The probe timeout runs from the connection's start: the upgrade and the CONNACK both
//! come within it.

use std::time::Instant;

use crate::engine::mqtt_session::{MqttSession, MqttState};
use crate::engine::probe::ProbeOutcome;
use crate::engine::session_output::{Output, PeerEvent};
use crate::engine::ws::{
    self, BINARY, CLOSE, CONTINUATION, Event, FrameReader, Head, HeadReader, OutFrame, PING, PONG,
    WsEvent,
};
use crate::engine::ws_session::{not_upgraded, request_from};

/// The largest piece of MQTT's bytes one frame carries: a frame's header (2 bytes, the mask
/// 4) and its payload fit the 64 bytes a piece is made in.
const PIECE: usize = 58;

/// The most bytes of a server's ping kept for its pong; a longer ping goes unanswered and
/// is counted.
const OWED_MAX: usize = 4;

/// The run's MQTT-over-WebSocket session, shared by every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttWsSession {
    /// The opening handshake's request; its key's 24 bytes at `key_at`, made per attempt.
    pub request: Vec<u8>,
    pub key_at: usize,
    /// The run's seed for keys and masks.
    pub seed: u64,
    /// The MQTT session its frames carry; its timeout is the whole probe's.
    pub mqtt: MqttSession,
}

/// One connection's state: the handshake, then the frames and the MQTT session in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttWsState {
    /// The request is written (`written` of it so far), its answer read.
    Head {
        head: HeadReader,
        written: u16,
    },
    Up(Up),
    /// Judged not served by the handshake: what arrives is discarded.
    Done,
}

/// Upgraded: frames both ways, and the MQTT session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Up {
    frames: FrameReader,
    mqtt: MqttState,
    /// Bytes of the frame being written; which of them is a pong (else MQTT's piece).
    written: u8,
    pong: bool,
    /// Frames written, for each frame's mask.
    sent: u16,
    /// The frame being read: its opcode, its control payload's bytes seen (saturating).
    op: u8,
    at: u8,
    /// A pong owed for the server's ping: its payload, and its length (`u8::MAX`: none).
    owed: [u8; OWED_MAX],
    owed_len: u8,
}

const NONE_OWED: u8 = u8::MAX;

impl MqttWsState {
    pub fn awaiting(&self) -> bool {
        match self {
            MqttWsState::Head { .. } => true,
            MqttWsState::Up(up) => up.mqtt.awaiting(),
            MqttWsState::Done => false,
        }
    }

    pub fn served(&self) -> bool {
        matches!(self, MqttWsState::Up(up) if up.mqtt.served())
    }

    pub fn needs_transport(&self) -> bool {
        match self {
            MqttWsState::Head { .. } => true,
            MqttWsState::Up(up) => up.mqtt.needs_transport(),
            MqttWsState::Done => false,
        }
    }
}

impl MqttWsSession {
    pub fn open(&self, now: Instant) -> (MqttWsState, Output) {
        let state = MqttWsState::Head {
            head: HeadReader::default(),
            written: 0,
        };
        let timeout = self.mqtt.timeout;
        let out = Output {
            deadline: (!timeout.is_zero())
                .then(|| now.checked_add(timeout))
                .flatten(),
            ..Output::default()
        };
        (state, out)
    }

    /// The next bytes to write, from the request itself or made in `scratch`.
    pub fn unsent<'a>(
        &'a self,
        state: &MqttWsState,
        seq: u64,
        scratch: &'a mut [u8; 64],
    ) -> &'a [u8] {
        match state {
            MqttWsState::Head { written, .. } => request_from(
                &self.request,
                self.key_at,
                self.seed,
                seq,
                usize::from(*written),
                scratch,
            ),
            MqttWsState::Up(up) => {
                let mut piece = [0u8; 64];
                let payload: &[u8] = if up.pong {
                    &up.owed[..usize::from(up.owed_len).min(OWED_MAX)]
                } else {
                    let bytes = self.mqtt.unsent(&up.mqtt, seq, &mut piece);
                    &bytes[..bytes.len().min(PIECE)]
                };
                if payload.is_empty() && !up.pong {
                    return &[];
                }
                let frame = OutFrame {
                    opcode: if up.pong { PONG } else { BINARY },
                    mask: ws::mask(self.seed, seq, u32::from(up.sent)),
                    payload,
                };
                let n = frame.fill(usize::from(up.written), scratch);
                &scratch[..n]
            }
            MqttWsState::Done => &[],
        }
    }

    /// `n` of [`MqttWsSession::unsent`] were written.
    pub fn on_sent(&self, state: &mut MqttWsState, seq: u64, n: usize) -> Output {
        match state {
            MqttWsState::Head { written, .. } => {
                // The request is at most u16::MAX long (the command line checks it).
                *written = (usize::from(*written) + n).min(usize::from(u16::MAX)) as u16;
                Output::default()
            }
            MqttWsState::Up(up) => {
                let mut piece = [0u8; 64];
                let payload = if up.pong {
                    usize::from(up.owed_len).min(OWED_MAX)
                } else {
                    self.mqtt.unsent(&up.mqtt, seq, &mut piece).len().min(PIECE)
                };
                let done = usize::from(up.written) + n;
                if done < 6 + payload {
                    up.written = done as u8;
                    return Output::default();
                }
                (up.written, up.sent) = (0, up.sent.wrapping_add(1));
                let mut out = Output::default();
                if up.pong {
                    (up.pong, up.owed_len) = (false, NONE_OWED);
                } else {
                    out = self.mqtt.on_sent(&mut up.mqtt, payload);
                }
                // More of MQTT's bytes, or a pong owed meanwhile.
                out.wants_write |= up.owed_len != NONE_OWED
                    || !self.mqtt.unsent(&up.mqtt, seq, &mut piece).is_empty();
                up.pong = up.owed_len != NONE_OWED;
                out
            }
            MqttWsState::Done => Output::default(),
        }
    }

    /// Takes `bytes`, the next plaintext that arrived on attempt `seq`'s connection, `now`.
    pub fn on_bytes(
        &self,
        state: &mut MqttWsState,
        seq: u64,
        mut bytes: &[u8],
        now: Instant,
    ) -> Output {
        let mut out = Output::default();
        if let MqttWsState::Head { head, .. } = state {
            let expected = ws::accept(&ws::key(self.seed, seq));
            let (verdict, used) = head.read(&expected, bytes);
            bytes = &bytes[used..];
            match verdict {
                Head::Pending => return out,
                Head::Refused(_) | Head::BadAccept | Head::NotHttp => {
                    *state = MqttWsState::Done;
                    return not_upgraded(verdict);
                }
                Head::Upgraded => {
                    // The MQTT session begins; its deadline is the one the probe has.
                    let (mqtt, _) = self.mqtt.open(now);
                    *state = MqttWsState::Up(Up {
                        frames: FrameReader::default(),
                        mqtt,
                        written: 0,
                        pong: false,
                        sent: 0,
                        op: 0,
                        at: 0,
                        owed: [0; OWED_MAX],
                        owed_len: NONE_OWED,
                    });
                    out.wants_write = true;
                }
            }
        }
        let MqttWsState::Up(up) = state else {
            return out;
        };
        // A frame's end may come after its last byte, so read on until no event comes.
        while up.mqtt.needs_transport() {
            let (event, used) = up.frames.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            let (more, ended) = self.on_frame(up, seq, event, now);
            out = out.and(more);
            if ended {
                break;
            }
        }
        out
    }

    /// One event of the frames; whether the connection ends with it.
    fn on_frame(&self, up: &mut Up, seq: u64, event: Event, now: Instant) -> (Output, bool) {
        match event {
            Event::Start { opcode, .. } => {
                if opcode != CONTINUATION {
                    up.op = opcode;
                }
                up.at = 0;
                (Output::default(), false)
            }
            Event::Payload(bytes) => match up.op {
                BINARY => (self.mqtt.on_bytes(&mut up.mqtt, seq, bytes, now), false),
                PING => {
                    for (i, &b) in bytes.iter().enumerate() {
                        if let Some(slot) = up.owed.get_mut(usize::from(up.at) + i) {
                            *slot = b;
                        }
                    }
                    up.at = up.at.saturating_add(bytes.len().min(255) as u8);
                    (Output::default(), false)
                }
                CLOSE => {
                    for (i, &b) in bytes.iter().enumerate() {
                        if let Some(slot) = up.owed.get_mut(usize::from(up.at) + i) {
                            *slot = b;
                        }
                    }
                    up.at = up.at.saturating_add(bytes.len().min(255) as u8);
                    (Output::default(), false)
                }
                // Text is not MQTT's: read and discarded.
                _ => (Output::default(), false),
            },
            Event::End => match up.op {
                PING if usize::from(up.at) > OWED_MAX => (
                    Output {
                        said: Some(PeerEvent::Ws(WsEvent::PingTooLong)),
                        ..Output::default()
                    },
                    false,
                ),
                PING => {
                    up.owed_len = up.at;
                    let idle = up.written == 0 && {
                        let mut piece = [0u8; 64];
                        self.mqtt.unsent(&up.mqtt, seq, &mut piece).is_empty()
                    };
                    if idle {
                        up.pong = true;
                    }
                    let out = Output {
                        wants_write: idle,
                        ..Output::default()
                    };
                    (out, false)
                }
                CLOSE => {
                    let code = if up.at < 2 {
                        1005
                    } else {
                        u16::from_be_bytes([up.owed[0], up.owed[1]])
                    };
                    // Its payload is no ping's: nothing is owed for it.
                    up.owed_len = NONE_OWED;
                    let mut out = self.mqtt.on_close(&mut up.mqtt, now);
                    out.said = Some(PeerEvent::Ws(WsEvent::Closed(code)));
                    out.close = true;
                    (out, true)
                }
                _ => (Output::default(), false),
            },
            Event::Error(e) => {
                let mut out = self.mqtt.on_close(&mut up.mqtt, now);
                if out.outcome == Some(ProbeOutcome::ClosedBeforeAnswer) {
                    out.outcome = Some(ProbeOutcome::Rejected);
                }
                out.said = Some(PeerEvent::Ws(WsEvent::Frame(e)));
                out.close = true;
                (out, true)
            }
        }
    }

    /// Its deadline passed, `now`.
    pub fn on_deadline(&self, state: &mut MqttWsState, seq: u64, now: Instant) -> Output {
        match state {
            MqttWsState::Head { .. } => {
                *state = MqttWsState::Done;
                Output {
                    outcome: Some(ProbeOutcome::Unserved),
                    ..Output::default()
                }
            }
            MqttWsState::Up(up) => self.mqtt.on_deadline(&mut up.mqtt, seq, now),
            MqttWsState::Done => Output::default(),
        }
    }

    /// The connection closed, `now`.
    pub fn on_close(&self, state: &mut MqttWsState, now: Instant) -> Output {
        match state {
            MqttWsState::Head { .. } => {
                *state = MqttWsState::Done;
                Output {
                    outcome: Some(ProbeOutcome::ClosedBeforeAnswer),
                    ..Output::default()
                }
            }
            MqttWsState::Up(up) => self.mqtt.on_close(&mut up.mqtt, now),
            MqttWsState::Done => Output::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::beat::{BeatReply, BeatSchedule, Heartbeat};
    use crate::engine::mqtt::{ConnectFields, Version, connect_template};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn session(origin: Instant) -> MqttWsSession {
        let (request, key_at) =
            crate::engine::probe::websocket_request("localhost:80", "/mqtt", Some("mqtt"), &[]);
        let (template, len_at, id_at) = connect_template(&ConnectFields {
            version: Version::V311,
            prefix: "a-client-id-long-enough-to-take-two-frames-or-three-",
            keep_alive: 1,
            user: None,
            password: None,
        });
        MqttWsSession {
            request,
            key_at,
            seed: 7,
            mqtt: MqttSession {
                template,
                len_at,
                id_at,
                timeout: Duration::from_secs(1),
                heartbeat: Some(Heartbeat {
                    schedule: BeatSchedule {
                        origin,
                        period: ms(100),
                        spread: 4,
                        until: None,
                    },
                    timeout: ms(300),
                    request: Vec::new(),
                    reply: BeatReply::MqttPing,
                }),
            },
        }
    }

    /// Everything to write now, in pieces of at most `piece` bytes.
    fn drain(s: &MqttWsSession, state: &mut MqttWsState, seq: u64, piece: usize) -> Vec<u8> {
        let mut written = Vec::new();
        loop {
            let mut scratch = [0u8; 64];
            let chunk = s.unsent(state, seq, &mut scratch);
            if chunk.is_empty() {
                return written;
            }
            let n = chunk.len().min(piece);
            written.extend_from_slice(&chunk[..n]);
            s.on_sent(state, seq, n);
        }
    }

    /// The frames a server reads in `bytes`: opcode and unmasked payload.
    fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut seen = Vec::new();
        while !bytes.is_empty() {
            let len = usize::from(bytes[1] & 0x7f);
            let mask = &bytes[2..6];
            let payload = (bytes[6..6 + len].iter().enumerate())
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            seen.push((bytes[0], payload));
            bytes = &bytes[6 + len..];
        }
        seen
    }

    fn upgrade(seq: u64) -> Vec<u8> {
        let accept = ws::accept(&ws::key(7, seq));
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            String::from_utf8_lossy(&accept)
        )
        .into_bytes()
    }

    #[test]
    fn the_connect_goes_in_binary_frames_and_a_connack_in_one_serves() {
        let t0 = Instant::now();
        let s = session(t0);
        for piece in [1, 5, 64] {
            let (mut state, out) = s.open(t0);
            assert_eq!(out.deadline, Some(t0 + Duration::from_secs(1)));
            let request = drain(&s, &mut state, 1, piece);
            assert!(String::from_utf8_lossy(&request).contains("Sec-WebSocket-Protocol: mqtt\r\n"));
            let out = s.on_bytes(&mut state, 1, &upgrade(1), t0 + ms(1));
            assert!(out.wants_write && out.outcome.is_none() && state.awaiting());
            let written = drain(&s, &mut state, 1, piece);
            let sent = frames(&written);
            assert!(sent.len() >= 2, "a CONNECT over {PIECE} bytes: {sent:?}");
            assert!(sent.iter().all(|(first, _)| *first == 0x80 | BINARY));
            let connect: Vec<u8> = sent.into_iter().flat_map(|(_, p)| p).collect();
            let mut scratch = [0u8; 64];
            let (mut plain, _) = s.mqtt.open(t0);
            let mut expected = Vec::new();
            loop {
                let chunk = s.mqtt.unsent(&plain, 1, &mut scratch).to_vec();
                if chunk.is_empty() {
                    break;
                }
                expected.extend_from_slice(&chunk);
                s.mqtt.on_sent(&mut plain, chunk.len());
            }
            assert_eq!(connect, expected, "{piece}");
            // The CONNACK in a binary frame, given a byte at a time.
            let mut out = Output::default();
            for b in b"\x82\x04\x20\x02\x00\x00" {
                out = out.and(s.on_bytes(&mut state, 1, &[*b], t0 + ms(2)));
            }
            assert_eq!(out.outcome, Some(ProbeOutcome::Served), "{piece}");
            assert!(state.served());
        }
    }

    #[test]
    fn a_ping_is_answered_a_refused_upgrade_named_and_a_close_frame_ends_it() {
        let t0 = Instant::now();
        let s = session(t0);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 0, 4096);
        let mut bytes = upgrade(0);
        bytes.extend_from_slice(b"\x89\x02hi");
        s.on_bytes(&mut state, 0, &bytes, t0);
        let written = frames(&drain(&s, &mut state, 0, 4096));
        // The pong goes between two of the CONNECT's frames (each a whole message).
        assert_eq!(written[0].0, 0x80 | BINARY, "the CONNECT first");
        let pongs: Vec<_> = written
            .iter()
            .filter(|(first, _)| *first == 0x80 | PONG)
            .collect();
        assert_eq!(pongs, [&(0x80 | PONG, b"hi".to_vec())]);
        s.on_bytes(&mut state, 0, b"\x82\x04\x20\x02\x00\x00", t0);
        assert!(state.served());
        let out = s.on_bytes(&mut state, 0, b"\x88\x02\x03\xe9", t0);
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::Closed(1001))));
        assert!(out.close && !state.served());

        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"HTTP/1.1 503 Busy\r\n\r\n", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(out.rejected_status, Some(503));
        // Upgraded but closed before its CONNACK: closed before answering.
        let (mut state, _) = s.open(t0);
        s.on_bytes(&mut state, 0, &upgrade(0), t0);
        let out = s.on_bytes(&mut state, 0, b"\x88\x02\x03\xf5", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::ClosedBeforeAnswer));
        // No answer in time to the upgrade: unserved.
        let (mut state, _) = s.open(t0);
        let out = s.on_deadline(&mut state, 0, t0 + Duration::from_secs(1));
        assert_eq!(out.outcome, Some(ProbeOutcome::Unserved));
    }
}
