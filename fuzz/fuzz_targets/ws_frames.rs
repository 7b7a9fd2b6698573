//! WebSocket from a server: the opening handshake's answer (`ws::HeadReader`) and the
//! frames after it (`ws::FrameReader`), on any bytes, in any pieces.
//!
//! Properties, beyond never panicking and never allocating with a frame's length:
//! - what the bytes say does not depend on how they were split: read whole, a byte at a
//!   time, and in two pieces at any cut, the head reader comes to the same verdict after the
//!   same number of bytes, and the frame reader gives the same frames (headers, payload
//!   lengths, ends, errors) in the same order;
//! - a frame reader's payload never exceeds the bytes it was given, and it stops at an error;
//! - the built-in server's side (`ws_serve::WsServe`, a client's bytes in) answers the same
//!   bytes whatever their pieces, and its answers are never more than a few bytes longer
//!   than what it read (nothing grows with a claimed length);
//! - an MQTT-over-WebSocket session (`mqtt_ws_session`), upgraded, then given the bytes as
//!   the broker's frames: the same outcome and close whatever the pieces, at most
//!   one outcome, and what it writes back bounded by what it read.
//!
//! The first byte (modulo 4) picks the reader; the second, where the two-piece cut falls.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};
use tcpgoon::engine::ws::{self, Event, FrameReader, Head, HeadReader};

use tcpgoon::engine::beat::{BeatReply, BeatSchedule, Heartbeat};
use tcpgoon::engine::mqtt::{ConnectFields, Version, connect_template};
use tcpgoon::engine::mqtt_session::MqttSession;
use tcpgoon::engine::mqtt_ws_session::{MqttWsSession, MqttWsState};
use tcpgoon::engine::ws_serve::{After, WsServe};

/// An MQTT-over-WebSocket session upgraded, then `pieces` as the broker's frames: its
/// outcome, whether it closed, whether it is served at the end. (What it said is not
/// compared: one call's output keeps its first event, so pieces may say more.)
fn mqtt_ws(pieces: &[&[u8]]) -> (Option<String>, bool, bool) {
    let t0 = Instant::now();
    let (request, key_at) =
        tcpgoon::engine::probe::websocket_request("localhost:9001", "/mqtt", Some("mqtt"), &[]);
    let (template, len_at, id_at) = connect_template(&ConnectFields {
        version: Version::V5,
        prefix: "fz-",
        keep_alive: 1,
        user: None,
        password: None,
    });
    let s = MqttWsSession {
        request,
        key_at,
        seed: 3,
        mqtt: MqttSession {
            template,
            len_at,
            id_at,
            timeout: Duration::from_secs(1),
            heartbeat: Some(Heartbeat {
                schedule: BeatSchedule {
                    origin: t0,
                    period: Duration::from_millis(100),
                    spread: 1,
                    until: None,
                },
                timeout: Duration::from_millis(300),
                request: Vec::new(),
                reply: BeatReply::MqttPing,
            }),
        },
    };
    let (mut state, _) = s.open(t0);
    let drain = |state: &mut MqttWsState| {
        let mut written = 0;
        loop {
            let mut scratch = [0u8; 64];
            let n = s.unsent(state, 0, &mut scratch).len();
            if n == 0 {
                return written;
            }
            written += n;
            s.on_sent(state, 0, n);
        }
    };
    drain(&mut state);
    let accept = ws::accept(&ws::key(3, 0));
    let upgrade = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        String::from_utf8_lossy(&accept)
    );
    s.on_bytes(&mut state, 0, upgrade.as_bytes(), t0);
    drain(&mut state);
    let (mut outcome, mut close, mut read) = (None, false, 0);
    for piece in pieces {
        read += piece.len();
        let out = s.on_bytes(&mut state, 0, piece, t0);
        if let Some(o) = out.outcome {
            assert!(outcome.is_none(), "a second outcome");
            outcome = Some(format!("{o:?}"));
        }
        if let Some(said) = out.said {
            assert!(!said.label().contains('\n'));
        }
        close |= out.close;
        // A pong of at most 4 bytes per ping of at least 2, in frames of 6 bytes more.
        assert!(drain(&mut state) <= 10 * (read / 2 + 1));
        if close {
            break;
        }
    }
    (outcome, close, state.served())
}

/// What the server's side writes for `pieces`, and whether it ended.
fn serve(pieces: &[&[u8]]) -> (Vec<u8>, After) {
    let mut serve = WsServe::new(false, false);
    let mut out = Vec::new();
    let mut after = After::Continue;
    let mut given = 0;
    for piece in pieces {
        given += piece.len();
        after = serve.on_bytes(piece, &mut out);
        // The 101 (at most 129 bytes) or 400 once, then per frame read (at least 6 bytes
        // of a client's), an answer's header of at most 10.
        assert!(out.len() <= 129 + 2 * given, "{} for {given}", out.len());
        if after == After::Close {
            break;
        }
    }
    (out, after)
}

/// The frames `pieces` make, payload pieces joined: `S op fin len`, `P n`, `E`, `X err`.
fn frames(pieces: &[&[u8]]) -> Vec<String> {
    let mut reader = FrameReader::default();
    let mut out: Vec<String> = Vec::new();
    let mut payload = 0usize;
    let given: usize = pieces.iter().map(|p| p.len()).sum();
    for piece in pieces {
        let mut bytes = *piece;
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            match event {
                Event::Payload(p) => {
                    assert!(!p.is_empty());
                    payload += p.len();
                    match out.last_mut() {
                        Some(last) if last.starts_with('P') => {
                            let n: usize = last[2..].parse().unwrap();
                            *last = format!("P {}", n + p.len());
                        }
                        _ => out.push(format!("P {}", p.len())),
                    }
                }
                Event::Start { opcode, fin, len } => out.push(format!("S {opcode} {fin} {len}")),
                Event::End => out.push("E".to_string()),
                Event::Error(e) => {
                    out.push(format!("X {e:?}"));
                    assert!(payload <= given);
                    return out;
                }
            }
        }
    }
    assert!(payload <= given);
    out
}

fn head(pieces: &[&[u8]]) -> (Head, usize) {
    let expected = ws::accept(b"dGhlIHNhbXBsZSBub25jZQ==");
    let mut reader = HeadReader::default();
    let mut used = 0;
    for piece in pieces {
        let (verdict, n) = reader.read(&expected, piece);
        used += n;
        if verdict != Head::Pending {
            return (verdict, used);
        }
    }
    (Head::Pending, used)
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, bytes @ ..] = data else {
        return;
    };
    let at = usize::from(*cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    if pick % 4 == 3 {
        let whole = mqtt_ws(&[bytes]);
        assert_eq!(mqtt_ws(&bytewise), whole, "{bytes:?}");
        assert_eq!(mqtt_ws(&[a, b]), whole, "{bytes:?} cut at {at}");
    } else if pick % 4 == 2 {
        let whole = serve(&[bytes]);
        assert_eq!(serve(&bytewise), whole, "{bytes:?}");
        assert_eq!(serve(&[a, b]), whole, "{bytes:?} cut at {at}");
    } else if pick % 4 == 0 {
        let whole = frames(&[bytes]);
        assert_eq!(frames(&bytewise), whole, "{bytes:?}");
        assert_eq!(frames(&[a, b]), whole, "{bytes:?} cut at {at}");
    } else {
        let whole = head(&[bytes]);
        assert_eq!(head(&bytewise), whole, "{bytes:?}");
        assert_eq!(head(&[a, b]), whole, "{bytes:?} cut at {at}");
        assert!(whole.1 <= bytes.len());
    }
});
