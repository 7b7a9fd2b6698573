//! `--probe postgres` against a real PostgreSQL (Debian's `postgresql`, which `.ci/run`
//! installs) with a connection cap: within it every connection is served; past it the
//! server answers the startup message with FATAL 53300 "sorry, too many clients already"
//! and closes, which is a rejection; `limit` finds the cap; and a session the server ends
//! with an error after authentication (a role that does not exist) is not served.

mod common;

use common::{Output, in_private_net, postgres, postgres_installed, run};

const CAP: u32 = 20;

/// The `Probe (postgres): served N, rejected N, unserved N, closed before answering N`
/// counts.
fn probe_counts(out: &Output) -> [u64; 4] {
    let line = out.line("Probe (postgres): ");
    let (_, list) = line.split_once("): ").expect("a probe line");
    let mut counts = [0; 4];
    for (i, label) in ["served", "rejected", "unserved", "closed before answering"]
        .iter()
        .enumerate()
    {
        counts[i] = list
            .split(", ")
            .find_map(|item| item.strip_prefix(label)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {line:?}"));
    }
    counts
}

/// States add up to the total, probe outcomes to the connections established.
fn adds_up(out: &Output) {
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{}", out.stdout);
    let outcomes: u64 = probe_counts(out).iter().sum();
    assert_eq!(
        outcomes,
        counts.established + counts.closed,
        "{}",
        out.stdout
    );
}

fn run_postgres(port: &str, connections: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "127.0.0.1",
        port,
        "-c",
        connections,
        "-s",
        "1ms",
        "-y",
        "-i",
        "0",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn too_many_clients(log: &str) -> usize {
    log.matches("FATAL:  sorry, too many clients already")
        .count()
}

#[test]
fn the_cap_is_served_what_is_past_it_rejected_and_limit_finds_it() {
    if !postgres_installed() {
        return;
    }
    in_private_net(|| {
        let server = postgres(CAP);
        let port = server.port();

        let out = run_postgres(&port, "20", &["--probe", "postgres"]);
        assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
        assert_eq!(probe_counts(&out), [20, 0, 0, 0], "{}", out.stdout);
        assert_eq!(out.final_counts().established, 20, "{}", out.stdout);
        assert_eq!(out.verdict(), "PASS: 20 of 20 established, served and held");
        adds_up(&out);
        assert_eq!(too_many_clients(&server.log()), 0, "{}", server.log());

        server.wait_idle();
        let out = run_postgres(&port, "25", &["--probe", "postgres"]);
        assert_eq!(out.code, Some(2), "{out:?}");
        // The 5 past the cap were answered FATAL 53300 and closed: rejected, then closed.
        assert_eq!(probe_counts(&out), [20, 5, 0, 0], "{}", out.stdout);
        let counts = out.final_counts();
        assert_eq!(
            (counts.established, counts.closed),
            (20, 5),
            "{}",
            out.stdout
        );
        assert_eq!(out.closures("closed by peer"), 5, "{}", out.stdout);
        assert_eq!(
            out.verdict(),
            "FAIL (exit 2): 5 closed by the server, 5 rejected by the application"
        );
        adds_up(&out);
        assert_eq!(too_many_clients(&server.log()), 5, "{}", server.log());

        server.wait_idle();
        let out = run(&[
            "limit",
            "127.0.0.1",
            &port,
            "-r",
            "10000",
            "-i",
            "0",
            "--probe",
            "postgres",
        ]);
        assert_eq!(out.code, Some(0), "{out:?}");
        let line = out.line("Limit: ");
        assert!(
            line.starts_with(
                "Limit: 20 concurrent connections served and held when a connection was not \
                 served (rejected)"
            ),
            "{line}"
        );
    });
}
