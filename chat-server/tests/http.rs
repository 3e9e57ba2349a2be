//! The HTTP surface: the embedded page and assets with their content types and CSP, probes,
//! Prometheus metrics, the Origin check on the Socket.IO endpoint, JSON logs, and the library
//! entry point other crates use to run a server in-process.

mod support;

use std::time::Duration;

use support::{ChatServer, http_get};

const WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web");

#[test]
fn page_and_assets_are_served_from_the_binary_with_a_strict_csp() {
    let server = ChatServer::memory(&[]);
    let cases = [
        ("/", "index.html", "text/html"),
        ("/app.js", "app.js", "text/javascript"),
        ("/style.css", "style.css", "text/css"),
        ("/socket.io/socket.io.js", "socket.io.js", "text/javascript"),
        ("/whiteboard", "whiteboard.html", "text/html"),
        ("/whiteboard?board=standup", "whiteboard.html", "text/html"),
        ("/whiteboard.js", "whiteboard.js", "text/javascript"),
        ("/whiteboard.css", "whiteboard.css", "text/css"),
    ];
    for (path, file, content_type) in cases {
        let reply = server.get(path);
        assert_eq!(reply.status, 200, "GET {path}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with(content_type)),
            "GET {path}: {:?}",
            reply.headers
        );
        let csp = reply.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "GET {path}: CSP {csp:?}"
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        let on_disk = std::fs::read_to_string(format!("{WEB}/{file}")).expect("web file");
        assert_eq!(reply.body, on_disk, "GET {path} serves web/{file}");
    }
    assert_eq!(server.get("/nothing-here").status, 404);
}

#[test]
fn probes_and_metrics_in_memory_mode() {
    let server = ChatServer::memory(&[]);
    let health = server.get("/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = server.get("/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));

    // One Socket.IO handshake so the connection gauge has something to count.
    let handshake = server.get("/socket.io/?EIO=4&transport=polling");
    assert_eq!(handshake.status, 200);
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.contains("text")),
        "{:?}",
        metrics.headers
    );
    for line in [
        "# TYPE chat_connections gauge",
        "# TYPE chat_messages_in counter",
        "chat_messages_in_total 0",
        "# TYPE chat_messages_out counter",
        "# TYPE chat_redis_errors counter",
        "chat_redis_errors_total 0",
        "# TYPE chat_message_delivery_seconds histogram",
        "chat_message_delivery_seconds_bucket{le=\"0.005\"}",
    ] {
        assert!(
            metrics.body.contains(line),
            "/metrics lacks {line:?}:\n{}",
            metrics.body
        );
    }
}

#[test]
fn logs_are_json_lines_with_a_cloud_logging_severity() {
    let server = ChatServer::memory(&[]);
    let log = server.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(!lines.is_empty(), "nothing logged at startup");
    for line in &lines {
        let severity = line["severity"].as_str().unwrap_or_default();
        assert!(
            ["DEBUG", "INFO", "WARNING", "ERROR"].contains(&severity),
            "bad severity in {line}"
        );
        assert!(line["message"].is_string(), "no message in {line}");
    }
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("in memory, single instance"))),
        "memory mode is announced:\n{log}"
    );
}

#[test]
fn allowed_origins_guard_the_socket_io_endpoint() {
    let server = ChatServer::memory(&[(
        "ALLOWED_ORIGINS",
        "https://chat.example.com, https://other.example".into(),
    )]);
    let handshake = "/socket.io/?EIO=4&transport=polling";
    let status = |origin: Option<&str>| {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        http_get(server.port, handshake, &headers)
            .expect("handshake")
            .status
    };
    assert_eq!(status(Some("https://evil.example")), 403);
    assert_eq!(
        status(Some("http://chat.example.com")),
        403,
        "the scheme is part of the origin"
    );
    assert_eq!(status(Some("https://chat.example.com")), 200);
    assert_eq!(status(Some("https://other.example")), 200);
    assert_eq!(
        status(Some(&format!("http://127.0.0.1:{}", server.port))),
        200,
        "our own page may connect"
    );
    assert_eq!(status(None), 200, "non-browser clients send no Origin");
    assert_eq!(
        server.get("/").status,
        200,
        "the page itself is not origin-checked"
    );
}

#[test]
fn any_origin_may_connect_when_allowed_origins_is_empty() {
    let server = ChatServer::memory(&[]);
    let reply = http_get(
        server.port,
        "/socket.io/?EIO=4&transport=polling",
        &[("Origin", "https://anywhere.example")],
    )
    .expect("handshake");
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.starts_with("0{"),
        "an Engine.IO open packet: {}",
        reply.body
    );
}

#[tokio::test]
async fn the_library_runs_a_server_in_process_and_stops_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let handle = chat_server::spawn(listener, chat_server::Config::default())
        .await
        .expect("start");
    let port = handle.local_addr().port();
    let reply = tokio::task::spawn_blocking(move || http_get(port, "/healthz", &[]))
        .await
        .expect("join")
        .expect("GET");
    assert_eq!(reply.status, 200);
    tokio::time::timeout(Duration::from_secs(8), handle.shutdown())
        .await
        .expect("stops within 8 s")
        .expect("clean stop");
    let after = tokio::task::spawn_blocking(move || http_get(port, "/healthz", &[]))
        .await
        .expect("join");
    assert!(after.is_err(), "still answering after shutdown");
}

#[tokio::test]
async fn the_library_refuses_bad_settings_before_listening() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = chat_server::Config {
        redis_tls: true,
        ..chat_server::Config::default()
    };
    match chat_server::spawn(listener, config).await {
        Err(chat_server::ServeError::Config(message)) => {
            assert!(message.contains("REDISHOST"), "{message}")
        }
        Err(other) => panic!("expected a settings error, got {other}"),
        Ok(_) => panic!("REDIS_TLS without REDISHOST must be refused"),
    }
}
