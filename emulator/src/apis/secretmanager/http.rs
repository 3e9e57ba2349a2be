//! The HTTP surface of Secret Manager v1 (global secrets): routes, request parsing, answers.

use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::model::{AddVersionRequest, Secret, secret_name};
use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::json;
use crate::policy::{SetRequest, requested_version};
use crate::router::{Api, Call, Reply, paginate, row};

const SECRETS_PATH: &str = "/v1/projects/{project}/secrets";
const SECRET_PATH: &str = "/v1/projects/{project}/secrets/{secret}";
const VERSIONS_PATH: &str = "/v1/projects/{project}/secrets/{secret}/versions";
const VERSION_PATH: &str = "/v1/projects/{project}/secrets/{secret}/versions/{version}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            SECRETS_PATH,
            "secretmanager.projects.secrets.create",
            &["secretId"],
            |c| Box::pin(create(c)),
        )
        .needs("secretmanager.secrets.create"),
        row(
            Method::GET,
            SECRETS_PATH,
            "secretmanager.projects.secrets.list",
            &["filter", "pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs("secretmanager.secrets.list"),
        row(
            Method::GET,
            SECRET_PATH,
            "secretmanager.projects.secrets.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("secretmanager.secrets.get"),
        row(
            Method::PATCH,
            SECRET_PATH,
            "secretmanager.projects.secrets.patch",
            &["updateMask"],
            |c| Box::pin(patch(c)),
        )
        .needs("secretmanager.secrets.update"),
        row(
            Method::DELETE,
            SECRET_PATH,
            "secretmanager.projects.secrets.delete",
            &["etag"],
            |c| Box::pin(delete(c)),
        )
        .needs("secretmanager.secrets.delete"),
        row(
            Method::POST,
            "/v1/projects/{project}/secrets/{secret}:addVersion",
            "secretmanager.projects.secrets.addVersion",
            &[],
            |c| Box::pin(add_version(c)),
        )
        .needs("secretmanager.versions.add"),
        row(
            Method::GET,
            "/v1/projects/{project}/secrets/{secret}:getIamPolicy",
            "secretmanager.projects.secrets.getIamPolicy",
            &["options.requestedPolicyVersion"],
            |c| Box::pin(get_iam_policy(c)),
        )
        .needs("secretmanager.secrets.getIamPolicy"),
        row(
            Method::POST,
            "/v1/projects/{project}/secrets/{secret}:setIamPolicy",
            "secretmanager.projects.secrets.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        )
        .needs("secretmanager.secrets.setIamPolicy"),
        row(
            Method::GET,
            VERSIONS_PATH,
            "secretmanager.projects.secrets.versions.list",
            &["filter", "pageSize", "pageToken"],
            |c| Box::pin(list_versions(c)),
        )
        .needs("secretmanager.versions.list"),
        row(
            Method::GET,
            VERSION_PATH,
            "secretmanager.projects.secrets.versions.get",
            &[],
            |c| Box::pin(get_version(c)),
        )
        .needs("secretmanager.versions.get"),
        row(
            Method::GET,
            "/v1/projects/{project}/secrets/{secret}/versions/{version}:access",
            "secretmanager.projects.secrets.versions.access",
            &[],
            |c| Box::pin(access(c)),
        )
        .needs("secretmanager.versions.access"),
        row(
            Method::POST,
            "/v1/projects/{project}/secrets/{secret}/versions/{version}:enable",
            "secretmanager.projects.secrets.versions.enable",
            &[],
            |c| Box::pin(change_state(c, "ENABLED")),
        )
        .needs("secretmanager.versions.enable"),
        row(
            Method::POST,
            "/v1/projects/{project}/secrets/{secret}/versions/{version}:disable",
            "secretmanager.projects.secrets.versions.disable",
            &[],
            |c| Box::pin(change_state(c, "DISABLED")),
        )
        .needs("secretmanager.versions.disable"),
        row(
            Method::POST,
            "/v1/projects/{project}/secrets/{secret}/versions/{version}:destroy",
            "secretmanager.projects.secrets.versions.destroy",
            &[],
            |c| Box::pin(change_state(c, "DESTROYED")),
        )
        .needs("secretmanager.versions.destroy"),
    ],
};

/// The secret's full name (`projects/NUMBER/secrets/ID`), the project given by ID or number.
fn name_of(call: &Call) -> Result<String, ApiError> {
    call.emu.world(|w| {
        let project = w.projects.ensure(call.param("project"))?;
        Ok(secret_name(project.number, call.param("secret")))
    })
}

/// A list answer: one page of `items` under `key`, `totalSize` and `nextPageToken`.
fn page_of<T: Clone + serde::Serialize>(
    key: &str,
    items: &[T],
    call: &Call,
) -> Result<Reply, ApiError> {
    let (page, next) = paginate(items, call, 25_000)?;
    let mut body = json!({ "totalSize": items.len() });
    if !page.is_empty() {
        body[key] = to_json(&page);
    }
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    let secret_id = call
        .query("secretId")
        .ok_or_else(|| {
            ApiError::invalid_argument("secret_id is required (query parameter secretId).")
        })?
        .to_string();
    let input: Secret = call.body()?;
    let secret = call.emu.world(|w| {
        let number = w.projects.ensure(call.param("project"))?.number;
        w.secretmanager.create(number, &secret_id, input)
    })?;
    Ok(Reply::Json(to_json(&secret)))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let filter = call.query("filter").unwrap_or_default().to_string();
    let all = call.emu.world(|w| {
        let number = w.projects.ensure(call.param("project"))?.number;
        Ok::<_, ApiError>(w.secretmanager.list(number))
    })?;
    let all: Vec<Secret> = all
        .into_iter()
        .filter(|s| matches_filter(s, &filter))
        .collect();
    page_of("secrets", &all, &call)
}

/// The list filter's simple form: `labels.KEY=VALUE` terms (ANDed), `name:TEXT`.
fn matches_filter(secret: &Secret, filter: &str) -> bool {
    filter
        .split(" AND ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some(rest) = term.strip_prefix("labels.")
                && let Some((key, value)) = rest.split_once(['=', ':'])
            {
                return secret.labels.get(key).map(String::as_str) == Some(value.trim_matches('"'));
            }
            if let Some(text) = term.strip_prefix("name:") {
                return secret.name.contains(text.trim_matches('"'));
            }
            secret.name.contains(term)
        })
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let secret = call
        .emu
        .world(|w| w.secretmanager.get(&name).map(|s| s.secret.clone()))?;
    Ok(Reply::Json(to_json(&secret)))
}

async fn patch(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let mask = json::field_mask(call.query("updateMask"));
    let input: Secret = call.body()?;
    let secret = call
        .emu
        .world(|w| w.secretmanager.patch(&name, &mask, input))?;
    Ok(Reply::Json(to_json(&secret)))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    call.emu.world(|w| {
        let etag = call.query("etag").filter(|e| !e.is_empty());
        w.secretmanager.delete(&name, etag)
    })?;
    Ok(Reply::Json(json!({})))
}

async fn add_version(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let body: AddVersionRequest = call.body()?;
    let _ = &body.parent;
    let version = call
        .emu
        .world(|w| w.secretmanager.add_version(&name, body.payload))?;
    Ok(Reply::Json(to_json(&version)))
}

async fn list_versions(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let filter = call.query("filter").unwrap_or_default().to_string();
    let all = call.emu.world(|w| {
        w.secretmanager.get(&name).map(|s| {
            s.versions
                .values()
                .rev()
                .map(|v| v.version.clone())
                .filter(|v| {
                    match filter
                        .strip_prefix("state:")
                        .or(filter.strip_prefix("state="))
                    {
                        Some(state) => v.state == state.trim(),
                        None => true,
                    }
                })
                .collect::<Vec<_>>()
        })
    })?;
    page_of("versions", &all, &call)
}

async fn get_version(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let version = call.emu.world(|w| {
        w.secretmanager
            .version(&name, call.param("version"))
            .map(|v| v.version.clone())
    })?;
    Ok(Reply::Json(to_json(&version)))
}

async fn access(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let (version, data) = call
        .emu
        .world(|w| w.secretmanager.access(&name, call.param("version")))?;
    Ok(Reply::Json(json!({
        "name": version,
        "payload": {
            "data": STANDARD.encode(&data),
            "dataCrc32c": crc32c::crc32c(&data).to_string(),
        },
    })))
}

async fn change_state(call: Call, state: &'static str) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let _: Value = call.body()?;
    let version = call.emu.world(|w| {
        w.secretmanager
            .set_version_state(&name, call.param("version"), state)
    })?;
    Ok(Reply::Json(to_json(&version)))
}

async fn get_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let version = requested_version(call.query_i32("options.requestedPolicyVersion")?)?;
    let policy = call.emu.world(|w| {
        w.secretmanager
            .get(&name)
            .map(|s| s.policy.to_json(version))
    })?;
    Ok(Reply::Json(policy))
}

async fn set_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let name = name_of(&call)?;
    let project = call.param("project").to_string();
    let body: SetRequest = call.body()?;
    let policy = body.policy()?;
    call.emu.world(|w| {
        let mut current = w.secretmanager.get(&name)?.policy.clone();
        let check = |member: &str| {
            crate::access::check_new_member(w, &project, member, crate::access::DRS_SERVICE_MESSAGE)
        };
        let answer = current.set(policy, body.update_mask(), &check)?;
        w.secretmanager.get_mut(&name)?.policy = current;
        Ok(Reply::Json(answer))
    })
}
