//! The `idle` scenario: N signed-in connections held for a settle period, and the servers'
//! resident memory (VmRSS) before and after, per connection.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::Join;
use crate::latency;
use crate::procfs::{self, CpuSnapshot, CpuUse};
use crate::setup::{self, Control, Pacing, Setup};

/// What to run.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub endpoints: Vec<String>,
    pub connections: usize,
    /// Members per room (rooms keep join notices O(room size), not O(N)).
    pub room_size: usize,
    pub settle: Duration,
    pub pacing: Pacing,
    pub room_prefix: String,
    pub pids: Vec<u32>,
}

/// Memory of one server process.
#[derive(Debug, Serialize)]
pub struct ServerMemory {
    pub pid: u32,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
}

/// The JSON line `idle` prints.
#[derive(Debug, Serialize)]
pub struct IdleReport {
    pub scenario: &'static str,
    pub urls: Vec<String>,
    pub connections_target: usize,
    pub connected: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub setup_s: f64,
    pub settle_s: f64,
    /// Connections the server closed while they were held.
    pub disconnects: usize,
    pub servers: Vec<ServerMemory>,
    /// Sum over the servers of (after - before), divided by the connections held; null without --pid.
    pub bytes_per_connection: Option<f64>,
    /// CPU while holding (settle period): chat-bench first (pid null), then each `--pid`.
    pub cpu: Vec<CpuUse>,
    pub loadavg: String,
}

/// Runs the scenario and returns its report.
pub async fn run(config: IdleConfig) -> Result<IdleReport> {
    if config.endpoints.is_empty() {
        bail!("give at least one server with --url http://HOST:PORT");
    }
    if config.connections == 0 || config.room_size == 0 {
        bail!("--connections and --room-size must be at least 1");
    }
    procfs::raise_open_file_limit(config.connections)?;
    procfs::warn_low_server_limits(&config.pids, config.connections);
    let before = config
        .pids
        .iter()
        .map(|&pid| procfs::rss_bytes(pid))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "idle: {} connections on {} server(s), rooms of {}, settle {:?}",
        config.connections,
        config.endpoints.len(),
        config.room_size,
        config.settle
    );

    let setup = Setup::new(config.connections, config.pacing);
    let (control, control_rx) = watch::channel(Control::Waiting);
    let run_id = latency::micros_now() ^ u64::from(std::process::id());
    let handles: Vec<_> = (0..config.connections)
        .map(|index| {
            let endpoint = config.endpoints[index % config.endpoints.len()].clone();
            let room = format!(
                "{}-{run_id:x}-{}",
                config.room_prefix,
                index / config.room_size
            );
            let setup = Arc::clone(&setup);
            let control = control_rx.clone();
            tokio::spawn(async move {
                let user = format!("i{index}");
                match setup
                    .connect(
                        &endpoint,
                        Join::Room {
                            user: &user,
                            room: &room,
                        },
                    )
                    .await
                {
                    Some(socket) => setup::hold(socket, control).await,
                    None => None,
                }
            })
        })
        .collect();
    let outcome = setup.wait().await;
    if outcome.connected == 0 {
        let _ = control.send(Control::Stop);
        bail!(
            "no connection succeeded (first error: {})",
            outcome.first_error.as_deref().unwrap_or("unknown")
        );
    }
    if outcome.failed > 0 {
        eprintln!(
            "warning: {} connections failed (first: {})",
            outcome.failed,
            outcome.first_error.as_deref().unwrap_or("unknown")
        );
    }

    let cpu_before = CpuSnapshot::take(&config.pids);
    tokio::time::sleep(config.settle).await;
    let cpu_after = CpuSnapshot::take(&config.pids);
    let loadavg = procfs::load_average();
    let after = config
        .pids
        .iter()
        .map(|&pid| procfs::rss_bytes(pid))
        .collect::<Result<Vec<_>>>()?;
    let _ = control.send(Control::Stop);

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut disconnects = 0;
    for mut handle in handles {
        match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(Ok(Some(_reason))) => disconnects += 1,
            Ok(_) => {}
            Err(_) => handle.abort(),
        }
    }

    let servers: Vec<ServerMemory> = config
        .pids
        .iter()
        .zip(before.iter().zip(&after))
        .map(
            |(&pid, (&rss_before_bytes, &rss_after_bytes))| ServerMemory {
                pid,
                rss_before_bytes,
                rss_after_bytes,
            },
        )
        .collect();
    let held = outcome.connected.saturating_sub(disconnects).max(1);
    let bytes_per_connection = (!servers.is_empty()).then(|| {
        let delta: i64 = servers
            .iter()
            .map(|server| server.rss_after_bytes as i64 - server.rss_before_bytes as i64)
            .sum();
        (delta as f64 / held as f64).round()
    });
    Ok(IdleReport {
        scenario: "idle",
        urls: config.endpoints.clone(),
        connections_target: config.connections,
        connected: outcome.connected,
        failed: outcome.failed,
        first_error: outcome.first_error,
        setup_s: (outcome.elapsed.as_secs_f64() * 100.0).round() / 100.0,
        settle_s: config.settle.as_secs_f64(),
        disconnects,
        servers,
        bytes_per_connection,
        cpu: cpu_before.usage_until(&cpu_after),
        loadavg,
    })
}
