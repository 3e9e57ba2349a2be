//! The Cloud Run service running chat-server, rendered from templates/run-service.yaml with
//! the service account, the connector and Redis's host filled in, plus Redis's AUTH string
//! (REDIS_PASSWORD from the Secret Manager secret, by pinned version), REDIS_TLS and the
//! server CAs (REDIS_CA_CERT) when Redis has them; with --bus nats, BUS=nats and NATS_URL from
//! the NATS credentials secret (by pinned version). With --egress direct the template's
//! connector gives way to a network interface on --subnet. Publishes the service URL.

use google_cloud_run_v2::model::Service;
use google_cloud_run_v2::model::condition::State as ConditionState;

use super::{
    Action, Outputs, Planned, Rendered, apis, connector, egress_subnet, image, nats_auth,
    nats_firewall, nats_vm, not_ours, ours_to_delete, owned, redis, redis_auth, render_adjusted,
    service_account, to_json,
};
use crate::config::{Bus, Egress};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::run as api;
use crate::gcp::vpcaccess;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};
use crate::templates::{KNOWN_AFTER_UP, RUN_SERVICE, Vars};

pub const ID: ResourceId = ResourceId("run-service");

/// The Cloud Run service running chat-server.
pub struct RunService;

impl Resource for RunService {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(service_account::ID),
            Edge::Ready(redis::ID),
            Edge::Ready(redis_auth::ID),
            Edge::Ready(connector::ID),
            Edge::Ready(egress_subnet::ID),
            Edge::Ready(image::ID),
            Edge::Ready(nats_vm::ID),
            Edge::Ready(nats_auth::ID),
            Edge::Ready(nats_firewall::ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["run.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.run_service.clone()
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let found = api::get(&ctx.google, &ctx.settings.names.run_service).await?;
        if let Some(service) = &found {
            publish(out, service);
        }
        let want = desired(ctx, out, found.as_ref())?;
        Ok(decide(ctx, &want, found.as_ref()))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let id = &ctx.settings.names.run_service;
        match &planned.action {
            Action::Create => {
                progress.phase(Phase::Creating);
                let want = desired(ctx, out, None)?;
                // After a delete, Cloud Run refuses a create of the same name (ALREADY_EXISTS)
                // for a while although reads say it is absent (Terraform retries this as
                // IsCloudRunCreationConflict): send it again until it goes through or a read
                // finds the service (taken meanwhile, or a retried create that went through).
                let created_or_found = ctx
                    .google
                    .waiting
                    .until(&format!("Cloud Run to release the name {id}"), || async {
                        if api::create(&ctx.google, id, want.message.clone()).await? {
                            return Ok(Some(None));
                        }
                        let found = api::get(&ctx.google, id).await?;
                        if found.is_none() {
                            progress.detail(
                                Phase::Waiting,
                                "the name is still held by a deleted service",
                            );
                        }
                        Ok(found.map(Some))
                    })
                    .await?;
                let Some(found) = created_or_found else {
                    return settle(ctx, out).await;
                };
                let found = Some(found);
                // Adopt it if ours.
                match decide(ctx, &desired(ctx, out, found.as_ref())?, found.as_ref()).action {
                    Action::Conflict { reason } => anyhow::bail!("{reason}"),
                    Action::Update { .. } => update(ctx, out, found.as_ref(), progress).await,
                    _ => settle(ctx, out).await,
                }
            }
            Action::Resume { .. } => {
                progress.detail(Phase::Waiting, "waiting for the rollout under way");
                settle(ctx, out).await?;
                let found = api::get(&ctx.google, id).await?;
                let again = decide(ctx, &desired(ctx, out, found.as_ref())?, found.as_ref());
                if matches!(again.action, Action::Update { .. }) {
                    update(ctx, out, found.as_ref(), progress).await?;
                }
                Ok(())
            }
            Action::Update { .. } | Action::Replace { .. } => {
                let found = api::get(&ctx.google, id).await?;
                update(ctx, out, found.as_ref(), progress).await
            }
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
        let id = &ctx.settings.names.run_service;
        let found = api::get(&ctx.google, id).await?;
        if ours_to_delete(found, |s| &s.labels, "Cloud Run service", id, ctx)?.is_none() {
            return Ok(false);
        }
        progress.phase(Phase::Deleting);
        api::delete(&ctx.google, id).await
    }
}

fn deployed_image(found: Option<&Service>) -> Option<String> {
    found?
        .template
        .as_ref()?
        .containers
        .first()
        .map(|c| c.image.clone())
}

fn desired(ctx: &Ctx, out: &Outputs, found: Option<&Service>) -> anyhow::Result<Rendered<Service>> {
    let s = &ctx.settings;
    let values = out.get();
    // The image step publishes the image by digest; before it has run (plan with APIs still
    // disabled) compare against the --image given, else what is deployed.
    let image = known(
        values
            .image
            .or(s.image.clone())
            .or_else(|| deployed_image(found)),
    );
    let vars = Vars::from([
        (
            "serviceAccountEmail",
            s.names.service_account_email(&s.project),
        ),
        (
            "connector",
            vpcaccess::connector_name(&ctx.google, &s.names.connector),
        ),
        ("image", image),
        ("redisHost", known(values.redis_host)),
        ("redisPort", known(values.redis_port.map(|p| p.to_string()))),
        ("env", s.names.env.clone()),
        ("project", s.project.clone()),
        ("region", s.region.clone()),
    ]);
    let env = match s.bus {
        Bus::Nats => nats_env(match &s.nats_server {
            // A NATS server chatctl does not provision (local mode's): its URL as it is.
            Some(url) => serde_json::json!({"name": "NATS_URL", "value": url}),
            // The VM's, with its credentials: from the secret, pinned like REDIS_PASSWORD.
            None => serde_json::json!({
                "name": "NATS_URL",
                "valueSource": { "secretKeyRef": {
                    "secret": s.names.nats_auth_secret,
                    "version": known(values.nats_auth_version),
                }},
            }),
        }),
        Bus::Redis => redis_env(s, values.redis_auth_version, values.redis_ca_certs),
    };
    render_adjusted(
        "service",
        RUN_SERVICE,
        &vars,
        &s.overrides.service,
        Some(&s.names.labels()),
        |spec| {
            with_env(spec, env)?;
            with_egress(spec, s)
        },
    )
}

/// The most instances the service may scale to as configured (0: Cloud Run's default), which
/// Direct VPC egress needs addresses for.
pub fn max_instance_count(ctx: &Ctx) -> anyhow::Result<u32> {
    let service = desired(ctx, &Outputs::default(), None)?.message;
    let max = service
        .template
        .and_then(|t| t.scaling)
        .map_or(0, |s| s.max_instance_count);
    Ok(u32::try_from(max).unwrap_or(0))
}

/// With --egress direct, the template's `vpcAccess.connector` gives way to one network
/// interface on the network and subnet (the egress setting stays the template's). The
/// connector is set to "" rather than removed, so that a plan shows it going away.
fn with_egress(spec: &mut serde_json::Value, s: &crate::config::Settings) -> Result<(), String> {
    if s.egress != Egress::Direct {
        return Ok(());
    }
    let Some(vpc) = spec
        .pointer_mut("/template/vpcAccess")
        .and_then(|v| v.as_object_mut())
    else {
        return Err("the template with your overrides has no template.vpcAccess".into());
    };
    vpc.insert("connector".into(), "".into());
    vpc.insert(
        "networkInterfaces".into(),
        serde_json::json!([{ "network": s.network, "subnetwork": s.subnet }]),
    );
    Ok(())
}

/// chat-server's Redis variables beyond the template's REDISHOST/REDISPORT: the AUTH string
/// from its secret and the TLS settings.
fn redis_env(
    s: &crate::config::Settings,
    auth_version: Option<String>,
    ca_certs: Option<String>,
) -> EnvChange {
    let mut set = Vec::new();
    if s.redis_auth {
        // Pinned, not `latest`: a new AUTH string is a new version, and so a new revision on
        // the next `up` whose instances all use it; `latest` would leave running instances on
        // the old one and mix them with new ones.
        set.push(serde_json::json!({
            "name": "REDIS_PASSWORD",
            "valueSource": { "secretKeyRef": {
                "secret": s.names.redis_auth_secret,
                "version": known(auth_version),
            }},
        }));
    }
    if s.redis_tls {
        set.push(serde_json::json!({ "name": "REDIS_TLS", "value": "1" }));
        set.push(serde_json::json!({ "name": "REDIS_CA_CERT", "value": known(ca_certs) }));
    }
    EnvChange {
        drop_redis: false,
        set,
    }
}

/// chat-server's variables with --bus nats: BUS=nats and NATS_URL instead of the Redis ones
/// (chat-server refuses REDISHOST with BUS=nats).
fn nats_env(nats_url: serde_json::Value) -> EnvChange {
    EnvChange {
        drop_redis: true,
        set: vec![
            serde_json::json!({"name": "BUS", "value": "nats"}),
            nats_url,
        ],
    }
}

/// What the settings change in chat-server's env (containers[0]) after the template.
struct EnvChange {
    /// Remove every REDIS* variable.
    drop_redis: bool,
    /// Set these (replacing any of the same name).
    set: Vec<serde_json::Value>,
}

/// Applies `change` to the rendered service's chat-server container.
fn with_env(spec: &mut serde_json::Value, change: EnvChange) -> Result<(), String> {
    if change.set.is_empty() && !change.drop_redis {
        return Ok(());
    }
    let Some(list) = spec
        .pointer_mut("/template/containers/0")
        .and_then(|c| c.as_object_mut())
        .map(|c| c.entry("env").or_insert_with(|| serde_json::json!([])))
        .and_then(|e| e.as_array_mut())
    else {
        return Err(
            "the template with your overrides has no template.containers[0] for chat-server".into(),
        );
    };
    if change.drop_redis {
        list.retain(|var| !var["name"].as_str().is_some_and(|n| n.starts_with("REDIS")));
    }
    list.retain(|e| !change.set.iter().any(|x| x["name"] == e["name"]));
    list.extend(change.set);
    Ok(())
}

/// A value the service needs that exists only once `up` made it (the placeholder otherwise).
fn known(value: Option<String>) -> String {
    value.unwrap_or_else(|| KNOWN_AFTER_UP.to_string())
}

fn publish(out: &Outputs, service: &Service) {
    if !service.uri.is_empty() {
        out.update(|v| v.service_url = Some(service.uri.clone()));
    }
}

fn failed(service: &Service) -> Option<String> {
    let cond = service.terminal_condition.as_ref()?;
    (cond.state == ConditionState::ConditionFailed).then(|| cond.message.clone())
}

fn decide(ctx: &Ctx, want: &Rendered<Service>, found: Option<&Service>) -> Planned {
    let id = &ctx.settings.names.run_service;
    let Some(service) = found else {
        return Planned::new(id, "absent", Action::Create);
    };
    if !owned(&service.labels, ctx) {
        return Planned::new(
            id,
            "READY",
            Action::Conflict {
                reason: not_ours("Cloud Run service", id, ctx),
            },
        );
    }
    if service.reconciling {
        return Planned::new(
            id,
            "RECONCILING",
            Action::Resume {
                state: "RECONCILING".into(),
            },
        );
    }
    let mut changes = crate::diff::changes(&want.spec, &want.json, &to_json(service));
    let state = match failed(service) {
        Some(message) => {
            changes.push(Change {
                path: "terminalCondition".into(),
                from: format!("FAILED: {message}").into(),
                to: "READY".into(),
            });
            "FAILED"
        }
        None => "READY",
    };
    let action = if changes.is_empty() {
        Action::NoOp
    } else {
        Action::Update { changes }
    };
    Planned::new(id, state, action)
}

async fn settle(ctx: &Ctx, out: &Outputs) -> anyhow::Result<()> {
    let id = &ctx.settings.names.run_service;
    let service = ctx
        .google
        .waiting
        .until(
            &format!("Cloud Run service {id} to finish its rollout"),
            || async {
                match api::get(&ctx.google, id).await? {
                    Some(s) if !s.reconciling => Ok(Some(s)),
                    Some(_) => Ok(None),
                    None => anyhow::bail!("Cloud Run service {id} disappeared during its rollout"),
                }
            },
        )
        .await?;
    if let Some(message) = failed(&service) {
        anyhow::bail!(
            "Cloud Run service {id} is not ready: {message}\n  → check the image and the \
             service's logs (`gcloud run services logs read {id} --region {}`), then run `chatctl up` again",
            ctx.region()
        );
    }
    publish(out, &service);
    Ok(())
}

async fn update(
    ctx: &Ctx,
    out: &Outputs,
    found: Option<&Service>,
    progress: &Progress<'_>,
) -> anyhow::Result<()> {
    progress.detail(Phase::Updating, "deploying a new revision");
    let mut service = desired(ctx, out, found)?.message;
    service.name = api::service_name(&ctx.google, &ctx.settings.names.run_service);
    // Public access's choice (the invoker check turned off under Domain Restricted Sharing).
    service.invoker_iam_disabled = found.is_some_and(|f| f.invoker_iam_disabled);
    api::update(&ctx.google, service).await?;
    settle(ctx, out).await
}
