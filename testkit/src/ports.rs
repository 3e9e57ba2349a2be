//! Loopback ports for test servers.

use std::net::TcpListener;

/// A loopback port nobody listens on right now (bound, then released). Another process may take
/// it before the child binds it; starters that can, retry on a new port then (see
/// [`crate::redis::RedisServer`]), or let the child pick its port and report it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a free loopback port")
}

/// Whether `port` can be bound on 127.0.0.1 again (nothing holds it).
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}
