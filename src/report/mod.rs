//! Everything a user sees, in one place. Progress three ways: indicatif lines (one per
//! resource) on a terminal, plain lines plus a heartbeat at most every 10 s without one (CI
//! logs), or JSON lines on stdout (`--output json`); the results of a walk ([`results`]: plan,
//! status, summaries); notices (Ctrl-C) and local mode's process lines. Human text always goes
//! to stderr; stdout carries only the URL or JSON.

mod logs;
mod results;

pub use logs::log_entry;
pub use results::{Scope, plan, status, summary};

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::stack::ResourceId;

/// How everything a user sees is written: `human` (progress and text on stderr) or `json`
/// (JSON lines on stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Human,
    Json,
}

/// The progress display drawing on the terminal right now, if any. The terminal is one per
/// process, and so is this: a line printed while bars are drawn goes above them
/// ([`MultiProgress::println`]) instead of garbling them.
static DRAWING: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// A line of human text on stderr, above the progress bars while they are drawn.
fn print_line(text: &str) {
    let drawing = DRAWING.lock().unwrap_or_else(|e| e.into_inner());
    match drawing.as_ref() {
        Some(multi) => {
            let _ = multi.println(text);
        }
        None => eprintln!("{text}"),
    }
}

/// A notice outside any walk (Ctrl-C): a `message` event in JSON, a line of text otherwise.
pub fn notice(format: OutputFormat, text: &str) {
    match format {
        OutputFormat::Json => emit_json(&json!({"type": "message", "text": text})),
        OutputFormat::Human => print_line(text),
    }
}

/// Which project and region a command uses and where each came from: a `context` JSON line,
/// or one line of human text.
pub fn context(format: OutputFormat, scope: Scope<'_>, project_source: &str, region_source: &str) {
    match format {
        OutputFormat::Json => emit_json(&json!({
            "type": "context",
            "project": scope.project,
            "project_source": project_source,
            "region": scope.region,
            "region_source": region_source,
        })),
        OutputFormat::Human => print_line(&format!(
            "project {} (from {project_source}), region {} (from {region_source})",
            scope.project, scope.region
        )),
    }
}

/// One line of a local process's output or of local mode itself, as `name | text` (human
/// text on stderr whatever the format: stdout is for the URL and JSON events).
pub fn process_line(name: &str, text: &str) {
    print_line(&format!("{name:>8} | {text}"));
}

/// Longest silence on a non-terminal before a "still working" line.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Line {
    name: String,
    state: String,
    since: Instant,
    ended: Option<Instant>,
    bar: Option<ProgressBar>,
    done: bool,
}

#[derive(Debug)]
struct Inner {
    lines: BTreeMap<ResourceId, Line>,
    last_output: Instant,
}

/// Where progress goes.
#[derive(Debug)]
pub struct Reporter {
    format: OutputFormat,
    multi: Option<MultiProgress>,
    started: Instant,
    inner: Mutex<Inner>,
}

/// Where a resource is in its step: a closed set, so scripts reading `--output json` can rely
/// on it (the JSON events' `phase`; their `state` is the human text, which may say more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading what exists.
    Observing,
    Creating,
    /// Changing in place (a new revision, a binding, an API enabled).
    Updating,
    Deleting,
    /// Waiting for Google: an operation, a state, another resource.
    Waiting,
    /// Building or pushing the image.
    Building,
    // The phases that end a resource's line.
    Ready,
    Unchanged,
    Deleted,
    Absent,
    Failed,
    Skipped,
    Interrupted,
}

impl Phase {
    /// Every phase, in the order of a resource's life (for the README's schema and tests).
    pub const ALL: [Phase; 13] = [
        Phase::Observing,
        Phase::Creating,
        Phase::Updating,
        Phase::Deleting,
        Phase::Waiting,
        Phase::Building,
        Phase::Ready,
        Phase::Unchanged,
        Phase::Deleted,
        Phase::Absent,
        Phase::Failed,
        Phase::Skipped,
        Phase::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Observing => "observing",
            Phase::Creating => "creating",
            Phase::Updating => "updating",
            Phase::Deleting => "deleting",
            Phase::Waiting => "waiting",
            Phase::Building => "building",
            Phase::Ready => "ready",
            Phase::Unchanged => "unchanged",
            Phase::Deleted => "deleted",
            Phase::Absent => "absent",
            Phase::Failed => "failed",
            Phase::Skipped => "skipped",
            Phase::Interrupted => "interrupted",
        }
    }

    /// Final phases end a resource's line.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Phase::Ready
                | Phase::Unchanged
                | Phase::Deleted
                | Phase::Absent
                | Phase::Failed
                | Phase::Skipped
                | Phase::Interrupted
        )
    }
}

/// The handle a resource step reports its state changes through.
pub struct Progress<'a> {
    reporter: &'a Reporter,
    id: ResourceId,
}

impl Progress<'_> {
    /// Enters `phase`, shown by its name.
    pub fn phase(&self, phase: Phase) {
        self.reporter.state(self.id, None, phase, None, false);
    }

    /// Enters (or stays in) `phase`, shown as `text`.
    pub fn detail(&self, phase: Phase, text: &str) {
        self.reporter.state(self.id, None, phase, Some(text), false);
    }
}

impl Reporter {
    pub fn new(format: OutputFormat) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = (format == OutputFormat::Human && tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        if let Some(multi) = &multi {
            *DRAWING.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
        }
        Reporter {
            format,
            multi,
            started: Instant::now(),
            inner: Mutex::new(Inner {
                lines: BTreeMap::new(),
                last_output: Instant::now(),
            }),
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn progress(&self, id: ResourceId, name: &str) -> Progress<'_> {
        self.state(id, Some(name), Phase::Observing, None, true);
        Progress { reporter: self, id }
    }

    /// Records a state change, `phase` shown as `text` (its name by default; repeats are
    /// ignored), and shows it.
    pub fn state(
        &self,
        id: ResourceId,
        name: Option<&str>,
        phase: Phase,
        text: Option<&str>,
        quiet: bool,
    ) {
        let state = text.unwrap_or(phase.as_str());
        let mut inner = self.inner.lock().expect("reporter lock");
        let now = Instant::now();
        let line = inner.lines.entry(id).or_insert_with(|| Line {
            name: name.unwrap_or_default().to_string(),
            state: String::new(),
            since: now,
            ended: None,
            bar: None,
            done: false,
        });
        if let Some(name) = name {
            line.name = name.to_string();
        }
        if line.state == state {
            return;
        }
        line.state = state.to_string();
        line.done = phase.is_final();
        if line.done {
            line.ended = Some(now);
        }
        let elapsed = now.duration_since(line.since);
        let text = format!("{:<16} {} {}", id.label(), line.name, state);
        match (&self.multi, self.format) {
            (_, OutputFormat::Json) => emit_json(&json!({
                "type": "state",
                "resource": id.label(),
                "name": line.name,
                "phase": phase.as_str(),
                "state": state,
                "elapsed_s": round(elapsed),
            })),
            (Some(multi), _) => {
                let bar = line.bar.get_or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {wide_msg} {elapsed:>4}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                if line.done {
                    bar.finish_with_message(format!("{text} ({:.1}s)", elapsed.as_secs_f64()));
                } else {
                    bar.set_message(text);
                }
            }
            (None, OutputFormat::Human) if !quiet || line.done => {
                eprintln!("[{:>6.1}s] {text}", self.started.elapsed().as_secs_f64());
                inner.last_output = now;
            }
            _ => {}
        }
    }

    /// Called every second or so: without a terminal, prints what is still running when
    /// nothing was printed for HEARTBEAT.
    pub fn heartbeat(&self) {
        if self.multi.is_some() || self.format == OutputFormat::Json {
            return;
        }
        let mut inner = self.inner.lock().expect("reporter lock");
        if inner.last_output.elapsed() < HEARTBEAT {
            return;
        }
        let busy: Vec<String> = inner
            .lines
            .iter()
            .filter(|(_, l)| !l.done)
            .map(|(id, l)| {
                format!(
                    "{} ({}, {}s)",
                    id.label(),
                    l.state,
                    l.since.elapsed().as_secs()
                )
            })
            .collect();
        if !busy.is_empty() {
            eprintln!(
                "[{:>6.1}s] still working: {}",
                self.started.elapsed().as_secs_f64(),
                busy.join(", ")
            );
        }
        inner.last_output = Instant::now();
    }

    /// A line of human text (stderr), or a `message` event in JSON mode.
    pub fn message(&self, text: &str) {
        notice(self.format, text);
    }

    /// How long each resource took from its first event to its last.
    pub fn durations(&self) -> BTreeMap<ResourceId, (String, String, f64)> {
        let inner = self.inner.lock().expect("reporter lock");
        inner
            .lines
            .iter()
            .map(|(id, l)| {
                let end = l.ended.unwrap_or_else(Instant::now);
                (
                    *id,
                    (
                        l.name.clone(),
                        l.state.clone(),
                        round(end.duration_since(l.since)),
                    ),
                )
            })
            .collect()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the progress display (so final text is not redrawn over).
    pub fn finish(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
            *DRAWING.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// One JSON line on stdout.
pub fn emit_json(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_phase_in_its_json_schema() {
        let readme = include_str!("../../README.md");
        let schema = &readme[readme
            .find("### JSON output")
            .expect("README has the schema")..];
        let listed = &schema[schema.find("`phase` is one of").expect("the phase list")..];
        let listed = &listed[..listed.find("\n\n").unwrap_or(listed.len())];
        for phase in Phase::ALL {
            assert!(
                listed.contains(&format!("`{}`", phase.as_str())),
                "README's phase list lacks {phase:?}"
            );
        }
    }
}
