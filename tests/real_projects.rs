//! The whole stack against projects as organisations have them (described to the emulator with
//! `POST /_emulator/projects`): no `default` network, builds that would run as a Compute Engine
//! default account stripped of its roles, Domain Restricted Sharing refusing allUsers, and
//! Cloud Run holding a deleted service's name for a while.

mod common;

use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::resources::{self, public_access, run_service};
use chatctl::stack::Stack;
use common::{Emu, failures};
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn session(emu: &Emu, project: &str, env: &str, build: bool) -> chatctl::commands::Session {
    let mut settings = common::settings(env);
    settings.project = project.into();
    if build {
        // `--build source`, the default: Cloud Build builds the embedded sources.
        settings.image = None;
    }
    // Otherwise the prebuilt image the emulator holds (in another project's repository).
    emu.session_for(settings, CancellationToken::new()).await
}

async fn walk(session: &chatctl::commands::Session, mode: Mode) -> Walk {
    let stack = if mode == Mode::Down {
        Stack::down()
    } else {
        Stack::up()
    };
    engine::walk(mode, &stack, &session.ctx, &session.reporter).await
}

fn planned_changes(walk: &Walk) -> Vec<String> {
    walk.results
        .iter()
        .filter_map(|(id, r)| {
            let p = r.planned.as_ref()?;
            p.action
                .is_change()
                .then(|| format!("{}: {:?}", id.label(), p.action))
        })
        .collect()
}

#[tokio::test]
async fn without_a_default_network_redis_and_the_connector_are_refused_before_any_create() {
    let emu = Emu::start(81).await;
    emu.describe_project(json!({"projectId": "acme-nonet-1", "defaultNetwork": false}))
        .await;
    let session = session(&emu, "acme-nonet-1", "nw", false).await;
    // Compute Engine was enabled long ago (had the network been on its way after an enable by
    // this run, up would wait for it first).
    chatctl::gcp::serviceusage::enable(&session.ctx.google, &["compute.googleapis.com".into()])
        .await
        .expect("enable Compute Engine");
    let up = walk(&session, Mode::Up).await;
    for id in [resources::redis::ID, resources::connector::ID] {
        let Outcome::Failed(error) = &up.results[&id].outcome else {
            panic!("{id}: {:?}", up.results[&id].outcome);
        };
        let message = format!("{error:#}");
        for part in [
            "network `default` does not exist",
            "--network",
            "acme-nonet-1",
        ] {
            assert!(message.contains(part), "{id}: {message}");
        }
    }
    let log = emu.requests().await;
    let creates: Vec<&str> = log
        .iter()
        .filter(|r| r["method"] == "POST")
        .filter_map(|r| r["path"].as_str())
        .filter(|p| p.contains("/instances?") || p.contains("/connectors?"))
        .collect();
    assert_eq!(creates, Vec::<&str>::new(), "no create was sent");
    let down = walk(&session, Mode::Down).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("nw").await, "");
}

#[tokio::test]
async fn an_org_hardened_project_converges_with_chatctls_build_account_and_the_invoker_check_off() {
    let emu = Emu::start(82).await;
    emu.describe_project(json!({
        "projectId": "acme-prod-1",
        "buildServiceAccount": "compute-default",
        "computeDefaultServiceAccountRoles": [],
        "allowedPolicyMemberDomains": ["C0acme1"],
    }))
    .await;
    let session = session(&emu, "acme-prod-1", "hardened", true).await;
    let up = walk(&session, Mode::Up).await;
    assert_eq!(failures(&up), Vec::<String>::new());
    assert!(up.values.service_url.is_some());

    // The builds ran as chatctl's own account, which holds roles/run.builder (the first ones
    // may have failed while that role propagated); one succeeded.
    let world: serde_json::Value =
        serde_json::from_str(&emu.resources().await).expect("resources JSON");
    let builds: Vec<&serde_json::Value> = world["cloudbuild"]["builds"]
        .as_object()
        .map(|b| b.values().map(|b| &b["build"]).collect())
        .unwrap_or_default();
    let succeeded = builds.iter().filter(|b| b["status"] == "SUCCESS").count();
    assert_eq!(succeeded, 1, "{builds:?}");
    for build in &builds {
        assert_eq!(
            build["serviceAccount"],
            "projects/acme-prod-1/serviceAccounts/chat-builder-hardened@acme-prod-1.iam.gserviceaccount.com"
        );
    }

    // allUsers was refused by the org policy: the service is public through its invoker check.
    let plan = walk(&session, Mode::Plan).await;
    assert_eq!(failures(&plan), Vec::<String>::new());
    let public = plan.results[&public_access::ID].planned.as_ref().unwrap();
    assert_eq!(public.state, "PUBLIC (invoker check off)");
    assert_eq!(
        planned_changes(&plan),
        Vec::<String>::new(),
        "a second up only reads"
    );
    let service = chatctl::gcp::run::get(&session.ctx.google, "chat-hardened")
        .await
        .unwrap()
        .expect("the service");
    assert!(service.invoker_iam_disabled);

    let down = walk(&session, Mode::Down).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("hardened").await, "");
}

#[tokio::test]
async fn a_service_created_again_right_after_its_delete_waits_for_cloud_run_to_release_the_name() {
    // Cloud Run holds a deleted service's name for a while (0.2 s here, at 1 % of Google's
    // time). So that the create meets that refusal however slow the machine is, the first create
    // after the delete is answered as Cloud Run answers inside the window.
    let emu = Emu::start_scaled(83, emulator::FaultConfig::default(), 0.01).await;
    emu.describe_project(json!({"projectId": "acme-pr-1"}))
        .await;
    let session = session(&emu, "acme-pr-1", "reopen", false).await;
    assert_eq!(
        failures(&walk(&session, Mode::Up).await),
        Vec::<String>::new()
    );
    // Only the service goes, as when a pull request's preview is closed and reopened.
    let only_service = Stack::down().subset(&[run_service::ID]);
    let deleted = engine::walk(Mode::Down, &only_service, &session.ctx, &session.reporter).await;
    assert_eq!(failures(&deleted), Vec::<String>::new());
    emu.set_faults(&emulator::FaultConfig {
        scripted: vec![emulator::ScriptedFault {
            method: "run.projects.locations.services.create".into(),
            status: emulator::Code::AlreadyExists,
            message: Some("Resource 'chat-reopen' already exists.".into()),
            times: 1,
            after: false,
        }],
        ..emulator::FaultConfig::default()
    })
    .await;
    let before = emu.requests().await.len();
    let again = walk(&session, Mode::Up).await;
    assert_eq!(
        failures(&again),
        Vec::<String>::new(),
        "up right after the delete"
    );
    let log = emu.requests().await;
    let service_creates = log[before..]
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/services?serviceId=chat-reopen"))
        })
        .count();
    assert!(
        service_creates >= 2,
        "{service_creates} create(s): the first should have been refused while the name was held"
    );
    let down = walk(&session, Mode::Down).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("reopen").await, "");
}

#[tokio::test]
async fn a_build_right_after_its_accounts_role_was_granted_is_started_again_until_the_role_takes_effect()
 {
    // Time at 1 %: a new binding reaches the build's account checks 3 s after it was set,
    // after the build that follows it has looked.
    let emu = Emu::start_scaled(84, emulator::FaultConfig::default(), 0.01).await;
    emu.describe_project(json!({
        "projectId": "acme-iam-1",
        "buildServiceAccount": "compute-default",
        "computeDefaultServiceAccountRoles": [],
    }))
    .await;
    let session = session(&emu, "acme-iam-1", "fresh", true).await;
    let up = walk(&session, Mode::Up).await;
    assert_eq!(failures(&up), Vec::<String>::new());

    let world: serde_json::Value =
        serde_json::from_str(&emu.resources().await).expect("resources JSON");
    let mut builds: Vec<&serde_json::Value> = world["cloudbuild"]["builds"]
        .as_object()
        .map(|b| b.values().map(|b| &b["build"]).collect())
        .unwrap_or_default();
    builds.sort_by_key(|b| b["createTime"].as_str().unwrap_or_default().to_string());
    let statuses: Vec<&str> = builds
        .iter()
        .map(|b| b["status"].as_str().unwrap_or_default())
        .collect();
    assert!(
        statuses.len() >= 2,
        "the first build met the role before it took effect: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&"SUCCESS"), "{statuses:?}");
    let failure = builds[0]["failureInfo"]["type"]
        .as_str()
        .unwrap_or_default();
    assert!(
        [
            "FETCH_SOURCE_FAILED",
            "PUSH_NOT_AUTHORIZED",
            "LOGGING_FAILURE"
        ]
        .contains(&failure),
        "{failure}"
    );

    let down = walk(&session, Mode::Down).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("fresh").await, "");
}
