//! Where connections go: the host forms users type, resolved once before the first attempt.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::Error;

/// A host as typed: an address, or a name still to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

/// Reads `example.host`, `10.0.0.7`, `::1` or `[::1]`.
pub fn parse_host(text: &str) -> Result<Host, String> {
    let inner = match text.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| format!("'{text}' opens a bracket it does not close"))?,
        None => text,
    };
    if inner.len() != text.len() {
        // Brackets are how a URL sets an IPv6 address apart from its port; nothing else
        // goes inside them.
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip)))
            .map_err(|_| format!("'{text}' has brackets but no IPv6 address inside"));
    }
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let valid_name = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid_name {
        return Err(format!("'{text}' is neither an IP address nor a host name"));
    }
    Ok(Host::Name(text.to_string()))
}

/// The resolved target: the name as typed (brackets dropped) and every address it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub port: u16,
    pub addrs: Vec<SocketAddr>,
}

impl Target {
    /// The address connections go to.
    pub fn primary(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// What the report's header names: `name(ip):port` for a name, as the reference tool
    /// heads its report, and the address alone when the host is one, as it does too
    /// (`127.0.0.1:80`, not `127.0.0.1(127.0.0.1):80`). An IPv6 address is bracketed
    /// (`[::1]:80`), so the port stays apart from it.
    pub fn label(&self) -> String {
        let primary = self.primary();
        if self.name == primary.ip().to_string() {
            primary.to_string()
        } else {
            format!("{}({}):{}", self.name, primary.ip(), self.port)
        }
    }
}

/// Resolves `host` once. A name that resolves to nothing is bad input.
pub fn resolve(host: &Host, port: u16) -> Result<Target, Error> {
    match host {
        Host::Ip(ip) => Ok(Target {
            name: ip.to_string(),
            port,
            addrs: vec![SocketAddr::new(*ip, port)],
        }),
        Host::Name(name) => {
            let addrs: Vec<SocketAddr> = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|e| Error::Usage(format!("cannot resolve host '{name}': {e}")))?
                .collect();
            if addrs.is_empty() {
                return Err(Error::Usage(format!("host '{name}' has no addresses")));
            }
            Ok(Target {
                name: name.clone(),
                port,
                addrs,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        assert_eq!(parse_host("::1"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(parse_host("[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(
            parse_host("10.0.0.7"),
            Ok(Host::Ip("10.0.0.7".parse().unwrap()))
        );
        assert_eq!(
            parse_host("example.host"),
            Ok(Host::Name("example.host".into()))
        );
        for bad in [
            "",
            "[::1",
            "[example]",
            "a b",
            "exa/mple",
            "[]",
            "[10.0.0.7]",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn resolves_localhost_and_labels_like_the_reference() {
        let target = resolve(&Host::Ip("127.0.0.1".parse().unwrap()), 80).unwrap();
        assert_eq!(target.label(), "127.0.0.1:80");
        let target = resolve(&Host::Ip("::1".parse().unwrap()), 80).unwrap();
        assert_eq!(target.label(), "[::1]:80");
        let target = resolve(&Host::Name("localhost".into()), 8080).unwrap();
        assert!(target.addrs.iter().all(|a| a.ip().is_loopback()));
        assert!(target.label().starts_with("localhost("));
    }
}
