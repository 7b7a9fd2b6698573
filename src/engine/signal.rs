//! SIGINT, SIGTERM and SIGHUP delivered into the event loop through a signalfd: the signals
//! are blocked for the loop's thread and read from a descriptor registered with the poll, so
//! the loop sees them as ordinary events and never runs code in a signal handler. A run
//! that draws a status line also takes SIGWINCH ([`SignalFd::with_resize`]), the terminal's
//! word that its size changed: that one only redraws. Threads
//! started later (the writers of live output) inherit the mask and must keep them blocked,
//! or the kernel would deliver a signal to them with its default action.
//!
//! A signal the process inherited as ignored is left alone: `nohup` ignores SIGHUP, and a
//! shell ignores SIGINT for a job it starts in the background. A blocked signal is queued
//! even when ignored, so taking it would end a run that was asked to ignore it.
//!
//! After the first signal, and once the loop is over (nothing reads the descriptor then),
//! [`SignalFd::let_next_kill`] unblocks them with their default action: the next one ends
//! the process at once, even while it waits to write its report to a reader that does not
//! read.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::Error;

/// The signals that stop a run or a server.
const STOPPING: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

pub struct SignalFd {
    fd: OwnedFd,
    /// The signals it reads: those of [`STOPPING`] (and SIGWINCH, when asked) not inherited
    /// as ignored.
    taken: Vec<libc::c_int>,
}

/// What a signal read from a [`SignalFd`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caught {
    /// SIGINT, SIGTERM or SIGHUP: stop.
    Stop(libc::c_int),
    /// SIGWINCH: the terminal was resized.
    Resized,
}

fn mask_of(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset only writes into it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &signal in signals {
            libc::sigaddset(set.as_mut_ptr(), signal);
        }
        set.assume_init()
    }
}

/// Whether `signal`'s disposition is to be ignored.
fn ignored(signal: libc::c_int) -> bool {
    let mut action = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only reads the current one into `action`.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), action.as_mut_ptr()) };
    // SAFETY: sigaction filled `action` when it succeeded.
    rc == 0 && unsafe { action.assume_init() }.sa_sigaction == libc::SIG_IGN
}

impl SignalFd {
    /// Blocks SIGINT, SIGTERM and SIGHUP (those not ignored) for this thread and opens a
    /// descriptor that reads them.
    pub fn new() -> io::Result<SignalFd> {
        SignalFd::taking(&STOPPING)
    }

    /// As [`SignalFd::new`], and SIGWINCH too (its default action is to be ignored, so
    /// blocking it changes nothing for a process that does not read it).
    pub fn with_resize() -> io::Result<SignalFd> {
        SignalFd::taking(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGWINCH])
    }

    fn taking(signals: &[libc::c_int]) -> io::Result<SignalFd> {
        let taken: Vec<libc::c_int> = signals.iter().copied().filter(|&s| !ignored(s)).collect();
        let set = mask_of(&taken);
        // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: `set` is initialised; -1 asks for a new descriptor.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
        Ok(SignalFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            taken,
        })
    }

    /// Has `registry` watch for signals under `token`.
    pub fn register(&self, registry: &mio::Registry, token: mio::Token) -> Result<(), Error> {
        registry
            .register(
                &mut mio::unix::SourceFd(&self.fd.as_raw_fd()),
                token,
                mio::Interest::READABLE,
            )
            .map_err(|e| Error::system("cannot watch for signals", e))
    }

    /// The next pending signal, if any.
    pub fn read(&self) -> Option<Caught> {
        self.read_signal().map(|signal| match signal {
            libc::SIGWINCH => Caught::Resized,
            signal => Caught::Stop(signal),
        })
    }

    fn read_signal(&self) -> Option<libc::c_int> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: the buffer is exactly one signalfd_siginfo long.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
            if n == size as isize {
                // SAFETY: the kernel filled the whole struct.
                return Some(unsafe { info.assume_init() }.ssi_signo as libc::c_int);
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
    }

    /// Unblocks the signals it reads, with their default action, so the next one ends the
    /// process. One still pending is delivered at once.
    pub fn let_next_kill(&self) {
        let set = mask_of(&self.taken);
        // SAFETY: restoring the default disposition and unblocking are always sound.
        unsafe {
            for &signal in &self.taken {
                libc::signal(signal, libc::SIG_DFL);
            }
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The conventional name of a signal this module delivers.
pub fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}
