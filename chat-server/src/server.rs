//! Starting and stopping one instance: connect the bus and store (Redis, NATS or memory), mount
//! Socket.IO on the router, serve until the shutdown future resolves, then drain within a hard
//! time limit. Redis and NATS take the same path: a [`BusDriver`] under socketioxide's remote
//! adapter and the chat fan-out, and a [`Store`] for history, presence and boards.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::handler::ConnectHandler;
use socketioxide::service::SocketIoService;
use socketioxide_redis::drivers::{ChanItem, MessageStream};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bus::BusDriver;
use crate::chat::{self, Chat, ChatState};
use crate::config::{Bus, Config};
use crate::delivery::{self, Fanout};
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::nats_pubsub::NatsDriver;
use crate::pubsub::PubSubDriver;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::nats::NatsStore;
use crate::store::redis::RedisStore;
use crate::whiteboard::{self, Whiteboard, WhiteboardState};
use crate::{nats_client, redis_client};

/// How long startup waits for Redis (or NATS) before giving up.
const REDIS_STARTUP_WAIT: Duration = Duration::from_secs(10);
/// After the shutdown signal, the process is done within this (SIGTERM to exit must stay under 8 s).
const DRAIN_LIMIT: Duration = Duration::from_secs(6);
/// Cross-instance messages buffered per adapter channel before newer ones are dropped.
const ADAPTER_STREAM_BUFFER: usize = 65_536;
/// Packets queued per socket beyond a full replay (HISTORY_LIMIT messages) before the client
/// counts as too slow and is disconnected (see `delivery`).
const SOCKET_QUEUE_SLACK: usize = 1_024;

/// Bytes each WebSocket reads at a time (engineioxide's default: 4 KiB). Client frames are small
/// (an event and a short text); a longer frame takes several reads. Kept by every connection, and
/// tungstenite zeroes its free part before each read, so small saves memory and CPU.
const WS_READ_BUFFER: usize = 1024;

/// Why an instance could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is wrong; the message says which and how to fix it.
    #[error("{0}")]
    Config(String),
    /// Redis could not be reached or set up at startup.
    #[error(
        "cannot use Redis at {addr}: {reason} (check REDISHOST/REDISPORT/REDIS_PASSWORD/REDIS_TLS and that Redis is up)"
    )]
    Redis { addr: String, reason: String },
    /// NATS could not be reached or set up at startup (BUS=nats).
    #[error(
        "cannot use NATS at {addr}: {reason} (check NATS_URL/NATS_CREDS and that nats-server is up with JetStream enabled, -js)"
    )]
    Nats { addr: String, reason: String },
    /// Serving HTTP failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves on `listener` until `shutdown` resolves, then tells clients to reconnect (closes
/// their transports) and returns within a few seconds.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let instance = Instance::prepare(config).await?;
    instance.run(listener, shutdown).await
}

/// A running instance, as started by [`spawn`]: its address and a way to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl ServerHandle {
    /// The address the instance listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the instance as SIGTERM would and waits until it is done.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.stop.is_none() {
            return;
        }
        self.task.abort();
    }
}

/// Starts an instance on `listener` in the background. Startup errors (bad settings, Redis
/// unreachable) are returned here; the handle stops it.
pub async fn spawn(listener: TcpListener, config: Config) -> Result<ServerHandle, ServeError> {
    let addr = listener.local_addr()?;
    let instance = Instance::prepare(config).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(instance.run(listener, stopped.map(|_| ())));
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task,
    })
}

/// An instance whose backend is connected, ready to serve.
enum Instance {
    Memory {
        chat: Chat,
        whiteboard: Whiteboard,
    },
    /// Sharing state and broadcasts with other instances through Redis or NATS.
    Shared {
        chat: Chat,
        whiteboard: Whiteboard,
        driver: BusDriver,
        relay: MessageStream<ChanItem>,
    },
}

/// The startup error for the configured bus.
fn bus_error(config: &Config, reason: String) -> ServeError {
    match config.bus {
        Bus::Redis => ServeError::Redis {
            addr: format!(
                "{}:{}",
                config.redis_host.as_deref().unwrap_or(""),
                config.redis_port
            ),
            reason,
        },
        Bus::Nats => ServeError::Nats {
            addr: nats_client::display_url(config),
            reason,
        },
    }
}

impl Instance {
    async fn prepare(config: Config) -> Result<Self, ServeError> {
        config.validate().map_err(ServeError::Config)?;
        let metrics = Arc::new(Metrics::default());
        let history_limit = config.history_limit as usize;
        if config.bus == Bus::Nats {
            return Self::prepare_nats(config, metrics).await;
        }
        let Some(host) = config.redis_host.clone() else {
            tracing::info!(
                "no REDISHOST: history and presence are kept in memory, single instance only (set REDISHOST or BUS=nats to run several)"
            );
            let store = Store::Memory(MemoryStore::new(history_limit));
            let fanout = Arc::new(Fanout::local(metrics.clone()));
            let chat = Arc::new(ChatState {
                store,
                config,
                metrics,
                fanout,
            });
            let whiteboard = WhiteboardState::beside(&chat)
                .await
                .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
            return Ok(Instance::Memory { chat, whiteboard });
        };
        let addr = format!("{host}:{}", config.redis_port);
        let redis_error = |reason: String| ServeError::Redis {
            addr: addr.clone(),
            reason,
        };
        let client = redis_client::client(&config).map_err(ServeError::Config)?;
        redis_client::check(&client, REDIS_STARTUP_WAIT)
            .await
            .map_err(redis_error)?;
        let conn = redis_client::connect(
            client.clone(),
            redis_client::manager_config(),
            REDIS_STARTUP_WAIT,
        )
        .await
        .map_err(redis_error)?;
        let driver = PubSubDriver::connect(client, metrics.clone(), REDIS_STARTUP_WAIT)
            .await
            .map_err(redis_error)?;
        tracing::info!(
            redis = addr,
            tls = config.redis_tls,
            auth = config.redis_password.is_some(),
            history_limit,
            "using Redis for history, presence and cross-instance broadcast"
        );
        let store = Store::Redis(RedisStore::new(conn, history_limit));
        Self::shared(config, metrics, store, BusDriver::Redis(driver)).await
    }

    /// Connects to NATS (BUS=nats) and sets up the JetStream streams and buckets.
    async fn prepare_nats(config: Config, metrics: Arc<Metrics>) -> Result<Self, ServeError> {
        let client = nats_client::connect(&config, metrics.clone(), REDIS_STARTUP_WAIT)
            .await
            .map_err(|reason| bus_error(&config, reason))?;
        let store = NatsStore::open(client.clone(), config.history_limit as usize)
            .await
            .map_err(|e| bus_error(&config, format!("setting up JetStream failed: {e}")))?;
        tracing::info!(
            nats = nats_client::display_url(&config),
            creds = config.nats_creds.is_some(),
            history_limit = config.history_limit,
            "using NATS for cross-instance broadcast and JetStream for history, presence and boards"
        );
        let driver = BusDriver::Nats(NatsDriver::new(client, metrics.clone()));
        Self::shared(config, metrics, Store::Nats(Arc::new(store)), driver).await
    }

    /// An instance sharing `store` and broadcasting through `driver`.
    async fn shared(
        config: Config,
        metrics: Arc<Metrics>,
        store: Store,
        driver: BusDriver,
    ) -> Result<Self, ServeError> {
        let (fanout, relay) = Fanout::shared(driver.clone(), metrics.clone())
            .await
            .map_err(|e| bus_error(&config, format!("subscribing to deliveries failed: {e}")))?;
        let chat = Arc::new(ChatState {
            store,
            config,
            metrics,
            fanout: Arc::new(fanout),
        });
        let whiteboard = WhiteboardState::beside(&chat)
            .await
            .map_err(|e| bus_error(&chat.config, format!("setting up the boards failed: {e}")))?;
        Ok(Instance::Shared {
            chat,
            whiteboard,
            driver,
            relay,
        })
    }

    async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        match self {
            Instance::Memory { chat, whiteboard } => {
                let (socket_io, io) =
                    socket_io_builder(&chat, whiteboard).build_with_inner_svc(http::not_found());
                io.ns(
                    "/",
                    chat::on_connect
                        .with(chat::prepare_socket::<LocalAdapter>)
                        .with(whiteboard::prepare_socket::<LocalAdapter>),
                );
                serve_http(listener, socket_io, io, chat, None, shutdown).await
            }
            Instance::Shared {
                chat,
                whiteboard,
                driver,
                relay,
            } => {
                type Remote = CustomRedisAdapter<socketioxide::adapter::Emitter, BusDriver>;
                let adapter_config = RedisAdapterConfig::new()
                    .with_prefix("chat-socket.io")
                    .with_stream_buffer(ADAPTER_STREAM_BUFFER);
                let adapter = RedisAdapterCtr::new_with_driver(driver.clone(), adapter_config);
                let (socket_io, io) = socket_io_builder(&chat, whiteboard)
                    .with_adapter::<Remote>(adapter)
                    .build_with_inner_svc(http::not_found());
                tokio::time::timeout(
                    REDIS_STARTUP_WAIT,
                    io.ns(
                        "/",
                        chat::on_connect
                            .with(chat::prepare_socket::<Remote>)
                            .with(whiteboard::prepare_socket::<Remote>),
                    ),
                )
                .await
                .map_err(|_| bus_error(&chat.config, "subscribing timed out".into()))?
                .map_err(|e| bus_error(&chat.config, format!("subscribing failed: {e}")))?;
                let relay = tokio::spawn(delivery::relay(io.clone(), chat.fanout.clone(), relay));
                let result =
                    serve_http(listener, socket_io, io, chat, Some(driver), shutdown).await;
                relay.abort();
                result
            }
        }
    }
}

fn socket_io_builder(chat: &Chat, whiteboard: Whiteboard) -> socketioxide::SocketIoBuilder {
    // A frame must hold the longest message (4 bytes per character at worst) plus framing.
    let max_payload = (u64::from(chat.config.max_message_len) * 4 + 4096).max(16 * 1024);
    SocketIo::builder()
        .with_state(chat.clone())
        .with_state(whiteboard)
        .max_payload(max_payload)
        .ws_max_message_size(max_payload as usize)
        .ws_max_frame_size(max_payload as usize)
        .max_buffer_size(chat.config.history_limit as usize + SOCKET_QUEUE_SLACK)
        .ws_read_buffer_size(WS_READ_BUFFER)
}

async fn serve_http<A: Adapter>(
    listener: TcpListener,
    socket_io: SocketIoService<axum::Router, A>,
    io: SocketIo<A>,
    chat: Chat,
    pubsub: Option<BusDriver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let sweeper = tokio::spawn(chat::announce_leaves(io.clone(), chat.clone()));
    let chat_for_close = chat.clone();
    let app = http::router(socket_io, HttpState { chat, pubsub });
    let shutdown = shutdown.shared();
    tracing::info!(%addr, "chat-server listening");

    // Small writes (an ack right after a broadcast) must not wait for Nagle's algorithm:
    // chat-bench measured ~20 ms added to ack latency without TCP_NODELAY.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a client connection");
        }
    });
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone())
        .into_future();
    let closing = {
        let io = io.clone();
        let chat_closing = chat_for_close;
        let shutdown = shutdown.clone();
        async move {
            shutdown.await;
            tracing::info!(
                "shutting down: no new connections; closing client transports so they reconnect elsewhere"
            );
            chat::close_all(&io, &chat_closing).await;
        }
    };
    let drained = async { tokio::join!(serving, closing).0 };
    let deadline = async {
        shutdown.clone().await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    let result = tokio::select! {
        result = drained => result.map_err(ServeError::from),
        () = deadline => {
            tracing::warn!("drain did not finish within {DRAIN_LIMIT:?}; exiting anyway");
            Ok(())
        }
    };
    sweeper.abort();
    tracing::info!("chat-server stopped");
    result
}
