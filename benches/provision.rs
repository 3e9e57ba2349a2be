//! The `provision` benchmark: `chatctl up` from nothing, a no-op `up`, and `down`, against the
//! in-process emulator's latency model (its modelled real-world durations × a time scale).
//! Reports up's wall time against the critical path of the dependency graph (goal ≤ 1.10) and
//! against the sequential sum the tutorial's steps take one after another.
//!
//!   cargo bench -p chatctl --bench provision            (time scale 0.02)
//!   CHATCTL_BENCH_TIME_SCALE=0.05 cargo bench -p chatctl --bench provision

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatctl::cli::{GlobalArgs, StackArgs};
use chatctl::commands::Session;
use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::gcp::Clients;
use chatctl::report::OutputFormat;
use chatctl::resources;
use chatctl::stack::{ResourceId, Stack};
use emulator::{Emulator, EmulatorConfig, NoRuntime};
use tokio_util::sync::CancellationToken;

/// The emulator's modelled durations in real seconds (emulator/src/apis/*/http.rs: enable 30 s
/// plus 20 s of SERVICE_DISABLED propagation, service account visible after 60 s, Redis create
/// 270 s, connector create 180 s, the image 5 s repository create + 5 s queue + 180 s Cloud
/// Build, Cloud Run deploy 45 s; IAM policy writes, the bucket and the upload are immediate).
fn modelled(id: ResourceId) -> f64 {
    match id {
        resources::apis::ID => 30.0 + 20.0,
        resources::service_account::ID => 60.0,
        resources::redis::ID => 270.0,
        resources::connector::ID => 180.0,
        resources::image::ID => 5.0 + 5.0 + 180.0,
        resources::run_service::ID => 45.0,
        // IAM policy writes (project binding, public access) are immediate.
        _ => 0.0,
    }
}

fn all_done(walk: &Walk, what: &str) {
    for (id, r) in &walk.results {
        if !matches!(r.outcome, Outcome::Done) {
            panic!("{what}: {} ended {:?}", id.label(), r.outcome);
        }
    }
}

#[tokio::main]
async fn main() {
    let scale: f64 = std::env::var("CHATCTL_BENCH_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.02);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = EmulatorConfig {
        time_scale: scale,
        allow_anonymous: true,
        seed: Some(1),
        enforce_api_enablement: true,
        ..Default::default()
    };
    let emu = Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .expect("emulator");
    let global = GlobalArgs {
        project: Some("chat-bench-1".into()),
        env_name: Some("bench".into()),
        output: Some(OutputFormat::Human),
        ..GlobalArgs::default()
    };
    // The default `--build source`: the image is built by (emulated) Cloud Build alongside Redis.
    let stack_args = StackArgs::default();
    let settings = chatctl::config::resolve(&global, &stack_args, &|_| None).expect("settings");
    let clients = Clients::connect(Some(emu.base_url().to_string()))
        .await
        .expect("clients");
    let session = Session::with(clients, settings, CancellationToken::new());
    let run = |mode: Mode, stack: Stack| {
        let session = &session;
        async move {
            let started = Instant::now();
            let walk = engine::walk(mode, &stack, &session.ctx, &session.reporter).await;
            (started.elapsed(), walk)
        }
    };

    let (up, walk) = run(Mode::Up, Stack::up()).await;
    all_done(&walk, "up");
    let (noop, walk) = run(Mode::Up, Stack::up()).await;
    all_done(&walk, "no-op up");
    let (down, walk) = run(Mode::Down, Stack::down()).await;
    all_done(&walk, "down");

    let critical = Stack::up().critical_path(modelled);
    let sequential: f64 = resources::ALL.iter().map(|r| modelled(r.id())).sum();
    let scaled = |s: f64| Duration::from_secs_f64(s * scale);
    println!("provision benchmark (emulator time scale {scale})");
    println!(
        "  modelled critical path   {:>8.0} s real  → {:>7.3} s scaled",
        critical,
        scaled(critical).as_secs_f64()
    );
    println!(
        "  tutorial's sequential sum{:>8.0} s real  → {:>7.3} s scaled",
        sequential,
        scaled(sequential).as_secs_f64()
    );
    println!(
        "  chatctl up (from nothing)              {:>7.3} s  = {:.3} × critical path, {:.3} × sequential sum",
        up.as_secs_f64(),
        up.as_secs_f64() / scaled(critical).as_secs_f64(),
        up.as_secs_f64() / scaled(sequential).as_secs_f64()
    );
    println!(
        "  chatctl up (no changes)                {:>7.3} s  (reads only)",
        noop.as_secs_f64()
    );
    println!(
        "  chatctl down                           {:>7.3} s",
        down.as_secs_f64()
    );
    println!(
        "RESULT ratio={:.3} noop_s={:.3} up_s={:.3} critical_s={:.3} sequential_s={:.3} down_s={:.3}",
        up.as_secs_f64() / scaled(critical).as_secs_f64(),
        noop.as_secs_f64(),
        up.as_secs_f64(),
        scaled(critical).as_secs_f64(),
        scaled(sequential).as_secs_f64(),
        down.as_secs_f64()
    );
}
