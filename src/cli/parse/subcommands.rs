//! One parser per subcommand: its options read, each with its value's parser, into its
//! arguments as typed; and the groups of options `run` and `limit` share (addressing,
//! probing, TLS).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::args::*;
use super::lexer::{Args, Pair};
use super::read::{flag, flag_in, leftover, looks_like_flag, option, reject_leftover, repeated};
use crate::cli::values::{
    DEFAULT_SETTLE, Progress, interval, interval_with_unit, long_with_unit, millis, parse_escaped,
    parse_port, parse_port_or_zero, parse_probe_bytes, parse_probe_kind, parse_progress,
    parse_rate, parse_shard, parse_workers, whole_number, with_unit,
};
use crate::engine::mqtt;
use crate::engine::pacer::Shard;
use crate::engine::source;
use crate::engine::tls::Versions;
use crate::error::Error;
use crate::judge::thresholds::{self, Thresholds};
use crate::units::wallclock::parse_wall_time;

pub(super) fn parse_run(mut args: Args, operands: Vec<String>) -> Result<RunArgs, Error> {
    let connections = option(&mut args, &["-c", "--connections"], whole_number)?.unwrap_or(100);
    let sleep = option(&mut args, &["-s", "--sleep"], millis)?.unwrap_or(Duration::from_millis(10));
    let dial_timeout =
        option(&mut args, &["-t", "--dial-timeout"], millis)?.unwrap_or(Duration::from_secs(5));
    let interval =
        option(&mut args, &["-i", "--interval"], interval)?.unwrap_or(Duration::from_secs(1));
    let progress = option(&mut args, &["--progress"], parse_progress)?.unwrap_or(Progress::Auto);
    let hdr_log = option(&mut args, &["--hdr-log"], |s| Ok(PathBuf::from(s)))?;
    let summary = option(&mut args, &["--summary"], |s| Ok(PathBuf::from(s)))?;
    let thresholds = Thresholds {
        max_latency: repeated(&mut args, "--max-latency", thresholds::parse_max_latency)?,
        min_established: option(
            &mut args,
            &["--min-established"],
            thresholds::parse_min_established,
        )?,
    };
    let hold = option(&mut args, &["--hold"], long_with_unit)?.unwrap_or(Duration::ZERO);
    let settle = option(&mut args, &["--settle"], with_unit)?.unwrap_or(DEFAULT_SETTLE);
    let assume_yes = flag(&mut args, &["-y", "--assume-yes"])?;
    let debug = flag(&mut args, &["-d", "--debug"])?;
    let json = flag(&mut args, &["--json"])?;
    let reconnect = flag(&mut args, &["--reconnect"])?;
    let shard = option(&mut args, &["--shard"], parse_shard)?.unwrap_or(Shard::WHOLE);
    let start_at = option(&mut args, &["--start-at"], parse_wall_time)?;
    let workers = option(&mut args, &["--workers"], parse_workers)?;
    let addressing = parse_addressing(&mut args)?;
    let probing = parse_probing(&mut args)?;
    let tls = parse_tls(&mut args)?;
    let metrics = parse_metrics_push(&mut args)?;
    let (host, port) = host_and_port(args, operands, "run")?;
    Ok(RunArgs {
        host,
        port,
        connections,
        sleep,
        dial_timeout,
        interval,
        assume_yes,
        debug,
        progress,
        json,
        hdr_log,
        summary,
        thresholds,
        hold,
        settle,
        reconnect,
        addressing,
        probing,
        shard,
        start_at,
        workers,
        tls,
        metrics,
    })
}

/// `merge [--json] FILE…`: at least one file; `-` is stdin.
pub(super) fn parse_merge(
    mut args: pico_args::Arguments,
    operands: Vec<String>,
) -> Result<MergeArgs, Error> {
    let json = flag_in(&mut args, &["--json"])?.unwrap_or(false);
    let mut files = leftover(args);
    if let Some(flag) = files.iter().find(|a| looks_like_flag(a)) {
        return Err(Error::Usage(format!(
            "unknown option '{flag}' for merge; see `tcpgoon merge --help`"
        )));
    }
    files.extend(operands);
    if files.is_empty() {
        return Err(Error::Usage(
            "merge takes the --json output of each shard: FILE… or - for stdin".to_string(),
        ));
    }
    Ok(MergeArgs { json, files })
}

pub(super) fn parse_limit(mut args: Args, operands: Vec<String>) -> Result<LimitArgs, Error> {
    let rate = option(&mut args, &["-r", "--rate"], parse_rate)?.unwrap_or(1000.0);
    let connections = option(&mut args, &["-c", "--connections"], |s| {
        whole_number(s).and_then(|n| match n {
            0 => Err("must be at least 1".to_string()),
            n => Ok(n),
        })
    })?;
    let dial_timeout =
        option(&mut args, &["-t", "--dial-timeout"], with_unit)?.unwrap_or(Duration::from_secs(1));
    let hold = option(&mut args, &["--hold"], long_with_unit)?.unwrap_or(Duration::from_secs(5));
    let settle = option(&mut args, &["--settle"], with_unit)?.unwrap_or(DEFAULT_SETTLE);
    let interval = option(&mut args, &["-i", "--interval"], interval_with_unit)?
        .unwrap_or(Duration::from_secs(1));
    let debug = flag(&mut args, &["-d", "--debug"])?;
    let summary = option(&mut args, &["--summary"], |s| Ok(PathBuf::from(s)))?;
    let json = flag(&mut args, &["--json"])?;
    let max_latency = repeated(&mut args, "--max-latency", thresholds::parse_max_latency)?;
    let addressing = parse_addressing(&mut args)?;
    let probing = parse_probing(&mut args)?;
    let tls = parse_tls(&mut args)?;
    let metrics = parse_metrics_push(&mut args)?;
    let (host, port) = host_and_port(args, operands, "limit")?;
    Ok(LimitArgs {
        host,
        port,
        rate,
        connections,
        dial_timeout,
        hold,
        settle,
        interval,
        debug,
        summary,
        json,
        max_latency,
        addressing,
        probing,
        tls,
        metrics,
    })
}

/// `plot FILE... -o OUT`: at least one input (`-` is stdin), and the output.
pub(super) fn parse_plot(mut args: Args, operands: Vec<OsString>) -> Result<PlotArgs, Error> {
    let output = option(&mut args, &["-o", "--output"], |s| match s {
        "" => Err("needs a path, not an empty one".to_string()),
        s => Ok(PathBuf::from(s)),
    })?;
    let mut inputs = args.args.finish();
    if let Some(flag) = inputs
        .iter()
        .find(|a| looks_like_flag(&a.to_string_lossy()))
    {
        return Err(Error::Usage(format!(
            "unknown option '{}' for plot; see `tcpgoon help plot`",
            flag.to_string_lossy()
        )));
    }
    inputs.extend(operands);
    let Some(output) = output else {
        return Err(Error::Usage(
            "plot needs -o <FILE>, the SVG to write; see `tcpgoon help plot`".to_string(),
        ));
    };
    if inputs.is_empty() {
        return Err(Error::Usage(
            "plot takes at least one FILE, the --json output of a run, limit or merge; \
             see `tcpgoon help plot`"
                .to_string(),
        ));
    }
    Ok(PlotArgs {
        inputs: inputs.into_iter().map(PathBuf::from).collect(),
        output,
    })
}

pub(super) fn parse_addressing(args: &mut Args) -> Result<Addressing, Error> {
    // Every --source adds its addresses: one list, checked as a whole (no address twice).
    let sources = repeated(args, "--source", |s| Ok(s.to_string()))?;
    let sources = if sources.is_empty() {
        Vec::new()
    } else {
        source::parse_sources(&sources.join(","))
            .map_err(|e| Error::Usage(format!("--source: {e}")))?
    };
    let all_addresses = flag(args, &["--all-addresses"])?;
    let family = match (flag(args, &["-4"])?, flag(args, &["-6"])?) {
        (true, true) => {
            return Err(Error::Usage(
                "-4 and -6 exclude each other; give one".to_string(),
            ));
        }
        (true, false) => Some(Family::V4),
        (false, true) => Some(Family::V6),
        (false, false) => None,
    };
    Ok(Addressing {
        sources,
        all_addresses,
        family,
    })
}

/// Application probes: a preset (`--probe`) or bytes given by hand (`--send`, `--expect`).
pub(super) fn parse_probing(args: &mut Args) -> Result<Probing, Error> {
    Ok(Probing {
        kind: option(args, &["--probe"], parse_probe_kind)?,
        send: option(args, &["--send"], parse_probe_bytes)?,
        expect: option(args, &["--expect"], parse_probe_bytes)?,
        timeout: option(args, &["--probe-timeout"], with_unit)?,
        heartbeat: option(args, &["--heartbeat"], with_unit)?,
        heartbeat_timeout: option(args, &["--heartbeat-timeout"], with_unit)?,
        headers: repeated(args, "--header", parse_header)?,
        ws_protocol: option(args, &["--ws-protocol"], parse_token)?,
        mqtt_version: option(args, &["--mqtt-version"], |s| match s {
            "3.1.1" => Ok(mqtt::Version::V311),
            "5" | "5.0" => Ok(mqtt::Version::V5),
            _ => Err(format!("'{s}': expected 3.1.1 or 5")),
        })?
        .unwrap_or(mqtt::Version::V311),
        mqtt_client_id: option(args, &["--mqtt-client-id"], |s| {
            let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
            if s.is_empty() || s.len() > mqtt::MAX_PREFIX || !s.bytes().all(ok) {
                return Err(format!(
                    "'{s}': a client id prefix is 1 to {} letters, digits, - _ or .",
                    mqtt::MAX_PREFIX
                ));
            }
            Ok(s.to_string())
        })?,
        mqtt_user: option(args, &["--mqtt-user"], |s| {
            mqtt_credential(s).map(str::to_string)
        })?,
        mqtt_password: option(args, &["--mqtt-password"], |s| {
            mqtt_credential(s).map(str::to_string)
        })?,
    })
}

/// `--tls` and its options; `cli::tls` checks how they combine.
/// `--metrics ADDR:PORT` (an IP address and a port, nothing to resolve) and
/// `--metrics-linger DUR`, which needs it.
pub(super) fn parse_metrics(args: &mut Args) -> Result<MetricsArgs, Error> {
    let addr = option(args, &["--metrics"], |s| {
        s.parse::<std::net::SocketAddr>()
            .map_err(|_| format!("'{s}' is not IP:PORT (127.0.0.1:9090, [::1]:9090)"))
    })?;
    let linger = option(args, &["--metrics-linger"], long_with_unit)?;
    if linger.is_some() && addr.is_none() {
        return Err(Error::Usage(
            "--metrics-linger keeps a --metrics endpoint answering: give --metrics too".to_string(),
        ));
    }
    Ok(MetricsArgs {
        addr,
        linger: linger.unwrap_or(Duration::ZERO),
        push: None,
    })
}

/// `--metrics-push URL`, the Pushgateway's (`run` and `limit`); `--metrics` and its
/// linger besides.
pub(super) fn parse_metrics_push(args: &mut Args) -> Result<MetricsArgs, Error> {
    let push = option(
        args,
        &["--metrics-push"],
        crate::engine::push::PushUrl::parse,
    )?;
    Ok(MetricsArgs {
        push,
        ..parse_metrics(args)?
    })
}

pub(super) fn parse_tls(args: &mut Args) -> Result<TlsArgs, Error> {
    Ok(TlsArgs {
        sni: option(args, &["--sni"], |s| match s {
            "" => Err("needs a name".to_string()),
            s => Ok(s.to_string()),
        })?,
        ca: option(args, &["--ca"], |s| Ok(PathBuf::from(s)))?,
        alpn: repeated(args, "--alpn", |s| match s.len() {
            1..=255 => Ok(s.to_string()),
            _ => Err(format!("'{s}': a protocol name is 1 to 255 bytes")),
        })?,
        version: option(args, &["--tls-version"], |s| match s {
            "1.2" => Ok(Versions::Tls12),
            "1.3" => Ok(Versions::Tls13),
            _ => Err(format!("'{s}': expected 1.2 or 1.3")),
        })?,
        on: flag(args, &["--tls"])?,
        insecure: flag(args, &["--insecure"])?,
    })
}

/// The two free arguments every client command ends with, before or after `--`; anything
/// else left is an error.
pub(super) fn host_and_port(
    args: Args,
    operands: Vec<String>,
    command: &str,
) -> Result<(String, u16), Error> {
    let mut free = leftover(args.args);
    if let Some(flag) = free.iter().find(|a| looks_like_flag(a)) {
        return Err(Error::Usage(format!(
            "unknown option '{flag}' for {command}; see `tcpgoon {command} --help`"
        )));
    }
    free.extend(operands);
    let [host, port] = <[String; 2]>::try_from(free).map_err(|free| {
        Error::Usage(format!(
            "{command} takes <host> <port>, got {} argument{}; see `tcpgoon {command} --help`",
            free.len(),
            if free.len() == 1 { "" } else { "s" }
        ))
    })?;
    let port = parse_port(&port).map_err(|e| Error::Usage(format!("<port>: {e}")))?;
    Ok((host, port))
}

pub(super) fn parse_server(
    mut args: Args,
    operands: Vec<String>,
    pairs: Vec<Pair>,
) -> Result<ServerArgs, Error> {
    let port = option(&mut args, &["-p", "--port"], parse_port_or_zero)?.unwrap_or(54321);
    let bind = option(&mut args, &["-b", "--bind"], |s| Ok(s.to_string()))?
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let max_connections = option(&mut args, &["-m", "--maxconnections"], whole_number)?;
    let duration = option(&mut args, &["-d", "--duration"], long_with_unit)?
        .unwrap_or(Duration::from_secs(30));
    let backlog = option(&mut args, &["--backlog"], |s| {
        whole_number(s).and_then(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| *n <= i32::MAX as u32)
                .ok_or_else(|| format!("'{s}' is too large"))
        })
    })?
    .unwrap_or(1024);
    let accept_limit = option(&mut args, &["--accept-limit"], whole_number)?;
    let close_after = option(&mut args, &["--close-after"], with_unit)?;
    let greeting = option(&mut args, &["--greeting"], parse_escaped)?;
    let max_open = option(&mut args, &["--max-open"], whole_number)?;
    let interval = option(&mut args, &["-i", "--interval"], interval_with_unit)?
        .unwrap_or(Duration::from_secs(1));
    let cert = option(&mut args, &["--cert"], |s| Ok(PathBuf::from(s)))?;
    let key = option(&mut args, &["--key"], |s| Ok(PathBuf::from(s)))?;
    let no_accept = flag(&mut args, &["--no-accept"])?;
    let reset = flag(&mut args, &["--reset"])?;
    let echo = flag(&mut args, &["--echo"])?;
    let slow_after = option(&mut args, &["--slow-after"], whole_number)?;
    let slow_by = option(&mut args, &["--slow-by"], with_unit)?;
    let mute_after = option(&mut args, &["--mute-after"], with_unit)?;
    let ws = flag(&mut args, &["--ws"])?;
    let ws_wrong_accept = flag(&mut args, &["--ws-wrong-accept"])?;
    let ws_close_past = option(&mut args, &["--ws-close-past"], whole_number)?;
    let mqtt = flag(&mut args, &["--mqtt"])?;
    let mqtt_refuse_past = option(&mut args, &["--mqtt-refuse-past"], whole_number)?;
    let reuse_port = flag(&mut args, &["--reuse-port"])?;
    let workers = option(&mut args, &["--workers"], parse_workers)?;
    let tls = flag(&mut args, &["--tls"])?;
    let h2 = flag(&mut args, &["--h2"])?;
    let reject_after = reject_after(pairs)?;
    let metrics = parse_metrics(&mut args)?;
    reject_leftover(args.args, operands, "server")?;
    Ok(ServerArgs {
        port,
        bind,
        max_connections,
        duration,
        backlog,
        no_accept,
        accept_limit,
        close_after,
        reset,
        greeting,
        echo,
        slow_after,
        slow_by,
        mute_after,
        ws,
        ws_wrong_accept,
        ws_close_past,
        mqtt,
        mqtt_refuse_past,
        max_open,
        reject_after,
        interval,
        reuse_port,
        workers,
        tls,
        cert,
        key,
        h2,
        metrics,
    })
}

/// `--reject-after K TEXT`, from the options with two values (it is the only one).
pub(super) fn reject_after(pairs: Vec<Pair>) -> Result<Option<(u64, Vec<u8>)>, Error> {
    // Given twice, the last counts, as for every option; each is checked all the same.
    let mut last = None;
    for Pair { values, .. } in pairs
        .into_iter()
        .filter(|pair| pair.key == "--reject-after")
    {
        last = Some(reject_after_pair(values)?);
    }
    Ok(last)
}

pub(super) fn reject_after_pair(values: Vec<OsString>) -> Result<(u64, Vec<u8>), Error> {
    const NAME: &str = "--reject-after";
    let [count, text] = <[OsString; 2]>::try_from(values).map_err(|_| {
        Error::Usage(format!(
            "{NAME} needs two values, a count and a text: e.g. {NAME} 100 \
             '-ERR max number of clients reached\\r\\n'"
        ))
    })?;
    let count =
        whole_number(&count.to_string_lossy()).map_err(|e| Error::Usage(format!("{NAME}: {e}")))?;
    let text = text.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{NAME}: the text is not UTF-8; write such bytes as \\xHH"
        ))
    })?;
    let bytes = parse_escaped(text).map_err(|e| Error::Usage(format!("{NAME}: {e}")))?;
    Ok((count, bytes))
}

/// `--header 'Name: value'`: a token, a colon, a value with no line break; one header.
fn parse_header(text: &str) -> Result<String, String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("'{text}': a header is 'NAME: VALUE'"));
    };
    parse_token(name).map_err(|_| format!("'{text}': '{name}' is not a header name"))?;
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("'{text}': a header's value has no line break"));
    }
    if text.len() > 8192 {
        return Err("a header is at most 8192 bytes".to_string());
    }
    Ok(format!("{name}: {}", value.trim()))
}

/// An HTTP token (RFC 9110 §5.6.2): a header's name, a subprotocol.
/// `--mqtt-user` and `--mqtt-password`: an MQTT string has no NUL, and each is bounded so
/// that a CONNECT stays small.
fn mqtt_credential(text: &str) -> Result<&str, String> {
    if text.contains('\0') || text.len() > mqtt::MAX_CREDENTIAL {
        return Err(format!(
            "at most {} bytes, and no NUL",
            mqtt::MAX_CREDENTIAL
        ));
    }
    Ok(text)
}

fn parse_token(text: &str) -> Result<String, String> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if text.is_empty() || text.len() > 256 || !text.bytes().all(ok) {
        return Err(format!(
            "'{text}' is not a token (letters, digits, !#$%&'*+-.^_`|~)"
        ));
    }
    Ok(text.to_string())
}
