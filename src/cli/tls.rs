//! `--tls` and its options, checked together: an option of the handshake without `--tls`,
//! or two that contradict each other, is bad input. The certificates are read here, so a
//! missing or unreadable `--ca` (or `--cert`, `--key`) is bad input too, before any attempt.

use std::net::IpAddr;
use std::time::Duration;

use crate::cli::TlsArgs;
use crate::engine::run_loop::TlsPlan;
use crate::engine::target::{self, Host};
use crate::engine::tls::{self, Trust};
use crate::error::Error;

/// The TLS plan for a run toward `host` (as typed), whose first address is `ip`; `None`
/// without `--tls`. The handshake may take `timeout` from the TCP connect.
pub fn resolve(
    args: TlsArgs,
    host: &str,
    ip: IpAddr,
    timeout: Duration,
) -> Result<Option<TlsPlan>, Error> {
    if !args.on {
        let given = [
            (args.insecure, "--insecure"),
            (args.sni.is_some(), "--sni"),
            (args.ca.is_some(), "--ca"),
            (!args.alpn.is_empty(), "--alpn"),
            (args.version.is_some(), "--tls-version"),
        ];
        if let Some((_, name)) = given.iter().find(|(on, _)| *on) {
            return Err(Error::Usage(format!("{name} needs --tls")));
        }
        return Ok(None);
    }
    let trust = match (args.insecure, args.ca) {
        (true, Some(_)) => {
            return Err(Error::Usage(
                "--insecure and --ca exclude each other: --insecure checks no certificate"
                    .to_string(),
            ));
        }
        (true, None) => Trust::Insecure,
        (false, Some(path)) => Trust::File(path),
        (false, None) => Trust::System,
    };
    // The host's name is sent, and checked; an address is never sent as a name.
    let sni = match (args.sni, target::parse_host(host)) {
        (Some(sni), _) => Some(sni),
        (None, Ok(Host::Name(name))) => Some(name),
        (None, _) => None,
    };
    let alpn: Vec<Vec<u8>> = args.alpn.iter().cloned().map(String::into_bytes).collect();
    let trust_text = match &trust {
        Trust::System => "system".to_string(),
        Trust::Insecure => "insecure".to_string(),
        Trust::File(path) => path.display().to_string(),
    };
    let versions = args.version.unwrap_or_default();
    let client =
        tls::Client::new(&trust, versions, &alpn, sni.as_deref(), ip).map_err(Error::Usage)?;
    Ok(Some(TlsPlan {
        client,
        timeout,
        sni,
        trust: trust_text,
        versions: versions.name(),
        alpn: args.alpn,
    }))
}

/// The built-in server's certificate: from `--cert` and `--key`, or made at start.
pub fn resolve_server(
    on: bool,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<Option<tls::Server>, Error> {
    match (on, cert, key) {
        (false, None, None) => Ok(None),
        (false, _, _) => Err(Error::Usage("--cert and --key need --tls".to_string())),
        (true, None, None) => tls::Server::self_signed().map(Some).map_err(Error::Usage),
        (true, Some(cert), Some(key)) => tls::Server::from_files(cert, key)
            .map(Some)
            .map_err(Error::Usage),
        (true, _, _) => Err(Error::Usage(
            "--cert and --key go together: give both, or neither for a certificate made at start"
                .to_string(),
        )),
    }
}
