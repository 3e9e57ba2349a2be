//! Opening Redis connections from the configuration: host/port, AUTH, TLS with an optional CA,
//! RESP3 (needed for pub/sub pushes), and a `ConnectionManager` that reconnects forever with
//! capped backoff so a Redis restart or failover heals by itself.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{TcpSettings, socket2};
use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion,
    RedisConnectionInfo,
};

use crate::config::Config;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command may wait for its reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound of the backoff between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Builds a client for the configured Redis. Errors say which setting to fix.
pub fn client(config: &Config) -> Result<Client, String> {
    let host = config.redis_host.clone().ok_or("REDISHOST is not set")?;
    let port = config.redis_port;
    let addr = if config.redis_tls {
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut redis_settings = RedisConnectionInfo::default().set_protocol(ProtocolVersion::RESP3);
    if let Some(password) = &config.redis_password {
        redis_settings = redis_settings.set_password(password);
    }
    let info: ConnectionInfo = addr
        .into_connection_info()
        .map_err(|e| format!("invalid Redis address: {e}"))?
        .set_redis_settings(redis_settings)
        .set_tcp_settings(tcp_settings());

    if !config.redis_tls {
        return Client::open(info).map_err(|e| format!("invalid Redis settings: {e}"));
    }
    // rustls needs a process-wide crypto provider; an Err only means one is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match config.redis_ca_pem()? {
        Some(root_cert) => {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            };
            Client::build_with_tls(info, certs)
                .map_err(|e| format!("REDIS_CA_CERT is not usable: {e}"))
        }
        None => Client::open(info).map_err(|e| format!("invalid Redis TLS settings: {e}")),
    }
}

/// TCP_NODELAY: without it, Nagle and delayed ACKs add tens of ms to every small command and
/// publish. Keepalive: a connection that dies silently (a failover without a reset) is noticed in
/// about a minute, so the subscriber reconnects instead of staying deaf.
fn tcp_settings() -> TcpSettings {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10))
        .with_retries(3);
    TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive)
}

/// Reconnection behaviour shared by the command and the pub/sub connection.
pub fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(MAX_BACKOFF)
        .set_exponent_base(2.0)
        // Keep trying: a node that gave up would stay deaf to other instances until restarted.
        .set_number_of_retries(usize::MAX)
}

/// Checks that Redis accepts a connection, retrying only what may pass by itself (refused,
/// timed out) until `wait` runs out; a refusal such as a wrong password is returned at once.
pub async fn check(client: &Client, wait: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let reason =
            match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) if !(e.is_io_error() || e.is_connection_refusal() || e.is_timeout()) => {
                    return Err(e.to_string());
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
            };
        if tokio::time::Instant::now() >= deadline {
            return Err(reason);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects once (bounded by `wait`), then keeps the connection alive in the background.
pub async fn connect(
    client: Client,
    config: ConnectionManagerConfig,
    wait: Duration,
) -> Result<ConnectionManager, String> {
    match tokio::time::timeout(wait, ConnectionManager::new_with_config(client, config)).await {
        Ok(Ok(manager)) => Ok(manager),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {wait:?}")),
    }
}
