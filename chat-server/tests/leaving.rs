//! "Leaving means leaving" (`tests/js/leaving.test.mjs`, the real socket.io-client): a deliberate
//! disconnect is announced at once on every instance, a dropped connection only after
//! RECONNECT_GRACE. Against two instances sharing a real redis-server, two sharing a real
//! nats-server (BUS=nats), and in memory mode.

mod support;

use std::time::Duration;

use support::{ChatServer, Nats, Redis, run_node_suite};

const SUITE_LIMIT: Duration = Duration::from_secs(60);
/// Long enough that "at once" (under a second) and "after the grace" cannot be confused.
const GRACE_MS: u64 = 3000;

fn settings() -> Vec<(&'static str, String)> {
    vec![("RECONNECT_GRACE", format!("{GRACE_MS}ms"))]
}

fn suite_env(a: &ChatServer, b: &ChatServer) -> Vec<(&'static str, String)> {
    vec![
        ("CHAT_URL_A", a.url()),
        ("CHAT_URL_B", b.url()),
        ("CHAT_GRACE_MS", GRACE_MS.to_string()),
    ]
}

#[test]
fn leaves_across_two_instances_sharing_redis() {
    let redis = Redis::start();
    let a = ChatServer::with_redis(&redis, &settings());
    let b = ChatServer::with_redis(&redis, &settings());
    run_node_suite("leaving.test.mjs", &suite_env(&a, &b), SUITE_LIMIT);
}

#[test]
fn leaves_across_two_instances_on_nats() {
    let nats = Nats::start();
    let a = ChatServer::with_nats(&nats, &settings());
    let b = ChatServer::with_nats(&nats, &settings());
    run_node_suite("leaving.test.mjs", &suite_env(&a, &b), SUITE_LIMIT);
}

#[test]
fn leaves_in_memory_mode() {
    let server = ChatServer::memory(&settings());
    run_node_suite(
        "leaving.test.mjs",
        &suite_env(&server, &server),
        SUITE_LIMIT,
    );
}
