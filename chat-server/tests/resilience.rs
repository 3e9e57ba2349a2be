//! Bus trouble: a killed Redis pub/sub connection, a full Redis restart, and a NATS restart
//! (BUS=nats). The instances must keep running, report it on /readyz, reconnect and
//! re-subscribe, and cross-instance delivery must resume without a restart (checked with the
//! real socket.io-client).

mod support;

use std::time::{Duration, Instant};

use support::{ChatServer, Nats, Redis, run_node_suite};

const SUITE_LIMIT: Duration = Duration::from_secs(90);

fn suite_env(a: &ChatServer, b: &ChatServer, redis_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("CHAT_URL_A", a.url()),
        ("CHAT_URL_B", b.url()),
        ("CHAT_GRACE_MS", "10000".into()),
        ("CHAT_REDIS_PORT", redis_port.to_string()),
    ]
}

/// Polls `/readyz` until it answers `status`, within `limit`; returns its body.
fn wait_ready_status(server: &ChatServer, status: u16, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let reply = server.get("/readyz");
        if reply.status == status {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {} ({}) after {limit:?}, expected {status}\n{}",
            reply.status,
            reply.body.trim(),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn cross_instance_delivery_resumes_after_the_pubsub_connections_are_killed() {
    let redis = Redis::start();
    let a = ChatServer::with_redis(&redis, &[]);
    let b = ChatServer::with_redis(&redis, &[]);
    run_node_suite(
        "pubsub-kill.test.mjs",
        &suite_env(&a, &b, redis.port),
        SUITE_LIMIT,
    );
    assert!(
        a.log_text().contains("Redis pub/sub connection lost"),
        "the loss is logged:\n{}",
        a.log_text()
    );
}

#[test]
fn instances_survive_a_redis_restart_and_deliver_across_again() {
    let redis = Redis::start();
    let a = ChatServer::with_redis(&redis, &[]);
    let b = ChatServer::with_redis(&redis, &[]);
    wait_ready_status(&a, 200, Duration::from_secs(5));

    let port = redis.kill();
    for server in [&a, &b] {
        wait_ready_status(server, 503, Duration::from_secs(10));
        assert_eq!(
            server.get("/healthz").status,
            200,
            "alive while Redis is down"
        );
    }
    let metrics = a.get("/metrics").body;
    assert!(
        !metrics.contains("chat_redis_errors_total 0\n"),
        "Redis errors are counted:\n{metrics}"
    );

    let redis = Redis::start_on(port);
    for server in [&a, &b] {
        wait_ready_status(server, 200, Duration::from_secs(20));
    }
    run_node_suite(
        "cross-instance.test.mjs",
        &suite_env(&a, &b, redis.port),
        SUITE_LIMIT,
    );
}

#[test]
fn instances_survive_a_nats_restart_and_deliver_across_again() {
    let nats = Nats::start();
    let a = ChatServer::with_nats(&nats, &[]);
    let b = ChatServer::with_nats(&nats, &[]);
    wait_ready_status(&a, 200, Duration::from_secs(5));

    let stopped = nats.kill();
    for server in [&a, &b] {
        let body = wait_ready_status(server, 503, Duration::from_secs(10));
        assert!(body.starts_with("nats unreachable"), "{body}");
        assert_eq!(
            server.get("/healthz").status,
            200,
            "alive while NATS is down"
        );
    }
    assert!(
        a.counter("chat_redis_errors_total") > 0.0,
        "the lost connection is counted"
    );
    assert!(
        a.log_text().contains("NATS connection lost"),
        "the loss is logged:\n{}",
        a.log_text()
    );

    // The same port and JetStream store: the streams and their history are back too.
    let nats = stopped.restart();
    for server in [&a, &b] {
        wait_ready_status(server, 200, Duration::from_secs(20));
    }
    run_node_suite(
        "cross-instance.test.mjs",
        &suite_env(&a, &b, nats.port),
        SUITE_LIMIT,
    );
}
