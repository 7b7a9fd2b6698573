//! Past one address and one limit, through the real binary: source addresses, every target
//! address, hold and reconnect, the local-limit checks, and `tcpgoon limit`. Tests that
//! need a narrow port range run in a private network namespace, where the range can change
//! without touching the machine's.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{BIN, Guard, HoldingListener, Output, args, finish, in_private_net, run, spawn};

/// Namespaced runs narrow the ephemeral range to this many ports.
const PORTS: u64 = 100;

/// Narrows the namespace's ephemeral range and starts `tcpgoon server` on a fixed port
/// outside it (no race for a fixed port in a private namespace), so all 100 ports are the
/// client's.
fn narrow_port_range() -> Guard {
    sysctl("net.ipv4.ip_local_port_range", "40000 40099");
    let (server, port) = common::start_server_at("9000", &["-m", "0", "-d", "60s", "-i", "0"]);
    assert_eq!(port, "9000");
    server
}

/// Runs `tcpgoon <args>` in a private network namespace whose port range is narrowed, against
/// the server [`narrow_port_range`] starts there; `None` where namespaces are not available.
fn run_in_narrow_range(args: &[impl AsRef<str> + Sync]) -> Option<Output> {
    in_private_net(|| {
        let _server = narrow_port_range();
        run(args)
    })
}

/// `run` to that server, `connections` at once, without live lines, plus `extra`.
fn burst_in_narrow_range(connections: &str, extra: &[&str]) -> Option<Output> {
    let base = [
        "run",
        "127.0.0.1",
        "9000",
        "-c",
        connections,
        "-s",
        "0",
        "-i",
        "0",
        "-y",
    ];
    run_in_narrow_range(&[&base[..], extra].concat())
}

fn assert_adds_up(out: &Output) {
    let counts = out.final_counts();
    assert!(counts.adds_up(), "{counts:?}\n{}", out.stdout);
}

/// The local ports of this namespace's established IPv4 connections to port `to`, from the
/// kernel's table (the calling thread's namespace: `thread-self`, not `self`).
fn local_ports_to(to: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").expect("read net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| u16::from_str_radix(addr.rsplit_once(':')?.1, 16).ok();
            // State 01 is ESTABLISHED.
            (fields.get(3) == Some(&"01") && port(fields[2]) == Some(to))
                .then(|| port(fields[1]))
                .flatten()
        })
        .collect()
}

/// Whether this kernel has `IP_LOCAL_PORT_RANGE` (Linux 6.3).
fn kernel_has_local_port_range() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    version >= (6, 3)
}

/// Sets `name` (dotted, as `sysctl` spells it) for the calling thread's network namespace.
fn sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {value:?} to {path}: {e}"));
}

/// A listener on any address (the built-in server binds one address, and some tests need
/// `[::]`) that holds every connection it accepts, or with `close_after` closes each one
/// after that long: a server with an idle timeout.
struct PolicyListener {
    addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl PolicyListener {
    fn start(bind: &str, close_after: Option<Duration>) -> Self {
        let listener = TcpListener::bind(bind).expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                match close_after {
                    Some(after) => {
                        std::thread::spawn(move || {
                            std::thread::sleep(after);
                            drop(stream);
                        });
                    }
                    None => held.push(stream),
                }
            }
        });
        PolicyListener {
            addr,
            _thread: thread,
        }
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

#[test]
fn ports_are_handed_out_in_order_not_one_parity_first() {
    // Unless a socket has a local port range of its own, Linux's connect-time search tries
    // every port of one parity before any of the other, so past half the range each connect
    // scans that whole half. tcpgoon gives each socket a range of its own: then the first
    // 50 connections in a 100-port range already use ports of both parities.
    if !kernel_has_local_port_range() {
        eprintln!("skipped: IP_LOCAL_PORT_RANGE needs Linux 6.3");
        return;
    }
    let Some(ports) = in_private_net(|| {
        let _server = narrow_port_range();
        let _client = spawn(&args!("run 127.0.0.1 9000 -c 50 -s 0 --hold 20s -i 0 -y"));
        let mut ports = Vec::new();
        common::wait_for("50 established", || {
            ports = local_ports_to(9000);
            ports.len() == 50
        });
        ports
    }) else {
        return;
    };
    let odd = ports.iter().filter(|p| *p % 2 == 1).count();
    assert!(odd > 0 && odd < 50, "{odd} of 50 odd: {ports:?}");
}

#[test]
fn one_source_stops_at_the_port_limit_and_says_which_wall() {
    let Some(out) = burst_in_narrow_range("250", &[]) else {
        return;
    };
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_adds_up(&out);
    let counts = out.final_counts();
    assert_eq!(counts.established, PORTS, "{}", out.stdout);
    assert_eq!(counts.error, 1, "{}", out.stdout);
    assert_eq!(out.failures("no free local port"), 1);
    assert_eq!(out.failures("refused") + out.failures("timed out"), 0);
    let stop = out.line("Run stopped by a local limit: no free local port (");
    assert!(stop.contains("--source"), "{stop}");
    assert!(
        out.stderr.contains(
            "tcpgoon: warning: up to 250 connections go from one source address to one target \
             address, but the ephemeral port range 40000-40099 has 100 ports"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`"),
        "{}",
        out.stderr
    );
}

#[test]
fn three_sources_hold_all_250_in_a_100_port_range() {
    let Some(out) = burst_in_narrow_range("250", &["--source", "127.0.0.2,127.0.0.3,127.0.0.4"])
    else {
        return;
    };
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 250, "{}", out.stdout);
    // 84 attempts per (source, target) pair fit in 100 ports: no warning.
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn a_cidr_block_of_sources_is_spread_over() {
    // 127.0.0.0/29: six sources (its host addresses, 127.0.0.1 to .6), 500 connections,
    // 84 per source.
    let Some(out) = burst_in_narrow_range("500", &["--source", "127.0.0.0/29"]) else {
        return;
    };
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 500, "{}", out.stdout);
}

#[test]
fn bad_sources_are_setup_errors() {
    let server = HoldingListener::start();
    let port = server.port();
    for (source, why) in [
        ("10.9.9.9", "cannot bind to 10.9.9.9"),
        ("::1", "target 127.0.0.1 is IPv4 but no --source address is"),
        (
            "127.0.0.2,::1",
            "source ::1 is IPv6 but no target address is",
        ),
        ("10.0.0.0/8", "at most 65536 source addresses"),
        ("127.0.0.1,127.0.0.1", "127.0.0.1 is given twice"),
        // Unspecified: the kernel would pick the source, as with no --source at all.
        ("0.0.0.0", "'0.0.0.0' is the unspecified address"),
        ("::", "'::' is the unspecified address"),
        ("::/127", "'::/127' includes ::, the unspecified address"),
        // Multicast and broadcast addresses bind, but Linux then connects from another
        // address: the run would silently come from 127.0.0.1.
        ("224.0.0.1", "'224.0.0.1' is a multicast address"),
        ("239.1.1.1", "'239.1.1.1' is a multicast address"),
        (
            "127.0.0.2,224.0.0.0/30",
            "'224.0.0.0/30' holds multicast addresses",
        ),
        (
            "255.255.255.255",
            "'255.255.255.255' is the broadcast address",
        ),
        (
            "127.255.255.255",
            "'127.255.255.255' is the broadcast address of 127.0.0.0/8",
        ),
        (
            "127.255.255.254/31",
            "'127.255.255.254/31' includes 127.255.255.255",
        ),
    ] {
        let out = run(&args!("run 127.0.0.1 {port} -c 1 -y --source {source}"));
        assert_eq!(out.code, Some(64), "{source}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{source}: {}", out.stderr);
        assert!(out.stderr.starts_with("tcpgoon: "), "{}", out.stderr);
        assert!(out.stderr.contains(why), "{source}: {}", out.stderr);
    }
}

#[test]
fn ipv6_loopback_with_an_ipv6_source() {
    let server = PolicyListener::start("[::1]:0", None);
    let port = server.port();
    // The reference tool names the host alone when it is an address (`host:port`, see
    // tests/run.rs); it cannot dial an IPv6 address (it joins `host + ":" + port`, which
    // Go's dialer refuses as "too many colons"), so for one tcpgoon keeps the address
    // bracketed, as a socket address is written.
    let out = run(&["run", "::1", &port, "-c", "20", "-s", "0", "-i", "0", "-y"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("--- [::1]:{port} tcp test statistics ---")),
        "an IPv6 address heads the report bracketed, without a name: {}",
        out.stdout
    );
    let out = run(&[
        "run", "[::1]", &port, "-c", "20", "-s", "0", "-i", "0", "-y", "-6", "--source", "::1",
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 20);
    assert!(
        out.stdout
            .contains(&format!("--- [::1]:{port} tcp test statistics ---")),
        "{}",
        out.stdout
    );
    let out = run(&["run", "::1", &port, "-c", "1", "-y", "-4"]);
    assert_eq!(out.code, Some(64), "{out:?}");
    assert!(
        out.stderr.contains("'::1' has no IPv4 address"),
        "{}",
        out.stderr
    );
}

#[test]
fn ipv6_sources_no_connection_can_come_from_are_setup_errors() {
    let server = PolicyListener::start("[::1]:0", None);
    let port = server.port();
    for (source, why) in [
        ("ff02::1", "'ff02::1' is a multicast address"),
        ("ff0e::/120", "'ff0e::/120' holds multicast addresses"),
        (
            "::ffff:224.0.0.1",
            "'::ffff:224.0.0.1' is a multicast address",
        ),
    ] {
        let out =
            common::run_bad_input(&["run", "::1", &port, "-c", "1", "-y", "--source", source]);
        assert!(out.stderr.contains(why), "{source}: {}", out.stderr);
    }
}

#[test]
fn a_source_that_cannot_reach_the_targets_family_is_a_setup_error() {
    // [::] takes IPv4 connections too, as IPv4-mapped addresses.
    let server = PolicyListener::start("[::]:0", None);
    let port = server.port();
    // An IPv4-mapped source binds, but reaches only IPv4-mapped targets, and a plain IPv6
    // source only plain IPv6 ones: every attempt would fail (EAFNOSUPPORT, ENETUNREACH),
    // blamed on the server.
    for (target, source, why) in [
        (
            "::1",
            "::ffff:127.0.0.1",
            "--source: ::ffff:127.0.0.1 cannot reach [::1]:",
        ),
        (
            "::1",
            "::1,::ffff:127.0.0.2",
            "::ffff:127.0.0.2 cannot reach [::1]:",
        ),
        (
            "::ffff:127.0.0.1",
            "::1",
            "--source: ::1 cannot reach [::ffff:127.0.0.1]:",
        ),
    ] {
        let out =
            common::run_bad_input(&["run", target, &port, "-c", "1", "-y", "--source", source]);
        assert!(out.stderr.contains(why), "{source}: {}", out.stderr);
        assert!(
            out.stderr.contains("IPv4-mapped"),
            "{source}: {}",
            out.stderr
        );
    }
    // Mapped to mapped is a pair that works.
    let out = run(&args!(
        "run ::ffff:127.0.0.1 {port} -c 3 -s 0 -i 0 -y --source ::ffff:127.0.0.2"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.final_counts().established, 3, "{}", out.stdout);
}

/// Runs the binary to completion inside a mount namespace of its own where /etc/hosts is
/// `hosts`, so names resolve as a test needs without a resolver; 30 s limit.
fn run_with_hosts(hosts: &str, args: &[&str]) -> Output {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "tcpgoon-hosts-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&file, hosts).unwrap();
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        ])
        .arg(&file)
        .arg(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let out = finish(
        Guard(command.spawn().expect("start unshare")),
        started,
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_file(&file);
    out
}

/// Runs the binary where /etc/hosts says `multi.test` is both 127.0.0.1 and ::1, so a name
/// with two addresses needs no resolver.
fn run_with_two_address_name(args: &[&str]) -> Output {
    run_with_hosts("127.0.0.1 multi.test\n::1 multi.test\n", args)
}

#[test]
fn all_addresses_spreads_over_ipv4_and_ipv6_and_breaks_counts_down() {
    let Some((first, all, only_v6)) = in_private_net(|| {
        // Dual-stack on every address of the namespace, which has only loopback.
        let server = PolicyListener::start("[::]:0", None);
        let port = server.port();
        let base = [
            "run",
            "multi.test",
            &port,
            "-c",
            "10",
            "-s",
            "0",
            "-i",
            "0",
            "-y",
        ];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            run_with_two_address_name(&args)
        };
        (
            with(&[]),
            with(&["--all-addresses"]),
            with(&["--all-addresses", "-6"]),
        )
    }) else {
        return;
    };
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        !first.stdout.contains("By target address:"),
        "{}",
        first.stdout
    );

    assert_eq!(all.code, Some(0), "{all:?}");
    assert_eq!(all.final_counts().established, 10);
    let lines: Vec<&str> = all.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "By target address:")
        .unwrap_or_else(|| panic!("no breakdown in:\n{}", all.stdout));
    let mut breakdown = lines[at + 1..at + 3].to_vec();
    breakdown.sort_unstable();
    let port = all
        .stdout
        .split("):")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(
        breakdown,
        [
            format!(
                "  127.0.0.1:{port}  Total: 5, Dialing: 0, Established: 5, Closed: 0, Error: 0, NotInitiated: 0"
            ),
            format!(
                "  [::1]:{port}  Total: 5, Dialing: 0, Established: 5, Closed: 0, Error: 0, NotInitiated: 0"
            ),
        ]
    );

    assert_eq!(only_v6.code, Some(0), "{only_v6:?}");
    assert!(
        only_v6.stdout.contains("tcp test statistics"),
        "{}",
        only_v6.stdout
    );
    assert!(only_v6.stdout.contains("(::1):"), "{}", only_v6.stdout);
    assert!(!only_v6.stdout.contains("By target address:"));
}

#[test]
fn a_name_whose_first_address_refuses_falls_back_to_the_next() {
    // `localhost` resolving to ::1 first, and a server on 127.0.0.1 only: the reference
    // tool dials the name with Go's `net.DialTimeout`, which tries its addresses in turn and
    // takes the first that connects, so every connection is made and it exits 0. This
    // machine's /etc/hosts gives localhost 127.0.0.1 alone, so the run gets a hosts file
    // with ::1 first, in a network namespace where nothing else listens.
    let hosts = "::1 localhost\n127.0.0.1 localhost\n";
    let Some((port, plain, json, all, literal, debug)) = in_private_net(|| {
        let server = HoldingListener::start();
        let port = server.port();
        let base = [
            "run",
            "localhost",
            &port,
            "-c",
            "10",
            "-s",
            "0",
            "-i",
            "0",
            "-y",
        ];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            run_with_hosts(hosts, &args)
        };
        let literal = run(&["run", "::1", &port, "-c", "3", "-s", "0", "-i", "0", "-y"]);
        (
            port.clone(),
            with(&[]),
            with(&["--json"]),
            with(&["--all-addresses"]),
            literal,
            with(&["-d"]),
        )
    }) else {
        return;
    };
    // The premise: the name's first address is ::1, which the report names as the
    // reference tool does (its first address).
    assert!(
        plain.stdout.contains(&format!(
            "--- localhost(::1):{port} tcp test statistics ---"
        )),
        "{}",
        plain.stdout
    );
    assert_eq!(plain.code, Some(0), "{plain:?}");
    let counts = plain.final_counts();
    assert_eq!((counts.established, counts.error), (10, 0), "{counts:?}");
    // Each attempt is counted once, with its outcome; how many fell back is said apart.
    assert_eq!(plain.failures("refused"), 0);
    assert_eq!(
        plain.line("Fallbacks: "),
        format!(
            "Fallbacks: 10 connections were refused by [::1]:{port} and made to 127.0.0.1:{port}"
        )
    );

    assert_eq!(json.code, Some(0), "{json:?}");
    let summary: serde_json::Value =
        serde_json::from_str(json.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        summary["fallbacks"],
        serde_json::json!([{
            "from": format!("[::1]:{port}"),
            "cause": "refused",
            "to": format!("127.0.0.1:{port}"),
            "count": 10,
        }])
    );
    assert_eq!(
        summary["options"]["fallbacks"],
        serde_json::json!([format!("127.0.0.1:{port}")])
    );
    assert_eq!(summary["counts"]["established"], 10);

    // --debug tells of each fallback as it happens.
    assert_eq!(debug.code, Some(0), "{debug:?}");
    let fell_back = debug
        .stderr
        .lines()
        .filter(|l| l.contains(": refused after ") && l.ends_with(", dialing the next address"))
        .count();
    assert_eq!(fell_back, 10, "{}", debug.stderr);

    // --all-addresses spreads attempts instead: those to ::1 are refused.
    assert_eq!(all.code, Some(2), "{all:?}");
    let counts = all.final_counts();
    assert_eq!((counts.established, counts.error), (5, 5), "{counts:?}");
    assert!(!all.stdout.contains("Fallbacks:"), "{}", all.stdout);
    // An address has nothing to fall back to.
    assert_eq!(literal.code, Some(2), "{literal:?}");
    assert_eq!(literal.failures("refused"), 3);
    assert!(!literal.stdout.contains("Fallbacks:"), "{}", literal.stdout);
}

#[test]
fn hold_keeps_connections_open_with_live_lines() {
    let server = HoldingListener::start();
    let out = run(&args!(
        "run 127.0.0.1 {} -c 10 -s 0 -i 100ms --hold 600ms -y",
        server.port()
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.elapsed >= Duration::from_millis(600),
        "{:?}",
        out.elapsed
    );
    // The upper bound only has to show that the run ends once the hold is over; it allows
    // for a loaded machine starting the process and dialing slowly.
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
    let held_lines = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Total: 10, Dialing: 0, Established: 10, "))
        .count();
    // Live lines every 100 ms during the hold (about six; a loaded machine that stalls the
    // process past a tick skips it), and the final report's.
    assert!(held_lines >= 3, "{}", out.stdout);
    let hold = out.line("Hold: ");
    let (held_for, counts) = hold["Hold: ".len()..]
        .split_once(", ")
        .unwrap_or_else(|| panic!("{hold}"));
    let held_for = common::go_duration(held_for);
    assert!(
        held_for >= Duration::from_millis(600) && held_for < Duration::from_millis(1500),
        "{hold}"
    );
    assert_eq!(
        counts, "established during the hold min/max = 10/10",
        "{hold}"
    );
}

#[test]
fn connections_the_peer_closes_during_the_hold_are_closed_and_exit_2() {
    let server = PolicyListener::start("127.0.0.1:0", Some(Duration::from_millis(300)));
    let out = run(&args!(
        "run 127.0.0.1 {} -c 10 -s 0 -i 0 --hold 5s -y",
        server.port()
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let counts = out.final_counts();
    assert_eq!(
        (counts.closed, counts.established),
        (10, 0),
        "{}",
        out.stdout
    );
    assert_eq!(out.closures("closed by peer"), 10);
    // Nothing is left to hold once the peer has closed everything.
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    assert!(
        out.line("Hold: ")
            .ends_with("established during the hold min/max = 0/10")
    );
}

#[test]
fn reconnect_keeps_n_up_and_the_total_adds_up() {
    let server = PolicyListener::start("127.0.0.1:0", Some(Duration::from_millis(200)));
    let out = run(&args!(
        "run 127.0.0.1 {} -c 10 -s 0 -i 0 --hold 1s --reconnect -y",
        server.port()
    ));
    // The peer closed connections: that is still reported, with exit 2.
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_adds_up(&out);
    let counts = out.final_counts();
    let line = out.line("Reconnects: ");
    let reconnects = reconnects(&out);
    // Each of the 10 is closed every 200 ms for about 1.2 s: 5 or 6 replacements each on
    // an idle machine. At least two each shows the replacements are themselves replaced.
    assert!(reconnects >= 20, "{line}");
    assert_eq!(counts.total, 10 + reconnects, "{}", out.stdout);
    assert_eq!(
        line,
        format!(
            "Reconnects: {reconnects} (Total {} = 10 connections + {reconnects} reconnects)",
            counts.total
        )
    );
    assert_eq!(counts.closed, out.closures("closed by peer"));
    // Every drop is replaced until the hold ends: each of the 10 can end with at most one
    // drop not replaced, so the run ends with about 10 still up.
    assert!(
        reconnects <= counts.closed && counts.closed - reconnects <= 10,
        "{}",
        out.stdout
    );
    assert_eq!(
        counts.established + counts.error,
        10 + reconnects - counts.closed
    );
    assert!(counts.established >= 8, "{}", out.stdout);
    let hold = out.line("Hold: ");
    let (min, max) = hold
        .rsplit_once("min/max = ")
        .and_then(|(_, m)| m.split_once('/'))
        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("{hold}"));
    assert!(min <= max && max == 10, "{hold}");
}

/// The count a `Reconnects: N (…)` line gives.
fn reconnects(out: &Output) -> u64 {
    let line = out.line("Reconnects: ");
    line["Reconnects: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// The achieved rate an `Attempt rate: X/s achieved, …` line gives.
fn achieved_rate(out: &Output) -> f64 {
    let line = out.line("Attempt rate: ");
    line["Attempt rate: ".len()..]
        .split("/s")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn replacements_share_the_requested_rate_and_a_run_without_a_hold_ends() {
    // A server that closes every connection as it accepts it: every attempt is dropped at
    // once and wants replacing. Replacements take the schedule's slots, so attempts of both
    // kinds together keep to 100/s; without a hold, drops after the last scheduled attempt
    // are not replaced, so the run ends.
    let (_server, port) = common::start_server(&["-m", "0", "--max-open", "0", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 20 -s 10ms --reconnect -i 0 -y"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_adds_up(&out);
    let replaced = reconnects(&out);
    // Replacements and scheduled attempts take turns: at most one replacement per attempt.
    assert!((1..=20).contains(&replaced), "{}", out.stdout);
    assert_eq!(out.final_counts().total, 20 + replaced);
    assert!(achieved_rate(&out) <= 100.5, "{}", out.stdout);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);

    // With a hold, replacing goes on through it, at the same rate.
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 5 -s 10ms --reconnect --hold 500ms -i 0 -y"
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_adds_up(&out);
    // 40 ms of schedule and 500 ms of hold at one attempt per 10 ms: about 50 replacements.
    assert!(reconnects(&out) >= 20, "{}", out.stdout);
    assert!(achieved_rate(&out) <= 100.5, "{}", out.stdout);
}

#[test]
fn limit_finds_the_backlog_of_a_server_that_never_accepts() {
    let (server, port) = common::start_server(&["-m", "0", "--no-accept", "--backlog", "64"]);
    let out = run(&args!("limit 127.0.0.1 {port} -c 1000 -t 300ms -i 0"));
    drop(server);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_adds_up(&out);
    // Linux queues backlog + 1 completed handshakes, then drops SYNs.
    let limit = out.line("Limit: ");
    assert!(
        limit.starts_with(
            "Limit: 65 concurrent connections held when an attempt failed (timed out), after "
        ),
        "{limit}"
    );
    assert!(out.failures("timed out") >= 1);
}

#[test]
fn limit_finds_k_against_a_server_that_closes_the_rest() {
    // The server closes the 41st as it accepts it. The client counts what is established
    // when it reads that FIN, so the next attempt must not come before the server has had
    // its turn: 100 ms apart, not the default 1 ms, on a machine busy with other tests.
    let (_server, port) = common::start_server(&["-m", "0", "--max-open", "40", "-i", "0"]);
    let out = run(&args!("limit 127.0.0.1 {port} -c 500 --rate 10 -i 0"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_adds_up(&out);
    let limit = out.line("Limit: ");
    assert!(
        limit.starts_with(
            "Limit: 40 concurrent connections held when the peer dropped a held connection (closed by peer), after 41 attempts in "
        ),
        "{limit}"
    );
}

#[test]
fn limit_without_a_limit_holds_the_maximum_and_exits_4() {
    let server = HoldingListener::start();
    let out = run(&args!(
        "limit 127.0.0.1 {} -c 50 --rate 5000 --hold 300ms -i 0",
        server.port()
    ));
    assert_eq!(out.code, Some(4), "{out:?}");
    assert_eq!(out.final_counts().established, 50);
    let line = out.line("No limit found: ");
    assert!(
        line.starts_with("No limit found: 50 connections established and held for 30"),
        "{line}"
    );
}

#[test]
fn limit_blames_this_machine_for_a_local_limit() {
    let Some(out) = run_in_narrow_range(&args!("limit 127.0.0.1 9000 -c 250 -r 20000 -i 0")) else {
        return;
    };
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.failures("no free local port"), 1);
    // Every port is in use: by a connection held, or by one whose handshake is under way.
    let counts = out.final_counts();
    assert_eq!(counts.established + counts.dialing, PORTS, "{}", out.stdout);
    let line = out.line("No server limit found: ");
    assert!(
        line.starts_with(&format!(
            "No server limit found: this machine's limit came first, with {} concurrent \
             connections held when an attempt failed (no free local port), after 101 attempts",
            counts.established
        )),
        "{line}"
    );
    assert!(line.contains("--source"), "{line}");
}

#[test]
fn limit_is_interrupted_cleanly() {
    let server = HoldingListener::start();
    let started = Instant::now();
    let child = spawn(&args!("limit 127.0.0.1 {} -c 1000 -r 100", server.port()));
    std::thread::sleep(Duration::from_millis(400));
    common::signal(&child, libc::SIGINT);
    let out = finish(child, started, Duration::from_secs(10));
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_adds_up(&out);
    let line = out.line("Search interrupted by SIGINT with ");
    assert!(
        line.ends_with("concurrent connections held and none lost"),
        "{line}"
    );
}

#[test]
fn the_json_summary_carries_reconnects_and_the_hold() {
    let server = PolicyListener::start("127.0.0.1:0", Some(Duration::from_millis(100)));
    let out = run(&args!(
        "run 127.0.0.1 {} -c 5 -s 0 -i 0 --hold 400ms --reconnect --json -y",
        server.port()
    ));
    assert_eq!(out.code, Some(2), "{out:?}");
    let summary = out.stdout.lines().last().expect("a summary line");
    let number_after = |key: &str| -> u64 {
        let at = summary
            .find(key)
            .unwrap_or_else(|| panic!("no {key} in {summary}"));
        summary[at + key.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let reconnects = number_after("\"reconnects\":");
    assert!(reconnects >= 5, "{summary}");
    assert_eq!(number_after("\"counts\":{\"total\":"), 5 + reconnects);
    assert!(
        number_after("\"hold\":{\"duration_us\":") >= 400_000,
        "{summary}"
    );
    assert!(summary.contains("\"reconnect\":true"), "{summary}");
    assert!(summary.contains("\"by_target\":[]"), "{summary}");
}
