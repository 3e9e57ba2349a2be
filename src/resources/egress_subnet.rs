//! `--egress direct`: the subnet Cloud Run's instances take their addresses from (Direct VPC
//! egress). chatctl does not create or delete it, it checks it before anything that would use
//! it is created: that it exists in the region, belongs to --network, and has room for the
//! instances the service may scale to. It publishes the subnet's range for the NATS firewall.

use google_cloud_compute_v1::model::Subnetwork;

use super::{Action, Outputs, Planned, apis, run_service};
use crate::config::Egress;
use crate::context::Ctx;
use crate::gcp::compute;
use crate::report::Progress;
use crate::resource::{Edge, Resource, ResourceId};

pub const ID: ResourceId = ResourceId("subnet");

/// The Direct VPC egress subnet (a check; never changed by chatctl).
pub struct EgressSubnet;

/// Cloud Run's maximum instances when the service sets none.
const CLOUD_RUN_DEFAULT_MAX_INSTANCES: u32 = 100;

/// Addresses a subnet's primary range keeps for Google (network, gateway, two at the end).
const RESERVED_PER_SUBNET: u64 = 4;

/// Addresses Direct VPC egress needs for `max_instances`: about two per instance, which Cloud
/// Run reserves in blocks of 16 (a /28) as it scales.
pub fn addresses_needed(max_instances: u32) -> u64 {
    (u64::from(max_instances) * 2).div_ceil(16).max(1) * 16
}

/// The addresses a primary range such as `10.128.0.0/20` offers instances, or None when it is
/// not an IPv4 CIDR.
fn usable_addresses(range: &str) -> Option<u64> {
    let (_, len) = range.split_once('/')?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((1u64 << (32 - len)).saturating_sub(RESERVED_PER_SUBNET))
}

/// What stops `subnet` from carrying the service, if anything.
fn problem(ctx: &Ctx, subnet: &Subnetwork, max_instances: u32) -> Option<String> {
    let s = &ctx.settings;
    let name = &s.subnet;
    if !compute::in_network(subnet, &s.network) {
        return Some(format!(
            "subnet {name} in {} belongs to network {}, not {}: pass --subnet with a subnet of \
             network {} (or --network {})",
            s.region,
            subnet.network.as_deref().unwrap_or("?"),
            s.network,
            s.network,
            subnet
                .network
                .as_deref()
                .and_then(|n| n.rsplit('/').next())
                .unwrap_or("?"),
        ));
    }
    let range = subnet.ip_cidr_range.as_deref().unwrap_or_default();
    let usable = usable_addresses(range)?;
    let needed = addresses_needed(max_instances);
    (usable < needed).then(|| {
        format!(
            "subnet {name} ({range}) has {usable} addresses for instances, but Direct VPC egress \
             needs about {needed} for up to {max_instances} instances (two per instance, \
             reserved 16 at a time): pass --subnet with a larger subnet (a /26 or more), lower \
             `service: template: scaling: maxInstanceCount` in chatctl.yaml, or use \
             --egress connector"
        )
    })
}

impl Resource for EgressSubnet {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(apis::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["compute.googleapis.com"]
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (ctx.settings.egress != Egress::Direct).then(|| super::leftovers::egress_reason(ctx))
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.subnet.clone()
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let s = &ctx.settings;
        let name = &s.subnet;
        if let Some(why) = self.unused_by(ctx) {
            return Ok(Planned::new(
                name,
                format!("not used ({why})"),
                Action::NoOp,
            ));
        }
        let Some(subnet) = compute::subnet(&ctx.google, &s.region, name).await? else {
            let reason = match super::missing_network(ctx, out).await? {
                Some(missing) => missing,
                None => format!(
                    "subnet {name} does not exist in {} (Direct VPC egress takes the service's \
                     addresses from it): pass --subnet NAME of a subnet of network {} in {}, \
                     create one, e.g. `gcloud compute networks subnets create {name} --network \
                     {} --region {} --range 10.9.0.0/24 --project {}`, or use --egress connector",
                    s.region, s.network, s.region, s.network, s.region, s.project
                ),
            };
            return Ok(Planned::new(name, "absent", Action::Conflict { reason }));
        };
        let max_instances = match run_service::max_instance_count(ctx)? {
            0 => CLOUD_RUN_DEFAULT_MAX_INSTANCES,
            n => n,
        };
        let range = subnet.ip_cidr_range.clone().unwrap_or_default();
        if let Some(reason) = problem(ctx, &subnet, max_instances) {
            return Ok(Planned::new(name, "READY", Action::Conflict { reason }));
        }
        out.update(|v| v.egress_range = Some(range.clone()));
        let shown = format!("{name} ({range}, room for {max_instances} instances)");
        Ok(Planned::new(shown, "READY", Action::NoOp))
    }

    async fn apply(
        &self,
        _ctx: &Ctx,
        _out: &Outputs,
        _planned: &Planned,
        _progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        // Only ever planned as a no-op or a conflict: nothing to do.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_two_per_instance_in_blocks_of_sixteen() {
        assert_eq!(addresses_needed(1), 16);
        assert_eq!(addresses_needed(8), 16);
        assert_eq!(addresses_needed(10), 32);
        assert_eq!(addresses_needed(100), 208);
    }

    #[test]
    fn a_range_offers_its_size_less_googles_four() {
        assert_eq!(usable_addresses("10.128.0.0/20"), Some(4092));
        assert_eq!(usable_addresses("10.9.0.0/28"), Some(12));
        assert_eq!(usable_addresses("10.9.0.0/33"), None);
        assert_eq!(usable_addresses("nonsense"), None);
    }
}
