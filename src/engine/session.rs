//! The top layer of a connection: what it speaks once its transport is up. Today a session
//! is a probe ([`Probe`]), or the transport's own proof (`--tls` alone: the handshake done
//! serves); heartbeats and other protocols are sessions too.
//!
//! Sans-I/O, as `probe` and rustls are: a session takes plaintext bytes and `now` in, and
//! hands back the bytes it has to write ([`Session::unsent`]), an outcome when it has one,
//! and its next deadline ([`Output`]). The connection owns the transport under it, and the
//! loop owns the socket and the clock. The session's configuration ([`Session`]) is the
//! run's, shared by every connection; what each connection keeps is a [`SessionState`],
//! small, since held connections are many.
//!
//! ```text
//!  transport up ──open──▶ Awaiting ──the answer serves────────────▶ Served
//!                            │  ├──the answer refuses─────────────▶ NotServed
//!                            │  └──the peer closed first──────────▶ NotServed
//!                            └──its deadline passed──────────────▶ NotServed
//! ```
//! A session that needs no answer (the transport's proof) is Served as it opens. Each
//! connection that opens one gets exactly one outcome; until then it awaits, and its
//! transport is kept whole (a TLS session is not released while an answer is owed).

use std::time::Instant;

use crate::engine::beat::{BeatReader, BeatSchedule, Heartbeat, Read};
use crate::engine::h2_session::{H2Session, H2State};
use crate::engine::mqtt_session::{MqttSession, MqttState};
use crate::engine::mqtt_ws_session::{MqttWsSession, MqttWsState};
use crate::engine::probe::{Answer, Probe, ProbeOutcome, ProbeState};
pub use crate::engine::session_output::{BeatEvents, Output};
use crate::engine::stats::StopCause;
use crate::engine::ws_session::{WsSession, WsState};

/// What the run's connections speak once up; `None` in the plan's place means nothing:
/// being established is all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// The transport being up serves (`--tls` without a probe: the handshake done).
    TransportUp,
    /// Send the probe's bytes, judge what comes back; with a heartbeat, once served, repeat
    /// the request on its schedule and judge each answer (`engine::beat`).
    Probe {
        probe: Probe,
        heartbeat: Option<Box<Heartbeat>>,
    },
    /// WebSocket (`--probe ws`): the opening handshake serves; pings beat
    /// (`engine::ws_session`).
    Ws(Box<WsSession>),
    /// MQTT (`--probe mqtt`): CONNECT's CONNACK serves; PINGREQs beat
    /// (`engine::mqtt_session`).
    Mqtt(Box<MqttSession>),
    /// MQTT over WebSocket (`--probe mqtt-ws`): the upgrade, then MQTT in binary frames
    /// (`engine::mqtt_ws_session`).
    MqttWs(Box<MqttWsSession>),
    /// HTTP/2 (`--probe h2`, `--probe h2c`): the SETTINGS exchange serves; PINGs beat
    /// (`engine::h2_session`).
    H2(Box<H2Session>),
}

/// Where one connection's session stands. Every variant's payload is at most 8 bytes at
/// 2-byte alignment: it is in every held connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// None opened: the run has no session, or the connection is still dialing.
    Off,
    Awaiting(ProbeState),
    Served,
    /// Rejected, unserved, or closed before answering: it has its outcome; what arrives
    /// now is discarded.
    NotServed,
    /// Served, beating: beat `next` (a u32 in halves) is due next.
    BeatIdle([u16; 2]),
    /// Beat `next` is due and its request is being written: this many bytes so far.
    BeatWriting([u16; 2], u16),
    /// Beat `next` went out; its answer is being read.
    BeatReading([u16; 2], BeatReader),
    /// Served once, then it stopped answering its heartbeats: served no more. What arrives
    /// now is discarded.
    Stopped,
    /// A WebSocket session's own state.
    Ws(WsState),
    /// An MQTT session's own state.
    Mqtt(MqttState),
    /// An MQTT-over-WebSocket session's own state.
    MqttWs(MqttWsState),
    /// An HTTP/2 session's own state.
    H2(H2State),
}

impl Session {
    /// The probe alone, no heartbeat.
    pub fn probe(probe: Probe) -> Session {
        Session::Probe {
            probe,
            heartbeat: None,
        }
    }

    fn heartbeat(&self) -> Option<&Heartbeat> {
        match self {
            Session::Probe { heartbeat, .. } => heartbeat.as_deref(),
            Session::Ws(ws) => ws.heartbeat.as_ref(),
            Session::Mqtt(mqtt) => mqtt.heartbeat.as_ref(),
            Session::MqttWs(mqtt_ws) => mqtt_ws.mqtt.heartbeat.as_ref(),
            Session::H2(h2) => h2.heartbeat.as_ref(),
            Session::TransportUp => None,
        }
    }

    /// The heartbeat's schedule, to end it early (the run is over).
    pub fn beat_schedule_mut(&mut self) -> Option<&mut BeatSchedule> {
        match self {
            Session::Probe { heartbeat, .. } => heartbeat.as_deref_mut().map(|b| &mut b.schedule),
            Session::Ws(ws) => ws.heartbeat.as_mut().map(|b| &mut b.schedule),
            Session::Mqtt(mqtt) => mqtt.heartbeat.as_mut().map(|b| &mut b.schedule),
            Session::MqttWs(mqtt_ws) => mqtt_ws.mqtt.heartbeat.as_mut().map(|b| &mut b.schedule),
            Session::H2(h2) => h2.heartbeat.as_mut().map(|b| &mut b.schedule),
            Session::TransportUp => None,
        }
    }

    /// Opens a session on a connection whose transport is up, `now`.
    pub fn open(&self, state: &mut SessionState, now: Instant) -> Output {
        self.open_over(state, None, now)
    }

    /// Opens a session on a connection whose transport is up, `now`; `alpn` is the
    /// protocol the server chose in its TLS handshake, if it chose one.
    pub fn open_over(&self, state: &mut SessionState, alpn: Option<&[u8]>, now: Instant) -> Output {
        *state = SessionState::Awaiting(ProbeState::default());
        match self {
            Session::H2(h2) => {
                let (h2_state, out) = h2.open(alpn, now);
                *state = SessionState::H2(h2_state);
                out
            }
            Session::Ws(ws) => {
                let (ws_state, out) = ws.open(now);
                *state = SessionState::Ws(ws_state);
                out
            }
            Session::MqttWs(mqtt_ws) => {
                let (mqtt_ws_state, out) = mqtt_ws.open(now);
                *state = SessionState::MqttWs(mqtt_ws_state);
                out
            }
            Session::Mqtt(mqtt) => {
                let (mqtt_state, out) = mqtt.open(now);
                *state = SessionState::Mqtt(mqtt_state);
                out
            }
            Session::TransportUp => Output {
                outcome: Some(settle(state, ProbeOutcome::Served)),
                ..Output::default()
            },
            Session::Probe { probe, .. } => Output {
                deadline: (!probe.timeout.is_zero())
                    .then(|| now.checked_add(probe.timeout))
                    .flatten(),
                ..Output::default()
            },
        }
    }

    /// The bytes it has yet to write next, from its own or made in `scratch` (a session
    /// makes per-connection bytes again rather than keep them); empty when it has none.
    /// Written whole, they may be followed by more.
    pub fn unsent<'a>(
        &'a self,
        state: &SessionState,
        seq: u64,
        scratch: &'a mut [u8; 64],
    ) -> &'a [u8] {
        match (self, state) {
            (Session::Ws(ws), SessionState::Ws(ws_state)) => ws.unsent(ws_state, seq, scratch),
            (Session::Mqtt(mqtt), SessionState::Mqtt(mqtt_state)) => {
                mqtt.unsent(mqtt_state, seq, scratch)
            }
            (Session::MqttWs(mqtt_ws), SessionState::MqttWs(mqtt_ws_state)) => {
                mqtt_ws.unsent(mqtt_ws_state, seq, scratch)
            }
            (Session::H2(h2), SessionState::H2(h2_state)) => h2.unsent(h2_state, seq, scratch),
            (Session::Probe { probe, .. }, SessionState::Awaiting(probe_state)) => {
                probe.unsent(probe_state)
            }
            (Session::Probe { .. }, SessionState::BeatWriting(_, written)) => {
                let request = &self.heartbeat().expect("beating").request;
                &request[usize::from(*written).min(request.len())..]
            }
            _ => &[],
        }
    }

    /// `n` of [`Session::unsent`] were written, on attempt `seq`'s connection.
    pub fn on_sent(&self, state: &mut SessionState, seq: u64, n: usize) -> Output {
        watched(state, |state| self.sent(state, seq, n))
    }

    fn sent(&self, state: &mut SessionState, seq: u64, n: usize) -> Output {
        match state {
            SessionState::MqttWs(mqtt_ws_state) => {
                if let Session::MqttWs(mqtt_ws) = self {
                    return mqtt_ws.on_sent(mqtt_ws_state, seq, n);
                }
            }
            SessionState::Ws(ws_state) => {
                if let Session::Ws(ws) = self {
                    return ws.on_sent(ws_state, n);
                }
            }
            SessionState::Mqtt(mqtt_state) => {
                if let Session::Mqtt(mqtt) = self {
                    return mqtt.on_sent(mqtt_state, n);
                }
            }
            SessionState::H2(h2_state) => {
                if let Session::H2(h2) = self {
                    return h2.on_sent(h2_state, n);
                }
            }
            SessionState::Awaiting(probe_state) => probe_state.on_sent(n),
            SessionState::BeatWriting(next, written) => {
                let request = &self.heartbeat().expect("beating").request;
                let done = usize::from(*written) + n;
                if done >= request.len() {
                    *state = SessionState::BeatReading(*next, BeatReader::default());
                    return Output {
                        beat: BeatEvents {
                            sent: true,
                            ..BeatEvents::default()
                        },
                        ..Output::default()
                    };
                }
                // The request is at most u16::MAX long (the command line checks it).
                *written = done as u16;
            }
            _ => {}
        }
        Output::default()
    }

    /// Takes `bytes`, the next plaintext that arrived on attempt `seq`'s connection, `now`.
    pub fn on_bytes(
        &self,
        state: &mut SessionState,
        seq: u64,
        bytes: &[u8],
        now: Instant,
    ) -> Output {
        watched(state, |state| self.bytes(state, seq, bytes, now))
    }

    fn bytes(&self, state: &mut SessionState, seq: u64, bytes: &[u8], now: Instant) -> Output {
        match (self, *state) {
            (Session::Ws(ws), SessionState::Ws(mut ws_state)) => {
                let out = ws.on_bytes(&mut ws_state, seq, bytes, now);
                *state = SessionState::Ws(ws_state);
                out
            }
            (Session::Mqtt(mqtt), SessionState::Mqtt(mut mqtt_state)) => {
                let out = mqtt.on_bytes(&mut mqtt_state, seq, bytes, now);
                *state = SessionState::Mqtt(mqtt_state);
                out
            }
            (Session::MqttWs(mqtt_ws), SessionState::MqttWs(mut mqtt_ws_state)) => {
                let out = mqtt_ws.on_bytes(&mut mqtt_ws_state, seq, bytes, now);
                *state = SessionState::MqttWs(mqtt_ws_state);
                out
            }
            (Session::H2(h2), SessionState::H2(mut h2_state)) => {
                let out = h2.on_bytes(&mut h2_state, seq, bytes, now);
                *state = SessionState::H2(h2_state);
                out
            }
            (Session::Probe { probe, heartbeat }, SessionState::Awaiting(mut probe_state)) => {
                let answer = probe.on_bytes(&mut probe_state, bytes);
                *state = SessionState::Awaiting(probe_state);
                let outcome = match answer {
                    Answer::Pending => return Output::default(),
                    Answer::Served => ProbeOutcome::Served,
                    Answer::Rejected => ProbeOutcome::Rejected,
                };
                settle(state, outcome);
                let mut out = Output {
                    outcome: Some(outcome),
                    rejected_status: probe.rejected_status(&probe_state),
                    ..Output::default()
                };
                if let (ProbeOutcome::Served, Some(beat)) = (outcome, heartbeat) {
                    // Served: it beats from the first beat due after now.
                    let next = beat.schedule.first_after(seq, now);
                    *state = SessionState::BeatIdle(halves(next));
                    out.deadline = Some(beat.schedule.due(seq, next));
                }
                out
            }
            (Session::Probe { .. }, SessionState::BeatReading(next, mut reader)) => {
                let beat = self.heartbeat().expect("beating");
                match beat.reply.read(&mut reader, bytes) {
                    Read::Pending => {
                        *state = SessionState::BeatReading(next, reader);
                        Output::default()
                    }
                    Read::Wrong => stop(state, StopCause::Wrong, now),
                    Read::Answered => {
                        let j = whole(next);
                        let latency = now.saturating_duration_since(beat.schedule.due(seq, j));
                        let late = now >= beat.schedule.due(seq, j.saturating_add(1));
                        let mut out = wait_for(beat, state, seq, j.saturating_add(1), now);
                        out.beat.answered = Some((latency, late));
                        out
                    }
                }
            }
            // Bytes with no beat out (the rest of an answer after its judged part, or what a
            // server pushes) are read and discarded.
            _ => Output::default(),
        }
    }

    /// Its deadline passed, `now`: an answer still owed is unserved, a beat is due, or a
    /// beat out was not answered in time. A deadline that is no longer its own does
    /// nothing.
    pub fn on_deadline(&self, state: &mut SessionState, seq: u64, now: Instant) -> Output {
        watched(state, |state| self.deadline(state, seq, now))
    }

    fn deadline(&self, state: &mut SessionState, seq: u64, now: Instant) -> Output {
        match *state {
            SessionState::Ws(mut ws_state) => {
                let Session::Ws(ws) = self else {
                    return Output::default();
                };
                let out = ws.on_deadline(&mut ws_state, seq, now);
                *state = SessionState::Ws(ws_state);
                out
            }
            SessionState::MqttWs(mut mqtt_ws_state) => {
                let Session::MqttWs(mqtt_ws) = self else {
                    return Output::default();
                };
                let out = mqtt_ws.on_deadline(&mut mqtt_ws_state, seq, now);
                *state = SessionState::MqttWs(mqtt_ws_state);
                out
            }
            SessionState::Mqtt(mut mqtt_state) => {
                let Session::Mqtt(mqtt) = self else {
                    return Output::default();
                };
                let out = mqtt.on_deadline(&mut mqtt_state, seq, now);
                *state = SessionState::Mqtt(mqtt_state);
                out
            }
            SessionState::H2(mut h2_state) => {
                let Session::H2(h2) = self else {
                    return Output::default();
                };
                let out = h2.on_deadline(&mut h2_state, seq, now);
                *state = SessionState::H2(h2_state);
                out
            }
            SessionState::Awaiting(_) => Output {
                outcome: Some(settle(state, ProbeOutcome::Unserved)),
                ..Output::default()
            },
            SessionState::BeatIdle(next) => {
                let beat = self.heartbeat().expect("beating");
                // Its own deadline was queued when it began to wait: one left behind (a
                // beat's timeout, after its answer) queues nothing more.
                if now < beat.schedule.due(seq, whole(next)) {
                    return Output::default();
                }
                wait_for(beat, state, seq, whole(next), now)
            }
            SessionState::BeatWriting(next, _) | SessionState::BeatReading(next, _) => {
                let beat = self.heartbeat().expect("beating");
                match beat.timed_out(seq, whole(next), now) {
                    Some(out) => {
                        *state = SessionState::Stopped;
                        out
                    }
                    None => Output::default(),
                }
            }
            _ => Output::default(),
        }
    }

    /// The connection closed, `now`: an answer still owed never came.
    pub fn on_close(&self, state: &mut SessionState, now: Instant) -> Output {
        watched(state, |state| self.closed(state, now))
    }

    fn closed(&self, state: &mut SessionState, now: Instant) -> Output {
        match state {
            SessionState::Ws(ws_state) => match self {
                Session::Ws(ws) => ws.on_close(ws_state, now),
                _ => Output::default(),
            },
            SessionState::MqttWs(mqtt_ws_state) => match self {
                Session::MqttWs(mqtt_ws) => mqtt_ws.on_close(mqtt_ws_state, now),
                _ => Output::default(),
            },
            SessionState::Mqtt(mqtt_state) => match self {
                Session::Mqtt(mqtt) => mqtt.on_close(mqtt_state, now),
                _ => Output::default(),
            },
            SessionState::H2(h2_state) => match self {
                Session::H2(h2) => h2.on_close(h2_state, now),
                _ => Output::default(),
            },
            SessionState::Awaiting(_) => Output {
                outcome: Some(settle(state, ProbeOutcome::ClosedBeforeAnswer)),
                ..Output::default()
            },
            SessionState::BeatWriting(..) | SessionState::BeatReading(..) => {
                stop(state, StopCause::Closed, now)
            }
            _ => Output::default(),
        }
    }

    /// How long an answer may take; zero: as long as the connection lasts.
    pub fn timeout(&self) -> std::time::Duration {
        match self {
            Session::TransportUp => std::time::Duration::ZERO,
            Session::Probe { probe, .. } => probe.timeout,
            Session::Ws(ws) => ws.timeout,
            Session::Mqtt(mqtt) => mqtt.timeout,
            Session::MqttWs(mqtt_ws) => mqtt_ws.mqtt.timeout,
            Session::H2(h2) => h2.timeout,
        }
    }
}

/// Beat `j` is next, `now`: its request written at once when it is due, else waited for.
fn wait_for(beat: &Heartbeat, state: &mut SessionState, seq: u64, j: u32, now: Instant) -> Output {
    let (out, due_now) = beat.wait(seq, j, now);
    *state = if due_now {
        SessionState::BeatWriting(halves(j), 0)
    } else {
        SessionState::BeatIdle(halves(j))
    };
    out
}

fn halves(j: u32) -> [u16; 2] {
    [(j >> 16) as u16, j as u16]
}

fn whole(halves: [u16; 2]) -> u32 {
    u32::from(halves[0]) << 16 | u32::from(halves[1])
}

fn stop(state: &mut SessionState, cause: StopCause, since: Instant) -> Output {
    *state = SessionState::Stopped;
    Output {
        beat: BeatEvents {
            stopped: Some((cause, since)),
            ..BeatEvents::default()
        },
        ..Output::default()
    }
}

impl SessionState {
    /// Still owed an answer: the transport under it must stay whole.
    pub fn awaiting(&self) -> bool {
        match self {
            SessionState::Ws(ws) => ws.awaiting(),
            SessionState::Mqtt(mqtt) => mqtt.awaiting(),
            SessionState::MqttWs(mqtt_ws) => mqtt_ws.awaiting(),
            SessionState::H2(h2) => h2.awaiting(),
            _ => matches!(self, SessionState::Awaiting(_)),
        }
    }

    /// Its transport is still needed: an answer is owed, or it beats through it.
    pub fn needs_transport(&self) -> bool {
        if let SessionState::Ws(ws) = self {
            return ws.needs_transport();
        }
        if let SessionState::MqttWs(mqtt_ws) = self {
            return mqtt_ws.needs_transport();
        }
        if let SessionState::Mqtt(mqtt) = self {
            return mqtt.needs_transport();
        }
        if let SessionState::H2(h2) = self {
            return h2.needs_transport();
        }
        matches!(
            self,
            SessionState::Awaiting(_)
                | SessionState::BeatIdle(_)
                | SessionState::BeatWriting(..)
                | SessionState::BeatReading(..)
        )
    }

    /// Served and still answering: served, beating or not.
    pub fn served(&self) -> bool {
        if let SessionState::Ws(ws) = self {
            return ws.served();
        }
        if let SessionState::MqttWs(mqtt_ws) = self {
            return mqtt_ws.served();
        }
        if let SessionState::Mqtt(mqtt) = self {
            return mqtt.served();
        }
        if let SessionState::H2(h2) = self {
            return h2.served();
        }
        matches!(
            self,
            SessionState::Served
                | SessionState::BeatIdle(_)
                | SessionState::BeatWriting(..)
                | SessionState::BeatReading(..)
        )
    }
}

// In every held connection: 48 bytes at 4-byte alignment, an HTTP/2 or an MQTT-over-
// WebSocket session's 44 and the tag (10 before the protocols: a probe's and a
// heartbeat's alone). A WebSocket one's is 40: its handshake's reader and its frames'
// share their bytes.
const _: () =
    assert!(std::mem::size_of::<SessionState>() == 48 && std::mem::align_of::<SessionState>() == 4);

/// Drives a session's state with `step`, and says in its output when a served connection
/// is served no more without its heartbeat stopping (a close frame, a GOAWAY, a close of
/// the socket with no beat out): every protocol's way out of served is counted once, here or
/// by the stop, whatever stage its session goes to.
fn watched(state: &mut SessionState, step: impl FnOnce(&mut SessionState) -> Output) -> Output {
    let was_served = state.served();
    let mut out = step(state);
    // Served in this very call counts as well: a 101 and a close frame in one read.
    let served = was_served || out.outcome == Some(ProbeOutcome::Served);
    out.unserved = served && !state.served() && out.beat.stopped.is_none();
    out
}

fn settle(state: &mut SessionState, outcome: ProbeOutcome) -> ProbeOutcome {
    *state = match outcome {
        ProbeOutcome::Served => SessionState::Served,
        _ => SessionState::NotServed,
    };
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::beat::BeatReply;
    use std::time::Duration;

    fn redis() -> Session {
        Session::probe(Probe::preset(
            &crate::engine::probe::ProbeKind::Redis,
            "localhost",
            6379,
            Duration::from_secs(1),
        ))
    }

    #[test]
    fn a_probe_writes_awaits_and_is_judged_once() {
        let session = redis();
        let now = Instant::now();
        let mut state = SessionState::Off;
        let out = session.open(&mut state, now);
        assert_eq!(out.outcome, None);
        assert_eq!(out.deadline, Some(now + Duration::from_secs(1)));
        assert_eq!(session.unsent(&state, 0, &mut [0; 64]), b"PING\r\n");
        session.on_sent(&mut state, 0, 4);
        assert_eq!(session.unsent(&state, 0, &mut [0; 64]), b"\r\n");
        session.on_sent(&mut state, 0, 2);
        assert_eq!(session.unsent(&state, 0, &mut [0; 64]), b"");
        assert_eq!(session.on_bytes(&mut state, 0, b"+PO", now).outcome, None);
        assert_eq!(
            session.on_bytes(&mut state, 0, b"NG\r\n", now).outcome,
            Some(ProbeOutcome::Served)
        );
        assert_eq!(state, SessionState::Served);
        // Judged once: what comes after, a close or the deadline, changes nothing.
        assert_eq!(
            session.on_bytes(&mut state, 0, b"-ERR", now),
            Output::default()
        );
        assert_eq!(session.on_close(&mut state, now), Output::default());
        assert_eq!(session.on_deadline(&mut state, 0, now), Output::default());
    }

    #[test]
    fn no_answer_is_unserved_and_a_close_first_is_closed_before_answer() {
        let session = redis();
        let now = Instant::now();
        let mut state = SessionState::Off;
        session.open(&mut state, now);
        assert_eq!(
            session
                .on_deadline(&mut state, 0, now + Duration::from_secs(1))
                .outcome,
            Some(ProbeOutcome::Unserved)
        );
        assert_eq!(state, SessionState::NotServed);
        session.open(&mut state, now);
        assert_eq!(
            session.on_close(&mut state, now).outcome,
            Some(ProbeOutcome::ClosedBeforeAnswer)
        );
        session.open(&mut state, now);
        assert_eq!(
            session.on_bytes(&mut state, 0, b"-ERR max", now).outcome,
            Some(ProbeOutcome::Rejected)
        );
    }

    #[test]
    fn the_transport_s_proof_serves_as_it_opens() {
        let mut state = SessionState::Off;
        let out = Session::TransportUp.open(&mut state, Instant::now());
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        assert_eq!(out.deadline, None);
        assert!(!state.awaiting());
    }

    /// A probe on attempt 1 of 4, with a heartbeat every 100 ms from `origin`, timing out
    /// after 300 ms: attempt 1's beats are due at origin + 25 ms + j × 100 ms.
    fn beating(origin: Instant) -> Session {
        let probe = Probe::preset(
            &crate::engine::probe::ProbeKind::Redis,
            "localhost",
            6379,
            Duration::from_secs(1),
        );
        Session::Probe {
            heartbeat: Some(Box::new(Heartbeat {
                schedule: BeatSchedule {
                    origin,
                    period: Duration::from_millis(100),
                    spread: 4,
                    until: None,
                },
                timeout: Duration::from_millis(300),
                request: probe.send.clone(),
                reply: BeatReply::Line {
                    expect: probe.expect.clone(),
                },
            })),
            probe,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Opens the session on attempt 1 and serves it `at`.
    fn served(session: &Session, state: &mut SessionState, t0: Instant, at: u64) -> Output {
        session.open(state, t0 + ms(at));
        session.on_sent(state, 0, 6);
        session.on_bytes(state, 1, b"+PONG\r\n", t0 + ms(at))
    }

    #[test]
    fn a_served_connection_beats_on_its_schedule_and_latency_runs_from_the_due_time() {
        let t0 = Instant::now();
        let session = beating(t0);
        let mut state = SessionState::Off;
        let out = served(&session, &mut state, t0, 30);
        assert_eq!(out.outcome, Some(ProbeOutcome::Served));
        // Served at 30 ms: the first beat is attempt 1's next, at 125 ms.
        assert_eq!(out.deadline, Some(t0 + ms(125)));
        assert!(state.served() && state.needs_transport());
        assert!(session.unsent(&state, 0, &mut [0; 64]).is_empty());
        // Woken late, at 140 ms: the beat is due, to be written.
        let out = session.on_deadline(&mut state, 1, t0 + ms(140));
        assert_eq!(out.beat.due, Some(t0 + ms(125)));
        assert_eq!(
            out.deadline,
            Some(t0 + ms(425)),
            "its timeout runs from 125 ms"
        );
        assert_eq!(session.unsent(&state, 0, &mut [0; 64]), b"PING\r\n");
        assert!(!session.on_sent(&mut state, 0, 4).beat.sent);
        assert!(session.on_sent(&mut state, 0, 2).beat.sent);
        // Answered at 150 ms: 25 ms after it was due, not 10 after it was sent.
        assert_eq!(
            session.on_bytes(&mut state, 1, b"+PO", t0 + ms(145)),
            Output::default()
        );
        let out = session.on_bytes(&mut state, 1, b"NG\r\n", t0 + ms(150));
        assert_eq!(out.beat.answered, Some((ms(25), false)));
        assert_eq!(out.deadline, Some(t0 + ms(225)));
        // A deadline left behind (the timeout) does nothing.
        assert_eq!(
            session.on_deadline(&mut state, 1, t0 + ms(150)),
            Output::default()
        );
        // Bytes with no beat out are discarded.
        assert_eq!(
            session.on_bytes(&mut state, 1, b"junk", t0 + ms(160)),
            Output::default()
        );
        assert!(state.served());
    }

    #[test]
    fn a_beat_answered_after_the_next_was_due_is_late_and_the_next_goes_at_once() {
        let t0 = Instant::now();
        let session = beating(t0);
        let mut state = SessionState::Off;
        served(&session, &mut state, t0, 30);
        session.on_deadline(&mut state, 1, t0 + ms(125));
        session.on_sent(&mut state, 0, 6);
        // Answered at 260 ms: the beats due at 225 ms is sent at once, still timed from 225.
        let out = session.on_bytes(&mut state, 1, b"+PONG\r\n", t0 + ms(260));
        assert_eq!(out.beat.answered, Some((ms(135), true)));
        assert_eq!(out.beat.due, Some(t0 + ms(225)));
        assert_eq!(out.deadline, Some(t0 + ms(525)));
        assert_eq!(session.unsent(&state, 0, &mut [0; 64]), b"PING\r\n");
    }

    #[test]
    fn a_beat_unanswered_wrong_or_closed_stops_the_connection_once() {
        let t0 = Instant::now();
        let session = beating(t0);
        for (end, cause, since) in [
            ("timeout", StopCause::Timeout, 125),
            ("wrong", StopCause::Wrong, 200),
            ("close", StopCause::Closed, 200),
        ] {
            let mut state = SessionState::Off;
            served(&session, &mut state, t0, 30);
            session.on_deadline(&mut state, 1, t0 + ms(125));
            session.on_sent(&mut state, 0, 6);
            let out = match end {
                "timeout" => {
                    // Not yet at 424 ms; at 425 its timeout is up.
                    assert_eq!(
                        session.on_deadline(&mut state, 1, t0 + ms(424)),
                        Output::default()
                    );
                    session.on_deadline(&mut state, 1, t0 + ms(425))
                }
                "wrong" => session.on_bytes(&mut state, 1, b"-LOADING\r\n", t0 + ms(200)),
                _ => session.on_close(&mut state, t0 + ms(200)),
            };
            assert_eq!(out.beat.stopped, Some((cause, t0 + ms(since))), "{end}");
            assert_eq!(state, SessionState::Stopped);
            assert!(!state.served());
            // Once: nothing after it counts.
            assert_eq!(
                session.on_deadline(&mut state, 1, t0 + ms(900)),
                Output::default()
            );
            assert_eq!(
                session.on_close(&mut state, t0 + ms(900)),
                Output::default()
            );
        }
        // A close with no beat out is no stop: the connection just closed.
        let mut state = SessionState::Off;
        served(&session, &mut state, t0, 30);
        assert_eq!(session.on_close(&mut state, t0 + ms(50)), Output::default());
    }

    #[test]
    fn once_the_run_is_over_no_beat_is_begun() {
        let t0 = Instant::now();
        let mut session = beating(t0);
        if let Session::Probe {
            heartbeat: Some(beat),
            ..
        } = &mut session
        {
            beat.schedule.until = Some(t0 + ms(100));
        }
        let mut state = SessionState::Off;
        served(&session, &mut state, t0, 30);
        assert_eq!(
            session.on_deadline(&mut state, 1, t0 + ms(125)),
            Output::default()
        );
        assert!(session.unsent(&state, 0, &mut [0; 64]).is_empty());
    }
}
