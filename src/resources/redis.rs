//! The Memorystore for Redis instance (BASIC 1 GB by default, STANDARD_HA with --tier
//! standard), with AUTH and in-transit encryption unless --no-redis-auth / --no-redis-tls,
//! rendered from templates/redis-instance.yaml. Hands its host, port and server CAs to Cloud Run.
//! With --bus nats it is not used: an instance of ours left from --bus redis is deleted by
//! `leftovers`, once the service has moved to NATS.

use google_cloud_redis_v1::model::Instance;
use google_cloud_redis_v1::model::instance::State;

use super::{
    Action, Outputs, Planned, Rendered, apis, not_ours, ours_to_delete, owned, render, to_json,
};
use crate::config::{Bus, Tier};
use crate::context::Ctx;
use crate::gcp::redis as api;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};
use crate::templates::{REDIS_INSTANCE, Vars};

pub const ID: ResourceId = ResourceId("redis");

/// The Memorystore for Redis instance.
pub struct Redis;

impl Resource for Redis {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        // The Direct VPC egress subnet is checked first: a service that could not reach the
        // instance is refused before the instance's minutes-long create starts.
        &[Edge::Ready(apis::ID), Edge::Ready(super::egress_subnet::ID)]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["redis.googleapis.com", "compute.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.redis_instance.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (ctx.settings.bus != crate::config::Bus::Redis).then(|| super::leftovers::bus_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let found = api::get(&ctx.google, &ctx.settings.names.redis_instance).await?;
        if ctx.settings.bus != Bus::Redis {
            let name = &ctx.settings.names.redis_instance;
            let found = found.map(|i| (i.labels, state_name(&i.state)));
            return Ok(super::leftovers::unused(
                ctx,
                name,
                super::leftovers::bus_reason(ctx),
                found,
            ));
        }
        let want = desired(ctx)?;
        if let Some(instance) = &found {
            publish(out, instance);
        } else if let Some(reason) = super::missing_network(ctx, out).await? {
            // Say now, not from a failed operation, that the instance has no network to join.
            return Ok(Planned::new(
                &ctx.settings.names.redis_instance,
                "absent",
                Action::Conflict { reason },
            ));
        }
        Ok(decide(ctx, &want, found.as_ref()))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let id = &ctx.settings.names.redis_instance;
        match &planned.action {
            Action::Create => {
                progress.phase(Phase::Creating);
                let want = desired(ctx)?;
                let sent = api::create(&ctx.google, id, want.message, || out.accepted(ID));
                if !sent.await? {
                    // Taken between observe and create (or a retried create that went through).
                    let found = api::get(&ctx.google, id).await?;
                    if let Action::Conflict { reason } =
                        decide(ctx, &desired(ctx)?, found.as_ref()).action
                    {
                        anyhow::bail!("{reason}");
                    }
                }
                wait_ready(ctx, out, progress).await
            }
            Action::Resume { state } if state == "DELETING" => {
                anyhow::bail!(
                    "Redis instance {id} is being deleted (a `down` is under way or was interrupted): \
                     run `chatctl up` again once `chatctl status` shows it absent"
                )
            }
            Action::Resume { .. } => wait_ready(ctx, out, progress).await,
            Action::Update { changes } => {
                progress.phase(Phase::Updating);
                let mut fields: Vec<String> = changes
                    .iter()
                    .map(|c| top_field(&c.path).to_string())
                    .collect();
                fields.sort();
                fields.dedup();
                let mut instance = desired(ctx)?.message;
                instance.name = api::instance_name(&ctx.google, id);
                api::update(&ctx.google, instance, fields).await?;
                wait_ready(ctx, out, progress).await
            }
            Action::Replace { changes } if changes.iter().any(|c| c.path == TRANSIT) => {
                anyhow::bail!("{}", tls_replace_advice(id))
            }
            Action::Replace { changes } => anyhow::bail!(
                "Redis instance {id} differs in fields the API cannot update ({}); keep the old \
                 values, or run `chatctl down` (this deletes the data) and `chatctl up`",
                crate::diff::summary(changes)
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
        let id = &ctx.settings.names.redis_instance;
        let found = api::get(&ctx.google, id).await?;
        let Some(instance) = ours_to_delete(found, |i| &i.labels, "Redis instance", id, ctx)?
        else {
            return Ok(false);
        };
        if instance.state == State::Deleting {
            progress.phase(Phase::Deleting);
            return wait_gone(ctx, id).await;
        }
        if matches!(instance.state, State::Creating | State::Updating) {
            // An interrupted `up` left an operation running: let it finish, then delete.
            progress.detail(Phase::Waiting, "waiting for the running operation");
            ctx.google
                .waiting
                .until(&format!("Redis instance {id} to settle"), || async {
                    Ok(match api::get(&ctx.google, id).await? {
                        Some(i) if matches!(i.state, State::Creating | State::Updating) => None,
                        other => Some(other),
                    })
                })
                .await?;
        }
        progress.phase(Phase::Deleting);
        api::delete(&ctx.google, id).await?;
        Ok(true)
    }
}

/// The field that says whether Redis speaks TLS; set at create only.
const TRANSIT: &str = "transitEncryptionMode";

/// What to do about an instance without the in-transit encryption the settings ask for.
fn tls_replace_advice(id: &str) -> String {
    format!(
        "Redis instance {id} has no in-transit encryption, and Memorystore cannot turn it on in \
         place: run `chatctl down` then `chatctl up` to recreate it with TLS (this deletes the \
         room history), or pass --no-redis-tls (chatctl.yaml `redisTls: false`) to keep it as it is"
    )
}

/// Fields UpdateInstance can change in place.
const UPDATABLE: &[&str] = &[
    "authEnabled",
    "displayName",
    "labels",
    "memorySizeGb",
    "redisConfigs",
    "replicaCount",
    "readReplicasMode",
    "persistenceConfig",
    "maintenancePolicy",
];

fn desired(ctx: &Ctx) -> anyhow::Result<Rendered<Instance>> {
    let s = &ctx.settings;
    let tier = match s.tier {
        Tier::Basic => "BASIC",
        Tier::Standard => "STANDARD_HA",
    };
    let vars = Vars::from([
        ("tier", tier.to_string()),
        ("project", s.project.clone()),
        ("network", s.network.clone()),
        ("env", s.names.env.clone()),
        ("region", s.region.clone()),
    ]);
    // AUTH and TLS from the settings, under whatever chatctl.yaml's `redis:` says.
    let mut overrides = serde_json::json!({
        "authEnabled": s.redis_auth,
        TRANSIT: if s.redis_tls { "SERVER_AUTHENTICATION" } else { "DISABLED" },
    });
    if let (Some(merged), Some(user)) = (overrides.as_object_mut(), s.overrides.redis.as_object()) {
        merged.extend(user.clone());
    }
    render(
        "redis",
        REDIS_INSTANCE,
        &vars,
        &overrides,
        Some(&s.names.labels()),
    )
}

fn state_name(state: &State) -> String {
    state.name().unwrap_or("UNKNOWN").to_string()
}

fn publish(out: &Outputs, instance: &Instance) {
    if instance.state == State::Ready && !instance.host.is_empty() {
        out.update(|v| {
            v.redis_host = Some(instance.host.clone());
            v.redis_port = Some(if instance.port == 0 {
                6379
            } else {
                instance.port
            });
            // Every CA listed (a new one is added before the old expires): the service trusts
            // them all, and a new one reaches it on the next `up`.
            v.redis_ca_certs = (!instance.server_ca_certs.is_empty()).then(|| {
                instance
                    .server_ca_certs
                    .iter()
                    .map(|c| c.cert.trim_end().to_string() + "\n")
                    .collect()
            });
        });
    }
}

fn decide(ctx: &Ctx, want: &Rendered<Instance>, found: Option<&Instance>) -> Planned {
    let id = &ctx.settings.names.redis_instance;
    let Some(instance) = found else {
        return Planned::new(id, "absent", Action::Create);
    };
    let state = state_name(&instance.state);
    if !owned(&instance.labels, ctx) {
        let reason = not_ours("Redis instance", id, ctx);
        return Planned::new(id, state, Action::Conflict { reason });
    }
    if instance.state != State::Ready {
        return Planned::new(id, state.clone(), Action::Resume { state });
    }
    let changes = crate::diff::changes(&want.spec, &want.json, &to_json(instance));
    let action = if changes.is_empty() {
        Action::NoOp
    } else if changes
        .iter()
        .all(|c| UPDATABLE.contains(&top_field(&c.path)))
    {
        Action::Update { changes }
    } else {
        Action::Replace { changes }
    };
    Planned::new(id, state, action)
}

/// `a.b[0]` → `a`.
pub fn top_field(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// Waits until the instance leaves a transitional state; errors on a state it cannot leave.
async fn wait_ready(ctx: &Ctx, out: &Outputs, progress: &Progress<'_>) -> anyhow::Result<()> {
    let id = &ctx.settings.names.redis_instance;
    let instance = ctx
        .google
        .waiting
        .until(&format!("Redis instance {id} to be READY"), || async {
            match api::get(&ctx.google, id).await? {
                Some(i) if i.state == State::Ready => Ok(Some(i)),
                Some(i) => {
                    progress.detail(Phase::Waiting, &state_name(&i.state).to_lowercase());
                    Ok(None)
                }
                None => {
                    anyhow::bail!("Redis instance {id} disappeared while chatctl waited for it")
                }
            }
        })
        .await?;
    publish(out, &instance);
    Ok(())
}

async fn wait_gone(ctx: &Ctx, id: &str) -> anyhow::Result<bool> {
    ctx.google
        .waiting
        .until(&format!("Redis instance {id} to be deleted"), || async {
            Ok(api::get(&ctx.google, id).await?.is_none().then_some(true))
        })
        .await
}
