//! IAM v1 service accounts: synchronous get, create and delete.

use google_cloud_iam_admin_v1::model::ServiceAccount;

use super::Google;
use super::errors::Kind;
use super::send_unless;

pub const ROLE: &str = "roles/iam.serviceAccountAdmin";

pub fn account_name(project: &str, email: &str) -> String {
    format!("projects/{project}/serviceAccounts/{email}")
}

/// The account, or None when IAM does not know it (404, or 403 for a missing one).
pub async fn get(google: &Google, email: &str) -> anyhow::Result<Option<ServiceAccount>> {
    let name = account_name(google.project(), email);
    let what = format!("read service account {email}");
    let call = google.call(&what, ROLE);
    send_unless(google, call, Kind::NotFound, || {
        google
            .clients
            .iam
            .get_service_account()
            .set_name(&name)
            .send()
    })
    .await
}

/// Creates the account; Ok(None) when the id is already taken (the caller decides to adopt).
pub async fn create(
    google: &Google,
    account_id: &str,
    display_name: &str,
    description: &str,
) -> anyhow::Result<Option<ServiceAccount>> {
    let what = format!("create service account {account_id}");
    let call = google.call(&what, ROLE);
    let account = ServiceAccount::new()
        .set_display_name(display_name)
        .set_description(description);
    send_unless(google, call, Kind::AlreadyExists, || {
        google
            .clients
            .iam
            .create_service_account()
            .set_name(format!("projects/{}", google.project()))
            .set_account_id(account_id)
            .set_service_account(account.clone())
            .send()
    })
    .await
}

/// Deletes the account; true when it was there.
pub async fn delete(google: &Google, email: &str) -> anyhow::Result<bool> {
    let name = account_name(google.project(), email);
    let what = format!("delete service account {email}");
    let call = google.call(&what, ROLE);
    send_unless(google, call, Kind::NotFound, || {
        {
            google
                .clients
                .iam
                .delete_service_account()
                .set_name(&name)
                .send()
        }
    })
    .await
    .map(|done| done.is_some())
}

/// Which of `permissions` the caller holds on the service account `email` (IAM v1
/// `serviceAccounts.testIamPermissions`; `-` as the project finds it in any project). Like
/// [`super::projects::test_permissions`], only transient failures are retried.
pub async fn test_permissions(
    google: &Google,
    email: &str,
    permissions: &[&str],
) -> Result<Vec<String>, super::projects::NotChecked> {
    let what = format!("check the caller's permissions on service account {email}");
    let mut retry = google.retry().clone();
    retry.eventual_window = std::time::Duration::ZERO;
    let answer = retry
        .run(&what, || {
            google
                .clients
                .iam
                .test_iam_permissions()
                .set_resource(account_name("-", email))
                .set_permissions(permissions.iter().copied())
                .send()
        })
        .await
        .map_err(|e| {
            super::projects::NotChecked::from(e, google.call(&what, "no role (any caller may ask)"))
        })?;
    Ok(answer.permissions)
}
