//! The HTTP surface of Org Policy v2 on projects: `policies.getEffectivePolicy`, `policies.get`
//! and `policies.list` (reads only: a project's policies come from its description).

use axum::http::Method;
use serde_json::{Value, json};

use super::model;
use super::{ENUMS, GET_PERMISSION, LIST_PERMISSION, SERVICE};
use crate::error::ApiError;
use crate::projects::Project;
use crate::router::{Api, Call, Reply, paginate, row};

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::GET,
            "/v2/projects/{project}/policies/{constraint}:getEffectivePolicy",
            "orgpolicy.projects.policies.getEffectivePolicy",
            &[],
            |c| Box::pin(get_effective(c)),
        )
        .needs(GET_PERMISSION),
        row(
            Method::GET,
            "/v2/projects/{project}/policies/{constraint}",
            "orgpolicy.projects.policies.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs(GET_PERMISSION),
        row(
            Method::GET,
            "/v2/projects/{project}/policies",
            "orgpolicy.projects.policies.list",
            &["pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs(LIST_PERMISSION),
    ],
};

/// `projects/NUMBER/policies/CONSTRAINT`.
fn policy_name(project: &Project, constraint: &str) -> String {
    format!("projects/{}/policies/{constraint}", project.number)
}

/// The effective policy: the project's policy, else the constraint's default.
async fn get_effective(call: Call) -> Result<Reply, ApiError> {
    let (project, constraint) = (call.param("project"), call.param("constraint"));
    let (name, kind) = model::known_constraint(constraint)?;
    call.emu.world(|w| {
        let p = w.projects.ensure(project)?;
        let spec = model::effective(p.org_policy(name), kind);
        Ok(Reply::Json(
            json!({ "name": policy_name(p, name), "spec": spec }),
        ))
    })
}

/// The policy set on the project, or NOT_FOUND.
async fn get(call: Call) -> Result<Reply, ApiError> {
    let (project, constraint) = (call.param("project"), call.param("constraint"));
    let (name, _) = model::known_constraint(constraint)?;
    call.emu.world(|w| {
        let p = w.projects.ensure(project)?;
        let spec = p.org_policy(name).ok_or_else(|| {
            ApiError::not_found(format!("Policy {} not found.", policy_name(p, name)))
        })?;
        Ok(Reply::Json(
            json!({ "name": policy_name(p, name), "spec": spec }),
        ))
    })
}

/// Every policy set on the project.
async fn list(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project");
    let all: Vec<Value> = call.emu.world(|w| {
        w.projects.ensure(project).map(|p| {
            p.setup
                .iter()
                .flat_map(|s| &s.org_policies)
                .map(|(name, spec)| json!({ "name": policy_name(p, name), "spec": spec }))
                .collect()
        })
    })?;
    let (page, next) = paginate(&all, &call, 100)?;
    let mut answer = json!({});
    if !page.is_empty() {
        answer["policies"] = Value::Array(page);
    }
    if let Some(token) = next {
        answer["nextPageToken"] = json!(token);
    }
    Ok(Reply::Json(answer))
}
