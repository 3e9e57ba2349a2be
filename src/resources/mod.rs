//! The resources of the stack, one module each, and [`ALL`], the one table of them: the graph
//! (`crate::stack`), the engine and the reports derive everything from it. Each module
//! implements [`crate::resource::Resource`]: `plan` (observe + decide, reads only), `apply`
//! (act + wait) and, for what `down` removes, `destroy`. The helpers below are shared by them.

pub mod apis;
pub mod connector;
pub mod egress_subnet;
pub mod image;
pub mod leftovers;
pub mod nats_auth;
pub mod nats_disk;
pub mod nats_firewall;
pub mod nats_vm;
pub mod project_binding;
pub mod public_access;
pub mod redis;
pub mod redis_auth;
pub mod run_service;
pub mod secrets;
pub mod service_account;

pub use crate::resource::{Action, Outputs, Planned, Values};
use crate::resource::{AnyResource, ResourceId};

use serde::Serialize;

use crate::context::Ctx;

/// Every resource of the stack, in the order reports list them.
pub static ALL: &[&dyn AnyResource] = &[
    &apis::Apis,
    &service_account::IDENTITY,
    &project_binding::IDENTITY,
    &service_account::BUILDER,
    &project_binding::BUILDER,
    &redis::Redis,
    &redis_auth::RedisAuth,
    &connector::VpcConnector,
    &egress_subnet::EgressSubnet,
    &nats_disk::NatsDisk,
    &nats_vm::NatsVm,
    &nats_auth::NatsAuth,
    &nats_firewall::NatsFirewall,
    &image::Image,
    &run_service::RunService,
    &public_access::PublicAccess,
    &leftovers::Leftovers,
];

/// The resource with this id.
pub fn by_id(id: ResourceId) -> Option<&'static dyn AnyResource> {
    ALL.iter().copied().find(|r| r.id() == id)
}

/// Whether labels mark a resource as this environment's.
pub fn owned(labels: &std::collections::HashMap<String, String>, ctx: &Ctx) -> bool {
    ctx.settings
        .names
        .labels()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// The message for a resource that exists but is not ours.
pub fn not_ours(what: &str, name: &str, ctx: &Ctx) -> String {
    format!(
        "{what} {name} exists but is not managed by chatctl for environment `{}` (labels \
         managed-by=chatctl, chatctl-env={} are missing): choose another --env, or add those \
         labels to let chatctl adopt it",
        ctx.settings.names.env, ctx.settings.names.env
    )
}

/// What `down` may delete of what was `found`: None when nothing was, an error (the resource
/// is left alone) when it is not this environment's.
pub fn ours_to_delete<T>(
    found: Option<T>,
    labels: impl Fn(&T) -> &std::collections::HashMap<String, String>,
    what: &str,
    name: &str,
    ctx: &Ctx,
) -> anyhow::Result<Option<T>> {
    match found {
        Some(resource) if !owned(labels(&resource), ctx) => {
            anyhow::bail!("{}; left alone", not_ours(what, name, ctx))
        }
        found => Ok(found),
    }
}

/// How long after Compute Engine's enable its `default` network is waited for.
const NETWORK_APPEARS_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// Why the network Redis and the connector join cannot be used (it does not exist), or None.
/// Right after this `up` enabled Compute Engine, the `default` network may still be on its way
/// (Google creates it asynchronously): it is waited for, within the eventual-consistency window.
pub async fn missing_network(ctx: &Ctx, out: &Outputs) -> anyhow::Result<Option<String>> {
    let network = &ctx.settings.network;
    let google = &ctx.google;
    if crate::gcp::compute::network_exists(google, network).await? {
        return Ok(None);
    }
    let just_enabled = out
        .get()
        .enabled_now
        .iter()
        .any(|api| api == "compute.googleapis.com");
    if just_enabled && network == crate::config::DEFAULT_NETWORK {
        let mut eventual = google.waiting.clone();
        eventual.timeout = eventual.timeout.min(NETWORK_APPEARS_WITHIN);
        let appeared = eventual
            .until(&format!("network {network} to appear"), || async {
                Ok(crate::gcp::compute::network_exists(google, network)
                    .await?
                    .then_some(()))
            })
            .await;
        if appeared.is_ok() {
            return Ok(None);
        }
    }
    Ok(Some(crate::gcp::compute::missing_network(google, network)))
}

/// Serialises a model (or a template) to JSON for diffs.
pub fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// A resource rendered from its template: the managed fields (`spec`), the typed message, and
/// that message serialised the way the client sends it (for diffs).
pub struct Rendered<T> {
    pub spec: serde_json::Value,
    pub message: T,
    pub json: serde_json::Value,
}

/// Renders a template with `vars`, the user's `overrides` and (where the API takes them)
/// chatctl's labels, into the client's message type.
pub fn render<T>(
    what: &str,
    template: &str,
    vars: &crate::templates::Vars,
    overrides: &serde_json::Value,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> anyhow::Result<Rendered<T>>
where
    T: serde::de::DeserializeOwned + Serialize,
{
    render_adjusted(what, template, vars, overrides, labels, |_| Ok(()))
}

/// [`render`], with `adjust` applied to the rendered JSON (after the user's overrides, before
/// the labels): for what a template cannot say with placeholders, such as env entries that
/// depend on a setting.
pub fn render_adjusted<T>(
    what: &str,
    template: &str,
    vars: &crate::templates::Vars,
    overrides: &serde_json::Value,
    labels: Option<&std::collections::BTreeMap<String, String>>,
    adjust: impl FnOnce(&mut serde_json::Value) -> Result<(), String>,
) -> anyhow::Result<Rendered<T>>
where
    T: serde::de::DeserializeOwned + Serialize,
{
    let mut spec = crate::templates::render(template, vars, overrides)
        .map_err(|e| crate::config::ConfigError(format!("{what} template: {e}")))?;
    adjust(&mut spec).map_err(|e| crate::config::ConfigError(format!("{what}: {e}")))?;
    if let (Some(labels), Some(object)) = (labels, spec.as_object_mut()) {
        let entry = object
            .entry("labels")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(map) = entry.as_object_mut() {
            for (k, v) in labels {
                map.insert(k.clone(), v.clone().into());
            }
        }
    }
    let message: T = serde_json::from_value(spec.clone()).map_err(|e| {
        crate::config::ConfigError(format!(
            "{what}: the template with your overrides is not a valid resource: {e}"
        ))
    })?;
    let json = to_json(&message);
    Ok(Rendered {
        spec,
        message,
        json,
    })
}
