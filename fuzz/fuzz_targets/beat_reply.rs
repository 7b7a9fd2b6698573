//! A heartbeat's answer as it arrives: `BeatReply::read` on any bytes, in any pieces.
//!
//! Properties, beyond never panicking and never allocating per byte:
//! - the verdict does not depend on how the bytes were split: read whole, read a byte at a
//!   time, and read in two pieces at any cut, each reader stops at the same verdict
//!   (answered, wrong, or still pending once the bytes run out);
//! - a line answer is answered only by bytes that begin with what it expects and hold a
//!   `\n` after it; an HTTP head only by bytes that begin `HTTP/` and hold a blank line.
//!
//! The first byte picks the reply: a redis line, a memcached line, a prefix, an HTTP head
//! or PostgreSQL's messages; the second, where the two-piece cut falls.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::beat::{BeatReader, BeatReply, Read};

fn verdict(reply: &BeatReply, pieces: &[&[u8]]) -> Read {
    let mut reader = BeatReader::default();
    for piece in pieces {
        match reply.read(&mut reader, piece) {
            Read::Pending => {}
            decided => return decided,
        }
    }
    Read::Pending
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, bytes @ ..] = data else {
        return;
    };
    let reply = match pick % 5 {
        0 => BeatReply::Line {
            expect: b"+PONG".to_vec(),
        },
        1 => BeatReply::Line {
            expect: b"VERSION".to_vec(),
        },
        2 => BeatReply::Prefix {
            expect: b"ping".to_vec(),
        },
        3 => BeatReply::HttpHead,
        _ => BeatReply::Postgres,
    };
    let whole = verdict(&reply, &[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(verdict(&reply, &bytewise), whole, "{bytes:?}");
    let at = usize::from(*cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    assert_eq!(verdict(&reply, &[a, b]), whole, "{bytes:?} cut at {at}");
    if whole == Read::Answered {
        match &reply {
            BeatReply::Line { expect } => {
                assert!(bytes.starts_with(expect) && bytes[expect.len()..].contains(&b'\n'));
            }
            BeatReply::HttpHead => {
                assert!(bytes.starts_with(b"HTTP/"));
                assert!(bytes.windows(4).any(|w| w == b"\r\n\r\n"));
            }
            _ => {}
        }
    }
});
