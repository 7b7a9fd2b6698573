//! Units: durations and wall-clock times, read as users type them and printed as reports
//! print them, and whole numbers as flags and files spell them. A leaf below everything:
//! it imports nothing of the crate but `error`, so the command line, the reports and the
//! judge all read and write time the same way without knowing of each other.
//!
//! | file | what it owns |
//! |---|---|
//! | `duration.rs` | durations as users type them (`1m30s`, `250ms`) and as reports print them |
//! | `wallclock.rs` | wall-clock times (`--start-at`): RFC 3339 and @unix-seconds, read and printed |
//! | `path.rs` | whether two paths name one file (an output over an input, two outputs in one) |

pub mod duration;
pub mod path;
pub mod wallclock;

/// A whole number as a flag or a file spells it: ASCII digits only, no sign, no space.
pub fn whole_number(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a whole number"));
    }
    text.parse().map_err(|_| format!("'{text}' is too large"))
}
