//! A socketioxide-redis `Driver` that survives Redis restarts and `CLIENT KILL TYPE pubsub`.
//!
//! The crate's stock redis driver subscribes on a plain `MultiplexedConnection`: once that
//! connection drops, the node stays deaf to other instances until it is restarted. This driver
//! uses a RESP3 `ConnectionManager` with automatic re-subscription instead: when the connection
//! is lost (a disconnection push arrives), the manager reconnects with backoff and replays every
//! SUBSCRIBE, and the adapter's per-channel streams keep flowing from the new connection.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, FromRedisValue, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Publishes and subscribes for the Socket.IO Redis adapter over a self-healing connection.
#[derive(Clone)]
pub struct PubSubDriver {
    conn: ConnectionManager,
    handlers: Handlers,
}

impl PubSubDriver {
    /// Connects (bounded by `wait`) and starts routing pushed messages to the subscribed channels.
    pub async fn connect(
        client: redis::Client,
        metrics: Arc<Metrics>,
        wait: std::time::Duration,
    ) -> Result<Self, String> {
        let handlers: Handlers = Arc::default();
        let routes = handlers.clone();
        let config = crate::redis_client::manager_config()
            .set_push_sender(move |push: PushInfo| {
                route_push(push, &routes, &metrics);
                Ok::<(), std::convert::Infallible>(())
            })
            .set_automatic_resubscription();
        let conn = crate::redis_client::connect(client, config, wait).await?;
        Ok(Self { conn, handlers })
    }

    /// Asks Redis to answer, which also makes the manager reconnect if it lost the connection.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}

/// Hands one pushed message to the stream of its channel; notes lost connections.
fn route_push(push: PushInfo, handlers: &Handlers, metrics: &Metrics) {
    match push.kind {
        PushKind::Message => {
            let mut data = push.data.into_iter();
            let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                return;
            };
            let (Ok(chan), Ok(payload)) = (
                String::from_redis_value(chan),
                Vec::<u8>::from_redis_value(payload),
            ) else {
                tracing::warn!("ignoring a malformed pub/sub message from Redis");
                return;
            };
            let handlers = handlers.read().unwrap_or_else(|p| p.into_inner());
            if let Some(tx) = handlers.get(&chan)
                && let Err(e) = tx.try_send((chan, payload))
            {
                metrics.pubsub_dropped.inc();
                tracing::warn!(error = %e, "cross-instance message dropped: the adapter is not keeping up");
            }
        }
        PushKind::Disconnection => {
            metrics.redis_errors.inc();
            tracing::warn!("Redis pub/sub connection lost; reconnecting and re-subscribing");
        }
        PushKind::Subscribe => tracing::debug!(channel = ?push.data.first(), "subscribed"),
        _ => {}
    }
}

impl Driver for PubSubDriver {
    type Error = redis::RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.conn
            .clone()
            .publish::<_, _, redis::Value>(chan, val)
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan.clone(), tx);
        if let Err(e) = self.conn.clone().subscribe(chan.as_str()).await {
            self.handlers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&chan);
            return Err(e);
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan).await
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }
}
