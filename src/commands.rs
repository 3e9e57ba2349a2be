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
use crate::engine::{self, Mode, Walk};
use crate::gcp::Clients;
use crate::image::staging;
use crate::outcome::{EXIT_CHANGES, EXIT_OK, Interrupted, Refused, TimedOut};
use crate::preflight;
use crate::report::{self, OutputFormat, Reporter, emit_json};
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
            session.locked("up", session.up()).await.map(|_| EXIT_OK)
        }
        Command::Down(args) => {
            let stack = StackArgs {
                wait: args.wait.clone(),
                ..StackArgs::default()
            };
            let settings = config::resolve(global, &stack, &process_env)?;
            say_chosen(&settings);
            if !args.yes {
                can_confirm_down()?;
            }
            // Credentials and permissions first: nobody should confirm a deletion that cannot
            // happen. Ctrl-C is ours only once the question is answered.
            let clients = connect(&settings).await?;
            let cancel = CancellationToken::new();
            let session = Session::with(clients, settings, cancel.clone());
            session.preflight("down").await?;
            confirm_down(&session.ctx.settings, args.yes)?;
            crate::signals::install(cancel, session.ctx.settings.output);
            session
                .locked("down", session.down())
                .await
                .map(|_| EXIT_OK)
        }
        Command::Unlock => {
            let settings = config::resolve(global, &StackArgs::default(), &process_env)?;
            say_chosen(&settings);
            let session = Session::open(settings).await?;
            session.break_lock().await.map(|_| EXIT_OK)
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
            if settings.output == OutputFormat::Human {
                say_chosen(&settings); // in JSON, doctor's one object is its whole output
            }
            crate::doctor::run(&settings).await
        }
        Command::Logs(args) => crate::logs::run(global, args).await,
        Command::Open(args) => crate::open::run(global, args).await,
        Command::Init(args) => init(global, args).map(|_| EXIT_OK),
        Command::Completion(args) => {
            let mut command = crate::cli::command();
            clap_complete::generate(args.shell, &mut command, "chatctl", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Man => {
            clap_mangen::Man::new(crate::cli::command()).render(&mut std::io::stdout())?;
            Ok(EXIT_OK)
        }
        Command::Emulator(args) => emulator(args).await.map(|_| EXIT_OK),
        Command::ServeChat(args) => crate::local::serve_chat(args).await.map(|_| EXIT_OK),
    }
}

/// Which project and region the command uses and where each came from: a `context` JSON line,
/// or one line on stderr.
pub(crate) fn say_chosen(settings: &Settings) {
    report::context(
        settings.output,
        scope(settings),
        settings.project_source,
        settings.region_source,
    );
}

/// The environment `settings` are about, as reports name it.
fn scope(settings: &Settings) -> report::Scope<'_> {
    report::Scope {
        env: &settings.names.env,
        project: &settings.project,
        region: &settings.region,
    }
}

/// The clients for the settings' environment, once its credentials gave a token: missing,
/// unreadable or expired credentials end the command here, before any API call (exit 3).
pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Clients> {
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
        say_chosen(&settings);
        let clients = connect(&settings).await?;
        Ok(Self::open_with(clients, settings))
    }

    /// A session over clients from [`connect`], with the Ctrl-C handler installed.
    fn open_with(clients: Clients, settings: Settings) -> Self {
        let cancel = CancellationToken::new();
        crate::signals::install(cancel.clone(), settings.output);
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
        crate::gcp::serviceusage::learn_target_number(&self.ctx.google).await;
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

    /// The environment this session is about, as reports name it.
    fn scope(&self) -> report::Scope<'_> {
        scope(&self.ctx.settings)
    }

    /// Preflight (`crate::preflight`) before `command` (`plan`, `up` or `down`): every
    /// permission it needs that the caller lacks, listed at once with the role granting it,
    /// ends the command before any change. `plan` stops only when it could not even read;
    /// missing write permissions are a warning there (`up` would stop). A check that gets no
    /// answer is a warning.
    ///
    /// Then, for `plan` and `up`, the organisation's policies (`doctor`'s judgement, best
    /// effort): one that would refuse what `up` creates (the region outside
    /// gcp.resourceLocations, Cloud Run's ingress or VPC egress) ends `up` before any change
    /// and is a warning in `plan`.
    pub async fn preflight(&self, command: &str) -> anyhow::Result<()> {
        self.permissions(command).await?;
        if command == "down" {
            return Ok(());
        }
        let refusals =
            crate::doctor::org_policies::refusals(&self.ctx.google, &self.ctx.settings).await;
        if refusals.is_empty() {
            return Ok(());
        }
        let text = format!(
            "the organisation's policies refuse what `up` would create:\n  {}",
            refusals.join("\n  ")
        );
        if command == "plan" {
            self.reporter
                .message(&format!("warning: `up` would stop here: {text}"));
            return Ok(());
        }
        anyhow::bail!("{text}\nNothing was changed.")
    }

    /// The permission half of [`Session::preflight`].
    async fn permissions(&self, command: &str) -> anyhow::Result<()> {
        crate::gcp::serviceusage::learn_target_number(&self.ctx.google).await;
        let settings = &self.ctx.settings;
        let (needs, accounts) = if command == "down" {
            (preflight::needed_by_down(), Vec::new())
        } else {
            (
                preflight::needed(settings),
                preflight::user_accounts(settings),
            )
        };
        let findings = preflight::check(&self.ctx.google, settings, &needs, &accounts).await;
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
        let stops = match command {
            "plan" => findings.missing.iter().any(|m| !m.mutates),
            // The other bus's pieces (down takes no --bus): only where the environment has them.
            "down" => findings.missing.iter().any(|m| !m.conditional),
            _ => true,
        };
        if self.reporter.format() == OutputFormat::Json {
            emit_json(&json!({
                "type": "preflight",
                "command": command,
                "ok": !stops,
                "missing": findings.missing.iter().map(preflight::Missing::to_json).collect::<Vec<_>>(),
            }));
        }
        let acting = if command == "down" { "down" } else { "up" };
        let text = preflight::explain(&findings.missing, &settings.project, acting);
        if stops {
            return Err(preflight::MissingPermissions(text).into());
        }
        let warning = if command == "down" {
            "`down` cannot remove those resources (e.g. a NATS server of --bus nats) if the \
             environment has them"
        } else {
            "`up` would stop here"
        };
        self.reporter
            .message(&format!("warning: {warning}. {text}"));
        Ok(())
    }

    /// Runs `work` (the walk of `command`, `up` or `down`) holding the environment's lock: taken
    /// before anything changes, in the staging bucket (created, and Cloud Storage enabled, if
    /// need be), and released after, whatever `work` gave; `work`'s own failure comes first.
    async fn locked<T>(
        &self,
        command: &str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let settings = &self.ctx.settings;
        let google = &self.ctx.google;
        let bucket = crate::lock::bucket(google, settings.staging_bucket.as_deref()).await?;
        let stale = settings
            .environment
            .lock_stale
            .unwrap_or(crate::lock::STALE);
        let reporter = &self.reporter;
        let lock = crate::lock::acquire(
            google,
            crate::lock::LockRequest {
                bucket: &bucket,
                env: &settings.names.env,
                object: &settings.names.lock_object,
                command,
                timeout: settings.lock_timeout,
                stale,
                who: settings.environment.user.as_deref().unwrap_or("someone"),
                say: &|text| reporter.message(text),
            },
        )
        .await?;
        let result = work.await;
        if let Err(e) = lock.release().await {
            reporter.message(&format!(
                "warning: the environment's lock was not released ({e:#}); the next run takes it \
                 over after {}s, or run `chatctl unlock`",
                stale.as_secs()
            ));
        }
        result
    }

    /// `unlock`: breaks the environment's lock, whoever holds it.
    async fn break_lock(&self) -> anyhow::Result<()> {
        let settings = &self.ctx.settings;
        let bucket = staging::bucket_name(settings.staging_bucket.as_deref(), &settings.project);
        let env = &settings.names.env;
        let text =
            match crate::lock::break_lock(&self.ctx.google, &bucket, &settings.names.lock_object)
                .await?
            {
                Some(holder) => format!("broke the lock of environment `{env}`, held by {holder}"),
                None => format!("environment `{env}` was not locked"),
            };
        self.reporter.message(&text);
        Ok(())
    }

    /// `up`: converge, then print the URL.
    pub async fn up(&self) -> anyhow::Result<Walk> {
        self.reporter
            .message(&format!("chatctl up: {}", self.scope().describe()));
        let walk = self.walk(Mode::Up, &Stack::up()).await;
        self.reporter.finish();
        report::summary(&self.reporter, "up", &walk, self.scope());
        outcome(walk, "up")
    }

    /// `down`: delete everything of the environment.
    pub async fn down(&self) -> anyhow::Result<Walk> {
        self.reporter
            .message(&format!("chatctl down: {}", self.scope().describe()));
        let walk = self.walk(Mode::Down, &Stack::down()).await;
        self.reporter.finish();
        report::summary(&self.reporter, "down", &walk, self.scope());
        outcome(walk, "down")
    }

    /// `plan`: prints what `up` would do; returns the number of resources that would change.
    pub async fn plan(&self) -> anyhow::Result<usize> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        let changes = report::plan(&self.reporter, &walk, self.scope());
        outcome(walk, "plan").map(|_| changes)
    }

    /// `status`: every resource, its state, drift and the URL.
    pub async fn status(&self) -> anyhow::Result<Walk> {
        let walk = self.walk(Mode::Plan, &Stack::up()).await;
        report::status(&self.reporter, &walk);
        outcome(walk, "status")
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

/// Without --yes, `down` must ask, which needs a terminal: refused at once (before any call)
/// where there is none.
fn can_confirm_down() -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Refused(
        "refusing to delete without confirmation: there is no terminal to ask on; pass --yes \
         (or set CHATCTL_YES=true) to delete the environment unattended"
            .into(),
    )
    .into())
}

/// `down` deletes data: ask on a terminal, insist on --yes without one.
fn confirm_down(settings: &Settings, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    can_confirm_down()?;
    let stdin = std::io::stdin();
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
