//! The built-in server's side of MQTT (`tcpgoon server --mqtt`): enough of a broker to be a
//! target for `--probe mqtt`, and to refuse as the client's error paths need. Sans-I/O:
//! bytes read in, bytes to write appended to the connection's echo buffer, and whether the
//! connection is to be closed once they are written.
//!
//! ```text
//!  CONNECT ──▶ CONNACK accepted (in the CONNECT's version: 3.1.1, or 5.0 with no
//!    │         properties) ──▶ PINGREQ ──▶ PINGRESP, …; DISCONNECT ──▶ closed
//!    └─ past --mqtt-refuse-past K: CONNACK refused (3.1.1: 3, server unavailable;
//!       5.0: 0x97, quota exceeded), then closed
//!  a second CONNECT, a packet before CONNECT, or bytes that are not MQTT ──▶ closed
//! ```
//! Packets are read with the client's reader (`mqtt::PacketReader`): bounded, a body never
//! kept but for the CONNECT's protocol level.

use crate::engine::mqtt::{CONNECT, DISCONNECT, Event, PINGREQ, PacketReader};
use crate::engine::ws_serve::After;

/// One connection's MQTT, broker side.
#[derive(Debug, Clone, Default)]
pub struct MqttServe {
    packets: PacketReader,
    /// Past `--mqtt-refuse-past`: its CONNACK refuses.
    refuse: bool,
    connected: bool,
    /// The packet being read: its type, the body bytes seen, the protocol level (CONNECT).
    kind: u8,
    at: u32,
    level: u8,
}

impl MqttServe {
    pub fn new(refuse: bool) -> MqttServe {
        MqttServe {
            refuse,
            ..MqttServe::default()
        }
    }

    /// Past `--mqtt-refuse-past`: it is refused, then closed.
    pub fn refuses(&self) -> bool {
        self.refuse
    }

    /// Takes `bytes` the client sent; appends what to write back to `out`.
    pub fn on_bytes(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> After {
        loop {
            let (event, used) = self.packets.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else {
                return After::Continue;
            };
            match event {
                Event::Start { kind, .. } => (self.kind, self.at) = (kind, 0),
                Event::Body(body) => {
                    // The protocol level: after the name's length (2) and "MQTT" (4).
                    let at = self.at as usize;
                    if self.kind == CONNECT && at <= 6 && at + body.len() > 6 {
                        self.level = body[6 - at];
                    }
                    self.at = self.at.saturating_add(body.len() as u32);
                }
                Event::End => match self.kind {
                    CONNECT if !self.connected => {
                        self.connected = true;
                        let v5 = self.level == 5;
                        let code = match (self.refuse, v5) {
                            (false, _) => 0,
                            (true, false) => 3,
                            (true, true) => 0x97,
                        };
                        if v5 {
                            out.extend_from_slice(&[0x20, 3, 0, code, 0]);
                        } else {
                            out.extend_from_slice(&[0x20, 2, 0, code]);
                        }
                        if self.refuse {
                            return After::Close;
                        }
                    }
                    PINGREQ if self.connected => out.extend_from_slice(&[0xd0, 0]),
                    DISCONNECT => return After::Close,
                    // A packet before CONNECT, or a second CONNECT: a protocol violation.
                    CONNECT | PINGREQ => return After::Close,
                    _ if !self.connected => return After::Close,
                    _ => {}
                },
                Event::Error(_) => return After::Close,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mqtt::{Connect, ConnectFields, Version, connect_template};

    /// A client's CONNECT, as attempt 3 writes it.
    fn connect(version: Version) -> Vec<u8> {
        let (template, len_at, id_at) = connect_template(&ConnectFields {
            version,
            prefix: "t-",
            keep_alive: 1,
            user: None,
            password: None,
        });
        let connect = Connect {
            template: &template,
            len_at,
            id_at,
            seq: 3,
        };
        let mut bytes = vec![0; connect.len()];
        connect.fill(0, &mut bytes);
        bytes
    }

    #[test]
    fn a_connect_is_accepted_in_its_version_and_pings_answered_in_any_pieces() {
        for (version, connack) in [
            (Version::V311, &[0x20, 2, 0, 0][..]),
            (Version::V5, &[0x20, 3, 0, 0, 0][..]),
        ] {
            let mut input = connect(version);
            input.extend_from_slice(&[0xc0, 0, 0xc0, 0]);
            for piece in [1, 3, 4096] {
                let mut serve = MqttServe::new(false);
                let mut out = Vec::new();
                for chunk in input.chunks(piece) {
                    assert_eq!(serve.on_bytes(chunk, &mut out), After::Continue);
                }
                let mut expected = connack.to_vec();
                expected.extend_from_slice(&[0xd0, 0, 0xd0, 0]);
                assert_eq!(out, expected, "{version:?} {piece}");
                assert_eq!(serve.on_bytes(&[0xe0, 0], &mut out), After::Close);
            }
        }
    }

    #[test]
    fn past_k_the_connack_refuses_and_a_packet_before_connect_closes() {
        let mut out = Vec::new();
        let after = MqttServe::new(true).on_bytes(&connect(Version::V311), &mut out);
        assert_eq!((after, out), (After::Close, vec![0x20, 2, 0, 3]));
        let mut out = Vec::new();
        let after = MqttServe::new(true).on_bytes(&connect(Version::V5), &mut out);
        assert_eq!((after, out), (After::Close, vec![0x20, 3, 0, 0x97, 0]));
        let mut out = Vec::new();
        assert_eq!(
            MqttServe::new(false).on_bytes(&[0xc0, 0], &mut out),
            After::Close
        );
        assert!(out.is_empty());
        // Not MQTT: a reserved packet type.
        assert_eq!(
            MqttServe::new(false).on_bytes(b"GET / HTTP/1.1\r\n", &mut out),
            After::Close
        );
    }
}
