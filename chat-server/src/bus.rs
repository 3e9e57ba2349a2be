//! The message bus the instances broadcast through, whichever BUS names: Redis pub/sub or NATS
//! subjects. One `Driver` for the Socket.IO adapter and the chat deliveries, so neither the
//! socket handlers nor the fan-out know which one is in use.

use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};

use crate::nats_pubsub::{NatsDriver, NatsError};
use crate::pubsub::PubSubDriver;

/// The cross-instance bus of a shared (non-memory) instance.
#[derive(Clone)]
pub enum BusDriver {
    Redis(PubSubDriver),
    Nats(NatsDriver),
}

/// Why a publish, subscribe or count on the bus failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Nats(#[from] NatsError),
}

impl BusDriver {
    /// The bus's name as BUS spells it, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            BusDriver::Redis(_) => "redis",
            BusDriver::Nats(_) => "nats",
        }
    }

    /// Whether the bus answers (for /readyz); also makes a lost connection reconnect.
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            BusDriver::Redis(driver) => driver.ping().await.map_err(|e| e.to_string()),
            BusDriver::Nats(driver) => driver.ping().await,
        }
    }
}

impl Driver for BusDriver {
    type Error = BusError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        match self {
            BusDriver::Redis(d) => Ok(d.publish(chan, val).await?),
            BusDriver::Nats(d) => Ok(d.publish(chan, val).await?),
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        match self {
            BusDriver::Redis(d) => Ok(d.subscribe(chan, size).await?),
            BusDriver::Nats(d) => Ok(d.subscribe(chan, size).await?),
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        match self {
            BusDriver::Redis(d) => Ok(d.unsubscribe(chan).await?),
            BusDriver::Nats(d) => Ok(d.unsubscribe(chan).await?),
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        match self {
            BusDriver::Redis(d) => Ok(d.num_serv(chan).await?),
            BusDriver::Nats(d) => Ok(d.num_serv(chan).await?),
        }
    }
}
