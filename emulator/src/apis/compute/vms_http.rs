//! The HTTP surface of Compute Engine v1 for instances, their disks and firewall rules: routes,
//! inserts and deletes as zonal (instances, disks) or global (firewalls) operations, and the zone and
//! global operation reads. Shares paging and the legacy error shape with `http.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::Method;
use serde_json::{Map, Value};

use super::SERVICE;
use super::http::{legacy, list_answer, wait_for};
use super::operation::{self, Scope};
use super::vms::{self, Firewall, Instance, Status, already_exists, not_found, region_of_zone};
use crate::error::ApiError;
use crate::router::{Api, Call, Reply, row};

/// Modelled durations (unverified: Google documents none; an e2 VM boots in about 20 s).
const INSTANCE_INSERT_LATENCY: Duration = Duration::from_secs(20);
const INSTANCE_DELETE_LATENCY: Duration = Duration::from_secs(30);
const FIREWALL_LATENCY: Duration = Duration::from_secs(8);
const DISK_INSERT_LATENCY: Duration = Duration::from_secs(5);

const INSTANCES_PATH: &str = "/compute/v1/projects/{project}/zones/{zone}/instances";
const INSTANCE_PATH: &str = "/compute/v1/projects/{project}/zones/{zone}/instances/{instance}";
const DISKS_PATH: &str = "/compute/v1/projects/{project}/zones/{zone}/disks";
const DISK_PATH: &str = "/compute/v1/projects/{project}/zones/{zone}/disks/{disk}";
const FIREWALLS_PATH: &str = "/compute/v1/projects/{project}/global/firewalls";
const FIREWALL_PATH: &str = "/compute/v1/projects/{project}/global/firewalls/{firewall}";
const ZONE_OP_PATH: &str = "/compute/v1/projects/{project}/zones/{zone}/operations/{operation}";
const GLOBAL_OP_PATH: &str = "/compute/v1/projects/{project}/global/operations/{operation}";

/// One row per method: verb, path, discovery id, query parameters (from the discovery
/// document), handler.
pub static API: Api = Api {
    service: SERVICE,
    enums: &[],
    methods: &[
        row(
            Method::POST,
            INSTANCES_PATH,
            "compute.instances.insert",
            &["requestId", "sourceInstanceTemplate", "sourceMachineImage"],
            |c| Box::pin(legacy(insert_instance(c))),
        )
        .needs("compute.instances.create"),
        row(
            Method::GET,
            INSTANCES_PATH,
            "compute.instances.list",
            &[
                "filter",
                "maxResults",
                "orderBy",
                "pageToken",
                "returnPartialSuccess",
            ],
            |c| Box::pin(legacy(list_instances(c))),
        )
        .needs("compute.instances.list"),
        row(
            Method::GET,
            INSTANCE_PATH,
            "compute.instances.get",
            &[],
            |c| Box::pin(legacy(get_instance(c))),
        )
        .needs("compute.instances.get"),
        row(
            Method::DELETE,
            INSTANCE_PATH,
            "compute.instances.delete",
            &["noGracefulShutdown", "requestId"],
            |c| Box::pin(legacy(delete_instance(c))),
        )
        .needs("compute.instances.delete"),
        row(
            Method::GET,
            DISKS_PATH,
            "compute.disks.list",
            &[
                "filter",
                "maxResults",
                "orderBy",
                "pageToken",
                "returnPartialSuccess",
            ],
            |c| Box::pin(legacy(list_disks(c))),
        )
        .needs("compute.disks.list"),
        row(
            Method::POST,
            DISKS_PATH,
            "compute.disks.insert",
            &["requestId", "sourceImage"],
            |c| Box::pin(legacy(insert_disk(c))),
        )
        .needs("compute.disks.create"),
        row(Method::GET, DISK_PATH, "compute.disks.get", &[], |c| {
            Box::pin(legacy(get_disk(c)))
        })
        .needs("compute.disks.get"),
        row(
            Method::DELETE,
            DISK_PATH,
            "compute.disks.delete",
            &["requestId"],
            |c| Box::pin(legacy(delete_disk(c))),
        )
        .needs("compute.disks.delete"),
        row(
            Method::GET,
            ZONE_OP_PATH,
            "compute.zoneOperations.get",
            &[],
            |c| Box::pin(legacy(get_zone_operation(c))),
        )
        .needs("compute.zoneOperations.get"),
        row(
            Method::POST,
            "/compute/v1/projects/{project}/zones/{zone}/operations/{operation}/wait",
            "compute.zoneOperations.wait",
            &[],
            |c| Box::pin(legacy(wait_zone_operation(c))),
        )
        .needs("compute.zoneOperations.get"),
        row(
            Method::POST,
            FIREWALLS_PATH,
            "compute.firewalls.insert",
            &["requestId"],
            |c| Box::pin(legacy(insert_firewall(c))),
        )
        .needs("compute.firewalls.create"),
        row(
            Method::GET,
            FIREWALLS_PATH,
            "compute.firewalls.list",
            &[
                "filter",
                "maxResults",
                "orderBy",
                "pageToken",
                "returnPartialSuccess",
            ],
            |c| Box::pin(legacy(list_firewalls(c))),
        )
        .needs("compute.firewalls.list"),
        row(
            Method::GET,
            FIREWALL_PATH,
            "compute.firewalls.get",
            &[],
            |c| Box::pin(legacy(get_firewall(c))),
        )
        .needs("compute.firewalls.get"),
        row(
            Method::PUT,
            FIREWALL_PATH,
            "compute.firewalls.update",
            &["requestId"],
            |c| Box::pin(legacy(update_firewall(c))),
        )
        .needs("compute.firewalls.update"),
        row(
            Method::DELETE,
            FIREWALL_PATH,
            "compute.firewalls.delete",
            &["requestId"],
            |c| Box::pin(legacy(delete_firewall(c))),
        )
        .needs("compute.firewalls.delete"),
        row(
            Method::GET,
            GLOBAL_OP_PATH,
            "compute.globalOperations.get",
            &[],
            |c| Box::pin(legacy(get_global_operation(c))),
        )
        .needs("compute.globalOperations.get"),
        row(
            Method::POST,
            "/compute/v1/projects/{project}/global/operations/{operation}/wait",
            "compute.globalOperations.wait",
            &[],
            |c| Box::pin(legacy(wait_global_operation(c))),
        )
        .needs("compute.globalOperations.get"),
    ],
};

/// The zone of the path, known to Compute Engine, and its region.
fn known_zone(call: &Call) -> Result<String, ApiError> {
    let zone = call.param("zone");
    region_of_zone(zone)
        .map(str::to_string)
        .ok_or_else(|| not_found(&format!("projects/{}/zones/{zone}", call.param("project"))))
}

fn zonal_key(call: &Call, name: &str) -> vms::ZonalKey {
    (
        call.param("project").to_string(),
        call.param("zone").to_string(),
        call.param(name).to_string(),
    )
}

fn random_id(call: &Call) -> u64 {
    1_000_000_000_000_000_000 + call.emu.random_range(0..8_000_000_000_000_000_000)
}

/// A random external address, for access configs (`natIP`).
fn external_ip(call: &Call) -> String {
    let n = call.emu.random_range(0..65_536);
    format!("34.{}.{}.{}", 60 + n % 60, (n / 60) % 256, 2 + n % 250)
}

async fn insert_instance(call: Call) -> Result<Reply, ApiError> {
    let region = known_zone(&call)?;
    let (project, zone) = (
        call.param("project").to_string(),
        call.param("zone").to_string(),
    );
    let body: Map<String, Value> = crate::json::parse_body(&call.body, &[])?;
    let id = random_id(&call);
    let new = vms::parse_instance(&body, &project, &zone, id)?;
    let name = new.name.clone();
    let mut external = || external_ip(&call);
    let (key, op) = call.emu.world(|w| {
        let resource = format!("projects/{project}/zones/{zone}/instances/{name}");
        let instance_key = (project.clone(), zone.clone(), name.clone());
        if w.compute.instances.contains_key(&instance_key) {
            return Err(already_exists(&resource));
        }
        for disk in &new.disks {
            let disk_name = disk["name"].as_str().unwrap_or_default().to_string();
            if w.compute
                .disks
                .contains_key(&(project.clone(), zone.clone(), disk_name.clone()))
            {
                return Err(already_exists(&format!(
                    "projects/{project}/zones/{zone}/disks/{disk_name}"
                )));
            }
        }
        for disk_name in &new.attach {
            let disk_resource = format!("projects/{project}/zones/{zone}/disks/{disk_name}");
            let disk = w
                .compute
                .disks
                .get(&(project.clone(), zone.clone(), disk_name.clone()))
                .ok_or_else(|| not_found(&disk_resource))?;
            if disk["status"] != "READY" {
                return Err(ApiError::invalid_argument(format!(
                    "The resource '{disk_resource}' is not ready"
                )));
            }
            if let Some(user) = disk["users"].as_array().and_then(|u| u.first()) {
                return Err(ApiError::invalid_argument(format!(
                    "The disk resource '{disk_resource}' is already being used by '{}'",
                    user.as_str().unwrap_or_default()
                )));
            }
        }
        // The account the VM runs as must exist (and be visible): Google refuses the insert.
        let number = w.projects.ensure(&project)?.number;
        let default_account = format!("{number}-compute@developer.gserviceaccount.com");
        for account in body
            .get("serviceAccounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let email = account["email"].as_str().unwrap_or_default();
            if !email.is_empty()
                && email != "default"
                && email != default_account
                && !w.iam.is_visible_email(email)
            {
                return Err(ApiError::invalid_argument(format!(
                    "The resource 'projects/{project}/serviceAccounts/{email}' was not found"
                )));
            }
        }
        let taken = vms::used_addresses(&w.compute, &project);
        let p = w.projects.ensure(&project)?;
        let network = p.networks.get(&new.network).ok_or_else(|| {
            not_found(&format!(
                "projects/{project}/global/networks/{}",
                new.network
            ))
        })?;
        let mut instance = new.instance.clone();
        vms::assign_addresses(
            &mut instance,
            network,
            &project,
            &region,
            &taken,
            &mut external,
        )?;
        let link = instance["selfLink"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for disk in &new.disks {
            let disk_name = disk["name"].as_str().unwrap_or_default().to_string();
            w.compute
                .disks
                .insert((project.clone(), zone.clone(), disk_name), disk.clone());
        }
        for disk_name in &new.attach {
            let disk_key = (project.clone(), zone.clone(), disk_name.clone());
            if let Some(users) = w
                .compute
                .disks
                .get_mut(&disk_key)
                .and_then(|d| d["users"].as_array_mut())
            {
                users.push(link.clone().into());
            }
        }
        w.compute.instances.insert(
            instance_key,
            Instance {
                json: instance,
                status: Status::Provisioning,
            },
        );
        Ok(operation::start_in(
            &call.emu,
            w,
            &project,
            Scope::Zone(&zone),
            "insert",
            &link,
            id,
        ))
    })?;
    call.emu
        .schedule(INSTANCE_INSERT_LATENCY, move |emu| async move {
            emu.world(|w| {
                if let Some(instance) = w.compute.instances.get_mut(&(project, zone, name))
                    && instance.status == Status::Provisioning
                {
                    instance.status = Status::Running;
                }
                operation::finish(w, &key, Ok(()));
            });
        });
    Ok(Reply::Json(op))
}

/// Lists a zonal collection (`instances`, `disks`) of the path's project and zone.
fn list_zonal<T>(
    call: &Call,
    collection: &str,
    kind: &str,
    store: impl Fn(&vms::Store) -> &BTreeMap<vms::ZonalKey, T>,
    to_json: impl Fn(&T) -> Value,
) -> Result<Reply, ApiError> {
    known_zone(call)?;
    let (project, zone) = (call.param("project"), call.param("zone"));
    let items = call.emu.world(|w| {
        store(&w.compute)
            .iter()
            .filter(|((p, z, _), _)| p == project && z == zone)
            .map(|(_, item)| to_json(item))
            .collect()
    });
    let id = format!("projects/{project}/zones/{zone}/{collection}");
    list_answer(call, kind, &id, items)
}

/// Reads one resource of a zonal collection, named by the path parameter `param`.
fn get_zonal<T>(
    call: &Call,
    param: &str,
    collection: &str,
    store: impl Fn(&vms::Store) -> &BTreeMap<vms::ZonalKey, T>,
    to_json: impl Fn(&T) -> Value,
) -> Result<Reply, ApiError> {
    known_zone(call)?;
    let key = zonal_key(call, param);
    call.emu
        .world(|w| store(&w.compute).get(&key).map(&to_json))
        .map(Reply::Json)
        .ok_or_else(|| {
            not_found(&format!(
                "projects/{}/zones/{}/{collection}/{}",
                key.0, key.1, key.2
            ))
        })
}

async fn list_instances(call: Call) -> Result<Reply, ApiError> {
    list_zonal(
        &call,
        "instances",
        "compute#instanceList",
        |s| &s.instances,
        Instance::to_json,
    )
}

async fn get_instance(call: Call) -> Result<Reply, ApiError> {
    get_zonal(
        &call,
        "instance",
        "instances",
        |s| &s.instances,
        Instance::to_json,
    )
}

/// Deletes the instance (STOPPING meanwhile) and its `autoDelete` disks; other disks stay,
/// detached.
async fn delete_instance(call: Call) -> Result<Reply, ApiError> {
    known_zone(&call)?;
    let key = zonal_key(&call, "instance");
    let resource = format!("projects/{}/zones/{}/instances/{}", key.0, key.1, key.2);
    let (op_key, op) = call.emu.world(|w| {
        let instance = w
            .compute
            .instances
            .get_mut(&key)
            .ok_or_else(|| not_found(&resource))?;
        if instance.json["deletionProtection"] == Value::Bool(true) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid resource usage: 'Resource cannot be deleted if it's protected against deletion.'. ({resource})"
            )));
        }
        instance.status = Status::Stopping;
        let link = instance.json["selfLink"].as_str().unwrap_or_default().to_string();
        let id = resource_id(&instance.json);
        Ok(operation::start_in(
            &call.emu,
            w,
            &key.0,
            Scope::Zone(&key.1),
            "delete",
            &link,
            id,
        ))
    })?;
    call.emu
        .schedule(INSTANCE_DELETE_LATENCY, move |emu| async move {
            emu.world(|w| {
                if let Some(instance) = w.compute.instances.remove(&key) {
                    let link = instance.json["selfLink"].clone();
                    for disk in instance.json["disks"].as_array().into_iter().flatten() {
                        let name = disk["source"]
                            .as_str()
                            .and_then(|s| s.rsplit('/').next())
                            .unwrap_or_default()
                            .to_string();
                        let disk_key = (key.0.clone(), key.1.clone(), name);
                        if disk["autoDelete"] == Value::Bool(true) {
                            w.compute.disks.remove(&disk_key);
                        } else if let Some(d) = w.compute.disks.get_mut(&disk_key)
                            && let Some(users) = d["users"].as_array_mut()
                        {
                            users.retain(|u| *u != link);
                        }
                    }
                }
                operation::finish(w, &op_key, Ok(()));
            });
        });
    Ok(Reply::Json(op))
}

/// Creates a blank persistent disk (a zonal operation); READY once the operation is done.
async fn insert_disk(call: Call) -> Result<Reply, ApiError> {
    known_zone(&call)?;
    let (project, zone) = (
        call.param("project").to_string(),
        call.param("zone").to_string(),
    );
    let body: Map<String, Value> = crate::json::parse_body(&call.body, &[])?;
    let (name, mut disk) = vms::parse_disk(&body, &project, &zone)?;
    let (key, op) = call.emu.world(|w| {
        w.projects.ensure(&project)?;
        let disk_key = (project.clone(), zone.clone(), name.clone());
        if w.compute.disks.contains_key(&disk_key) {
            return Err(already_exists(&format!(
                "projects/{project}/zones/{zone}/disks/{name}"
            )));
        }
        disk["status"] = "CREATING".into();
        let link = disk["selfLink"].as_str().unwrap_or_default().to_string();
        let id = resource_id(&disk);
        w.compute.disks.insert(disk_key, disk);
        Ok(operation::start_in(
            &call.emu,
            w,
            &project,
            Scope::Zone(&zone),
            "insert",
            &link,
            id,
        ))
    })?;
    call.emu
        .schedule(DISK_INSERT_LATENCY, move |emu| async move {
            emu.world(|w| {
                if let Some(disk) = w.compute.disks.get_mut(&(project, zone, name)) {
                    disk["status"] = "READY".into();
                }
                operation::finish(w, &key, Ok(()));
            });
        });
    Ok(Reply::Json(op))
}

async fn list_disks(call: Call) -> Result<Reply, ApiError> {
    list_zonal(
        &call,
        "disks",
        "compute#diskList",
        |s| &s.disks,
        Value::clone,
    )
}

async fn get_disk(call: Call) -> Result<Reply, ApiError> {
    get_zonal(&call, "disk", "disks", |s| &s.disks, Value::clone)
}

/// Deletes a disk no instance uses (one in use: 400 resourceInUseByAnotherResource).
async fn delete_disk(call: Call) -> Result<Reply, ApiError> {
    known_zone(&call)?;
    let key = zonal_key(&call, "disk");
    let resource = format!("projects/{}/zones/{}/disks/{}", key.0, key.1, key.2);
    let (op_key, op) = call.emu.world(|w| {
        let disk = w
            .compute
            .disks
            .get(&key)
            .ok_or_else(|| not_found(&resource))?;
        if let Some(user) = disk["users"].as_array().and_then(|u| u.first()) {
            return Err(ApiError::invalid_argument(format!(
                "The disk resource '{resource}' is already being used by '{}'",
                user.as_str().unwrap_or_default()
            )));
        }
        let link = disk["selfLink"].as_str().unwrap_or_default().to_string();
        let id = resource_id(disk);
        w.compute.disks.remove(&key);
        Ok(operation::start_in(
            &call.emu,
            w,
            &key.0,
            Scope::Zone(&key.1),
            "delete",
            &link,
            id,
        ))
    })?;
    call.emu.schedule(FIREWALL_LATENCY, move |emu| async move {
        emu.world(|w| operation::finish(w, &op_key, Ok(())));
    });
    Ok(Reply::Json(op))
}

fn find_operation(call: &Call, key: String) -> Result<(Value, bool), ApiError> {
    call.emu
        .world(|w| operation::get(w, &key))
        .ok_or_else(|| not_found(&key))
}

fn zone_operation_key(call: &Call) -> Result<String, ApiError> {
    known_zone(call)?;
    Ok(Scope::Zone(call.param("zone")).key(call.param("project"), call.param("operation")))
}

fn global_operation_key(call: &Call) -> String {
    Scope::Global.key(call.param("project"), call.param("operation"))
}

async fn get_zone_operation(call: Call) -> Result<Reply, ApiError> {
    let key = zone_operation_key(&call)?;
    Ok(Reply::Json(find_operation(&call, key)?.0))
}

async fn wait_zone_operation(call: Call) -> Result<Reply, ApiError> {
    let key = zone_operation_key(&call)?;
    wait_for(|| find_operation(&call, key.clone())).await
}

async fn get_global_operation(call: Call) -> Result<Reply, ApiError> {
    let key = global_operation_key(&call);
    Ok(Reply::Json(find_operation(&call, key)?.0))
}

async fn wait_global_operation(call: Call) -> Result<Reply, ApiError> {
    let key = global_operation_key(&call);
    wait_for(|| find_operation(&call, key.clone())).await
}

async fn insert_firewall(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project").to_string();
    let body: Map<String, Value> = crate::json::parse_body(&call.body, &[])?;
    let id = random_id(&call);
    let (name, network, rule) = vms::parse_firewall(&body, &project, id)?;
    let (key, op) = call.emu.world(|w| {
        let p = w.projects.ensure(&project)?;
        if !p.networks.contains_key(&network) {
            return Err(not_found(&format!(
                "projects/{project}/global/networks/{network}"
            )));
        }
        let fw_key = (project.clone(), name.clone());
        if w.compute.firewalls.contains_key(&fw_key) {
            return Err(already_exists(&format!(
                "projects/{project}/global/firewalls/{name}"
            )));
        }
        let link = rule["selfLink"].as_str().unwrap_or_default().to_string();
        w.compute.firewalls.insert(
            fw_key,
            Firewall {
                json: rule,
                ready: false,
            },
        );
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
    call.emu.schedule(FIREWALL_LATENCY, move |emu| async move {
        emu.world(|w| {
            if let Some(fw) = w.compute.firewalls.get_mut(&(project, name)) {
                fw.ready = true;
            }
            operation::finish(w, &key, Ok(()));
        });
    });
    Ok(Reply::Json(op))
}

async fn list_firewalls(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project");
    let items = call.emu.world(|w| {
        w.compute
            .firewalls
            .iter()
            .filter(|((p, _), f)| p == project && f.ready)
            .map(|(_, f)| f.json.clone())
            .collect()
    });
    let id = format!("projects/{project}/global/firewalls");
    list_answer(&call, "compute#firewallList", &id, items)
}

fn firewall_resource(call: &Call) -> String {
    format!(
        "projects/{}/global/firewalls/{}",
        call.param("project"),
        call.param("firewall")
    )
}

async fn get_firewall(call: Call) -> Result<Reply, ApiError> {
    let key = (
        call.param("project").to_string(),
        call.param("firewall").to_string(),
    );
    call.emu
        .world(|w| {
            w.compute
                .firewalls
                .get(&key)
                .filter(|f| f.ready)
                .map(|f| f.json.clone())
        })
        .map(Reply::Json)
        .ok_or_else(|| not_found(&firewall_resource(&call)))
}

/// `firewalls.update`: the whole rule replaced in place (its ID, creation time and link kept),
/// so traffic it admits before and after is never cut; its name and network cannot change.
async fn update_firewall(call: Call) -> Result<Reply, ApiError> {
    let project = call.param("project").to_string();
    let name = call.param("firewall").to_string();
    let resource = firewall_resource(&call);
    let body: Map<String, Value> = crate::json::parse_body(&call.body, &[])?;
    let key = (project.clone(), name.clone());
    let (op_key, op) = call.emu.world(|w| {
        let found = w
            .compute
            .firewalls
            .get(&key)
            .filter(|f| f.ready)
            .ok_or_else(|| not_found(&resource))?;
        let id = resource_id(&found.json);
        let (new_name, network, mut rule) = vms::parse_firewall(&body, &project, id)?;
        if new_name != name {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value for field 'resource.name': '{new_name}'. The name of the firewall rule cannot be changed."
            )));
        }
        if rule["network"] != found.json["network"] {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value for field 'resource.network': '{network}'. The network of the firewall rule cannot be changed."
            )));
        }
        rule["creationTimestamp"] = found.json["creationTimestamp"].clone();
        let link = rule["selfLink"].as_str().unwrap_or_default().to_string();
        if let Some(stored) = w.compute.firewalls.get_mut(&key) {
            stored.json = rule;
        }
        Ok(operation::start_in(
            &call.emu,
            w,
            &project,
            Scope::Global,
            "update",
            &link,
            id,
        ))
    })?;
    call.emu.schedule(FIREWALL_LATENCY, move |emu| async move {
        emu.world(|w| operation::finish(w, &op_key, Ok(())));
    });
    Ok(Reply::Json(op))
}

/// A stored resource's numeric ID (Compute writes it as a string), for its operations.
fn resource_id(json: &Value) -> u64 {
    json["id"]
        .as_str()
        .and_then(|i| i.parse().ok())
        .unwrap_or(0)
}

async fn delete_firewall(call: Call) -> Result<Reply, ApiError> {
    let key = (
        call.param("project").to_string(),
        call.param("firewall").to_string(),
    );
    let resource = firewall_resource(&call);
    let (op_key, op) = call.emu.world(|w| {
        let fw = w
            .compute
            .firewalls
            .get(&key)
            .filter(|f| f.ready)
            .ok_or_else(|| not_found(&resource))?;
        let link = fw.json["selfLink"].as_str().unwrap_or_default().to_string();
        let id = resource_id(&fw.json);
        Ok(operation::start_in(
            &call.emu,
            w,
            &key.0,
            Scope::Global,
            "delete",
            &link,
            id,
        ))
    })?;
    call.emu.schedule(FIREWALL_LATENCY, move |emu| async move {
        emu.world(|w| {
            w.compute.firewalls.remove(&key);
            operation::finish(w, &op_key, Ok(()));
        });
    });
    Ok(Reply::Json(op))
}
