//! An advertiser's IP allow-list: single addresses and CIDR ranges, IPv4 and IPv6. An empty list
//! allows every address.

use std::net::IpAddr;

/// One entry: an address and a prefix length (32/128 for a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    pub fn parse(s: &str) -> Result<IpRange, String> {
        let s = s.trim();
        let shown: String = s.chars().take(60).collect();
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_part.parse().map_err(|_| format!("'{shown}' is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_part {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("'{shown}': the prefix length must be 0 to {max}")),
            },
        };
        let range = IpRange { addr, prefix };
        if range.network() != addr {
            return Err(format!("'{shown}' has host bits set; did you mean {}/{prefix}?", range.network()));
        }
        Ok(range)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is the IPv4 address.
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (_, ip) => ip,
        };
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        IpRange { addr: ip, prefix: self.prefix }.network() == self.addr
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// The whole list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(pub Vec<IpRange>);

/// At most this many entries.
pub const MAX_ENTRIES: usize = 200;

impl IpAllowList {
    /// Parses entries separated by commas, spaces or new lines; every bad entry is named.
    pub fn parse(s: &str) -> Result<IpAllowList, String> {
        let mut ranges = Vec::new();
        let mut bad = Vec::new();
        for part in s.split([',', ' ', '\n', '\r', '\t', ';']).filter(|p| !p.trim().is_empty()) {
            match IpRange::parse(part) {
                Ok(r) => {
                    if !ranges.contains(&r) {
                        ranges.push(r);
                    }
                }
                Err(e) => bad.push(e),
            }
        }
        if !bad.is_empty() {
            return Err(bad.join("; "));
        }
        if ranges.len() > MAX_ENTRIES {
            return Err(format!("at most {MAX_ENTRIES} entries"));
        }
        Ok(IpAllowList(ranges))
    }

    /// True when the list is empty or an entry contains `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|r| r.contains(ip))
    }

    /// The stored form: entries joined by `, `.
    pub fn to_text(&self) -> String {
        self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_matches() {
        let l = IpAllowList::parse("203.0.113.7, 198.51.100.0/24\n2001:db8::/32").unwrap();
        assert_eq!(l.to_text(), "203.0.113.7, 198.51.100.0/24, 2001:db8::/32");
        assert!(l.allows(ip("203.0.113.7")));
        assert!(!l.allows(ip("203.0.113.8")));
        assert!(l.allows(ip("198.51.100.255")));
        assert!(l.allows(ip("::ffff:198.51.100.9")));
        assert!(!l.allows(ip("198.51.101.0")));
        assert!(l.allows(ip("2001:db8:1::5")));
        assert!(!l.allows(ip("2001:db9::1")));
        assert!(IpAllowList::parse("").unwrap().allows(ip("10.0.0.1")));
        assert!(IpAllowList::parse("0.0.0.0/0").unwrap().allows(ip("10.0.0.1")));
    }

    #[test]
    fn refuses_bad_entries() {
        for bad in ["10.0.0.0/33", "10.0.0.1/24", "300.1.1.1", "example.com", "10.0.0.0/-1", "::/129", "10.0.0.0/+8"] {
            assert!(IpAllowList::parse(bad).is_err(), "{bad}");
        }
        let e = IpAllowList::parse("1.2.3.4, nope, 10.0.0.0/40").unwrap_err();
        assert!(e.contains("'nope'") && e.contains("10.0.0.0/40"), "{e}");
    }
}
