//! Compute Engine instances, disks and firewall rules through the official
//! google-cloud-compute-v1 client: an instance with a Container-Optimized OS boot disk created
//! through `initializeParams` and no external address, its zone operation, its disk deleted
//! with it (`autoDelete`), a firewall rule with Google's defaults and its global operation, and
//! Google's refusals (names, machine types, duplicates, unknown fields and query parameters).

mod common;

use common::*;
use google_cloud_compute_v1::client::{Disks, Firewalls, Instances};
use google_cloud_compute_v1::model::{
    AttachedDisk, AttachedDiskInitializeParams, Disk, Firewall, Instance, Metadata,
    NetworkInterface, firewall, metadata::Items,
};
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::paginator::ItemPaginator;
use google_cloud_lro::Poller;
use reqwest::Method;

const PROJECT: &str = "vm-test-1";
const ZONE: &str = "us-central1-a";

async fn instances(base_url: &str) -> Instances {
    Instances::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Instances client")
}

fn vm(name: &str) -> Instance {
    Instance::new()
        .set_name(name)
        .set_machine_type(format!("zones/{ZONE}/machineTypes/e2-small"))
        .set_labels([("managed-by", "chatctl"), ("chatctl-env", "t")])
        .set_disks([AttachedDisk::new()
            .set_boot(true)
            .set_auto_delete(true)
            .set_initialize_params(
                AttachedDiskInitializeParams::new()
                    .set_source_image("projects/cos-cloud/global/images/family/cos-stable")
                    .set_disk_size_gb(10),
            )])
        .set_network_interfaces([NetworkInterface::new().set_network("global/networks/default")])
        .set_metadata(
            Metadata::new().set_items([Items::new()
                .set_key("gce-container-declaration")
                .set_value("spec:\n  containers: []\n")]),
        )
}

#[tokio::test]
async fn an_instance_boots_from_cos_without_an_external_address_and_takes_its_disk_along() {
    let emu = start(fast_config()).await;
    let client = instances(emu.base_url()).await;
    let op = client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(vm("nats-t"))
        .poller()
        .until_done()
        .await
        .expect("insert");
    assert!(op.error.is_none(), "{op:?}");
    assert!(
        op.zone
            .as_deref()
            .unwrap_or_default()
            .ends_with("/zones/us-central1-a")
    );
    let got = client
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_instance("nats-t")
        .send()
        .await
        .expect("get");
    assert_eq!(got.status.as_ref().and_then(|s| s.name()), Some("RUNNING"));
    let nic = &got.network_interfaces[0];
    assert!(
        nic.access_configs.is_empty(),
        "no external address asked for"
    );
    let ip: std::net::Ipv4Addr = nic.network_ip.as_deref().unwrap().parse().unwrap();
    assert!(
        "10.128.0.0/20"
            .parse::<ipnet::Ipv4Net>()
            .unwrap()
            .contains(&ip),
        "{ip} is not in us-central1's subnet"
    );
    assert!(
        got.disks[0]
            .source
            .as_deref()
            .unwrap()
            .ends_with("/disks/nats-t")
    );
    assert_eq!(
        got.metadata.as_ref().unwrap().items[0].key.as_deref(),
        Some("gce-container-declaration")
    );

    let disks = Disks::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .build()
        .await
        .unwrap();
    let disk = disks
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-t")
        .send()
        .await
        .expect("the boot disk exists");
    assert_eq!(disk.size_gb, Some(10));

    let mut listed = client
        .list()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_filter("labels.chatctl-env = t")
        .by_item();
    let mut names = Vec::new();
    while let Some(item) = listed.next().await {
        names.push(item.unwrap().name.unwrap());
    }
    assert_eq!(names, ["nats-t"]);

    let again = client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(vm("nats-t"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.http_status_code(), Some(409), "{again:?}");

    let op = client
        .delete()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_instance("nats-t")
        .poller()
        .until_done()
        .await
        .expect("delete");
    assert!(op.error.is_none());
    let gone = client
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_instance("nats-t")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.http_status_code(), Some(404));
    let disk_gone = disks
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-t")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        disk_gone.http_status_code(),
        Some(404),
        "autoDelete took the disk along"
    );
}

#[tokio::test]
async fn instance_inserts_are_refused_as_google_refuses_them() {
    let emu = start(fast_config()).await;
    let client = instances(emu.base_url()).await;
    let refuse = |body: Instance, zone: &'static str| {
        let client = client.clone();
        async move {
            client
                .insert()
                .set_project(PROJECT)
                .set_zone(zone)
                .set_body(body)
                .send()
                .await
                .unwrap_err()
        }
    };
    let bad_name = refuse(vm("Nats"), ZONE).await;
    assert_eq!(bad_name.http_status_code(), Some(400));
    assert!(
        bad_name.to_string().contains("Must be a match of regex"),
        "{bad_name}"
    );
    let big = refuse(
        vm("n1").set_machine_type(format!("zones/{ZONE}/machineTypes/e2-enormous")),
        ZONE,
    )
    .await;
    assert!(
        big.to_string().contains(
            "Machine type with name 'e2-enormous' does not exist in zone 'us-central1-a'."
        ),
        "{big}"
    );
    let no_zone = refuse(vm("n2"), "us-central1-z").await;
    assert_eq!(no_zone.http_status_code(), Some(404));
    let no_image = refuse(
        vm("n3").set_disks([AttachedDisk::new()
            .set_boot(true)
            .set_initialize_params(AttachedDiskInitializeParams::new().set_disk_size_gb(10))]),
        ZONE,
    )
    .await;
    assert!(no_image.to_string().contains("sourceImage"), "{no_image}");
    let unknown = http()
        .post(format!(
            "{}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances",
            emu.base_url()
        ))
        .json(&serde_json::json!({"name": "n4", "machineType": "zones/us-central1-a/machineTypes/e2-small",
            "disks": [{"boot": true, "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable", "sizeGb": 10}}],
            "networkInterfaces": [{}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Unknown name \\\"sizeGb\\\"")
    );
}

#[tokio::test]
async fn a_firewall_rule_gets_google_defaults_through_a_global_operation_and_updates_in_place() {
    let emu = start(fast_config()).await;
    let client = Firewalls::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    let rule = Firewall::new()
        .set_name("chat-nats-t")
        .set_network("global/networks/default")
        .set_source_ranges(["10.8.0.0/28"])
        .set_target_tags(["chat-nats-t"])
        .set_allowed([firewall::Allowed::new()
            .set_ip_protocol("tcp")
            .set_ports(["4222"])]);
    let op = client
        .insert()
        .set_project(PROJECT)
        .set_body(rule.clone())
        .poller()
        .until_done()
        .await
        .expect("insert");
    assert!(op.error.is_none());
    assert!(
        op.zone.is_none() && op.region.is_none(),
        "a global operation"
    );
    let got = client
        .get()
        .set_project(PROJECT)
        .set_firewall("chat-nats-t")
        .send()
        .await
        .unwrap();
    assert_eq!(got.priority, Some(1000));
    assert_eq!(
        got.direction.as_ref().and_then(|d| d.name()),
        Some("INGRESS")
    );
    assert_eq!(got.source_ranges, ["10.8.0.0/28"]);
    let twice = client
        .insert()
        .set_project(PROJECT)
        .set_body(rule)
        .send()
        .await
        .unwrap_err();
    assert_eq!(twice.http_status_code(), Some(409));
    let icmp_ports = client
        .insert()
        .set_project(PROJECT)
        .set_body(
            Firewall::new()
                .set_name("x")
                .set_allowed([firewall::Allowed::new()
                    .set_ip_protocol("icmp")
                    .set_ports(["1"])]),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(icmp_ports.http_status_code(), Some(400));
    // An update replaces the rule in place: same ID, new ranges; its name and network stay.
    let wider = got
        .clone()
        .set_source_ranges(["10.128.0.0/20", "10.8.0.0/28"]);
    let op = client
        .update()
        .set_project(PROJECT)
        .set_firewall("chat-nats-t")
        .set_body(wider.clone())
        .poller()
        .until_done()
        .await
        .expect("update");
    assert!(op.error.is_none());
    let updated = client
        .get()
        .set_project(PROJECT)
        .set_firewall("chat-nats-t")
        .send()
        .await
        .unwrap();
    assert_eq!(updated.id, got.id, "the same rule");
    assert_eq!(updated.source_ranges, ["10.128.0.0/20", "10.8.0.0/28"]);
    for (what, body) in [
        ("name", wider.clone().set_name("other")),
        (
            "network",
            wider.clone().set_network("global/networks/elsewhere"),
        ),
    ] {
        let refused = client
            .update()
            .set_project(PROJECT)
            .set_firewall("chat-nats-t")
            .set_body(body)
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused.http_status_code(), Some(400), "{what}: {refused}");
    }
    client
        .delete()
        .set_project(PROJECT)
        .set_firewall("chat-nats-t")
        .poller()
        .until_done()
        .await
        .expect("delete");
    let gone = client
        .get()
        .set_project(PROJECT)
        .set_firewall("chat-nats-t")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.http_status_code(), Some(404));
    assert_eq!(
        code_of(&gone),
        Code::Unknown,
        "Compute's legacy error shape"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let emu = start(fast_config()).await;
    let base = format!("{}/compute/v1/projects/{PROJECT}", emu.base_url());
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/zones/{ZONE}/instances?maxResults=5&filter=name%20%3D%20%22x%22"),
    )
    .await;
    assert_only_known_query_parameters(Method::GET, &format!("{base}/zones/{ZONE}/instances/x"))
        .await;
    assert_only_known_query_parameters(
        Method::DELETE,
        &format!("{base}/zones/{ZONE}/instances/x?requestId=1"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/global/firewalls?maxResults=5"),
    )
    .await;
    assert_only_known_query_parameters(Method::GET, &format!("{base}/global/operations/x")).await;
    assert_only_known_query_parameters(Method::GET, &format!("{base}/zones/{ZONE}/operations/x"))
        .await;
}

#[tokio::test]
async fn a_blank_disk_is_inserted_attached_by_source_and_kept_in_use_until_its_instance_goes() {
    let emu = start(fast_config()).await;
    let client = instances(emu.base_url()).await;
    let disks = Disks::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    let op = disks
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(
            Disk::new()
                .set_name("nats-data")
                .set_size_gb(10)
                .set_type(format!("zones/{ZONE}/diskTypes/pd-balanced"))
                .set_labels([("chatctl-env", "t")]),
        )
        .poller()
        .until_done()
        .await
        .expect("insert the disk");
    assert!(op.error.is_none(), "{op:?}");
    let disk = disks
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-data")
        .send()
        .await
        .unwrap();
    assert_eq!(disk.status.as_ref().and_then(|s| s.name()), Some("READY"));
    assert!(disk.users.is_empty());

    // Refusals: no size, an unknown disk type, a duplicate.
    for (body, status) in [
        (Disk::new().set_name("no-size"), 400),
        (
            Disk::new()
                .set_name("odd-type")
                .set_size_gb(10)
                .set_type(format!("zones/{ZONE}/diskTypes/pd-nvme")),
            404,
        ),
        (Disk::new().set_name("nats-data").set_size_gb(10), 409),
    ] {
        let err = disks
            .insert()
            .set_project(PROJECT)
            .set_zone(ZONE)
            .set_body(body.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.http_status_code(), Some(status), "{body:?}: {err:?}");
    }

    // Attached by `source`: the disk lists the instance; a second instance cannot take it.
    let source = format!("projects/{PROJECT}/zones/{ZONE}/disks/nats-data");
    let with_data = |name: &str| {
        let mut vm = vm(name);
        vm.disks.push(
            AttachedDisk::new()
                .set_source(&source)
                .set_device_name("nats-data")
                .set_auto_delete(false),
        );
        vm
    };
    client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(with_data("nats-a"))
        .poller()
        .until_done()
        .await
        .expect("insert with the data disk");
    let disk = disks
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-data")
        .send()
        .await
        .unwrap();
    assert!(
        disk.users[0].ends_with("/instances/nats-a"),
        "{:?}",
        disk.users
    );
    let taken = client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(with_data("nats-b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(taken.http_status_code(), Some(400), "{taken:?}");
    let missing = client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body({
            let mut vm = vm("nats-c");
            vm.disks.push(
                AttachedDisk::new()
                    .set_source(format!("projects/{PROJECT}/zones/{ZONE}/disks/absent")),
            );
            vm
        })
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.http_status_code(), Some(404), "{missing:?}");
    let in_use = disks
        .delete()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-data")
        .send()
        .await
        .unwrap_err();
    assert_eq!(in_use.http_status_code(), Some(400), "{in_use:?}");

    // The instance goes; the disk (autoDelete false) stays, free, and can then be deleted.
    client
        .delete()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_instance("nats-a")
        .poller()
        .until_done()
        .await
        .expect("delete the instance");
    let disk = disks
        .get()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-data")
        .send()
        .await
        .expect("the data disk outlives its instance");
    assert!(disk.users.is_empty());
    disks
        .delete()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_disk("nats-data")
        .poller()
        .until_done()
        .await
        .expect("delete the free disk");
}

#[tokio::test]
async fn an_instance_cannot_run_as_a_service_account_that_does_not_exist() {
    let emu = start(fast_config()).await;
    let client = instances(emu.base_url()).await;
    let mut vm = vm("nats-sa");
    vm.service_accounts = vec![
        google_cloud_compute_v1::model::ServiceAccount::new()
            .set_email(format!("nobody@{PROJECT}.iam.gserviceaccount.com"))
            .set_scopes(["https://www.googleapis.com/auth/cloud-platform"]),
    ];
    let err = client
        .insert()
        .set_project(PROJECT)
        .set_zone(ZONE)
        .set_body(vm)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.http_status_code(), Some(400), "{err:?}");
    assert!(format!("{err:?}").contains("nobody@"), "{err:?}");
}
