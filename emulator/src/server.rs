//! The HTTP server: one port serving every API under its real path, the OAuth2 token endpoint
//! and the emulator's own `/_emulator/*` endpoints. Each API call passes, in order: request
//! log → route lookup → added latency → authentication → injected faults (or a lost answer after
//! the handler) → API enablement (in the quota project of `x-goog-user-project` too) → the
//! caller's permission, where the project enforces IAM → the handler; enums in the answer are
//! encoded as the caller asked.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::{EmulatorConfig, FaultConfig};
use crate::error::ApiError;
use crate::json::{self, EnumEncoding};
use crate::router::{Call, Reply, Route};
use crate::runtime::Runtime;
use crate::state::Emu;

/// Where to listen: an address to bind, or a listener already bound (tests bind port 0).
pub enum Listen {
    Addr(SocketAddr),
    Listener(TcpListener),
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addr(addr)
    }
}

impl From<TcpListener> for Listen {
    fn from(listener: TcpListener) -> Self {
        Listen::Listener(listener)
    }
}

/// The emulator server.
pub struct Emulator;

/// A running emulator. Dropping it stops the server too.
pub struct EmulatorHandle {
    base_url: String,
    addr: SocketAddr,
    emu: Emu,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

#[derive(Clone)]
struct App {
    emu: Emu,
    routes: Arc<Vec<Route>>,
}

/// Largest request body (Cloud Storage media uploads of source tarballs).
const MAX_BODY: usize = 256 * 1024 * 1024;

impl Emulator {
    /// Binds (if given an address) and starts serving in the background.
    pub async fn start(
        listen: impl Into<Listen>,
        config: EmulatorConfig,
        runtime: Arc<dyn Runtime>,
    ) -> std::io::Result<EmulatorHandle> {
        let listener = match listen.into() {
            Listen::Addr(addr) => TcpListener::bind(addr).await?,
            Listen::Listener(listener) => listener,
        };
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let emu = Emu::new(config, base_url.clone(), runtime);
        emu.faults()
            .set(emu.config().faults.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.message))?;
        let app = App {
            emu: emu.clone(),
            routes: Arc::new(
                crate::ops::http::API
                    .routes()
                    .chain(crate::apis::routes())
                    .collect(),
            ),
        };
        let router = Router::new()
            .route("/token", post(token))
            .route("/_emulator/requests", get(requests))
            .route("/_emulator/resources", get(resources))
            .route("/_emulator/reset", post(reset))
            .route("/_emulator/faults", get(get_faults).post(set_faults))
            .route("/_emulator/users", post(users))
            .route("/_emulator/projects", post(describe_project))
            .route("/_emulator/projects/{project}/grants", post(grant))
            .fallback(dispatch)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::internal("Internal error encountered.").into_response()
            }))
            .with_state(app);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(EmulatorHandle {
            base_url,
            addr,
            emu,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`: the endpoint for every API (`with_endpoint`), and
    /// `{base_url}/token` for OAuth2.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, finishes those in flight and drops pending operations.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.emu.stop_jobs();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.emu.stop_jobs();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn token(State(app): State<App>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    app.emu.requests().record("POST", uri.path(), &body);
    crate::auth::http::token_endpoint(&app.emu, &headers, &body)
}

async fn requests(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        app.emu.requests().json_lines(),
    )
        .into_response()
}

async fn resources(State(app): State<App>) -> Response {
    let world = app.emu.world(|w| serde_json::to_value(&*w));
    match world {
        Ok(value) => axum::Json(value).into_response(),
        Err(e) => ApiError::internal(format!("cannot serialise resources: {e}")).into_response(),
    }
}

async fn reset(State(app): State<App>) -> Response {
    app.emu.reset();
    axum::Json(json!({})).into_response()
}

async fn get_faults(State(app): State<App>) -> Response {
    axum::Json(app.emu.faults().config()).into_response()
}

async fn set_faults(State(app): State<App>, body: Bytes) -> Response {
    let result = json::parse_body::<FaultConfig>(&body, &[]).and_then(|c| app.emu.faults().set(c));
    match result {
        Ok(()) => axum::Json(app.emu.faults().config()).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn users(State(app): State<App>, body: Bytes) -> Response {
    match crate::auth::http::register_user(&app.emu, &body) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn describe_project(State(app): State<App>, body: Bytes) -> Response {
    match crate::projects::http::describe(&app.emu, &body) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn grant(State(app): State<App>, Path(project): Path<String>, body: Bytes) -> Response {
    match crate::projects::http::grant(&app.emu, &project, &body) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every Google API call.
async fn dispatch(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    app.emu
        .requests()
        .record(method.as_str(), path_and_query, &body);
    let query: Vec<(String, String)> = match uri.query() {
        None => Vec::new(),
        Some(q) => match serde_urlencoded::from_str(q) {
            Ok(pairs) => pairs,
            Err(_) => {
                return ApiError::invalid_argument("The query string is malformed.")
                    .into_response();
            }
        },
    };
    let encoding = EnumEncoding::from_query(&query);
    let found = app
        .routes
        .iter()
        .find_map(|r| r.matches(&method, uri.path()).map(|p| (r, p)));
    let Some((route, params)) = found else {
        return ApiError::not_found(format!(
            "The requested URL {} was not found on this server (method {method}).",
            uri.path()
        ))
        .into_response();
    };
    match run(&app.emu, route, uri.path(), params, query, headers, body).await {
        Ok(Reply::Json(mut value)) => {
            json::encode_enums(&mut value, route.enums, encoding);
            axum::Json(value).into_response()
        }
        Ok(Reply::JsonWithEnums(mut value, enums)) => {
            json::encode_enums(&mut value, enums, encoding);
            axum::Json(value).into_response()
        }
        Ok(Reply::Raw(response)) => response,
        Err(error) => error.into_response(),
    }
}

async fn run(
    emu: &Emu,
    route: &Route,
    path: &str,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let latency = emu.faults().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let principal = crate::auth::http::authenticate(emu, &headers)?;
    route.check_query(&query)?;
    let injected = emu.faults().pick(route.id());
    let lost_answer = match injected {
        Some(fault) if fault.after => Some(fault.error),
        Some(fault) => return Err(fault.error),
        None => None,
    };
    let project = params
        .iter()
        .find(|(k, _)| k == "project")
        .map(|(_, v)| v.clone());
    // `projects/-` (any project) names no project whose enablement could be checked.
    let project = project.filter(|p| p != "-");
    let quota_project = headers
        .get("x-goog-user-project")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(String::from);
    if !route.service.is_empty() {
        let enforce = emu.config().enforce_api_enablement;
        emu.world(|w| {
            // The quota project is the consumer: its enablement (when it is another project)
            // and the caller's right to use it (`serviceusage.services.use`).
            if let Some(consumer) = &quota_project {
                let other = !project
                    .as_deref()
                    .is_some_and(|p| crate::access::same_project(w, p, consumer));
                if other {
                    w.projects
                        .require_enabled(consumer, route.service, enforce)?;
                }
                crate::access::require_quota_project(
                    w,
                    consumer,
                    principal.as_deref(),
                    route.service,
                )?;
            }
            match &project {
                Some(project) => w.projects.require_enabled(project, route.service, enforce),
                None => Ok(()),
            }
        })?;
    }
    if !route.row.permission.is_empty() {
        emu.world(|w| {
            let Some(target) = crate::access::target_project(w, &params, &query) else {
                return Ok(());
            };
            if !w.projects.find(&target).is_some_and(|p| p.enforces_iam()) {
                return Ok(());
            }
            if principal.is_none() {
                return Err(crate::auth::http::missing_credentials());
            }
            let account = params
                .iter()
                .find(|(k, _)| k == "account")
                .and_then(|(_, a)| w.iam.find("-", a))
                .map(|a| a.email.clone());
            crate::access::require(
                w,
                &target,
                principal.as_deref(),
                route.row.permission,
                &crate::access::resource_of(path),
                account.as_deref(),
            )
        })?;
    }
    let call = Call {
        emu: emu.clone(),
        principal,
        params,
        query,
        headers,
        body,
        enums: route.enums,
    };
    let reply = (route.row.handler)(call).await;
    match lost_answer {
        Some(error) => Err(error),
        None => reply,
    }
}
