//! The chatctl binary against an in-process emulator, as CI runs it: JSON lines on stdout,
//! Ctrl-C during an up (exit 130, operations in flight named), then `down --yes`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Emu, IMAGE, PROJECT};
use emulator::FaultConfig;

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

#[tokio::test]
async fn ctrl_c_stops_an_up_reports_what_runs_and_down_cleans_up() {
    // Slower time (a Redis create takes 2.7 s) so the interrupt lands while it runs.
    let emu = Emu::start_scaled(51, FaultConfig::default(), 0.01).await;
    let dir = tempfile::tempdir().unwrap();
    let child = common::chatctl_at(emu.base(), dir.path())
        .args([
            "up", "--env", "sigint", "--image", IMAGE, "--output", "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let log = emu.requests().await;
        if log
            .iter()
            .any(|r| r["method"] == "POST" && r["path"].as_str().unwrap().contains("/instances?"))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the Redis create never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let events = json_lines(&out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "message" && e["text"].as_str().unwrap().contains("interrupt")),
        "{events:?}"
    );
    let summary = events
        .iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary");
    assert_eq!(summary["ok"], false);
    let redis = summary["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "redis")
        .unwrap();
    assert_eq!(redis["outcome"], "interrupted");
    assert!(
        redis["error"].as_str().unwrap().contains("/operations/"),
        "the operation is named: {redis}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let base = emu.base().to_string();
    let path = dir.path().to_path_buf();
    let down = tokio::task::spawn_blocking(move || {
        common::chatctl_at(&base, &path)
            .args(["down", "--env", "sigint", "--yes", "--output", "json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let summary = json_lines(&down.stdout)
        .into_iter()
        .find(|e| e["type"] == "summary")
        .unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(emu.leftovers("sigint").await, "");
}

async fn run(base: &str, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let base = base.to_string();
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        common::chatctl_at(&base, &dir)
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `run`, which must succeed (exit 0); its stderr is shown when it does not.
async fn run_ok(base: &str, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = run(base, dir, args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "chatctl {args:?}: {stderr}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_brings_an_environment_up_plans_nothing_reports_status_and_tears_down() {
    let emu = Emu::start(52).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = ["--env", "binary"];

    let up = run(
        &base,
        dir.path(),
        &[&["up", "--image", IMAGE, "--output", "json"][..], &env].concat(),
    )
    .await;
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let events = json_lines(&up.stdout);
    let summary = events
        .iter()
        .find(|e| e["type"] == "summary")
        .expect("summary");
    let url = summary["url"].as_str().expect("the URL").to_string();
    assert!(url.starts_with("https://chat-binary-"), "{url}");
    assert_eq!(
        summary["resources"].as_array().unwrap().len(),
        chatctl::resources::ALL.len()
    );
    assert!(
        events.iter().filter(|e| e["type"] == "state").count() >= 14,
        "state changes as events"
    );

    let plan = run(
        &base,
        dir.path(),
        &[&["plan", "--image", IMAGE, "--detailed-exitcode"][..], &env].concat(),
    )
    .await;
    assert_eq!(
        plan.status.code(),
        Some(0),
        "no changes: {}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let missing = run(
        &base,
        dir.path(),
        &[&["plan", "--image", &IMAGE.replace(":v1", ":v9")][..], &env].concat(),
    )
    .await;
    assert_eq!(missing.status.code(), Some(1), "an image that is not there");
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("does not exist"), "{said}");

    let newer = IMAGE.replace(":v1", ":v2");
    emu.push(&newer).await;
    let changed = run(
        &base,
        dir.path(),
        &[
            &[
                "plan",
                "--image",
                &newer,
                "--detailed-exitcode",
                "--output",
                "json",
            ][..],
            &env,
        ]
        .concat(),
    )
    .await;
    assert_eq!(changed.status.code(), Some(2), "a new image is a change");
    let planned = json_lines(&changed.stdout);
    let run_plan = planned
        .iter()
        .find(|e| e["resource"] == "run-service")
        .unwrap();
    assert_eq!(run_plan["action"], "update");
    assert!(
        run_plan["changes"][0]["path"]
            .as_str()
            .unwrap()
            .contains("image"),
        "{run_plan}"
    );

    let status = run(
        &base,
        dir.path(),
        &[&["status", "--image", IMAGE, "--output", "json"][..], &env].concat(),
        // Drift is measured against what `up` with the same settings would do.
    )
    .await;
    assert_eq!(status.status.code(), Some(0));
    let lines = json_lines(&status.stdout);
    assert_eq!(
        lines.iter().find(|e| e["type"] == "summary").unwrap()["url"],
        url.as_str()
    );
    for line in lines.iter().filter(|e| e["type"] == "status") {
        assert_eq!(line["action"], "no-op", "{line}");
    }

    let down = run(&base, dir.path(), &[&["down", "--yes"][..], &env].concat()).await;
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(String::from_utf8_lossy(&down.stderr).contains("is gone"));
    assert_eq!(emu.leftovers("binary").await, "");
}

fn calls(log: &[serde_json::Value], method: &str, path_start: &str) -> usize {
    log.iter()
        .filter(|r| {
            r["method"] == method
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(path_start))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_builds_the_embedded_sources_deploys_by_digest_and_a_second_up_skips_the_build() {
    let emu = Emu::start(53).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = ["--env", "fromsrc"];

    let up = run_ok(
        &base,
        dir.path(),
        &[&["up", "--output", "json"][..], &env].concat(),
    )
    .await;
    let log = emu.requests().await;
    assert_eq!(common::contract::violations(&log), Vec::<String>::new());
    // The staging bucket (gcloud's name), the upload, the build, in that order.
    let bucket = format!("/storage/v1/b?project={PROJECT}");
    assert_eq!(calls(&log, "POST", &bucket), 1, "bucket created");
    // The sources go up through google-cloud-storage's resumable upload: one session started,
    // its bytes sent to the session.
    let upload = format!("/upload/storage/v1/b/{PROJECT}_cloudbuild/o?uploadType=resumable");
    assert_eq!(calls(&log, "POST", &upload), 1, "sources uploaded");
    assert!(
        calls(&log, "PUT", &format!("{upload}&upload_id=")) >= 1,
        "the sources' bytes sent to the upload session"
    );
    let builds = format!("/v1/projects/{PROJECT}/builds?");
    assert_eq!(calls(&log, "POST", &builds), 1, "one Cloud Build build");
    let repository = format!("/v1/projects/{PROJECT}/locations/us-central1/repositories?");
    assert_eq!(
        calls(&log, "POST", &repository),
        1,
        "the repository created"
    );
    // Cloud Run got the built image by digest.
    let deployed = common::deployed_images(&log);
    let prefix = format!(
        "us-central1-docker.pkg.dev/{PROJECT}/cloud-run-source-deploy/chat-server:src-{}@sha256:",
        chatctl::image::source_archive::sha256_hex()
    );
    assert!(
        deployed.len() == 1 && deployed[0].starts_with(&prefix),
        "{deployed:?} in {:#?}",
        log.iter()
            .filter(|r| r["path"].as_str().unwrap_or_default().starts_with("/v2/"))
            .collect::<Vec<_>>()
    );
    let events = json_lines(&up.stdout);
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "state" && e["resource"] == "image")
        .filter_map(|e| e["state"].as_str())
        .collect();
    for expected in ["sources uploaded", "Cloud Build", "build SUCCESS", "ready"] {
        assert!(
            states.iter().any(|s| s.contains(expected)),
            "image progress lacks {expected:?}: {states:?}"
        );
    }
    // Scripts can rely on `phase`: every state event carries one of the documented set.
    let documented: Vec<&str> = chatctl::report::Phase::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    for event in events.iter().filter(|e| e["type"] == "state") {
        let phase = event["phase"].as_str().unwrap_or_default();
        assert!(documented.contains(&phase), "undocumented phase in {event}");
    }
    let image_phases: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "state" && e["resource"] == "image")
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert!(
        image_phases.contains(&"building") && image_phases.last() == Some(&"ready"),
        "{image_phases:?}"
    );

    // Again: the image of the same sources exists, nothing is built, staged or changed.
    let before = emu.requests().await.len();
    let again = run_ok(
        &base,
        dir.path(),
        &[&["up", "--output", "json"][..], &env].concat(),
    )
    .await;
    let log = emu.requests().await;
    assert_eq!(common::mutating(&log[before..]), Vec::<String>::new());
    let summary = json_lines(&again.stdout)
        .into_iter()
        .find(|e| e["type"] == "summary")
        .expect("summary");
    let image = summary["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "image")
        .expect("the image in the summary")
        .clone();
    assert_eq!(image["action"], "no-op", "{image}");
    let serving = summary["image"].as_str().expect("the image in the summary");
    assert!(serving.starts_with(&prefix), "{summary}");

    // `plan` agrees, and `down` removes the environment but keeps the shared repository.
    run_ok(
        &base,
        dir.path(),
        &[&["plan", "--detailed-exitcode"][..], &env].concat(),
    )
    .await;
    run_ok(&base, dir.path(), &[&["down", "--yes"][..], &env].concat()).await;
    assert_eq!(emu.leftovers("fromsrc").await, "");
    assert!(emu.resources().await.contains("cloud-run-source-deploy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_or_status_whose_reads_fail_never_says_up_to_date() {
    let emu = Emu::start(54).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = ["--env", "unread"];
    run_ok(
        &base,
        dir.path(),
        &[&["up", "--image", IMAGE, "--output", "json"][..], &env].concat(),
    )
    .await;
    // Every read of the Redis instance is refused from now on.
    emu.set_faults(&FaultConfig {
        scripted: vec![emulator::ScriptedFault {
            method: "instances.get".into(),
            status: emulator::Code::PermissionDenied,
            message: Some("Permission 'redis.instances.get' denied on resource".into()),
            times: 1000,
            after: false,
        }],
        ..FaultConfig::default()
    })
    .await;

    for command in ["plan", "status"] {
        let human = run(
            &base,
            dir.path(),
            &[&[command, "--image", IMAGE][..], &env].concat(),
        )
        .await;
        let said = String::from_utf8_lossy(&human.stderr);
        assert_eq!(human.status.code(), Some(1), "{command}: {said}");
        assert!(!said.contains("up to date"), "{command}: {said}");
        assert!(!said.contains("No changes"), "{command}: {said}");
        assert!(said.contains("incomplete"), "{command}: {said}");
        assert!(
            said.contains("could not be read (the error is below)"),
            "{command}: which resource: {said}"
        );
        assert!(said.contains("redis.instances.get"), "the failure: {said}");
        assert!(
            said.contains("it needs redis, which could not be read"),
            "{command}: what was skipped: {said}"
        );

        let json = run(
            &base,
            dir.path(),
            &[&[command, "--image", IMAGE, "--output", "json"][..], &env].concat(),
        )
        .await;
        assert_eq!(json.status.code(), Some(1), "{command} --output json");
        let summary = json_lines(&json.stdout)
            .into_iter()
            .find(|e| e["type"] == "summary")
            .expect("a summary");
        assert_eq!(summary["ok"], false, "{summary}");
        assert!(summary["changes"].is_null(), "unknown, not 0: {summary}");
        let unread = summary["unread"].as_array().expect("unread resources");
        let redis = unread
            .iter()
            .find(|r| r["resource"] == "redis")
            .expect("redis is unread");
        assert_eq!(redis["outcome"], "failed", "{summary}");
        assert!(
            redis["error"]
                .as_str()
                .unwrap()
                .contains("redis.instances.get"),
            "{summary}"
        );
        assert!(
            unread
                .iter()
                .any(|r| r["resource"] == "run-service" && r["outcome"] == "skipped"),
            "{summary}"
        );
    }

    // With the reads answered again, the same plan says it.
    emu.set_faults(&FaultConfig::default()).await;
    let plan = run_ok(
        &base,
        dir.path(),
        &[&["plan", "--image", IMAGE][..], &env].concat(),
    )
    .await;
    let said = String::from_utf8_lossy(&plan.stderr);
    assert!(said.contains("No changes"), "{said}");
    run_ok(&base, dir.path(), &[&["down", "--yes"][..], &env].concat()).await;
    assert_eq!(emu.leftovers("unread").await, "");
}
