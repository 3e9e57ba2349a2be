//! Command-line interface of chat-bench: one subcommand per scenario, flags documented where defined.

use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::fanout::FanoutConfig;
use crate::idle::IdleConfig;
use crate::protocol::{self, Protocol};
use crate::setup::Pacing;

/// Load generator for servers that speak the Cloud Run chat tutorial's Socket.IO protocol
/// (Engine.IO v4 / Socket.IO v5 over WebSocket; events signin, sendMessage, message).
/// Prints one JSON line per scenario on stdout and a human summary on stderr.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version)]
pub struct Cli {
    /// Worker threads of the generator's runtime (default: one per CPU).
    #[arg(long, global = true)]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// R rooms (or whiteboards) x M members; S senders at a total rate; measures deliveries/s,
    /// latency and loss.
    Fanout(FanoutArgs),
    /// N signed-in connections held idle; measures server RSS per connection (needs --pid).
    Idle(IdleArgs),
}

/// Flags every scenario shares: where the servers are and how to connect.
#[derive(Debug, Args)]
pub struct Target {
    /// Server address, e.g. http://127.0.0.1:8080 (repeat for several instances; members are
    /// spread over them round-robin). The Socket.IO path defaults to /socket.io/.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,

    /// Server process id whose CPU (fanout, idle) and RSS (idle) are reported; repeatable.
    #[arg(long = "pid")]
    pub pids: Vec<u32>,

    /// Connection handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    pub in_flight: usize,

    /// Seconds one connect + signin may take.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub connect_timeout: f64,

    /// Seconds the whole connection setup may take.
    #[arg(long, default_value_t = 120.0, value_parser = seconds)]
    pub setup_timeout: f64,

    /// Seconds to wait between the namespace connect reply and `signin`. socket.io-client sends
    /// at once (0); a server that registers its event handlers only after replying drops an
    /// early `signin`, which shows up as "timed out waiting for the signin ack".
    #[arg(long, default_value_t = 0.0, value_parser = seconds)]
    pub signin_delay: f64,

    /// Prefix of the room names (a per-run id is appended, so every run starts with empty rooms).
    #[arg(long, default_value = "bench")]
    pub room_prefix: String,
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: Target,

    /// Number of rooms.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,

    /// Members per room (every member receives every message of its room, the sender included).
    #[arg(long, default_value_t = 50)]
    pub members: usize,

    /// Members that send, spread over the rooms.
    #[arg(long, default_value_t = 10)]
    pub senders: usize,

    /// Total messages per second over all senders (deliveries/s = rate x members).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,

    /// Seconds of sending before measuring.
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    pub warmup: f64,

    /// Seconds of measured sending.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub duration: f64,

    /// Seconds to wait after the last send for outstanding deliveries and acks.
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    pub drain: f64,

    /// chat: rooms, `signin` and `sendMessage` (every member gets each message). whiteboard:
    /// boards (chat-server's /whiteboard), members connect with auth {board}, senders emit
    /// `drawing`, every *other* member gets each stroke; --rate is then strokes per second.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    pub protocol: Protocol,
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: Target,

    /// Connections to hold.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,

    /// Members per room.
    #[arg(long, default_value_t = 50)]
    pub room_size: usize,

    /// Seconds to hold the connections before reading the servers' RSS.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub settle: f64,
}

/// A non-negative, finite number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!(
            "{text:?} is not a number of seconds (e.g. 2 or 0.5)"
        )),
    }
}

impl Target {
    fn endpoints(&self) -> Result<Vec<String>> {
        self.urls
            .iter()
            .map(|url| protocol::endpoint(url))
            .collect()
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            in_flight: self.in_flight,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            setup_timeout: Duration::from_secs_f64(self.setup_timeout),
            signin_delay: Duration::from_secs_f64(self.signin_delay),
        }
    }
}

impl FanoutArgs {
    pub fn config(&self) -> Result<FanoutConfig> {
        Ok(FanoutConfig {
            endpoints: self.target.endpoints()?,
            rooms: self.rooms,
            members: self.members,
            senders: self.senders,
            rate: self.rate,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
            drain: Duration::from_secs_f64(self.drain),
            pacing: self.target.pacing(),
            room_prefix: self.target.room_prefix.clone(),
            pids: self.target.pids.clone(),
            protocol: self.protocol,
        })
    }
}

impl IdleArgs {
    pub fn config(&self) -> Result<IdleConfig> {
        Ok(IdleConfig {
            endpoints: self.target.endpoints()?,
            connections: self.connections,
            room_size: self.room_size,
            settle: Duration::from_secs_f64(self.settle),
            pacing: self.target.pacing(),
            room_prefix: self.target.room_prefix.clone(),
            pids: self.target.pids.clone(),
        })
    }
}
