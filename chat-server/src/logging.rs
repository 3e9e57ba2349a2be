//! JSON log lines that Cloud Logging understands: one object per line on stdout with
//! `severity` (DEBUG/INFO/WARNING/ERROR), `message`, `timestamp` and the event's other fields.
//! The level comes from RUST_LOG (default: info).

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry};

/// Installs the JSON logger as the global subscriber. Later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = Registry::default()
        .with(filter)
        .with(CloudLoggingLayer)
        .try_init();
}

/// Cloud Logging's name for a tracing level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// Writes each event as one JSON line.
struct CloudLoggingLayer;

impl<S: Subscriber> Layer<S> for CloudLoggingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = JsonFields(Map::new());
        event.record(&mut fields);
        let mut line = fields.0;
        let message = line
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        line.insert("severity".into(), severity(meta.level()).into());
        line.insert("message".into(), message);
        line.insert(
            "timestamp".into(),
            serde_json::json!({"seconds": now.as_secs(), "nanos": now.subsec_nanos()}),
        );
        line.insert("target".into(), meta.target().into());
        let Ok(mut bytes) = serde_json::to_vec(&line) else {
            return;
        };
        bytes.push(b'\n');
        // A closed stdout must not take the server down.
        let _ = std::io::stdout().lock().write_all(&bytes);
    }
}

/// Collects an event's fields into a JSON object.
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
}
