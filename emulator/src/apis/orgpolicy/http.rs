//! The HTTP surface of Org Policy v2 on projects: `policies.getEffectivePolicy`, `policies.get`
//! and `policies.list` (reads only: a project's policies come from its description).

use axum::http::Method;
use serde_json::{Value, json};

use super::model;
use super::{ENUMS, GET_PERMISSION, LIST_PERMISSION, SERVICE};
use crate::error::ApiError;
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

async fn get_effective(call: Call) -> Result<Reply, ApiError> {
    let (project, constraint) = (call.param("project"), call.param("constraint"));
    let policy = call
        .emu
        .world(|w| model::effective(w.projects.ensure(project)?, constraint))?;
    Ok(Reply::Json(policy))
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let (project, constraint) = (call.param("project"), call.param("constraint"));
    let policy = call
        .emu
        .world(|w| model::policy(w.projects.ensure(project)?, constraint))?;
    Ok(Reply::Json(policy))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project");
    let all = call
        .emu
        .world(|w| w.projects.ensure(project).map(|p| model::policies(p)))?;
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
