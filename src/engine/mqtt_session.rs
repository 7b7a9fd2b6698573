//! An MQTT session (`--probe mqtt`): CONNECT and its CONNACK as the probe, then packets for
//! as long as the connection is held, with PINGREQ as its heartbeat. Sans-I/O, as every
//! session is: bytes and `now` in; bytes to write, an outcome, beat events and a deadline
//! out. The MQTT pieces it is made of are `engine::mqtt`.
//!
//! ```text
//!  up ──CONNECT──▶ Connack ──CONNACK 0──▶ Open (served) ──DISCONNECT──▶ Done
//!                    ├──CONNACK ≠ 0, or DISCONNECT──▶ Done (rejected, the code named)
//!                    ├──another packet, or not MQTT──▶ Done (rejected, protocol error)
//!                    └──no answer by the timeout──▶ Done (unserved)
//!  Open: beat due ──PINGREQ──▶ out ──PINGRESP──▶ answered ──next due──▶ …
//!                                └──none by due + timeout / DISCONNECT / bad packet──▶ Stopped
//! ```
//! PINGREQ carries no identifier: the PINGRESP read while one is out answers it, and one
//! read with none out is discarded. PUBLISH packets the broker pushes are read and
//! discarded, each bounded by [`crate::engine::mqtt::MAX_PACKET`]. Nothing per connection
//! grows: the CONNECT is made again from the attempt's number when the socket takes it in
//! pieces.

use std::time::{Duration, Instant};

use crate::engine::beat::Heartbeat;
use crate::engine::mqtt::{
    AUTH, CONNACK, CONNECT, Connect, DISCONNECT, Event, MqttEvent, PINGREQ, PINGREQ_PACKET,
    PINGRESP, PacketReader, SUBSCRIBE, UNSUBSCRIBE,
};
use crate::engine::probe::ProbeOutcome;
use crate::engine::session_output::{BeatEvents, Output, PeerEvent};
use crate::engine::stats::StopCause;

/// The run's MQTT session, shared by every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSession {
    /// The CONNECT's template (`mqtt::connect_template`): the client id's length at
    /// `len_at`, the attempt's number to go at `id_at`.
    pub template: Vec<u8>,
    pub len_at: usize,
    pub id_at: usize,
    /// How long the CONNACK may take.
    pub timeout: Duration,
    /// `--heartbeat`: a PINGREQ on this schedule, its PINGRESP within this timeout.
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// CONNECT is written, its CONNACK read.
    Connack,
    /// Accepted: served.
    Open,
    /// Judged not served, or disconnected: what arrives is discarded.
    Done,
    /// Served once, then it stopped answering its pings.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    Nothing,
    Connect,
    Ping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// Beat `next` is not due yet.
    Idle,
    /// Beat `next`'s PINGREQ is being written.
    Writing,
    /// Beat `next`'s PINGREQ went out; its PINGRESP is awaited.
    Out,
}

/// One connection's MQTT state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttState {
    stage: Stage,
    packets: PacketReader,
    writing: Writing,
    written: u16,
    beat: Beat,
    /// Beat `next`, in halves.
    next: [u16; 2],
    /// The packet being read: its type, the body bytes seen (saturating), and its first
    /// two (CONNACK's flags and code; DISCONNECT's reason).
    kind: u8,
    at: u8,
    head: [u8; 2],
}

impl MqttState {
    pub fn awaiting(&self) -> bool {
        self.stage == Stage::Connack
    }

    pub fn served(&self) -> bool {
        self.stage == Stage::Open
    }

    pub fn needs_transport(&self) -> bool {
        matches!(self.stage, Stage::Connack | Stage::Open)
    }

    fn next(&self) -> u32 {
        u32::from(self.next[0]) << 16 | u32::from(self.next[1])
    }

    fn set_next(&mut self, j: u32) {
        self.next = [(j >> 16) as u16, j as u16];
    }
}

impl MqttSession {
    fn v5(&self) -> bool {
        self.template.get(6) == Some(&5)
    }

    fn connect(&self, seq: u64) -> Connect<'_> {
        Connect {
            template: &self.template,
            len_at: self.len_at,
            id_at: self.id_at,
            seq,
        }
    }

    pub fn open(&self, now: Instant) -> (MqttState, Output) {
        let state = MqttState {
            stage: Stage::Connack,
            packets: PacketReader::default(),
            writing: Writing::Connect,
            written: 0,
            beat: Beat::Idle,
            next: [0; 2],
            kind: 0,
            at: 0,
            head: [0; 2],
        };
        let out = Output {
            deadline: (!self.timeout.is_zero())
                .then(|| now.checked_add(self.timeout))
                .flatten(),
            ..Output::default()
        };
        (state, out)
    }

    /// The next bytes to write, made in `scratch`.
    pub fn unsent<'a>(&self, state: &MqttState, seq: u64, scratch: &'a mut [u8; 64]) -> &'a [u8] {
        let from = usize::from(state.written);
        let n = match state.writing {
            Writing::Nothing => 0,
            Writing::Connect => self.connect(seq).fill(from, scratch),
            Writing::Ping => {
                let rest = &PINGREQ_PACKET[from.min(PINGREQ_PACKET.len())..];
                scratch[..rest.len()].copy_from_slice(rest);
                rest.len()
            }
        };
        &scratch[..n]
    }

    /// `n` of [`MqttSession::unsent`] were written. A CONNECT ends where `unsent` finds no
    /// more of it (its length depends on the attempt's number); nothing is written after it
    /// before its CONNACK.
    pub fn on_sent(&self, state: &mut MqttState, n: usize) -> Output {
        // A CONNECT is under 64 KiB (the command line bounds its parts).
        let done = (usize::from(state.written) + n).min(usize::from(u16::MAX));
        if state.writing != Writing::Ping || done < PINGREQ_PACKET.len() {
            state.written = done as u16;
            return Output::default();
        }
        state.beat = Beat::Out;
        (state.writing, state.written) = (Writing::Nothing, 0);
        Output {
            beat: BeatEvents {
                sent: true,
                ..BeatEvents::default()
            },
            ..Output::default()
        }
    }

    /// Takes `bytes`, the next plaintext that arrived on attempt `seq`'s connection, `now`.
    pub fn on_bytes(
        &self,
        state: &mut MqttState,
        seq: u64,
        mut bytes: &[u8],
        now: Instant,
    ) -> Output {
        let mut out = Output::default();
        // A packet's end may come after its last byte, so read on until no event comes.
        while matches!(state.stage, Stage::Connack | Stage::Open) {
            let (event, used) = state.packets.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            out = out.and(self.on_packet(state, seq, event, now));
        }
        out
    }

    fn on_packet(&self, state: &mut MqttState, seq: u64, event: Event, now: Instant) -> Output {
        match event {
            Event::Start { kind, .. } => {
                (state.kind, state.at, state.head) = (kind, 0, [0; 2]);
                Output::default()
            }
            Event::Body(bytes) => {
                for (i, &b) in bytes.iter().enumerate() {
                    if let Some(slot) = state.head.get_mut(usize::from(state.at) + i) {
                        *slot = b;
                    }
                }
                state.at = state.at.saturating_add(bytes.len().min(255) as u8);
                Output::default()
            }
            Event::End if state.stage == Stage::Connack => self.on_answer(state, seq, now),
            Event::End => match state.kind {
                PINGRESP if state.beat == Beat::Out => {
                    let beat = self.heartbeat.as_ref().expect("a ping went out");
                    let j = state.next();
                    let latency = now.saturating_duration_since(beat.schedule.due(seq, j));
                    let late = now >= beat.schedule.due(seq, j.saturating_add(1));
                    let mut out = self.wait_for(state, seq, j.saturating_add(1), now);
                    out.beat.answered = Some((latency, late));
                    out
                }
                DISCONNECT => {
                    let reason = if state.at == 0 { 0 } else { state.head[0] };
                    self.end(
                        state,
                        MqttEvent::Disconnected(reason),
                        StopCause::Closed,
                        now,
                    )
                }
                kind if self.never_sent(kind) => {
                    self.end(state, MqttEvent::Unexpected(kind), StopCause::Wrong, now)
                }
                // PUBLISH and the acknowledgements of what this client never sent: read and
                // discarded.
                _ => Output::default(),
            },
            Event::Error(e) if state.stage == Stage::Connack => {
                rejected(state, MqttEvent::Packet(e))
            }
            Event::Error(e) => self.end(state, MqttEvent::Packet(e), StopCause::Wrong, now),
        }
    }

    /// Packet types no broker sends a client that neither subscribed nor authenticates:
    /// the client's own, a second CONNACK, and AUTH (reserved in 3.1.1).
    fn never_sent(&self, kind: u8) -> bool {
        matches!(
            kind,
            CONNECT | CONNACK | SUBSCRIBE | UNSUBSCRIBE | PINGREQ | AUTH
        )
    }

    /// The first packet is whole, `now`: a CONNACK judges the connection.
    fn on_answer(&self, state: &mut MqttState, seq: u64, now: Instant) -> Output {
        match state.kind {
            CONNACK if state.at < 2 => rejected(state, MqttEvent::ShortConnack),
            CONNACK if state.head[1] != 0 => rejected(
                state,
                MqttEvent::Refused {
                    v5: self.v5(),
                    code: state.head[1],
                },
            ),
            CONNACK => {
                state.stage = Stage::Open;
                let mut out = Output {
                    outcome: Some(ProbeOutcome::Served),
                    ..Output::default()
                };
                if let Some(beat) = &self.heartbeat {
                    let next = beat.schedule.first_after(seq, now);
                    state.set_next(next);
                    out.deadline = Some(beat.schedule.due(seq, next));
                }
                out
            }
            DISCONNECT => {
                let reason = if state.at == 0 { 0 } else { state.head[0] };
                rejected(state, MqttEvent::Disconnected(reason))
            }
            kind => rejected(state, MqttEvent::Unexpected(kind)),
        }
    }

    /// The connection ends with `event`: it stopped answering (`cause`) if a ping was out.
    fn end(
        &self,
        state: &mut MqttState,
        event: MqttEvent,
        cause: StopCause,
        now: Instant,
    ) -> Output {
        let mut out = Output {
            said: Some(PeerEvent::Mqtt(event)),
            close: true,
            ..Output::default()
        };
        if state.beat == Beat::Idle {
            state.stage = Stage::Done;
        } else {
            state.stage = Stage::Stopped;
            out.beat.stopped = Some((cause, now));
        }
        out
    }

    /// Beat `j` is next, `now`: begun when it is due, else waited for.
    fn wait_for(&self, state: &mut MqttState, seq: u64, j: u32, now: Instant) -> Output {
        let beat = self.heartbeat.as_ref().expect("beating");
        state.set_next(j);
        state.beat = Beat::Idle;
        let (mut out, due_now) = beat.wait(seq, j, now);
        if due_now {
            // Nothing else is ever written once open: the PINGREQ goes at once.
            state.beat = Beat::Writing;
            state.writing = Writing::Ping;
            state.written = 0;
            out.wants_write = true;
        }
        out
    }

    /// Its deadline passed, `now`.
    pub fn on_deadline(&self, state: &mut MqttState, seq: u64, now: Instant) -> Output {
        match (state.stage, state.beat, &self.heartbeat) {
            (Stage::Connack, ..) => {
                state.stage = Stage::Done;
                Output {
                    outcome: Some(ProbeOutcome::Unserved),
                    ..Output::default()
                }
            }
            (Stage::Open, Beat::Idle, Some(beat)) => {
                if now < beat.schedule.due(seq, state.next()) {
                    return Output::default();
                }
                self.wait_for(state, seq, state.next(), now)
            }
            (Stage::Open, Beat::Writing | Beat::Out, Some(beat)) => {
                match beat.timed_out(seq, state.next(), now) {
                    Some(out) => {
                        state.stage = Stage::Stopped;
                        out
                    }
                    None => Output::default(),
                }
            }
            _ => Output::default(),
        }
    }

    /// The connection closed, `now`.
    pub fn on_close(&self, state: &mut MqttState, now: Instant) -> Output {
        match (state.stage, state.beat) {
            (Stage::Connack, _) => {
                state.stage = Stage::Done;
                Output {
                    outcome: Some(ProbeOutcome::ClosedBeforeAnswer),
                    ..Output::default()
                }
            }
            (Stage::Open, Beat::Writing | Beat::Out) => {
                state.stage = Stage::Stopped;
                Output {
                    beat: BeatEvents {
                        stopped: Some((StopCause::Closed, now)),
                        ..BeatEvents::default()
                    },
                    ..Output::default()
                }
            }
            (Stage::Open, Beat::Idle) => {
                state.stage = Stage::Done;
                Output::default()
            }
            _ => Output::default(),
        }
    }
}

/// Not served: the broker refused, or did not speak MQTT. The connection is left to the
/// peer, as a refused WebSocket upgrade is (a broker closes after a refusing CONNACK).
fn rejected(state: &mut MqttState, event: MqttEvent) -> Output {
    state.stage = Stage::Done;
    Output {
        outcome: Some(ProbeOutcome::Rejected),
        said: Some(PeerEvent::Mqtt(event)),
        ..Output::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::beat::{BeatReply, BeatSchedule};
    use crate::engine::mqtt::{ConnectFields, MqttError, Version, connect_template};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn session(origin: Instant, version: Version, beating: bool) -> MqttSession {
        let (template, len_at, id_at) = connect_template(&ConnectFields {
            version,
            prefix: "tg-",
            keep_alive: 1,
            user: None,
            password: None,
        });
        MqttSession {
            template,
            len_at,
            id_at,
            timeout: Duration::from_secs(1),
            heartbeat: beating.then(|| Heartbeat {
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
        }
    }

    /// Everything the session has to write now, in pieces of at most `piece` bytes.
    fn drain(s: &MqttSession, state: &mut MqttState, seq: u64, piece: usize) -> (Vec<u8>, Output) {
        let mut written = Vec::new();
        let mut out = Output::default();
        loop {
            let mut scratch = [0u8; 64];
            let chunk = s.unsent(state, seq, &mut scratch);
            if chunk.is_empty() {
                return (written, out);
            }
            let n = chunk.len().min(piece);
            written.extend_from_slice(&chunk[..n]);
            out = out.and(s.on_sent(state, n));
        }
    }

    const ACCEPTED: &[u8] = b"\x20\x02\0\0";

    #[test]
    fn connect_goes_out_with_the_attempt_s_id_in_any_pieces() {
        let t0 = Instant::now();
        let s = session(t0, Version::V311, false);
        for piece in [1, 5, 64] {
            let (mut state, out) = s.open(t0);
            assert_eq!(out.deadline, Some(t0 + Duration::from_secs(1)));
            let (bytes, _) = drain(&s, &mut state, 12, piece);
            assert_eq!(bytes, b"\x10\x11\0\x04MQTT\x04\x02\0\x01\0\x05tg-12");
        }
    }

    #[test]
    fn connack_0_serves_and_a_refusal_rejects_naming_its_code() {
        let t0 = Instant::now();
        let s = session(t0, Version::V311, false);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 0, 64);
        assert_eq!(
            s.on_bytes(&mut state, 0, b"\x20\x02", t0),
            Output::default()
        );
        let out = s.on_bytes(&mut state, 0, b"\0\0", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert!(state.served() && !state.awaiting());

        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"\x20\x02\0\x03", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Refused { v5: false, code: 3 }))
        );
        assert!(!out.close);
        // Judged once.
        assert_eq!(s.on_close(&mut state, t0), Output::default());

        // 5.0: the code is a reason code, with properties after it.
        let s5 = session(t0, Version::V5, false);
        let (mut state, _) = s5.open(t0);
        let out = s5.on_bytes(&mut state, 0, b"\x20\x06\0\x97\x03\x21\0\x01", t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Refused {
                v5: true,
                code: 0x97
            }))
        );
        let (mut state, _) = s5.open(t0);
        let out = s5.on_bytes(&mut state, 0, b"\x20\x03\0\0\0", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
    }

    #[test]
    fn no_connack_is_unserved_closed_or_a_protocol_error() {
        let t0 = Instant::now();
        let s = session(t0, Version::V5, false);
        let (mut state, _) = s.open(t0);
        let out = s.on_deadline(&mut state, 0, t0 + Duration::from_secs(1));
        assert_eq!(out.outcome, Some(ProbeOutcome::Unserved));
        let (mut state, _) = s.open(t0);
        let out = s.on_close(&mut state, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::ClosedBeforeAnswer));
        // Not MQTT: an HTTP answer is type 4 (PUBACK) with a length byte of 'T'.
        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"HTTP/1.1 400 Bad Request\r\n", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Packet(MqttError::Reserved)))
        );
        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"\xd0\x00", t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Unexpected(PINGRESP)))
        );
        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"\x20\x01\0", t0);
        assert_eq!(out.said, Some(PeerEvent::Mqtt(MqttEvent::ShortConnack)));
        // A DISCONNECT in place of the CONNACK names its reason.
        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 0, b"\xe0\x02\x89\0", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Disconnected(0x89)))
        );
    }

    #[test]
    fn pings_beat_on_schedule_and_pingresp_answers_from_the_due_time() {
        let t0 = Instant::now();
        let s = session(t0, Version::V311, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 64);
        // Attempt 1 of 4: beats due at 25 ms + j × 100 ms.
        let out = s.on_bytes(&mut state, 1, ACCEPTED, t0 + ms(10));
        assert_eq!(out.deadline, Some(t0 + ms(25)));
        assert_eq!(s.on_deadline(&mut state, 1, t0 + ms(20)), Output::default());
        let out = s.on_deadline(&mut state, 1, t0 + ms(25));
        assert_eq!(out.beat.due, Some(t0 + ms(25)));
        assert_eq!(out.deadline, Some(t0 + ms(325)));
        assert!(out.wants_write);
        let (ping, out) = drain(&s, &mut state, 1, 1);
        assert!(out.beat.sent);
        assert_eq!(ping, PINGREQ_PACKET);
        // Its PINGRESP, in two reads: answered 5 ms after it was due.
        assert_eq!(
            s.on_bytes(&mut state, 1, b"\xd0", t0 + ms(28)),
            Output::default()
        );
        let out = s.on_bytes(&mut state, 1, b"\x00", t0 + ms(30));
        assert_eq!(out.beat.answered, Some((ms(5), false)));
        assert_eq!(out.deadline, Some(t0 + ms(125)));
        // A PINGRESP with none out is discarded; so is a PUBLISH.
        let out = s.on_bytes(&mut state, 1, b"\xd0\x00\x30\x03\0\x01t", t0 + ms(40));
        assert_eq!(out, Output::default());
        // The next goes unanswered: stopped at its due time, found at its timeout.
        s.on_deadline(&mut state, 1, t0 + ms(125));
        drain(&s, &mut state, 1, 64);
        assert_eq!(
            s.on_deadline(&mut state, 1, t0 + ms(424)),
            Output::default()
        );
        let out = s.on_deadline(&mut state, 1, t0 + ms(425));
        assert_eq!(out.beat.stopped, Some((StopCause::Timeout, t0 + ms(125))));
        assert!(!state.served());
        assert_eq!(s.on_close(&mut state, t0 + ms(500)), Output::default());
    }

    #[test]
    fn a_late_pingresp_sends_the_next_ping_at_once() {
        let t0 = Instant::now();
        let s = session(t0, Version::V311, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 64);
        s.on_bytes(&mut state, 1, ACCEPTED, t0 + ms(10));
        s.on_deadline(&mut state, 1, t0 + ms(25));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, b"\xd0\x00", t0 + ms(160));
        assert_eq!(out.beat.answered, Some((ms(135), true)));
        assert_eq!(out.beat.due, Some(t0 + ms(125)));
        assert!(out.wants_write);
        assert_eq!(drain(&s, &mut state, 1, 64).0, PINGREQ_PACKET);
    }

    #[test]
    fn a_disconnect_ends_the_connection_with_its_reason_and_stops_a_beat_out() {
        let t0 = Instant::now();
        let s = session(t0, Version::V5, false);
        let (mut state, _) = s.open(t0);
        let mut bytes = b"\x20\x03\0\0\0".to_vec();
        bytes.extend_from_slice(b"\xe0\x02\x8b\0");
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Disconnected(0x8b)))
        );
        assert!(out.close);
        assert_eq!(out.beat.stopped, None);
        assert!(!state.served());

        let s = session(t0, Version::V5, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 64);
        s.on_bytes(&mut state, 1, b"\x20\x03\0\0\0", t0);
        s.on_deadline(&mut state, 1, t0 + ms(25));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, b"\xe0\x00", t0 + ms(40));
        assert_eq!(out.said, Some(PeerEvent::Mqtt(MqttEvent::Disconnected(0))));
        assert_eq!(out.beat.stopped, Some((StopCause::Closed, t0 + ms(40))));
        // A packet no broker sends, or one too large, ends it too.
        let (mut state, _) = s.open(t0);
        s.on_bytes(&mut state, 1, b"\x20\x03\0\0\0", t0);
        let out = s.on_bytes(&mut state, 1, b"\x30\xff\xff\xff\x7f", t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Packet(MqttError::TooLarge)))
        );
        assert!(out.close);
        let (mut state, _) = s.open(t0);
        s.on_bytes(&mut state, 1, b"\x20\x03\0\0\0", t0);
        let out = s.on_bytes(&mut state, 1, b"\x20\x02\0\0", t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::Mqtt(MqttEvent::Unexpected(CONNACK)))
        );
    }

    #[test]
    fn a_close_with_a_ping_out_stopped_answering_and_without_one_did_not() {
        let t0 = Instant::now();
        let s = session(t0, Version::V311, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 64);
        s.on_bytes(&mut state, 1, ACCEPTED, t0);
        assert_eq!(s.on_close(&mut state, t0 + ms(5)), Output::default());
        let (mut state, _) = s.open(t0);
        s.on_bytes(&mut state, 1, ACCEPTED, t0);
        s.on_deadline(&mut state, 1, t0 + ms(25));
        let out = s.on_close(&mut state, t0 + ms(30));
        assert_eq!(out.beat.stopped, Some((StopCause::Closed, t0 + ms(30))));
    }
}
