//! `tcpgoon run`: resolve the target, ask for confirmation, check local limits, drive the
//! engine, print the report, and return the exit status.

use std::io::{self, BufRead, IsTerminal, Write};
use std::time::Duration;

use crate::cli::RunArgs;
use crate::config::RunConfig;
use crate::conn::State;
use crate::duration::go_style;
use crate::engine::{ConnEvent, Engine, Observer};
use crate::error::Error;
use crate::report::{self, Summary};
use crate::signal::SignalFd;
use crate::stats::Stats;
use crate::{exit, limits};

pub fn run(args: RunArgs) -> Result<u8, Error> {
    let config = RunConfig::resolve(args)?;
    limits::fit_open_files(config.plan.connections)?;
    if !config.assume_yes {
        confirm(&config)?;
    }
    let signals = SignalFd::new().map_err(|e| Error::system("cannot set up signal handling", e))?;
    let stdout = io::stdout();
    let mut observer = TextObserver {
        out: stdout.lock(),
        debug: config.debug.then(io::stderr),
    };
    let outcome = Engine::new(config.plan.clone(), Some(&signals))?.run(&mut observer)?;
    let status = exit::of_outcome(&outcome);
    let summary = Summary {
        target: &config.target.label(),
        outcome: &outcome,
        requested_rate: config.requested_rate(),
    };
    let mut out = observer.out;
    report::write_final(&mut out, &summary)
        .and_then(|()| out.flush())
        .map_err(|e| Error::system("cannot write the report", e))?;
    Ok(status)
}

/// The reference tool's warning block and question. Without a terminal there is nobody to
/// answer, so the run does not wait for one.
fn confirm(config: &RunConfig) -> Result<(), Error> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Incomplete(
            "standard input is not a terminal, so there is nobody to confirm the run: pass -y (--assume-yes)"
                .to_string(),
        ));
    }
    let mut out = io::stdout().lock();
    let block = format!(
        "****************************** WARNING ******************************\n\
         * You are going to run a TCP stress check with these arguments:\n\
         *\t- Target: {}\n\
         *\t- TCP Port: {}\n\
         *\t- # of concurrent connections: {}\n\
         *********************************************************************\n",
        config.target.name, config.target.port, config.plan.connections
    );
    let aborted =
        || Error::Incomplete("*** Execution aborted as prompted by the user ***".to_string());
    out.write_all(block.as_bytes()).map_err(|_| aborted())?;
    loop {
        write!(out, "Do you want to continue? (y/N): ")
            .and_then(|()| out.flush())
            .map_err(|_| aborted())?;
        let mut answer = String::new();
        match stdin.lock().read_line(&mut answer) {
            Ok(0) | Err(_) => return Err(aborted()),
            Ok(_) => {}
        }
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(()),
            "" | "n" | "no" => return Err(aborted()),
            _ => writeln!(out, "Sorry, response not recognized. Try again, please")
                .map_err(|_| aborted())?,
        }
    }
}

/// Writes live lines to stdout and, with `--debug`, one line per connection event to stderr.
struct TextObserver<W: Write> {
    out: W,
    debug: Option<io::Stderr>,
}

impl<W: Write> Observer for TextObserver<W> {
    fn tick(&mut self, _elapsed: Duration, stats: &Stats) {
        // A closed stdout (a pipe to `head`, say) must not stop the run or lose its count.
        let _ =
            report::write_live_line(&mut self.out, &stats.counts).and_then(|()| self.out.flush());
    }

    fn conn_event(&mut self, event: ConnEvent) {
        let Some(err) = &mut self.debug else { return };
        let line = match event.state {
            State::Dialing => format!("connection {}: dialing", event.seq),
            State::Established => format!(
                "connection {}: established in {}",
                event.seq,
                go_style(event.elapsed)
            ),
            State::Error => format!(
                "connection {}: error ({}) after {}",
                event.seq,
                event.failure.map_or("unknown", |f| f.label()),
                go_style(event.elapsed)
            ),
            State::Closed => format!(
                "connection {}: closed ({}) after {}",
                event.seq,
                event.closure.map_or("unknown", |c| c.label()),
                go_style(event.elapsed)
            ),
            State::NotInitiated => return,
        };
        let _ = writeln!(err, "{line}");
    }
}
