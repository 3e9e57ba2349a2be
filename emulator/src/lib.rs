//! emulator: a faithful local stand-in for the Google Cloud REST APIs chatctl calls, served on
//! one port under their real paths. See CORE.md for how it is put together.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use emulator::{Emulator, EmulatorConfig, NoRuntime};
//! let config = EmulatorConfig { time_scale: 0.01, allow_anonymous: true, ..Default::default() };
//! let handle = Emulator::start("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap(), config, Arc::new(NoRuntime)).await?;
//! println!("APIs at {}", handle.base_url());
//! handle.shutdown().await
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod access;
mod apis;
mod auth;
mod config;
mod error;
mod faults;
mod json;
mod ops;
mod policy;
mod projects;
mod reqlog;
mod roles;
mod router;
mod runtime;
mod server;
mod state;
mod validate;
mod world;

pub use config::{EmulatorConfig, FaultConfig, ScriptedFault};
pub use error::Code;
pub use runtime::{HookFuture, NoRuntime, RedisEndpoint, RedisInstanceInfo, Runtime, ServiceInfo};
pub use server::{Emulator, EmulatorHandle, Listen};
