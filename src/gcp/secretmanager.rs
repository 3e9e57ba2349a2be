//! Secret Manager v1: the secrets holding the Redis AUTH string and the NATS credentials: get,
//! create, add a version, compare the latest version with a value or read it back (the value
//! itself never goes into an error or a log), its accessor binding, delete.

use google_cloud_gax::error::Error as GaxError;
use google_cloud_secretmanager_v1::model::{Replication, Secret, SecretPayload, replication};

use super::Google;
use super::errors::{Kind, classify, explain};
use super::send_unless;

pub const ROLE: &str = "roles/secretmanager.admin";
/// What the service's identity gets on the secret, and only there.
pub const ACCESSOR: &str = "roles/secretmanager.secretAccessor";

pub fn secret_name(google: &Google, id: &str) -> String {
    format!("projects/{}/secrets/{id}", google.project())
}

pub async fn get(google: &Google, id: &str) -> anyhow::Result<Option<Secret>> {
    get_with(google, id, super::Read::Strict).await
}

/// [`get`], reading as `read` says (the other bus's secret: `IfPermitted`).
pub async fn get_with(
    google: &Google,
    id: &str,
    read: super::Read,
) -> anyhow::Result<Option<Secret>> {
    let name = secret_name(google, id);
    let what = format!("read secret {id}");
    super::read(google, google.call(&what, ROLE), read, || {
        google
            .clients
            .secretmanager
            .get_secret()
            .set_name(&name)
            .send()
    })
    .await
}

/// Creates the secret (automatic replication, `labels`); Ok(false) when the id is taken.
/// Creating is safe to retry: a create that went through answers ALREADY_EXISTS.
pub async fn create(
    google: &Google,
    id: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<bool> {
    let what = format!("create secret {id}");
    let secret = Secret::new()
        .set_replication(Replication::new().set_automatic(replication::Automatic::new()))
        .set_labels(labels.clone());
    let parent = format!("projects/{}", google.project());
    let sent = google
        .retry()
        .run(&what, || {
            google
                .clients
                .secretmanager
                .create_secret()
                .set_parent(&parent)
                .set_secret_id(id)
                .set_secret(secret.clone())
                .send()
        })
        .await;
    match sent {
        Ok(_) => Ok(true),
        Err(e) if classify(&e) == Kind::AlreadyExists => Ok(false),
        Err(e) => Err(explain(e, google.call(&what, ROLE))),
    }
}

/// The latest version's number and whether it holds `value`; None when there is no version.
pub async fn latest_holds(
    google: &Google,
    id: &str,
    value: &str,
) -> anyhow::Result<Option<(String, bool)>> {
    let what = format!("read the latest version of secret {id}");
    let found = send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        access_latest(google, id)
    })
    .await?;
    Ok(found.map(|(version, data)| (version, data == value.as_bytes())))
}

/// The latest version's number and value; None when there is no version. For a value chatctl
/// generated and must reuse (the NATS password): the caller keeps it out of every message.
pub async fn latest_value(google: &Google, id: &str) -> anyhow::Result<Option<(String, String)>> {
    let what = format!("read the latest version of secret {id}");
    let found = send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        access_latest(google, id)
    })
    .await?;
    Ok(found.map(|(version, data)| (version, String::from_utf8_lossy(&data).into_owned())))
}

async fn access_latest(google: &Google, id: &str) -> Result<(String, Vec<u8>), GaxError> {
    let response = google
        .clients
        .secretmanager
        .access_secret_version()
        .set_name(format!("{}/versions/latest", secret_name(google, id)))
        .send()
        .await?;
    let number = response
        .name
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let data = response
        .payload
        .map(|p| p.data.to_vec())
        .unwrap_or_default();
    Ok((number, data))
}

/// Adds `value` as a new version and returns its number. Not safe to repeat blindly (each
/// add is a version): after a transient failure the latest version is read first, and a
/// version that already holds `value` is taken as the one sent.
pub async fn add_version(google: &Google, id: &str, value: &str) -> anyhow::Result<String> {
    let what = format!("add a version to secret {id}");
    let parent = secret_name(google, id);
    let payload = SecretPayload::new()
        .set_data(value.as_bytes().to_vec())
        .set_data_crc32c(i64::from(crc32c::crc32c(value.as_bytes())));
    google
        .retry()
        .create_or_find(
            &what,
            || async {
                let version = google
                    .clients
                    .secretmanager
                    .add_secret_version()
                    .set_parent(&parent)
                    .set_payload(payload.clone())
                    .send()
                    .await?;
                Ok(version
                    .name
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string())
            },
            || async {
                match access_latest(google, id).await {
                    Ok((number, data)) if data == value.as_bytes() => Ok(Some(number)),
                    Ok(_) => Ok(None),
                    Err(e) if classify(&e) == Kind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await
        .map_err(|e| explain(e, google.call(&what, ROLE)))
}

/// Whether `member` holds the accessor role on the secret.
pub async fn has_accessor(google: &Google, id: &str, member: &str) -> anyhow::Result<bool> {
    let what = format!("read the IAM policy of secret {id}");
    let name = secret_name(google, id);
    let policy = super::send(google, google.call(&what, ROLE), || {
        google
            .clients
            .secretmanager
            .get_iam_policy()
            .set_resource(&name)
            .send()
    })
    .await?;
    Ok(super::policy::has_member(&policy, ACCESSOR, member))
}

/// Grants `member` the accessor role on the secret (read-modify-write with the etag).
pub async fn grant_accessor(google: &Google, id: &str, member: &str) -> anyhow::Result<bool> {
    let what = format!("grant {member} {ACCESSOR} on secret {id}");
    let name = secret_name(google, id);
    let client = &google.clients.secretmanager;
    super::policy::read_modify_write(
        google.retry(),
        google.call(&what, ROLE),
        || client.get_iam_policy().set_resource(&name).send(),
        |policy| {
            client
                .set_iam_policy()
                .set_resource(&name)
                .set_policy(policy)
                .send()
        },
        |policy| super::policy::add_member(policy, ACCESSOR, member),
    )
    .await
}

/// Deletes the secret and its versions; Ok(false) when it was already gone.
pub async fn delete(google: &Google, id: &str) -> anyhow::Result<bool> {
    let name = secret_name(google, id);
    let what = format!("delete secret {id}");
    let deleted = send_unless(google, google.call(&what, ROLE), Kind::NotFound, || {
        google
            .clients
            .secretmanager
            .delete_secret()
            .set_name(&name)
            .send()
    })
    .await?;
    Ok(deleted.is_some())
}
