//! Where connections come from and go to: `--source` lists and CIDR blocks, and the
//! round-robin that spreads attempts over (source, target) pairs.
//!
//! The kernel gives each (source address, target address) pair its own ephemeral port range,
//! so spreading attempts over S sources and T targets multiplies the connections one run can
//! hold by up to S × T. Attempt k goes to target `k mod T` and, among the sources of that
//! target's family, to source `(k div T) mod S`: consecutive attempts cycle through the
//! targets, and each target cycles through its sources, so every pair is used evenly even
//! when S and T share a factor.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The most addresses one `--source` value may expand to: more than enough for any port
/// budget (65536 sources × 28k ports each), small enough to check every one at start.
pub const MAX_SOURCES: u128 = 65_536;

/// An address block, `addr/prefix`, normalized to its first address. As a source it stands
/// for its host addresses ([`Cidr::hosts`]), not for every address it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Reads `127.0.0.0/28` or `fd00::/120`. Host bits left set (`10.0.0.7/24`) are an
    /// error: the block would not start where the text says.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not a CIDR block (addr/prefix)"))?;
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' in '{text}' is not an IP address"))?;
        let bits = width(network);
        let prefix: u8 = (!prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()))
            .then(|| prefix.parse().ok())
            .flatten()
            .filter(|p| u32::from(*p) <= bits)
            .ok_or_else(|| format!("'{prefix}' in '{text}' is not a prefix length 0-{bits}"))?;
        let cidr = Cidr { network, prefix };
        if as_bits(network) & !cidr.mask() != 0 {
            return Err(format!(
                "'{text}' has host bits set: the block starts at {}",
                from_bits(network, as_bits(network) & cidr.mask())
            ));
        }
        Ok(cidr)
    }

    /// How many addresses the block holds.
    pub fn size(&self) -> u128 {
        let host_bits = width(self.network) - u32::from(self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && as_bits(ip) & self.mask() == as_bits(self.network)
    }

    /// Every address of the block, in order.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let first = as_bits(self.network);
        (0..self.size()).map(move |i| from_bits(self.network, first + i))
    }

    /// The addresses a host on the block can have, in order: for an IPv4 block of four
    /// addresses or more, all but the first and the last, which are the network and
    /// broadcast addresses wherever the block is a subnet. On an interface the network
    /// address cannot be bound, and the broadcast address can, but Linux then connects from
    /// the interface's own address instead, so that source would silently be another one.
    /// A /31 or /32 (point-to-point, RFC 3021) and an IPv6 block, which has no broadcast
    /// address, give every address.
    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let first = as_bits(self.network) + u128::from(self.skips_ends());
        (0..self.host_count()).map(move |i| from_bits(self.network, first + i))
    }

    /// How many addresses [`Cidr::hosts`] gives (for `::/0`, one short, as [`Cidr::size`]).
    pub fn host_count(&self) -> u128 {
        self.size() - 2 * u128::from(self.skips_ends())
    }

    fn skips_ends(&self) -> bool {
        self.network.is_ipv4() && self.prefix <= 30
    }

    fn mask(&self) -> u128 {
        let bits = width(self.network);
        let ones = u128::MAX
            .checked_shl(bits - u32::from(self.prefix))
            .unwrap_or(0);
        ones & (u128::MAX >> (128 - bits))
    }
}

fn width(ip: IpAddr) -> u32 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn as_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(family: IpAddr, bits: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// Reads `--source`: addresses and CIDR blocks separated by commas, IPv4 or IPv6
/// (`127.0.0.2,127.0.0.3`, `127.0.0.0/28`, `::1`); a block stands for its host addresses
/// ([`Cidr::hosts`]). Duplicates are an error, since a repeated source adds no ports; so is
/// a list of more than [`MAX_SOURCES`] addresses, and the unspecified address (`0.0.0.0`,
/// `::`), which binds but leaves the kernel to pick the source, so it is no source at all;
/// so are multicast and broadcast addresses (255.255.255.255, 127.255.255.255), for which
/// Linux picks another source too.
pub fn parse_sources(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut sources = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("'{text}' has an empty item"));
        }
        if item.contains('/') {
            let cidr = Cidr::parse(item)?;
            // `::/0` counts as u128::MAX: a plain sum would overflow.
            let total = (sources.len() as u128).saturating_add(cidr.host_count());
            if total > MAX_SOURCES {
                return Err(format!(
                    "'{item}' holds {} host addresses; at most {MAX_SOURCES} source addresses \
                     are allowed",
                    cidr.host_count()
                ));
            }
            // Only a block's first address can be the unspecified one.
            if let Some(ip) = cidr.hosts().next().filter(IpAddr::is_unspecified) {
                return Err(unspecified(item, ip));
            }
            // A block of at most MAX_SOURCES addresses lies wholly inside or wholly outside
            // a multicast range, and a broadcast address it holds is its last.
            let ends = [cidr.hosts().next(), cidr.hosts().last()];
            if let Some(why) = ends
                .into_iter()
                .flatten()
                .find_map(|ip| not_a_source(item, ip))
            {
                return Err(why);
            }
            sources.extend(cidr.hosts());
        } else {
            let ip = item
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(item);
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("'{item}' is neither an IP address nor a CIDR block"))?;
            if ip.is_unspecified() {
                return Err(unspecified(item, ip));
            }
            if let Some(why) = not_a_source(item, ip) {
                return Err(why);
            }
            if sources.len() as u128 >= MAX_SOURCES {
                return Err(format!(
                    "more than {MAX_SOURCES} source addresses are not allowed"
                ));
            }
            sources.push(ip);
        }
    }
    let mut sorted = sources.clone();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("source address {} is given twice", pair[0]));
    }
    Ok(sources)
}

/// Why `ip`, an address of `item`, cannot be a source: a multicast or broadcast address
/// binds, but Linux then connects from another address, so the run would silently come from
/// a source nobody named. 127.255.255.255 is the broadcast address of loopback's /8.
fn not_a_source(item: &str, ip: IpAddr) -> Option<String> {
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let multicast = match (ip, v4) {
        (_, Some(v4)) => v4.is_multicast(),
        (IpAddr::V6(v6), None) => v6.is_multicast(),
        (IpAddr::V4(_), None) => false,
    };
    let what = if multicast {
        "a multicast address"
    } else if v4.is_some_and(|v4| v4.is_broadcast()) {
        "the broadcast address"
    } else if v4 == Some(Ipv4Addr::new(127, 255, 255, 255)) {
        "the broadcast address of 127.0.0.0/8"
    } else {
        return None;
    };
    let subject = match (item.contains('/'), multicast) {
        (false, _) => format!("'{item}' is {what}"),
        (true, true) => format!("'{item}' holds multicast addresses"),
        (true, false) => format!("'{item}' includes {ip}, {what}"),
    };
    Some(format!(
        "{subject}: bound as a source, it makes Linux connect from another address; give \
         addresses of this machine"
    ))
}

fn unspecified(item: &str, ip: IpAddr) -> String {
    let what = if item.contains('/') {
        format!("'{item}' includes {ip}, the unspecified address")
    } else {
        format!("'{item}' is the unspecified address")
    };
    format!("{what}, with which the kernel picks the source: give addresses of this machine")
}

/// One attempt's way: the target's index in the target list, and the source to bind, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub target: usize,
    pub source: Option<IpAddr>,
}

/// The round-robin of attempts over targets and, per target family, over sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    targets: Vec<SocketAddr>,
    v4: Vec<IpAddr>,
    v6: Vec<IpAddr>,
}

impl Routes {
    /// Checks that every target has a source of its family (when sources are given at all)
    /// and that every source can reach some target.
    pub fn new(targets: Vec<SocketAddr>, sources: &[IpAddr]) -> Result<Routes, String> {
        assert!(!targets.is_empty(), "a run has at least one target");
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = sources.iter().partition(|ip| ip.is_ipv4());
        if !sources.is_empty() {
            if let Some(t) = targets.iter().find(|t| {
                if t.is_ipv4() {
                    v4.is_empty()
                } else {
                    v6.is_empty()
                }
            }) {
                return Err(format!(
                    "target {} is {} but no --source address is: give one of its family, \
                     or pick the family with -4 or -6",
                    t.ip(),
                    family_name(t.ip())
                ));
            }
            if let Some(s) = sources
                .iter()
                .find(|s| !targets.iter().any(|t| t.is_ipv4() == s.is_ipv4()))
            {
                return Err(format!(
                    "source {s} is {} but no target address is",
                    family_name(*s)
                ));
            }
        }
        Ok(Routes { targets, v4, v6 })
    }

    pub fn targets(&self) -> &[SocketAddr] {
        &self.targets
    }

    pub fn target(&self, route: Route) -> SocketAddr {
        self.targets[route.target]
    }

    /// The way of attempt `k`.
    pub fn route(&self, k: u64) -> Route {
        let t = self.targets.len() as u64;
        let target = (k % t) as usize;
        let sources = self.sources_for(target);
        let source =
            (!sources.is_empty()).then(|| sources[((k / t) % sources.len() as u64) as usize]);
        Route { target, source }
    }

    /// Of `attempts` attempts, the most that share one (source, target) pair, and so one
    /// ephemeral port range.
    pub fn most_per_pair(&self, attempts: u64) -> u64 {
        let t = self.targets.len() as u64;
        (0..self.targets.len())
            .map(|i| {
                let to_target = attempts / t + u64::from((i as u64) < attempts % t);
                to_target.div_ceil(self.sources_for(i).len().max(1) as u64)
            })
            .max()
            .unwrap_or(0)
    }

    fn sources_for(&self, target: usize) -> &[IpAddr] {
        if self.targets[target].is_ipv4() {
            &self.v4
        } else {
            &self.v6
        }
    }
}

fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_and_blocks() {
        assert_eq!(
            parse_sources("127.0.0.2, 127.0.0.3"),
            Ok(vec![ip("127.0.0.2"), ip("127.0.0.3")])
        );
        assert_eq!(
            parse_sources("::1,[fd00::2]"),
            Ok(vec![ip("::1"), ip("fd00::2")])
        );
        assert_eq!(parse_sources("10.1.2.3/32"), Ok(vec![ip("10.1.2.3")]));
        assert_eq!(parse_sources("fd00::/126").unwrap().len(), 4);
        assert_eq!(parse_sources("10.0.0.0/16").unwrap().len(), 65_534);
        assert_eq!(parse_sources("fd00::/112").unwrap().len(), 65_536);
    }

    #[test]
    fn an_ipv4_block_gives_its_host_addresses() {
        // The network and broadcast addresses are left out of blocks of four or more.
        assert_eq!(
            parse_sources("127.0.0.0/30"),
            Ok(vec![ip("127.0.0.1"), ip("127.0.0.2")])
        );
        let block = parse_sources("127.0.0.0/29").unwrap();
        assert_eq!(block.first(), Some(&ip("127.0.0.1")));
        assert_eq!(block.last(), Some(&ip("127.0.0.6")));
        assert_eq!(block.len(), 6);
        // A point-to-point /31 has no network or broadcast address.
        assert_eq!(
            parse_sources("10.0.0.6/31"),
            Ok(vec![ip("10.0.0.6"), ip("10.0.0.7")])
        );
        // IPv6 has no broadcast address: a block gives every address.
        assert_eq!(
            parse_sources("fd00::/127"),
            Ok(vec![ip("fd00::"), ip("fd00::1")])
        );
        // A listed address is taken as given, even where a block would leave it out.
        assert_eq!(
            parse_sources("127.0.0.0,127.0.0.0/30"),
            Ok(["127.0.0.0", "127.0.0.1", "127.0.0.2"].map(ip).to_vec())
        );
        for text in ["127.0.0.0/30", "10.0.0.0/31", "10.1.2.3/32", "fd00::/126"] {
            let cidr = Cidr::parse(text).unwrap();
            assert_eq!(cidr.hosts().count() as u128, cidr.host_count(), "{text}");
        }
    }

    #[test]
    fn the_unspecified_address_is_no_source() {
        for (bad, why) in [
            ("0.0.0.0", "'0.0.0.0' is the unspecified address"),
            ("::", "'::' is the unspecified address"),
            ("[::]", "'[::]' is the unspecified address"),
            ("127.0.0.2,0.0.0.0", "'0.0.0.0' is the unspecified address"),
            ("::/127", "'::/127' includes ::, the unspecified address"),
            ("::/128", "'::/128' includes ::, the unspecified address"),
            ("0.0.0.0/32", "includes 0.0.0.0, the unspecified"),
            ("0.0.0.0/31", "includes 0.0.0.0, the unspecified"),
        ] {
            match parse_sources(bad) {
                Err(message) => {
                    assert!(message.contains(why), "{bad:?}: {message}");
                    assert!(message.contains("the kernel picks the source"), "{message}");
                }
                Ok(list) => panic!("{bad:?} accepted as {list:?}"),
            }
        }
        // A larger IPv4 block starting at 0.0.0.0 leaves it out with the network address.
        assert_eq!(
            parse_sources("0.0.0.0/30"),
            Ok(vec![ip("0.0.0.1"), ip("0.0.0.2")])
        );
    }

    #[test]
    fn multicast_and_broadcast_addresses_are_no_source() {
        for (bad, why) in [
            ("224.0.0.1", "'224.0.0.1' is a multicast address"),
            ("239.1.1.1", "'239.1.1.1' is a multicast address"),
            (
                "127.0.0.2,239.255.255.255",
                "'239.255.255.255' is a multicast",
            ),
            ("ff02::1", "'ff02::1' is a multicast address"),
            ("[ff0e::5]", "'[ff0e::5]' is a multicast address"),
            (
                "::ffff:224.0.0.1",
                "'::ffff:224.0.0.1' is a multicast address",
            ),
            ("224.0.0.0/24", "'224.0.0.0/24' holds multicast addresses"),
            (
                "239.255.0.0/16",
                "'239.255.0.0/16' holds multicast addresses",
            ),
            ("ff02::/120", "'ff02::/120' holds multicast addresses"),
            (
                "255.255.255.255",
                "'255.255.255.255' is the broadcast address",
            ),
            (
                "255.255.255.255/32",
                "includes 255.255.255.255, the broadcast address",
            ),
            (
                "255.255.255.254/31",
                "includes 255.255.255.255, the broadcast address",
            ),
            ("127.255.255.255", "is the broadcast address of 127.0.0.0/8"),
            (
                "127.255.255.254/31",
                "includes 127.255.255.255, the broadcast address of",
            ),
            (
                "::ffff:127.255.255.255",
                "is the broadcast address of 127.0.0.0/8",
            ),
        ] {
            match parse_sources(bad) {
                Err(message) => {
                    assert!(message.contains(why), "{bad:?}: {message}");
                    assert!(
                        message.contains("connect from another address"),
                        "{message}"
                    );
                }
                Ok(list) => panic!("{bad:?} accepted as {list:?}"),
            }
        }
        // A block's broadcast and network addresses are left out, so the block is fine.
        let block = parse_sources("127.255.255.0/24").unwrap();
        assert_eq!(block.last(), Some(&ip("127.255.255.254")));
        assert_eq!(parse_sources("255.255.255.0/30").unwrap().len(), 2);
        // Next to the ranges, addresses are sources.
        for fine in ["223.255.255.254", "240.0.0.1", "127.255.255.254", "fe80::1"] {
            assert!(parse_sources(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn bad_sources_are_refused_with_a_reason() {
        for (bad, why) in [
            ("", "empty item"),
            ("127.0.0.1,", "empty item"),
            ("localhost", "neither an IP address"),
            ("10.0.0.0/15", "at most 65536"),
            ("::/0", "at most 65536"),
            ("10.0.0.0/33", "prefix length 0-32"),
            ("10.0.0.0/-1", "prefix length"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.7/24", "host bits set: the block starts at 10.0.0.0"),
            ("x/24", "not an IP address"),
            ("127.0.0.1,127.0.0.0/31", "127.0.0.1 is given twice"),
            ("10.0.0.0/16,10.1.0.0/31,10.2.0.0/32", "at most 65536"),
        ] {
            match parse_sources(bad) {
                Err(message) => assert!(message.contains(why), "{bad:?}: {message}"),
                Ok(list) => panic!("{bad:?} accepted as {list:?}"),
            }
        }
    }

    #[test]
    fn the_whole_ipv6_space_after_another_source_is_refused() {
        // Found by the `sources` fuzz target: the count of sources overflowed, and in a
        // release build wrapped past the limit into an attempt to list 2^128 addresses.
        for list in ["127.0.0.1,::/0", "::2,::/0", "10.0.0.0/16,::/0"] {
            match parse_sources(list) {
                Err(message) => assert!(message.contains("at most 65536"), "{list}: {message}"),
                Ok(list) => panic!("{} sources accepted", list.len()),
            }
        }
    }

    #[test]
    fn a_block_contains_exactly_what_it_yields() {
        for text in [
            "127.0.0.0/28",
            "10.0.0.0/31",
            "0.0.0.0/32",
            "fd00::/124",
            "::/128",
        ] {
            let cidr = Cidr::parse(text).unwrap();
            let all: Vec<IpAddr> = cidr.addresses().collect();
            assert_eq!(all.len() as u128, cidr.size(), "{text}");
            assert!(all.iter().all(|a| cidr.contains(*a)), "{text}");
            let first = as_bits(all[0]);
            let last = as_bits(all[all.len() - 1]);
            if first > 0 {
                assert!(!cidr.contains(from_bits(all[0], first - 1)), "{text}");
            }
            if last < (u128::MAX >> (128 - width(all[0]))) {
                assert!(!cidr.contains(from_bits(all[0], last + 1)), "{text}");
            }
        }
        let v4 = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(!v4.contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert_eq!(Cidr::parse("::/0").unwrap().size(), u128::MAX);
    }

    fn sock(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn attempts_cycle_targets_then_sources_per_family() {
        let targets = vec![sock("127.0.0.1:80"), sock("127.0.0.2:80")];
        let routes = Routes::new(targets, &[ip("127.0.0.3"), ip("127.0.0.4")]).unwrap();
        let pairs: Vec<(usize, IpAddr)> = (0..8)
            .map(|k| {
                let r = routes.route(k);
                (r.target, r.source.unwrap())
            })
            .collect();
        // Two targets, two sources: all four pairs, then again.
        assert_eq!(
            pairs[..4],
            [
                (0, ip("127.0.0.3")),
                (1, ip("127.0.0.3")),
                (0, ip("127.0.0.4")),
                (1, ip("127.0.0.4")),
            ]
        );
        assert_eq!(pairs[..4], pairs[4..]);
        assert_eq!(routes.most_per_pair(8), 2);
        assert_eq!(routes.most_per_pair(9), 3);

        let mixed = Routes::new(
            vec![sock("127.0.0.1:80"), sock("[::1]:80")],
            &[ip("127.0.0.3"), ip("::1"), ip("127.0.0.4")],
        )
        .unwrap();
        let sources: Vec<IpAddr> = (0..6).map(|k| mixed.route(k).source.unwrap()).collect();
        assert_eq!(
            sources,
            ["127.0.0.3", "::1", "127.0.0.4", "::1", "127.0.0.3", "::1"].map(ip)
        );
        // 250 attempts, 125 per target: 63 per IPv4 source, 125 for the one IPv6 source.
        assert_eq!(mixed.most_per_pair(250), 125);
    }

    #[test]
    fn without_sources_the_kernel_picks_and_each_target_is_one_pair() {
        let routes = Routes::new(vec![sock("127.0.0.1:80")], &[]).unwrap();
        assert_eq!(
            routes.route(7),
            Route {
                target: 0,
                source: None
            }
        );
        assert_eq!(routes.most_per_pair(250), 250);
        assert_eq!(routes.most_per_pair(0), 0);
    }

    #[test]
    fn families_must_meet() {
        let v6_target = vec![sock("[::1]:80")];
        let err = Routes::new(v6_target.clone(), &[ip("127.0.0.2")]).unwrap_err();
        assert!(err.contains("target ::1 is IPv6 but no --source"), "{err}");
        let err =
            Routes::new(vec![sock("127.0.0.1:80")], &[ip("127.0.0.2"), ip("::1")]).unwrap_err();
        assert!(err.contains("source ::1 is IPv6 but no target"), "{err}");
        assert!(Routes::new(v6_target, &[ip("::1")]).is_ok());
    }
}
