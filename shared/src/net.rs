//! Network addresses: the proxies whose `X-Forwarded-For` is believed, and
//! a client's address as rate limits and logs key it.

use std::net::IpAddr;

/// An IP network, `10.42.0.0/16`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    address: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d/n`, `::1/128` or a bare address.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address.parse().ok()?, prefix.parse().ok()?),
            None => {
                let address: IpAddr = text.parse().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if matches!(address, IpAddr::V4(_)) {
            32
        } else {
            128
        };
        (prefix <= max).then_some(Self { address, prefix })
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
            let (whole, rest) = (usize::from(bits / 8), bits % 8);
            a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
        }
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_equal(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// A client's address as rate limits and logs key it: an IPv4 address, an
/// IPv6 address's /64 network (`2001:db8:1:2::/64`), or `unknown` if Spin
/// named none (it always names one).
///
/// One IPv6 customer gets a whole /64 (or more), so keying each address
/// would let anyone rotate through billions of fresh allowances; the /64 is
/// the smallest block that one subscriber is assigned. An IPv4 address
/// mapped into IPv6 (`::ffff:a.b.c.d`) is keyed as the IPv4 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(String);

impl ClientAddress {
    /// The key for `ip`.
    pub fn new(ip: Option<IpAddr>) -> Self {
        Self(match ip.map(|ip| ip.to_canonical()) {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                format!("{}/64", std::net::Ipv6Addr::from(octets))
            }
        })
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_never_contains_an_address_of_the_other_family() {
        let v4 = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(v4.contains("203.0.113.9".parse().unwrap()));
        assert!(!v4.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert_eq!(IpNet::parse("::/129"), None);
        assert_eq!(ClientAddress::new(None).as_str(), "unknown");
    }

    fn key(ip: &str) -> String {
        ClientAddress::new(Some(ip.parse().unwrap()))
            .as_str()
            .to_owned()
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff::1"), key("2001:db8:1:2::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::1"), "::/64");
    }

    #[test]
    fn ipv4_clients_are_keyed_by_their_address_even_when_mapped_into_ipv6() {
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_ne!(key("203.0.113.9"), key("203.0.113.10"));
    }
}
