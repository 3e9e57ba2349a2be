//! Preflight and `chatctl doctor` against a project that enforces IAM (the emulator's real
//! projects): the README's least-privilege roles pass, `roles/editor` alone stops `up` (and
//! `down`) before any mutating call, and `doctor` reports ready / not ready without printing a secret.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use emulator::{Emulator, EmulatorConfig, EmulatorHandle, NoRuntime};
use serde_json::{Value, json};

const CI: &str = "ci@example.com";

/// The roles of the README's least-privilege table, in its order.
fn readme_roles() -> Vec<String> {
    let readme = include_str!("../README.md");
    let table = readme
        .split("| role | needed for |")
        .nth(1)
        .expect("the README has the least-privilege role table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect()
}

/// An emulator (loopback, APIs enabled, fast) with `project` described as enforcing IAM (and
/// `setup`), the user ci@example.com holding `roles` there, and its credentials file in `dir`.
async fn setup(
    project: &str,
    setup: Value,
    roles: &[String],
    dir: &std::path::Path,
) -> (EmulatorHandle, Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: false,
        seed: Some(61),
        enforce_api_enablement: false,
        ..Default::default()
    };
    let emu = Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .unwrap();
    let base = emu.base_url().to_string();
    let mut describe = json!({ "projectId": project, "enforceIam": true });
    if let (Some(map), Some(extra)) = (describe.as_object_mut(), setup.as_object()) {
        map.extend(extra.clone());
    }
    post(&format!("{base}/_emulator/projects"), describe).await;
    // The quota project of the credentials file enforces IAM and grants ci@ nothing: a call
    // billed there would fail (USER_PROJECT_DENIED), so chatctl must bill the target project.
    let elsewhere = json!({ "projectId": "someone-elses-proj", "enforceIam": true });
    post(&format!("{base}/_emulator/projects"), elsewhere).await;
    let user = json!({ "email": CI, "quotaProjectId": "someone-elses-proj" });
    let credentials = post(&format!("{base}/_emulator/users"), user).await;
    std::fs::write(dir.join("adc.json"), credentials.to_string()).unwrap();
    let grant = json!({ "member": format!("user:{CI}"), "roles": roles });
    post(
        &format!("{base}/_emulator/projects/{project}/grants"),
        grant,
    )
    .await;
    (emu, credentials)
}

/// A control call to the emulator, which must answer 200: its JSON answer.
async fn post(url: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap_or(Value::Null)
}

/// Runs the chatctl binary as ci@example.com (its credentials file) against the emulator.
async fn chatctl(base: &str, dir: &std::path::Path, project: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env("CHATCTL_API_ENDPOINT", base)
        .env("CHATCTL_PROJECT", project)
        .env("GOOGLE_APPLICATION_CREDENTIALS", dir.join("adc.json"))
        .env_remove("GOOGLE_CLOUD_QUOTA_PROJECT")
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .env("HOME", dir)
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// The emulator's request log, without the OAuth token grants (`POST /token`: signing in, not
/// an API call).
async fn requests(base: &str) -> Vec<Value> {
    reqwest::get(format!("{base}/_emulator/requests"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["path"] != "/token")
        .collect()
}

#[test]
fn the_readme_role_table_is_the_preflight_table() {
    let from_table: std::collections::BTreeSet<&str> =
        chatctl::preflight::NEEDS.iter().map(|n| n.role).collect();
    let readme: std::collections::BTreeSet<String> = readme_roles().into_iter().collect();
    assert_eq!(
        readme,
        from_table.iter().map(|r| r.to_string()).collect(),
        "the README's least-privilege roles and src/preflight.rs's NEEDS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_roles_pass_preflight_and_doctor_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    let project = "lp-proj-1";
    let (emu, credentials) = setup(project, json!({}), &readme_roles(), dir.path()).await;
    let base = emu.base_url();

    let plan = chatctl(base, dir.path(), project, &["plan", "--output", "json"]).await;
    assert_eq!(plan.code, Some(0), "{}", plan.stderr);
    let events = plan.json();
    assert!(
        !events.iter().any(|e| e["type"] == "preflight"),
        "nothing is missing: {events:?}"
    );
    assert!(
        requests(base).await.iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.contains(":testIamPermissions"))),
        "plan ran the preflight"
    );
    assert!(events.iter().any(|e| e["type"] == "summary"), "{events:?}");

    let doctor = chatctl(base, dir.path(), project, &["doctor", "--output", "json"]).await;
    assert_eq!(doctor.code, Some(0), "{}\n{}", doctor.stdout, doctor.stderr);
    let report = doctor.json();
    assert_eq!(report.len(), 1, "one JSON object: {report:?}");
    let report = &report[0];
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["credentials"]["type"], "authorized_user");
    assert_eq!(report["quota_project"]["in_effect"], project);
    assert_eq!(
        report["quota_project"]["credentials_file"],
        "someone-elses-proj"
    );
    assert_eq!(report["network"]["exists"], true);
    // The least-privilege roles do not read organisation policies: a note, not a problem.
    assert_eq!(report["orgPolicies"], json!([]), "{report}");
    let note = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["check"] == "org-policies")
        .unwrap_or_else(|| panic!("a note on org policies: {report}"));
    let note = note["message"].as_str().unwrap();
    assert!(
        note.contains("orgpolicy.policy.get") && note.contains("roles/orgpolicy.policyViewer"),
        "{note}"
    );

    let human = chatctl(base, dir.path(), project, &["doctor"]).await;
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    assert!(human.stderr.contains("ready"), "{}", human.stderr);
    let notes: Vec<&str> = human
        .stderr
        .lines()
        .filter(|l| l.contains("organisation polic"))
        .collect();
    assert_eq!(notes.len(), 1, "one line: {}", human.stderr);
    for secret in ["refresh_token", "client_secret"] {
        let value = credentials[secret].as_str().unwrap();
        for out in [&doctor, &human, &plan] {
            assert!(
                !out.stdout.contains(value) && !out.stderr.contains(value),
                "{secret} printed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_alone_stops_up_at_preflight_before_any_mutating_call() {
    let dir = tempfile::tempdir().unwrap();
    let project = "ed-proj-1";
    let (emu, credentials) = setup(
        project,
        json!({}),
        &["roles/editor".to_string()],
        dir.path(),
    )
    .await;
    let base = emu.base_url();

    let up = chatctl(
        base,
        dir.path(),
        project,
        &["up", "--env", "pr-7", "--output", "json"],
    )
    .await;
    assert_eq!(up.code, Some(1), "{}", up.stderr);
    for needle in [
        "resourcemanager.projects.setIamPolicy",
        "roles/resourcemanager.projectIamAdmin",
        "run.services.setIamPolicy",
        "roles/run.admin",
        "nothing was changed",
    ] {
        assert!(up.stderr.contains(needle), "{needle}: {}", up.stderr);
    }
    let preflight = up
        .json()
        .into_iter()
        .find(|e| e["type"] == "preflight")
        .expect("a preflight event");
    assert_eq!(preflight["ok"], false);
    let missing: Vec<&str> = preflight["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["permission"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        [
            "resourcemanager.projects.setIamPolicy",
            "run.services.setIamPolicy",
            // Editor reads no secret payload and sets no IAM policy, a secret's included.
            "secretmanager.versions.access",
            "secretmanager.secrets.setIamPolicy"
        ]
    );
    let log = requests(base).await;
    assert!(!log.is_empty());
    assert_eq!(common::mutating(&log), Vec::<String>::new());

    // `plan` can read with Editor: it warns that `up` would stop, and plans.
    let plan = chatctl(base, dir.path(), project, &["plan", "--env", "pr-7"]).await;
    assert_eq!(plan.code, Some(0), "{}", plan.stderr);
    assert!(plan.stderr.contains("`up` would stop"), "{}", plan.stderr);

    let doctor = chatctl(base, dir.path(), project, &["doctor", "--output", "json"]).await;
    assert_eq!(doctor.code, Some(1), "{}", doctor.stderr);
    let report = &doctor.json()[0];
    assert_eq!(report["ready"], false);
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["permission"] == "run.services.setIamPolicy"
                && p["role"] == "roles/run.admin"),
        "{report}"
    );
    let human = chatctl(base, dir.path(), project, &["doctor"]).await;
    assert_eq!(human.code, Some(1));
    assert!(human.stderr.contains("not ready"), "{}", human.stderr);
    assert!(
        human
            .stderr
            .contains("roles/resourcemanager.projectIamAdmin"),
        "{}",
        human.stderr
    );
    let secret = credentials["refresh_token"].as_str().unwrap();
    assert!(!doctor.stdout.contains(secret) && !human.stderr.contains(secret));
    assert_eq!(
        common::mutating(&requests(base).await),
        Vec::<String>::new()
    );

    // `down` checks what it needs (removing the role bindings needs setIamPolicy on the
    // project; nothing on the service, which goes as a whole) before it deletes anything.
    let down = chatctl(
        base,
        dir.path(),
        project,
        &["down", "--env", "pr-7", "--yes"],
    )
    .await;
    assert_eq!(down.code, Some(1), "{}", down.stderr);
    assert!(
        down.stderr.contains("that `down` needs")
            && down
                .stderr
                .contains("resourcemanager.projects.setIamPolicy"),
        "{}",
        down.stderr
    );
    assert!(
        !down.stderr.contains("run.services.setIamPolicy"),
        "{}",
        down.stderr
    );
    assert_eq!(
        common::mutating(&requests(base).await),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_a_missing_network_and_checks_only_what_the_settings_use() {
    let dir = tempfile::tempdir().unwrap();
    let project = "nonet-proj-1";
    // Without Cloud Build, Artifact Registry and public access, fewer roles suffice (Storage
    // stays: the environment's lock lives there).
    let roles: Vec<String> = readme_roles()
        .into_iter()
        .filter(|r| {
            !matches!(
                r.as_str(),
                "roles/cloudbuild.builds.editor" | "roles/artifactregistry.admin"
            )
        })
        .collect();
    let (emu, _) = setup(
        project,
        json!({ "defaultNetwork": false }),
        &roles,
        dir.path(),
    )
    .await;
    let base = emu.base_url();
    let doctor = chatctl(
        base,
        dir.path(),
        project,
        &[
            "doctor",
            "--image",
            "docker.io/library/chat-server:1",
            "--no-allow-unauthenticated",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(doctor.code, Some(1), "{}", doctor.stderr);
    let report = &doctor.json()[0];
    assert_eq!(report["ready"], false);
    assert_eq!(report["permissions"]["missing"], json!([]), "{report}");
    assert_eq!(report["network"]["exists"], false, "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(message.contains("--network"), "{message}");
    assert!(message.contains("skipDefaultNetworkCreation"), "{message}");
}

#[test]
fn doctor_help_explains_the_report_and_its_exit_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatctl"))
        .args(["doctor", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "never a secret",
        "quota project",
        "role",
        "Exit 0 when ready, 1 when not",
        "`ready`",
        "`problems`",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_roles_bring_an_org_hardened_project_up_again_and_down() {
    // The README's roles, in a project as an organisation hardens it: builds would run as a
    // Compute Engine default account without roles, and Domain Restricted Sharing refuses
    // allUsers. The default --build source: chatctl builds as its own account.
    let dir = tempfile::tempdir().unwrap();
    let project = "acme-lp-1";
    let hardened = json!({
        "buildServiceAccount": "compute-default",
        "computeDefaultServiceAccountRoles": [],
        "allowedPolicyMemberDomains": ["C0acme1"],
    });
    let (emu, _) = setup(project, hardened, &readme_roles(), dir.path()).await;
    let base = emu.base_url();
    let args = ["up", "--env", "hardlp", "--output", "json"];

    let up = chatctl(base, dir.path(), project, &args).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let summary = up
        .json()
        .into_iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary");
    assert!(
        summary["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://"))
    );

    let before = requests(base).await.len();
    let again = chatctl(base, dir.path(), project, &args).await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let changed: Vec<String> = requests(base).await[before..]
        .iter()
        .filter(|r| common::is_mutating(r))
        .map(|r| format!("{} {}", r["method"], r["path"]))
        .collect();
    assert_eq!(changed, Vec::<String>::new(), "a second up only reads");

    let down = chatctl(
        base,
        dir.path(),
        project,
        &["down", "--env", "hardlp", "--yes"],
    )
    .await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    let world = reqwest::get(format!("{base}/_emulator/resources"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut world: Value = serde_json::from_str(&world).unwrap();
    // History, not resources: operations, builds (which name the build account) and log
    // entries (which name the service and its revisions).
    if let Some(map) = world.as_object_mut() {
        map.remove("operations");
        map.remove("logging");
        if let Some(cloudbuild) = map.get_mut("cloudbuild").and_then(Value::as_object_mut) {
            cloudbuild.remove("builds");
        }
    }
    let world = world.to_string();
    assert!(
        !world.contains("hardlp"),
        "the environment left something: {world}"
    );
}

/// Calls checked against another quota project (GOOGLE_CLOUD_QUOTA_PROJECT) in which an API is
/// disabled: enabling it in the target cannot help, so chatctl says so at once, naming that
/// project and the variable, instead of waiting SERVICE_DISABLED out for minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_disabled_in_another_quota_project_fails_at_once_naming_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: false,
        seed: Some(71),
        enforce_api_enablement: true,
        ..Default::default()
    };
    let emu = Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .unwrap();
    let base = emu.base_url().to_string();
    post(
        &format!("{base}/_emulator/projects"),
        json!({ "projectId": "quota-target-1" }),
    )
    .await;
    let billing = post(
        &format!("{base}/_emulator/projects"),
        json!({ "projectId": "billing-proj-1" }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let user = json!({ "email": CI });
    let credentials = post(&format!("{base}/_emulator/users"), user).await;
    std::fs::write(dir.path().join("adc.json"), credentials.to_string()).unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.current_dir(dir.path())
        .stdin(Stdio::null())
        .env("CHATCTL_API_ENDPOINT", &base)
        .env("CHATCTL_PROJECT", "quota-target-1")
        .env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            dir.path().join("adc.json"),
        )
        .env("GOOGLE_CLOUD_QUOTA_PROJECT", "billing-proj-1")
        .env("CLOUDSDK_CONFIG", dir.path().join("no-gcloud"))
        .env("HOME", dir.path())
        .args(["up", "--yes", "--image", "docker.io/library/chat-server:1"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let number = billing["projectNumber"]
        .as_str()
        .map_or_else(|| billing["projectNumber"].to_string(), str::to_string);
    assert!(stderr.contains("SERVICE_DISABLED"), "{stderr}");
    for part in [
        format!("projects/{number}"),
        "billing-proj-1".to_string(),
        "GOOGLE_CLOUD_QUOTA_PROJECT".to_string(),
        "gcloud services enable redis.googleapis.com --project billing-proj-1".to_string(),
    ] {
        assert!(stderr.contains(&part), "names {part}: {stderr}");
    }
    // Refused once, not retried: the reads refused for the quota project were each sent once
    // (the target's own Storage, just enabled there, was waited for as usual).
    let log = requests(&base).await;
    for read in [
        "/instances/chat-default",
        "/connectors/chat-default",
        "/serviceAccounts/chat-identity-default",
    ] {
        let sent = log
            .iter()
            .filter(|r| {
                r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.contains(read))
            })
            .count();
        assert_eq!(sent, 1, "{read} was retried: {log:#?}");
    }
}

/// The README's roles without those only `--bus nats` needs.
fn redis_bus_roles() -> Vec<String> {
    readme_roles()
        .into_iter()
        .filter(|r| r != "roles/compute.instanceAdmin.v1" && r != "roles/compute.securityAdmin")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roles_of_the_redis_bus_alone_bring_it_up_and_down_without_the_nats_roles() {
    let dir = tempfile::tempdir().unwrap();
    let project = "acme-redisonly-1";
    let (emu, _) = setup(project, json!({}), &redis_bus_roles(), dir.path()).await;
    let base = emu.base_url();
    let up = chatctl(base, dir.path(), project, &["up", "--env", "ronly"]).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    let down = chatctl(
        base,
        dir.path(),
        project,
        &["down", "--env", "ronly", "--yes"],
    )
    .await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    assert!(
        down.stderr.contains("compute.instances.get"),
        "down warns it could not look for the NATS pieces: {}",
        down.stderr
    );
    // With --bus nats, the same roles stop up at preflight, naming the Compute Engine role.
    let nats = chatctl(
        base,
        dir.path(),
        project,
        &["up", "--env", "ronly", "--bus", "nats"],
    )
    .await;
    assert_eq!(nats.code, Some(1), "{}", nats.stderr);
    assert!(
        nats.stderr.contains("roles/compute.instanceAdmin.v1"),
        "{}",
        nats.stderr
    );
    assert!(
        nats.stderr.contains("roles/compute.securityAdmin"),
        "{}",
        nats.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_roles_bring_the_nats_bus_up_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let project = "acme-natslp-1";
    let (emu, _) = setup(project, json!({}), &readme_roles(), dir.path()).await;
    let base = emu.base_url();
    let compute = || async {
        let world = reqwest::get(format!("{base}/_emulator/resources"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let world: Value = serde_json::from_str(&world).unwrap();
        world["compute"].to_string()
    };
    let up = chatctl(
        base,
        dir.path(),
        project,
        &["up", "--env", "nlp", "--bus", "nats"],
    )
    .await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    assert!(compute().await.contains("chat-nats-nlp"), "the VM is up");
    let down = chatctl(
        base,
        dir.path(),
        project,
        &["down", "--env", "nlp", "--yes"],
    )
    .await;
    assert_eq!(down.code, Some(0), "{}", down.stderr);
    let left = compute().await;
    assert!(!left.contains("chat-nats-nlp"), "left: {left}");
}
