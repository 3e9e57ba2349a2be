//! Real projects, as `POST /_emulator/projects` describes them: IAM enforced against the
//! caller's roles (PERMISSION_DENIED with Google's text, truthful testIamPermissions on projects
//! and service accounts), builds that run as the project's build account and fail without its
//! permissions, the quota project of `x-goog-user-project`, Cloud Run's create-after-delete
//! conflict and `invokerIamDisabled`, no default network, Domain Restricted Sharing, and the
//! retryable errors chatctl must retry.

mod common;

use std::time::Duration;

use common::*;
use google_cloud_auth::credentials::user_account;
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use google_cloud_redis_v1::client::CloudRedis;
use google_cloud_run_v2::model::{Container, RevisionTemplate, Service};
use serde_json::{Value, json};

const SAMPLE_IMAGE: &str = "us-docker.pkg.dev/cloudrun/container/hello";

/// Lists Redis instances of `project` through the official client, signed in with a user's
/// credentials file (google-cloud-auth sends its `quota_project_id` as `x-goog-user-project`).
async fn list_redis_as(
    base: &str,
    credentials: Value,
    project: &str,
) -> Result<(), google_cloud_gax::error::Error> {
    let redis = CloudRedis::builder()
        .with_endpoint(base)
        .with_credentials(user_account::Builder::new(credentials).build().unwrap())
        .build()
        .await
        .unwrap();
    redis
        .list_instances()
        .set_parent(format!("projects/{project}/locations/us-central1"))
        .send()
        .await
        .map(drop)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn error_info(body: &Value) -> Value {
    body["error"]["details"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        })
        .cloned()
        .unwrap_or(Value::Null)
}

async fn wait_op(base: &str, name: &str) -> Value {
    eventually(Duration::from_secs(10), || async {
        let op = get_json(format!("{base}/v1/{name}")).await;
        (op["done"] == true).then_some(op)
    })
    .await
}

#[tokio::test]
async fn the_control_call_describes_a_project_before_its_first_use() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (status, described) = describe(
        base,
        json!({
            "projectId": "acme-prod-1",
            "defaultNetwork": false,
            "buildServiceAccount": "compute-default",
            "computeDefaultServiceAccountRoles": [],
            "allowedPolicyMemberDomains": ["C0acme1"],
            "enforceIam": true,
        }),
    )
    .await;
    assert_eq!(status, 200, "{described}");
    let number = described["projectNumber"].as_str().unwrap().to_string();
    assert_eq!(described["projectId"], "acme-prod-1");
    assert_eq!(described["defaultNetwork"], false);
    assert_eq!(described["defaultNetworkExists"], false);
    assert_eq!(described["buildServiceAccount"], "compute-default");
    assert_eq!(
        described["buildServiceAccountEmail"],
        format!("{number}-compute@developer.gserviceaccount.com")
    );
    assert_eq!(described["computeDefaultServiceAccountRoles"], json!([]));
    assert_eq!(described["allowedPolicyMemberDomains"], json!(["C0acme1"]));
    assert_eq!(described["enforceIam"], true);

    // Defaults: today's behaviour (legacy build account, the Compute account an editor).
    let (status, plain) = describe(base, json!({ "projectId": "plain-proj-1" })).await;
    assert_eq!(status, 200);
    assert_eq!(plain["buildServiceAccount"], "legacy");
    assert_eq!(plain["defaultNetworkExists"], true);
    assert_eq!(plain["enforceIam"], false);
    assert_eq!(
        plain["computeDefaultServiceAccountRoles"],
        json!(["roles/editor"])
    );

    let (status, body) = describe(base, json!({ "projectId": "acme-prod-1" })).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = describe(
        base,
        json!({ "projectId": "bad-acct-1", "buildServiceAccount": "cloudbuild" }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("buildServiceAccount"), "{body}");
    let (status, body) = describe(
        base,
        json!({ "projectId": "bad-role-1", "computeDefaultServiceAccountRoles": ["editor"] }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("roles/NAME"), "{body}");
    let (status, _) = describe(base, json!({ "projectId": "x", "enforceIam": true })).await;
    assert_eq!(status, 400);
    let (status, _) = describe(base, json!({ "projectid": "typo-proj-1" })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn enforced_iam_judges_every_call_by_the_callers_roles() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "iam-proj-1", "enforceIam": true }),
    )
    .await;
    let url = format!("{base}/v1/projects/iam-proj-1/locations/us-central1/instances");

    // No credentials at all: 401, as Google answers.
    let (status, body) = get(&url, None).await;
    assert_eq!(status, 401, "{body}");

    // A user without roles, through the official client: PERMISSION_DENIED with Google's text.
    let credentials = user(base, json!({ "email": "nobody@example.com" })).await;
    let err = list_redis_as(base, credentials, "iam-proj-1")
        .await
        .expect_err("no role, no list");
    assert_eq!(code_of(&err), Code::PermissionDenied);
    assert_eq!(reason_of(&err).as_deref(), Some("IAM_PERMISSION_DENIED"));
    assert!(
        err.to_string().contains(
            "Permission 'redis.instances.list' denied on resource 'projects/iam-proj-1/locations/us-central1' (or it may not exist)."
        ),
        "{err}"
    );
    let (_, body) = get(
        &url,
        Some(&signed_in(base, "iam-proj-1", "nobody2@example.com", &[]).await),
    )
    .await;
    assert_eq!(
        error_info(&body)["metadata"]["permission"],
        "redis.instances.list"
    );

    // The role that grants it.
    let admin = signed_in(
        base,
        "iam-proj-1",
        "redis@example.com",
        &["roles/redis.admin"],
    )
    .await;
    let (status, body) = get(&url, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");

    // Editor: everything but setting IAM policies.
    let editor = signed_in(base, "iam-proj-1", "editor@example.com", &["roles/editor"]).await;
    let (status, _) = get(&url, Some(&editor)).await;
    assert_eq!(status, 200);
    let policy_url = format!("{base}/v3/projects/iam-proj-1:getIamPolicy");
    let (status, policy) = post(&policy_url, Some(&editor), json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = post(
        &format!("{base}/v3/projects/iam-proj-1:setIamPolicy"),
        Some(&editor),
        json!({ "policy": policy }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        message(&body),
        "Permission 'resourcemanager.projects.setIamPolicy' denied on resource 'projects/iam-proj-1' (or it may not exist)."
    );

    // Projects that were not described stay permissive, anonymous callers included.
    let (status, _) = get(
        &format!("{base}/v1/projects/open-proj-1/locations/us-central1/instances"),
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn test_iam_permissions_answers_truthfully_on_projects_and_service_accounts() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "tip-proj-1", "enforceIam": true }),
    )
    .await;
    let owner = signed_in(base, "tip-proj-1", "owner@example.com", &["roles/owner"]).await;
    let deployer = signed_in(base, "tip-proj-1", "ci@example.com", &["roles/editor"]).await;
    let asked = json!({ "permissions": [
        "resourcemanager.projects.setIamPolicy",
        "run.services.create",
        "iam.serviceAccounts.actAs",
        "run.services.setIamPolicy",
    ]});
    let (status, held) = post(
        &format!("{base}/v3/projects/tip-proj-1:testIamPermissions"),
        Some(&deployer),
        asked.clone(),
    )
    .await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(
        held["permissions"],
        json!(["run.services.create", "iam.serviceAccounts.actAs"])
    );
    let (_, held) = post(
        &format!("{base}/v1/projects/tip-proj-1:testIamPermissions"),
        Some(&owner),
        asked.clone(),
    )
    .await;
    assert_eq!(held["permissions"].as_array().unwrap().len(), 4);

    // A service account: actAs through its own policy.
    let (status, account) = post(
        &format!("{base}/v1/projects/tip-proj-1/serviceAccounts"),
        Some(&owner),
        json!({ "accountId": "chat-builder-dev" }),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    let email = account["email"].as_str().unwrap().to_string();
    let sa_url =
        format!("{base}/v1/projects/tip-proj-1/serviceAccounts/{email}:testIamPermissions");
    let runner = signed_in(
        base,
        "tip-proj-1",
        "runner@example.com",
        &["roles/run.admin"],
    )
    .await;
    let act_as = json!({ "permissions": ["iam.serviceAccounts.actAs"] });
    let held = eventually(Duration::from_secs(10), || async {
        let (status, held) = post(&sa_url, Some(&runner), act_as.clone()).await;
        (status == 200).then_some(held)
    })
    .await;
    assert_eq!(held, json!({}));
    grant(
        base,
        "tip-proj-1",
        "user:runner@example.com",
        &["roles/iam.serviceAccountUser"],
        Some(&email),
    )
    .await;
    let (_, held) = post(&sa_url, Some(&runner), act_as.clone()).await;
    assert_eq!(held["permissions"], json!(["iam.serviceAccounts.actAs"]));
    let (status, policy) = post(
        &format!("{base}/v1/projects/tip-proj-1/serviceAccounts/{email}:getIamPolicy"),
        Some(&owner),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(
        policy["bindings"][0]["role"],
        "roles/iam.serviceAccountUser"
    );

    // Where IAM is not enforced, the caller holds everything it asks about.
    let (_, held) = post(
        &format!("{base}/v3/projects/open-proj-2:testIamPermissions"),
        None,
        asked,
    )
    .await;
    assert_eq!(held["permissions"].as_array().unwrap().len(), 4);
}

/// Stages a source archive and a Docker repository in `project` (as `bearer`, when given);
/// returns the build body.
async fn staged_build(base: &str, project: &str, options: Value, bearer: Option<&str>) -> Value {
    let bucket = format!("{project}_cloudbuild");
    let (status, body) = post(
        &format!("{base}/storage/v1/b?project={project}"),
        bearer,
        json!({ "name": bucket }),
    )
    .await;
    assert!([200, 409].contains(&status), "{body}");
    let (status, body) = post(
        &format!(
            "{base}/v1/projects/{project}/locations/us-central1/repositories?repositoryId=app"
        ),
        bearer,
        json!({ "format": "DOCKER" }),
    )
    .await;
    assert!([200, 409].contains(&status), "{body}");
    let mut upload = http().post(format!("{base}/upload/storage/v1/b/{bucket}/o"));
    if let Some(bearer) = bearer {
        upload = upload.bearer_auth(bearer);
    }
    let uploaded: Value = upload
        .query(&[("uploadType", "media"), ("name", "source/app.tgz")])
        .body(&b"sources"[..])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = format!("us-central1-docker.pkg.dev/{project}/app/chat:v1");
    json!({
        "source": { "storageSource": {
            "bucket": bucket, "object": "source/app.tgz", "generation": uploaded["generation"],
        }},
        "steps": [{ "name": "gcr.io/cloud-builders/docker", "args": ["build", "-t", image, "."] }],
        "images": [image],
        "options": options,
    })
}

/// Creates a build and waits for its end; answers the finished build.
async fn run_build(base: &str, project: &str, build: Value, bearer: Option<&str>) -> Value {
    let (status, op) = post(
        &format!("{base}/v1/projects/{project}/builds"),
        bearer,
        build,
    )
    .await;
    assert_eq!(status, 200, "{op}");
    let id = op["metadata"]["build"]["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(10), || async {
        let (_, b) = get(&format!("{base}/v1/projects/{project}/builds/{id}"), bearer).await;
        (!matches!(b["status"].as_str(), Some("QUEUED" | "WORKING"))).then_some(b)
    })
    .await
}

#[tokio::test]
async fn builds_run_as_the_projects_build_account_and_fail_without_its_permissions() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (_, described) = describe(
        base,
        json!({
            "projectId": "build-proj-1",
            "buildServiceAccount": "compute-default",
            "computeDefaultServiceAccountRoles": [],
        }),
    )
    .await;
    let account = described["buildServiceAccountEmail"]
        .as_str()
        .unwrap()
        .to_string();
    let member = format!("serviceAccount:{account}");

    let build = staged_build(base, "build-proj-1", json!({}), None).await;
    let failed = run_build(base, "build-proj-1", build, None).await;
    assert_eq!(failed["status"], "FAILURE", "{failed}");
    assert_eq!(failed["failureInfo"]["type"], "LOGGING_FAILURE");
    assert_eq!(
        failed["statusDetail"],
        format!(
            "The service account running this build projects/build-proj-1/serviceAccounts/{account} does not have permission to write logs to Cloud Logging. To fix this, grant the Logs Writer (roles/logging.logWriter) role to the service account."
        )
    );

    let quiet = staged_build(base, "build-proj-1", json!({ "logging": "NONE" }), None).await;
    let failed = run_build(base, "build-proj-1", quiet.clone(), None).await;
    assert_eq!(
        failed["failureInfo"]["type"], "FETCH_SOURCE_FAILED",
        "{failed}"
    );
    assert_eq!(
        failed["statusDetail"],
        format!(
            "AccessDeniedException: 403 {account} does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist)."
        )
    );

    grant(
        base,
        "build-proj-1",
        &member,
        &["roles/storage.objectViewer"],
        None,
    )
    .await;
    let failed = run_build(base, "build-proj-1", quiet.clone(), None).await;
    assert_eq!(
        failed["failureInfo"]["type"], "PUSH_NOT_AUTHORIZED",
        "{failed}"
    );
    assert_eq!(
        failed["statusDetail"],
        "denied: Permission \"artifactregistry.repositories.uploadArtifacts\" denied on resource \"projects/build-proj-1/locations/us-central1/repositories/app\" (or it may not exist)"
    );

    grant(base, "build-proj-1", &member, &["roles/run.builder"], None).await;
    let built = staged_build(
        base,
        "build-proj-1",
        json!({ "logging": "CLOUD_LOGGING_ONLY" }),
        None,
    )
    .await;
    let done = run_build(base, "build-proj-1", built, None).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");

    // The legacy account (the default) has its old broad role; undescribed projects are as before.
    describe(base, json!({ "projectId": "legacy-proj-1" })).await;
    let build = staged_build(base, "legacy-proj-1", json!({}), None).await;
    assert_eq!(
        run_build(base, "legacy-proj-1", build, None).await["status"],
        "SUCCESS"
    );
    let build = staged_build(base, "plain-proj-2", json!({}), None).await;
    assert_eq!(
        run_build(base, "plain-proj-2", build, None).await["status"],
        "SUCCESS"
    );
}

#[tokio::test]
async fn a_build_account_the_caller_cannot_act_as_is_refused_at_create() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "actas-proj-1", "enforceIam": true, "buildServiceAccount": "compute-default" }),
    )
    .await;
    let owner = signed_in(base, "actas-proj-1", "owner@example.com", &["roles/owner"]).await;
    let (_, account) = post(
        &format!("{base}/v1/projects/actas-proj-1/serviceAccounts"),
        Some(&owner),
        json!({ "accountId": "chat-builder-dev" }),
    )
    .await;
    let email = account["email"].as_str().unwrap().to_string();
    grant(
        base,
        "actas-proj-1",
        &format!("serviceAccount:{email}"),
        &["roles/run.builder"],
        None,
    )
    .await;
    let submitter = signed_in(
        base,
        "actas-proj-1",
        "ci@example.com",
        &[
            "roles/cloudbuild.builds.editor",
            "roles/storage.admin",
            "roles/artifactregistry.admin",
        ],
    )
    .await;
    let mut build = staged_build(base, "actas-proj-1", json!({}), Some(&submitter)).await;
    build["serviceAccount"] = json!(format!("projects/actas-proj-1/serviceAccounts/{email}"));
    let create = format!("{base}/v1/projects/actas-proj-1/builds");
    eventually(Duration::from_secs(10), || async {
        let (status, _) = get(
            &format!("{base}/v1/projects/actas-proj-1/serviceAccounts/{email}"),
            Some(&owner),
        )
        .await;
        (status == 200).then_some(())
    })
    .await;

    // A named account needs a logging choice (Google's rule), checked first.
    let (status, body) = post(&create, Some(&submitter), build.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).contains("CLOUD_LOGGING_ONLY / NONE"),
        "{body}"
    );

    build["options"] = json!({ "logging": "CLOUD_LOGGING_ONLY" });
    let (status, body) = post(&create, Some(&submitter), build.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        message(&body),
        format!(
            "caller does not have permission to act as service account {}",
            account["uniqueId"].as_str().unwrap()
        )
    );
    // The Compute default account needs actAs as well.
    let mut unnamed = build.clone();
    unnamed.as_object_mut().unwrap().remove("serviceAccount");
    let (status, _) = post(&create, Some(&submitter), unnamed).await;
    assert_eq!(status, 403);

    grant(
        base,
        "actas-proj-1",
        "user:ci@example.com",
        &["roles/iam.serviceAccountUser"],
        Some(&email),
    )
    .await;
    let done = run_build(base, "actas-proj-1", build, Some(&submitter)).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
}

#[tokio::test]
async fn the_quota_project_is_where_enablement_is_checked() {
    let emu = start(emulator::EmulatorConfig {
        enforce_api_enablement: true,
        ..fast_config()
    })
    .await;
    let base = emu.base_url();
    // The target project has Redis enabled; the quota project has nothing enabled.
    let (status, op) = post(
        &format!("{base}/v1/projects/target-proj-1/services/redis.googleapis.com:enable"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    wait_op(base, op["name"].as_str().unwrap()).await;
    let list = format!("{base}/v1/projects/target-proj-1/locations/us-central1/instances");
    eventually(Duration::from_secs(10), || async {
        let (status, _) = get(&list, None).await;
        (status == 200).then_some(())
    })
    .await;

    let credentials = user(
        base,
        json!({ "email": "dev@example.com", "quotaProjectId": "gcloud-default-1" }),
    )
    .await;
    assert_eq!(credentials["quota_project_id"], "gcloud-default-1");
    let err = list_redis_as(base, credentials, "target-proj-1")
        .await
        .expect_err("the quota project has Redis disabled");
    assert_eq!(code_of(&err), Code::PermissionDenied);
    assert_eq!(reason_of(&err).as_deref(), Some("SERVICE_DISABLED"));
    let world = get_json(format!("{base}/_emulator/resources")).await;
    let number = world["projects"]["gcloud-default-1"]["number"].to_string();
    assert_ne!(
        number,
        world["projects"]["target-proj-1"]["number"].to_string()
    );
    assert!(
        err.to_string().contains(&format!(
            "Google Cloud Memorystore for Redis API has not been used in project {number} before or it is disabled."
        )),
        "{err}"
    );
    let (status, body) = http()
        .get(&list)
        .header("x-goog-user-project", "gcloud-default-1")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let body: Value = body.json().await.unwrap();
    assert_eq!(status, 403);
    assert_eq!(
        error_info(&body)["metadata"]["consumer"],
        format!("projects/{number}")
    );
    // The same project as quota project changes nothing.
    let (status, _) = http()
        .get(&list)
        .header("x-goog-user-project", "target-proj-1")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_quota_project_that_enforces_iam_needs_service_usage_use() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "billing-proj-1", "enforceIam": true }),
    )
    .await;
    let bearer = signed_in(base, "billing-proj-1", "dev@example.com", &[]).await;
    let list = format!("{base}/v1/projects/any-proj-1/locations/us-central1/instances");
    let response = http()
        .get(&list)
        .bearer_auth(&bearer)
        .header("x-goog-user-project", "billing-proj-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_info(&body)["reason"], "USER_PROJECT_DENIED");
    assert!(
        message(&body)
            .starts_with("Caller does not have required permission to use project billing-proj-1."),
        "{body}"
    );
    grant(
        base,
        "billing-proj-1",
        "user:dev@example.com",
        &["roles/serviceusage.serviceUsageConsumer"],
        None,
    )
    .await;
    let response = http()
        .get(&list)
        .bearer_auth(&bearer)
        .header("x-goog-user-project", "billing-proj-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn hello() -> Service {
    Service::new().set_template(
        RevisionTemplate::new().set_containers([Container::new().set_image(SAMPLE_IMAGE)]),
    )
}

#[tokio::test]
async fn cloud_run_create_right_after_delete_conflicts_for_a_while() {
    // Time at 5 %: the name stays held for 1 s after the delete, a window one read cannot miss.
    let emu = start(emulator::EmulatorConfig {
        time_scale: 0.05,
        ..fast_config()
    })
    .await;
    let base = emu.base_url();
    describe(base, json!({ "projectId": "pr-proj-1" })).await;
    let run = run_client(base).await;
    let parent = "projects/pr-proj-1/locations/us-central1";
    let name = format!("{parent}/services/chat-pr-7");
    run.create_service()
        .set_parent(parent)
        .set_service_id("chat-pr-7")
        .set_service(hello())
        .poller()
        .until_done()
        .await
        .expect("created");
    run.delete_service()
        .set_name(&name)
        .poller()
        .until_done()
        .await
        .expect("deleted");
    let err = run.get_service().set_name(&name).send().await.unwrap_err();
    assert_eq!(code_of(&err), Code::NotFound);
    let err = run
        .create_service()
        .set_parent(parent)
        .set_service_id("chat-pr-7")
        .set_service(hello())
        .send()
        .await
        .expect_err("the name is still held by the deletion");
    assert_eq!(code_of(&err), Code::AlreadyExists);
    assert!(
        err.to_string()
            .contains("Resource 'chat-pr-7' already exists."),
        "{err}"
    );
    eventually(Duration::from_secs(10), || async {
        run.create_service()
            .set_parent(parent)
            .set_service_id("chat-pr-7")
            .set_service(hello())
            .send()
            .await
            .ok()
    })
    .await;

    // Undescribed projects behave as before: the name is free once the delete is done.
    let parent = "projects/plain-proj-3/locations/us-central1";
    run.create_service()
        .set_parent(parent)
        .set_service_id("chat")
        .set_service(hello())
        .poller()
        .until_done()
        .await
        .unwrap();
    run.delete_service()
        .set_name(format!("{parent}/services/chat"))
        .poller()
        .until_done()
        .await
        .unwrap();
    run.create_service()
        .set_parent(parent)
        .set_service_id("chat")
        .set_service(hello())
        .send()
        .await
        .expect("no conflict window");
}

#[tokio::test]
async fn invoker_iam_disabled_is_kept_and_needs_set_iam_policy() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "pub-proj-1", "enforceIam": true }),
    )
    .await;
    let create =
        format!("{base}/v2/projects/pub-proj-1/locations/us-central1/services?serviceId=chat");
    let body = json!({
        "invokerIamDisabled": true,
        "template": { "containers": [{ "image": SAMPLE_IMAGE }] },
    });
    let editor = signed_in(base, "pub-proj-1", "editor@example.com", &["roles/editor"]).await;
    let (status, answer) = post(&create, Some(&editor), body.clone()).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        message(&answer),
        "Permission 'run.services.setIamPolicy' denied on resource 'projects/pub-proj-1/locations/us-central1/services/chat' (or it may not exist)."
    );
    // run.admin alone cannot deploy as the Compute default account.
    let admin = signed_in(
        base,
        "pub-proj-1",
        "admin@example.com",
        &["roles/run.admin"],
    )
    .await;
    let (status, answer) = post(&create, Some(&admin), body.clone()).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        message(&answer)
            .starts_with("Permission 'iam.serviceaccounts.actAs' denied on service account"),
        "{answer}"
    );
    grant(
        base,
        "pub-proj-1",
        "user:admin@example.com",
        &["roles/iam.serviceAccountUser"],
        None,
    )
    .await;
    let (status, answer) = post(&create, Some(&admin), body).await;
    assert_eq!(status, 200, "{answer}");
    let (_, service) = get(
        &format!("{base}/v2/projects/pub-proj-1/locations/us-central1/services/chat"),
        Some(&admin),
    )
    .await;
    assert_eq!(service["invokerIamDisabled"], true);
}

#[tokio::test]
async fn without_a_default_network_reads_and_creates_naming_it_fail() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "nonet-proj-1", "defaultNetwork": false }),
    )
    .await;
    let (status, body) = get(
        &format!("{base}/compute/v1/projects/nonet-proj-1/global/networks/default"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        message(&body),
        "The resource 'projects/nonet-proj-1/global/networks/default' was not found"
    );
    let (_, subnets) = get(
        &format!("{base}/compute/v1/projects/nonet-proj-1/aggregated/subnetworks"),
        None,
    )
    .await;
    assert!(
        subnets["items"].as_object().is_none_or(|i| i.is_empty()),
        "{subnets}"
    );

    let (status, op) = post(
        &format!(
            "{base}/v1/projects/nonet-proj-1/locations/us-central1/connectors?connectorId=chat-conn"
        ),
        None,
        json!({ "network": "default", "ipCidrRange": "10.8.0.0/28" }),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    let done = wait_op(base, op["name"].as_str().unwrap()).await;
    assert_eq!(
        done["error"]["message"],
        "Network default was not found in project nonet-proj-1."
    );
    let (status, op) = post(
        &format!("{base}/v1/projects/nonet-proj-1/locations/us-central1/instances?instanceId=chat"),
        None,
        json!({ "tier": "BASIC", "memorySizeGb": 1 }),
    )
    .await;
    assert_eq!(status, 200, "{op}");
    let done = wait_op(base, op["name"].as_str().unwrap()).await;
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with(
                "Invalid authorized network: projects/nonet-proj-1/global/networks/default."
            ),
        "{done}"
    );
}

#[tokio::test]
async fn the_default_network_appears_a_while_after_compute_is_enabled() {
    // Time at 10 %: Compute answers 2 s after its enable and the network comes 2 s later, a
    // window no loaded machine misses.
    let emu = start(emulator::EmulatorConfig {
        enforce_api_enablement: true,
        time_scale: 0.1,
        ..fast_config()
    })
    .await;
    let base = emu.base_url();
    for (project, default_network) in [("fresh-proj-1", true), ("no-net-proj-1", false)] {
        let (status, described) = describe(
            base,
            json!({"projectId": project, "defaultNetwork": default_network}),
        )
        .await;
        assert_eq!(status, 200, "{described}");
        assert_eq!(described["defaultNetworkExists"], false, "{described}");
        let (status, op) = post(
            &format!("{base}/v1/projects/{project}/services/compute.googleapis.com:enable"),
            None,
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{op}");
        wait_op(base, op["name"].as_str().unwrap()).await;
    }
    let network =
        |project: &str| format!("{base}/compute/v1/projects/{project}/global/networks/default");
    let answered = |project: &'static str| {
        let url = network(project);
        async move {
            eventually(Duration::from_secs(20), || async {
                let (status, _) = get(&url, None).await;
                (status != 403).then_some(status)
            })
            .await
        }
    };
    // Usable after the propagation window, but without its network for a while longer.
    assert_eq!(answered("fresh-proj-1").await, 404);
    let appeared = eventually(Duration::from_secs(20), || async {
        let (status, body) = get(&network("fresh-proj-1"), None).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(appeared["autoCreateSubnetworks"], true, "{appeared}");
    // Where compute.skipDefaultNetworkCreation is enforced, none ever comes.
    assert_eq!(answered("no-net-proj-1").await, 404);
}

#[tokio::test]
async fn domain_restricted_sharing_refuses_members_outside_the_customer() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    describe(
        base,
        json!({ "projectId": "drs-proj-1", "allowedPolicyMemberDomains": ["C0acme1"] }),
    )
    .await;
    user(
        base,
        json!({ "email": "dev@acme.example", "customerId": "C0acme1" }),
    )
    .await;
    let run = run_client(base).await;
    let parent = "projects/drs-proj-1/locations/us-central1";
    run.create_service()
        .set_parent(parent)
        .set_service_id("chat")
        .set_service(hello())
        .poller()
        .until_done()
        .await
        .unwrap();
    let service_policy = format!("{base}/v2/{parent}/services/chat:setIamPolicy");
    let (status, body) = post(&service_policy, None, json!({ "policy": { "bindings": [{ "role": "roles/run.invoker", "members": ["allUsers"] }] } }))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(
        message(&body),
        "One or more users named in the policy do not belong to a permitted customer,  perhaps due to an organization policy."
    );
    assert_eq!(
        body["error"]["details"][0]["violations"][0]["type"],
        "constraints/iam.allowedPolicyMemberDomains"
    );
    let (status, _) = post(&service_policy, None, json!({ "policy": { "bindings": [{ "role": "roles/run.invoker", "members": ["user:dev@acme.example"] }] } }))
    .await;
    assert_eq!(status, 200);

    let (_, policy) = post(
        &format!("{base}/v3/projects/drs-proj-1:getIamPolicy"),
        None,
        json!({}),
    )
    .await;
    let set = |members: Value| {
        let mut policy = policy.clone();
        policy["bindings"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "role": "roles/viewer", "members": members }));
        json!({ "policy": policy })
    };
    let project_policy = format!("{base}/v3/projects/drs-proj-1:setIamPolicy");
    let (status, body) = post(
        &project_policy,
        None,
        set(json!(["user:someone@gmail.example"])),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        message(&body),
        "One or more users named in the policy do not belong to a permitted customer."
    );
    // The project's own service accounts are inside.
    let (status, account) = post(
        &format!("{base}/v1/projects/drs-proj-1/serviceAccounts"),
        None,
        json!({ "accountId": "chat-identity" }),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    let member = format!("serviceAccount:{}", account["email"].as_str().unwrap());
    let (status, body) = eventually(Duration::from_secs(10), || async {
        let answer = post(&project_policy, None, set(json!([member.clone()]))).await;
        (!message(&answer.1).contains("does not exist")).then_some(answer)
    })
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_retryable_errors_are_injectable_with_googles_texts() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let faults = json!({ "scripted": [
        { "method": "setIamPolicy", "status": "FAILED_PRECONDITION" },
        { "method": "services.batchEnable", "status": "FAILED_PRECONDITION" },
        { "method": "setIamPolicy", "status": "ABORTED" },
    ]});
    assert_eq!(
        post_json(format!("{base}/_emulator/faults"), &faults)
            .await
            .status(),
        200
    );
    let set = format!("{base}/v3/projects/retry-proj-1:setIamPolicy");
    let policy = json!({ "policy": { "bindings": [] } });
    let (status, body) = post(&set, None, policy.clone()).await;
    assert_eq!(
        (status, message(&body)),
        (400, "Precondition check failed.")
    );
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
    let (status, body) = post(
        &format!("{base}/v1/projects/retry-proj-1/services:batchEnable"),
        None,
        json!({ "serviceIds": ["run.googleapis.com"] }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        message(&body).starts_with("Another activation or deactivation is in progress"),
        "{body}"
    );
    let (status, body) = post(&set, None, policy.clone()).await;
    assert_eq!(status, 409);
    assert_eq!(
        message(&body),
        "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."
    );
    let (status, _) = post(&set, None, policy).await;
    assert_eq!(status, 200);
}
