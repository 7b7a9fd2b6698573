//! `--workers`: a command run as N processes of this same binary, each the single-threaded
//! loop it always is, with the parent owning the terminal. This module is the process side
//! that `run --workers` and `server --workers` share: starting the workers, knowing each
//! one's end from the poll (a pidfd), signalling them, and leaving none behind.
//!
//! A worker is this binary, started with the parent's own arguments and one environment
//! variable, [`ENV`], that says which worker it is and what the parent decided for all of
//! them (a JSON object each command defines). Its stdout is a pipe to the parent; stdin is
//! /dev/null; stderr is the parent's, so a worker's own error line reaches the user as is.
//!
//! Nothing is orphaned:
//! - each worker asks the kernel for SIGKILL when its parent dies (`PR_SET_PDEATHSIG`), and
//!   checks, after asking, that the parent it was started by is still there (one that died
//!   in between would never send it);
//! - each worker is in a process group of its own, so a signal from the terminal (Ctrl-C)
//!   reaches the parent only, which passes exactly one on to every worker: a worker that
//!   got one from the terminal and another from the parent could be killed by the second
//!   while it writes its report;
//! - [`Workers`] kills (SIGKILL) and reaps every worker still running when it is dropped, so
//!   a parent that returns early, by an error or a panic, leaves none behind.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};

use crate::error::Error;

/// The environment variable that makes a tcpgoon process a worker of its parent.
pub const ENV: &str = "TCPGOON_WORKER";

/// The most bytes a worker's line may have before the parent gives up on that worker.
pub const LINE_MAX: usize = 64 << 20;

/// The worker this process is, when it is one: the value of [`ENV`], taken out of the
/// environment so that nothing this process starts inherits it.
pub fn this_process() -> Option<String> {
    let value = std::env::var(ENV).ok();
    if value.is_some() {
        // SAFETY: called once, at the start of the command, before any other thread runs.
        unsafe { std::env::remove_var(ENV) };
    }
    value
}

/// The number of cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One worker: its process, its stdout, the pidfd that becomes readable when it ends, and
/// what it wrote that is not yet a whole line.
pub struct Worker {
    pub index: usize,
    pub pid: u32,
    child: Child,
    stdout: Option<ChildStdout>,
    pidfd: OwnedFd,
    partial: Vec<u8>,
    /// How it ended, once reaped.
    pub status: Option<ExitStatus>,
}

/// The workers of one command, killed and reaped when dropped if still running.
pub struct Workers {
    pub list: Vec<Worker>,
}

/// What reading a worker's stdout gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Whole lines (without their `\n`), maybe none.
    Lines(Vec<Vec<u8>>),
    /// The pipe is closed: the worker is gone or done; any last bytes without a `\n` were
    /// dropped, as they could not be a whole line.
    Closed(Vec<Vec<u8>>),
}

impl Workers {
    /// Starts `count` workers of this binary with this process's own arguments; worker `i`
    /// gets `env(i)` as [`ENV`]. Either all start or none is left running.
    pub fn spawn(count: usize, env: impl Fn(usize) -> String) -> Result<Workers, Error> {
        let mut workers = Workers {
            list: Vec::with_capacity(count),
        };
        let parent = std::process::id();
        for index in 0..count {
            let mut command = Command::new("/proc/self/exe");
            command
                .args(std::env::args_os().skip(1))
                .env(ENV, env(index))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .process_group(0);
            // SAFETY: the closure runs in the child between fork and exec and calls only
            // async-signal-safe functions (prctl, getppid).
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // The parent may have died before the request: then no signal comes.
                    if libc::getppid() as u32 != parent {
                        return Err(io::Error::from_raw_os_error(libc::ESRCH));
                    }
                    Ok(())
                });
            }
            let mut child = command
                .spawn()
                .map_err(|e| Error::system(&format!("cannot start worker {index}"), e))?;
            let pid = child.id();
            let pidfd = match pidfd_open(pid) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::system("cannot watch a worker (pidfd_open)", e));
                }
            };
            let stdout = child.stdout.take();
            if let Some(out) = &stdout {
                set_nonblocking(out.as_raw_fd())
                    .map_err(|e| Error::system("cannot read a worker's output", e))?;
            }
            workers.list.push(Worker {
                index,
                pid,
                child,
                stdout,
                pidfd,
                partial: Vec::new(),
                status: None,
            });
        }
        Ok(workers)
    }

    /// Sends `signal` to every worker still running.
    pub fn signal(&mut self, signal: libc::c_int) {
        for worker in &mut self.list {
            worker.signal(signal);
        }
    }

    /// Whether every worker has ended and been reaped.
    pub fn all_ended(&self) -> bool {
        self.list.iter().all(|w| w.status.is_some())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.list {
            if worker.status.is_none() {
                let _ = worker.child.kill();
                worker.status = worker.child.wait().ok();
            }
        }
    }
}

impl Worker {
    /// The descriptor of its stdout, to register with the poll; `None` once closed.
    pub fn stdout_fd(&self) -> Option<RawFd> {
        self.stdout.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The pidfd, readable once the worker has ended.
    pub fn pidfd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    pub fn signal(&mut self, signal: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: pidfd_send_signal on a pidfd this process owns: it cannot reach
            // another process, even one that took the pid of a reaped worker.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    self.pidfd.as_raw_fd(),
                    signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
        }
    }

    /// Reads what its stdout has now, without waiting, as whole lines. A line longer than
    /// [`LINE_MAX`] is an error: the worker is not one of ours, or is broken.
    pub fn read_lines(&mut self) -> io::Result<Received> {
        let Some(out) = self.stdout.as_mut() else {
            return Ok(Received::Closed(Vec::new()));
        };
        let mut lines = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) => {
                    self.stdout = None;
                    self.partial.clear();
                    return Ok(Received::Closed(lines));
                }
                Ok(n) => {
                    let mut rest = &buf[..n];
                    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                        self.partial.extend_from_slice(&rest[..end]);
                        lines.push(std::mem::take(&mut self.partial));
                        rest = &rest[end + 1..];
                    }
                    self.partial.extend_from_slice(rest);
                    if self.partial.len() > LINE_MAX {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a line of more than {LINE_MAX} bytes"),
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Received::Lines(lines));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reaps it if it has ended (its pidfd was readable); returns whether it has.
    pub fn reap(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// How it ended, in words: `exited with status 2`, `was killed by SIGKILL`.
    pub fn ending(&self) -> String {
        match self.status {
            None => "is still running".to_string(),
            Some(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => match crate::engine::signal::name(signal) {
                    "signal" => format!("was killed by signal {signal}"),
                    name => format!("was killed by {name}"),
                },
                _ => format!("ended ({status})"),
            },
        }
    }
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
