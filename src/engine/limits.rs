//! Limits of this machine that a run must fit under, checked before the first attempt: the
//! open-files limit (a run that cannot fit is refused), and the kernel's port settings (a run
//! likely to hit them is warned, with the command that lifts them).

use crate::error::Error;

/// Descriptors a run needs besides its connections: stdio, the poll, the signalfd, and
/// room for the resolver and the report.
pub const RESERVED_FDS: u64 = 32;

/// The open-files limit as (soft, hard).
pub fn nofile() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft open-files limit to the hard one, and fails before dialing when
/// `connections` cannot fit even so.
pub fn fit_open_files(connections: u64) -> Result<(), Error> {
    let hard = raise_open_files()?;
    check_open_files(connections, hard)
}

/// Grows this process's descriptor table to hold `connections` sockets at once, now,
/// before the run. The kernel doubles the table as descriptors are taken, and once the
/// process has more than one thread (the writers of live output) each doubling waits for an
/// RCU grace period: 5 to 15 ms with the event loop stopped, once per doubling (a p99 start
/// lag of 5 ms at 1000/s, here). Asking for one high descriptor grows it in one step.
pub fn reserve_descriptors(connections: u64) {
    let Ok((soft, _)) = nofile() else { return };
    let wanted = connections
        .saturating_add(RESERVED_FDS)
        .min(soft.saturating_sub(1));
    let Ok(target) = libc::c_int::try_from(wanted) else {
        return;
    };
    // SAFETY: dup2 of stderr onto a descriptor number no one uses yet (the process has
    // opened only a few), closed at once; only the table's size is kept.
    unsafe {
        if libc::fcntl(target, libc::F_GETFD) == -1 && libc::dup2(2, target) == target {
            libc::close(target);
        }
    }
}

/// Raises the soft open-files limit to the hard one, which it returns.
pub fn raise_open_files() -> Result<u64, Error> {
    let (soft, hard) =
        nofile().map_err(|e| Error::system("cannot read the open-files limit", e))?;
    if soft < hard {
        let raised = libc::rlimit {
            rlim_cur: hard as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(Error::system(
                "cannot raise the open-files limit",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(hard)
}

/// The check itself, apart from the system call, so it can be tested.
pub fn check_open_files(connections: u64, hard: u64) -> Result<(), Error> {
    let needed = connections.saturating_add(RESERVED_FDS);
    if needed > hard {
        return Err(Error::Usage(format!(
            "{connections} connections need {needed} open files, but the hard limit is {hard}: \
             raise it (as root: `ulimit -Hn {needed}`, or LimitNOFILE={needed} for a systemd \
             service) or ask for at most {} connections",
            hard.saturating_sub(RESERVED_FDS)
        )));
    }
    Ok(())
}

/// The kernel settings that decide how many connections one (source, target) pair can have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortSettings {
    /// `net.ipv4.ip_local_port_range` (it applies to IPv6 too).
    pub range: Option<(u32, u32)>,
    /// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only.
    pub tw_reuse: Option<u32>,
}

/// Reads the settings of this process's network namespace; a missing file leaves `None`.
pub fn port_settings() -> PortSettings {
    let read = |name: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).ok();
    let numbers = |text: String| -> Vec<u32> {
        text.split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    PortSettings {
        range: read("ip_local_port_range")
            .map(numbers)
            .and_then(|n| match n[..] {
                [low, high] if low <= high => Some((low, high)),
                _ => None,
            }),
        tw_reuse: read("tcp_tw_reuse")
            .map(numbers)
            .and_then(|n| n.first().copied()),
    }
}

/// Where a run's attempts go, for [`port_warnings`]: the most over one (source, target)
/// pair and the most to one target, and whether the targets are IPv4 loopback (where a
/// block of sources is there to take without setting anything up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortUse {
    pub per_pair: u64,
    pub per_target: u64,
    pub loopback_v4: bool,
}

/// Warnings for a run that sends attempts as `use_` says, each naming the command that
/// lifts the limit: with too few ports, how many source addresses the run needs.
pub fn port_warnings(settings: &PortSettings, use_: PortUse) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some((low, high)) = settings.range else {
        return warnings;
    };
    let ports = u64::from(high - low + 1);
    let per_pair = use_.per_pair;
    if per_pair > ports {
        let needed = use_.per_target.div_ceil(ports);
        let example = if use_.loopback_v4 {
            // The smallest block of loopback addresses with enough host addresses.
            let bits = (2..=16).find(|b| (1u64 << b) - 2 >= needed).unwrap_or(16);
            let block = if bits <= 8 {
                "127.0.1.0".to_string()
            } else {
                "127.1.0.0".to_string()
            };
            format!(
                " (`--source {block}/{}` gives {})",
                32 - bits,
                (1u64 << bits) - 2
            )
        } else {
            String::new()
        };
        warnings.push(format!(
            "up to {per_pair} connections go from one source address to one target address, \
             but the ephemeral port range {low}-{high} has {ports} ports: widen it \
             (`sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`) or spread the \
             connections over at least {needed} source addresses with --source{example}"
        ));
    }
    if settings.tw_reuse == Some(0) && per_pair.saturating_mul(2) > ports {
        warnings.push(format!(
            "net.ipv4.tcp_tw_reuse is 0: ports left in TIME_WAIT by the last run stay taken \
             for 60 s, and {per_pair} connections per (source, target) pair will not fit \
             twice in {ports} ports; allow reuse with `sysctl -w net.ipv4.tcp_tw_reuse=1`"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_warnings_name_the_fix() {
        let narrow = PortSettings {
            range: Some((40000, 40099)),
            tw_reuse: Some(2),
        };
        let pair = |n| PortUse {
            per_pair: n,
            per_target: n,
            loopback_v4: true,
        };
        assert!(port_warnings(&narrow, pair(100)).is_empty());
        let warnings = port_warnings(&narrow, pair(250));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("40000-40099 has 100 ports"));
        assert!(warnings[0].contains("sysctl -w net.ipv4.ip_local_port_range"));
        assert!(
            warnings[0].contains(
                "at least 3 source addresses with --source (`--source 127.0.1.0/29` gives 6)"
            ),
            "{warnings:?}"
        );
        let million = PortUse {
            per_pair: 1_000_000,
            per_target: 1_000_000,
            loopback_v4: true,
        };
        let default_range = PortSettings {
            range: Some((32768, 60999)),
            tw_reuse: Some(2),
        };
        let warnings = port_warnings(&default_range, million);
        assert!(
            warnings[0].contains(
                "at least 36 source addresses with --source (`--source 127.0.1.0/26` gives 62)"
            ),
            "{warnings:?}"
        );

        let no_reuse = PortSettings {
            range: Some((32768, 60999)),
            tw_reuse: Some(0),
        };
        let pair = |n| PortUse {
            per_pair: n,
            per_target: n,
            loopback_v4: false,
        };
        assert!(port_warnings(&no_reuse, pair(14_116)).is_empty());
        let warnings = port_warnings(&no_reuse, pair(14_117));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("sysctl -w net.ipv4.tcp_tw_reuse=1"));
        assert!(port_warnings(&PortSettings::default(), pair(1 << 40)).is_empty());
    }

    #[test]
    fn this_machine_has_readable_port_settings() {
        let settings = port_settings();
        let (low, high) = settings.range.expect("ip_local_port_range");
        assert!(low <= high && high <= 65535, "{settings:?}");
        assert!(settings.tw_reuse.is_some_and(|r| r <= 2), "{settings:?}");
    }

    #[test]
    fn too_many_connections_for_the_hard_limit_is_a_setup_error() {
        assert!(check_open_files(19_968, 20_000).is_ok());
        let Err(Error::Usage(message)) = check_open_files(19_969, 20_000) else {
            panic!("accepted more connections than the limit allows");
        };
        assert!(message.contains("20001 open files"), "{message}");
        assert!(message.contains("hard limit is 20000"), "{message}");
        assert!(message.contains("ulimit -Hn 20001"), "{message}");
        assert!(message.contains("at most 19968 connections"), "{message}");
    }
}
