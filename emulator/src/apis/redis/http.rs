//! The HTTP surface of Memorystore for Redis v1: routes, request parsing, operations and their
//! timing (create ≈ 4.5 min, update 1–4 min, delete 2 min, × time scale).

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};

use super::model::{Instance, not_found};
use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::json;
use crate::ops::{self, EMPTY};
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;
use crate::validate;

const CREATE_LATENCY: Duration = Duration::from_secs(270);
const DELETE_LATENCY: Duration = Duration::from_secs(120);
const UPDATE_LATENCY: Duration = Duration::from_secs(60);
const RESIZE_LATENCY: Duration = Duration::from_secs(240);

/// The emulator-only endpoints of this API (no Google service, no enablement check).
pub static EMULATOR_API: Api = Api {
    service: "",
    enums: &[],
    methods: &[row(
        Method::POST,
        "/_emulator/redis/rotate-server-ca",
        "emulator.redis.rotateServerCa",
        &[],
        |c| Box::pin(rotate_server_ca(c)),
    )],
};

const INSTANCE_TYPE: &str = "google.cloud.redis.v1.Instance";
const METADATA_TYPE: &str = "type.googleapis.com/google.cloud.redis.v1.OperationMetadata";

const INSTANCES_PATH: &str = "/v1/projects/{project}/locations/{location}/instances";
const INSTANCE_PATH: &str = "/v1/projects/{project}/locations/{location}/instances/{instance}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            INSTANCES_PATH,
            "redis.projects.locations.instances.create",
            &["instanceId"],
            |c| Box::pin(create(c)),
        )
        .needs("redis.instances.create"),
        row(
            Method::GET,
            INSTANCES_PATH,
            "redis.projects.locations.instances.list",
            &["pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs("redis.instances.list"),
        row(
            Method::GET,
            INSTANCE_PATH,
            "redis.projects.locations.instances.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("redis.instances.get"),
        row(
            Method::PATCH,
            INSTANCE_PATH,
            "redis.projects.locations.instances.patch",
            &["updateMask"],
            |c| Box::pin(patch(c)),
        )
        .needs("redis.instances.update"),
        row(
            Method::DELETE,
            INSTANCE_PATH,
            "redis.projects.locations.instances.delete",
            &[],
            |c| Box::pin(delete(c)),
        )
        .needs("redis.instances.delete"),
        row(
            Method::GET,
            "/v1/projects/{project}/locations/{location}/instances/{instance}/authString",
            "redis.projects.locations.instances.getAuthString",
            &[],
            |c| Box::pin(auth_string(c)),
        )
        .needs("redis.instances.getAuthString"),
    ],
};

fn instance_name(call: &Call) -> String {
    format!(
        "projects/{}/locations/{}/instances/{}",
        call.param("project"),
        call.param("location"),
        call.param("instance")
    )
}

/// Starts an operation on `target` and returns its JSON.
fn start_op(emu: &Emu, project: &str, location: &str, verb: &str, target: &str) -> (String, Value) {
    let name = format!(
        "projects/{project}/locations/{location}/operations/{}",
        emu.operation_id()
    );
    let metadata = json!({
        "@type": METADATA_TYPE,
        "createTime": json::now_timestamp(),
        "target": target,
        "verb": verb,
        "apiVersion": "v1",
    });
    let op = emu.world(|w| w.operations.start(name.clone(), SERVICE, metadata));
    (name, op)
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    let (project, location) = (call.param("project"), call.param("location"));
    validate::require_region(location)?;
    let instance_id = call
        .query("instanceId")
        .ok_or_else(|| {
            ApiError::invalid_argument("instance_id must be provided (query parameter instanceId).")
        })?
        .to_string();
    let input: Instance = call.body()?;
    let auth = call.emu.random_hex(16);
    let instance = call.emu.world(|w| {
        let name = format!("projects/{project}/locations/{location}/instances/{instance_id}");
        w.projects.require_location(project, location, &name)?;
        let p = w.projects.ensure(project)?;
        w.redis.create(p, location, &instance_id, input, auth)
    })?;
    let (op_name, op) = start_op(&call.emu, project, location, "create", &instance.name);
    let (project, name) = (project.to_string(), instance.name.clone());
    call.emu.schedule(CREATE_LATENCY, move |emu| {
        finish_create(emu, project, name, op_name)
    });
    Ok(Reply::Json(op))
}

async fn finish_create(emu: Emu, project: String, name: String, op_name: String) {
    let provisioned = emu.world(|w| {
        let network = w.redis.get(&name)?.instance.authorized_network.clone();
        let network = network.rsplit('/').next().unwrap_or_default().to_string();
        let in_use = w.used_ranges(&project, &network, &name);
        let p = w.projects.ensure(&project)?;
        w.redis.provision(p, &name, in_use)
    });
    let info = match provisioned {
        Ok(info) => info,
        Err(error) => {
            emu.world(|w| {
                w.redis.remove(&name);
                w.operations.finish(&op_name, Err(error));
            });
            return;
        }
    };
    let endpoint = emu.runtime().redis_ready(&info).await;
    emu.world(|w| {
        let result = match endpoint {
            Ok(endpoint) => w
                .projects
                .ensure(&project)
                .and_then(|p| w.redis.mark_ready(p, &name, endpoint))
                .map(|instance| ops::any(INSTANCE_TYPE, &instance)),
            Err(message) => {
                w.redis.remove(&name);
                Err(ApiError::internal(format!(
                    "Failed to start the Redis instance: {message}"
                )))
            }
        };
        w.operations.finish(&op_name, result);
    });
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let name = instance_name(&call);
    let instance = call
        .emu
        .world(|w| w.redis.get(&name).map(|s| s.instance.clone()))?;
    Ok(Reply::Json(
        serde_json::to_value(instance).unwrap_or_default(),
    ))
}

/// `POST /_emulator/redis/rotate-server-ca {"name": "projects/P/locations/L/instances/ID"}`:
/// what Google does on its own schedule (no API call starts it): a new server CA joins the
/// instance's `serverCaCerts` beside the current one. Answers the instance.
async fn rotate_server_ca(call: Call) -> Result<Reply, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rotate {
        name: String,
    }
    let rotate: Rotate = call.body()?;
    let instance = call.emu.world(|w| w.redis.rotate_server_ca(&rotate.name))?;
    Ok(Reply::Json(
        serde_json::to_value(instance).unwrap_or_default(),
    ))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let location = call.param("location");
    if location != "-" {
        validate::require_region(location)?;
    }
    let all = call
        .emu
        .world(|w| w.redis.list(call.param("project"), location));
    let (page, next) = paginate(&all, &call, 1000)?;
    let mut body = json!({ "instances": page });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

async fn patch(call: Call) -> Result<Reply, ApiError> {
    let name = instance_name(&call);
    let mask = json::field_mask(call.query("updateMask"));
    let input: Instance = call.body()?;
    let resize = mask
        .iter()
        .any(|f| f == "memorySizeGb" || f == "replicaCount");
    call.emu
        .world(|w| w.redis.begin_update(&name, &mask, input))?;
    let (op_name, op) = start_op(
        &call.emu,
        call.param("project"),
        call.param("location"),
        "update",
        &name,
    );
    let latency = if resize {
        RESIZE_LATENCY
    } else {
        UPDATE_LATENCY
    };
    call.emu.schedule(latency, move |emu| async move {
        let auth = emu.random_hex(16);
        emu.world(|w| {
            let result = w
                .redis
                .finish_update(&name, auth)
                .map(|instance| ops::any(INSTANCE_TYPE, &instance));
            w.operations.finish(&op_name, result);
        });
    });
    Ok(Reply::Json(op))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let name = instance_name(&call);
    call.emu.world(|w| w.redis.begin_delete(&name))?;
    let (op_name, op) = start_op(
        &call.emu,
        call.param("project"),
        call.param("location"),
        "delete",
        &name,
    );
    call.emu.schedule(DELETE_LATENCY, move |emu| async move {
        emu.runtime().redis_deleted(&name).await;
        emu.world(|w| {
            w.redis.remove(&name);
            w.operations.finish(&op_name, Ok(json!({ "@type": EMPTY })));
        });
    });
    Ok(Reply::Json(op))
}

/// `GET .../authString`: `{"authString": ..}`, or `{}` when AUTH is not enabled.
async fn auth_string(call: Call) -> Result<Reply, ApiError> {
    let name = instance_name(&call);
    let auth = call.emu.world(|w| {
        w.redis
            .get(&name)
            .map(|s| s.auth_string.clone())
            .map_err(|_| not_found(&name))
    })?;
    Ok(Reply::Json(match auth {
        Some(auth) => json!({ "authString": auth }),
        None => json!({}),
    }))
}
