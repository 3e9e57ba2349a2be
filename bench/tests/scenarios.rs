//! chat-bench against real chat-server instances (and a real redis-server): the numbers a
//! benchmark reader relies on (deliveries expected vs received, loss) are exact at a low rate.

mod support;

use std::time::Duration;

use support::{chat_bench, chat_server, json_line, redis_server};

#[test]
fn fanout_across_two_instances_counts_every_delivery() {
    let redis = redis_server();
    let first = chat_server(Some(redis.port));
    let second = chat_server(Some(redis.port));
    let (first_url, second_url) = (first.url(), second.url());
    let (first_pid, second_pid) = (first.pid().to_string(), second.pid().to_string());
    // 2 senders at 4 msg/s in total: each sends every 0.5 s, well under the default rate limit.
    // Sends are scheduled, so the measured 1.5 s hold exactly 3 messages per sender.
    let output = chat_bench(
        &[
            "fanout",
            "--url",
            &first_url,
            "--url",
            &second_url,
            "--rooms",
            "2",
            "--members",
            "4",
            "--senders",
            "2",
            "--rate",
            "4",
            "--warmup",
            "0.5",
            "--duration",
            "1.5",
            "--drain",
            "5",
            "--pid",
            &first_pid,
            "--pid",
            &second_pid,
        ],
        Duration::from_secs(60),
    );
    let report = json_line(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["connections"], 8);
    // Every member (the sender included, on either instance) receives each message once.
    assert_every_delivery(&report, &stderr, 6, 24);
    // CPU is reported for chat-bench itself and both servers.
    assert_eq!(report["cpu"].as_array().map(Vec::len), Some(3), "{report}");
}

#[test]
fn whiteboard_fanout_counts_every_stroke_at_the_other_members() {
    let redis = redis_server();
    let first = chat_server(Some(redis.port));
    let second = chat_server(Some(redis.port));
    let (first_url, second_url) = (first.url(), second.url());
    // 1 board x 5 members over both instances; 2 senders at 10 strokes/s in total: 15 measured
    // strokes, each for the 4 other members (never back to its sender).
    let output = chat_bench(
        &[
            "fanout",
            "--protocol",
            "whiteboard",
            "--url",
            &first_url,
            "--url",
            &second_url,
            "--rooms",
            "1",
            "--members",
            "5",
            "--senders",
            "2",
            "--rate",
            "10",
            "--warmup",
            "0.5",
            "--duration",
            "1.5",
            "--drain",
            "5",
        ],
        Duration::from_secs(60),
    );
    let report = json_line(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(report["protocol"], "whiteboard");
    assert_every_delivery(&report, &stderr, 15, 60);
}

/// A run at a low rate: `sent` sends, all acked, and exactly `deliveries` deliveries, each once
/// and in order, with a latency sample each.
fn assert_every_delivery(report: &serde_json::Value, stderr: &str, sent: u64, deliveries: u64) {
    assert_eq!(report["sent"], sent, "{stderr}");
    assert_eq!(report["acked"], sent, "{stderr}");
    assert_eq!(report["send_errors"], 0, "{stderr}");
    assert_eq!(report["expected_deliveries"], deliveries, "{stderr}");
    assert_eq!(report["received_deliveries"], deliveries, "{stderr}");
    assert_eq!(report["lost_deliveries"], 0, "{stderr}");
    assert_eq!(report["surplus_deliveries"], 0, "{stderr}");
    assert_eq!(report["out_of_order"], 0, "{stderr}");
    assert_eq!(report["disconnects"], 0, "{stderr}");
    assert_eq!(report["latency"]["count"], deliveries, "{stderr}");
}

#[test]
fn idle_holds_every_connection_and_reads_server_memory() {
    let server = chat_server(None);
    let (url, pid) = (server.url(), server.pid().to_string());
    let output = chat_bench(
        &[
            "idle",
            "--url",
            &url,
            "--connections",
            "40",
            "--room-size",
            "10",
            "--settle",
            "0.5",
            "--pid",
            &pid,
        ],
        Duration::from_secs(60),
    );
    let report = json_line(&output);
    assert_eq!(report["scenario"], "idle");
    assert_eq!(report["connected"], 40, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["disconnects"], 0, "{report}");
    assert_eq!(report["servers"][0]["pid"], server.pid());
    assert!(report["bytes_per_connection"].is_number(), "{report}");
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = support::free_port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let output = chat_bench(
        &[
            "fanout",
            "--url",
            &url,
            "--rooms",
            "1",
            "--members",
            "2",
            "--senders",
            "1",
        ],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("2 of 2 connections failed"), "{stderr}");
    assert!(stderr.contains("Check the server is up"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn rejects_a_tls_url_before_connecting() {
    let output = chat_bench(
        &["idle", "--url", "https://chat.example.com"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("TLS endpoints are not supported"),
        "{stderr}"
    );
}
