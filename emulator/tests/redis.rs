//! Memorystore for Redis v1 through the official google-cloud-redis-v1 client: the whole
//! lifecycle, and each error a real project answers.

mod common;

use common::*;
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use google_cloud_redis_v1::client::CloudRedis;
use google_cloud_redis_v1::model::{Instance, instance};

const PARENT: &str = "projects/redis-test-proj/locations/us-central1";

async fn client(base_url: &str) -> CloudRedis {
    CloudRedis::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Redis client")
}

/// Sends a create and returns the client's result (the unfinished operation or the error).
async fn start_create(
    redis: &CloudRedis,
    id: &str,
    instance: Instance,
) -> Result<google_cloud_longrunning::model::Operation, google_cloud_gax::error::Error> {
    redis
        .create_instance()
        .set_parent(PARENT)
        .set_instance_id(id)
        .set_instance(instance)
        .send()
        .await
}

/// Creates an instance and polls its operation to the end.
async fn create_done(
    redis: &CloudRedis,
    id: &str,
    instance: Instance,
) -> Result<Instance, google_cloud_gax::error::Error> {
    redis
        .create_instance()
        .set_parent(PARENT)
        .set_instance_id(id)
        .set_instance(instance)
        .poller()
        .until_done()
        .await
}

/// The status code of a get of instance `id`, which must fail.
async fn get_error(redis: &CloudRedis, id: &str) -> Code {
    let error = redis
        .get_instance()
        .set_name(format!("{PARENT}/instances/{id}"))
        .send()
        .await
        .expect_err("the instance should not be readable");
    code_of(&error)
}

fn basic(gb: i32) -> Instance {
    Instance::new()
        .set_tier(instance::Tier::Basic)
        .set_memory_size_gb(gb)
        .set_display_name("chat cache")
        .set_labels([("managed-by", "chatctl")])
}

#[tokio::test]
async fn create_get_list_patch_auth_delete() {
    let emu = start(fast_config()).await;
    let redis = client(emu.base_url()).await;

    let created = create_done(&redis, "cache", basic(1).set_auth_enabled(true))
        .await
        .expect("create finishes");
    assert_eq!(created.name, format!("{PARENT}/instances/cache"));
    assert_eq!(created.state, instance::State::Ready);
    assert_eq!(created.port, 6379);
    assert!(created.host.starts_with("10."), "host {}", created.host);
    assert_eq!(
        created.authorized_network,
        "projects/redis-test-proj/global/networks/default"
    );

    let got = redis
        .get_instance()
        .set_name(&created.name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.host, created.host);
    assert_eq!(got.tier, instance::Tier::Basic);
    assert_eq!(got.memory_size_gb, 1);

    let listed = redis
        .list_instances()
        .set_parent(PARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.instances.len(), 1);

    let auth = redis
        .get_instance_auth_string()
        .set_name(&created.name)
        .send()
        .await
        .unwrap();
    assert_eq!(auth.auth_string.len(), 32);

    let patched = redis
        .update_instance()
        .set_update_mask(google_cloud_wkt::FieldMask::default().set_paths(["memory_size_gb"]))
        .set_instance(
            Instance::new()
                .set_name(&created.name)
                .set_memory_size_gb(2),
        )
        .poller()
        .until_done()
        .await
        .expect("patch finishes");
    assert_eq!(patched.memory_size_gb, 2);
    assert_eq!(patched.display_name, "chat cache");

    redis
        .delete_instance()
        .set_name(&created.name)
        .poller()
        .until_done()
        .await
        .expect("delete finishes");
    let gone = redis
        .get_instance()
        .set_name(&created.name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&gone), Code::NotFound);

    // The operations stay listed and readable, each done with its @type'd result.
    let ops = redis
        .list_operations()
        .set_name("projects/redis-test-proj/locations/us-central1")
        .send()
        .await
        .unwrap();
    assert_eq!(ops.operations.len(), 3, "create, update, delete");
    assert!(ops.operations.iter().all(|op| op.done));
    let first = redis
        .get_operation()
        .set_name(&ops.operations[0].name)
        .send()
        .await
        .unwrap();
    assert!(first.done);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn transit_encryption_serves_tls_on_6378_with_a_server_ca_and_cannot_change_in_place() {
    let emu = start(fast_config()).await;
    let redis = client(emu.base_url()).await;

    let created = create_done(
        &redis,
        "tls",
        basic(1)
            .set_auth_enabled(true)
            .set_transit_encryption_mode(instance::TransitEncryptionMode::ServerAuthentication),
    )
    .await
    .expect("create finishes");
    assert_eq!(created.port, 6378, "Memorystore serves TLS on 6378");
    assert_eq!(created.server_ca_certs.len(), 1);
    let ca = &created.server_ca_certs[0];
    assert!(
        ca.cert.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        ca.cert
    );
    assert_eq!(ca.sha1_fingerprint.len(), 40);
    assert!(!ca.serial_number.is_empty());

    let plain = create_done(&redis, "plain", basic(1)).await.unwrap();
    assert_eq!(plain.port, 6379);
    assert!(plain.server_ca_certs.is_empty());
    assert_eq!(
        plain.transit_encryption_mode,
        instance::TransitEncryptionMode::Disabled
    );
    let auth = redis
        .get_instance_auth_string()
        .set_name(&plain.name)
        .send()
        .await
        .unwrap();
    assert!(auth.auth_string.is_empty(), "no AUTH, no string");

    // AUTH is turned on in place; transit encryption cannot change.
    let patched = redis
        .update_instance()
        .set_update_mask(google_cloud_wkt::FieldMask::default().set_paths(["auth_enabled"]))
        .set_instance(Instance::new().set_name(&plain.name).set_auth_enabled(true))
        .poller()
        .until_done()
        .await
        .expect("AUTH is updatable");
    assert!(patched.auth_enabled);
    let auth = redis
        .get_instance_auth_string()
        .set_name(&plain.name)
        .send()
        .await
        .unwrap();
    assert_eq!(auth.auth_string.len(), 32);
    let refused = redis
        .update_instance()
        .set_update_mask(
            google_cloud_wkt::FieldMask::default().set_paths(["transit_encryption_mode"]),
        )
        .set_instance(
            Instance::new()
                .set_name(&plain.name)
                .set_transit_encryption_mode(instance::TransitEncryptionMode::ServerAuthentication),
        )
        .send()
        .await
        .expect_err("transit encryption is set at create only");
    assert_eq!(code_of(&refused), Code::InvalidArgument);
}

#[tokio::test]
async fn rejects_what_the_real_api_rejects() {
    let emu = start(fast_config()).await;
    let redis = client(emu.base_url()).await;

    let bad_id = start_create(&redis, "Bad_ID", basic(1)).await.unwrap_err();
    assert_eq!(code_of(&bad_id), Code::InvalidArgument);

    let no_tier = start_create(&redis, "notier", Instance::new().set_memory_size_gb(1))
        .await
        .unwrap_err();
    assert_eq!(code_of(&no_tier), Code::InvalidArgument);

    let wrong_zone = start_create(&redis, "zoned", basic(1).set_location_id("europe-west1-b"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&wrong_zone), Code::InvalidArgument);

    let op = start_create(&redis, "dup", basic(1))
        .await
        .expect("first create is accepted");
    assert!(
        !op.done,
        "a Redis create takes minutes, so the operation starts unfinished"
    );

    let dup = start_create(&redis, "dup", basic(1)).await.unwrap_err();
    assert_eq!(code_of(&dup), Code::AlreadyExists);

    let early_delete = redis
        .delete_instance()
        .set_name(format!("{PARENT}/instances/dup"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&early_delete), Code::FailedPrecondition);

    assert_eq!(get_error(&redis, "nope").await, Code::NotFound);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_overlapping_reserved_range_fails_inside_the_operation() {
    let emu = start(fast_config()).await;
    let redis = client(emu.base_url()).await;
    // 10.128.0.0/20 is the default network's us-central1 subnet.
    let error = create_done(
        &redis,
        "clash",
        basic(1).set_reserved_ip_range("10.128.0.8/29"),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&error), Code::InvalidArgument);
    assert_eq!(get_error(&redis, "clash").await, Code::NotFound);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn enums_are_names_by_default_and_numbers_on_request() {
    let emu = start(fast_config()).await;
    let redis = client(emu.base_url()).await;
    create_done(&redis, "enums", basic(1)).await.unwrap();
    let url = format!("{}/v1/{PARENT}/instances/enums", emu.base_url());
    let names: serde_json::Value = get_json(&url).await;
    assert_eq!(names["tier"], "BASIC");
    assert_eq!(names["state"], "READY");
    let numbers: serde_json::Value =
        get_json(format!("{url}?%24alt=json%3Benum-encoding%3Dint")).await;
    assert_eq!(numbers["tier"], 1);
    assert_eq!(numbers["state"], 2);

    let unknown = post_json(
        format!("{}/v1/{PARENT}/instances?instanceId=typo", emu.base_url()),
        &serde_json::json!({"tier": "BASIC", "memorySizeGb": 1, "memorySizeGB": 2}),
    )
    .await;
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memorySizeGB")
    );

    // Query parameters: proto or JSON spelling; anything else is refused like Google does.
    let list = format!("{}/v1/{PARENT}/instances", emu.base_url());
    let snake = http()
        .get(format!("{list}?page_size=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(snake.status(), 200);
    let typo = http()
        .get(format!("{list}?pageSise=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    let body: serde_json::Value = typo.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot bind query parameter")
    );
    emu.shutdown().await.unwrap();
}
