//! The HTTP surface of Resource Manager: `GET /v{1,3}/projects/{id}` and
//! `POST /v{1,3}/projects/{id}:{get,set}IamPolicy`. The policy rules live in `crate::policy`;
//! what is project-specific here is which members a project policy accepts.

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SERVICE;
use crate::error::ApiError;
use crate::json::{EnumDef, EnumField};
use crate::policy::PolicyInput;
use crate::router::{Api, Call, Reply, row};
use crate::world::World;

static LOG_TYPE: EnumDef = EnumDef {
    name: "google.iam.v1.AuditLogConfig.LogType",
    values: &[
        ("LOG_TYPE_UNSPECIFIED", 0),
        ("ADMIN_READ", 1),
        ("DATA_WRITE", 2),
        ("DATA_READ", 3),
    ],
};
static PROJECT_STATE: EnumDef = EnumDef {
    name: "google.cloud.resourcemanager.v3.Project.State",
    values: &[
        ("STATE_UNSPECIFIED", 0),
        ("ACTIVE", 1),
        ("DELETE_REQUESTED", 2),
    ],
};

pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "auditLogConfigs.logType",
        def: &LOG_TYPE,
    },
    EnumField {
        path: "state",
        def: &PROJECT_STATE,
    },
];

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::GET,
            "/v3/projects/{project}",
            "cloudresourcemanager.projects.get",
            &[],
            |c| Box::pin(get_v3(c)),
        ),
        row(
            Method::GET,
            "/v1/projects/{project}",
            "cloudresourcemanager.projects.get",
            &[],
            |c| Box::pin(get_v1(c)),
        ),
        row(
            Method::POST,
            "/v3/projects/{project}:getIamPolicy",
            "cloudresourcemanager.projects.getIamPolicy",
            &[],
            |c| Box::pin(get_iam_policy(c)),
        ),
        row(
            Method::POST,
            "/v1/projects/{project}:getIamPolicy",
            "cloudresourcemanager.projects.getIamPolicy",
            &[],
            |c| Box::pin(get_iam_policy(c)),
        ),
        row(
            Method::POST,
            "/v3/projects/{project}:setIamPolicy",
            "cloudresourcemanager.projects.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        ),
        row(
            Method::POST,
            "/v1/projects/{project}:setIamPolicy",
            "cloudresourcemanager.projects.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        ),
    ],
};

async fn get_v3(call: Call) -> Result<Reply, ApiError> {
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok(Reply::Json(json!({
            "name": format!("projects/{}", p.number),
            "projectId": p.id,
            "displayName": p.id,
            "state": "ACTIVE",
            "etag": "W/\"emulated\"",
        })))
    })
}

async fn get_v1(call: Call) -> Result<Reply, ApiError> {
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok(Reply::Json(json!({
            "projectNumber": p.number.to_string(),
            "projectId": p.id,
            "name": p.id,
            "lifecycleState": "ACTIVE",
        })))
    })
}

async fn get_iam_policy(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Options {
        requested_policy_version: i32,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Body {
        resource: Option<String>,
        options: Option<Options>,
    }
    let body: Body = call.body()?;
    let _ = body.resource;
    let version = body.options.unwrap_or_default().requested_policy_version;
    if ![0, 1, 3].contains(&version) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid requested policy version {version}; valid versions are 0, 1 and 3."
        )));
    }
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok(Reply::Json(p.policy.to_json(version)))
    })
}

async fn set_iam_policy(call: Call) -> Result<Reply, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Body {
        resource: Option<String>,
        policy: Option<Value>,
        update_mask: Option<String>,
    }
    let body: Body = call.body()?;
    let _ = body.resource;
    let policy: PolicyInput = match body.policy {
        Some(v) => crate::json::from_value(v)?,
        None => return Err(ApiError::invalid_argument("policy is required.")),
    };
    call.emu.world(|w| {
        let World { projects, iam, .. } = w;
        let project = projects.ensure(call.param("project"))?;
        let check = |member: &str| project_member_allowed(iam, member);
        let policy = project
            .policy
            .set(policy, body.update_mask.as_deref(), &check)?;
        Ok(Reply::Json(policy))
    })
}

/// Project policies refuse public principals, and service accounts of the emulated IAM must
/// exist and be visible (a new account lags: "does not exist" for a while).
fn project_member_allowed(
    iam: &crate::apis::iam::model::Store,
    member: &str,
) -> Result<(), ApiError> {
    if member == "allUsers" || member == "allAuthenticatedUsers" {
        return Err(ApiError::invalid_argument(format!(
            "Policy members must be users, groups, domains or service accounts; {member} cannot be granted roles on a project."
        )));
    }
    if let Some(email) = member.strip_prefix("serviceAccount:")
        && email.ends_with(".iam.gserviceaccount.com")
        && !iam.is_visible_email(email)
    {
        return Err(ApiError::invalid_argument(format!(
            "Service account {email} does not exist."
        )));
    }
    Ok(())
}
