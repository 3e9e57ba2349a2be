//! Redis instances and their rules: what a create may ask for, what is checked at once and
//! what only fails inside the finished operation, how addresses are allocated, which states
//! allow which changes.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::projects::Project;
use crate::runtime::{RedisEndpoint, RedisInstanceInfo};
use crate::validate;

use super::server_ca;

/// google.cloud.redis.v1.Instance, as sent and as stored (enums as names).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Instance {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub location_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alternative_location_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub redis_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reserved_ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub secondary_ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub port: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current_location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status_message: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub redis_configs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory_size_gb: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorized_network: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub persistence_iam_identity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_mode: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_ca_certs: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_policy: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance_schedule: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub read_endpoint: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub read_endpoint_port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_replicas_mode: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub customer_managed_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistence_config: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspension_reasons: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub maintenance_version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub available_maintenance_versions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfies_pzs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfies_pzi: Option<bool>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

const VERSIONS: &[&str] = &[
    "REDIS_3_2",
    "REDIS_4_0",
    "REDIS_5_0",
    "REDIS_6_X",
    "REDIS_7_0",
    "REDIS_7_2",
];
const LATEST_VERSION: &str = "REDIS_7_2";
/// Fields `patch` may change (discovery: displayName, labels, memorySizeGb, redisConfigs,
/// replicaCount, plus the newer persistence/maintenance/auth fields).
pub const PATCHABLE: &[&str] = &[
    "displayName",
    "labels",
    "memorySizeGb",
    "redisConfigs",
    "replicaCount",
    "authEnabled",
    "persistenceConfig",
    "maintenancePolicy",
    "readReplicasMode",
    "secondaryIpRange",
];
/// The port Memorystore serves plain Redis on, and the one it serves TLS on instead when
/// in-transit encryption is on.
const PLAIN_PORT: u16 = 6379;
const TLS_PORT: u16 = 6378;
/// Where DIRECT_PEERING ranges are allocated from when the caller names none.
const ALLOCATION_POOL: &str = "10.20.0.0/16";

/// A stored instance; the AUTH string never leaves through `/_emulator/resources`.
#[derive(Clone, Debug, Serialize)]
pub struct Stored {
    #[serde(flatten)]
    pub instance: Instance,
    #[serde(skip)]
    pub auth_string: Option<String>,
    /// Changes waiting for an update operation to finish.
    #[serde(skip)]
    pub pending: Option<Instance>,
}

/// All Redis instances, by full name.
#[derive(Default, Serialize)]
pub struct Store {
    instances: BTreeMap<String, Stored>,
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Resource '{name}' was not found"))
}

fn in_progress(name: &str, action: &str) -> ApiError {
    ApiError::failed_precondition(format!(
        "Unable to {action} instance {name} due to ongoing operations. Please wait until instance is in READY state."
    ))
}

impl Store {
    pub fn get(&self, name: &str) -> Result<&Stored, ApiError> {
        self.instances.get(name).ok_or_else(|| not_found(name))
    }

    /// Instances under `projects/P/locations/L` (`L` = `-` for all locations).
    pub fn list(&self, project: &str, location: &str) -> Vec<Instance> {
        let prefix = format!("projects/{project}/locations/");
        self.instances
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .filter(|(name, _)| {
                location == "-" || name.starts_with(&format!("{prefix}{location}/instances/"))
            })
            .map(|(_, s)| s.instance.clone())
            .collect()
    }

    /// Validates a create request (the checks Google does before answering) and records the
    /// instance as CREATING.
    pub fn create(
        &mut self,
        project: &Project,
        location: &str,
        instance_id: &str,
        mut input: Instance,
        auth_string: String,
    ) -> Result<Instance, ApiError> {
        if !validate::lower_id(instance_id, 1, 40) {
            return Err(ApiError::invalid_argument(format!(
                "instance_id \"{instance_id}\" is invalid: it must be 1-40 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit."
            )));
        }
        let name = format!(
            "projects/{}/locations/{location}/instances/{instance_id}",
            project.id
        );
        let tier = input.tier.clone().unwrap_or_default();
        if tier.is_empty() || tier == "TIER_UNSPECIFIED" {
            return Err(ApiError::invalid_argument(
                "Field 'tier' is required: set it to BASIC or STANDARD_HA.",
            ));
        }
        if !(1..=300).contains(&input.memory_size_gb) {
            return Err(ApiError::invalid_argument(format!(
                "memory_size_gb must be between 1 and 300 (got {}).",
                input.memory_size_gb
            )));
        }
        if input.redis_version.is_empty() {
            input.redis_version = LATEST_VERSION.to_string();
        } else if !VERSIONS.contains(&input.redis_version.as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid redis_version \"{}\"; supported: {}.",
                input.redis_version,
                VERSIONS.join(", ")
            )));
        }
        let read_replicas = input.read_replicas_mode.as_deref() == Some("READ_REPLICAS_ENABLED");
        let replicas = match (tier.as_str(), input.replica_count, read_replicas) {
            ("BASIC", None | Some(0), false) => 0,
            ("BASIC", _, _) => {
                return Err(ApiError::invalid_argument(
                    "Basic tier instances cannot have replicas or read replicas.",
                ));
            }
            (_, None, false) | (_, Some(1), false) => 1,
            (_, None, true) => 2,
            (_, Some(n), true) if (1..=5).contains(&n) => n,
            (_, Some(n), _) => {
                return Err(ApiError::invalid_argument(format!(
                    "replica_count {n} is invalid: 1 without read replicas, 1-5 with READ_REPLICAS_ENABLED."
                )));
            }
        };
        if tier == "BASIC" && !input.alternative_location_id.is_empty() {
            return Err(ApiError::invalid_argument(
                "alternative_location_id can only be set for STANDARD_HA instances.",
            ));
        }
        validate::labels(&input.labels)?;
        for (field, zone) in [
            ("location_id", &input.location_id),
            ("alternative_location_id", &input.alternative_location_id),
        ] {
            let in_region = zone
                .strip_prefix(location)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|z| z.len() == 1 && z.bytes().all(|b| b.is_ascii_lowercase()));
            if !zone.is_empty() && !in_region {
                return Err(ApiError::invalid_argument(format!(
                    "{field} \"{zone}\" is not a zone of region {location} (e.g. {location}-a)."
                )));
            }
        }
        let connect_mode = input
            .connect_mode
            .clone()
            .filter(|m| m != "CONNECT_MODE_UNSPECIFIED")
            .unwrap_or_else(|| "DIRECT_PEERING".to_string());
        if connect_mode == "DIRECT_PEERING" && !input.reserved_ip_range.is_empty() {
            let range = validate::cidr(&input.reserved_ip_range).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "reserved_ip_range \"{}\" is not a valid IPv4 CIDR block.",
                    input.reserved_ip_range
                ))
            })?;
            let wanted = if read_replicas { 28 } else { 29 };
            if range.prefix_len() != wanted {
                return Err(ApiError::invalid_argument(format!(
                    "reserved_ip_range must be a /{wanted} block (got /{}).",
                    range.prefix_len()
                )));
            }
        }
        if self.instances.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Resource '{name}' already exists"
            )));
        }
        if input.authorized_network.is_empty() {
            input.authorized_network = format!("projects/{}/global/networks/default", project.id);
        }
        let instance = Instance {
            name: name.clone(),
            location_id: if input.location_id.is_empty() {
                format!("{location}-a")
            } else {
                input.location_id.clone()
            },
            state: Some("CREATING".to_string()),
            create_time: Some(crate::json::now_timestamp()),
            connect_mode: Some(connect_mode),
            replica_count: Some(replicas),
            read_replicas_mode: Some(
                if read_replicas {
                    "READ_REPLICAS_ENABLED"
                } else {
                    "READ_REPLICAS_DISABLED"
                }
                .to_string(),
            ),
            transit_encryption_mode: Some(
                input
                    .transit_encryption_mode
                    .clone()
                    .filter(|m| m != "TRANSIT_ENCRYPTION_MODE_UNSPECIFIED")
                    .unwrap_or_else(|| "DISABLED".to_string()),
            ),
            host: String::new(),
            port: 0,
            current_location_id: String::new(),
            status_message: String::new(),
            persistence_iam_identity: String::new(),
            server_ca_certs: Vec::new(),
            nodes: Vec::new(),
            read_endpoint: String::new(),
            read_endpoint_port: 0,
            maintenance_schedule: None,
            ..input
        };
        let auth_string = instance.auth_enabled.then_some(auth_string);
        self.instances.insert(
            name,
            Stored {
                instance: instance.clone(),
                auth_string,
                pending: None,
            },
        );
        Ok(instance)
    }

    /// The checks Google makes while provisioning (they fail the operation, not the POST):
    /// the authorized network exists, the reserved range is free. Allocates a /29 when none
    /// was given. Returns what the runtime hook needs.
    pub fn provision(
        &mut self,
        project: &Project,
        name: &str,
        in_use: Vec<(String, Ipv4Net)>,
    ) -> Result<RedisInstanceInfo, ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let instance = &mut stored.instance;
        let network = instance
            .authorized_network
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let expected = format!("projects/{}/global/networks/{network}", project.id);
        if instance.authorized_network != expected && instance.authorized_network != network
            || !project.networks.contains_key(&network)
        {
            return Err(ApiError::invalid_argument(format!(
                "Invalid authorized network: {}. The network must exist in project {} (e.g. projects/{}/global/networks/default).",
                instance.authorized_network, project.id, project.id
            )));
        }
        instance.authorized_network = expected;
        if instance.connect_mode.as_deref() == Some("DIRECT_PEERING") {
            if instance.reserved_ip_range.is_empty() {
                let size =
                    if instance.read_replicas_mode.as_deref() == Some("READ_REPLICAS_ENABLED") {
                        28
                    } else {
                        29
                    };
                let range = allocate(&in_use, size).ok_or_else(|| {
                    ApiError::new(
                        crate::error::Code::ResourceExhausted,
                        "No free IP range is left for the instance.",
                    )
                })?;
                instance.reserved_ip_range = range.to_string();
            } else if let Some(range) = validate::cidr(&instance.reserved_ip_range)
                && let Some((what, _)) = validate::first_overlap(&range, &in_use)
            {
                return Err(ApiError::invalid_argument(format!(
                    "The reserved IP range {} overlaps with {what}. Choose an unused range.",
                    instance.reserved_ip_range
                )));
            }
        }
        Ok(RedisInstanceInfo {
            name: instance.name.clone(),
            project: project.id.clone(),
            location: name.split('/').nth(3).unwrap_or_default().to_string(),
            instance_id: name.rsplit('/').next().unwrap_or_default().to_string(),
            memory_size_gb: i64::from(instance.memory_size_gb),
            redis_version: instance.redis_version.clone(),
            auth_string: stored.auth_string.clone(),
            transit_encryption: instance.transit_encryption_mode.as_deref()
                == Some("SERVER_AUTHENTICATION"),
        })
    }

    /// Ranges held by instances on `project`'s `network` (other than `except`).
    pub fn ranges(&self, project: &str, network: &str, except: &str) -> Vec<(String, Ipv4Net)> {
        let full = format!("projects/{project}/global/networks/{network}");
        self.instances
            .iter()
            .filter(|(name, s)| name.as_str() != except && s.instance.authorized_network == full)
            .filter_map(|(name, s)| {
                Some((
                    format!("Redis instance {name}"),
                    validate::cidr(&s.instance.reserved_ip_range)?,
                ))
            })
            .collect()
    }

    /// Ready: publishes the address (the runtime's, or the range's third address, port 6379).
    pub fn mark_ready(
        &mut self,
        project: &Project,
        name: &str,
        endpoint: Option<RedisEndpoint>,
    ) -> Result<Instance, ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let instance = &mut stored.instance;
        let tls = instance.transit_encryption_mode.as_deref() == Some("SERVER_AUTHENTICATION");
        let endpoint = endpoint.unwrap_or_else(|| {
            let host = validate::cidr(&instance.reserved_ip_range)
                .and_then(|r| r.hosts().nth(2))
                .map_or_else(|| "10.20.0.3".to_string(), |ip| ip.to_string());
            let port = if tls { TLS_PORT } else { PLAIN_PORT };
            RedisEndpoint {
                host,
                port,
                server_ca_cert: None,
            }
        });
        instance.host = endpoint.host;
        instance.port = i32::from(endpoint.port);
        if tls {
            let cert = match endpoint.server_ca_cert {
                Some(pem) => pem,
                None => server_ca::generate(&instance.name)?,
            };
            instance.server_ca_certs = vec![server_ca::describe(&cert)?];
        }
        instance.state = Some("READY".to_string());
        instance.current_location_id = instance.location_id.clone();
        instance.persistence_iam_identity = format!(
            "serviceAccount:service-{}@cloud-redis.iam.gserviceaccount.com",
            project.number
        );
        instance.nodes = vec![serde_json::json!({ "id": "node-0", "zone": instance.location_id })];
        if instance.read_replicas_mode.as_deref() == Some("READ_REPLICAS_ENABLED") {
            instance.read_endpoint = instance.host.clone();
            instance.read_endpoint_port = instance.port;
        }
        Ok(instance.clone())
    }

    /// Memorystore's CA rotation: a new server CA is listed in `serverCaCerts` beside the
    /// current one, so clients that trust every listed CA keep working while the server's
    /// certificate moves to the new CA.
    pub fn rotate_server_ca(&mut self, name: &str) -> Result<Instance, ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        let instance = &mut stored.instance;
        if instance.server_ca_certs.is_empty() {
            return Err(ApiError::failed_precondition(format!(
                "Instance {name} has no server CA to rotate: it is not READY or has no \
                 in-transit encryption."
            )));
        }
        let cert = server_ca::generate(&instance.name)?;
        instance.server_ca_certs.push(server_ca::describe(&cert)?);
        Ok(instance.clone())
    }

    pub fn remove(&mut self, name: &str) -> Option<Stored> {
        self.instances.remove(name)
    }

    /// Starts a patch: the instance must be READY; the mask names patchable fields.
    pub fn begin_update(
        &mut self,
        name: &str,
        mask: &[String],
        input: Instance,
    ) -> Result<Instance, ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        if stored.instance.state.as_deref() != Some("READY") {
            return Err(in_progress(name, "update"));
        }
        if mask.is_empty() {
            return Err(ApiError::invalid_argument(
                "update_mask must name at least one field (e.g. displayName,labels).",
            ));
        }
        let mut next = stored.instance.clone();
        for field in mask {
            match field.as_str() {
                "displayName" => next.display_name = input.display_name.clone(),
                "labels" => {
                    validate::labels(&input.labels)?;
                    next.labels = input.labels.clone();
                }
                "memorySizeGb" => {
                    if !(1..=300).contains(&input.memory_size_gb) {
                        return Err(ApiError::invalid_argument(
                            "memory_size_gb must be between 1 and 300.",
                        ));
                    }
                    next.memory_size_gb = input.memory_size_gb;
                }
                "redisConfigs" => next.redis_configs = input.redis_configs.clone(),
                "replicaCount" => next.replica_count = input.replica_count,
                "authEnabled" => next.auth_enabled = input.auth_enabled,
                "persistenceConfig" => next.persistence_config = input.persistence_config.clone(),
                "maintenancePolicy" => next.maintenance_policy = input.maintenance_policy.clone(),
                "readReplicasMode" => next.read_replicas_mode = input.read_replicas_mode.clone(),
                "secondaryIpRange" => next.secondary_ip_range = input.secondary_ip_range.clone(),
                other => {
                    return Err(ApiError::invalid_argument(format!(
                        "Field '{other}' cannot be updated; updatable fields: {}.",
                        PATCHABLE.join(", ")
                    )));
                }
            }
        }
        stored.instance.state = Some("UPDATING".to_string());
        stored.pending = Some(next);
        Ok(stored.instance.clone())
    }

    /// Ends a patch: the pending changes take effect; a newly enabled AUTH gets a string.
    pub fn finish_update(&mut self, name: &str, auth_string: String) -> Result<Instance, ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        if let Some(mut next) = stored.pending.take() {
            next.state = Some("READY".to_string());
            stored.instance = next;
        }
        match (stored.instance.auth_enabled, stored.auth_string.is_some()) {
            (true, false) => stored.auth_string = Some(auth_string),
            (false, true) => stored.auth_string = None,
            _ => {}
        }
        Ok(stored.instance.clone())
    }

    /// Starts a delete: only a READY instance can be deleted.
    pub fn begin_delete(&mut self, name: &str) -> Result<(), ApiError> {
        let stored = self
            .instances
            .get_mut(name)
            .ok_or_else(|| not_found(name))?;
        if stored.instance.state.as_deref() != Some("READY") {
            return Err(in_progress(name, "delete"));
        }
        stored.instance.state = Some("DELETING".to_string());
        Ok(())
    }
}

/// The first free block of `/size` in the allocation pool.
fn allocate(in_use: &[(String, Ipv4Net)], size: u8) -> Option<Ipv4Net> {
    let pool: Ipv4Net = ALLOCATION_POOL.parse().ok()?;
    pool.subnets(size)
        .ok()?
        .find(|candidate| validate::first_overlap(candidate, in_use).is_none())
}
