//! A run's arguments as typed, resolved and checked into what the engine needs. Only the
//! resolved form reaches the engine.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Progress, RunArgs};
use crate::engine::Plan;
use crate::error::Error;
use crate::target::{self, Target};
use crate::thresholds::{MinEstablished, Thresholds};

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    pub plan: Plan,
    pub assume_yes: bool,
    pub debug: bool,
    pub progress: Progress,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    pub thresholds: Thresholds,
}

impl RunConfig {
    /// Validates `args` and resolves the host, once.
    pub fn resolve(args: RunArgs) -> Result<RunConfig, Error> {
        if args.connections == 0 {
            return Err(Error::Usage("--connections must be at least 1".to_string()));
        }
        if args.dial_timeout.is_zero() {
            return Err(Error::Usage(
                "--dial-timeout must be longer than 0".to_string(),
            ));
        }
        if let Some(MinEstablished::Count(n)) = args.thresholds.min_established
            && n > args.connections
        {
            return Err(Error::Usage(format!(
                "--min-established {n} is more than the {} connections asked for",
                args.connections
            )));
        }
        let host =
            target::parse_host(&args.host).map_err(|e| Error::Usage(format!("<host>: {e}")))?;
        let target = target::resolve(&host, args.port)?;
        Ok(RunConfig {
            plan: Plan {
                addr: target.primary(),
                connections: args.connections,
                sleep: args.sleep,
                dial_timeout: args.dial_timeout,
                interval: args.interval,
                refresh: None,
            },
            target,
            assume_yes: args.assume_yes,
            debug: args.debug,
            progress: args.progress,
            json: args.json,
            hdr_log: args.hdr_log,
            thresholds: args.thresholds,
        })
    }

    /// The attempt rate the schedule asks for, per second; `None` for "as fast as possible".
    pub fn requested_rate(&self) -> Option<f64> {
        rate_of(self.plan.sleep)
    }
}

pub fn rate_of(sleep: Duration) -> Option<f64> {
    (!sleep.is_zero()).then(|| 1.0 / sleep.as_secs_f64())
}
