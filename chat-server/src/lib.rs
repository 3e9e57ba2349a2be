//! chat-server: the bundled real-time chat service (axum + Socket.IO + Redis or NATS), wire-compatible
//! with the Cloud Run WebSocket chat tutorial. Other crates (tests, `chatctl up --local`) start
//! it with [`serve`] or [`spawn`] on a listener of their choosing.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod assets;
pub mod bus;
pub mod chat;
pub mod config;
pub mod delivery;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod nats_client;
pub mod nats_pubsub;
pub mod ordering;
pub mod pubsub;
pub mod rate_limit;
pub mod redis_client;
pub mod server;
pub mod store;
pub mod validate;
pub mod whiteboard;

pub use config::Config;
pub use server::{ServeError, ServerHandle, serve, spawn};
