//! Arguments as typed, resolved and checked into what the engine (or the server) needs.
//! Only the resolved form reaches them.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::cli::parse::Probing;
use crate::cli::tls;
use crate::cli::{
    Addressing, Family, LimitArgs, MetricsArgs, Progress, RunArgs, ServerArgs, TlsArgs,
};
use crate::engine::Plan;
use crate::engine::beat::{BeatReply, HeartbeatPlan, POSTGRES_EMPTY_QUERY};
use crate::engine::conn;
use crate::engine::h2;
use crate::engine::knee::KneeGate;
use crate::engine::limits;
use crate::engine::mqtt;
use crate::engine::pacer::Shard;
use crate::engine::probe::{Probe, ProbeKind};
use crate::engine::server::{ServerConfig, Slow, WsServeConfig};
use crate::engine::source::Routes;
use crate::engine::target::{self, Host, Target};
use crate::engine::ws_session::MESSAGE_MAX;
use crate::error::Error;
use crate::judge::thresholds::{MaxLatency, Measure, MinEstablished, Statistic, Thresholds};
use crate::units::path::same_file;
use crate::units::wallclock::rfc3339;

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    pub plan: Plan,
    pub assume_yes: bool,
    pub debug: bool,
    pub progress: Progress,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    pub thresholds: Thresholds,
    /// The whole run's connections (`-c`); with `--shard`, `plan.connections` is this
    /// shard's part of them.
    pub whole_connections: u64,
    pub metrics: MetricsArgs,
}

impl RunConfig {
    /// Validates `args` and resolves the host, once.
    pub fn resolve(args: RunArgs) -> Result<RunConfig, Error> {
        RunConfig::resolve_with(args, None)
    }

    /// As [`RunConfig::resolve`], with the host's addresses `given` (a worker of `run
    /// --workers` takes them from its parent, which resolved the name once for all): then a
    /// `--start-at` already past is kept, not refused, as the parent chose it and checked it
    /// ahead; a worker started late starts at once, and its report says how late.
    pub fn resolve_with(args: RunArgs, given: Option<Target>) -> Result<RunConfig, Error> {
        if args.connections == 0 {
            return Err(Error::Usage("--connections must be at least 1".to_string()));
        }
        // Two writers of one file: the summary, written last, would replace the log.
        if let (Some(summary), Some(log)) = (&args.summary, &args.hdr_log)
            && same_file(summary, log)
        {
            return Err(Error::Usage(format!(
                "--summary '{}' and --hdr-log '{}' are the same file: give each its own",
                summary.display(),
                log.display()
            )));
        }
        if let Some(MinEstablished::Count(n)) = args.thresholds.min_established
            && n > args.connections
        {
            return Err(Error::Usage(format!(
                "--min-established {n} is more than the {} connections asked for",
                args.connections
            )));
        }
        // More shards than connections leave some with none to make: no run is made of
        // them, and a merge would have to account for shards that cannot exist.
        if args.shard.count > args.connections {
            return Err(Error::Usage(format!(
                "--shard {}/{}: {} shards of {} connections leave some with none to make; use \
                 at most {} shards",
                args.shard.index,
                args.shard.count,
                args.shard.count,
                args.connections,
                args.connections
            )));
        }
        let connections = args.shard.attempts(args.connections);
        if args.shard != Shard::WHOLE
            && let Some(MinEstablished::Count(n)) = args.thresholds.min_established
        {
            return Err(Error::Usage(format!(
                "--min-established {n} with --shard: give a percentage (each shard, and the \
                 merge, judge it on their own total)"
            )));
        }
        if let Some(at) = args.start_at
            && given.is_none()
        {
            check_start_at(at, SystemTime::now())?;
        }
        let Resolved {
            target,
            targets,
            fallbacks,
        } = resolve_targets(&args.host, args.port, &args.addressing, given)?;
        let timeout = probe_timeout(&args.probing, args.dial_timeout)?;
        let tls_on = args.tls.on;
        let tls_args = http2_tls(args.probing.kind.as_ref(), args.tls)?;
        let tls = tls::resolve(tls_args, &args.host, targets[0].ip(), timeout)?;
        let beating = Beating::of(&args.probing);
        let probe = resolve_probe(args.probing, &args.host, args.port, timeout, tls_on)?;
        let heartbeat = beating.resolve(probe.as_ref(), timeout)?;
        check_beat_gates(&args.thresholds, heartbeat.is_some())?;
        if probe.is_none()
            && !tls_on
            && args
                .thresholds
                .max_latency
                .iter()
                .any(|g| g.measure == Measure::Served)
        {
            return Err(Error::Usage(
                "--max-latency served:… needs a probe (--probe, or --send and --expect) or --tls"
                    .to_string(),
            ));
        }
        Ok(RunConfig {
            plan: Plan {
                targets,
                sources: args.addressing.sources,
                fallbacks,
                connections,
                sleep: args.sleep,
                dial_timeout: args.dial_timeout,
                interval: args.interval,
                refresh: None,
                hold: args.hold,
                settle: args.settle,
                reconnect: args.reconnect,
                stop_at_first_loss: false,
                probe,
                shard: args.shard,
                start_at: args.start_at,
                tls,
                heartbeat,
                knee: Vec::new(),
            },
            target,
            whole_connections: args.connections,
            assume_yes: args.assume_yes,
            debug: args.debug,
            progress: args.progress,
            json: args.json,
            hdr_log: args.hdr_log,
            summary: args.summary,
            thresholds: args.thresholds,
            metrics: args.metrics,
        })
    }

    /// The attempt rate the schedule asks of this process, per second (a shard's share of
    /// the whole); `None` for "as fast as possible".
    pub fn requested_rate(&self) -> Option<f64> {
        rate_of(self.plan.sleep).map(|r| r / self.plan.shard.count as f64)
    }
}

/// A `--start-at` must be ahead of `now`: a start already past cannot be kept, and the
/// shards that share it would start apart.
pub fn check_start_at(at: SystemTime, now: SystemTime) -> Result<(), Error> {
    match at.duration_since(now) {
        Ok(ahead) if !ahead.is_zero() => Ok(()),
        _ => Err(Error::Usage(format!(
            "--start-at {} is in the past (it is {} now): give a time ahead",
            rfc3339(at),
            rfc3339(now)
        ))),
    }
}

/// `tcpgoon limit`, resolved.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    pub target: Target,
    pub plan: Plan,
    pub rate: f64,
    pub debug: bool,
    pub summary: Option<PathBuf>,
    /// `--json`: ticks and a summary on stdout instead of the text report.
    pub json: bool,
    pub metrics: MetricsArgs,
}

impl LimitConfig {
    /// Validates `args`, resolves the host, and without `-c` asks for as many connections as
    /// the open-files hard limit allows.
    pub fn resolve(args: LimitArgs) -> Result<LimitConfig, Error> {
        let Resolved {
            target,
            targets,
            fallbacks,
        } = resolve_targets(&args.host, args.port, &args.addressing, None)?;
        let timeout = probe_timeout(&args.probing, args.dial_timeout)?;
        let tls_on = args.tls.on;
        let tls_args = http2_tls(args.probing.kind.as_ref(), args.tls)?;
        let tls = tls::resolve(tls_args, &args.host, targets[0].ip(), timeout)?;
        let beating = Beating::of(&args.probing);
        let probe = resolve_probe(args.probing, &args.host, args.port, timeout, tls_on)?;
        let heartbeat = beating.resolve(probe.as_ref(), timeout)?;
        let knee = knee_gates(&args.max_latency, heartbeat.is_some())?;
        let connections = match args.connections {
            Some(n) => n,
            None => {
                let (_, hard) = limits::nofile()
                    .map_err(|e| Error::system("cannot read the open-files limit", e))?;
                hard.saturating_sub(limits::RESERVED_FDS).max(1)
            }
        };
        Ok(LimitConfig {
            plan: Plan {
                targets,
                sources: args.addressing.sources,
                fallbacks,
                connections,
                sleep: Duration::from_secs_f64(1.0 / args.rate),
                dial_timeout: args.dial_timeout,
                interval: args.interval,
                refresh: None,
                hold: args.hold,
                settle: args.settle,
                reconnect: false,
                stop_at_first_loss: true,
                probe,
                shard: Shard::WHOLE,
                start_at: None,
                tls,
                heartbeat,
                knee,
            },
            target,
            rate: args.rate,
            debug: args.debug,
            summary: args.summary,
            json: args.json,
            metrics: args.metrics,
        })
    }
}

/// How long an established connection may take to answer its probe, when neither
/// --probe-timeout nor a dial timeout says.
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a probe's answer (and a TLS handshake) may take: `--probe-timeout`, or the
/// dial timeout.
fn probe_timeout(probing: &Probing, dial_timeout: Duration) -> Result<Duration, Error> {
    // With -t 0 (no dial timeout of our own), a probe still needs one.
    let timeout = probing.timeout.unwrap_or(if dial_timeout.is_zero() {
        DEFAULT_PROBE_TIMEOUT
    } else {
        dial_timeout
    });
    if timeout.is_zero() {
        return Err(Error::Usage(
            "--probe-timeout must be longer than 0".to_string(),
        ));
    }
    Ok(timeout)
}

/// The probe asked for: a preset, or bytes given by hand; none without either.
fn resolve_probe(
    probing: Probing,
    host: &str,
    port: u16,
    timeout: Duration,
    tls_on: bool,
) -> Result<Option<Probe>, Error> {
    let by_hand = probing.send.is_some() || probing.expect.is_some();
    let ws = matches!(probing.kind, Some(ProbeKind::Ws { .. }));
    if !ws && (!probing.headers.is_empty() || probing.ws_protocol.is_some()) {
        return Err(Error::Usage(
            "--header and --ws-protocol shape a WebSocket handshake: give them with --probe ws"
                .to_string(),
        ));
    }
    let mqtt = matches!(
        probing.kind,
        Some(ProbeKind::Mqtt | ProbeKind::MqttWs { .. })
    );
    let mqtt_options = probing.mqtt_version != mqtt::Version::V311
        || probing.mqtt_client_id.is_some()
        || probing.mqtt_user.is_some()
        || probing.mqtt_password.is_some();
    if !mqtt && mqtt_options {
        return Err(Error::Usage(
            "--mqtt-version, --mqtt-client-id, --mqtt-user and --mqtt-password shape an MQTT \
             CONNECT: give them with --probe mqtt (or mqtt-ws)"
                .to_string(),
        ));
    }
    if mqtt && !by_hand {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        return mqtt_probe(&probing, host, port, timeout).map(Some);
    }
    match (probing.kind, by_hand) {
        (Some(ProbeKind::Ws { path }), _) => {
            // With --probe ws, --send is a text message and --expect the beginning of the
            // first message back.
            let message = by_hand.then(|| (probing.send, probing.expect.unwrap_or_default()));
            if let Some((text, expect)) = &message {
                let longest = text.as_ref().map_or(0, Vec::len).max(expect.len());
                if longest > MESSAGE_MAX {
                    return Err(Error::Usage(format!(
                        "--probe ws: --send and --expect are at most {MESSAGE_MAX} bytes each"
                    )));
                }
            }
            let text_len = message
                .as_ref()
                .and_then(|(text, _)| text.as_ref())
                .map_or(0, Vec::len);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let probe = Probe::websocket(
                host,
                port,
                &path,
                probing.ws_protocol.as_deref(),
                &probing.headers,
                message,
                timeout,
            );
            // The session counts what it has written of the request in 16 bits.
            if probe.send.len() - text_len > usize::from(u16::MAX) {
                return Err(Error::Usage(
                    "--probe ws: the handshake with its --header lines is over 65535 bytes"
                        .to_string(),
                ));
            }
            Ok(Some(probe))
        }
        (Some(_), true) => Err(Error::Usage(
            "--probe names a preset, --send and --expect a probe of your own: give one or the \
             other (with --probe ws they are a message and its answer)"
                .to_string(),
        )),
        (Some(kind), false) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Ok(Some(Probe::preset(&kind, host, port, timeout)))
        }
        (None, true) => Ok(Some(Probe::custom(
            probing.send.unwrap_or_default(),
            probing.expect.unwrap_or_default(),
            timeout,
        ))),
        (None, false) if probing.timeout.is_some() && !tls_on => Err(Error::Usage(
            "--probe-timeout needs a probe (--probe, or --send and --expect) or --tls".to_string(),
        )),
        (None, false) => Ok(None),
    }
}

/// `--probe mqtt`: the CONNECT its options shape. The keep-alive asked for is the
/// heartbeat's period in whole seconds, rounded up, so that the broker, which waits one and
/// a half keep-alives, never takes the beats for silence; none without a heartbeat (the
/// broker then never times the connection out), nor for one past 65535 s.
fn mqtt_probe(probing: &Probing, host: &str, port: u16, timeout: Duration) -> Result<Probe, Error> {
    let version = probing.mqtt_version;
    if version == mqtt::Version::V311
        && probing.mqtt_password.is_some()
        && probing.mqtt_user.is_none()
    {
        return Err(Error::Usage(
            "--mqtt-password needs --mqtt-user with MQTT 3.1.1 (a password alone is MQTT 5)"
                .to_string(),
        ));
    }
    let keep_alive = probing.heartbeat.map_or(0, |period| {
        let seconds = period.as_secs() + u64::from(period.subsec_nanos() > 0);
        u16::try_from(seconds).unwrap_or(0)
    });
    let prefix = match &probing.mqtt_client_id {
        Some(prefix) => prefix.clone(),
        None => mqtt::default_prefix(),
    };
    let fields = mqtt::ConnectFields {
        version,
        prefix: &prefix,
        keep_alive,
        user: probing.mqtt_user.as_deref(),
        password: probing.mqtt_password.as_deref().map(str::as_bytes),
    };
    Ok(match &probing.kind {
        Some(ProbeKind::MqttWs { path }) => Probe::mqtt_ws(host, port, path, &fields, timeout),
        _ => Probe::mqtt(&fields, timeout),
    })
}

/// The ALPN protocols `h2` wants offered: `h2`, then `http/1.1` so that a server without
/// HTTP/2 still finishes its handshake and its choice can be named, unless `--alpn h2`
/// asks for `h2` alone. HTTP/2 over TLS needs `--tls` (the trust it checks is the user's
/// to give), over plain TCP no TLS, and `--alpn` naming another protocol would ask the
/// server for something the probe does not speak: each is bad input.
fn http2_tls(kind: Option<&ProbeKind>, mut tls: TlsArgs) -> Result<TlsArgs, Error> {
    match kind {
        Some(ProbeKind::H2) => {
            if !tls.on {
                return Err(Error::Usage(
                    "--probe h2 is HTTP/2 over TLS: add --tls, or use --probe h2c for HTTP/2 \
                     over plain TCP"
                        .to_string(),
                ));
            }
            if let Some(other) = tls.alpn.iter().find(|p| *p != "h2") {
                return Err(Error::Usage(format!(
                    "--probe h2 speaks only h2: --alpn {other} asks the server for another \
                     protocol; leave --alpn out (h2 and http/1.1 are offered) or give --alpn h2"
                )));
            }
            if tls.alpn.is_empty() {
                tls.alpn = vec!["h2".to_string(), "http/1.1".to_string()];
            }
        }
        Some(ProbeKind::H2c) if tls.on => {
            return Err(Error::Usage(
                "--probe h2c is HTTP/2 over plain TCP: drop --tls, or use --probe h2 for HTTP/2 \
                 over TLS"
                    .to_string(),
            ));
        }
        _ => {}
    }
    Ok(tls)
}

/// `--heartbeat` and `--heartbeat-timeout` as typed, with the probe kind they repeat.
struct Beating {
    period: Option<Duration>,
    timeout: Option<Duration>,
    kind: Option<ProbeKind>,
}

impl Beating {
    fn of(probing: &Probing) -> Beating {
        Beating {
            period: probing.heartbeat,
            timeout: probing.heartbeat_timeout,
            kind: probing.kind.clone(),
        }
    }

    /// The heartbeats asked for, checked against the probe they repeat: a probe must ask
    /// something (a greeting, ssh or smtp probe only listens), and a beat's answer is read
    /// as that probe's is. The timeout is the probe's unless given.
    fn resolve(
        self,
        probe: Option<&Probe>,
        probe_timeout: Duration,
    ) -> Result<Option<HeartbeatPlan>, Error> {
        let Some(period) = self.period else {
            return match self.timeout {
                Some(_) => Err(Error::Usage(
                    "--heartbeat-timeout needs --heartbeat".to_string(),
                )),
                None => Ok(None),
            };
        };
        if period.is_zero() {
            return Err(Error::Usage(
                "--heartbeat must be longer than 0".to_string(),
            ));
        }
        let timeout = self.timeout.unwrap_or(probe_timeout);
        if timeout.is_zero() {
            return Err(Error::Usage(
                "--heartbeat-timeout must be longer than 0".to_string(),
            ));
        }
        let Some(probe) = probe else {
            return Err(Error::Usage(
                "--heartbeat repeats a probe's request: give --probe redis, memcached, http or \
                 postgres, or --send and --expect"
                    .to_string(),
            ));
        };
        let nothing_to_send = |what: &str| {
            Err(Error::Usage(format!(
                "--heartbeat with {what}: that probe only listens, so there is nothing to \
                 repeat; use --probe redis, memcached, http or postgres, or --send and \
                 --expect"
            )))
        };
        let (request, reply) = match &self.kind {
            Some(ProbeKind::Redis) => (
                probe.send.clone(),
                BeatReply::Line {
                    expect: probe.expect.clone(),
                },
            ),
            Some(ProbeKind::Memcached) => (
                probe.send.clone(),
                BeatReply::Line {
                    expect: probe.expect.clone(),
                },
            ),
            Some(ProbeKind::Http) => (probe.send.clone(), BeatReply::HttpHead),
            // A ping frame, answered by its pong: the session makes both.
            Some(ProbeKind::Ws { .. }) => (Vec::new(), BeatReply::WsPong),
            // A PINGREQ, answered by a PINGRESP: the session makes and reads both.
            Some(ProbeKind::Mqtt | ProbeKind::MqttWs { .. }) => (Vec::new(), BeatReply::MqttPing),
            // A PING frame, answered by its ACK: the session makes both.
            Some(ProbeKind::H2 | ProbeKind::H2c) => (Vec::new(), BeatReply::H2PingAck),
            Some(ProbeKind::Postgres { .. }) => {
                (POSTGRES_EMPTY_QUERY.to_vec(), BeatReply::Postgres)
            }
            Some(ProbeKind::Greeting | ProbeKind::Ssh | ProbeKind::Smtp) => {
                return nothing_to_send(&format!("--probe {}", probe.name));
            }
            None if probe.send.is_empty() => return nothing_to_send("no --send"),
            None => (
                probe.send.clone(),
                BeatReply::Prefix {
                    expect: probe.expect.clone(),
                },
            ),
        };
        Ok(Some(HeartbeatPlan {
            period,
            timeout,
            request,
            reply,
        }))
    }
}

/// A `--max-latency beat:…` gate bounds what only heartbeats measure.
/// `limit --max-latency`: bounds on beat latency, which end the search the first time a
/// period's beats exceed one (the knee). Connect latency and the rest are a run's gates, and
/// a mean needs every answer in: neither can stop a search as it goes.
fn knee_gates(gates: &[MaxLatency], beating: bool) -> Result<Vec<KneeGate>, Error> {
    let thresholds = Thresholds {
        max_latency: gates.to_vec(),
        min_established: None,
    };
    check_beat_gates(&thresholds, beating)?;
    gates
        .iter()
        .map(|gate| {
            let quantile = match (gate.measure, gate.statistic) {
                (Measure::Beat, Statistic::Percentile(q)) => q,
                (Measure::Beat, Statistic::Max) => 1.0,
                (Measure::Beat, Statistic::Mean) => {
                    return Err(Error::Usage(format!(
                        "--max-latency {}: a mean is known only once every beat is answered,                          so it cannot end a search; give a percentile (beat:p99) or beat:max",
                        gate.name
                    )));
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "--max-latency {}: limit stops on beat latency only (beat:p99=50ms,                          with --heartbeat); bound connect latency with `tcpgoon run`",
                        gate.name
                    )));
                }
            };
            Ok(KneeGate {
                name: gate.name.clone(),
                quantile,
                bound: gate.limit,
            })
        })
        .collect()
}

fn check_beat_gates(thresholds: &Thresholds, beating: bool) -> Result<(), Error> {
    if !beating
        && thresholds
            .max_latency
            .iter()
            .any(|g| g.measure == Measure::Beat)
    {
        return Err(Error::Usage(
            "--max-latency beat:… needs --heartbeat".to_string(),
        ));
    }
    Ok(())
}

/// Where a run's attempts go.
struct Resolved {
    target: Target,
    /// The addresses attempts go to, in turn.
    targets: Vec<SocketAddr>,
    /// The addresses an attempt falls back to, in turn, when the one before fails.
    fallbacks: Vec<SocketAddr>,
}

/// Resolves the host (to one family with -4/-6), picks the addresses attempts go to (the
/// first, or all with --all-addresses), and checks the sources against them: each target
/// needs a source of its family, and each source must be an address of this machine. A
/// name's other addresses are the first's fallbacks, as the reference tool's Go dialer
/// tries them in turn (those of the sources' family, when sources are given); with
/// --all-addresses each is a target already.
fn resolve_targets(
    host: &str,
    port: u16,
    addressing: &Addressing,
    given: Option<Target>,
) -> Result<Resolved, Error> {
    let mut target = match given {
        Some(target) => target,
        None => {
            let host =
                target::parse_host(host).map_err(|e| Error::Usage(format!("<host>: {e}")))?;
            target::resolve(&host, port)?
        }
    };
    if let Some(family) = addressing.family {
        let v4 = family == Family::V4;
        target.addrs.retain(|a| a.is_ipv4() == v4);
        if target.addrs.is_empty() {
            return Err(Error::Usage(format!(
                "<host> '{}' has no {} address",
                target.name,
                if v4 { "IPv4" } else { "IPv6" }
            )));
        }
    }
    let mut unique = Vec::with_capacity(target.addrs.len());
    for addr in &target.addrs {
        if !unique.contains(addr) {
            unique.push(*addr);
        }
    }
    let (targets, mut fallbacks) = if addressing.all_addresses {
        (unique, Vec::new())
    } else {
        let rest = unique.split_off(1);
        (unique, rest)
    };
    if !addressing.sources.is_empty() {
        let v4 = targets[0].is_ipv4();
        fallbacks.retain(|a| a.is_ipv4() == v4);
    }
    Routes::new(targets.clone(), &addressing.sources)
        .map_err(|e| Error::Usage(format!("--source: {e}")))?;
    check_sources(&addressing.sources, &targets)?;
    Ok(Resolved {
        target,
        targets,
        fallbacks,
    })
}

/// Each source must be an address of this machine, and able to reach each target of its
/// family: an IPv4-mapped address (`::ffff:127.0.0.1`) binds as an IPv6 source but pairs
/// only with an IPv4-mapped target, and a plain IPv6 source only with a plain one. A pair
/// the kernel refuses would fail every attempt, counted against the server.
fn check_sources(sources: &[IpAddr], targets: &[SocketAddr]) -> Result<(), Error> {
    for source in sources {
        let reachable: Vec<SocketAddr> = targets
            .iter()
            .copied()
            .filter(|t| t.is_ipv4() == source.is_ipv4())
            .collect();
        let answers = conn::check_source(*source, &reachable).map_err(|e| {
            Error::Usage(format!(
                "--source: cannot bind to {source} ({e}): is it an address of this machine?"
            ))
        })?;
        for (target, answer) in reachable.iter().zip(answers) {
            let Err(e) = answer else { continue };
            let mismatch = is_mapped(*source) != is_mapped(target.ip());
            let of_the_pair = matches!(
                e.raw_os_error(),
                Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
            );
            // Other errors (no route to a remote target, say) are the attempts' to report.
            if mismatch || of_the_pair {
                let hint = if mismatch {
                    "an IPv4-mapped address (::ffff:a.b.c.d) pairs only with another: give a \
                     source of the target's own kind"
                } else {
                    "give a source that can reach it"
                };
                return Err(Error::Usage(format!(
                    "--source: {source} cannot reach {target} ({e}): {hint}"
                )));
            }
        }
    }
    Ok(())
}

fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

pub fn rate_of(sleep: Duration) -> Option<f64> {
    (!sleep.is_zero()).then(|| 1.0 / sleep.as_secs_f64())
}

/// How many accepts stop the server when `-m` is not given (and `--accept-limit` is not).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10;

impl ServerConfig {
    pub fn resolve(args: ServerArgs) -> Result<ServerConfig, Error> {
        // Only an address: a name could resolve to a public interface, and the server must
        // never listen beyond loopback unless told so in plain terms.
        let ip = match target::parse_host(&args.bind) {
            Ok(Host::Ip(ip)) => ip,
            _ => {
                return Err(Error::Usage(format!(
                    "--bind: '{}' is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)",
                    args.bind
                )));
            }
        };
        check_server_combinations(&args)?;
        let max_connections = match (args.max_connections, args.accept_limit) {
            (Some(given), _) => given,
            // Accepting stops at the limit, and the server keeps what it holds until -d.
            (None, Some(_)) => 0,
            (None, None) => DEFAULT_MAX_CONNECTIONS,
        };
        let (max_open, mut refusal) = match args.reject_after {
            Some((count, text)) => (Some(count), text),
            None => (args.max_open, Vec::new()),
        };
        let mut greeting = args.greeting.filter(|bytes| !bytes.is_empty());
        if args.h2 {
            // Its SETTINGS first, to every connection; past --max-open a GOAWAY after them.
            greeting = Some(h2::SERVER_SETTINGS.to_vec());
            refusal = h2::SERVER_SETTINGS.to_vec();
            refusal.extend(h2::goaway(h2::ENHANCE_YOUR_CALM, b"too many connections"));
        }
        Ok(ServerConfig {
            addr: SocketAddr::new(ip, args.port),
            max_connections: (max_connections > 0).then_some(max_connections),
            duration: (!args.duration.is_zero()).then_some(args.duration),
            // cli caps the backlog at i32::MAX.
            backlog: i32::try_from(args.backlog).unwrap_or(i32::MAX),
            no_accept: args.no_accept,
            accept_limit: args.accept_limit,
            close_after: args.close_after,
            reset: args.reset,
            greeting,
            echo: args.echo || args.ws || args.mqtt,
            mqtt: args.mqtt,
            mqtt_refuse_past: args.mqtt_refuse_past,
            ws: args.ws.then_some(WsServeConfig {
                wrong_accept: args.ws_wrong_accept,
                close_past: args.ws_close_past,
            }),
            max_open,
            refusal,
            interval: args.interval,
            reuse_port: args.reuse_port,
            slow: match (args.slow_after, args.slow_by) {
                (Some(after), Some(by)) => Some(Slow { after, by }),
                _ => None,
            },
            mute_after: args.mute_after,
            h2: args.h2,
            tls: tls::resolve_server(args.tls, args.cert.as_deref(), args.key.as_deref())?,
        })
    }
}

/// Options that contradict each other, or one that could do nothing beside another, are bad
/// input: the server would not be the one asked for.
fn check_server_combinations(args: &ServerArgs) -> Result<(), Error> {
    let reject_after = args.reject_after.is_some();
    let conflict = if args.no_accept && args.accept_limit.is_some() {
        "--no-accept and --accept-limit exclude each other: --no-accept accepts none"
    } else if args.no_accept && reject_after {
        "--reject-after turns away accepted connections, and --no-accept accepts none"
    } else if args.no_accept && args.echo {
        "--echo writes back to accepted connections, and --no-accept accepts none"
    } else if args.slow_after.is_some() != args.slow_by.is_some() {
        "--slow-after K and --slow-by DUR go together: each echo waits DUR for every \
         connection open past K"
    } else if args.h2 && (args.echo || args.greeting.is_some() || reject_after) {
        "--h2 answers what arrives with HTTP/2, greets with its SETTINGS and refuses with a \
         GOAWAY: leave out --echo, --greeting and --reject-after (--max-open K sets the cap)"
    } else if args.h2 && args.no_accept {
        "--h2 answers accepted connections, and --no-accept accepts none"
    } else if [args.h2, args.ws, args.mqtt]
        .iter()
        .filter(|on| **on)
        .count()
        > 1
    {
        "--h2, --ws and --mqtt exclude each other: a server speaks one of them"
    } else if args.mqtt_refuse_past.is_some() && !args.mqtt {
        "--mqtt-refuse-past shapes an MQTT server: give --mqtt"
    } else if args.mqtt && (args.no_accept || args.greeting.is_some() || reject_after) {
        "--mqtt answers each connection's CONNECT: not with --no-accept (none is accepted), \
         --greeting or --reject-after (their bytes would come before the CONNACK)"
    } else if (args.slow_by.is_some() || args.mute_after.is_some())
        && !(args.echo || args.h2 || args.ws || args.mqtt)
    {
        "--slow-by and --mute-after shape the echo: give --echo (or --ws, --mqtt, --h2)"
    } else if (args.ws_wrong_accept || args.ws_close_past.is_some()) && !args.ws {
        "--ws-wrong-accept and --ws-close-past shape a WebSocket server: give --ws"
    } else if args.ws && (args.no_accept || args.greeting.is_some() || reject_after) {
        "--ws answers each connection's upgrade request: not with --no-accept (none is \
         accepted), --greeting or --reject-after (their bytes would come before the answer)"
    } else if reject_after && args.max_open.is_some() {
        "--reject-after and --max-open exclude each other: --reject-after K TEXT is \
         --max-open K, writing TEXT before each close"
    } else if reject_after && args.reset {
        "--reject-after and --reset exclude each other: a reset throws away the TEXT not yet \
         read (--max-open K --reset turns them away with a reset)"
    } else if args.accept_limit.is_some() && args.max_connections.is_some_and(|m| m > 0) {
        "--accept-limit and -m exclude each other: -m stops the server at its Nth accept, \
         --accept-limit stops accepting and keeps serving until -d or a signal; leave -m out"
    } else {
        return Ok(());
    };
    Err(Error::Usage(conflict.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, parse};

    fn server(words: &str) -> Result<ServerConfig, Error> {
        let words = format!("server {words}");
        match parse(words.split_whitespace().map(Into::into).collect()) {
            Ok(Command::Server(args)) => ServerConfig::resolve(args),
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    fn refused(words: &str) -> String {
        match server(words) {
            Err(Error::Usage(message)) => message,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    #[test]
    fn accept_limit_lifts_the_default_maxconnections() {
        assert_eq!(server("").unwrap().max_connections, Some(10));
        assert_eq!(server("--accept-limit 40").unwrap().max_connections, None);
        assert_eq!(
            server("--accept-limit 40 -m 0").unwrap().max_connections,
            None
        );
        assert_eq!(server("-m 50").unwrap().max_connections, Some(50));
        assert!(refused("--accept-limit 40 -m 50").contains("leave -m out"));
        assert!(refused("--accept-limit 40 -m 10").contains("leave -m out"));
    }

    #[test]
    fn slow_and_mute_shape_the_echo() {
        let config = server("--echo --slow-after 100 --slow-by 2ms --mute-after 1m").unwrap();
        let slow = config.slow.unwrap();
        assert_eq!(slow.delay(100), Duration::ZERO);
        assert_eq!(slow.delay(150), Duration::from_millis(100));
        assert_eq!(config.mute_after, Some(Duration::from_secs(60)));
        assert_eq!(server("--echo").unwrap().slow, None);
    }

    #[test]
    fn reject_after_is_max_open_with_a_refusal() {
        let config = server(r"-m 0 --reject-after 2 -ERR\r\n").unwrap();
        assert_eq!(
            (config.max_open, config.refusal),
            (Some(2), b"-ERR\r\n".to_vec())
        );
        let config = server("--max-open 3").unwrap();
        assert_eq!((config.max_open, config.refusal), (Some(3), Vec::new()));
    }

    #[test]
    fn options_that_contradict_each_other_are_refused() {
        for (words, says) in [
            (
                "--reject-after 1 x --max-open 2",
                "--reject-after and --max-open",
            ),
            ("--reject-after 1 x --reset", "--reject-after and --reset"),
            ("--reject-after 1 x --no-accept", "--no-accept accepts none"),
            ("--echo --no-accept", "--no-accept accepts none"),
            (
                "--echo --slow-after 5",
                "--slow-after K and --slow-by DUR go together",
            ),
            (
                "--echo --slow-by 1ms",
                "--slow-after K and --slow-by DUR go together",
            ),
            ("--slow-after 5 --slow-by 1ms", "give --echo"),
            ("--mute-after 1s", "give --echo"),
            (
                "--accept-limit 0 --no-accept",
                "--no-accept and --accept-limit",
            ),
            ("--ws-wrong-accept", "give --ws"),
            ("--ws-close-past 3 --echo", "give --ws"),
            ("--ws --greeting hi", "before the answer"),
            ("--ws --reject-after 2 x", "before the answer"),
            ("--ws --no-accept", "none is accepted"),
            ("--mqtt-refuse-past 3", "give --mqtt"),
            ("--mqtt --ws", "exclude each other"),
            ("--mqtt --greeting hi", "before the CONNACK"),
        ] {
            let message = refused(words);
            assert!(message.contains(says), "{words}: {message}");
            assert!(!message.contains('\n'), "{words}: {message}");
        }
        // What still goes together.
        for words in [
            "--accept-limit 5 --max-open 2 --greeting hi --close-after 1s --reset",
            "--echo --greeting hi --max-open 2 --reset",
            "--reject-after 2 x --echo --accept-limit 10 --close-after 1s",
            "--ws --ws-close-past 5 --ws-wrong-accept --mute-after 1s --max-open 9 --tls",
            "--mqtt --mqtt-refuse-past 5 --slow-after 2 --slow-by 1ms --tls",
            "--no-accept --greeting hi",
        ] {
            assert!(server(words).is_ok(), "{words}");
        }
    }
}
