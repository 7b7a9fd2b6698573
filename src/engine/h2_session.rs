//! An HTTP/2 session (`--probe h2` over TLS with ALPN `h2`, `--probe h2c` with prior
//! knowledge over plain TCP): the connection preface and SETTINGS exchange as the probe,
//! then frames for as long as the connection is held, with a PING as its heartbeat.
//! Sans-I/O, as every session is: bytes and `now` in; bytes to write, an outcome, beat
//! events and a deadline out. The RFC 9113 pieces it is made of are `engine::h2`.
//!
//! ```text
//!  up ──preface + SETTINGS──▶ Preface ──server SETTINGS and ACK of ours──▶ Open (served)
//!   │                           ├──GOAWAY──▶ Done (rejected, its error code named)
//!   │                           ├──a first frame not SETTINGS, a bad frame, HTTP/1──▶ Done (rejected)
//!   │                           ├──no answer by the timeout──▶ Done (unserved)
//!   │                           └──closed──▶ Done (closed before answering)
//!   └──over TLS, ALPN not h2──▶ Done (rejected, the server's choice named)
//!  Open: beat due ──PING j──▶ out ──PING ACK j──▶ answered ──next due──▶ …
//!                               └──no ACK by due + timeout / GOAWAY / close / bad frame──▶ Stopped
//!  Open, no PING out: GOAWAY / bad frame ──▶ Closing (still served; the connection is closed)
//! ```
//! Served means both halves of the exchange happened: the server's own SETTINGS arrived
//! (its first frame, as §3.4 requires) and it acknowledged ours; either alone is not
//! enough, in either order. Every SETTINGS of the server's is acknowledged, then and
//! later; a PING of the server's is answered with an ACK carrying its 8 bytes (one ACK is
//! owed at a time: PINGs that come before it began to be written are answered once, with
//! the last one's bytes, and one that comes while it is half written is not answered).
//! WINDOW_UPDATE, and every frame of another stream, is read and discarded. A beat's PING
//! carries the attempt's number and the beat's, so an ACK of another's PING does not
//! answer it. Nothing per connection grows: what is written is made again from
//! the state when the socket takes it in pieces.

use std::time::{Duration, Instant};

use crate::engine::beat::Heartbeat;
use crate::engine::h2::{
    self, ACK, Alpn, CLIENT_START_LEN, Event, FrameReader, GOAWAY, H2Error, H2Event, PING, SETTINGS,
};
use crate::engine::probe::ProbeOutcome;
use crate::engine::session_output::{BeatEvents, Output, PeerEvent};
use crate::engine::stats::StopCause;

/// The run's HTTP/2 session, shared by every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Session {
    /// Over TLS: the server must have chosen `h2` in ALPN. Plain: prior knowledge (h2c).
    pub tls: bool,
    /// How long the SETTINGS exchange may take.
    pub timeout: Duration,
    /// `--heartbeat`: a PING on this schedule, its ACK within this timeout.
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The preface is written, the server's SETTINGS and its ACK of ours awaited.
    Preface,
    /// Served, and framed.
    Open,
    /// Judged not served, or closed: what arrives is discarded.
    Done,
    /// Served once, then it stopped answering its PINGs.
    Stopped,
    /// Served, then the server sent GOAWAY or broke its framing with no PING out: still
    /// served until the connection, closed at once, is counted closed. Nothing is read.
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writing {
    Nothing,
    Start,
    SettingsAck,
    PingAck,
    Ping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Beat {
    /// Beat `next` is not due yet.
    Idle,
    /// Beat `next` is due and waits for the writer.
    Due,
    /// Beat `next`'s PING is being written.
    Writing,
    /// Beat `next`'s PING went out; its ACK is awaited.
    Out,
}

/// The server's SETTINGS arrived.
const GOT_SETTINGS: u8 = 1;
/// The server acknowledged ours.
const GOT_ACK: u8 = 2;

/// One connection's HTTP/2 state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2State {
    stage: Stage,
    frames: FrameReader,
    writing: Writing,
    written: u8,
    got: u8,
    beat: Beat,
    next: u32,
    /// SETTINGS ACKs owed (saturating), and a PING ACK owed with its payload.
    acks_owed: u8,
    ping_owed: bool,
    owed: [u8; 8],
    /// The frame being read: its type, whether it is an ACK, its length, its payload's
    /// first 8 bytes (a PING's, or a GOAWAY's last stream and code) and how many came.
    kind: u8,
    ack: bool,
    len: u16,
    at: u8,
    payload: [u8; 8],
}

impl H2State {
    pub fn awaiting(&self) -> bool {
        self.stage == Stage::Preface
    }

    pub fn served(&self) -> bool {
        matches!(self.stage, Stage::Open | Stage::Closing)
    }

    pub fn needs_transport(&self) -> bool {
        matches!(self.stage, Stage::Preface | Stage::Open)
    }
}

impl H2Session {
    /// Opens the session on a connection whose transport is up, `now`; `alpn` is what the
    /// server chose in the TLS handshake.
    pub fn open(&self, alpn: Option<&[u8]>, now: Instant) -> (H2State, Output) {
        let mut state = H2State {
            stage: Stage::Preface,
            frames: FrameReader::default(),
            writing: Writing::Start,
            written: 0,
            got: 0,
            beat: Beat::Idle,
            next: 0,
            acks_owed: 0,
            ping_owed: false,
            owed: [0; 8],
            kind: 0,
            ack: false,
            len: 0,
            at: 0,
            payload: [0; 8],
        };
        if self.tls
            && let Some(chosen) = Alpn::of(alpn)
        {
            (state.stage, state.writing) = (Stage::Done, Writing::Nothing);
            let out = Output {
                outcome: Some(ProbeOutcome::Rejected),
                said: Some(PeerEvent::H2(H2Event::Alpn(chosen))),
                ..Output::default()
            };
            return (state, out);
        }
        let out = Output {
            deadline: (!self.timeout.is_zero())
                .then(|| now.checked_add(self.timeout))
                .flatten(),
            ..Output::default()
        };
        (state, out)
    }

    /// The 8 bytes of beat `j`'s PING on attempt `seq`.
    fn ping_payload(seq: u64, j: u32) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&(seq as u32).to_be_bytes());
        out[4..].copy_from_slice(&j.to_be_bytes());
        out
    }

    /// The next bytes to write, made in `scratch`.
    pub fn unsent<'a>(&self, state: &H2State, seq: u64, scratch: &'a mut [u8; 64]) -> &'a [u8] {
        let from = usize::from(state.written);
        let n = match state.writing {
            Writing::Nothing => 0,
            Writing::Start => h2::client_start(from, scratch),
            Writing::SettingsAck => h2::control(SETTINGS, ACK, &[], from, scratch),
            Writing::PingAck => h2::control(PING, ACK, &state.owed, from, scratch),
            Writing::Ping => {
                h2::control(PING, 0, &Self::ping_payload(seq, state.next), from, scratch)
            }
        };
        &scratch[..n]
    }

    fn writing_len(state: &H2State) -> usize {
        match state.writing {
            Writing::Nothing => 0,
            Writing::Start => CLIENT_START_LEN,
            Writing::SettingsAck => 9,
            Writing::PingAck | Writing::Ping => 17,
        }
    }

    /// `n` of [`H2Session::unsent`] were written.
    pub fn on_sent(&self, state: &mut H2State, n: usize) -> Output {
        let done = usize::from(state.written) + n;
        if done < Self::writing_len(state) {
            // Every frame written is under 64 bytes.
            state.written = done as u8;
            return Output::default();
        }
        let mut out = Output::default();
        match state.writing {
            Writing::Ping => {
                state.beat = Beat::Out;
                out.beat.sent = true;
            }
            Writing::PingAck => state.ping_owed = false,
            Writing::SettingsAck => state.acks_owed = state.acks_owed.saturating_sub(1),
            Writing::Start | Writing::Nothing => {}
        }
        (state.writing, state.written) = (Writing::Nothing, 0);
        out.wants_write = self.next_write(state);
        out
    }

    /// Picks what to write next when nothing is being written: a SETTINGS ACK owed first,
    /// then a PING ACK, then a PING that came due. True when there is something.
    fn next_write(&self, state: &mut H2State) -> bool {
        if state.writing != Writing::Nothing || !matches!(state.stage, Stage::Preface | Stage::Open)
        {
            return false;
        }
        if state.acks_owed > 0 {
            state.writing = Writing::SettingsAck;
        } else if state.ping_owed {
            state.writing = Writing::PingAck;
        } else if state.beat == Beat::Due && state.stage == Stage::Open {
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
        state: &mut H2State,
        seq: u64,
        mut bytes: &[u8],
        now: Instant,
    ) -> Output {
        let mut out = Output::default();
        // A frame's end may come after its last byte, so read on until no event comes.
        while matches!(state.stage, Stage::Preface | Stage::Open) {
            let (event, used) = state.frames.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            out = out.and(self.on_frame(state, seq, event, now));
        }
        out
    }

    fn on_frame(&self, state: &mut H2State, seq: u64, event: Event, now: Instant) -> Output {
        match event {
            Event::Start(header) => {
                if state.stage == Stage::Preface
                    && state.got & GOT_SETTINGS == 0
                    && (header.kind != SETTINGS || header.flags & ACK != 0)
                    && header.kind != GOAWAY
                {
                    return self.end(state, H2Event::Frame(H2Error::NotSettingsFirst), now);
                }
                state.kind = if header.stream == 0 {
                    header.kind
                } else {
                    u8::MAX
                };
                state.ack = header.flags & ACK != 0;
                (state.len, state.at) = (header.len, 0);
                Output::default()
            }
            Event::Payload(bytes) => {
                if matches!(state.kind, PING | GOAWAY) {
                    for (i, &b) in bytes.iter().enumerate() {
                        if let Some(slot) = state.payload.get_mut(usize::from(state.at) + i) {
                            *slot = b;
                        }
                    }
                }
                state.at = state.at.saturating_add(bytes.len().min(255) as u8);
                Output::default()
            }
            Event::End => self.on_frame_end(state, seq, now),
            Event::Error(e) => self.end(state, H2Event::Frame(e), now),
        }
    }

    fn on_frame_end(&self, state: &mut H2State, seq: u64, now: Instant) -> Output {
        match (state.kind, state.ack) {
            (SETTINGS, false) => {
                state.got |= GOT_SETTINGS;
                state.acks_owed = state.acks_owed.saturating_add(1);
                let mut out = self.maybe_served(state, seq, now);
                out.wants_write |= self.next_write(state);
                out
            }
            (SETTINGS, true) => self.maybe_served(state, seq, now),
            (PING, false) => {
                // One ACK is owed at a time; its bytes may change only before any is out.
                if state.writing == Writing::PingAck && state.written > 0 {
                    return Output::default();
                }
                (state.owed, state.ping_owed) = (state.payload, true);
                Output {
                    wants_write: self.next_write(state),
                    ..Output::default()
                }
            }
            (PING, true)
                if state.beat == Beat::Out
                    && state.payload == Self::ping_payload(seq, state.next) =>
            {
                let beat = self.heartbeat.as_ref().expect("a PING went out");
                let j = state.next;
                let latency = now.saturating_duration_since(beat.schedule.due(seq, j));
                let late = now >= beat.schedule.due(seq, j.saturating_add(1));
                let mut out = self.wait_for(state, seq, j.saturating_add(1), now);
                out.beat.answered = Some((latency, late));
                out
            }
            (GOAWAY, _) => {
                let p = state.payload;
                let event = H2Event::GoAway {
                    last_stream: u32::from_be_bytes([p[0] & 0x7f, p[1], p[2], p[3]]),
                    code: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                    debug: state.len.saturating_sub(8),
                };
                self.end(state, event, now)
            }
            _ => Output::default(),
        }
    }

    /// Served once both halves of the SETTINGS exchange happened.
    fn maybe_served(&self, state: &mut H2State, seq: u64, now: Instant) -> Output {
        if state.stage == Stage::Preface {
            if state.ack {
                state.got |= GOT_ACK;
            }
            if state.got == GOT_SETTINGS | GOT_ACK {
                state.stage = Stage::Open;
                let mut out = Output {
                    outcome: Some(ProbeOutcome::Served),
                    ..Output::default()
                };
                if let Some(beat) = &self.heartbeat {
                    state.next = beat.schedule.first_after(seq, now);
                    out.deadline = Some(beat.schedule.due(seq, state.next));
                }
                return out;
            }
        }
        Output::default()
    }

    /// The session ends with `event`. Before it was served, a rejection; what arrives
    /// after is discarded, and the connection is left for the server to close (as nginx
    /// does after a GOAWAY or its HTTP/1 400), counted when it does. After, the connection
    /// is closed, and it stopped answering if a PING was out.
    fn end(&self, state: &mut H2State, event: H2Event, now: Instant) -> Output {
        if state.stage == Stage::Preface {
            state.stage = Stage::Done;
            return Output {
                outcome: Some(ProbeOutcome::Rejected),
                said: Some(PeerEvent::H2(event)),
                ..Output::default()
            };
        }
        let mut out = Output {
            said: Some(PeerEvent::H2(event)),
            close: true,
            ..Output::default()
        };
        let beat_out = matches!(state.beat, Beat::Out | Beat::Writing | Beat::Due);
        if beat_out {
            state.stage = Stage::Stopped;
            let cause = match event {
                H2Event::GoAway { .. } => StopCause::Closed,
                _ => StopCause::Wrong,
            };
            out.beat.stopped = Some((cause, now));
        } else {
            state.stage = Stage::Closing;
        }
        out
    }

    /// Beat `j` is next, `now`: begun when it is due, else waited for.
    fn wait_for(&self, state: &mut H2State, seq: u64, j: u32, now: Instant) -> Output {
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
    pub fn on_deadline(&self, state: &mut H2State, seq: u64, now: Instant) -> Output {
        match (state.stage, state.beat, &self.heartbeat) {
            (Stage::Preface, ..) => {
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
    pub fn on_close(&self, state: &mut H2State, now: Instant) -> Output {
        match (state.stage, state.beat) {
            (Stage::Preface, _) => {
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
            // Served and closed with no PING out: it stays served, so that the connection
            // is counted as a served one that closed.
            _ => Output::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::beat::{BeatReply, BeatSchedule};
    use crate::engine::h2::{WINDOW_UPDATE, client_start};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn session(origin: Instant, tls: bool, beating: bool) -> H2Session {
        H2Session {
            tls,
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
                reply: BeatReply::H2PingAck,
            }),
        }
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend([kind, flags]);
        out.extend(stream.to_be_bytes());
        out.extend(payload);
        out
    }

    /// Everything the session has to write now, in pieces of at most `piece` bytes.
    fn drain(s: &H2Session, state: &mut H2State, seq: u64, piece: usize) -> (Vec<u8>, Output) {
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

    /// What nginx answers the preface with: its SETTINGS, a WINDOW_UPDATE, the ACK of ours.
    fn nginx_answer() -> Vec<u8> {
        let mut bytes = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 128, 0, 4, 0, 1, 0, 0]);
        bytes.extend(frame(WINDOW_UPDATE, 0, 0, &[0x7f, 0xff, 0, 0]));
        bytes.extend(frame(SETTINGS, ACK, 0, &[]));
        bytes
    }

    #[test]
    fn the_preface_is_written_and_served_needs_both_settings_and_their_ack() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        for piece in [1, 5, 64] {
            let (mut state, out) = s.open(None, t0);
            assert_eq!(out.deadline, Some(t0 + Duration::from_secs(1)));
            let (written, _) = drain(&s, &mut state, 0, piece);
            let mut start = [0u8; CLIENT_START_LEN];
            client_start(0, &mut start);
            assert_eq!(written, start);
        }
        let answer = nginx_answer();
        for split in 0..=answer.len() {
            let (mut state, _) = s.open(None, t0);
            drain(&s, &mut state, 0, 64);
            let out = s
                .on_bytes(&mut state, 0, &answer[..split], t0)
                .and(s.on_bytes(&mut state, 0, &answer[split..], t0));
            assert_eq!(out.outcome, Some(ProbeOutcome::Served), "{split}");
            assert!(state.served());
            // Its SETTINGS are acknowledged.
            let (ack, _) = drain(&s, &mut state, 0, 64);
            assert_eq!(ack, frame(SETTINGS, ACK, 0, &[]));
        }
        // The ACK alone, or their SETTINGS alone, serves not.
        let (mut state, _) = s.open(None, t0);
        drain(&s, &mut state, 0, 64);
        let out = s.on_bytes(&mut state, 0, &frame(SETTINGS, 0, 0, &[]), t0);
        assert_eq!(out.outcome, None);
        assert!(out.wants_write && state.awaiting());
        let out = s.on_deadline(&mut state, 0, t0 + Duration::from_secs(1));
        assert_eq!(out.outcome, Some(ProbeOutcome::Unserved));
    }

    #[test]
    fn a_first_frame_that_is_not_settings_or_http1_or_goaway_rejects_naming_it() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        let reject = |bytes: &[u8]| {
            let (mut state, _) = s.open(None, t0);
            let out = s.on_bytes(&mut state, 0, bytes, t0);
            assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
            assert!(!out.close && !state.served() && !state.awaiting());
            assert!(!state.needs_transport());
            match out.said {
                Some(PeerEvent::H2(event)) => event,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            reject(&frame(SETTINGS, ACK, 0, &[])),
            H2Event::Frame(H2Error::NotSettingsFirst)
        );
        assert_eq!(
            reject(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            H2Event::Frame(H2Error::Http1)
        );
        let mut goaway = frame(SETTINGS, 0, 0, &[]);
        goaway.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0xb, b'x', b'y']));
        assert_eq!(
            reject(&goaway),
            H2Event::GoAway {
                code: 0xb,
                last_stream: 0,
                debug: 2
            }
        );
        // A frame over 16384 bytes is refused at its header.
        let mut big = frame(SETTINGS, 0, 0, &[]);
        big.extend([0, 0x40, 0x01, 0, 0, 0, 0, 0, 1]);
        assert_eq!(reject(&big), H2Event::Frame(H2Error::TooLong));
    }

    #[test]
    fn over_tls_another_alpn_choice_rejects_as_it_opens() {
        let t0 = Instant::now();
        let s = session(t0, true, false);
        let (state, out) = s.open(Some(b"http/1.1"), t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::Rejected));
        assert_eq!(out.said, Some(PeerEvent::H2(H2Event::Alpn(Alpn::Http11))));
        assert!(s.unsent(&state, 0, &mut [0; 64]).is_empty());
        let (_, out) = s.open(None, t0);
        assert_eq!(out.said, Some(PeerEvent::H2(H2Event::Alpn(Alpn::Nothing))));
        let (state, out) = s.open(Some(b"h2"), t0);
        assert_eq!(out.outcome, None);
        assert!(state.awaiting());
        // Prior knowledge looks at no ALPN.
        let (state, _) = session(t0, false, false).open(None, t0);
        assert!(state.awaiting());
    }

    fn served(s: &H2Session, seq: u64, t0: Instant, at: u64) -> (H2State, Output) {
        let (mut state, _) = s.open(None, t0);
        drain(s, &mut state, seq, 64);
        let out = s.on_bytes(&mut state, seq, &nginx_answer(), t0 + ms(at));
        drain(s, &mut state, seq, 64);
        (state, out)
    }

    #[test]
    fn pings_beat_on_schedule_and_their_acks_answer() {
        let t0 = Instant::now();
        let s = session(t0, false, true);
        // Attempt 1 of 4: beats due at 25 ms + j × 100 ms.
        let (mut state, out) = served(&s, 1, t0, 10);
        assert_eq!(out.deadline, Some(t0 + ms(25)));
        let out = s.on_deadline(&mut state, 1, t0 + ms(25));
        assert_eq!(out.beat.due, Some(t0 + ms(25)));
        assert_eq!(out.deadline, Some(t0 + ms(325)));
        assert!(out.wants_write);
        let (ping, out) = drain(&s, &mut state, 1, 3);
        assert!(out.beat.sent);
        let payload = [0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(ping, frame(PING, 0, 0, &payload));
        // Its ACK, in two reads: answered 5 ms after it was due.
        let ack = frame(PING, ACK, 0, &payload);
        assert_eq!(
            s.on_bytes(&mut state, 1, &ack[..12], t0 + ms(28)),
            Output::default()
        );
        let out = s.on_bytes(&mut state, 1, &ack[12..], t0 + ms(30));
        assert_eq!(out.beat.answered, Some((ms(5), false)));
        assert_eq!(out.deadline, Some(t0 + ms(125)));
        // An ACK of another PING does not answer; the timeout stops it at its due time.
        s.on_deadline(&mut state, 1, t0 + ms(125));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, &ack, t0 + ms(130));
        assert_eq!(out.beat.answered, None);
        let out = s.on_deadline(&mut state, 1, t0 + ms(425));
        assert_eq!(out.beat.stopped, Some((StopCause::Timeout, t0 + ms(125))));
        assert!(!state.served());
    }

    #[test]
    fn a_server_ping_and_later_settings_are_acknowledged_and_other_frames_skipped() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        let (mut state, _) = served(&s, 0, t0, 0);
        let mut bytes = frame(PING, 0, 0, b"abcdefgh");
        bytes.extend(frame(h2::DATA, 0, 3, &[9; 16_384]));
        bytes.extend(frame(h2::HEADERS, 4, 5, b"opaque"));
        bytes.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]));
        let out = s.on_bytes(&mut state, 0, &bytes, t0);
        assert!(out.wants_write);
        assert_eq!(out.said, None);
        let (written, _) = drain(&s, &mut state, 0, 5);
        // In the order owed: the PING came first.
        let mut want = frame(PING, ACK, 0, b"abcdefgh");
        want.extend(frame(SETTINGS, ACK, 0, &[]));
        assert_eq!(written, want);
        assert!(state.served());
    }

    #[test]
    fn a_ping_that_comes_while_an_ack_is_half_written_leaves_that_ack_whole() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        let (mut state, _) = served(&s, 0, t0, 0);
        s.on_bytes(&mut state, 0, &frame(PING, 0, 0, b"first..."), t0);
        let mut scratch = [0u8; 64];
        let head = s.unsent(&state, 0, &mut scratch)[..5].to_vec();
        s.on_sent(&mut state, 5);
        let out = s.on_bytes(&mut state, 0, &frame(PING, 0, 0, b"second.."), t0);
        assert!(!out.wants_write);
        let (rest, _) = drain(&s, &mut state, 0, 64);
        let mut whole = head;
        whole.extend(rest);
        assert_eq!(whole, frame(PING, ACK, 0, b"first..."));
        // Two before any byte went out: answered once, with the last one's bytes.
        let mut two = frame(PING, 0, 0, b"one.....");
        two.extend(frame(PING, 0, 0, b"two....."));
        s.on_bytes(&mut state, 0, &two, t0);
        let (written, _) = drain(&s, &mut state, 0, 64);
        assert_eq!(written, frame(PING, ACK, 0, b"two....."));
    }

    #[test]
    fn a_goaway_or_a_bad_frame_after_served_ends_it_and_with_a_ping_out_it_stopped() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        let (mut state, _) = served(&s, 0, t0, 0);
        let out = s.on_bytes(&mut state, 0, &frame(GOAWAY, 0, 0, &[0; 8]), t0);
        assert_eq!(
            out.said,
            Some(PeerEvent::H2(H2Event::GoAway {
                code: 0,
                last_stream: 0,
                debug: 0
            }))
        );
        assert!(out.close && out.outcome.is_none() && out.beat.stopped.is_none());
        // Served until its close is counted; nothing more is read.
        assert!(state.served() && !state.needs_transport());
        assert_eq!(
            s.on_bytes(&mut state, 0, &nginx_answer(), t0),
            Output::default()
        );
        assert_eq!(s.on_close(&mut state, t0), Output::default());
        assert!(state.served());

        let s = session(t0, false, true);
        let (mut state, _) = served(&s, 1, t0, 0);
        s.on_deadline(&mut state, 1, t0 + ms(25));
        drain(&s, &mut state, 1, 64);
        let out = s.on_bytes(&mut state, 1, &frame(PING, 0, 0, b"short"), t0 + ms(40));
        assert_eq!(
            out.said,
            Some(PeerEvent::H2(H2Event::Frame(H2Error::Length(PING))))
        );
        assert_eq!(out.beat.stopped, Some((StopCause::Wrong, t0 + ms(40))));
        let (mut state, _) = served(&s, 1, t0, 0);
        s.on_deadline(&mut state, 1, t0 + ms(25));
        drain(&s, &mut state, 1, 64);
        let out = s.on_close(&mut state, t0 + ms(50));
        assert_eq!(out.beat.stopped, Some((StopCause::Closed, t0 + ms(50))));
    }

    #[test]
    fn a_close_before_the_exchange_is_closed_before_answering() {
        let t0 = Instant::now();
        let s = session(t0, false, false);
        let (mut state, _) = s.open(None, t0);
        let out = s.on_close(&mut state, t0);
        assert_eq!(out.outcome, Some(ProbeOutcome::ClosedBeforeAnswer));
        assert_eq!(s.on_close(&mut state, t0), Output::default());
    }

    #[test]
    fn the_state_is_small_enough_to_hold_in_every_connection() {
        assert_eq!(std::mem::size_of::<H2State>(), 44);
    }
}
