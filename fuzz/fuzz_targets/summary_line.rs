//! A summary file's lines as merge reads them: `summary::read_line` on each line of any
//! text, the reader of a file that may come from another machine, another version or a
//! broken disk.
//!
//! Properties, beyond never panicking: a line refused is refused in one line that begins
//! with where it was read; a summary taken has counts that add up.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::report::summary::read_line;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (n, line) in text.lines().enumerate() {
        let source = format!("s.jsonl:{}", n + 1);
        match read_line(line, &source) {
            Ok(Some(summary)) => {
                assert_eq!(summary.source, source);
                assert!(summary.outcome.stats.counts.adds_up());
            }
            Ok(None) => {}
            Err(refused) => {
                assert!(refused.starts_with(&format!("{source}: ")), "{refused}");
                assert!(!refused.contains('\n'), "{refused}");
            }
        }
    }
});
