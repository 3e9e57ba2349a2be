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
use crate::resources::Action;
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
            confirm_down(&settings, args.yes)?;
            let session = Session::open(settings).await?;
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
        Command::Emulator(args) => emulator(args).await.map(|_| EXIT_OK),
        Command::ServeChat(args) => crate::local::serve_chat(args).await.map(|_| EXIT_OK),
    }
}

/// Clients, settings and progress output for one command.
pub struct Session {
    pub ctx: Ctx,
    pub reporter: Reporter,
}

impl Session {
    /// Connects using the process environment (CHATCTL_API_ENDPOINT, credentials) and installs
    /// the Ctrl-C handler.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        let clients =
            Clients::for_environment(&settings.environment, Some(&settings.project)).await?;
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
        Ok(Self::with(clients, settings, cancel))
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
        let findings = preflight::check(&self.ctx.google, settings, &[]).await;
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
    pub async fn plan(&self) -> anyhow::Result<usize> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        let changes = walk.changes();
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
            OutputFormat::Json => {
                emit_json(&json!({"type": "summary", "command": "plan", "changes": changes}))
            }
            OutputFormat::Human => eprintln!(
                "{}",
                if changes == 0 {
                    format!("No changes: {} is up to date.", self.env_line())
                } else {
                    format!("{changes} resource(s) would change; run `chatctl up` to apply.")
                }
            ),
        }
        outcome(walk, "plan").map(|_| changes)
    }

    /// `status`: every resource, its state, drift and the URL.
    pub async fn status(&self) -> anyhow::Result<Walk> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        let url = walk.values.service_url.clone();
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
        match self.reporter.format() {
            OutputFormat::Json => emit_json(&json!({
                "type": "summary",
                "command": "status",
                "url": url,
                "image": walk.values.image,
                "changes": walk.changes(),
            })),
            OutputFormat::Human => match &url {
                Some(url) => println!("{url}"),
                None => eprintln!("no service URL: the Cloud Run service does not exist"),
            },
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
