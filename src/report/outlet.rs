//! Where live output goes so that it never blocks the event loop. Every live line of a run
//! (an interval line or JSON tick, a `--debug` line, a redraw of the status line, an HDR log
//! interval) is written to an [`Outlet`], which queues it for a [`WriterThread`] that makes
//! the blocking write. The queue is bounded: a line that does not fit is dropped and
//! counted, so a reader that stops reading costs lines, never the loop's time, and pacing,
//! dial deadlines and signals go on.
//!
//! The writes stay blocking, on their own thread, because the descriptors are not ours
//! alone: stdout and stderr are open file descriptions shared with the shell, and setting
//! `O_NONBLOCK` on them would change them for the shell too. A writer thread is started with
//! every signal blocked: signals are the loop's, read from its signalfd.
//!
//! Once the loop is over, [`Outlet::keep_everything`] lifts the bound: what comes after (the
//! status line's erasure, the last HDR interval, a threshold's message) is kept whatever the
//! reader does, and [`WriterThread::finish`] waits until it has all been written. So every
//! line is either written or counted as dropped, and the count is final when the loop ends.
//!
//! stdout and stderr get a writer each ([`StdStreams`]), so a stalled stderr does not hold
//! up the report on stdout; when both are the same file (a terminal, `2>&1`) they share one,
//! which keeps their lines in the order they were written. The server's loop writes only its
//! stats lines, to stdout, so it has one writer, of stdout alone ([`WriterThread::stdout`]).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Bytes of lines a writer may have waiting, besides those it is writing: as much again as
/// a pipe holds.
pub const CAPACITY: usize = 64 * 1024;

/// The lines waiting for a writer, each with the index of its destination.
#[derive(Debug)]
struct Queue {
    lines: VecDeque<(usize, Vec<u8>)>,
    bytes: usize,
    capacity: usize,
    bounded: bool,
    dropped: u64,
    closed: bool,
}

impl Queue {
    fn new(capacity: usize) -> Queue {
        Queue {
            lines: VecDeque::new(),
            bytes: 0,
            capacity,
            bounded: true,
            dropped: 0,
            closed: false,
        }
    }

    /// Queues `line` for `dest`, unless that would take the queue past its capacity (a line
    /// alone always fits) or the writer is done: then it is dropped and counted. Returns
    /// whether it was queued.
    fn offer(&mut self, dest: usize, line: Vec<u8>) -> bool {
        let fits =
            !self.bounded || self.lines.is_empty() || self.bytes + line.len() <= self.capacity;
        if self.closed || !fits {
            self.dropped += 1;
            return false;
        }
        self.bytes += line.len();
        self.lines.push_back((dest, line));
        true
    }

    /// Everything queued, in order; the queue is empty after.
    fn take(&mut self) -> VecDeque<(usize, Vec<u8>)> {
        self.bytes = 0;
        std::mem::take(&mut self.lines)
    }
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a line is queued into an empty queue, and when the queue is closed.
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle to write live output through: each line written (or whatever was written by
/// the next flush) is offered to the writer as one line. Writing never blocks and never
/// fails; a line that does not fit is dropped and counted.
#[derive(Debug)]
pub struct Outlet {
    shared: Arc<Shared>,
    dest: usize,
    pending: Vec<u8>,
}

impl Outlet {
    /// From now on nothing is dropped: the loop is over, so only the report waits.
    pub fn keep_everything(&self) {
        self.shared.lock().bounded = false;
    }

    /// The lines dropped so far, by every outlet of this writer.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    fn commit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.pending);
        let mut queue = self.shared.lock();
        let was_empty = queue.lines.is_empty();
        if queue.offer(self.dest, line) && was_empty {
            self.shared.ready.notify_one();
        }
    }
}

impl Clone for Outlet {
    /// Another handle to the same destination, with nothing pending.
    fn clone(&self) -> Outlet {
        Outlet {
            shared: self.shared.clone(),
            dest: self.dest,
            pending: Vec::new(),
        }
    }
}

impl Write for Outlet {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.ends_with(b"\n") {
            self.commit();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.commit();
        Ok(())
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        self.commit();
    }
}

/// A thread that writes what its outlets queue, to its destinations, in the order it was
/// queued.
pub struct WriterThread {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl WriterThread {
    /// Starts a writer for `dests`; [`WriterThread::outlet`]`(i)` writes to `dests[i]`.
    pub fn spawn(
        name: &str,
        dests: Vec<Box<dyn Write + Send>>,
        capacity: usize,
    ) -> io::Result<WriterThread> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(capacity)),
            ready: Condvar::new(),
        });
        let thread = spawn_without_signals(name, {
            let shared = shared.clone();
            move || write_lines(&shared, dests)
        })?;
        Ok(WriterThread {
            shared,
            thread: Some(thread),
        })
    }

    /// A writer of stdout alone, `capacity` bytes of lines queued at most.
    pub fn stdout(capacity: usize) -> io::Result<WriterThread> {
        let stdout: Box<dyn Write + Send> = Box::new(Descriptor(libc::STDOUT_FILENO));
        WriterThread::spawn("stdout", vec![stdout], capacity)
    }

    pub fn outlet(&self, dest: usize) -> Outlet {
        Outlet {
            shared: self.shared.clone(),
            dest,
            pending: Vec::new(),
        }
    }

    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Takes no more lines, and waits until every queued one is written (as long as the
    /// reader takes). Returns the first write error; a later call returns `Ok`.
    pub fn finish(&mut self) -> io::Result<()> {
        self.close();
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(written)) => written,
            Some(Err(_)) => Err(io::Error::other("the output thread failed")),
        }
    }

    fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }
}

impl Drop for WriterThread {
    /// Without [`WriterThread::finish`] (the run failed), the thread writes what is queued
    /// while the process lasts, and nothing waits for it.
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer's loop: takes every queued line at once, and writes the lines for one
/// destination that follow each other in one write.
fn write_lines(shared: &Shared, mut dests: Vec<Box<dyn Write + Send>>) -> io::Result<()> {
    let mut first_error = None;
    let mut batch = Vec::new();
    loop {
        let lines = {
            let mut queue = shared.lock();
            while queue.lines.is_empty() && !queue.closed {
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.lines.is_empty() {
                break;
            }
            queue.take()
        };
        let mut lines = lines.into_iter().peekable();
        while let Some((dest, line)) = lines.next() {
            batch.clear();
            batch.extend_from_slice(&line);
            while let Some((_, next)) = lines.next_if(|(d, _)| *d == dest) {
                batch.extend_from_slice(&next);
            }
            let out = &mut dests[dest];
            if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Starts a thread with every signal blocked from its first instruction: the mask is
/// inherited at creation, so it is set around the spawn and restored after.
fn spawn_without_signals<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut before = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`; pthread_sigmask reads it and fills `before`.
    let rc = unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), before.as_mut_ptr())
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(f);
    // SAFETY: `before` was filled by the call above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, before.as_ptr(), std::ptr::null_mut()) };
    spawned
}

/// A descriptor this process did not open and does not close, written with plain
/// (blocking) writes.
struct Descriptor(RawFd);

impl Write for Descriptor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: writes from a valid buffer of `buf.len()` bytes.
        let n = unsafe { libc::write(self.0, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether a write to `fd` would go through now, without waiting for a reader: a pipe or
/// socket with room for at least one small write (less than `PIPE_BUF`, which a pipe takes
/// whole), or a file or terminal, which poll always finds ready. An error on `fd` counts as
/// ready, since the write then fails at once.
pub fn has_room(fd: RawFd) -> bool {
    let mut ready = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, and a zero timeout: poll only looks.
    let n = unsafe { libc::poll(&mut ready, 1, 0) };
    n == 1 && ready.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0
}

/// The file behind `fd`, as (device, inode).
fn file_of(fd: RawFd) -> Option<(u64, u64)> {
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `stat` when it succeeds.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: filled by the successful call above.
    let stat = unsafe { stat.assume_init() };
    Some((stat.st_dev, stat.st_ino))
}

/// The writers of stdout and stderr: one each, or one for both when they are the same file.
pub struct StdStreams {
    out: WriterThread,
    /// `None` when stderr's lines go through `out` (its destination 1).
    err: Option<WriterThread>,
}

impl StdStreams {
    pub fn spawn() -> io::Result<StdStreams> {
        let (stdout, stderr) = (libc::STDOUT_FILENO, libc::STDERR_FILENO);
        let stdout_file = file_of(stdout);
        if stdout_file.is_some() && stdout_file == file_of(stderr) {
            let dests: Vec<Box<dyn Write + Send>> =
                vec![Box::new(Descriptor(stdout)), Box::new(Descriptor(stderr))];
            return Ok(StdStreams {
                out: WriterThread::spawn("stdout+stderr", dests, CAPACITY)?,
                err: None,
            });
        }
        Ok(StdStreams {
            out: WriterThread::spawn("stdout", vec![Box::new(Descriptor(stdout))], CAPACITY)?,
            err: Some(WriterThread::spawn(
                "stderr",
                vec![Box::new(Descriptor(stderr))],
                CAPACITY,
            )?),
        })
    }

    pub fn stdout(&self) -> Outlet {
        self.out.outlet(0)
    }

    pub fn stderr(&self) -> Outlet {
        match &self.err {
            Some(err) => err.outlet(0),
            None => self.out.outlet(1),
        }
    }

    /// Whether stdout and stderr are the same file, with one writer for both.
    pub fn shared(&self) -> bool {
        self.err.is_none()
    }

    /// See [`Outlet::keep_everything`].
    pub fn keep_everything(&self) {
        self.stdout().keep_everything();
        self.stderr().keep_everything();
    }

    /// Lines dropped by both.
    pub fn dropped(&self) -> u64 {
        self.out.dropped() + self.err.as_ref().map_or(0, WriterThread::dropped)
    }

    /// Waits until everything queued for stdout is written (and for stderr too, when it is
    /// the same file), so what is written to stdout next comes after it. Write errors are
    /// not the run's: live output to a reader that has gone is dropped.
    pub fn finish_stdout(&mut self) {
        let _ = self.out.finish();
    }

    /// Waits until everything queued for either is written.
    pub fn finish(mut self) {
        self.finish_stdout();
        if let Some(err) = &mut self.err {
            let _ = err.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_full_queue_drops_and_counts_until_the_bound_is_lifted() {
        let mut queue = Queue::new(10);
        assert!(queue.offer(0, b"1234\n".to_vec()));
        assert!(queue.offer(1, b"123\n".to_vec()));
        assert!(
            !queue.offer(0, b"1\n".to_vec()),
            "11 bytes in a queue of 10"
        );
        assert!(!queue.offer(1, b"12\n".to_vec()));
        assert!(queue.offer(0, b"\n".to_vec()), "10 bytes fit");
        assert_eq!((queue.lines.len(), queue.bytes, queue.dropped), (3, 10, 2));
        let taken = queue.take();
        assert_eq!(taken.len(), 3);
        assert_eq!(taken[1], (1, b"123\n".to_vec()));
        // Once the writer has taken the lines, there is room again; a line alone always fits.
        assert!(queue.offer(0, vec![b'x'; 50]));
        assert!(!queue.offer(0, b"y\n".to_vec()));
        queue.bounded = false;
        assert!(queue.offer(0, vec![b'z'; 50]));
        assert_eq!(queue.dropped, 3);
        queue.closed = true;
        assert!(!queue.offer(0, b"late\n".to_vec()));
        assert_eq!(queue.dropped, 4);
    }

    /// A destination that takes nothing until told to, then records what it is given.
    struct Stalled {
        go: mpsc::Receiver<()>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.go.recv();
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_costs_lines_and_never_blocks_the_writer_of_them() {
        let (go, wait) = mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let dest = Stalled {
            go: wait,
            got: got.clone(),
        };
        let mut writer = WriterThread::spawn("test", vec![Box::new(dest)], 100).unwrap();
        let mut out = writer.outlet(0);
        let lines = 1000;
        let started = std::time::Instant::now();
        for i in 0..lines {
            writeln!(out, "line {i:04}").unwrap();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Each line is 10 bytes: the writer is stalled on the first lines it took (ten at
        // most), and ten more wait in the queue.
        let dropped = out.dropped();
        assert!(
            dropped >= lines - 20 && dropped < lines,
            "{dropped} dropped"
        );
        // After the loop, nothing is dropped.
        out.keep_everything();
        write!(out, "the end").unwrap();
        drop(out);
        drop(go);
        writer.finish().unwrap();
        let got = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        let written: Vec<&str> = got.lines().collect();
        assert_eq!(written.len() as u64 + dropped, lines + 1, "{got}");
        assert_eq!(written[0], "line 0000");
        assert_eq!(written.last(), Some(&"the end"));
        // In order, with the dropped ones missing.
        let numbers: Vec<u32> = written[..written.len() - 1]
            .iter()
            .map(|l| l["line ".len()..].parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    #[test]
    fn two_destinations_keep_the_order_lines_were_written_in() {
        let (go, wait) = mpsc::channel::<()>();
        drop(go);
        let got = Arc::new(Mutex::new(Vec::new()));
        let a = Stalled {
            go: wait,
            got: got.clone(),
        };
        let (go, wait) = mpsc::channel::<()>();
        drop(go);
        let b = Stalled {
            go: wait,
            got: got.clone(),
        };
        let mut writer = WriterThread::spawn("test", vec![Box::new(a), Box::new(b)], 1000).unwrap();
        let (mut one, mut two) = (writer.outlet(0), writer.outlet(1));
        for i in 0..5 {
            writeln!(one, "a{i}").unwrap();
            write!(two, "b{i}").unwrap();
            two.flush().unwrap();
        }
        drop((one, two));
        writer.finish().unwrap();
        let got = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert_eq!(got, "a0\nb0a1\nb1a2\nb2a3\nb3a4\nb4");
    }

    #[test]
    fn a_full_pipe_has_no_room_and_an_emptied_one_has() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) },
            0
        );
        let [read, write] = fds;
        assert!(has_room(write));
        let page = [b'x'; 4096];
        let mut held = 0;
        // SAFETY: writes from, and reads into, a buffer of `page.len()` bytes.
        unsafe {
            while libc::write(write, page.as_ptr().cast(), page.len()) > 0 {
                held += 1;
            }
            assert!(!has_room(write), "{held} pages");
            let mut buf = [0u8; 4096];
            assert_eq!(libc::read(read, buf.as_mut_ptr().cast(), buf.len()), 4096);
            assert!(has_room(write));
            libc::close(read);
            // No reader: the write fails at once, so it counts as ready.
            assert!(has_room(write));
            libc::close(write);
        }
    }

    #[test]
    fn the_first_write_error_is_reported_at_the_end() {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut writer = WriterThread::spawn("test", vec![Box::new(full)], 1000).unwrap();
        writeln!(writer.outlet(0), "lost").unwrap();
        let e = writer.finish().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(writer.finish().is_ok());
    }
}
