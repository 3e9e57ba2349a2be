//! One retry rule for every Google call, proven under faults: every emulated API answers 429,
//! 500 or 503 to 15 % of the calls and adds latency, and a default `up` (the image built from
//! source by Cloud Build) still converges and `down` still leaves nothing, seed after seed.
//! A create that fails transiently may have happened, so it is looked up before it is resent:
//! with the answers to the repository and build creates lost after they took effect, one of
//! each is made. `CHATCTL_FAULT_SEEDS=N` tries N seeds (default 100).

mod common;

use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::stack::Stack;
use common::Emu;
use emulator::{Code, FaultConfig, ScriptedFault};
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

/// POSTs whose path (without the query) ends with `suffix`.
fn posts(log: &[serde_json::Value], suffix: &str) -> usize {
    log.iter()
        .filter(|r| r["method"] == "POST" && common::bare_path(r).ends_with(suffix))
        .count()
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_found_not_sent_again() {
    let lost = |method: &str| ScriptedFault {
        method: method.into(),
        status: Code::Unavailable,
        message: None,
        times: 1,
        after: true,
    };
    let emu = Emu::start(7).await;
    emu.set_faults(&FaultConfig {
        scripted: vec![lost("repositories.create"), lost("builds.create")],
        ..FaultConfig::default()
    })
    .await;
    let env = "lostanswer";
    let mut settings = common::settings(env);
    settings.image = None;
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let up = engine::walk(Mode::Up, &Stack::up(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&up), Vec::<String>::new());
    let log = emu.requests().await;
    assert_eq!(
        posts(&log, "/repositories"),
        1,
        "the repository was found, not created twice"
    );
    assert_eq!(
        posts(&log, "/builds"),
        1,
        "the build was found and followed, not started twice"
    );
    let world: serde_json::Value = serde_json::from_str(&emu.resources().await).unwrap_or_default();
    assert_eq!(
        world["cloudbuild"]["builds"]
            .as_object()
            .map_or(0, |b| b.len()),
        1
    );
    let down = engine::walk(Mode::Down, &Stack::down(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers(env).await, "");
}
