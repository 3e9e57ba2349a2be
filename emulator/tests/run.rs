//! Cloud Run Admin v2 through the official google-cloud-run-v2 client: a deploy that uses a
//! READY connector, a visible service account and an Artifact Registry image; the runtime hook
//! told exactly what to run; updates, upserts, IAM policy OCC, delete; and each refusal a real
//! project answers (with the client's own LRO pollers).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle, HookFuture, Runtime, ServiceInfo};
use google_cloud_gax::error::rpc::Code;
use google_cloud_iam_v1::model::{Binding, GetPolicyOptions, Policy};
use google_cloud_lro::Poller;
use google_cloud_run_v2::model::condition::{CommonReason, State};
use google_cloud_run_v2::model::{
    Container, ContainerPort, EnvVar, RevisionScaling, RevisionTemplate, Service, VpcAccess,
};
use google_cloud_vpcaccess_v1::client::VpcAccessService;
use google_cloud_vpcaccess_v1::model::Connector;

const PROJECT: &str = "run-test-proj";
const PARENT: &str = "projects/run-test-proj/locations/us-central1";
const CONNECTOR: &str = "projects/run-test-proj/locations/us-central1/connectors/chat-conn";
const HELLO: &str = "us-docker.pkg.dev/cloudrun/container/hello";

/// A runtime that records what it is told and answers with a local URL (or fails).
#[derive(Default)]
struct Recorder {
    ready: Mutex<Vec<ServiceInfo>>,
    deleted: Mutex<Vec<String>>,
    fail: bool,
}

impl Runtime for Recorder {
    fn service_ready<'a>(
        &'a self,
        service: &'a ServiceInfo,
    ) -> HookFuture<'a, Result<Option<String>, String>> {
        self.ready.lock().unwrap().push(service.clone());
        Box::pin(async move {
            if self.fail {
                Err("exec format error".to_string())
            } else {
                Ok(Some(format!(
                    "http://127.0.0.1:18080/{}",
                    service.service_id
                )))
            }
        })
    }

    fn service_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        self.deleted.lock().unwrap().push(name.to_string());
        Box::pin(async {})
    }
}

async fn start_with(config: EmulatorConfig, runtime: Arc<Recorder>) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free loopback port");
    Emulator::start(listener, config, runtime)
        .await
        .expect("start the emulator")
}

/// A READY connector `chat-conn` in us-central1.
async fn ready_connector(base_url: &str) {
    let vpc = VpcAccessService::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the VPC Access client");
    vpc.create_connector()
        .set_parent(PARENT)
        .set_connector_id("chat-conn")
        .set_connector(
            Connector::new()
                .set_network("default")
                .set_ip_cidr_range("10.8.0.0/28")
                .set_max_instances(3),
        )
        .poller()
        .until_done()
        .await
        .expect("the connector becomes READY");
}

fn service(image: &str) -> Service {
    Service::new()
        .set_template(RevisionTemplate::new().set_containers([Container::new().set_image(image)]))
}

/// The chat service as chatctl deploys it.
fn chat_service(image: &str, account: &str) -> Service {
    Service::new()
        .set_labels([("managed-by", "chatctl")])
        .set_template(
            RevisionTemplate::new()
                .set_service_account(account)
                .set_timeout(google_cloud_wkt::Duration::clamp(3600, 0))
                .set_max_instance_request_concurrency(1000)
                .set_session_affinity(true)
                .set_scaling(RevisionScaling::new().set_max_instance_count(3))
                .set_vpc_access(VpcAccess::new().set_connector(CONNECTOR))
                .set_containers([Container::new()
                    .set_image(image)
                    .set_ports([ContainerPort::new().set_container_port(3000)])
                    .set_env([
                        EnvVar::new().set_name("REDIS_HOST").set_value("10.20.0.3"),
                        EnvVar::new().set_name("REDIS_PORT").set_value("6379"),
                    ])]),
        )
}

async fn create_error(
    run: &google_cloud_run_v2::client::Services,
    id: &str,
    body: Service,
) -> google_cloud_gax::error::Error {
    run.create_service()
        .set_parent(PARENT)
        .set_service_id(id)
        .set_service(body)
        .send()
        .await
        .expect_err("the create should be refused")
}

#[tokio::test]
async fn deploy_update_upsert_policy_and_delete_tell_the_runtime() {
    let recorder = Arc::new(Recorder::default());
    let emu = start_with(fast_config(), recorder.clone()).await;
    let run = run_client(emu.base_url()).await;
    ready_connector(emu.base_url()).await;
    let iam = iam_client(emu.base_url(), anonymous()).await;
    let account = visible_service_account(&iam, PROJECT, "chat-runner").await;

    let op = run
        .create_service()
        .set_parent(PARENT)
        .set_service_id("chat")
        .set_service(chat_service(HELLO, &account.email))
        .send()
        .await
        .expect("the create is accepted");
    assert!(!op.done, "a deploy takes a while");
    let metadata: Service = op
        .metadata
        .unwrap()
        .to_msg()
        .expect("metadata is the Service");
    assert!(metadata.reconciling);
    assert_eq!(metadata.name, format!("{PARENT}/services/chat"));

    let name = format!("{PARENT}/services/chat");
    let deployed = run
        .get_operation()
        .set_name(&op.name)
        .send()
        .await
        .expect("the operation can be read");
    assert_eq!(deployed.name, op.name);
    let done = common::eventually(Duration::from_secs(10), || async {
        let op = run.get_operation().set_name(&op.name).send().await.ok()?;
        op.done.then_some(op)
    })
    .await;
    let ready: Service = match done.result {
        Some(google_cloud_longrunning::model::operation::Result::Response(any)) => {
            any.to_msg().expect("the response is the Service")
        }
        other => panic!("the deploy should succeed, got {other:?}"),
    };
    assert!(!ready.reconciling);
    assert_eq!(ready.generation, 1);
    assert_eq!(ready.observed_generation, 1);
    assert_eq!(
        ready.uri, "http://127.0.0.1:18080/chat",
        "the hook's URL is published"
    );
    assert_eq!(ready.latest_ready_revision, ready.latest_created_revision);
    assert!(ready.latest_ready_revision.starts_with("chat-00001-"));
    let terminal = ready.terminal_condition.expect("a terminal condition");
    assert_eq!(
        (terminal.r#type.as_str(), terminal.state),
        ("Ready", State::ConditionSucceeded)
    );

    let told = recorder.ready.lock().unwrap().clone();
    assert_eq!(told.len(), 1);
    let info = &told[0];
    assert_eq!(info.name, name);
    assert_eq!(info.image, HELLO);
    assert_eq!(
        info.env,
        vec![
            ("REDIS_HOST".to_string(), "10.20.0.3".to_string()),
            ("REDIS_PORT".to_string(), "6379".to_string())
        ]
    );
    assert_eq!(
        (
            info.container_port,
            info.max_instance_count,
            info.session_affinity,
            info.timeout_seconds
        ),
        (3000, 3, true, 3600)
    );

    // Get and list show the same service; the operations are listed and waitable.
    let got = run.get_service().set_name(&name).send().await.unwrap();
    assert_eq!(got.uid, ready.uid);
    assert_eq!(
        got.template
            .as_ref()
            .unwrap()
            .vpc_access
            .as_ref()
            .unwrap()
            .egress,
        google_cloud_run_v2::model::vpc_access::VpcEgress::PrivateRangesOnly,
        "the default egress is filled in"
    );
    let listed = run.list_services().set_parent(PARENT).send().await.unwrap();
    assert_eq!(listed.services.len(), 1);
    let ops = run.list_operations().set_name(PARENT).send().await.unwrap();
    assert!(ops.operations.iter().any(|o| o.name == op.name));
    let waited = run
        .wait_operation()
        .set_name(&op.name)
        .send()
        .await
        .unwrap();
    assert!(waited.done);

    // An update (the whole service, as read) makes a new revision and tells the hook again.
    let mut changed = got.clone();
    let container = &mut changed.template.as_mut().unwrap().containers[0];
    container
        .env
        .push(EnvVar::new().set_name("ROOM").set_value("lobby"));
    let updated = run
        .update_service()
        .set_service(changed)
        .poller()
        .until_done()
        .await
        .expect("the update rolls out");
    assert_eq!((updated.generation, updated.observed_generation), (2, 2));
    assert!(updated.latest_ready_revision.starts_with("chat-00002-"));
    assert_eq!(recorder.ready.lock().unwrap().len(), 2);
    assert!(
        recorder.ready.lock().unwrap()[1]
            .env
            .contains(&("ROOM".to_string(), "lobby".to_string()))
    );

    // A stale etag (the service as read before the update) is refused.
    let stale = run
        .update_service()
        .set_service(got.clone())
        .send()
        .await
        .expect_err("a stale etag is refused");
    assert_eq!(code_of(&stale), Code::Aborted);

    // PATCH with allowMissing creates a service that does not exist yet.
    let upserted = run
        .update_service()
        .set_service(service(HELLO).set_name(format!("{PARENT}/services/chat-2")))
        .set_allow_missing(true)
        .poller()
        .until_done()
        .await
        .expect("allowMissing creates the service");
    assert_eq!(upserted.generation, 1);
    let missing = run
        .update_service()
        .set_service(service(HELLO).set_name(format!("{PARENT}/services/chat-3")))
        .send()
        .await
        .expect_err("without allowMissing a missing service is NOT_FOUND");
    assert_eq!(code_of(&missing), Code::NotFound);

    // Public access: read-modify-write with the etag; a stale etag gets ABORTED.
    let policy = run
        .get_iam_policy()
        .set_resource(&name)
        .set_options(GetPolicyOptions::new().set_requested_policy_version(3))
        .send()
        .await
        .unwrap();
    let public = policy.clone().set_bindings([Binding::new()
        .set_role("roles/run.invoker")
        .set_members(["allUsers"])]);
    let written = run
        .set_iam_policy()
        .set_resource(&name)
        .set_policy(public.clone())
        .send()
        .await
        .expect("the invoker binding is written");
    assert_eq!(written.bindings[0].members, ["allUsers"]);
    assert_ne!(written.etag, policy.etag);
    let conflict = run
        .set_iam_policy()
        .set_resource(&name)
        .set_policy(public)
        .send()
        .await
        .expect_err("the etag read before the write is stale");
    assert_eq!(code_of(&conflict), Code::Aborted);
    let ghost = run
        .set_iam_policy()
        .set_resource(&name)
        .set_policy(
            Policy::new()
                .set_etag(written.etag.clone())
                .set_bindings([Binding::new()
                    .set_role("roles/run.invoker")
                    .set_members(["serviceAccount:ghost@run-test-proj.iam.gserviceaccount.com"])]),
        )
        .send()
        .await
        .expect_err("an unknown service account cannot be granted a role");
    assert_eq!(code_of(&ghost), Code::InvalidArgument);

    // Delete answers the deleted Service and tells the runtime.
    let deleted = run
        .delete_service()
        .set_name(&name)
        .poller()
        .until_done()
        .await
        .expect("the delete finishes");
    assert_eq!(deleted.name, name);
    assert_eq!(*recorder.deleted.lock().unwrap(), vec![name.clone()]);
    let gone = run.get_service().set_name(&name).send().await.unwrap_err();
    assert_eq!(code_of(&gone), Code::NotFound);
}

#[tokio::test]
async fn requests_the_real_api_refuses() {
    let emu = start(fast_config()).await;
    let run = run_client(emu.base_url()).await;
    run.create_service()
        .set_parent(PARENT)
        .set_service_id("taken")
        .set_service(service(HELLO))
        .poller()
        .until_done()
        .await
        .expect("the first deploy succeeds");

    let cases: Vec<(&str, Service, Code)> = vec![
        ("taken", service(HELLO), Code::AlreadyExists),
        ("Bad_Name", service(HELLO), Code::InvalidArgument),
        ("trailing-", service(HELLO), Code::InvalidArgument),
        ("no-image", service(""), Code::InvalidArgument),
        ("no-template", Service::new(), Code::InvalidArgument),
        (
            "slow",
            service(HELLO).set_template(
                RevisionTemplate::new()
                    .set_timeout(google_cloud_wkt::Duration::clamp(3601, 0))
                    .set_containers([Container::new().set_image(HELLO)]),
            ),
            Code::InvalidArgument,
        ),
        (
            "busy",
            service(HELLO).set_template(
                RevisionTemplate::new()
                    .set_max_instance_request_concurrency(1001)
                    .set_containers([Container::new().set_image(HELLO)]),
            ),
            Code::InvalidArgument,
        ),
        (
            "port-env",
            service(HELLO).set_template(
                RevisionTemplate::new().set_containers([Container::new()
                    .set_image(HELLO)
                    .set_env([EnvVar::new().set_name("PORT").set_value("1")])]),
            ),
            Code::InvalidArgument,
        ),
    ];
    for (id, body, code) in cases {
        let error = create_error(&run, id, body).await;
        assert_eq!(code_of(&error), code, "service {id}: {error}");
    }
    let missing = run
        .get_service()
        .set_name(format!("{PARENT}/services/nope"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_of(&missing), Code::NotFound);
    assert!(
        missing.to_string().contains("not found"),
        "the message says what is missing: {missing}"
    );
}

#[tokio::test]
async fn references_must_exist_be_ready_and_be_visible() {
    // A slower clock keeps the connector CREATING and the new account invisible while we look.
    let config = EmulatorConfig {
        time_scale: 0.2,
        ..fast_config()
    };
    let emu = start(config).await;
    let run = run_client(emu.base_url()).await;
    let with = |connector: &str, account: &str| {
        let mut s = service(HELLO);
        let t = s.template.as_mut().unwrap();
        t.service_account = account.to_string();
        if !connector.is_empty() {
            t.vpc_access = Some(VpcAccess::new().set_connector(connector));
        }
        s
    };

    let error = create_error(&run, "no-conn", with(CONNECTOR, "")).await;
    assert_eq!(code_of(&error), Code::InvalidArgument, "{error}");
    assert!(error.to_string().contains("does not exist"), "{error}");

    let vpc = VpcAccessService::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .build()
        .await
        .unwrap();
    vpc.create_connector()
        .set_parent(PARENT)
        .set_connector_id("chat-conn")
        .set_connector(
            Connector::new()
                .set_network("default")
                .set_ip_cidr_range("10.8.0.0/28")
                .set_max_instances(3),
        )
        .send()
        .await
        .expect("the connector create is accepted");
    let error = create_error(&run, "creating-conn", with(CONNECTOR, "")).await;
    assert_eq!(code_of(&error), Code::FailedPrecondition, "{error}");
    assert!(error.to_string().contains("not ready"), "{error}");

    let other_region = "projects/run-test-proj/locations/europe-west1/connectors/chat-conn";
    let error = create_error(&run, "far-conn", with(other_region, "")).await;
    assert_eq!(code_of(&error), Code::InvalidArgument, "{error}");

    let ghost = "ghost@run-test-proj.iam.gserviceaccount.com";
    let error = create_error(&run, "ghost-sa", with("", ghost)).await;
    assert_eq!(code_of(&error), Code::PermissionDenied, "{error}");
    assert!(
        error.to_string().contains("iam.serviceaccounts.actAs"),
        "{error}"
    );

    let iam = iam_client(emu.base_url(), anonymous()).await;
    let fresh = iam
        .create_service_account()
        .set_name(format!("projects/{PROJECT}"))
        .set_account_id("fresh-runner")
        .send()
        .await
        .unwrap();
    let error = create_error(&run, "fresh-sa", with("", &fresh.email)).await;
    assert_eq!(
        code_of(&error),
        Code::PermissionDenied,
        "a just-created account is not visible yet: {error}"
    );
}

#[tokio::test]
async fn images_must_be_in_artifact_registry_unless_public() {
    let emu = start(fast_config()).await;
    let run = run_client(emu.base_url()).await;
    let ar = google_cloud_artifactregistry_v1::client::ArtifactRegistry::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    ar.create_repository()
        .set_parent(PARENT)
        .set_repository_id("app")
        .set_repository(
            google_cloud_artifactregistry_v1::model::Repository::new()
                .set_format(google_cloud_artifactregistry_v1::model::repository::Format::Docker),
        )
        .poller()
        .until_done()
        .await
        .unwrap();
    let image = "us-central1-docker.pkg.dev/run-test-proj/app/chat-server:v1";

    // Not pushed yet: the revision fails inside the operation, the service says why.
    let error = run
        .create_service()
        .set_parent(PARENT)
        .set_service_id("chat")
        .set_service(service(image))
        .poller()
        .until_done()
        .await
        .expect_err("the image does not exist");
    assert_eq!(code_of(&error), Code::FailedPrecondition, "{error}");
    assert!(error.to_string().contains("not found"), "{error}");
    let failed = run
        .get_service()
        .set_name(format!("{PARENT}/services/chat"))
        .send()
        .await
        .unwrap();
    let terminal = failed.terminal_condition.clone().unwrap();
    assert_eq!(terminal.state, State::ConditionFailed);
    assert_eq!(terminal.reason(), Some(&CommonReason::ContainerMissing));
    assert!(!failed.reconciling);

    // Pushed (emulator-only shortcut for `docker push`): by tag and by digest both deploy.
    let pushed: serde_json::Value = http()
        .post(format!("{}/_emulator/images", emu.base_url()))
        .json(&serde_json::json!({ "image": image }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"));
    let redeployed = run
        .update_service()
        .set_service(failed.clone())
        .poller()
        .until_done()
        .await
        .expect("the image exists now");
    assert_eq!(redeployed.generation, 2);
    assert!(
        redeployed.uri.ends_with("-uc.a.run.app"),
        "{}",
        redeployed.uri
    );
    let by_digest = format!("us-central1-docker.pkg.dev/run-test-proj/app/chat-server@{digest}");
    run.create_service()
        .set_parent(PARENT)
        .set_service_id("by-digest")
        .set_service(service(&by_digest))
        .poller()
        .until_done()
        .await
        .expect("an image by digest deploys");

    // A repository that does not exist cannot receive a push.
    let refused = http()
        .post(format!("{}/_emulator/images", emu.base_url()))
        .json(&serde_json::json!({ "image": "us-central1-docker.pkg.dev/run-test-proj/nope/x:v1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn a_runtime_that_cannot_start_the_revision_fails_the_operation() {
    let recorder = Arc::new(Recorder {
        fail: true,
        ..Recorder::default()
    });
    let emu = start_with(fast_config(), recorder.clone()).await;
    let run = run_client(emu.base_url()).await;
    let error = run
        .create_service()
        .set_parent(PARENT)
        .set_service_id("broken")
        .set_service(service(HELLO))
        .poller()
        .until_done()
        .await
        .expect_err("the runtime refused");
    assert_eq!(code_of(&error), Code::Internal);
    assert!(error.to_string().contains("exec format error"), "{error}");
    assert_eq!(recorder.ready.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn proto3_json_on_the_wire_enums_as_names_or_numbers_unknown_fields_refused() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let url = format!("{base}/v2/{PARENT}/services");
    let unknown = http()
        .post(&url)
        .query(&[("serviceId", "raw")])
        .json(&serde_json::json!({
            "template": { "containers": [{ "image": HELLO }] },
            "colour": "blue",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"colour\"")
    );

    // Enum names in, names out by default; numbers when the caller asks for them.
    let created = http()
        .post(&url)
        .query(&[("serviceId", "raw")])
        .json(&serde_json::json!({
            "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
            "template": { "containers": [{ "image": HELLO }], "executionEnvironment": 2 },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let op: serde_json::Value = created.json().await.unwrap();
    assert!(
        op.get("done").is_none(),
        "an unfinished operation has no done key: {op}"
    );
    assert_eq!(
        op["metadata"]["@type"],
        "type.googleapis.com/google.cloud.run.v2.Service"
    );
    let service_url = format!("{base}/v2/{PARENT}/services/raw");
    let ready = eventually(Duration::from_secs(10), || async {
        let s = get_json(&service_url).await;
        (s["reconciling"] != true).then_some(s)
    })
    .await;
    assert_eq!(ready["ingress"], "INGRESS_TRAFFIC_INTERNAL_ONLY");
    assert_eq!(
        ready["template"]["executionEnvironment"],
        "EXECUTION_ENVIRONMENT_GEN2"
    );
    assert_eq!(ready["terminalCondition"]["state"], "CONDITION_SUCCEEDED");
    assert_eq!(ready["generation"], "1", "int64 travels as a string");
    assert_eq!(
        ready["template"]["timeout"], "300s",
        "the default timeout is filled in"
    );
    let numbers = get_json(format!("{service_url}?%24alt=json%3Benum-encoding%3Dint")).await;
    assert_eq!(numbers["ingress"], 2);
    assert_eq!(numbers["terminalCondition"]["state"], 4);
    let done = get_json(format!("{base}/v2/{}", op["name"].as_str().unwrap())).await;
    assert_eq!(done["done"], true);
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.cloud.run.v2.Service"
    );
}

#[tokio::test]
async fn disabled_apis_answer_service_disabled() {
    let config = EmulatorConfig {
        enforce_api_enablement: true,
        ..fast_config()
    };
    let emu = start(config).await;
    let run = run_client(emu.base_url()).await;
    let error = create_error(&run, "chat", service(HELLO)).await;
    assert_eq!(code_of(&error), Code::PermissionDenied);
    assert_eq!(reason_of(&error).as_deref(), Some("SERVICE_DISABLED"));
    let build = get_json(format!(
        "{}/v1/projects/{PROJECT}/builds/00000000-0000-0000-0000-000000000000",
        emu.base_url()
    ))
    .await;
    assert_eq!(
        build["error"]["details"][0]["reason"], "SERVICE_DISABLED",
        "{build}"
    );
    let services = get_json(format!("{}/v2/{PARENT}/services", emu.base_url())).await;
    assert_eq!(services["error"]["status"], "PERMISSION_DENIED");
    let bucket = http()
        .post(format!("{}/storage/v1/b", emu.base_url()))
        .query(&[("project", PROJECT)])
        .json(&serde_json::json!({ "name": "run-test-proj-bucket" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bucket.status(), 403, "Storage too, in its own error shape");
    let body: serde_json::Value = bucket.json().await.unwrap();
    assert_eq!(body["error"]["errors"][0]["reason"], "accessNotConfigured");
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let services = format!("{base}/v2/{PARENT}/services");
    use reqwest::Method;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{services}?pageSize=5&showDeleted=true&$alt=json;enum-encoding=int"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::POST,
        &format!("{services}?serviceId=chat&validateOnly=true"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::PATCH,
        &format!("{services}/chat?allowMissing=true&updateMask=labels"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{services}/chat:getIamPolicy?options.requestedPolicyVersion=3"),
    )
    .await;
    assert_only_known_query_parameters(
        Method::GET,
        &format!("{base}/v2/{PARENT}/operations?pageSize=1&filter=done"),
    )
    .await;
}

#[tokio::test]
async fn a_service_with_the_invoker_check_off_is_public_without_all_users() {
    let recorder = Arc::new(Recorder::default());
    let emu = start_with(fast_config(), recorder.clone()).await;
    let run = run_client(emu.base_url()).await;
    for (id, open) in [("open", true), ("closed", false)] {
        let created = run
            .create_service()
            .set_parent(PARENT)
            .set_service_id(id)
            .set_service(service(HELLO).set_invoker_iam_disabled(open))
            .poller()
            .until_done()
            .await
            .expect("deployed");
        assert_eq!(created.invoker_iam_disabled, open);
        let policy = run
            .get_iam_policy()
            .set_resource(format!("{PARENT}/services/{id}"))
            .send()
            .await
            .unwrap();
        assert!(
            policy.bindings.is_empty(),
            "no allUsers binding: {policy:?}"
        );
    }
    let ready = recorder.ready.lock().unwrap().clone();
    let public = |id: &str| ready.iter().find(|i| i.service_id == id).map(|i| i.public);
    assert_eq!(public("open"), Some(true));
    assert_eq!(public("closed"), Some(false));
}

#[tokio::test]
async fn secret_env_needs_the_secret_and_the_accessor_role_and_reaches_the_revision() {
    use google_cloud_run_v2::model::{EnvVarSource, SecretKeySelector};
    let recorder = Arc::new(Recorder::default());
    let emu = start_with(fast_config(), recorder.clone()).await;
    let run = run_client(emu.base_url()).await;
    let base = emu.base_url();
    let with_secret = || {
        let mut s = service(HELLO);
        s.template.as_mut().unwrap().containers[0].env = vec![
            EnvVar::new().set_name("REDIS_PASSWORD").set_value_source(
                EnvVarSource::new().set_secret_key_ref(
                    SecretKeySelector::new()
                        .set_secret("redis-auth")
                        .set_version("latest"),
                ),
            ),
        ];
        s
    };

    let error = create_error(&run, "no-secret", with_secret()).await;
    assert_eq!(code_of(&error), Code::InvalidArgument, "{error}");
    assert!(error.to_string().contains("was not found"), "{error}");

    let created = post_json(
        format!("{base}/v1/projects/{PROJECT}/secrets?secretId=redis-auth"),
        &serde_json::json!({ "replication": { "automatic": {} } }),
    )
    .await;
    assert!(created.status().is_success());
    let secret: serde_json::Value = created.json().await.unwrap();
    let number = secret["name"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .to_string();
    let added = post_json(
        format!("{base}/v1/projects/{PROJECT}/secrets/redis-auth:addVersion"),
        &serde_json::json!({ "payload": { "data": "czNjcmV0" } }),
    )
    .await;
    assert!(added.status().is_success());

    // The revision runs as the Compute Engine default account, which Editor does not let read
    // secret payloads.
    let error = create_error(&run, "no-access", with_secret()).await;
    assert_eq!(code_of(&error), Code::InvalidArgument, "{error}");
    assert!(
        error
            .to_string()
            .contains("roles/secretmanager.secretAccessor"),
        "{error}"
    );

    let granted = post_json(
        format!("{base}/v1/projects/{PROJECT}/secrets/redis-auth:setIamPolicy"),
        &serde_json::json!({ "policy": { "bindings": [{
            "role": "roles/secretmanager.secretAccessor",
            "members": [format!("serviceAccount:{number}-compute@developer.gserviceaccount.com")],
        }]}}),
    )
    .await;
    assert!(granted.status().is_success());
    run.create_service()
        .set_parent(PARENT)
        .set_service_id("with-secret")
        .set_service(with_secret())
        .poller()
        .until_done()
        .await
        .expect("the revision reads its secret");
    let ready = recorder.ready.lock().unwrap().clone();
    let env = &ready.last().expect("the runtime was told").env;
    assert!(
        env.contains(&("REDIS_PASSWORD".to_string(), "s3cret".to_string())),
        "the revision gets the secret's value: {env:?}"
    );
}

#[tokio::test]
async fn direct_vpc_egress_needs_one_interface_on_a_subnet_of_the_network_in_the_region() {
    use google_cloud_run_v2::model::vpc_access::NetworkInterface;
    let emu = start(fast_config()).await;
    let run = run_client(emu.base_url()).await;
    let with = |interfaces: Vec<NetworkInterface>| {
        service(HELLO).set_template(
            RevisionTemplate::new()
                .set_vpc_access(VpcAccess::new().set_network_interfaces(interfaces))
                .set_containers([Container::new().set_image(HELLO)]),
        )
    };
    let nic = |network: &str, subnet: &str| {
        NetworkInterface::new()
            .set_network(network)
            .set_subnetwork(subnet)
    };
    let refused = [
        (
            "two-nics",
            vec![nic("default", ""), nic("default", "")],
            "only a single network interface",
        ),
        (
            "empty-nic",
            vec![nic("", "")],
            "at least one of network or subnetwork",
        ),
        (
            "no-network",
            vec![nic("nope", "")],
            "networks/nope\" was not found",
        ),
        (
            "no-subnet",
            vec![nic("default", "nope")],
            "subnetworks/nope\" was not found in region us-central1",
        ),
        (
            "both",
            vec![nic("default", "")],
            "one and only one of connector and network_interfaces",
        ),
    ];
    for (id, interfaces, text) in refused {
        let mut body = with(interfaces);
        if id == "both" {
            let vpc = body.template.as_mut().unwrap().vpc_access.as_mut().unwrap();
            vpc.connector = CONNECTOR.to_string();
        }
        let error = create_error(&run, id, body).await;
        assert_eq!(code_of(&error), Code::InvalidArgument, "{id}: {error}");
        assert!(error.to_string().contains(text), "{id}: {error}");
    }
    // The network alone takes the subnet of its name; the subnet alone finds its network.
    for (id, interface) in [
        ("by-network", nic("default", "")),
        ("by-subnet", nic("", "default")),
        (
            "full-path",
            nic("projects/run-test-proj/global/networks/default", "default"),
        ),
    ] {
        let service = run
            .create_service()
            .set_parent(PARENT)
            .set_service_id(id)
            .set_service(with(vec![interface.clone()]))
            .poller()
            .until_done()
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let stored = &service
            .template
            .unwrap()
            .vpc_access
            .unwrap()
            .network_interfaces;
        assert_eq!(stored, &vec![interface], "{id}: kept as given");
    }
}
