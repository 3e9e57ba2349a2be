//! One module per resource of the stack, each in three parts: `plan` (observe + decide, reads
//! only), `apply` (act + wait) and `destroy`. The engine calls them in graph order.

pub mod apis;
pub mod connector;
pub mod image;
pub mod project_binding;
pub mod public_access;
pub mod redis;
pub mod run_service;
pub mod service_account;

use std::sync::Mutex;

use serde::Serialize;

use crate::context::Ctx;
use crate::diff::Change;
use crate::report::Progress;
use crate::stack::ResourceId;

/// What `up` would do to a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Absent: create it.
    Create,
    /// Present and ours, some managed fields differ: update them in place.
    Update { changes: Vec<Change> },
    /// Present and ours, but a field the API cannot update differs.
    Replace { changes: Vec<Change> },
    /// Present with a change under way (e.g. CREATING after an interrupted run): wait for it.
    Resume { state: String },
    /// Present but not chatctl's: `up` refuses to touch it.
    Conflict { reason: String },
    /// `up` would remove it (the public binding with --no-allow-unauthenticated).
    Delete,
    /// Nothing to do.
    NoOp,
}

impl Action {
    pub fn is_change(&self) -> bool {
        !matches!(self, Action::NoOp)
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Resume { .. } => "resume",
            Action::Conflict { .. } => "conflict",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
        }
    }
}

/// The observed state of a resource and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub name: String,
    /// The API's state, e.g. READY, CREATING, ENABLED; `absent` when it does not exist.
    pub state: String,
    #[serde(flatten)]
    pub action: Action,
}

impl Planned {
    pub fn new(name: impl Into<String>, state: impl Into<String>, action: Action) -> Self {
        Planned {
            name: name.into(),
            state: state.into(),
            action,
        }
    }
}

/// Values a resource hands to the ones that depend on it.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub redis_host: Option<String>,
    pub redis_port: Option<i32>,
    pub image: Option<String>,
    pub service_url: Option<String>,
}

/// Shared between the resources of one walk: values, plus two facts the service account
/// needs because a new account is invisible to reads for a while (see service_account.rs).
#[derive(Debug)]
pub struct Outputs {
    values: Mutex<Values>,
    /// Resources whose create request has been accepted (or that ended, or are not walked).
    sent: tokio::sync::watch::Sender<std::collections::BTreeSet<ResourceId>>,
    /// `down` found something of the environment.
    found_any: std::sync::atomic::AtomicBool,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            values: Mutex::default(),
            sent: tokio::sync::watch::Sender::new(Default::default()),
            found_any: Default::default(),
        }
    }
}

impl Outputs {
    /// Records that `id` has sent its create request (or will not send one).
    pub fn mark_sent(&self, id: ResourceId) {
        self.sent.send_modify(|set| {
            set.insert(id);
        });
    }

    /// Waits until `id` has sent its create request, ended, or is not part of the walk.
    pub async fn sent(&self, id: ResourceId) {
        let mut rx = self.sent.subscribe();
        let _ = rx.wait_for(|set| set.contains(&id)).await;
    }

    pub fn mark_found(&self) {
        self.found_any
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn found_any(&self) -> bool {
        self.found_any.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn get(&self) -> Values {
        self.values.lock().expect("outputs lock").clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Values)) {
        f(&mut self.values.lock().expect("outputs lock"))
    }
}

/// Observe and decide.
pub async fn plan(id: ResourceId, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
    match id {
        ResourceId::Apis => apis::plan(ctx).await,
        ResourceId::ServiceAccount => service_account::plan(ctx).await,
        ResourceId::ProjectBinding => project_binding::plan(ctx).await,
        ResourceId::Redis => redis::plan(ctx, out).await,
        ResourceId::Connector => connector::plan(ctx).await,
        ResourceId::Image => image::plan(ctx, out).await,
        ResourceId::RunService => run_service::plan(ctx, out).await,
        ResourceId::PublicAccess => public_access::plan(ctx).await,
    }
}

/// Act on a plan and wait until the resource is ready.
pub async fn apply(
    id: ResourceId,
    ctx: &Ctx,
    out: &Outputs,
    planned: &Planned,
    progress: &Progress<'_>,
) -> anyhow::Result<()> {
    if let Action::Conflict { reason } = &planned.action {
        anyhow::bail!("{reason}");
    }
    match id {
        ResourceId::Apis => apis::apply(ctx, planned, progress).await,
        ResourceId::ServiceAccount => service_account::apply(ctx, out, planned, progress).await,
        ResourceId::ProjectBinding => project_binding::apply(ctx, planned, progress).await,
        ResourceId::Redis => redis::apply(ctx, out, planned, progress).await,
        ResourceId::Connector => connector::apply(ctx, planned, progress).await,
        ResourceId::Image => image::apply(ctx, out, planned, progress).await,
        ResourceId::RunService => run_service::apply(ctx, out, planned, progress).await,
        ResourceId::PublicAccess => public_access::apply(ctx, planned, progress).await,
    }
}

/// Delete and wait; false when there was nothing to delete.
pub async fn destroy(
    id: ResourceId,
    ctx: &Ctx,
    out: &Outputs,
    progress: &Progress<'_>,
) -> anyhow::Result<bool> {
    match id {
        ResourceId::ServiceAccount => service_account::destroy(ctx, out, progress).await,
        ResourceId::ProjectBinding => project_binding::destroy(ctx, progress).await,
        ResourceId::Redis => redis::destroy(ctx, progress).await,
        ResourceId::Connector => connector::destroy(ctx, progress).await,
        ResourceId::RunService => run_service::destroy(ctx, progress).await,
        ResourceId::Apis | ResourceId::PublicAccess | ResourceId::Image => Ok(false),
    }
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
    let mut spec = crate::templates::render(template, vars, overrides)
        .map_err(|e| crate::config::ConfigError(format!("{what} template: {e}")))?;
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

/// The name a resource is shown under before it has been observed.
pub fn display_name(id: ResourceId, ctx: &Ctx) -> String {
    let names = &ctx.settings.names;
    match id {
        ResourceId::Apis => format!("{} APIs", apis::services(&ctx.settings).len()),
        ResourceId::ServiceAccount => names.service_account_email(ctx.project()),
        ResourceId::ProjectBinding => {
            format!("{} → {}", project_binding::ROLE, names.service_account_id)
        }
        ResourceId::Redis => names.redis_instance.clone(),
        ResourceId::Connector => names.connector.clone(),
        ResourceId::Image => image::display_name(ctx),
        ResourceId::RunService => names.run_service.clone(),
        ResourceId::PublicAccess => "roles/run.invoker → allUsers".to_string(),
    }
}
