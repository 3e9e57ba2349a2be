//! One retry rule for every Google call, proven under faults: every emulated API answers 429,
//! 500 or 503 to 15 % of the calls and adds latency, and a default `up` (the image built from
//! source by Cloud Build) still converges and `down` still leaves nothing, seed after seed.
//! A create that fails transiently may have happened, so it is looked up before it is resent.
//! `CHATCTL_FAULT_SEEDS=N` tries N seeds (default 100).

mod common;

use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::stack::Stack;
use common::Emu;
use emulator::FaultConfig;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// How many seeds run at once (each has its own emulator).
const CONCURRENT: usize = 4;

fn failures(walk: &Walk) -> Vec<String> {
    walk.results
        .iter()
        .filter(|(_, r)| !matches!(r.outcome, Outcome::Done))
        .map(|(id, r)| format!("{id}: {:?}", r.outcome))
        .collect()
}

/// Up then down under faults with `seed`; the problems found, if any.
async fn converge(seed: u64) -> Vec<String> {
    let faults = FaultConfig {
        error_rate: 0.15,
        error_codes: vec![429, 500, 503],
        latency_ms: 1,
        ..FaultConfig::default()
    };
    let emu = Emu::start_with(seed, faults).await;
    let env = format!("soak{seed}");
    let mut settings = common::settings(&env);
    settings.image = None; // the default: Cloud Build builds the embedded sources
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let up = engine::walk(Mode::Up, &Stack::up(), &session.ctx, &session.reporter).await;
    let mut problems: Vec<String> = failures(&up)
        .into_iter()
        .map(|f| format!("seed {seed} up: {f}"))
        .collect();
    let down = engine::walk(Mode::Down, &Stack::down(), &session.ctx, &session.reporter).await;
    problems.extend(
        failures(&down)
            .into_iter()
            .map(|f| format!("seed {seed} down: {f}")),
    );
    emu.set_faults(&FaultConfig::default()).await;
    let left = emu.leftovers(&env).await;
    if !left.is_empty() {
        problems.push(format!("seed {seed}: down left {left}"));
    }
    let world: serde_json::Value = serde_json::from_str(&emu.resources().await).unwrap_or_default();
    let builds = world["cloudbuild"]["builds"]
        .as_object()
        .map_or(0, |b| b.len());
    if builds != 1 {
        problems.push(format!("seed {seed}: {builds} builds for one up"));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_failing_transiently_still_converges_and_cleans_up() {
    let seeds: u64 = std::env::var("CHATCTL_FAULT_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let problems: Vec<String> = futures::stream::iter(1..=seeds)
        .map(converge)
        .buffer_unordered(CONCURRENT)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    assert!(
        problems.is_empty(),
        "{} problem(s) over {seeds} seeds:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
