//! Secret Manager v1 through the official google-cloud-secretmanager-v1 client: secrets,
//! versions (the alias `latest`), access, the secret's IAM policy, and the refusals a real
//! project answers.

mod common;

use common::*;
use google_cloud_gax::error::rpc::Code;
use google_cloud_iam_v1::model::{Binding, Policy};
use google_cloud_secretmanager_v1::client::SecretManagerService;
use google_cloud_secretmanager_v1::model::{
    Replication, Secret, SecretPayload, replication, secret_version,
};

const PROJECT: &str = "secrets-test-proj";

async fn client(base_url: &str) -> SecretManagerService {
    SecretManagerService::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .build()
        .await
        .expect("build the Secret Manager client")
}

fn automatic() -> Secret {
    Secret::new()
        .set_replication(Replication::new().set_automatic(replication::Automatic::new()))
        .set_labels([("managed-by", "chatctl"), ("chatctl-env", "dev")])
}

#[tokio::test]
async fn create_add_access_latest_policy_and_delete() {
    let emu = start(fast_config()).await;
    let sm = client(emu.base_url()).await;

    let created = sm
        .create_secret()
        .set_parent(format!("projects/{PROJECT}"))
        .set_secret_id("chatctl-dev-redis-auth")
        .set_secret(automatic())
        .send()
        .await
        .expect("create the secret");
    // Secret Manager names secrets by project number.
    assert!(!created.name.contains(PROJECT), "{}", created.name);
    assert!(created.name.ends_with("/secrets/chatctl-dev-redis-auth"));
    assert_eq!(
        created.labels.get("chatctl-env").map(String::as_str),
        Some("dev")
    );

    let again = sm
        .create_secret()
        .set_parent(format!("projects/{PROJECT}"))
        .set_secret_id("chatctl-dev-redis-auth")
        .set_secret(automatic())
        .send()
        .await
        .expect_err("the name is taken");
    assert_eq!(code_of(&again), Code::AlreadyExists);

    let by_id = format!("projects/{PROJECT}/secrets/chatctl-dev-redis-auth");
    let missing = sm
        .access_secret_version()
        .set_name(format!("{by_id}/versions/latest"))
        .send()
        .await
        .expect_err("no version yet");
    assert_eq!(code_of(&missing), Code::NotFound);

    for data in ["first", "second"] {
        sm.add_secret_version()
            .set_parent(&by_id)
            .set_payload(SecretPayload::new().set_data(data.as_bytes().to_vec()))
            .send()
            .await
            .expect("add a version");
    }
    let latest = sm
        .access_secret_version()
        .set_name(format!("{by_id}/versions/latest"))
        .send()
        .await
        .expect("access latest");
    assert!(latest.name.ends_with("/versions/2"), "{}", latest.name);
    let payload = latest.payload.expect("a payload");
    assert_eq!(&payload.data[..], b"second");
    assert_eq!(
        payload.data_crc32c,
        Some(i64::from(crc32c::crc32c(b"second")))
    );

    sm.disable_secret_version()
        .set_name(format!("{by_id}/versions/2"))
        .send()
        .await
        .expect("disable version 2");
    let latest = sm
        .access_secret_version()
        .set_name(format!("{by_id}/versions/latest"))
        .send()
        .await
        .expect("latest is the newest enabled version");
    assert_eq!(&latest.payload.unwrap().data[..], b"first");
    let disabled = sm
        .access_secret_version()
        .set_name(format!("{by_id}/versions/2"))
        .send()
        .await
        .expect_err("a disabled version cannot be read");
    assert_eq!(code_of(&disabled), Code::FailedPrecondition);

    let versions = sm
        .list_secret_versions()
        .set_parent(&by_id)
        .send()
        .await
        .unwrap();
    let states: Vec<_> = versions.versions.iter().map(|v| v.state.clone()).collect();
    assert_eq!(
        states,
        [
            secret_version::State::Disabled,
            secret_version::State::Enabled
        ]
    );

    let policy = sm
        .get_iam_policy()
        .set_resource(&by_id)
        .send()
        .await
        .unwrap();
    assert!(policy.bindings.is_empty());
    let member = "user:someone@example.com";
    let set = sm
        .set_iam_policy()
        .set_resource(&by_id)
        .set_policy(
            Policy::new()
                .set_etag(policy.etag.clone())
                .set_bindings([Binding::new()
                    .set_role("roles/secretmanager.secretAccessor")
                    .set_members([member])]),
        )
        .send()
        .await
        .expect("set the policy");
    assert_eq!(set.bindings[0].members, [member]);
    let stale = sm
        .set_iam_policy()
        .set_resource(&by_id)
        .set_policy(Policy::new().set_etag(policy.etag))
        .send()
        .await
        .expect_err("a stale etag is refused");
    assert_eq!(code_of(&stale), Code::Aborted);

    let bad_etag = sm
        .delete_secret()
        .set_name(&by_id)
        .set_etag("\"999\"")
        .send()
        .await
        .expect_err("a wrong etag is refused");
    assert_eq!(code_of(&bad_etag), Code::Aborted);
    sm.delete_secret()
        .set_name(&by_id)
        .send()
        .await
        .expect("delete");
    let gone = sm
        .get_secret()
        .set_name(&by_id)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code_of(&gone), Code::NotFound);
}

#[tokio::test]
async fn requests_the_real_api_refuses() {
    let emu = start(fast_config()).await;
    let sm = client(emu.base_url()).await;
    let parent = format!("projects/{PROJECT}");

    let bad_id = sm
        .create_secret()
        .set_parent(&parent)
        .set_secret_id("no.dots")
        .set_secret(automatic())
        .send()
        .await
        .expect_err("bad id");
    assert_eq!(code_of(&bad_id), Code::InvalidArgument);

    let no_replication = sm
        .create_secret()
        .set_parent(&parent)
        .set_secret_id("s")
        .set_secret(Secret::new())
        .send()
        .await
        .expect_err("replication is required");
    assert_eq!(code_of(&no_replication), Code::InvalidArgument);

    sm.create_secret()
        .set_parent(&parent)
        .set_secret_id("s")
        .set_secret(automatic())
        .send()
        .await
        .unwrap();
    let wrong_sum = sm
        .add_secret_version()
        .set_parent(format!("{parent}/secrets/s"))
        .set_payload(
            SecretPayload::new()
                .set_data(b"x".to_vec())
                .set_data_crc32c(1_i64),
        )
        .send()
        .await
        .expect_err("checksum mismatch");
    assert_eq!(code_of(&wrong_sum), Code::InvalidArgument);
    let too_big = sm
        .add_secret_version()
        .set_parent(format!("{parent}/secrets/s"))
        .set_payload(SecretPayload::new().set_data(vec![b'x'; 65 * 1024]))
        .send()
        .await
        .expect_err("too large");
    assert_eq!(code_of(&too_big), Code::InvalidArgument);

    // The payload never reaches the request log.
    sm.add_secret_version()
        .set_parent(format!("{parent}/secrets/s"))
        .set_payload(SecretPayload::new().set_data(b"hunter2-secret".to_vec()))
        .send()
        .await
        .unwrap();
    let log = get_text(format!("{}/_emulator/requests", emu.base_url())).await;
    assert!(log.contains(":addVersion"), "{log}");
    assert!(!log.contains("aHVudGVyMi1zZWNyZXQ"), "{log}");

    let base = emu.base_url();
    assert_only_known_query_parameters(
        reqwest::Method::GET,
        &format!("{base}/v1/{parent}/secrets?pageSize=10"),
    )
    .await;
    assert_only_known_query_parameters(
        reqwest::Method::GET,
        &format!("{base}/v1/{parent}/secrets/s:getIamPolicy?options.requestedPolicyVersion=3"),
    )
    .await;
}
