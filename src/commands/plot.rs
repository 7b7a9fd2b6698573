//! `tcpgoon plot FILE... -o OUT.svg`: reads each file (`-` is stdin; opened by `input`,
//! bounded by `report::read`), reads the runs in it, and writes their picture (`-o -`: to
//! stdout). Bad input, an output that is one of the
//! inputs, and an output that cannot be created are usage errors (exit 64); a picture that
//! cannot be written once its file is open fails with 1.

use std::io::{self, Write};
use std::path::Path;

use super::input;
use crate::cli::PlotArgs;
use crate::error::Error;
use crate::judge::exit;
use crate::report::plot;
use crate::report::summary_file::open_without_waiting;
use crate::units::path::same_file;

pub fn run(args: PlotArgs) -> Result<u8, Error> {
    let to_stdout = args.output == Path::new("-");
    let out = args.output.display().to_string();
    // Before anything is read or written: an output over an input would lose the input.
    for path in args.inputs.iter().take_while(|_| !to_stdout) {
        let input = if path == Path::new("-") {
            Path::new("/dev/stdin")
        } else {
            path
        };
        if same_file(input, &args.output) {
            return Err(Error::Usage(format!(
                "-o {out} is also an input ({}): write the picture elsewhere",
                path.display()
            )));
        }
    }
    let mut runs = Vec::new();
    for path in &args.inputs {
        let name = path.display().to_string();
        let reader = input::open(&name).map_err(Error::Usage)?;
        runs.extend(plot::read_runs(&name, reader).map_err(Error::Usage)?);
    }
    let picture = plot::render(&runs);
    if to_stdout {
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(picture.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| Error::system("cannot write the picture to stdout", e))?;
        return Ok(exit::SUCCESS);
    }
    let mut file = open_without_waiting(&args.output).map_err(|e| {
        Error::Usage(match e.raw_os_error() {
            Some(libc::ENXIO) => {
                format!("-o {out} is a FIFO with no reader: start its reader first")
            }
            _ => format!("cannot create -o {out}: {e}"),
        })
    })?;
    // Only a regular file is truncated and synced: a device or a pipe has nothing to cut
    // and nothing to sync (fsync fails with EINVAL after a good write).
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let cut = if regular { file.set_len(0) } else { Ok(()) };
    cut.and_then(|()| file.write_all(picture.as_bytes()))
        .and_then(|()| if regular { file.sync_all() } else { Ok(()) })
        .map_err(|e| Error::system(&format!("cannot write {out}"), e))?;
    Ok(exit::SUCCESS)
}
