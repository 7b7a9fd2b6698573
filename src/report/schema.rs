//! The `--json` schema, once: a typed struct per object of the JSON Lines output (a `Tick`
//! per interval, a `Summary` at the end), written by `json` and read back by the merge
//! (`summary`) and the plot (`plot::input`). README.md ("JSON Lines") documents it.
//!
//! The field order of each struct is the key order of its object. `Option` fields are
//! written as `null` when empty, unless they are marked to be left out (a latency without
//! samples is `{"count":0}`; a threshold without a latency has no `limit_us`). Readers
//! ignore keys they do not know, so output that gains fields still reads. The plot, which
//! takes sparser lines than the merge, reads them as a `PlotLine`: the same names, each
//! optional and read leniently (`Loose`), once `read` has checked the line for what would
//! contradict itself, for both.
//!
//! The bytes are those of the writer these structs replaced, and other tools read them:
//! [`write_line`] spells floats as Rust prints them (`1000`, not `1000.0`) and the two
//! control characters JSON has short escapes for as `\u0008` and `\u000c`. `report::pinned`
//! holds a summary and a tick to the byte.

use std::fmt;
use std::io::{self, Write};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter};

/// Schema version of both objects; bumped on any incompatible change.
pub const SCHEMA_VERSION: u64 = 1;

/// Which object a line holds: its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Tick,
    Summary,
}

/// What every line begins with, read before the rest: its `type` and `version`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Head {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
}

/// One interval's object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub version: u64,
    pub elapsed_us: u64,
    pub counts: Counts,
    #[serde(default)]
    pub max_concurrent_established: u64,
    #[serde(default)]
    pub bytes_received: u64,
    #[serde(default)]
    pub connect_p99_us: Option<u64>,
    #[serde(default)]
    pub probe: Option<Probe>,
    /// `--heartbeat`: beat latency over the interval, and the connections that stopped
    /// answering so far; left out without heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats: Option<TickBeats>,
}

/// A tick's heartbeats: the interval's beat p50 and p99 (null when none was answered in
/// it), and the run's counts so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TickBeats {
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub answered: u64,
    pub stopped: u64,
}

/// The run's final object. What the merge needs is required; what it does not read is
/// taken as absent when missing, as the summaries of older versions may lack it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub version: u64,
    pub target: Target,
    pub options: Options,
    pub counts: Counts,
    pub max_concurrent_established: u64,
    pub failures: Tally,
    pub closures: Tally,
    pub bytes_received: u64,
    pub connect_latency_us: Latency,
    pub time_to_error_us: Latency,
    pub schedule_lag_us: Latency,
    pub handshake_rtt_us: Latency,
    pub own_delay_us: Latency,
    pub syn_retransmitted: u64,
    pub probe: Option<Probe>,
    #[serde(default)]
    pub time_to_served_us: Option<Latency>,
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub tls_handshake_us: Option<Latency>,
    /// `--heartbeat`: what the beats found; left out without heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beats: Option<Beats>,
    #[serde(default)]
    pub attempts: u64,
    #[serde(default)]
    pub requested_rate: Option<Rate>,
    #[serde(default)]
    pub achieved_rate: Option<Rate>,
    pub wall_time_us: u64,
    pub dial_span_us: u64,
    pub stopped: Option<Stopped>,
    /// Not read back: the merge judges the run's gates again.
    #[serde(default, skip_deserializing)]
    pub thresholds: Vec<Threshold>,
    pub reconnects: u64,
    #[serde(default)]
    pub settled_us: Option<u64>,
    #[serde(default)]
    pub hold: Option<Hold>,
    pub by_target: Vec<TargetCounts>,
    #[serde(default)]
    pub live_lines_dropped: u64,
    pub fallbacks: Vec<Fallback>,
    pub shard: Shard,
    #[serde(default)]
    pub start_at: Option<String>,
    pub schedule_origin_us: u64,
    #[serde(default)]
    pub first_attempt_late_us: Option<u64>,
    /// Not read back: a merged summary is read as the run it stands for.
    #[serde(default, skip_deserializing)]
    pub merged: Option<Merged>,
    #[serde(default)]
    pub limit: Option<Limit>,
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub timeline: Option<Timeline>,
    #[serde(default)]
    pub exit_status: u64,
}

/// The connections by state. Written and read by the merge as whole numbers; the plot
/// reads them as `Counts<Loose<u64>>` and requires only those it draws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts<N = u64> {
    pub total: N,
    pub not_initiated: N,
    pub dialing: N,
    pub established: N,
    pub closed: N,
    pub error: N,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub host: String,
    pub ip: String,
    pub port: u64,
    pub label: String,
}

/// Counts by name, in the order the engine lists its names (failure causes, closures,
/// probe outcomes, percentiles). Read back, values that are not whole numbers are left
/// out, so a `Tally` that takes an object's other keys (flattened) never refuses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(pub Vec<(String, u64)>);

impl Tally {
    pub fn of<'a>(items: impl IntoIterator<Item = (&'a str, u64)>) -> Tally {
        Tally(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl Serialize for Tally {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Tally {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tally, D::Error> {
        let entries: Entries<Value> = Deserialize::deserialize(deserializer)?;
        Ok(Tally(
            entries
                .0
                .into_iter()
                .filter_map(|(k, v)| v.as_u64().map(|n| (k, n)))
                .collect(),
        ))
    }
}

/// An object's entries in the order they come, for keys that are data (a merge's
/// `other_latencies`, by path).
#[derive(Debug, Clone, Default)]
pub struct Entries<T>(pub Vec<(String, T)>);

impl<T: Serialize> Serialize for Entries<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries<T>, D::Error> {
        struct InOrder<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for InOrder<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(InOrder(std::marker::PhantomData))
    }
}

/// A latency measure in microseconds: without samples, only its `count` (0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<u64>,
    /// `p50` … `p99_99`, as `report::PERCENTILES` names them.
    #[serde(flatten)]
    pub percentiles: Tally,
    /// The HdrHistogram V2 (deflate) serialization, base64: what other tools read, and
    /// what a merge merges value for value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moments: Option<Moments>,
}

/// Exact, for a merge: sums in nanoseconds (the sum of squares as a decimal string, as it
/// can pass 2^64), so the merged min/avg/max/dev are those of all the samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Moments {
    pub count: u64,
    pub sum_ns: String,
    pub sum_squares_ns2: String,
    pub min_ns: u64,
    pub max_ns: u64,
}

/// A probe's outcomes (`served`, `rejected`, `unserved`, `closed_before_answer`), each
/// always present; its `name` in the summary only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub outcomes: Tally,
    pub awaiting: u64,
    pub served_open: u64,
    /// `--probe http`: the statuses among the rejections, in the order first seen; absent
    /// when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_statuses: Vec<StatusCount>,
    /// `--probe ws`, `mqtt`, `h2`, `h2c`: what the server's WebSocket, the MQTT broker or
    /// HTTP/2 said that refused, ended or troubled a connection (a close and its code, a
    /// CONNACK refusal, a GOAWAY and its error code, an ALPN choice other than h2, a frame
    /// no server may send), and the WebSocket messages it sent, in words, in the order
    /// first seen; absent when nothing was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventCount>,
}

/// A protocol event, in words, and how many times it came.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventCount {
    pub what: String,
    pub count: u64,
}

/// An HTTP status and how many probes it rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusCount {
    pub status: u16,
    pub count: u64,
}

/// `--heartbeat`: beats due, sent, answered and late; the connections that stopped
/// answering, by cause (`timeout`, `wrong`, `closed`), and when the first did; and beat
/// latency, from each beat's due time to its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Beats {
    pub due: u64,
    pub sent: u64,
    pub answered: u64,
    pub late: u64,
    pub stopped: Tally,
    pub first_stop_us: Option<u64>,
    pub latency_us: Latency,
}

/// `--tls`: what was negotiated and how handshakes failed, in the order first seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tls {
    pub negotiated: Vec<Named>,
    pub failures: Vec<Named>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Named {
    pub name: String,
    pub count: u64,
}

/// Why the run stopped before its end: a `signal` (interrupted) or a `cause` (local limit).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stopped {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Threshold {
    pub gate: String,
    pub measured: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_us: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Hold {
    pub duration_us: u64,
    pub min_established: u64,
    pub max_established: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCounts {
    pub addr: String,
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fallback {
    pub from: String,
    pub cause: String,
    pub to: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// A merge's account of what it merged. The shards missing are a count and at most
/// `MISSING_RANGES_SHOWN` ranges (first and last index), then how many ranges more: the
/// shard count of a summary can be anything up to 2^64-1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merged {
    pub shards: u64,
    pub present: Vec<u64>,
    pub missing_shards: u64,
    pub missing_ranges: Vec<[u64; 2]>,
    pub missing_ranges_more: u64,
    pub missing_attempts: u64,
    pub start_skew_us: Option<u64>,
    pub max_concurrent_established: String,
    pub other_latencies: Entries<Latency>,
}

/// `tcpgoon limit`'s finding: its kind, what ended the search, the connections held once
/// the first loss had settled, the text report's finding lines, and of the first loss, when
/// there was one, what was held when it was seen, when, after how many attempts, and its
/// cause; with a knee, the knee too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limit {
    /// Summaries from before the kinds only had found limits.
    #[serde(default = "Limit::found")]
    pub finding: String,
    /// What ended the search: `loss`, `maximum`, `interrupted` or `local_limit`; with a
    /// knee, what the search went on to. Absent from summaries made before it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    pub held: u64,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub held_at_loss: Option<u64>,
    #[serde(default)]
    pub loss_us: Option<u64>,
    #[serde(default)]
    pub attempts: Option<u64>,
    #[serde(default)]
    pub cause: Option<String>,
    /// With `--max-latency beat:…`, when beat latency exceeded its bound before any loss
    /// (`finding` is then `knee`; the search went on to `ended_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knee: Option<KneeFound>,
}

/// Where beat latency first exceeded a bound that ends the search: the knee is `held`, the
/// connections held when the window of beats that exceeded it began its last bucket;
/// `above` the count when that bucket ended; `measured_us` the statistic over the window
/// (absent when its slow beats were not answered by the end); `at_us` the end of the
/// bucket, from the start; the window's beats due, and answered within the bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KneeFound {
    pub gate: String,
    pub bound_us: u64,
    pub held: u64,
    pub above: u64,
    #[serde(default)]
    pub measured_us: Option<u64>,
    pub at_us: u64,
    pub beats_due: u64,
    pub beats_within: u64,
}

impl Limit {
    /// The finding of a summary that names none.
    pub fn found() -> String {
        "found".to_string()
    }
}

/// The counts over time: the step between samples, the names of each sample's numbers,
/// and the samples. Readers look the columns up by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    #[serde(default)]
    pub step_us: u64,
    pub columns: Vec<String>,
    pub samples: Vec<Vec<Option<u64>>>,
}

/// A line as `tcpgoon plot` reads it: the fields it draws, by the names of `Tick` and
/// `Summary`, any of them missing and most of them of any type, so that sparse or
/// hand-made lines read too (`{"type":"summary","counts":{…}}`). What the plot requires
/// of them, and how it says so, is the plot's; the `timeline` and the connect latency
/// histogram, and what would contradict the rest, are `read`'s, the merge's reader too.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlotLine {
    #[serde(rename = "type")]
    pub kind: Loose<String>,
    pub elapsed_us: Loose<u64>,
    /// `None` when absent; present but not an object, its counts are all missing.
    #[serde(default, deserialize_with = "present")]
    pub counts: Option<Loose<Counts<Loose<u64>>>>,
    pub probe: Loose<PlotProbe>,
    pub wall_time_us: Loose<u64>,
    /// Present and not `null`, but not an object: a limit without its `held`.
    #[serde(default)]
    pub limit: Option<Loose<PlotLimit>>,
    pub target: Loose<PlotTarget>,
    pub exit_status: Loose<u64>,
}

/// Of a probe, what is still open and served.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlotProbe {
    pub served_open: Loose<u64>,
}

/// Of a `Limit`, what the plot marks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlotLimit {
    pub finding: Loose<String>,
    pub held: Loose<u64>,
    pub loss_us: Loose<u64>,
    pub cause: Loose<String>,
    #[serde(default)]
    pub knee: Loose<PlotKnee>,
}

/// Of a `KneeFound`, what the plot marks: the knee, and when the search saw it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlotKnee {
    pub held: Loose<u64>,
    pub at_us: Loose<u64>,
}

/// Of a `Target`, its label.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlotTarget {
    pub label: Loose<String>,
}

/// A field read leniently: missing, `null`, an array, or anything that is not a `T` reads
/// as `None`. An array is never a `T`, so that a struct is read by its names only, never
/// by position as serde would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loose<T>(pub Option<T>);

impl<T> Default for Loose<T> {
    fn default() -> Loose<T> {
        Loose(None)
    }
}

impl<T: serde::de::DeserializeOwned> Loose<T> {
    pub fn of(value: Value) -> Loose<T> {
        match value {
            Value::Null | Value::Array(_) => Loose(None),
            value => Loose(T::deserialize(value).ok()),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Loose<T>, D::Error> {
        // Through `Option`, so that a missing field reads as `None` without `default`.
        let value = Option::<Value>::deserialize(deserializer)?;
        Ok(value.map_or(Loose(None), Loose::of))
    }
}

/// A field that is `Some` when present, even as `null` (which `Option` reads as `None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// The names of a timeline sample's numbers, in order, as the writer gives them.
pub const TIMELINE_COLUMNS: [&str; 7] = [
    "elapsed_us",
    "not_initiated",
    "dialing",
    "established",
    "closed",
    "error",
    "served_open",
];

/// The columns a timeline of a run with heartbeats has after `TIMELINE_COLUMNS`.
pub const TIMELINE_BEAT_COLUMNS: [&str; 3] = ["beat_p50_us", "beat_p99_us", "beats_stopped"];

/// A rate, per second: written to three decimals, `null` when not finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            serializer.serialize_f64((self.0 * 1000.0).round() / 1000.0)
        } else {
            serializer.serialize_none()
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
        f64::deserialize(deserializer).map(Rate)
    }
}

/// The options a summary records: a run's or a limit search's as the command was given
/// them, or, read back, the object as it was (a merge writes its shards' unchanged,
/// with whatever keys they had).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Options {
    Run(Box<RunOptions>),
    Limit(Box<LimitOptions>),
    Recorded(Value),
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Options, D::Error> {
        Value::deserialize(deserializer).map(Options::Recorded)
    }
}

impl Options {
    /// As a run's: what a merge reads of its shards' schedule and gates. Only
    /// `connections`, `sleep_us` and `settle_us` are required.
    pub fn as_run(&self) -> Result<RunOptions, String> {
        let value = match self {
            Options::Run(run) => return Ok((**run).clone()),
            Options::Limit(_) => return Err("options: not a run's".to_string()),
            Options::Recorded(value) => value,
        };
        RunOptions::deserialize(value).map_err(|e| format!("options: {e}"))
    }
}

/// `tcpgoon run`'s options. Durations twice: in microseconds, and as given.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunOptions {
    /// The whole run's, with `--shard` too: the summary's counts are the shard's.
    pub connections: u64,
    pub sleep_us: u64,
    #[serde(default)]
    pub dial_timeout_us: u64,
    #[serde(default)]
    pub interval_us: u64,
    #[serde(default)]
    pub hold_us: u64,
    #[serde(default)]
    pub sleep: String,
    #[serde(default)]
    pub dial_timeout: String,
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub hold: String,
    pub settle_us: u64,
    #[serde(default)]
    pub settle: String,
    #[serde(default)]
    pub reconnect: bool,
    #[serde(default)]
    pub probe: Option<ProbeOptions>,
    #[serde(default)]
    pub tls: Option<TlsOptions>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    /// `--max-latency` gates, `P=DUR` each.
    #[serde(default)]
    pub max_latency: Vec<String>,
    #[serde(default)]
    pub min_established: Option<String>,
}

/// `--probe` and its bytes, escaped as given on the command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeOptions {
    pub name: String,
    pub send: String,
    pub expect: String,
    pub timeout_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsOptions {
    pub sni: Option<String>,
    pub trust: String,
    pub versions: String,
    pub alpn: Vec<String>,
    pub timeout_us: u64,
}

/// `tcpgoon limit`'s options.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitOptions {
    pub rate: Rate,
    pub connections: u64,
    pub dial_timeout_us: u64,
    pub interval_us: u64,
    pub hold_us: u64,
    pub settle_us: u64,
    pub dial_timeout: String,
    pub interval: String,
    pub hold: String,
    pub settle: String,
    /// The probe's name.
    pub probe: Option<String>,
    pub targets: Vec<String>,
    pub fallbacks: Vec<String>,
    pub sources: Vec<String>,
}

/// `value` as one line of JSON, with its newline.
pub fn write_line(w: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let mut line = to_bytes(value)?;
    line.push(b'\n');
    w.write_all(&line)
}

fn to_bytes(value: &impl Serialize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    value
        .serialize(&mut serde_json::Serializer::with_formatter(
            &mut bytes, AsWritten,
        ))
        .map_err(io::Error::other)?;
    Ok(bytes)
}

/// The summary as one line of JSON, without its newline.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = to_bytes(self).map_err(|_| fmt::Error)?;
        f.write_str(&String::from_utf8_lossy(&bytes))
    }
}

/// serde_json's compact output, but floats as Rust prints them (integral ones without a
/// point, never an exponent) and every control character but `\n`, `\r` and `\t` as
/// `\u00XX`: the bytes the hand-written writer before these structs gave.
struct AsWritten;

impl Formatter for AsWritten {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write!(writer, "{value}")
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{byte:04x}"),
        };
        writer.write_all(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_floats_and_nulls_are_written_as_before() {
        #[derive(Serialize)]
        struct Line {
            a: String,
            b: Vec<Value>,
            c: Rate,
            d: Rate,
            e: Option<Rate>,
            f: Rate,
        }
        let line = Line {
            a: "quote\" back\\ nl\n tab\t bell\u{7} bs\u{8} ff\u{c} é".into(),
            b: vec![Value::from(1), Value::Null, Value::Bool(false)],
            c: Rate(f64::NAN),
            d: Rate(2.5),
            e: None,
            f: Rate(1000.0004),
        };
        let mut out = Vec::new();
        write_line(&mut out, &line).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"a\":\"quote\\\" back\\\\ nl\\n tab\\t bell\\u0007 bs\\u0008 ff\\u000c é\",\"b\":[1,null,false],\"c\":null,\"d\":2.5,\"e\":null,\"f\":1000}\n"
        );
    }
}
