//! What a session hands back to the loop each time it is opened or driven: its outcome,
//! its next deadline, whether it has bytes to write or the connection is to be closed, what
//! its heartbeats did, and what a protocol's peer said that the reports count. Every
//! session speaks it, whatever its protocol (`session`, `ws_session`, `mqtt_session`).

use std::time::{Duration, Instant};

use crate::engine::h2::H2Event;
use crate::engine::mqtt::MqttEvent;
use crate::engine::probe::ProbeOutcome;
use crate::engine::stats::StopCause;
use crate::engine::ws::WsEvent;

/// What a session hands back when it is opened or driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Output {
    /// Its outcome, the moment it has one (exactly once per session).
    pub outcome: Option<ProbeOutcome>,
    /// When it wants to be woken, with [`Session::on_deadline`]: set only when it changed.
    pub deadline: Option<Instant>,
    /// The HTTP status that rejected it, with its outcome.
    pub rejected_status: Option<u16>,
    /// What its heartbeats did.
    pub beat: BeatEvents,
    /// It has bytes to write now that it had none (an answer to the peer, a beat).
    pub wants_write: bool,
    /// The connection is to be closed (the peer closed its session, or broke its framing).
    pub close: bool,
    /// Served until now, it is served no more, and its heartbeat did not stop (that is
    /// counted with the stop): a close frame, a GOAWAY, the socket closed with no beat out.
    pub unserved: bool,
    /// What the protocol's peer said that the reports count.
    pub said: Option<PeerEvent>,
    /// Messages the peer sent, read whole (a WebSocket server's pushes).
    pub messages: u32,
}

/// What happened to a connection's heartbeats in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BeatEvents {
    /// A beat came due, at this time on its schedule: its request is to be written
    /// ([`Session::unsent`]).
    pub due: Option<Instant>,
    /// A beat's request was written whole.
    pub sent: bool,
    /// A beat was answered, this long after it was due; `true`: only after the next one
    /// was due too.
    pub answered: Option<(Duration, bool)>,
    /// It stopped answering, why, and since when: a beat left unanswered stopped it at its
    /// due time (found out only at its timeout); a wrong answer or a close, as it came.
    pub stopped: Option<(StopCause, Instant)>,
}

impl Output {
    /// Folds `later` into this one: a read hands its bytes to the session in pieces.
    // Once per packet read, on an MQTT or WebSocket stream: without the hint, whether it is
    // inlined depends on how the crate happens to be split into codegen units, and called
    // it tripled the time a stream of small packets takes to read.
    #[inline]
    pub fn and(mut self, later: Output) -> Output {
        self.outcome = self.outcome.or(later.outcome);
        self.rejected_status = self.rejected_status.or(later.rejected_status);
        self.deadline = later.deadline.or(self.deadline);
        self.beat.due = self.beat.due.or(later.beat.due);
        self.beat.sent |= later.beat.sent;
        self.beat.answered = later.beat.answered.or(self.beat.answered);
        self.beat.stopped = self.beat.stopped.or(later.beat.stopped);
        self.wants_write |= later.wants_write;
        self.close |= later.close;
        self.unserved |= later.unserved;
        self.said = self.said.or(later.said);
        self.messages = self.messages.saturating_add(later.messages);
        self
    }
}

/// What a protocol's peer said that ended or troubled a connection, for the reports (the
/// `Protocol events` line, JSON `probe.events`) and `--debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    Ws(WsEvent),
    Mqtt(MqttEvent),
    H2(H2Event),
}

impl PeerEvent {
    pub fn label(self) -> String {
        match self {
            PeerEvent::Ws(event) => event.label(),
            PeerEvent::Mqtt(event) => event.label(),
            PeerEvent::H2(event) => event.label(),
        }
    }
}
