//! `tcpgoon plot FILE... -o OUT.svg`: reads each file (`-` is stdin), reads the runs in it,
//! and writes their picture. Bad input, and an output that cannot be created, are usage
//! errors (exit 64); a picture that cannot be written once its file is open fails with 1.

use std::fs;
use std::io::{self, Read, Write};

use crate::cli::PlotArgs;
use crate::error::Error;
use crate::judge::exit;
use crate::report::plot;

pub fn run(args: PlotArgs) -> Result<u8, Error> {
    let mut runs = Vec::new();
    for path in &args.inputs {
        let name = path.display().to_string();
        let bytes = if name == "-" {
            let mut bytes = Vec::new();
            io::stdin().lock().read_to_end(&mut bytes).map(|_| bytes)
        } else {
            fs::read(path)
        }
        .map_err(|e| Error::Usage(format!("cannot read {name}: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Usage(format!(
                "{name}: not UTF-8 text, so not the JSON Lines of --json"
            ))
        })?;
        runs.extend(plot::read_runs(&name, &text).map_err(Error::Usage)?);
    }
    let picture = plot::render(&runs);
    let out = args.output.display().to_string();
    let mut file = fs::File::create(&args.output)
        .map_err(|e| Error::Usage(format!("cannot create -o {out}: {e}")))?;
    file.write_all(picture.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::system(&format!("cannot write {out}"), e))?;
    Ok(exit::SUCCESS)
}
