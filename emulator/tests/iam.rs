//! IAM service accounts and the project IAM policy (Resource Manager v3 and v1) through the
//! official clients: lifecycle, the visibility lag of new accounts, etag conflicts.

mod common;

use std::time::Duration;

use common::*;
use google_cloud_gax::error::rpc::Code;
use google_cloud_iam_admin_v1::model::ServiceAccount;
use google_cloud_iam_v1::model::{Binding, Policy};
use google_cloud_resourcemanager_v3::client::Projects;

const PROJECT: &str = "iam-test-proj";

async fn projects(base_url: &str) -> Projects {
    Projects::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .build()
        .await
        .expect("build the Resource Manager client")
}

#[tokio::test]
async fn service_account_lifecycle() {
    let emu = start(fast_config()).await;
    let iam = iam_client(emu.base_url(), anonymous()).await;
    let created = iam
        .create_service_account()
        .set_name(format!("projects/{PROJECT}"))
        .set_account_id("chat-identity")
        .set_service_account(ServiceAccount::new().set_display_name("Chat identity"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.email,
        format!("chat-identity@{PROJECT}.iam.gserviceaccount.com")
    );
    assert_eq!(
        created.name,
        format!("projects/{PROJECT}/serviceAccounts/{}", created.email)
    );
    assert!(created.unique_id.bytes().all(|b| b.is_ascii_digit()));

    let dup = iam
        .create_service_account()
        .set_name(format!("projects/{PROJECT}"))
        .set_account_id("chat-identity")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&dup), Code::AlreadyExists);

    let got = eventually(Duration::from_secs(10), || async {
        iam.get_service_account()
            .set_name(&created.name)
            .send()
            .await
            .ok()
    })
    .await;
    assert_eq!(got.display_name, "Chat identity");
    let by_id = iam
        .get_service_account()
        .set_name(format!("projects/-/serviceAccounts/{}", created.unique_id))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.email, created.email);

    let listed = iam
        .list_service_accounts()
        .set_name(format!("projects/{PROJECT}"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.accounts.len(), 1);

    iam.delete_service_account()
        .set_name(&created.name)
        .send()
        .await
        .unwrap();
    let gone = iam
        .get_service_account()
        .set_name(&created.name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&gone), Code::NotFound);
    let wildcard = iam
        .get_service_account()
        .set_name(format!("projects/-/serviceAccounts/{}", created.email))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&wildcard), Code::PermissionDenied);

    let short = iam
        .create_service_account()
        .set_name(format!("projects/{PROJECT}"))
        .set_account_id("abc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&short), Code::InvalidArgument);
    emu.shutdown().await.unwrap();
}

fn with_binding(mut policy: Policy, role: &str, member: &str) -> Policy {
    policy
        .bindings
        .push(Binding::new().set_role(role).set_members([member]));
    policy
}

#[tokio::test]
async fn a_new_service_account_is_invisible_for_a_while() {
    // Scale 0.05: the 60 s visibility lag lasts 3 s, long enough to observe from a test.
    let emu = start(emulator::EmulatorConfig {
        time_scale: 0.05,
        ..fast_config()
    })
    .await;
    let iam = iam_client(emu.base_url(), anonymous()).await;
    let rm = projects(emu.base_url()).await;
    let created = iam
        .create_service_account()
        .set_name(format!("projects/{PROJECT}"))
        .set_account_id("late-visible")
        .send()
        .await
        .unwrap();
    let early = iam
        .get_service_account()
        .set_name(&created.name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&early), Code::NotFound);

    let member = format!("serviceAccount:{}", created.email);
    let policy = rm
        .get_iam_policy()
        .set_resource(format!("projects/{PROJECT}"))
        .send()
        .await
        .unwrap();
    let refused = rm
        .set_iam_policy()
        .set_resource(format!("projects/{PROJECT}"))
        .set_policy(with_binding(policy.clone(), "roles/redis.viewer", &member))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&refused), Code::InvalidArgument);
    assert!(refused.status().unwrap().message.contains("does not exist"));

    eventually(Duration::from_secs(20), || async {
        iam.get_service_account()
            .set_name(&created.name)
            .send()
            .await
            .ok()
    })
    .await;
    let updated = rm
        .set_iam_policy()
        .set_resource(format!("projects/{PROJECT}"))
        .set_policy(with_binding(policy, "roles/redis.viewer", &member))
        .send()
        .await
        .expect("once visible, the account can be granted roles");
    assert!(updated.bindings.iter().any(|b| b.members.contains(&member)));

    // Deleting the account leaves a `deleted:` member behind, as Google shows it.
    iam.delete_service_account()
        .set_name(&created.name)
        .send()
        .await
        .unwrap();
    let after = rm
        .get_iam_policy()
        .set_resource(format!("projects/{PROJECT}"))
        .send()
        .await
        .unwrap();
    let deleted = format!("deleted:{member}?uid={}", created.unique_id);
    assert!(
        after.bindings.iter().any(|b| b.members.contains(&deleted)),
        "{after:?}"
    );
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn set_iam_policy_with_a_stale_etag_is_aborted() {
    let emu = start(fast_config()).await;
    let rm = projects(emu.base_url()).await;
    let resource = format!("projects/{PROJECT}");
    let read = rm
        .get_iam_policy()
        .set_resource(&resource)
        .send()
        .await
        .unwrap();
    assert!(!read.etag.is_empty());
    assert!(
        read.bindings.iter().any(|b| b.role == "roles/editor"),
        "a new project carries the default service agents"
    );

    let first = rm
        .set_iam_policy()
        .set_resource(&resource)
        .set_policy(with_binding(
            read.clone(),
            "roles/viewer",
            "user:alice@example.com",
        ))
        .send()
        .await
        .unwrap();
    assert_ne!(first.etag, read.etag);

    let stale = rm
        .set_iam_policy()
        .set_resource(&resource)
        .set_policy(with_binding(read, "roles/viewer", "user:bob@example.com"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&stale), Code::Aborted);

    let public = rm
        .set_iam_policy()
        .set_resource(&resource)
        .set_policy(with_binding(first.clone(), "roles/viewer", "allUsers"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&public), Code::InvalidArgument);

    let again = rm
        .get_iam_policy()
        .set_resource(&resource)
        .send()
        .await
        .unwrap();
    assert_eq!(again.etag, first.etag);
    assert!(
        again
            .bindings
            .iter()
            .any(|b| b.members.contains(&"user:alice@example.com".to_string()))
    );

    // The v1 form serves the same policy.
    let v1: serde_json::Value = post_json(
        format!("{}/v1/projects/{PROJECT}:getIamPolicy", emu.base_url()),
        &serde_json::json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        v1["bindings"]
            .to_string()
            .contains("user:alice@example.com")
    );
    emu.shutdown().await.unwrap();
}
