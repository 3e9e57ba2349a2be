//! Prometheus metrics of one instance, rendered as text at /metrics.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The counters the handlers update. Cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    /// Socket.IO connections open on this instance.
    pub connections: Gauge,
    /// `sendMessage` events accepted (stored and broadcast).
    pub messages_in: Counter,
    /// `message` events sent by this instance: broadcasts it published plus replayed history.
    pub messages_out: Counter,
    /// Events refused: validation, rate limit, no session.
    pub rejected: Counter,
    /// Failed Redis operations and lost Redis connections (NATS and JetStream ones with BUS=nats).
    pub redis_errors: Counter,
    /// Cross-instance messages dropped because the adapter could not keep up.
    pub pubsub_dropped: Counter,
    /// Whiteboard `drawing` events accepted (stored and broadcast).
    pub strokes_in: Counter,
    /// Whiteboard clears accepted.
    pub board_clears: Counter,
    /// Sockets disconnected because their outgoing queue was full.
    pub slow_consumers: Counter,
    /// `sendMessage` events refused because the instance was shedding load.
    pub shed: Counter,
    /// Seconds from receiving a `sendMessage` to handing the stored message to the broadcast.
    pub delivery_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chat");
        let connections = Gauge::default();
        let messages_in = Counter::default();
        let messages_out = Counter::default();
        let rejected = Counter::default();
        let redis_errors = Counter::default();
        let pubsub_dropped = Counter::default();
        let strokes_in = Counter::default();
        let board_clears = Counter::default();
        let slow_consumers = Counter::default();
        let shed = Counter::default();
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let delivery_seconds = Histogram::new(buckets);
        registry.register(
            "connections",
            "Socket.IO connections open on this instance",
            connections.clone(),
        );
        registry.register(
            "messages_in",
            "sendMessage events accepted (stored and broadcast)",
            messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "message events sent: broadcasts published by this instance plus replayed history",
            messages_out.clone(),
        );
        registry.register(
            "rejected",
            "events refused (validation, rate limit, no session)",
            rejected.clone(),
        );
        registry.register(
            "redis_errors",
            "failed Redis operations and lost Redis connections",
            redis_errors.clone(),
        );
        registry.register(
            "pubsub_dropped",
            "cross-instance messages dropped because the adapter could not keep up",
            pubsub_dropped.clone(),
        );
        registry.register(
            "strokes_in",
            "whiteboard drawing events accepted (stored and broadcast)",
            strokes_in.clone(),
        );
        registry.register(
            "board_clears",
            "whiteboard clears accepted",
            board_clears.clone(),
        );
        registry.register(
            "slow_consumers",
            "sockets disconnected because their outgoing queue was full",
            slow_consumers.clone(),
        );
        registry.register(
            "shed",
            "sendMessage events refused while the instance was shedding load",
            shed.clone(),
        );
        registry.register(
            "message_delivery_seconds",
            "time from receiving sendMessage to broadcasting the stored message",
            delivery_seconds.clone(),
        );
        Self {
            registry,
            connections,
            messages_in,
            messages_out,
            rejected,
            redis_errors,
            pubsub_dropped,
            strokes_in,
            board_clears,
            slow_consumers,
            shed,
            delivery_seconds,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
