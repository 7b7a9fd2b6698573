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

use crate::engine::probe::{Answer, Probe, ProbeOutcome, ProbeState};

/// What the run's connections speak once up; `None` in the plan's place means nothing:
/// being established is all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// The transport being up serves (`--tls` without a probe: the handshake done).
    TransportUp,
    /// Send the probe's bytes, judge what comes back.
    Probe(Probe),
}

/// Where one connection's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// None opened: the run has no session, or the connection is still dialing.
    Off,
    Awaiting(ProbeState),
    Served,
    /// Rejected, unserved, or closed before answering: it has its outcome; what arrives
    /// now is discarded.
    NotServed,
}

/// What a session hands back when it is opened or driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Output {
    /// Its outcome, the moment it has one (exactly once per session).
    pub outcome: Option<ProbeOutcome>,
    /// When it wants to be woken, with [`Session::on_deadline`].
    pub deadline: Option<Instant>,
}

impl Session {
    /// Opens a session on a connection whose transport is up, `now`.
    pub fn open(&self, state: &mut SessionState, now: Instant) -> Output {
        *state = SessionState::Awaiting(ProbeState::default());
        match self {
            Session::TransportUp => Output {
                outcome: Some(settle(state, ProbeOutcome::Served)),
                deadline: None,
            },
            Session::Probe(probe) => Output {
                outcome: None,
                deadline: (!probe.timeout.is_zero())
                    .then(|| now.checked_add(probe.timeout))
                    .flatten(),
            },
        }
    }

    /// The bytes it has yet to write; empty when it has none.
    pub fn unsent<'a>(&'a self, state: &SessionState) -> &'a [u8] {
        match (self, state) {
            (Session::Probe(probe), SessionState::Awaiting(probe_state)) => {
                probe.unsent(probe_state)
            }
            _ => &[],
        }
    }

    /// `n` of [`Session::unsent`] were written.
    pub fn on_sent(&self, state: &mut SessionState, n: usize) {
        if let SessionState::Awaiting(probe_state) = state {
            probe_state.on_sent(n);
        }
    }

    /// Takes `bytes`, the next plaintext that arrived; the outcome once they decide it.
    pub fn on_bytes(&self, state: &mut SessionState, bytes: &[u8]) -> Option<ProbeOutcome> {
        let (Session::Probe(probe), SessionState::Awaiting(probe_state)) = (self, &mut *state)
        else {
            return None;
        };
        match probe.on_bytes(probe_state, bytes) {
            Answer::Pending => None,
            Answer::Served => Some(settle(state, ProbeOutcome::Served)),
            Answer::Rejected => Some(settle(state, ProbeOutcome::Rejected)),
        }
    }

    /// Its deadline passed, `now`: an answer still owed is unserved.
    pub fn on_deadline(&self, state: &mut SessionState, _now: Instant) -> Option<ProbeOutcome> {
        awaiting(state).then(|| settle(state, ProbeOutcome::Unserved))
    }

    /// The connection closed: an answer still owed never came.
    pub fn on_close(&self, state: &mut SessionState) -> Option<ProbeOutcome> {
        awaiting(state).then(|| settle(state, ProbeOutcome::ClosedBeforeAnswer))
    }

    /// How long an answer may take; zero: as long as the connection lasts.
    pub fn timeout(&self) -> std::time::Duration {
        match self {
            Session::TransportUp => std::time::Duration::ZERO,
            Session::Probe(probe) => probe.timeout,
        }
    }
}

impl SessionState {
    /// Still owed an answer: the transport under it must stay whole.
    pub fn awaiting(&self) -> bool {
        matches!(self, SessionState::Awaiting(_))
    }
}

fn awaiting(state: &SessionState) -> bool {
    state.awaiting()
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
    use std::time::Duration;

    fn redis() -> Session {
        Session::Probe(Probe::preset(
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
        assert_eq!(session.unsent(&state), b"PING\r\n");
        session.on_sent(&mut state, 4);
        assert_eq!(session.unsent(&state), b"\r\n");
        session.on_sent(&mut state, 2);
        assert_eq!(session.unsent(&state), b"");
        assert_eq!(session.on_bytes(&mut state, b"+PO"), None);
        assert_eq!(
            session.on_bytes(&mut state, b"NG\r\n"),
            Some(ProbeOutcome::Served)
        );
        assert_eq!(state, SessionState::Served);
        // Judged once: what comes after, a close or the deadline, changes nothing.
        assert_eq!(session.on_bytes(&mut state, b"-ERR"), None);
        assert_eq!(session.on_close(&mut state), None);
        assert_eq!(session.on_deadline(&mut state, now), None);
    }

    #[test]
    fn no_answer_is_unserved_and_a_close_first_is_closed_before_answer() {
        let session = redis();
        let now = Instant::now();
        let mut state = SessionState::Off;
        session.open(&mut state, now);
        assert_eq!(
            session.on_deadline(&mut state, now + Duration::from_secs(1)),
            Some(ProbeOutcome::Unserved)
        );
        assert_eq!(state, SessionState::NotServed);
        session.open(&mut state, now);
        assert_eq!(
            session.on_close(&mut state),
            Some(ProbeOutcome::ClosedBeforeAnswer)
        );
        session.open(&mut state, now);
        assert_eq!(
            session.on_bytes(&mut state, b"-ERR max"),
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
}
