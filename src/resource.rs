//! What a resource is, as the engine and the reports see it: the [`Resource`] trait (its id,
//! edges, the APIs it is read through, and observe → decide → act → wait), the plan it yields
//! ([`Planned`], [`Action`]) and what resources of one walk hand each other ([`Outputs`]).
//! The resources themselves, and the table of them, are in `crate::resources`.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::context::Ctx;
use crate::diff::Change;
use crate::report::Progress;

/// A resource's label: its name in progress lines, JSON events and `--output json` summaries.
/// Ordered as the resources are in [`crate::resources::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ResourceId(pub &'static str);

impl ResourceId {
    pub fn label(self) -> &'static str {
        self.0
    }

    /// Position in the table (resources not in it sort last, by label).
    fn position(self) -> usize {
        crate::resources::ALL
            .iter()
            .position(|r| r.id() == self)
            .unwrap_or(usize::MAX)
    }
}

impl Ord for ResourceId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.position(), self.0).cmp(&(other.position(), other.0))
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Why one resource waits for another before `up` starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Until `0` is ready (converged); if it fails, this resource is skipped.
    Ready(ResourceId),
    /// Until `of` has had its create request accepted (or needs none, or has ended), at most
    /// `within`: an ordering for `up` only (see service_account.rs for why it exists).
    Accepted { of: ResourceId, within: Duration },
}

impl Edge {
    pub fn target(self) -> ResourceId {
        match self {
            Edge::Ready(id) | Edge::Accepted { of: id, .. } => id,
        }
    }
}

/// One resource of the stack. Implement it in one file under `src/resources/` and add one row
/// to `resources::ALL`; the graph, the engine and the reports derive everything from that.
pub trait Resource: Sync {
    fn id(&self) -> ResourceId;

    /// What `up` waits for before starting it.
    fn needs(&self) -> &'static [Edge] {
        &[]
    }

    /// The APIs it is read through: while one is disabled, `plan` does not read it.
    fn read_through(&self) -> &'static [&'static str] {
        &[]
    }

    /// Why these settings do not use it (`bus redis`, `egress direct`), or None when they do:
    /// while its APIs are disabled, `plan` then shows it as not used rather than to create.
    fn unused_by(&self, _ctx: &Ctx) -> Option<String> {
        None
    }

    /// The name shown before it has been observed.
    fn display_name(&self, ctx: &Ctx) -> String;

    /// Observe and decide (reads only).
    fn plan(
        &self,
        ctx: &Ctx,
        out: &Outputs,
    ) -> impl Future<Output = anyhow::Result<Planned>> + Send;

    /// Act on a plan and wait until it is ready.
    fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// How `down` treats it.
    fn teardown(&self) -> Teardown {
        Teardown::Keep
    }

    /// Delete and wait; false when there was nothing to delete. Called only for
    /// [`Teardown::Delete`] and [`Teardown::DeleteLast`].
    fn destroy(
        &self,
        _ctx: &Ctx,
        _out: &Outputs,
        _progress: &Progress<'_>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send {
        async { Ok(false) }
    }
}

/// A boxed step future: what [`AnyResource`]'s methods return.
pub type Step<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// [`Resource`] in the form a table can hold (`&dyn AnyResource`): the same methods, with the
/// futures boxed. Every `Resource` is one; nothing implements it by hand.
pub trait AnyResource: Sync {
    fn id(&self) -> ResourceId;
    fn needs(&self) -> &'static [Edge];
    fn read_through(&self) -> &'static [&'static str];
    fn unused_by(&self, ctx: &Ctx) -> Option<String>;
    fn display_name(&self, ctx: &Ctx) -> String;
    fn teardown(&self) -> Teardown;
    fn plan<'a>(&'a self, ctx: &'a Ctx, out: &'a Outputs) -> Step<'a, Planned>;
    fn apply<'a>(
        &'a self,
        ctx: &'a Ctx,
        out: &'a Outputs,
        planned: &'a Planned,
        progress: &'a Progress<'a>,
    ) -> Step<'a, ()>;
    fn destroy<'a>(
        &'a self,
        ctx: &'a Ctx,
        out: &'a Outputs,
        progress: &'a Progress<'a>,
    ) -> Step<'a, bool>;
}

impl<R: Resource> AnyResource for R {
    fn id(&self) -> ResourceId {
        Resource::id(self)
    }

    fn needs(&self) -> &'static [Edge] {
        Resource::needs(self)
    }

    fn read_through(&self) -> &'static [&'static str] {
        Resource::read_through(self)
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        Resource::unused_by(self, ctx)
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        Resource::display_name(self, ctx)
    }

    fn teardown(&self) -> Teardown {
        Resource::teardown(self)
    }

    fn plan<'a>(&'a self, ctx: &'a Ctx, out: &'a Outputs) -> Step<'a, Planned> {
        Box::pin(Resource::plan(self, ctx, out))
    }

    fn apply<'a>(
        &'a self,
        ctx: &'a Ctx,
        out: &'a Outputs,
        planned: &'a Planned,
        progress: &'a Progress<'a>,
    ) -> Step<'a, ()> {
        Box::pin(Resource::apply(self, ctx, out, planned, progress))
    }

    fn destroy<'a>(
        &'a self,
        ctx: &'a Ctx,
        out: &'a Outputs,
        progress: &'a Progress<'a>,
    ) -> Step<'a, bool> {
        Box::pin(Resource::destroy(self, ctx, out, progress))
    }
}

/// How `down` treats a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// Left in place (enabled APIs, the shared image) or removed with another resource.
    Keep,
    /// Deleted after everything that needs it.
    Delete,
    /// Deleted after every deleted resource that is not itself `DeleteLast`.
    DeleteLast,
}

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
    /// An in-place `Update` of `changes`, or `NoOp` when there are none.
    pub fn update_if_any(changes: Vec<Change>) -> Self {
        if changes.is_empty() {
            Action::NoOp
        } else {
            Action::Update { changes }
        }
    }

    /// A `Replace` for `changes`, or `NoOp` when there are none.
    pub fn replace_if_any(changes: Vec<Change>) -> Self {
        if changes.is_empty() {
            Action::NoOp
        } else {
            Action::Replace { changes }
        }
    }

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
    /// The PEMs of Redis's server CAs (`serverCaCerts`, all of them while one rotates), when
    /// the instance has in-transit encryption.
    pub redis_ca_certs: Option<String>,
    /// The secret version holding Redis's AUTH string, which the service pins.
    pub redis_auth_version: Option<String>,
    /// `nats://HOST:4222` of the NATS server (with --bus nats), without credentials.
    pub nats_url: Option<String>,
    /// The secret version holding the NATS server's URL with its credentials, which the
    /// service pins (--bus nats on Google Cloud).
    pub nats_auth_version: Option<String>,
    /// With --egress direct: the primary range of the subnet the service's instances take
    /// their addresses from (what the NATS firewall rule admits).
    pub egress_range: Option<String>,
    pub image: Option<String>,
    pub service_url: Option<String>,
    /// APIs the stack needs that are not enabled yet: resources read through them are not
    /// read by `plan` (every read would answer SERVICE_DISABLED).
    pub disabled_apis: Vec<String>,
    /// APIs this `up` enabled: what Google does asynchronously after an enable (the default
    /// network after Compute Engine's) may still be under way.
    pub enabled_now: Vec<String>,
}

/// Shared between the resources of one walk: values, the create requests accepted so far
/// (for [`Edge::Accepted`]), and whether `down` found anything of the environment.
#[derive(Debug)]
pub struct Outputs {
    values: Mutex<Values>,
    accepted: tokio::sync::watch::Sender<BTreeSet<ResourceId>>,
    found_any: std::sync::atomic::AtomicBool,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            values: Mutex::default(),
            accepted: tokio::sync::watch::Sender::new(BTreeSet::new()),
            found_any: Default::default(),
        }
    }
}

impl Outputs {
    /// Records that `id`'s create request was accepted (or that it sends none, or ended).
    pub fn accepted(&self, id: ResourceId) {
        self.accepted.send_if_modified(|set| set.insert(id));
    }

    /// Waits until `id` is [`Outputs::accepted`]; false when `within` passed first.
    pub async fn wait_accepted(&self, id: ResourceId, within: Duration) -> bool {
        let mut rx = self.accepted.subscribe();
        tokio::time::timeout(within, rx.wait_for(|set| set.contains(&id)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn mark_found(&self) {
        self.found_any
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn found_any(&self) -> bool {
        self.found_any.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn get(&self) -> Values {
        self.values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Values)) {
        f(&mut self
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_accepted_edge_is_released_by_the_accept_and_bounded_by_its_deadline() {
        let out = Outputs::default();
        let redis = ResourceId("redis");
        let short = Duration::from_millis(30);
        assert!(
            !out.wait_accepted(redis, short).await,
            "nothing accepted yet"
        );
        let waiter = out.wait_accepted(redis, Duration::from_secs(5));
        let (released, ()) = tokio::join!(waiter, async { out.accepted(redis) });
        assert!(released);
        assert!(out.wait_accepted(redis, short).await, "stays accepted");
    }
}
