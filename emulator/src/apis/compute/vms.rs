//! Compute Engine instances, their persistent disks and firewall rules (store and rules, no
//! HTTP): what an insert must carry (RFC 1035 names, a machine type of the zone, one boot disk
//! first, created from an image through `initializeParams`, existing disks attached by
//! `source`, a network of the project), blank disks of `disks.insert`,
//! ALREADY_EXISTS on instances, disks and firewalls, disks deleted with their instance when
//! `autoDelete`, and Google's defaults (firewall priority 1000, INGRESS from 0.0.0.0/0 when no
//! source is named). Instances and disks are kept as the JSON Google answers.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::fields;
use super::model::{Network, URL_PREFIX, is_region, network_link};
use super::rules::{NAME_RULE, network_of};
use crate::error::ApiError;
use crate::validate;

/// Machine types the emulator knows, in every zone (a modelled subset of Google's).
const MACHINE_TYPES: &[&str] = &[
    "e2-micro",
    "e2-small",
    "e2-medium",
    "e2-standard-2",
    "e2-standard-4",
    "n1-standard-1",
    "n2-standard-2",
];
/// Disk types of `initializeParams.diskType`.
const DISK_TYPES: &[&str] = &["pd-standard", "pd-balanced", "pd-ssd"];
/// Public image projects `sourceImage` may name (families or images).
const IMAGE_PROJECTS: &[&str] = &["cos-cloud", "debian-cloud", "ubuntu-os-cloud"];
/// A boot disk's size when `diskSizeGb` is not given (the images' own size).
const DEFAULT_BOOT_DISK_GB: u64 = 10;

/// An instance's life: PROVISIONING until its insert operation is done, then RUNNING;
/// STOPPING while it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Provisioning,
    Running,
    Stopping,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Provisioning => "PROVISIONING",
            Status::Running => "RUNNING",
            Status::Stopping => "STOPPING",
        }
    }
}

/// An instance: the resource as Google answers it, and its status.
#[derive(Clone, Debug)]
pub struct Instance {
    pub json: Value,
    pub status: Status,
}

impl Instance {
    pub fn to_json(&self) -> Value {
        let mut v = self.json.clone();
        v["status"] = Value::from(self.status.name());
        v
    }
}

/// A firewall rule; `ready` once its insert operation is done (listed and readable only then).
#[derive(Clone, Debug)]
pub struct Firewall {
    pub json: Value,
    pub ready: bool,
}

/// `(project, zone, name)`.
pub type ZonalKey = (String, String, String);

/// Instances, disks and firewall rules of every project.
#[derive(Debug, Default, serde::Serialize)]
pub struct Store {
    #[serde(serialize_with = "serialize_instances")]
    pub instances: BTreeMap<ZonalKey, Instance>,
    #[serde(serialize_with = "serialize_values")]
    pub disks: BTreeMap<ZonalKey, Value>,
    #[serde(serialize_with = "serialize_firewalls")]
    pub firewalls: BTreeMap<(String, String), Firewall>,
}

fn serialize_instances<S: serde::Serializer>(
    map: &BTreeMap<ZonalKey, Instance>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.values().map(Instance::to_json))
}

fn serialize_values<S: serde::Serializer>(
    map: &BTreeMap<ZonalKey, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.values())
}

fn serialize_firewalls<S: serde::Serializer>(
    map: &BTreeMap<(String, String), Firewall>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(map.values().map(|f| &f.json))
}

/// The region of a zone Compute Engine knows (`us-central1-a` → `us-central1`).
pub fn region_of_zone(zone: &str) -> Option<&str> {
    let (region, letter) = zone.rsplit_once('-')?;
    let letters: &[&str] = match region {
        "us-central1" => &["a", "b", "c", "f"],
        "europe-west1" | "us-east1" => &["b", "c", "d"],
        _ => &["a", "b", "c"],
    };
    (is_region(region) && letters.contains(&letter)).then_some(region)
}

pub fn zone_link(project: &str, zone: &str) -> String {
    format!("{URL_PREFIX}projects/{project}/zones/{zone}")
}

fn field_error(field: &str, value: &str, why: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "Invalid value for field '{field}': '{value}'. {why}"
    ))
}

fn required(field: &str) -> ApiError {
    ApiError::invalid_argument(format!("Required field '{field}' not specified"))
}

pub fn already_exists(resource: &str) -> ApiError {
    ApiError::already_exists(format!("The resource '{resource}' already exists"))
}

pub fn not_found(resource: &str) -> ApiError {
    ApiError::not_found(format!("The resource '{resource}' was not found"))
}

fn text<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "Invalid value at '{path}.{key}' (TYPE_STRING), {other}"
        ))),
    }
}

fn flag(object: &Map<String, Value>, key: &str, path: &str) -> Result<bool, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "Invalid value at '{path}.{key}' (TYPE_BOOL), {other}"
        ))),
    }
}

/// An int64 field: a JSON string (proto3 JSON) or a number.
fn int64(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, ApiError> {
    let bad = |v: &Value| {
        ApiError::invalid_argument(format!("Invalid value at '{path}.{key}' (TYPE_INT64), {v}"))
    };
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::String(s)) => s.parse().map(Some).map_err(|_| bad(v)),
        Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(v)),
        Some(other) => Err(bad(other)),
    }
}

fn labels_of(object: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let labels: BTreeMap<String, String> = match object.get("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => crate::json::from_value(v.clone())?,
    };
    validate::labels(&labels)?;
    Ok(labels)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(required("resource.name"));
    }
    if !validate::lower_id(name, 1, 63) {
        return Err(field_error("resource.name", name, NAME_RULE));
    }
    Ok(())
}

/// The last segment of a zonal URL `[…/]zones/Z/KIND/NAME`, checked to be in `zone`.
fn zonal_name<'a>(url: &'a str, kind: &str, zone: &str, field: &str) -> Result<&'a str, ApiError> {
    let path = url.strip_prefix(URL_PREFIX).unwrap_or(url);
    let parts: Vec<&str> = path.split('/').collect();
    let tail = match parts[..] {
        ["projects", _, "zones", z, k, name] | ["zones", z, k, name] if k == kind => {
            Some((z, name))
        }
        [name] => Some((zone, name)),
        _ => None,
    };
    match tail {
        Some((z, name)) if z == zone && !name.is_empty() => Ok(name),
        _ => Err(field_error(field, url, "The URL is malformed.")),
    }
}

/// The image a boot disk starts from: `projects/P/global/images/[family/]NAME` of a public
/// image project the emulator knows.
fn check_image(url: &str, field: &str) -> Result<(), ApiError> {
    let path = url.strip_prefix(URL_PREFIX).unwrap_or(url);
    let parts: Vec<&str> = path.split('/').collect();
    let project = match parts[..] {
        ["projects", p, "global", "images", name] if !name.is_empty() => p,
        ["projects", p, "global", "images", "family", name] if !name.is_empty() => p,
        _ => return Err(field_error(field, url, "The URL is malformed.")),
    };
    if IMAGE_PROJECTS.contains(&project) {
        Ok(())
    } else {
        Err(not_found(path))
    }
}

/// A checked instance insert: the instance as Google will answer it, and the disks it creates.
pub struct NewInstance {
    pub name: String,
    pub network: String,
    pub instance: Value,
    pub disks: Vec<Value>,
    /// Existing disks it attaches (`source`): they must exist and be in no other's `users`.
    pub attach: Vec<String>,
}

/// Checks an instance insert body on its own (the store and network checks come after) and
/// builds the instance and its new disks. `ip` gives the address of nic0 in the subnet.
pub fn parse_instance(
    body: &Map<String, Value>,
    project: &str,
    zone: &str,
    id: u64,
) -> Result<NewInstance, ApiError> {
    fields::check(&Value::Object(body.clone()), &fields::INSTANCE, "resource")?;
    let name = text(body, "name", "resource")?.to_string();
    check_name(&name)?;
    let machine = text(body, "machineType", "resource")?;
    if machine.is_empty() {
        return Err(required("resource.machineType"));
    }
    let machine_name = zonal_name(machine, "machineTypes", zone, "resource.machineType")?;
    if !MACHINE_TYPES.contains(&machine_name) {
        return Err(field_error(
            "resource.machineType",
            machine,
            &format!("Machine type with name '{machine_name}' does not exist in zone '{zone}'."),
        ));
    }
    let labels = labels_of(body)?;
    let zone_url = zone_link(project, zone);
    let ParsedDisks {
        attached,
        created: disks,
        existing: attach,
    } = parse_disks(body, project, zone, &name)?;
    let (network, interfaces) = parse_interfaces(body, project)?;
    let metadata = parse_metadata(body)?;
    let now = crate::json::now_timestamp();
    let mut instance = body.clone();
    instance.insert("kind".into(), "compute#instance".into());
    instance.insert("id".into(), id.to_string().into());
    instance.insert("creationTimestamp".into(), now.into());
    instance.insert("zone".into(), zone_url.clone().into());
    instance.insert(
        "machineType".into(),
        format!("{zone_url}/machineTypes/{machine_name}").into(),
    );
    instance.insert("disks".into(), Value::Array(attached));
    instance.insert("networkInterfaces".into(), Value::Array(interfaces));
    instance.insert("metadata".into(), metadata);
    instance.insert("labels".into(), json!(labels));
    instance.insert(
        "labelFingerprint".into(),
        fingerprint(&json!(labels)).into(),
    );
    instance.insert("fingerprint".into(), fingerprint(&Value::from(id)).into());
    instance.insert(
        "selfLink".into(),
        format!("{zone_url}/instances/{name}").into(),
    );
    instance.insert("cpuPlatform".into(), "Intel Broadwell".into());
    instance.insert("startRestricted".into(), false.into());
    instance.entry("deletionProtection").or_insert(false.into());
    instance.entry("canIpForward").or_insert(false.into());
    instance.entry("scheduling").or_insert(json!({
        "onHostMaintenance": "MIGRATE",
        "automaticRestart": true,
        "preemptible": false,
        "provisioningModel": "STANDARD",
    }));
    instance.remove("status");
    Ok(NewInstance {
        name,
        network,
        instance: Value::Object(instance),
        disks,
        attach,
    })
}

/// The attached disks as the instance lists them, and the disks `initializeParams` creates.
fn parse_disks(
    body: &Map<String, Value>,
    project: &str,
    zone: &str,
    instance: &str,
) -> Result<ParsedDisks, ApiError> {
    let list = match body.get("disks") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => {
            return Err(field_error(
                "resource.disks",
                "",
                "At least one disk must be attached to the instance.",
            ));
        }
    };
    let zone_url = zone_link(project, zone);
    let instance_url = format!("{zone_url}/instances/{instance}");
    let mut attached = Vec::new();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for (index, disk) in list.iter().enumerate() {
        let path = format!("resource.disks[{index}]");
        let disk = disk.as_object().cloned().unwrap_or_default();
        let boot = flag(&disk, "boot", &path)?;
        if boot != (index == 0) {
            return Err(field_error(
                &format!("{path}.boot"),
                &boot.to_string(),
                "Boot disk must be the first disk attached to the instance.",
            ));
        }
        let source = text(&disk, "source", &path)?.to_string();
        let params = disk.get("initializeParams").and_then(Value::as_object);
        let disk_name = match (source.is_empty(), params) {
            (false, Some(_)) => {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid value for field '{path}': ''. Cannot specify both 'source' and 'initializeParams'."
                )));
            }
            (true, None) => return Err(required(&format!("{path}.source"))),
            (false, None) => {
                // An existing disk of the zone: the caller checks it exists and is free.
                let name = zonal_name(&source, "disks", zone, &format!("{path}.source"))?;
                existing.push(name.to_string());
                name.to_string()
            }
            (true, Some(params)) => {
                let ppath = format!("{path}.initializeParams");
                let image = text(params, "sourceImage", &ppath)?;
                if image.is_empty() && boot {
                    return Err(required(&format!("{ppath}.sourceImage")));
                }
                if !image.is_empty() {
                    check_image(image, &format!("{ppath}.sourceImage"))?;
                }
                let size = int64(params, "diskSizeGb", &ppath)?;
                if image.is_empty() && size.is_none() {
                    return Err(required(&format!("{ppath}.diskSizeGb")));
                }
                let size = size.unwrap_or(DEFAULT_BOOT_DISK_GB);
                let smallest = if boot { DEFAULT_BOOT_DISK_GB } else { 1 };
                if !(smallest..=65_536).contains(&size) {
                    return Err(field_error(
                        &format!("{ppath}.diskSizeGb"),
                        &size.to_string(),
                        "Disk size must be between 10 GB and 65536 GB for a boot disk, 1 GB for others.",
                    ));
                }
                let disk_type = disk_type_of(
                    text(params, "diskType", &ppath)?,
                    project,
                    zone,
                    &format!("{ppath}.diskType"),
                )?;
                let name = match text(params, "diskName", &ppath)? {
                    "" if boot => instance.to_string(),
                    "" => format!("{instance}-{index}"),
                    n => n.to_string(),
                };
                if !validate::lower_id(&name, 1, 63) {
                    return Err(field_error(&format!("{ppath}.diskName"), &name, NAME_RULE));
                }
                let labels = labels_of(params)?;
                if created
                    .iter()
                    .any(|d: &Value| d["name"].as_str() == Some(name.as_str()))
                {
                    return Err(already_exists(&format!(
                        "projects/{project}/zones/{zone}/disks/{name}"
                    )));
                }
                let mut new = disk_resource(
                    project,
                    zone,
                    &name,
                    size,
                    disk_type,
                    &labels,
                    vec![instance_url.clone()],
                );
                if !image.is_empty() {
                    new["sourceImage"] = format!(
                        "{URL_PREFIX}{}",
                        image.strip_prefix(URL_PREFIX).unwrap_or(image)
                    )
                    .into();
                }
                created.push(new);
                name
            }
        };
        let mut entry = disk.clone();
        entry.remove("initializeParams");
        entry.insert("kind".into(), "compute#attachedDisk".into());
        entry.insert("index".into(), index.into());
        entry.insert("boot".into(), boot.into());
        entry.insert(
            "autoDelete".into(),
            flag(&disk, "autoDelete", &path)?.into(),
        );
        entry.entry("deviceName").or_insert(if boot {
            "persistent-disk-0".into()
        } else {
            format!("persistent-disk-{index}").into()
        });
        entry.entry("type").or_insert("PERSISTENT".into());
        entry.entry("mode").or_insert("READ_WRITE".into());
        entry.entry("interface").or_insert("SCSI".into());
        entry.insert(
            "source".into(),
            format!("{zone_url}/disks/{disk_name}").into(),
        );
        attached.push(Value::Object(entry));
    }
    Ok(ParsedDisks {
        attached,
        created,
        existing,
    })
}

/// An instance's disks: as it lists them, the ones `initializeParams` creates, and the names
/// of the existing disks it attaches by `source`.
struct ParsedDisks {
    attached: Vec<Value>,
    created: Vec<Value>,
    existing: Vec<String>,
}

/// A persistent disk as Google answers it.
fn disk_resource(
    project: &str,
    zone: &str,
    name: &str,
    size: u64,
    disk_type: &str,
    labels: &BTreeMap<String, String>,
    users: Vec<String>,
) -> Value {
    let zone_url = zone_link(project, zone);
    json!({
        "kind": "compute#disk",
        "id": super::model::stable_id(&format!("{project}/{zone}/{name}/{}", crate::json::now_timestamp())).to_string(),
        "creationTimestamp": crate::json::now_timestamp(),
        "name": name,
        "sizeGb": size.to_string(),
        "zone": zone_url,
        "status": "READY",
        "selfLink": format!("{zone_url}/disks/{name}"),
        "type": format!("{zone_url}/diskTypes/{disk_type}"),
        "users": users,
        "labels": labels,
        "labelFingerprint": fingerprint(&json!(labels)),
        "physicalBlockSizeBytes": "4096",
    })
}

/// The disk type of a `type`/`diskType` URL of `zone` (pd-standard when empty).
fn disk_type_of<'a>(
    url: &'a str,
    project: &str,
    zone: &str,
    path: &str,
) -> Result<&'a str, ApiError> {
    if url.is_empty() {
        return Ok("pd-standard");
    }
    let t = zonal_name(url, "diskTypes", zone, path)?;
    if !DISK_TYPES.contains(&t) {
        return Err(not_found(&format!(
            "projects/{project}/zones/{zone}/diskTypes/{t}"
        )));
    }
    Ok(t)
}

/// Checks a `disks.insert` body (a blank persistent disk: name, `sizeGb` 1-65536, a disk type
/// of the zone, labels) and builds the disk as Google answers it, in no instance's `users`.
pub fn parse_disk(
    body: &Map<String, Value>,
    project: &str,
    zone: &str,
) -> Result<(String, Value), ApiError> {
    fields::check(&Value::Object(body.clone()), &fields::DISK, "resource")?;
    let name = text(body, "name", "resource")?.to_string();
    check_name(&name)?;
    if !text(body, "sourceImage", "resource")?.is_empty()
        || !text(body, "sourceSnapshot", "resource")?.is_empty()
    {
        return Err(ApiError::invalid_argument(
            "the emulator models blank disks only (no sourceImage or sourceSnapshot)",
        ));
    }
    let size = int64(body, "sizeGb", "resource")?.ok_or_else(|| required("resource.sizeGb"))?;
    if !(1..=65_536).contains(&size) {
        return Err(field_error(
            "resource.sizeGb",
            &size.to_string(),
            "Disk size must be between 1 GB and 65536 GB.",
        ));
    }
    let disk_type = disk_type_of(
        text(body, "type", "resource")?,
        project,
        zone,
        "resource.type",
    )?;
    let labels = labels_of(body)?;
    let mut disk = disk_resource(project, zone, &name, size, disk_type, &labels, Vec::new());
    let description = text(body, "description", "resource")?;
    if !description.is_empty() {
        disk["description"] = description.into();
    }
    Ok((name, disk))
}

/// nic0 (Compute Engine allows more; chatctl sends one): its network, and the interfaces as
/// the instance lists them (addresses filled in by [`assign_addresses`]).
fn parse_interfaces(
    body: &Map<String, Value>,
    project: &str,
) -> Result<(String, Vec<Value>), ApiError> {
    let list = match body.get("networkInterfaces") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(required("resource.networkInterfaces")),
    };
    let mut network = String::new();
    let mut interfaces = Vec::new();
    for (index, nic) in list.iter().enumerate() {
        let path = format!("resource.networkInterfaces[{index}]");
        let mut nic = nic.as_object().cloned().unwrap_or_default();
        let net = match text(&nic, "network", &path)? {
            "" => "default".to_string(),
            url => network_of(url, project).map_err(|_| {
                field_error(&format!("{path}.network"), url, "The URL is malformed.")
            })?,
        };
        if index == 0 {
            network = net.clone();
        }
        nic.insert("kind".into(), "compute#networkInterface".into());
        nic.insert("name".into(), format!("nic{index}").into());
        nic.insert("network".into(), network_link(project, &net).into());
        nic.insert("stackType".into(), "IPV4_ONLY".into());
        if let Some(Value::Array(configs)) = nic.get_mut("accessConfigs") {
            for config in configs.iter_mut() {
                if let Some(c) = config.as_object_mut() {
                    c.insert("kind".into(), "compute#accessConfig".into());
                    c.entry("type").or_insert("ONE_TO_ONE_NAT".into());
                    c.entry("name").or_insert("External NAT".into());
                    c.entry("networkTier").or_insert("PREMIUM".into());
                }
            }
        }
        interfaces.push(Value::Object(nic));
    }
    Ok((network, interfaces))
}

/// `metadata.items`: keys of letters, digits, `-` and `_` (at most 128), each once; 512 KB in all.
fn parse_metadata(body: &Map<String, Value>) -> Result<Value, ApiError> {
    let items = body
        .get("metadata")
        .and_then(|m| m.get("items"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = Vec::new();
    let mut size = 0;
    for (i, item) in items.iter().enumerate() {
        let key = item["key"].as_str().unwrap_or_default();
        let ok = (1..=128).contains(&key.len())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(field_error(
                &format!("resource.metadata.items[{i}].key"),
                key,
                "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'",
            ));
        }
        if seen.contains(&key) {
            return Err(field_error(
                "resource.metadata",
                key,
                "Duplicate keys are not allowed.",
            ));
        }
        seen.push(key);
        size += key.len() + item["value"].as_str().map_or(0, str::len);
    }
    if size > 512 * 1024 {
        return Err(field_error(
            "resource.metadata",
            "",
            "The total size of metadata must be less than 512 KB.",
        ));
    }
    let mut metadata = json!({"kind": "compute#metadata", "fingerprint": fingerprint(&Value::Array(items.clone()))});
    if !items.is_empty() {
        metadata["items"] = Value::Array(items);
    }
    Ok(metadata)
}

/// Gives nic0 the next free address of its network's subnet in `region` (from .2) and every
/// access config an external address. Fails when the network has no subnet there.
pub fn assign_addresses(
    instance: &mut Value,
    network: &Network,
    project: &str,
    region: &str,
    taken: &[String],
    external: &mut dyn FnMut() -> String,
) -> Result<(), ApiError> {
    let Some(subnet) = network.subnets.iter().find(|s| s.region == region) else {
        return Err(field_error(
            "resource.networkInterfaces[0].subnetwork",
            "",
            &format!(
                "Network '{}' has no subnetwork in region '{region}'.",
                network.name
            ),
        ));
    };
    let base = u32::from(subnet.range.network());
    let ip = (2..subnet.range.hosts().count() as u32)
        .map(|n| std::net::Ipv4Addr::from(base + n).to_string())
        .find(|ip| !taken.contains(ip))
        .ok_or_else(|| {
            ApiError::new(
                crate::error::Code::ResourceExhausted,
                format!("IP space of '{}' is exhausted.", subnet.link(project)),
            )
        })?;
    if let Some(Value::Array(nics)) = instance.get_mut("networkInterfaces") {
        for nic in nics.iter_mut() {
            nic["subnetwork"] = subnet.link(project).into();
            nic["networkIP"] = ip.clone().into();
            nic["fingerprint"] = fingerprint(&Value::from(ip.clone())).into();
            if let Some(Value::Array(configs)) = nic.get_mut("accessConfigs") {
                for config in configs {
                    config["natIP"] = external().into();
                }
            }
        }
    }
    Ok(())
}

/// The internal addresses in use in a project's network (for [`assign_addresses`]).
pub fn used_addresses(store: &Store, project: &str) -> Vec<String> {
    store
        .instances
        .iter()
        .filter(|((p, _, _), _)| p == project)
        .flat_map(|(_, i)| {
            i.json["networkInterfaces"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|nic| nic["networkIP"].as_str().map(str::to_string))
        .collect()
}

/// Checks a firewall insert body and builds the rule as Google answers it (network checked by
/// the caller).
pub fn parse_firewall(
    body: &Map<String, Value>,
    project: &str,
    id: u64,
) -> Result<(String, String, Value), ApiError> {
    fields::check(&Value::Object(body.clone()), &fields::FIREWALL, "resource")?;
    let name = text(body, "name", "resource")?.to_string();
    check_name(&name)?;
    let network = match text(body, "network", "resource")? {
        "" => "default".to_string(),
        url => network_of(url, project)?,
    };
    let direction = match text(body, "direction", "resource")? {
        "" => "INGRESS",
        d @ ("INGRESS" | "EGRESS") => d,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value at 'resource.direction' (TYPE_ENUM), \"{other}\""
            )));
        }
    };
    let priority = match int64(body, "priority", "resource")? {
        None => 1000,
        Some(p) if p <= 65_535 => p,
        Some(p) => {
            return Err(field_error(
                "resource.priority",
                &p.to_string(),
                "Must be less than or equal to 65535",
            ));
        }
    };
    let rules = |key: &str| -> Vec<Value> {
        body.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (allowed, denied) = (rules("allowed"), rules("denied"));
    if allowed.is_empty() == denied.is_empty() {
        return Err(field_error(
            "resource",
            "",
            "Exactly one of 'allowed' or 'denied' must be specified.",
        ));
    }
    let (key, list) = if allowed.is_empty() {
        ("denied", &denied)
    } else {
        ("allowed", &allowed)
    };
    for (i, rule) in list.iter().enumerate() {
        check_rule(rule, &format!("resource.{key}[{i}]"))?;
    }
    let ranges = |key: &str| -> Result<Vec<String>, ApiError> {
        let list: Vec<String> = match body.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => crate::json::from_value(v.clone())?,
        };
        for (i, range) in list.iter().enumerate() {
            let ok =
                range.parse::<ipnet::IpNet>().is_ok() || range.parse::<std::net::IpAddr>().is_ok();
            if !ok {
                return Err(field_error(
                    &format!("resource.{key}[{i}]"),
                    range,
                    "Must be a valid IPV4 or IPV6 CIDR address range.",
                ));
            }
        }
        Ok(list)
    };
    let sources = ranges("sourceRanges")?;
    let destinations = ranges("destinationRanges")?;
    if direction == "INGRESS" && !destinations.is_empty() {
        return Err(field_error(
            "resource.destinationRanges",
            "",
            "Destination ranges are only supported for EGRESS firewall rules.",
        ));
    }
    if direction == "EGRESS" && !sources.is_empty() {
        return Err(field_error(
            "resource.sourceRanges",
            "",
            "Source ranges are only supported for INGRESS firewall rules.",
        ));
    }
    let mut rule = body.clone();
    let names_a_source = ["sourceRanges", "sourceTags", "sourceServiceAccounts"]
        .iter()
        .any(|k| {
            body.get(*k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        });
    if direction == "INGRESS" && !names_a_source {
        rule.insert("sourceRanges".into(), json!(["0.0.0.0/0"]));
    }
    if direction == "EGRESS" && destinations.is_empty() {
        rule.insert("destinationRanges".into(), json!(["0.0.0.0/0"]));
    }
    rule.insert("kind".into(), "compute#firewall".into());
    rule.insert("id".into(), id.to_string().into());
    rule.insert(
        "creationTimestamp".into(),
        crate::json::now_timestamp().into(),
    );
    rule.insert("network".into(), network_link(project, &network).into());
    rule.insert("direction".into(), direction.into());
    rule.insert("priority".into(), priority.into());
    rule.entry("disabled").or_insert(false.into());
    rule.entry("logConfig").or_insert(json!({"enable": false}));
    rule.insert(
        "selfLink".into(),
        format!("{URL_PREFIX}projects/{project}/global/firewalls/{name}").into(),
    );
    Ok((name, network, Value::Object(rule)))
}

/// One `allowed`/`denied` entry: a protocol name or number; ports (N or N-M, 0-65535) only for
/// tcp, udp and sctp.
fn check_rule(rule: &Value, path: &str) -> Result<(), ApiError> {
    let protocol = rule["IPProtocol"].as_str().unwrap_or_default();
    if protocol.is_empty() {
        return Err(required(&format!("{path}.IPProtocol")));
    }
    let named = ["tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"];
    if !named.contains(&protocol) && protocol.parse::<u8>().is_err() {
        return Err(field_error(
            &format!("{path}.IPProtocol"),
            protocol,
            "Must be one of [tcp, udp, icmp, esp, ah, sctp, ipip, all] or an IP protocol number.",
        ));
    }
    let ports: Vec<String> = match rule.get("ports") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => crate::json::from_value(v.clone())?,
    };
    if !ports.is_empty() && !["tcp", "udp", "sctp"].contains(&protocol) {
        return Err(field_error(
            &format!("{path}.ports"),
            &ports.join(","),
            "Ports may only be specified for protocols tcp, udp and sctp.",
        ));
    }
    for (i, port) in ports.iter().enumerate() {
        let valid = |p: &str| p.parse::<u16>().is_ok();
        let ok = match port.split_once('-') {
            Some((a, b)) => valid(a) && valid(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
            None => valid(port),
        };
        if !ok {
            return Err(field_error(
                &format!("{path}.ports[{i}]"),
                port,
                "Must be a port number or a range 'N-M' between 0 and 65535.",
            ));
        }
    }
    Ok(())
}

/// Compute Engine fingerprints: URL-safe base64 of a hash of the value.
fn fingerprint(value: &Value) -> String {
    use base64::Engine;
    let id = super::model::stable_id(&value.to_string());
    base64::engine::general_purpose::URL_SAFE.encode(id.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn vm() -> Value {
        json!({
            "name": "nats-1",
            "machineType": "zones/us-central1-a/machineTypes/e2-small",
            "disks": [{"boot": true, "autoDelete": true, "initializeParams": {"sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
            "networkInterfaces": [{"network": "global/networks/default"}],
        })
    }

    #[test]
    fn an_instance_insert_is_checked_and_completed_like_google() {
        let new = parse_instance(&body(vm()), "p-1", "us-central1-a", 7).unwrap();
        assert_eq!(new.network, "default");
        assert_eq!(new.disks.len(), 1);
        assert_eq!(new.disks[0]["name"], "nats-1");
        assert_eq!(new.instance["disks"][0]["autoDelete"], true);
        assert!(
            new.instance["machineType"]
                .as_str()
                .unwrap()
                .ends_with("/zones/us-central1-a/machineTypes/e2-small")
        );
        let mut bad = vm();
        bad["machineType"] = "zones/us-central1-a/machineTypes/e2-huge".into();
        let err = parse_instance(&body(bad), "p-1", "us-central1-a", 7)
            .err()
            .unwrap();
        assert!(
            err.message.contains(
                "Machine type with name 'e2-huge' does not exist in zone 'us-central1-a'."
            )
        );
        let mut bad = vm();
        bad["name"] = "Nats".into();
        assert!(parse_instance(&body(bad), "p-1", "us-central1-a", 7).is_err());
        let mut bad = vm();
        bad["disks"][0]["boot"] = false.into();
        assert!(parse_instance(&body(bad), "p-1", "us-central1-a", 7).is_err());
    }

    #[test]
    fn a_firewall_gets_google_defaults_and_its_rules_are_checked() {
        let fw =
            json!({"name": "allow-nats", "allowed": [{"IPProtocol": "tcp", "ports": ["4222"]}]});
        let (_, network, rule) = parse_firewall(&body(fw), "p-1", 1).unwrap();
        assert_eq!(network, "default");
        assert_eq!(rule["priority"], 1000);
        assert_eq!(rule["direction"], "INGRESS");
        assert_eq!(rule["sourceRanges"], json!(["0.0.0.0/0"]));
        let both = json!({"name": "x", "allowed": [{"IPProtocol": "tcp"}], "denied": [{"IPProtocol": "udp"}]});
        assert!(parse_firewall(&body(both), "p-1", 1).is_err());
        let icmp_ports = json!({"name": "x", "allowed": [{"IPProtocol": "icmp", "ports": ["1"]}]});
        assert!(parse_firewall(&body(icmp_ports), "p-1", 1).is_err());
    }
}
