//! What Compute Engine accepts when a network is inserted (auto or custom mode, no legacy) and
//! when a subnet is inserted or deleted: the Subnetwork fields, RFC 1035 names, network URLs, /8-/29 ranges that overlap no other range of the network, and
//! in auto-mode networks nothing in 10.128.0.0/9; auto-created subnets cannot be deleted.

use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{Network, Phase, Subnet, URL_PREFIX};
use crate::error::{ApiError, Code};
use crate::validate;

/// What Compute Engine says of a name that is not RFC 1035.
pub const NAME_RULE: &str = "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'";

/// The block auto-mode networks reserve for their regional subnets.
const AUTO_MODE_BLOCK: &str = "10.128.0.0/9";

/// A secondary range of a subnet (`secondaryIpRanges[]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SecondaryRange {
    #[serde(default)]
    range_name: String,
    #[serde(default)]
    ip_cidr_range: String,
}

/// The network a subnet body names: a full URL or a partial one (`projects/P/global/networks/N`,
/// `global/networks/N`), as Compute Engine accepts them.
pub fn network_of(url: &str, project: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid_argument(format!(
            "Invalid value for field 'resource.network': '{url}'. The URL is malformed."
        ))
    };
    let path = url
        .strip_prefix(URL_PREFIX)
        .or_else(|| url.strip_prefix("https://compute.googleapis.com/compute/v1/"))
        .unwrap_or(url);
    let (owner, name) = match path.split('/').collect::<Vec<_>>()[..] {
        ["projects", owner, "global", "networks", name] => (owner, name),
        ["global", "networks", name] => (project, name),
        _ => return Err(bad()),
    };
    if owner != project || name.is_empty() {
        return Err(bad());
    }
    Ok(name.to_string())
}

/// The Subnetwork fields a request may carry (output-only ones are accepted and ignored).
const SUBNET_FIELDS: &[&str] = &[
    "allowSubnetCidrRoutesOverlap",
    "creationTimestamp",
    "description",
    "enableFlowLogs",
    "externalIpv6Prefix",
    "fingerprint",
    "gatewayAddress",
    "id",
    "internalIpv6Prefix",
    "ipCidrRange",
    "ipCollection",
    "ipv6AccessType",
    "ipv6CidrRange",
    "ipv6GceEndpoint",
    "kind",
    "logConfig",
    "name",
    "network",
    "params",
    "privateIpGoogleAccess",
    "privateIpv6GoogleAccess",
    "purpose",
    "region",
    "reservedInternalRange",
    "resolveSubnetMask",
    "role",
    "secondaryIpRanges",
    "selfLink",
    "stackType",
    "state",
    "systemReservedExternalIpv6Ranges",
    "systemReservedInternalIpv6Ranges",
    "utilizationDetails",
];

/// Output-only fields: never stored from a request.
const OUTPUT_ONLY: &[&str] = &[
    "creationTimestamp",
    "fingerprint",
    "gatewayAddress",
    "id",
    "kind",
    "region",
    "selfLink",
    "state",
    "utilizationDetails",
];

/// A subnet insert, parsed and checked on its own (the network's checks come after).
pub struct NewSubnet {
    pub network: String,
    pub subnet: Subnet,
}

fn field_error(field: &str, value: &str, why: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "Invalid value for field '{field}': '{value}'. {why}"
    ))
}

fn required(field: &str) -> ApiError {
    ApiError::invalid_argument(format!("Required field '{field}' not specified"))
}

fn text(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid_argument(format!(
            "Invalid value at 'resource.{key}' (TYPE_STRING), {other}"
        ))),
    }
}

/// Parses a range of a subnet: an IPv4 network address with a prefix from /8 to /29.
fn subnet_range(field: &str, text: &str) -> Result<Ipv4Net, ApiError> {
    let range = validate::cidr(text).ok_or_else(|| {
        field_error(
            field,
            text,
            "Invalid IPCidrRange: give an IPv4 network address with a prefix (e.g. 10.8.0.0/24).",
        )
    })?;
    if !(8..=29).contains(&range.prefix_len()) {
        return Err(field_error(
            field,
            text,
            "The prefix length of a subnet range must be between /8 and /29.",
        ));
    }
    Ok(range)
}

/// The Network fields a request may carry (from the discovery document).
const NETWORK_FIELDS: &[&str] = &[
    "IPv4Range",
    "additionalTags",
    "autoCreateSubnetworks",
    "creationTimestamp",
    "description",
    "enableUlaInternalIpv6",
    "firewallPolicy",
    "gatewayIPv4",
    "id",
    "internalIpv6Range",
    "kind",
    "mtu",
    "name",
    "networkFirewallPolicyEnforcementOrder",
    "networkProfile",
    "params",
    "peerings",
    "routingConfig",
    "selfLink",
    "selfLinkWithId",
    "subnetworks",
];

/// An insert body whose keys are all `fields`, and its RFC 1035 `name`.
fn named_body(body: &[u8], fields: &[&str]) -> Result<(Map<String, Value>, String), ApiError> {
    let body: Map<String, Value> = crate::json::parse_body(body, &[])?;
    if let Some(unknown) = body.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        )));
    }
    let name = text(&body, "name")?;
    if name.is_empty() {
        return Err(required("resource.name"));
    }
    if !validate::lower_id(&name, 1, 63) {
        return Err(field_error("resource.name", &name, NAME_RULE));
    }
    Ok((body, name))
}

/// Checks a `networks.insert` body and builds the network: auto mode (a subnet per region)
/// or custom mode (none). A legacy network (no `autoCreateSubnetworks`) is refused as Google
/// refuses it.
pub fn parse_network(body: &[u8], project: &str) -> Result<Network, ApiError> {
    let (body, name) = named_body(body, NETWORK_FIELDS)?;
    let auto_mode = match body.get("autoCreateSubnetworks") {
        Some(Value::Bool(auto)) if !body.contains_key("IPv4Range") => *auto,
        None | Some(Value::Null) | Some(Value::Bool(_)) => {
            return Err(ApiError::invalid_argument(
                "Creation of legacy mode networks is deprecated. Please create a subnet mode network instead by removing the IPv4Range field and adding the autoCreateSubnetworks field to your network insert request.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value at 'resource.autoCreateSubnetworks' (TYPE_BOOL), {other}"
            )));
        }
    };
    Ok(Network::new(
        project,
        &name,
        auto_mode,
        &text(&body, "description")?,
    ))
}

/// Checks an insert body (fields, name, ranges) and builds the subnet, still `Creating`.
pub fn parse_insert(
    body: &[u8],
    project: &str,
    region: &str,
    id: u64,
) -> Result<NewSubnet, ApiError> {
    let (body, name) = named_body(body, SUBNET_FIELDS)?;
    let network = text(&body, "network")?;
    if network.is_empty() {
        return Err(required("resource.network"));
    }
    let network = network_of(&network, project)?;
    let cidr = text(&body, "ipCidrRange")?;
    if cidr.is_empty() {
        return Err(required("resource.ipCidrRange"));
    }
    let range = subnet_range("resource.ipCidrRange", &cidr)?;
    let secondary: Vec<SecondaryRange> = match body.get("secondaryIpRanges") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => crate::json::from_value(v.clone())?,
    };
    let mut secondary_ranges = Vec::new();
    for (i, s) in secondary.iter().enumerate() {
        let field = format!("resource.secondaryIpRanges[{i}]");
        if !validate::lower_id(&s.range_name, 1, 63) {
            return Err(field_error(
                &format!("{field}.rangeName"),
                &s.range_name,
                NAME_RULE,
            ));
        }
        if secondary_ranges
            .iter()
            .any(|(n, _): &(String, Ipv4Net)| *n == s.range_name)
        {
            return Err(field_error(
                &format!("{field}.rangeName"),
                &s.range_name,
                "Secondary range names must be unique within a subnetwork.",
            ));
        }
        let range = subnet_range(&format!("{field}.ipCidrRange"), &s.ip_cidr_range)?;
        secondary_ranges.push((s.range_name.clone(), range));
    }
    let private_ip_google_access = match body.get("privateIpGoogleAccess") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value at 'resource.privateIpGoogleAccess' (TYPE_BOOL), {other}"
            )));
        }
    };
    let modelled = [
        "name",
        "network",
        "ipCidrRange",
        "secondaryIpRanges",
        "privateIpGoogleAccess",
        "description",
    ];
    let extra = body
        .iter()
        .filter(|(k, v)| {
            !modelled.contains(&k.as_str()) && !OUTPUT_ONLY.contains(&k.as_str()) && !v.is_null()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(NewSubnet {
        network,
        subnet: Subnet {
            name,
            region: region.to_string(),
            range,
            secondary: secondary_ranges,
            id,
            created: crate::json::now_timestamp(),
            description: text(&body, "description")?,
            private_ip_google_access,
            auto_created: false,
            phase: Phase::Creating,
            extra,
        },
    })
}

/// The checks against the network: every range clear of the network's other ranges (all
/// regions) and, in auto mode, of 10.128.0.0/9.
pub fn check_against(network: &Network, new: &Subnet) -> Result<(), ApiError> {
    let auto_block: Option<Ipv4Net> = network
        .auto_create_subnetworks
        .then(|| AUTO_MODE_BLOCK.parse().ok())
        .flatten();
    let mut own: Vec<(String, Ipv4Net)> = Vec::new();
    let fields = std::iter::once(("resource.ipCidrRange".to_string(), new.range)).chain(
        new.secondary.iter().enumerate().map(|(i, (_, range))| {
            (
                format!("resource.secondaryIpRanges[{i}].ipCidrRange"),
                *range,
            )
        }),
    );
    for (field, range) in fields {
        let value = range.to_string();
        if let Some(block) = auto_block
            && validate::overlaps(&range, &block)
        {
            return Err(field_error(
                &field,
                &value,
                &format!(
                    "Extended subnetworks in auto subnet mode networks cannot overlap with {AUTO_MODE_BLOCK}."
                ),
            ));
        }
        if let Some((_, other)) = validate::first_overlap(&range, &own) {
            return Err(field_error(
                &field,
                &value,
                &format!(
                    "Invalid IPCidrRange: {value} conflicts with {other} of the same request."
                ),
            ));
        }
        if let Some(clash) = network
            .subnets
            .iter()
            .find(|s| s.ranges().any(|(_, r)| validate::overlaps(&range, &r)))
        {
            return Err(field_error(
                &field,
                &value,
                &format!(
                    "Invalid IPCidrRange: {value} conflicts with existing subnetwork '{}' in region '{}'.",
                    clash.name, clash.region
                ),
            ));
        }
        own.push((field, range));
    }
    Ok(())
}

/// Why a subnet cannot be deleted now, if it cannot.
pub fn check_delete(network: &Network, subnet: &Subnet, project: &str) -> Result<(), ApiError> {
    if network.auto_create_subnetworks && subnet.auto_created {
        return Err(ApiError::invalid_argument(
            "Cannot delete auto subnetwork from an auto subnet mode network.",
        ));
    }
    if subnet.phase != Phase::Ready {
        let link = subnet.link(project);
        return Err(ApiError::new(
            Code::FailedPrecondition,
            format!(
                "The resource '{}' is not ready",
                link.trim_start_matches(URL_PREFIX)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_subnet(body: Value) -> Result<NewSubnet, ApiError> {
        parse_insert(body.to_string().as_bytes(), "p-123456", "us-central1", 7)
    }

    #[test]
    fn inserts_are_checked_against_every_range_of_the_network() {
        let net = Network::auto_mode_default("p-123456");
        let ok = new_subnet(json!({"name": "team", "network": "global/networks/default", "ipCidrRange": "10.8.0.0/24"})).unwrap();
        assert_eq!(ok.network, "default");
        check_against(&net, &ok.subnet).unwrap();

        let auto = new_subnet(json!({"name": "x", "network": "global/networks/default", "ipCidrRange": "10.200.0.0/16"})).unwrap();
        let err = check_against(&net, &auto.subnet).unwrap_err();
        assert!(err.message.contains("10.128.0.0/9"), "{}", err.message);

        let mut custom = net.clone();
        custom.auto_create_subnetworks = false;
        let clash = new_subnet(json!({"name": "y", "network": "global/networks/default", "ipCidrRange": "10.132.8.0/24"})).unwrap();
        let err = check_against(&custom, &clash.subnet).unwrap_err();
        assert!(
            err.message
                .contains("conflicts with existing subnetwork 'default' in region 'europe-west1'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_the_field_named() {
        for (body, needle) in [
            (
                json!({"network": "global/networks/default", "ipCidrRange": "10.8.0.0/24"}),
                "resource.name",
            ),
            (
                json!({"name": "Bad", "network": "global/networks/default", "ipCidrRange": "10.8.0.0/24"}),
                "resource.name",
            ),
            (
                json!({"name": "a", "network": "default", "ipCidrRange": "10.8.0.0/24"}),
                "resource.network",
            ),
            (
                json!({"name": "a", "network": "global/networks/default", "ipCidrRange": "10.8.0.1/24"}),
                "resource.ipCidrRange",
            ),
            (
                json!({"name": "a", "network": "global/networks/default", "ipCidrRange": "10.8.0.0/30"}),
                "resource.ipCidrRange",
            ),
            (
                json!({"name": "a", "network": "global/networks/default", "ipCidrRange": "10.8.0.0/24", "colour": 1}),
                "Unknown name \"colour\"",
            ),
        ] {
            let err = new_subnet(body.clone())
                .err()
                .unwrap_or_else(|| panic!("accepted {body}"));
            assert!(err.message.contains(needle), "{body}: {}", err.message);
        }
    }
}
