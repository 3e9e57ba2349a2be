//! Compute Engine v1 through the official google-cloud-compute-v1 client: the `default`
//! auto-mode network every project has, network inserts (auto or custom mode), subnet insert/get/list/aggregated list/delete with
//! Compute's own operations, the overlap rules, and Compute's legacy error shape.

mod common;

use common::*;
use google_cloud_compute_v1::client::{Networks, Subnetworks};
use google_cloud_compute_v1::model::{Network, Subnetwork, SubnetworkSecondaryRange, operation};
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use google_cloud_gax::paginator::{ItemPaginator, Paginator};
use google_cloud_lro::Poller;
use google_cloud_vpcaccess_v1::client::VpcAccessService;
use google_cloud_vpcaccess_v1::model::Connector;

const PROJECT: &str = "compute-test-1";
const REGION: &str = "us-central1";

async fn subnetworks(base_url: &str) -> Subnetworks {
    Subnetworks::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Subnetworks client")
}

async fn networks(base_url: &str) -> Networks {
    Networks::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .build()
        .await
        .expect("build the Networks client")
}

fn subnet(name: &str, range: &str) -> Subnetwork {
    Subnetwork::new()
        .set_name(name)
        .set_network(format!("projects/{PROJECT}/global/networks/default"))
        .set_ip_cidr_range(range)
}

async fn insert(
    client: &Subnetworks,
    region: &str,
    body: Subnetwork,
) -> Result<google_cloud_compute_v1::model::Operation, google_cloud_gax::error::Error> {
    client
        .insert()
        .set_project(PROJECT)
        .set_region(region)
        .set_body(body)
        .poller()
        .until_done()
        .await
}

async fn get(
    client: &Subnetworks,
    region: &str,
    name: &str,
) -> Result<Subnetwork, google_cloud_gax::error::Error> {
    client
        .get()
        .set_project(PROJECT)
        .set_region(region)
        .set_subnetwork(name)
        .send()
        .await
}

/// The `errors[].reason` of a Compute error (decoded as an ErrorInfo detail).
fn legacy_reason(error: &google_cloud_gax::error::Error) -> String {
    error
        .status()
        .and_then(|s| {
            s.details.iter().find_map(|d| match d {
                StatusDetails::ErrorInfo(info) => Some(info.reason.clone()),
                _ => None,
            })
        })
        .unwrap_or_default()
}

fn message_of(error: &google_cloud_gax::error::Error) -> String {
    error
        .status()
        .map(|s| s.message.clone())
        .unwrap_or_else(|| error.to_string())
}

#[tokio::test]
async fn every_project_has_the_auto_mode_default_network() {
    let emu = start(fast_config()).await;
    let nets = networks(emu.base_url()).await;
    let default = nets
        .get()
        .set_project(PROJECT)
        .set_network("default")
        .send()
        .await
        .unwrap();
    assert_eq!(default.auto_create_subnetworks, Some(true));
    assert!(
        default.subnetworks.iter().any(|s| s.ends_with(&format!(
            "/projects/{PROJECT}/regions/us-central1/subnetworks/default"
        ))),
        "{:?}",
        default.subnetworks
    );
    let listed = nets.list().set_project(PROJECT).send().await.unwrap();
    let names: Vec<_> = listed.items.iter().filter_map(|n| n.name.clone()).collect();
    assert_eq!(names, ["default"]);

    let client = subnetworks(emu.base_url()).await;
    for (region, range) in [
        ("us-central1", "10.128.0.0/20"),
        ("europe-west1", "10.132.0.0/20"),
    ] {
        let s = get(&client, region, "default").await.unwrap();
        assert_eq!(s.ip_cidr_range.as_deref(), Some(range), "{region}");
    }

    let missing = nets
        .get()
        .set_project(PROJECT)
        .set_network("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.http_status_code(), Some(404));
    assert_eq!(legacy_reason(&missing), "notFound");
}

#[tokio::test]
async fn networks_are_inserted_in_auto_or_custom_mode_never_legacy() {
    let emu = start(fast_config()).await;
    let nets = Networks::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Networks client");
    let create = |network: Network| {
        nets.insert()
            .set_project(PROJECT)
            .set_body(network)
            .poller()
            .until_done()
    };

    let op = create(
        Network::new()
            .set_name("chat-auto")
            .set_auto_create_subnetworks(true),
    )
    .await
    .unwrap();
    assert_eq!(op.status, Some(operation::Status::Done));
    let auto = nets
        .get()
        .set_project(PROJECT)
        .set_network("chat-auto")
        .send()
        .await
        .unwrap();
    assert_eq!(auto.auto_create_subnetworks, Some(true));
    let client = subnetworks(emu.base_url()).await;
    let regional = get(&client, REGION, "chat-auto").await.unwrap();
    assert_eq!(regional.ip_cidr_range.as_deref(), Some("10.128.0.0/20"));
    assert!(
        regional
            .network
            .unwrap()
            .ends_with("/global/networks/chat-auto")
    );

    create(
        Network::new()
            .set_name("chat-custom")
            .set_auto_create_subnetworks(false),
    )
    .await
    .unwrap();
    let custom = nets
        .get()
        .set_project(PROJECT)
        .set_network("chat-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(custom.auto_create_subnetworks, Some(false));
    assert!(custom.subnetworks.is_empty(), "{:?}", custom.subnetworks);
    let body = subnet("chat-sub", "10.8.0.0/24")
        .set_network(format!("projects/{PROJECT}/global/networks/chat-custom"));
    insert(&client, REGION, body).await.unwrap();

    let again = create(
        Network::new()
            .set_name("chat-auto")
            .set_auto_create_subnetworks(false),
    )
    .await
    .unwrap_err();
    assert_eq!(again.http_status_code(), Some(409), "{again:?}");
    assert_eq!(legacy_reason(&again), "alreadyExists");
    let legacy = create(Network::new().set_name("chat-legacy"))
        .await
        .unwrap_err();
    assert_eq!(legacy.http_status_code(), Some(400), "{legacy:?}");
    assert!(
        message_of(&legacy).contains("legacy mode networks is deprecated"),
        "{legacy:?}"
    );
    let bad_name = create(
        Network::new()
            .set_name("Chat_Net")
            .set_auto_create_subnetworks(true),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_name.http_status_code(), Some(400), "{bad_name:?}");
    assert!(
        message_of(&bad_name).contains("resource.name"),
        "{bad_name:?}"
    );
}

#[tokio::test]
async fn a_subnet_is_inserted_listed_and_deleted_through_operations() {
    let emu = start(fast_config()).await;
    let client = subnetworks(emu.base_url()).await;
    let op = client
        .insert()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_body(
            subnet("team-subnet", "10.8.0.0/24").set_secondary_ip_ranges([
                SubnetworkSecondaryRange::new()
                    .set_range_name("pods")
                    .set_ip_cidr_range("10.9.0.0/20"),
            ]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(op.status, Some(operation::Status::Running));
    assert!(
        get(&client, REGION, "team-subnet").await.is_err(),
        "not visible before its operation is done"
    );

    let done = client
        .get_operation()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_operation(op.name.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        done.target_link
            .unwrap()
            .ends_with("/subnetworks/team-subnet")
    );
    let finished = eventually(std::time::Duration::from_secs(10), || async {
        let op = client
            .get_operation()
            .set_project(PROJECT)
            .set_region(REGION)
            .set_operation(op.name.clone().unwrap())
            .send()
            .await
            .ok()?;
        (op.status == Some(operation::Status::Done)).then_some(op)
    })
    .await;
    assert_eq!(finished.progress, Some(100));
    assert!(finished.error.is_none());

    let created = get(&client, REGION, "team-subnet").await.unwrap();
    assert_eq!(created.ip_cidr_range.as_deref(), Some("10.8.0.0/24"));
    assert_eq!(created.gateway_address.as_deref(), Some("10.8.0.1"));
    assert!(
        created
            .network
            .unwrap()
            .ends_with(&format!("/projects/{PROJECT}/global/networks/default"))
    );
    assert_eq!(created.secondary_ip_ranges.len(), 1);

    // Listing pages through maxResults; the filter narrows.
    let mut names = Vec::new();
    let mut items = client
        .list()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_max_results(1_u32)
        .by_item();
    while let Some(item) = items.next().await {
        names.push(item.unwrap().name.unwrap());
    }
    assert_eq!(names, ["default", "team-subnet"]);
    let filtered = client
        .list()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_filter("name = \"team-subnet\"")
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);

    let mut scopes = client.aggregated_list().set_project(PROJECT).by_page();
    let mut in_region = Vec::new();
    let mut regions = 0;
    while let Some(page) = scopes.next().await {
        for (scope, list) in page.unwrap().items {
            regions += 1;
            if scope == format!("regions/{REGION}") {
                in_region.extend(list.subnetworks.into_iter().filter_map(|s| s.name));
            }
        }
    }
    assert_eq!(in_region, ["default", "team-subnet"]);
    assert!(regions > 30, "every region's default subnet: {regions}");

    let resources = get_text(format!("{}/_emulator/resources", emu.base_url())).await;
    assert!(resources.contains("team-subnet"), "{resources}");

    let deleted = client
        .delete()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_subnetwork("team-subnet")
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(deleted.status, Some(operation::Status::Done));
    let gone = get(&client, REGION, "team-subnet").await.unwrap_err();
    assert_eq!(gone.http_status_code(), Some(404));
    assert!(message_of(&gone).contains("was not found"), "{gone}");
}

#[tokio::test]
async fn ranges_that_overlap_the_network_are_refused_at_once() {
    let emu = start(fast_config()).await;
    let client = subnetworks(emu.base_url()).await;
    insert(&client, REGION, subnet("team-subnet", "10.8.0.0/24"))
        .await
        .unwrap();

    for (region, name, range, needle) in [
        (
            REGION,
            "inside",
            "10.8.0.128/25",
            "conflicts with existing subnetwork 'team-subnet' in region 'us-central1'",
        ),
        (
            "europe-west1",
            "elsewhere",
            "10.8.0.0/26",
            "conflicts with existing subnetwork 'team-subnet' in region 'us-central1'",
        ),
        (REGION, "auto-block", "10.140.0.0/24", "10.128.0.0/9"),
        (REGION, "team-subnet", "10.10.0.0/24", "already exists"),
        (REGION, "bad-range", "10.11.0.1/24", "resource.ipCidrRange"),
    ] {
        let err = client
            .insert()
            .set_project(PROJECT)
            .set_region(region)
            .set_body(subnet(name, range))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err.http_status_code(), Some(400 | 409)),
            "{name}: {err:?}"
        );
        assert!(message_of(&err).contains(needle), "{name}: {err}");
    }
    let auto = client
        .delete()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_subnetwork("default")
        .send()
        .await
        .unwrap_err();
    assert!(
        message_of(&auto).contains("Cannot delete auto subnetwork"),
        "{auto}"
    );
    let unknown = client
        .list()
        .set_project(PROJECT)
        .set_region("mars-north1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown.http_status_code(), Some(404));
}

#[tokio::test]
async fn connectors_and_subnets_keep_out_of_each_others_ranges() {
    let emu = start(fast_config()).await;
    let client = subnetworks(emu.base_url()).await;
    let vpc = VpcAccessService::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    let connector = |range: &str| {
        Connector::new()
            .set_network("default")
            .set_ip_cidr_range(range)
            .set_min_instances(2)
            .set_max_instances(3)
    };
    let parent = format!("projects/{PROJECT}/locations/{REGION}");

    insert(&client, REGION, subnet("team-subnet", "10.8.0.0/24"))
        .await
        .unwrap();
    let clash = vpc
        .create_connector()
        .set_parent(&parent)
        .set_connector_id("on-subnet")
        .set_connector(connector("10.8.0.0/28"))
        .poller()
        .until_done()
        .await
        .unwrap_err();
    assert_eq!(code_of(&clash), Code::InvalidArgument);
    assert!(
        message_of(&clash).contains("conflicts with an existing subnetwork"),
        "{clash}"
    );

    // The other way round: a subnet over a connector's /28 fails inside its operation.
    vpc.create_connector()
        .set_parent(&parent)
        .set_connector_id("chat-conn")
        .set_connector(connector("10.20.0.0/28"))
        .poller()
        .until_done()
        .await
        .unwrap();
    // The discovery poller ends with the failed operation itself: its error is in `error`.
    let failed = insert(&client, REGION, subnet("over-connector", "10.20.0.0/24"))
        .await
        .unwrap();
    assert_eq!(failed.status, Some(operation::Status::Done));
    assert_eq!(failed.http_error_status_code, Some(400));
    let errors = failed.error.expect("the operation's error").errors;
    assert_eq!(errors[0].code.as_deref(), Some("INVALID_USAGE"));
    let message = errors[0].message.clone().unwrap_or_default();
    assert!(
        message.contains(
            "connector projects/compute-test-1/locations/us-central1/connectors/chat-conn"
        ),
        "{message}"
    );
    assert!(get(&client, REGION, "over-connector").await.is_err());
}

#[tokio::test]
async fn compute_must_be_enabled_first_when_enablement_is_enforced() {
    let emu = start(emulator::EmulatorConfig {
        enforce_api_enablement: true,
        ..fast_config()
    })
    .await;
    let client = subnetworks(emu.base_url()).await;
    let err = client
        .list()
        .set_project(PROJECT)
        .set_region(REGION)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), Code::PermissionDenied);
    assert_eq!(reason_of(&err).as_deref(), Some("SERVICE_DISABLED"));

    let enable = post_json(
        format!(
            "{}/v1/projects/{PROJECT}/services/compute.googleapis.com:enable",
            emu.base_url()
        ),
        &serde_json::json!({}),
    )
    .await;
    assert!(enable.status().is_success());
    let listed = eventually(std::time::Duration::from_secs(10), || async {
        client
            .list()
            .set_project(PROJECT)
            .set_region(REGION)
            .send()
            .await
            .ok()
    })
    .await;
    assert_eq!(listed.items.len(), 1);
}
