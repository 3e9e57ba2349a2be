//! The HTTP surface: the embedded pages (chat, whiteboard), health and readiness probes,
//! Prometheus metrics, and the Socket.IO endpoint behind an Origin check.

use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use socketioxide::adapter::Adapter;
use socketioxide::service::SocketIoService;

use crate::assets;
use crate::bus::BusDriver;
use crate::chat::Chat;

/// How long /readyz waits for Redis or NATS.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// What the HTTP handlers need.
#[derive(Clone)]
pub struct HttpState {
    pub chat: Chat,
    /// The bus (Redis pub/sub or NATS), when shared with other instances: readiness also needs it.
    pub pubsub: Option<BusDriver>,
}

/// All routes. The socket.io-client bundle (`/socket.io/socket.io.js`, `.min.js`, `.esm.min.js`
/// and their maps) has routes of its own, so they win over the Socket.IO service, which only sees
/// what no route matched.
///
/// The Socket.IO service is mounted as a service, not with `Router::layer`: socketioxide creates
/// a new Engine.IO session table each time its layer is applied, and axum applies a layer once
/// per route and fallback, so long-polling requests of one session could land in another table.
pub fn router<A: Adapter>(socket_io: SocketIoService<Router, A>, state: HttpState) -> Router {
    let socket_io = Router::new()
        .fallback_service(socket_io)
        .layer(middleware::map_request(detach_head))
        .layer(middleware::from_fn_with_state(state.clone(), check_origin));
    let mut routes = Router::new();
    for file in &assets::SOCKET_IO_CLIENT {
        routes = routes.route(
            &format!("/socket.io/{}", file.name),
            get(move |headers: HeaderMap| vendored(file, headers)),
        );
    }
    routes
        .route(
            "/",
            get(|| asset("text/html; charset=utf-8", assets::INDEX_HTML)),
        )
        .route(
            "/index.html",
            get(|| asset("text/html; charset=utf-8", assets::INDEX_HTML)),
        )
        .route(
            "/app.js",
            get(|| asset("text/javascript; charset=utf-8", assets::APP_JS)),
        )
        .route(
            "/style.css",
            get(|| asset("text/css; charset=utf-8", assets::STYLE_CSS)),
        )
        .route(
            "/whiteboard",
            get(|| asset("text/html; charset=utf-8", assets::WHITEBOARD_HTML)),
        )
        .route(
            "/whiteboard.js",
            get(|| asset("text/javascript; charset=utf-8", assets::WHITEBOARD_JS)),
        )
        .route(
            "/whiteboard.css",
            get(|| asset("text/css; charset=utf-8", assets::WHITEBOARD_CSS)),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .fallback_service(socket_io)
}

/// Copies the request's URI and header values out of hyper's connection read buffer.
///
/// hyper parses the head in place: each header value is a slice of the connection's read
/// buffer (8–16 KiB). Engine.IO keeps the request head of every session for its whole life, so
/// those slices would keep the buffer of every open connection alive: about 12 KB of RSS per
/// idle socket, a third of the total. Owned copies take a few hundred bytes.
async fn detach_head(mut request: Request) -> Request {
    let shared = std::mem::take(request.headers_mut());
    let owned = request.headers_mut();
    owned.reserve(shared.len());
    for (name, value) in &shared {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
        // axum's copy of the URI (for nested routers) points into the buffer too.
        if request.extensions().get::<OriginalUri>().is_some() {
            request.extensions_mut().insert(OriginalUri(uri.clone()));
        }
        *request.uri_mut() = uri;
    }
    request
}

/// What the Socket.IO service answers for a path it does not handle.
pub fn not_found() -> Router {
    Router::new().fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

/// One of our pages or their scripts: revalidated on every load (`no-cache`), as they change
/// with every release under the same URL.
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    set_asset_headers(headers, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A file of the vendored socket.io-client bundle. Its URL carries no version, so browsers
/// revalidate it (`no-cache`) and get `304 Not Modified` while the version is unchanged.
async fn vendored(file: &'static assets::VendoredFile, request: HeaderMap) -> Response {
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == "*" || tag.trim() == assets::SOCKET_IO_CLIENT_ETAG)
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.body.into_response()
    };
    let headers = response.headers_mut();
    set_asset_headers(headers, file.content_type);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_static(assets::SOCKET_IO_CLIENT_ETAG),
    );
    response
}

/// The headers every page and asset carries: its type, the CSP, no sniffing, no referrer.
fn set_asset_headers(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(assets::CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Alive: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready: the bus answers, Redis on both connections or NATS (always ready in memory mode).
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    let store = tokio::time::timeout(READY_TIMEOUT, state.chat.store.ping()).await;
    let store = match store {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {READY_TIMEOUT:?}")),
    };
    let pubsub = match &state.pubsub {
        None => Ok(()),
        Some(driver) => match tokio::time::timeout(READY_TIMEOUT, driver.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {READY_TIMEOUT:?}")),
        },
    };
    match (store, pubsub) {
        (Ok(()), Ok(())) => (StatusCode::OK, "ready\n".into()),
        (Err(e), _) | (_, Err(e)) => {
            state.chat.metrics.redis_errors.inc();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} unreachable: {e}\n",
                    state.pubsub.as_ref().map_or("redis", BusDriver::name)
                ),
            )
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.chat.metrics.render(),
    )
}

/// Refuses a Socket.IO request whose `Origin` is neither this server's own nor in ALLOWED_ORIGINS.
/// Requests without an Origin (non-browser clients) pass: the check protects browsers' users.
async fn check_origin(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let allowed = state.chat.config.allowed_origins.allows(origin)
            || same_origin(origin, request.headers());
        if !allowed {
            tracing::info!(origin, "refused a connection from a foreign origin");
            return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
        }
    }
    next.run(request).await
}

/// Whether `origin` names the host the request was sent to (the page we served ourselves).
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let origin_host = origin.split_once("://").map(|(_, host)| host).unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}
