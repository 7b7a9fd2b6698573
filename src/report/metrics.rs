//! `--metrics`: a run's stats as a scrape sees them, in the Prometheus text format 0.0.4 or
//! in OpenMetrics 1.0.0 (the scraper's `Accept` header chooses; `engine::metrics` serves
//! it). A pure function of the stats at the moment of the scrape: the counts now, and the
//! counters and histograms since the run began. docs/metrics.md lists the series.
//!
//! Names follow Prometheus' conventions: the `tcpgoon_` prefix, `_total` on counters,
//! seconds for time. Every series has the label `target` (host:port as the report names
//! it), and a shard's the label `shard` (`I/N`). Causes and outcomes are labelled with the keys the JSON summary uses.
//!
//! Histograms are read from the run's HDR histograms (microseconds, 3 significant digits)
//! into fixed buckets from 100 µs to 10 s, 1-2.5-5 per decade: a loopback connect (tens of
//! µs) falls in the first, a SYN retransmitted (1 s, 3 s) lands apart from the rest, and the
//! tail up to a dial timeout stays readable. A value counts in the bucket of the lowest value
//! it cannot be told apart from, so an edge is exact to within the histogram's 0.1%.
//! Beside each histogram, a summary of the same latency holds the report's exact
//! percentiles (`…_quantile_seconds{quantile="0.99"}`), which a query reads as they are,
//! where a quantile from the buckets is interpolated.
//!
//! `tcpgoon server --metrics` has its own exposition ([`render_server`]): its stats line's
//! counts, under `tcpgoon_server_` names. `--metrics-push` pushes [`render_final`]: the
//! run's exposition and its exit status.

use std::fmt::Write as _;

use crate::engine::conn::{Closure, Failure};
use crate::engine::metrics::Format;
use crate::engine::probe::ProbeOutcome;
use crate::engine::server::Counts;
use crate::engine::stats::{Latency, Stats, StopCause};
use crate::report::PERCENTILES;
use crate::report::json::micros;

/// The buckets' upper bounds: in microseconds, and as the `le` label writes them.
pub const BUCKETS: [(u64, &str); 16] = [
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1.0"),
    (2_500_000, "2.5"),
    (5_000_000, "5.0"),
    (10_000_000, "10.0"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// The exposition being written.
struct Exposition {
    out: String,
    format: Format,
    /// `target="…"`, escaped, to begin every label set; empty for none.
    target: String,
}

impl Exposition {
    /// A family's `# HELP` and `# TYPE` lines. `name` is the family's: a counter's without
    /// `_total` (OpenMetrics names the family so; the Prometheus format names it with).
    fn family(&mut self, name: &str, kind: Type, help: &str) {
        let (family, word) = match (kind, self.format) {
            (Type::Counter, Format::Prometheus) => (format!("{name}_total"), "counter"),
            (Type::Counter, Format::OpenMetrics) => (name.to_string(), "counter"),
            (Type::Gauge, _) => (name.to_string(), "gauge"),
            (Type::Histogram, _) => (name.to_string(), "histogram"),
            (Type::Summary, _) => (name.to_string(), "summary"),
        };
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {word}");
        if self.format == Format::OpenMetrics && name.ends_with("_seconds") {
            let _ = writeln!(self.out, "# UNIT {family} seconds");
        }
    }

    /// One sample: `name{target="…",labels…} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{name}");
        if !self.target.is_empty() || !labels.is_empty() {
            let _ = write!(self.out, "{{{}", self.target);
            for (i, (key, value)) in labels.iter().enumerate() {
                let comma = if i == 0 && self.target.is_empty() {
                    ""
                } else {
                    ","
                };
                let _ = write!(self.out, "{comma}{key}=\"{}\"", escape(value));
            }
            let _ = write!(self.out, "}}");
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A counter with one series.
    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, Type::Counter, help);
        self.sample(&format!("{name}_total"), &[], value);
    }

    /// A counter with a series per value of `label`.
    fn counters<'a>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = (&'a str, u64)>,
    ) {
        self.family(name, Type::Counter, help);
        let total = format!("{name}_total");
        for (key, value) in values {
            self.sample(&total, &[(label, key)], value);
        }
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, Type::Gauge, help);
        self.sample(name, &[], value);
    }

    /// A latency as a histogram in seconds: cumulative buckets, `+Inf`, count and sum.
    fn histogram(&mut self, name: &str, help: &str, latency: &Latency) {
        self.family(name, Type::Histogram, help);
        let histogram = latency.histogram.inner();
        let mut counts = [0u64; BUCKETS.len()];
        for value in histogram.iter_recorded() {
            let micros = histogram.lowest_equivalent(value.value_iterated_to());
            if let Some(bucket) = BUCKETS.iter().position(|(bound, _)| micros <= *bound) {
                counts[bucket] += value.count_at_value();
            }
        }
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for ((_, le), count) in BUCKETS.iter().zip(counts) {
            cumulative += count;
            self.sample(&bucket, &[("le", le)], cumulative);
        }
        let count = histogram.len();
        self.sample(&bucket, &[("le", "+Inf")], count);
        self.sample(&format!("{name}_count"), &[], count);
        let (sum_ns, _) = latency.moments.sums();
        self.sample(&format!("{name}_sum"), &[], seconds(sum_ns));
    }

    /// A latency's exact quantiles as a summary in seconds: the report's percentiles (the
    /// JSON's `p50` … `p99_99`, in whole microseconds as it has them), count and sum. With
    /// nothing recorded the quantiles are `NaN`, as a client library's summary has them.
    fn quantiles(&mut self, name: &str, help: &str, latency: &Latency) {
        self.family(name, Type::Summary, help);
        let count = latency.moments.count;
        for (_, _, q) in PERCENTILES {
            let value = if count == 0 {
                "NaN".to_string()
            } else {
                let micros = u128::from(micros(latency.quantile(q)));
                seconds(micros * 1_000)
            };
            self.sample(name, &[("quantile", &q.to_string())], value);
        }
        self.sample(&format!("{name}_count"), &[], count);
        let (sum_ns, _) = latency.moments.sums();
        self.sample(&format!("{name}_sum"), &[], seconds(sum_ns));
    }
}

/// Nanoseconds as seconds, written out in full (`0.000123456`, never an exponent).
fn seconds(nanos: u128) -> String {
    let whole = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    if frac == 0 {
        return format!("{whole}.0");
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A label value as both formats quote it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The labels every series of a run has: `target` (host:port as the report names it) and,
/// for a shard of a run (`--shard I/N`), `shard`.
pub fn labels(target: &str, shard: Option<&str>) -> String {
    match shard {
        Some(shard) => format!("target=\"{}\",shard=\"{}\"", escape(target), escape(shard)),
        None => format!("target=\"{}\"", escape(target)),
    }
}

/// The exposition of `stats` in `format`, every series with the label set `labels`
/// ([`labels`]).
pub fn render(stats: &Stats, labels: &str, format: Format) -> Vec<u8> {
    let mut e = Exposition {
        out: String::with_capacity(8 * 1024),
        format,
        target: labels.to_string(),
    };
    let c = &stats.counts;
    e.family(
        "tcpgoon_connections",
        Type::Gauge,
        "Connections in each state now, as the report counts them.",
    );
    for (state, n) in [
        ("not_initiated", c.not_initiated),
        ("dialing", c.dialing),
        ("established", c.established),
        ("closed", c.closed),
        ("error", c.error),
    ] {
        e.sample("tcpgoon_connections", &[("state", state)], n);
    }
    e.gauge(
        "tcpgoon_connections_planned",
        "Attempts the run plans, reconnects included: the sum of the states.",
        c.total,
    );
    e.gauge(
        "tcpgoon_established_max",
        "The most connections established at once so far.",
        stats.max_established,
    );
    e.counter(
        "tcpgoon_attempts",
        "Connection attempts made.",
        c.total - c.not_initiated,
    );
    e.counter(
        "tcpgoon_reconnects",
        "Attempts made to replace a connection the peer closed (--reconnect).",
        stats.reconnects,
    );
    e.counters(
        "tcpgoon_failures",
        "Attempts that ended in error, by cause.",
        "cause",
        Failure::ALL
            .iter()
            .map(|f| (f.key(), stats.failures_of(*f))),
    );
    e.counters(
        "tcpgoon_closures",
        "Established connections the peer closed, by cause.",
        "cause",
        Closure::ALL
            .iter()
            .map(|how| (how.key(), stats.closures_of(*how))),
    );
    e.counter(
        "tcpgoon_received_bytes",
        "Bytes read from the connections.",
        stats.bytes_received,
    );
    e.histogram(
        "tcpgoon_connect_latency_seconds",
        "From an attempt's start to its connection established.",
        &stats.connect,
    );
    e.quantiles(
        "tcpgoon_connect_latency_quantile_seconds",
        "From an attempt's start to its connection established: the report's percentiles.",
        &stats.connect,
    );
    if let Some(probe) = &stats.probe {
        e.counters(
            "tcpgoon_probe_outcomes",
            "Established connections whose probe had its outcome, by outcome.",
            "outcome",
            ProbeOutcome::ALL.iter().map(|o| (o.key(), probe.of(*o))),
        );
        e.gauge(
            "tcpgoon_probe_awaiting",
            "Established connections whose probe awaits its answer now.",
            probe.awaiting,
        );
        e.gauge(
            "tcpgoon_served_open",
            "Connections served and still open now.",
            probe.served_open,
        );
    }
    if let Some(beats) = &stats.beats {
        e.counter(
            "tcpgoon_beats_due",
            "Heartbeats come due on a beating connection.",
            beats.due,
        );
        e.counter("tcpgoon_beats_sent", "Heartbeats sent.", beats.sent);
        e.counter(
            "tcpgoon_beats_answered",
            "Heartbeats answered.",
            beats.answered,
        );
        e.counter(
            "tcpgoon_beats_late",
            "Heartbeats answered after the next one was due.",
            beats.late,
        );
        e.counters(
            "tcpgoon_beats_stopped",
            "Served connections that stopped answering their heartbeats, by cause.",
            "cause",
            StopCause::ALL
                .iter()
                .map(|cause| (cause.key(), beats.stopped[cause.index()])),
        );
        e.histogram(
            "tcpgoon_beat_latency_seconds",
            "From a heartbeat's due time to the end of its answer.",
            &beats.latency,
        );
        e.quantiles(
            "tcpgoon_beat_latency_quantile_seconds",
            "From a heartbeat's due time to the end of its answer: the report's percentiles.",
            &beats.latency,
        );
    }
    e.end()
}

impl Exposition {
    fn end(mut self) -> Vec<u8> {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out.into_bytes()
    }
}

/// `--metrics-push`: the run's final exposition, in the Prometheus text format (the one a
/// Pushgateway takes), and its exit status, which only the end of the run knows.
pub fn render_final(stats: &Stats, labels: &str, exit_status: u8) -> Vec<u8> {
    let mut out = render(stats, labels, Format::Prometheus);
    let mut e = Exposition {
        out: String::new(),
        format: Format::Prometheus,
        target: labels.to_string(),
    };
    e.gauge(
        "tcpgoon_exit_status",
        "The run's exit status: 0 when every connection passed (see tcpgoon help run).",
        u64::from(exit_status),
    );
    out.extend_from_slice(e.out.as_bytes());
    out
}

/// `tcpgoon server --metrics`: the server's counts in `format`, as its stats line and its
/// final count line have them, under `tcpgoon_server_` names and without labels (the
/// scraper's `instance` tells one server from another).
pub fn render_server(counts: &Counts, format: Format) -> Vec<u8> {
    let mut e = Exposition {
        out: String::with_capacity(2 * 1024),
        format,
        target: String::new(),
    };
    e.counter(
        "tcpgoon_server_accepted",
        "Connections accepted (Accepted).",
        counts.accepted,
    );
    e.gauge(
        "tcpgoon_server_open",
        "Connections accepted and not yet closed, now (Open).",
        counts.open,
    );
    e.counter(
        "tcpgoon_server_closed",
        "Connections closed, by either side (Closed).",
        counts.closed,
    );
    e.counter(
        "tcpgoon_server_turned_away",
        "Connections turned away past --max-open, --reject-after, --ws-close-past or \
         --mqtt-refuse-past (Turned away).",
        counts.turned_away,
    );
    e.counter(
        "tcpgoon_server_accept_errors",
        "Accepts that failed for lack of descriptors or memory, each retried (Accept errors).",
        counts.accept_errors,
    );
    if let Some(queued) = counts.queued {
        e.gauge(
            "tcpgoon_server_queued",
            "Connections waiting in the listener's queue while the server does not accept \
             (Queued).",
            queued,
        );
    }
    if let Some(tls) = &counts.tls {
        e.gauge(
            "tcpgoon_server_tls_handshaking",
            "TLS handshakes under way now (Handshaking).",
            tls.handshaking,
        );
        e.counter(
            "tcpgoon_server_tls_handshakes",
            "TLS handshakes completed (Handshakes done).",
            tls.done,
        );
        e.counters(
            "tcpgoon_server_tls_handshake_failures",
            "TLS handshakes failed, by cause (Handshakes failed).",
            "cause",
            [
                ("alert_sent", tls.alert_sent),
                ("alert_received", tls.alert_received),
                ("closed", tls.closed),
                ("other", tls.other),
            ]
            .into_iter(),
        );
    }
    e.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn text(stats: &Stats, format: Format) -> String {
        String::from_utf8(render(stats, &labels("127.0.0.1:6379", None), format)).unwrap()
    }

    /// The series named `name` with labels `labels` (as written), and its value.
    fn value(text: &str, series: &str) -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .to_string()
    }

    #[test]
    fn a_fresh_run_renders_every_state_and_cause_at_zero() {
        let stats = Stats::new(3);
        let expected = "\
# HELP tcpgoon_connections Connections in each state now, as the report counts them.
# TYPE tcpgoon_connections gauge
tcpgoon_connections{target=\"127.0.0.1:6379\",state=\"not_initiated\"} 3
tcpgoon_connections{target=\"127.0.0.1:6379\",state=\"dialing\"} 0
tcpgoon_connections{target=\"127.0.0.1:6379\",state=\"established\"} 0
tcpgoon_connections{target=\"127.0.0.1:6379\",state=\"closed\"} 0
tcpgoon_connections{target=\"127.0.0.1:6379\",state=\"error\"} 0
# HELP tcpgoon_connections_planned Attempts the run plans, reconnects included: the sum of the states.
# TYPE tcpgoon_connections_planned gauge
tcpgoon_connections_planned{target=\"127.0.0.1:6379\"} 3
# HELP tcpgoon_established_max The most connections established at once so far.
# TYPE tcpgoon_established_max gauge
tcpgoon_established_max{target=\"127.0.0.1:6379\"} 0
# HELP tcpgoon_attempts_total Connection attempts made.
# TYPE tcpgoon_attempts_total counter
tcpgoon_attempts_total{target=\"127.0.0.1:6379\"} 0
";
        let out = text(&stats, Format::Prometheus);
        assert!(out.starts_with(expected), "{out}");
        for failure in Failure::ALL {
            let series = format!(
                "tcpgoon_failures_total{{target=\"127.0.0.1:6379\",cause=\"{}\"}}",
                failure.key()
            );
            assert_eq!(value(&out, &series), "0");
        }
        assert!(!out.contains("probe"), "{out}");
        assert!(!out.contains("beat"), "{out}");
        assert!(!out.contains("# EOF"));
        assert!(
            out.contains("\ntcpgoon_connect_latency_seconds_sum{target=\"127.0.0.1:6379\"} 0.0\n")
        );
        // Nothing recorded: the quantiles are not numbers.
        assert!(out.contains(
            "\ntcpgoon_connect_latency_quantile_seconds{target=\"127.0.0.1:6379\",quantile=\"0.99\"} NaN\n"
        ));
        assert!(out.ends_with(
            "tcpgoon_connect_latency_quantile_seconds_sum{target=\"127.0.0.1:6379\"} 0.0\n"
        ));
    }

    #[test]
    fn counts_causes_and_latencies_are_the_stats_own() {
        let mut stats = Stats::new(4);
        let target = 0;
        for micros in [80, 300, 2_500, 2_000_000] {
            stats.dialing(target);
            stats.established(target, Duration::from_micros(micros));
        }
        stats.closed(target, Closure::Reset);
        let out = text(&stats, Format::Prometheus);
        let t = "target=\"127.0.0.1:6379\"";
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_connections{{{t},state=\"established\"}}")
            ),
            "3"
        );
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_connections{{{t},state=\"closed\"}}")
            ),
            "1"
        );
        assert_eq!(value(&out, &format!("tcpgoon_attempts_total{{{t}}}")), "4");
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_closures_total{{{t},cause=\"reset\"}}")
            ),
            "1"
        );
        let bucket = |le: &str| {
            value(
                &out,
                &format!("tcpgoon_connect_latency_seconds_bucket{{{t},le=\"{le}\"}}"),
            )
        };
        // 80 µs; 300 µs; 2.5 ms exactly, on its edge; 2 s.
        assert_eq!(bucket("0.0001"), "1");
        assert_eq!(bucket("0.00025"), "1");
        assert_eq!(bucket("0.0005"), "2");
        assert_eq!(bucket("0.0025"), "3");
        assert_eq!(bucket("1.0"), "3");
        assert_eq!(bucket("2.5"), "4");
        assert_eq!(bucket("+Inf"), "4");
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_connect_latency_seconds_count{{{t}}}")
            ),
            "4"
        );
        assert_eq!(
            value(&out, &format!("tcpgoon_connect_latency_seconds_sum{{{t}}}")),
            "2.00288"
        );
    }

    #[test]
    fn the_quantiles_are_the_report_s_percentiles_in_whole_microseconds() {
        let mut stats = Stats::new(100);
        for micros in 1..=100u64 {
            stats.dialing(0);
            stats.established(0, Duration::from_micros(micros * 10));
        }
        let out = text(&stats, Format::Prometheus);
        assert!(out.contains("# TYPE tcpgoon_connect_latency_quantile_seconds summary\n"));
        let t = "target=\"127.0.0.1:6379\"";
        let json = crate::report::json::latency(&stats.connect).percentiles;
        for (_, key, q) in PERCENTILES {
            let series =
                format!("tcpgoon_connect_latency_quantile_seconds{{{t},quantile=\"{q}\"}}");
            let seconds: f64 = value(&out, &series).parse().unwrap();
            let expected = json.get(key).unwrap();
            assert_eq!((seconds * 1e6).round() as u64, expected, "{key}");
        }
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_connect_latency_quantile_seconds{{{t},quantile=\"0.5\"}}")
            ),
            "0.0005"
        );
        assert_eq!(
            value(
                &out,
                &format!("tcpgoon_connect_latency_quantile_seconds_count{{{t}}}")
            ),
            "100"
        );
    }

    #[test]
    fn the_pushed_exposition_ends_with_the_exit_status() {
        let stats = Stats::new(2);
        let out =
            String::from_utf8(render_final(&stats, &labels("127.0.0.1:6379", None), 2)).unwrap();
        assert!(out.starts_with(&text(&stats, Format::Prometheus)), "{out}");
        assert!(out.ends_with(
            "# TYPE tcpgoon_exit_status gauge\ntcpgoon_exit_status{target=\"127.0.0.1:6379\"} 2\n"
        ));
    }

    #[test]
    fn the_server_s_counts_are_named_for_it_and_unlabelled() {
        use crate::engine::server::TlsCounts;
        let counts = Counts {
            accepted: 7,
            open: 3,
            closed: 4,
            accept_errors: 1,
            turned_away: 2,
            queued: Some(5),
            tls: Some(TlsCounts {
                handshaking: 1,
                done: 2,
                alert_sent: 1,
                alert_received: 0,
                closed: 2,
                other: 0,
            }),
        };
        let out = String::from_utf8(render_server(&counts, Format::Prometheus)).unwrap();
        for (series, n) in [
            ("tcpgoon_server_accepted_total", "7"),
            ("tcpgoon_server_open", "3"),
            ("tcpgoon_server_closed_total", "4"),
            ("tcpgoon_server_turned_away_total", "2"),
            ("tcpgoon_server_accept_errors_total", "1"),
            ("tcpgoon_server_queued", "5"),
            ("tcpgoon_server_tls_handshaking", "1"),
            ("tcpgoon_server_tls_handshakes_total", "2"),
            (
                "tcpgoon_server_tls_handshake_failures_total{cause=\"alert_sent\"}",
                "1",
            ),
            (
                "tcpgoon_server_tls_handshake_failures_total{cause=\"closed\"}",
                "2",
            ),
        ] {
            assert_eq!(value(&out, series), n, "{series}\n{out}");
        }
        let plain = Counts {
            queued: None,
            tls: None,
            ..counts
        };
        let out = String::from_utf8(render_server(&plain, Format::OpenMetrics)).unwrap();
        assert!(!out.contains("queued") && !out.contains("tls"), "{out}");
        assert!(
            out.contains("# TYPE tcpgoon_server_accepted counter\n"),
            "{out}"
        );
        assert!(out.ends_with("\n# EOF\n"), "{out}");
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let mut stats = Stats::new(1);
        stats.probe_each();
        stats.beat_each();
        let out = text(&stats, Format::OpenMetrics);
        assert!(out.contains("# TYPE tcpgoon_attempts counter\n"), "{out}");
        assert!(out.contains("\ntcpgoon_attempts_total{"), "{out}");
        assert!(
            out.contains("# UNIT tcpgoon_beat_latency_seconds seconds\n"),
            "{out}"
        );
        assert!(out.contains("tcpgoon_probe_outcomes_total{target=\"127.0.0.1:6379\",outcome=\"closed_before_answer\"} 0\n"));
        assert!(out.contains(
            "tcpgoon_beats_stopped_total{target=\"127.0.0.1:6379\",cause=\"timeout\"} 0\n"
        ));
        assert!(out.ends_with("\n# EOF\n"), "{out}");
        let prometheus = text(&stats, Format::Prometheus);
        assert!(prometheus.contains("# TYPE tcpgoon_attempts_total counter\n"));
        assert!(!prometheus.contains("# UNIT"));
    }

    #[test]
    fn seconds_and_labels_are_written_plainly() {
        assert_eq!(seconds(0), "0.0");
        assert_eq!(seconds(123), "0.000000123");
        assert_eq!(seconds(2_500_000_000), "2.5");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
