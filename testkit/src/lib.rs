//! Test support shared by chatctl's, the emulator's and chat-bench's test suites: every loop
//! here is bounded in time, every child process dies with its handle, and everything talks to
//! loopback only.

pub mod http;
pub mod node;
pub mod ports;
pub mod process;
pub mod redis;

pub use ports::{free_port, port_free};
pub use process::{Process, wait_until};
pub use redis::RedisServer;
