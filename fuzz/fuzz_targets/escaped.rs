//! Bytes as typed: `cli::parse_escaped` on any text, and `cli::escape` on any bytes.
//!
//! Properties, beyond never panicking:
//! - any bytes escape to printable ASCII on one line that parses back to them;
//! - accepted text parses to bytes that escape to text parsing back to the same bytes, and
//!   text without a backslash is its own bytes;
//! - the bytes are never longer than the text: every escape stands for one byte and takes
//!   two characters or more;
//! - a refusal is a one-line message that names an escape, or says a lone backslash ends
//!   the text; and only text with a backslash is refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::cli::{escape, parse_escaped};

fuzz_target!(|data: &[u8]| {
    let escaped = escape(data);
    assert!(
        escaped.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "{escaped:?}"
    );
    assert_eq!(parse_escaped(&escaped).as_deref(), Ok(data), "{escaped:?}");

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_escaped(text) {
        Ok(bytes) => {
            assert!(bytes.len() <= text.len(), "{text:?} gave {bytes:?}");
            if !text.contains('\\') {
                assert_eq!(bytes, text.as_bytes(), "{text:?}");
            }
            assert_eq!(parse_escaped(&escape(&bytes)), Ok(bytes), "{text:?}");
        }
        Err(message) => {
            assert!(text.contains('\\'), "{text:?} refused: {message}");
            assert!(!message.contains('\n'), "{message:?}");
            assert!(
                message.contains("is not an escape") || message.starts_with("a lone \\"),
                "{message:?}"
            );
        }
    }
});
