//! The HTTP surface of IAM v1 service accounts and their keys (all synchronous).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{Key, ServiceAccount, VISIBILITY_LAG};
use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::router::{Api, Call, Reply, paginate, row};
use crate::validate;

const ACCOUNTS_PATH: &str = "/v1/projects/{project}/serviceAccounts";
const ACCOUNT_PATH: &str = "/v1/projects/{project}/serviceAccounts/{account}";
const KEYS_PATH: &str = "/v1/projects/{project}/serviceAccounts/{account}/keys";
const KEY_PATH: &str = "/v1/projects/{project}/serviceAccounts/{account}/keys/{key}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            ACCOUNTS_PATH,
            "iam.projects.serviceAccounts.create",
            &[],
            |c| Box::pin(create(c)),
        )
        .needs("iam.serviceAccounts.create"),
        row(
            Method::GET,
            ACCOUNTS_PATH,
            "iam.projects.serviceAccounts.list",
            &["pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs("iam.serviceAccounts.list"),
        row(
            Method::GET,
            ACCOUNT_PATH,
            "iam.projects.serviceAccounts.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("iam.serviceAccounts.get"),
        row(
            Method::DELETE,
            ACCOUNT_PATH,
            "iam.projects.serviceAccounts.delete",
            &[],
            |c| Box::pin(delete(c)),
        )
        .needs("iam.serviceAccounts.delete"),
        row(
            Method::POST,
            KEYS_PATH,
            "iam.projects.serviceAccounts.keys.create",
            &[],
            |c| Box::pin(create_key(c)),
        )
        .needs("iam.serviceAccountKeys.create"),
        row(
            Method::POST,
            "/v1/projects/{project}/serviceAccounts/{account}/keys:upload",
            "iam.projects.serviceAccounts.keys.upload",
            &[],
            |c| Box::pin(upload_key(c)),
        )
        .needs("iam.serviceAccountKeys.create"),
        row(
            Method::GET,
            KEYS_PATH,
            "iam.projects.serviceAccounts.keys.list",
            &["keyTypes"],
            |c| Box::pin(list_keys(c)),
        )
        .needs("iam.serviceAccountKeys.list"),
        row(
            Method::GET,
            KEY_PATH,
            "iam.projects.serviceAccounts.keys.get",
            &["publicKeyType"],
            |c| Box::pin(get_key(c)),
        )
        .needs("iam.serviceAccountKeys.get"),
        row(
            Method::DELETE,
            KEY_PATH,
            "iam.projects.serviceAccounts.keys.delete",
            &[],
            |c| Box::pin(delete_key(c)),
        )
        .needs("iam.serviceAccountKeys.delete"),
        row(
            Method::POST,
            "/v1/projects/{project}/serviceAccounts/{account}:getIamPolicy",
            "iam.projects.serviceAccounts.getIamPolicy",
            &["options.requestedPolicyVersion"],
            |c| Box::pin(get_iam_policy(c)),
        )
        .needs("iam.serviceAccounts.getIamPolicy"),
        row(
            Method::POST,
            "/v1/projects/{project}/serviceAccounts/{account}:setIamPolicy",
            "iam.projects.serviceAccounts.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        )
        .needs("iam.serviceAccounts.setIamPolicy"),
        row(
            Method::POST,
            "/v1/projects/{project}/serviceAccounts/{account}:testIamPermissions",
            "iam.projects.serviceAccounts.testIamPermissions",
            &[],
            |c| Box::pin(test_iam_permissions(c)),
        ),
    ],
};

/// A missing account: 404, or 403 through the `projects/-` wildcard (discovery doc).
fn missing(call: &Call) -> ApiError {
    if call.param("project") == "-" {
        ApiError::permission_denied(
            "Permission 'iam.serviceAccounts.get' denied on resource (or it may not exist).",
        )
        .with_error_info(
            "IAM_PERMISSION_DENIED",
            "iam.googleapis.com",
            json!({ "permission": "iam.serviceAccounts.get" }),
        )
    } else {
        ApiError::not_found("Unknown service account")
    }
}

fn to_json(account: &ServiceAccount) -> Value {
    serde_json::to_value(account).unwrap_or_default()
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: String,
        #[serde(default)]
        account_id: String,
        #[serde(default)]
        service_account: Option<AccountFields>,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct AccountFields {
        display_name: String,
        description: String,
        // Output-only fields a client may echo; ignored.
        name: Option<String>,
        project_id: Option<String>,
        unique_id: Option<String>,
        email: Option<String>,
        etag: Option<String>,
        oauth2_client_id: Option<String>,
        disabled: Option<bool>,
    }
    let project = call.param("project").to_string();
    let body: Body = call.body()?;
    let _ = body.name;
    if !validate::lower_id(&body.account_id, 6, 30) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid account ID \"{}\": it must be 6-30 characters of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen ([a-z]([-a-z0-9]*[a-z0-9])).",
            body.account_id
        )));
    }
    let fields = body.service_account.unwrap_or_default();
    if fields.display_name.len() > 100 {
        return Err(ApiError::invalid_argument(
            "displayName must be at most 100 bytes.",
        ));
    }
    if fields.description.len() > 256 {
        return Err(ApiError::invalid_argument(
            "description must be at most 256 bytes.",
        ));
    }
    let email = format!("{}@{project}.iam.gserviceaccount.com", body.account_id);
    // 21 digits, like Google's.
    let unique_id = format!("1{:020}", call.emu.random_range(0..u64::MAX));
    let account = ServiceAccount {
        name: format!("projects/{project}/serviceAccounts/{email}"),
        project_id: project.clone(),
        unique_id: unique_id.clone(),
        email,
        display_name: fields.display_name,
        description: fields.description,
        etag: "MDEwMjE5MjA=".to_string(),
        oauth2_client_id: unique_id,
        disabled: false,
        visible_at: call.emu.after(VISIBILITY_LAG),
        keys: Vec::new(),
        policy: crate::policy::Policy::empty(),
    };
    let created = call.emu.world(|w| w.iam.create(account))?;
    Ok(Reply::Json(to_json(&created)))
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let found = call.emu.world(|w| {
        w.iam
            .find(call.param("project"), call.param("account"))
            .cloned()
    });
    found
        .map(|a| Reply::Json(to_json(&a)))
        .ok_or_else(|| missing(&call))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let all = call.emu.world(|w| w.iam.list(call.param("project")));
    let (page, next) = paginate(&all, &call, 20)?;
    let mut body = json!({});
    if !page.is_empty() {
        body["accounts"] = serde_json::to_value(page).unwrap_or_default();
    }
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let removed = call.emu.world(|w| {
        let email = w
            .iam
            .find(call.param("project"), call.param("account"))?
            .email
            .clone();
        let account = w.iam.remove(&email)?;
        if let Ok(project) = w.projects.ensure(&account.project_id) {
            project.policy.rename_member(
                &format!("serviceAccount:{email}"),
                &format!("deleted:serviceAccount:{email}?uid={}", account.unique_id),
            );
        }
        Some(account)
    });
    match removed {
        Some(_) => Ok(Reply::Json(json!({}))),
        None => Err(ApiError::not_found(format!(
            "Service account projects/{}/serviceAccounts/{} does not exist.",
            call.param("project"),
            call.param("account")
        ))),
    }
}

/// Wraps DER bytes as PEM.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn new_key_id(call: &Call) -> String {
    call.emu.random_hex(20)
}

/// `keys.create`: the emulator generates an RSA 2048 key and answers a credentials JSON
/// (`privateKeyData`, base64) whose `token_uri` is this emulator's `/token`.
async fn create_key(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    #[derive(Default)]
    struct Body {
        name: String,
        private_key_type: Option<String>,
        key_algorithm: Option<String>,
    }
    let body: Body = call.body()?;
    let _ = body.name;
    if body.private_key_type.as_deref() == Some("TYPE_PKCS12_FILE") {
        return Err(ApiError::invalid_argument(
            "The emulator issues TYPE_GOOGLE_CREDENTIALS_FILE keys only; ask for that private key type.",
        ));
    }
    if body.key_algorithm.as_deref() == Some("KEY_ALG_RSA_1024") {
        return Err(ApiError::invalid_argument(
            "KEY_ALG_RSA_1024 keys can no longer be created; use KEY_ALG_RSA_2048.",
        ));
    }
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| ApiError::internal("RSA key generation failed"))?;
    let private_der: Pkcs8V1Der<'static> = pair
        .as_der()
        .map_err(|_| ApiError::internal("key encoding failed"))?;
    let public_der: PublicKeyX509Der<'static> = pair
        .public_key()
        .as_der()
        .map_err(|_| ApiError::internal("key encoding failed"))?;
    let key = Key {
        id: new_key_id(&call),
        public_key_pem: pem("PUBLIC KEY", public_der.as_ref()),
        origin: "GOOGLE_PROVIDED",
        valid_after: crate::json::now_timestamp(),
    };
    let token_uri = format!("{}/token", call.emu.base_url());
    call.emu.world(|w| {
        let account = w
            .iam
            .find_mut(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        account.add_key(key.clone())?;
        let credentials = json!({
            "type": "service_account",
            "project_id": account.project_id,
            "private_key_id": key.id,
            "private_key": pem("PRIVATE KEY", private_der.as_ref()),
            "client_email": account.email,
            "client_id": account.unique_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        });
        let mut out = key.to_json(&account.name);
        out["privateKeyType"] = json!("TYPE_GOOGLE_CREDENTIALS_FILE");
        out["privateKeyData"] = json!(STANDARD.encode(credentials.to_string()));
        Ok(Reply::Json(out))
    })
}

/// `keys:upload`: `publicKeyData` is base64 of a PEM X.509 certificate (Google's rule) or, as
/// an emulator convenience, of a PEM `PUBLIC KEY`.
async fn upload_key(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Body {
        name: String,
        public_key_data: String,
    }
    let body: Body = call.body()?;
    let _ = body.name;
    let pem_text = STANDARD
        .decode(body.public_key_data.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "publicKeyData must be base64 of a PEM-encoded X.509 certificate.",
            )
        })?;
    let usable = (pem_text.contains("BEGIN CERTIFICATE") || pem_text.contains("BEGIN PUBLIC KEY"))
        && jsonwebtoken::DecodingKey::from_rsa_pem(pem_text.as_bytes()).is_ok();
    if !usable {
        return Err(ApiError::invalid_argument(
            "publicKeyData is not a valid RSA public key: upload a PEM-encoded X.509 certificate (or PEM public key) of an RSA key.",
        ));
    }
    let key = Key {
        id: new_key_id(&call),
        public_key_pem: pem_text,
        origin: "USER_PROVIDED",
        valid_after: crate::json::now_timestamp(),
    };
    call.emu.world(|w| {
        let account = w
            .iam
            .find_mut(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        account.add_key(key.clone())?;
        Ok(Reply::Json(key.to_json(&account.name)))
    })
}

async fn list_keys(call: Call) -> Result<Reply, ApiError> {
    call.emu.world(|w| {
        let account = w
            .iam
            .find(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        let keys: Vec<Value> = account
            .keys
            .iter()
            .map(|k| k.to_json(&account.name))
            .collect();
        Ok(Reply::Json(json!({ "keys": keys })))
    })
}

fn key_not_found(call: &Call) -> ApiError {
    ApiError::not_found(format!(
        "Service account key projects/{}/serviceAccounts/{}/keys/{} does not exist.",
        call.param("project"),
        call.param("account"),
        call.param("key")
    ))
}

async fn get_key(call: Call) -> Result<Reply, ApiError> {
    call.emu.world(|w| {
        let account = w
            .iam
            .find(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        let key = account
            .keys
            .iter()
            .find(|k| k.id == call.param("key"))
            .ok_or_else(|| key_not_found(&call))?;
        let mut out = key.to_json(&account.name);
        if call
            .query("publicKeyType")
            .is_some_and(|t| t != "TYPE_NONE" && t != "0")
        {
            out["publicKeyData"] = json!(STANDARD.encode(&key.public_key_pem));
        }
        Ok(Reply::Json(out))
    })
}

async fn delete_key(call: Call) -> Result<Reply, ApiError> {
    call.emu.world(|w| {
        let account = w
            .iam
            .find_mut(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        let before = account.keys.len();
        account.keys.retain(|k| k.id != call.param("key"));
        if account.keys.len() == before {
            return Err(key_not_found(&call));
        }
        Ok(Reply::Json(json!({})))
    })
}

/// `:getIamPolicy` of a service account: who may act as it or manage it.
async fn get_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let body: crate::policy::GetRequest = call.body()?;
    let version = match call.query_i32("options.requestedPolicyVersion")? {
        0 => body.version(),
        v => v,
    };
    let version = crate::policy::requested_version(version)?;
    call.emu.world(|w| {
        let account = w
            .iam
            .find(call.param("project"), call.param("account"))
            .ok_or_else(|| missing(&call))?;
        Ok(Reply::Json(account.policy.to_json(version)))
    })
}

/// The email and project of the route's account, or Google's answer for a missing one.
fn account_of(w: &crate::world::World, call: &Call) -> Result<(String, String), ApiError> {
    w.iam
        .find(call.param("project"), call.param("account"))
        .map(|a| (a.email.clone(), a.project_id.clone()))
        .ok_or_else(|| missing(call))
}

/// `:setIamPolicy` of a service account (etag concurrency, members must exist; Domain
/// Restricted Sharing applies as on the project).
async fn set_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let body: crate::policy::SetRequest = call.body()?;
    let policy = body.policy()?;
    call.emu.world(|w| {
        let (email, project) = account_of(w, &call)?;
        let mut current = w
            .iam
            .policy_of(&email)
            .cloned()
            .unwrap_or_else(crate::policy::Policy::empty);
        let check = |member: &str| {
            crate::access::check_new_member(w, &project, member, crate::access::DRS_PROJECT_MESSAGE)
        };
        let answer = current.set(policy, body.update_mask(), &check)?;
        if let Some(account) = w.iam.find_mut_any(&email) {
            account.policy = current;
        }
        Ok(Reply::Json(answer))
    })
}

/// `:testIamPermissions` of a service account: the asked permissions the caller holds on it
/// (through the project's policy or the account's own).
async fn test_iam_permissions(call: Call) -> Result<Reply, ApiError> {
    let asked: crate::access::TestRequest = call.body()?;
    call.emu.world(|w| {
        let (email, project) = account_of(w, &call)?;
        Ok(Reply::Json(crate::access::test_response(
            w,
            &project,
            call.principal.as_deref(),
            &asked,
            Some(&email),
        )))
    })
}
