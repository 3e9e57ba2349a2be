//! Settings of one chat-server instance: parsed from the environment (or flags) by clap,
//! validated once at startup, and passed around as a plain [`Config`].

use std::time::Duration;

use clap::Parser;

/// Everything a chat-server instance can be told. Each field reads an environment variable
/// (the names are pinned: Cloud Run sets them) and can also be given as a flag.
#[derive(Clone, Parser)]
#[command(
    name = "chat-server",
    version,
    about = "Real-time multi-room chat over Socket.IO, wire-compatible with the Cloud Run WebSocket tutorial"
)]
pub struct Config {
    /// TCP port to listen on (all interfaces).
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// What instances share history, presence and broadcast through: redis (REDISHOST; unset: one
    /// instance, in memory) or nats (NATS_URL: NATS subjects and JetStream).
    #[arg(long, env = "BUS", value_name = "BUS", default_value = "redis", value_parser = parse_bus)]
    pub bus: Bus,

    /// NATS server(s) for BUS=nats, e.g. nats://10.0.0.5:4222 (comma-separated for several).
    #[arg(long, env = "NATS_URL", value_name = "NATS_URL")]
    pub nats_url: Option<String>,

    /// NATS credentials for BUS=nats: a .creds file path or the file's text itself. Never logged.
    #[arg(
        long,
        env = "NATS_CREDS",
        value_name = "NATS_CREDS",
        hide_env_values = true
    )]
    pub nats_creds: Option<String>,

    /// Redis host for history, presence and cross-instance broadcast. Unset: single instance, in memory.
    #[arg(long, env = "REDISHOST", value_name = "REDISHOST")]
    pub redis_host: Option<String>,

    /// Redis port.
    #[arg(
        long,
        env = "REDISPORT",
        value_name = "REDISPORT",
        default_value_t = 6379
    )]
    pub redis_port: u16,

    /// Redis AUTH password (Memorystore AUTH string). Never logged.
    #[arg(
        long,
        env = "REDIS_PASSWORD",
        value_name = "REDIS_PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<String>,

    /// Connect to Redis over TLS (Memorystore in-transit encryption): 1/true or 0/false.
    #[arg(long, env = "REDIS_TLS", value_name = "REDIS_TLS", default_value = "0", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub redis_tls: bool,

    /// CA certificate for REDIS_TLS: a PEM file path or the PEM text itself. Unset: system roots.
    #[arg(long, env = "REDIS_CA_CERT", value_name = "REDIS_CA_CERT")]
    pub redis_ca_cert: Option<String>,

    /// How many recent messages each room keeps (and sends on sign-in).
    #[arg(long, env = "HISTORY_LIMIT", value_name = "HISTORY_LIMIT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub history_limit: u32,

    /// Comma-separated Origins allowed to open a Socket.IO connection, e.g. https://chat.example.com.
    /// Empty: any. The page this server serves (same host) and non-browser clients (no Origin) always may.
    #[arg(long, env = "ALLOWED_ORIGINS", value_name = "ALLOWED_ORIGINS", default_value = "", value_parser = parse_origins)]
    pub allowed_origins: Origins,

    /// Longest message accepted, in characters (after control characters are stripped).
    #[arg(long, env = "MAX_MESSAGE_LEN", value_name = "MAX_MESSAGE_LEN", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_message_len: u32,

    /// Per-socket message rate limit as COUNT/WINDOW (e.g. 20/10s), or "off".
    #[arg(long, env = "RATE_LIMIT", value_name = "RATE_LIMIT", default_value = "20/10s", value_parser = parse_rate_limit)]
    pub rate_limit: RateLimit,

    /// How long a disconnected user may take to come back (on any instance) before "just left" is announced.
    #[arg(long, env = "RECONNECT_GRACE", value_name = "RECONNECT_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub reconnect_grace: Duration,

    /// How many strokes each whiteboard keeps (and sends to a page that opens it); older ones are dropped.
    #[arg(long, env = "WHITEBOARD_LIMIT", value_name = "WHITEBOARD_LIMIT", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub whiteboard_limit: u32,

    /// Per-socket whiteboard stroke rate limit as COUNT/WINDOW (e.g. 300/2s), or "off". The
    /// socket.io example page sends up to 100 strokes per second while the mouse moves.
    #[arg(long, env = "WHITEBOARD_RATE_LIMIT", value_name = "WHITEBOARD_RATE_LIMIT", default_value = "300/2s", value_parser = parse_rate_limit)]
    pub whiteboard_rate_limit: RateLimit,
}

/// Which shared backend the instances use (`BUS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bus {
    /// Redis pub/sub, Streams and hashes (REDISHOST); with no REDISHOST, memory (one instance).
    #[default]
    Redis,
    /// NATS subjects, JetStream streams and KV (NATS_URL).
    Nats,
}

/// The parsed `ALLOWED_ORIGINS` list (empty allows every Origin).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<String>);

impl Origins {
    /// Whether a request carrying this `Origin` header may connect.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.is_empty()
            || self
                .0
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }
}

/// A per-socket message budget: `count` messages per `window`, or no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    Off,
    PerWindow { count: u32, window: Duration },
}

impl Default for Config {
    /// The defaults of every setting: in-memory mode on port 8080.
    fn default() -> Self {
        Self {
            port: 8080,
            bus: Bus::Redis,
            nats_url: None,
            nats_creds: None,
            redis_host: None,
            redis_port: 6379,
            redis_password: None,
            redis_tls: false,
            redis_ca_cert: None,
            history_limit: 100,
            allowed_origins: Origins::default(),
            max_message_len: 2000,
            rate_limit: RateLimit::PerWindow {
                count: 20,
                window: Duration::from_secs(10),
            },
            reconnect_grace: Duration::from_secs(10),
            whiteboard_limit: 5000,
            whiteboard_rate_limit: RateLimit::PerWindow {
                count: 300,
                window: Duration::from_secs(2),
            },
        }
    }
}

impl std::fmt::Debug for Config {
    /// Like a derived Debug, but the Redis password is shown only as set or unset.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("bus", &self.bus)
            .field("nats_url", &self.nats_url.as_deref().map(redact_url))
            .field("nats_creds", &self.nats_creds.as_ref().map(|_| "<set>"))
            .field("redis_host", &self.redis_host)
            .field("redis_port", &self.redis_port)
            .field(
                "redis_password",
                &self.redis_password.as_ref().map(|_| "<set>"),
            )
            .field("redis_tls", &self.redis_tls)
            .field(
                "redis_ca_cert",
                &self.redis_ca_cert.as_ref().map(|_| "<set>"),
            )
            .field("history_limit", &self.history_limit)
            .field("allowed_origins", &self.allowed_origins)
            .field("max_message_len", &self.max_message_len)
            .field("rate_limit", &self.rate_limit)
            .field("reconnect_grace", &self.reconnect_grace)
            .field("whiteboard_limit", &self.whiteboard_limit)
            .field("whiteboard_rate_limit", &self.whiteboard_rate_limit)
            .finish()
    }
}

impl Config {
    /// Checks the settings that depend on each other; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        match self.bus {
            Bus::Nats => {
                let url = self.nats_url.as_deref().unwrap_or("").trim();
                if url.is_empty() {
                    return Err(
                        "BUS=nats needs NATS_URL: set it to the NATS server, e.g. nats://127.0.0.1:4222"
                            .into(),
                    );
                }
                if self.redis_host.is_some() {
                    return Err("REDISHOST is set but BUS=nats: unset REDISHOST, or set BUS=redis to use Redis".into());
                }
                self.nats_credentials()?;
            }
            Bus::Redis => {
                if self.nats_url.is_some() || self.nats_creds.is_some() {
                    return Err(
                        "NATS_URL/NATS_CREDS are set but BUS is redis: set BUS=nats to use NATS, or unset them"
                            .into(),
                    );
                }
            }
        }
        if let Some(host) = &self.redis_host
            && host.trim().is_empty()
        {
            return Err(
                "REDISHOST is set but empty: unset it for in-memory mode or give the Redis host"
                    .into(),
            );
        }
        if self.redis_host.is_none() {
            if self.redis_tls {
                return Err(
                    "REDIS_TLS=1 needs REDISHOST: set the Redis host or unset REDIS_TLS".into(),
                );
            }
            if self.redis_password.is_some() {
                return Err("REDIS_PASSWORD is set but REDISHOST is not: set the Redis host or unset REDIS_PASSWORD".into());
            }
        }
        if self.redis_ca_cert.is_some() && !self.redis_tls {
            return Err(
                "REDIS_CA_CERT is set but REDIS_TLS is not 1: set REDIS_TLS=1 to use it".into(),
            );
        }
        self.redis_ca_pem()?;
        if self.reconnect_grace > Duration::from_secs(3600) {
            return Err("RECONNECT_GRACE must be at most 1h".into());
        }
        Ok(())
    }

    /// The CA certificate for REDIS_TLS as PEM bytes: the value itself if it holds PEM text, else the file it names.
    pub fn redis_ca_pem(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(value) = &self.redis_ca_cert else {
            return Ok(None);
        };
        if value.contains("-----BEGIN") {
            return Ok(Some(value.as_bytes().to_vec()));
        }
        let pem = std::fs::read(value).map_err(|e| {
            format!(
                "REDIS_CA_CERT: cannot read {value}: {e} (give a PEM file path or the PEM text)"
            )
        })?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "REDIS_CA_CERT: {value} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(Some(pem))
    }
}

impl Config {
    /// `NATS_CREDS` as the creds text: the value itself if it holds a creds file's text, else the
    /// file it names. Errors never quote the value (it may be a secret pasted in the wrong form).
    pub fn nats_credentials(&self) -> Result<Option<String>, String> {
        let Some(value) = &self.nats_creds else {
            return Ok(None);
        };
        let text = if value.contains("-----BEGIN") {
            value.clone()
        } else {
            std::fs::read_to_string(value.trim()).map_err(|e| {
                format!(
                    "NATS_CREDS is neither a creds file's text nor a readable file ({}): give the path of a .creds file or its contents",
                    e.kind()
                )
            })?
        };
        if !(text.contains("-----BEGIN NATS USER JWT-----") && text.contains("NKEY SEED-----")) {
            return Err("NATS_CREDS holds no NATS user credentials: expected a .creds file with a NATS USER JWT and a USER NKEY SEED block".into());
        }
        Ok(Some(text))
    }
}

/// A URL list with any `user:password@` taken out, for logs and errors.
pub fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let url = url.trim();
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            if scheme.is_empty() {
                host.to_string()
            } else {
                format!("{scheme}://{host}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_bus(value: &str) -> Result<Bus, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "redis" | "" => Ok(Bus::Redis),
        "nats" => Ok(Bus::Nats),
        other => Err(format!("unknown bus {other:?}: expected redis or nats")),
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("expected 1 or 0 (true/false), got {other:?}")),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|e| format!("{e}: expected a duration such as 10s or 500ms"))
}

fn parse_origins(value: &str) -> Result<Origins, String> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let valid_scheme = origin.starts_with("http://") || origin.starts_with("https://");
        let host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if !valid_scheme || host.is_empty() || host.contains('/') {
            return Err(format!(
                "{origin:?} is not an origin: use scheme://host[:port], e.g. https://chat.example.com"
            ));
        }
        origins.push(origin.to_string());
    }
    Ok(Origins(origins))
}

fn parse_rate_limit(value: &str) -> Result<RateLimit, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("off") {
        return Ok(RateLimit::Off);
    }
    let usage = "expected COUNT/WINDOW such as 20/10s, or off";
    let (count, window) = value.split_once('/').ok_or_else(|| usage.to_string())?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{count:?} is not a count: {usage}"))?;
    let window = parse_duration(window)?;
    if count == 0 || window.is_zero() {
        return Err(format!("count and window must be positive: {usage}"));
    }
    Ok(RateLimit::PerWindow { count, window })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_parses_count_and_window() {
        assert_eq!(
            parse_rate_limit("5/500ms"),
            Ok(RateLimit::PerWindow {
                count: 5,
                window: Duration::from_millis(500)
            })
        );
        assert_eq!(parse_rate_limit("off"), Ok(RateLimit::Off));
        assert!(parse_rate_limit("20").is_err());
        assert!(parse_rate_limit("0/10s").is_err());
        assert!(parse_rate_limit("x/10s").is_err());
    }

    #[test]
    fn origins_are_checked_exactly_and_empty_allows_all() {
        let origins = parse_origins("https://a.example, http://localhost:8080/").unwrap();
        assert!(origins.allows("https://a.example"));
        assert!(origins.allows("http://localhost:8080"));
        assert!(!origins.allows("https://evil.example"));
        assert!(Origins::default().allows("https://anything"));
        assert!(parse_origins("a.example").is_err());
    }

    #[test]
    fn the_bus_is_redis_or_nats_and_urls_lose_their_credentials() {
        assert_eq!(parse_bus("NATS"), Ok(Bus::Nats));
        assert_eq!(parse_bus("redis"), Ok(Bus::Redis));
        assert!(parse_bus("kafka").is_err());
        assert_eq!(
            redact_url("nats://ann:pw@10.0.0.5:4222, nats://b:4222"),
            "nats://10.0.0.5:4222,nats://b:4222"
        );
        assert_eq!(redact_url("tok@host:4222"), "host:4222");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let config = Config {
            redis_password: Some("hunter2".into()),
            nats_url: Some("nats://ann:hunter3@host:4222".into()),
            nats_creds: Some("hunter4".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
