//! `wasi:sockets` (WASI 0.2) as Spin 3.6.3 gives it to components, read off
//! crates/factor-wasi/src/lib.rs (wasmtime-wasi's sockets, linked for
//! every component, with `WasiCtxBuilder`'s defaults) and
//! crates/factor-outbound-networking/src/lib.rs (the one check Spin adds,
//! `outbound_socket_addr_check`), at wasmtime-wasi 42 like Spin:
//!
//! - Binding a TCP socket is refused: a component cannot listen.
//! - A TCP connect needs an `allowed_outbound_hosts` entry with scheme
//!   `tcp`, and UDP (bind, connect, send) one with scheme `udp`, matched
//!   against the address as Spin writes it, `ip:port` (`[ip]:port` for
//!   IPv6). So only entries that name IP addresses or networks (or `*`)
//!   can match; a host name in an entry never does.
//! - Then the runtime config's `block_networks` (see
//!   [`crate::blocked_networks`]).
//! - Name lookup (`wasi:sockets/ip-name-lookup`) stays off, wasmtime-wasi's
//!   default, which Spin does not change: every lookup, even of an IP
//!   literal, fails with `permanent-resolver-failure`. A component must
//!   connect to an IP address.
//!
//! A refused address is `access-denied` to the component (wasmtime-wasi's
//! mapping). A destination outside `allowed_outbound_hosts` is reported in
//! the log like any other outbound connection; a list that did not resolve
//! refuses every address without a report, as Spin's `unwrap_or(false)`
//! does. Nothing in Spin bounds a connect, a read or a write: the component
//! waits as long as it chooses, with `wasi:io/poll` and a timer.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;

use crate::blocked_networks::BlockedNetworks;
use crate::instance::ComponentRuntime;
use crate::logs::Logs;
use crate::outbound;

/// Spin's check of every socket address an instance of `component` uses,
/// for `WasiCtxBuilder::socket_addr_check`.
pub(crate) fn check(
    component: Arc<ComponentRuntime>,
    logs: Logs,
    blocked: Arc<BlockedNetworks>,
) -> impl Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
+ Send
+ Sync
+ 'static {
    move |address, usage| {
        let allowed = allows(&component, &logs, &blocked, address, usage);
        Box::pin(async move { allowed })
    }
}

fn allows(
    component: &ComponentRuntime,
    logs: &Logs,
    blocked: &BlockedNetworks,
    address: SocketAddr,
    usage: SocketAddrUse,
) -> bool {
    let scheme = match usage {
        SocketAddrUse::TcpBind => return false,
        SocketAddrUse::TcpConnect => "tcp",
        SocketAddrUse::UdpBind | SocketAddrUse::UdpConnect | SocketAddrUse::UdpOutgoingDatagram => {
            "udp"
        }
    };
    let listed = match component
        .allowed_hosts
        .check_url(&address.to_string(), scheme)
    {
        Ok(verdict) => outbound::report(logs, verdict),
        Err(_) => false,
    };
    if !listed {
        return false;
    }
    if blocked.is_blocked(address.ip()) {
        logs.line("host", "destination IP prohibited by runtime config");
        return false;
    }
    true
}
