//! Log entries as `chatctl logs` shows them: one line of text per entry on stdout (timestamp,
//! severity, text), or one JSON object per entry (`type` "log") under `--output json`.

use std::io::Write;

use serde_json::{Value, json};

use super::{OutputFormat, emit_json};
use crate::gcp::logging::entry_text;

/// Shows one LogEntry (as Cloud Logging's JSON).
pub fn log_entry(format: OutputFormat, entry: &Value) {
    let timestamp = entry["timestamp"].as_str().unwrap_or_default();
    let severity = entry["severity"].as_str().unwrap_or("DEFAULT");
    let text = entry_text(entry);
    match format {
        OutputFormat::Json => emit_json(&json!({
            "type": "log",
            "timestamp": timestamp,
            "severity": severity,
            "text": text,
            "logName": entry["logName"],
            "resource": entry["resource"],
            "insertId": entry["insertId"],
        })),
        OutputFormat::Human => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{timestamp} {severity:<8} {text}");
            let _ = out.flush();
        }
    }
}
