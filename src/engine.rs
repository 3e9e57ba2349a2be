//! Walks the stack's graph concurrently: every resource starts as soon as what it needs is
//! done (so `up` takes the critical path, not the sum), and runs observe → decide → act → wait.
//! A failure skips only what depends on it; Ctrl-C starts nothing new.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::context::Ctx;
use crate::outcome::Interrupted;
use crate::report::{Phase, Reporter};
use crate::resource::{Action, AnyResource, Edge, Outputs, Planned, ResourceId, Values};
use crate::resources;
use crate::stack::Stack;

/// What a walk does at each resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Observe and decide only (plan, status).
    Plan,
    /// Observe, decide, act, wait.
    Up,
    /// Delete and wait.
    Down,
}

/// How one resource ended.
#[derive(Debug)]
pub enum Outcome {
    /// Planned, converged or deleted.
    Done,
    Failed(anyhow::Error),
    /// Not attempted because something it needs failed.
    Skipped(ResourceId),
    /// Not started, or stopped waiting, because of Ctrl-C.
    Interrupted(String),
}

#[derive(Debug)]
pub struct NodeResult {
    pub name: String,
    pub planned: Option<Planned>,
    /// For `down`: whether there was something to delete.
    pub existed: bool,
    pub outcome: Outcome,
}

/// The result of a walk.
#[derive(Debug)]
pub struct Walk {
    pub results: BTreeMap<ResourceId, NodeResult>,
    pub values: Values,
}

impl Walk {
    pub fn failures(&self) -> impl Iterator<Item = (&ResourceId, &anyhow::Error)> {
        self.results.iter().filter_map(|(id, r)| match &r.outcome {
            Outcome::Failed(e) => Some((id, e)),
            _ => None,
        })
    }

    pub fn interrupted(&self) -> bool {
        self.results
            .values()
            .any(|r| matches!(r.outcome, Outcome::Interrupted(_)))
    }

    pub fn changes(&self) -> usize {
        self.results
            .values()
            .filter(|r| r.planned.as_ref().is_some_and(|p| p.action.is_change()))
            .count()
    }
}

struct StepResult {
    planned: Option<Planned>,
    existed: bool,
}

/// Observe → decide → act → wait for one resource, in `mode`.
async fn step(
    mode: Mode,
    resource: &dyn AnyResource,
    edges: &[Edge],
    ctx: &Ctx,
    out: &Outputs,
    reporter: &Reporter,
    name: &str,
) -> anyhow::Result<StepResult> {
    let id = resource.id();
    if mode == Mode::Down {
        let progress = reporter.progress(id, name);
        let existed = resource.destroy(ctx, out, &progress).await?;
        if existed {
            out.mark_found();
        }
        progress.phase(if existed {
            Phase::Deleted
        } else {
            Phase::Absent
        });
        return Ok(StepResult {
            planned: None,
            existed,
        });
    }
    let disabled = out.get().disabled_apis;
    if resource
        .read_through()
        .iter()
        .any(|api| disabled.iter().any(|d| d == api))
    {
        // Reading through an API that is not enabled yet only yields SERVICE_DISABLED.
        let planned = match resource.unused_by(ctx) {
            Some(why) => Planned::new(name, format!("not used ({why})"), Action::NoOp),
            None => Planned::new(name, "unknown (APIs not enabled yet)", Action::Create),
        };
        return Ok(StepResult {
            planned: Some(planned),
            existed: false,
        });
    }
    if mode == Mode::Plan {
        let planned = resource.plan(ctx, out).await?;
        return Ok(StepResult {
            planned: Some(planned),
            existed: true,
        });
    }
    let progress = reporter.progress(id, name);
    let planned = resource.plan(ctx, out).await?;
    if planned.action != Action::Create {
        out.accepted(id);
    }
    if planned.action == Action::NoOp {
        progress.phase(Phase::Unchanged);
    } else {
        if let Action::Conflict { reason } = &planned.action {
            anyhow::bail!("{reason}");
        }
        // An Accepted edge orders acts, not reads: only a change waits for it.
        wait_accepted(edges, out, reporter, id, name).await?;
        resource.apply(ctx, out, &planned, &progress).await?;
        progress.phase(Phase::Ready);
    }
    Ok(StepResult {
        planned: Some(planned),
        existed: true,
    })
}

/// Waits on the [`Edge::Accepted`] edges: each until its target's create request was accepted,
/// within the edge's deadline.
async fn wait_accepted(
    edges: &[Edge],
    out: &Outputs,
    reporter: &Reporter,
    id: ResourceId,
    name: &str,
) -> anyhow::Result<()> {
    for edge in edges {
        let Edge::Accepted { of, within } = *edge else {
            continue;
        };
        reporter.state(
            id,
            Some(name),
            Phase::Waiting,
            Some(&format!("waiting for {of} to be accepted")),
            false,
        );
        if !out.wait_accepted(of, within).await {
            anyhow::bail!(
                "{of}'s create request was not accepted within {}s, so {id} was not started: \
                 run `chatctl up` again",
                within.as_secs()
            );
        }
    }
    Ok(())
}

fn is_interrupt(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.is::<Interrupted>())
}

/// Walks `stack` in `mode`; never fails as a whole: each resource's outcome is in the result.
pub async fn walk(mode: Mode, stack: &Stack, ctx: &Ctx, reporter: &Reporter) -> Walk {
    let out = Outputs::default();
    // Resources outside the walk send no create request: nothing waits on them.
    for resource in resources::ALL {
        if !stack.nodes.iter().any(|(n, _)| *n == resource.id()) {
            out.accepted(resource.id());
        }
    }
    let mut waiting_for: HashMap<ResourceId, usize> = stack
        .nodes
        .iter()
        .map(|(id, edges)| (*id, ready_edges(edges).count()))
        .collect();
    let mut results: BTreeMap<ResourceId, NodeResult> = BTreeMap::new();
    let mut running = FuturesUnordered::new();
    let cancel = ctx.google.waiting.cancel.clone();

    let start = |id: ResourceId, edges: &[Edge]| {
        let name = display_name(id, ctx);
        let out = &out;
        let edges = edges.to_vec();
        async move {
            let result = match resources::by_id(id) {
                Some(resource) => step(mode, resource, &edges, ctx, out, reporter, &name).await,
                None => Err(anyhow::anyhow!("{id} is not a resource chatctl knows")),
            };
            (id, name, result)
        }
    };
    for (id, edges) in &stack.nodes {
        if ready_edges(edges).next().is_none() {
            running.push(start(*id, edges));
        }
    }
    while let Some((id, name, result)) = running.next().await {
        out.accepted(id);
        let (planned, existed, outcome) = match result {
            Ok(step) => (step.planned, step.existed, Outcome::Done),
            Err(err) if is_interrupt(&err) => {
                reporter.state(id, None, Phase::Interrupted, None, false);
                (None, false, Outcome::Interrupted(format!("{err:#}")))
            }
            Err(err) => {
                reporter.state(id, None, Phase::Failed, None, false);
                (None, false, Outcome::Failed(err))
            }
        };
        let ok = matches!(outcome, Outcome::Done);
        results.insert(
            id,
            NodeResult {
                name,
                planned,
                existed,
                outcome,
            },
        );
        for (next, edges) in dependents(stack, id) {
            if !ok {
                skip(next, id, stack, &mut results, reporter, ctx, &out);
                continue;
            }
            let Some(count) = waiting_for.get_mut(&next) else {
                continue;
            };
            *count = count.saturating_sub(1);
            if *count == 0 && !results.contains_key(&next) {
                if cancel.is_cancelled() {
                    results.insert(next, not_started(next, ctx));
                    out.accepted(next);
                    reporter.state(
                        next,
                        Some(&display_name(next, ctx)),
                        Phase::Interrupted,
                        None,
                        false,
                    );
                } else {
                    running.push(start(next, edges));
                }
            }
        }
    }
    // Anything never reached (its dependencies were interrupted) is reported as such.
    for (id, _) in &stack.nodes {
        if !results.contains_key(id) {
            results.insert(*id, not_started(*id, ctx));
        }
    }
    Walk {
        results,
        values: out.get(),
    }
}

/// The edges a resource cannot start before (the others are awaited once it has started).
fn ready_edges(edges: &[Edge]) -> impl Iterator<Item = ResourceId> + '_ {
    edges.iter().filter_map(|e| match e {
        Edge::Ready(id) => Some(*id),
        Edge::Accepted { .. } => None,
    })
}

/// The resources that cannot start before `id` is done, with their edges.
fn dependents(stack: &Stack, id: ResourceId) -> Vec<(ResourceId, &[Edge])> {
    stack
        .nodes
        .iter()
        .filter(|(_, edges)| ready_edges(edges).any(|d| d == id))
        .map(|(n, edges)| (*n, edges.as_slice()))
        .collect()
}

fn display_name(id: ResourceId, ctx: &Ctx) -> String {
    resources::by_id(id)
        .map(|r| r.display_name(ctx))
        .unwrap_or_else(|| id.to_string())
}

fn not_started(id: ResourceId, ctx: &Ctx) -> NodeResult {
    NodeResult {
        name: display_name(id, ctx),
        planned: None,
        existed: false,
        outcome: Outcome::Interrupted("not started".into()),
    }
}

/// Marks `id` and everything after it as skipped because `cause` failed.
fn skip(
    id: ResourceId,
    cause: ResourceId,
    stack: &Stack,
    results: &mut BTreeMap<ResourceId, NodeResult>,
    reporter: &Reporter,
    ctx: &Ctx,
    out: &Outputs,
) {
    if results.contains_key(&id) {
        return;
    }
    out.accepted(id);
    let name = display_name(id, ctx);
    reporter.state(id, Some(&name), Phase::Skipped, None, false);
    results.insert(
        id,
        NodeResult {
            name,
            planned: None,
            existed: false,
            outcome: Outcome::Skipped(cause),
        },
    );
    for (next, _) in dependents(stack, id) {
        skip(next, cause, stack, results, reporter, ctx, out);
    }
}
