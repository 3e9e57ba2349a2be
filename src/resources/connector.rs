//! The Serverless VPC Access connector (a /28 on the network), rendered from
//! templates/vpc-connector.yaml. Connectors take no labels: the name derived from the
//! environment and the network identify ours. Its machine type and instance bounds change in
//! place (`connectors.patch`); a new range cannot, and `up` says what to do instead. Its /28 is checked against every subnet of the
//! network (all regions, secondary ranges too) and the region's other connectors before
//! creating, so a clash is reported at once rather than inside the operation. With --egress
//! direct it is not used: one of ours left from before is deleted once the service has moved.

use std::net::Ipv4Addr;

use google_cloud_vpcaccess_v1::model::Connector;
use google_cloud_vpcaccess_v1::model::connector::State;

use super::{Action, Outputs, Planned, Rendered, apis, render, to_json};
use crate::config::{ConnectorRange, Egress};
use crate::context::Ctx;
use crate::gcp::compute::{self, SubnetRange};
use crate::gcp::vpcaccess as api;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};
use crate::templates::{KNOWN_AFTER_UP, VPC_CONNECTOR, Vars};

pub const ID: ResourceId = ResourceId("connector");

/// The Serverless VPC Access connector Cloud Run reaches Redis through.
pub struct VpcConnector;

impl Resource for VpcConnector {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[Edge::Ready(apis::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["vpcaccess.googleapis.com", "compute.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.connector.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (ctx.settings.egress == Egress::Direct).then(|| super::leftovers::egress_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let id = &ctx.settings.names.connector;
        let found = api::get(&ctx.google, id).await?;
        if ctx.settings.egress == Egress::Direct {
            let found = found.map(|c| (c.network == ctx.settings.network, state_name(&c.state)));
            let why = super::leftovers::egress_reason(ctx);
            return Ok(super::leftovers::unused_by_mark(id, why, found));
        }
        if found.is_none() {
            if let Some(reason) = super::missing_network(ctx, out).await? {
                return Ok(Planned::new(id, "absent", Action::Conflict { reason }));
            }
            // Say now, not from a failed operation, when the /28 would clash (or none is free).
            let (subnets, others) = tokio::try_join!(
                compute::subnet_ranges(&ctx.google, &ctx.settings.network),
                api::list(&ctx.google)
            )?;
            if let Err(clash) = pick_range(ctx, &others, &subnets) {
                let reason = format!("{clash:#}");
                return Ok(Planned::new(id, "absent", Action::Conflict { reason }));
            }
        }
        decide(ctx, found.as_ref(), &intended_range(ctx, found.as_ref()))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let id = &ctx.settings.names.connector;
        match &planned.action {
            Action::Create => {
                // Under `auto`, another environment may take the same free /28 at the same time;
                // the API then fails the operation with a conflict: pick again.
                // The subnets are read once, the connectors again on each attempt.
                let (subnets, mut others) = tokio::try_join!(
                    compute::subnet_ranges(&ctx.google, &ctx.settings.network),
                    api::list(&ctx.google)
                )?;
                let mut taken: Vec<String> = Vec::new();
                for attempt in 0..AUTO_ATTEMPTS {
                    if attempt > 0 {
                        others = api::list(&ctx.google).await?;
                    }
                    others.extend(taken.iter().map(|r| {
                        Connector::new()
                            .set_ip_cidr_range(r.clone())
                            .set_network(ctx.settings.network.clone())
                    }));
                    let range = pick_range(ctx, &others, &subnets)?;
                    progress.detail(Phase::Creating, &format!("creating on {range}"));
                    let want = desired(ctx, &range)?;
                    match api::create(&ctx.google, id, want.message).await {
                        Ok(true) => return wait_ready(ctx, progress).await,
                        Ok(false) => {
                            let found = api::get(&ctx.google, id).await?;
                            if let Action::Conflict { reason } =
                                decide(ctx, found.as_ref(), &range)?.action
                            {
                                anyhow::bail!("{reason}");
                            }
                            return wait_ready(ctx, progress).await;
                        }
                        Err(e)
                            if ctx.settings.connector_range == ConnectorRange::Auto
                                && attempt + 1 < AUTO_ATTEMPTS
                                && is_range_conflict(&e) =>
                        {
                            taken.push(range);
                        }
                        Err(e) => return Err(e),
                    }
                }
                unreachable!("the last attempt returns")
            }
            Action::Resume { state } if state == "DELETING" => anyhow::bail!(
                "connector {id} is being deleted: run `chatctl up` again once `chatctl status` shows it absent"
            ),
            Action::Resume { state } if state == "ERROR" => anyhow::bail!(
                "connector {id} is in state ERROR: run `chatctl down` and `chatctl up` again"
            ),
            Action::Resume { .. } => wait_ready(ctx, progress).await,
            Action::Update { changes } => {
                // Only updatable top-level fields changed (`decide`): the patch names just those.
                let mask: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
                let body: serde_json::Map<String, serde_json::Value> = changes
                    .iter()
                    .map(|c| (c.path.clone(), c.to.clone()))
                    .collect();
                progress.detail(Phase::Updating, &crate::diff::summary(changes));
                api::patch(&ctx.google, id, &body.into(), &mask).await?;
                wait_ready(ctx, progress).await
            }
            Action::Replace { changes } => anyhow::bail!(
                "connector {id} differs from the configuration ({}) in what cannot change in \
                 place (only {} can): keep the old values, or run `chatctl down` and `chatctl up`, \
                 which also deletes Redis and its history",
                crate::diff::summary(changes),
                api::UPDATABLE.join(", ")
            ),
            Action::NoOp | Action::Delete | Action::Conflict { .. } => Ok(()),
        }
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
        let id = &ctx.settings.names.connector;
        let Some(connector) = api::get(&ctx.google, id).await? else {
            return Ok(false);
        };
        if connector.state == State::Creating || connector.state == State::Updating {
            progress.detail(Phase::Waiting, "waiting for the running operation");
            ctx.google
                .waiting
                .until(&format!("connector {id} to settle"), || async {
                    Ok(match api::get(&ctx.google, id).await? {
                        Some(c) if matches!(c.state, State::Creating | State::Updating) => None,
                        _ => Some(()),
                    })
                })
                .await?;
        }
        progress.phase(Phase::Deleting);
        if connector.state == State::Deleting {
            ctx.google
                .waiting
                .until(&format!("connector {id} to be deleted"), || async {
                    Ok(api::get(&ctx.google, id).await?.is_none().then_some(()))
                })
                .await?;
            return Ok(true);
        }
        api::delete(&ctx.google, id).await
    }
}

/// Where `--connector-range auto` looks for a free /28 (the tutorial's 10.8.0.0/28 first).
const AUTO_POOL: (Ipv4Addr, u32) = (Ipv4Addr::new(10, 8, 0, 0), 12);

fn desired(ctx: &Ctx, range: &str) -> anyhow::Result<Rendered<Connector>> {
    let s = &ctx.settings;
    let vars = Vars::from([
        ("network", s.network.clone()),
        ("ipCidrRange", range.to_string()),
        ("env", s.names.env.clone()),
        ("project", s.project.clone()),
        ("region", s.region.clone()),
    ]);
    render(
        "connector",
        VPC_CONNECTOR,
        &vars,
        &s.overrides.connector,
        None,
    )
}

fn state_name(state: &State) -> String {
    state.name().unwrap_or("UNKNOWN").to_string()
}

fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let size = 1u64 << (32 - len.min(32));
    let start = u32::from(addr) & !((size - 1) as u32);
    Some((start, start.saturating_add((size - 1) as u32)))
}

fn overlaps(a: &str, b: &str) -> bool {
    match (parse_cidr(a), parse_cidr(b)) {
        (Some((a0, a1)), Some((b0, b1))) => a0 <= b1 && b0 <= a1,
        _ => false,
    }
}

/// What a /28 would overlap on the network.
enum Clash<'a> {
    Connector(&'a Connector),
    Subnet(&'a SubnetRange),
}

/// The first connector (other than ours) or subnet range of the network that `range` overlaps.
fn clashes<'a>(
    ctx: &Ctx,
    others: &'a [Connector],
    subnets: &'a [SubnetRange],
    range: &str,
) -> Option<Clash<'a>> {
    let ours = api::connector_name(&ctx.google, &ctx.settings.names.connector);
    others
        .iter()
        .find(|c| {
            c.name != ours && c.network == ctx.settings.network && overlaps(&c.ip_cidr_range, range)
        })
        .map(Clash::Connector)
        .or_else(|| {
            subnets
                .iter()
                .find(|s| overlaps(&s.range, range))
                .map(Clash::Subnet)
        })
}

/// How often `auto` picks again after losing a race for a /28.
const AUTO_ATTEMPTS: usize = 5;

fn is_range_conflict(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}").to_ascii_lowercase();
    text.contains("conflict") || text.contains("overlap")
}

/// The configured range (checked against the network's connectors and subnets), or a free
/// one under `auto`.
fn pick_range(ctx: &Ctx, others: &[Connector], subnets: &[SubnetRange]) -> anyhow::Result<String> {
    let network = &ctx.settings.network;
    match &ctx.settings.connector_range {
        ConnectorRange::Fixed(r) => match clashes(ctx, others, subnets, r) {
            Some(Clash::Connector(other)) => anyhow::bail!(
                "the connector range {r} overlaps {} of connector {} on network {network}: pass \
                 another --connector-range, or `--connector-range auto`",
                other.ip_cidr_range,
                other.name,
            ),
            Some(Clash::Subnet(subnet)) => anyhow::bail!(
                "the connector range {r} overlaps {subnet} of network {network}: pass another \
                 --connector-range (a /28 that no subnet or connector of the network uses), or \
                 `--connector-range auto` to let chatctl pick one"
            ),
            None => Ok(r.clone()),
        },
        ConnectorRange::Auto => free_range(ctx, others, subnets),
    }
}

/// The first /28 of the pool that no other connector and no subnet of the network uses.
fn free_range(ctx: &Ctx, others: &[Connector], subnets: &[SubnetRange]) -> anyhow::Result<String> {
    let (base, bits) = AUTO_POOL;
    (0..(1u32 << (28 - bits)))
        .map(|i| format!("{}/28", Ipv4Addr::from(u32::from(base) + i * 16)))
        .find(|candidate| clashes(ctx, others, subnets, candidate).is_none())
        .ok_or_else(|| anyhow::anyhow!("no free /28 left in 10.8.0.0/12: pass --connector-range"))
}

fn decide(ctx: &Ctx, found: Option<&Connector>, range: &str) -> anyhow::Result<Planned> {
    let id = &ctx.settings.names.connector;
    let Some(connector) = found else {
        return Ok(Planned::new(id, "absent", Action::Create));
    };
    let state = state_name(&connector.state);
    if !connector.network.is_empty() && connector.network != ctx.settings.network {
        let reason = format!(
            "connector {id} exists on network {} (not {}): it is not this environment's; choose \
             another --env or --network",
            connector.network, ctx.settings.network
        );
        return Ok(Planned::new(id, state, Action::Conflict { reason }));
    }
    if connector.state != State::Ready {
        return Ok(Planned::new(id, state.clone(), Action::Resume { state }));
    }
    let want = desired(ctx, range)?;
    let changes = crate::diff::changes(&want.spec, &want.json, &to_json(connector));
    let action = if changes.is_empty() {
        Action::NoOp
    } else if changes
        .iter()
        .all(|c| api::UPDATABLE.contains(&c.path.as_str()))
    {
        Action::Update { changes }
    } else {
        Action::Replace { changes }
    };
    Ok(Planned::new(id, state, action))
}

/// The range to compare with: fixed, the existing connector's under `auto`, or unknown.
fn intended_range(ctx: &Ctx, found: Option<&Connector>) -> String {
    match (&ctx.settings.connector_range, found) {
        (ConnectorRange::Fixed(r), _) => r.clone(),
        (ConnectorRange::Auto, Some(c)) => c.ip_cidr_range.clone(),
        (ConnectorRange::Auto, None) => KNOWN_AFTER_UP.to_string(),
    }
}

async fn wait_ready(ctx: &Ctx, progress: &Progress<'_>) -> anyhow::Result<()> {
    let id = &ctx.settings.names.connector;
    ctx.google
        .waiting
        .until(&format!("connector {id} to be READY"), || async {
            match api::get(&ctx.google, id).await? {
                Some(c) if c.state == State::Ready => Ok(Some(())),
                Some(c) if c.state == State::Error => anyhow::bail!(
                    "connector {id} is in state ERROR: run `chatctl down` and `chatctl up` again"
                ),
                Some(c) => {
                    progress.detail(Phase::Waiting, &state_name(&c.state).to_lowercase());
                    Ok(None)
                }
                None => anyhow::bail!("connector {id} disappeared while chatctl waited for it"),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_cidrs() {
        assert!(overlaps("10.8.0.0/28", "10.8.0.0/28"));
        assert!(overlaps("10.8.0.0/20", "10.8.0.16/28"));
        assert!(!overlaps("10.8.0.0/28", "10.8.0.16/28"));
    }
}
