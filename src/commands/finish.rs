//! What `run` and `limit` share before the first attempt and after the engine stops. Before:
//! the local limits checked, the `--summary` file opened, the output's writers started.
//! After: the verdict, the summary file (whose failure changes the verdict), then the
//! report on stdout, JSON or text, after every live line; the connections stay open until
//! the report is out. Each subcommand says only what its report is ([`Report`]).

use std::io::{self, Write};
use std::path::Path;

use crate::cli::MetricsArgs;
use crate::commands::warn_about_ports;
use crate::engine::Plan;
use crate::engine::limits;
use crate::engine::metrics::{Metrics, Render};
use crate::engine::pacer::Shard;
use crate::engine::push::{self, PUSH_TIMEOUT, PushFailed};
use crate::engine::stats::Stats;
use crate::engine::target::Target;
use crate::error::{self, Error};
use crate::judge::exit;
use crate::judge::verdict::Ending;
use crate::report::metrics::{labels, render, render_final};
use crate::report::outlet::StdStreams;
use crate::report::summary_file::SummaryFile;

/// One subcommand's report: its verdict, given what output could not be written, its JSON
/// summary, and its text.
pub trait Report {
    fn ending(&self, output_failed: Option<&str>) -> Ending;
    fn summary(&self, ending: &Ending) -> io::Result<Vec<u8>>;
    fn text(&self, out: &mut dyn Write, ending: &Ending) -> io::Result<()>;
}

/// The outputs a run writes besides its live lines, opened before the first attempt so a
/// path that cannot be written stops it before it starts.
pub struct Outputs {
    pub streams: StdStreams,
    summary_file: Option<SummaryFile>,
    json: bool,
}

/// Checks this machine's limits for `plan`: open files, and the kernel's port settings.
pub fn check_limits(plan: &Plan) -> Result<(), Error> {
    limits::fit_open_files(plan.connections)?;
    limits::reserve_descriptors(plan.connections);
    warn_about_ports(plan)
}

/// `--metrics`: the endpoint, bound before the first attempt (an address that cannot be
/// bound is bad input), its series labelled with the target as `host:port`; and
/// `--metrics-push` checked ([`check_push`]).
pub fn bind_metrics(
    args: &MetricsArgs,
    target: &Target,
    shard: Shard,
) -> Result<Option<Metrics>, Error> {
    check_push(args)?;
    let Some(addr) = args.addr else {
        return Ok(None);
    };
    let labels = labels_of(target, shard);
    let render: Render = Box::new(move |stats, format| render(stats, &labels, format));
    Metrics::bind(addr, render).map(Some)
}

/// The labels of every series: `target`, `host:port` as the report names the target, and
/// for a shard of a run, `shard`, `I/N`.
fn labels_of(target: &Target, shard: Shard) -> String {
    let primary = target.primary();
    let target = if target.name == primary.ip().to_string() {
        primary.to_string()
    } else {
        format!("{}:{}", target.name, target.port)
    };
    let shard = (shard != Shard::WHOLE).then(|| format!("{}/{}", shard.index, shard.count));
    labels(&target, shard.as_deref())
}

/// `--metrics-push`: checked before the first attempt: its host must resolve (bad input
/// when it does not), so the push at the end has somewhere to go.
pub fn check_push(args: &MetricsArgs) -> Result<(), Error> {
    match &args.push {
        Some(url) => url
            .resolve()
            .map(drop)
            .map_err(|e| Error::Usage(format!("--metrics-push: cannot resolve {}: {e}", url.host))),
        None => Ok(()),
    }
}

/// After the report: `--metrics-push` puts the final metrics and the exit status to the
/// Pushgateway (a failure is one warning on stderr; the status stands), then
/// `--metrics-linger` has the endpoint answer from the final `stats` this long (or until a
/// signal); then the command's `status` stands.
pub fn after_report(
    metrics: Option<&mut Metrics>,
    args: &MetricsArgs,
    target: &Target,
    shard: Shard,
    stats: &Stats,
    status: Result<u8, Error>,
) -> Result<u8, Error> {
    if let Some(url) = &args.push {
        let code = match &status {
            Ok(code) => *code,
            Err(e) => exit::of_error(e),
        };
        let body = render_final(stats, &labels_of(target, shard), code);
        if let Err(PushFailed(why)) = push::push(url, &body, PUSH_TIMEOUT) {
            error::say(format_args!(
                "warning: --metrics-push to {}: {why}; the exit status is the run's",
                url.url
            ));
        }
    }
    let lingered = match metrics {
        Some(metrics) if !args.linger.is_zero() => metrics.linger(stats, args.linger),
        _ => Ok(()),
    };
    let status = status?;
    lingered.map(|()| status)
}

impl Outputs {
    /// Opens `--summary` and starts the writers of stdout and stderr.
    pub fn open(summary: Option<&Path>, json: bool) -> Result<Outputs, Error> {
        let summary_file = summary.map(SummaryFile::open).transpose()?;
        let streams = StdStreams::spawn()
            .map_err(|e| Error::system("cannot start the output's writers", e))?;
        Ok(Outputs {
            streams,
            summary_file,
            json,
        })
    }

    /// Writes the summary file and the report, then closes `open` (the connections, held
    /// until the report is out) and returns the exit status. `hdr_failed`: why the
    /// HdrHistogram log could not be written; it is said after the report, with status 1,
    /// as for a report that cannot be written.
    pub fn finish(
        mut self,
        report: &impl Report,
        hdr_failed: Option<String>,
        open: impl Sized,
    ) -> Result<u8, Error> {
        let mut ending = report.ending(
            hdr_failed
                .as_ref()
                .map(|_| "the --hdr-log could not be written"),
        );
        // The file first: whether it could be written is part of the verdict the report ends
        // with.
        let summary_failed = self.summary_file.take().and_then(|file| {
            report
                .summary(&ending)
                .map_err(|e| e.to_string())
                .and_then(|line| file.write(&line))
                .err()
        });
        if summary_failed.is_some() {
            ending = report.ending(Some(match hdr_failed {
                Some(_) => "the --hdr-log and the --summary could not be written",
                None => "the --summary could not be written",
            }));
        }
        // The report follows the live lines, and may wait for their reader.
        self.streams.finish_stdout();
        let mut out = io::stdout().lock();
        let written = if self.json {
            report
                .summary(&ending)
                .and_then(|line| out.write_all(&line))
        } else {
            report.text(&mut out, &ending)
        };
        error::unless_reader_gone(written.and_then(|()| out.flush()))
            .map_err(|e| Error::system("cannot write the report", e))?;
        // Closed only now that the report is out.
        drop(open);
        // What stderr has yet to get, when it is not stdout's file.
        self.streams.finish();
        match (hdr_failed, summary_failed) {
            (None, None) => Ok(ending.status),
            (Some(message), None) | (None, Some(message)) => Err(Error::System(message)),
            (Some(hdr), Some(summary)) => {
                error::say(format_args!("{hdr}"));
                Err(Error::System(summary))
            }
        }
    }
}
