//! Cloud Logging v2 through its REST API (google-cloud-rust has no Logging crate at the version
//! chatctl builds with): `entries.list` for `chatctl logs`, `entries.write` for local mode's
//! instances, and the filters (Logging query language) that pick a service's or a build's
//! entries.

use serde_json::{Value, json};

use super::Google;

pub const LOGGING_ENDPOINT: &str = "https://logging.googleapis.com";
/// The role that lets the caller read log entries (`logging.logEntries.list`).
pub const VIEWER: &str = "roles/logging.viewer";
const WRITER: &str = "roles/logging.logWriter";
/// entries.list's largest page.
const PAGE_SIZE: usize = 1000;
/// Pages read for one list at most: Logging may answer empty pages with a next token while it
/// searches, so the count of entries alone does not bound the loop.
const MAX_PAGES: usize = 100;

/// The filter of a Cloud Run service's entries at or after `since` (RFC 3339).
pub fn service_filter(service: &str, region: &str, since: &str) -> String {
    format!(
        r#"resource.type="cloud_run_revision" AND resource.labels.service_name="{}" AND resource.labels.location="{}" AND timestamp>="{since}""#,
        quote(service),
        quote(region)
    )
}

/// The filter of a Cloud Build build's entries (its log lines).
pub fn build_filter(build_id: &str) -> String {
    format!(
        r#"resource.type="build" AND resource.labels.build_id="{}""#,
        quote(build_id)
    )
}

/// `text` inside a quoted filter string.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The entries of the project that match `filter`, oldest first, at most `limit` (the newest
/// ones when there are more).
pub async fn list(google: &Google, filter: &str, limit: usize) -> anyhow::Result<Vec<Value>> {
    let logging = &google.clients.logging;
    let what = format!("read the log entries of project {}", google.project);
    let mut entries: Vec<Value> = Vec::new();
    let mut page_token = String::new();
    // Newest first, so the limit keeps the latest entries; reversed at the end.
    for _ in 0..MAX_PAGES {
        if entries.len() >= limit {
            break;
        }
        let body = json!({
            "resourceNames": [format!("projects/{}", google.project)],
            "filter": filter,
            "orderBy": "timestamp desc",
            "pageSize": (limit - entries.len()).min(PAGE_SIZE),
            "pageToken": page_token,
        });
        let answer = super::send(google, google.call(&what, VIEWER), || {
            logging.send(
                logging
                    .request(reqwest::Method::POST, "/v2/entries:list")
                    .json(&body),
            )
        })
        .await?;
        entries.extend(answer["entries"].as_array().into_iter().flatten().cloned());
        match answer["nextPageToken"].as_str() {
            Some(token) if !token.is_empty() => page_token = token.to_string(),
            _ => break,
        }
    }
    entries.truncate(limit);
    entries.reverse();
    Ok(entries)
}

/// Writes `entries` (LogEntry JSON, each with its logName and resource) to the project.
pub async fn write(google: &Google, entries: Vec<Value>) -> anyhow::Result<()> {
    let logging = &google.clients.logging;
    let what = format!("write log entries to project {}", google.project);
    let body = json!({ "entries": entries });
    super::send(google, google.call(&what, WRITER), || {
        logging.send(
            logging
                .request(reqwest::Method::POST, "/v2/entries:write")
                .json(&body),
        )
    })
    .await
    .map(|_| ())
}

/// An entry's payload as one line of text: the text payload, or a JSON payload's `message`
/// (with its other fields), or the JSON itself.
pub fn entry_text(entry: &Value) -> String {
    if let Some(text) = entry["textPayload"].as_str() {
        return text.trim_end().to_string();
    }
    match &entry["jsonPayload"] {
        Value::Object(fields) => {
            let mut text = fields
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for (key, value) in fields {
                if key == "message" {
                    continue;
                }
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text.push_str(&format!(" {key}={value}"));
            }
            text.trim().to_string()
        }
        Value::Null => entry["protoPayload"].to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_what_they_name() {
        assert_eq!(
            service_filter("chat", "us-central1", "2026-12-04T10:00:00Z"),
            r#"resource.type="cloud_run_revision" AND resource.labels.service_name="chat" AND resource.labels.location="us-central1" AND timestamp>="2026-12-04T10:00:00Z""#
        );
        assert_eq!(
            build_filter(r#"a"b"#),
            r#"resource.type="build" AND resource.labels.build_id="a\"b""#
        );
    }

    #[test]
    fn payloads_become_one_line() {
        assert_eq!(entry_text(&json!({"textPayload": "hello\n"})), "hello");
        assert_eq!(
            entry_text(&json!({"jsonPayload": {"message": "up", "port": 8080}})),
            "up port=8080"
        );
    }
}
