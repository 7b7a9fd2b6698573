//! The `--json` summary and tick of a fixed final state, pinned byte for byte: key order,
//! whole numbers against rates, omitted against `null` fields, string escapes and the
//! histograms' V2 encodings. Other tools read these lines; any change here is a change of
//! the schema, and bumps `SCHEMA_VERSION`.

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use crate::engine::conn::{Closure, Failure};
use crate::engine::pacer::Shard;
use crate::engine::probe::ProbeOutcome;
use crate::engine::stats::{Loss, LossCause, Stats};
use crate::engine::timeline::Sample;
use crate::engine::{Outcome, Stop};
use crate::judge::thresholds::{GateKind, Verdict};
use crate::report::json::{self, SummaryInput};
use crate::report::schema::{LimitOptions, Options, ProbeOptions, Rate, RunOptions, TlsOptions};

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Four attempts over two targets with a probe and TLS: one served and held, one refused
/// and fallen back, one closed, one not made; interrupted during a hold.
fn outcome() -> Outcome {
    let mut stats = Stats::new(4);
    stats.split_by_target(2);
    stats.probe_each();
    stats.tls_each();
    stats.dialing(0);
    stats.established(0, us(1500));
    stats.handshake(us(1500), us(1200), false);
    stats.tls_done(us(900), "TLS 1.3 \"AES\"".to_string());
    stats.probe_awaiting();
    stats.probe_outcome(ProbeOutcome::Served, us(2500));
    stats.dialing(1);
    stats.failed(1, Failure::Refused, us(300));
    stats.tls_failed("alert\u{8}\u{c}".to_string());
    let (a, b): (SocketAddr, SocketAddr) = (
        "127.0.0.1:7000".parse().unwrap(),
        "[::1]:7000".parse().unwrap(),
    );
    stats.fell_back(b, Failure::Refused, Some(a));
    stats.fell_back(b, Failure::TimedOut, None);
    stats.dialing(0);
    stats.established(0, us(2_000_000));
    stats.handshake(us(2_000_000), us(9), true);
    stats.start_hold();
    stats.closed(0, Closure::Reset);
    stats.reconnects = 3;
    stats.bytes_received = 12;
    stats.first_loss = Some(Loss {
        cause: LossCause::Failed(Failure::Refused),
        held: 1,
        attempts: 2,
        after: us(4000),
        dropped: None,
    });
    stats.timeline.sample(Sample {
        elapsed: us(10),
        not_initiated: 4,
        served_open: Some(0),
        ..Sample::default()
    });
    stats.timeline.finish(stats.now(us(5000)));
    Outcome {
        stats,
        stop: Some(Stop::Interrupted(libc::SIGTERM)),
        wall: us(5000),
        dial_span: us(3000),
        settled: Some(us(1234)),
        settle: us(50_000),
        origin: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
        first_attempt_lag: Some(us(77)),
    }
}

fn verdicts() -> Vec<Verdict> {
    vec![
        Verdict {
            kind: GateKind::MaxLatency,
            gate: "p99 <= 20ms".to_string(),
            label: "p99".to_string(),
            measured: "2s".to_string(),
            passed: false,
            latency_micros: Some((20_000, 2_000_000)),
        },
        Verdict {
            kind: GateKind::MinEstablished,
            gate: "established >= 50% (2 of 4)".to_string(),
            label: "established".to_string(),
            measured: "1".to_string(),
            passed: false,
            latency_micros: None,
        },
    ]
}

const SUMMARY: &str = r#"{"type":"summary","version":1,"target":{"host":"db.\"local\"","ip":"127.0.0.1","port":7000,"label":"db \\ local\t7000"},"options":{"connections":12,"sleep_us":1000,"dial_timeout_us":5000000,"interval_us":0,"hold_us":200000,"sleep":"1ms","dial_timeout":"5s","interval":"0s","hold":"200ms","settle_us":50000,"settle":"50ms","reconnect":true,"probe":{"name":"custom","send":"hi\\x07\\t\"q\\\\ é","expect":"hi","timeout_us":5000000},"tls":{"sni":null,"trust":"insecure","versions":"1.2,1.3","alpn":["h2"],"timeout_us":5000000},"targets":["127.0.0.1:7000","[::1]:7000"],"fallbacks":["[::1]:7000"],"sources":[],"max_latency":["p99=20ms"],"min_established":"50%"},"counts":{"total":4,"not_initiated":1,"dialing":0,"established":1,"closed":1,"error":1},"max_concurrent_established":2,"failures":{"refused":1,"timed_out":0,"reset":0,"unreachable":0,"no_local_port":0,"no_file_descriptors":0,"no_buffer_space":0,"other":0,"tls_alert":0,"certificate_rejected":0,"protocol_error":0,"closed_during_handshake":0,"handshake_timed_out":0},"closures":{"fin":0,"reset":1,"other":0},"bytes_received":12,"connect_latency_us":{"count":2,"min":1500,"mean":1000750,"max":2000000,"stddev":999250,"p50":1500,"p75":2000000,"p90":2000000,"p95":2000000,"p99":2000000,"p99_9":2000000,"p99_99":2000000,"histogram":"HISTFAAAACd4nJNpmSzMwMDAzgABzFCaEURcm7yEwf4DRGC7OFP7ckYmAHtNBo8=","moments":{"count":2,"sum_ns":"2001500000","sum_squares_ns2":"4000002250000000000","min_ns":1500000,"max_ns":2000000000}},"time_to_error_us":{"count":1,"min":300,"mean":300,"max":300,"stddev":0,"p50":300,"p75":300,"p90":300,"p95":300,"p99":300,"p99_9":300,"p99_99":300,"histogram":"HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNE4DoLEwBhagVn","moments":{"count":1,"sum_ns":"300000","sum_squares_ns2":"90000000000","min_ns":300000,"max_ns":300000}},"schedule_lag_us":{"count":0},"handshake_rtt_us":{"count":2,"min":9,"mean":604,"max":1200,"stddev":595,"p50":9,"p75":1200,"p90":1200,"p95":1200,"p99":1200,"p99_9":1200,"p99_99":1200,"histogram":"HISTFAAAACV4nJNpmSzMwMDAygABzFCaEURcm7yEwf4DRECQ6bQQEwBrHwV+","moments":{"count":2,"sum_ns":"1209000","sum_squares_ns2":"1440081000000","min_ns":9000,"max_ns":1200000}},"own_delay_us":{"count":2,"min":300,"mean":1000145,"max":1999991,"stddev":999845,"p50":300,"p75":1999991,"p90":1999991,"p95":1999991,"p99":1999991,"p99_9":1999991,"p99_99":1999991,"histogram":"HISTFAAAACd4nJNpmSzMwMDAzgABzFCaEURcm7yEwf4DROA6C9PznYxMAH1xBw4=","moments":{"count":2,"sum_ns":"2000291000","sum_squares_ns2":"3999964090081000000","min_ns":300000,"max_ns":1999991000}},"syn_retransmitted":1,"probe":{"name":"custom","served":1,"rejected":0,"unserved":0,"closed_before_answer":0,"awaiting":0,"served_open":1},"time_to_served_us":{"count":1,"min":2500,"mean":2500,"max":2500,"stddev":0,"p50":2500,"p75":2500,"p90":2500,"p95":2500,"p99":2500,"p99_9":2500,"p99_99":2500,"histogram":"HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNE4LAyEwBhbAVy","moments":{"count":1,"sum_ns":"2500000","sum_squares_ns2":"6250000000000","min_ns":2500000,"max_ns":2500000}},"tls":{"negotiated":[{"name":"TLS 1.3 \"AES\"","count":1}],"failures":[{"name":"alert\u0008\u000c","count":1}]},"tls_handshake_us":{"count":1,"min":900,"mean":900,"max":900,"stddev":0,"p50":900,"p75":900,"p90":900,"p95":900,"p99":900,"p99_9":900,"p99_99":900,"histogram":"HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNEoJ2PCQBgjgUh","moments":{"count":1,"sum_ns":"900000","sum_squares_ns2":"810000000000","min_ns":900000,"max_ns":900000}},"attempts":3,"requested_rate":1000,"achieved_rate":666.667,"wall_time_us":5000,"dial_span_us":3000,"stopped":{"reason":"interrupted","signal":"SIGTERM"},"thresholds":[{"gate":"p99 <= 20ms","measured":"2s","passed":false,"limit_us":20000,"measured_us":2000000},{"gate":"established >= 50% (2 of 4)","measured":"1","passed":false}],"reconnects":3,"settled_us":1234,"hold":{"duration_us":0,"min_established":1,"max_established":2},"by_target":[{"addr":"127.0.0.1:7000","counts":{"total":2,"not_initiated":0,"dialing":0,"established":1,"closed":1,"error":0}},{"addr":"[::1]:7000","counts":{"total":2,"not_initiated":1,"dialing":0,"established":0,"closed":0,"error":1}}],"live_lines_dropped":7,"fallbacks":[{"from":"[::1]:7000","cause":"refused","to":"127.0.0.1:7000","count":1},{"from":"[::1]:7000","cause":"timed_out","to":null,"count":1}],"shard":{"index":1,"count":3},"start_at":"2023-11-14T22:13:20.123456Z","schedule_origin_us":1700000000123456,"first_attempt_late_us":77,"merged":null,"limit":{"finding":"found","ended_by":"loss","held":1,"text":"Limit: 1 concurrent connections served and held when an attempt failed (refused), after 2 attempts in 4ms; counted after a 1.234ms settle","held_at_loss":1,"loss_us":4000,"attempts":2,"cause":"refused"},"verdict":"FAIL: \"1\" of 4","timeline":{"step_us":1000,"columns":["elapsed_us","not_initiated","dialing","established","closed","error","served_open"],"samples":[[10,4,0,0,0,0,0],[5000,1,0,1,1,1,1]]},"exit_status":2}
"#;

#[test]
fn the_summary_of_a_fixed_state_is_pinned() {
    let outcome = outcome();
    let targets: Vec<SocketAddr> = vec![
        "127.0.0.1:7000".parse().unwrap(),
        "[::1]:7000".parse().unwrap(),
    ];
    // As `tcpgoon run` records them, with an escaped probe and TLS without an SNI.
    let options = Options::Run(Box::new(RunOptions {
        connections: 12,
        sleep_us: 1000,
        dial_timeout_us: 5_000_000,
        interval_us: 0,
        hold_us: 200_000,
        sleep: "1ms".into(),
        dial_timeout: "5s".into(),
        interval: "0s".into(),
        hold: "200ms".into(),
        settle_us: 50_000,
        settle: "50ms".into(),
        reconnect: true,
        probe: Some(ProbeOptions {
            name: "custom".into(),
            send: "hi\\x07\\t\"q\\\\ é".into(),
            expect: "hi".into(),
            timeout_us: 5_000_000,
        }),
        tls: Some(TlsOptions {
            sni: None,
            trust: "insecure".into(),
            versions: "1.2,1.3".into(),
            alpn: vec!["h2".into()],
            timeout_us: 5_000_000,
        }),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        fallbacks: vec![targets[1].to_string()],
        sources: vec![],
        max_latency: vec!["p99=20ms".into()],
        min_established: Some("50%".into()),
    }));
    let mut out = Vec::new();
    json::write_summary(
        &mut out,
        &SummaryInput {
            host: "db.\"local\"",
            addr: targets[0],
            targets: &targets,
            label: "db \\ local\t7000",
            options,
            outcome: &outcome,
            requested_rate: Some(1000.0),
            verdicts: &verdicts(),
            probe: Some("custom"),
            live_lines_dropped: 7,
            limit: Some(json::limit_finding(&outcome)),
            verdict: "FAIL: \"1\" of 4",
            exit_status: 2,
            shard: Shard { index: 1, count: 3 },
            start_at: Some(outcome.origin),
            merged: None,
        },
    )
    .unwrap();
    let got = String::from_utf8(out).unwrap();
    assert_eq!(got, SUMMARY, "\n{got}");
}

const TICK: &str = r#"{"type":"tick","version":1,"elapsed_us":5000,"counts":{"total":4,"not_initiated":1,"dialing":0,"established":1,"closed":1,"error":1},"max_concurrent_established":2,"bytes_received":12,"connect_p99_us":2000000,"probe":{"served":1,"rejected":0,"unserved":0,"closed_before_answer":0,"awaiting":0,"served_open":1}}
"#;

#[test]
fn the_tick_of_a_fixed_state_is_pinned() {
    let mut out = Vec::new();
    json::write_tick(&mut out, us(5000), &outcome().stats).unwrap();
    let got = String::from_utf8(out).unwrap();
    assert_eq!(got, TICK, "\n{got}");
}

const LIMIT: &str = r#"{"type":"summary","version":1,"target":{"host":"127.0.0.1","ip":"127.0.0.1","port":9,"label":"127.0.0.1:9"},"options":{"rate":0.001,"connections":3,"dial_timeout_us":1000000,"interval_us":0,"hold_us":5000000,"settle_us":50000,"dial_timeout":"1s","interval":"0s","hold":"5s","settle":"50ms","probe":null,"targets":["127.0.0.1:9"],"fallbacks":[],"sources":[]},"counts":{"total":3,"not_initiated":3,"dialing":0,"established":0,"closed":0,"error":0},"max_concurrent_established":0,"failures":{"refused":0,"timed_out":0,"reset":0,"unreachable":0,"no_local_port":0,"no_file_descriptors":0,"no_buffer_space":0,"other":0,"tls_alert":0,"certificate_rejected":0,"protocol_error":0,"closed_during_handshake":0,"handshake_timed_out":0},"closures":{"fin":0,"reset":0,"other":0},"bytes_received":0,"connect_latency_us":{"count":0},"time_to_error_us":{"count":0},"schedule_lag_us":{"count":0},"handshake_rtt_us":{"count":0},"own_delay_us":{"count":0},"syn_retransmitted":0,"probe":null,"time_to_served_us":null,"tls":null,"tls_handshake_us":null,"attempts":0,"requested_rate":2.5,"achieved_rate":null,"wall_time_us":20,"dial_span_us":0,"stopped":null,"thresholds":[],"reconnects":0,"settled_us":null,"hold":null,"by_target":[],"live_lines_dropped":0,"fallbacks":[],"shard":{"index":0,"count":1},"start_at":null,"schedule_origin_us":0,"first_attempt_late_us":null,"merged":null,"limit":{"finding":"no_limit","ended_by":"maximum","held":0,"text":"No limit found: 0 connections established","held_at_loss":null,"loss_us":null,"attempts":null,"cause":null},"verdict":"FAIL","timeline":{"step_us":1000,"columns":["elapsed_us","not_initiated","dialing","established","closed","error","served_open"],"samples":[]},"exit_status":1}
"#;

/// A `limit` summary where nothing was made: its rate to three decimals, no achieved rate,
/// no loss, and no timeline samples.
#[test]
fn a_limit_summary_with_nothing_made_is_pinned() {
    let outcome = Outcome {
        stats: Stats::new(3),
        stop: None,
        wall: us(20),
        dial_span: Duration::ZERO,
        settled: None,
        settle: us(50_000),
        origin: UNIX_EPOCH,
        first_attempt_lag: None,
    };
    let targets: Vec<SocketAddr> = vec!["127.0.0.1:9".parse().unwrap()];
    let options = Options::Limit(Box::new(LimitOptions {
        rate: Rate(0.0012),
        connections: 3,
        dial_timeout_us: 1_000_000,
        interval_us: 0,
        hold_us: 5_000_000,
        settle_us: 50_000,
        dial_timeout: "1s".into(),
        interval: "0s".into(),
        hold: "5s".into(),
        settle: "50ms".into(),
        probe: None,
        targets: vec![targets[0].to_string()],
        fallbacks: vec![],
        sources: vec![],
    }));
    let mut out = Vec::new();
    json::write_summary(
        &mut out,
        &SummaryInput {
            host: "127.0.0.1",
            addr: targets[0],
            targets: &targets,
            label: "127.0.0.1:9",
            options,
            outcome: &outcome,
            requested_rate: Some(2.5),
            verdicts: &[],
            probe: None,
            live_lines_dropped: 0,
            limit: Some(json::limit_finding(&outcome)),
            verdict: "FAIL",
            exit_status: 1,
            shard: Shard::WHOLE,
            start_at: None,
            merged: None,
        },
    )
    .unwrap();
    let got = String::from_utf8(out).unwrap();
    assert_eq!(got, LIMIT, "\n{got}");
}
