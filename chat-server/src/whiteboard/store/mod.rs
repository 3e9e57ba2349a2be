//! Each whiteboard's strokes, the state every instance must agree on: in Redis when REDISHOST is
//! set, in NATS JetStream with BUS=nats (both shared by all instances), otherwise in this
//! process's memory (one instance only).
//!
//! A board is a capped, ordered log (ids `<ms>-<seq>`, Redis Stream ids, like chat history) of
//! strokes and clears. A clear drops every older entry and is itself logged, so a client that
//! was away learns of it. A client that gives the last id it saw gets only what followed; when
//! something it never saw was dropped meanwhile (the cap, a clear), it gets the whole board.

pub mod memory;
pub mod nats;
pub mod redis;

use super::board::{BoardEntry, BoardHistory, Segment};
use crate::store::StoreError;

/// The backend in use. All have the same semantics; Redis and NATS are shared across instances.
#[derive(Clone)]
pub enum BoardStore {
    Memory(memory::MemoryBoards),
    Redis(redis::RedisBoards),
    /// Behind an Arc: its JetStream handle carries the stream's cached info (kilobytes).
    Nats(std::sync::Arc<nats::NatsBoards>),
}

impl BoardStore {
    /// Persists a segment and returns it with its id.
    pub async fn append(&self, board: &str, segment: Segment) -> Result<BoardEntry, StoreError> {
        match self {
            BoardStore::Memory(m) => Ok(m.append(board, segment)),
            BoardStore::Redis(r) => r.append(board, segment).await,
            BoardStore::Nats(n) => n.append(board, segment).await,
        }
    }

    /// Wipes the board; the returned clear entry is what the other clients are sent.
    pub async fn clear(&self, board: &str) -> Result<BoardEntry, StoreError> {
        match self {
            BoardStore::Memory(m) => Ok(m.clear(board)),
            BoardStore::Redis(r) => r.clear(board).await,
            BoardStore::Nats(n) => n.clear(board).await,
        }
    }

    /// The board as a client that last saw `last_id` (None: nothing) needs it.
    pub async fn since(
        &self,
        board: &str,
        last_id: Option<&str>,
    ) -> Result<BoardHistory, StoreError> {
        match self {
            BoardStore::Memory(m) => Ok(m.since(board, last_id)),
            BoardStore::Redis(r) => r.since(board, last_id).await,
            BoardStore::Nats(n) => n.since(board, last_id).await,
        }
    }
}
