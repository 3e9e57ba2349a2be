//! Organisation policies and fresh projects end to end: `up` waits for the `default` network
//! Google creates a while after it enabled Compute Engine, and `chatctl doctor` reports what the
//! project's effective policies mean for `up` (a region outside gcp.resourceLocations is a
//! problem naming both; Domain Restricted Sharing is informational), in text and JSON, or says
//! in one line that it could not read them; `up` stops before any change where they refuse the
//! region, and `plan` warns.

mod common;

use chatctl::engine::{self, Mode, Outcome};
use chatctl::stack::Stack;
use common::{Emu, failures};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Waits (at most 30 s) until `up` has read the missing `default` network of `project` at least
/// `reads` times since it enabled Compute Engine, then creates the network as Google would (auto
/// mode). Answers how many reads it saw.
async fn create_default_network_once_read(emu: &Emu, project: &str, reads: usize) -> usize {
    let network = format!("/compute/v1/projects/{project}/global/networks/default");
    let enable = format!("/projects/{project}/services:batchEnable");
    let mut seen = 0;
    for _ in 0..1500 {
        let log = emu.requests().await;
        let enabled = log.iter().position(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.contains(&enable))
        });
        seen = enabled.map_or(0, |at| {
            log[at..]
                .iter()
                .filter(|r| r["method"] == "GET" && common::bare_path(r) == network)
                .count()
        });
        if seen >= reads {
            let (status, body) = emu
                .call(
                    reqwest::Method::POST,
                    &format!("/compute/v1/projects/{project}/global/networks"),
                    json!({"name": "default", "autoCreateSubnetworks": true}),
                )
                .await;
            assert_eq!(status, 200, "create the default network: {body}");
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    seen
}

#[tokio::test]
async fn up_waits_for_the_default_network_google_creates_after_enabling_compute_engine() {
    // Google creates the `default` network a while after Compute Engine is enabled. Here the
    // project has none until the test plays Google's part, once `up` is seen looking for it
    // more often than Redis and the connector each look once: so `up` meets the project without
    // the network however fast or slow this machine is.
    let emu = Emu::start_scaled(91, emulator::FaultConfig::default(), 0.01).await;
    let described = emu
        .describe_project(json!({"projectId": "fresh-net-1", "defaultNetwork": false}))
        .await;
    assert_eq!(described["defaultNetworkExists"], false, "{described}");

    let mut settings = common::settings("nwwait");
    settings.project = "fresh-net-1".into();
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let stack = Stack::up();
    let (up, reads) = tokio::join!(
        engine::walk(Mode::Up, &stack, &session.ctx, &session.reporter),
        create_default_network_once_read(&emu, "fresh-net-1", 3),
    );
    assert!(
        reads >= 3,
        "{reads} read(s) of the network after the enable: up did not wait"
    );
    assert_eq!(failures(&up), Vec::<String>::new());

    let log = emu.requests().await;
    let position = |wanted: &dyn Fn(&str, &str) -> bool| {
        log.iter().position(|r| {
            wanted(
                r["method"].as_str().unwrap_or_default(),
                r["path"].as_str().unwrap_or_default(),
            )
        })
    };
    let network_created = position(&|m, p| {
        m == "POST"
            && p.split('?').next() == Some("/compute/v1/projects/fresh-net-1/global/networks")
    })
    .expect("the test created the network");
    let redis_create = position(&|m, p| m == "POST" && p.contains("/instances?instanceId="))
        .expect("up created Redis");
    assert!(
        network_created < redis_create,
        "Redis was created before the network existed"
    );

    let down = engine::walk(Mode::Down, &Stack::down(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("nwwait").await, "");
}

/// `chatctl ARGS` against `project` (anonymous, no credentials file): exit code, stdout, stderr.
fn chatctl(
    emu: &Emu,
    dir: &std::path::Path,
    project: &str,
    args: &[&str],
) -> (Option<i32>, String, String) {
    let out = common::chatctl_at(emu.base(), dir)
        .env("CHATCTL_PROJECT", project)
        .env("CHATCTL_IMAGE", common::IMAGE)
        .args(args)
        .output()
        .expect("run chatctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn policy<'a>(report: &'a Value, constraint: &str) -> &'a Value {
    report["orgPolicies"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|p| p["constraint"] == format!("constraints/{constraint}"))
        })
        .unwrap_or_else(|| panic!("{constraint} is reported: {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_a_region_the_org_does_not_allow_and_domain_restricted_sharing() {
    let emu = Emu::start(92).await;
    let project = "acme-eu-2";
    emu.describe_project(json!({
        "projectId": project,
        "allowedPolicyMemberDomains": ["C0acme1"],
        "orgPolicies": {"gcp.resourceLocations":
            {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}},
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();

    // The Organization Policy API is not enabled in a new project: one line says so, and it
    // is no problem.
    let (code, _, text) = chatctl(
        &emu,
        dir.path(),
        project,
        &["doctor", "--region", "europe-west1"],
    );
    let notes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("organisation policies"))
        .collect();
    assert_eq!(notes.len(), 1, "{text}");
    assert!(
        notes[0].contains("gcloud services enable orgpolicy.googleapis.com"),
        "{text}"
    );
    assert_eq!(code, Some(0), "{text}");

    emu.enable_in(project, "orgpolicy.googleapis.com").await;
    // Enabled, it answers after the propagation window: until then doctor still says so.
    let mut json_report = Value::Null;
    for _ in 0..200 {
        let (code, stdout, stderr) = chatctl(
            &emu,
            dir.path(),
            project,
            &["doctor", "--region", "us-central1", "--output", "json"],
        );
        let report: Value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        if report["orgPolicies"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
        {
            assert_eq!(code, Some(1), "{stderr}");
            json_report = report;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let report = &json_report;
    assert_eq!(report["ready"], false, "{report}");
    let locations = policy(report, "gcp.resourceLocations");
    assert_eq!(locations["effect"], "problem", "{report}");
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == "org-policy")
        .unwrap_or_else(|| panic!("a problem: {report}"));
    let message = problem["message"].as_str().unwrap();
    for part in ["us-central1", "in:eu-locations", "--region"] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(problem["allowedValues"], json!(["in:eu-locations"]));
    let sharing = policy(report, "iam.allowedPolicyMemberDomains");
    assert_eq!(sharing["effect"], "info", "{report}");
    assert!(
        sharing["message"]
            .as_str()
            .unwrap()
            .contains("invokerIamDisabled")
    );
    assert_eq!(
        report["problems"].as_array().unwrap().len(),
        1,
        "Domain Restricted Sharing is no problem: {report}"
    );

    let (code, _, text) = chatctl(
        &emu,
        dir.path(),
        project,
        &["doctor", "--region", "us-central1"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("✗ org-policy: region us-central1 is not allowed")
            && text.contains("in:eu-locations"),
        "{text}"
    );
    assert!(
        text.contains("i org-policy: Domain Restricted Sharing"),
        "{text}"
    );

    // An allowed region: ready.
    let (code, _, text) = chatctl(
        &emu,
        dir.path(),
        project,
        &["doctor", "--region", "europe-west1"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("✗"), "{text}");
}

#[tokio::test]
async fn up_in_a_region_the_org_does_not_allow_fails_saying_what_to_do() {
    let emu = Emu::start(93).await;
    emu.describe_project(
        json!({"projectId": "acme-eu-3", "orgPolicies": {"gcp.resourceLocations":
            {"rules": [{"values": {"allowedValues": ["in:europe-locations"]}}]}}}),
    )
    .await;
    let mut settings = common::settings("refused");
    settings.project = "acme-eu-3".into();
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let up = engine::walk(Mode::Up, &Stack::up(), &session.ctx, &session.reporter).await;
    let Outcome::Failed(error) = &up.results[&chatctl::resources::redis::ID].outcome else {
        panic!("{:?}", up.results[&chatctl::resources::redis::ID].outcome);
    };
    let message = format!("{error:#}");
    for part in [
        "violates constraint constraints/gcp.resourceLocations",
        "--region",
        "chatctl doctor",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let down = engine::walk(Mode::Down, &Stack::down(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&down), Vec::<String>::new());
    assert_eq!(emu.leftovers("refused").await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_stops_before_any_change_where_the_org_refuses_the_region_and_plan_warns() {
    let emu = Emu::start(94).await;
    let project = "acme-eu-4";
    emu.describe_project(
        json!({"projectId": project, "orgPolicies": {"gcp.resourceLocations":
        {"rules": [{"values": {"allowedValues": ["in:europe-locations"]}}]}}}),
    )
    .await;
    emu.enable_in(project, "orgpolicy.googleapis.com").await;
    let dir = tempfile::tempdir().unwrap();
    let region = ["--region", "us-central1", "--env", "orgstop"];

    // `plan` warns (once the Organization Policy API answers, after its propagation window).
    let mut plan = None;
    for _ in 0..200 {
        let (code, stdout, stderr) = chatctl(
            &emu,
            dir.path(),
            project,
            &[&["plan"][..], &region].concat(),
        );
        if stderr.contains("gcp.resourceLocations") {
            plan = Some((code, stdout, stderr));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (code, _, stderr) = plan.expect("plan warned about the region");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("warning: `up` would stop here"), "{stderr}");

    let before = emu.requests().await.len();
    let (code, _, stderr) = chatctl(
        &emu,
        dir.path(),
        project,
        &[&["up", "--yes"][..], &region].concat(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    for part in [
        "region us-central1 is not allowed",
        "constraints/gcp.resourceLocations",
        "in:europe-locations",
        "--region",
        "Nothing was changed",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    let log = emu.requests().await;
    let changes: Vec<String> = log[before..]
        .iter()
        .filter(|r| r["method"] != "GET")
        .filter_map(|r| r["path"].as_str().map(String::from))
        .filter(|p| !p.contains(":testIamPermissions"))
        .collect();
    assert_eq!(changes, Vec::<String>::new(), "up changed something");

    // In an allowed region it goes ahead.
    let (code, _, stderr) = chatctl(
        &emu,
        dir.path(),
        project,
        &["plan", "--region", "europe-west1", "--env", "orgstop"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("would stop here"), "{stderr}");
}
