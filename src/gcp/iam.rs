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
