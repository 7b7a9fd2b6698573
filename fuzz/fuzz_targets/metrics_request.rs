//! A scrape's request as it arrives: `metrics::Scrape::received` on any bytes, in any pieces.
//!
//! Properties, beyond never panicking:
//! - the response does not depend on how the bytes were split: read whole, a byte at a
//!   time, and in two pieces at any cut, each scrape answers the same, or none answers yet;
//! - the exposition is rendered at most once, and only for a `GET` or `HEAD` of `/metrics`;
//! - every response is an HTTP/1.1 status line with `Connection: close`, and no bigger than
//!   its headers and the exposition;
//! - a head past 8 KiB without its end is refused with 431, whatever follows.
//!
//! The first byte is where the two-piece cut falls.

#![no_main]

use std::cell::Cell;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::metrics::{Format, MAX_HEAD, Scrape};

const BODY: &[u8] = b"tcpgoon_attempts_total 1\n";

/// The response to `pieces`, and how many times the exposition was rendered.
fn answer(pieces: &[&[u8]]) -> (Vec<u8>, u32) {
    let rendered = Cell::new(0u32);
    let mut scrape = Scrape::new(Instant::now());
    for piece in pieces {
        scrape.received(piece, |_: Format| {
            rendered.set(rendered.get() + 1);
            BODY.to_vec()
        });
    }
    (scrape.unwritten().to_vec(), rendered.get())
}

fuzz_target!(|data: &[u8]| {
    let [cut, bytes @ ..] = data else {
        return;
    };
    let whole = answer(&[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(answer(&bytewise), whole);
    let at = usize::from(*cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    assert_eq!(answer(&[a, b]), whole);
    let (response, rendered) = whole;
    assert!(rendered <= 1);
    if response.is_empty() {
        // No answer yet: no head's end within the bound.
        assert!(bytes.len() < MAX_HEAD + 4);
        assert_eq!(rendered, 0);
        return;
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n\r\n"), "{text}");
    assert!(response.len() <= 256 + BODY.len(), "{text}");
    let ok = text.starts_with("HTTP/1.1 200 ");
    assert_eq!(rendered == 1, ok, "{text}");
    if ok {
        assert!(bytes.starts_with(b"GET /metrics") || bytes.starts_with(b"HEAD /metrics"));
    }
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    if end.is_none_or(|end| end > MAX_HEAD) {
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    }
});
