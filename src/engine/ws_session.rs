//! A WebSocket session (`--probe ws`): the opening handshake as the probe, then frames for
//! as long as the connection is held, with a ping as its heartbeat. Sans-I/O, as every
//! session is: bytes and `now` in; bytes to write, an outcome, beat events and a deadline
//! out. The RFC 6455 pieces it is made of are `engine::ws`.
//!
//! ```text
//!  up ──request──▶ Head ──101 + right accept──▶ Open (served) ──close frame──▶ Done
//!                   ├──another status──▶ Done (rejected, the status named)
//!                   ├──101, wrong accept, or not HTTP──▶ Done (rejected, protocol error)
//!                   └──no answer by the timeout──▶ Done (unserved)
//!  with --send/--expect, the upgrade is not enough:
//!  Head ──101 + right accept──▶ Message ──(the --send text written) first message back
//!                                  │       begins with --expect──▶ Open (served)
//!                                  ├──it does not──▶ Done (rejected)
//!                                  ├──no message by the timeout──▶ Done (unserved)
//!                                  └──a close frame, a bad frame, a close──▶ Done (closed
//!                                      before answering; a bad frame: rejected)
//!  Open: beat due ──ping j──▶ out ──pong j──▶ answered ──next due──▶ …
//!                              └──no pong by due + timeout / close / bad frame──▶ Stopped
//! ```
//! A ping from the server is answered with a pong carrying its payload (up to
//! [`OWED_MAX`] bytes are kept for it; a longer ping goes unanswered and is counted).
//! Messages the server pushes are framed, counted and discarded. Nothing per connection grows:
//! the request's key and every frame's mask are made again from the attempt's number when
//! the socket takes them in pieces.

use std::time::{Duration, Instant};

use crate::engine::beat::Heartbeat;
use crate::engine::probe::ProbeOutcome;
use crate::engine::session_output::{BeatEvents, Output, PeerEvent};
use crate::engine::stats::StopCause;
use crate::engine::ws::{
    self, BINARY, CLOSE, CONTINUATION, Event, FrameReader, Head, HeadReader, OWED_MAX, OutFrame,
    PING, PONG, TEXT, WsEvent,
};

/// The run's WebSocket session, shared by every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsSession {
    /// The opening handshake's request; its `Sec-WebSocket-Key` is 24 bytes at `key_at`,
    /// made per attempt.
    pub request: Vec<u8>,
    pub key_at: usize,
    /// The run's seed for keys and masks.
    pub seed: u64,
    /// How long the handshake's answer may take.
    pub timeout: Duration,
    /// `--heartbeat`: a ping on this schedule, its pong within this timeout.
    pub heartbeat: Option<Heartbeat>,
    /// `--send`/`--expect`: the first message back serves, not the upgrade.
    pub message: Option<WsMessage>,
}

/// `--send` and `--expect` with `--probe ws`: a text message written once the connection is
/// upgraded (none: the server speaks first), and what the first message back (text or
/// binary, its fragments together) must begin with (empty: any message serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsMessage {
    pub send: Option<Vec<u8>>,
    pub expect: Vec<u8>,
}

/// The longest `--send` message and `--expect` with `--probe ws`: a connection counts the
/// bytes it has written and matched in 16 bits.
pub const MESSAGE_MAX: usize = u16::MAX as usize - 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The request is written, its answer read.
    Head,
    /// Upgraded; the first message back is awaited (`--send`/`--expect`).
    Message,
    /// Upgraded: served, and framed.
    Open,
    /// Judged not served, or closed: what arrives is discarded.
    Done,
    /// Served once, then it stopped answering its pings.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    Nothing,
    Request,
    Message,
    Ping,
    Pong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// Beat `next` is not due yet.
    Idle,
    /// Beat `next` is due and waits for the writer (a pong is being written).
    Due,
    /// Beat `next`'s ping is being written.
    Writing,
    /// Beat `next`'s ping went out; its pong is awaited.
    Out,
}

/// One connection's WebSocket state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsState {
    stage: Stage,
    /// The handshake's answer is read, then frames: never both at once.
    reading: Reading,
    writing: Writing,
    written: u16,
    beat: Beat,
    next: u32,
    /// The frame being read: its opcode, the control payload bytes seen (saturating),
    /// [`PONG_MATCHES`], [`DATA_FIN`], [`MESSAGE_OWED`], [`MESSAGE_WRONG`], and a close's
    /// code so far, or awaiting the first message, the bytes of it compared with `--expect`
    /// (saturating; a close frame ends that wait anyway).
    op: u8,
    at: u8,
    flags: u8,
    code: u16,
    /// A pong owed for the server's ping: its payload, and its length (`u8::MAX`: none).
    owed: [u8; OWED_MAX],
    owed_len: u8,
}

/// What a connection's bytes are read as: the handshake's answer, then frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Head(HeadReader),
    Frames(FrameReader),
}

/// The pong being read still matches the ping out.
const PONG_MATCHES: u8 = 8;
/// The data frame being read is its message's last.
const DATA_FIN: u8 = 1;
/// The `--send` message is still to be written.
const MESSAGE_OWED: u8 = 2;
/// The first message back differs from `--expect`.
const MESSAGE_WRONG: u8 = 4;

impl WsState {
    pub fn awaiting(&self) -> bool {
        matches!(self.stage, Stage::Head | Stage::Message)
    }

    pub fn served(&self) -> bool {
        self.stage == Stage::Open
    }

    pub fn needs_transport(&self) -> bool {
        matches!(self.stage, Stage::Head | Stage::Message | Stage::Open)
    }
}

const NONE_OWED: u8 = u8::MAX;

/// The opening handshake's `request` from byte `from` on, for attempt `seq`: the request's
/// own bytes, or its key's 24 at `key_at`, made again in `scratch` from the run's `seed`.
pub fn request_from<'a>(
    request: &'a [u8],
    key_at: usize,
    seed: u64,
    seq: u64,
    from: usize,
    scratch: &'a mut [u8; 64],
) -> &'a [u8] {
    let key_end = key_at + 24;
    if from < key_at {
        &request[from..key_at]
    } else if from < key_end {
        let key = ws::key(seed, seq);
        let n = key_end - from;
        scratch[..n].copy_from_slice(&key[from - key_at..]);
        &scratch[..n]
    } else {
        &request[from.min(request.len())..]
    }
}

/// What an answer to the opening handshake that is no upgrade says: a rejection, with the
/// status that refused it, or what was wrong with it.
pub fn not_upgraded(head: Head) -> Output {
    let mut out = Output {
        outcome: Some(ProbeOutcome::Rejected),
        ..Output::default()
    };
    match head {
        Head::Refused(status) => out.rejected_status = Some(status),
        Head::BadAccept => out.said = Some(PeerEvent::Ws(WsEvent::BadAccept)),
        Head::NotHttp => out.said = Some(PeerEvent::Ws(WsEvent::NotHttp)),
        Head::Pending | Head::Upgraded => out.outcome = None,
    }
    out
}

impl WsSession {
    pub fn open(&self, now: Instant) -> (WsState, Output) {
        let state = WsState {
            stage: Stage::Head,
            reading: Reading::Head(HeadReader::default()),
            writing: Writing::Request,
            written: 0,
            beat: Beat::Idle,
            next: 0,
            op: 0,
            at: 0,
            flags: 0,
            code: 0,
            owed: [0; OWED_MAX],
            owed_len: NONE_OWED,
        };
        let out = Output {
            deadline: (!self.timeout.is_zero())
                .then(|| now.checked_add(self.timeout))
                .flatten(),
            ..Output::default()
        };
        (state, out)
    }

    /// The next bytes to write, from the request itself or made in `scratch`.
    pub fn unsent<'a>(&'a self, state: &WsState, seq: u64, scratch: &'a mut [u8; 64]) -> &'a [u8] {
        let from = usize::from(state.written);
        match state.writing {
            Writing::Nothing => &[],
            Writing::Request => {
                request_from(&self.request, self.key_at, self.seed, seq, from, scratch)
            }
            Writing::Message => {
                let text = self.message.as_ref().and_then(|m| m.send.as_deref());
                let n = self.text(seq, text.unwrap_or_default()).fill(from, scratch);
                &scratch[..n]
            }
            Writing::Ping => {
                let payload = state.next.to_be_bytes();
                let n = self.ping(seq, state.next, &payload).fill(from, scratch);
                &scratch[..n]
            }
            Writing::Pong => {
                let payload = &state.owed[..usize::from(state.owed_len).min(OWED_MAX)];
                let frame = OutFrame {
                    opcode: PONG,
                    mask: ws::mask(self.seed, seq, u32::MAX - state.next),
                    payload,
                };
                let n = frame.fill(from, scratch);
                &scratch[..n]
            }
        }
    }

    fn text<'a>(&self, seq: u64, payload: &'a [u8]) -> OutFrame<'a> {
        // A mask no ping or pong of the connection's uses (theirs count up from 0 and down
        // from u32::MAX), made again for every piece the socket takes.
        OutFrame {
            opcode: TEXT,
            mask: ws::mask(self.seed, seq, u32::MAX / 2),
            payload,
        }
    }

    fn ping<'a>(&self, seq: u64, j: u32, payload: &'a [u8; 4]) -> OutFrame<'a> {
        OutFrame {
            opcode: PING,
            mask: ws::mask(self.seed, seq, j),
            payload,
        }
    }

    fn writing_len(&self, state: &WsState) -> usize {
        match state.writing {
            Writing::Nothing => 0,
            Writing::Request => self.request.len(),
            Writing::Message => {
                let text = self.message.as_ref().and_then(|m| m.send.as_deref());
                self.text(0, text.unwrap_or_default()).len()
            }
            Writing::Ping => 2 + 4 + 4,
            Writing::Pong => 2 + 4 + usize::from(state.owed_len).min(OWED_MAX),
        }
    }

    /// `n` of [`WsSession::unsent`] were written.
    pub fn on_sent(&self, state: &mut WsState, n: usize) -> Output {
        let done = usize::from(state.written) + n;
        if done < self.writing_len(state) {
            // The request is at most u16::MAX long (the command line checks it).
            state.written = done as u16;
            return Output::default();
        }
        let mut out = Output::default();
        match state.writing {
            Writing::Ping => {
                state.beat = Beat::Out;
                out.beat.sent = true;
            }
            Writing::Pong => state.owed_len = NONE_OWED,
            Writing::Message => state.flags &= !MESSAGE_OWED,
            Writing::Request | Writing::Nothing => {}
        }
        (state.writing, state.written) = (Writing::Nothing, 0);
        out.wants_write = self.next_write(state);
        out
    }

    /// Picks what to write next when nothing is being written: a pong owed first, then
    /// the `--send` message, then a ping that came due. True when there is something.
    fn next_write(&self, state: &mut WsState) -> bool {
        if state.writing != Writing::Nothing || !matches!(state.stage, Stage::Message | Stage::Open)
        {
            return false;
        }
        if state.owed_len != NONE_OWED {
            state.writing = Writing::Pong;
        } else if state.flags & MESSAGE_OWED != 0 {
            state.writing = Writing::Message;
        } else if state.beat == Beat::Due {
            state.writing = Writing::Ping;
            state.beat = Beat::Writing;
        } else {
            return false;
        }
        true
    }

    /// Takes `bytes`, the next plaintext that arrived on attempt `seq`'s connection, `now`.
    pub fn on_bytes(
        &self,
        state: &mut WsState,
        seq: u64,
        mut bytes: &[u8],
        now: Instant,
    ) -> Output {
        let mut out = Output::default();
        if state.stage == Stage::Head {
            let expected = ws::accept(&ws::key(self.seed, seq));
            let Reading::Head(reader) = &mut state.reading else {
                unreachable!("the head is read until the stage moves on")
            };
            let (head, used) = reader.read(&expected, bytes);
            if head == Head::Upgraded {
                state.reading = Reading::Frames(FrameReader::default());
            }
            bytes = &bytes[used..];
            match head {
                Head::Pending => return out,
                Head::Refused(_) | Head::BadAccept | Head::NotHttp => {
                    state.stage = Stage::Done;
                    return not_upgraded(head);
                }
                Head::Upgraded => match &self.message {
                    Some(message) => {
                        // Served by the first message back, in the handshake's time.
                        state.stage = Stage::Message;
                        if message.send.is_some() {
                            state.flags |= MESSAGE_OWED;
                            out.wants_write = self.next_write(state);
                        }
                    }
                    None => out = self.serve(state, seq, now),
                },
            }
        }
        // A frame's end may come after its last byte, so read on until no event comes.
        while matches!(state.stage, Stage::Message | Stage::Open) {
            let Reading::Frames(frames) = &mut state.reading else {
                break;
            };
            let (event, used) = frames.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            out = out.and(self.on_frame(state, seq, event, now));
        }
        out
    }

    /// Served, `now`: its heartbeat begins.
    fn serve(&self, state: &mut WsState, seq: u64, now: Instant) -> Output {
        state.stage = Stage::Open;
        let mut out = Output {
            outcome: Some(ProbeOutcome::Served),
            ..Output::default()
        };
        if let Some(beat) = &self.heartbeat {
            state.next = beat.schedule.first_after(seq, now);
            out.deadline = Some(beat.schedule.due(seq, state.next));
        }
        out
    }

    fn on_frame(&self, state: &mut WsState, seq: u64, event: Event, now: Instant) -> Output {
        match event {
            Event::Start {
                opcode: opcode @ (TEXT | BINARY | CONTINUATION),
                fin,
                ..
            } => {
                // A message's first frame; a continuation keeps what its first frames
                // matched (a control frame may come between them).
                if opcode != CONTINUATION {
                    state.code = 0;
                    state.flags &= !MESSAGE_WRONG;
                }
                state.op = opcode;
                state.flags = if fin {
                    state.flags | DATA_FIN
                } else {
                    state.flags & !DATA_FIN
                };
                Output::default()
            }
            Event::Start { opcode, .. } => {
                (state.op, state.at) = (opcode, 0);
                state.flags |= PONG_MATCHES;
                if opcode == CLOSE {
                    state.code = 0;
                }
                Output::default()
            }
            Event::Payload(bytes) => {
                match state.op {
                    TEXT | BINARY | CONTINUATION if state.stage == Stage::Message => {
                        let expect = self.message.as_ref().map_or(&[][..], |m| &m.expect);
                        let from = usize::from(state.code);
                        let compared = expect.len().saturating_sub(from).min(bytes.len());
                        if expect[from..from + compared] != bytes[..compared] {
                            state.flags |= MESSAGE_WRONG;
                        }
                        state.code = state.code.saturating_add(compared as u16);
                        return Output::default();
                    }
                    TEXT | BINARY | CONTINUATION => return Output::default(),
                    PONG => {
                        let want = state.next.to_be_bytes();
                        for (i, &b) in bytes.iter().enumerate() {
                            let at = usize::from(state.at) + i;
                            if at >= 4 || want[at] != b {
                                state.flags &= !PONG_MATCHES;
                            }
                        }
                    }
                    PING => {
                        for (i, &b) in bytes.iter().enumerate() {
                            if let Some(slot) = state.owed.get_mut(usize::from(state.at) + i) {
                                *slot = b;
                            }
                        }
                    }
                    CLOSE => {
                        for (i, &b) in bytes.iter().enumerate() {
                            if usize::from(state.at) + i < 2 {
                                state.code = state.code << 8 | u16::from(b);
                            }
                        }
                    }
                    _ => {}
                }
                state.at = state.at.saturating_add(bytes.len().min(255) as u8);
                Output::default()
            }
            Event::End => match state.op {
                TEXT | BINARY | CONTINUATION if state.flags & DATA_FIN == 0 => Output::default(),
                TEXT | BINARY | CONTINUATION if state.stage == Stage::Message => {
                    let expect = self.message.as_ref().map_or(0, |m| m.expect.len());
                    let mut out =
                        if state.flags & MESSAGE_WRONG == 0 && usize::from(state.code) >= expect {
                            self.serve(state, seq, now)
                        } else {
                            state.stage = Stage::Done;
                            Output {
                                outcome: Some(ProbeOutcome::Rejected),
                                ..Output::default()
                            }
                        };
                    out.messages = 1;
                    out
                }
                TEXT | BINARY | CONTINUATION => Output {
                    messages: 1,
                    ..Output::default()
                },
                PONG if state.beat == Beat::Out
                    && state.flags & PONG_MATCHES != 0
                    && state.at == 4 =>
                {
                    let beat = self.heartbeat.as_ref().expect("a ping went out");
                    let j = state.next;
                    let latency = now.saturating_duration_since(beat.schedule.due(seq, j));
                    let late = now >= beat.schedule.due(seq, j.saturating_add(1));
                    let mut out = self.wait_for(state, seq, j.saturating_add(1), now);
                    out.beat.answered = Some((latency, late));
                    out
                }
                PING => {
                    if usize::from(state.at) > OWED_MAX {
                        return Output {
                            said: Some(PeerEvent::Ws(WsEvent::PingTooLong)),
                            ..Output::default()
                        };
                    }
                    state.owed_len = state.at;
                    Output {
                        wants_write: self.next_write(state),
                        ..Output::default()
                    }
                }
                CLOSE => {
                    let code = if state.at < 2 { 1005 } else { state.code };
                    self.end(state, WsEvent::Closed(code), StopCause::Closed, now)
                }
                _ => Output::default(),
            },
            Event::Error(e) => self.end(state, WsEvent::Frame(e), StopCause::Wrong, now),
        }
    }

    /// The connection ends with `event`: it stopped answering (`cause`) if a ping was out;
    /// awaiting its first message, it was not served (`cause`: a bad frame rejects).
    fn end(&self, state: &mut WsState, event: WsEvent, cause: StopCause, now: Instant) -> Output {
        let beat_out = matches!(state.beat, Beat::Out | Beat::Writing | Beat::Due);
        let mut out = Output {
            said: Some(PeerEvent::Ws(event)),
            close: true,
            ..Output::default()
        };
        if state.stage == Stage::Message {
            state.stage = Stage::Done;
            out.outcome = Some(match cause {
                StopCause::Wrong => ProbeOutcome::Rejected,
                _ => ProbeOutcome::ClosedBeforeAnswer,
            });
        } else if beat_out {
            state.stage = Stage::Stopped;
            out.beat.stopped = Some((cause, now));
        } else {
            state.stage = Stage::Done;
        }
        out
    }

    /// Beat `j` is next, `now`: begun when it is due, else waited for.
    fn wait_for(&self, state: &mut WsState, seq: u64, j: u32, now: Instant) -> Output {
        let beat = self.heartbeat.as_ref().expect("beating");
        state.next = j;
        state.beat = Beat::Idle;
        let (mut out, due_now) = beat.wait(seq, j, now);
        if due_now {
            state.beat = Beat::Due;
            out.wants_write = self.next_write(state);
        }
        out
    }

    /// Its deadline passed, `now`.
    pub fn on_deadline(&self, state: &mut WsState, seq: u64, now: Instant) -> Output {
        match (state.stage, state.beat, &self.heartbeat) {
            (Stage::Head | Stage::Message, ..) => {
                state.stage = Stage::Done;
                Output {
                    outcome: Some(ProbeOutcome::Unserved),
                    ..Output::default()
                }
            }
            (Stage::Open, Beat::Idle, Some(beat)) => {
                if now < beat.schedule.due(seq, state.next) {
                    return Output::default();
                }
                self.wait_for(state, seq, state.next, now)
            }
            (Stage::Open, Beat::Due | Beat::Writing | Beat::Out, Some(beat)) => {
                match beat.timed_out(seq, state.next, now) {
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
    pub fn on_close(&self, state: &mut WsState, now: Instant) -> Output {
        match (state.stage, state.beat) {
            (Stage::Head | Stage::Message, _) => {
                state.stage = Stage::Done;
                Output {
                    outcome: Some(ProbeOutcome::ClosedBeforeAnswer),
                    ..Output::default()
                }
            }
            (Stage::Open, Beat::Due | Beat::Writing | Beat::Out) => {
                state.stage = Stage::Stopped;
                Output {
                    beat: BeatEvents {
                        stopped: Some((StopCause::Closed, now)),
                        ..BeatEvents::default()
                    },
                    ..Output::default()
                }
            }
            _ => {
                if state.stage == Stage::Open {
                    state.stage = Stage::Done;
                }
                Output::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::beat::{BeatReply, BeatSchedule};
    use crate::engine::ws::WsError;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn session(origin: Instant, beating: bool) -> WsSession {
        let (request, key_at) =
            crate::engine::probe::websocket_request("localhost:80", "/chat", None, &[]);
        WsSession {
            request,
            key_at,
            seed: 7,
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
                reply: BeatReply::WsPong,
            }),
            message: None,
        }
    }

    /// A masked text frame, as the server reads it: its payload.
    fn text_of(frame: &[u8]) -> Vec<u8> {
        assert_eq!(frame[0], 0x81, "a whole text frame");
        unmask(frame).1
    }

    /// Everything the session has to write now, in pieces of at most `piece` bytes.
    fn drain(s: &WsSession, state: &mut WsState, seq: u64, piece: usize) -> (Vec<u8>, Output) {
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

    fn upgrade(seq: u64, seed: u64) -> Vec<u8> {
        let accept = ws::accept(&ws::key(seed, seq));
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            String::from_utf8_lossy(&accept)
        )
        .into_bytes()
    }

    /// A server's view of a client frame: opcode and unmasked payload.
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let len = usize::from(frame[1] & 0x7f);
        let mask = &frame[2..6];
        let payload = frame[6..6 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        (frame[0] & 0x0f, payload)
    }

    #[test]
    fn the_request_carries_the_attempt_s_key_in_any_pieces() {
        let t0 = Instant::now();
        let s = session(t0, false);
        for piece in [1, 5, 64, 4096] {
            let (mut state, _) = s.open(t0);
            let (bytes, _) = drain(&s, &mut state, 3, piece);
            let text = String::from_utf8(bytes).unwrap();
            let key = String::from_utf8(ws::key(7, 3).to_vec()).unwrap();
            assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: localhost:80\r\n"));
            assert!(
                text.contains(&format!("Sec-WebSocket-Key: {key}\r\n")),
                "{text}"
            );
            assert!(text.ends_with("\r\n\r\n"));
        }
    }

    #[test]
    fn a_right_101_serves_and_another_status_rejects_naming_it() {
        let t0 = Instant::now();
        let s = session(t0, false);
        let (mut state, out) = s.open(t0);
        assert_eq!(out.deadline, Some(t0 + Duration::from_secs(1)));
        drain(&s, &mut state, 2, 4096);
        let out = s.on_bytes(&mut state, 2, &upgrade(2, 7), t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert!(state.served());

        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 2, b"HTTP/1.1 503 Busy\r\n\r\n", t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(out.rejected_status, Some(503));

        // Another attempt's accept is the wrong one.
        let (mut state, _) = s.open(t0);
        let out = s.on_bytes(&mut state, 2, &upgrade(3, 7), t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::BadAccept)));

        let (mut state, _) = s.open(t0);
        let out = s.on_deadline(&mut state, 2, t0 + Duration::from_secs(1));
        assert_eq!(out.outcome, Some(ProbeOutcome::Unserved));
        let (mut state, _) = s.open(t0);
        let out = s.on_close(&mut state, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::ClosedBeforeAnswer));
    }

    #[test]
    fn pings_beat_on_schedule_and_their_pongs_answer() {
        let t0 = Instant::now();
        let s = session(t0, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 4096);
        // Attempt 1 of 4: beats due at 25 ms + j × 100 ms.
        let out = s.on_bytes(&mut state, 1, &upgrade(1, 7), t0 + ms(10));
        assert_eq!(out.deadline, Some(t0 + ms(25)));
        let out = s.on_deadline(&mut state, 1, t0 + ms(25));
        assert_eq!(out.beat.due, Some(t0 + ms(25)));
        assert_eq!(out.deadline, Some(t0 + ms(325)));
        assert!(out.wants_write);
        let (ping, out) = drain(&s, &mut state, 1, 3);
        assert!(out.beat.sent);
        assert_eq!(unmask(&ping), (PING, 0u32.to_be_bytes().to_vec()));
        // Its pong, in two reads: answered 5 ms after it was due.
        assert_eq!(
            s.on_bytes(&mut state, 1, b"\x8a\x04\0\0", t0 + ms(28)),
            Output::default()
        );
        let out = s.on_bytes(&mut state, 1, b"\0\0", t0 + ms(30));
        assert_eq!(out.beat.answered, Some((ms(5), false)));
        assert_eq!(out.deadline, Some(t0 + ms(125)));
        // A pong for another ping does not answer; the timeout stops it at its due time.
        s.on_deadline(&mut state, 1, t0 + ms(125));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, b"\x8a\x04\0\0\0\x09", t0 + ms(130));
        assert_eq!(out.beat.answered, None);
        let out = s.on_deadline(&mut state, 1, t0 + ms(425));
        assert_eq!(out.beat.stopped, Some((StopCause::Timeout, t0 + ms(125))));
        assert!(!state.served());
    }

    #[test]
    fn a_server_ping_is_answered_with_its_payload_and_pushed_messages_are_discarded() {
        let t0 = Instant::now();
        let s = session(t0, false);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 0, 4096);
        let mut bytes = upgrade(0, 7);
        bytes.extend_from_slice(b"\x81\x05hello\x89\x04abcd\x82\x00");
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert!(out.wants_write);
        let (pong, _) = drain(&s, &mut state, 0, 64);
        assert_eq!(unmask(&pong), (PONG, b"abcd".to_vec()));
        let out = s.on_bytes(&mut state, 0, b"\x89\x09123456789", t0);
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::PingTooLong)));
        assert!(!out.wants_write);
    }

    #[test]
    fn a_close_frame_ends_the_connection_with_its_code() {
        let t0 = Instant::now();
        let s = session(t0, false);
        let (mut state, _) = s.open(t0);
        let mut bytes = upgrade(0, 7);
        bytes.extend_from_slice(b"\x88\x05\x03\xf5bye");
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::Closed(1013))));
        assert!(out.close);
        assert!(!state.served());
        // A frame no server may send ends it too.
        let (mut state, _) = s.open(t0);
        let mut bytes = upgrade(0, 7);
        bytes.extend_from_slice(b"\x81\xfe");
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::Ws(WsEvent::Frame(WsError::Masked)))
        );
        assert!(out.close);
    }

    #[test]
    fn with_send_the_first_message_back_serves_not_the_upgrade() {
        let t0 = Instant::now();
        let mut s = session(t0, true);
        s.message = Some(WsMessage {
            send: Some(b"hello".to_vec()),
            expect: b"hel".to_vec(),
        });
        for piece in [1, 3, 4096] {
            let (mut state, _) = s.open(t0);
            drain(&s, &mut state, 1, 4096);
            let out = s.on_bytes(&mut state, 1, &upgrade(1, 7), t0 + ms(1));
            assert_eq!(out.outcome, None);
            assert!(out.wants_write && state.awaiting());
            let (frame, _) = drain(&s, &mut state, 1, piece);
            assert_eq!(text_of(&frame), b"hello");
            // The answer in two fragments with the server's ping between them, given a
            // byte at a time: served at its last fragment, and its heartbeat begins.
            let answer = b"\x01\x02he\x89\x01p\x80\x03llo";
            let mut out = Output::default();
            for b in answer {
                out = out.and(s.on_bytes(&mut state, 1, &[*b], t0 + ms(2)));
            }
            assert_eq!(out.outcome, Some(ProbeOutcome::Served), "{piece}");
            assert_eq!(out.messages, 1);
            assert_eq!(out.deadline, Some(t0 + ms(25)));
            assert!(state.served());
            let (pong, _) = drain(&s, &mut state, 1, 64);
            assert_eq!(unmask(&pong), (PONG, b"p".to_vec()));
            // Later messages are counted and discarded.
            let out = s.on_bytes(&mut state, 1, b"\x81\x01x\x82\x00", t0 + ms(3));
            assert_eq!((out.outcome, out.messages), (None, 2));
        }
    }

    #[test]
    fn a_first_message_that_differs_rejects_and_none_in_time_is_unserved() {
        let t0 = Instant::now();
        let mut s = session(t0, false);
        s.message = Some(WsMessage {
            send: None,
            expect: b"welcome".to_vec(),
        });
        let mut bytes = upgrade(0, 7);
        bytes.extend_from_slice(b"\x81\x03wel");
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 0, 4096);
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected), "too short");
        assert!(!out.wants_write, "--expect alone sends nothing");

        let (mut state, _) = s.open(t0);
        bytes.truncate(bytes.len() - 5);
        bytes.extend_from_slice(b"\x81\x07welcomx");
        assert_eq!(
            s.on_bytes(&mut state, 0, &bytes, t0).outcome,
            Some(ProbeOutcome::Rejected)
        );

        let (mut state, _) = s.open(t0);
        s.on_bytes(&mut state, 0, &upgrade(0, 7), t0);
        let out = s.on_deadline(&mut state, 0, t0 + Duration::from_secs(1));
        assert_eq!(out.outcome, Some(ProbeOutcome::Unserved));

        // A close frame before the message: closed before answering, its code counted.
        let (mut state, _) = s.open(t0);
        let mut bytes = upgrade(0, 7);
        bytes.extend_from_slice(b"\x88\x02\x03\xf5");
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::ClosedBeforeAnswer));
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::Closed(1013))));
        assert!(out.close);
        assert_eq!(s.on_close(&mut state, t0).outcome, None, "one outcome only");
    }

    #[test]
    fn a_close_with_a_ping_out_stopped_answering() {
        let t0 = Instant::now();
        let s = session(t0, true);
        let (mut state, _) = s.open(t0);
        drain(&s, &mut state, 1, 4096);
        s.on_bytes(&mut state, 1, &upgrade(1, 7), t0);
        s.on_deadline(&mut state, 1, t0 + ms(25));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, b"\x88\x02\x03\xe9", t0 + ms(40));
        assert_eq!(out.beat.stopped, Some((StopCause::Closed, t0 + ms(40))));
        assert_eq!(out.said, Some(PeerEvent::Ws(WsEvent::Closed(1001))));
    }
}
