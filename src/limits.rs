//! Limits of this machine that a run must fit under, checked before the first attempt.

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

#[cfg(test)]
mod tests {
    use super::*;

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
