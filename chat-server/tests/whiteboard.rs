//! The whiteboard protocol (socket.io's whiteboard example and our superset), checked with the
//! real socket.io-client (`tests/js/whiteboard.test.mjs`): against two instances sharing one
//! real redis-server (plus what happens when Redis refuses a write,
//! `tests/js/whiteboard-redis.test.mjs`), two sharing one real nats-server (BUS=nats: strokes in
//! JetStream; plus a refused write and a lost stream, `tests/js/whiteboard-nats.test.mjs`), and a
//! single in-memory instance.

mod support;

use std::time::Duration;

use support::{ChatServer, Nats, Redis, run_node_suite};

/// The whole node suite must end within this.
const SUITE_LIMIT: Duration = Duration::from_secs(120);
/// Small enough for the cap test to pass it quickly.
const BOARD_LIMIT: u32 = 150;
/// Strokes per second per socket: the rate test bursts past it.
const STROKE_RATE: u32 = 100;

fn settings() -> Vec<(&'static str, String)> {
    vec![
        ("WHITEBOARD_LIMIT", BOARD_LIMIT.to_string()),
        ("WHITEBOARD_RATE_LIMIT", format!("{STROKE_RATE}/1s")),
    ]
}

fn suite_env(url_a: String, url_b: String) -> Vec<(&'static str, String)> {
    vec![
        ("CHAT_URL_A", url_a),
        ("CHAT_URL_B", url_b),
        ("CHAT_GRACE_MS", "10000".into()),
        ("CHAT_WHITEBOARD_LIMIT", BOARD_LIMIT.to_string()),
        ("CHAT_WHITEBOARD_RATE_COUNT", STROKE_RATE.to_string()),
    ]
}

fn assert_healthy(server: &ChatServer) {
    let log = server.log_text();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
    // The example's clients draw without acks, up to 100 strokes a second: no line per stroke.
    let per_stroke = log
        .lines()
        .filter(|line| {
            line.contains("\"event\":\"drawing\"")
                && (line.contains("nothing to answer") || line.contains("no ack asked"))
        })
        .count();
    assert_eq!(per_stroke, 0, "unacked strokes were logged:\n{log}");
    assert!(
        server.get("/healthz").status == 200,
        "an instance died during the suite:\n{log}"
    );
}

/// Both instances of a pair counted the suite's strokes and clears between them, and are healthy.
fn assert_pair_healthy(a: &ChatServer, b: &ChatServer) {
    for counter in ["chat_strokes_in_total", "chat_board_clears_total"] {
        let total: f64 = [a, b].iter().map(|s| s.counter(counter)).sum();
        assert!(
            total > 0.0,
            "{counter} must have counted the suite's traffic on the two instances"
        );
    }
    assert_healthy(a);
    assert_healthy(b);
}

#[test]
fn whiteboard_across_two_instances_sharing_redis() {
    let redis = Redis::start();
    let a = ChatServer::with_redis(&redis, &settings());
    let b = ChatServer::with_redis(&redis, &settings());
    run_node_suite(
        "whiteboard.test.mjs",
        &suite_env(a.url(), b.url()),
        SUITE_LIMIT,
    );
    let mut env = suite_env(a.url(), b.url());
    env.push(("CHAT_REDIS_PORT", redis.port.to_string()));
    run_node_suite("whiteboard-redis.test.mjs", &env, SUITE_LIMIT);
    assert_pair_healthy(&a, &b);
}

#[test]
fn whiteboard_across_two_instances_on_nats() {
    let nats = Nats::start();
    let a = ChatServer::with_nats(&nats, &settings());
    let b = ChatServer::with_nats(&nats, &settings());
    run_node_suite(
        "whiteboard.test.mjs",
        &suite_env(a.url(), b.url()),
        SUITE_LIMIT,
    );
    let mut env = suite_env(a.url(), b.url());
    env.push(("CHAT_NATS_PORT", nats.port.to_string()));
    run_node_suite("whiteboard-nats.test.mjs", &env, SUITE_LIMIT);
    assert_pair_healthy(&a, &b);
}

#[test]
fn whiteboard_in_memory_mode() {
    let server = ChatServer::memory(&settings());
    run_node_suite(
        "whiteboard.test.mjs",
        &suite_env(server.url(), server.url()),
        SUITE_LIMIT,
    );
    assert_healthy(&server);
}
