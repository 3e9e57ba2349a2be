//! `--bus nats`: the firewall rule `chat-nats-allow-ENV` admitting TCP 4222 to the NATS VM
//! (its network tag) from the connector's /28 only (with --egress direct, from the subnet the
//! service's instances take their addresses from), the one way Cloud Run reaches it. Firewall
//! rules take no labels: the description carries chatctl's marks. A rule whose ranges, port or
//! target drifted is updated in place (`firewalls.update`, so no moment admits nothing); one on
//! another network or direction is deleted, then inserted.

use google_cloud_compute_v1::model::{Firewall, firewall};

use super::{Action, Outputs, Planned, apis, connector, egress_subnet, nats_vm, not_ours};
use crate::config::{ConnectorRange, Egress};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::{Read, compute, compute_vms as api, vpcaccess};
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};
use crate::templates::KNOWN_AFTER_UP;

pub const ID: ResourceId = ResourceId("nats-firewall");

/// The rule letting the connector reach the NATS server.
pub struct NatsFirewall;

fn ours(ctx: &Ctx, rule: &Firewall) -> bool {
    rule.description
        .as_deref()
        .is_some_and(|d| d.starts_with(&ctx.settings.names.firewall_description()))
}

/// The ranges Cloud Run's traffic to NATS may come from, sorted: that of the egress in use
/// (the Direct VPC egress subnet's, or the connector's as it exists, else as configured), and,
/// while the service still runs on the other one (mid-switch), that one's too, so the running
/// revision keeps its bus until the new one serves; `leftovers` narrows the rule afterwards.
/// `KNOWN_AFTER_UP` stands for a range not known yet.
async fn source_ranges(ctx: &Ctx, out: &Outputs) -> anyhow::Result<Vec<String>> {
    let s = &ctx.settings;
    let connector = vpcaccess::get(&ctx.google, &s.names.connector).await?;
    let connector_range = match (connector, &s.connector_range) {
        (Some(c), _) if !c.ip_cidr_range.is_empty() => Some(c.ip_cidr_range),
        (_, ConnectorRange::Fixed(range)) if s.egress == Egress::Connector => Some(range.clone()),
        _ => None,
    };
    let vpc = crate::gcp::run::get(&ctx.google, &s.names.run_service)
        .await?
        .and_then(|service| service.template?.vpc_access);
    let mut ranges = Vec::new();
    match s.egress {
        Egress::Direct => {
            ranges.push(out.get().egress_range);
            if vpc.as_ref().is_some_and(|v| !v.connector.is_empty()) {
                ranges.push(connector_range);
            }
        }
        Egress::Connector => {
            ranges.push(connector_range);
            let subnet = vpc
                .and_then(|v| v.network_interfaces.into_iter().next())
                .map(|nic| nic.subnetwork);
            if let Some(subnet) = subnet.filter(|n| !n.is_empty()) {
                let name = subnet.rsplit('/').next().unwrap_or(&subnet);
                let found = compute::subnet(&ctx.google, &s.region, name).await?;
                ranges.push(found.and_then(|f| f.ip_cidr_range));
            }
        }
    }
    let mut ranges: Vec<String> = ranges
        .into_iter()
        .map(|r| r.unwrap_or_else(|| KNOWN_AFTER_UP.to_string()))
        .collect();
    ranges.sort();
    ranges.dedup();
    Ok(ranges)
}

fn desired(ctx: &Ctx, ranges: &[String]) -> Firewall {
    let names = &ctx.settings.names;
    Firewall::new()
        .set_name(&names.nats_firewall)
        .set_description(names.firewall_description())
        .set_network(format!("global/networks/{}", ctx.settings.network))
        .set_direction(firewall::Direction::Ingress)
        .set_priority(1000)
        .set_allowed([firewall::Allowed::new()
            .set_ip_protocol("tcp")
            .set_ports([nats_vm::NATS_PORT.to_string()])])
        .set_source_ranges(ranges.iter().cloned())
        .set_target_tags([names.nats_vm.clone()])
}

/// What `firewalls.update` changes in place; a new network or direction is a delete and
/// insert (the API keeps a rule's network).
const IN_PLACE: &[&str] = &["sourceRanges", "allowed", "targetTags"];

/// What differs from the wanted rule.
fn differences(want: &Firewall, found: &Firewall) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut differs = |path: &str, from: String, to: String| {
        if from != to {
            changes.push(Change {
                path: path.into(),
                from: from.into(),
                to: to.into(),
            });
        }
    };
    let allowed = |f: &Firewall| {
        f.allowed
            .iter()
            .map(|a| {
                format!(
                    "{}:{}",
                    a.ip_protocol.as_deref().unwrap_or(""),
                    a.ports.join(",")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let sorted = |f: &Firewall| {
        let mut ranges = f.source_ranges.clone();
        ranges.sort();
        ranges.join(",")
    };
    differs("sourceRanges", sorted(found), sorted(want));
    differs("allowed", allowed(found), allowed(want));
    differs(
        "targetTags",
        found.target_tags.join(","),
        want.target_tags.join(","),
    );
    let network = |f: &Firewall| {
        let n = f.network.as_deref().unwrap_or_default();
        n.rsplit('/').next().unwrap_or(n).to_string()
    };
    differs("network", network(found), network(want));
    let ingress = |f: &Firewall| f.direction != Some(firewall::Direction::Egress);
    differs(
        "direction",
        ingress(found).to_string(),
        ingress(want).to_string(),
    );
    changes
}

impl Resource for NatsFirewall {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(connector::ID),
            Edge::Ready(egress_subnet::ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["compute.googleapis.com", "vpcaccess.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.nats_firewall.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (!super::leftovers::provisions_nats(ctx)).then(|| super::leftovers::bus_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let name = &ctx.settings.names.nats_firewall;
        let found = api::get_firewall(&ctx.google, name, super::leftovers::lookup(ctx)).await?;
        if !super::leftovers::provisions_nats(ctx) {
            let found = found.map(|rule| (ours(ctx, &rule), "READY".to_string()));
            let why = super::leftovers::bus_reason(ctx);
            return Ok(super::leftovers::unused_by_mark(name, why, found));
        }
        let Some(rule) = found else {
            return Ok(Planned::new(name, "absent", Action::Create));
        };
        if !ours(ctx, &rule) {
            let reason = not_ours("firewall rule", name, ctx);
            return Ok(Planned::new(name, "READY", Action::Conflict { reason }));
        }
        let want = desired(ctx, &source_ranges(ctx, out).await?);
        let changes = differences(&want, &rule);
        let action = Action::replace_if_any(changes);
        Ok(Planned::new(name, "READY", action))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let name = &ctx.settings.names.nats_firewall;
        let ranges = source_ranges(ctx, out).await?;
        if ranges.iter().any(|r| r == KNOWN_AFTER_UP) {
            anyhow::bail!(
                "the connector {} (or the subnet {}) has no IP range yet, so firewall rule \
                 {name} cannot name it: run `chatctl up` again",
                ctx.settings.names.connector,
                ctx.settings.subnet
            );
        }
        match &planned.action {
            Action::Replace { changes } | Action::Update { changes }
                if changes.iter().all(|c| IN_PLACE.contains(&c.path.as_str())) =>
            {
                progress.detail(Phase::Updating, &crate::diff::summary(changes));
                return api::update_firewall(&ctx.google, desired(ctx, &ranges)).await;
            }
            Action::Replace { .. } | Action::Update { .. } => {
                progress.detail(Phase::Updating, "replacing the rule");
                api::delete_firewall(&ctx.google, name).await?;
            }
            Action::Create => progress.phase(Phase::Creating),
            _ => return Ok(()),
        }
        if !api::insert_firewall(&ctx.google, desired(ctx, &ranges)).await? {
            // Taken between observe and create (or a retried create that went through).
            let found = api::get_firewall(&ctx.google, name, Read::Strict).await?;
            if !found.is_some_and(|rule| ours(ctx, &rule)) {
                anyhow::bail!("{}", not_ours("firewall rule", name, ctx));
            }
        }
        Ok(())
    }

    fn teardown(&self) -> Teardown {
        Teardown::Delete
    }

    async fn destroy(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        progress: &Progress<'_>,
    ) -> anyhow::Result<bool> {
        let name = &ctx.settings.names.nats_firewall;
        match api::get_firewall(&ctx.google, name, Read::IfPermitted).await? {
            None => Ok(false),
            Some(rule) if !ours(ctx, &rule) => {
                anyhow::bail!("{}; left alone", not_ours("firewall rule", name, ctx))
            }
            Some(_) => {
                progress.phase(Phase::Deleting);
                api::delete_firewall(&ctx.google, name).await
            }
        }
    }
}
