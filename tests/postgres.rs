//! `--probe postgres` against a real PostgreSQL (Debian's `postgresql`, which `.ci/run`
//! installs) with a connection cap: within it every connection is served; past it the
//! server answers the startup message with FATAL 53300 "sorry, too many clients already"
//! and closes, which is a rejection; `limit` finds the cap; and a session the server ends
//! with an error after authentication (a role that does not exist) is not served.

mod common;

use common::{Output, args, in_private_net, postgres, postgres_installed, postgres_reserving, run};

const CAP: u32 = 20;

/// `run` to 127.0.0.1:`port` at one attempt a millisecond, with `rest` after.
fn run_postgres(port: &str, rest: &str) -> Output {
    run(&args!("run 127.0.0.1 {port} -s 1ms -y -i 0 {rest}"))
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

        let out = run_postgres(&port, "-c 20 --probe postgres");
        assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
        assert_eq!(out.probe_counts(), [20, 0, 0, 0], "{}", out.stdout);
        assert_eq!(out.final_counts().established, 20, "{}", out.stdout);
        assert_eq!(out.verdict(), "PASS: 20 of 20 established, served and held");
        out.probe_adds_up();
        assert_eq!(too_many_clients(&server.log()), 0, "{}", server.log());

        server.wait_idle();
        let out = run_postgres(&port, "-c 25 --probe postgres");
        assert_eq!(out.code, Some(2), "{out:?}");
        // The 5 past the cap were answered FATAL 53300 and closed: rejected, then closed.
        assert_eq!(out.probe_counts(), [20, 5, 0, 0], "{}", out.stdout);
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
        out.probe_adds_up();
        assert_eq!(too_many_clients(&server.log()), 5, "{}", server.log());

        server.wait_idle();
        let out = run(&args!(
            "limit 127.0.0.1 {port} -r 10000 -i 0 --probe postgres"
        ));
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

#[test]
fn a_session_ended_by_an_error_after_authentication_is_not_served() {
    if !postgres_installed() {
        return;
    }
    in_private_net(|| {
        let server = postgres(CAP);
        let port = server.port();
        // Trust authenticates any role (AuthenticationOk, an R), and only then does the
        // server find the role missing: FATAL 28000, and it closes. Nothing was served.
        let out = run_postgres(&port, "-c 3 --probe postgres:nosuchuser");
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [0, 3, 0, 0], "{}", out.stdout);
        assert_eq!(out.final_counts().closed, 3, "{}", out.stdout);
        out.probe_adds_up();
        assert_eq!(
            server
                .log()
                .matches("FATAL:  role \"nosuchuser\" does not exist")
                .count(),
            3,
            "{}",
            server.log()
        );
        // --min-established counts served connections: none were.
        server.wait_idle();
        let out = run_postgres(
            &port,
            "-c 3 --probe postgres:nosuchuser --min-established 1",
        );
        assert_eq!(out.code, Some(2), "{out:?}");
        // The role that exists is served, on the same server.
        server.wait_idle();
        let out = run_postgres(&port, "-c 3 --probe postgres");
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.probe_counts(), [3, 0, 0, 0], "{}", out.stdout);
    });
}

#[test]
fn the_slots_kept_for_superusers_reject_a_role_after_it_authenticated() {
    if !postgres_installed() {
        return;
    }
    in_private_net(|| {
        // 10 slots, 3 kept for superusers: a role of no privilege gets 7. The server
        // checks that only after authentication (trust: AuthenticationOk, an R), then
        // sends FATAL 53300 and closes, so an R alone does not prove a session.
        let server = postgres_reserving(10, 3);
        server.sql("create role app login");
        server.sql("create database app owner app");
        server.wait_idle();
        let out = run_postgres(&server.port(), "-c 10 --probe postgres:app");
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.probe_counts(), [7, 3, 0, 0], "{}", out.stdout);
        let counts = out.final_counts();
        assert_eq!(
            (counts.established, counts.closed),
            (7, 3),
            "{}",
            out.stdout
        );
        out.probe_adds_up();
        let log = server.log();
        assert_eq!(
            log.matches("FATAL:  remaining connection slots are reserved")
                .count(),
            3,
            "{log}"
        );
    });
}
