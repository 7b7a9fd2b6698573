//! A probe's reply as it arrives: `Probe::on_bytes` for every `--probe` kind and for
//! `--expect`, on any bytes, in any pieces.
//!
//! Properties, beyond never panicking:
//! - the outcome does not depend on how the bytes were split: read whole, a byte at a time,
//!   and in two pieces at any cut, each reading stops at the same answer (served, rejected,
//!   or still pending once the bytes run out) and, for HTTP, the same rejecting status;
//! - a prefix probe (greeting, redis, memcached, ssh, smtp, `--expect`) answers as a plain
//!   model says: rejected at the first byte that differs from what it expects, served once
//!   all of it came;
//! - the HTTP probe answers as a model of the status line says: `HTTP/`, a version of
//!   digits and dots, a space, three digits; a 5xx or a 429 rejects, naming its status;
//! - PostgreSQL serves only a reply that holds an authentication request (`R`; notices may
//!   come before it).
//!
//! The first byte picks the probe, the second where the two-piece cut falls; for
//! `--expect`, the third is how many of the bytes after it are what it expects, and the
//! rest are the reply.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::probe::{Answer, Probe, ProbeKind, ProbeState, http_status_refuses};

/// Feeds `pieces` in turn until one decides, as the engine does; the answer and the state
/// it left.
fn answer(probe: &Probe, pieces: &[&[u8]]) -> (Answer, ProbeState) {
    let mut state = ProbeState::default();
    for piece in pieces {
        match probe.on_bytes(&mut state, piece) {
            Answer::Pending => {}
            decided => return (decided, state),
        }
    }
    (Answer::Pending, state)
}

/// What a prefix probe expecting `expect` says of `reply`.
fn prefix_model(expect: &[u8], reply: &[u8]) -> Answer {
    let n = expect.len().min(reply.len());
    if expect[..n] != reply[..n] {
        Answer::Rejected
    } else if reply.len() >= expect.len() && !reply.is_empty() {
        Answer::Served
    } else {
        Answer::Pending
    }
}

/// What the HTTP probe says of `reply`, and the status that rejected it.
fn http_model(reply: &[u8]) -> (Answer, Option<u16>) {
    let mut bytes = reply.iter().copied();
    for want in *b"HTTP/" {
        match bytes.next() {
            None => return (Answer::Pending, None),
            Some(byte) if byte == want => {}
            Some(_) => return (Answer::Rejected, None),
        }
    }
    loop {
        match bytes.next() {
            None => return (Answer::Pending, None),
            Some(b' ') => break,
            Some(byte) if byte.is_ascii_digit() || byte == b'.' => {}
            Some(_) => return (Answer::Rejected, None),
        }
    }
    let mut status = 0;
    for _ in 0..3 {
        match bytes.next() {
            None => return (Answer::Pending, None),
            Some(byte) if byte.is_ascii_digit() => status = status * 10 + u16::from(byte - b'0'),
            Some(_) => return (Answer::Rejected, None),
        }
    }
    if http_status_refuses(status) {
        (Answer::Rejected, Some(status))
    } else {
        (Answer::Served, None)
    }
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, rest @ ..] = data else {
        return;
    };
    let timeout = Duration::from_secs(1);
    let kind = match pick % 8 {
        0 => ProbeKind::Greeting,
        1 => ProbeKind::Redis,
        2 => ProbeKind::Memcached,
        3 => ProbeKind::Http,
        4 => ProbeKind::Postgres {
            user: "tcpgoon".to_string(),
        },
        5 => ProbeKind::Ssh,
        6 => ProbeKind::Smtp,
        _ => {
            let [len, rest @ ..] = rest else {
                return;
            };
            let (expect, reply) = rest.split_at(usize::from(*len).min(rest.len()));
            let probe = Probe::custom(b"ping\r\n".to_vec(), expect.to_vec(), timeout);
            return check(&probe, *cut, reply);
        }
    };
    let probe = Probe::preset(&kind, "localhost", 80, timeout);
    check(&probe, *cut, rest);
});

fn check(probe: &Probe, cut: u8, reply: &[u8]) {
    let (whole, state) = answer(probe, &[reply]);
    let status = probe.rejected_status(&state);
    let bytewise: Vec<&[u8]> = reply.chunks(1).collect();
    let (one_by_one, state) = answer(probe, &bytewise);
    assert_eq!((one_by_one, probe.rejected_status(&state)), (whole, status));
    let at = usize::from(cut).min(reply.len());
    let (a, b) = reply.split_at(at);
    let (split, state) = answer(probe, &[a, b]);
    assert_eq!(
        (split, probe.rejected_status(&state)),
        (whole, status),
        "cut at {at}"
    );
    match probe.name.as_str() {
        "http" => assert_eq!((whole, status), http_model(reply)),
        "postgres" => {
            if whole == Answer::Served {
                assert!(reply.contains(&b'R'));
            }
        }
        _ => {
            assert_eq!(status, None);
            assert_eq!(whole, prefix_model(&probe.expect, reply));
        }
    }
}
