use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::lexer::Spelling;
use super::*;
use crate::cli::values::Progress;
use crate::judge::thresholds;

fn parse_words(words: &str) -> Result<Command, Error> {
    parse(words.split_whitespace().map(OsString::from).collect())
}

#[test]
fn plot_takes_files_and_one_output() {
    let plot = |words: &str| match parse_words(words) {
        Ok(Command::Plot(args)) => args,
        other => panic!("{words}: {other:?}"),
    };
    let args = plot("plot a.jsonl - -o out.svg b.jsonl");
    assert_eq!(
        args.inputs,
        [PathBuf::from("a.jsonl"), "-".into(), "b.jsonl".into()]
    );
    assert_eq!(args.output, PathBuf::from("out.svg"));
    assert_eq!(
        plot("plot -o a.svg -o b.svg x").output,
        PathBuf::from("b.svg")
    );
    // After `--` a FILE may look like an option; `--` itself may be the output's name.
    assert_eq!(plot("plot -o x.svg -- -y").inputs, [PathBuf::from("-y")]);
    assert_eq!(plot("plot --output=-- x").output, PathBuf::from("--"));
    let empty = parse(["plot", "x", "-o", ""].map(OsString::from).to_vec());
    assert_eq!(
        empty,
        Err(Error::Usage(
            "--output: needs a path, not an empty one".to_string()
        ))
    );
    assert_eq!(
        parse_words("help plot"),
        Ok(Command::Help(help::text(Sub::Plot)))
    );
    assert_eq!(
        parse_words("plot x -h"),
        Ok(Command::Help(help::text(Sub::Plot)))
    );
    for (words, says) in [
        ("plot x", "plot needs -o"),
        ("plot -o x.svg", "at least one FILE"),
        ("plot x -o", "--output needs a value"),
        ("plot x --output=", "--output needs a value"),
        ("plot x -o y --json", "unknown option '--json' for plot"),
    ] {
        match parse_words(words) {
            Err(Error::Usage(message)) => assert!(message.contains(says), "{words}: {message}"),
            other => panic!("{words}: {other:?}"),
        }
    }
}

#[test]
fn limit_takes_json() {
    let Ok(Command::Limit(args)) = parse_words("limit h 80 --json") else {
        panic!()
    };
    assert!(args.json);
    let Ok(Command::Limit(args)) = parse_words("limit h 80") else {
        panic!()
    };
    assert!(!args.json);
}

fn run_args(words: &str) -> RunArgs {
    match parse_words(words) {
        Ok(Command::Run(args)) => args,
        other => panic!("{words:?} gave {other:?}"),
    }
}

fn usage_error(words: &str) -> String {
    match parse_words(words) {
        Err(Error::Usage(message)) => message,
        other => panic!("{words:?} gave {other:?}"),
    }
}

#[test]
fn reference_command_lines_keep_their_meaning() {
    let args = run_args("run example.host 80 --connections 4 --sleep 999 -t 1 -y");
    assert_eq!(args.host, "example.host");
    assert_eq!(args.port, 80);
    assert_eq!(args.connections, 4);
    assert_eq!(args.sleep, Duration::from_millis(999));
    assert_eq!(args.dial_timeout, Duration::from_millis(1));
    assert_eq!(args.interval, Duration::from_secs(1));
    assert!(args.assume_yes);
    assert!(!args.debug);
}

#[test]
fn defaults_match_the_reference() {
    let args = run_args("run ::1 8080");
    assert_eq!(args.connections, 100);
    assert_eq!(args.sleep, Duration::from_millis(10));
    assert_eq!(args.dial_timeout, Duration::from_millis(5000));
    assert_eq!(args.interval, Duration::from_secs(1));
    assert!(!args.assume_yes);
}

#[test]
fn flags_go_anywhere_and_take_units_or_equals() {
    let args = run_args("run -c 7 -i 250ms --sleep=1.5s -d [::1] 1");
    assert_eq!(args.connections, 7);
    assert_eq!(args.interval, Duration::from_millis(250));
    assert_eq!(args.sleep, Duration::from_millis(1500));
    assert!(args.debug);
    assert_eq!(args.host, "[::1]");
}

#[test]
fn reporting_options() {
    let args = run_args(
        "run h 1 --json --hdr-log l.hlog --progress bar --max-latency p99=20ms --max-latency max=1s --min-established 95%",
    );
    assert!(args.json);
    assert_eq!(args.hdr_log, Some(PathBuf::from("l.hlog")));
    assert_eq!(args.progress, Progress::Bar);
    assert_eq!(args.thresholds.max_latency.len(), 2);
    assert_eq!(
        args.thresholds.min_established,
        thresholds::parse_min_established("95%").ok()
    );
    assert_eq!(run_args("run h 1").progress, Progress::Auto);
}

#[test]
fn summary_takes_a_path_for_run_and_limit() {
    let args = run_args("run h 1 --summary out.json");
    assert_eq!(args.summary, Some(PathBuf::from("out.json")));
    assert_eq!(run_args("run h 1").summary, None);
    let Ok(Command::Limit(limit)) = parse_words("limit h 1 --summary=l.json") else {
        panic!("limit with --summary refused");
    };
    assert_eq!(limit.summary, Some(PathBuf::from("l.json")));
}

#[test]
fn help_and_version_are_values() {
    assert_eq!(parse_words(""), Ok(Command::Help(HELP)));
    assert_eq!(parse_words("--help"), Ok(Command::Help(HELP)));
    assert_eq!(
        parse_words("help run"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
    assert_eq!(
        parse_words("run -h"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
    assert_eq!(
        parse_words("server --help"),
        Ok(Command::Help(help::text(Sub::Server)))
    );
    assert_eq!(parse_words("-V"), Ok(Command::Version));
    assert_eq!(parse_words("version"), Ok(Command::Version));
}

#[test]
fn the_version_however_asked_for_takes_no_arguments() {
    for words in [
        "version extra",
        "--version extra",
        "-V extra",
        "extra -V",
        "-V -- extra",
    ] {
        assert_eq!(
            usage_error(words),
            "unexpected argument 'extra' for version",
            "{words}"
        );
    }
    for words in ["--version --bogus", "version --bogus", "-Vx"] {
        let message = usage_error(words);
        assert!(
            message.starts_with("unknown option '-"),
            "{words}: {message}"
        );
        assert!(
            message.ends_with("for version; see `tcpgoon --help`"),
            "{words}: {message}"
        );
    }
    for words in ["--version", "-V", "version", "-V -V", "version --version"] {
        assert_eq!(parse_words(words), Ok(Command::Version), "{words}");
    }
    assert_eq!(parse_words("--version -h"), Ok(Command::Help(HELP)));
    // Within a command's options, as -h is.
    assert_eq!(parse_words("run h 80 -V"), Ok(Command::Version));
}

#[test]
fn values_given_with_equals_are_not_flags() {
    // Found by the `cli_args` fuzz target: an `h` or `V` inside `-s=1h` or
    // `-b=localhost` was read as -h or -V, so these printed help instead of running.
    assert_eq!(run_args("run h 80 -s=1h").sleep, Duration::from_secs(3600));
    assert_eq!(
        run_args("run h 80 -i=1h -t=2h").interval,
        Duration::from_secs(3600)
    );
    let Ok(Command::Server(args)) = parse_words("server -b=localhost -d=1h --greeting=-V") else {
        panic!("server arguments rejected");
    };
    assert_eq!(args.bind, "localhost");
    assert_eq!(args.duration, Duration::from_secs(3600));
    assert_eq!(args.greeting.as_deref(), Some(&b"-V"[..]));
    let Ok(Command::Limit(limit)) = parse_words("limit h 80 -t=2h") else {
        panic!("limit arguments rejected");
    };
    assert_eq!(limit.dial_timeout, Duration::from_secs(7200));
    // Clustered short flags still count.
    assert_eq!(
        parse_words("run -yh"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
    assert_eq!(parse_words("run h 80 -yV"), Ok(Command::Version));
    assert!(run_args("run h 80 -yd").debug);
}

#[test]
fn an_interval_is_0_or_at_least_10ms() {
    for command in ["run h 80", "limit h 80", "server"] {
        for short in ["1ns", "9ms", "9999us", "0.009s"] {
            assert_eq!(
                usage_error(&format!("{command} -i {short}")),
                format!(
                    "--interval: '{short}' is shorter than 10ms: give 10ms or more, or 0 \
                     to turn the live lines off"
                )
            );
        }
    }
    assert_eq!(run_args("run h 80 -i 0").interval, Duration::ZERO);
    assert_eq!(
        run_args("run h 80 -i 10ms").interval,
        Duration::from_millis(10)
    );
    // A bare number is run's, the original's, alone: limit and server ask for a unit.
    assert_eq!(
        run_args("run h 80 -i .01").interval,
        Duration::from_millis(10)
    );
    assert_eq!(
        usage_error("run h 80 -i 0.009"),
        "--interval: '0.009' is shorter than 10ms: give 10ms or more, or 0 to turn the \
         live lines off"
    );
    for command in ["limit h 80", "server"] {
        assert_eq!(
            usage_error(&format!("{command} -i 2")),
            "--interval: '2' has no unit: write 2s or 2ms"
        );
        assert!(parse_words(&format!("{command} -i 0")).is_ok());
    }
}

#[test]
fn an_attached_value_spelled_like_an_option_is_the_value() {
    // Found by the cli_args fuzz target: `-i-d` took `-d` for the next option.
    assert_eq!(
        usage_error("server -p 0 -i-d 2s"),
        "--interval: invalid duration '-d': expected a number with a unit (ns, us, ms, \
         s, m, h), e.g. 10ms, 1.5s or 1m30s"
    );
    let Ok(Command::Server(server)) = parse_words("server -p0 -i2s -d0") else {
        panic!("server arguments rejected");
    };
    assert_eq!(server.interval, Duration::from_secs(2));
    assert_eq!(run_args("run h 80 -yc5").connections, 5);
}

#[test]
fn a_flag_the_original_lacks_takes_no_bare_number() {
    for (words, error) in [
        (
            "run h 80 --hold 1",
            "--hold: '1' has no unit: write 1s or 1ms",
        ),
        (
            "run h 80 --settle 5",
            "--settle: '5' has no unit: write 5ms or 5s",
        ),
        (
            "run h 80 --probe greeting --probe-timeout 100",
            "--probe-timeout: '100' has no unit: write 100ms or 100s",
        ),
        (
            "run h 80 --max-latency p99=1",
            "--max-latency: '1' has no unit: write 1ms or 1s",
        ),
        (
            "limit h 80 -t 200",
            "--dial-timeout: '200' has no unit: write 200ms or 200s",
        ),
        (
            "limit h 80 --hold 3",
            "--hold: '3' has no unit: write 3s or 3ms",
        ),
        (
            "server -d 2",
            "--duration: '2' has no unit: write 2s or 2ms",
        ),
        (
            "server --close-after 50",
            "--close-after: '50' has no unit: write 50ms or 50s",
        ),
    ] {
        assert_eq!(usage_error(words), error, "{words}");
    }
    // The original's flags keep its bare units; 0 needs none anywhere; compounds are read.
    let args = run_args("run h 80 -s 999 -t 1 -i 2 --hold 0 --settle 0");
    assert_eq!(args.sleep, Duration::from_millis(999));
    assert_eq!(args.dial_timeout, Duration::from_millis(1));
    assert_eq!(args.interval, Duration::from_secs(2));
    assert_eq!(
        run_args("run h 80 --hold 1m30s").hold,
        Duration::from_secs(90)
    );
    let Ok(Command::Server(server)) = parse_words("server -d 0 --close-after 1m0.5s") else {
        panic!("server arguments rejected");
    };
    assert_eq!(server.duration, Duration::ZERO);
    assert_eq!(server.close_after, Some(Duration::from_millis(60_500)));
}

#[test]
fn bad_input_names_what_is_wrong() {
    assert!(usage_error("run h 80 --bogus").contains("'--bogus'"));
    assert!(usage_error("run h 80 -c x").contains("--connections"));
    assert!(usage_error("run h 80 -c -1").contains("--connections"));
    assert!(usage_error("run h 80 -s 5parsecs").contains("--sleep"));
    assert!(usage_error("run h 0").contains("port"));
    assert!(usage_error("run h 65536").contains("out of range"));
    assert!(usage_error("run h").contains("<host> <port>"));
    assert!(usage_error("run h 1 2").contains("got 3 arguments"));
    assert!(usage_error("run h 80 -c").contains("needs a value"));
    assert!(usage_error("launch").contains("unknown command"));
    assert!(usage_error("server --port 70000").contains("out of range"));
    assert!(usage_error("server extra").contains("unexpected argument"));
    assert!(usage_error("run h 80 --max-latency p99").contains("--max-latency"));
    assert!(usage_error("run h 80 --min-established 101%").contains("--min-established"));
    assert!(usage_error("run h 80 --progress loud").contains("--progress"));
}

#[test]
fn an_option_given_twice_keeps_the_last_value() {
    // As the reference tool's parser (pflag) does: each occurrence sets the value.
    assert_eq!(run_args("run h 80 -c 5 -c 3").connections, 3);
    assert_eq!(run_args("run h 80 -c5 --connections=7 -c 6").connections, 6);
    assert_eq!(run_args("run -c 5 h 80 --connections 9").connections, 9);
    assert_eq!(
        run_args("run h 80 -s 1 --sleep=2 -s 3").sleep,
        Duration::from_millis(3)
    );
    assert_eq!(
        run_args("run h 80 --progress bar --progress lines").progress,
        Progress::Lines
    );
    let args = run_args("run h 80 -y -y -d --debug --json --json -4 -4");
    assert!(args.assume_yes && args.debug && args.json);
    assert_eq!(args.addressing.family, Some(Family::V4));
    assert!(!run_args("run h 80 -y -y=false").assume_yes);
    assert!(run_args("run h 80 -y=false -y").assume_yes);
    assert!(run_args("run h 80 -yd -dy").assume_yes);
    let Ok(Command::Limit(limit)) =
        parse_words("limit h 80 --all-addresses --all-addresses -r 5 -r 7")
    else {
        panic!("limit arguments rejected");
    };
    assert!(limit.addressing.all_addresses);
    assert_eq!(limit.rate, 7.0);
    let Ok(Command::Server(server)) =
        parse_words("server --reset --reset -p 1 -p 0 --greeting -a --greeting b")
    else {
        panic!("server arguments rejected");
    };
    assert!(server.reset);
    assert_eq!(
        (server.port, server.greeting.as_deref()),
        (0, Some(&b"b"[..]))
    );
    // A value is checked wherever it stands, as pflag checks each.
    assert_eq!(
        usage_error("run h 80 -c x -c 3"),
        "--connections: 'x' is not a whole number"
    );
    assert!(usage_error("run h 80 -y=maybe -y").starts_with("--assume-yes: 'maybe'"));
    assert!(usage_error("run h 80 -c -c 3").contains("--connections"));
    // Repeatable options add up instead, in the order given, whatever the spelling.
    let args = run_args("run h 80 --max-latency=p50=1ms --max-latency p99=2ms");
    let names: Vec<&str> = args
        .thresholds
        .max_latency
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["p50", "p99"]);
    let args = run_args(
        "run h 80 --max-latency p50=1ms --max-latency=p99=2ms --source 127.0.0.2 --source 127.0.0.3,127.0.0.4",
    );
    assert_eq!(args.thresholds.max_latency.len(), 2);
    assert_eq!(
        args.addressing.sources,
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map(|s| s.parse::<IpAddr>().unwrap())
    );
    assert_eq!(
        usage_error("run h 80 --source 127.0.0.2 --source 127.0.0.2"),
        "--source: source address 127.0.0.2 is given twice"
    );
    // Different options that exclude each other still do.
    assert!(usage_error("run h 80 -4 -6 -4").contains("exclude each other"));
}

/// An option's short and long forms are one option: the lists pair them as the help
/// does (`-c, --connections <N>`).
#[test]
fn short_and_long_forms_name_one_option() {
    for (command, help) in [
        ("run", help::text(Sub::Run)),
        ("limit", help::text(Sub::Limit)),
        ("server", help::text(Sub::Server)),
    ] {
        let spelling = Spelling::of(Some(&OsString::from(command)));
        for line in help.lines().map(str::trim_start) {
            let Some((short, rest)) = line.split_once(", --") else {
                continue;
            };
            if short.len() != 2 || !short.starts_with('-') {
                continue;
            }
            let long = format!("--{}", rest.split([' ', ',']).next().unwrap());
            assert_eq!(spelling.name(short), Some(long.as_str()), "{line}");
            assert_eq!(spelling.name(&long), Some(long.as_str()), "{line}");
        }
    }
}

#[test]
fn addressing_options() {
    let args = run_args(
        "run h 80 --source 127.0.0.2,127.0.0.0/31 --all-addresses -6 --hold 2s --reconnect",
    );
    assert_eq!(
        args.addressing.sources,
        ["127.0.0.2", "127.0.0.0", "127.0.0.1"].map(|s| s.parse::<IpAddr>().unwrap())
    );
    assert!(args.addressing.all_addresses);
    assert_eq!(args.addressing.family, Some(Family::V6));
    assert_eq!(args.hold, Duration::from_secs(2));
    assert!(args.reconnect);
    let plain = run_args("run h 80");
    assert_eq!(plain.addressing, Addressing::default());
    assert_eq!(plain.hold, Duration::ZERO);
    assert!(!plain.reconnect);
    assert!(usage_error("run h 80 -4 -6").contains("exclude each other"));
    assert!(usage_error("run h 80 --source 10.0.0.0/8").contains("--source"));
    assert!(usage_error("run h 80 --source").contains("needs a value"));
}

#[test]
fn limit_options() {
    let Ok(Command::Limit(args)) = parse_words("limit ::1 8080") else {
        panic!("limit arguments rejected");
    };
    assert_eq!((args.host.as_str(), args.port), ("::1", 8080));
    assert_eq!(args.rate, 1000.0);
    assert_eq!(args.connections, None);
    assert_eq!(args.dial_timeout, Duration::from_secs(1));
    assert_eq!(args.hold, Duration::from_secs(5));
    let Ok(Command::Limit(args)) =
        parse_words("limit h 1 -r 2.5 -c 300 -t 200ms --hold 500ms -4 --source 127.0.0.2")
    else {
        panic!("limit arguments rejected");
    };
    assert_eq!(args.rate, 2.5);
    assert_eq!(args.connections, Some(300));
    assert_eq!(args.dial_timeout, Duration::from_millis(200));
    assert_eq!(args.hold, Duration::from_millis(500));
    assert_eq!(args.addressing.family, Some(Family::V4));
    for (bad, why) in [
        ("-r 0", "--rate: '0' is not a rate"),
        ("-r -5", "--rate: '-5' is not a rate"),
        ("-r fast", "--rate: 'fast'"),
        (
            "-r 2000000000",
            "--rate: '2000000000' is too high: expected attempts per second, more than 0 \
             and at most 1000000000",
        ),
        ("-r 1e3", "--rate: '1e3'"),
        ("-c 0", "--connections: must be at least 1"),
        ("-y", "unknown option '-y' for limit"),
    ] {
        let message = usage_error(&format!("limit h 1 {bad}"));
        assert!(message.contains(why), "{bad}: {message}");
    }
    assert!(usage_error("limit h").contains("limit takes <host> <port>"));
    assert_eq!(
        parse_words("help limit"),
        Ok(Command::Help(help::text(Sub::Limit)))
    );
    assert_eq!(
        parse_words("limit -h"),
        Ok(Command::Help(help::text(Sub::Limit)))
    );
}

#[test]
fn help_asked_of_help_or_version_is_given() {
    assert_eq!(
        parse_words("help run -h"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
    assert_eq!(
        parse_words("help -h limit"),
        Ok(Command::Help(help::text(Sub::Limit)))
    );
    assert_eq!(parse_words("help --help"), Ok(Command::Help(HELP)));
    assert_eq!(parse_words("version -h"), Ok(Command::Help(HELP)));
    assert!(usage_error("help run -x").contains("'-x'"));
}

#[test]
fn help_on_an_unknown_topic_is_the_general_help() {
    assert_eq!(parse_words("help bogus"), Ok(Command::Help(HELP)));
    assert_eq!(parse_words("help bogus extra"), Ok(Command::Help(HELP)));
    assert_eq!(parse_words("help -- version"), Ok(Command::Help(HELP)));
}

#[test]
fn a_value_that_spells_an_option_is_a_value() {
    let Ok(Command::Server(args)) = parse_words("server -p 0 -d 1s --greeting -d") else {
        panic!("--greeting -d rejected");
    };
    assert_eq!(args.greeting.as_deref(), Some(&b"-d"[..]));
    assert_eq!(args.duration, Duration::from_secs(1));
    let Ok(Command::Server(args)) = parse_words("server --greeting -p -p 0 -d 1s") else {
        panic!("--greeting -p rejected");
    };
    assert_eq!((args.greeting.as_deref(), args.port), (Some(&b"-p"[..]), 0));
    let args = run_args("run 127.0.0.1 1 -c 1 --hdr-log -c");
    assert_eq!(args.hdr_log, Some(PathBuf::from("-c")));
    assert_eq!(args.connections, 1);
    // In a cluster too: the value after `-yc` is -c's.
    assert!(usage_error("run h 1 -yc -5").contains("--connections: '-5'"));
}

#[test]
fn a_value_that_looks_like_help_or_version_is_a_value() {
    let Ok(Command::Server(args)) = parse_words("server --greeting -h -p 0") else {
        panic!("--greeting -h taken for help");
    };
    assert_eq!(args.greeting.as_deref(), Some(&b"-h"[..]));
    let Ok(Command::Server(args)) = parse_words("server --greeting -V") else {
        panic!("--greeting -V taken for the version");
    };
    assert_eq!(args.greeting.as_deref(), Some(&b"-V"[..]));
    assert!(usage_error("run h 1 -c -h").contains("-c"));
    assert_eq!(
        parse_words("server -p 0 -h"),
        Ok(Command::Help(help::text(Sub::Server)))
    );
    assert_eq!(
        parse_words("run h 1 -yh"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
}

/// The lists of options that take a value are the ones the help shows with a `<VALUE>`;
/// the lists of flags, the others.
#[test]
fn value_options_are_those_the_help_gives_a_value() {
    for (help, listed, values) in [
        (help::text(Sub::Run), Sub::Run.value_options(), 1),
        (help::text(Sub::Limit), Sub::Limit.value_options(), 1),
        (help::text(Sub::Server), Sub::Server.value_options(), 1),
        (help::text(Sub::Server), Sub::Server.pair_options(), 2),
        (help::text(Sub::Run), Sub::Run.switches(), 0),
        (help::text(Sub::Limit), Sub::Limit.switches(), 0),
        (help::text(Sub::Server), Sub::Server.switches(), 0),
    ] {
        let mut shown: Vec<&str> = help
            .lines()
            .map(str::trim_start)
            .filter(|line| line.starts_with('-'))
            .map(|line| line.split("  ").next().unwrap())
            // An option's line, not prose that starts with one: each key alone or with
            // its `<VALUE>`.
            .filter(|usage| {
                usage
                    .split(", ")
                    .all(|key| key.split(' ').nth(1).is_none_or(|v| v.starts_with('<')))
            })
            .filter(|usage| {
                let key = usage.split(", ").last().unwrap_or_default();
                key.matches('<').count() == values
            })
            .flat_map(|usage| usage.split(", "))
            .map(|key| key.split(' ').next().unwrap())
            .collect();
        let mut listed = listed.to_vec();
        shown.sort_unstable();
        listed.sort_unstable();
        assert_eq!(shown, listed);
    }
}

#[test]
fn the_original_tools_spellings_are_read_as_it_reads_them() {
    let args = run_args("run h 80 -c5 -i0 -s10ms -t1");
    assert_eq!(args.connections, 5);
    assert_eq!(args.interval, Duration::ZERO);
    assert_eq!(args.sleep, Duration::from_millis(10));
    assert_eq!(args.dial_timeout, Duration::from_millis(1));
    let args = run_args("run -yd h 80");
    assert!(args.assume_yes && args.debug);
    let args = run_args("run -yc5 h 80");
    assert!(args.assume_yes && !args.debug);
    assert_eq!(args.connections, 5);
    assert_eq!(run_args("run -dc=7 h 80").connections, 7);
    assert_eq!(run_args("run -c=7 h 80").connections, 7);
    assert_eq!(
        run_args("run -yi 250ms h 80").interval,
        Duration::from_millis(250)
    );
    let args = run_args("run h 80 --assume-yes=true --debug=false --json=1 --reconnect=F");
    assert!(args.assume_yes && !args.debug && args.json && !args.reconnect);
    assert!(run_args("run h 80 -y=true").assume_yes);
    assert!(!run_args("run h 80 -y=false").assume_yes);
    let args = run_args("run -yd=false h 80");
    assert!(args.assume_yes && !args.debug);
    assert_eq!(
        run_args("run h 80 -46=false").addressing.family,
        Some(Family::V4)
    );
    assert!(usage_error("run h 80 -46").contains("exclude each other"));
    // `--` ends the options: what follows is <host> <port>.
    let args = run_args("run -c 5 -y -- 127.0.0.1 80");
    assert_eq!((args.host.as_str(), args.port), ("127.0.0.1", 80));
    assert_eq!(args.connections, 5);
    assert_eq!(run_args("run h -- 80").port, 80);
    assert!(usage_error("run -- h 80 -y").contains("got 3 arguments"));
    assert!(usage_error("run h 80 -- -y").contains("got 3 arguments"));
    // A value is a value, `--` included.
    assert!(usage_error("run h 80 -c --").contains("--connections: '--'"));
    let Ok(Command::Limit(limit)) = parse_words("limit -r5 -c10 -d -- ::1 8080") else {
        panic!("limit arguments rejected");
    };
    assert_eq!(
        (limit.rate, limit.connections, limit.debug),
        (5.0, Some(10), true)
    );
    assert_eq!(limit.host, "::1");
    let Ok(Command::Server(server)) =
        parse_words("server -p0 -m0 -d2s --greeting -yd --reset=true")
    else {
        panic!("server arguments rejected");
    };
    assert_eq!((server.port, server.max_connections), (0, Some(0)));
    assert_eq!(server.duration, Duration::from_secs(2));
    assert_eq!(server.greeting.as_deref(), Some(&b"-yd"[..]));
    assert!(server.reset);
    assert!(usage_error("server -p 0 -- 5").contains("unexpected argument '5'"));
    assert_eq!(
        parse_words("help -- run"),
        Ok(Command::Help(help::text(Sub::Run)))
    );
}

#[test]
fn misspelled_flags_are_named() {
    for (line, message) in [
        ("run h 80 -y=true", None),
        (
            "run h 80 -y=maybe",
            Some(
                "--assume-yes: 'maybe' is not true or false; a flag is given alone, or with \
                 =true or =false",
            ),
        ),
        (
            "run h 80 --json=",
            Some("--json: '' is not true or false; a flag is given alone, or with =true or =false"),
        ),
        (
            "run h 80 -yx",
            Some("unknown option '-x' for run; see `tcpgoon run --help`"),
        ),
        (
            "run h 80 -xy",
            Some("unknown option '-xy' for run; see `tcpgoon run --help`"),
        ),
        (
            "run h 80 -ch",
            Some("--connections: 'h' is not a whole number"),
        ),
        (
            "limit h 80 -y",
            Some("unknown option '-y' for limit; see `tcpgoon limit --help`"),
        ),
    ] {
        match message {
            None => assert!(run_args(line).assume_yes),
            Some(message) => assert_eq!(usage_error(line), message, "{line}"),
        }
    }
}

#[test]
fn server_options() {
    let Ok(Command::Server(args)) = parse_words(
        "server -p 0 -m 0 -d 2s --backlog 4 --no-accept --close-after 50ms --reset --greeting hi \
         --max-open 40",
    ) else {
        panic!("server arguments rejected");
    };
    assert_eq!(args.port, 0);
    assert_eq!(args.bind, "127.0.0.1");
    assert_eq!(args.max_connections, Some(0));
    assert_eq!(args.duration, Duration::from_secs(2));
    assert_eq!(args.backlog, 4);
    assert!(args.no_accept && args.reset);
    assert_eq!(args.close_after, Some(Duration::from_millis(50)));
    assert_eq!(args.greeting.as_deref(), Some(&b"hi"[..]));
    assert_eq!(args.max_open, Some(40));
    assert_eq!(
        (args.accept_limit, args.echo, args.reject_after),
        (None, false, None)
    );
    let Ok(Command::Server(args)) =
        parse_words(r"server --accept-limit 40 --echo --greeting +OK\r\n")
    else {
        panic!("server arguments rejected");
    };
    assert_eq!(args.max_connections, None);
    assert_eq!((args.accept_limit, args.echo), (Some(40), true));
    assert_eq!(args.greeting.as_deref(), Some(&b"+OK\r\n"[..]));
}

#[test]
fn reject_after_takes_a_count_and_a_text_as_they_stand() {
    let reject_after = |words: &str| match parse_words(words) {
        Ok(Command::Server(args)) => args.reject_after,
        other => panic!("{words:?} gave {other:?}"),
    };
    let refusal = |text: &[u8]| text.to_vec();
    assert_eq!(
        reject_after(r"server --reject-after 2 -ERR\x20max\r\n -p 0"),
        Some((2, refusal(b"-ERR max\r\n")))
    );
    // The text may spell an option, or help: it is still the text.
    assert_eq!(
        reject_after("server -p 0 --reject-after=0 -h"),
        Some((0, refusal(b"-h")))
    );
    assert_eq!(
        reject_after("server --reject-after 1 --greeting --greeting x"),
        Some((1, refusal(b"--greeting")))
    );
    assert_eq!(
        reject_after("server --reject-after 1 -- -p 0"),
        Some((1, refusal(b"--")))
    );
    // Given twice, the last counts.
    assert_eq!(
        reject_after("server --reject-after 1 a --reject-after 2 b"),
        Some((2, refusal(b"b")))
    );
    let Ok(Command::Server(args)) = parse_words("server --greeting --reject-after -p 0") else {
        panic!("--greeting --reject-after rejected");
    };
    assert_eq!(args.greeting.as_deref(), Some(&b"--reject-after"[..]));
    assert_eq!(args.reject_after, None);
    assert!(usage_error("server --reject-after 2").contains("needs two values"));
    assert!(usage_error("server --reject-after").contains("needs two values"));
    assert!(usage_error("server --reject-after= x").contains("'' is not a whole number"));
    assert!(usage_error("server --reject-after -1 x").contains("'-1' is not a whole number"));
    assert!(usage_error(r"server --reject-after 1 \q").contains(r"'\q' is not an escape"));
    // An earlier one is checked all the same, as pflag checks every value.
    assert!(
        usage_error("server --reject-after x a --reject-after 2 b")
            .contains("'x' is not a whole number")
    );
    assert!(usage_error("server --reject-after 1 a b").contains("unexpected argument 'b'"));
    assert!(usage_error("server --reject-afterwards 1").contains("--reject-afterwards"));
    assert!(usage_error("run h 1 --reject-after 1 a").contains("--reject-after"));
}

#[test]
fn greeting_reads_escapes() {
    let Ok(Command::Server(args)) = parse_words(r"server --greeting \x00hi\t\\") else {
        panic!("--greeting rejected");
    };
    assert_eq!(args.greeting.as_deref(), Some(&b"\0hi\t\\"[..]));
    assert!(usage_error(r"server --greeting \x4").starts_with(r"--greeting: '\x4'"));
}

/// A default the help shows is what the parser takes when the option is not given: given
/// it, each subcommand parses the same. Defaults that describe rather than spell a value
/// (`[default: the dial timeout]`, `[default: both]`) are left out.
#[test]
fn defaults_shown_are_the_parsers() {
    use crate::cli::flags::FLAGS;
    let mut checked = 0;
    for flag in FLAGS {
        let Some(default) = flag.default else {
            continue;
        };
        if default.text.contains(' ') || default.text == "both" {
            continue;
        }
        for sub in flag.on {
            let operands: &[&str] = match sub {
                Sub::Run | Sub::Limit => &["h", "1"],
                _ => &[],
            };
            let words = |extra: &[&str]| {
                let name = [sub.name()];
                let words = name.iter().chain(operands).chain(extra);
                parse(words.map(OsString::from).collect())
            };
            let given = words(&[flag.name(), default.text]);
            assert!(given.is_ok(), "{} {}: {given:?}", flag.name(), default.text);
            assert_eq!(given, words(&[]), "{} {}", flag.name(), default.text);
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} defaults checked");
}
