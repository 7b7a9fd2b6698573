//! Where a run's output goes when it is not a pipe read to its end: a terminal of its own,
//! or a pipe that is already full.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use super::process::BIN;

/// `script` running `tcpgoon <args> <redirect>` on a terminal of its own (a pty): what
/// the terminal shows comes out on `script`'s stdout. `redirect` is shell text.
pub fn on_a_terminal(args: &[&str], redirect: &str) -> Command {
    let command = std::iter::once(BIN)
        .chain(args.iter().copied())
        .chain([redirect])
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]);
    script
}

/// Runs `terminal` (from [`on_a_terminal`]) with `input` typed at it; returns its exit
/// status and what the terminal showed.
pub fn type_into(mut terminal: Command, input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = terminal
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A pipe that already holds all it can (one page), so the next write to it blocks until
/// someone reads. Returns (read end, write end).
pub fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = write.as_raw_fd();
    // SAFETY: plain fcntl calls and writes on a descriptor this function owns.
    unsafe {
        assert!(libc::fcntl(w, libc::F_SETPIPE_SZ, 4096) > 0);
        let flags = libc::fcntl(w, libc::F_GETFL);
        libc::fcntl(w, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let page = [b'x'; 4096];
        while libc::write(w, page.as_ptr().cast(), page.len()) > 0 {}
        libc::fcntl(w, libc::F_SETFL, flags);
    }
    (read, write)
}

/// Bytes waiting to be read in the pipe or FIFO `fd`.
pub fn unread(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}
