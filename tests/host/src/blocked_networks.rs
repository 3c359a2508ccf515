//! The runtime config's `[outbound_networking] block_networks`, as Spin
//! 3.6.3 applies it (crates/outbound-networking-config/src/blocked_networks.rs
//! and crates/factor-outbound-networking/src/runtime_config/spin.rs).
//!
//! Nothing is blocked unless the runtime config says so. `"private"` blocks
//! every address `ip_network` does not call global (loopback, RFC 1918,
//! link-local, shared, documentation, reserved, unique-local…), and a CIDR
//! entry blocks its network; an IPv6 address that embeds an IPv4 one is
//! checked as that IPv4 address too. Spin applies the list to the addresses
//! a host name resolves to, after the `allowed_outbound_hosts` check, for
//! outbound HTTP and Redis (and WASI sockets), but not for MySQL.

use std::net::{IpAddr, SocketAddr};

use ip_network::IpNetwork;
use serde::Deserialize;

/// The networks outbound connections may not reach.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockedNetworks {
    networks: Vec<IpNetwork>,
    block_private: bool,
}

/// One `block_networks` entry.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Network(IpNetwork),
    Private,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "private" {
            return Ok(Self::Private);
        }
        IpNetwork::from_str_truncate(&text)
            .map(Self::Network)
            .map_err(|_| {
                serde::de::Error::invalid_value(
                    serde::de::Unexpected::Str(&text),
                    &"an IP network in CIDR notation or the keyword 'private'",
                )
            })
    }
}

/// The `[outbound_networking]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboundNetworkingTable {
    #[serde(default)]
    block_networks: Vec<Entry>,
}

impl BlockedNetworks {
    /// The networks a `[outbound_networking]` table blocks.
    pub fn from_table(table: OutboundNetworkingTable) -> Self {
        let mut blocked = Self::default();
        for entry in table.block_networks {
            match entry {
                Entry::Private => blocked.block_private = true,
                Entry::Network(network) => blocked.networks.push(network),
            }
        }
        blocked
    }

    /// Whether nothing is blocked.
    pub fn is_empty(&self) -> bool {
        !self.block_private && self.networks.is_empty()
    }

    /// Whether connections to `ip` are refused.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.block_private && !IpNetwork::from(ip).is_global() {
            return true;
        }
        if self.networks.iter().any(|network| network.contains(ip)) {
            return true;
        }
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4()
                .is_some_and(|v4| self.is_blocked(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    /// Removes the blocked addresses from `addrs`, returning them.
    pub fn remove_blocked(&self, addrs: &mut Vec<SocketAddr>) -> Vec<SocketAddr> {
        if self.is_empty() {
            return Vec::new();
        }
        let (blocked, allowed) = std::mem::take(addrs)
            .into_iter()
            .partition(|addr| self.is_blocked(addr.ip()));
        *addrs = allowed;
        blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(entries: &str) -> BlockedNetworks {
        let table: OutboundNetworkingTable =
            toml::from_str(&format!("block_networks = {entries}")).unwrap();
        BlockedNetworks::from_table(table)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn nothing_is_blocked_by_default() {
        let none = BlockedNetworks::default();
        assert!(none.is_empty());
        assert!(!none.is_blocked(ip("127.0.0.1")));
        assert!(!none.is_blocked(ip("10.0.0.1")));
    }

    #[test]
    fn private_blocks_every_address_that_is_not_global() {
        let private = blocked(r#"["private"]"#);
        for address in [
            "0.0.0.0",
            "10.10.10.10",
            "100.64.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.168.1.1",
            "::1",
            "::ffff:10.10.10.10",
            "fc00::f00d",
            "fe80::1",
        ] {
            assert!(private.is_blocked(ip(address)), "{address}");
        }
        assert!(!private.is_blocked(ip("140.82.112.3")));
        assert!(!private.is_blocked(ip("2606:4700::1")));
    }

    #[test]
    fn a_network_blocks_its_addresses_and_their_ipv6_forms() {
        let some = blocked(r#"["123.123.0.0/16"]"#);
        assert!(some.is_blocked(ip("123.123.1.2")));
        assert!(some.is_blocked(ip("::ffff:123.123.1.2")));
        assert!(!some.is_blocked(ip("123.100.1.2")));
        assert!(!some.is_blocked(ip("127.0.0.1")));
    }

    #[test]
    fn blocked_addresses_are_removed_from_a_resolution() {
        let private = blocked(r#"["private"]"#);
        let mut addrs: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().unwrap(),
            "140.82.112.3:443".parse().unwrap(),
        ];
        let removed = private.remove_blocked(&mut addrs);
        assert_eq!(removed, ["127.0.0.1:80".parse().unwrap()]);
        assert_eq!(addrs, ["140.82.112.3:443".parse().unwrap()]);
    }

    #[test]
    fn an_entry_that_is_neither_a_network_nor_private_is_refused() {
        let error =
            toml::from_str::<OutboundNetworkingTable>(r#"block_networks = ["local"]"#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected an IP network in CIDR notation or the keyword 'private'"),
            "{error}"
        );
        assert!(toml::from_str::<OutboundNetworkingTable>("other = 1").is_err());
    }
}
