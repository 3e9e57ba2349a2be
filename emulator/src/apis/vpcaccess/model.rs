//! Connectors and their rules: the connector ID pattern, network xor subnet, instance and
//! throughput ranges, the /28 range and what it must not overlap.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::validate;

/// google.cloud.vpcaccess.v1.Connector, as sent and stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Connector {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip_cidr_range: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub min_throughput: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_throughput: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connected_projects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Subnet>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub machine_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub min_instances: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_instances: i32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Subnet {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project_id: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

const MACHINE_TYPES: &[&str] = &["e2-micro", "f1-micro", "e2-standard-4"];

/// Connectors by full name.
#[derive(Default, Serialize)]
pub struct Store {
    connectors: BTreeMap<String, Connector>,
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("The connector {name} is not found."))
}

impl Store {
    pub fn get(&self, name: &str) -> Result<&Connector, ApiError> {
        self.connectors.get(name).ok_or_else(|| not_found(name))
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut Connector, ApiError> {
        self.connectors.get_mut(name).ok_or_else(|| not_found(name))
    }

    pub fn list(&self, project: &str, location: &str) -> Vec<Connector> {
        let prefix = format!("projects/{project}/locations/{location}/connectors/");
        self.connectors
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Ranges held by connectors of `project`'s `network` (other than `except`).
    pub fn ranges(&self, project: &str, network: &str, except: &str) -> Vec<(String, Ipv4Net)> {
        let prefix = format!("projects/{project}/");
        self.connectors
            .iter()
            .filter(|(name, c)| {
                name.starts_with(&prefix) && name.as_str() != except && c.network == network
            })
            .filter_map(|(name, c)| {
                Some((
                    format!("connector {name}"),
                    validate::cidr(&c.ip_cidr_range)?,
                ))
            })
            .collect()
    }

    /// The checks made before answering; records the connector as CREATING.
    pub fn create(
        &mut self,
        project: &str,
        location: &str,
        id: &str,
        input: Connector,
    ) -> Result<Connector, ApiError> {
        if !validate::lower_id(id, 2, 25) {
            return Err(ApiError::invalid_argument(format!(
                "Connector ID \"{id}\" must follow the pattern ^[a-z][-a-z0-9]{{0,23}}[a-z0-9]$."
            )));
        }
        let name = format!("projects/{project}/locations/{location}/connectors/{id}");
        let has_subnet = input.subnet.as_ref().is_some_and(|s| !s.name.is_empty());
        if input.network.is_empty() != has_subnet {
            return Err(ApiError::invalid_argument(
                "Exactly one of network (with ipCidrRange) or subnet.name must be set.",
            ));
        }
        if !input.network.is_empty() {
            let range = validate::cidr(&input.ip_cidr_range).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "Invalid IP CIDR range \"{}\": give an unused /28 such as 10.8.0.0/28.",
                    input.ip_cidr_range
                ))
            })?;
            if range.prefix_len() != 28 {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid IP CIDR range {}: a connector needs a /28 range.",
                    input.ip_cidr_range
                )));
            }
        }
        let machine_type = if input.machine_type.is_empty() {
            "e2-micro".to_string()
        } else {
            input.machine_type.clone()
        };
        if !MACHINE_TYPES.contains(&machine_type.as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "Machine type {machine_type} is not supported; use one of {}.",
                MACHINE_TYPES.join(", ")
            )));
        }
        check_scaling(&input)?;
        if self.connectors.contains_key(&name) {
            return Err(ApiError::already_exists(format!(
                "Connector {name} already exists."
            )));
        }
        let min_instances = if input.min_instances == 0 {
            2
        } else {
            input.min_instances
        };
        let connector = Connector {
            name: name.clone(),
            state: Some("CREATING".to_string()),
            machine_type,
            min_instances,
            min_throughput: if input.min_throughput == 0 {
                min_instances * 100
            } else {
                input.min_throughput
            },
            max_throughput: if input.max_throughput == 0 {
                input.max_instances * 100
            } else {
                input.max_throughput
            },
            connected_projects: Vec::new(),
            ..input
        };
        self.connectors.insert(name, connector.clone());
        Ok(connector)
    }

    pub fn remove(&mut self, name: &str) -> Option<Connector> {
        self.connectors.remove(name)
    }

    /// Starts a delete: not while the connector is still being created or deleted.
    pub fn begin_delete(&mut self, name: &str) -> Result<(), ApiError> {
        let connector = self.get_mut(name)?;
        match connector.state.as_deref() {
            Some("CREATING") | Some("DELETING") | Some("UPDATING") => {
                Err(ApiError::failed_precondition(format!(
                    "Connector {name} is {}; wait for its operation to finish.",
                    connector
                        .state
                        .as_deref()
                        .unwrap_or_default()
                        .to_lowercase()
                )))
            }
            _ => {
                connector.state = Some("DELETING".to_string());
                Ok(())
            }
        }
    }
}

/// The fields `connectors.patch` may change (as the update mask names them).
pub const UPDATABLE: &[&str] = &["minInstances", "maxInstances", "machineType"];

impl Store {
    /// Checks a patch of `name` with `mask` (every updatable field when empty) and marks the
    /// connector UPDATING; returns what it becomes when the operation finishes.
    pub fn begin_update(
        &mut self,
        name: &str,
        input: &Connector,
        mask: &[String],
    ) -> Result<Connector, ApiError> {
        let fields: Vec<&str> = if mask.is_empty() {
            UPDATABLE.to_vec()
        } else {
            mask.iter().map(String::as_str).collect()
        };
        if let Some(field) = fields.iter().find(|f| !UPDATABLE.contains(f)) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid update mask path \"{field}\": only {} can be updated; other fields \
                 need a new connector.",
                UPDATABLE.join(", ")
            )));
        }
        let connector = self.get_mut(name)?;
        if connector.state.as_deref() != Some("READY") {
            return Err(ApiError::failed_precondition(format!(
                "Connector {name} is {}; it can be updated only when READY.",
                connector
                    .state
                    .as_deref()
                    .unwrap_or("UNKNOWN")
                    .to_lowercase()
            )));
        }
        let mut target = connector.clone();
        for field in &fields {
            match *field {
                "minInstances" => target.min_instances = input.min_instances,
                "maxInstances" => target.max_instances = input.max_instances,
                _ => target.machine_type = input.machine_type.clone(),
            }
        }
        if !MACHINE_TYPES.contains(&target.machine_type.as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "Machine type {} is not supported; use one of {}.",
                target.machine_type,
                MACHINE_TYPES.join(", ")
            )));
        }
        if target.max_instances == 0 {
            return Err(ApiError::invalid_argument(
                "A Connector must specify either max_throughput or max_instances.",
            ));
        }
        check_scaling(&target)?;
        // The throughput Google reports follows the instance bounds.
        target.min_throughput = target.min_instances * 100;
        target.max_throughput = target.max_instances * 100;
        target.state = Some("READY".to_string());
        connector.state = Some("UPDATING".to_string());
        Ok(target)
    }

    /// The update's operation finished: the connector is `target` (READY), unless it was
    /// deleted meanwhile.
    pub fn finish_update(&mut self, target: Connector) -> Result<Connector, ApiError> {
        let connector = self.get_mut(&target.name)?;
        *connector = target;
        Ok(connector.clone())
    }
}

/// Instance and throughput bounds (both given: instances win, as in the real API).
fn check_scaling(c: &Connector) -> Result<(), ApiError> {
    if c.min_instances != 0 && !(2..=9).contains(&c.min_instances) {
        return Err(ApiError::invalid_argument(
            "min_instances must be between 2 and 9.",
        ));
    }
    if c.max_instances != 0 && !(3..=10).contains(&c.max_instances) {
        return Err(ApiError::invalid_argument(
            "max_instances must be between 3 and 10.",
        ));
    }
    if c.max_instances != 0 && c.min_instances.max(2) >= c.max_instances {
        return Err(ApiError::invalid_argument(
            "min_instances must be lower than max_instances.",
        ));
    }
    if c.min_throughput != 0
        && (!(200..=900).contains(&c.min_throughput) || c.min_throughput % 100 != 0)
    {
        return Err(ApiError::invalid_argument(
            "min_throughput must be a multiple of 100 between 200 and 900.",
        ));
    }
    if c.max_throughput != 0
        && (!(300..=1000).contains(&c.max_throughput) || c.max_throughput % 100 != 0)
    {
        return Err(ApiError::invalid_argument(
            "max_throughput must be a multiple of 100 between 300 and 1000.",
        ));
    }
    Ok(())
}

/// The checks Google makes while creating (they fail the operation).
pub fn late_checks(
    connector: &Connector,
    in_use: &[(String, Ipv4Net)],
    subnets: &[(String, String, Ipv4Net)],
) -> Result<(), ApiError> {
    if connector.max_instances == 0 && connector.max_throughput == 0 {
        return Err(ApiError::invalid_argument(
            "A Connector must specify either max_throughput or max_instances.",
        ));
    }
    if let Some(subnet) = connector.subnet.as_ref().filter(|s| !s.name.is_empty()) {
        let region = connector.name.split('/').nth(3).unwrap_or_default();
        return match subnets
            .iter()
            .find(|(name, r, _)| *name == subnet.name && r == region)
        {
            None => Err(ApiError::invalid_argument(format!(
                "Subnetwork {} was not found in region {region}.",
                subnet.name
            ))),
            Some((_, _, range)) if range.prefix_len() != 28 => {
                Err(ApiError::invalid_argument(format!(
                    "Subnetwork {} must have a /28 range, not /{}.",
                    subnet.name,
                    range.prefix_len()
                )))
            }
            Some(_) => Ok(()),
        };
    }
    let range = validate::cidr(&connector.ip_cidr_range)
        .ok_or_else(|| ApiError::invalid_argument("Invalid IP CIDR range was provided."))?;
    match validate::first_overlap(&range, in_use) {
        Some((what, _)) if what.starts_with("subnetwork") => {
            Err(ApiError::invalid_argument(format!(
                "Invalid IP CIDR range was provided. It conflicts with an existing subnetwork ({what})."
            )))
        }
        Some((what, _)) => Err(ApiError::invalid_argument(format!(
            "Invalid IP CIDR range was provided. It conflicts with {what}."
        ))),
        None => Ok(()),
    }
}
