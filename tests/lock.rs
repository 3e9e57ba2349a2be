//! The environment's lock, with the chatctl binary against the emulator: two `up`s of one
//! environment at once (one waits, each resource is created once, both end converged); a lock
//! held by a live run (`up` exits 6 naming the holder, `plan` takes no lock, `unlock` breaks
//! it); a lock whose holder died (taken over once stale); the lock gone after every run.

mod common;

use std::process::Output;

use common::{Emu, mutating};
use serde_json::{Value, json};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The staging bucket chatctl keeps the lock in (gcloud's default name for the project).
fn bucket() -> String {
    format!("{}_cloudbuild", common::PROJECT)
}

fn lock_url(emu: &Emu, env: &str) -> String {
    format!(
        "{}/storage/v1/b/{}/o/chatctl-lock-{env}.json",
        emu.base(),
        bucket()
    )
}

/// Puts a lock for `env` there as another machine's run would have written it.
async fn lock_held_elsewhere(emu: &Emu, env: &str) {
    let holder = json!({
        "who": "ci-bot", "host": "runner-7", "pid": 4242, "command": "up",
        "since": "2026-12-04T10:00:00Z", "token": "0123456789abcdef",
    });
    let response = emu
        .http
        .post(format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name=chatctl-lock-{env}.json&ifGenerationMatch=0",
            emu.base(),
            bucket()
        ))
        .header("content-type", "application/json")
        .body(holder.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn lock_status(emu: &Emu, env: &str) -> u16 {
    emu.http
        .get(lock_url(emu, env))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Runs chatctl to the end on a blocking thread.
async fn run(
    emu: &Emu,
    home: &std::path::Path,
    env: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Output {
    let mut command = common::chatctl(emu.base(), home, env);
    command.args(args).envs(vars.iter().copied());
    tokio::task::spawn_blocking(move || command.output().expect("run chatctl"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ups_of_one_environment_take_turns_and_create_everything_once() {
    // Google's durations × 0.01: the first `up` holds the lock for several seconds.
    let emu = Emu::start_scaled(61, emulator::FaultConfig::default(), 0.01).await;
    let home = tempfile::tempdir().unwrap();
    let first = run(&emu, home.path(), "turns", &["up", "--yes"], &[]);
    let second = async {
        // The second starts once the first holds the lock, so it must wait its turn.
        for _ in 0..1000 {
            if lock_status(&emu, "turns").await == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        run(&emu, home.path(), "turns", &["up", "--yes"], &[]).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let both = format!("{}\n----\n{}", text(&first), text(&second));
    assert!(
        both.contains("waiting for the lock of environment `turns`, held by"),
        "one run waited for the other:\n{both}"
    );

    let changed = mutating(&emu.requests().await);
    for create in [
        "/instances?instanceId=chat-turns",
        "/connectors?connectorId=chat-turns",
        "/services?serviceId=chat-turns",
        "/secrets?secretId=chat-redis-auth-turns",
        "/serviceAccounts",
    ] {
        let count = changed
            .iter()
            .filter(|r| r.starts_with("POST ") && r.contains(create))
            .count();
        // With --image there is no build account: chat-identity is the one service account.
        assert_eq!(count, 1, "{create} created once: {changed:#?}");
    }
    assert_eq!(
        lock_status(&emu, "turns").await,
        404,
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_stops_up_with_exit_6_until_unlock_and_a_stale_one_is_taken_over() {
    let emu = Emu::start(62).await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    // No bucket yet: nothing is locked, and unlock says so.
    let out = run(&emu, home, "held", &["unlock"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("environment `held` was not locked"),
        "{}",
        text(&out)
    );

    // The first `up` makes the bucket; then another machine's run holds the lock.
    let out = run(&emu, home, "held", &["up", "--yes"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    lock_held_elsewhere(&emu, "held").await;

    let live = [("CHATCTL_LOCK_STALE_MS", "600000")];
    let out = run(
        &emu,
        home,
        "held",
        &["up", "--yes", "--lock-timeout", "1s"],
        &live,
    )
    .await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(6), "{said}");
    assert!(
        said.contains("ci-bot on runner-7"),
        "names the holder: {said}"
    );
    assert!(
        said.contains("chatctl unlock --env held"),
        "says what to do: {said}"
    );
    let out = run(
        &emu,
        home,
        "held",
        &["down", "--yes", "--lock-timeout", "1s"],
        &live,
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "down waits too: {}", text(&out));
    let out = run(&emu, home, "held", &["plan"], &live).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan takes no lock: {}",
        text(&out)
    );

    let out = run(&emu, home, "held", &["unlock"], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("broke the lock of environment `held`, held by ci-bot on runner-7"),
        "{}",
        text(&out)
    );
    assert_eq!(lock_status(&emu, "held").await, 404);

    // A holder that died stops refreshing: once stale, the next run takes over.
    lock_held_elsewhere(&emu, "held").await;
    let stale = [("CHATCTL_LOCK_STALE_MS", "300")];
    let out = run(&emu, home, "held", &["down", "--yes"], &stale).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("took over the lock of environment `held` from ci-bot"),
        "{said}"
    );
    assert_eq!(lock_status(&emu, "held").await, 404, "released after down");
    let leftovers = emu.leftovers("chat-held").await;
    assert!(leftovers.is_empty(), "down finished: {leftovers}");
}

/// The emulator's Storage enforces generation preconditions as Google does: a create with
/// `ifGenerationMatch=0` over a live object, and a delete naming an old generation, answer 412.
#[tokio::test]
async fn storage_generation_preconditions_answer_412() {
    let emu = Emu::start(63).await;
    emu.enable("storage.googleapis.com").await;
    // The bucket, as the first `up` would make it (Storage answers 403 a moment after the
    // enable, as on Google).
    let mut created = None;
    for _ in 0..400 {
        let response = emu
            .http
            .post(format!(
                "{}/storage/v1/b?project={}",
                emu.base(),
                common::PROJECT
            ))
            .json(&json!({ "name": bucket() }))
            .send()
            .await
            .unwrap();
        if response.status() != 403 {
            created = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let created = created.expect("Cloud Storage stayed disabled");
    assert_eq!(created.status(), 200, "{}", created.text().await.unwrap());
    lock_held_elsewhere(&emu, "pre").await;
    let again = emu
        .http
        .post(format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name=chatctl-lock-pre.json&ifGenerationMatch=0",
            emu.base(),
            bucket()
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 412);
    let object: Value = emu
        .http
        .get(lock_url(&emu, "pre"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generation: i64 = object["generation"].as_str().unwrap().parse().unwrap();
    let stale = emu
        .http
        .delete(format!(
            "{}?ifGenerationMatch={}",
            lock_url(&emu, "pre"),
            generation - 1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let current = emu
        .http
        .delete(format!(
            "{}?ifGenerationMatch={generation}",
            lock_url(&emu, "pre")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 204);
}
