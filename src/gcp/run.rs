//! Cloud Run Admin v2: get, create, update and delete the service (waiting for each rollout),
//! and its IAM policy (the public invoker binding).

use google_cloud_iam_v1::model::{GetPolicyOptions, Policy};
use google_cloud_run_v2::model::Service;

use super::Google;
use super::errors::Kind;
use super::{policy, send_unless};

pub const ROLE: &str = "roles/run.admin and roles/iam.serviceAccountUser";

pub fn service_name(google: &Google, id: &str) -> String {
    format!("{}/services/{id}", google.parent())
}

pub async fn get(google: &Google, id: &str) -> anyhow::Result<Option<Service>> {
    let name = service_name(google, id);
    let what = format!("read Cloud Run service {id}");
    send_unless(
        google,
        google.call(&what, "roles/run.viewer"),
        Kind::NotFound,
        || google.clients.run.get_service().set_name(&name).send(),
    )
    .await
}

/// Creates the service and waits for its first revision; Ok(false) when the id is taken.
pub async fn create(google: &Google, id: &str, service: Service) -> anyhow::Result<bool> {
    let what = format!("create Cloud Run service {id}");
    super::send_and_wait(
        google,
        google.call(&what, ROLE),
        Some(Kind::AlreadyExists),
        || {
            google
                .clients
                .run
                .create_service()
                .set_parent(google.parent())
                .set_service_id(id)
                .set_service(service.clone())
                .send()
        },
        |op| google.clients.run.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

/// Replaces the service's spec (a new revision) and waits for the rollout.
pub async fn update(google: &Google, service: Service) -> anyhow::Result<()> {
    let what = format!("update Cloud Run service {}", service.name);
    super::send_and_wait(
        google,
        google.call(&what, ROLE),
        None,
        || {
            google
                .clients
                .run
                .update_service()
                .set_service(service.clone())
                .send()
        },
        |op| google.clients.run.get_operation().set_name(op).send(),
        || {},
    )
    .await
    .map(drop)
}

/// Deletes and waits; Ok(false) when it was already gone.
pub async fn delete(google: &Google, id: &str) -> anyhow::Result<bool> {
    let name = service_name(google, id);
    let what = format!("delete Cloud Run service {id}");
    let call = google.call(&what, ROLE);
    super::send_and_wait(
        google,
        call,
        Some(Kind::NotFound),
        || google.clients.run.delete_service().set_name(&name).send(),
        |op| google.clients.run.get_operation().set_name(op).send(),
        || {},
    )
    .await
}

fn read_policy<'a>(
    google: &'a Google,
    name: &'a str,
) -> impl std::future::Future<Output = Result<Policy, google_cloud_gax::error::Error>> + 'a {
    google
        .clients
        .run
        .get_iam_policy()
        .set_resource(name)
        .set_options(GetPolicyOptions::new().set_requested_policy_version(3))
        .send()
}

/// The service's IAM policy, or None when the service does not exist.
pub async fn get_policy(google: &Google, id: &str) -> anyhow::Result<Option<Policy>> {
    let name = service_name(google, id);
    let what = format!("read the IAM policy of Cloud Run service {id}");
    send_unless(
        google,
        google.call(&what, "roles/run.viewer"),
        Kind::NotFound,
        || read_policy(google, &name),
    )
    .await
}

/// Applies `edit` to the service's IAM policy; true when it wrote a change.
pub async fn modify_policy(
    google: &Google,
    id: &str,
    edit: impl Fn(&mut Policy) -> bool,
) -> anyhow::Result<bool> {
    let name = service_name(google, id);
    let what = format!("change the IAM policy of Cloud Run service {id}");
    policy::read_modify_write(
        google.retry(),
        google.call(&what, "roles/run.admin"),
        || read_policy(google, &name),
        |p| {
            google
                .clients
                .run
                .set_iam_policy()
                .set_resource(&name)
                .set_policy(p)
                .send()
        },
        edit,
    )
    .await
}

/// Turns the service's invoker check off (anyone may call it, without an allUsers binding) or
/// back on, keeping the rest of its spec; waits for the change. Needs run.services.setIamPolicy.
pub async fn set_invoker_iam_disabled(
    google: &Google,
    id: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let Some(mut service) = get(google, id).await? else {
        anyhow::bail!("Cloud Run service {id} disappeared before its invoker check could change");
    };
    if service.invoker_iam_disabled == disabled {
        return Ok(());
    }
    service.invoker_iam_disabled = disabled;
    update(google, service).await
}
