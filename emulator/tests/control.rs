//! The emulator's own endpoints: fault injection (scripted and seeded random), the request
//! log, the resource dump and reset.

mod common;

use common::*;
use google_cloud_gax::error::rpc::Code;
use google_cloud_iam_v1::model::Binding;
use google_cloud_resourcemanager_v3::client::Projects;
use serde_json::{Value, json};

const PROJECT: &str = "control-test-proj";

async fn post_faults(base_url: &str, faults: Value) -> reqwest::Response {
    post_json(format!("{base_url}/_emulator/faults"), &faults).await
}

#[tokio::test]
async fn a_scripted_fault_fails_the_next_matching_call_once() {
    let emu = start(fast_config()).await;
    let rm = Projects::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .build()
        .await
        .unwrap();
    let resource = format!("projects/{PROJECT}");
    let accepted = post_faults(
        emu.base_url(),
        json!({ "scripted": [{ "method": "setIamPolicy", "status": "ABORTED" }] }),
    )
    .await;
    assert_eq!(accepted.status(), 200);

    let mut policy = rm
        .get_iam_policy()
        .set_resource(&resource)
        .send()
        .await
        .expect("gets are not scripted");
    policy.bindings.push(
        Binding::new()
            .set_role("roles/viewer")
            .set_members(["user:a@example.com"]),
    );
    let first = rm
        .set_iam_policy()
        .set_resource(&resource)
        .set_policy(policy.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&first), Code::Aborted);
    rm.set_iam_policy()
        .set_resource(&resource)
        .set_policy(policy)
        .send()
        .await
        .expect("the fault was one-shot");

    let rejected = post_faults(emu.base_url(), json!({ "errorRate": 2.0 })).await;
    assert_eq!(rejected.status(), 400);
    emu.shutdown().await.unwrap();
}

/// Which of 30 calls fail under a 50% fault rate, for a given seed.
async fn fault_pattern(seed: u64) -> Vec<u16> {
    let emu = start(emulator::EmulatorConfig {
        seed: Some(seed),
        faults: emulator::FaultConfig {
            error_rate: 0.5,
            error_codes: vec![429, 503],
            ..Default::default()
        },
        ..fast_config()
    })
    .await;
    let url = format!("{}/v1/projects/{PROJECT}/serviceAccounts", emu.base_url());
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let response = http().get(&url).send().await.unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            let body: Value = response.json().await.unwrap();
            let expected = if status == 429 {
                "RESOURCE_EXHAUSTED"
            } else {
                "UNAVAILABLE"
            };
            assert_eq!(body["error"]["status"], expected);
        }
        statuses.push(status);
    }
    emu.shutdown().await.unwrap();
    statuses
}

#[tokio::test]
async fn random_faults_follow_the_seed() {
    let first = fault_pattern(7).await;
    assert!(
        first.contains(&200) && first.iter().any(|s| *s != 200),
        "{first:?}"
    );
    assert!(
        first.iter().all(|s| [200, 429, 503].contains(s)),
        "{first:?}"
    );
    assert_eq!(fault_pattern(7).await, first, "same seed, same faults");
}

#[tokio::test]
async fn added_latency_delays_api_calls_but_not_control_endpoints() {
    let emu = start(fast_config()).await;
    let set = post_faults(emu.base_url(), json!({ "latencyMs": 300 })).await;
    assert_eq!(set.status(), 200);
    let shown = get_json(format!("{}/_emulator/faults", emu.base_url())).await;
    assert_eq!(shown["latencyMs"], 300);
    let started = std::time::Instant::now();
    let call = http()
        .get(format!(
            "{}/v1/projects/{PROJECT}/serviceAccounts",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "the injected delay is a lower bound"
    );
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_resources_and_reset() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let created = post_json(
        format!("{base}/v1/projects/{PROJECT}/serviceAccounts?%24alt=json%3Benum-encoding%3Dint"),
        &json!({ "accountId": "logged-account" }),
    )
    .await;
    assert_eq!(created.status(), 200);

    let log = get_text(format!("{base}/_emulator/requests")).await;
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entry = lines
        .iter()
        .find(|l| l["method"] == "POST")
        .expect("the create is logged");
    assert_eq!(
        entry["path"],
        format!("/v1/projects/{PROJECT}/serviceAccounts?%24alt=json%3Benum-encoding%3Dint")
    );
    assert_eq!(entry["body"]["accountId"], "logged-account");

    let resources: Value = get_json(format!("{base}/_emulator/resources")).await;
    assert!(resources.to_string().contains("logged-account@"));

    let reset = http()
        .post(format!("{base}/_emulator/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let after: Value = get_json(format!("{base}/_emulator/resources")).await;
    assert!(!after.to_string().contains("logged-account@"));
    let log_after = get_text(format!("{base}/_emulator/requests")).await;
    assert!(!log_after.contains("logged-account"));
    emu.shutdown().await.unwrap();
}
