//! Local mode's logging agent: what the chat-server instances print reaches the emulated Cloud
//! Logging through `entries.write`, as Cloud Run's agent sends a container's output, so
//! `chatctl logs --local` reads it like `chatctl logs` reads Google. A JSON line (chat-server's
//! structured logs) becomes a `jsonPayload` entry with its `severity` and `timestamp`; any other
//! line a `textPayload` entry (severity DEFAULT on stdout, ERROR on stderr). Lines are sent in
//! batches; when the queue is full (the emulator not keeping up) new lines are dropped, never
//! the instances blocked.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::gcp::{self, Google};

/// Lines waiting to be sent, at most.
const QUEUE: usize = 10_000;
/// Entries per entries.write call, at most.
const BATCH: usize = 200;
/// How long a line may wait for others to share its call.
const LINGER: Duration = Duration::from_millis(100);

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where one instance's lines go: the agent's queue and the instance's resource.
#[derive(Debug, Clone)]
pub struct LogSink {
    queue: mpsc::Sender<Value>,
    project: String,
    resource: Value,
    instance: String,
}

impl LogSink {
    /// Queues one line as a LogEntry (dropped when the queue is full).
    pub fn line(&self, stream: Stream, text: &str) {
        let _ = self.queue.try_send(entry(
            &self.project,
            &self.resource,
            &self.instance,
            stream,
            text,
        ));
    }
}

/// The agent: one task sending every instance's lines.
pub struct LogAgent {
    queue: mpsc::Sender<Value>,
    project: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogAgent {
    /// Starts sending to the project of `google` (the emulator's).
    pub fn start(google: Google) -> Self {
        let (queue, lines) = mpsc::channel(QUEUE);
        let project = google.project.clone();
        let task = tokio::spawn(send_batches(google, lines));
        LogAgent {
            queue,
            project,
            task,
        }
    }

    /// The sink of instance `instance` of revision `revision` of Cloud Run service `service`.
    pub fn sink(&self, location: &str, service: &str, revision: &str, instance: &str) -> LogSink {
        LogSink {
            queue: self.queue.clone(),
            project: self.project.clone(),
            resource: json!({
                "type": "cloud_run_revision",
                "labels": {
                    "configuration_name": service,
                    "location": location,
                    "project_id": self.project,
                    "revision_name": revision,
                    "service_name": service,
                },
            }),
            instance: instance.to_string(),
        }
    }
}

async fn send_batches(google: Google, mut lines: mpsc::Receiver<Value>) {
    while let Some(first) = lines.recv().await {
        let mut batch = vec![first];
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            tokio::select! {
                more = lines.recv() => match more {
                    Some(entry) => batch.push(entry),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        // A failed write (the emulator stopping) loses these lines, as an agent would.
        if let Err(e) = gcp::logging::write(&google, batch).await {
            tracing::debug!("local logging agent: {e:#}");
        }
    }
}

/// One output line as the LogEntry Cloud Run's agent would write.
fn entry(project: &str, resource: &Value, instance: &str, stream: Stream, text: &str) -> Value {
    let log = match stream {
        Stream::Stdout => "run.googleapis.com%2Fstdout",
        Stream::Stderr => "run.googleapis.com%2Fstderr",
    };
    let mut entry = json!({
        "logName": format!("projects/{project}/logs/{log}"),
        "resource": resource,
        "labels": { "instanceId": instance },
    });
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut fields)) => {
            if let Some(severity) = fields.remove("severity").and_then(known_severity) {
                entry["severity"] = json!(severity);
            }
            if let Some(at) = fields.remove("timestamp").and_then(|t| timestamp(&t)) {
                entry["timestamp"] = json!(at);
            }
            entry["jsonPayload"] = Value::Object(fields);
        }
        _ => {
            entry["textPayload"] = json!(text);
            if stream == Stream::Stderr {
                entry["severity"] = json!("ERROR");
            }
        }
    }
    entry
}

/// A severity Cloud Logging knows (upper case), else none (the entry stays DEFAULT).
fn known_severity(value: Value) -> Option<String> {
    const KNOWN: &[&str] = &[
        "DEFAULT",
        "DEBUG",
        "INFO",
        "NOTICE",
        "WARNING",
        "ERROR",
        "CRITICAL",
        "ALERT",
        "EMERGENCY",
    ];
    let severity = value.as_str()?.to_ascii_uppercase();
    KNOWN.contains(&severity.as_str()).then_some(severity)
}

/// A structured line's `timestamp`: `{seconds, nanos}` (as chat-server writes it) or an
/// RFC 3339 string, as RFC 3339.
fn timestamp(value: &Value) -> Option<String> {
    if let Some(text) = value.as_str() {
        return text.parse::<jiff::Timestamp>().ok().map(|t| t.to_string());
    }
    let fields: &Map<String, Value> = value.as_object()?;
    let seconds = fields.get("seconds")?.as_i64()?;
    let nanos = fields.get("nanos").and_then(Value::as_i64).unwrap_or(0);
    jiff::Timestamp::new(seconds, i32::try_from(nanos).ok()?)
        .ok()
        .map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_lines_keep_severity_and_time_and_others_are_text() {
        let resource = json!({"type": "cloud_run_revision"});
        let line = r#"{"severity":"WARNING","message":"slow","timestamp":{"seconds":1796378400,"nanos":5},"addr":"x"}"#;
        let structured = entry("p1", &resource, "chat-1", Stream::Stdout, line);
        assert_eq!(structured["severity"], "WARNING");
        assert_eq!(structured["timestamp"], "2026-12-04T10:00:00.000000005Z");
        assert_eq!(
            structured["jsonPayload"],
            json!({"message": "slow", "addr": "x"})
        );
        assert_eq!(
            structured["logName"],
            "projects/p1/logs/run.googleapis.com%2Fstdout"
        );
        let plain = entry("p1", &resource, "chat-1", Stream::Stderr, "panic!");
        assert_eq!(plain["textPayload"], "panic!");
        assert_eq!(plain["severity"], "ERROR");
        assert_eq!(plain["labels"]["instanceId"], "chat-1");
    }
}
