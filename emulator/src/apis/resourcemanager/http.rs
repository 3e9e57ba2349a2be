//! The HTTP surface of Resource Manager: `GET /v{1,3}/projects/{id}` and
//! `POST /v{1,3}/projects/{id}:{get,set}IamPolicy` and `:testIamPermissions`. The policy rules live in `crate::policy`;
//! what is project-specific here is which members a project policy accepts.

use axum::http::Method;
use serde_json::json;

use super::SERVICE;
use crate::error::ApiError;
use crate::json::{EnumDef, EnumField};
use crate::policy::{GetRequest, SetRequest, requested_version};
use crate::router::{Api, Call, Reply, row};

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
        )
        .needs("resourcemanager.projects.get"),
        row(
            Method::GET,
            "/v1/projects/{project}",
            "cloudresourcemanager.projects.get",
            &[],
            |c| Box::pin(get_v1(c)),
        )
        .needs("resourcemanager.projects.get"),
        row(
            Method::POST,
            "/v3/projects/{project}:getIamPolicy",
            "cloudresourcemanager.projects.getIamPolicy",
            &[],
            |c| Box::pin(get_iam_policy(c)),
        )
        .needs("resourcemanager.projects.getIamPolicy"),
        row(
            Method::POST,
            "/v1/projects/{project}:getIamPolicy",
            "cloudresourcemanager.projects.getIamPolicy",
            &[],
            |c| Box::pin(get_iam_policy(c)),
        )
        .needs("resourcemanager.projects.getIamPolicy"),
        row(
            Method::POST,
            "/v3/projects/{project}:setIamPolicy",
            "cloudresourcemanager.projects.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        )
        .needs("resourcemanager.projects.setIamPolicy"),
        row(
            Method::POST,
            "/v1/projects/{project}:setIamPolicy",
            "cloudresourcemanager.projects.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        )
        .needs("resourcemanager.projects.setIamPolicy"),
        row(
            Method::POST,
            "/v3/projects/{project}:testIamPermissions",
            "cloudresourcemanager.projects.testIamPermissions",
            &[],
            |c| Box::pin(test_iam_permissions(c)),
        ),
        row(
            Method::POST,
            "/v1/projects/{project}:testIamPermissions",
            "cloudresourcemanager.projects.testIamPermissions",
            &[],
            |c| Box::pin(test_iam_permissions(c)),
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
    let body: GetRequest = call.body()?;
    let version = requested_version(body.version())?;
    call.emu.world(|w| {
        let p = w.projects.ensure(call.param("project"))?;
        Ok(Reply::Json(p.policy.to_json(version)))
    })
}

async fn set_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let body: SetRequest = call.body()?;
    let policy = body.policy()?;
    call.emu.world(|w| {
        let id = w.projects.ensure(call.param("project"))?.id.clone();
        let mut current = w
            .projects
            .get(&id)
            .map(|p| p.policy.clone())
            .unwrap_or_else(crate::policy::Policy::empty);
        let check = |member: &str| {
            if member == "allUsers" || member == "allAuthenticatedUsers" {
                return Err(ApiError::invalid_argument(format!(
                    "Policy members must be users, groups, domains or service accounts; {member} cannot be granted roles on a project."
                )));
            }
            crate::access::check_new_member(w, &id, member, crate::access::DRS_PROJECT_MESSAGE)
        };
        let answer = current.set(policy, body.update_mask(), &check)?;
        let project = w.projects.ensure(&id)?;
        let before = std::mem::replace(&mut project.policy, current);
        project.bindings_added(&before, call.emu.after(crate::projects::IAM_PROPAGATION));
        Ok(Reply::Json(answer))
    })
}

/// `:testIamPermissions`: the asked permissions the caller holds on the project (all of them
/// where the project does not enforce IAM). Needs no permission of its own.
async fn test_iam_permissions(call: Call) -> Result<Reply, ApiError> {
    let asked: crate::access::TestRequest = call.body()?;
    if let Some(bad) = asked
        .permissions
        .iter()
        .find(|p| p.contains('*') || p.split('.').count() < 3)
    {
        return Err(ApiError::invalid_argument(format!(
            "Permission {bad} is not valid: name permissions as service.resource.verb, without wildcards."
        )));
    }
    call.emu.world(|w| {
        let id = w.projects.ensure(call.param("project"))?.id.clone();
        Ok(Reply::Json(crate::access::test_response(
            w,
            &id,
            call.principal.as_deref(),
            &asked,
            None,
        )))
    })
}
