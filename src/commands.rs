//! The commands: each resolves its settings, walks the stack in its mode and reports the
//! result (human text on stderr, or JSON lines on stdout), returning the exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, EmulatorArgs, GlobalArgs, InitArgs, StackArgs};
use crate::config::{self, ConfigError, Settings, process_env};
use crate::context::Ctx;
use crate::engine::{self, Mode, Outcome, Walk};
use crate::gcp::Clients;
use crate::outcome::{EXIT_CHANGES, EXIT_OK, Interrupted, Refused, TimedOut};
use crate::preflight;
use crate::report::OutputFormat;
use crate::report::{Phase, Reporter, emit_json};
use crate::resource::ResourceId;
use crate::resources::{Action, public_access};
use crate::stack::Stack;
use crate::templates;

/// Runs the parsed command line; Ok carries the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = &cli.global;
    match &cli.command {
        Command::Up(args) => {
            if args.local {
                return crate::local::up(global, args).await;
            }
            let settings = config::resolve(global, &args.stack, &process_env)?;
            crate::image::source(&settings, settings.environment.api_endpoint.is_some())?;
            let session = Session::open(settings).await?;
            session.preflight("up").await?;
            session.up().await.map(|_| EXIT_OK)
        }
        Command::Down(args) => {
            let stack = StackArgs {
                wait: args.wait.clone(),
                ..StackArgs::default()
            };
            let settings = config::resolve(global, &stack, &process_env)?;
            // Credentials first: nobody should confirm a deletion that cannot happen.
            let clients = connect(&settings).await?;
            confirm_down(&settings, args.yes)?;
            let session = Session::open_with(clients, settings);
            session.down().await.map(|_| EXIT_OK)
        }
        Command::Plan(args) => {
            let settings = config::resolve(global, &args.stack, &process_env)?;
            let session = Session::open(settings).await?;
            session.preflight("plan").await?;
            let changes = session.plan().await?;
            Ok(if args.detailed_exitcode && changes > 0 {
                EXIT_CHANGES
            } else {
                EXIT_OK
            })
        }
        Command::Status(stack) => {
            let settings = config::resolve(global, stack, &process_env)?;
            let session = Session::open(settings).await?;
            session.status().await.map(|_| EXIT_OK)
        }
        Command::Doctor(stack) => {
            let settings = config::resolve(global, stack, &process_env)?;
            crate::doctor::run(&settings).await
        }
        Command::Init(args) => init(global, args).map(|_| EXIT_OK),
        Command::Completion(args) => {
            let mut command = crate::cli::command();
            clap_complete::generate(args.shell, &mut command, "chatctl", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Emulator(args) => emulator(args).await.map(|_| EXIT_OK),
        Command::ServeChat(args) => crate::local::serve_chat(args).await.map(|_| EXIT_OK),
    }
}

/// The clients for the settings' environment, once its credentials gave a token: missing,
/// unreadable or expired credentials end the command here, before any API call (exit 3).
async fn connect(settings: &Settings) -> anyhow::Result<Clients> {
    let clients = Clients::for_environment(&settings.environment, Some(&settings.project)).await?;
    crate::credentials::check(&clients.credentials, &settings.environment).await?;
    Ok(clients)
}

/// Clients, settings and progress output for one command.
pub struct Session {
    pub ctx: Ctx,
    pub reporter: Reporter,
}

impl Session {
    /// Connects using the process environment (CHATCTL_API_ENDPOINT, credentials, checked
    /// before any call) and installs the Ctrl-C handler.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let clients = connect(&settings).await?;
        Ok(Self::open_with(clients, settings))
    }

    /// A session over clients from [`connect`], with the Ctrl-C handler installed.
    fn open_with(clients: Clients, settings: Settings) -> Self {
        let cancel = CancellationToken::new();
        let format = settings.output;
        crate::signals::install(cancel.clone(), move || {
            let text = "interrupt received: starting nothing new and reporting what is in flight \
                        (press Ctrl-C again to exit at once)";
            match format {
                OutputFormat::Json => emit_json(&json!({"type": "message", "text": text})),
                OutputFormat::Human => eprintln!("{text}"),
            }
        });
        Self::with(clients, settings, cancel)
    }

    /// A session over given clients (tests, the benchmark).
    pub fn with(clients: Clients, settings: Settings, cancel: CancellationToken) -> Self {
        let reporter = Reporter::new(settings.output);
        Session {
            ctx: Ctx::new(clients, settings, cancel),
            reporter,
        }
    }

    async fn walk(&self, mode: Mode, stack: &Stack) -> Walk {
        let ticker = async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.reporter.heartbeat();
            }
        };
        tokio::select! {
            walk = engine::walk(mode, stack, &self.ctx, &self.reporter) => walk,
            _ = ticker => unreachable!("the heartbeat never ends"),
        }
    }

    fn env_line(&self) -> String {
        let s = &self.ctx.settings;
        format!(
            "environment `{}` in project {} ({})",
            s.names.env, s.project, s.region
        )
    }

    /// Preflight (`crate::preflight`) before `command`: every permission it needs that the
    /// caller lacks, listed at once with the role granting it, ends the command before any
    /// change. `plan` stops only when it could not even read; missing write permissions are a
    /// warning there (`up` would stop). A check that gets no answer is a warning.
    pub async fn preflight(&self, command: &str) -> anyhow::Result<()> {
        let settings = &self.ctx.settings;
        let findings = preflight::check(
            &self.ctx.google,
            settings,
            &preflight::user_accounts(settings),
        )
        .await;
        for not_checked in &findings.unchecked {
            self.reporter.message(&format!(
                "warning: the permissions could not be checked before starting ({:#}); carrying \
                 on: a missing permission fails the step that needs it",
                not_checked.error
            ));
        }
        if findings.missing.is_empty() {
            return Ok(());
        }
        let stops = command != "plan" || findings.missing.iter().any(|m| !m.mutates);
        if self.reporter.format() == OutputFormat::Json {
            emit_json(&json!({
                "type": "preflight",
                "command": command,
                "ok": !stops,
                "missing": findings.missing.iter().map(preflight::Missing::to_json).collect::<Vec<_>>(),
            }));
        }
        let text = preflight::explain(&findings.missing, &settings.project, "up");
        if stops {
            return Err(preflight::MissingPermissions(text).into());
        }
        self.reporter
            .message(&format!("warning: `up` would stop here. {text}"));
        Ok(())
    }

    /// `up`: converge, then print the URL.
    pub async fn up(&self) -> anyhow::Result<Walk> {
        self.reporter
            .message(&format!("chatctl up: {}", self.env_line()));
        let walk = self.walk(Mode::Up, &Stack::up()).await;
        self.reporter.finish();
        self.summarize("up", &walk);
        outcome(walk, "up")
    }

    /// `down`: delete everything of the environment.
    pub async fn down(&self) -> anyhow::Result<Walk> {
        self.reporter
            .message(&format!("chatctl down: {}", self.env_line()));
        let walk = self.walk(Mode::Down, &Stack::down()).await;
        self.reporter.finish();
        self.summarize("down", &walk);
        outcome(walk, "down")
    }

    /// `plan`: prints what `up` would do; returns the number of resources that would change.
    /// A plan some of whose reads failed says which resources it knows nothing of, and never
    /// that the environment is up to date.
    pub async fn plan(&self) -> anyhow::Result<usize> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        let changes = walk.changes();
        let unread = unread(&walk);
        for (id, result) in &walk.results {
            let Some(planned) = &result.planned else {
                continue;
            };
            match self.reporter.format() {
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
        match self.reporter.format() {
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
                        format!("No changes: {} is up to date.", self.env_line())
                    } else {
                        format!("{changes} resource(s) would change; run `chatctl up` to apply.")
                    }
                );
            }
        }
        outcome(walk, "plan").map(|_| changes)
    }

    /// `status`: every resource, its state, drift and the URL.
    pub async fn status(&self) -> anyhow::Result<Walk> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        let url = walk.values.service_url.clone();
        let unread = unread(&walk);
        for (id, result) in &walk.results {
            let Some(planned) = &result.planned else {
                continue;
            };
            let drift = match &planned.action {
                Action::Update { changes } | Action::Replace { changes } => changes.clone(),
                _ => Vec::new(),
            };
            match self.reporter.format() {
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
        let service_unread = unread
            .iter()
            .any(|e| e.id == crate::resources::run_service::ID);
        match self.reporter.format() {
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
                match &url {
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
        outcome(walk, "status")
    }

    fn summarize(&self, command: &str, walk: &Walk) {
        let durations = self.reporter.durations();
        let ok = walk.failures().next().is_none() && !walk.interrupted();
        match self.reporter.format() {
            OutputFormat::Json => {
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
                    "env": self.ctx.settings.names.env,
                    "project": self.ctx.settings.project,
                    "region": self.ctx.settings.region,
                    "url": walk.values.service_url,
                    "image": walk.values.image,
                    "elapsed_s": self.reporter.elapsed().as_secs_f64(),
                    "resources": resources,
                }));
            }
            OutputFormat::Human => {
                for (id, result) in &walk.results {
                    match &result.outcome {
                        Outcome::Failed(e) => eprintln!("✗ {} {}: {e:#}", id.label(), result.name),
                        Outcome::Interrupted(m) if m != "not started" => {
                            eprintln!("… {} {}: {m}", id.label(), result.name)
                        }
                        _ => {}
                    }
                }
                let secs = self.reporter.elapsed().as_secs_f64();
                match (command, ok, &walk.values.service_url) {
                    ("up", true, Some(url)) => {
                        eprintln!("✓ {} is up ({secs:.1}s)", self.env_line());
                        if let Some(image) = &walk.values.image {
                            eprintln!("  serving {image}");
                        }
                        println!("{url}");
                    }
                    ("up", false, Some(url)) if only_public_access_failed(walk) => {
                        // Everything runs; only anonymous callers are turned away.
                        eprintln!(
                            "✗ {} is up but not public ({secs:.1}s): fix the error above and run \
                             `chatctl up` again, or keep it private with --no-allow-unauthenticated",
                            self.env_line()
                        );
                        println!("{url}");
                    }
                    ("down", true, _) => {
                        eprintln!(
                            "✓ {} is gone ({secs:.1}s); the APIs stay enabled",
                            self.env_line()
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Whether public access is the one resource that failed (the service itself is up).
fn only_public_access_failed(walk: &Walk) -> bool {
    let failed: Vec<ResourceId> = walk.failures().map(|(id, _)| *id).collect();
    !walk.interrupted() && failed == [public_access::ID]
}

/// A resource a `plan` or `status` walk could not read, and why.
struct Unread<'a> {
    id: crate::resource::ResourceId,
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

/// Turns a walk into the command's result: the first failure (timeouts and Ctrl-C keep their
/// own exit codes), or the walk.
fn outcome(walk: Walk, command: &str) -> anyhow::Result<Walk> {
    if walk.interrupted() {
        return Err(anyhow::Error::new(Interrupted).context(format!("{command} interrupted")));
    }
    let failures: Vec<String> = walk
        .failures()
        .map(|(id, e)| format!("{}: {e:#}", id.label()))
        .collect();
    if failures.is_empty() {
        return Ok(walk);
    }
    let timed_out = walk.failures().find_map(|(_, e)| {
        e.chain()
            .find_map(|c| c.downcast_ref::<TimedOut>())
            .map(|t| TimedOut {
                what: t.what.clone(),
                operation: t.operation.clone(),
                waited: t.waited,
            })
    });
    let summary = format!("{command} failed for {} resource(s)", failures.len());
    match timed_out {
        Some(t) => Err(anyhow::Error::new(t).context(summary)),
        None => Err(anyhow::anyhow!("{}", failures.join("\n")).context(summary)),
    }
}

/// `down` deletes data: ask on a terminal, insist on --yes without one.
fn confirm_down(settings: &Settings, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Refused(
            "refusing to delete without confirmation: there is no terminal to ask on; pass --yes \
             (or set CHATCTL_YES=true) to delete the environment unattended"
                .into(),
        )
        .into());
    }
    let n = &settings.names;
    eprint!(
        "Delete environment `{}` in project {} ({}): Cloud Run service {}, connector {}, Redis \
         instance {} (its data), service account {} and its role binding?\nType the environment \
         name to confirm: ",
        n.env,
        settings.project,
        settings.region,
        n.run_service,
        n.connector,
        n.redis_instance,
        n.service_account_id
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() == n.env || answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(Refused("not confirmed: nothing was deleted".into()).into())
    }
}

/// `init`: writes the commented configuration template.
fn init(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<()> {
    if args.path.exists() && !args.force {
        return Err(ConfigError(format!(
            "{} already exists: pass --force to overwrite it",
            args.path.display()
        ))
        .into());
    }
    if let Some(region) = &global.region {
        crate::regions::validate(region).map_err(ConfigError)?;
    }
    let env_name = global
        .env_name
        .clone()
        .unwrap_or_else(|| config::DEFAULT_ENV.into());
    crate::names::Names::derive(&env_name).map_err(ConfigError)?;
    let project = config::resolve_project(global.project.clone(), None, &process_env).ok();
    let vars = templates::Vars::from([
        (
            "projectLine",
            match project {
                Some(p) => format!("project: {p}"),
                None => "# project: my-project-id".to_string(),
            },
        ),
        (
            "region",
            global
                .region
                .clone()
                .unwrap_or_else(|| config::DEFAULT_REGION.into()),
        ),
        ("env", env_name),
    ]);
    let text = templates::substitute(templates::CHATCTL_YAML, &vars).map_err(anyhow::Error::msg)?;
    config::FileConfig::parse(&text, &args.path)?;
    std::fs::write(&args.path, text)
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    eprintln!(
        "wrote {}: edit it, then run `chatctl plan` and `chatctl up`",
        args.path.display()
    );
    Ok(())
}

/// `emulator`: serves the emulated APIs until Ctrl-C.
async fn emulator(args: &EmulatorArgs) -> anyhow::Result<()> {
    let config = emulator::EmulatorConfig {
        time_scale: args.time_scale,
        allow_anonymous: args.allow_anonymous,
        seed: args.seed,
        enforce_api_enablement: args.enforce_api_enablement,
        ..Default::default()
    };
    let handle = emulator::Emulator::start(
        args.listen,
        config,
        std::sync::Arc::new(emulator::NoRuntime),
    )
    .await
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "emulator listening on {} (time scale {}); use it with:\n  export CHATCTL_API_ENDPOINT={}\nPress Ctrl-C to stop.",
        handle.local_addr(),
        args.time_scale,
        handle.base_url()
    );
    println!("{}", handle.base_url());
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    eprintln!("stopping the emulator");
    handle.shutdown().await.context("emulator shutdown")?;
    Ok(())
}
