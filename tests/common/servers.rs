//! Servers to run against: the binary's own `tcpgoon server` on an ephemeral port, and real
//! servers with connection caps, from Debian's packages (`.ci/run` installs them). redis and
//! memcached run on their usual ports, so only in a private network namespace
//! ([`in_private_net`](super::net::in_private_net)).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::process::{Guard, finish, first_line, spawn, wait_for};

/// Starts `tcpgoon server -p 0 <args>` and reads the port it got from its first line,
/// `listening on <ip>:<port>`. The rest of its output stays in the pipe for [`finish`].
pub fn start_server(args: &[&str]) -> (Guard, String) {
    start_server_at("0", args)
}

/// Starts `tcpgoon server -p <port> <args>`, as [`start_server`] does. A fixed port is only
/// safe where nothing else can take it: in a private network namespace.
pub fn start_server_at(port: &str, args: &[&str]) -> (Guard, String) {
    let mut full = vec!["server", "-p", port];
    full.extend_from_slice(args);
    let mut guard = spawn(&full);
    let line = first_line(&mut guard);
    let Some(addr) = line.strip_prefix("listening on ") else {
        let out = finish(guard, Instant::now(), Duration::from_secs(5));
        panic!("server's first line is {line:?}, not `listening on`: {out:?}");
    };
    let port = addr
        .trim_end()
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert_ne!(port, 0, "{line}");
    (guard, port.to_string())
}

/// Waits until a server on 127.0.0.1:`port` answers `request` with a reply starting
/// `expect`, then gives it a moment to forget the probe's connection.
pub fn wait_until_serving(port: u16, request: &[u8], expect: &[u8]) {
    wait_for("the server to answer", || {
        let Ok(mut probe) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = probe.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 64];
        probe.write_all(request).is_ok()
            && probe
                .read(&mut reply)
                .is_ok_and(|n| reply[..n].starts_with(expect))
    });
    std::thread::sleep(Duration::from_millis(50));
}

pub fn redis(max_clients: u32) -> Guard {
    let guard = Guard(
        Command::new("redis-server")
            .args(["--port", "6379", "--bind", "127.0.0.1", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--maxclients",
                &max_clients.to_string(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_until_serving(6379, b"PING\r\n", b"+PONG");
    guard
}

pub fn memcached(max_conns: u32) -> Guard {
    let guard = Guard(
        Command::new("memcached")
            .args(["-p", "11211", "-l", "127.0.0.1", "-U", "0", "-u", "root"])
            .args(["-c", &max_conns.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start memcached"),
    );
    wait_until_serving(11211, b"version\r\n", b"VERSION");
    guard
}

/// A PostgreSQL server from Debian's `postgresql` package, in a directory of its own under
/// the temp dir: it listens on 127.0.0.1 only, on a port that was free, with its unix socket
/// in that directory, trust for every role, fsync off, and a cap of exactly
/// `max_connections` (none reserved for superusers). One cluster is made with initdb per
/// test binary and copied for each server, as initdb takes seconds. Run as root (CI), it
/// runs as the `postgres` system user: PostgreSQL refuses to run as root. Stopped
/// (immediate shutdown, SIGQUIT) and its directory removed on drop.
pub struct Postgres {
    child: Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

/// The newest installed `/usr/lib/postgresql/<major>/bin`, and its major version.
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
pub fn postgres_installed() -> bool {
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
pub fn postgres(max_connections: u32) -> Postgres {
    postgres_reserving(max_connections, 0)
}

/// [`postgres`], with `reserved` of the `max_connections` slots kept for superusers.
pub fn postgres_reserving(max_connections: u32, reserved: u32) -> Postgres {
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
    pub fn port(&self) -> String {
        self.port.to_string()
    }

    /// Runs `sql` as the superuser over the unix socket; fails the test when psql does.
    pub fn sql(&self, sql: &str) {
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
    pub fn wait_idle(&self) {
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
    pub fn log(&self) -> String {
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
