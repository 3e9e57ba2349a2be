//! The HTTP surface of Compute Engine v1 for networks and subnets: routes, list paging
//! (`maxResults`, `pageToken`, `filter`, `orderBy`), inserts and deletes as Compute operations
//! (≈ 10 s each × time scale; a network insert is a global one), and errors in Compute's
//! legacy shape.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filter::Filter;
use super::model::{Phase, URL_PREFIX, is_region};
use super::operation::{self, OpFailure, Scope};
use super::{SERVICE, rules};
use crate::error::{ApiError, Code};
use crate::router::{Api, Call, Reply, paginate_by, row};
use crate::validate;
use crate::world::World;

/// Modelled durations (unverified: Google documents none; subnets take seconds).
const INSERT_LATENCY: Duration = Duration::from_secs(10);
const DELETE_LATENCY: Duration = Duration::from_secs(10);
/// `regionOperations.wait` answers after at most this long, done or not.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

const SUBNETS_PATH: &str = "/compute/v1/projects/{project}/regions/{region}/subnetworks";
const SUBNET_PATH: &str =
    "/compute/v1/projects/{project}/regions/{region}/subnetworks/{subnetwork}";
const OP_PATH: &str = "/compute/v1/projects/{project}/regions/{region}/operations/{operation}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: &[],
    methods: &[
        row(
            Method::GET,
            "/compute/v1/projects/{project}/global/networks",
            "compute.networks.list",
            &["filter", "maxResults", "orderBy", "pageToken"],
            |c| Box::pin(legacy(list_networks(c))),
        )
        .needs("compute.networks.list"),
        row(
            Method::POST,
            "/compute/v1/projects/{project}/global/networks",
            "compute.networks.insert",
            &["requestId"],
            |c| Box::pin(legacy(insert_network(c))),
        )
        .needs("compute.networks.create"),
        row(
            Method::GET,
            "/compute/v1/projects/{project}/global/networks/{network}",
            "compute.networks.get",
            &[],
            |c| Box::pin(legacy(get_network(c))),
        )
        .needs("compute.networks.get"),
        row(
            Method::GET,
            "/compute/v1/projects/{project}/aggregated/subnetworks",
            "compute.subnetworks.aggregatedList",
            &[
                "filter",
                "includeAllScopes",
                "maxResults",
                "orderBy",
                "pageToken",
                "serviceProjectNumber",
                "views",
            ],
            |c| Box::pin(legacy(aggregated_subnets(c))),
        )
        .needs("compute.subnetworks.list"),
        row(
            Method::GET,
            SUBNETS_PATH,
            "compute.subnetworks.list",
            &["filter", "maxResults", "orderBy", "pageToken", "views"],
            |c| Box::pin(legacy(list_subnets(c))),
        )
        .needs("compute.subnetworks.list"),
        row(
            Method::POST,
            SUBNETS_PATH,
            "compute.subnetworks.insert",
            &["requestId"],
            |c| Box::pin(legacy(insert_subnet(c))),
        )
        .needs("compute.subnetworks.create"),
        row(
            Method::GET,
            SUBNET_PATH,
            "compute.subnetworks.get",
            &["views"],
            |c| Box::pin(legacy(get_subnet(c))),
        )
        .needs("compute.subnetworks.get"),
        row(
            Method::DELETE,
            SUBNET_PATH,
            "compute.subnetworks.delete",
            &["requestId"],
            |c| Box::pin(legacy(delete_subnet(c))),
        )
        .needs("compute.subnetworks.delete"),
        row(
            Method::GET,
            OP_PATH,
            "compute.regionOperations.get",
            &[],
            |c| Box::pin(legacy(get_operation(c))),
        )
        .needs("compute.regionOperations.get"),
        row(
            Method::POST,
            "/compute/v1/projects/{project}/regions/{region}/operations/{operation}/wait",
            "compute.regionOperations.wait",
            &[],
            |c| Box::pin(legacy(wait_operation(c))),
        )
        .needs("compute.regionOperations.get"),
    ],
};

/// Answers a handler's error the way Compute Engine does: `errors[]` with a reason, no `status`.
pub(super) async fn legacy(
    handler: impl Future<Output = Result<Reply, ApiError>>,
) -> Result<Reply, ApiError> {
    Ok(handler
        .await
        .unwrap_or_else(|e| Reply::Raw(legacy_error(&e))))
}

fn legacy_error(e: &ApiError) -> Response {
    let reason = match e.code {
        Code::NotFound => "notFound",
        Code::AlreadyExists => "alreadyExists",
        Code::FailedPrecondition => "resourceNotReady",
        Code::PermissionDenied => "forbidden",
        _ if e.message.starts_with("Required field") => "required",
        _ => "invalid",
    };
    let status = e.code.http();
    let body = json!({"error": {
        "code": status.as_u16(),
        "message": e.message,
        "errors": [{"message": e.message, "domain": "global", "reason": reason}],
    }});
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn not_found(resource: &str) -> ApiError {
    ApiError::not_found(format!("The resource '{resource}' was not found"))
}

fn known_region(call: &Call) -> Result<(), ApiError> {
    let region = call.param("region");
    if is_region(region) {
        Ok(())
    } else {
        Err(not_found(&format!(
            "projects/{}/regions/{region}",
            call.param("project")
        )))
    }
}

/// Filters, orders (`name`, or `creationTimestamp desc`) and pages resources by `maxResults`.
fn page(call: &Call, mut items: Vec<Value>) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let filter = Filter::parse(call.query("filter"))?;
    items.retain(|item| filter.matches(item));
    match call.query("orderBy") {
        None | Some("name") => {}
        Some("creationTimestamp desc") => items.reverse(),
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value for field 'orderBy': '{other}'. Only 'name' and 'creationTimestamp desc' are supported."
            )));
        }
    }
    let max = call.query_i32("maxResults")?;
    if max > 500 {
        return Err(ApiError::invalid_argument(format!(
            "Invalid value for field 'maxResults': '{max}'. Must be less than or equal to 500"
        )));
    }
    paginate_by(&items, call, "maxResults", 500)
}

/// A list answer: `kind`, `id`, `selfLink`, one page of the items (no key when empty), the
/// next token.
pub(super) fn list_answer(
    call: &Call,
    kind: &str,
    id: &str,
    items: Vec<Value>,
) -> Result<Reply, ApiError> {
    let (items, next) = page(call, items)?;
    Ok(Reply::Json(list_body(kind, id, items, next)))
}

fn list_body(kind: &str, id: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut body = json!({"kind": kind, "id": id, "selfLink": format!("{URL_PREFIX}{id}")});
    if !items.is_empty() {
        body["items"] = Value::Array(items);
    }
    if let Some(next) = next {
        body["nextPageToken"] = Value::String(next);
    }
    body
}

/// The listed subnets of a project (all networks), as JSON, ordered by region and name.
fn subnets_json(w: &World, project: &str, region: Option<&str>) -> Vec<Value> {
    let Some(p) = w.projects.get(project) else {
        return Vec::new();
    };
    let mut subnets: Vec<(String, String, Value)> = p
        .networks
        .values()
        .flat_map(|n| {
            n.subnets
                .iter()
                .filter(|s| s.phase != Phase::Creating)
                .filter(|s| region.is_none_or(|r| s.region == r))
                .map(|s| {
                    (
                        s.region.clone(),
                        s.name.clone(),
                        s.to_json(project, &n.name),
                    )
                })
        })
        .collect();
    subnets.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    subnets.into_iter().map(|(_, _, v)| v).collect()
}

async fn list_networks(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project");
    let items: Vec<Value> = call.emu.world(|w| {
        w.projects
            .get(project)
            .map(|p| p.networks.values().map(|n| n.to_json(project)).collect())
            .unwrap_or_default()
    });
    let id = format!("projects/{project}/global/networks");
    list_answer(&call, "compute#networkList", &id, items)
}

async fn get_network(call: Call) -> Result<Reply, ApiError> {
    let (project, name) = (call.param("project"), call.param("network"));
    call.emu
        .world(|w| {
            w.projects
                .get(project)
                .and_then(|p| p.networks.get(name))
                .map(|n| n.to_json(project))
        })
        .map(Reply::Json)
        .ok_or_else(|| not_found(&format!("projects/{project}/global/networks/{name}")))
}

/// Creates the network at once (its operation finishes [`INSERT_LATENCY`] later): auto mode
/// with a subnet per region, or custom mode with none.
async fn insert_network(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project").to_string();
    let network = rules::parse_network(&call.body, &project)?;
    let (key, op) = call.emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        if p.networks.contains_key(&network.name) {
            return Err(ApiError::already_exists(format!(
                "The resource 'projects/{project}/global/networks/{}' already exists",
                network.name
            )));
        }
        let (link, id) = (
            super::model::network_link(&project, &network.name),
            network.id,
        );
        p.networks.insert(network.name.clone(), network);
        Ok(operation::start_in(
            &call.emu,
            w,
            &project,
            Scope::Global,
            "insert",
            &link,
            id,
        ))
    })?;
    call.emu.schedule(INSERT_LATENCY, move |emu| async move {
        emu.world(|w| operation::finish(w, &key, Ok(())));
    });
    Ok(Reply::Json(op))
}

async fn list_subnets(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    let (project, region) = (call.param("project"), call.param("region"));
    let items = call.emu.world(|w| subnets_json(w, project, Some(region)));
    let id = format!("projects/{project}/regions/{region}/subnetworks");
    list_answer(&call, "compute#subnetworkList", &id, items)
}

/// Every region's subnets, keyed `regions/R` (regions with none on the page are left out).
async fn aggregated_subnets(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project");
    let all = call.emu.world(|w| subnets_json(w, project, None));
    let (items, next) = page(&call, all)?;
    let mut scopes: Map<String, Value> = Map::new();
    for item in items {
        let region = item["region"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default();
        let scope = scopes
            .entry(format!("regions/{region}"))
            .or_insert_with(|| json!({"subnetworks": []}));
        if let Some(list) = scope["subnetworks"].as_array_mut() {
            list.push(item);
        }
    }
    let id = format!("projects/{project}/aggregated/subnetworks");
    let mut body = list_body("compute#subnetworkAggregatedList", &id, Vec::new(), next);
    body["items"] = Value::Object(scopes);
    Ok(Reply::Json(body))
}

fn subnet_resource(call: &Call) -> String {
    format!(
        "projects/{}/regions/{}/subnetworks/{}",
        call.param("project"),
        call.param("region"),
        call.param("subnetwork")
    )
}

async fn get_subnet(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    let (project, region, name) = (
        call.param("project"),
        call.param("region"),
        call.param("subnetwork"),
    );
    call.emu
        .world(|w| {
            let p = w.projects.get(project)?;
            p.networks.values().find_map(|n| {
                n.subnets
                    .iter()
                    .find(|s| s.region == region && s.name == name && s.phase != Phase::Creating)
                    .map(|s| s.to_json(project, &n.name))
            })
        })
        .map(Reply::Json)
        .ok_or_else(|| not_found(&subnet_resource(&call)))
}

async fn insert_subnet(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    let (project, region) = (call.param("project").to_string(), call.param("region"));
    let id = 1_000_000_000_000_000_000 + call.emu.random_range(0..8_000_000_000_000_000_000);
    let new = rules::parse_insert(&call.body, &project, region, id)?;
    let (network, name) = (new.network.clone(), new.subnet.name.clone());
    let (key, op) = call.emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        let taken = p.networks.values().any(|n| {
            n.subnets
                .iter()
                .any(|s| s.region == region && s.name == name)
        });
        if taken {
            return Err(ApiError::already_exists(format!(
                "The resource 'projects/{project}/regions/{region}/subnetworks/{name}' already exists"
            )));
        }
        let net = p.networks.get_mut(&network).ok_or_else(|| {
            not_found(&format!("projects/{project}/global/networks/{network}"))
        })?;
        rules::check_against(net, &new.subnet)?;
        let link = new.subnet.link(&project);
        net.subnets.push(new.subnet);
        Ok(operation::start(
            &call.emu, w, &project, region, "insert", &link, id,
        ))
    })?;
    let region = region.to_string();
    call.emu.schedule(INSERT_LATENCY, move |emu| async move {
        emu.world(|w| {
            let result = finish_insert(w, &project, &network, &region, &name);
            operation::finish(w, &key, result);
        });
    });
    Ok(Reply::Json(op))
}

/// The subnet is ready unless a connector or Redis instance took part of its range meanwhile;
/// then the operation fails and the subnet is gone.
fn finish_insert(
    w: &mut World,
    project: &str,
    network: &str,
    region: &str,
    name: &str,
) -> Result<(), OpFailure> {
    let mut held = w.vpcaccess.ranges(project, network, "");
    held.extend(w.redis.ranges(project, network, ""));
    let Some(net) = w
        .projects
        .ensure(project)
        .ok()
        .and_then(|p| p.networks.get_mut(network))
    else {
        return Ok(());
    };
    let Some(index) = net
        .subnets
        .iter()
        .position(|s| s.region == region && s.name == name)
    else {
        return Ok(());
    };
    let subnet = &mut net.subnets[index];
    let clash = std::iter::once(subnet.range)
        .chain(subnet.secondary.iter().map(|(_, r)| *r))
        .find_map(|range| validate::first_overlap(&range, &held).map(|(what, _)| (range, what)));
    if let Some((range, what)) = clash {
        let message = format!(
            "Invalid IPCidrRange: {range} conflicts with the range of {what} in network {network}."
        );
        net.subnets.remove(index);
        return Err(OpFailure {
            code: "INVALID_USAGE",
            message,
            http_status: 400,
        });
    }
    subnet.phase = Phase::Ready;
    Ok(())
}

async fn delete_subnet(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    let (project, region, name) = (
        call.param("project").to_string(),
        call.param("region").to_string(),
        call.param("subnetwork").to_string(),
    );
    let resource = subnet_resource(&call);
    let (key, op) = call.emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        let (net, subnet) = p
            .networks
            .values_mut()
            .find_map(|n| {
                let i = n
                    .subnets
                    .iter()
                    .position(|s| s.region == region && s.name == name)?;
                Some((n, i))
            })
            .filter(|(n, i)| n.subnets[*i].phase != Phase::Creating)
            .ok_or_else(|| not_found(&resource))?;
        rules::check_delete(net, &net.subnets[subnet], &project)?;
        let s = &mut net.subnets[subnet];
        s.phase = Phase::Deleting;
        let (link, id) = (s.link(&project), s.id);
        Ok(operation::start(
            &call.emu, w, &project, &region, "delete", &link, id,
        ))
    })?;
    call.emu.schedule(DELETE_LATENCY, move |emu| async move {
        emu.world(|w| {
            if let Ok(p) = w.projects.ensure(&project) {
                for n in p.networks.values_mut() {
                    n.subnets
                        .retain(|s| !(s.region == region && s.name == name));
                }
            }
            operation::finish(w, &key, Ok(()));
        });
    });
    Ok(Reply::Json(op))
}

fn find_operation(call: &Call) -> Result<(Value, bool), ApiError> {
    let key = operation::key(
        call.param("project"),
        call.param("region"),
        call.param("operation"),
    );
    call.emu
        .world(|w| operation::get(w, &key))
        .ok_or_else(|| not_found(&key))
}

async fn get_operation(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    Ok(Reply::Json(find_operation(&call)?.0))
}

/// Answers when the operation is done, or after [`WAIT_LIMIT`] with it still running.
async fn wait_operation(call: Call) -> Result<Reply, ApiError> {
    known_region(&call)?;
    wait_for(|| find_operation(&call)).await
}

/// Polls `find` until the operation it reads is done, at most [`WAIT_LIMIT`] (`…/wait`).
pub(super) async fn wait_for(
    find: impl Fn() -> Result<(Value, bool), ApiError>,
) -> Result<Reply, ApiError> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let (op, done) = find()?;
        if done || Instant::now() >= deadline {
            return Ok(Reply::Json(op));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
