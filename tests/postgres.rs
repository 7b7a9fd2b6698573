//! `--probe postgres` against a real PostgreSQL (Debian's `postgresql`, which `.ci/run`
//! installs) with a connection cap: within it every connection is served; past it the
//! server answers the startup message with FATAL 53300 "sorry, too many clients already"
//! and closes, which is a rejection; `limit` finds the cap; and a session the server ends
//! with an error after authentication (a role that does not exist) is not served.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Output, args, in_private_net, run, wait_for};

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

/// A PostgreSQL server from Debian's `postgresql` package, in a directory of its own under
/// the temp dir: it listens on 127.0.0.1 only, on a port that was free, with its unix socket
/// in that directory, trust for every role, fsync off, and a cap of exactly
/// `max_connections` (none reserved for superusers). One cluster is made with initdb per
/// test binary and copied for each server, as initdb takes seconds. Run as root (CI), it
/// runs as the `postgres` system user: PostgreSQL refuses to run as root. Stopped
/// (immediate shutdown, SIGQUIT) and its directory removed on drop.
struct Postgres {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
}

/// The newest installed `/usr/lib/postgresql/<major>/bin`, and its major version.
#[test]
fn beats_are_empty_queries_a_ready_session_answers() {
    if !postgres_installed() {
        return;
    }
    in_private_net(|| {
        let server = postgres(CAP);
        let port = server.port();
        let out = run_postgres(
            &port,
            "-c 10 --probe postgres --heartbeat 100ms --hold 1500ms",
        );
        assert_eq!(out.code, Some(0), "{out:?}\n{}", server.log());
        let beats = out.line("Heartbeats: ");
        assert!(beats.contains("stopped answering 0 ("), "{}", out.stdout);
        let [_, _, answered, _, _] = out.beat_counts();
        assert!(answered > 100, "{}", out.stdout);
    });
}

fn postgres_bin() -> Option<(std::path::PathBuf, u32)> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((bin, major))
        })
        .max_by_key(|(_, major)| *major)
}

/// Whether PostgreSQL's server is installed; under CI its absence fails the test.
fn postgres_installed() -> bool {
    let found = postgres_bin().is_some();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "postgresql is not installed; .ci/run installs it"
        );
        eprintln!("skipped: postgresql is not installed (.ci/run installs it)");
    }
    found
}

/// The uid and gid of the `postgres` user when this process is root, else `None` (the
/// server then runs as this user).
fn postgres_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: a NUL-terminated name; the entry is read at once, before another getpw call.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    assert!(
        !entry.is_null(),
        "no postgres user (the postgresql package makes it)"
    );
    // SAFETY: getpwnam returned a valid entry.
    Some(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

fn chown_to(path: &std::path::Path, ids: Option<(u32, u32)>) {
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

/// The cluster initdb made, once per test binary, for [`postgres`] to copy.
fn postgres_template() -> &'static std::path::Path {
    static TEMPLATE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let (bin, _) = postgres_bin().expect("postgresql installed");
        let ids = postgres_ids();
        let dir = std::env::temp_dir().join(format!("tcpgoon-pg-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the template's directory");
        chown_to(&dir, ids);
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = ids {
            use std::os::unix::process::CommandExt;
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Trust on loopback and the socket; nothing else may connect.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");
        TEMPLATE_DIR.set(dir).expect("set once");
        // SAFETY: registers a plain function; the test harness ends with exit(), which
        // runs it.
        unsafe { libc::atexit(remove_postgres_template) };
        data
    })
}

static TEMPLATE_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

extern "C" fn remove_postgres_template() {
    if let Some(dir) = TEMPLATE_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts a [`Postgres`] with a cap of `max_connections` and waits until it answers a
/// startup message with an authentication request.
fn postgres(max_connections: u32) -> Postgres {
    postgres_reserving(max_connections, 0)
}

/// [`postgres`], with `reserved` of the `max_connections` slots kept for superusers.
fn postgres_reserving(max_connections: u32, reserved: u32) -> Postgres {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let (bin, major) = postgres_bin().expect("postgresql installed");
    let template = postgres_template();
    let ids = postgres_ids();
    let dir = std::env::temp_dir().join(format!(
        "tcpgoon-pg-{}-{}",
        std::process::id(),
        SERVERS.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the server's directory");
    chown_to(&dir, ids);
    let data = dir.join("data");
    // -a keeps the owner and the 0700 mode PostgreSQL insists on.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(&data)
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy the template cluster: {copied}");
    // A port that was free a moment ago; the tests run in a network namespace of their own.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut command = Command::new(bin.join("postgres"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .arg("-c")
        .arg(format!("max_connections={max_connections}"))
        .arg("-c")
        .arg(format!("superuser_reserved_connections={reserved}"))
        .args(["-c", "fsync=off", "-c", "autovacuum=off"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).expect("create the log"));
    if major >= 16 {
        // PostgreSQL 16 also reserves slots for roles with pg_use_reserved_connections.
        command.args(["-c", "reserved_connections=0"]);
    }
    if let Some((uid, gid)) = ids {
        use std::os::unix::process::CommandExt;
        command.uid(uid).gid(gid);
    }
    let server = Postgres {
        child: command.spawn().expect("start postgres"),
        dir,
        port,
    };
    let mut startup = vec![0, 0, 0, 0, 0, 3, 0, 0];
    startup.extend_from_slice(b"user\0postgres\0\0");
    startup[3] = startup.len() as u8;
    wait_for("postgres to answer", || {
        let Ok(mut probe) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = probe.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 1];
        probe.write_all(&startup).is_ok()
            && probe.read(&mut reply).is_ok_and(|n| reply[..n] == *b"R")
    });
    // The check's backend must have exited before a test counts slots.
    server.wait_idle();
    server
}

impl Postgres {
    fn port(&self) -> String {
        self.port.to_string()
    }

    /// Runs `sql` as the superuser over the unix socket; fails the test when psql does.
    fn sql(&self, sql: &str) {
        let (bin, _) = postgres_bin().expect("postgresql installed");
        let out = Command::new(bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port(),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-qc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until every backend the postmaster forked for a client has exited (those of
    /// the last run, of a check, of psql), so the next run has every slot. It reads /proc
    /// rather than asking the server, as asking takes a slot and leaves a backend behind.
    fn wait_idle(&self) {
        let postmaster = self.child.id().to_string();
        wait_for("the clients' backends to exit", || {
            let Ok(procs) = std::fs::read_dir("/proc") else {
                return false;
            };
            !procs.filter_map(Result::ok).any(|entry| {
                let path = entry.path();
                // ppid is the field after the state, which follows the parenthesized name.
                let child = std::fs::read_to_string(path.join("stat")).is_ok_and(|stat| {
                    stat.rsplit_once(") ")
                        .and_then(|(_, rest)| rest.split(' ').nth(1))
                        .is_some_and(|ppid| ppid == postmaster)
                });
                // A backend titles itself `postgres: USER DB HOST(PORT) …` or `… [local] …`;
                // one just forked still has the postmaster's command line. The helpers
                // (checkpointer, walwriter…) have titles of neither kind.
                let title = std::fs::read(path.join("cmdline")).unwrap_or_default();
                let title = String::from_utf8_lossy(&title);
                let client = title.contains(" 127.0.0.1(")
                    || title.contains(" [local]")
                    || !title.starts_with("postgres: ");
                child && client
            })
        });
    }

    /// What the server wrote to its log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; the postmaster stops its children before it exits.
        // SAFETY: a signal to our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
