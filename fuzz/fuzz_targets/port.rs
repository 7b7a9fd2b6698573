//! Ports and counts: `cli::whole_number`, `cli::parse_port` and `cli::parse_port_or_zero`
//! on any text, checked against a plain model of what each accepts.
//!
//! - `whole_number` takes one or more ASCII digits worth at most `u64::MAX`, leading zeros
//!   allowed, and nothing else;
//! - `parse_port_or_zero` takes a whole number up to 65535; `parse_port` the same but 0;
//! - what they accept prints back (without leading zeros) to itself; a refusal is a
//!   non-empty message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::cli::{parse_port, parse_port_or_zero, whole_number};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expected = model(text);
    let number = whole_number(text);
    assert_eq!(number.as_ref().ok(), expected.as_ref(), "{text:?}");
    if let Ok(n) = number {
        assert_eq!(whole_number(&n.to_string()), Ok(n));
    }

    let expected_port = expected.and_then(|n| u16::try_from(n).ok());
    let port_or_zero = parse_port_or_zero(text);
    assert_eq!(
        port_or_zero.as_ref().ok(),
        expected_port.as_ref(),
        "{text:?}"
    );
    let port = parse_port(text);
    let expected_nonzero = expected_port.filter(|p| *p != 0);
    assert_eq!(port.as_ref().ok(), expected_nonzero.as_ref(), "{text:?}");
    if let Ok(p) = port {
        assert_eq!(parse_port(&p.to_string()), Ok(p));
    }

    for refusal in [number.err(), port_or_zero.err(), port.err()]
        .into_iter()
        .flatten()
    {
        assert!(!refusal.is_empty(), "{text:?}");
    }
});

/// Decimal digits, read one by one into a u128 held at u64::MAX + 1 once past it.
fn model(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let past_u64 = u128::from(u64::MAX) + 1;
    let value = text.bytes().fold(0u128, |value, b| {
        (value * 10 + u128::from(b - b'0')).min(past_u64)
    });
    u64::try_from(value).ok()
}
