//! The request log behind `GET /_emulator/requests`: every API call as {method, path, body},
//! with secrets (token grants, key material) redacted; the most recent 50 000 calls are kept.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// One logged call.
#[derive(Clone, Debug, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path with its query string, as sent.
    pub path: String,
    /// The JSON body, a string for non-JSON bodies, or null when empty.
    pub body: Value,
}

/// Fields never written to the log.
const SECRET_FIELDS: &[&str] = &[
    "assertion",
    "refresh_token",
    "client_secret",
    "privateKeyData",
    "publicKeyData",
    "authString",
    "payload",
];

/// The log keeps the most recent calls only, so a long-running emulator stays small.
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub struct RequestLog(Mutex<VecDeque<LoggedRequest>>);

impl RequestLog {
    pub fn record(&self, method: &str, path: &str, body: &[u8]) {
        let body = if body.is_empty() {
            Value::Null
        } else if let Ok(mut json) = serde_json::from_slice::<Value>(body) {
            redact(&mut json);
            json
        } else if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            && pairs.iter().any(|(k, _)| k == "grant_type")
        {
            let mut form: serde_json::Map<String, Value> = pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let mut json = Value::Object(std::mem::take(&mut form));
            redact(&mut json);
            json
        } else {
            match std::str::from_utf8(body) {
                Ok(text) => Value::String(text.to_string()),
                Err(_) => Value::String(format!("<{} bytes of binary data>", body.len())),
            }
        };
        let entry = LoggedRequest {
            method: method.to_string(),
            path: path.to_string(),
            body,
        };
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() >= MAX_ENTRIES {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// The log as JSON lines.
    pub fn json_lines(&self) -> String {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .map(|line| line + "\n")
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) {
                    *v = Value::String("<redacted>".to_string());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}
