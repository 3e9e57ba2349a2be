//! The Redis part of the stack against the emulator (the APIs it depends on land in the
//! emulator one by one; the whole-stack tests live in tests/up_down.rs): create from nothing,
//! a plan with no changes, a second up that only reads, drift detection, and down.

mod common;

use chatctl::engine::{self, Mode, Outcome};
use chatctl::resources::{self, Action};
use chatctl::stack::Stack;
use common::{Emu, mutating};

/// The emulator enforces API enablement: enable Redis (and Compute Engine, through which Redis
/// checks its network) the way a user's project would be.
async fn enable_apis(session: &chatctl::commands::Session) {
    let apis = [
        "redis.googleapis.com".into(),
        "compute.googleapis.com".into(),
    ];
    chatctl::gcp::serviceusage::enable(&session.ctx.google, &apis)
        .await
        .expect("enable Redis and Compute Engine");
}

fn redis_only() -> Stack {
    Stack::up().subset(&[resources::redis::ID])
}

#[tokio::test]
async fn redis_converges_then_reads_only_then_goes_away() {
    let emu = Emu::start(1).await;
    let session = emu.session("redis1").await;
    enable_apis(&session).await;

    let up = engine::walk(Mode::Up, &redis_only(), &session.ctx, &session.reporter).await;
    let result = &up.results[&resources::redis::ID];
    assert!(
        matches!(result.outcome, Outcome::Done),
        "{:?}",
        result.outcome
    );
    assert_eq!(result.planned.as_ref().unwrap().action, Action::Create);
    assert!(up.values.redis_host.is_some(), "Redis host handed on");

    let plan = engine::walk(Mode::Plan, &redis_only(), &session.ctx, &session.reporter).await;
    let planned = plan.results[&resources::redis::ID].planned.clone().unwrap();
    assert_eq!(planned.action, Action::NoOp, "{planned:?}");
    assert_eq!(planned.state, "READY");

    let before = emu.requests().await.len();
    let again = engine::walk(Mode::Up, &redis_only(), &session.ctx, &session.reporter).await;
    assert!(matches!(
        again.results[&resources::redis::ID].outcome,
        Outcome::Done
    ));
    let log = emu.requests().await;
    assert!(
        mutating(&log[before..]).is_empty(),
        "{:?}",
        mutating(&log[before..])
    );

    let down = engine::walk(
        Mode::Down,
        &Stack::down().subset(&[resources::redis::ID]),
        &session.ctx,
        &session.reporter,
    )
    .await;
    assert!(matches!(
        down.results[&resources::redis::ID].outcome,
        Outcome::Done
    ));
    assert!(down.results[&resources::redis::ID].existed);
    assert!(
        chatctl::gcp::redis::get(&session.ctx.google, "chat-redis1")
            .await
            .unwrap()
            .is_none()
    );
    let left = emu.leftovers("redis1").await;
    assert!(left.is_empty(), "nothing of the env is left: {left}");
}

#[tokio::test]
async fn a_size_change_is_planned_field_by_field_and_applied_in_place() {
    let emu = Emu::start(2).await;
    let session = emu.session("redis2").await;
    enable_apis(&session).await;
    let up = engine::walk(Mode::Up, &redis_only(), &session.ctx, &session.reporter).await;
    assert!(matches!(
        up.results[&resources::redis::ID].outcome,
        Outcome::Done
    ));

    let mut bigger = common::settings("redis2");
    bigger.overrides.redis = serde_json::json!({"memorySizeGb": 2});
    let clients = session.ctx.google.clients.clone();
    let resized = chatctl::commands::Session::with(clients, bigger, Default::default());
    let plan = engine::walk(Mode::Plan, &redis_only(), &resized.ctx, &resized.reporter).await;
    let planned = plan.results[&resources::redis::ID].planned.clone().unwrap();
    let Action::Update { changes } = &planned.action else {
        panic!("expected an update, got {planned:?}");
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, "memorySizeGb");
    assert_eq!(changes[0].to, serde_json::json!(2));

    let applied = engine::walk(Mode::Up, &redis_only(), &resized.ctx, &resized.reporter).await;
    assert!(matches!(
        applied.results[&resources::redis::ID].outcome,
        Outcome::Done
    ));
    let instance = chatctl::gcp::redis::get(&resized.ctx.google, "chat-redis2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(instance.memory_size_gb, 2);
    let update = emu
        .requests()
        .await
        .into_iter()
        .find(|r| r["method"] == "PATCH")
        .expect("an UpdateInstance call");
    assert!(
        update["path"]
            .as_str()
            .unwrap()
            .contains("updateMask=memorySizeGb"),
        "{update}"
    );
}
