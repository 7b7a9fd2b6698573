//! A latency histogram as a summary carries it: `read::decode_histogram`, base64 of an
//! HdrHistogram V2 encoding (deflated or not), as merge and plot read one.
//!
//! Properties, beyond never panicking and never taking memory the input does not justify
//! (a header that claims a 4 GiB payload, a deflate bomb):
//! - a histogram read back encodes, as tcpgoon writes it, to text that reads back to the
//!   same histogram, value for value;
//! - a refusal is one line.
//!
//! The first byte picks what the rest is: (0) the text as it stands in the summary, or
//! (else) the encoding's bytes, which the target writes in base64 itself, so the fuzzer
//! works on the V2 bytes.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::stats::{Latency, LatencyHistogram};
use tcpgoon::report::json::encode_histogram;
use tcpgoon::report::read::decode_histogram;

fuzz_target!(|data: &[u8]| {
    let [pick, rest @ ..] = data else {
        return;
    };
    let text = if *pick == 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => text.to_string(),
            Err(_) => return,
        }
    } else {
        base64::engine::general_purpose::STANDARD.encode(rest)
    };
    match decode_histogram(&text) {
        Ok(decoded) => {
            let histogram = LatencyHistogram::from_histogram(&decoded)
                .expect("a histogram decoded is on the reports' bounds");
            let latency = Latency {
                histogram,
                ..Latency::default()
            };
            let again = encode_histogram(&latency);
            let back = decode_histogram(&again).expect("tcpgoon's own encoding reads back");
            assert_eq!(back, decoded);
            assert_eq!(back.len(), decoded.len());
        }
        Err(refused) => assert!(!refused.contains('\n'), "{refused}"),
    }
});
