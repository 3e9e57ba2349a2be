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
fn the_vendored_socket_io_client_is_served_with_types_and_revalidation() {
    let server = ChatServer::memory(&[]);
    let etag = chat_server::assets::SOCKET_IO_CLIENT_ETAG;
    for file in &chat_server::assets::SOCKET_IO_CLIENT {
        let path = format!("/socket.io/{}", file.name);
        let reply = server.get(&path);
        assert_eq!(reply.status, 200, "GET {path}");
        let expected_type = if file.name.ends_with(".map") {
            "application/json"
        } else {
            "text/javascript"
        };
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with(expected_type)),
            "GET {path}: {:?}",
            reply.headers
        );
        assert_eq!(reply.header("etag"), Some(etag), "GET {path}");
        assert_eq!(
            reply.header("cache-control"),
            Some("public, no-cache"),
            "GET {path}"
        );
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            reply.body,
            String::from_utf8_lossy(file.body),
            "GET {path} serves web/socket.io-client/{}",
            file.name
        );
        let again = http_get(server.port, &path, &[("If-None-Match", etag)]).expect("GET");
        assert_eq!(again.status, 304, "GET {path} with its ETag");
        assert!(again.body.is_empty(), "a 304 has no body");
        let other = http_get(server.port, &path, &[("If-None-Match", "\"other\"")]).expect("GET");
        assert_eq!(other.status, 200, "GET {path} with another ETag");
    }
    // Each bundle points at its source map, which is served next to it.
    for name in ["socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"] {
        let bundle = server.get(&format!("/socket.io/{name}"));
        assert!(
            bundle
                .body
                .trim_end()
                .ends_with(&format!("//# sourceMappingURL={name}.map")),
            "{name} names its map"
        );
    }
}

/// The vendored files are the lockfile's socket.io-client, byte for byte: `npm ci` (scripts/deps)
/// installs the package after checking it against the lockfile's integrity hash, and records
/// what it installed in node_modules/.package-lock.json.
#[test]
fn the_vendored_socket_io_client_is_the_lockfiles_package_byte_for_byte() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let read_json = |path: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(format!("{root}/{path}")).unwrap_or_else(|e| {
            panic!("{path}: {e} (run `npm ci` at the repository root; scripts/deps does it)")
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let key = "node_modules/socket.io-client";
    let locked = &read_json("package-lock.json")["packages"][key];
    let installed = &read_json("node_modules/.package-lock.json")["packages"][key];
    let version = chat_server::assets::SOCKET_IO_CLIENT_VERSION;
    assert_eq!(
        locked["version"], version,
        "package-lock.json pins the vendored version"
    );
    assert_eq!(
        installed["version"], version,
        "node_modules holds the lockfile's version"
    );
    assert!(
        locked["integrity"]
            .as_str()
            .is_some_and(|i| i.starts_with("sha512-")),
        "the lockfile has an integrity hash: {locked}"
    );
    assert_eq!(
        installed["integrity"], locked["integrity"],
        "node_modules was installed from the lockfile's tarball"
    );
    assert_eq!(
        read_json("node_modules/socket.io-client/package.json")["version"],
        version
    );
    for file in &chat_server::assets::SOCKET_IO_CLIENT {
        let npm = std::fs::read(format!(
            "{root}/node_modules/socket.io-client/dist/{}",
            file.name
        ))
        .expect("a dist file of socket.io-client");
        assert!(
            npm == file.body,
            "web/socket.io-client/{} differs from the npm package's dist/{0}: copy it again",
            file.name
        );
    }
    let banner = format!("Socket.IO v{version}");
    let bundle = &chat_server::assets::SOCKET_IO_CLIENT[0];
    assert!(
        String::from_utf8_lossy(bundle.body).contains(&banner),
        "{} says {banner}",
        bundle.name
    );
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
