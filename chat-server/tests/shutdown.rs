//! Graceful shutdown: SIGTERM makes an instance close its clients' transports and exit 0 within
//! 8 s (Cloud Run's SIGTERM-to-SIGKILL window is 10 s), with and without connected clients.

mod support;

use std::time::Duration;

use support::{ChatServer, Redis, run_node_suite};

#[test]
fn sigterm_with_clients_connected_closes_them_and_exits_in_time() {
    let redis = Redis::start();
    let survivor = ChatServer::with_redis(&redis, &[("RECONNECT_GRACE", "1s".into())]);
    let env = vec![
        ("CHAT_URL_A", survivor.url()),
        ("CHAT_URL_B", survivor.url()),
        ("CHAT_GRACE_MS", "1000".into()),
        ("CHAT_REDIS_PORT", redis.port.to_string()),
        (
            "CHAT_SERVER_BIN",
            env!("CARGO_BIN_EXE_chat-server").to_string(),
        ),
    ];
    run_node_suite("shutdown.test.mjs", &env, Duration::from_secs(60));
}

#[test]
fn sigterm_on_an_idle_instance_exits_zero_at_once() {
    let mut server = ChatServer::memory(&[]);
    let (status, took) = server
        .terminate(Duration::from_secs(8))
        .expect("still running 8 s after SIGTERM");
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.log_text()
    );
    assert!(took < Duration::from_secs(8));
    assert!(
        server.log_text().contains("chat-server stopped"),
        "{}",
        server.log_text()
    );
}
