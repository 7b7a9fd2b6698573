//! What `merge` and `plot` share: the files they read opened, never waiting. A FILE is
//! opened non-blocking, so a FIFO with no writer does not hold the open; the flag is then
//! cleared, and a FIFO whose writer has not come (its first read is the end) is refused,
//! saying so. `-` is stdin, read as it comes. Every input is bounded by `report::read::Lines`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// Opens `file` (`-`: stdin) for reading; the error is the message to print.
pub fn open(file: &str) -> Result<Box<dyn BufRead>, String> {
    if file == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    let cannot = |e: io::Error| format!("cannot read {file}: {e}");
    let opened = open_without_waiting(file).map_err(cannot)?;
    let fifo = opened.metadata().is_ok_and(|m| m.file_type().is_fifo());
    let mut reader = BufReader::new(opened);
    if fifo && reader.fill_buf().map_err(cannot)?.is_empty() {
        return Err(format!(
            "{file} is a FIFO with no writer: start its writer first, or give a file, or - \
             for stdin"
        ));
    }
    Ok(Box::new(reader))
}

/// Opens `path` for reading, non-blocking while it opens and blocking once open.
fn open_without_waiting(path: &str) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns, open for the whole call.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}
