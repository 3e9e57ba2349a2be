//! Cloud Logging v2 over HTTP, as Google answers it: entries.write then entries.list with a
//! filter, order and pages; a bad filter, a bad request and a caller without
//! `logging.logEntries.list` get Google's error shapes (the entries Cloud Run and Cloud Build
//! write are read end to end by chatctl's tests/logs.rs).

mod common;

use common::*;
use serde_json::{Value, json};

const PROJECT: &str = "logging-test-proj";

fn entry(text: &str, at: &str, severity: &str) -> Value {
    json!({
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat"}},
        "timestamp": at,
        "severity": severity,
        "textPayload": text,
    })
}

async fn list(base: &str, body: Value) -> (u16, Value) {
    let response = post_json(format!("{base}/v2/entries:list"), &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn written_entries_are_listed_filtered_ordered_and_paged() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let write = json!({
        "logName": format!("projects/{PROJECT}/logs/run.googleapis.com%2Fstdout"),
        "entries": [
            entry("first", "2026-12-04T10:00:00Z", "INFO"),
            entry("second", "2026-12-04T10:00:01Z", "ERROR"),
            entry("third", "2026-12-04T10:00:02Z", "WARNING"),
        ],
    });
    let written = post_json(format!("{base}/v2/entries:write"), &write).await;
    assert_eq!(written.status(), 200);

    let mut query = json!({
        "resourceNames": [format!("projects/{PROJECT}")],
        "filter": "resource.type=\"cloud_run_revision\" severity>=WARNING",
        "orderBy": "timestamp desc",
        "pageSize": 1,
    });
    let (status, page) = list(base, query.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["entries"][0]["textPayload"], "third");
    assert_eq!(page["entries"][0]["severity"], "WARNING");
    assert!(
        page["entries"][0]["insertId"].is_string()
            && page["entries"][0]["receiveTimestamp"].is_string()
    );
    let token = page["nextPageToken"].as_str().expect("more to come");
    query["pageToken"] = json!(token);
    let (_, next) = list(base, query).await;
    assert_eq!(next["entries"][0]["textPayload"], "second");
    assert!(next.get("nextPageToken").is_none(), "{next}");

    let (_, other) = list(
        base,
        json!({"resourceNames": ["projects/someone-else-proj"]}),
    )
    .await;
    assert_eq!(other, json!({}), "another project's entries are not listed");
}

#[tokio::test]
async fn bad_filters_and_requests_are_invalid_argument() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let names = json!([format!("projects/{PROJECT}")]);
    for (body, wording) in [
        (
            json!({"resourceNames": names, "filter": "severity>=ERROR AND"}),
            "Unparseable filter: syntax error at line 1, column 20, token '<EOF>'",
        ),
        (
            json!({"resourceNames": names, "filter": "timestamp>=\"last week\""}),
            "Unparseable filter: invalid timestamp value 'last week'",
        ),
        (json!({"filter": ""}), "resource_names must not be empty"),
        (
            json!({"resourceNames": names, "pageSize": -1}),
            "page_size must not be negative",
        ),
        (
            json!({"resourceNames": names, "bogus": 1}),
            "Unknown name \"bogus\"",
        ),
    ] {
        let (status, answer) = list(base, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(wording), "{body}: {message}");
    }
    let missing_log = post_json(
        format!("{base}/v2/entries:write"),
        &json!({"entries": [entry("x", "2026-12-04T10:00:00Z", "INFO")]}),
    )
    .await;
    assert_eq!(missing_log.status(), 400);
}

#[tokio::test]
async fn reading_needs_logging_log_entries_list() {
    let mut config = fast_config();
    config.allow_anonymous = false;
    let emu = start(config).await;
    let base = emu.base_url();
    let described = post_json(
        format!("{base}/_emulator/projects"),
        &json!({"projectId": PROJECT, "enforceIam": true}),
    )
    .await;
    assert_eq!(described.status(), 200);
    let file: Value = post_json(
        format!("{base}/_emulator/users"),
        &json!({"email": "reader@example.com"}),
    )
    .await
    .json()
    .await
    .expect("credentials file");
    let token: Value = post_json(
        format!("{base}/token"),
        &json!({
            "grant_type": "refresh_token",
            "refresh_token": file["refresh_token"],
            "client_id": file["client_id"],
            "client_secret": file["client_secret"],
        }),
    )
    .await
    .json()
    .await
    .expect("token");
    let bearer = token["access_token"]
        .as_str()
        .expect("an access token")
        .to_string();
    let read = || {
        http()
            .post(format!("{base}/v2/entries:list"))
            .bearer_auth(&bearer)
            .json(&json!({"resourceNames": [format!("projects/{PROJECT}")]}))
            .send()
    };
    let denied = read().await.expect("answer");
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.expect("JSON");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("logging.logEntries.list")),
        "{body}"
    );
    let granted = post_json(
        format!("{base}/_emulator/projects/{PROJECT}/grants"),
        &json!({"member": "user:reader@example.com", "roles": ["roles/logging.viewer"]}),
    )
    .await;
    assert_eq!(granted.status(), 200);
    assert_eq!(read().await.expect("answer").status(), 200);
}
