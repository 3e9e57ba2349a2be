//! What a finished walk looks like to a user: the `plan` and `status` tables and the `up` /
//! `down` summaries, as human text on stderr (the URL alone on stdout) or as JSON lines.
//! Commands walk the graph; this module only renders what the walk found.

use serde_json::json;

use super::{OutputFormat, Phase, Reporter, emit_json};
use crate::engine::{Outcome, Walk};
use crate::resource::ResourceId;
use crate::resources::{Action, public_access, run_service};

/// Which environment a report is about.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub env: &'a str,
    pub project: &'a str,
    pub region: &'a str,
}

impl Scope<'_> {
    /// `environment `ENV` in project P (REGION)`, as every report names it.
    pub fn describe(&self) -> String {
        format!(
            "environment `{}` in project {} ({})",
            self.env, self.project, self.region
        )
    }
}

/// `plan`: one line per resource with what `up` would do, then the count; returns the number
/// of resources that would change. A plan some of whose reads failed says which resources it
/// knows nothing of, and never that the environment is up to date.
pub fn plan(reporter: &Reporter, walk: &Walk, scope: Scope<'_>) -> usize {
    let changes = walk.changes();
    let unread = unread(walk);
    for (id, result) in &walk.results {
        let Some(planned) = &result.planned else {
            continue;
        };
        match reporter.format() {
            OutputFormat::Json => {
                let mut event = serde_json::to_value(planned).unwrap_or_default();
                event["type"] = "plan".into();
                event["resource"] = id.label().into();
                emit_json(&event);
            }
            OutputFormat::Human => {
                let sign = match planned.action {
                    Action::Create => "+",
                    Action::Update { .. } | Action::Resume { .. } => "~",
                    Action::Replace { .. } => "-/+",
                    Action::Delete => "-",
                    Action::Conflict { .. } => "!",
                    Action::NoOp => "=",
                };
                eprintln!(
                    "{sign:>3} {:<16} {} ({}): {}",
                    id.label(),
                    planned.name,
                    planned.state,
                    planned.action.verb()
                );
                print_details(&planned.action);
            }
        }
    }
    match reporter.format() {
        OutputFormat::Json => emit_json(&json!({
            "type": "summary",
            "command": "plan",
            "ok": unread.is_empty(),
            // Unknown, not 0, when some resource could not be read.
            "changes": unread.is_empty().then_some(changes),
            "unread": unread_json(&unread),
        })),
        OutputFormat::Human => {
            for entry in &unread {
                eprintln!("  ? {:<16} {}: {}", entry.id.label(), entry.name, entry.why);
            }
            eprintln!(
                "{}",
                if !unread.is_empty() {
                    incomplete("Plan", &unread, changes)
                } else if changes == 0 {
                    format!("No changes: {} is up to date.", scope.describe())
                } else {
                    format!("{changes} resource(s) would change; run `chatctl up` to apply.")
                }
            );
        }
    }
    changes
}

/// `status`: every resource, its state and drift, then the URL (stdout) or why there is none.
pub fn status(reporter: &Reporter, walk: &Walk) {
    let url = &walk.values.service_url;
    let unread = unread(walk);
    for (id, result) in &walk.results {
        let Some(planned) = &result.planned else {
            continue;
        };
        let drift = match &planned.action {
            Action::Update { changes } | Action::Replace { changes } => changes.clone(),
            _ => Vec::new(),
        };
        match reporter.format() {
            OutputFormat::Json => emit_json(&json!({
                "type": "status",
                "resource": id.label(),
                "name": planned.name,
                "state": planned.state,
                "action": planned.action.verb(),
                "drift": drift,
            })),
            OutputFormat::Human => {
                eprintln!(
                    "{:<16} {:<40} {:<10} {}",
                    id.label(),
                    planned.name,
                    planned.state,
                    if planned.action.is_change() {
                        format!("up would {}", planned.action.verb())
                    } else {
                        "in sync".into()
                    }
                );
                print_details(&planned.action);
            }
        }
    }
    match reporter.format() {
        OutputFormat::Json => emit_json(&json!({
            "type": "summary",
            "command": "status",
            "ok": unread.is_empty(),
            "url": url,
            "image": walk.values.image,
            "changes": unread.is_empty().then(|| walk.changes()),
            "unread": unread_json(&unread),
        })),
        OutputFormat::Human => {
            for entry in &unread {
                eprintln!(
                    "{:<16} {:<40} {:<10} {}",
                    entry.id.label(),
                    entry.name,
                    "unknown",
                    entry.why
                );
            }
            let service_unread = unread.iter().any(|e| e.id == run_service::ID);
            match url {
                Some(url) => println!("{url}"),
                None if service_unread => {
                    eprintln!("no service URL: the Cloud Run service could not be read")
                }
                None => eprintln!("no service URL: the Cloud Run service does not exist"),
            }
            if !unread.is_empty() {
                eprintln!("{}", incomplete("Status", &unread, walk.changes()));
            }
        }
    }
}

/// The end of `up` or `down` (`command`): every resource's outcome and duration in JSON; in
/// human text the failures, then one line saying where the environment stands, and the URL
/// alone on stdout once `up` made the service.
pub fn summary(reporter: &Reporter, command: &str, walk: &Walk, scope: Scope<'_>) {
    let durations = reporter.durations();
    let ok = walk.failures().next().is_none() && !walk.interrupted();
    if reporter.format() == OutputFormat::Json {
        let resources: Vec<_> = walk
            .results
            .iter()
            .map(|(id, r)| {
                json!({
                    "resource": id.label(),
                    "name": r.name,
                    "action": r.planned.as_ref().map(|p| p.action.verb()),
                    "outcome": final_phase(&r.outcome, r.existed, command).as_str(),
                    "duration_s": durations.get(id).map(|d| d.2).unwrap_or(0.0),
                    "error": match &r.outcome {
                        Outcome::Failed(e) => Some(format!("{e:#}")),
                        Outcome::Interrupted(m) => Some(m.clone()),
                        _ => None,
                    },
                })
            })
            .collect();
        emit_json(&json!({
            "type": "summary",
            "command": command,
            "ok": ok,
            "env": scope.env,
            "project": scope.project,
            "region": scope.region,
            "url": walk.values.service_url,
            "image": walk.values.image,
            "elapsed_s": reporter.elapsed().as_secs_f64(),
            "resources": resources,
        }));
        return;
    }
    for (id, result) in &walk.results {
        match &result.outcome {
            Outcome::Failed(e) => eprintln!("✗ {} {}: {e:#}", id.label(), result.name),
            Outcome::Interrupted(m) if m != "not started" => {
                eprintln!("… {} {}: {m}", id.label(), result.name)
            }
            _ => {}
        }
    }
    let secs = reporter.elapsed().as_secs_f64();
    let env = scope.describe();
    match (command, ok, &walk.values.service_url) {
        ("up", true, Some(url)) => {
            eprintln!("✓ {env} is up ({secs:.1}s)");
            if let Some(image) = &walk.values.image {
                eprintln!("  serving {image}");
            }
            println!("{url}");
        }
        ("up", false, Some(url)) if only_public_access_failed(walk) => {
            // Everything runs; only anonymous callers are turned away.
            eprintln!(
                "✗ {env} is up but not public ({secs:.1}s): fix the error above and run \
                 `chatctl up` again, or keep it private with --no-allow-unauthenticated"
            );
            println!("{url}");
        }
        ("down", true, _) => eprintln!("✓ {env} is gone ({secs:.1}s); the APIs stay enabled"),
        _ => {}
    }
}

/// Whether public access is the one resource that failed (the service itself is up).
fn only_public_access_failed(walk: &Walk) -> bool {
    let failed: Vec<ResourceId> = walk.failures().map(|(id, _)| *id).collect();
    !walk.interrupted() && failed == [public_access::ID]
}

/// A resource a `plan` or `status` walk could not read, and why.
struct Unread<'a> {
    id: ResourceId,
    name: &'a str,
    outcome: &'static str,
    why: String,
    error: Option<String>,
}

/// The resources of a read-only walk that have no plan: their read failed, or was skipped
/// because a resource they need could not be read, or was interrupted.
fn unread(walk: &Walk) -> Vec<Unread<'_>> {
    walk.results
        .iter()
        .filter(|(_, r)| r.planned.is_none())
        .map(|(id, r)| {
            let (why, error) = match &r.outcome {
                Outcome::Failed(e) => (
                    "could not be read (the error is below)".to_string(),
                    Some(format!("{e:#}")),
                ),
                Outcome::Skipped(cause) => (
                    format!("not read: it needs {cause}, which could not be read"),
                    None,
                ),
                Outcome::Interrupted(m) => (format!("not read: {m}"), Some(m.clone())),
                Outcome::Done => ("not read".to_string(), None),
            };
            Unread {
                id: *id,
                name: &r.name,
                outcome: final_phase(&r.outcome, false, "plan").as_str(),
                why,
                error,
            }
        })
        .collect()
}

fn unread_json(unread: &[Unread<'_>]) -> serde_json::Value {
    unread
        .iter()
        .map(|e| {
            json!({
                "resource": e.id.label(),
                "name": e.name,
                "outcome": e.outcome,
                "error": e.error,
            })
        })
        .collect()
}

/// The last line of a `plan` or `status` that could not read everything: never "up to date".
fn incomplete(what: &str, unread: &[Unread<'_>], changes: usize) -> String {
    let labels: Vec<&str> = unread.iter().map(|e| e.id.label()).collect();
    let known = if changes > 0 {
        format!(" Of the others, {changes} would change.")
    } else {
        String::new()
    };
    format!(
        "{what} incomplete: {} resource(s) could not be read ({}); nothing is known of their \
         state.{known} Fix the error below and run the command again.",
        unread.len(),
        labels.join(", ")
    )
}

/// The final phase of a resource's step.
fn final_phase(outcome: &Outcome, existed: bool, command: &str) -> Phase {
    match outcome {
        Outcome::Done if command == "down" && !existed => Phase::Absent,
        Outcome::Done if command == "down" => Phase::Deleted,
        Outcome::Done => Phase::Ready,
        Outcome::Failed(_) => Phase::Failed,
        Outcome::Skipped(_) => Phase::Skipped,
        Outcome::Interrupted(_) => Phase::Interrupted,
    }
}

fn print_details(action: &Action) {
    match action {
        Action::Update { changes } | Action::Replace { changes } => {
            for change in changes {
                eprintln!("        {change}");
            }
        }
        Action::Conflict { reason } => eprintln!("        {reason}"),
        Action::Resume { state } => {
            eprintln!("        an operation is under way ({state}): up waits for it")
        }
        _ => {}
    }
}
