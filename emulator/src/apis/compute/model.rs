//! VPC networks and their subnets as Compute Engine answers them: the `default` auto-mode
//! network every project starts with (one /20 per region, Google's published ranges), self
//! links, and every range of a network for overlap checks.

use ipnet::Ipv4Net;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Where self links point, as Google writes them.
pub const URL_PREFIX: &str = "https://www.googleapis.com/compute/v1/";

/// The subnets an auto-mode network gets, one per region (Google's published ranges).
pub const AUTO_MODE_SUBNETS: &[(&str, &str)] = &[
    ("africa-south1", "10.218.0.0/20"),
    ("asia-east1", "10.140.0.0/20"),
    ("asia-east2", "10.170.0.0/20"),
    ("asia-northeast1", "10.146.0.0/20"),
    ("asia-northeast2", "10.174.0.0/20"),
    ("asia-northeast3", "10.178.0.0/20"),
    ("asia-south1", "10.160.0.0/20"),
    ("asia-south2", "10.190.0.0/20"),
    ("asia-southeast1", "10.148.0.0/20"),
    ("asia-southeast2", "10.184.0.0/20"),
    ("australia-southeast1", "10.152.0.0/20"),
    ("australia-southeast2", "10.192.0.0/20"),
    ("europe-central2", "10.186.0.0/20"),
    ("europe-north1", "10.166.0.0/20"),
    ("europe-southwest1", "10.204.0.0/20"),
    ("europe-west1", "10.132.0.0/20"),
    ("europe-west10", "10.214.0.0/20"),
    ("europe-west12", "10.210.0.0/20"),
    ("europe-west2", "10.154.0.0/20"),
    ("europe-west3", "10.156.0.0/20"),
    ("europe-west4", "10.164.0.0/20"),
    ("europe-west6", "10.172.0.0/20"),
    ("europe-west8", "10.198.0.0/20"),
    ("europe-west9", "10.200.0.0/20"),
    ("me-central1", "10.212.0.0/20"),
    ("me-central2", "10.216.0.0/20"),
    ("me-west1", "10.208.0.0/20"),
    ("northamerica-northeast1", "10.162.0.0/20"),
    ("northamerica-northeast2", "10.188.0.0/20"),
    ("southamerica-east1", "10.158.0.0/20"),
    ("southamerica-west1", "10.194.0.0/20"),
    ("us-central1", "10.128.0.0/20"),
    ("us-east1", "10.142.0.0/20"),
    ("us-east4", "10.150.0.0/20"),
    ("us-east5", "10.202.0.0/20"),
    ("us-south1", "10.206.0.0/20"),
    ("us-west1", "10.138.0.0/20"),
    ("us-west2", "10.168.0.0/20"),
    ("us-west3", "10.180.0.0/20"),
    ("us-west4", "10.182.0.0/20"),
];

/// Whether Compute Engine knows the region.
pub fn is_region(region: &str) -> bool {
    AUTO_MODE_SUBNETS.iter().any(|(r, _)| *r == region)
}

/// Where a subnet is in its life: inserted subnets hold their range while their operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Creating,
    Ready,
    Deleting,
}

/// A subnet of a network.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub name: String,
    pub region: String,
    pub range: Ipv4Net,
    pub secondary: Vec<(String, Ipv4Net)>,
    pub id: u64,
    pub created: String,
    pub description: String,
    pub private_ip_google_access: bool,
    /// Created with an auto-mode network (it cannot be deleted on its own).
    pub auto_created: bool,
    pub phase: Phase,
    /// The other fields the caller set (purpose, stackType, logConfig...), echoed as given.
    pub extra: Map<String, Value>,
}

impl Subnet {
    pub fn link(&self, project: &str) -> String {
        format!(
            "{URL_PREFIX}projects/{project}/regions/{}/subnetworks/{}",
            self.region, self.name
        )
    }

    /// The Subnetwork resource as the API answers it.
    pub fn to_json(&self, project: &str, network: &str) -> Value {
        let mut v = json!({
            "kind": "compute#subnetwork",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": self.name,
            "network": network_link(project, network),
            "ipCidrRange": self.range.to_string(),
            "gatewayAddress": gateway(&self.range),
            "region": region_link(project, &self.region),
            "selfLink": self.link(project),
            "fingerprint": fingerprint(self.id),
            "privateIpGoogleAccess": self.private_ip_google_access,
            "privateIpv6GoogleAccess": "DISABLE_GOOGLE_ACCESS",
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
        });
        if !self.description.is_empty() {
            v["description"] = Value::String(self.description.clone());
        }
        if !self.secondary.is_empty() {
            v["secondaryIpRanges"] = self
                .secondary
                .iter()
                .map(|(name, range)| json!({"rangeName": name, "ipCidrRange": range.to_string()}))
                .collect();
        }
        for (key, value) in &self.extra {
            v[key] = value.clone();
        }
        v
    }

    /// Its primary and secondary ranges, each with what it is (for overlap messages).
    pub fn ranges(&self) -> impl Iterator<Item = (String, Ipv4Net)> + '_ {
        let primary = (
            format!("subnetwork {} in {}", self.name, self.region),
            self.range,
        );
        let secondary = self.secondary.iter().map(|(range_name, range)| {
            (
                format!(
                    "secondary range {range_name} of subnetwork {} in {}",
                    self.name, self.region
                ),
                *range,
            )
        });
        std::iter::once(primary).chain(secondary)
    }
}

/// A VPC network.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub name: String,
    pub id: u64,
    pub created: String,
    pub auto_create_subnetworks: bool,
    pub description: String,
    pub subnets: Vec<Subnet>,
}

impl Network {
    /// The `default` network Google creates with the Compute Engine API: auto mode, one /20
    /// per region.
    pub fn auto_mode_default(project: &str) -> Network {
        Network::new(project, "default", true, "Default network for the project")
    }

    /// A VPC network: in auto mode with one subnet named like it per region (Google's
    /// published ranges), in custom mode with none.
    pub fn new(project: &str, name: &str, auto_mode: bool, description: &str) -> Network {
        let created = crate::json::now_timestamp();
        let regions = if auto_mode { AUTO_MODE_SUBNETS } else { &[] };
        let subnets = regions
            .iter()
            .filter_map(|(region, cidr)| {
                Some(Subnet {
                    name: name.to_string(),
                    region: region.to_string(),
                    range: cidr.parse().ok()?,
                    secondary: Vec::new(),
                    id: stable_id(&format!("{project}/{region}/{name}")),
                    created: created.clone(),
                    description: String::new(),
                    private_ip_google_access: false,
                    auto_created: true,
                    phase: Phase::Ready,
                    extra: Map::new(),
                })
            })
            .collect();
        Network {
            name: name.to_string(),
            id: stable_id(&format!("{project}/{name}")),
            created,
            auto_create_subnetworks: auto_mode,
            description: description.to_string(),
            subnets,
        }
    }

    /// Every range of the network (subnets being created included), for overlap checks.
    pub fn ranges(&self) -> Vec<(String, Ipv4Net)> {
        self.subnets
            .iter()
            .flat_map(|s| s.ranges().collect::<Vec<_>>())
            .collect()
    }

    /// The Network resource as the API answers it.
    pub fn to_json(&self, project: &str) -> Value {
        let link = network_link(project, &self.name);
        let mut subnetworks: Vec<String> = self
            .subnets
            .iter()
            .filter(|s| s.phase != Phase::Creating)
            .map(|s| s.link(project))
            .collect();
        subnetworks.sort();
        let mut v = json!({
            "kind": "compute#network",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": self.name,
            "selfLink": link,
            "selfLinkWithId": format!("{URL_PREFIX}projects/{project}/global/networks/{}", self.id),
            "autoCreateSubnetworks": self.auto_create_subnetworks,
            "subnetworks": subnetworks,
            "routingConfig": {"routingMode": "REGIONAL"},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        });
        if !self.description.is_empty() {
            v["description"] = Value::String(self.description.clone());
        }
        v
    }
}

pub fn network_link(project: &str, network: &str) -> String {
    format!("{URL_PREFIX}projects/{project}/global/networks/{network}")
}

pub fn region_link(project: &str, region: &str) -> String {
    format!("{URL_PREFIX}projects/{project}/regions/{region}")
}

/// The first usable address of a range (Google's gateway).
fn gateway(range: &Ipv4Net) -> String {
    std::net::Ipv4Addr::from(u32::from(range.network()).saturating_add(1)).to_string()
}

/// Compute Engine fingerprints are URL-safe base64 (the official clients decode them so).
fn fingerprint(id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE.encode(id.to_be_bytes())
}

/// A 19-digit ID derived from `seed` (resources that exist from the start keep theirs).
pub fn stable_id(seed: &str) -> u64 {
    let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1_000_000_000_000_000_000 + hash % 8_000_000_000_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_network_has_the_auto_mode_ranges() {
        let net = Network::auto_mode_default("p-123456");
        let us = net
            .subnets
            .iter()
            .find(|s| s.region == "us-central1")
            .unwrap();
        assert_eq!(us.range.to_string(), "10.128.0.0/20");
        assert_eq!(net.subnets.len(), AUTO_MODE_SUBNETS.len());
        assert_eq!(
            us.to_json("p-123456", "default")["gatewayAddress"],
            "10.128.0.1"
        );
    }
}
