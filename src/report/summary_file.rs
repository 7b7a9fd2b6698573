//! `--summary <FILE>`: the JSON summary written to a file, while the human report goes to
//! stdout. The file is opened before the first connection, so a path that cannot be
//! written is bad input (exit 64) that costs no run; it is written once the run is over.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

pub struct SummaryFile {
    path: PathBuf,
    file: File,
}

impl SummaryFile {
    /// Opens (or creates) `path` for writing, without truncating it yet: a run that never
    /// gets to its summary leaves an existing file as it was. A FIFO is opened non-blocking,
    /// so one with no reader fails at once (ENXIO) instead of waiting before the run; the
    /// flag is cleared once it is open.
    pub fn open(path: &Path) -> Result<SummaryFile, Error> {
        let file = open_without_waiting(path).map_err(|e| {
            Error::Usage(match e.raw_os_error() {
                Some(libc::ENXIO) => format!(
                    "--summary: '{}' is a FIFO with no reader: start its reader first",
                    path.display()
                ),
                _ => format!("--summary: cannot write '{}': {e}", path.display()),
            })
        })?;
        Ok(SummaryFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Replaces the file's content with `summary`. On failure, the message to print.
    pub fn write(mut self, summary: &[u8]) -> Result<(), String> {
        let is_file = self.file.metadata().is_ok_and(|m| m.is_file());
        let written = if is_file {
            self.file.set_len(0)
        } else {
            Ok(())
        }
        .and_then(|()| self.file.write_all(summary))
        .and_then(|()| self.file.flush());
        written.map_err(|e| format!("--summary: cannot write '{}': {e}", self.path.display()))
    }
}

/// Opens (or creates) `path` for writing, without truncating it. Non-blocking while it
/// opens, so a FIFO with no reader fails at once with ENXIO instead of waiting for one;
/// blocking again once open, for the writes.
pub fn open_without_waiting(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
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
