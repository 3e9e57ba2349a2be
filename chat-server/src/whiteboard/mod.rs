//! The whiteboard, wire-compatible with socket.io's `examples/whiteboard`: a client emits
//! `drawing {x0, y0, x1, y1, color}` and every *other* client of the same board, on every
//! instance, receives it as `drawing`. On top of the example: boards by name, strokes kept
//! (capped) so a page that opens late or reconnects gets the board drawn so far
//! (`boardHistory {lastId?}`), `clearBoard` for everyone, validation and a per-socket rate limit
//! with error acks (the error is a string, as in chat).
//!
//! Which board a socket is on is decided at connect, from the handshake's auth and transport:
//! - auth `{board: "standup"}`: that board; auth `{chat: true}`: none (our chat page);
//! - any other auth (e.g. `{}`): the default board;
//! - no auth: the default board when the socket connected over long-polling (socket.io-client's
//!   plain `io()`, as the example's page uses it), none when it connected over WebSocket (the
//!   chat tutorial's page: `io('', {transports: ['websocket']})`).
//!
//! A socket that signs in to chat leaves its board, so chat sockets never get `drawing`.

pub mod board;
pub mod store;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use socketioxide::TransportType;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::{FromConnectParts, Value as RawValue};
use socketioxide::socket::Socket;

use crate::chat::{Ack, ChatState};
use crate::config::RateLimit;
use crate::metrics::Metrics;
use crate::ordering::Turn;
use crate::rate_limit::TokenBucket;
use crate::store::{Store, StoreError};
use crate::validate;
use board::{DEFAULT_BOARD, EntryKind, Segment};
use store::BoardStore;
use store::memory::MemoryBoards;
use store::nats::NatsBoards;
use store::redis::RedisBoards;

/// Prefix of a board's Socket.IO room. Chat room names never hold control characters (they are
/// stripped), so no chat room can be a board's room.
const ROOM_PREFIX: &str = "\u{0}board:";

const NOT_ON_A_BOARD: &str = "This connection is on no whiteboard: connect with auth {board: NAME} (or {} for the default board); a chat connection cannot draw";
const SAVE_FAILED: &str = "Could not save that on the board right now; please try again";

/// What the whiteboard handlers share.
pub struct WhiteboardState {
    pub store: BoardStore,
    pub rate_limit: RateLimit,
    pub metrics: Arc<Metrics>,
}

/// Shared handle to the whiteboard state, as registered with socketioxide.
pub type Whiteboard = Arc<WhiteboardState>;

impl WhiteboardState {
    /// The whiteboard beside this chat: the same backend (Redis connection, NATS JetStream or
    /// memory), settings and metrics.
    pub async fn beside(chat: &ChatState) -> Result<Whiteboard, StoreError> {
        let limit = chat.config.whiteboard_limit as usize;
        let store = match &chat.store {
            Store::Memory(_) => BoardStore::Memory(MemoryBoards::new(limit)),
            Store::Redis(redis) => BoardStore::Redis(RedisBoards::new(redis.connection(), limit)),
            Store::Nats(nats) => {
                BoardStore::Nats(Arc::new(NatsBoards::open(nats.jetstream(), limit).await?))
            }
        };
        Ok(Arc::new(WhiteboardState {
            store,
            rate_limit: chat.config.whiteboard_rate_limit,
            metrics: chat.metrics.clone(),
        }))
    }
}

/// The board a socket draws on, kept in the socket's extensions.
#[derive(Clone, Debug)]
struct OnBoard(String);

/// The socket's stroke budget (strokes and clears).
#[derive(Clone)]
struct StrokeBudget(Arc<Mutex<TokenBucket>>);

fn room_of(board: &str) -> String {
    format!("{ROOM_PREFIX}{board}")
}

/// The handshake's auth as the client sent it: `None` when the CONNECT packet carried none
/// (`TryData` cannot tell that from `{}`); JSON null when it was not JSON.
pub struct HandshakeAuth(Option<Value>);

impl<A: Adapter> FromConnectParts<A> for HandshakeAuth {
    type Error = Infallible;
    fn from_connect_parts(_: &Arc<Socket<A>>, auth: &Option<RawValue>) -> Result<Self, Infallible> {
        Ok(HandshakeAuth(auth.as_ref().map(|raw| match raw {
            RawValue::Str(text, _) => serde_json::from_str(text.as_str()).unwrap_or(Value::Null),
            RawValue::Bytes(_) => Value::Null,
        })))
    }
}

/// The board a socket is on (see the module comment): `Ok(None)` for a chat connection.
fn board_of(auth: Option<Value>, transport: TransportType) -> Result<Option<String>, String> {
    let fields = match auth {
        Some(Value::Object(fields)) => fields,
        Some(_) => return Ok(Some(DEFAULT_BOARD.into())),
        None if transport == TransportType::Polling => return Ok(Some(DEFAULT_BOARD.into())),
        None => return Ok(None),
    };
    if fields.get("chat") == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    match fields.get("board") {
        None | Some(Value::Null) => Ok(Some(DEFAULT_BOARD.into())),
        Some(name) => board::board_name(name).map(Some),
    }
}

/// Connect middleware (runs before the client is told it is connected): registers the
/// whiteboard events and puts the socket on its board. A bad board name refuses the connection
/// with a message saying what a valid one is.
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    HandshakeAuth(auth): HandshakeAuth,
    transport: TransportType,
    State(whiteboard): State<Whiteboard>,
) -> Result<(), String> {
    let board = board_of(auth, transport).inspect_err(|_| {
        whiteboard.metrics.rejected.inc();
    })?;
    socket
        .extensions
        .insert(StrokeBudget(Arc::new(Mutex::new(TokenBucket::new(
            whiteboard.rate_limit,
        )))));
    socket.on("drawing", drawing::<A>);
    socket.on("clearBoard", clear_board::<A>);
    socket.on("boardHistory", board_history::<A>);
    if let Some(board) = board {
        socket.join(room_of(&board));
        socket.extensions.insert(OnBoard(board));
    }
    Ok(())
}

/// Takes the socket off its board (it signed in to chat).
pub fn leave_board<A: Adapter>(socket: &Socket<A>) {
    if let Some(OnBoard(board)) = socket.extensions.remove::<OnBoard>() {
        socket.leave(room_of(&board));
    }
}

/// The socket's board, and a stroke from its budget; or the sentence to refuse the event with.
fn admit<A: Adapter>(socket: &Socket<A>, whiteboard: &WhiteboardState) -> Result<String, String> {
    let Some(OnBoard(board)) = socket.extensions.get::<OnBoard>() else {
        return Err(NOT_ON_A_BOARD.into());
    };
    let taken = match socket.extensions.get::<StrokeBudget>() {
        Some(StrokeBudget(bucket)) => bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_take(Instant::now()),
        None => Ok(()),
    };
    if let (Err(wait), RateLimit::PerWindow { count, window }) = (taken, whiteboard.rate_limit) {
        return Err(too_many(count, window, wait));
    }
    Ok(board)
}

fn too_many(count: u32, window: Duration, wait: Duration) -> String {
    format!(
        "Too many strokes: at most {count} per {}; try again in {:.1}s",
        humantime::format_duration(window),
        wait.as_secs_f64().max(0.1)
    )
}

/// `drawing {x0, y0, x1, y1, color}`: validate, store, send to the board's other sockets on
/// every instance, ack `(null, {id})` if asked.
async fn drawing<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    TryData(payload): TryData<Value>,
    ack: Ack<A>,
    State(whiteboard): State<Whiteboard>,
) {
    turn.wait().await;
    let change = board::segment(&payload.unwrap_or(Value::Null)).map(Change::Stroke);
    apply(&socket, &whiteboard, ack, change).await;
}

/// `clearBoard`: wipe the board for everyone (the sender included), ack `(null, {id})`.
async fn clear_board<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    ack: Ack<A>,
    State(whiteboard): State<Whiteboard>,
) {
    turn.wait().await;
    apply(&socket, &whiteboard, ack, Ok(Change::Clear)).await;
}

/// What a socket does to its board.
enum Change {
    Stroke(Segment),
    Clear,
}

impl Change {
    fn event(&self) -> &'static str {
        match self {
            Change::Stroke(_) => "drawing",
            Change::Clear => "clearBoard",
        }
    }
}

/// Admits the change (board, budget, validity), stores it, then broadcasts it (a stroke to the
/// others, a clear to everyone) and acks its id. Nothing is broadcast unless it is stored.
async fn apply<A: Adapter>(
    socket: &SocketRef<A>,
    whiteboard: &WhiteboardState,
    ack: Ack<A>,
    change: Result<Change, String>,
) {
    let event = match &change {
        Ok(change) => change.event(),
        Err(_) => "drawing",
    };
    let (board, change) = match admit(socket, whiteboard).and_then(|b| change.map(|c| (b, c))) {
        Ok(admitted) => admitted,
        Err(reason) => {
            whiteboard.metrics.rejected.inc();
            return refuse(ack, event, &reason);
        }
    };
    let room = room_of(&board);
    let (stored, to) = match change {
        Change::Stroke(segment) => (
            whiteboard.store.append(&board, segment).await,
            socket.to(room),
        ),
        Change::Clear => (whiteboard.store.clear(&board).await, socket.within(room)),
    };
    let entry = match stored {
        Ok(entry) => entry,
        Err(e) => {
            whiteboard.metrics.redis_errors.inc();
            tracing::error!(error = %e, event, "could not change a board");
            return refuse(ack, event, SAVE_FAILED);
        }
    };
    match entry.kind {
        EntryKind::Stroke(_) => whiteboard.metrics.strokes_in.inc(),
        EntryKind::Clear => whiteboard.metrics.board_clears.inc(),
    };
    if let Err(e) = to.emit(event, &entry.to_json()).await {
        // It is stored: pages get it with their next boardHistory.
        tracing::warn!(error = %e, id = entry.id, event, "broadcast failed; the entry is stored");
    }
    if ack.is_requested() {
        ack.send(event, &(Value::Null, json!({"id": entry.id})));
    }
}

/// Refuses an event: with an error ack if the client asked for one (logged, as in chat),
/// otherwise only a debug line: the example's client sends up to 100 strokes a second without
/// acks, and a flood must not flood the log too.
fn refuse<A: Adapter>(ack: Ack<A>, event: &str, reason: &str) {
    if ack.is_requested() {
        ack.error(event, reason);
    } else {
        tracing::debug!(event, reason, "whiteboard event refused (no ack asked)");
    }
}

/// `boardHistory {lastId?}`: ack `(null, {board, reset, lastId, entries})`, the whole board or
/// what followed `lastId`.
async fn board_history<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    TryData(payload): TryData<Value>,
    ack: Ack<A>,
    State(whiteboard): State<Whiteboard>,
) {
    turn.wait().await;
    let Some(OnBoard(board)) = socket.extensions.get::<OnBoard>() else {
        whiteboard.metrics.rejected.inc();
        return ack.error("boardHistory", NOT_ON_A_BOARD);
    };
    let last_id = match payload.ok().as_ref().and_then(|p| p.get("lastId")) {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if validate::is_history_id(id) => Some(id.clone()),
        Some(_) => {
            whiteboard.metrics.rejected.inc();
            return ack.error(
                "boardHistory",
                "lastId must be a stroke id such as \"1700000000000-0\"",
            );
        }
    };
    match whiteboard.store.since(&board, last_id.as_deref()).await {
        Ok(history) => ack.send("boardHistory", &(Value::Null, history.to_json(&board))),
        Err(e) => {
            whiteboard.metrics.redis_errors.inc();
            tracing::error!(error = %e, "could not read a board");
            ack.error(
                "boardHistory",
                "Could not load the board right now; please reload the page",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_decides_the_board() {
        let default = Ok(Some(DEFAULT_BOARD.to_string()));
        let ws = TransportType::Websocket;
        let polling = TransportType::Polling;
        assert_eq!(
            board_of(None, polling),
            default,
            "socket.io-client's plain io()"
        );
        assert_eq!(board_of(None, ws), Ok(None), "the chat tutorial's page");
        assert_eq!(
            board_of(Some(json!({})), ws),
            default,
            "an empty auth object"
        );
        assert_eq!(board_of(Some(json!({"chat": true})), polling), Ok(None));
        assert_eq!(
            board_of(Some(json!({"board": "standup"})), ws),
            Ok(Some("standup".into()))
        );
        assert_eq!(board_of(Some(json!({"board": null})), ws), default);
        assert!(board_of(Some(json!({"board": "a b"})), ws).is_err());
        assert_eq!(board_of(Some(json!("x")), ws), default);
    }
}
