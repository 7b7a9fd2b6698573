//! `--source` lists and CIDR blocks: `source::parse_sources` and `source::Cidr` on any text.
//!
//! Properties, beyond never panicking:
//! - an accepted block holds a power of two of addresses (`::/0` is counted as u128::MAX,
//!   one short), starts at the address it was
//!   written with, contains every address it yields (in order, without gaps) and neither
//!   neighbour outside it, nor any address of the other family;
//! - its host addresses are all of them, or for an IPv4 block of four or more all but the
//!   first and the last, in order;
//! - an accepted list is each item's addresses in order (an address, or a block's host
//!   addresses), at most 65536 of them, none twice, none unspecified, none multicast
//!   (IPv4, IPv6, or IPv4-mapped), none 255.255.255.255 or 127.255.255.255; printed back
//!   as a comma-separated list it reads the same.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::source::{Cidr, MAX_SOURCES, parse_sources};

/// Blocks up to this size are walked address by address; larger ones only at their ends.
const WALK: u128 = 1 << 12;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cidr) = Cidr::parse(text) {
        check_block(text, &cidr);
    }
    let Ok(sources) = parse_sources(text) else {
        return;
    };
    assert!(!sources.is_empty(), "{text:?} gave no sources");
    assert!(sources.len() as u128 <= MAX_SOURCES, "{text:?}");
    let mut sorted = sources.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), sources.len(), "{text:?} gave a source twice");
    assert!(
        !sources.iter().any(IpAddr::is_unspecified),
        "{text:?} gave the unspecified address"
    );
    for ip in &sources {
        let v4 = match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        let multicast = match (ip, v4) {
            (_, Some(v4)) => v4.is_multicast(),
            (IpAddr::V6(v6), None) => v6.is_multicast(),
            (IpAddr::V4(_), None) => false,
        };
        assert!(!multicast, "{text:?} gave the multicast address {ip}");
        assert!(
            !v4.is_some_and(|v4| v4.is_broadcast() || v4 == Ipv4Addr::new(127, 255, 255, 255)),
            "{text:?} gave the broadcast address {ip}"
        );
    }

    let mut expected = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.contains('/') {
            let cidr = Cidr::parse(item).expect("an item of an accepted list");
            expected.extend(cidr.hosts());
        } else {
            let bare = item
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(item);
            expected.push(bare.parse::<IpAddr>().expect("an item of an accepted list"));
        }
    }
    assert_eq!(sources, expected, "{text:?}");

    let printed: Vec<String> = sources.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(parse_sources(&printed.join(",")), Ok(sources), "{text:?}");
});

fn check_block(text: &str, cidr: &Cidr) {
    let (addr, _) = text.split_once('/').expect("a block has a prefix");
    let first: IpAddr = addr.parse().expect("a block starts with an address");
    let size = cidr.size();
    if size == u128::MAX {
        // The whole IPv6 space, 2^128 addresses, one more than a u128 counts.
        assert_eq!(
            first,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            "{text:?} holds {size}"
        );
        assert!(cidr.contains(IpAddr::V6(Ipv6Addr::from(u128::MAX))));
        return;
    }
    assert!(size.is_power_of_two(), "{text:?} holds {size}");
    let ends = first.is_ipv4() && size >= 4;
    let hosts = cidr.host_count();
    assert_eq!(hosts, if ends { size - 2 } else { size }, "{text:?}");
    let mut host_list = cidr.hosts();
    let first_host = bits(first) + u128::from(ends);
    if hosts > 0 {
        assert_eq!(
            host_list.next(),
            Some(with_bits(first, first_host)),
            "{text:?} hosts start elsewhere"
        );
    }
    if hosts <= WALK {
        let all: Vec<IpAddr> = cidr.hosts().collect();
        assert_eq!(all.len() as u128, hosts, "{text:?}");
        for (i, ip) in all.iter().enumerate() {
            assert_eq!(
                bits(*ip),
                first_host + i as u128,
                "{text:?} hosts skip at {ip}"
            );
        }
    }
    let mut addresses = cidr.addresses();
    assert_eq!(addresses.next(), Some(first), "{text:?} starts elsewhere");
    if size <= WALK {
        let all: Vec<IpAddr> = cidr.addresses().collect();
        assert_eq!(all.len() as u128, size, "{text:?}");
        for (i, ip) in all.iter().enumerate() {
            assert!(cidr.contains(*ip), "{text:?} yields {ip} outside it");
            assert_eq!(bits(*ip), bits(first) + i as u128, "{text:?} skips at {ip}");
        }
    }
    assert!(cidr.contains(first));
    let last = bits(first) + (size - 1);
    assert!(
        cidr.contains(with_bits(first, last)),
        "{text:?} misses its last address"
    );
    if let Some(before) = bits(first).checked_sub(1) {
        assert!(
            !cidr.contains(with_bits(first, before)),
            "{text:?} holds {before}"
        );
    }
    if let Some(after) = last.checked_add(1).filter(|b| *b <= max_bits(first)) {
        let after = with_bits(first, after);
        assert!(!cidr.contains(after), "{text:?} holds {after}");
    }
    let other_family = match first {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    assert!(
        !cidr.contains(other_family),
        "{text:?} holds {other_family}"
    );
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn max_bits(family: IpAddr) -> u128 {
    match family {
        IpAddr::V4(_) => u128::from(u32::MAX),
        IpAddr::V6(_) => u128::MAX,
    }
}

fn with_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(
            u32::try_from(bits).expect("an IPv4 address"),
        )),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}
