//! CI gates as typed: `thresholds::parse_max_latency` and `parse_min_established`.
//!
//! Properties, beyond never panicking:
//! - `--max-latency`: the name is the text before the first `=`; `max`/`p100` bound the
//!   maximum, `mean`/`avg` the mean, `pN` the percentile N/100 strictly inside (0, 1); the
//!   limit is the rest read as a duration (bare = milliseconds); `name=canonical(limit)`
//!   reads back to the same gate;
//! - `--min-established`: a count is the text as a whole number; a percentage is 0-100, is
//!   the number written, and prints (`{p}%`) back to itself; the connections it requires of
//!   a total are that share of it rounded up, at most the total, and never fewer for a
//!   larger total; every accepted gate requires at least one connection of any total but
//!   0 (`0` and `0%` would pass every run, so they are refused).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::cli::whole_number;
use tcpgoon::judge::thresholds::{
    MinEstablished, Statistic, parse_max_latency, parse_min_established,
};
use tcpgoon::units::duration::{BareUnit, canonical, parse};

fuzz_target!(|data: &[u8]| {
    // The first 4 bytes pick a total of connections (as many as a run can hold: well within
    // u32); the rest is the text.
    let (total, text) = match data.split_first_chunk::<4>() {
        Some((head, rest)) => (u64::from(u32::from_le_bytes(*head)), rest),
        None => (100, data),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };

    if let Ok(gate) = parse_max_latency(text) {
        let (name, limit) = text.split_once('=').expect("a gate has a '='");
        assert_eq!(gate.name, name);
        assert_eq!(Ok(gate.limit), parse(limit, BareUnit::Millis), "{text:?}");
        match gate.statistic {
            Statistic::Max => assert!(
                ["max", "p100"].contains(&name)
                    || name.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) == Some(100.0),
                "{text:?}"
            ),
            Statistic::Mean => assert!(["mean", "avg"].contains(&name), "{text:?}"),
            Statistic::Percentile(q) => {
                assert!(q > 0.0 && q < 1.0, "{text:?} gave quantile {q}");
                let percent: f64 = name[1..].parse().expect("a percentile is a number");
                assert_eq!(q, percent / 100.0, "{text:?}");
            }
        }
        let printed = format!("{}={}", gate.name, canonical(gate.limit));
        assert_eq!(parse_max_latency(&printed), Ok(gate), "{printed:?}");
    }

    if let Ok(min) = parse_min_established(text) {
        match min {
            MinEstablished::Count(n) => assert_eq!(whole_number(text), Ok(n), "{text:?}"),
            MinEstablished::Percent(p) => {
                assert!((0.0..=100.0).contains(&p.as_f64()), "{text:?} gave {p}%");
                assert!(text.ends_with('%'), "{text:?}");
                let written: f64 = text.trim_end_matches('%').parse().expect("a number");
                assert_eq!(p.as_f64(), written, "{text:?} read as {p}%");
            }
        }
        let printed = min.to_string();
        assert_eq!(
            parse_min_established(&printed),
            Ok(min),
            "{text:?} printed {printed:?}"
        );
        let required = min.required(total);
        assert!(
            total == 0 || required >= 1,
            "{min} of {total} requires nothing"
        );
        if let MinEstablished::Percent(p) = min {
            assert!(required <= total, "{min} of {total} requires {required}");
            // Exactly the least count whose share of the total is at least p: checked in
            // floating point, where it is well away from a whole number.
            let share = p.as_f64() / 100.0 * total as f64;
            if (share - share.round()).abs() > 1e-3 {
                assert_eq!(required, share.ceil() as u64, "{min} of {total}");
            }
            assert!(
                min.required(total + 1) >= required,
                "{min}: fewer for {total} + 1"
            );
        }
    }
});
