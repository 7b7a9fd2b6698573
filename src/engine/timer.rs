//! A timerfd that wakes the poll at a nanosecond-precise time. `epoll_wait` takes its timeout
//! in whole milliseconds (mio rounds up), which would make every paced attempt up to 1 ms
//! late; the loop instead arms this timer for its nearest deadline and polls without one.
//! [`wait`] is that poll, shared by the run's loop and the server's.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::Error;

pub struct Alarm {
    fd: OwnedFd,
    armed_for: Option<Instant>,
}

impl Alarm {
    pub fn new() -> io::Result<Alarm> {
        // The kernel may defer a timer by the thread's slack (50 µs by default) to batch
        // wake-ups; for a pacer that is pure error. Failure here only costs precision.
        // SAFETY: PR_SET_TIMERSLACK takes one integer argument.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Alarm {
            // SAFETY: timerfd_create returned a fresh descriptor that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed_for: None,
        })
    }

    /// A new alarm, watched by `registry` under `token`.
    pub fn registered(registry: &mio::Registry, token: mio::Token) -> Result<Alarm, Error> {
        let alarm = Alarm::new().map_err(|e| Error::system("cannot create a timer", e))?;
        registry
            .register(
                &mut mio::unix::SourceFd(&alarm.as_raw_fd()),
                token,
                mio::Interest::READABLE,
            )
            .map_err(|e| Error::system("cannot watch the timer", e))?;
        Ok(alarm)
    }

    /// Makes the timer fire at `due` (measured from `now`), unless it is already set for it.
    /// Each expiry wakes an edge-triggered poll once; nothing needs to read the descriptor.
    pub fn set(&mut self, due: Instant, now: Instant) -> io::Result<()> {
        if self.armed_for == Some(due) {
            return Ok(());
        }
        // A zero it_value would disarm the timer; a nanosecond fires at once.
        let after = due
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
            },
        };
        // SAFETY: `spec` is a valid itimerspec; a null old value is allowed.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) }
            != 0
        {
            return Err(io::Error::last_os_error());
        }
        self.armed_for = Some(due);
        Ok(())
    }

    /// The poll timeout for a loop whose nearest deadline is `due`, as of `now` (the turn's
    /// start): none without a deadline, zero once it has passed; otherwise the alarm is armed
    /// for it and a backstop a little past it is returned. The alarm takes a relative time,
    /// so it is armed from the clock as of arming: a turn's work (on loopback each dial
    /// carries a whole handshake) would otherwise make every wake-up that much late.
    pub fn poll_timeout(
        &mut self,
        due: Option<Instant>,
        now: Instant,
    ) -> io::Result<Option<Duration>> {
        match due {
            None => Ok(None),
            Some(due) if due <= now => Ok(Some(Duration::ZERO)),
            Some(due) => {
                self.set(due, Instant::now())?;
                // The alarm wakes the poll precisely; this is only a backstop.
                Ok(Some(
                    due.saturating_duration_since(now) + Duration::from_millis(5),
                ))
            }
        }
    }

    /// Forgets the armed time once it has fired, so the same deadline can be armed again.
    pub fn fired(&mut self) {
        self.armed_for = None;
    }
}

impl AsRawFd for Alarm {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits on `poll` for events, up to `timeout`. A signal that interrupts the wait is no
/// error: `events` comes back empty (mio clears it first), and the loop's next turn reads
/// the signal from its descriptor.
pub fn wait(
    poll: &mut mio::Poll,
    events: &mut mio::Events,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    match poll.poll(events, timeout) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(Error::system("polling failed", e)),
        _ => Ok(()),
    }
}
