//! The command line as typed: what each subcommand's arguments hold once each value is
//! checked for form, before `config` checks them together and against the outside world.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::cli::complete::Shell;
use crate::cli::values::{Progress, WorkerCount};
use crate::engine::mqtt::Version;
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeKind;
use crate::engine::tls::Versions;
use crate::judge::thresholds::{MaxLatency, Thresholds};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help(&'static str),
    Version,
    Run(RunArgs),
    Limit(LimitArgs),
    Server(ServerArgs),
    /// `tcpgoon completions SHELL`: the shell's completion script.
    Completions(Shell),
    /// `tcpgoon man`: the man page, in roff.
    Man,
    Plot(PlotArgs),
    Merge(MergeArgs),
}

/// `tcpgoon merge` as typed: the files of `--json` summaries to merge (`-` for stdin).
#[derive(Debug, Clone, PartialEq)]
pub struct MergeArgs {
    pub json: bool,
    pub files: Vec<String>,
}

/// Which address family to resolve a host name to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Where connections go from and to: options shared by `run` and `limit`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Addressing {
    pub sources: Vec<IpAddr>,
    pub all_addresses: bool,
    pub family: Option<Family>,
}

/// How each established connection is probed, as typed: options shared by `run` and
/// `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Probing {
    pub kind: Option<ProbeKind>,
    pub send: Option<Vec<u8>>,
    pub expect: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// `--heartbeat`: the period of each served connection's beats.
    pub heartbeat: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    /// `--header`, each `Name: value`, for the WebSocket handshake.
    pub headers: Vec<String>,
    /// `--ws-protocol`: the subprotocol the WebSocket handshake asks for.
    pub ws_protocol: Option<String>,
    /// `--mqtt-version`, `--mqtt-client-id`, `--mqtt-user`, `--mqtt-password`: what the
    /// MQTT CONNECT says.
    pub mqtt_version: Version,
    pub mqtt_client_id: Option<String>,
    pub mqtt_user: Option<String>,
    pub mqtt_password: Option<String>,
}

/// `--tls` and the options that shape its handshake, as typed: shared by `run` and
/// `limit`. `cli::tls` checks them together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsArgs {
    pub on: bool,
    pub insecure: bool,
    pub sni: Option<String>,
    pub ca: Option<PathBuf>,
    /// In the order given; each `--alpn` adds one.
    pub alpn: Vec<String>,
    pub version: Option<Versions>,
}

/// `--metrics <ADDR:PORT>` and `--metrics-linger <DUR>`, as typed: shared by `run`,
/// `limit` and `server`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsArgs {
    /// Where to answer scrapes; `None`: no endpoint.
    pub addr: Option<std::net::SocketAddr>,
    /// How long to keep answering after the report.
    pub linger: Duration,
    /// `--metrics-push URL` (`run`, `limit`): the Pushgateway the final metrics go to.
    pub push: Option<crate::engine::push::PushUrl>,
}

/// `tcpgoon limit` as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitArgs {
    pub host: String,
    pub port: u16,
    /// Attempts per second.
    pub rate: f64,
    /// `None`: as many as the open-files limit allows.
    pub connections: Option<u64>,
    pub dial_timeout: Duration,
    pub hold: Duration,
    pub settle: Duration,
    pub interval: Duration,
    pub debug: bool,
    /// `--summary <FILE>`: the JSON summary, written there as well.
    pub summary: Option<PathBuf>,
    /// stdout carries JSON Lines: ticks, then a summary with the finding.
    pub json: bool,
    /// `--max-latency beat:…`: bounds on beat latency that end the search (the knee).
    pub max_latency: Vec<MaxLatency>,
    pub addressing: Addressing,
    pub probing: Probing,
    pub tls: TlsArgs,
    pub metrics: MetricsArgs,
}

/// `tcpgoon run` as typed, each value checked for form.
#[derive(Debug, Clone, PartialEq)]
pub struct RunArgs {
    pub host: String,
    pub port: u16,
    pub connections: u64,
    pub sleep: Duration,
    pub dial_timeout: Duration,
    pub interval: Duration,
    pub assume_yes: bool,
    pub debug: bool,
    pub progress: Progress,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    /// `--summary <FILE>`: the JSON summary, written there as well as the report.
    pub summary: Option<PathBuf>,
    pub thresholds: Thresholds,
    pub hold: Duration,
    pub settle: Duration,
    pub reconnect: bool,
    pub addressing: Addressing,
    pub probing: Probing,
    /// `--shard I/N`: this process makes attempts I, I+N, … of the schedule.
    pub shard: Shard,
    /// `--start-at`: when the schedule starts, by the wall clock.
    pub start_at: Option<SystemTime>,
    /// `--workers N|auto`: the run made by worker processes.
    pub workers: Option<WorkerCount>,
    pub tls: TlsArgs,
    pub metrics: MetricsArgs,
}

/// `tcpgoon plot` as typed: the `--json` outputs to draw, and where the picture goes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotArgs {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
}

/// `tcpgoon server` as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerArgs {
    pub port: u16,
    pub bind: String,
    /// `-m` as given (0: no limit); `None` when not given, since its default depends on
    /// `--accept-limit` (`config` decides).
    pub max_connections: Option<u64>,
    pub duration: Duration,
    pub backlog: u32,
    pub no_accept: bool,
    /// Accept this many, then stop accepting for good.
    pub accept_limit: Option<u64>,
    pub close_after: Option<Duration>,
    pub reset: bool,
    /// The bytes of `--greeting`, its escapes read.
    pub greeting: Option<Vec<u8>>,
    pub echo: bool,
    /// `--slow-after K --slow-by DUR`: echoes wait DUR per connection open past K.
    pub slow_after: Option<u64>,
    pub slow_by: Option<Duration>,
    /// `--mute-after`: echo nothing from this long after the start.
    pub mute_after: Option<Duration>,
    /// `--ws`: upgrade each connection to WebSocket, answer its pings, echo its messages.
    pub ws: bool,
    /// `--ws-wrong-accept`: upgrade with an accept that is not the key's.
    pub ws_wrong_accept: bool,
    /// `--ws-close-past K`: upgrade each connection beyond K open at once, then close it
    /// with 1013.
    pub ws_close_past: Option<u64>,
    /// `--mqtt`: answer each connection as an MQTT broker does.
    pub mqtt: bool,
    /// `--mqtt-refuse-past K`: refuse each connection beyond K open at once in its CONNACK.
    pub mqtt_refuse_past: Option<u64>,
    /// Hold at most this many open; `None` for no limit (0 closes every one at once).
    pub max_open: Option<u64>,
    /// `--reject-after K TEXT`: hold K open at once, and write TEXT's bytes (its escapes
    /// read) to each connection beyond them before closing it.
    pub reject_after: Option<(u64, Vec<u8>)>,
    pub interval: Duration,
    /// Share the port with other servers (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// `--workers N|auto`: serve from this many processes on one port.
    pub workers: Option<WorkerCount>,
    /// `--tls`: serve TLS, with `--cert` and `--key` or a certificate made at start.
    pub tls: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `--h2`: speak HTTP/2's opening exchange, and GOAWAY past `--max-open`.
    pub h2: bool,
    /// `--metrics`, `--metrics-linger`: the server's own scrape endpoint.
    pub metrics: MetricsArgs,
}
