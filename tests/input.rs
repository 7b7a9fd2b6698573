//! Bad input through the real binary: each refusal is one line on stderr and exit 64, before
//! any attempt, never a panic or a run that quietly does something else.

mod common;

use common::{args, closed_port, run, run_bad_input};

#[test]
fn a_host_that_looks_numeric_but_is_no_dotted_quad_is_refused() {
    // The C resolver reads each of these as 127.0.0.1 (`127.1` as 127.0.0.1, `0177` as
    // octal, `0x7f` as hex, `2130706433` as one 32-bit number), so a typo would send the
    // run to an address nobody wrote. Only loopback readings here: the old behaviour must
    // not send a test's traffic off this machine.
    let port = closed_port();
    for (host, hint) in [
        ("127.1", "write all four parts"),
        ("127.0.1", "write all four parts"),
        ("2130706433", "write all four parts"),
        ("0x7f.1", "write all four parts"),
        ("0x7f.0.0.1", "write each part in decimal, e.g. 127.0.0.1"),
        (
            "0177.0.0.1",
            "without leading zeros (a leading 0 means octal to the C resolver), e.g. 177.0.0.1",
        ),
        (
            "127.0.0.01",
            "without leading zeros (a leading 0 means octal to the C resolver), e.g. 127.0.0.1",
        ),
    ] {
        let out = run_bad_input(&["run", host, &port, "-c", "1", "-y"]);
        assert!(
            out.stderr
                .contains(&format!("<host>: '{host}' is not an IPv4 address: ")),
            "{host}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(hint), "{host}: {}", out.stderr);
        let out = run_bad_input(&["limit", host, &port, "-c", "1"]);
        assert!(
            out.stderr.contains("is not an IPv4 address"),
            "{host}: {}",
            out.stderr
        );
    }
    // The dotted quad itself, and names with digits, still run.
    for host in ["127.0.0.1", "localhost"] {
        let out = run(&["run", host, &port, "-c", "1", "-i", "0", "-y"]);
        assert_eq!(out.code, Some(2), "{host}: {out:?}");
    }
}

#[test]
fn min_established_of_nothing_is_refused() {
    // It would pass every run, even one where nothing listens.
    let port = closed_port();
    for zero in ["0", "00", "0%", "0.0%", "000.000%"] {
        let out = run_bad_input(&args!(
            "run 127.0.0.1 {port} -c 2 -y --min-established {zero}"
        ));
        assert!(
            out.stderr
                .contains(&format!("--min-established: '{zero}' passes every run")),
            "{zero}: {}",
            out.stderr
        );
    }
    // The smallest gates that are gates still run, and judge.
    for least in ["1", "0.1%"] {
        let out = run(&args!(
            "run 127.0.0.1 {port} -c 2 -i 0 -y --min-established {least}"
        ));
        assert_eq!(out.code, Some(2), "{least}: {out:?}");
    }
}

#[test]
fn an_interval_under_10ms_is_refused_but_0_turns_the_lines_off() {
    // `-i 1ns` spun a core writing tens of thousands of lines a second.
    let port = closed_port();
    for short in ["1ns", "1us", "9ms", "9999us", "0.005s"] {
        for command in [
            &["run", "127.0.0.1", &port, "-c", "1", "-y", "-i", short][..],
            &["limit", "127.0.0.1", &port, "-c", "1", "-i", short],
            &["server", "-p", "0", "-d", "1s", "-i", short],
        ] {
            let out = run_bad_input(command);
            assert!(
                out.stderr.contains(&format!(
                    "--interval: '{short}' is shorter than 10ms: give 10ms or more, or 0 to \
                     turn the live lines off"
                )),
                "{command:?}: {}",
                out.stderr
            );
        }
    }
    for fine in ["0", "10ms", "0.01"] {
        let out = run(&["run", "127.0.0.1", &port, "-c", "1", "-y", "-i", fine]);
        assert_eq!(out.code, Some(2), "-i {fine}: {out:?}");
    }
}

#[test]
fn version_refuses_extra_arguments_however_it_is_asked_for() {
    for args in [
        &["version", "extra"][..],
        &["--version", "extra"],
        &["-V", "extra"],
        &["extra", "--version"],
    ] {
        let out = run_bad_input(args);
        assert_eq!(
            out.stderr, "tcpgoon: unexpected argument 'extra' for version\n",
            "{args:?}"
        );
    }
    for args in [&["--version", "--bogus"][..], &["version", "--bogus"]] {
        let out = run_bad_input(args);
        assert!(
            out.stderr.contains("unknown option '--bogus' for version"),
            "{args:?}: {}",
            out.stderr
        );
    }
    for args in [&["version"][..], &["--version"], &["-V"]] {
        let out = run(args);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(
            out.stdout.starts_with(&format!(
                "tcpgoon {}\nGit Commit Hash: ",
                env!("CARGO_PKG_VERSION")
            )),
            "{args:?}: {}",
            out.stdout
        );
    }
}
