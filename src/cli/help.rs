//! The help texts, as data: one general text and one per subcommand, hand-written with
//! aligned sections and `[default: …]` so each reads as the reference for its flags.

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

/// The subcommands with a help of their own, by name: what `tcpgoon help NAME` prints, and
/// what the completion scripts and the man page are made from (`docs.rs`).
pub const TOPICS: &[(&str, &str)] = &[
    ("run", RUN_HELP),
    ("limit", LIMIT_HELP),
    ("server", SERVER_HELP),
    ("merge", MERGE_HELP),
    ("plot", PLOT_HELP),
];

/// The help of the subcommand `name`, if it has one.
pub fn topic(name: &str) -> Option<&'static str> {
    TOPICS
        .iter()
        .find(|(topic, _)| *topic == name)
        .map(|(_, help)| *help)
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

pub const RUN_HELP: &str = "\
Open N full-handshake TCP connections to <host>:<port> on a paced schedule,
hold them, read from them, print live stats and a final report.

Usage:
  tcpgoon run [OPTIONS] <host> <port>

Arguments:
  <host>   a name, an IPv4 address (four decimal parts: 127.0.0.1) or an IPv6
           address (::1 or [::1]); names are resolved once
  <port>   1-65535

Options:
  -c, --connections <N>     connections to open                [default: 100]
  -s, --sleep <DURATION>    pause between connection attempts  [default: 10ms]
  -t, --dial-timeout <DUR>  give up on a connection attempt after this
                                                             [default: 5000ms]
  -i, --interval <DUR>      between live stats lines; 0: one, at start
                                                                 [default: 1s]
  -y, --assume-yes          do not ask for confirmation
  -d, --debug               one line per connection event on stderr
      --progress <MODE>     auto: a status line on stderr when it is a
                            terminal and stdout is not a pipe; `Total:` lines
                            otherwise; bar or lines force one [default: auto]
      --json                stdout carries JSON Lines only: a tick per
                            interval, a summary
      --summary <FILE>      also write the JSON summary to FILE, the report
                            still on stdout; FILE is checked before dialing
      --hdr-log <FILE>      write connect latencies as an HdrHistogram
                            interval log
      --max-latency <P=DUR> fail (exit 3) when connect latency statistic P
                            exceeds DUR: p50, p99.9, max or mean; repeatable;
                            e.g. p99=20ms; rtt:p99=1ms bounds the kernel's
                            handshake RTT instead, served:p99=20ms time to
                            served (with a probe)
      --min-established <N|PCT%>
                            pass when at least N (or PCT% of) connections are
                            established, tolerating the rest failing; more
                            than 0
      --hold <DUR>          after the last attempt, keep the connections open
                            and read from them this long        [default: 0]
      --settle <DUR>        after the last outcome, keep the connections open
                            and read this long before the verdict, so a
                            server that accepts and then refuses is caught; a
                            hold is never shorter; 0 ends at once
                                                               [default: 50ms]
      --reconnect           replace each connection the peer closes with a
                            new attempt, during the run and the hold, to keep
                            N up; replacements keep to the --sleep rate,
                            sharing it with the schedule
      --source <ADDRS>      bind to these local addresses, in turn: a
                            comma-separated list of addresses and CIDR blocks
                            (127.0.0.2,127.0.0.0/28; a block gives its host
                            addresses); each source gets its own ephemeral
                            ports toward each target; repeatable, adding up
      --all-addresses       spread attempts over every address <host>
                            resolves to, not only the first
  -4, -6                    resolve <host> to IPv4 (or IPv6) addresses only
  -h, --help                print this help

Past one machine (see `tcpgoon merge --help`):
      --shard <I/N>         make attempts I, I+N, I+2N, ... of the schedule
                            (0 <= I < N): N processes with I = 0..N-1 make the
                            run one would; -c is the total, -s its spacing
      --start-at <TIME>     start the schedule at this wall-clock time:
                            RFC 3339 (2026-12-02T01:30:00Z) or @unix-seconds;
                            a time past is bad input

Served, not just established (the kernel completes the handshake of every
connection it queues, whether the application ever takes it or not):
      --probe <KIND>        ask each connection for proof that the
                            application took it:
                              greeting   the server speaks first: any byte
                              redis      send PING, expect +PONG
                              memcached  send version, expect VERSION
                              http       send HEAD / with the Host header,
                                         expect HTTP/
                              postgres   a startup message for user
                                         postgres (postgres:USER for
                                         another role), expect an
                                         authentication request, or
                                         with trust the session
                                         ready; an error is a
                                         rejection
                              ssh, smtp  expect SSH- or 220
      --send <BYTES>        a probe of your own: write these once established
                            (escapes: \\r \\n \\t \\0 \\\\ \\xHH)
      --expect <BYTES>      served when what arrives begins with these (any
                            byte without it); anything else is a rejection
      --probe-timeout <DUR> established but not answered this long: unserved
                                                  [default: the dial timeout]
With a probe, exit 0 means every connection was established, served and still
open; --min-established counts the served ones.

TLS (served = handshake done):
      --tls                 a TLS handshake after each TCP connect; a
                            --probe goes over TLS. A connection is Dialing
                            until its handshake is done
      --sni <NAME>          the server name sent, and checked in the certificate
                            [default: <host> when it is a name; none for an IP]
      --insecure            do not verify the server's certificate
      --ca <FILE>           trust the CA certificates in this PEM file
                            instead of the system's
      --alpn <PROTO>        offer this ALPN protocol (repeatable): h2, http/1.1
      --tls-version <V>     1.2 or 1.3 only                 [default: both]
A failed handshake is an Error, by cause: TLS alert, certificate rejected (with
the reason: unknown issuer, name mismatch, expired), protocol error, closed
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

pub const LIMIT_HELP: &str = "\
Find how many concurrent connections <host>:<port> holds: open connections at
a steady rate until the first attempt fails or the first held connection is
dropped, or until the maximum is reached and held. Report how many were held
at that moment, and why it was lost.

Usage:
  tcpgoon limit [OPTIONS] <host> <port>

Options:
  -r, --rate <N>            connection attempts per second     [default: 1000]
  -c, --connections <N>     the most to open
                                   [default: what the open-files limit allows]
  -t, --dial-timeout <DUR>  an attempt not established after this has failed
                                                                 [default: 1s]
      --hold <DUR>          once the maximum is open, hold it this long
                                                                 [default: 5s]
      --settle <DUR>        after the first loss, keep reading this long
                            before counting                    [default: 50ms]
  -i, --interval <DUR>      between live stats lines; 0 turns them off
                                                                 [default: 1s]
  -d, --debug               one line per connection event on stderr
      --summary <FILE>      write the JSON summary to FILE, as run does
      --json                JSON Lines only on stdout: ticks, then a summary
                            with the finding in `limit` (for `tcpgoon plot`)
      --source <ADDRS>      bind to these local addresses, in turn (see
                            `tcpgoon help run`)
      --all-addresses       spread attempts over every address <host>
                            resolves to
  -4, -6                    resolve <host> to IPv4 (or IPv6) addresses only
      --probe <KIND>, --send <BYTES>, --expect <BYTES>, --probe-timeout <DUR>
                            ask each connection for an answer (see `tcpgoon
                            help run`): the first not served is the loss, and
                            the count is of connections served and held
      --tls, --insecure     a TLS handshake on each connection (see
                            `tcpgoon help run`): a failed one is the loss
      --sni <NAME>, --ca <FILE>, --alpn <PROTO>, --tls-version <V>
                            the handshake's options, as for run
  -h, --help                print this help

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

Exit status:
  0   the limit was found: an attempt failed, or the peer dropped a held
      connection
  1   the search did not complete: interrupted, or a limit of this machine
      (file descriptors, ephemeral ports) was reached first; the count is a
      lower bound
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

pub const MERGE_HELP: &str = "\
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
      --json   print the merged JSON summary instead of the text report
  -h, --help   print this help

Counts add up; the latency histograms are merged from their HdrHistogram
encodings, so the merged p99 is the p99 of all connections. Max concurrent
established is not additive: the merge reports the sum of the shards' maxima
as an upper bound. Thresholds (--max-latency, --min-established) are judged
again on the merged run. Shards missing from the files count as attempts not
made (exit 1).

Exit status: the whole run's (0, 1, 2, 3, as for `tcpgoon run`); 64 when the
input is not summaries of one run: different targets, shard counts, schedules
or start times, a shard given twice, or a file that cannot be read.
";

pub const SERVER_HELP: &str = "\
A TCP server to aim `tcpgoon run` at: it accepts connections and holds them
open, reading and discarding what arrives, and can misbehave the ways real
servers do.

Usage:
  tcpgoon server [OPTIONS]

Options:
  -p, --port <PORT>          port to listen on; 0 picks a free one
                             [default: 54321]
  -b, --bind <ADDR>          address to listen on       [default: 127.0.0.1]
  -m, --maxconnections <N>   stop after accepting N connections; 0 = no
                             limit     [default: 10; 0 with --accept-limit]
  -d, --duration <DUR>       stop after this long; 0 = no limit
                             [default: 30s]
      --backlog <N>          listen backlog                 [default: 1024]
      --no-accept            listen but never accept (the accept queue
                             fills, new SYNs are dropped, clients time out)
      --accept-limit <K>     accept K connections, then never again: later
                             ones wait in the accept queue, their handshakes
                             done, as at a server out of file descriptors
      --close-after <DUR>    close each accepted connection after this long
      --reset                close with a reset (SO_LINGER 0), not a FIN
      --greeting <TEXT>      write TEXT to each accepted connection
      --echo                 write back what arrives on each connection
                             (after the greeting); while 64 KiB wait for the
                             peer to read them, stop reading it
      --max-open <N>         hold at most N connections open at once; close
                             each one accepted beyond them at once (with
                             --reset, by a reset); 0 closes every connection
                             as it is accepted
      --reject-after <K> <TEXT>
                             as --max-open K, but write TEXT to each
                             connection beyond the K open before closing it
                             (as redis-server does past its maxclients)
  -i, --interval <DUR>       between stats lines; 0 turns them off
                             [default: 1s]
      --reuse-port           share the port with other servers (SO_REUSEPORT):
                             the kernel spreads connections over them, so a
                             group holds more than one open-files limit
      --tls                  serve TLS (1.2 and 1.3) on every connection;
                             the fault modes work over it; without --cert
                             and --key, with a self-signed certificate for
                             localhost, 127.0.0.1 and ::1 made at start (its
                             SHA-256 fingerprint goes to stderr)
      --cert <FILE>, --key <FILE>
                             the certificate chain and its key, PEM (--tls)
  -h, --help                 print this help

Durations take a unit: 250us, 10ms, 1.5s, 2m, 1h, or several in a row: 1m30s.
A bare number but 0 is bad input (-d 30s, not -d 30). --interval is 0 (no
stats lines) or at least 10ms.

TEXT is sent as bytes, with the escapes \\r, \\n, \\t, \\0 (a NUL byte), \\\\ (a
backslash) and \\xHH (the byte 0xHH); any other backslash is bad input.

--reject-after, like --max-open, counts the connections open at once: a place
frees up when a held one closes. --accept-limit counts every accept. Bad input
(exit 64): --no-accept with --accept-limit, --echo or --reject-after;
--reject-after with --max-open, or with --reset (a reset would throw TEXT
away); --accept-limit with -m other than 0.

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
stderr.

Examples:
  tcpgoon server -p 0 -m 0 -d 60
  tcpgoon server -p 0 -d 60 --accept-limit 40 --greeting 'hello\\r\\n'
  tcpgoon server -p 0 -m 0 --reject-after 2 '-ERR max clients\\r\\n'
";

pub const PLOT_HELP: &str = "\
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
  -o, --output <FILE>   the SVG to write (self-contained: no fonts or links)
  -h, --help            print this help

The timeline comes from the summary's `timeline` samples (one a millisecond, or
fewer for a long run; a merge's are its shards' counts summed); without them,
from the ticks; a summary with neither gets the latency panel alone.

Exit status:
  0   the picture was written
  1   it could not be written (a full disk)
  64  bad input: no FILE, a FILE that is not the JSON Lines of --json or has no
      summary, an -o that cannot be created

Example:
  tcpgoon run 127.0.0.1 8080 -c 1000 -s 1ms -y --json > run.jsonl
  tcpgoon plot run.jsonl -o run.svg
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_help_fits_80_columns() {
        for help in TOPICS.iter().map(|(_, help)| *help).chain([HELP]) {
            for line in help.lines() {
                let columns = line.chars().count();
                assert!(columns <= 80, "{columns} columns: {line}");
            }
        }
    }
}
