//! `limit --heartbeat DUR --max-latency beat:P=DUR`: the search finds the knee, the most
//! connections held while beat latency stayed within the bound, goes on past it to the first
//! loss (or the maximum), and says which ended it. Against the built-in server slowing its echo by 1 ms
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

/// One search at a time: on a shared machine, searches side by side slow each other's beats
/// and move the knee.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A search at 200 attempts a second, each connection served by `ping` and beating every
/// 100 ms: 20 new connections a period, and a 10 ms bucket holds two of them.
fn search(port: &str, more: &str) -> Output {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// The JSON summary a search wrote with `--summary`, and the search's output.
fn search_with_summary(port: &str, more: &str, name: &str) -> (Output, Value, std::path::PathBuf) {
    let summary =
        std::env::temp_dir().join(format!("tcpgoon-knee-{name}-{}.json", std::process::id()));
    let out = search(port, &format!("{more} --summary {}", summary.display()));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out, json, summary)
}

/// The knee on the `Knee:` line, checked to be within 5% of 150, the count where the slow
/// server's beats cross 50 ms.
fn knee_within_5_percent(out: &Output) -> u64 {
    let line = out.line("Knee: ");
    let knee = number_after(line, "Knee: ");
    assert!((143..=157).contains(&knee), "{line}");
    assert!(
        line.contains(" concurrent connections held with beat latency p99 within 50ms; at ")
            && line.contains("and stayed above for two periods; the search went on until "),
        "{line}"
    );
    knee
}

#[test]
fn the_knee_is_found_within_5_percent_and_the_search_goes_on_to_the_first_loss() {
    // The server keeps 250 and closes each connection past them: a loss well past the knee.
    let mut with_limit = SLOW.to_vec();
    with_limit.extend(["--max-open", "250"]);
    let (_server, port) = start_server(&with_limit);
    let (out, json, summary) = search_with_summary(&port, "--max-latency beat:p99=50ms", "loss");
    assert_eq!(out.code, Some(0), "{out:?}");
    let knee = knee_within_5_percent(&out);
    assert!(
        out.line("Knee: ")
            .ends_with("the search went on until a loss ended the search"),
        "{}",
        out.stdout
    );
    assert!(
        out.line("Limit: ")
            .starts_with("Limit: 250 concurrent connections served and held when"),
        "{}",
        out.stdout
    );
    let verdict = out.verdict();
    assert!(
        verdict.starts_with(&format!(
            "FOUND: {knee} concurrent connections held with beat latency p99 within 50ms, then "
        )) && verdict.contains(
            "; the first loss ended the search at 250 concurrent connections served and held ("
        ),
        "{verdict}"
    );
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
    assert_eq!(limit["ended_by"], "loss", "{limit}");
    assert_eq!(limit["held"], 250, "{limit}");
    assert!(limit["cause"].is_string(), "{limit}");
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
fn past_the_knee_with_no_loss_the_search_ends_at_the_maximum_and_says_so() {
    let (_server, port) = start_server(SLOW);
    let (out, json, summary) = search_with_summary(
        &port,
        "-c 240 --hold 500ms --max-latency beat:p99=50ms",
        "maximum",
    );
    std::fs::remove_file(&summary).unwrap();
    assert_eq!(out.code, Some(0), "{out:?}");
    let knee = knee_within_5_percent(&out);
    assert!(
        out.line("Knee: ")
            .ends_with("the search went on until the maximum was held"),
        "{}",
        out.stdout
    );
    assert!(
        out.line("No limit found: ")
            .starts_with("No limit found: 240 connections established and held for "),
        "{}",
        out.stdout
    );
    let verdict = out.verdict();
    assert!(
        verdict.starts_with(&format!(
            "FOUND: {knee} concurrent connections held with beat"
        )) && verdict.ends_with(
            "; no loss up to the maximum: all 240 connections established and served and held"
        ),
        "{verdict}"
    );
    let limit = &json["limit"];
    assert_eq!(limit["finding"], "knee", "{limit}");
    assert_eq!(limit["ended_by"], "maximum", "{limit}");
    assert_eq!(limit["knee"]["held"], knee, "{limit}");
    assert!(limit["cause"].is_null(), "{limit}");
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
    let (out, json, summary) =
        search_with_summary(&port, "--max-latency beat:p99=50ms", "loss-first");
    std::fs::remove_file(&summary).unwrap();
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
    let limit = &json["limit"];
    assert_eq!(limit["finding"], "found", "{limit}");
    assert_eq!(limit["ended_by"], "loss", "{limit}");
    assert_eq!(limit["held"], 120, "{limit}");
    assert!(limit.get("knee").is_none(), "{limit}");
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
