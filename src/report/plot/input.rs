//! The `--json` output read back: JSON Lines of ticks and summaries, each summary closing
//! one run (a file may hold several, one after another). What a plot needs of a run is its
//! counts over time (the summary's `timeline`, or the ticks when it has none), with the
//! beat latency of each sample when the timeline has it, the limit a
//! `limit` search found, and the connect latency histogram (the V2 base64 `histogram`).
//! A line is read into `schema::PlotLine`, the schema's names with every field optional
//! and lenient, so unknown fields are ignored and output that adds fields still reads, and
//! so does a sparse line; a summary without any time series (one from before `timeline`
//! without ticks) reads too. What a plot cannot draw without is required here. Each line
//! is read and checked first by `read`, the merge's reader, so a plot refuses the
//! contradictions the merge refuses: the leniency is for what is absent, never for what
//! contradicts itself. The summary's `timeline` and connect latency histogram come decoded
//! from there.

use std::io::BufRead;

use hdrhistogram::Histogram;

use crate::engine::timeline::Sample;
use crate::report::read::{self, Line, Lines, SummaryLine};
use crate::report::schema::{self, Counts, Loose, PlotLine};

/// The counts by state at one moment (`served` with a probe only).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    pub elapsed_us: u64,
    pub dialing: u64,
    pub established: u64,
    pub closed: u64,
    pub error: u64,
    /// Served and still open; the rest of `established` is established and not served.
    pub served: Option<u64>,
    /// `--heartbeat`: the beat latency since the sample before (`None`: no beat answered in
    /// it, or a run without heartbeats), as the timeline's `beat_p50_us` and `beat_p99_us`.
    pub beat_p50_us: Option<u64>,
    pub beat_p99_us: Option<u64>,
}

impl Point {
    /// Attempts made by then: every state but not initiated.
    pub fn made(&self) -> u64 {
        self.dialing + self.established + self.closed + self.error
    }
}

/// What a `limit` search found (its summary's `limit`).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitMark {
    /// `found`, `knee`, `evicted`, `no_connection`, `local_limit`, `no_limit`,
    /// `interrupted`.
    pub finding: String,
    /// Held once the first loss had settled: the limit; for a knee, held when beat latency
    /// crossed its bound.
    pub held: u64,
    /// When the first loss was seen (for a knee, when the bound was crossed); `None` when
    /// nothing was lost.
    pub loss_us: Option<u64>,
    /// The cause of the first loss, as the report names it.
    pub cause: Option<String>,
}

/// One run, as the plot draws it.
#[derive(Debug, Clone)]
pub struct Run {
    /// Where it came from: the file's name, and its place in the file when it holds more.
    pub source: String,
    /// The report header's `target.label`, when the summary has one.
    pub target: Option<String>,
    /// Connections asked for (`counts.total`).
    pub total: u64,
    pub established: u64,
    pub timeline: Vec<Point>,
    pub limit: Option<LimitMark>,
    /// Connect latency in microseconds, as the summary's histogram holds it.
    pub connect: Option<Histogram<u64>>,
    pub exit_status: Option<u64>,
}

/// Reads the runs in `input`, the `--json` output of one file named `source`, its lines
/// bounded as `read::Lines` bounds them. A line that is not a JSON object, a line that
/// contradicts itself, a summary whose fields are not of the schema, or no summary at all
/// is an error naming the file and line.
pub fn read_runs(source: &str, input: impl BufRead) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    let mut ticks: Vec<Point> = Vec::new();
    let mut summaries = 0;
    let mut blank = true;
    for line in Lines::new(input, source) {
        let (at, line) = line?;
        let checked = read::read_line(&line, &at)?;
        blank &= matches!(checked, Line::Blank);
        match checked {
            Line::Blank => {}
            Line::Tick(value) => {
                let line = Loose::<PlotLine>::of(value).0.unwrap_or_default();
                ticks.push(tick(&line).map_err(|e| format!("{at}: {e}"))?);
            }
            Line::Summary(checked) => {
                summaries += 1;
                let name = if summaries == 1 {
                    source.to_string()
                } else {
                    format!("{source} #{summaries}")
                };
                let run = summary(*checked, name, std::mem::take(&mut ticks))
                    .map_err(|e| format!("{at}: {e}"))?;
                runs.push(run);
            }
            Line::Other(value) => {
                return Err(match value.get("type").and_then(|t| t.as_str()) {
                    Some(other) => format!(
                        "{at}: an object of type '{}', not a tick or a summary of --json",
                        crate::error::one_line(other)
                    ),
                    None => format!("{at}: a JSON value without a \"type\", not a line of --json"),
                });
            }
        }
    }
    match (runs.is_empty(), summaries) {
        (true, 0) if blank => Err(format!("{source}: empty, no summary to plot")),
        (true, _) => Err(format!(
            "{source}: no summary (a run cut short before its end?); nothing to plot"
        )),
        _ => Ok(runs),
    }
}

/// A number the plot cannot draw without, named as the schema names it.
fn required(value: Loose<u64>, key: &str) -> Result<u64, String> {
    value
        .0
        .ok_or_else(|| format!("\"{key}\" is missing or not a whole number"))
}

/// The counts a line must have (`None`: it has none); present, they need the four states
/// the plot stacks.
fn counts(line: &PlotLine) -> Option<Counts<Loose<u64>>> {
    line.counts.map(|counts| counts.0.unwrap_or_default())
}

fn point_of_counts(counts: &Counts<Loose<u64>>) -> Result<Point, String> {
    Ok(Point {
        elapsed_us: 0,
        dialing: required(counts.dialing, "dialing")?,
        established: required(counts.established, "established")?,
        closed: required(counts.closed, "closed")?,
        error: required(counts.error, "error")?,
        served: None,
        beat_p50_us: None,
        beat_p99_us: None,
    })
}

fn served_open(line: &PlotLine) -> Option<u64> {
    line.probe.0.as_ref().and_then(|p| p.served_open.0)
}

fn tick(line: &PlotLine) -> Result<Point, String> {
    let counts = counts(line).ok_or("a tick without counts")?;
    let point = point_of_counts(&counts)?;
    Ok(Point {
        elapsed_us: required(line.elapsed_us, "elapsed_us")?,
        served: served_open(line),
        ..point
    })
}

fn summary(checked: SummaryLine, source: String, ticks: Vec<Point>) -> Result<Run, String> {
    let line = Loose::<PlotLine>::of(checked.value).0.unwrap_or_default();
    let counts = counts(&line).ok_or("a summary without counts")?;
    let total = required(counts.total, "total")?;
    let end = point_of_counts(&counts)?;
    let served = served_open(&line);
    let timeline = match checked.timeline {
        Some(samples) => samples.iter().map(point).collect(),
        None if ticks.is_empty() => Vec::new(),
        None => {
            // The ticks, and the end of the run as the summary has it.
            let mut points = ticks;
            if let Some(wall) = line.wall_time_us.0
                && points.last().is_none_or(|p| p.elapsed_us <= wall)
            {
                points.push(Point {
                    elapsed_us: wall,
                    served,
                    ..end
                });
            }
            points
        }
    };
    let limit = match line.limit {
        Some(limit) => {
            let limit = limit.0.unwrap_or_default();
            let finding = limit.finding.0.unwrap_or_else(schema::Limit::found);
            // A knee is marked where the latency bound was crossed, at the count it was
            // crossed at, not at what was held once the search had settled.
            let knee = limit.knee.0.filter(|_| finding == "knee");
            Some(LimitMark {
                held: match knee.as_ref().and_then(|k| k.held.0) {
                    Some(held) => held,
                    None => required(limit.held, "held")?,
                },
                loss_us: knee.and_then(|k| k.at_us.0).or(limit.loss_us.0),
                finding,
                cause: limit.cause.0,
            })
        }
        None => None,
    };
    Ok(Run {
        source,
        target: line.target.0.and_then(|t| t.label.0),
        total,
        established: end.established,
        timeline,
        limit,
        connect: checked.connect,
        exit_status: line.exit_status.0,
    })
}

/// A sample of the summary's `timeline`, as the plot draws it.
fn point(s: &Sample) -> Point {
    Point {
        elapsed_us: micros(s.elapsed),
        dialing: s.dialing,
        established: s.established,
        closed: s.closed,
        error: s.error,
        served: s.served_open,
        beat_p50_us: s.beats.and_then(|b| b.p50).map(micros),
        beat_p99_us: s.beats.and_then(|b| b.p99).map(micros),
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_runs(source: &str, text: &str) -> Result<Vec<Run>, String> {
        super::read_runs(source, text.as_bytes())
    }

    const TICK: &str = r#"{"type":"tick","version":1,"elapsed_us":50080,"counts":{"total":20,"not_initiated":10,"dialing":1,"established":9,"closed":0,"error":0},"probe":null}"#;

    #[test]
    fn ticks_and_the_end_make_the_timeline_of_a_summary_without_one() {
        let summary = r#"{"type":"summary","counts":{"total":20,"not_initiated":0,"dialing":0,"established":18,"closed":2,"error":0},"wall_time_us":90000}"#;
        let runs = read_runs("a.jsonl", &format!("{TICK}\n{summary}\n")).unwrap();
        assert_eq!(runs.len(), 1);
        let t = &runs[0].timeline;
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].elapsed_us, t[0].established, t[0].dialing),
            (50080, 9, 1)
        );
        assert_eq!(
            (t[1].elapsed_us, t[1].established, t[1].closed),
            (90000, 18, 2)
        );
        assert!(runs[0].connect.is_none());
    }

    #[test]
    fn a_summary_alone_has_no_timeline() {
        let summary = r#"{"type":"summary","counts":{"total":3,"not_initiated":0,"dialing":0,"established":3,"closed":0,"error":0}}"#;
        let runs = read_runs("merged", summary).unwrap();
        assert!(runs[0].timeline.is_empty());
        assert_eq!(runs[0].total, 3);
    }

    #[test]
    fn fields_of_another_type_read_as_absent_and_objects_by_name_only() {
        const COUNTS: &str =
            r#""counts":{"total":2,"dialing":0,"established":2,"closed":0,"error":0}"#;
        let tick = r#"{"type":"tick","version":"x","elapsed_us":5,"counts":{"dialing":0,"established":1,"closed":0,"error":0},"probe":[3]}"#;
        let summary = format!(
            r#"{{"type":"summary",{COUNTS},"wall_time_us":"9","timeline":null,"target":{{"label":5}},"exit_status":"2","limit":{{"finding":5,"held":1,"loss_us":"x","cause":7}}}}"#
        );
        let run = &read_runs("a", &format!("{tick}\n{summary}\n")).unwrap()[0];
        assert_eq!(
            run.timeline.len(),
            1,
            "the tick, and no end without a wall time"
        );
        assert_eq!(run.timeline[0].served, None);
        assert_eq!((run.target.as_deref(), run.exit_status), (None, None));
        let limit = run.limit.as_ref().unwrap();
        assert_eq!((limit.finding.as_str(), limit.held), ("found", 1));
        assert_eq!((limit.loss_us, limit.cause.as_deref()), (None, None));
        assert!(run.connect.is_none());

        let fails = |line: &str| read_runs("x", line).unwrap_err();
        let missing = |key: &str| format!("\"{key}\" is missing or not a whole number");
        let tick = |counts: &str| format!(r#"{{"type":"tick","elapsed_us":5,"counts":{counts}}}"#);
        assert!(fails(&tick("null")).ends_with(&missing("dialing")));
        // Counts that are not an object are not counts, for the merge's reader too.
        for counts in ["[0,0,0,0,0,0]", "\"x\""] {
            let err = fails(&tick(counts));
            assert!(err.ends_with(": expected an object"), "{counts}: {err}");
        }
        let summary = |rest: &str| format!(r#"{{"type":"summary",{COUNTS},{rest}}}"#);
        assert!(fails(&summary(r#""limit":[1]"#)).ends_with(&missing("held")));
        assert!(
            read_runs("x", &summary(r#""limit":null"#)).unwrap()[0]
                .limit
                .is_none()
        );
        assert!(
            fails(&summary(r#""connect_latency_us":{"histogram":5}"#)).ends_with(
                "connect_latency_us.histogram is 5: expected the base64 of an HdrHistogram"
            )
        );
        let err = fails(&summary(r#""timeline":5"#));
        assert_eq!(err, "x:1: timeline: found `5`, expected an object");
        // A null histogram where connections were established contradicts the counts.
        let err = fails(&summary(r#""connect_latency_us":{"histogram":null}"#));
        assert!(
            err.ends_with("no histogram, but 2 connections were established"),
            "{err}"
        );
        assert!(fails(r#"{"type":5}"#).contains("without a \"type\""));
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let err = read_runs("x", &format!("{TICK}\nhello\n")).unwrap_err();
        assert!(err.starts_with("x:2: not the JSON Lines"), "{err}");
        let err = read_runs("x", TICK).unwrap_err();
        assert!(err.contains("no summary"), "{err}");
        let err = read_runs("x", "").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = read_runs("x", r#"{"type":"summary"}"#).unwrap_err();
        assert!(err.starts_with("x:1: a summary without counts"), "{err}");
        let err = read_runs("x", "[1,2]").unwrap_err();
        assert!(err.contains("without a \"type\""), "{err}");
    }
}
