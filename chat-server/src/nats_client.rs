//! Opening the NATS connection for BUS=nats from the configuration: NATS_URL, NATS_CREDS (never
//! logged), and a client that reconnects forever with capped backoff and re-subscribes by itself,
//! so a NATS restart heals without restarting chat-server. Lost and regained connections are
//! logged and counted.

use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event};

use crate::config::{Config, redact_url};
use crate::metrics::Metrics;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a request (a JetStream API call, a publish's ack) may wait for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound of the backoff between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The NATS server list with any credentials in it taken out, for logs and errors.
pub fn display_url(config: &Config) -> String {
    redact_url(config.nats_url.as_deref().unwrap_or(""))
}

/// Connects to NATS, retrying only what may pass by itself (refused, timed out) until `wait`
/// runs out; a refusal such as bad credentials is returned at once. Errors never hold
/// NATS_CREDS or a password from NATS_URL.
/// The `user:password` of the first server URL that carries one (percent-decoded).
fn login_in_url(urls: &str) -> Option<(String, String)> {
    urls.split(',')
        .filter_map(|url| url.trim().parse::<async_nats::ServerAddr>().ok())
        .find(|addr| addr.has_user_pass())
        .and_then(|addr| {
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(part)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(addr.username()?), decode(addr.password()?)))
        })
}

pub async fn connect(
    config: &Config,
    metrics: Arc<Metrics>,
    wait: Duration,
) -> Result<Client, String> {
    let url = config.nats_url.clone().ok_or("NATS_URL is not set")?;
    let credentials = config.nats_credentials()?;
    let url_login = login_in_url(&url);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut options = ConnectOptions::new()
            .name("chat-server")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(RESPONSE_TIMEOUT))
            .ping_interval(Duration::from_secs(10))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                (Duration::from_millis(50) * 2u32.saturating_pow(attempts.min(8) as u32))
                    .min(MAX_BACKOFF)
            });
        // async-nats parses `user:password@` in the URL but does not send it: say it here.
        if let Some((user, password)) = &url_login {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(creds) = &credentials {
            options = options.credentials(creds).map_err(|_| {
                "NATS_CREDS holds no usable NATS user credentials: check the JWT and the NKEY SEED block"
                    .to_string()
            })?;
        }
        let events = metrics.clone();
        options = options.event_callback(move |event| {
            let metrics = events.clone();
            async move { log_event(event, &metrics) }
        });
        let reason = match tokio::time::timeout(wait, options.connect(url.as_str())).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => {
                use async_nats::ConnectErrorKind as Kind;
                let retry = matches!(
                    e.kind(),
                    Kind::Io | Kind::TimedOut | Kind::Dns | Kind::MaxReconnects
                );
                let reason = describe_connect_error(&e);
                if !retry {
                    return Err(reason);
                }
                reason
            }
            Err(_) => format!("no answer within {wait:?}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(reason);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A connect error in words, without the URL (it may hold a password).
fn describe_connect_error(e: &async_nats::ConnectError) -> String {
    use async_nats::ConnectErrorKind as Kind;
    match e.kind() {
        Kind::Authentication | Kind::AuthorizationViolation => {
            "NATS refused the credentials (check NATS_CREDS or the user in NATS_URL)".into()
        }
        Kind::ServerParse => "NATS_URL is not a valid NATS server address or list".into(),
        Kind::Tls => format!("TLS failed: {e}"),
        Kind::TimedOut => format!("no answer within {CONNECT_TIMEOUT:?}"),
        _ => e.to_string(),
    }
}

fn log_event(event: Event, metrics: &Metrics) {
    match event {
        Event::Disconnected => {
            metrics.redis_errors.inc();
            tracing::warn!("NATS connection lost; reconnecting and re-subscribing");
        }
        Event::Connected => tracing::info!("NATS connection (re)established"),
        Event::SlowConsumer(sid) => {
            metrics.pubsub_dropped.inc();
            tracing::warn!(
                sid,
                "NATS dropped messages for a subscription that could not keep up"
            );
        }
        Event::ServerError(e) => {
            metrics.redis_errors.inc();
            tracing::warn!(error = %e, "NATS server error");
        }
        Event::ClientError(e) => {
            metrics.redis_errors.inc();
            tracing::warn!(error = %e, "NATS client error");
        }
        other => tracing::info!(event = %other, "NATS connection event"),
    }
}

/// Whether the connection is up and the server answers a round trip within `limit`.
pub async fn ping(client: &Client, limit: Duration) -> Result<(), String> {
    if client.connection_state() != State::Connected {
        return Err("not connected to NATS (reconnecting)".into());
    }
    match tokio::time::timeout(limit, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_in_nats_url_is_found_and_decoded() {
        assert_eq!(login_in_url("nats://10.0.0.5:4222"), None);
        assert_eq!(
            login_in_url("nats://a:4222, nats://chat:p%40ss@b:4222"),
            Some(("chat".into(), "p@ss".into()))
        );
    }
}
