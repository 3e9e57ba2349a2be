//! The chat protocol of the Cloud Run tutorial, on socketioxide: `signin`, `sendMessage`,
//! `updateSocketId` in; `message` and `notification` out. Every event with an ack gets an answer
//! (an error is always a string), whatever the client sent; an event without one is logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::{DisconnectReason, Socket};

use crate::config::{Config, RateLimit};
use crate::delivery::{self, Fanout};
use crate::metrics::Metrics;
use crate::ordering::{Line, Turn};
use crate::rate_limit::TokenBucket;
use crate::store::{ChatMessage, Store, now_ms};
use crate::validate::{self, Identity};

/// The tutorial's reply to `sendMessage` before `signin`.
pub const NO_SESSION: &str = "User session not found.";
/// The reply to `sendMessage` while the instance sheds load (the message was not stored).
pub const SHEDDING: &str =
    "The chat is overloaded right now; please send your message again in a moment";

/// What the handlers share: the store, the settings, the metrics and the message fan-out.
pub struct ChatState {
    pub store: Store,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub fanout: Arc<Fanout>,
}

/// Shared handle to the chat state, as registered with socketioxide.
pub type Chat = Arc<ChatState>;

/// Who a socket signed in as, kept in the socket's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    user: String,
    room: String,
}

/// The socket's message budget.
#[derive(Clone)]
struct Budget(Arc<Mutex<TokenBucket>>);

/// An ack that also knows whether the client asked for one, so a missing ack can be logged.
pub struct Ack<A: Adapter> {
    sender: AckSender<A>,
    requested: bool,
}

impl<A: Adapter> FromMessageParts<A> for Ack<A> {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        let sender = AckSender::from_message_parts(s, v, ack_id)?;
        Ok(Ack {
            sender,
            requested: ack_id.is_some(),
        })
    }
}

impl<A: Adapter> Ack<A> {
    /// Whether the client sent an ack callback.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested
    }

    /// Answers with `data` (a tuple becomes several ack arguments).
    pub(crate) fn send<T: Serialize + ?Sized>(self, event: &str, data: &T) {
        if !self.requested {
            tracing::info!(event, "client sent no ack callback; nothing to answer");
            return;
        }
        if let Err(e) = self.sender.send(data) {
            tracing::warn!(event, error = %e, "could not send the ack");
        }
    }

    /// Answers with an error as the tutorial does: the reason, a string, as the only argument
    /// (`cb('User session not found.')`), or followed by `null` for `signin` (`cb(err, null)`).
    pub(crate) fn error(self, event: &str, reason: &str) {
        tracing::info!(event, reason, "event refused");
        if event == "signin" {
            self.send(event, &(reason, Value::Null));
        } else {
            self.send(event, &(reason,));
        }
    }

    /// Answers success with no arguments, like the tutorial's `cb()`.
    fn done(self, event: &str) {
        self.send(event, &[(); 0]);
    }
}

fn entered(user: &str) -> Value {
    json!({"title": "Someone's here", "description": format!("{user} just entered the room")})
}

fn left(user: &str) -> Value {
    json!({"title": "Someone just left", "description": format!("{user} just left the room")})
}

/// Prepares a socket before the client is told it is connected. This runs as connect
/// middleware (awaited before the CONNECT packet goes out): socketioxide spawns the connect
/// handler only after sending CONNECT, so handlers registered there could miss the client's
/// first events.
pub async fn prepare_socket<A: Adapter>(
    socket: SocketRef<A>,
    State(chat): State<Chat>,
) -> Result<(), std::convert::Infallible> {
    socket.extensions.insert(Line::default());
    socket
        .extensions
        .insert(Budget(Arc::new(Mutex::new(TokenBucket::new(
            chat.config.rate_limit,
        )))));
    socket.on("signin", signin::<A>);
    socket.on("sendMessage", send_message::<A>);
    socket.on("updateSocketId", update_socket_id::<A>);
    socket.on_fallback(unknown_event::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    Ok(())
}

/// Counts a connected socket (its handlers are already in place).
pub async fn on_connect(State(chat): State<Chat>) {
    chat.metrics.connections.inc();
}

/// `signin {user, room}`: join, tell the others, ack `(null, history)`.
async fn signin<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    TryData(payload): TryData<Value>,
    ack: Ack<A>,
    State(chat): State<Chat>,
) {
    turn.wait().await;
    let identity = match identity_of(&chat, payload) {
        Ok(identity) => identity,
        Err(reason) => return ack.error("signin", &reason),
    };
    let announce = match register(&socket, &chat, &identity).await {
        Ok(announce) => announce,
        Err(reason) => return ack.error("signin", &reason),
    };
    if announce
        && let Err(e) = socket
            .to(identity.room.clone())
            .emit("notification", &entered(&identity.user))
            .await
    {
        tracing::warn!(error = %e, "could not announce an arrival");
    }
    match chat.store.recent(&identity.room).await {
        Ok(messages) => {
            let history = (!messages.is_empty())
                .then(|| json!({"room": identity.room, "messages": messages}));
            ack.send("signin", &(Value::Null, history));
        }
        Err(e) => {
            chat.metrics.redis_errors.inc();
            tracing::error!(error = %e, "could not read history");
            ack.error(
                "signin",
                "Could not load the room history right now; please sign in again",
            );
        }
    }
}

/// Validates a `{user, room, lastId?}` payload; a payload that could not even be decoded
/// (none at all, binary) gets the same sentence as a wrong-shaped one.
fn identity_of(
    chat: &ChatState,
    payload: Result<Value, socketioxide::ParserError>,
) -> Result<Identity, String> {
    let identity = validate::identity(&payload.unwrap_or(Value::Null));
    if identity.is_err() {
        chat.metrics.rejected.inc();
    }
    identity
}

/// `sendMessage "text"`: store, broadcast to the room (sender included, every instance), ack `()`.
async fn send_message<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    io: SocketIo<A>,
    TryData(payload): TryData<Value>,
    ack: Ack<A>,
    State(chat): State<Chat>,
) {
    turn.wait().await;
    let received = Instant::now();
    let Some(session) = socket.extensions.get::<Session>() else {
        chat.metrics.rejected.inc();
        return ack.error("sendMessage", NO_SESSION);
    };
    if let Err(wait) = take_token(&socket) {
        chat.metrics.rejected.inc();
        let RateLimit::PerWindow { count, window } = chat.config.rate_limit else {
            return;
        };
        let reason = format!(
            "Too many messages: at most {count} per {}; try again in {:.1}s",
            humantime::format_duration(window),
            wait.as_secs_f64().max(0.1)
        );
        return ack.error("sendMessage", &reason);
    }
    let text = match validate::message_text(
        &payload.unwrap_or(Value::Null),
        chat.config.max_message_len as usize,
    ) {
        Ok(text) => text,
        Err(reason) => {
            chat.metrics.rejected.inc();
            return ack.error("sendMessage", &reason);
        }
    };
    if chat.fanout.shedding() {
        chat.metrics.shed.inc();
        return ack.error("sendMessage", SHEDDING);
    }
    let message = match chat.store.append(&session.room, &session.user, &text).await {
        Ok(message) => message,
        Err(e) => {
            chat.metrics.redis_errors.inc();
            tracing::error!(error = %e, "could not store a message");
            return ack.error(
                "sendMessage",
                "Could not save your message right now; please send it again",
            );
        }
    };
    chat.metrics.messages_in.inc();
    if let Err(e) = chat.fanout.deliver(&io, &session.room, &message).await {
        // It is stored: clients get it on their next reconnect (updateSocketId with lastId).
        chat.metrics.redis_errors.inc();
        tracing::warn!(error = %e, id = message.id, "broadcast failed; the message is in history");
    }
    chat.metrics.messages_out.inc();
    chat.metrics
        .delivery_seconds
        .observe(received.elapsed().as_secs_f64());
    ack.done("sendMessage");
}

/// `updateSocketId {user, room, lastId?}`: silently re-register a reconnected socket and replay
/// what it missed since `lastId`, in order.
async fn update_socket_id<A: Adapter>(
    socket: SocketRef<A>,
    mut turn: Turn,
    TryData(payload): TryData<Value>,
    ack: Ack<A>,
    State(chat): State<Chat>,
) {
    turn.wait().await;
    let identity = match identity_of(&chat, payload) {
        Ok(identity) => identity,
        Err(reason) => return ack.error("updateSocketId", &reason),
    };
    if let Err(reason) = register(&socket, &chat, &identity).await {
        return ack.error("updateSocketId", &reason);
    }
    if let Some(last_id) = &identity.last_id {
        match chat.store.since(&identity.room, last_id).await {
            Ok(missed) => replay(&socket, &chat, &missed),
            Err(e) => {
                chat.metrics.redis_errors.inc();
                tracing::error!(error = %e, "could not read missed messages");
                return ack.error(
                    "updateSocketId",
                    "Could not fetch the messages you missed; please sign in again",
                );
            }
        }
    }
    ack.done("updateSocketId");
}

/// Sends stored messages to one socket, oldest first.
fn replay<A: Adapter>(socket: &SocketRef<A>, chat: &ChatState, missed: &[ChatMessage]) {
    for message in missed {
        if !delivery::send_or_let_go(socket, &chat.metrics, message) {
            tracing::warn!("replay interrupted: the socket's queue is full or it closed");
            return;
        }
        chat.metrics.messages_out.inc();
    }
    if !missed.is_empty() {
        tracing::debug!(count = missed.len(), "replayed missed messages");
    }
}

/// Puts the socket in the room and records presence. Returns whether to announce an arrival.
/// A socket that was in another room (or under another name) leaves it first.
async fn register<A: Adapter>(
    socket: &SocketRef<A>,
    chat: &ChatState,
    identity: &Identity,
) -> Result<bool, String> {
    let session = Session {
        user: identity.user.clone(),
        room: identity.room.clone(),
    };
    let previous = socket.extensions.get::<Session>();
    if previous.as_ref() == Some(&session) {
        return Ok(false);
    }
    if let Some(previous) = previous {
        socket.extensions.remove::<Session>();
        socket.leave(previous.room.clone());
        schedule_leave(chat, &previous, chat.config.reconnect_grace).await;
    }
    // Join before reading anything, so no message falls between history and live delivery.
    socket.join(session.room.clone());
    // A chat socket is on no whiteboard: it must never get `drawing`.
    crate::whiteboard::leave_board(socket);
    match chat.store.join(&session.room, &session.user).await {
        Ok(announce) => {
            socket.extensions.insert(session);
            Ok(announce)
        }
        Err(e) => {
            socket.leave(session.room);
            chat.metrics.redis_errors.inc();
            tracing::error!(error = %e, "could not record presence");
            Err("The chat is unavailable right now; please try again in a moment".into())
        }
    }
}

/// Records that a session ended; "just left" follows after `grace` unless it comes back.
async fn schedule_leave(chat: &ChatState, session: &Session, grace: Duration) {
    let deadline = now_ms() + grace.as_millis() as u64;
    if let Err(e) = chat
        .store
        .leave(&session.room, &session.user, deadline)
        .await
    {
        chat.metrics.redis_errors.inc();
        tracing::error!(error = %e, "could not record a departure");
    }
}

fn take_token<A: Adapter>(socket: &SocketRef<A>) -> Result<(), Duration> {
    match socket.extensions.get::<Budget>() {
        Some(Budget(bucket)) => bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_take(Instant::now()),
        None => Ok(()),
    }
}

async fn unknown_event<A: Adapter>(Event(event): Event, ack: Ack<A>) {
    tracing::debug!(event, "unknown event");
    ack.error(
        &event,
        "Unknown event: use signin, sendMessage or updateSocketId (chat), drawing, clearBoard or boardHistory (whiteboard)",
    );
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    reason: DisconnectReason,
    io: SocketIo<A>,
    State(chat): State<Chat>,
) {
    chat.metrics.connections.dec();
    tracing::debug!(?reason, "socket disconnected");
    // Let events still in flight (a signin being registered) finish first.
    let mut turn = Turn::take(&socket);
    turn.wait().await;
    let Some(session) = socket.extensions.remove::<Session>() else {
        return;
    };
    if left_on_purpose(&reason) {
        leave_now(&io, &chat, &session).await;
    } else {
        schedule_leave(&chat, &session, chat.config.reconnect_grace).await;
    }
}

/// Whether the client ended the connection itself (`socket.disconnect()`, an Engine.IO close
/// packet, a WebSocket close frame): it is gone, not coming back. A transport that dropped
/// (network error, missed heartbeats), a bad packet or the server's own doing gets the grace
/// period, since socket.io-client reconnects after those.
fn left_on_purpose(reason: &DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::ClientNSDisconnect | DisconnectReason::TransportClose
    )
}

/// Records a departure due at once and announces it now (on every instance) instead of at the
/// next sweep. Another socket of the same user in the room keeps the user present, as always.
async fn leave_now<A: Adapter>(io: &SocketIo<A>, chat: &ChatState, session: &Session) {
    schedule_leave(chat, session, Duration::ZERO).await;
    announce_due_leaves(io, chat).await;
}

/// Closes every client transport of this instance (so socket.io-client reconnects, on Cloud Run
/// to another instance) and records each signed-in socket's departure, as a disconnect would:
/// socketioxide does not run disconnect handlers when the server closes.
pub async fn close_all<A: Adapter>(io: &SocketIo<A>, chat: &ChatState) {
    let sessions: Vec<Session> = io
        .sockets()
        .iter()
        .filter_map(|s| s.extensions.remove::<Session>())
        .collect();
    io.close().await;
    futures::future::join_all(
        sessions
            .iter()
            .map(|session| schedule_leave(chat, session, chat.config.reconnect_grace)),
    )
    .await;
    tracing::info!(departures = sessions.len(), "client transports closed");
}

/// Announces "just left" for every presence whose grace period ran out, on any instance's
/// behalf (claims are atomic), until the task is aborted.
pub async fn announce_leaves<A: Adapter>(io: SocketIo<A>, chat: Chat) {
    let period =
        (chat.config.reconnect_grace / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        announce_due_leaves(&io, &chat).await;
    }
}

/// Claims the departures that are due now and tells their rooms (every instance). While the
/// server closes (no namespace left), it claims nothing: another instance announces them.
async fn announce_due_leaves<A: Adapter>(io: &SocketIo<A>, chat: &ChatState) {
    let Some(root) = io.of("/") else {
        return;
    };
    let due = match chat.store.due_leaves(now_ms()).await {
        Ok(due) => due,
        Err(e) => {
            chat.metrics.redis_errors.inc();
            tracing::warn!(error = %e, "could not check for departures");
            return;
        }
    };
    for leave in due {
        if let Err(e) = root
            .clone()
            .to(leave.room.clone())
            .emit("notification", &left(&leave.user))
            .await
        {
            tracing::warn!(error = %e, "could not announce a departure");
        }
    }
}
