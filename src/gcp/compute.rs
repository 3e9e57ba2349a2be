//! Compute Engine v1: the subnets of a VPC network, in every region (subnet ranges are unique
//! across a whole network), with their primary and secondary ranges, so the connector's /28 is
//! checked against them before the connector is created; one subnet, for Direct VPC egress.

use google_cloud_compute_v1::model::Subnetwork;

use super::Google;
use super::errors::explain;

/// The predefined role that may list subnets.
pub const VIEWER_ROLE: &str = "roles/compute.networkViewer";

/// One range of a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetRange {
    /// The subnet's name.
    pub subnet: String,
    pub region: String,
    /// e.g. `10.8.0.0/24`.
    pub range: String,
    /// The secondary range's name, when this is one.
    pub secondary: Option<String>,
}

impl std::fmt::Display for SubnetRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.secondary {
            None => write!(
                f,
                "subnet {} ({}, {})",
                self.subnet, self.range, self.region
            ),
            Some(name) => write!(
                f,
                "secondary range {name} ({}) of subnet {} in {}",
                self.range, self.subnet, self.region
            ),
        }
    }
}

/// The last segment of a network reference (`default`, `projects/p/global/networks/default`,
/// or a full URL all name `default`).
fn network_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// The ranges of one subnet, if it belongs to `network`.
fn ranges_of(subnet: Subnetwork, network: &str) -> Vec<SubnetRange> {
    if !in_network(&subnet, network) {
        return Vec::new();
    }
    let name = subnet.name.unwrap_or_default();
    let region = subnet
        .region
        .as_deref()
        .map(network_name)
        .unwrap_or_default()
        .to_string();
    let primary = subnet.ip_cidr_range.map(|range| SubnetRange {
        subnet: name.clone(),
        region: region.clone(),
        range,
        secondary: None,
    });
    let secondary = subnet.secondary_ip_ranges.into_iter().filter_map(|s| {
        Some(SubnetRange {
            subnet: name.clone(),
            region: region.clone(),
            range: s.ip_cidr_range?,
            secondary: Some(s.range_name.unwrap_or_default()),
        })
    });
    primary.into_iter().chain(secondary).collect()
}

/// Every range of every subnet of `network` in the project, all regions (one aggregated list).
pub async fn subnet_ranges(google: &Google, network: &str) -> anyhow::Result<Vec<SubnetRange>> {
    let what = format!("list the subnets of network {network}");
    let mut ranges = Vec::new();
    let mut token: Option<String> = None;
    for _page in 0..100 {
        let page = google
            .retry()
            .run(&what, || {
                google
                    .clients
                    .subnetworks
                    .aggregated_list()
                    .set_project(google.project())
                    .set_or_clear_page_token(token.clone())
                    .send()
            })
            .await
            .map_err(|e| explain(e, google.call(&what, VIEWER_ROLE)))?;
        for scoped in page.items.into_values() {
            ranges.extend(
                scoped
                    .subnetworks
                    .into_iter()
                    .flat_map(|s| ranges_of(s, network)),
            );
        }
        token = page.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(ranges)
}

/// Whether the VPC network exists in the project (projects created under the org policy
/// `compute.skipDefaultNetworkCreation` have no `default` one).
pub async fn network_exists(google: &Google, network: &str) -> anyhow::Result<bool> {
    let name = network_name(network);
    let what = format!("read network {name}");
    let found = super::send_unless(
        google,
        google.call(&what, VIEWER_ROLE),
        super::errors::Kind::NotFound,
        || {
            google
                .clients
                .networks
                .get()
                .set_project(google.project())
                .set_network(name)
                .send()
        },
    )
    .await?;
    Ok(found.is_some())
}

/// The subnet `name` in `region` (`None` when there is none): Direct VPC egress takes its
/// instances' addresses from it.
pub async fn subnet(
    google: &Google,
    region: &str,
    name: &str,
) -> anyhow::Result<Option<Subnetwork>> {
    let what = format!("read subnet {name} in {region}");
    super::send_unless(
        google,
        google.call(&what, VIEWER_ROLE),
        super::errors::Kind::NotFound,
        || {
            google
                .clients
                .subnetworks
                .get()
                .set_project(google.project())
                .set_region(region)
                .set_subnetwork(name)
                .send()
        },
    )
    .await
}

/// Whether a subnet's `network` reference names `network`.
pub fn in_network(subnet: &Subnetwork, network: &str) -> bool {
    subnet.network.as_deref().map(network_name) == Some(network_name(network))
}

/// Why a create cannot use `network`, which does not exist.
pub fn missing_network(google: &Google, network: &str) -> String {
    format!(
        "network `{}` does not exist in project {} (projects created under the org policy \
         compute.skipDefaultNetworkCreation have no `default` network): pass the network to use \
         with --network NAME, or create one, e.g. `gcloud compute networks create chat \
         --subnet-mode=auto --project {}`",
        network_name(network),
        google.project(),
        google.project()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_compute_v1::model::SubnetworkSecondaryRange;

    #[test]
    fn only_the_networks_own_ranges_count_secondary_ones_included() {
        let url = "https://www.googleapis.com/compute/v1/projects/p/global/networks/default";
        let subnet = Subnetwork::new()
            .set_name("team-subnet")
            .set_network(url)
            .set_region("https://www.googleapis.com/compute/v1/projects/p/regions/us-central1")
            .set_ip_cidr_range("10.8.0.0/24")
            .set_secondary_ip_ranges([SubnetworkSecondaryRange::new()
                .set_range_name("pods")
                .set_ip_cidr_range("10.9.0.0/20")]);
        let ranges = ranges_of(subnet.clone(), "default");
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            ranges[0].to_string(),
            "subnet team-subnet (10.8.0.0/24, us-central1)"
        );
        assert_eq!(ranges[1].secondary.as_deref(), Some("pods"));
        assert!(ranges_of(subnet, "other-net").is_empty());
    }
}
