//! The HTTP surface of Cloud Run Admin v2: service routes and their operations (metadata and
//! response are the Service). A create or update records the next version and schedules its
//! rollout (≈ 45 s × time scale, see `rollout.rs`); deletes take ≈ 10 s, tell
//! `service_deleted` and answer the deleted Service.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};

use super::model::{
    CREATE_CONFLICT_WINDOW, apply_defaults, check_id, check_spec, condition, generation_of,
    not_found,
};
use super::references::check_references;
use super::rollout::{Target, rollout};
use super::service::Service;
use super::{ENUMS, SERVICE, SERVICE_TYPE};
use crate::error::ApiError;
use crate::json;
use crate::ops;
use crate::policy::{SetRequest, requested_version};
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;
use crate::world::World;

const DEPLOY_LATENCY: Duration = Duration::from_secs(45);
const DELETE_LATENCY: Duration = Duration::from_secs(10);

const SERVICES_PATH: &str = "/v2/projects/{project}/locations/{location}/services";
const SERVICE_PATH: &str = "/v2/projects/{project}/locations/{location}/services/{service}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            SERVICES_PATH,
            "run.projects.locations.services.create",
            &["serviceId", "validateOnly"],
            |c| Box::pin(create(c)),
        )
        .needs("run.services.create"),
        row(
            Method::GET,
            SERVICES_PATH,
            "run.projects.locations.services.list",
            &["pageSize", "pageToken", "showDeleted"],
            |c| Box::pin(list(c)),
        )
        .needs("run.services.list"),
        row(
            Method::GET,
            SERVICE_PATH,
            "run.projects.locations.services.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("run.services.get"),
        row(
            Method::PATCH,
            SERVICE_PATH,
            "run.projects.locations.services.patch",
            &[
                "allowMissing",
                "forceNewRevision",
                "updateMask",
                "validateOnly",
            ],
            |c| Box::pin(patch(c)),
        )
        .needs("run.services.update"),
        row(
            Method::DELETE,
            SERVICE_PATH,
            "run.projects.locations.services.delete",
            &["etag", "validateOnly"],
            |c| Box::pin(delete(c)),
        )
        .needs("run.services.delete"),
        row(
            Method::GET,
            "/v2/projects/{project}/locations/{location}/services/{service}:getIamPolicy",
            "run.projects.locations.services.getIamPolicy",
            &["options.requestedPolicyVersion"],
            |c| Box::pin(get_iam_policy(c)),
        )
        .needs("run.services.getIamPolicy"),
        row(
            Method::POST,
            "/v2/projects/{project}/locations/{location}/services/{service}:setIamPolicy",
            "run.projects.locations.services.setIamPolicy",
            &[],
            |c| Box::pin(set_iam_policy(c)),
        )
        .needs("run.services.setIamPolicy"),
    ],
};

fn target(call: &Call, id: &str) -> Target {
    let (project, location) = (call.param("project"), call.param("location"));
    Target {
        project: project.to_string(),
        location: location.to_string(),
        id: id.to_string(),
        name: format!("projects/{project}/locations/{location}/services/{id}"),
    }
}

/// A UUID-shaped id (Cloud Run's operation and service uids).
fn uuid(emu: &Emu) -> String {
    let h = emu.random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The operation for a change of `service`, its metadata the Service itself.
fn start_op(
    emu: &Emu,
    w: &mut World,
    t: &Target,
    service: &Service,
    done: bool,
) -> (String, Value) {
    let name = format!(
        "projects/{}/locations/{}/operations/{}",
        t.project,
        t.location,
        uuid(emu)
    );
    let packed = ops::any(SERVICE_TYPE, service);
    let op = if done {
        w.operations
            .start_done(name.clone(), SERVICE, packed.clone(), Ok(packed))
    } else {
        w.operations.start(name.clone(), SERVICE, packed)
    };
    (name, op)
}

/// The next version of a service after a create or update: output fields recomputed, a new
/// revision when the template changed, Ready back to reconciling.
fn next_version(
    emu: &Emu,
    t: &Target,
    number: u64,
    mut input: Service,
    previous: Option<&Service>,
) -> Service {
    apply_defaults(&mut input, number);
    let generation = previous.map_or(0, generation_of) + 1;
    let now = json::now_timestamp();
    let template_changed = previous.is_none_or(|p| p.template != input.template);
    let revision = match previous {
        Some(p) if !template_changed => p.latest_created_revision.clone(),
        _ => {
            let letters: String = emu
                .random_hex(3)
                .bytes()
                .map(|b| (b'a' + b % 26) as char)
                .take(3)
                .collect();
            format!("{}-{generation:05}-{letters}", t.id)
        }
    };
    let reconciling = |kind: &str| condition(kind, "CONDITION_RECONCILING", None, "");
    Service {
        name: t.name.clone(),
        uid: previous.map_or_else(|| uuid(emu), |p| p.uid.clone()),
        generation: Some(json!(generation.to_string())),
        create_time: Some(
            previous
                .and_then(|p| p.create_time.clone())
                .unwrap_or_else(|| now.clone()),
        ),
        update_time: Some(now),
        delete_time: None,
        expire_time: None,
        creator: previous.map(|p| p.creator.clone()).unwrap_or_default(),
        observed_generation: previous.and_then(|p| p.observed_generation.clone()),
        terminal_condition: Some(reconciling("Ready")),
        conditions: vec![
            reconciling("Ready"),
            reconciling("ConfigurationsReady"),
            reconciling("RoutesReady"),
        ],
        latest_ready_revision: previous
            .map(|p| p.latest_ready_revision.clone())
            .unwrap_or_default(),
        latest_created_revision: revision,
        traffic_statuses: previous
            .map(|p| p.traffic_statuses.clone())
            .unwrap_or_default(),
        uri: previous.map(|p| p.uri.clone()).unwrap_or_default(),
        urls: previous.map(|p| p.urls.clone()).unwrap_or_default(),
        reconciling: true,
        etag: format!("\"{}\"", emu.random_hex(12)),
        satisfies_pzs: false,
        ..input
    }
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    crate::validate::require_region(call.param("location"))?;
    let id = call
        .query("serviceId")
        .ok_or_else(|| {
            ApiError::invalid_argument("service_id must be provided (query parameter serviceId).")
        })?
        .to_string();
    check_id(&id)?;
    let input: Service = call.body()?;
    check_spec(&input)?;
    let validate_only = call.query_bool("validateOnly")?;
    let t = target(&call, &id);
    call.emu.world(|w| {
        w.projects
            .require_location(&t.project, &t.location, &t.name)
    })?;
    deploy(&call, t, input, None, validate_only)
}

/// Checks references, records the new version and starts its rollout; `previous` is the
/// version being replaced (None for a create).
fn deploy(
    call: &Call,
    t: Target,
    input: Service,
    previous: Option<Service>,
    validate_only: bool,
) -> Result<Reply, ApiError> {
    let emu = &call.emu;
    let principal = call.principal.as_deref();
    let (op_name, op, generation) = emu.world(|w| {
        let number = w.projects.ensure(&t.project)?.number;
        if previous.is_none() && (w.run.exists(&t.name) || w.run.create_conflicts(&t.name)) {
            return Err(ApiError::already_exists(format!(
                "Resource '{}' already exists.",
                t.id
            )));
        }
        check_references(w, &t.project, &t.location, &input)?;
        check_caller(w, &t, principal, &input, previous.as_ref())?;
        let service = next_version(emu, &t, number, input, previous.as_ref());
        let generation = generation_of(&service);
        let (op_name, op) = start_op(emu, w, &t, &service, validate_only);
        if !validate_only {
            match w.run.get_mut(&t.name) {
                Ok(stored) => stored.service = service,
                Err(_) => w.run.insert(service),
            }
        }
        Ok((op_name, op, generation))
    })?;
    if !validate_only {
        emu.schedule(DEPLOY_LATENCY, move |emu| {
            rollout(emu, t, op_name, generation)
        });
    }
    Ok(Reply::Json(op))
}

/// What the caller needs beyond `run.services.create`/`update`, where the project enforces
/// IAM: `actAs` on the revision's service account (the Compute default one when none is
/// named), and `run.services.setIamPolicy` to turn the invoker check off.
fn check_caller(
    w: &World,
    t: &Target,
    principal: Option<&str>,
    input: &Service,
    previous: Option<&Service>,
) -> Result<(), ApiError> {
    let Some(project) = w.projects.find(&t.project).filter(|p| p.enforces_iam()) else {
        return Ok(());
    };
    let named = input
        .template
        .as_ref()
        .map(|t| t.service_account.clone())
        .unwrap_or_default();
    let email = if named.is_empty() {
        project.compute_default_account()
    } else {
        named
    };
    if !crate::access::can_act_as(w, &t.project, principal, &email) {
        return Err(ApiError::permission_denied(format!(
            "Permission 'iam.serviceaccounts.actAs' denied on service account {email} (or it may not exist)."
        ))
        .with_error_info(
            "IAM_PERMISSION_DENIED",
            "iam.googleapis.com",
            json!({ "permission": "iam.serviceAccounts.actAs" }),
        ));
    }
    if input.invoker_iam_disabled && !previous.is_some_and(|p| p.invoker_iam_disabled) {
        crate::access::require(
            w,
            &t.project,
            principal,
            "run.services.setIamPolicy",
            &t.name,
            None,
        )?;
    }
    Ok(())
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let t = target(&call, call.param("service"));
    let service = call
        .emu
        .world(|w| w.run.get(&t.name).map(|s| s.service.clone()))?;
    Ok(Reply::Json(
        serde_json::to_value(service).unwrap_or_default(),
    ))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let location = call.param("location");
    if location != "-" {
        crate::validate::require_region(location)?;
    }
    let all = call
        .emu
        .world(|w| w.run.list(call.param("project"), location));
    let (page, next) = paginate(&all, &call, 100)?;
    let mut body = json!({ "services": page });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

fn check_etag(sent: &str, current: &str) -> Result<(), ApiError> {
    if sent.is_empty() || sent == current {
        return Ok(());
    }
    Err(ApiError::aborted(format!(
        "The etag {sent} does not match the service's current etag {current}: it was changed since you read it. Read it again and retry."
    )))
}

/// Replaces the fields named by `mask` (dotted camelCase paths) of `previous` with `input`'s.
fn masked_merge(previous: &Service, input: &Service, mask: &[String]) -> Result<Service, ApiError> {
    let mut merged = serde_json::to_value(previous).unwrap_or_default();
    let input = serde_json::to_value(input).unwrap_or_default();
    for path in mask {
        let pointer = format!("/{}", path.replace('.', "/"));
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", path));
        let value = input.pointer(&pointer).cloned();
        let Some(target) = merged.pointer_mut(parent).and_then(Value::as_object_mut) else {
            return Err(ApiError::invalid_argument(format!(
                "update_mask: cannot update '{path}': its parent field is not set."
            )));
        };
        match value {
            Some(v) => {
                target.insert(key.to_string(), v);
            }
            None => {
                target.remove(key);
            }
        }
    }
    json::from_value(merged)
}

async fn patch(call: Call) -> Result<Reply, ApiError> {
    let t = target(&call, call.param("service"));
    let input: Service = call.body()?;
    if !input.name.is_empty() && input.name != t.name {
        return Err(ApiError::invalid_argument(format!(
            "service.name {} does not match the service of the URL ({}).",
            input.name, t.name
        )));
    }
    let allow_missing = call.query_bool("allowMissing")?;
    let validate_only = call.query_bool("validateOnly")?;
    let mask = json::field_mask(call.query("updateMask"));
    let previous = call.emu.world(|w| w.run.get(&t.name).cloned().ok());
    let (merged, previous) = match previous {
        Some(stored) if stored.deleting => {
            return Err(ApiError::failed_precondition(format!(
                "Service {} is being deleted; wait for the deletion to finish.",
                t.name
            )));
        }
        Some(stored) => {
            check_etag(&input.etag, &stored.service.etag)?;
            let merged = if mask.is_empty() {
                input
            } else {
                masked_merge(&stored.service, &input, &mask)?
            };
            (merged, Some(stored.service))
        }
        None if allow_missing => {
            check_id(&t.id)?;
            // An upsert that creates needs the create permission too.
            call.emu.world(|w| {
                crate::access::require(
                    w,
                    &t.project,
                    call.principal.as_deref(),
                    "run.services.create",
                    &t.name,
                    None,
                )
            })?;
            (input, None)
        }
        None => return Err(not_found(&t.name)),
    };
    check_spec(&merged)?;
    deploy(&call, t, merged, previous, validate_only)
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let t = target(&call, call.param("service"));
    let validate_only = call.query_bool("validateOnly")?;
    let etag = call.query("etag").unwrap_or_default().to_string();
    let op_name = call.emu.world(|w| {
        let stored = w.run.get_mut(&t.name)?;
        if stored.deleting {
            return Err(ApiError::failed_precondition(format!(
                "Service {} is already being deleted.",
                t.name
            )));
        }
        check_etag(&etag, &stored.service.etag)?;
        let mut service = stored.service.clone();
        if !validate_only {
            stored.deleting = true;
            stored.service.reconciling = true;
            stored.service.delete_time = Some(json::now_timestamp());
            service = stored.service.clone();
        }
        Ok(start_op(&call.emu, w, &t, &service, validate_only))
    })?;
    let (op_name, op) = op_name;
    if !validate_only {
        call.emu.schedule(DELETE_LATENCY, move |emu| async move {
            emu.runtime().service_deleted(&t.name).await;
            emu.world(|w| {
                if w.projects
                    .get(&t.project)
                    .is_some_and(|p| p.setup.is_some())
                {
                    w.run
                        .note_deleted(&t.name, emu.after(CREATE_CONFLICT_WINDOW));
                }
                let result = w
                    .run
                    .remove(&t.name)
                    .map(|s| ops::any(SERVICE_TYPE, &s.service))
                    .ok_or_else(|| not_found(&t.name));
                w.operations.finish(&op_name, result);
            });
        });
    }
    Ok(Reply::Json(op))
}

async fn get_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let t = target(&call, call.param("service"));
    let version = requested_version(call.query_i32("options.requestedPolicyVersion")?)?;
    let policy = call
        .emu
        .world(|w| w.run.get(&t.name).map(|s| s.policy.to_json(version)))?;
    Ok(Reply::Json(policy))
}

async fn set_iam_policy(call: Call) -> Result<Reply, ApiError> {
    let t = target(&call, call.param("service"));
    let body: SetRequest = call.body()?;
    let policy = body.policy()?;
    call.emu.world(|w| {
        let mut current = w.run.get(&t.name)?.policy.clone();
        let check = |member: &str| {
            crate::access::check_new_member(
                w,
                &t.project,
                member,
                crate::access::DRS_SERVICE_MESSAGE,
            )
        };
        let answer = current.set(policy, body.update_mask(), &check)?;
        w.run.get_mut(&t.name)?.policy = current;
        Ok(Reply::Json(answer))
    })
}
