//! Where a run's output goes when it is not a pipe read to its end: a terminal of its own,
//! a pipe that is already full, a FIFO nobody reads, and lines timed as they arrive.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// A named pipe in a directory of its own, removed on drop.
pub struct Fifo {
    dir: std::path::PathBuf,
    pub path: std::path::PathBuf,
}

impl Fifo {
    pub fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!("tcpgoon-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a directory for the FIFO");
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path and a mode.
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        Fifo { dir, path }
    }

    /// Opens the FIFO's two ends: (read end, write end). The read end is opened first,
    /// without waiting for a writer, so opening the write end does not wait either; reads
    /// from it then block as from any pipe.
    pub fn open(&self) -> (std::fs::File, std::fs::File) {
        use std::os::unix::fs::OpenOptionsExt;
        let read = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
            .expect("open the FIFO for reading");
        let write = std::fs::File::options()
            .write(true)
            .open(&self.path)
            .expect("open the FIFO for writing");
        // SAFETY: plain fcntl calls on a descriptor `read` owns.
        unsafe {
            let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        (read, write)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lines of a child's output as they arrive, each with the moment it was read, from a
/// thread that reads until end of file.
pub struct Arrivals {
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl Arrivals {
    pub fn start(source: impl Read + Send + 'static) -> Arrivals {
        use std::io::BufRead;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Arrivals { lines }
    }

    /// The next line, if one arrives within `limit`.
    pub fn next(&self, limit: Duration) -> Option<(Instant, String)> {
        self.lines.recv_timeout(limit).ok()
    }

    /// The lines up to and including the first that starts with `prefix`, and when that one
    /// arrived; `None` when it has not arrived by `deadline`.
    pub fn until(&self, prefix: &str, deadline: Instant) -> Option<(Vec<String>, Instant)> {
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, line) = self.next(left)?;
            let found = line.starts_with(prefix);
            lines.push(line);
            if found {
                return Some((lines, at));
            }
        }
    }

    /// Every line still to come, until the source ends.
    pub fn rest(&self) -> Vec<String> {
        self.lines.iter().map(|(_, line)| line).collect()
    }
}
