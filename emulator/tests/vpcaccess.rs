//! Serverless VPC Access v1 through the official google-cloud-vpcaccess-v1 client: lifecycle,
//! and the late failures (CIDR clash, missing max instances) inside the finished operation.

mod common;

use common::*;
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use google_cloud_vpcaccess_v1::client::VpcAccessService;
use google_cloud_vpcaccess_v1::model::{Connector, connector};

const PARENT: &str = "projects/vpc-test-proj/locations/us-central1";

async fn client(base_url: &str) -> VpcAccessService {
    VpcAccessService::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the VPC Access client")
}

fn connector_on(range: &str) -> Connector {
    Connector::new()
        .set_network("default")
        .set_ip_cidr_range(range)
        .set_min_instances(2)
        .set_max_instances(3)
}

async fn create_done(
    vpc: &VpcAccessService,
    id: &str,
    body: Connector,
) -> Result<Connector, google_cloud_gax::error::Error> {
    vpc.create_connector()
        .set_parent(PARENT)
        .set_connector_id(id)
        .set_connector(body)
        .poller()
        .until_done()
        .await
}

#[tokio::test]
async fn connector_lifecycle() {
    let emu = start(fast_config()).await;
    let vpc = client(emu.base_url()).await;
    let op = vpc
        .create_connector()
        .set_parent(PARENT)
        .set_connector_id("chat-conn")
        .set_connector(connector_on("10.8.0.0/28"))
        .send()
        .await
        .unwrap();
    assert!(!op.done);
    let creating = vpc
        .get_connector()
        .set_name(format!("{PARENT}/connectors/chat-conn"))
        .send()
        .await
        .unwrap();
    assert_eq!(creating.state, connector::State::Creating);

    let ready = create_done(&vpc, "chat-conn-2", connector_on("10.8.0.16/28"))
        .await
        .unwrap();
    assert_eq!(ready.state, connector::State::Ready);
    assert_eq!(ready.min_throughput, 200);
    assert_eq!(ready.max_throughput, 300);
    assert_eq!(ready.machine_type, "e2-micro");

    let listed = vpc
        .list_connectors()
        .set_parent(PARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.connectors.len(), 2);

    vpc.delete_connector()
        .set_name(&ready.name)
        .poller()
        .until_done()
        .await
        .expect("delete finishes");
    let gone = vpc
        .get_connector()
        .set_name(&ready.name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&gone), Code::NotFound);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn late_validation_fails_inside_the_operation() {
    let emu = start(fast_config()).await;
    let vpc = client(emu.base_url()).await;

    // 10.128.0.0/20 is the default network's us-central1 subnet.
    let clash = create_done(&vpc, "clash", connector_on("10.128.0.0/28"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&clash), Code::InvalidArgument);
    assert!(
        clash
            .status()
            .unwrap()
            .message
            .contains("conflicts with an existing subnetwork")
    );

    create_done(&vpc, "first", connector_on("10.8.0.0/28"))
        .await
        .unwrap();
    let twice = create_done(&vpc, "second", connector_on("10.8.0.0/28"))
        .await
        .unwrap_err();
    assert_eq!(code_of(&twice), Code::InvalidArgument);

    let no_max = Connector::new()
        .set_network("default")
        .set_ip_cidr_range("10.9.0.0/28");
    let missing = create_done(&vpc, "nomax", no_max).await.unwrap_err();
    assert!(
        missing
            .status()
            .unwrap()
            .message
            .contains("max_throughput or max_instances")
    );

    // What the API refuses at once.
    let bad_id = vpc
        .create_connector()
        .set_parent(PARENT)
        .set_connector_id("Bad_Connector")
        .set_connector(connector_on("10.10.0.0/28"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&bad_id), Code::InvalidArgument);
    let wide = vpc
        .create_connector()
        .set_parent(PARENT)
        .set_connector_id("wide")
        .set_connector(connector_on("10.10.0.0/20"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&wide), Code::InvalidArgument);
    let dup = vpc
        .create_connector()
        .set_parent(PARENT)
        .set_connector_id("first")
        .set_connector(connector_on("10.11.0.0/28"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&dup), Code::AlreadyExists);
    emu.shutdown().await.unwrap();
}

/// `connectors.patch` over JSON (the client crate has no update call): the mask's fields change
/// after an UPDATING operation; other fields, a connector not READY, an unknown machine type
/// and bounds out of order are refused before anything changes.
#[tokio::test]
async fn patch_changes_scaling_in_place_and_refuses_the_rest() {
    let emu = start(fast_config()).await;
    let vpc = client(emu.base_url()).await;
    let name = format!("{PARENT}/connectors/chat-patch");
    create_done(&vpc, "chat-patch", connector_on("10.8.0.0/28"))
        .await
        .unwrap();
    let url = |mask: &str| format!("{}/v1/{name}?updateMask={mask}", emu.base_url());
    let patch = |mask: &str, body: serde_json::Value| {
        let url = url(mask);
        async move {
            let response = http().patch(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };

    let (status, answer) = patch(
        "ipCidrRange",
        serde_json::json!({"ipCidrRange": "10.8.0.16/28"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("ipCidrRange"), "{answer}");
    let (status, answer) = patch(
        "machineType",
        serde_json::json!({"machineType": "n1-standard-1"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = patch("minInstances", serde_json::json!({"minInstances": 3})).await;
    assert_eq!(status, 400, "min must stay below max (3): {answer}");

    let (status, op) = patch(
        "maxInstances,machineType",
        serde_json::json!({"maxInstances": 6, "machineType": "e2-standard-4", "minInstances": 4}),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    let updating = vpc.get_connector().set_name(&name).send().await.unwrap();
    assert_eq!(updating.state, connector::State::Updating);
    let (status, answer) = patch("maxInstances", serde_json::json!({"maxInstances": 7})).await;
    assert_eq!(status, 400, "not while UPDATING: {answer}");
    assert_eq!(answer["error"]["status"], "FAILED_PRECONDITION", "{answer}");

    let ready = eventually(std::time::Duration::from_secs(10), || async {
        let c = vpc.get_connector().set_name(&name).send().await.ok()?;
        (c.state == connector::State::Ready).then_some(c)
    })
    .await;
    assert_eq!(ready.max_instances, 6);
    assert_eq!(ready.machine_type, "e2-standard-4");
    assert_eq!(ready.min_instances, 2, "minInstances was not in the mask");
    assert_eq!(ready.max_throughput, 600);
    assert_eq!(ready.ip_cidr_range, "10.8.0.0/28");
}
