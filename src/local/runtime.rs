//! The emulator's runtime hook for `up --local`: it makes emulated resources real. A Memorystore
//! instance that becomes READY is a redis-server process; a Cloud Run service revision that
//! becomes ready is N chat-server processes behind the front door, with the service's own
//! environment (REDISHOST/REDISPORT, or BUS=nats and NATS_URL, as `up` set them). Deletes stop
//! the processes. With --bus nats the session's nats-server (JetStream, a password generated
//! for the run) is started before `up` and handed to the instances with its credentials.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use emulator::{HookFuture, RedisEndpoint, RedisInstanceInfo, Runtime, ServiceInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::front_door::{Backend, Backends};
use super::log_agent::LogAgent;
use super::processes::{Spec, Supervised, say};
use super::redis_tls::RedisTls;

/// How long a new process may take to answer before its start counts as failed.
const START_WAIT: Duration = Duration::from_secs(20);
/// Variables of the user's shell that would change what a chat-server instance does.
const CHAT_ENV_CLEARED: &[&str] = &[
    "REDISHOST",
    "REDISPORT",
    "REDIS_PASSWORD",
    "REDIS_TLS",
    "REDIS_CA_CERT",
    "BUS",
    "NATS_URL",
    "NATS_CREDS",
    "PORT",
];

/// The NATS user of local mode's nats-server (its password is generated per run).
const NATS_USER: &str = "chat";

/// What the runtime runs, fixed for the session.
#[derive(Debug, Clone)]
pub struct Plan {
    /// redis-server, or `None` for chat-server's in-memory mode (one instance) or --bus nats.
    pub redis_server: Option<PathBuf>,
    /// With --bus nats: the session's nats-server.
    pub nats: Option<NatsPlan>,
    /// chatctl itself: instances run as `chatctl serve-chat`.
    pub chatctl: PathBuf,
    /// chat-server instances per service.
    pub instances: u16,
    /// Where redis-server keeps its append-only file (history survives its restart).
    pub data_dir: PathBuf,
}

/// Local mode's NATS server: where it listens and the password of [`NATS_USER`].
#[derive(Clone)]
pub struct NatsPlan {
    pub program: PathBuf,
    pub port: u16,
    pub password: String,
}

impl std::fmt::Debug for NatsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsPlan")
            .field("program", &self.program)
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl NatsPlan {
    /// The URL the service's NATS_URL says (no credentials), as `up` deploys it.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The URL the instances connect with: the credentials in it (chat-server never logs them).
    fn url_with_credentials(&self) -> String {
        format!(
            "nats://{NATS_USER}:{}@127.0.0.1:{}",
            self.password, self.port
        )
    }
}

/// The processes started for each resource; `closed` once the session stops, after which a
/// hook that is still starting something stops it again (an `up` interrupted mid-create).
#[derive(Default)]
struct Running {
    redis: HashMap<String, Supervised>,
    nats: Option<Supervised>,
    services: HashMap<String, Vec<Supervised>>,
    closed: bool,
}

/// What a hook answers when the session is stopping.
const CLOSED: &str = "local mode is stopping: nothing new is started";

/// The hook: shared by the emulator's jobs and the session that stops everything at the end.
pub struct LocalRuntime {
    plan: Plan,
    backends: Arc<Backends>,
    front_door_url: String,
    running: Mutex<Running>,
    /// Sends the instances' output to the emulated Cloud Logging (set once the emulator runs).
    log_agent: std::sync::OnceLock<LogAgent>,
}

impl LocalRuntime {
    pub fn new(plan: Plan, backends: Arc<Backends>, front_door_url: String) -> Self {
        LocalRuntime {
            plan,
            backends,
            front_door_url,
            running: Mutex::new(Running::default()),
            log_agent: std::sync::OnceLock::new(),
        }
    }

    /// From now on, the chat-server instances started also log through `agent`.
    pub fn log_through(&self, agent: LogAgent) {
        let _ = self.log_agent.set(agent);
    }

    /// Stops whatever `down` did not (e.g. an `up` interrupted before its service existed).
    pub async fn stop_all(&self) {
        let (redis, nats, services) = {
            let mut running = self.running.lock().await;
            running.closed = true;
            (
                std::mem::take(&mut running.redis),
                running.nats.take(),
                std::mem::take(&mut running.services),
            )
        };
        self.backends.set(Vec::new());
        let all = redis
            .into_values()
            .chain(services.into_values().flatten())
            .chain(nats);
        futures::future::join_all(all.map(Supervised::stop)).await;
    }

    /// Starts the session's nats-server (--bus nats) and waits until it answers with the
    /// run's credentials; it runs until [`LocalRuntime::stop_all`], restarted if it dies, on
    /// the same port and JetStream store (history survives its crash).
    pub async fn start_nats(&self) -> Result<(), String> {
        let Some(nats) = &self.plan.nats else {
            return Ok(());
        };
        let dir = self.plan.data_dir.join("nats");
        let config = dir.join("nats.conf");
        write_private(&config, &nats_config(nats, &dir.join("jetstream")))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let process = Supervised::start(Spec {
            name: "nats".into(),
            program: nats.program.clone(),
            args: vec!["-c".into(), config.display().to_string()],
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            log: None,
        });
        if !wait_until(START_WAIT, || nats_answers(nats)).await {
            let tail = process.tail();
            process.stop().await;
            return Err(format!(
                "nats-server did not answer on 127.0.0.1:{} within {}s:\n{tail}",
                nats.port,
                START_WAIT.as_secs()
            ));
        }
        let mut running = self.running.lock().await;
        if running.closed {
            drop(running);
            process.stop().await;
            return Err(CLOSED.into());
        }
        running.nats = Some(process);
        drop(running);
        say(
            "nats",
            &format!(
                "nats-server (JetStream) on 127.0.0.1:{}, user {NATS_USER} with a password generated for this run",
                nats.port
            ),
        );
        Ok(())
    }

    async fn start_redis(&self, info: &RedisInstanceInfo) -> Result<Option<RedisEndpoint>, String> {
        let Some(redis_server) = &self.plan.redis_server else {
            return Ok(None);
        };
        let old = {
            let mut running = self.running.lock().await;
            if running.closed {
                return Err(CLOSED.into());
            }
            running.redis.remove(&info.name)
        };
        if let Some(old) = old {
            old.stop().await;
        }
        let port = free_port().map_err(|e| format!("no free port for redis-server: {e}"))?;
        let dir = self.plan.data_dir.join(&info.instance_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tls = if info.transit_encryption {
            Some(RedisTls::create(&dir, &info.instance_id)?)
        } else {
            None
        };
        let process = Supervised::start(Spec {
            name: "redis".into(),
            program: redis_server.clone(),
            args: vec!["-".into()],
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: Some(redis_config(
                port,
                &dir,
                info.auth_string.as_deref(),
                tls.as_ref(),
            )),
            log: None,
        });
        let ready = wait_until(START_WAIT, || {
            redis_answers(port, info.auth_string.as_deref(), tls.as_ref())
        })
        .await;
        if !ready {
            let tail = process.tail();
            process.stop().await;
            let hint = if tls.is_some() {
                " (if this redis-server was built without TLS, pass --no-redis-tls)"
            } else {
                ""
            };
            return Err(format!(
                "redis-server did not answer on 127.0.0.1:{port} within {}s{hint}:\n{tail}",
                START_WAIT.as_secs()
            ));
        }
        if !self.keep(|r| &mut r.redis, &info.name, process).await {
            return Err(CLOSED.into());
        }
        let security = match (&tls, &info.auth_string) {
            (Some(tls), Some(_)) => format!(
                " (TLS with the run's CA {}, AUTH required)",
                tls.ca_file.display()
            ),
            (Some(tls), None) => format!(" (TLS with the run's CA {})", tls.ca_file.display()),
            (None, Some(_)) => " (AUTH required, no TLS)".to_string(),
            (None, None) => " (no AUTH, no TLS)".to_string(),
        };
        say(
            "redis",
            &format!(
                "Memorystore instance {} is redis-server on 127.0.0.1:{port}{security}",
                info.instance_id
            ),
        );
        Ok(Some(RedisEndpoint {
            host: "127.0.0.1".into(),
            port,
            server_ca_cert: tls.map(|tls| tls.ca_pem),
        }))
    }

    /// Records processes a hook started, unless the session closed meanwhile: then they are
    /// stopped and `false` is returned.
    async fn keep<T: Stoppable>(
        &self,
        map: impl FnOnce(&mut Running) -> &mut HashMap<String, T>,
        name: &str,
        processes: T,
    ) -> bool {
        let mut running = self.running.lock().await;
        if running.closed {
            drop(running);
            processes.stop().await;
            return false;
        }
        map(&mut running).insert(name.to_string(), processes);
        true
    }

    async fn stop_redis(&self, name: &str) {
        let process = self.running.lock().await.redis.remove(name);
        if let Some(process) = process {
            process.stop().await;
        }
    }

    async fn start_service(&self, info: &ServiceInfo) -> Result<Option<String>, String> {
        // A new revision replaces the old instances (Cloud Run shifts traffic the same way).
        self.stop_service(&info.name).await;
        let in_memory = self.plan.redis_server.is_none() && self.plan.nats.is_none();
        let mut count = if in_memory { 1 } else { self.plan.instances };
        if let Ok(max) = u16::try_from(info.max_instance_count)
            && max > 0
            && count > max
        {
            say(
                "local",
                &format!(
                    "the service allows at most {max} instance(s) (scaling.maxInstanceCount): running {max}"
                ),
            );
            count = max;
        }
        let env: Vec<(String, String)> = info
            .env
            .iter()
            .filter(|(key, _)| !(in_memory && key.starts_with("REDIS")) && key != "PORT")
            .map(|(key, value)| match &self.plan.nats {
                // The service names the server; the instances also get the run's credentials.
                Some(nats) if key == "NATS_URL" && *value == nats.url() => {
                    (key.clone(), nats.url_with_credentials())
                }
                _ => (key.clone(), value.clone()),
            })
            .collect();
        let mut started = Vec::new();
        let mut backends = Vec::new();
        for n in 1..=count {
            let name = format!("chat-{n}");
            let port = free_port().map_err(|e| format!("no free port for {name}: {e}"))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let process = Supervised::start(Spec {
                name: name.clone(),
                program: self.plan.chatctl.clone(),
                args: vec!["serve-chat".into(), "--listen".into(), addr.to_string()],
                env: env.clone(),
                env_remove: CHAT_ENV_CLEARED.iter().map(|k| k.to_string()).collect(),
                stdin: None,
                log: self.log_agent.get().map(|agent| {
                    agent.sink(&info.location, &info.service_id, &info.revision, &name)
                }),
            });
            started.push(process);
            backends.push(Backend { name, addr });
        }
        for (process, backend) in started.iter().zip(&backends) {
            if !wait_until(START_WAIT, || http_ready(backend.addr)).await {
                let why = format!(
                    "{} (chat-server) was not ready on {} within {}s:\n{}",
                    backend.name,
                    backend.addr,
                    START_WAIT.as_secs(),
                    process.tail()
                );
                futures::future::join_all(started.into_iter().map(Supervised::stop)).await;
                return Err(why);
            }
        }
        if !self.keep(|r| &mut r.services, &info.name, started).await {
            return Err(CLOSED.into());
        }
        self.backends.set(backends);
        say(
            "local",
            &format!(
                "Cloud Run service {} (image {}) is {count} chat-server instance(s) behind {}",
                info.service_id, info.image, self.front_door_url
            ),
        );
        Ok(Some(self.front_door_url.clone()))
    }

    async fn stop_service(&self, name: &str) {
        let processes = self.running.lock().await.services.remove(name);
        if let Some(processes) = processes {
            self.backends.set(Vec::new());
            futures::future::join_all(processes.into_iter().map(Supervised::stop)).await;
        }
    }
}

/// One process or a service's set of them.
trait Stoppable {
    async fn stop(self);
}

impl Stoppable for Supervised {
    async fn stop(self) {
        Supervised::stop(self).await;
    }
}

impl Stoppable for Vec<Supervised> {
    async fn stop(self) {
        futures::future::join_all(self.into_iter().map(Supervised::stop)).await;
    }
}

impl Runtime for LocalRuntime {
    fn redis_ready<'a>(
        &'a self,
        instance: &'a RedisInstanceInfo,
    ) -> HookFuture<'a, Result<Option<RedisEndpoint>, String>> {
        Box::pin(self.start_redis(instance))
    }

    fn redis_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        Box::pin(self.stop_redis(name))
    }

    fn service_ready<'a>(
        &'a self,
        service: &'a ServiceInfo,
    ) -> HookFuture<'a, Result<Option<String>, String>> {
        Box::pin(self.start_service(service))
    }

    fn service_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        Box::pin(self.stop_service(name))
    }
}

/// redis-server's configuration, fed on stdin so the AUTH string never shows in `ps`.
/// Append-only persistence (every write synced) in the session's data directory keeps room
/// history across a restart of redis-server, even a crash; RDB snapshots are off.
fn redis_config(port: u16, dir: &Path, auth: Option<&str>, tls: Option<&RedisTls>) -> String {
    let mut config = format!(
        "bind 127.0.0.1\nsave \"\"\nappendonly yes\nappendfsync always\ndir \"{}\"\n",
        dir.display()
    );
    match tls {
        Some(tls) => config.push_str(&tls.config(port)),
        None => config.push_str(&format!("port {port}\n")),
    }
    if let Some(auth) = auth {
        config.push_str(&format!("requirepass \"{auth}\"\n"));
    }
    config
}

/// nats-server's configuration: loopback only, JetStream with its store in the session's data
/// directory, one user with the run's password. Written to a file only chatctl can read, so
/// the password shows neither in `ps` nor in a log.
fn nats_config(nats: &NatsPlan, store: &Path) -> String {
    format!(
        "listen: \"127.0.0.1:{port}\"\nserver_name: \"chatctl-local\"\njetstream {{\n  store_dir: \"{store}\"\n}}\nauthorization {{\n  user: \"{NATS_USER}\"\n  password: \"{password}\"\n}}\n",
        port = nats.port,
        store = store.display(),
        password = nats.password,
    )
}

/// Creates `path` (and its directory) readable by this user only, with `text`.
pub(super) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// nats-server accepts the run's credentials: CONNECT, then PING answered by PONG.
async fn nats_answers(nats: &NatsPlan) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", nats.port)).await.ok()?;
        let connect = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "user": NATS_USER,
            "pass": nats.password,
        });
        let command = format!("CONNECT {connect}\r\nPING\r\n");
        stream.write_all(command.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        while !reply.ends_with(b"PONG\r\n") {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || reply.len() > 16 * 1024 || reply.starts_with(b"-ERR") {
                return None;
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.windows(4).any(|w| w == b"-ERR") {
                return None;
            }
        }
        Some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Some(()))
    )
}

/// A port that was free a moment ago (the process that takes it binds it right away).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `check` every 50 ms until it is true or `limit` passes.
async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Redis answers PING (after AUTH when it has a password), over TLS when it speaks TLS.
async fn redis_answers(port: u16, auth: Option<&str>, tls: Option<&RedisTls>) -> bool {
    let exchange = async {
        match tls {
            Some(tls) => redis_ping(tls.connect(port).await?, auth).await,
            None => redis_ping(TcpStream::connect(("127.0.0.1", port)).await.ok()?, auth).await,
        }
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Some(()))
    )
}

/// AUTH (when given) and PING on an open connection; `Some` when PONG came back.
async fn redis_ping(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    auth: Option<&str>,
) -> Option<()> {
    if let Some(auth) = auth {
        let command = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{auth}\r\n", auth.len());
        stream.write_all(command.as_bytes()).await.ok()?;
    }
    stream.write_all(b"PING\r\n").await.ok()?;
    stream.flush().await.ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"+PONG\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || reply.len() > 256 {
            return None;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Some(())
}

/// chat-server answers `GET /readyz` with 200 (its store answers too).
async fn http_ready(addr: SocketAddr) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), exchange).await,
        Ok(Some(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_config_binds_loopback_and_persists_in_the_session_dir() {
        let config = redis_config(6400, Path::new("/tmp/x"), None, None);
        assert!(config.contains("bind 127.0.0.1\n"));
        assert!(config.contains("\nport 6400\n"));
        assert!(config.contains("appendonly yes"));
        assert!(config.contains("dir \"/tmp/x\""));
        assert!(!config.contains("requirepass"));
        assert!(
            redis_config(1, Path::new("/d"), Some("s3cret"), None)
                .contains("requirepass \"s3cret\"")
        );
    }

    #[test]
    fn nats_config_binds_loopback_with_jetstream_and_the_runs_password_is_never_shown() {
        let nats = NatsPlan {
            program: PathBuf::from("/usr/sbin/nats-server"),
            port: 4300,
            password: "pw-of-the-run".into(),
        };
        let config = nats_config(&nats, Path::new("/tmp/s/js"));
        assert!(config.contains("listen: \"127.0.0.1:4300\""), "{config}");
        assert!(config.contains("store_dir: \"/tmp/s/js\""), "{config}");
        assert!(config.contains("password: \"pw-of-the-run\""), "{config}");
        assert_eq!(nats.url(), "nats://127.0.0.1:4300");
        assert!(!format!("{nats:?}").contains("pw-of-the-run"));
    }
}
