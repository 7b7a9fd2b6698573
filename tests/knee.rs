//! `limit --heartbeat DUR --max-latency beat:P=DUR`: the search ends at the knee, the most
//! connections held while beat latency stayed within the bound, or at the first loss when
//! that comes first, and says which. Against the built-in server slowing its echo by 1 ms
//! for each connection open past 100 (`--slow-after 100 --slow-by 1ms`), beats answer in
//! about (open − 100) ms, so a 50 ms bound is crossed at 150 connections.

mod common;

use common::{Output, args, run, run_bad_input, start_server};
use serde_json::Value;

const SLOW: &[&str] = &[
    "-m",
    "0",
    "-d",
    "120s",
    "-i",
    "0",
    "--echo",
    "--slow-after",
    "100",
    "--slow-by",
    "1ms",
];

/// A search at 200 attempts a second, each connection served by `ping` and beating every
/// 100 ms: 20 new connections a period, and a 10 ms bucket holds two of them.
fn search(port: &str, more: &str) -> Output {
    let mut words = args!(
        "limit 127.0.0.1 {port} --rate 200 -c 400 -i 0 --expect ping --heartbeat 100ms --send";
        "ping\\n"
    );
    words.extend(more.split_whitespace().map(String::from));
    run(&words)
}

/// The number after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> u64 {
    line.split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("no {prefix:?} in {line}"))
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_beat_latency_bound_finds_the_slow_server_s_knee_within_5_percent() {
    let (_server, port) = start_server(SLOW);
    let summary = std::env::temp_dir().join(format!("tcpgoon-knee-{}.json", std::process::id()));
    let out = search(
        &port,
        &format!(
            "--max-latency beat:p99=50ms --summary {}",
            summary.display()
        ),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let line = out.line("Knee: ");
    let knee = number_after(line, "Knee: ");
    assert!((143..=157).contains(&knee), "{line}");
    assert!(
        line.contains("concurrent connections held with beat latency p99 within 50ms; at ")
            && line.contains("the latency bound ended the search"),
        "{line}"
    );
    assert!(
        out.verdict().starts_with(&format!(
            "FOUND: {knee} concurrent connections held with beat latency p99 within 50ms, then "
        )),
        "{}",
        out.verdict()
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    // The plot marks the knee, not what was held once the search had settled.
    let svg = summary.with_extension("svg");
    let plotted = common::run(&[
        "plot",
        summary.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_file(&svg).unwrap();
    assert!(
        picture.contains(&format!("knee: {knee} held within the beat latency bound")),
        "{picture}"
    );
    std::fs::remove_file(&summary).unwrap();
    let limit = &json["limit"];
    assert_eq!(limit["finding"], "knee", "{limit}");
    assert_eq!(limit["knee"]["held"], knee, "{limit}");
    assert_eq!(limit["knee"]["gate"], "beat:p99", "{limit}");
    assert_eq!(limit["knee"]["bound_us"], 50_000, "{limit}");
    assert!(limit["knee"]["above"].as_u64().unwrap() > knee, "{limit}");
    assert!(
        limit["knee"]["measured_us"]
            .as_u64()
            .is_none_or(|m| m > 50_000),
        "{limit}"
    );
    assert_eq!(json["exit_status"], 0);
}

#[test]
fn without_a_bound_the_same_search_finds_no_knee() {
    let (_server, port) = start_server(SLOW);
    let out = search(&port, "-c 180 --hold 300ms");
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(!out.stdout.contains("Knee"), "{}", out.stdout);
    assert!(
        out.verdict()
            .starts_with("NO LIMIT (exit 4): all 180 connections established"),
        "{}",
        out.verdict()
    );
}

#[test]
fn a_loss_before_the_knee_ends_the_search_and_the_report_says_so() {
    // The server keeps 120 and closes each connection past them: the loss comes first.
    let mut with_limit = SLOW.to_vec();
    with_limit.extend(["--max-open", "120"]);
    let (_server, port) = start_server(&with_limit);
    let out = search(&port, "--max-latency beat:p99=50ms");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.line("No knee: "),
        "No knee: beat latency stayed within its bound (p99 50ms) until a loss ended the search"
    );
    assert!(
        out.line("Limit: ")
            .starts_with("Limit: 120 concurrent connections served and held when"),
        "{}",
        out.stdout
    );
    assert!(
        out.verdict().starts_with("FOUND: 120 "),
        "{}",
        out.verdict()
    );
}

#[test]
fn a_bound_a_search_cannot_stop_on_is_bad_input() {
    for (words, says) in [
        (
            "limit h 1 --expect x --send x --max-latency beat:p99=50ms",
            "--max-latency beat:… needs --heartbeat",
        ),
        (
            "limit h 1 --expect x --send x --heartbeat 1s --max-latency p99=50ms",
            "limit stops on beat latency only",
        ),
        (
            "limit h 1 --expect x --send x --heartbeat 1s --max-latency beat:mean=50ms",
            "a mean is known only once every beat is answered",
        ),
        ("limit h 1 --max-latency beat:p0=1ms", "is not a percentile"),
    ] {
        let words: Vec<&str> = words
            .split(' ')
            .map(|w| if w == "h" { "127.0.0.1" } else { w })
            .collect();
        let out = run_bad_input(&words);
        assert!(out.stderr.contains(says), "{words:?}: {}", out.stderr);
    }
}
