//! Reading a finished run: its exit code and output, and the report's lines (state counts,
//! causes, probe outcomes, durations) parsed back into numbers.

use std::time::Duration;

/// A finished run of the binary.
#[derive(Debug)]
pub struct Output {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The first stdout line starting with `prefix`.
    pub fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{}", self.stdout))
    }

    /// The final report's state counts: the `Total:` line right after the report header.
    pub fn final_counts(&self) -> Counts {
        let mut lines = self.stdout.lines();
        lines
            .find(|l| l.ends_with(" tcp test statistics ---"))
            .unwrap_or_else(|| panic!("no final report in:\n{}", self.stdout));
        Counts::parse(lines.next().expect("a Total line after the header"))
    }

    /// The count of `cause` on the `Errors by cause:` line, which lists only the causes
    /// that happened (`none` when none did): 0 for a known cause it does not list.
    pub fn failures(&self, cause: &str) -> u64 {
        assert!(FAILURE_CAUSES.contains(&cause), "no cause {cause:?}");
        let line = self.line("Errors by cause: ");
        if line == "Errors by cause: none" {
            return 0;
        }
        let (_, list) = line.split_once(": ").expect("a cause list");
        for item in list.split(", ") {
            let (label, n) = item.rsplit_once(' ').expect("a cause and its count");
            assert!(FAILURE_CAUSES.contains(&label), "unknown cause in {line:?}");
            assert!(
                n.parse::<u64>().is_ok_and(|n| n > 0),
                "a zero listed: {line:?}"
            );
        }
        list.split(", ")
            .find_map(|item| item.strip_prefix(cause)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    /// The verdict: the report's last line.
    pub fn verdict(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The line before the verdict: `limit`'s finding.
    pub fn before_verdict(&self) -> &str {
        let lines: Vec<&str> = self.stdout.lines().collect();
        lines.len().checked_sub(2).map_or("", |i| lines[i])
    }

    /// The count of `cause` on the `Closed by cause:` line.
    pub fn closures(&self, cause: &str) -> u64 {
        cause_count(self.line("Closed by cause: "), cause)
    }

    /// The `Probe (<name>): served N, rejected N, unserved N, closed before answering N`
    /// counts.
    pub fn probe_counts(&self) -> [u64; 4] {
        let line = self.line("Probe (");
        let (_, list) = line.split_once("): ").expect("a probe line");
        let mut counts = [0; 4];
        for (i, label) in ["served", "rejected", "unserved", "closed before answering"]
            .iter()
            .enumerate()
        {
            counts[i] = list
                .split(", ")
                .find_map(|item| item.strip_prefix(label)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {label} in {line:?}"));
        }
        counts
    }

    /// The `Heartbeats:` line's counts, `[due, sent, answered, late, stopped answering]`;
    /// the beats adding up (due = sent, and each sent beat answered or its connection
    /// stopped, but for those out when the run ended, which it waits for: none).
    pub fn beat_counts(&self) -> [u64; 5] {
        let line = self.line("Heartbeats: ");
        let number = |label: &str| -> u64 {
            let at = line
                .find(&format!("{label} "))
                .unwrap_or_else(|| panic!("no {label} in {line}"));
            line[at + label.len() + 1..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count after {label} in {line}"))
        };
        let counts = [
            number("due"),
            number("sent"),
            number("answered"),
            number("late"),
            number("stopped answering"),
        ];
        let [due, sent, answered, _, stopped] = counts;
        assert_eq!(due, sent, "{line}");
        assert_eq!(sent, answered + stopped, "{line}");
        counts
    }

    /// Every count adds up: states to the total, probe outcomes to the connections
    /// established.
    pub fn probe_adds_up(&self) {
        let counts = self.final_counts();
        assert!(counts.adds_up(), "{}", self.stdout);
        let outcomes: u64 = self.probe_counts().iter().sum();
        assert_eq!(
            outcomes,
            counts.established + counts.closed,
            "{}",
            self.stdout
        );
    }
}

/// The labels of the `Errors by cause:` line, in its order.
pub const FAILURE_CAUSES: [&str; 13] = [
    "refused",
    "timed out",
    "reset",
    "unreachable",
    "no free local port",
    "out of file descriptors",
    "out of socket buffers",
    "other",
    "TLS alert",
    "certificate rejected",
    "protocol error",
    "closed during handshake",
    "handshake timed out",
];

pub fn cause_count(line: &str, cause: &str) -> u64 {
    let (_, list) = line.split_once(": ").expect("a cause list");
    list.split(", ")
        .find_map(|item| item.strip_prefix(cause)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no cause {cause:?} in {line:?}"))
}

/// `Total: 4, Dialing: 1, Established: 1, Closed: 0, Error: 0, NotInitiated: 2`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub dialing: u64,
    pub established: u64,
    pub closed: u64,
    pub error: u64,
    pub not_initiated: u64,
}

impl Counts {
    pub fn parse(line: &str) -> Counts {
        let values: Vec<u64> = line
            .split(", ")
            .map(|part| {
                part.split_once(": ")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or_else(|| panic!("not a Total line: {line:?}"))
            })
            .collect();
        let [total, dialing, established, closed, error, not_initiated] = values[..] else {
            panic!("not a Total line: {line:?}");
        };
        assert!(line.starts_with("Total: "), "not a Total line: {line:?}");
        Counts {
            total,
            dialing,
            established,
            closed,
            error,
            not_initiated,
        }
    }

    pub fn adds_up(&self) -> bool {
        self.dialing + self.established + self.closed + self.error + self.not_initiated
            == self.total
    }
}

/// Reads a duration as the report prints it (Go style): `1.5s`, `300.2ms`, `87µs`, `2m3s`.
pub fn go_duration(text: &str) -> Duration {
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or_else(|| panic!("no unit in {text:?}"));
        let (number, tail) = rest.split_at(split);
        let number: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad number in {text:?}"));
        let (scale, tail) = [("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("h", 3600.0)]
            .into_iter()
            .chain([("m", 60.0), ("s", 1.0)])
            .find_map(|(unit, scale)| tail.strip_prefix(unit).map(|t| (scale, t)))
            .unwrap_or_else(|| panic!("unknown unit in {text:?}"));
        total += Duration::from_secs_f64(number * scale);
        rest = tail;
    }
    total
}

/// The min and max of a `min/avg/max/dev = a/b/c/d` line.
pub fn min_max(line: &str) -> (Duration, Duration) {
    let values: Vec<Duration> = line
        .rsplit(" = ")
        .next()
        .expect("a min/avg/max/dev line")
        .split('/')
        .map(go_duration)
        .collect();
    assert_eq!(values.len(), 4, "{line}");
    (values[0], values[2])
}
