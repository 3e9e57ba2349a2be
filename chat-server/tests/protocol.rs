//! The tutorial's protocol and our superset, checked with the real socket.io-client
//! (`tests/js/protocol.test.mjs`): against two instances sharing one real redis-server, two
//! sharing one real nats-server (BUS=nats, JetStream), and a single in-memory instance.

mod support;

use std::time::Duration;

use support::{ChatServer, Nats, Redis, run_node_suite};

/// The whole node suite must end within this.
const SUITE_LIMIT: Duration = Duration::from_secs(180);
/// A short grace period keeps the reconnect tests quick.
const GRACE: &str = "2s";

fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("HISTORY_LIMIT", "300".into()),
        ("RECONNECT_GRACE", GRACE.into()),
    ]
}

fn suite_env(url_a: String, url_b: String) -> Vec<(&'static str, String)> {
    vec![
        ("CHAT_URL_A", url_a),
        ("CHAT_URL_B", url_b),
        ("CHAT_GRACE_MS", "2000".into()),
        ("CHAT_RATE_COUNT", "20".into()),
        ("CHAT_MAX_MESSAGE_LEN", "2000".into()),
    ]
}

#[test]
fn protocol_across_two_instances_sharing_redis() {
    let redis = Redis::start();
    let a = ChatServer::with_redis(&redis, &settings());
    let b = ChatServer::with_redis(&redis, &settings());
    run_node_suite(
        "protocol.test.mjs",
        &suite_env(a.url(), b.url()),
        SUITE_LIMIT,
    );
    let metrics = a.get("/metrics").body;
    for counter in [
        "chat_messages_in_total",
        "chat_messages_out_total",
        "chat_rejected_total",
    ] {
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{counter} ")))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert!(
            value.is_some_and(|v| v > 0.0),
            "{counter} must have counted the suite's traffic:\n{metrics}"
        );
    }
    for server in [&a, &b] {
        assert!(
            server.get("/healthz").status == 200,
            "an instance died during the suite:\n{}",
            server.log_text()
        );
        assert!(
            !server.log_text().contains("panicked"),
            "a handler panicked:\n{}",
            server.log_text()
        );
    }
}

#[test]
fn protocol_across_two_instances_on_nats() {
    let nats = Nats::start();
    let a = ChatServer::with_nats(&nats, &settings());
    let b = ChatServer::with_nats(&nats, &settings());
    run_node_suite(
        "protocol.test.mjs",
        &suite_env(a.url(), b.url()),
        SUITE_LIMIT,
    );
    for server in [&a, &b] {
        assert!(
            server.counter("chat_messages_in_total") > 0.0,
            "each instance stored some of the suite's messages"
        );
        assert!(
            !server.log_text().contains("panicked"),
            "a handler panicked:\n{}",
            server.log_text()
        );
    }
}

#[test]
fn protocol_in_memory_mode() {
    let server = ChatServer::memory(&settings());
    run_node_suite(
        "protocol.test.mjs",
        &suite_env(server.url(), server.url()),
        SUITE_LIMIT,
    );
    assert!(
        !server.log_text().contains("panicked"),
        "a handler panicked:\n{}",
        server.log_text()
    );
}
