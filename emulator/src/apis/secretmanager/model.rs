//! Secrets, their versions and their IAM policies, with Secret Manager's rules: secret IDs,
//! required replication, names by project number, versions numbered from 1, the alias
//! `latest` (the newest ENABLED version), payloads of at most 64 KiB with an optional CRC32C,
//! etag preconditions on delete and the payload never shown by `/_emulator/resources`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::policy::Policy;
use crate::validate;

/// The largest payload Secret Manager takes.
const MAX_PAYLOAD: usize = 64 * 1024;

/// google.cloud.secretmanager.v1.Secret, as sent and as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Secret {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub version_aliases: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_destroy_ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_managed_encryption: Option<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_member: Option<Value>,
}

/// google.cloud.secretmanager.v1.SecretVersion (output only; the payload is kept apart).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    pub name: String,
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroy_time: Option<String>,
    pub state: String,
    pub replication_status: Value,
    pub etag: String,
    pub client_specified_payload_checksum: bool,
}

/// google.cloud.secretmanager.v1.SecretPayload as a request carries it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PayloadInput {
    pub data: String,
    pub data_crc32c: Option<String>,
}

/// The body of `:addVersion`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AddVersionRequest {
    pub parent: Option<String>,
    pub payload: Option<PayloadInput>,
}

/// A version with its payload (never serialised).
#[derive(Clone, Debug, Serialize)]
pub struct StoredVersion {
    #[serde(flatten)]
    pub version: SecretVersion,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// A stored secret: the resource, its versions by number, its IAM policy.
#[derive(Clone, Debug, Serialize)]
pub struct Stored {
    pub secret: Secret,
    pub versions: BTreeMap<u64, StoredVersion>,
    pub policy: Policy,
    #[serde(skip)]
    revision: u64,
}

/// All secrets, by full name (`projects/NUMBER/secrets/ID`).
#[derive(Default, Serialize)]
pub struct Store {
    secrets: BTreeMap<String, Stored>,
}

/// `projects/NUMBER/secrets/ID`: Secret Manager answers with the project's number.
pub fn secret_name(project_number: u64, secret_id: &str) -> String {
    format!("projects/{project_number}/secrets/{secret_id}")
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Secret [{name}] not found."))
}

fn version_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Secret Version [{name}] not found or has no versions."
    ))
}

/// A secret ID: 1-255 letters, digits, hyphens and underscores.
fn valid_secret_id(id: &str) -> bool {
    (1..=255).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The etag Secret Manager shows: a quoted decimal.
fn etag_of(revision: u64) -> String {
    format!("\"{revision}\"")
}

impl Store {
    pub fn get(&self, name: &str) -> Result<&Stored, ApiError> {
        self.secrets.get(name).ok_or_else(|| not_found(name))
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut Stored, ApiError> {
        self.secrets.get_mut(name).ok_or_else(|| not_found(name))
    }

    /// The project's secrets, by name.
    pub fn list(&self, project_number: u64) -> Vec<Secret> {
        let prefix = format!("projects/{project_number}/secrets/");
        self.secrets
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(_, s)| s.secret.clone())
            .collect()
    }

    /// `secrets.create`: the ID rule, a replication policy, valid labels, a free name.
    pub fn create(
        &mut self,
        project_number: u64,
        secret_id: &str,
        input: Secret,
    ) -> Result<Secret, ApiError> {
        if !valid_secret_id(secret_id) {
            return Err(ApiError::invalid_argument(format!(
                "Secret id [{secret_id}] is invalid: it must be 1 to 255 letters, digits, hyphens (-) and underscores (_)."
            )));
        }
        let replication = input.replication.clone().unwrap_or(Value::Null);
        let kinds = ["automatic", "userManaged"]
            .iter()
            .filter(|k| replication.get(**k).is_some())
            .count();
        if kinds != 1 {
            return Err(ApiError::invalid_argument(
                "Secret.replication is required: set exactly one of replication.automatic or replication.userManaged.",
            ));
        }
        validate::labels(&input.labels)?;
        let name = secret_name(project_number, secret_id);
        if self.secrets.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Secret [{name}] already exists."
            )));
        }
        let secret = Secret {
            name: name.clone(),
            create_time: Some(crate::json::now_timestamp()),
            etag: etag_of(1),
            ttl: None,
            tags: BTreeMap::new(),
            policy_member: None,
            ..input
        };
        self.secrets.insert(
            name,
            Stored {
                secret: secret.clone(),
                versions: BTreeMap::new(),
                policy: Policy::empty(),
                revision: 1,
            },
        );
        Ok(secret)
    }

    /// `secrets.patch`: the masked fields that may change (labels, annotations, topics,
    /// rotation, expiry, version aliases).
    pub fn patch(
        &mut self,
        name: &str,
        mask: &[String],
        input: Secret,
    ) -> Result<Secret, ApiError> {
        if mask.is_empty() {
            return Err(ApiError::invalid_argument(
                "update_mask is required: name the fields to update (e.g. labels).",
            ));
        }
        let stored = self.get_mut(name)?;
        if !input.etag.is_empty() && input.etag != stored.secret.etag {
            return Err(etag_mismatch(name));
        }
        let mut next = stored.secret.clone();
        for field in mask {
            match field.as_str() {
                "labels" => {
                    validate::labels(&input.labels)?;
                    next.labels = input.labels.clone();
                }
                "annotations" => next.annotations = input.annotations.clone(),
                "topics" => next.topics = input.topics.clone(),
                "rotation" => next.rotation = input.rotation.clone(),
                "expireTime" => next.expire_time = input.expire_time.clone(),
                "versionAliases" => next.version_aliases = input.version_aliases.clone(),
                "versionDestroyTtl" => next.version_destroy_ttl = input.version_destroy_ttl.clone(),
                other => {
                    return Err(ApiError::invalid_argument(format!(
                        "The update_mask field '{other}' cannot be updated (replication and secretType are immutable)."
                    )));
                }
            }
        }
        stored.revision += 1;
        next.etag = etag_of(stored.revision);
        stored.secret = next.clone();
        Ok(next)
    }

    /// `secrets.delete`, with the optional etag precondition.
    pub fn delete(&mut self, name: &str, etag: Option<&str>) -> Result<(), ApiError> {
        let stored = self.get(name)?;
        if let Some(etag) = etag
            && etag != stored.secret.etag
        {
            return Err(etag_mismatch(name));
        }
        self.secrets.remove(name);
        Ok(())
    }

    /// `secrets.addVersion`: a payload of at most 64 KiB whose CRC32C, when sent, matches.
    pub fn add_version(
        &mut self,
        name: &str,
        payload: Option<PayloadInput>,
    ) -> Result<SecretVersion, ApiError> {
        let payload = payload.ok_or_else(|| {
            ApiError::invalid_argument("payload is required: a SecretPayload with data.")
        })?;
        let data = STANDARD.decode(&payload.data).map_err(|_| {
            ApiError::invalid_argument("Invalid value at 'payload.data' (TYPE_BYTES)")
        })?;
        if data.len() > MAX_PAYLOAD {
            return Err(ApiError::invalid_argument(format!(
                "Secret payload is too large: {} bytes (at most {MAX_PAYLOAD}).",
                data.len()
            )));
        }
        let checksum = match payload.data_crc32c.as_deref() {
            None => false,
            Some(sent) => {
                if sent.parse::<u64>().ok() != Some(u64::from(crc32c::crc32c(&data))) {
                    return Err(ApiError::invalid_argument(
                        "Checksum mismatch: payload.data_crc32c does not match the CRC32C of payload.data.",
                    ));
                }
                true
            }
        };
        let stored = self.get_mut(name)?;
        let number = stored.versions.keys().next_back().map_or(1, |n| n + 1);
        let version = SecretVersion {
            name: format!("{name}/versions/{number}"),
            create_time: crate::json::now_timestamp(),
            destroy_time: None,
            state: "ENABLED".to_string(),
            replication_status: serde_json::json!({ "automatic": {} }),
            etag: etag_of(1),
            client_specified_payload_checksum: checksum,
        };
        stored.versions.insert(
            number,
            StoredVersion {
                version: version.clone(),
                data,
            },
        );
        Ok(version)
    }

    /// The version `id` names (a number, or `latest`: the newest ENABLED one).
    pub fn version(&self, name: &str, id: &str) -> Result<&StoredVersion, ApiError> {
        let stored = self.get(name)?;
        let full = format!("{name}/versions/{id}");
        let found = if id == "latest" {
            stored
                .versions
                .values()
                .rev()
                .find(|v| v.version.state == "ENABLED")
        } else {
            let number = id.parse::<u64>().map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Secret Version [{full}] is invalid: a version is a number or 'latest'."
                ))
            })?;
            stored.versions.get(&number)
        };
        found.ok_or_else(|| version_not_found(&full))
    }

    /// `versions.access`: the payload of an ENABLED version.
    pub fn access(&self, name: &str, id: &str) -> Result<(String, Vec<u8>), ApiError> {
        let version = self.version(name, id)?;
        if version.version.state != "ENABLED" {
            return Err(ApiError::failed_precondition(format!(
                "Secret Version [{}] is in {} state.",
                version.version.name, version.version.state
            )));
        }
        Ok((version.version.name.clone(), version.data.clone()))
    }

    /// `versions.enable` / `disable` / `destroy`.
    pub fn set_version_state(
        &mut self,
        name: &str,
        id: &str,
        state: &str,
    ) -> Result<SecretVersion, ApiError> {
        let number = self
            .version(name, id)?
            .version
            .name
            .rsplit('/')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_default();
        let stored = self.get_mut(name)?;
        let version = stored
            .versions
            .get_mut(&number)
            .ok_or_else(|| version_not_found(&format!("{name}/versions/{id}")))?;
        if version.version.state == "DESTROYED" {
            return Err(ApiError::failed_precondition(format!(
                "Secret Version [{}] is in DESTROYED state.",
                version.version.name
            )));
        }
        version.version.state = state.to_string();
        if state == "DESTROYED" {
            version.data.clear();
            version.version.destroy_time = Some(crate::json::now_timestamp());
        }
        Ok(version.version.clone())
    }
}

fn etag_mismatch(name: &str) -> ApiError {
    ApiError::aborted(format!(
        "The etag provided does not match the etag of Secret [{name}]."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_are_letters_digits_hyphens_and_underscores() {
        assert!(valid_secret_id("chatctl-dev_redis-auth"));
        assert!(!valid_secret_id(""));
        assert!(!valid_secret_id("a.b"));
        assert!(!valid_secret_id(&"a".repeat(256)));
    }
}
