//! A socketioxide-redis `Driver` over NATS core subjects, so that with BUS=nats the Socket.IO
//! adapter (room broadcasts, notices, whiteboard strokes) and the chat deliveries go through
//! NATS exactly as they go through Redis pub/sub with BUS=redis.
//!
//! Each adapter channel is one subject, `chat.bus.<channel in hex>` (channel names hold `.`,
//! `#` and `/`, which a subject must not be split on). async-nats re-subscribes by itself after
//! a reconnect. Redis answers PUBSUB NUMSUB for the adapter's server count; NATS has no such
//! command, so every subscriber also answers "here" on `chat.bus.count.<channel in hex>` and
//! the count is the number of answers within a short window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// How long a server count waits for the answers.
const COUNT_WINDOW: Duration = Duration::from_millis(250);
/// At most this many answers are counted (a bound, not an expected size).
const COUNT_MAX: usize = 1024;

/// Why a NATS publish or subscribe failed.
#[derive(Debug, thiserror::Error)]
#[error("nats: {0}")]
pub struct NatsError(pub String);

/// The tasks forwarding one subscription (messages, count answers); aborted on unsubscribe.
struct Forwarders(Vec<JoinHandle<()>>);

impl Drop for Forwarders {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Publishes and subscribes for the Socket.IO adapter over a NATS connection.
#[derive(Clone)]
pub struct NatsDriver {
    client: Client,
    metrics: Arc<Metrics>,
    subscriptions: Arc<Mutex<HashMap<String, Forwarders>>>,
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn subject(chan: &str) -> String {
    format!("chat.bus.{}", hex(chan))
}

fn count_subject(chan: &str) -> String {
    format!("chat.bus.count.{}", hex(chan))
}

impl NatsDriver {
    /// A driver over an established connection.
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            metrics,
            subscriptions: Arc::default(),
        }
    }

    /// The connection, for the stores that share it.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the connection is up and NATS answers.
    pub async fn ping(&self) -> Result<(), String> {
        crate::nats_client::ping(&self.client, crate::nats_client::RESPONSE_TIMEOUT).await
    }
}

impl Driver for NatsDriver {
    type Error = NatsError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.client
            .publish(subject(&chan), val.into())
            .await
            .map_err(|e| NatsError(e.to_string()))
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let mut messages = self
            .client
            .subscribe(subject(&chan))
            .await
            .map_err(|e| NatsError(e.to_string()))?;
        let mut counts = self
            .client
            .subscribe(count_subject(&chan))
            .await
            .map_err(|e| NatsError(e.to_string()))?;
        let (tx, rx) = mpsc::channel(size.max(1));
        let metrics = self.metrics.clone();
        let name = chan.clone();
        let forward = tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                match tx.try_send((name.clone(), message.payload.to_vec())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        metrics.pubsub_dropped.inc();
                        tracing::warn!(
                            "cross-instance message dropped: the adapter is not keeping up"
                        );
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
        });
        let client = self.client.clone();
        let answer = tokio::spawn(async move {
            while let Some(request) = counts.next().await {
                if let Some(reply) = request.reply
                    && let Err(e) = client.publish(reply, bytes::Bytes::new()).await
                {
                    tracing::debug!(error = %e, "could not answer a server count");
                }
            }
        });
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan, Forwarders(vec![forward, answer]));
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        // Dropping the forwarders aborts their tasks, which drops (unsubscribes) the subscribers.
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let inbox = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| NatsError(e.to_string()))?;
        self.client
            .publish_with_reply(count_subject(chan), inbox, bytes::Bytes::new())
            .await
            .map_err(|e| NatsError(e.to_string()))?;
        let mut count = 0usize;
        let window = tokio::time::sleep(COUNT_WINDOW);
        tokio::pin!(window);
        while count < COUNT_MAX {
            tokio::select! {
                answer = answers.next() => match answer {
                    Some(_) => count += 1,
                    None => break,
                },
                () = &mut window => break,
            }
        }
        Ok(u16::try_from(count).unwrap_or(u16::MAX))
    }
}
