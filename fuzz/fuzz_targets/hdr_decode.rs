//! A latency histogram as a summary carries it: `read::decode_histogram`, base64 of an
//! HdrHistogram V2 encoding (deflated or not), as merge and plot read one.
//!
//! Properties, beyond never panicking and never taking memory the input does not justify
//! (a header that claims a 4 GiB payload, a deflate bomb):
//! - a histogram read back encodes, as tcpgoon writes it, to text that reads back to the
//!   same histogram, value for value (one written on another precision, to the same count
//!   and from then on unchanged by reading and writing);
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
            assert_eq!(back.len(), decoded.len());
            if decoded.low() == back.low() && decoded.sigfig() == back.sigfig() {
                // On tcpgoon's own precision, value for value (the highest trackable value
                // may differ: tcpgoon's is its own bound).
                let values = |h: &hdrhistogram::Histogram<u64>| {
                    h.iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(values(&back), values(&decoded));
                assert_eq!(
                    (back.min_nz(), back.max()),
                    (decoded.min_nz(), decoded.max())
                );
            } else {
                // Another precision (a coarser lowest value) is taken onto tcpgoon's, and
                // from then on it is a fixed point: read, written, read again, the same.
                let twice = Latency {
                    histogram: LatencyHistogram::from_histogram(&back)
                        .expect("tcpgoon's own histogram is on its bounds"),
                    ..Latency::default()
                };
                assert_eq!(encode_histogram(&twice), again);
            }
        }
        Err(refused) => assert!(!refused.contains('\n'), "{refused}"),
    }
});
