//! The HTTP surface of Serverless VPC Access v1: routes, operations and their timing
//! (create ≈ 3 min, update ≈ 1 min, delete ≈ 1.5 min, × time scale).

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};

use super::model::{Connector, late_checks};
use super::{ENUMS, SERVICE};
use crate::error::ApiError;
use crate::json;
use crate::ops::{self, EMPTY};
use crate::router::{Api, Call, Reply, paginate, row};
use crate::state::Emu;
use crate::validate;

const CREATE_LATENCY: Duration = Duration::from_secs(180);
const DELETE_LATENCY: Duration = Duration::from_secs(90);
const UPDATE_LATENCY: Duration = Duration::from_secs(60);
const CONNECTOR_TYPE: &str = "google.cloud.vpcaccess.v1.Connector";
const METADATA_TYPE: &str = "type.googleapis.com/google.cloud.vpcaccess.v1.OperationMetadata";

const CONNECTORS_PATH: &str = "/v1/projects/{project}/locations/{location}/connectors";
const CONNECTOR_PATH: &str = "/v1/projects/{project}/locations/{location}/connectors/{connector}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: ENUMS,
    methods: &[
        row(
            Method::POST,
            CONNECTORS_PATH,
            "vpcaccess.projects.locations.connectors.create",
            &["connectorId"],
            |c| Box::pin(create(c)),
        )
        .needs("vpcaccess.connectors.create"),
        row(
            Method::GET,
            CONNECTORS_PATH,
            "vpcaccess.projects.locations.connectors.list",
            &["pageSize", "pageToken"],
            |c| Box::pin(list(c)),
        )
        .needs("vpcaccess.connectors.list"),
        row(
            Method::GET,
            CONNECTOR_PATH,
            "vpcaccess.projects.locations.connectors.get",
            &[],
            |c| Box::pin(get(c)),
        )
        .needs("vpcaccess.connectors.get"),
        row(
            Method::PATCH,
            CONNECTOR_PATH,
            "vpcaccess.projects.locations.connectors.patch",
            &["updateMask"],
            |c| Box::pin(patch(c)),
        )
        .needs("vpcaccess.connectors.update"),
        row(
            Method::DELETE,
            CONNECTOR_PATH,
            "vpcaccess.projects.locations.connectors.delete",
            &[],
            |c| Box::pin(delete(c)),
        )
        .needs("vpcaccess.connectors.delete"),
    ],
};

fn connector_name(call: &Call) -> String {
    format!(
        "projects/{}/locations/{}/connectors/{}",
        call.param("project"),
        call.param("location"),
        call.param("connector")
    )
}

fn start_op(emu: &Emu, call: &Call, method: &str, target: &str) -> (String, Value) {
    let name = format!(
        "projects/{}/locations/{}/operations/{}",
        call.param("project"),
        call.param("location"),
        emu.operation_id()
    );
    let metadata = json!({
        "@type": METADATA_TYPE,
        "method": format!("google.cloud.vpcaccess.v1.VpcAccessService.{method}"),
        "createTime": json::now_timestamp(),
        "target": target,
    });
    let op = emu.world(|w| w.operations.start(name.clone(), SERVICE, metadata));
    (name, op)
}

async fn create(call: Call) -> Result<Reply, ApiError> {
    let (project, location) = (call.param("project"), call.param("location"));
    validate::require_region(location)?;
    let id = call
        .query("connectorId")
        .ok_or_else(|| {
            ApiError::invalid_argument(
                "connector_id must be provided (query parameter connectorId).",
            )
        })?
        .to_string();
    let input: Connector = call.body()?;
    let connector = call.emu.world(|w| {
        let name = format!("projects/{project}/locations/{location}/connectors/{id}");
        w.projects.require_location(project, location, &name)?;
        w.vpcaccess.create(project, location, &id, input)
    })?;
    let (op_name, op) = start_op(&call.emu, &call, "CreateConnector", &connector.name);
    let (project, name) = (project.to_string(), connector.name);
    call.emu.schedule(CREATE_LATENCY, move |emu| async move {
        emu.world(|w| {
            let result = finish_create(w, &project, &name);
            if result.is_err() {
                w.vpcaccess.remove(&name);
            }
            w.operations
                .finish(&op_name, result.map(|c| ops::any(CONNECTOR_TYPE, &c)));
        });
    });
    Ok(Reply::Json(op))
}

/// Late validation, then READY.
fn finish_create(
    w: &mut crate::world::World,
    project: &str,
    name: &str,
) -> Result<Connector, ApiError> {
    let connector = w.vpcaccess.get(name)?.clone();
    let network = connector
        .network
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let p = w.projects.ensure(project)?;
    let subnets: Vec<(String, String, ipnet::Ipv4Net)> = p
        .networks
        .values()
        .flat_map(|n| {
            n.subnets
                .iter()
                .map(|s| (s.name.clone(), s.region.clone(), s.range))
        })
        .collect();
    if !network.is_empty() && !p.networks.contains_key(&network) {
        return Err(ApiError::invalid_argument(format!(
            "Network {network} was not found in project {project}."
        )));
    }
    let in_use = w.used_ranges(project, &network, name);
    late_checks(&connector, &in_use, &subnets)?;
    let stored = w.vpcaccess.get_mut(name)?;
    stored.state = Some("READY".to_string());
    Ok(stored.clone())
}

async fn get(call: Call) -> Result<Reply, ApiError> {
    let name = connector_name(&call);
    let connector = call.emu.world(|w| w.vpcaccess.get(&name).cloned())?;
    Ok(Reply::Json(
        serde_json::to_value(connector).unwrap_or_default(),
    ))
}

async fn list(call: Call) -> Result<Reply, ApiError> {
    let all = call.emu.world(|w| {
        w.vpcaccess
            .list(call.param("project"), call.param("location"))
    });
    let (page, next) = paginate(&all, &call, 100)?;
    let mut body = json!({ "connectors": page });
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    Ok(Reply::Json(body))
}

/// `connectors.patch`: machine type and instance bounds change in place (the mask names
/// which; empty means all of them); the connector is UPDATING until the operation finishes.
async fn patch(call: Call) -> Result<Reply, ApiError> {
    let name = connector_name(&call);
    let input: Connector = call.body()?;
    let mask: Vec<String> = call
        .query("updateMask")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let target = call
        .emu
        .world(|w| w.vpcaccess.begin_update(&name, &input, &mask))?;
    let (op_name, op) = start_op(&call.emu, &call, "UpdateConnector", &name);
    call.emu.schedule(UPDATE_LATENCY, move |emu| async move {
        emu.world(|w| {
            let result = w.vpcaccess.finish_update(target);
            w.operations
                .finish(&op_name, result.map(|c| ops::any(CONNECTOR_TYPE, &c)));
        });
    });
    Ok(Reply::Json(op))
}

async fn delete(call: Call) -> Result<Reply, ApiError> {
    let name = connector_name(&call);
    call.emu.world(|w| w.vpcaccess.begin_delete(&name))?;
    let (op_name, op) = start_op(&call.emu, &call, "DeleteConnector", &name);
    call.emu.schedule(DELETE_LATENCY, move |emu| async move {
        emu.world(|w| {
            w.vpcaccess.remove(&name);
            w.operations.finish(&op_name, Ok(json!({ "@type": EMPTY })));
        });
    });
    Ok(Reply::Json(op))
}
