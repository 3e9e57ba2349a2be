//! Service Usage v1 through the official google-cloud-api-serviceusage-v1 client, and API
//! enablement as a project enforcing it sees it: SERVICE_DISABLED until enabled, and for a
//! propagation window after.

mod common;

use std::time::Duration;

use common::*;
use google_cloud_api_serviceusage_v1::client::ServiceUsage;
use google_cloud_api_serviceusage_v1::model::State;
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use google_cloud_redis_v1::client::CloudRedis;

const PROJECT: &str = "usage-test-proj";

async fn client(base_url: &str) -> ServiceUsage {
    ServiceUsage::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Service Usage client")
}

#[tokio::test]
async fn enforced_enablement_blocks_until_enabled() {
    // Scale 0.05: enabling takes 1.5 s and propagates 1 s later, observable from a test.
    let config = emulator::EmulatorConfig {
        enforce_api_enablement: true,
        time_scale: 0.05,
        ..fast_config()
    };
    let emu = start(config).await;
    let usage = client(emu.base_url()).await;
    let redis = CloudRedis::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .build()
        .await
        .unwrap();
    let list_redis = || {
        redis
            .list_instances()
            .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
            .send()
    };

    let disabled = list_redis().await.unwrap_err();
    assert_eq!(code_of(&disabled), Code::PermissionDenied);
    assert_eq!(reason_of(&disabled).as_deref(), Some("SERVICE_DISABLED"));

    let before = usage
        .get_service()
        .set_name(format!("projects/{PROJECT}/services/redis.googleapis.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(before.state, State::Disabled);
    assert!(
        before.name.starts_with("projects/") && !before.name.contains(PROJECT),
        "named by project number"
    );

    let enabled = usage
        .batch_enable_services()
        .set_parent(format!("projects/{PROJECT}"))
        .set_service_ids(["redis.googleapis.com", "vpcaccess.googleapis.com"])
        .poller()
        .until_done()
        .await
        .expect("batch enable finishes");
    assert_eq!(enabled.services.len(), 2);
    assert!(enabled.services.iter().all(|s| s.state == State::Enabled));

    // Enabled, but propagation lags: the API still answers SERVICE_DISABLED for a while.
    let lagging = list_redis().await.unwrap_err();
    assert_eq!(reason_of(&lagging).as_deref(), Some("SERVICE_DISABLED"));
    eventually(Duration::from_secs(10), || async {
        list_redis().await.ok()
    })
    .await;

    let listed = usage
        .list_services()
        .set_parent(format!("projects/{PROJECT}"))
        .set_filter("state:ENABLED")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .services
        .iter()
        .filter_map(|s| s.config.as_ref().map(|c| c.name.as_str()))
        .collect();
    assert!(
        names.contains(&"redis.googleapis.com") && names.contains(&"serviceusage.googleapis.com")
    );
    assert!(!names.contains(&"run.googleapis.com"));

    let single = usage
        .enable_service()
        .set_name(format!("projects/{PROJECT}/services/run.googleapis.com"))
        .poller()
        .until_done()
        .await
        .expect("enable finishes");
    assert_eq!(single.service.unwrap().state, State::Enabled);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn refuses_unknown_services_and_oversized_batches() {
    let emu = start(fast_config()).await;
    let usage = client(emu.base_url()).await;
    let unknown = usage
        .get_service()
        .set_name(format!("projects/{PROJECT}/services/nope.googleapis.com"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&unknown), Code::PermissionDenied);

    let too_many: Vec<String> = (0..21).map(|i| format!("s{i}.googleapis.com")).collect();
    let oversized = usage
        .batch_enable_services()
        .set_parent(format!("projects/{PROJECT}"))
        .set_service_ids(too_many)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&oversized), Code::InvalidArgument);

    // Without enforcement everything counts as enabled; disabling works once.
    let disabled = usage
        .disable_service()
        .set_name(format!("projects/{PROJECT}/services/run.googleapis.com"))
        .poller()
        .until_done()
        .await
        .expect("disable finishes");
    assert_eq!(disabled.service.unwrap().state, State::Disabled);
    let again = usage
        .disable_service()
        .set_name(format!("projects/{PROJECT}/services/run.googleapis.com"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&again), Code::FailedPrecondition);
    emu.shutdown().await.unwrap();
}
