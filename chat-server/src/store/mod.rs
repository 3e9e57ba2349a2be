//! Room history and presence, the state every instance must agree on: in Redis when REDISHOST
//! is set, in NATS JetStream with BUS=nats (both shared by all instances), otherwise in this
//! process's memory (one instance only).
//!
//! History is a capped, ordered log per room whose ids (`<ms>-<seq>`: Redis Stream ids, or
//! `0-<stream sequence>` in JetStream) let a reconnecting client ask for what it missed. Presence counts live sockets per (room, user) and
//! delays the "just left" notice by a grace period, so a quick reconnect anywhere stays silent.

pub mod memory;
pub mod nats;
pub mod redis;

use serde::{Deserialize, Serialize};

/// One chat message as stored and as sent in `message` events and history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub user: String,
    pub text: String,
    /// History id, `<ms>-<seq>`; strictly increasing within a room.
    pub id: String,
    /// Server time of receipt, milliseconds since the Unix epoch.
    pub ts: u64,
}

/// A presence whose grace period ran out without the user coming back: announce "just left".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueLeave {
    pub room: String,
    pub user: String,
}

/// Why a store operation failed (Redis or NATS unreachable, timed out, or answered with an error).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("nats: {0}")]
    Nats(String),
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
}

/// The backend in use. All have the same semantics; Redis and NATS are shared across instances.
#[derive(Clone)]
pub enum Store {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
    /// Behind an Arc: its JetStream handles carry the stream's cached info (kilobytes).
    Nats(std::sync::Arc<nats::NatsStore>),
}

impl Store {
    /// Persists a message and returns it with its history id and timestamp.
    pub async fn append(
        &self,
        room: &str,
        user: &str,
        text: &str,
    ) -> Result<ChatMessage, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.append(room, user, text)),
            Store::Redis(r) => r.append(room, user, text).await,
            Store::Nats(n) => n.append(room, user, text).await,
        }
    }

    /// The room's most recent messages (up to HISTORY_LIMIT), oldest first.
    pub async fn recent(&self, room: &str) -> Result<Vec<ChatMessage>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.recent(room)),
            Store::Redis(r) => r.recent(room).await,
            Store::Nats(n) => n.recent(room).await,
        }
    }

    /// The retained messages newer than `last_id`, oldest first.
    pub async fn since(&self, room: &str, last_id: &str) -> Result<Vec<ChatMessage>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.since(room, last_id)),
            Store::Redis(r) => r.since(room, last_id).await,
            Store::Nats(n) => n.since(room, last_id).await,
        }
    }

    /// Registers one more live socket of `user` in `room`. Returns true when this is a real
    /// arrival to announce: the user had no live socket and was not within a grace period.
    pub async fn join(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.join(room, user)),
            Store::Redis(r) => r.join(room, user).await,
            Store::Nats(n) => n.join(room, user).await,
        }
    }

    /// Unregisters one live socket. When it was the user's last, "just left" becomes due at
    /// `deadline_ms` unless the user joins again before then.
    pub async fn leave(&self, room: &str, user: &str, deadline_ms: u64) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                m.leave(room, user, deadline_ms);
                Ok(())
            }
            Store::Redis(r) => r.leave(room, user, deadline_ms).await,
            Store::Nats(n) => n.leave(room, user, deadline_ms).await,
        }
    }

    /// Claims the leave notices due at `now_ms` (each is handed to exactly one instance).
    pub async fn due_leaves(&self, now_ms: u64) -> Result<Vec<DueLeave>, StoreError> {
        match self {
            Store::Memory(m) => Ok(m.due_leaves(now_ms)),
            Store::Redis(r) => r.due_leaves(now_ms).await,
            Store::Nats(n) => n.due_leaves(now_ms).await,
        }
    }

    /// Whether the backend answers (for /readyz).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => r.ping().await,
            Store::Nats(n) => n.ping().await,
        }
    }
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The id to hand out after `last` at `now_ms`: `(now_ms, 0)`, or the next sequence number of
/// `last` when the clock has not moved past it (ids stay strictly increasing if it steps back).
pub fn next_id(last: (u64, u64), now_ms: u64) -> (u64, u64) {
    if now_ms > last.0 {
        (now_ms, 0)
    } else {
        (last.0, last.1 + 1)
    }
}

/// Parses a history id into a comparable (ms, seq) pair.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}
