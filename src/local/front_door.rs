//! The local front door: what Cloud Run's load balancer is to the service's instances.
//!
//! It is an HTTP/1.1 reverse proxy (hyper) rather than a TCP splice, because affinity lives in
//! HTTP: each request is routed on its own. A request carrying the affinity cookie goes to the
//! instance the cookie names while that instance answers; any other request goes to the next
//! instance in round-robin order (skipping instances that refuse the connection). Responses
//! carry `x-chatctl-instance: NAME` and, when the request was not already pinned there, a
//! `Set-Cookie` that pins the browser's later requests, like Cloud Run's session affinity
//! (best effort: a client without cookies, such as a WebSocket-only Node client, simply gets
//! the next instance). WebSocket upgrades pass through: the 101 from the instance is returned
//! and both upgraded connections are spliced together.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::processes::say;

/// The cookie that pins a browser to one instance.
pub const AFFINITY_COOKIE: &str = "chatctl-affinity";
/// The response header naming the instance that answered.
pub const INSTANCE_HEADER: &str = "x-chatctl-instance";

/// The front door's name in the log.
const FRONT_DOOR: &str = "door";

type Body = BoxBody<Bytes, hyper::Error>;

/// One instance behind the door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
}

/// The instances currently behind the door; the runtime swaps them as services come and go.
#[derive(Debug, Default)]
pub struct Backends {
    list: RwLock<Vec<Backend>>,
    next: AtomicUsize,
}

impl Backends {
    pub fn set(&self, backends: Vec<Backend>) {
        *self.list.write().unwrap_or_else(|e| e.into_inner()) = backends;
    }

    /// The order to try instances in: the pinned one first (the rotation does not move), else
    /// the next in round-robin order; the others follow as fallbacks.
    fn candidates(&self, pinned: Option<&str>) -> Vec<Backend> {
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        if list.is_empty() {
            return Vec::new();
        }
        let start = match pinned.and_then(|p| list.iter().position(|b| b.name == p)) {
            Some(at) => at,
            None => self.next.fetch_add(1, Ordering::Relaxed) % list.len(),
        };
        (0..list.len())
            .map(|i| list[(start + i) % list.len()].clone())
            .collect()
    }
}

/// The running door: its address; dropping it (or [`FrontDoor::stop`]) frees the port.
pub struct FrontDoor {
    addr: SocketAddr,
    closed: CancellationToken,
    task: JoinHandle<()>,
}

impl FrontDoor {
    /// Serves on `listener` until stopped, routing to whatever `backends` holds at the time.
    pub fn start(listener: TcpListener, backends: Arc<Backends>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let closed = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, backends, closed.clone()));
        Ok(FrontDoor { addr, closed, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes every proxied connection.
    pub async fn stop(mut self) {
        self.closed.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.closed.cancel();
        self.task.abort();
    }
}

/// Accepts until `closed`; then the listener is dropped (the port is free) and every
/// connection, proxied WebSockets included, ends.
async fn accept_loop(listener: TcpListener, backends: Arc<Backends>, closed: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            () = closed.cancelled() => return,
        };
        let backends = backends.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = serve_connection(stream, peer, backends, closed.clone()) => {}
                () = closed.cancelled() => {}
            }
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    backends: Arc<Backends>,
    closed: CancellationToken,
) {
    let service = hyper::service::service_fn(move |req| {
        let backends = backends.clone();
        let closed = closed.clone();
        async move { Ok::<_, Infallible>(route(req, peer, &backends, closed).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

/// Picks an instance and forwards the request to it. A request without a body (GET, HEAD,
/// the WebSocket upgrade) whose instance fails before answering (it crashed between accepting
/// the connection and replying) is sent to the next instance, as a load balancer retries a
/// connection-level failure; one with a body is answered 502, since its body is spent.
async fn route(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    backends: &Backends,
    closed: CancellationToken,
) -> Response<Body> {
    let pinned = affinity_of(&req);
    let candidates = backends.candidates(pinned.as_deref());
    if candidates.is_empty() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no instance is running\n");
    }
    let client_upgrade = hyper::upgrade::on(&mut req);
    if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
        req.headers_mut().insert("x-forwarded-for", value);
    }
    let (parts, body) = req.into_parts();
    let replayable = matches!(parts.method, hyper::Method::GET | hyper::Method::HEAD);
    let mut body = Some(body.boxed());
    let mut failure = None;
    for backend in candidates {
        let Ok(stream) = TcpStream::connect(backend.addr).await else {
            continue;
        };
        let this_body = match (replayable, body.take()) {
            (true, _) => http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed(),
            (false, Some(body)) => body,
            (false, None) => break,
        };
        let mut request = Request::from_parts(parts.clone(), this_body);
        *request.extensions_mut() = Default::default();
        match forward(stream, request).await {
            Ok(response) => {
                return answered(
                    response,
                    &backend,
                    pinned.as_deref(),
                    client_upgrade,
                    closed,
                );
            }
            Err(e) => {
                say(
                    FRONT_DOOR,
                    &format!("{} failed a request: {e}", backend.name),
                );
                failure = Some((backend, e));
                if !replayable {
                    break;
                }
            }
        }
    }
    match failure {
        Some((backend, error)) => plain(
            StatusCode::BAD_GATEWAY,
            &format!("{} failed: {error}\n", backend.name),
        ),
        None => {
            say(
                FRONT_DOOR,
                &format!(
                    "{} {}: no instance accepts connections",
                    parts.method,
                    parts.uri.path()
                ),
            );
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "no instance accepts connections (they may be restarting); retry in a moment\n",
            )
        }
    }
}

/// Sends `request` over `stream` (a connection to one instance) and returns its answer.
async fn forward(
    stream: TcpStream,
    request: Request<Body>,
) -> Result<Response<Incoming>, hyper::Error> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection.with_upgrades());
    sender.send_request(request).await
}

/// The instance's answer as the client gets it: a 101 is spliced to the client's upgraded
/// connection; the instance header and, unless already pinned there, the affinity cookie.
fn answered(
    mut response: Response<Incoming>,
    backend: &Backend,
    pinned: Option<&str>,
    client_upgrade: hyper::upgrade::OnUpgrade,
    closed: CancellationToken,
) -> Response<Body> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(instance)) = (client_upgrade.await, backend_upgrade.await) else {
                return;
            };
            let mut client = TokioIo::new(client);
            let mut instance = TokioIo::new(instance);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut instance) => {}
                () = closed.cancelled() => {}
            }
        });
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&backend.name) {
        headers.insert(INSTANCE_HEADER, value);
    }
    if pinned != Some(backend.name.as_str()) {
        let cookie = format!(
            "{AFFINITY_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
            backend.name
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response.map(BodyExt::boxed)
}

/// The instance named by the request's affinity cookie.
fn affinity_of<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == AFFINITY_COOKIE)
        .map(|(_, value)| value.to_string())
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(names: &[&str]) -> Backends {
        let b = Backends::default();
        b.set(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| Backend {
                    name: n.to_string(),
                    addr: SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16)),
                })
                .collect(),
        );
        b
    }

    #[test]
    fn new_requests_rotate_and_pinned_ones_stay() {
        let b = backends(&["chat-1", "chat-2"]);
        let first: Vec<_> = (0..4).map(|_| b.candidates(None)[0].name.clone()).collect();
        assert_eq!(first, ["chat-1", "chat-2", "chat-1", "chat-2"]);
        for _ in 0..3 {
            assert_eq!(b.candidates(Some("chat-2"))[0].name, "chat-2");
        }
        // Pinned requests do not move the rotation: the next new client gets the next instance.
        assert_eq!(b.candidates(None)[0].name, "chat-1");
        // A cookie naming a gone instance falls back to round-robin over the others.
        assert_eq!(b.candidates(Some("chat-9")).len(), 2);
    }

    #[test]
    fn the_affinity_cookie_is_found_among_others() {
        let req = Request::builder()
            .header("cookie", "a=1; chatctl-affinity=chat-2; b=3")
            .body(())
            .unwrap();
        assert_eq!(affinity_of(&req).as_deref(), Some("chat-2"));
        let req = Request::builder().body(()).unwrap();
        assert_eq!(affinity_of(&req), None);
    }
    /// A backend that accepts connections and closes each at once, unanswered: an instance
    /// that crashed between accepting and replying.
    async fn dying_backend() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                drop(stream);
            }
        });
        addr
    }

    /// A backend answering every request 200 with its name.
    async fn live_backend() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"live"))))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_bodiless_request_goes_on_to_the_next_instance_when_one_dies_unanswered() {
        let backends = Arc::new(Backends::default());
        backends.set(vec![
            Backend {
                name: "dying".into(),
                addr: dying_backend().await,
            },
            Backend {
                name: "live".into(),
                addr: live_backend().await,
            },
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let door = FrontDoor::start(listener, backends.clone()).unwrap();
        let http = reqwest::Client::new();
        for _ in 0..2 {
            // The rotation starts at each instance in turn; a GET always ends at the live one.
            let answer = http.get(door.url()).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            assert_eq!(answer.headers()[INSTANCE_HEADER], "live");
        }
        // A POST's body is spent on the first try: when the dying instance had it, a 502.
        let statuses: Vec<u16> = post_statuses(&http, &door.url()).await;
        assert!(
            statuses.contains(&502) && statuses.contains(&200),
            "{statuses:?}"
        );
        door.stop().await;
    }

    async fn post_statuses(http: &reqwest::Client, url: &str) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let answer = http.post(url).body("hello").send().await.unwrap();
            statuses.push(answer.status().as_u16());
        }
        statuses
    }
}
