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
    // The standard library reads IPv4 only as four decimal parts without leading zeros.
    if let Ok(ip) = inner.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if looks_numeric(text) {
        return Err(not_a_dotted_quad(text));
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

/// Whether `text` is numbers and dots, as the C resolver (`inet_aton`, under getaddrinfo)
/// reads an IPv4 address: `1.2.3` as 1.2.0.3, `010.0.0.1` as octal, 8.0.0.1, `0x7f.1` as
/// 127.0.0.1, `2130706433` as one 32-bit number. A top-level domain is never all digits,
/// so no host name looks like this; taken as a name, it would send the run to an address
/// nobody wrote.
fn looks_numeric(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        && text.split('.').all(|part| {
            part.bytes().all(|b| b.is_ascii_digit())
                || part
                    .strip_prefix("0x")
                    .or_else(|| part.strip_prefix("0X"))
                    .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
        })
}

/// The refusal of a numeric host that is not a dotted quad, with the form to write.
fn not_a_dotted_quad(text: &str) -> String {
    let parts: Vec<&str> = text.split('.').collect();
    let hint = if parts.len() != 4 || parts.iter().any(|p| p.is_empty()) {
        "write all four parts in decimal, e.g. 127.0.0.1".to_string()
    } else if !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        "write each part in decimal, e.g. 127.0.0.1".to_string()
    } else {
        let unpadded: Vec<&str> = parts
            .iter()
            .map(|p| match p.trim_start_matches('0') {
                "" => "0",
                digits => digits,
            })
            .collect();
        let in_range = unpadded
            .iter()
            .all(|p| p.len() <= 3 && p.parse::<u16>().is_ok_and(|n| n <= 255));
        if in_range && unpadded != parts {
            format!(
                "write each part without leading zeros (a leading 0 means octal to the C \
                 resolver), e.g. {}",
                unpadded.join(".")
            )
        } else {
            "each of the four parts is 0-255, e.g. 127.0.0.1".to_string()
        }
    };
    format!("'{text}' is not an IPv4 address: {hint}")
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
    fn numbers_and_dots_are_a_dotted_quad_or_refused() {
        for (text, hint) in [
            ("1.2.3", "write all four parts in decimal, e.g. 127.0.0.1"),
            ("127.1", "write all four parts"),
            ("2130706433", "write all four parts"),
            ("1.2.3.4.5", "write all four parts"),
            ("127.0.0.1.", "write all four parts"),
            ("1..2.3", "write all four parts"),
            ("0x7f.1", "write all four parts"),
            ("0x7f.0.0.1", "write each part in decimal, e.g. 127.0.0.1"),
            ("0X7F.0.0.0x1", "write each part in decimal"),
            ("0xdeadbeef", "write all four parts"),
            (
                "010.000.000.001",
                "write each part without leading zeros (a leading 0 means octal to the C \
                 resolver), e.g. 10.0.0.1",
            ),
            ("127.0.0.01", "e.g. 127.0.0.1"),
            ("1.2.3.256", "each of the four parts is 0-255"),
            ("1.2.3.0256", "each of the four parts is 0-255"),
        ] {
            let message = parse_host(text).unwrap_err();
            let head = format!("'{text}' is not an IPv4 address: ");
            assert!(message.starts_with(&head), "{text}: {message}");
            assert!(message.contains(hint), "{text}: {message}");
        }
        // Names may hold numbers, as long as some part is not one.
        for name in [
            "123.example",
            "0x1.com",
            "host-1.2",
            "deadbeef",
            "a1.b2",
            "0xz.1",
        ] {
            assert_eq!(parse_host(name), Ok(Host::Name(name.into())), "{name}");
        }
        assert_eq!(
            parse_host("0.0.0.0"),
            Ok(Host::Ip("0.0.0.0".parse().unwrap()))
        );
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
