//! Delivering chat messages to a room's members: on this instance directly, on the others through
//! one bus channel (Redis or NATS), one socket at a time, so that a member too slow to keep up is found and let go.
//!
//! Every socket has a bounded outgoing queue (socketioxide's `max_buffer_size`). socketioxide's
//! room broadcast reports a full queue without saying whose, and that member misses the message
//! but still gets the next ones, so replay from its last id after a reconnect would skip the gap.
//! Here a member whose queue is full gets nothing more, is disconnected with a logged reason, and
//! replays everything since its last message when it comes back (`updateSocketId` with `lastId`).
//! The same path measures how far behind the instance is, so `sendMessage` can shed load.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};

use crate::bus::{BusDriver, BusError};
use crate::metrics::Metrics;
use crate::store::{ChatMessage, now_ms};

/// The bus channel every instance publishes its accepted messages on.
const CHANNEL: &str = "chat:deliveries";
/// Messages from other instances waiting to be fanned out here before newer ones are dropped.
const RELAY_BUFFER: usize = 65_536;
/// Shed load (refuse new messages) once deliveries run this late...
const SHED_AFTER: Duration = Duration::from_millis(500);
/// ...until they are back under this.
const RECOVERED_UNDER: Duration = Duration::from_millis(100);
/// How often, and how many times, a full queue is retried for the disconnect packet; after that
/// the Engine.IO heartbeat (its ping cannot be queued either) closes the connection.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);
const DISCONNECT_ATTEMPTS: u32 = 100;

/// Marks a socket whose outgoing queue overflowed: it gets no more messages.
#[derive(Clone, Copy)]
struct Overflowed;

/// One message on its way to every instance.
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    /// The publishing instance (it has already delivered to its own sockets).
    from: u64,
    /// When it was published, ms since the epoch: how late the receiver is.
    sent_ms: u64,
    #[serde(borrow)]
    room: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    message: &'a RawValue,
}

/// Fan-out of chat messages for one instance.
pub struct Fanout {
    /// This instance's id on the channel (random per process).
    origin: u64,
    driver: Option<BusDriver>,
    metrics: Arc<Metrics>,
    shedding: AtomicBool,
}

impl Fanout {
    /// Fan-out on this instance only (memory mode).
    pub fn local(metrics: Arc<Metrics>) -> Self {
        Self {
            origin: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
            driver: None,
            metrics,
            shedding: AtomicBool::new(false),
        }
    }

    /// Fan-out across the instances sharing `driver`'s bus; returns the stream of the other
    /// instances' messages, to be handed to [`relay`].
    pub async fn shared(
        driver: BusDriver,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, MessageStream<ChanItem>), BusError> {
        let stream = driver.subscribe(CHANNEL.to_string(), RELAY_BUFFER).await?;
        let fanout = Self {
            driver: Some(driver),
            ..Self::local(metrics)
        };
        Ok((fanout, stream))
    }

    /// Whether the instance is too far behind to take new messages.
    pub fn shedding(&self) -> bool {
        self.shedding.load(Ordering::Relaxed)
    }

    /// Sends an accepted message to every member of `room`, on every instance. An error means
    /// the other instances may not have it (it is stored: they get it on their next replay).
    pub async fn deliver<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        room: &str,
        message: &ChatMessage,
    ) -> Result<(), String> {
        let encoded = serde_json::value::to_raw_value(message).map_err(|e| e.to_string())?;
        to_local_members(io, &self.metrics, room, &encoded);
        let Some(driver) = &self.driver else {
            return Ok(());
        };
        let envelope = Envelope {
            from: self.origin,
            sent_ms: now_ms(),
            room: room.into(),
            message: &encoded,
        };
        let payload = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
        driver
            .publish(CHANNEL.to_string(), payload)
            .await
            .map_err(|e| e.to_string())
    }

    /// Notes how late a relayed message arrived and starts or stops shedding load.
    fn observe_lag(&self, lag: Duration) {
        if lag > SHED_AFTER && !self.shedding.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                lag_ms = lag.as_millis() as u64,
                "deliveries are running late: refusing new messages until they catch up"
            );
        } else if lag < RECOVERED_UNDER && self.shedding.swap(false, Ordering::Relaxed) {
            tracing::info!("deliveries caught up: accepting messages again");
        }
    }
}

/// Fans out the other instances' messages to this instance's sockets until the stream ends.
pub async fn relay<A: Adapter>(
    io: SocketIo<A>,
    fanout: Arc<Fanout>,
    stream: MessageStream<ChanItem>,
) {
    let mut stream = std::pin::pin!(stream);
    while let Some((_, payload)) = stream.next().await {
        let envelope: Envelope<'_> = match serde_json::from_slice(&payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable relayed message");
                continue;
            }
        };
        if envelope.from == fanout.origin {
            continue;
        }
        fanout.observe_lag(Duration::from_millis(
            now_ms().saturating_sub(envelope.sent_ms),
        ));
        to_local_members(&io, &fanout.metrics, &envelope.room, envelope.message);
    }
}

/// Queues the encoded message for each socket of `room` on this instance.
fn to_local_members<A: Adapter>(
    io: &SocketIo<A>,
    metrics: &Metrics,
    room: &str,
    message: &RawValue,
) {
    // No namespace: the server is closing and has no sockets left.
    let Some(root) = io.of("/") else {
        return;
    };
    for socket in root.to(room.to_string()).sockets() {
        send_or_let_go(&socket, metrics, message);
    }
}

/// Queues one `message` event for `socket`. A full queue means the client is not keeping up: it
/// gets nothing more and is disconnected, so that its replay on reconnect has no gap. Returns
/// whether the message was queued.
pub fn send_or_let_go<A: Adapter, T: Serialize + ?Sized>(
    socket: &SocketRef<A>,
    metrics: &Metrics,
    message: &T,
) -> bool {
    if socket.extensions.get::<Overflowed>().is_some() {
        return false;
    }
    match socket.emit("message", message) {
        Ok(()) => true,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            socket.extensions.insert(Overflowed);
            metrics.slow_consumers.inc();
            tracing::warn!(
                sid = %socket.id,
                "disconnecting a client too slow to keep up: its outgoing queue is full (it replays what it missed when it reconnects)"
            );
            tokio::spawn(disconnect_when_possible(socket.clone()));
            false
        }
        Err(_) => false,
    }
}

/// Sends the disconnect packet as soon as the full queue has room for it (bounded).
async fn disconnect_when_possible<A: Adapter>(socket: SocketRef<A>) {
    for _ in 0..DISCONNECT_ATTEMPTS {
        match socket.clone().disconnect() {
            Err(SocketError::InternalChannelFull) => tokio::time::sleep(DISCONNECT_RETRY).await,
            _ => return,
        }
    }
    tracing::info!(sid = %socket.id, "queue still full; the heartbeat will close the connection");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_when_deliveries_run_late_and_stops_once_caught_up() {
        let fanout = Fanout::local(Arc::new(Metrics::default()));
        fanout.observe_lag(Duration::from_millis(20));
        assert!(!fanout.shedding());
        fanout.observe_lag(SHED_AFTER + Duration::from_millis(1));
        assert!(fanout.shedding());
        // Between the two thresholds nothing changes.
        fanout.observe_lag(Duration::from_millis(300));
        assert!(fanout.shedding());
        fanout.observe_lag(Duration::from_millis(50));
        assert!(!fanout.shedding());
    }
}
