//! The flag table: every option of every subcommand, declared once, with its names, the
//! placeholders of its values, which subcommands take it and in which section of their help,
//! its help text and default, whether it repeats, and what completes its value. Made from
//! it: the options blocks of the help texts (laid out here, placed by `help.rs`), the
//! parser's lists of options that take a value, flags, options with two values and
//! repeatable options (`parse`), and the options the completion scripts offer (`docs.rs`).
//! Adding a flag is an entry here and the code that reads its value.
//!
//! An entry is an option as a subcommand's help shows it. An option that several subcommands
//! take (`--connections` in run and in limit) is a const below the table, its names,
//! placeholders, repeats and completions said once, and each subcommand's entry adds its own
//! words to it (`..CONNECTIONS`); a test checks that entries of one option agree. Entries
//! stand subcommand by subcommand, in the order their help shows them, section by section;
//! `-h, --help`, last, is on every one.
//!
//! The layout is the one the help texts have always had: an entry's help lines are given
//! as they are wrapped, from the subcommand's description column, and its `[default: …]`
//! ends at column 78 on the last of them when it fits there, else on a line of its own (a
//! few end elsewhere, or stand on their own line at the description column: [`DefaultText`]
//! says where).

use crate::cli::values::Progress;
use crate::engine::probe::ProbeKind;

/// A subcommand with options of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Run,
    Limit,
    Server,
    Merge,
    Plot,
}

use Sub::{Limit, Merge, Plot, Run, Server};

impl Sub {
    /// In the order `tcpgoon man` shows their help.
    pub const ALL: [Sub; 5] = [Run, Limit, Server, Merge, Plot];

    pub fn name(self) -> &'static str {
        match self {
            Run => "run",
            Limit => "limit",
            Server => "server",
            Merge => "merge",
            Plot => "plot",
        }
    }

    pub fn named(name: &str) -> Option<Sub> {
        Sub::ALL.into_iter().find(|sub| sub.name() == name)
    }

    /// Where the descriptions of its help's options start.
    pub fn column(self) -> usize {
        match self {
            Run | Limit => 28,
            Server => 29,
            Merge => 15,
            Plot => 24,
        }
    }

    /// Its entries, in the table's order.
    pub fn flags(self) -> impl Iterator<Item = &'static Flag> {
        FLAGS.iter().filter(move |flag| flag.on.contains(&self))
    }

    /// The spellings of its options that take one value: `-c`, `--connections`, ….
    pub fn value_options(self) -> Vec<&'static str> {
        self.spellings(|flag| flag.values.len() == 1)
    }

    /// The spellings of its flags, the options that take no value.
    pub fn switches(self) -> Vec<&'static str> {
        self.spellings(|flag| flag.values.is_empty())
    }

    /// The spellings of its options that take two values (`--reject-after K TEXT`).
    pub fn pair_options(self) -> Vec<&'static str> {
        self.spellings(|flag| flag.values.len() == 2)
    }

    /// The names of its options that add up when repeated (`--source`).
    pub fn repeatable(self) -> Vec<&'static str> {
        self.flags()
            .filter(|flag| flag.repeats)
            .map(Flag::name)
            .collect()
    }

    fn spellings(self, which: fn(&Flag) -> bool) -> Vec<&'static str> {
        self.flags()
            .filter(|flag| which(flag))
            .flat_map(Flag::spellings)
            .collect()
    }

    /// The rows its help lists the options of `section` in: an entry, with the entries
    /// joined to it.
    pub fn rows(self, section: Section) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for flag in self.flags().filter(|flag| flag.section == section) {
            match rows.last_mut() {
                Some(row) if flag.joined => row.names += &format!(", {}", flag.synopsis()),
                _ => rows.push(Row {
                    names: flag.synopsis(),
                    indent: if flag.short.is_some() { 2 } else { 6 },
                    help: flag.help,
                    default: flag.default,
                    column: self.column(),
                }),
            }
        }
        rows
    }

    /// The lines of its help that list the options of `section`, laid out.
    pub fn options_block(self, section: Section) -> String {
        let lines = self.rows(section).iter().flat_map(Row::lines).collect();
        lines_of(lines)
    }
}

/// One entry of a help's options block: the names of its options, their description from
/// `column` (beside the names when they leave a space before it, else below them), then its
/// default.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `-c, --connections <N>`; `-4, -6`.
    pub names: String,
    /// Where the names start: 2 with a short spelling first, else 6 (under the long ones).
    pub indent: usize,
    pub help: &'static [&'static str],
    pub default: Option<DefaultText>,
    pub column: usize,
}

impl Row {
    /// The row as the help lays it out, each line without its newline.
    pub fn lines(&self) -> Vec<String> {
        let column = self.column;
        let names = format!("{:indent$}{}", "", self.names, indent = self.indent);
        let mut lines: Vec<String> = Vec::new();
        let mut help = self.help.iter();
        // Two spaces at least between the names and their description, which is how a
        // reader (and `cli::parse`'s tests) tells them apart.
        if names.len() + 1 < column {
            let first = help.next().copied().unwrap_or("");
            lines.push(format!("{names:column$}{first}").trim_end().to_string());
        } else {
            lines.push(names);
        }
        lines.extend(help.map(|line| format!("{:column$}{line}", "")));
        let Some(default) = self.default else {
            return lines;
        };
        let text = format!("[default: {}]", default.text);
        match default.ends_at {
            None => lines.push(format!("{:column$}{text}", "")),
            Some(end) => {
                let start = end - text.len();
                let last = lines.last_mut().expect("a row has a line");
                if last.len() < start {
                    *last = format!("{last:start$}{text}");
                } else {
                    lines.push(format!("{:start$}{text}", ""));
                }
            }
        }
        lines
    }
}

impl Row {
    /// Its description after the names, line by line, each with how far past the column
    /// it starts (a list inside a description, a default on a line of its own).
    pub fn description(&self) -> Vec<(usize, String)> {
        let names_alone = self.indent + self.names.len() >= self.column;
        let lines = self.lines();
        let lines = lines.iter().skip(usize::from(names_alone));
        lines
            .map(|line| {
                let text = line.get(self.column..).unwrap_or_default();
                let past = text.len() - text.trim_start().len();
                (past, text.trim().to_string())
            })
            .collect()
    }
}

fn lines_of(lines: Vec<String>) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Every subcommand: `-h, --help` is on each.
const ALL: &[Sub] = &Sub::ALL;

/// A block of a subcommand's help that lists options; its text (`help.rs`) has a line
/// [`Section::marker`] where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Options,
    /// `Past one machine`: a run in shards.
    Shard,
    /// `Served, not just established`: probes.
    Probe,
    Tls,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Options,
        Section::Shard,
        Section::Probe,
        Section::Tls,
    ];

    pub fn marker(self) -> &'static str {
        match self {
            Section::Options => "{options}",
            Section::Shard => "{shard}",
            Section::Probe => "{probe}",
            Section::Tls => "{tls}",
        }
    }
}

/// What completes an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing to suggest: a count, a duration, an address.
    Any,
    File,
    Choices(&'static [&'static str]),
}

/// A default as the help shows it, `[default: TEXT]`, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultText {
    pub text: &'static str,
    /// The column it ends at: on the help's last line when it fits there after a space,
    /// else on a line of its own. `None`: on a line of its own at the description column.
    pub ends_at: Option<usize>,
}

impl DefaultText {
    /// Ending at column 78, as most do.
    const fn right(text: &'static str) -> DefaultText {
        DefaultText::ending_at(text, 78)
    }

    const fn ending_at(text: &'static str, column: usize) -> DefaultText {
        DefaultText {
            text,
            ends_at: Some(column),
        }
    }

    const fn below(text: &'static str) -> DefaultText {
        DefaultText {
            text,
            ends_at: None,
        }
    }
}

/// One option of the subcommands `on`.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// `-c`.
    pub short: Option<&'static str>,
    /// `--connections`; `None` for an option with a short spelling only (`-4`).
    pub long: Option<&'static str>,
    /// The placeholders of its values, `<N>` as `N`: none for a flag, two for
    /// `--reject-after <K> <TEXT>`.
    pub values: &'static [&'static str],
    pub on: &'static [Sub],
    pub section: Section,
    /// Its description, line by line as the help wraps it; empty for a joined entry.
    pub help: &'static [&'static str],
    pub default: Option<DefaultText>,
    /// Shown on the line of the entry above, after a comma, whose description is for both
    /// (`-4, -6`; limit's `--probe <KIND>, --send <BYTES>, …`).
    pub joined: bool,
    /// Each occurrence adds to a list, instead of replacing the value given before.
    pub repeats: bool,
    pub kind: Kind,
}

impl Flag {
    /// What an entry is unless it says otherwise.
    const NONE: Flag = Flag {
        short: None,
        long: None,
        values: &[],
        on: &[],
        section: Section::Options,
        help: &[],
        default: None,
        joined: false,
        repeats: false,
        kind: Kind::Any,
    };

    /// `-c`, `--connections`: short first.
    pub fn spellings(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.short.into_iter().chain(self.long)
    }

    /// Its name in messages and the parser's lists: the long spelling, else the short one.
    pub fn name(&self) -> &'static str {
        self.long.or(self.short).expect("an entry has a name")
    }

    /// `-c, --connections <N>`.
    pub fn synopsis(&self) -> String {
        let mut text = self.spellings().collect::<Vec<_>>().join(", ");
        for value in self.values {
            text += &format!(" <{value}>");
        }
        text
    }
}

/// The table, subcommand by subcommand, each in the order its help shows its options.
pub const FLAGS: &[Flag] = &[
    // run
    Flag {
        on: &[Run],
        help: &["connections to open"],
        default: Some(DefaultText::ending_at("100", 77)),
        ..CONNECTIONS
    },
    Flag {
        short: Some("-s"),
        long: Some("--sleep"),
        values: &["DURATION"],
        on: &[Run],
        help: &["pause between connection attempts"],
        default: Some(DefaultText::right("10ms")),
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        help: &["give up on a connection attempt after this"],
        default: Some(DefaultText::right("5000ms")),
        ..DIAL_TIMEOUT
    },
    Flag {
        on: &[Run],
        help: &["between live stats lines; 0: one, at start"],
        default: Some(DefaultText::right("1s")),
        ..INTERVAL
    },
    Flag {
        short: Some("-y"),
        long: Some("--assume-yes"),
        on: &[Run],
        help: &["do not ask for confirmation"],
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        ..DEBUG
    },
    Flag {
        long: Some("--progress"),
        values: &["MODE"],
        kind: Kind::Choices(&Progress::NAMES),
        on: &[Run],
        help: &[
            "auto: a status line on stderr when it is a",
            "terminal and stdout is not a pipe; `Total:` lines",
            "otherwise; bar or lines force one",
        ],
        default: Some(DefaultText::ending_at("auto", 77)),
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        help: &[
            "stdout carries JSON Lines only: a tick per",
            "interval, a summary",
        ],
        ..JSON
    },
    Flag {
        on: &[Run],
        help: &[
            "also write the JSON summary to FILE, the report",
            "still on stdout; FILE is checked before dialing",
        ],
        ..SUMMARY
    },
    Flag {
        long: Some("--hdr-log"),
        values: &["FILE"],
        kind: Kind::File,
        on: &[Run],
        help: &["write connect latencies as an HdrHistogram", "interval log"],
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        help: &[
            "answer GET /metrics on IP:PORT with the run's",
            "counts and latency histograms, for Prometheus to",
            "scrape; served by the run's own loop",
        ],
        ..METRICS
    },
    Flag {
        on: &[Run],
        help: &[
            "with --metrics: after the report, keep answering",
            "scrapes this long, so the last sees the final",
            "counts; a signal ends it",
        ],
        ..METRICS_LINGER
    },
    Flag {
        on: &[Run],
        help: &[
            "after the report, PUT the final metrics and the",
            "exit status to a Prometheus Pushgateway at URL",
            "(http://HOST:PORT/metrics/job/JOB[/LABEL/VALUE]),",
            "within 5s; a failed push is one warning, the exit",
            "status stays the run's",
        ],
        ..METRICS_PUSH
    },
    Flag {
        on: &[Run],
        help: &[
            "fail (exit 3) when connect latency statistic P",
            "exceeds DUR: p50, p99.9, max or mean; repeatable;",
            "e.g. p99=20ms; rtt:p99=1ms bounds the kernel's",
            "handshake RTT instead, served:p99=20ms time to",
            "served (with a probe)",
        ],
        ..MAX_LATENCY
    },
    Flag {
        long: Some("--min-established"),
        values: &["N|PCT%"],
        on: &[Run],
        help: &[
            "pass when at least N (or PCT% of) connections are",
            "established, tolerating the rest failing; more",
            "than 0",
        ],
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        help: &[
            "after the last attempt, keep the connections open",
            "and read from them this long",
        ],
        default: Some(DefaultText::ending_at("0", 76)),
        ..HOLD
    },
    Flag {
        on: &[Run],
        help: &[
            "after the last outcome, keep the connections open",
            "and read this long before the verdict, so a",
            "server that accepts and then refuses is caught; a",
            "hold is never shorter; 0 ends at once",
        ],
        default: Some(DefaultText::right("50ms")),
        ..SETTLE
    },
    Flag {
        long: Some("--reconnect"),
        on: &[Run],
        help: &[
            "replace each connection the peer closes with a",
            "new attempt, during the run and the hold, to keep",
            "N up; replacements keep to the --sleep rate,",
            "sharing it with the schedule",
        ],
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        help: &[
            "bind to these local addresses, in turn: a",
            "comma-separated list of addresses and CIDR blocks",
            "(127.0.0.2,127.0.0.0/28; a block gives its host",
            "addresses); each source gets its own ephemeral",
            "ports toward each target; repeatable, adding up",
        ],
        ..SOURCE
    },
    Flag {
        on: &[Run],
        help: &[
            "spread attempts over every address <host>",
            "resolves to, not only the first",
        ],
        ..ALL_ADDRESSES
    },
    Flag { on: &[Run], ..V4 },
    Flag { on: &[Run], ..V6 },
    Flag {
        long: Some("--shard"),
        values: &["I/N"],
        on: &[Run],
        section: Section::Shard,
        help: &[
            "make attempts I, I+N, I+2N, ... of the schedule",
            "(0 <= I < N <= -c): N processes, I = 0..N-1, make",
            "the run one would; -c is the total, -s its spacing",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--workers"),
        values: &["N"],
        on: &[Run],
        section: Section::Shard,
        help: &[
            "make the run with N processes of this binary,",
            "each a shard of the schedule, one start, one",
            "report: past one core and one open-files limit;",
            "auto: enough for the cores and for -c",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--start-at"),
        values: &["TIME"],
        on: &[Run],
        section: Section::Shard,
        help: &[
            "start the schedule at this wall-clock time:",
            "RFC 3339 (2026-12-02T01:30:00Z) or @unix-seconds;",
            "a time past is bad input",
        ],
        ..Flag::NONE
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "ask each connection for proof that the",
            "application took it:",
            "  greeting   the server speaks first: any byte",
            "  redis      send PING, expect +PONG",
            "  memcached  send version, expect VERSION",
            "  http       send HEAD / with the Host header,",
            "             expect HTTP/; a 5xx or 429 status",
            "             is a rejection, another 4xx the",
            "             application answering: served",
            "  postgres   a startup message for user",
            "             postgres (postgres:USER for",
            "             another role), expect an",
            "             authentication request, or",
            "             with trust the session",
            "             ready; an error is a",
            "             rejection",
            "  ssh, smtp  expect SSH- or 220",
            "  ws         WebSocket: GET / (ws:PATH for",
            "             another path) with Upgrade;",
            "             101 with the right accept",
            "             serves, another status is a",
            "             rejection; --heartbeat pings",
            "  mqtt       MQTT: CONNECT, a client id of its",
            "             own per connection; CONNACK 0",
            "             serves, a refusal is a rejection",
            "             named by its code; --heartbeat",
            "             sends PINGREQ",
            "  mqtt-ws    MQTT over WebSocket: the upgrade",
            "             (mqtt-ws:PATH, default /mqtt,",
            "             subprotocol mqtt), then as mqtt in",
            "             binary frames",
            "  h2         HTTP/2 over --tls, ALPN h2: the",
            "             preface and SETTINGS; served when",
            "             the server's SETTINGS come and it",
            "             acks ours; GOAWAY or another ALPN",
            "             is a rejection; --heartbeat PINGs",
            "  h2c        the same over plain TCP (prior",
            "             knowledge)",
        ],
        ..PROBE
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "a probe of your own: write these once established",
            "(escapes: \\r \\n \\t \\0 \\\\ \\xHH); with --probe ws, a",
            "text message once upgraded",
        ],
        ..SEND
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "served when what arrives begins with these (any",
            "byte without it); anything else is a rejection;",
            "with --probe ws, the first message back",
        ],
        ..EXPECT
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &["established but not answered this long: unserved"],
        default: Some(DefaultText::ending_at("the dial timeout", 77)),
        ..PROBE_TIMEOUT
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "once served, repeat the probe's request every DUR",
            "on each connection for as long as it is held",
            "(spread over DUR, each due on a fixed schedule)",
            "and judge each answer; its latency runs from the",
            "time it was due. Not with greeting, ssh or smtp:",
            "they have nothing to send",
        ],
        ..HEARTBEAT
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "a beat not answered this long after it was due, a",
            "wrong answer, or a close with a beat out: the",
            "connection stopped answering, and is served no",
            "more",
        ],
        default: Some(DefaultText::ending_at("the probe timeout", 77)),
        ..HEARTBEAT_TIMEOUT
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "with --probe ws: add this header to the",
            "handshake: Authorization, Cookie, Origin;",
            "repeatable",
        ],
        ..HEADER
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &["with --probe ws: ask for this subprotocol"],
        ..WS_PROTOCOL
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "with --probe mqtt: the protocol version, 3.1.1",
            "or 5; the keep-alive asked for is --heartbeat",
            "in seconds, rounded up (none without one)",
        ],
        default: Some(DefaultText::right("3.1.1")),
        ..MQTT_VERSION
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "with --probe mqtt: each connection's client id is",
            "PREFIX and its attempt's number (at most 64",
            "letters, digits, - _ and .)",
        ],
        default: Some(DefaultText::right("tcpgoon-<process id>-")),
        ..MQTT_CLIENT_ID
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        help: &[
            "with --probe mqtt: the user name and password the",
            "CONNECT carries",
        ],
        ..MQTT_USER
    },
    Flag {
        on: &[Run],
        section: Section::Probe,
        joined: true,
        ..MQTT_PASSWORD
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &[
            "a TLS handshake after each TCP connect; a",
            "--probe goes over TLS. A connection is Dialing",
            "until its handshake is done",
        ],
        ..TLS
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &["the server name sent, and checked in the certificate"],
        default: Some(DefaultText::below(
            "<host> when it is a name; none for an IP",
        )),
        ..SNI
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &["do not verify the server's certificate"],
        ..INSECURE
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &[
            "trust the CA certificates in this PEM file",
            "instead of the system's; a server whose own",
            "certificate is in it is trusted as curl does;",
            "a regular file of at most 16 MiB",
        ],
        ..CA
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &["offer this ALPN protocol (repeatable): h2, http/1.1"],
        ..ALPN
    },
    Flag {
        on: &[Run],
        section: Section::Tls,
        help: &["1.2 or 1.3 only"],
        default: Some(DefaultText::ending_at("both", 75)),
        ..TLS_VERSION
    },
    // limit
    Flag {
        short: Some("-r"),
        long: Some("--rate"),
        values: &["N"],
        on: &[Limit],
        help: &["connection attempts per second"],
        default: Some(DefaultText::right("1000")),
        ..Flag::NONE
    },
    Flag {
        on: &[Limit],
        help: &["the most to open"],
        default: Some(DefaultText::right("what the open-files limit allows")),
        ..CONNECTIONS
    },
    Flag {
        on: &[Limit],
        help: &["an attempt not established after this has failed"],
        default: Some(DefaultText::right("1s")),
        ..DIAL_TIMEOUT
    },
    Flag {
        on: &[Limit],
        help: &["once the maximum is open, hold it this long"],
        default: Some(DefaultText::right("5s")),
        ..HOLD
    },
    Flag {
        on: &[Limit],
        help: &[
            "after the first loss, keep reading this long",
            "before counting",
        ],
        default: Some(DefaultText::right("50ms")),
        ..SETTLE
    },
    Flag {
        on: &[Limit],
        help: &["between live stats lines; 0 turns them off"],
        default: Some(DefaultText::right("1s")),
        ..INTERVAL
    },
    Flag {
        on: &[Limit],
        ..DEBUG
    },
    Flag {
        on: &[Limit],
        help: &["write the JSON summary to FILE, as run does"],
        ..SUMMARY
    },
    Flag {
        on: &[Limit],
        help: &[
            "JSON Lines only on stdout: ticks, then a summary",
            "with the finding in `limit` (for `tcpgoon plot`)",
        ],
        ..JSON
    },
    Flag {
        on: &[Limit],
        help: &["answer GET /metrics on ADDR:PORT, as run does"],
        ..METRICS
    },
    Flag {
        on: &[Limit],
        help: &[
            "with --metrics: after the report, keep answering",
            "scrapes this long, so the last sees the final",
            "counts; a signal ends it",
        ],
        ..METRICS_LINGER
    },
    Flag {
        on: &[Limit],
        help: &["push the final metrics to a Pushgateway, as run does"],
        ..METRICS_PUSH
    },
    Flag {
        on: &[Limit],
        help: &[
            "bind to these local addresses, in turn (see",
            "`tcpgoon help run`)",
        ],
        ..SOURCE
    },
    Flag {
        on: &[Limit],
        help: &["spread attempts over every address <host>", "resolves to"],
        ..ALL_ADDRESSES
    },
    Flag { on: &[Limit], ..V4 },
    Flag { on: &[Limit], ..V6 },
    Flag {
        on: &[Limit],
        help: &[
            "ask each connection for an answer (see `tcpgoon",
            "help run`): the first not served is the loss, and",
            "the count is of connections served and held",
        ],
        ..PROBE
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..SEND
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..EXPECT
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..PROBE_TIMEOUT
    },
    Flag {
        on: &[Limit],
        help: &[
            "beats on each served connection, as for run: one",
            "that stops answering is the loss",
        ],
        ..HEARTBEAT
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..HEARTBEAT_TIMEOUT
    },
    Flag {
        on: &[Limit],
        help: &["the WebSocket handshake's, as for run"],
        ..HEADER
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..WS_PROTOCOL
    },
    Flag {
        on: &[Limit],
        help: &["the MQTT CONNECT's, as for run"],
        ..MQTT_VERSION
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..MQTT_CLIENT_ID
    },
    Flag {
        on: &[Limit],
        help: &["the MQTT CONNECT's credentials, as for run"],
        ..MQTT_USER
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..MQTT_PASSWORD
    },
    Flag {
        on: &[Limit],
        help: &[
            "find the knee: the most held before beat latency",
            "statistic P over a period's beats exceeds DUR",
            "(beat:p99=50ms or beat:max=1s; repeatable; with",
            "--heartbeat); the search goes on to the first loss",
        ],
        ..MAX_LATENCY
    },
    Flag {
        on: &[Limit],
        help: &[
            "a TLS handshake on each connection (see",
            "`tcpgoon help run`): a failed one is the loss",
        ],
        ..TLS
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..INSECURE
    },
    Flag {
        on: &[Limit],
        help: &["the handshake's options, as for run"],
        ..SNI
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..CA
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..ALPN
    },
    Flag {
        on: &[Limit],
        joined: true,
        ..TLS_VERSION
    },
    // server
    Flag {
        short: Some("-p"),
        long: Some("--port"),
        values: &["PORT"],
        on: &[Server],
        help: &["port to listen on; 0 picks a free one"],
        default: Some(DefaultText::below("54321")),
        ..Flag::NONE
    },
    Flag {
        short: Some("-b"),
        long: Some("--bind"),
        values: &["ADDR"],
        on: &[Server],
        help: &["address to listen on"],
        default: Some(DefaultText::ending_at("127.0.0.1", 76)),
        ..Flag::NONE
    },
    Flag {
        short: Some("-m"),
        long: Some("--maxconnections"),
        values: &["N"],
        on: &[Server],
        help: &["stop after accepting N connections; 0 = no", "limit"],
        default: Some(DefaultText::ending_at("10; 0 with --accept-limit", 75)),
        ..Flag::NONE
    },
    Flag {
        short: Some("-d"),
        long: Some("--duration"),
        values: &["DUR"],
        on: &[Server],
        help: &["stop after this long; 0 = no limit"],
        default: Some(DefaultText::below("30s")),
        ..Flag::NONE
    },
    Flag {
        long: Some("--backlog"),
        values: &["N"],
        on: &[Server],
        help: &["listen backlog"],
        default: Some(DefaultText::ending_at("1024", 75)),
        ..Flag::NONE
    },
    Flag {
        long: Some("--no-accept"),
        on: &[Server],
        help: &[
            "listen but never accept (the accept queue",
            "fills, new SYNs are dropped, clients time out)",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--accept-limit"),
        values: &["K"],
        on: &[Server],
        help: &[
            "accept K connections, then never again: later",
            "ones wait in the accept queue, their handshakes",
            "done, as at a server out of file descriptors",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--close-after"),
        values: &["DUR"],
        on: &[Server],
        help: &["close each accepted connection after this long"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--reset"),
        on: &[Server],
        help: &["close with a reset (SO_LINGER 0), not a FIN"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--greeting"),
        values: &["TEXT"],
        on: &[Server],
        help: &["write TEXT to each accepted connection"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--echo"),
        on: &[Server],
        help: &[
            "write back what arrives on each connection",
            "(after the greeting); while 64 KiB wait for the",
            "peer to read them, stop reading it",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--h2"),
        on: &[Server],
        help: &[
            "speak HTTP/2's opening exchange: SETTINGS first,",
            "then ack each SETTINGS and PING (h2c; over --tls,",
            "ALPN h2); past --max-open K, SETTINGS and a GOAWAY",
            "ENHANCE_YOUR_CALM, then close",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--slow-after"),
        values: &["K"],
        on: &[Server],
        help: &[
            "with --echo or --h2: each answer waits --slow-by",
            "for every connection open past K when it arrived",
            "(a server that slows down as connections pile up)",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--slow-by"),
        values: &["DUR"],
        on: &[Server],
        help: &["the wait per connection past --slow-after"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--mute-after"),
        values: &["DUR"],
        on: &[Server],
        help: &[
            "with --echo or --h2: from this long after the",
            "start, read what arrives and answer nothing;",
            "sockets stay open",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--ws"),
        on: &[Server],
        help: &[
            "serve WebSocket: upgrade each connection (400 to",
            "a request without a Sec-WebSocket-Key), answer",
            "its pings, echo its messages, return its close;",
            "--slow-* and --mute-after shape the answers",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--ws-wrong-accept"),
        on: &[Server],
        help: &["with --ws: upgrade with the wrong accept"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--ws-close-past"),
        values: &["K"],
        on: &[Server],
        help: &[
            "with --ws: upgrade each connection beyond K open",
            "at once, then close it with 1013 (try again",
            "later)",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--mqtt"),
        on: &[Server],
        help: &[
            "serve MQTT: answer each CONNECT with a CONNACK",
            "in its version (3.1.1 or 5), each PINGREQ with",
            "a PINGRESP; --slow-* and --mute-after shape the",
            "answers",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--mqtt-refuse-past"),
        values: &["K"],
        on: &[Server],
        help: &[
            "with --mqtt: refuse each connection beyond K",
            "open at once in its CONNACK (3.1.1: server",
            "unavailable; 5: quota exceeded), then close it",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--max-open"),
        values: &["N"],
        on: &[Server],
        help: &[
            "hold at most N connections open at once; close",
            "each one accepted beyond them at once (with",
            "--reset, by a reset); 0 closes every connection",
            "as it is accepted",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--reject-after"),
        values: &["K", "TEXT"],
        on: &[Server],
        help: &[
            "as --max-open K, but write TEXT to each",
            "connection beyond the K open before closing it",
            "(as redis-server does past its maxclients)",
        ],
        ..Flag::NONE
    },
    Flag {
        on: &[Server],
        help: &["between stats lines; 0 turns them off"],
        default: Some(DefaultText::below("1s")),
        ..INTERVAL
    },
    Flag {
        long: Some("--reuse-port"),
        on: &[Server],
        help: &[
            "share the port with other servers (SO_REUSEPORT):",
            "the kernel spreads connections over them, so a",
            "group holds more than one open-files limit",
        ],
        ..Flag::NONE
    },
    Flag {
        long: Some("--workers"),
        values: &["N"],
        on: &[Server],
        help: &[
            "serve from N processes on the one port (implies",
            "--reuse-port), each with its own open-files",
            "limit; auto: one per core, or as many as -m",
            "needs; the caps are split over them (below)",
        ],
        ..Flag::NONE
    },
    Flag {
        on: &[Server],
        help: &[
            "serve TLS (1.2 and 1.3) on every connection;",
            "the fault modes work over it; without --cert",
            "and --key, with a self-signed certificate for",
            "localhost, 127.0.0.1 and ::1 made at start (its",
            "SHA-256 fingerprint goes to stderr)",
        ],
        ..TLS
    },
    Flag {
        long: Some("--cert"),
        values: &["FILE"],
        kind: Kind::File,
        on: &[Server],
        help: &["the certificate chain and its key, PEM (--tls)"],
        ..Flag::NONE
    },
    Flag {
        long: Some("--key"),
        values: &["FILE"],
        kind: Kind::File,
        on: &[Server],
        joined: true,
        ..Flag::NONE
    },
    Flag {
        on: &[Server],
        help: &[
            "answer GET /metrics on IP:PORT with the server's",
            "counts (tcpgoon_server_*), for Prometheus to",
            "scrape; served by the server's own loop",
        ],
        ..METRICS
    },
    Flag {
        on: &[Server],
        help: &[
            "with --metrics: after the stop, keep answering",
            "scrapes this long, so the last sees the final",
            "counts; a signal ends it",
        ],
        ..METRICS_LINGER
    },
    // merge
    Flag {
        on: &[Merge],
        help: &["print the merged JSON summary instead of the text report"],
        ..JSON
    },
    // plot
    Flag {
        short: Some("-o"),
        long: Some("--output"),
        values: &["FILE"],
        kind: Kind::File,
        on: &[Plot],
        help: &[
            "the SVG to write (self-contained: no fonts or links);",
            "- is stdout; never one of the FILEs",
        ],
        ..Flag::NONE
    },
    // every subcommand: last among its options
    Flag {
        short: Some("-h"),
        long: Some("--help"),
        on: ALL,
        help: &["print this help"],
        ..Flag::NONE
    },
];

// The options that more than one subcommand takes: their names, placeholders, repeats and
// completions, said once; each subcommand's entry adds how its help describes them (or
// takes the description too, where every help says the same).

const CONNECTIONS: Flag = Flag {
    short: Some("-c"),
    long: Some("--connections"),
    values: &["N"],
    ..Flag::NONE
};

const DIAL_TIMEOUT: Flag = Flag {
    short: Some("-t"),
    long: Some("--dial-timeout"),
    values: &["DUR"],
    ..Flag::NONE
};

const INTERVAL: Flag = Flag {
    short: Some("-i"),
    long: Some("--interval"),
    values: &["DUR"],
    ..Flag::NONE
};

const DEBUG: Flag = Flag {
    short: Some("-d"),
    long: Some("--debug"),
    help: &["one line per connection event on stderr"],
    ..Flag::NONE
};

const JSON: Flag = Flag {
    long: Some("--json"),
    ..Flag::NONE
};

const SUMMARY: Flag = Flag {
    long: Some("--summary"),
    values: &["FILE"],
    kind: Kind::File,
    ..Flag::NONE
};

const METRICS: Flag = Flag {
    long: Some("--metrics"),
    values: &["IP:PORT"],
    ..Flag::NONE
};

const METRICS_LINGER: Flag = Flag {
    long: Some("--metrics-linger"),
    values: &["DUR"],
    ..Flag::NONE
};

const METRICS_PUSH: Flag = Flag {
    long: Some("--metrics-push"),
    values: &["URL"],
    ..Flag::NONE
};

const HOLD: Flag = Flag {
    long: Some("--hold"),
    values: &["DUR"],
    ..Flag::NONE
};

const SETTLE: Flag = Flag {
    long: Some("--settle"),
    values: &["DUR"],
    ..Flag::NONE
};

const SOURCE: Flag = Flag {
    long: Some("--source"),
    values: &["ADDRS"],
    repeats: true,
    ..Flag::NONE
};

const ALL_ADDRESSES: Flag = Flag {
    long: Some("--all-addresses"),
    ..Flag::NONE
};

const V4: Flag = Flag {
    short: Some("-4"),
    help: &["resolve <host> to IPv4 (or IPv6) addresses only"],
    ..Flag::NONE
};

const V6: Flag = Flag {
    short: Some("-6"),
    joined: true,
    ..Flag::NONE
};

const PROBE: Flag = Flag {
    long: Some("--probe"),
    values: &["KIND"],
    kind: Kind::Choices(&ProbeKind::NAMES),
    ..Flag::NONE
};

const SEND: Flag = Flag {
    long: Some("--send"),
    values: &["BYTES"],
    ..Flag::NONE
};

const EXPECT: Flag = Flag {
    long: Some("--expect"),
    values: &["BYTES"],
    ..Flag::NONE
};

const PROBE_TIMEOUT: Flag = Flag {
    long: Some("--probe-timeout"),
    values: &["DUR"],
    ..Flag::NONE
};

const MAX_LATENCY: Flag = Flag {
    long: Some("--max-latency"),
    values: &["P=DUR"],
    repeats: true,
    ..Flag::NONE
};

const HEARTBEAT: Flag = Flag {
    long: Some("--heartbeat"),
    values: &["DUR"],
    ..Flag::NONE
};

const HEARTBEAT_TIMEOUT: Flag = Flag {
    long: Some("--heartbeat-timeout"),
    values: &["DUR"],
    ..Flag::NONE
};

const HEADER: Flag = Flag {
    long: Some("--header"),
    values: &["HEADER"],
    repeats: true,
    ..Flag::NONE
};

const WS_PROTOCOL: Flag = Flag {
    long: Some("--ws-protocol"),
    values: &["NAME"],
    ..Flag::NONE
};

const MQTT_VERSION: Flag = Flag {
    long: Some("--mqtt-version"),
    values: &["V"],
    kind: Kind::Choices(&["3.1.1", "5"]),
    ..Flag::NONE
};

const MQTT_CLIENT_ID: Flag = Flag {
    long: Some("--mqtt-client-id"),
    values: &["PREFIX"],
    ..Flag::NONE
};

const MQTT_USER: Flag = Flag {
    long: Some("--mqtt-user"),
    values: &["NAME"],
    ..Flag::NONE
};

const MQTT_PASSWORD: Flag = Flag {
    long: Some("--mqtt-password"),
    values: &["TEXT"],
    ..Flag::NONE
};

const TLS: Flag = Flag {
    long: Some("--tls"),
    ..Flag::NONE
};

const SNI: Flag = Flag {
    long: Some("--sni"),
    values: &["NAME"],
    ..Flag::NONE
};

const INSECURE: Flag = Flag {
    long: Some("--insecure"),
    ..Flag::NONE
};

const CA: Flag = Flag {
    long: Some("--ca"),
    values: &["FILE"],
    kind: Kind::File,
    ..Flag::NONE
};

const ALPN: Flag = Flag {
    long: Some("--alpn"),
    values: &["PROTO"],
    repeats: true,
    ..Flag::NONE
};

const TLS_VERSION: Flag = Flag {
    long: Some("--tls-version"),
    values: &["V"],
    ..Flag::NONE
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_one_option_agree_on_all_but_the_words() {
        for (i, a) in FLAGS.iter().enumerate() {
            for b in &FLAGS[i + 1..] {
                let name = a.name();
                if name != b.name() {
                    // One short spelling for two options (`-d`) is for different subcommands.
                    let clash = a.spellings().any(|s| b.spellings().any(|t| s == t));
                    assert!(
                        !clash || !a.on.iter().any(|sub| b.on.contains(sub)),
                        "{name}"
                    );
                    continue;
                }
                assert_eq!(a.short, b.short, "{name}");
                assert_eq!(a.long, b.long, "{name}");
                assert_eq!(a.values, b.values, "{name}");
                assert_eq!(a.repeats, b.repeats, "{name}");
                assert_eq!(a.kind, b.kind, "{name}");
                assert!(
                    !a.on.iter().any(|sub| b.on.contains(sub)),
                    "{name} twice in one subcommand"
                );
            }
        }
    }

    #[test]
    fn every_entry_has_a_description_or_shares_one() {
        for flag in FLAGS {
            assert_eq!(flag.help.is_empty(), flag.joined, "{}", flag.name());
            assert!(!flag.on.is_empty(), "{}", flag.name());
            assert!(flag.values.len() <= 2, "{}", flag.name());
        }
    }
}
