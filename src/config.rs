//! Arguments as typed, resolved and checked into what the engine (or the server) needs.
//! Only the resolved form reaches them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Progress, RunArgs, ServerArgs};
use crate::engine::Plan;
use crate::error::Error;
use crate::target::{self, Host, Target};
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

/// `tcpgoon server`'s arguments, checked: the address to listen on is parsed here, so a bad
/// one is bad input, not a failure to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// Stop after accepting this many; `None` for no limit.
    pub max_connections: Option<u64>,
    /// Stop after this long; `None` for no limit.
    pub duration: Option<Duration>,
    pub backlog: i32,
    pub no_accept: bool,
    pub close_after: Option<Duration>,
    pub reset: bool,
    /// Written to each accepted connection; never empty.
    pub greeting: Option<Vec<u8>>,
    pub interval: Duration,
}

impl ServerConfig {
    pub fn resolve(args: ServerArgs) -> Result<ServerConfig, Error> {
        // Only an address: a name could resolve to a public interface, and the server must
        // never listen beyond loopback unless told so in plain terms.
        let ip = match target::parse_host(&args.bind) {
            Ok(Host::Ip(ip)) => ip,
            _ => {
                return Err(Error::Usage(format!(
                    "--bind: '{}' is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0)",
                    args.bind
                )));
            }
        };
        Ok(ServerConfig {
            addr: SocketAddr::new(ip, args.port),
            max_connections: (args.max_connections > 0).then_some(args.max_connections),
            duration: (!args.duration.is_zero()).then_some(args.duration),
            // cli caps the backlog at i32::MAX.
            backlog: i32::try_from(args.backlog).unwrap_or(i32::MAX),
            no_accept: args.no_accept,
            close_after: args.close_after,
            reset: args.reset,
            greeting: args
                .greeting
                .filter(|text| !text.is_empty())
                .map(String::into_bytes),
            interval: args.interval,
        })
    }
}
