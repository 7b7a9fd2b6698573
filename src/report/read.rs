//! `--json` output read back, for `tcpgoon merge` and `tcpgoon plot` alike: its lines, each
//! bounded, and each line read and checked once, so the two refuse the same contradictions
//! with the same words. A summary file may come from another machine, another version or a
//! broken disk; what it says is checked against itself before anything is merged or drawn.
//!
//! What is checked here is what no run writes: counts past a bound ([`MAX_CONNECTIONS`]),
//! a count past the total or counts that do not add up to it, numbers that are not whole,
//! a timeline longer than the loop keeps ([`MAX_SAMPLES`]), going back in time, not adding
//! up at a sample or not ending at the counts, times past a year ([`MAX_ELAPSED_US`]),
//! a latency histogram that does not decode or disagrees with its count, and a null or
//! missing connect latency histogram where connections were established. A field that is
//! absent is not a contradiction: the plot draws sparse and older lines, and the merge
//! requires what it needs itself. The entry point is [`read_line`]; [`Lines`] cuts a
//! stream into lines no longer than [`MAX_LINE_BYTES`], [`MAX_INPUT_BYTES`] in all. A
//! histogram's header is checked before the decoder reads it (`inflated`): the decoder
//! allocates the payload its header names, which a forged one puts at 4 GB.

use std::io::{BufRead, Read};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::conn::{Closure, Failure};
use crate::engine::probe::ProbeOutcome;
use crate::engine::stats::{HISTOGRAM_HIGHEST_MICROS, LatencyHistogram};
use crate::engine::timeline::{BeatSample, CAPACITY, Sample};
use crate::report::{hdr, schema};

/// The longest line read: a summary of tcpgoon's is a few tens of kilobytes (its
/// histograms and a timeline of at most 512 samples).
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// The most read from one file or stdin: far past the ticks of a day-long run.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// The most connections a summary may count, reconnects included: no run makes 2^32.
pub const MAX_CONNECTIONS: u64 = 1 << 32;

/// The most samples a timeline may have: what the loop keeps, and a merge too.
pub const MAX_SAMPLES: usize = CAPACITY;

/// The longest time a summary may name, from its run's start: a year.
pub const MAX_ELAPSED_US: u64 = 366 * 86_400 * 1_000_000;

/// `MAX_LINE_BYTES` and `MAX_INPUT_BYTES` as the messages and the help say them.
pub const LINE_BOUND: &str = "16 MiB";
pub const INPUT_BOUND: &str = "256 MiB";

/// The lines of a stream of `--json` output, each with its `FILE:LINE`, without their line
/// ends; an error ends them: a line past [`MAX_LINE_BYTES`], a stream past
/// [`MAX_INPUT_BYTES`], bytes that are not UTF-8, or a failed read.
pub struct Lines<R> {
    reader: R,
    name: String,
    number: usize,
    read: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, name: &str) -> Lines<R> {
        Lines {
            reader,
            name: name.to_string(),
            number: 0,
            read: 0,
            done: false,
        }
    }

    fn next_line(&mut self) -> Result<Option<(String, String)>, String> {
        let mut bytes = Vec::new();
        let cap = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", self.name))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        self.read += n as u64;
        let at = format!("{}:{}", self.name, self.number);
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        } else if bytes.len() > MAX_LINE_BYTES {
            return Err(format!(
                "{at}: a line longer than {LINE_BOUND}, past anything tcpgoon writes: not the \
                 JSON Lines of --json"
            ));
        }
        if self.read > MAX_INPUT_BYTES {
            return Err(format!(
                "{}: more than {INPUT_BOUND}, past anything tcpgoon writes: not the JSON Lines \
                 of --json",
                self.name
            ));
        }
        let line = String::from_utf8(bytes)
            .map_err(|_| format!("{at}: not UTF-8 text, so not the JSON Lines of --json"))?;
        Ok(Some((at, line)))
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    /// `(FILE:LINE, line)`.
    type Item = Result<(String, String), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_line().transpose();
        self.done = !matches!(next, Some(Ok(_)));
        next
    }
}

/// One line of `--json` output, read and checked.
#[derive(Debug)]
pub enum Line {
    /// Empty, or white space only.
    Blank,
    /// A `tick`, its counts checked.
    Tick(Value),
    /// A `summary`, checked against itself.
    Summary(Box<SummaryLine>),
    /// Any other JSON value: the merge skips it, the plot refuses it.
    Other(Value),
}

/// A summary that holds no contradiction, with what the checks decoded.
#[derive(Debug)]
pub struct SummaryLine {
    pub value: Value,
    /// Its `timeline`, when it has one that is not `null`.
    pub timeline: Option<Vec<Sample>>,
    /// Its connect latency histogram, when it has one.
    pub connect: Option<Histogram<u64>>,
}

/// Reads one line of `--json` output, `source` its `FILE:LINE` for messages: a summary is
/// checked against itself, a tick's counts too. Errors are one line, `source` first.
pub fn read_line(line: &str, source: &str) -> Result<Line, String> {
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| {
        format!("{source}: not the JSON Lines of --json ({e}); make it with `tcpgoon run … --json`")
    })?;
    let read = match value.get("type").and_then(Value::as_str) {
        Some("summary") => summary(value).map(|s| Line::Summary(Box::new(s))),
        Some("tick") => tick(&value).map(|()| Line::Tick(value)),
        _ => Ok(Line::Other(value)),
    };
    read.map_err(|e| format!("{source}: {e}"))
}

/// A value as a message shows it: JSON, cut short.
fn shown(value: &Value) -> String {
    cut(&value.to_string(), 40)
}

/// `text` cut to its first `chars` characters, `…` marking the cut: a message quotes what
/// it read, and a value of a file may be megabytes long.
pub fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `value` at `path` as a whole number: `None` when absent or `null`.
fn whole(value: Option<&Value>, path: &str) -> Result<Option<u64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{path} is {}: expected a whole number, 0 or more", shown(v))),
    }
}

/// A time in microseconds: whole, and within a year.
fn micros(value: Option<&Value>, path: &str) -> Result<Option<u64>, String> {
    let us = whole(value, path)?;
    if let Some(us) = us.filter(|us| *us > MAX_ELAPSED_US) {
        return Err(format!(
            "{path} is {us}: more than a year ({MAX_ELAPSED_US}), longer than any run"
        ));
    }
    Ok(us)
}

/// An object at `path`: `None` when absent or `null`.
fn object<'a>(value: Option<&'a Value>, path: &str) -> Result<Option<&'a Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(v) => Err(format!("{path} is {}: expected an object", shown(v))),
    }
}

/// The states a connection is in, in the order the counts list them.
const STATES: [&str; 5] = ["not_initiated", "dialing", "established", "closed", "error"];

/// Counts as far as they are given: `total` and each state.
#[derive(Debug, Clone, Copy, Default)]
struct GivenCounts {
    total: Option<u64>,
    states: [Option<u64>; 5],
}

impl GivenCounts {
    fn state(&self, name: &str) -> Option<u64> {
        STATES
            .iter()
            .position(|s| *s == name)
            .and_then(|i| self.states[i])
    }

    /// Established at some point: established now, or closed since.
    fn ever_established(&self) -> u64 {
        self.state("established").unwrap_or(0) + self.state("closed").unwrap_or(0)
    }
}

/// The counts object at `path`: each number whole, the total within [`MAX_CONNECTIONS`],
/// no state past it, and the states adding up to it when all are given.
fn counts(value: Option<&Value>, path: &str) -> Result<Option<GivenCounts>, String> {
    let Some(v) = object(value, path)? else {
        return Ok(None);
    };
    let mut given = GivenCounts {
        total: whole(v.get("total"), &format!("{path}.total"))?,
        ..GivenCounts::default()
    };
    for (slot, name) in given.states.iter_mut().zip(STATES) {
        *slot = whole(v.get(name), &format!("{path}.{name}"))?;
    }
    let Some(total) = given.total else {
        return Ok(Some(given));
    };
    if total > MAX_CONNECTIONS {
        return Err(format!(
            "{path}.total is {total}, past {MAX_CONNECTIONS} (2^32): more connections than any \
             run makes"
        ));
    }
    for (name, n) in STATES.iter().zip(given.states) {
        if let Some(n) = n.filter(|n| *n > total) {
            return Err(format!(
                "{path}.{name} ({n}) is more than {path}.total ({total})"
            ));
        }
    }
    let sum: u64 = given.states.iter().flatten().sum();
    let all = given.states.iter().all(Option::is_some);
    if sum > total || (all && sum != total) {
        let terms: Vec<String> = STATES
            .iter()
            .zip(given.states)
            .filter_map(|(name, n)| n.map(|n| format!("{name} {n}")))
            .collect();
        return Err(format!(
            "{path} do not add up: {} make {sum}, where {path}.total is {total}",
            terms.join(" + ")
        ));
    }
    Ok(Some(given))
}

/// Counts by name (failure causes, closures, a probe's outcomes), each one whole and no
/// more than `total`, nor their sum.
fn tally(value: Option<&Value>, path: &str, names: &[&str], total: u64) -> Result<(), String> {
    let Some(v) = object(value, path)? else {
        return Ok(());
    };
    let mut sum = 0u64;
    for name in names {
        let key = format!("{path}.{name}");
        if let Some(n) = whole(v.get(*name), &key)? {
            if n > total {
                return Err(format!("{key} ({n}) is more than counts.total ({total})"));
            }
            sum += n;
        }
    }
    if sum > total {
        return Err(format!(
            "{path} add up to {sum}, more than counts.total ({total})"
        ));
    }
    Ok(())
}

fn tick(value: &Value) -> Result<(), String> {
    counts(value.get("counts"), "counts")?;
    micros(value.get("elapsed_us"), "elapsed_us")?;
    Ok(())
}

/// The latency measures a summary carries, by their path.
const LATENCIES: [&str; 7] = [
    "connect_latency_us",
    "time_to_error_us",
    "schedule_lag_us",
    "handshake_rtt_us",
    "own_delay_us",
    "time_to_served_us",
    "tls_handshake_us",
];

fn summary(value: Value) -> Result<SummaryLine, String> {
    let given = counts(value.get("counts"), "counts")?;
    let total = given.and_then(|c| c.total);
    // Of another type, these are absent to the plot (and the merge's to refuse); whole,
    // they must be times a run can take.
    for key in ["wall_time_us", "dial_span_us", "settled_us"] {
        micros(value.get(key).filter(|v| v.is_u64()), key)?;
    }
    if let Some(total) = total {
        let failures: Vec<&str> = Failure::ALL.iter().map(|f| f.key()).collect();
        let closures: Vec<&str> = Closure::ALL.iter().map(|c| c.key()).collect();
        let outcomes: Vec<&str> = ProbeOutcome::ALL.iter().map(|o| o.key()).collect();
        tally(value.get("failures"), "failures", &failures, total)?;
        tally(value.get("closures"), "closures", &closures, total)?;
        tally(value.get("probe"), "probe", &outcomes, total)?;
        // Each of these counts connections, or attempts: none can pass the total.
        let probe = object(value.get("probe"), "probe")?;
        let hold = object(value.get("hold"), "hold")?;
        let within = [
            (
                "max_concurrent_established",
                value.get("max_concurrent_established"),
            ),
            ("reconnects", value.get("reconnects")),
            (
                "probe.served_open",
                probe.and_then(|p| p.get("served_open")),
            ),
            ("probe.awaiting", probe.and_then(|p| p.get("awaiting"))),
            (
                "hold.min_established",
                hold.and_then(|h| h.get("min_established")),
            ),
            (
                "hold.max_established",
                hold.and_then(|h| h.get("max_established")),
            ),
        ];
        for (key, n) in within {
            if let Some(n) = whole(n, key)?.filter(|n| *n > total) {
                return Err(format!("{key} ({n}) is more than counts.total ({total})"));
            }
        }
    }
    if let Some(targets) = value.get("by_target").and_then(Value::as_array) {
        for (i, target) in targets.iter().enumerate() {
            counts(target.get("counts"), &format!("by_target[{i}].counts"))?;
        }
    }
    let mut connect = None;
    for key in LATENCIES {
        let histogram = latency(value.get(key), key, total)?;
        if key == "connect_latency_us" {
            connect = histogram;
        }
    }
    let beats = object(value.get("beats"), "beats")?;
    // Beats are many to a connection: their count is not bounded by the total.
    latency(
        beats.and_then(|b| b.get("latency_us")),
        "beats.latency_us",
        None,
    )?;
    let ever = given.map_or(0, |c| c.ever_established());
    if ever > 0 && value.get("connect_latency_us").is_some() && connect.is_none() {
        return Err(format!(
            "connect_latency_us has no histogram, but {ever} connections were established"
        ));
    }
    let timeline = match value.get("timeline") {
        None | Some(Value::Null) => None,
        Some(t) => {
            let replacements = whole(value.get("reconnects"), "reconnects")?.unwrap_or(0);
            Some(timeline(t, given.unwrap_or_default(), replacements)?)
        }
    };
    Ok(SummaryLine {
        value,
        timeline,
        connect,
    })
}

/// A latency object at `path`: its count whole and, one sample a connection at most, no
/// more than `total`; its histogram, when it has one, the base64 of an HdrHistogram that
/// holds as many values; a count without a histogram is one whose values were lost.
fn latency(
    value: Option<&Value>,
    path: &str,
    total: Option<u64>,
) -> Result<Option<Histogram<u64>>, String> {
    let Some(v) = object(value, path)? else {
        return Ok(None);
    };
    let count = whole(v.get("count"), &format!("{path}.count"))?;
    if let (Some(count), Some(total)) = (count, total)
        && count > total
    {
        return Err(format!(
            "{path}.count ({count}) is more than counts.total ({total})"
        ));
    }
    let histogram = match v.get("histogram") {
        None | Some(Value::Null) => None,
        Some(Value::String(encoded)) => {
            Some(decode_histogram(encoded).map_err(|e| format!("{path}.histogram is {e}"))?)
        }
        Some(other) => {
            return Err(format!(
                "{path}.histogram is {}: expected the base64 of an HdrHistogram",
                shown(other)
            ));
        }
    };
    match (count, &histogram) {
        (Some(count), Some(h)) if h.len() != count => Err(format!(
            "{path}.count is {count}, but its histogram holds {} values",
            h.len()
        )),
        (Some(count), None) if count > 0 => Err(format!(
            "{path}.count is {count}, but it has no histogram to hold them"
        )),
        _ => Ok(histogram),
    }
}

/// An HdrHistogram V2 encoding (deflated or not), base64, with values on the reports'
/// bounds; the error says what it is instead, to follow `… is `. The encoding is checked
/// before it is decoded (`report::hdr`).
pub fn decode_histogram(encoded: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "not base64".to_string())?;
    let histogram = hdr::read_v2(&bytes)?;
    if LatencyHistogram::from_histogram(&histogram).is_none() {
        return Err(format!(
            "an HdrHistogram with values up to {} µs, past the reports' bound of {} µs",
            histogram.max(),
            HISTOGRAM_HIGHEST_MICROS
        ));
    }
    Ok(histogram)
}

/// A `timeline`: of the schema's shape, no more than [`MAX_SAMPLES`], forward in time and
/// within a year, each sample within and adding up to `counts.total` (less the
/// `replacements` not yet made, never fewer than the sample before), with no more served
/// than established, and the last one the summary's counts.
fn timeline(value: &Value, given: GivenCounts, replacements: u64) -> Result<Vec<Sample>, String> {
    let n = value
        .get("samples")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if n > MAX_SAMPLES {
        return Err(format!(
            "timeline has {n} samples, more than the {MAX_SAMPLES} tcpgoon keeps"
        ));
    }
    let timeline = schema::Timeline::deserialize(value)
        .map_err(|e| format!("timeline: {}", serde_words(&e.to_string())))?;
    let total = given
        .total
        .ok_or("a timeline without counts.total to add up to")?;
    let samples = timeline_samples(&timeline, total)?;
    let states = |s: &Sample| [s.not_initiated, s.dialing, s.established, s.closed, s.error];
    let mut before = Duration::ZERO;
    let mut made = 0u64;
    for s in &samples {
        let at = s.elapsed.as_micros();
        if s.elapsed < before {
            return Err(format!(
                "timeline goes back in time: {at} µs after {} µs",
                before.as_micros()
            ));
        }
        before = s.elapsed;
        if at > u128::from(MAX_ELAPSED_US) {
            return Err(format!(
                "timeline has a sample at {at} µs, more than a year into the run"
            ));
        }
        // Replacements (`--reconnect`) join the total as they are made: a sample counts
        // the schedule's attempts and the replacements made so far, never fewer than before.
        let sum: u64 = states(s).iter().fold(0u64, |a, b| a.saturating_add(*b));
        let least = total.saturating_sub(replacements).max(made);
        if sum < least || sum > total {
            let expected = if replacements == 0 {
                format!("counts.total ({total})")
            } else {
                format!("from {least} to counts.total ({total}), with {replacements} replacements")
            };
            return Err(format!(
                "timeline does not add up to {expected} at {at} µs: its states make {sum}"
            ));
        }
        made = sum;
        if let Some(served) = s.served_open.filter(|n| *n > s.established) {
            return Err(format!(
                "timeline has {served} served at {at} µs, more than the {} established",
                s.established
            ));
        }
        if let Some(b) = s.beats {
            let far =
                |d: Option<Duration>| d.is_some_and(|d| d.as_micros() > u128::from(MAX_ELAPSED_US));
            if b.stopped > total || far(b.p50) || far(b.p99) {
                return Err(format!("timeline has absurd beat figures at {at} µs"));
            }
        }
    }
    let end = given.states;
    if let Some(last) = samples.last()
        && end.iter().all(Option::is_some)
        && states(last).map(Some) != end
    {
        let named: Vec<String> = STATES
            .iter()
            .zip(states(last))
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        return Err(format!(
            "timeline does not end at the summary's counts: its last sample, at {} µs, has {}",
            last.elapsed.as_micros(),
            named.join(", ")
        ));
    }
    Ok(samples)
}

/// The samples of a `timeline`, whose `columns` name the numbers of each of its `samples`.
/// Columns are looked up by name and unknown ones ignored; without a `not_initiated`
/// column, it is what `total` leaves.
pub fn timeline_samples(timeline: &schema::Timeline, total: u64) -> Result<Vec<Sample>, String> {
    let bad = |what: &str| format!("timeline: {what}");
    let find = |name: &str| timeline.columns.iter().position(|c| c == name);
    let column = |name: &str| find(name).ok_or_else(|| bad(&format!("no column {name}")));
    let (elapsed, dialing, established, closed, error) = (
        column("elapsed_us")?,
        column("dialing")?,
        column("established")?,
        column("closed")?,
        column("error")?,
    );
    let (not_initiated, served) = (find("not_initiated"), find("served_open"));
    let beats =
        find("beats_stopped").map(|stopped| (find("beat_p50_us"), find("beat_p99_us"), stopped));
    timeline
        .samples
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let at = |i: usize| {
                row.get(i).copied().flatten().ok_or_else(|| {
                    bad(&format!(
                        "sample {} has no whole number for {}",
                        k + 1,
                        timeline.columns[i]
                    ))
                })
            };
            let mut sample = Sample {
                elapsed: Duration::from_micros(at(elapsed)?),
                not_initiated: 0,
                dialing: at(dialing)?,
                established: at(established)?,
                closed: at(closed)?,
                error: at(error)?,
                served_open: served.and_then(|i| row.get(i).copied().flatten()),
                beats: None,
            };
            if let Some((p50, p99, stopped)) = beats {
                let micros = |i: Option<usize>| {
                    i.and_then(|i| row.get(i).copied().flatten())
                        .map(Duration::from_micros)
                };
                sample.beats = Some(BeatSample {
                    p50: micros(p50),
                    p99: micros(p99),
                    stopped: at(stopped)?,
                });
            }
            let made = [
                sample.dialing,
                sample.established,
                sample.closed,
                sample.error,
            ]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b));
            sample.not_initiated = match not_initiated {
                Some(i) => at(i)?,
                None => total.saturating_sub(made),
            };
            Ok(sample)
        })
        .collect()
}

/// [`serde_words`] for a message about `value`, naming where in it the value found is
/// when it occurs there once (serde's messages say what, not where).
pub fn serde_words_in(message: &str, value: &Value) -> String {
    let words = serde_words(message);
    let found = message
        .split_once('`')
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(found, _)| found);
    let Some(found) = found else {
        return words;
    };
    let mut paths = Vec::new();
    leaves_shown_as(value, found, String::new(), &mut paths);
    match paths.as_slice() {
        [path] => format!("{path}: {words}"),
        _ => words,
    }
}

/// The paths of the leaves of `value` whose JSON is `text`; two at most, as one is wanted.
fn leaves_shown_as(value: &Value, text: &str, path: String, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                leaves_shown_as(child, text, join(key), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                leaves_shown_as(child, text, format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            if out.len() < 2 && serde_json::to_string(leaf).is_ok_and(|t| t == text) {
                out.push(path);
            }
        }
    }
}

/// A serde message in the words of the schema: what was found, and what was expected,
/// without the names of our types (`expected struct Counts`: an object).
pub fn serde_words(message: &str) -> String {
    let mut words = cut(message, 200);
    while let Some(at) = words.find("expected struct ") {
        let name = words[at + 16..]
            .find(|c: char| !c.is_alphanumeric())
            .map_or(words.len(), |end| at + 16 + end);
        words.replace_range(at..name, "expected an object");
    }
    words
        .replace("invalid type: integer ", "found ")
        .replace("invalid type: floating point ", "found ")
        .replace("invalid type: string ", "found the string ")
        .replace("invalid type: ", "found ")
        .replace("invalid value: integer ", "found ")
        .replace("expected u64", "expected a whole number, 0 or more")
        .replace("expected u16", "expected a whole number below 65536")
        .replace("expected f64", "expected a number")
        .replace("missing field ", "no field ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::schema::TIMELINE_COLUMNS;
    use serde_json::json;

    #[test]
    fn beat_columns_read_back_by_name() {
        let timeline = schema::Timeline {
            step_us: 1000,
            columns: [
                "elapsed_us",
                "dialing",
                "established",
                "closed",
                "error",
                "beat_p50_us",
                "beat_p99_us",
                "beats_stopped",
            ]
            .map(String::from)
            .to_vec(),
            samples: vec![
                vec![
                    Some(0),
                    Some(0),
                    Some(2),
                    Some(0),
                    Some(0),
                    None,
                    None,
                    Some(0),
                ],
                vec![
                    Some(9),
                    Some(0),
                    Some(2),
                    Some(0),
                    Some(0),
                    Some(5),
                    Some(7),
                    Some(1),
                ],
            ],
        };
        let samples = timeline_samples(&timeline, 2).unwrap();
        assert_eq!(samples[0].beats, Some(BeatSample::default()));
        let b = samples[1].beats.unwrap();
        assert_eq!(
            (b.p50, b.p99, b.stopped),
            (
                Some(Duration::from_micros(5)),
                Some(Duration::from_micros(7)),
                1
            )
        );
    }

    #[test]
    fn timelines_are_read_by_column_name() {
        let timeline = |v: Value| schema::Timeline::deserialize(v).unwrap();
        let t = timeline(serde_json::json!({
            "columns": ["established", "quic", "elapsed_us", "error", "closed", "dialing"],
            "samples": [[1, 9, 100, 0, 0, 2], [4, 9, 2000, 1, 0, 0]],
        }));
        let samples = timeline_samples(&t, 5).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].elapsed, Duration::from_micros(100));
        assert_eq!(
            (
                samples[0].not_initiated,
                samples[0].dialing,
                samples[0].established
            ),
            (2, 2, 1)
        );
        assert_eq!((samples[1].not_initiated, samples[1].error), (0, 1));
        assert_eq!(samples[1].served_open, None);
        let bad = timeline(serde_json::json!({"columns": ["elapsed_us"], "samples": []}));
        assert!(
            timeline_samples(&bad, 5)
                .unwrap_err()
                .contains("no column dialing")
        );
    }

    /// A summary line of `total` connections, all established, with `samples` under the
    /// writer's columns (without `served_open`), and `rest` more keys.
    fn summary(total: u64, samples: Value, rest: &str) -> String {
        let timeline = serde_json::json!({
            "step_us": 1000,
            "columns": &TIMELINE_COLUMNS[..6],
            "samples": samples,
        });
        format!(
            r#"{{"type":"summary","counts":{{"total":{total},"not_initiated":0,"dialing":0,"established":{total},"closed":0,"error":0}},"timeline":{timeline}{rest}}}"#
        )
    }

    fn refused(line: &str) -> String {
        read_line(line, "f:3").unwrap_err()
    }

    #[test]
    fn a_timeline_must_be_of_its_run() {
        let good = summary(2, json!([[0, 2, 0, 0, 0, 0], [1, 0, 0, 2, 0, 0]]), "");
        let Line::Summary(s) = read_line(&good, "f:3").unwrap() else {
            panic!("not a summary");
        };
        assert_eq!(s.timeline.unwrap().len(), 2);
        let err = refused(&summary(
            2,
            json!([[0, 3, 0, 0, 0, 0], [1, 0, 0, 2, 0, 0]]),
            "",
        ));
        assert!(err.starts_with("f:3: timeline does not add up"), "{err}");
        let err = refused(&summary(
            2,
            json!([[0, 2, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0]]),
            "",
        ));
        assert!(
            err.contains("does not end at the summary's counts"),
            "{err}"
        );
        assert!(
            err.contains("not_initiated 1, dialing 0, established 1"),
            "{err}"
        );
        let err = refused(&summary(
            2,
            json!([[5, 2, 0, 0, 0, 0], [1, 0, 0, 2, 0, 0]]),
            "",
        ));
        assert!(err.contains("back in time: 1 µs after 5 µs"), "{err}");
        let many: Vec<Value> = (0..=MAX_SAMPLES as u64)
            .map(|t| json!([t, 0, 0, 2, 0, 0]))
            .collect();
        let err = refused(&summary(2, Value::from(many), ""));
        assert!(err.contains("513 samples, more than the 512"), "{err}");
        let err = refused(&summary(2, json!([[0, 0, 0, -1, 0, 0]]), ""));
        assert!(err.contains("found `-1`, expected a whole number"), "{err}");
        let far = json!([[MAX_ELAPSED_US + 1, 0, 0, 2, 0, 0]]);
        assert!(refused(&summary(2, far, "")).contains("more than a year"));
    }

    #[test]
    fn counts_must_be_whole_bounded_and_add_up() {
        let counts = |c: &str| format!(r#"{{"type":"summary","counts":{c}}}"#);
        let err = refused(&counts(r#"{"total":2,"established":-1}"#));
        assert_eq!(
            err,
            "f:3: counts.established is -1: expected a whole number, 0 or more"
        );
        let err = refused(&counts(r#"{"total":2,"established":3}"#));
        assert_eq!(
            err,
            "f:3: counts.established (3) is more than counts.total (2)"
        );
        let err = refused(&counts(
            r#"{"total":2,"not_initiated":0,"dialing":0,"established":1,"closed":0,"error":0}"#,
        ));
        assert!(err.contains("do not add up"), "{err}");
        let err = refused(&counts(r#"{"total":18446744073709551610}"#));
        assert!(err.contains("past 4294967296"), "{err}");
        let err = refused(&counts("[1,2]"));
        assert!(err.contains("counts is [1,2]: expected an object"), "{err}");
        // Sparse counts read: what is absent is not a contradiction.
        assert!(read_line(&counts(r#"{"total":2,"established":2}"#), "f:3").is_ok());
        let tick = r#"{"type":"tick","counts":{"total":1,"closed":2}}"#;
        assert!(
            read_line(tick, "f:3")
                .unwrap_err()
                .contains("counts.closed (2)")
        );
        let probe = r#"{"type":"summary","counts":{"total":2},"probe":{"served":2,"rejected":1}}"#;
        assert!(
            refused(probe).contains("probe add up to 3"),
            "{}",
            refused(probe)
        );
    }

    #[test]
    fn histograms_are_decoded_and_agree_with_their_counts() {
        let mut l = crate::engine::stats::Latency::default();
        l.record(Duration::from_micros(40));
        let encoded = crate::report::json::latency(&l)
            .histogram
            .unwrap_or_default();
        let line = |latency: &str| {
            format!(
                r#"{{"type":"summary","counts":{{"total":3,"established":1}},"connect_latency_us":{latency}}}"#
            )
        };
        let ok = line(&format!(r#"{{"count":1,"histogram":"{encoded}"}}"#));
        let Line::Summary(s) = read_line(&ok, "f:3").unwrap() else {
            panic!("not a summary");
        };
        assert_eq!(s.connect.unwrap().len(), 1);
        let err = refused(&line(&format!(r#"{{"count":2,"histogram":"{encoded}"}}"#)));
        assert!(
            err.contains("count is 2, but its histogram holds 1"),
            "{err}"
        );
        let err = refused(&line(r#"{"count":1,"histogram":null}"#));
        assert!(err.contains("no histogram"), "{err}");
        let err = refused(&line(r#"{"count":0}"#));
        assert!(err.contains("but 1 connections were established"), "{err}");
        let err = refused(&line(&format!(r#"{{"count":4,"histogram":"{encoded}"}}"#)));
        assert!(
            err.contains("count (4) is more than counts.total (3)"),
            "{err}"
        );
        let mut header = Vec::new();
        for word in [0x1c84_9313, u32::MAX, 0, 3] {
            header.extend(word.to_be_bytes());
        }
        header.extend(1u64.to_be_bytes());
        header.extend(HISTOGRAM_HIGHEST_MICROS.to_be_bytes());
        header.extend(1f64.to_be_bytes());
        let four_gigabytes = base64::engine::general_purpose::STANDARD.encode(header);
        for (bad, says) in [
            ("AAAA", "too short"),
            ("AAAAAAAA", "does not begin with a V2 cookie"),
            ("!!", "not base64"),
            // A plain V2 header that asks for a 4 GB payload.
            (four_gigabytes.as_str(), "shorter than its header says"),
            ("HIST", "not an HdrHistogram"),
        ] {
            let err = refused(&line(&format!(r#"{{"count":1,"histogram":"{bad}"}}"#)));
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("Error") && !err.contains("Cookie"), "{err}");
        }
    }

    #[test]
    fn lines_are_bounded() {
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut lines = Lines::new(long.as_slice(), "zero");
        let err = lines.next().unwrap().unwrap_err();
        assert!(
            err.starts_with("zero:1: a line longer than 16 MiB"),
            "{err}"
        );
        assert!(lines.next().is_none());
        let text = "a\n\nb";
        let read: Vec<_> = Lines::new(text.as_bytes(), "t")
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            read,
            [
                ("t:1".to_string(), "a".to_string()),
                ("t:2".to_string(), String::new()),
                ("t:3".to_string(), "b".to_string())
            ]
        );
        let err = Lines::new(&b"\xff\n"[..], "t").next().unwrap().unwrap_err();
        assert!(err.contains("t:1: not UTF-8"), "{err}");
    }

    #[test]
    fn serde_messages_are_said_in_words() {
        assert_eq!(
            serde_words("invalid type: integer `-1`, expected u64"),
            "found `-1`, expected a whole number, 0 or more"
        );
        let value = json!({"a": {"b": [1, 1.5]}, "c": -1, "d": -1});
        assert_eq!(
            serde_words_in("invalid type: floating point `1.5`, expected u64", &value),
            "a.b[1]: found `1.5`, expected a whole number, 0 or more"
        );
        // Found twice, it is not said where.
        assert_eq!(
            serde_words_in("invalid type: integer `-1`, expected u64", &value),
            "found `-1`, expected a whole number, 0 or more"
        );
        assert_eq!(
            serde_words("invalid type: sequence, expected struct Counts at line 1"),
            "found sequence, expected an object at line 1"
        );
    }
}
