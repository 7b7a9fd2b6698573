//! The help texts: the general one, and one per subcommand whose prose is written here and
//! whose options blocks (a line `{options}`, `{shard}`, `{probe}` or `{tls}`) are laid out
//! from the flag table (`flags.rs`), so each reads as the reference for its flags.

use std::sync::LazyLock;

use crate::cli::flags::{Section, Sub};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The short hash of the commit built, or `unknown` outside a git checkout (build.rs).
pub const GIT_HASH: &str = env!("TCPGOON_GIT_HASH");
/// When the build script last ran, `YYYY-MM-DD HH:MM:SS` in UTC, or `unknown` (build.rs).
pub const BUILD_TIME: &str = env!("TCPGOON_BUILD_TIME");

/// `tcpgoon version`: the version, then the reference tool's two lines, in its words
/// (cmd/version.go: `"Git Commit Hash: " + githash`, `"UTC Build Time: " + buildstamp`).
pub fn version_text() -> String {
    format!("tcpgoon {VERSION}\nGit Commit Hash: {GIT_HASH}\nUTC Build Time: {BUILD_TIME}\n")
}

/// The help of the subcommand `name`, if it has one: what `tcpgoon help NAME` prints.
pub fn topic(name: &str) -> Option<&'static str> {
    Sub::named(name).map(text)
}

/// The subcommands' helps, in the order `tcpgoon man` shows them, by name.
pub fn topics() -> impl Iterator<Item = (&'static str, &'static str)> {
    Sub::ALL.into_iter().map(|sub| (sub.name(), text(sub)))
}

/// The help of `sub`: its text here with its options blocks laid out from the flag table.
pub fn text(sub: Sub) -> &'static str {
    static TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| Sub::ALL.map(made).to_vec());
    let at = Sub::ALL
        .iter()
        .position(|s| *s == sub)
        .expect("every Sub is in ALL");
    &TEXTS[at]
}

/// The help of `sub` as written here: its prose, and a line `{options}` (or another
/// [`Section::marker`]) where each of its options blocks goes.
pub fn template(sub: Sub) -> &'static str {
    match sub {
        Sub::Run => RUN,
        Sub::Limit => LIMIT,
        Sub::Server => SERVER,
        Sub::Merge => MERGE,
        Sub::Plot => PLOT,
    }
}

fn made(sub: Sub) -> String {
    let template = template(sub);
    let mut out = String::with_capacity(template.len() * 2);
    for line in template.lines() {
        match Section::ALL.into_iter().find(|s| s.marker() == line) {
            Some(section) => out += &sub.options_block(section),
            None => {
                out += line;
                out.push('\n');
            }
        }
    }
    out
}

pub const HELP: &str = "\
tcpgoon: how many concurrent TCP connections can a server accept and hold?

Usage:
  tcpgoon run [OPTIONS] <host> <port>    open connections and report on them
  tcpgoon limit [OPTIONS] <host> <port>  open connections until one is lost:
                                         how many were held?
  tcpgoon server [OPTIONS]               a local target to aim at, with fault
                                         modes
  tcpgoon merge [--json] FILE...         one report from the shards' --json
  tcpgoon plot FILE... -o OUT.svg        draw --json outputs as an SVG picture
  tcpgoon completions <bash|zsh|fish>    print a shell completion script
  tcpgoon man                            print the manual page (roff)
  tcpgoon version                        print the version (also --version,
                                         -V)
  tcpgoon help [run|limit|server|merge|plot]
                                         print this help, or a subcommand's
                                         (also --help, -h)

Run `tcpgoon run --help` for the options of a run, `tcpgoon limit --help` for
the search for a server's limit and its exit statuses. Linux only.

Exit status:
  0   every connection was established and still open when the run ended
  1   the run did not complete: interrupted, declined at the prompt, or
      stopped by a local limit (file descriptors, ephemeral ports); or the
      report, --hdr-log or --summary could not be written
  2   the run completed, but some connections failed or were closed by the
      peer (with --min-established: fewer were established than it asks for)
  3   the connections were established, but a --max-latency threshold was
      missed
  64  bad input or setup: unknown flag, bad value, unresolvable host, unusable
      --source, --hdr-log or --summary FIFO with no reader, unwritable --summary
";

const RUN: &str = "\
Open N full-handshake TCP connections to <host>:<port> on a paced schedule,
hold them, read from them, print live stats and a final report.

Usage:
  tcpgoon run [OPTIONS] <host> <port>

Arguments:
  <host>   a name, an IPv4 address (four decimal parts: 127.0.0.1) or an IPv6
           address (::1 or [::1]); names are resolved once
  <port>   1-65535

Options:
{options}

Past one machine (see `tcpgoon merge --help`):
{shard}

Served, not just established (the kernel completes the handshake of every
connection it queues, whether the application ever takes it or not):
{probe}
With a probe, exit 0 means every connection was established, served and still
open; --min-established counts the served ones.

TLS (served = handshake done):
{tls}
A failed handshake is an Error, by cause: TLS alert, certificate rejected (with
the reason: issuer not trusted, wrong name, expired), protocol error, closed
during handshake, handshake timed out (after --probe-timeout, from the TCP
connect). Sessions are never resumed: each handshake is a full one.

Durations take a unit: 250us, 10ms, 1.5s, 2m, 1h, or several in a row: 1m30s.
A bare number keeps the unit of the original tcpgoon on its own flags:
milliseconds for --sleep and --dial-timeout, seconds for --interval. On every
other flag a bare number but 0 is bad input: --hold 1s, not --hold 1.
--interval is 0 (no live lines) or at least 10ms.
An option given twice counts with its last value, as in the original (-c 5
-c 3 is 3); --max-latency and --source add up instead. --dial-timeout 0 sets
no timeout of tcpgoon's own, as in the original: the kernel's SYN retries
decide (net.ipv4.tcp_syn_retries, about two minutes by default).
Attempt k starts at start + k x sleep; --sleep 0 opens connections as fast as
possible. Attempt k goes to target k mod T and, among the sources of that
target's family, to source (k div T) mod S. Replacements (--reconnect) join
the total: Total = N + reconnects.

Local limits are checked at start: a warning, with the command that fixes it,
when the ephemeral port range is smaller than the attempts per (source,
target) pair or TIME_WAIT reuse is off. An attempt that fails for a local
reason (no free local port, out of file descriptors or socket buffers) stops
the run with exit status 1: it is not the server's fault.

Exit status:
  0   every connection was established and still open when the run ended
  1   the run did not complete: interrupted, declined at the prompt, or
      stopped by a local limit (file descriptors, ephemeral ports); or the
      report, --hdr-log or --summary could not be written
  2   the run completed, but some connections failed or were closed by the
      peer (with --min-established: fewer were established than it asks for)
  3   the connections were established, but a --max-latency threshold was
      missed
  64  bad input or setup: unknown flag, bad value, unresolvable host, unusable
      --source, --hdr-log or --summary FIFO with no reader, unwritable --summary

Examples:
  tcpgoon run 127.0.0.1 8080 -c 1000 -s 1ms -y
  tcpgoon run 127.0.0.1 8080 -c 5000 -s 0 -y --max-latency p99=20ms --json
";

const LIMIT: &str = "\
Find how many concurrent connections <host>:<port> holds: open connections at
a steady rate until the first attempt fails or the first held connection is
dropped, or until the maximum is reached and held. Report how many were held
at that moment, and why it was lost.

Usage:
  tcpgoon limit [OPTIONS] <host> <port>

Options:
{options}

It does not ask for confirmation. Its durations take a unit (-t 200ms, --hold
1m30s): a bare number but 0 is bad input. -t 0 sets no timeout of its own (the
kernel's SYN retries decide). --interval is 0 (no live lines) or at least
10ms.

The first loss stops dialing; the connections then stay open for --settle, so
the count is what the server still held once it had had the time to drop the
rest (a server at its limit accepts, then closes: redis writes an error
first). A drop of a connection held for longer than the settle, while newer
ones stay, is an idle timeout or an eviction, not a limit: the finding says
so, with both counts.

With --heartbeat and --max-latency beat:p99=50ms (a percentile or max of beat
latency; repeatable), the search also finds the knee: beats are judged over
the last period, a few attempts at a time, and once the bound is exceeded for
two periods on end (a shorter pause is forgiven), the knee is the most
connections held (established, answered yet or not) before it was first
exceeded. The search goes on past the knee, holding and beating, to the first
loss or the maximum: the report gives the knee and the count at the first loss
(or none up to the maximum), and says which ended the search. Other gates
(connect latency, a mean) are bad input.

Exit status:
  0   the limit was found: an attempt failed, or the peer dropped a held
      connection; or the knee: beat latency exceeded its bound first (then
      whatever the search went on to, a loss or the maximum)
  1   the search did not complete: interrupted, or a limit of this machine
      (file descriptors, ephemeral ports) was reached first; the count is a
      lower bound (past a knee too: the first loss is not known)
  2   nothing was held, so there is no limit to measure: an attempt failed
      before any was established (nothing listening, say), or the peer
      dropped every connection
  4   no capacity limit was found: every connection up to the maximum was
      established and held, or the peer dropped only one it had held past the
      settle (an eviction)
  64  bad input or setup

Example:
  tcpgoon limit 127.0.0.1 8080 --rate 2000
";

const MERGE: &str = "\
Merge the --json output of the shards of one run (`tcpgoon run --shard I/N
--json`) into the report the whole run would have printed, exit status
included.

Usage:
  tcpgoon merge [--json] FILE...

Arguments:
  FILE...      files of JSON Lines, or - for stdin; a file may hold several
               summaries (the output of several shards, one after the other);
               ticks and other lines are skipped

Options:
{options}

Counts add up; the latency histograms are merged from their HdrHistogram
encodings, so the merged p99 is the p99 of all connections. Max concurrent
established is not additive: the merge reports the sum of the shards' maxima
as an upper bound. Thresholds (--max-latency, --min-established) are judged
again on the merged run. Shards missing from the files count as attempts not
made (exit 1), and are listed as a count and at most 8 ranges.

Each summary is checked against itself first, as `tcpgoon plot` checks it:
counts past 2^32 or that do not add up to their total, a timeline of more than
512 samples, going back in time or not ending at the counts, a histogram that
does not decode or is missing where connections were established. Input is
bounded past anything tcpgoon writes: a line of 16 MiB, a FILE (or stdin) of
256 MiB. A FILE that is a FIFO with no writer is refused at once.

Exit status: the whole run's (0, 1, 2, 3, as for `tcpgoon run`); 64 when the
input is not summaries of one run: different targets, shard counts, schedules,
start times, probes, TLS settings or gates, a shard given twice, a shard whose
counts are not its share of -c, sums past 2^64-1, a summary that contradicts
itself or of `tcpgoon limit`, past a bound, or a file that cannot be read.
";

const SERVER: &str = "\
A TCP server to aim `tcpgoon run` at: it accepts connections and holds them
open, reading and discarding what arrives, and can misbehave the ways real
servers do.

Usage:
  tcpgoon server [OPTIONS]

Options:
{options}

Durations take a unit: 250us, 10ms, 1.5s, 2m, 1h, or several in a row: 1m30s.
A bare number but 0 is bad input (-d 30s, not -d 30). --interval is 0 (no
stats lines) or at least 10ms.

TEXT is sent as bytes, with the escapes \\r, \\n, \\t, \\0 (a NUL byte), \\\\ (a
backslash) and \\xHH (the byte 0xHH); any other backslash is bad input.

--reject-after, like --max-open, counts the connections open at once: a place
frees up when a held one closes. --accept-limit counts every accept. Bad input
(exit 64): --no-accept with --accept-limit, --echo or --reject-after;
--reject-after with --max-open, or with --reset (a reset would throw TEXT
away); --accept-limit with -m other than 0; --h2 with --echo, --greeting,
--reject-after or --no-accept.

The first line on stdout is `listening on <ip>:<port>`, with the real port
when 0 was given; then one `Accepted: N, Open: N, Closed: N` line per
interval, with `, Turned away: N` when --max-open or --reject-after turned
some away, `, Accept errors: N` when accepting failed for lack of file
descriptors or memory (the connection stays queued, and accepting is tried
again), and `, Queued: N` while it does not accept (--no-accept, or
--accept-limit reached): the connections waiting in the accept queue. With
--tls it adds `, Handshaking: N, Handshakes done: N, Handshakes failed: N`,
then the causes of failure that happened: `, Alert sent: N` (the client's
bytes broke the handshake), `, Alert received: N` (the client ended it, as it
does when it rejects the certificate), `, Closed in handshake: N` (closed or
reset before it was done, by the client or --close-after) and
`, Other TLS failures: N`. The server never waits for its stdout: the lines a
reader does not take wait in a queue of 4 KiB, past which they are dropped,
and at the stop stderr says how many (`stats lines dropped: D of T`). It
stops on SIGINT, SIGTERM or SIGHUP, or when -m or -d is reached: it prints the
counts and why it stopped, closes every connection (with --reset, by a reset),
and exits 0; a second signal ends it at once. It cannot listen: exit 64. Its
lines cannot be written (a full disk; a closed stdout is no error): exit 1.
--bind 0.0.0.0 or :: takes connections from other machines too: it warns so on
stderr. With --metrics IP:PORT its loop also answers GET /metrics with these
counts (tcpgoon_server_accepted_total, tcpgoon_server_open and the rest; see
docs/metrics.md), and with --metrics-linger DUR goes on answering from the
final counts that long after the stop, or until a signal.

--workers N runs N processes of this server on one port (SO_REUSEPORT; it
implies --reuse-port), each with its own open-files limit; this process prints
the lines above for all of them, each count summed. -m, --accept-limit,
--max-open, --reject-after, --ws-close-past, --mqtt-refuse-past and
--slow-after are the whole server's and split over the workers (10 over 3:
4, 3, 3); the kernel picks the worker of each connection by a hash, so a cap
holds only about: a worker at its share turns one away while another has room.
-m must be at least N. A signal is passed on to every worker. A worker that
dies is named on stderr with the counts it took with it, and the exit is 1.

Examples:
  tcpgoon server -p 0 -m 0 -d 60
  tcpgoon server -p 0 -m 0 -d 0 --workers auto
  tcpgoon server -p 0 -d 60 --accept-limit 40 --greeting 'hello\\r\\n'
  tcpgoon server -p 0 -m 0 --reject-after 2 '-ERR max clients\\r\\n'
";

const PLOT: &str = "\
Draw the --json output of runs, limit searches and merges as one SVG picture:
the connections by state over time (established, dialing, closed, errors; served
with a probe), with the limit marked for a limit search, and the connect latency
distribution on a log axis.

Usage:
  tcpgoon plot [OPTIONS] FILE... -o OUT.svg

Arguments:
  FILE...   JSON Lines from --json: ticks, then a summary; - reads stdin. Each
            FILE is one run, drawn in its own colour shade in the latency panel
            and its own row of the timeline.

Options:
{options}

The timeline comes from the summary's `timeline` samples (one a millisecond, or
fewer for a long run; a merge's are its shards' counts summed); without them,
from the ticks; a summary with neither gets the latency panel alone.

A line is checked as `tcpgoon merge` checks it: what is absent is drawn
without, what contradicts itself is refused (counts past 2^32 or not adding
up, a timeline of more than 512 samples or going back in time, a histogram that
does not decode or is missing where connections were established). Input is
bounded past anything tcpgoon writes: a line of 16 MiB, a FILE (or stdin) of
256 MiB. A FILE that is a FIFO with no writer is refused at once.

Exit status:
  0   the picture was written
  1   it could not be written (a full disk)
  64  bad input: no FILE, a FILE that is not the JSON Lines of --json, has no
      summary, contradicts itself or is past a bound, an -o that cannot be
      created

Example:
  tcpgoon run 127.0.0.1 8080 -c 1000 -s 1ms -y --json > run.jsonl
  tcpgoon plot run.jsonl -o run.svg
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_help_fits_80_columns() {
        for help in topics().map(|(_, help)| help).chain([HELP]) {
            for line in help.lines() {
                let columns = line.chars().count();
                assert!(columns <= 80, "{columns} columns: {line}");
            }
        }
    }

    /// The options a help lists are the table's: no option's line is written by hand in
    /// the prose, and every entry of the subcommand is shown.
    #[test]
    fn every_option_shown_is_from_the_table() {
        for (sub, template) in Sub::ALL.map(|sub| (sub, template(sub))) {
            for line in template.lines() {
                let indent = line.len() - line.trim_start().len();
                // `-c, --connections <N>` before the gap; not prose that names a flag.
                let tag = line.trim_start().split("  ").next().unwrap_or_default();
                let entry = indent > 0
                    && indent < sub.column()
                    && tag.starts_with('-')
                    && tag.split(' ').all(|word| {
                        let word = word.trim_end_matches(',');
                        word.starts_with('-') || (word.starts_with('<') && word.ends_with('>'))
                    });
                assert!(!entry, "{}: an option written by hand: {line}", sub.name());
            }
            let help = text(sub);
            for flag in sub.flags() {
                assert!(
                    help.contains(&flag.synopsis()),
                    "{}: {}",
                    sub.name(),
                    flag.synopsis()
                );
            }
            for section in Section::ALL {
                let blank = sub.options_block(section).is_empty();
                assert_eq!(
                    blank,
                    !template.contains(section.marker()),
                    "{}",
                    sub.name()
                );
            }
        }
    }
}
