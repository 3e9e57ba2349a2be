//! Overload is bounded (`tests/js/overload.test.mjs`, the real socket.io-client): a member that
//! stops reading is disconnected with a logged reason once its outgoing queue is full, and
//! replays what it missed on a new connection; nothing acked is lost. Two instances, real Redis.

mod support;

use std::time::Duration;

use support::{ChatServer, Redis, run_node_suite};

const SUITE_LIMIT: Duration = Duration::from_secs(150);

#[test]
fn a_slow_consumer_is_let_go_and_replays_without_a_gap() {
    let redis = Redis::start();
    // History must hold what the slow member misses after it is let go (a few dozen); each
    // socket's queue is HISTORY_LIMIT + 1,024 packets. RATE_LIMIT off, to flood at all.
    let settings = [
        ("RATE_LIMIT", "off".to_string()),
        ("HISTORY_LIMIT", "1000".to_string()),
    ];
    let a = ChatServer::with_redis(&redis, &settings);
    let b = ChatServer::with_redis(&redis, &settings);
    run_node_suite(
        "overload.test.mjs",
        &[
            ("CHAT_URL_A", a.url()),
            ("CHAT_URL_B", b.url()),
            ("CHAT_GRACE_MS", "10000".into()),
        ],
        SUITE_LIMIT,
    );
    assert!(
        a.log_text().contains("too slow to keep up"),
        "the disconnect is logged with its reason:\n{}",
        a.log_text()
    );
}
