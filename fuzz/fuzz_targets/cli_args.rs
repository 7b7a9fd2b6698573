//! The whole command line, as `main` hands it to `cli::parse`.
//!
//! The input is the argument list after the program name, one argument per line (one final
//! newline is dropped, so seed files stay ordinary text files); an argument need not be
//! UTF-8, as on Unix it need not be. Properties, beyond never panicking:
//! - a rejected command line is a usage error (exit 64) whose message is one line;
//! - an accepted `run`, `limit` or `server` holds values in range (an `--interval` is 0 or
//!   at least 10ms), and its canonical command (for `plot`, with UTF-8 paths, too)
//!   line (every option spelled out, durations as `duration::canonical` writes them) parses
//!   back to the same arguments;
//! - `--key=value` means what `--key value` means, for every option that takes a value, on
//!   a command line where no value starts with `-` (before `--`, which ends the options);
//!   and `--reject-after=K TEXT` means `--reject-after K TEXT`, whatever TEXT is.
//! - an option given again later counts with its later value, as the original tool's parser
//!   has it: the canonical options put before the line's own change nothing (the line's own
//!   supersede them, and those it lacks have their canonical value anyway).
//!
//! The canonical lines end with `-- <host> <port>`, so the round trip also checks that `--`
//! ends the options.
//!
//! The arguments are destructured field by field, so a new flag does not compile here until
//! this target renders it too.

#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tcpgoon::cli::complete::Shell;
use tcpgoon::cli::escape;
use tcpgoon::cli::{
    self, Addressing, Command, Family, HELP, LimitArgs, MergeArgs, MetricsArgs, PlotArgs, Probing,
    Progress, RunArgs, ServerArgs, Sub, TlsArgs, WorkerCount,
};
use tcpgoon::engine::mqtt;
use tcpgoon::engine::probe::ProbeKind;
use tcpgoon::engine::tls::Versions;
use tcpgoon::error::Error;
use tcpgoon::judge::thresholds::{MaxLatency, MinEstablished, Thresholds};
use tcpgoon::units::duration::canonical;

/// The longest duration any flag accepts (`duration::parse` refuses more than 100000h).
const LONGEST: Duration = Duration::from_secs(100_000 * 3600);

/// The shortest `--interval` but 0, which turns the live lines off.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(10);

fn check_interval(interval: Duration) {
    assert!(
        interval.is_zero() || interval >= SHORTEST_INTERVAL,
        "--interval {interval:?} accepted"
    );
}

fuzz_target!(|data: &[u8]| {
    let args = split_arguments(data);
    let parsed = cli::parse(args.clone());
    match &parsed {
        Err(Error::Usage(message)) => {
            assert!(!message.is_empty(), "empty usage error");
            assert!(
                !message.contains('\n'),
                "usage error spans lines: {message:?}"
            );
        }
        Err(other) => panic!("a command line can only be a usage error, got {other:?}"),
        Ok(Command::Help(text)) => {
            assert!(*text == HELP || cli::help::topics().any(|(_, help)| help == *text))
        }
        Ok(Command::Version) => {}
        Ok(Command::Completions(shell)) => {
            // Only `completions SHELL`, the shell named as it is spelled.
            let words: Vec<&[u8]> = args.iter().map(|a| a.as_encoded_bytes()).collect();
            assert!(words.contains(&&b"completions"[..]), "{args:?}");
            let named = Shell::NAMES
                .iter()
                .filter(|name| words.contains(&name.as_bytes()))
                .map(|name| Shell::parse(name).unwrap())
                .collect::<Vec<_>>();
            assert!(named.contains(shell), "{args:?} gave {shell:?}");
        }
        Ok(Command::Man) => {
            assert!(
                args.iter().any(|a| a.as_encoded_bytes() == b"man"),
                "{args:?}"
            );
        }
        Ok(Command::Run(run)) => {
            check_run(run);
            assert_eq!(reparse(run_line(run)), parsed, "canonical run line differs");
            assert_eq!(
                cli::parse(superseding(run_line(run), &args)),
                parsed,
                "a later run option did not supersede an earlier one"
            );
        }
        Ok(Command::Limit(limit)) => {
            check_limit(limit);
            assert_eq!(
                reparse(limit_line(limit)),
                parsed,
                "canonical limit line differs"
            );
            assert_eq!(
                cli::parse(superseding(limit_line(limit), &args)),
                parsed,
                "a later limit option did not supersede an earlier one"
            );
        }
        Ok(Command::Merge(merge)) => {
            let MergeArgs { json, files } = merge;
            assert!(!files.is_empty(), "merge accepted no file");
            let mut line = vec!["merge".to_string()];
            if *json {
                line.push("--json".to_string());
            }
            line.push("--".to_string());
            line.extend(files.iter().cloned());
            assert_eq!(reparse(line), parsed, "canonical merge line differs");
        }
        Ok(Command::Plot(plot)) => {
            assert!(!plot.inputs.is_empty(), "plot accepted no FILE");
            // Paths need not be UTF-8; the canonical line is text, so only theirs are checked.
            if let Some(line) = plot_line(plot) {
                assert_eq!(reparse(line.clone()), parsed, "canonical plot line differs");
                assert_eq!(
                    cli::parse(superseding(line, &args)),
                    parsed,
                    "a later plot option did not supersede an earlier one"
                );
            }
        }
        Ok(Command::Server(server)) => {
            check_server(server);
            assert_eq!(
                reparse(server_line(server)),
                parsed,
                "canonical server line differs"
            );
            assert_eq!(
                cli::parse(superseding(server_line(server), &args)),
                parsed,
                "a later server option did not supersede an earlier one"
            );
        }
    }
    if let Some(spaced) = without_equals(&args) {
        let respelled = cli::parse(spaced.clone());
        match (&parsed, &respelled) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{args:?} and {spaced:?} differ"),
            (Err(_), Err(_)) => {}
            _ => panic!("{args:?} gave {parsed:?} but {spaced:?} gave {respelled:?}"),
        }
    }
});

fn split_arguments(data: &[u8]) -> Vec<OsString> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|b| *b == b'\n')
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect()
}

/// The same arguments with every `--key=value` of a value option split into two arguments;
/// `None` when there is none to split. The values of an option with two values are taken as
/// they are, as `cli` takes them.
fn without_equals(args: &[OsString]) -> Option<Vec<OsString>> {
    let sub = match Sub::named(args.first()?.to_str()?)? {
        Sub::Merge => return None,
        sub => sub,
    };
    let (value_options, pair_options) = (sub.value_options(), sub.pair_options());
    // A value that looks like a flag (`--greeting -b=x`) makes the line ambiguous: pico-args
    // finds keys anywhere, preferring `-b` to `-b=`, so splitting changes which one it takes.
    let flag_like_value = args.windows(2).any(|pair| {
        pair[0]
            .to_str()
            .is_some_and(|key| value_options.contains(&key))
            && pair[1].as_encoded_bytes().starts_with(b"-")
    });
    if flag_like_value {
        return None;
    }
    let mut changed = false;
    let mut spaced = Vec::with_capacity(args.len() + 1);
    let mut options_ended = false;
    let mut pair_values_next = 0;
    for arg in args {
        if pair_values_next > 0 {
            pair_values_next -= 1;
            spaced.push(arg.clone());
            continue;
        }
        // After `--` nothing is an option: `-c=5` there is an operand, not `-c 5`.
        options_ended |= arg == "--";
        let pair = arg.to_str().filter(|_| !options_ended).and_then(|text| {
            pair_options
                .iter()
                .find_map(|key| match text.strip_prefix(key)? {
                    "" => Some((key, None)),
                    rest => rest.strip_prefix('=').map(|first| (key, Some(first))),
                })
        });
        match pair {
            Some((key, Some(first))) if !first.is_empty() => {
                spaced.push(OsString::from(key));
                spaced.push(OsString::from(first));
                pair_values_next = 1;
                changed = true;
                continue;
            }
            Some((_, first)) => {
                spaced.push(arg.clone());
                pair_values_next = if first.is_some() { 1 } else { 2 };
                continue;
            }
            None => {}
        }
        let split = arg
            .to_str()
            .filter(|_| !options_ended)
            .and_then(|text| text.split_once('='))
            .filter(|(key, value)| {
                value_options.contains(key)
                    && !value.is_empty()
                    && !value.starts_with(['-', '"', '\''])
            });
        match split {
            Some((key, value)) => {
                spaced.push(OsString::from(key));
                spaced.push(OsString::from(value));
                changed = true;
            }
            None => spaced.push(arg.clone()),
        }
    }
    changed.then_some(spaced)
}

/// The subcommand, the options of its canonical `line` but the repeatable ones (which add
/// up rather than supersede) and its operands, then the arguments as given after the
/// subcommand.
fn superseding(line: Vec<String>, args: &[OsString]) -> Vec<OsString> {
    let mut words = line.into_iter();
    let mut out: Vec<OsString> = words.next().into_iter().map(OsString::from).collect();
    let mut repeatable_value = false;
    // The values of `--reject-after K TEXT` are taken as they stand, `--` among them.
    let mut pair_values = 0;
    for word in words.by_ref() {
        if pair_values > 0 {
            pair_values -= 1;
            out.push(word.into());
            continue;
        }
        if word == "--reject-after" || word.starts_with("--reject-after=") {
            pair_values = if word == "--reject-after" { 2 } else { 1 };
            out.push(word.into());
            continue;
        }
        if word == "--" {
            break;
        }
        if std::mem::take(&mut repeatable_value) {
            continue;
        }
        // The repeatable options as the flag table marks them, so a new one is one too.
        let repeats = cli::flags::FLAGS
            .iter()
            .filter(|flag| flag.repeats)
            .filter_map(|flag| flag.long);
        if repeats.clone().any(|long| word == long) {
            repeatable_value = true;
            continue;
        }
        if repeats.into_iter().any(|long| {
            word.strip_prefix(long)
                .is_some_and(|rest| rest.starts_with('='))
        }) {
            continue;
        }
        out.push(word.into());
    }
    out.extend(args.iter().skip(1).cloned());
    out
}

fn reparse(line: Vec<String>) -> Result<Command, Error> {
    cli::parse(line.into_iter().map(OsString::from).collect())
}

fn check_run(run: &RunArgs) {
    if let Some(WorkerCount::Count(n)) = run.workers {
        assert!((1..=1024).contains(&n), "{n} workers");
    }
    assert_ne!(run.port, 0, "run accepted port 0");
    let latency_limits = run.thresholds.max_latency.iter().map(|m| m.limit);
    for d in [
        run.sleep,
        run.dial_timeout,
        run.interval,
        run.hold,
        run.settle,
    ]
    .into_iter()
    .chain(latency_limits)
    {
        assert!(d <= LONGEST, "{d:?} is longer than any flag allows");
    }
    if let Some(MinEstablished::Percent(p)) = run.thresholds.min_established {
        assert!(
            (0.0..=100.0).contains(&p.as_f64()),
            "--min-established {p}%"
        );
    }
    check_interval(run.interval);
    check_addressing(&run.addressing);
    assert!(
        run.shard.index < run.shard.count,
        "--shard {}/{}",
        run.shard.index,
        run.shard.count
    );
}

fn check_limit(limit: &LimitArgs) {
    assert_ne!(limit.port, 0, "limit accepted port 0");
    assert!(limit.rate > 0.0 && limit.rate <= 1e9, "rate {}", limit.rate);
    assert_ne!(limit.connections, Some(0), "limit accepted 0 connections");
    for d in [limit.dial_timeout, limit.hold, limit.settle, limit.interval] {
        assert!(d <= LONGEST, "{d:?} is longer than any flag allows");
    }
    check_interval(limit.interval);
    check_addressing(&limit.addressing);
}

fn check_addressing(addressing: &Addressing) {
    let mut sorted = addressing.sources.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        addressing.sources.len(),
        "a source given twice"
    );
    assert!(sorted.len() <= 65_536, "{} sources", sorted.len());
}

fn check_server(server: &ServerArgs) {
    assert!(
        server.backlog <= i32::MAX as u32,
        "backlog {}",
        server.backlog
    );
    check_interval(server.interval);
    for d in [server.duration, server.interval]
        .into_iter()
        .chain(server.close_after)
    {
        assert!(d <= LONGEST, "{d:?} is longer than any flag allows");
    }
    if let Some(bytes) = &server.greeting {
        assert_eq!(cli::parse_escaped(&escape(bytes)).as_ref(), Ok(bytes));
    }
    if let Some(WorkerCount::Count(n)) = server.workers {
        assert!((1..=1024).contains(&n), "{n} workers");
    }
}

/// `run` with every option given. Short keys, because pico-args looks for the short key
/// first: a value further on that happens to equal a long key cannot then be taken for it.
fn run_line(run: &RunArgs) -> Vec<String> {
    let RunArgs {
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
    } = run;
    let mut line = vec![
        "run".to_string(),
        "-c".to_string(),
        connections.to_string(),
        "-s".to_string(),
        canonical(*sleep),
        "-t".to_string(),
        canonical(*dial_timeout),
        "-i".to_string(),
        canonical(*interval),
        "--progress".to_string(),
        match progress {
            Progress::Auto => "auto",
            Progress::Bar => "bar",
            Progress::Lines => "lines",
        }
        .to_string(),
    ];
    if let Some(path) = hdr_log {
        let path = path.to_str().expect("--hdr-log is read as UTF-8");
        push_text(&mut line, "--hdr-log", path);
    }
    if let Some(path) = summary {
        let path = path.to_str().expect("--summary is read as UTF-8");
        push_text(&mut line, "--summary", path);
    }
    let Thresholds {
        max_latency,
        min_established,
    } = thresholds;
    for MaxLatency { name, limit, .. } in max_latency {
        push_text(
            &mut line,
            "--max-latency",
            &format!("{name}={}", canonical(*limit)),
        );
    }
    if let Some(min) = min_established {
        line.push("--min-established".to_string());
        line.push(min.to_string());
    }
    for (on, flag) in [(assume_yes, "-y"), (debug, "-d"), (json, "--json")] {
        if *on {
            line.push(flag.to_string());
        }
    }
    line.push("--hold".to_string());
    line.push(canonical(*hold));
    line.push("--settle".to_string());
    line.push(canonical(*settle));
    if *reconnect {
        line.push("--reconnect".to_string());
    }
    line.push("--shard".to_string());
    line.push(format!("{}/{}", shard.index, shard.count));
    if let Some(at) = start_at {
        // Every digit the parser keeps: seconds and nanoseconds since the epoch.
        let since = at
            .duration_since(UNIX_EPOCH)
            .expect("--start-at after 1970");
        line.push("--start-at".to_string());
        line.push(format!("@{}.{:09}", since.as_secs(), since.subsec_nanos()));
    }
    match workers {
        Some(WorkerCount::Auto) => line.extend(["--workers".to_string(), "auto".to_string()]),
        Some(WorkerCount::Count(n)) => line.extend(["--workers".to_string(), n.to_string()]),
        None => {}
    }
    push_addressing(&mut line, addressing);
    push_probing(&mut line, probing);
    push_tls(&mut line, tls);
    push_metrics(&mut line, metrics);
    line.extend(["--".to_string(), host.clone(), port.to_string()]);
    line
}

/// `limit` with every option given, as `run_line` does it.
fn limit_line(limit: &LimitArgs) -> Vec<String> {
    let LimitArgs {
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
        addressing,
        probing,
        tls,
        max_latency,
        metrics,
    } = limit;
    let mut line = vec!["limit".to_string(), "-r".to_string(), rate.to_string()];
    if let Some(n) = connections {
        line.push("-c".to_string());
        line.push(n.to_string());
    }
    line.extend([
        "-t".to_string(),
        canonical(*dial_timeout),
        "--hold".to_string(),
        canonical(*hold),
        "--settle".to_string(),
        canonical(*settle),
        "-i".to_string(),
        canonical(*interval),
    ]);
    if *debug {
        line.push("-d".to_string());
    }
    if let Some(path) = summary {
        let path = path.to_str().expect("--summary is read as UTF-8");
        push_text(&mut line, "--summary", path);
    }
    if *json {
        line.push("--json".to_string());
    }
    for MaxLatency { name, limit, .. } in max_latency {
        push_text(
            &mut line,
            "--max-latency",
            &format!("{name}={}", canonical(*limit)),
        );
    }
    push_addressing(&mut line, addressing);
    push_probing(&mut line, probing);
    push_tls(&mut line, tls);
    push_metrics(&mut line, metrics);
    line.extend(["--".to_string(), host.clone(), port.to_string()]);
    line
}

/// `plot` with its output given, then `--` and the inputs; `None` when a path is not
/// UTF-8. The output is one word, `--output=PATH`, where it can be, so a path such as
/// `--` is never taken for the end of the options.
fn plot_line(plot: &PlotArgs) -> Option<Vec<String>> {
    let PlotArgs { inputs, output } = plot;
    let mut line = vec!["plot".to_string()];
    let output = output.to_str().expect("-o is read as UTF-8");
    push_text(&mut line, "--output", output);
    line.push("--".to_string());
    for input in inputs {
        line.push(input.to_str()?.to_string());
    }
    Some(line)
}

fn push_probing(line: &mut Vec<String>, probing: &Probing) {
    let Probing {
        kind,
        send,
        expect,
        timeout,
        heartbeat,
        heartbeat_timeout,
        headers,
        ws_protocol,
        mqtt_version,
        mqtt_client_id,
        mqtt_user,
        mqtt_password,
    } = probing;
    if let Some(kind) = kind {
        let name = match kind {
            ProbeKind::Greeting => "greeting".to_string(),
            ProbeKind::Redis => "redis".to_string(),
            ProbeKind::Memcached => "memcached".to_string(),
            ProbeKind::Http => "http".to_string(),
            ProbeKind::Postgres { user } => format!("postgres:{user}"),
            ProbeKind::Ssh => "ssh".to_string(),
            ProbeKind::Smtp => "smtp".to_string(),
            ProbeKind::Ws { path } => format!("ws:{path}"),
            ProbeKind::MqttWs { path } => format!("mqtt-ws:{path}"),
            ProbeKind::Mqtt => "mqtt".to_string(),
            ProbeKind::H2 => "h2".to_string(),
            ProbeKind::H2c => "h2c".to_string(),
        };
        push_text(line, "--probe", &name);
    }
    for (key, bytes) in [("--send", send), ("--expect", expect)] {
        if let Some(bytes) = bytes {
            push_text(line, key, &cli::escape(bytes));
        }
    }
    for (key, value) in [
        ("--probe-timeout", timeout),
        ("--heartbeat", heartbeat),
        ("--heartbeat-timeout", heartbeat_timeout),
    ] {
        if let Some(value) = value {
            line.push(key.to_string());
            line.push(canonical(*value));
        }
    }
    for header in headers {
        push_text(line, "--header", header);
    }
    if let Some(protocol) = ws_protocol {
        push_text(line, "--ws-protocol", protocol);
    }
    if *mqtt_version != mqtt::Version::V311 {
        push_text(line, "--mqtt-version", "5");
    }
    for (key, value) in [
        ("--mqtt-client-id", mqtt_client_id),
        ("--mqtt-user", mqtt_user),
        ("--mqtt-password", mqtt_password),
    ] {
        if let Some(value) = value {
            push_text(line, key, value);
        }
    }
}

/// `--metrics` and its linger, which only it may have, and `--metrics-push` (never on
/// `server`, which does not read it).
fn push_metrics(line: &mut Vec<String>, metrics: &MetricsArgs) {
    let MetricsArgs { addr, linger, push } = metrics;
    if let Some(push) = push {
        push_text(line, "--metrics-push", &push.url);
    }
    match addr {
        Some(addr) => {
            line.push("--metrics".to_string());
            line.push(addr.to_string());
            line.push("--metrics-linger".to_string());
            line.push(canonical(*linger));
        }
        None => assert!(linger.is_zero(), "--metrics-linger without --metrics"),
    }
}

fn push_tls(line: &mut Vec<String>, tls: &TlsArgs) {
    let TlsArgs {
        on,
        insecure,
        sni,
        ca,
        alpn,
        version,
    } = tls;
    if let Some(sni) = sni {
        push_text(line, "--sni", sni);
    }
    if let Some(ca) = ca {
        push_text(line, "--ca", ca.to_str().expect("--ca is read as UTF-8"));
    }
    for proto in alpn {
        push_text(line, "--alpn", proto);
    }
    if let Some(version) = version {
        line.push("--tls-version".to_string());
        line.push(
            match version {
                Versions::Tls12 => "1.2",
                Versions::Tls13 => "1.3",
                Versions::Both => unreachable!("--tls-version takes 1.2 or 1.3"),
            }
            .to_string(),
        );
    }
    for (given, flag) in [(on, "--tls"), (insecure, "--insecure")] {
        if *given {
            line.push(flag.to_string());
        }
    }
}

fn push_addressing(line: &mut Vec<String>, addressing: &Addressing) {
    let Addressing {
        sources,
        all_addresses,
        family,
    } = addressing;
    if !sources.is_empty() {
        let list: Vec<String> = sources.iter().map(|ip| ip.to_string()).collect();
        push_text(line, "--source", &list.join(","));
    }
    if *all_addresses {
        line.push("--all-addresses".to_string());
    }
    match family {
        Some(Family::V4) => line.push("-4".to_string()),
        Some(Family::V6) => line.push("-6".to_string()),
        None => {}
    }
}

/// `server` with every option given, in the order `cli` reads them, so each option is found
/// before any later value that happens to spell its key. The free-text values come as
/// `--key=TEXT` where they can: apart they could be taken for a flag (`--bind -h`), or for an
/// option read earlier that this line does not give (`--greeting --close-after`).
fn server_line(server: &ServerArgs) -> Vec<String> {
    let ServerArgs {
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
    } = server;
    let mut line = vec!["server".to_string(), "-p".to_string(), port.to_string()];
    push_text(&mut line, "--bind", bind);
    if let Some(max_connections) = max_connections {
        line.push("-m".to_string());
        line.push(max_connections.to_string());
    }
    line.extend([
        "-d".to_string(),
        canonical(*duration),
        "--backlog".to_string(),
        backlog.to_string(),
    ]);
    if let Some(accept_limit) = accept_limit {
        line.push("--accept-limit".to_string());
        line.push(accept_limit.to_string());
    }
    if let Some(close_after) = close_after {
        line.push("--close-after".to_string());
        line.push(canonical(*close_after));
    }
    if let Some(bytes) = greeting {
        push_text(&mut line, "--greeting", &escape(bytes));
    }
    if let Some(max_open) = max_open {
        line.push("--max-open".to_string());
        line.push(max_open.to_string());
    }
    if let Some(slow_after) = slow_after {
        line.push("--slow-after".to_string());
        line.push(slow_after.to_string());
    }
    for (key_name, value) in [("--slow-by", slow_by), ("--mute-after", mute_after)] {
        if let Some(value) = value {
            line.push(key_name.to_string());
            line.push(canonical(*value));
        }
    }
    line.push("-i".to_string());
    line.push(canonical(*interval));
    for (key_name, path) in [("--cert", cert), ("--key", key)] {
        if let Some(path) = path {
            push_text(&mut line, key_name, path.to_str().expect("read as UTF-8"));
        }
    }
    if *tls {
        line.push("--tls".to_string());
    }
    if *no_accept {
        line.push("--no-accept".to_string());
    }
    if *reset {
        line.push("--reset".to_string());
    }
    if *echo {
        line.push("--echo".to_string());
    }
    if *reuse_port {
        line.push("--reuse-port".to_string());
    }
    match workers {
        Some(WorkerCount::Auto) => line.extend(["--workers".to_string(), "auto".to_string()]),
        Some(WorkerCount::Count(n)) => line.extend(["--workers".to_string(), n.to_string()]),
        None => {}
    }
    for (flag, on) in [("--ws", ws), ("--ws-wrong-accept", ws_wrong_accept)] {
        if *on {
            line.push(flag.to_string());
        }
    }
    if let Some(k) = ws_close_past {
        line.push("--ws-close-past".to_string());
        line.push(k.to_string());
    }
    if *mqtt {
        line.push("--mqtt".to_string());
    }
    if let Some(k) = mqtt_refuse_past {
        line.push("--mqtt-refuse-past".to_string());
        line.push(k.to_string());
    }
    if *h2 {
        line.push("--h2".to_string());
    }
    assert!(metrics.push.is_none(), "server has no --metrics-push");
    push_metrics(&mut line, metrics);
    // Its values are taken as they stand, so TEXT needs no `=`, whatever it starts with.
    if let Some((count, text)) = reject_after {
        line.extend([
            "--reject-after".to_string(),
            count.to_string(),
            escape(text),
        ]);
    }
    line
}

/// `--key=TEXT`, or `--key TEXT` where pico-args would read the joined form differently:
/// it rejects an empty value and strips quotes around one.
fn push_text(line: &mut Vec<String>, key: &str, text: &str) {
    if text.is_empty() || text.starts_with(['"', '\'']) {
        line.push(key.to_string());
        line.push(text.to_string());
    } else {
        line.push(format!("{key}={text}"));
    }
}
