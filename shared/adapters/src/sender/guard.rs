//! The SSRF guard's address policy: which addresses a webhook may never be sent to.
//!
//! Pure functions, no I/O. The sender applies them to every address it would connect to: to an
//! IP-literal URL host before sending, and to every address the resolver returns (see
//! [`super::resolver`]), so what is checked is what is connected to.
//!
//! Refused ranges (unless an allow-list entry contains the address):
//!
//! | IPv4 | why |
//! |---|---|
//! | `0.0.0.0/8` | "this network", includes the unspecified `0.0.0.0` |
//! | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` | private (RFC 1918) |
//! | `100.64.0.0/10` | shared address space / carrier-grade NAT (RFC 6598) |
//! | `127.0.0.0/8` | loopback |
//! | `169.254.0.0/16` | link-local, includes cloud metadata `169.254.169.254` |
//! | `192.0.0.0/24` | IETF protocol assignments (RFC 6890) |
//! | `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` | documentation (RFC 5737) |
//! | `198.18.0.0/15` | benchmarking (RFC 2544) |
//! | `224.0.0.0/4` | multicast |
//! | `240.0.0.0/4` | reserved, includes broadcast `255.255.255.255` |
//!
//! | IPv6 | why |
//! |---|---|
//! | `::/128`, `::1/128` | unspecified, loopback |
//! | `::ffff:0:0/96` | IPv4-mapped: judged by the embedded IPv4 address |
//! | `::/96` (IPv4-compatible, deprecated) | judged by the embedded IPv4 address |
//! | `64:ff9b::/96` | NAT64 well-known prefix: judged by the embedded IPv4 address |
//! | `64:ff9b:1::/48` | local-use NAT64 (RFC 8215) |
//! | `2002::/16` | 6to4: judged by the embedded IPv4 address (bits 16..48) |
//! | `100::/64` | discard-only (RFC 6666) |
//! | `2001:db8::/32` | documentation |
//! | `fc00::/7` | unique local (private) |
//! | `fe80::/10` | link-local |
//! | `fec0::/10` | site-local (deprecated) |
//! | `ff00::/8` | multicast |
//!
//! The allow-list (`SendConfig::allow_cidrs`) re-opens an address it contains. An IPv4-mapped or
//! IPv4-compatible IPv6 address is also re-opened when the allow-list contains its IPv4 form
//! (`::ffff:127.0.0.1` is re-opened by `127.0.0.1/32`); the NAT64 and 6to4 forms are not (they are
//! different hosts: gateways), only by an IPv6 entry containing them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// `(network, prefix length, why refused)`.
const BLOCKED_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::UNSPECIFIED, 8, "this-network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved/broadcast"),
];

const BLOCKED_V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use NAT64"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local (private)"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// Whether the guard refuses to connect to `ip`, given the allow-list.
#[must_use]
pub fn is_blocked(ip: IpAddr, allow: &[IpNet]) -> bool {
    blocked_reason(ip, allow).is_some()
}

/// Why the guard refuses `ip` (a short range name such as `"loopback"`), or `None` when it may
/// be connected to.
#[must_use]
pub fn blocked_reason(ip: IpAddr, allow: &[IpNet]) -> Option<&'static str> {
    if is_allowed(ip, allow) {
        return None;
    }
    special_range(ip)
}

fn is_allowed(ip: IpAddr, allow: &[IpNet]) -> bool {
    let listed = |ip: IpAddr| allow.iter().any(|net| net.contains(&ip));
    listed(ip) || mapped_or_compatible_v4(ip).is_some_and(|v4| listed(IpAddr::V4(v4)))
}

/// The special-purpose range `ip` falls in, if any.
fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(why) =
                BLOCKED_V6.iter().find(|(net, len, _)| in_v6(v6, *net, *len)).map(|(_, _, why)| *why)
            {
                return Some(why);
            }
            // Forms that carry an IPv4 address: judged by it.
            let embedded = mapped_or_compatible_v4(ip).or_else(|| nat64_or_6to4_v4(v6));
            embedded.and_then(special_v4)
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    BLOCKED_V4.iter().find(|(net, len, _)| in_v4(ip, *net, *len)).map(|(_, _, why)| *why)
}

/// The IPv4 address inside `::ffff:a.b.c.d` (mapped) or `::a.b.c.d` (compatible, not `::`/`::1`).
fn mapped_or_compatible_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(v6);
    // `::/96` minus `::/127` (unspecified and loopback are IPv6 addresses in their own right).
    if bits >> 32 == 0 && bits > 1 {
        return Some(Ipv4Addr::from((bits & 0xffff_ffff) as u32));
    }
    None
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn nat64_or_6to4_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(v6);
    if in_v6(v6, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(Ipv4Addr::from((bits & 0xffff_ffff) as u32));
    }
    if in_v6(v6, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    None
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn refuses_special_ranges() {
        for addr in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "fe80::1",
            "fc00::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "127.0.0.1",
            "127.255.255.254",
            "::1",
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "fec0::1",
        ] {
            assert!(is_blocked(ip(addr), &[]), "{addr} should be blocked");
        }
    }

    #[test]
    fn lets_public_addresses_through() {
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_blocked(ip(addr), &[]), "{addr} should be allowed");
        }
    }

    #[test]
    fn reasons_name_the_range() {
        assert_eq!(blocked_reason(ip("127.0.0.1"), &[]), Some("loopback"));
        assert_eq!(blocked_reason(ip("::1"), &[]), Some("loopback"));
        assert_eq!(blocked_reason(ip("169.254.169.254"), &[]), Some("link-local"));
        assert_eq!(blocked_reason(ip("::ffff:10.0.0.1"), &[]), Some("private"));
        assert_eq!(blocked_reason(ip("8.8.8.8"), &[]), None);
    }

    #[test]
    fn allow_list_reopens_loopback_host() {
        let allow = nets(&["127.0.0.1/32"]);
        assert!(!is_blocked(ip("127.0.0.1"), &allow));
        assert!(!is_blocked(ip("::ffff:127.0.0.1"), &allow), "mapped form judged by its v4");
        assert!(is_blocked(ip("127.0.0.2"), &allow));
        assert!(is_blocked(ip("::1"), &allow));
        assert!(is_blocked(ip("10.0.0.1"), &allow));
    }

    #[test]
    fn allow_list_reopens_private_range() {
        let allow = nets(&["10.0.0.0/8"]);
        assert!(!is_blocked(ip("10.0.0.1"), &allow));
        assert!(!is_blocked(ip("10.255.255.255"), &allow));
        assert!(!is_blocked(ip("::ffff:10.1.2.3"), &allow));
        assert!(is_blocked(ip("172.16.0.1"), &allow));
        assert!(is_blocked(ip("192.168.1.1"), &allow));
        assert!(is_blocked(ip("127.0.0.1"), &allow));
        // NAT64 / 6to4 forms are other hosts (gateways): not re-opened by a v4 entry.
        assert!(is_blocked(ip("64:ff9b::a00:1"), &allow));
    }

    #[test]
    fn v6_allow_entries_work() {
        let allow = nets(&["::1/128", "fd00::/8"]);
        assert!(!is_blocked(ip("::1"), &allow));
        assert!(!is_blocked(ip("fd12::1"), &allow));
        assert!(is_blocked(ip("fc00::1"), &allow));
        assert!(is_blocked(ip("127.0.0.1"), &allow));
    }

    #[test]
    fn prefix_arithmetic_edges() {
        assert!(in_v4(ip4("1.2.3.4"), ip4("0.0.0.0"), 0));
        assert!(in_v4(ip4("1.2.3.4"), ip4("1.2.3.4"), 32));
        assert!(!in_v4(ip4("1.2.3.5"), ip4("1.2.3.4"), 32));
        assert!(in_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 0));
        assert!(!in_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 128));
    }

    fn ip4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
}
