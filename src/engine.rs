//! Walks the stack's graph concurrently: every resource starts as soon as what it needs is
//! done (so `up` takes the critical path, not the sum), and runs observe → decide → act → wait.
//! A failure skips only what depends on it; Ctrl-C starts nothing new.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::context::Ctx;
use crate::outcome::Interrupted;
use crate::report::Reporter;
use crate::resources::{self, Action, Outputs, Planned, Values};
use crate::stack::{ResourceId, Stack};

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
    pub duration: Duration,
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

struct Step {
    planned: Option<Planned>,
    existed: bool,
}

async fn step(
    mode: Mode,
    id: ResourceId,
    ctx: &Ctx,
    out: &Outputs,
    reporter: &Reporter,
    name: &str,
    api_disabled: bool,
) -> anyhow::Result<Step> {
    match mode {
        Mode::Plan => {
            if api_disabled {
                // Reading an API that is not enabled yet only yields SERVICE_DISABLED.
                let planned = Planned::new(name, "unknown (APIs not enabled yet)", Action::Create);
                return Ok(Step {
                    planned: Some(planned),
                    existed: false,
                });
            }
            let planned = resources::plan(id, ctx, out).await?;
            Ok(Step {
                planned: Some(planned),
                existed: true,
            })
        }
        Mode::Up => {
            let progress = reporter.progress(id, name);
            let planned = resources::plan(id, ctx, out).await?;
            if planned.action != Action::Create {
                out.mark_sent(id);
            }
            if planned.action == Action::NoOp {
                progress.state("unchanged");
            } else {
                resources::apply(id, ctx, out, &planned, &progress).await?;
                progress.state("ready");
            }
            Ok(Step {
                planned: Some(planned),
                existed: true,
            })
        }
        Mode::Down => {
            let progress = reporter.progress(id, name);
            let existed = resources::destroy(id, ctx, out, &progress).await?;
            if existed {
                out.mark_found();
            }
            progress.state(if existed { "deleted" } else { "absent" });
            Ok(Step {
                planned: None,
                existed,
            })
        }
    }
}

fn is_interrupt(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.is::<Interrupted>())
}

/// Walks `stack` in `mode`; never fails as a whole: each resource's outcome is in the result.
pub async fn walk(mode: Mode, stack: &Stack, ctx: &Ctx, reporter: &Reporter) -> Walk {
    let out = Outputs::default();
    for id in ResourceId::ALL {
        if !stack.nodes.iter().any(|(n, _)| *n == id) {
            out.mark_sent(id);
        }
    }
    let mut waiting_for: HashMap<ResourceId, usize> = stack
        .nodes
        .iter()
        .map(|(id, deps)| (*id, deps.len()))
        .collect();
    let dependents = |id: ResourceId| -> Vec<ResourceId> {
        stack
            .nodes
            .iter()
            .filter(|(_, deps)| deps.contains(&id))
            .map(|(n, _)| *n)
            .collect()
    };
    let mut results: BTreeMap<ResourceId, NodeResult> = BTreeMap::new();
    let mut running = FuturesUnordered::new();
    // Plan mode: the APIs `up` would enable first (reading them now only yields SERVICE_DISABLED).
    let mut disabled_apis: Vec<String> = Vec::new();
    let cancel = ctx.waiting.cancel.clone();

    let start = |id: ResourceId, disabled_apis: &[String]| {
        let api_disabled = resources::apis::read_through(id)
            .iter()
            .any(|api| disabled_apis.iter().any(|d| d == api));
        let name = resources::display_name(id, ctx);
        let out = &out;
        async move {
            let began = Instant::now();
            let result = step(mode, id, ctx, out, reporter, &name, api_disabled).await;
            (id, name, result, began.elapsed())
        }
    };
    for (id, deps) in &stack.nodes {
        if deps.is_empty() {
            running.push(start(*id, &disabled_apis));
        }
    }
    while let Some((id, name, result, duration)) = running.next().await {
        out.mark_sent(id);
        let (planned, existed, outcome) = match result {
            Ok(step) => (step.planned, step.existed, Outcome::Done),
            Err(err) if is_interrupt(&err) => {
                reporter.state(id, None, "interrupted", false);
                (None, false, Outcome::Interrupted(format!("{err:#}")))
            }
            Err(err) => {
                reporter.state(id, None, "failed", false);
                (None, false, Outcome::Failed(err))
            }
        };
        if id == ResourceId::Apis && mode == Mode::Plan {
            disabled_apis = match planned.as_ref().map(|p| &p.action) {
                Some(Action::Update { changes }) => {
                    changes.iter().map(|c| c.path.clone()).collect()
                }
                _ => Vec::new(),
            };
        }
        let ok = matches!(outcome, Outcome::Done);
        results.insert(
            id,
            NodeResult {
                name,
                planned,
                existed,
                outcome,
                duration,
            },
        );
        for next in dependents(id) {
            if !ok {
                skip(next, id, stack, &mut results, reporter, ctx);
                continue;
            }
            let count = waiting_for.get_mut(&next).expect("node");
            *count -= 1;
            if *count == 0 && !results.contains_key(&next) {
                if cancel.is_cancelled() {
                    results.insert(next, not_started(next, ctx));
                    reporter.state(
                        next,
                        Some(&resources::display_name(next, ctx)),
                        "interrupted",
                        false,
                    );
                } else {
                    running.push(start(next, &disabled_apis));
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

fn not_started(id: ResourceId, ctx: &Ctx) -> NodeResult {
    NodeResult {
        name: resources::display_name(id, ctx),
        planned: None,
        existed: false,
        outcome: Outcome::Interrupted("not started".into()),
        duration: Duration::ZERO,
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
) {
    if results.contains_key(&id) {
        return;
    }
    let name = resources::display_name(id, ctx);
    reporter.state(id, Some(&name), "skipped", false);
    results.insert(
        id,
        NodeResult {
            name,
            planned: None,
            existed: false,
            outcome: Outcome::Skipped(cause),
            duration: Duration::ZERO,
        },
    );
    let next: Vec<ResourceId> = stack
        .nodes
        .iter()
        .filter(|(_, deps)| deps.contains(&id))
        .map(|(n, _)| *n)
        .collect();
    for n in next {
        skip(n, cause, stack, results, reporter, ctx);
    }
}
