//! HTTP/2 from a server: its frames (`h2::FrameReader`), and an h2c session
//! (`h2_session::H2Session`) fed them after the preface, on any bytes, in any pieces.
//!
//! Properties, beyond never panicking and never allocating with a frame's length:
//! - what the bytes say does not depend on how they were split: read whole, a byte at a
//!   time, and in two pieces at any cut, the frame reader gives the same frames (headers,
//!   payload lengths, ends, errors) in the same order, and the session comes to the same
//!   outcome with the same protocol events, served or not alike;
//! - no frame's header claims more than SETTINGS_MAX_FRAME_SIZE, a frame's payload is
//!   exactly its header's length, the payload never exceeds the bytes given, and the
//!   reader stops at an error;
//! - a session has at most one outcome, and what it writes is bounded by the frames it
//!   read.
//!
//! The first byte picks the reader or the session; the second, where the two-piece cut
//! falls.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::h2::{Event, FrameReader, MAX_FRAME_SIZE};
use tcpgoon::engine::h2_session::H2Session;

/// The frames `pieces` make, payload pieces joined: `S len kind flags stream`, `P n`,
/// `E`, `X err`.
fn frames(pieces: &[&[u8]]) -> Vec<String> {
    let mut reader = FrameReader::default();
    let mut out: Vec<String> = Vec::new();
    let mut payload = 0usize;
    let mut frame_left = 0usize;
    let given: usize = pieces.iter().map(|p| p.len()).sum();
    for piece in pieces {
        let mut bytes = *piece;
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            match event {
                Event::Payload(p) => {
                    assert!(!p.is_empty() && p.len() <= frame_left);
                    frame_left -= p.len();
                    payload += p.len();
                    match out.last_mut() {
                        Some(last) if last.starts_with('P') => {
                            let n: usize = last[2..].parse().unwrap();
                            *last = format!("P {}", n + p.len());
                        }
                        _ => out.push(format!("P {}", p.len())),
                    }
                }
                Event::Start(h) => {
                    assert!(h.len <= MAX_FRAME_SIZE && h.stream >> 31 == 0);
                    frame_left = usize::from(h.len);
                    out.push(format!("S {} {} {} {}", h.len, h.kind, h.flags, h.stream));
                }
                Event::End => {
                    assert_eq!(frame_left, 0);
                    out.push("E".to_string());
                }
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

/// What an h2c session makes of `pieces` after its preface: its outcome, its protocol
/// events, whether it asked to close, and whether it is served at the end.
fn session(pieces: &[&[u8]]) -> (Option<String>, Vec<String>, bool, bool) {
    let t0 = Instant::now();
    let s = H2Session {
        tls: false,
        timeout: Duration::from_secs(1),
        heartbeat: None,
    };
    let (mut state, _) = s.open(None, t0);
    let mut outcome = None;
    let mut events = Vec::new();
    let mut close = false;
    let mut frames_read = 0usize;
    let mut written = 0usize;
    let mut drain = |state: &mut _| loop {
        let mut scratch = [0u8; 64];
        let n = s.unsent(state, 0, &mut scratch).len();
        if n == 0 {
            return;
        }
        written += n;
        s.on_sent(state, n);
    };
    drain(&mut state);
    for piece in pieces {
        frames_read += piece.len();
        let out = s.on_bytes(&mut state, 0, piece, t0);
        if let Some(o) = out.outcome {
            assert!(outcome.is_none(), "a second outcome");
            outcome = Some(format!("{o:?}"));
        }
        if let Some(e) = out.said {
            events.push(e.label());
        }
        close |= out.close;
        drain(&mut state);
    }
    // The preface and SETTINGS, then at most an ACK of 17 bytes per 9 bytes read.
    assert!(written <= 39 + 17 * (frames_read / 9 + 1));
    (outcome, events, close, state.served())
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, bytes @ ..] = data else {
        return;
    };
    let at = usize::from(*cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    if pick % 2 == 0 {
        let whole = frames(&[bytes]);
        assert_eq!(frames(&bytewise), whole, "{bytes:?}");
        assert_eq!(frames(&[a, b]), whole, "{bytes:?} cut at {at}");
    } else {
        let whole = session(&[bytes]);
        assert_eq!(session(&bytewise), whole, "{bytes:?}");
        assert_eq!(session(&[a, b]), whole, "{bytes:?} cut at {at}");
    }
});
