//! The `fanout` scenario: R rooms × M members over the server URLs round-robin; S of the members
//! send `sendMessage` at a fixed total rate; every member measures the delivery latency of each
//! `message` and the driver compares deliveries received with deliveries expected. With
//! `--protocol whiteboard` the rooms are whiteboards, senders emit `drawing`, and each stroke
//! goes to the board's other members.
//!
//! A message text is `PHASE:SENDER:SEQ:MICROS` (`w` warm-up or `m` measured; MICROS is the
//! *scheduled* send time, so generator lag shows up as latency instead of hiding it).

mod member;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::latency::{self, Summary};
use crate::procfs::{self, CpuSnapshot, CpuUse};
use crate::protocol::Protocol;
use crate::setup::{Control, Pacing, Setup};
use member::{Counters, Member, SenderPlan, Tally, Timeline};

/// What to run.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    /// WebSocket endpoints (from [`crate::protocol::endpoint`]), members spread over them round-robin.
    pub endpoints: Vec<String>,
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    /// Total messages per second over all senders.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// Longest wait after the last send for outstanding deliveries and acks.
    pub drain: Duration,
    pub pacing: Pacing,
    pub room_prefix: String,
    /// Server processes whose CPU use is reported.
    pub pids: Vec<u32>,
    /// Chat rooms, or whiteboards.
    pub protocol: Protocol,
}

/// The JSON line `fanout` prints.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    pub scenario: &'static str,
    pub protocol: Protocol,
    pub urls: Vec<String>,
    pub rooms: usize,
    pub members: usize,
    pub connections: usize,
    pub senders: usize,
    pub rate_target: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub setup_s: f64,
    /// Measured-phase messages written to the socket, and per second.
    pub sent: u64,
    pub send_rate: f64,
    pub acked: u64,
    /// Error acks (e.g. rate limits) and socket write failures.
    pub send_errors: u64,
    pub first_send_error: Option<String>,
    /// Measured messages whose ack never came before the drain deadline.
    pub ack_timeouts: u64,
    pub expected_deliveries: u64,
    pub received_deliveries: u64,
    pub lost_deliveries: u64,
    /// Deliveries beyond the expected count (duplicates).
    pub surplus_deliveries: u64,
    /// Deliveries that arrived after a later message of the same sender.
    pub out_of_order: u64,
    pub deliveries_per_s: f64,
    /// Scheduled send → `message` received, all members.
    pub latency: Summary,
    /// Scheduled send → ack received.
    pub ack_latency: Summary,
    /// Scheduled send → actually written: large values mean the generator cannot keep up.
    pub send_lag: Summary,
    /// Connections the server closed during the run.
    pub disconnects: u64,
    pub first_disconnect: Option<String>,
    /// CPU over the measured window: chat-bench first (pid null), then each `--pid`.
    pub cpu: Vec<CpuUse>,
    pub loadavg_before: String,
    pub loadavg_after: String,
}

/// Runs the scenario and returns its report.
pub async fn run(config: FanoutConfig) -> Result<FanoutReport> {
    validate(&config)?;
    let connections = config.rooms * config.members;
    procfs::raise_open_file_limit(connections)?;
    procfs::warn_low_server_limits(&config.pids, connections);
    let (groups, sends) = match config.protocol {
        Protocol::Chat => ("rooms", "msg/s"),
        Protocol::Whiteboard => ("boards", "strokes/s"),
    };
    eprintln!(
        "fanout ({:?}): {} {groups} x {} members on {} server(s), {} senders at {} {sends} ({} deliveries/s expected)",
        config.protocol,
        config.rooms,
        config.members,
        config.endpoints.len(),
        config.senders,
        config.rate,
        config.rate * audience(&config) as f64
    );

    let setup = Setup::new(connections, config.pacing);
    let counters = Arc::new(Counters::default());
    let (control, control_rx) = watch::channel(Control::Waiting);
    let run_id = latency::micros_now() ^ u64::from(std::process::id());
    let handles = spawn_members(&config, run_id, &setup, &counters, &control_rx);

    let outcome = setup.wait().await;
    if let Err(error) = outcome.require_all() {
        let _ = control.send(Control::Stop);
        collect(handles, Duration::from_secs(5)).await;
        return Err(error);
    }

    let start = Instant::now() + Duration::from_millis(100);
    let timeline = Timeline {
        measure_from: start + config.warmup,
        measure_until: start + config.warmup + config.duration,
    };
    let _ = control.send(Control::Start(start));
    tokio::time::sleep_until(timeline.measure_from).await;
    let cpu_before = CpuSnapshot::take(&config.pids);
    let loadavg_before = procfs::load_average();
    tokio::time::sleep_until(timeline.measure_until).await;
    let cpu_after = CpuSnapshot::take(&config.pids);
    drain(
        &counters,
        config.senders,
        timeline.measure_until + config.drain,
    )
    .await;
    let loadavg_after = procfs::load_average();
    let _ = control.send(Control::Stop);
    let (tally, unfinished) = collect(handles, Duration::from_secs(10)).await;
    if unfinished > 0 {
        eprintln!(
            "warning: {unfinished} connection tasks did not finish within 10 s and were aborted"
        );
    }

    let duration = config.duration.as_secs_f64();
    let expected = counters.expected.load(Ordering::Relaxed);
    Ok(FanoutReport {
        scenario: "fanout",
        protocol: config.protocol,
        urls: config.endpoints.clone(),
        rooms: config.rooms,
        members: config.members,
        connections,
        senders: config.senders,
        rate_target: config.rate,
        warmup_s: config.warmup.as_secs_f64(),
        duration_s: duration,
        setup_s: round2(outcome.elapsed.as_secs_f64()),
        sent: tally.sent,
        send_rate: round2(tally.sent as f64 / duration),
        acked: tally.acked,
        send_errors: tally.send_errors,
        first_send_error: tally.first_send_error.clone(),
        ack_timeouts: tally.ack_timeouts,
        expected_deliveries: expected,
        received_deliveries: tally.received,
        lost_deliveries: expected.saturating_sub(tally.received),
        surplus_deliveries: tally.received.saturating_sub(expected),
        out_of_order: tally.out_of_order,
        deliveries_per_s: round2(tally.received as f64 / duration),
        latency: counters.latency.summary(),
        ack_latency: tally.ack_latency.summary(),
        send_lag: tally.send_lag.summary(),
        disconnects: tally.disconnect_count,
        first_disconnect: tally.first_disconnect.clone(),
        cpu: cpu_before.usage_until(&cpu_after),
        loadavg_before,
        loadavg_after,
    })
}

fn validate(config: &FanoutConfig) -> Result<()> {
    if config.endpoints.is_empty() {
        bail!("give at least one server with --url http://HOST:PORT");
    }
    if config.rooms == 0 || config.members == 0 {
        bail!("--rooms and --members must be at least 1");
    }
    if config.senders == 0 || config.senders > config.rooms * config.members {
        bail!(
            "--senders must be between 1 and rooms x members ({})",
            config.rooms * config.members
        );
    }
    if !(config.rate.is_finite() && config.rate > 0.0) {
        bail!("--rate must be a positive number of messages per second");
    }
    if config.protocol == Protocol::Whiteboard && config.members < 2 {
        bail!(
            "--members must be at least 2 with --protocol whiteboard (a stroke goes to the others)"
        );
    }
    if config.duration.is_zero() {
        bail!("--duration must be longer than 0 s");
    }
    Ok(())
}

/// Deliveries one send makes: every member of the room (chat), every other member of the board
/// (whiteboard).
fn audience(config: &FanoutConfig) -> u64 {
    match config.protocol {
        Protocol::Chat => config.members as u64,
        Protocol::Whiteboard => config.members as u64 - 1,
    }
}

/// Member `m` of room `r` is connection `r * M + m`, on endpoint `(r * M + m) % urls`;
/// sender `k` is member `k / R` of room `k % R`, so senders spread over rooms first.
fn spawn_members(
    config: &FanoutConfig,
    run_id: u64,
    setup: &Arc<Setup>,
    counters: &Arc<Counters>,
    control: &watch::Receiver<Control>,
) -> Vec<JoinHandle<Tally>> {
    let period = Duration::from_secs_f64(config.senders as f64 / config.rate);
    let mut handles = Vec::with_capacity(config.rooms * config.members);
    for room in 0..config.rooms {
        let room_name = format!("{}-{run_id:x}-{room}", config.room_prefix);
        for member in 0..config.members {
            let index = room * config.members + member;
            let endpoint = config.endpoints[index % config.endpoints.len()].clone();
            let sender_index = member * config.rooms + room;
            let sender = (sender_index < config.senders).then(|| SenderPlan {
                id: sender_index as u32,
                period,
                offset: period.mul_f64(sender_index as f64 / config.senders as f64),
            });
            let member_task = Member {
                setup: setup.clone(),
                counters: counters.clone(),
                control: control.clone(),
                protocol: config.protocol,
                audience: audience(config),
                warmup: config.warmup,
                duration: config.duration,
                sender,
            };
            let user = format!("b{index}");
            let room_name = room_name.clone();
            handles.push(tokio::spawn(async move {
                member_task.run(&endpoint, &user, &room_name).await
            }));
        }
    }
    handles
}

/// Waits after the last scheduled send until everything expected arrived, or the deadline.
async fn drain(counters: &Counters, senders: usize, deadline: Instant) {
    while Instant::now() < deadline {
        let senders_done = counters.senders_done.load(Ordering::Relaxed) >= senders;
        let all_received =
            counters.received.load(Ordering::Relaxed) >= counters.expected.load(Ordering::Relaxed);
        let all_acked = counters.pending_acks.load(Ordering::Relaxed) == 0;
        if senders_done && all_received && all_acked {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Joins the tasks (bounded by `limit`), merging their tallies; returns how many were aborted.
async fn collect(handles: Vec<JoinHandle<Tally>>, limit: Duration) -> (Merged, usize) {
    let deadline = Instant::now() + limit;
    let mut merged = Merged::default();
    let mut unfinished = 0;
    for mut handle in handles {
        match tokio::time::timeout_at(deadline, &mut handle).await {
            Ok(Ok(tally)) => merged.add(tally),
            Ok(Err(_)) => unfinished += 1,
            Err(_) => {
                handle.abort();
                unfinished += 1;
            }
        }
    }
    (merged, unfinished)
}

/// All tallies together, plus disconnect counts.
struct Merged {
    tally: Tally,
    disconnect_count: u64,
    first_disconnect: Option<String>,
}

impl Default for Merged {
    fn default() -> Self {
        Self {
            tally: Tally::new(),
            disconnect_count: 0,
            first_disconnect: None,
        }
    }
}

impl Merged {
    fn add(&mut self, mut tally: Tally) {
        if let Some(reason) = tally.disconnect.take() {
            self.disconnect_count += 1;
            self.first_disconnect.get_or_insert(reason);
        }
        self.tally.merge(tally);
    }
}

impl std::ops::Deref for Merged {
    type Target = Tally;
    fn deref(&self) -> &Tally {
        &self.tally
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
