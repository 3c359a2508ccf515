//! One TCP connection through `wasi:sockets` (WASI 0.2, which Spin 3.6.3
//! gives every component), where every wait ends at a deadline. WASI's
//! socket calls never block: a component waits with `poll`, on the
//! socket's pollable and a timer at once, so it decides itself how long a
//! connect, a write or a read may take.

use std::net::SocketAddr;

use wasi::clocks::monotonic_clock;
use wasi::io::poll::{self, Pollable};
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::{instance_network, tcp_create_socket};

/// A time on the monotonic clock, in nanoseconds.
pub type Instant = u64;

/// The most one read takes from the socket.
const READ_CHUNK: u64 = 64 * 1024;

/// Now, on the monotonic clock.
pub fn now() -> Instant {
    monotonic_clock::now()
}

/// Why a socket operation failed.
#[derive(Debug)]
pub enum Failure {
    /// The deadline passed first.
    TimedOut,
    /// The connection could not be made (refused, not allowed, no route…).
    Connect(ErrorCode),
    /// The peer closed the connection.
    Closed,
    /// Another error of the stream.
    Io(String),
}

impl From<StreamError> for Failure {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::Closed => Self::Closed,
            StreamError::LastOperationFailed(error) => Self::Io(error.to_debug_string()),
        }
    }
}

/// An open connection. The streams are fields before the socket: WASI
/// wants them dropped first.
#[derive(Debug)]
pub struct Socket {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
}

impl Socket {
    /// Connects to `address` (an IP address: components get no name
    /// lookup), giving up at `deadline`.
    pub fn connect(address: SocketAddr, deadline: Instant) -> Result<Self, Failure> {
        let network = instance_network::instance_network();
        let (family, remote) = match address {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: v4.port(),
                    address: (a, b, c, d),
                });
                (IpAddressFamily::Ipv4, remote)
            }
            SocketAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h] = v6.ip().segments();
                let remote = IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port: v6.port(),
                    flow_info: v6.flowinfo(),
                    address: (a, b, c, d, e, f, g, h),
                    scope_id: v6.scope_id(),
                });
                (IpAddressFamily::Ipv6, remote)
            }
        };
        let socket = tcp_create_socket::create_tcp_socket(family).map_err(Failure::Connect)?;
        socket
            .start_connect(&network, remote)
            .map_err(Failure::Connect)?;
        let (input, output) = {
            let connected = socket.subscribe();
            loop {
                match socket.finish_connect() {
                    Ok(streams) => break streams,
                    Err(ErrorCode::WouldBlock) => wait(&connected, deadline)?,
                    Err(code) => return Err(Failure::Connect(code)),
                }
            }
        };
        Ok(Self {
            input,
            output,
            _socket: socket,
        })
    }

    /// Writes all of `bytes`, and waits until they have left for the
    /// kernel: a write still under way when the instance ends would be
    /// lost with it.
    pub fn write_all(&self, mut bytes: &[u8], deadline: Instant) -> Result<(), Failure> {
        while !bytes.is_empty() {
            let permitted = self.output.check_write()?;
            if permitted == 0 {
                wait(&self.output.subscribe(), deadline)?;
                continue;
            }
            let take = bytes
                .len()
                .min(usize::try_from(permitted).unwrap_or(usize::MAX));
            self.output.write(&bytes[..take])?;
            bytes = &bytes[take..];
        }
        self.output.flush()?;
        while self.output.check_write()? == 0 {
            wait(&self.output.subscribe(), deadline)?;
        }
        Ok(())
    }

    /// Appends what the peer sent next to `buffer`, waiting for at least
    /// one byte until `deadline`.
    pub fn read_into(&self, buffer: &mut Vec<u8>, deadline: Instant) -> Result<(), Failure> {
        loop {
            let bytes = self.input.read(READ_CHUNK)?;
            if !bytes.is_empty() {
                buffer.extend_from_slice(&bytes);
                return Ok(());
            }
            wait(&self.input.subscribe(), deadline)?;
        }
    }
}

/// Waits until `ready` is, or `deadline` passes (then `TimedOut`).
fn wait(ready: &Pollable, deadline: Instant) -> Result<(), Failure> {
    let timer = monotonic_clock::subscribe_instant(deadline);
    if poll::poll(&[ready, &timer]).contains(&0) {
        Ok(())
    } else {
        Err(Failure::TimedOut)
    }
}
