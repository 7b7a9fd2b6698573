//! SIGINT and SIGTERM delivered into the event loop through a signalfd: the signals are
//! blocked for the (single) thread and read from a descriptor registered with the poll, so
//! the loop sees them as ordinary events and never runs code in a signal handler.
//!
//! After the first SIGINT the loop calls [`SignalFd::let_next_interrupt_kill`]: SIGINT is
//! unblocked with its default action, so a second Ctrl-C ends the process at once.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::Error;

pub struct SignalFd {
    fd: OwnedFd,
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

impl SignalFd {
    /// Blocks SIGINT and SIGTERM for this thread and opens a descriptor that reads them.
    pub fn new() -> io::Result<SignalFd> {
        let set = mask_of(&[libc::SIGINT, libc::SIGTERM]);
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
    pub fn read(&self) -> Option<libc::c_int> {
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

    /// Unblocks SIGINT with its default action, so the next one ends the process.
    pub fn let_next_interrupt_kill(&self) {
        let set = mask_of(&[libc::SIGINT]);
        // SAFETY: restoring the default disposition and unblocking are always sound.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
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
        _ => "signal",
    }
}
