//! `<host>` as typed: `target::parse_host` on any text.
//!
//! Properties, beyond never panicking:
//! - an address is what the standard library reads from the text, brackets dropped; its
//!   printed form reads back to it, and so does an IPv6 address in brackets; an IPv4
//!   address is accepted only as printed (four decimal parts, no leading zeros), and in
//!   brackets it is refused;
//! - a name is the text itself: 1-253 letters, digits, `-`, `.` or `_`, and not an address,
//!   neither to the standard library nor to the C resolver (`inet_aton`: `127.1`,
//!   `0x7f.1`, `0177.0.0.1`, `2130706433`); in brackets it is refused;
//! - a refusal is a one-line message (unless the text itself holds a line break).

#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::target::{Host, parse_host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_host(text) {
        Ok(Host::Ip(ip)) => {
            let inner = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(text);
            assert_eq!(inner.parse::<IpAddr>(), Ok(ip), "{text:?}");
            assert_eq!(parse_host(&ip.to_string()), Ok(Host::Ip(ip)));
            if ip.is_ipv6() {
                assert_eq!(parse_host(&format!("[{ip}]")), Ok(Host::Ip(ip)));
                assert_eq!(parse_host(&format!("[{inner}]")), Ok(Host::Ip(ip)));
            } else {
                assert_eq!(ip.to_string(), text, "{text:?} is not as printed");
                assert!(parse_host(&format!("[{ip}]")).is_err(), "[{ip}] accepted");
            }
        }
        Ok(Host::Name(name)) => {
            assert_eq!(name, text);
            assert!((1..=253).contains(&name.len()), "{name:?}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')),
                "{name:?}"
            );
            assert!(name.parse::<IpAddr>().is_err(), "{name:?} is an address");
            assert!(
                !inet_aton_reads(&name),
                "{name:?} is an address to the C resolver"
            );
            assert!(
                parse_host(&format!("[{name}]")).is_err(),
                "[{name}] accepted"
            );
        }
        Err(message) => {
            assert!(!message.is_empty());
            if !text.contains(['\n', '\r']) {
                assert!(!message.contains(['\n', '\r']), "{message:?}");
            }
        }
    }
});

/// Whether glibc's `inet_aton` (which getaddrinfo tries before any lookup) reads `text` as
/// an IPv4 address, leaving its range checks aside: one to four parts, each a number in
/// hex (`0x7f`), octal (`0177`) or decimal.
fn inet_aton_reads(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    (1..=4).contains(&parts.len())
        && parts.iter().all(|part| {
            let (digits, radix) = match part.strip_prefix("0x").or(part.strip_prefix("0X")) {
                Some(hex) => (hex, 16),
                None if part.len() > 1 && part.starts_with('0') => (&part[1..], 8),
                None => (*part, 10),
            };
            !part.is_empty() && digits.chars().all(|c| c.is_digit(radix))
        })
}
