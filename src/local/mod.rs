//! `chatctl up --local`: the whole stack on this machine, in the foreground like
//! `docker compose up`, through the very same `up` and `down` as against Google.
//!
//! How it fits together:
//! - The emulator runs in-process on a free loopback port with a small time scale, and chatctl's
//!   usual clients talk to it (anonymous credentials, project `local-project`), so `up` walks
//!   the same graph with the same client crates and prints the same progress.
//! - Its runtime hook ([`runtime::LocalRuntime`]) makes the resources real: the Memorystore
//!   instance is a redis-server process, the Cloud Run service N chat-server processes behind
//!   the [`front_door`] on 127.0.0.1:`--port`, which becomes the service's URL. With
//!   `--bus nats` there is no Redis: a nats-server with JetStream (store in the run's temporary
//!   directory, a password generated for the run) is started before `up` and the service's
//!   instances use it (BUS=nats).
//! - chat-server instances are chatctl itself, re-executed as the hidden `chatctl serve-chat`
//!   subcommand over the chat-server library. That is the simpler design: no second binary to
//!   build or find (so `cargo run -- up --local` works as is), the instance code is the very
//!   library the `chat-server` binary wraps, and each instance is still its own process that
//!   can crash, be killed and be restarted like a Cloud Run instance.
//! - Every child is supervised ([`processes`]): its output is streamed as `name | line`, it is
//!   restarted when it dies, it sits in its own process group (a terminal Ctrl-C reaches only
//!   chatctl) and the kernel kills it if chatctl dies first.
//! - Ctrl-C or SIGTERM runs `down` (the same code path as `chatctl down`), whose delete hooks
//!   stop the processes; then whatever is left is stopped and the ports are released.
//!   A second signal stops every process at once and exits.

mod chat_instance;
pub mod front_door;
mod log_agent;
pub mod processes;
mod redis_tls;
pub mod runtime;
mod session_file;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use chat_instance::serve_chat;

use crate::cli::{GlobalArgs, StackArgs, UpArgs};
use crate::commands::Session;
use crate::config::{self, Bus, ConfigError};
use crate::gcp::Clients;
use crate::outcome::{EXIT_INTERRUPTED, EXIT_OK, Interrupted};
use front_door::{Backends, FrontDoor};
use log_agent::LogAgent;
use processes::say;
use runtime::{LocalRuntime, NatsPlan, Plan};
pub use session_file::LocalStack;

/// The project local mode uses unless `--project` names one.
pub const LOCAL_PROJECT: &str = "local-project";
/// The emulator's time scale: the modelled Google durations shrink to a few seconds.
const TIME_SCALE: f64 = 0.005;

/// Runs `up --local` until Ctrl-C/SIGTERM, then `down`; returns the exit code.
pub async fn up(global: &GlobalArgs, args: &UpArgs) -> anyhow::Result<u8> {
    let mut global = global.clone();
    global
        .project
        .get_or_insert_with(|| LOCAL_PROJECT.to_string());
    // The image goes the same way as on Google (by default the emulator's Cloud Build "builds"
    // the embedded sources); the runtime then runs the chat-server built into chatctl.
    let mut settings = config::resolve(&global, &args.stack, &config::process_env)?;
    crate::image::source(&settings, true)?;

    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            ConfigError(format!(
                "cannot use port {} on 127.0.0.1 for the front door: {e}; pass --port with a free \
                 port (or --port 0 for any)",
                args.port
            ))
        })?;
    let search_path = settings.environment.search_path.as_deref();
    let nats = match settings.bus {
        Bus::Redis => None,
        Bus::Nats => Some(nats_plan(search_path)?),
    };
    // The service's NATS_URL names it as on Google (no credentials); the instances get them.
    settings.nats_server = nats.as_ref().map(NatsPlan::url);
    let redis_server = match settings.bus {
        Bus::Redis => find_program("redis-server", search_path),
        Bus::Nats => None,
    };
    if redis_server.is_none() && nats.is_none() {
        say(
            "local",
            "redis-server is not installed (not found on PATH): running ONE chat-server instance \
             with its in-memory store instead; history is lost when it stops. Install Redis \
             (e.g. `apt install redis-server` or `brew install redis`) for several instances.",
        );
    }
    let data_dir = tempfile::Builder::new()
        .prefix("chatctl-local-")
        .tempdir()
        .context("cannot create a temporary directory for Redis or NATS data")?;
    let backends = Arc::new(Backends::default());
    let front_door =
        FrontDoor::start(listener, backends.clone()).context("cannot start the front door")?;
    let plan = Plan {
        redis_server,
        nats,
        chatctl: std::env::current_exe().context("cannot find chatctl's own executable")?,
        instances: args.instances,
        data_dir: data_dir.path().to_path_buf(),
    };
    let runtime = Arc::new(LocalRuntime::new(plan, backends, front_door.url()));
    let emulator = emulator::Emulator::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        emulator::EmulatorConfig {
            time_scale: TIME_SCALE,
            allow_anonymous: true,
            ..Default::default()
        },
        runtime.clone(),
    )
    .await
    .context("cannot start the in-process emulator")?;
    say(
        "local",
        &format!(
            "emulated Google Cloud APIs on {} (project {}); running `up` against them",
            emulator.base_url(),
            settings.project
        ),
    );
    let clients = Clients::connect_anonymous(emulator.base_url().to_string()).await?;
    // The instances' output reaches the emulated Cloud Logging, and `logs --local`/`open
    // --local` find this stack through its session file (removed when this returns).
    let logging =
        crate::context::Ctx::new(clients.clone(), settings.clone(), CancellationToken::new());
    runtime.log_through(LogAgent::start(logging.google));
    let _published = session_file::publish(
        &settings.environment,
        &LocalStack {
            pid: std::process::id(),
            project: settings.project.clone(),
            region: settings.region.clone(),
            env: settings.names.env.clone(),
            emulator: emulator.base_url().to_string(),
            front_door: front_door.url(),
        },
    )
    .map_err(|e| {
        say(
            "local",
            &format!("cannot write the session file (`chatctl logs --local` will not find this stack): {e}"),
        )
    })
    .ok();
    if let Err(why) = runtime.start_nats().await {
        let _ = emulator.shutdown().await;
        runtime.stop_all().await;
        front_door.stop().await;
        anyhow::bail!("{why}\n  → check that nats-server (with JetStream) runs on this machine");
    }

    let signals = Signals::install()?;
    let stopping = CancellationToken::new();
    let up_session = Session::with(clients.clone(), settings.clone(), stopping.clone());
    let coming_up = up_session.up();
    tokio::pin!(coming_up);
    let result = tokio::select! {
        result = &mut coming_up => result,
        () = signals.first() => {
            // Like `up` on Google: start nothing new, let what is in flight report, then `down`.
            stopping.cancel();
            coming_up.await
        }
    }
    .map(|_| ());
    if result.is_ok() {
        say(
            "local",
            &format!(
                "chat is up at {} — open it in a browser. Press Ctrl-C to stop (runs `down`).",
                front_door.url()
            ),
        );
        let _ = std::io::stdout().flush();
        signals.first().await;
    }

    say("local", "stopping: running `down`");
    let down_session = Session::with(clients, settings, CancellationToken::new());
    let teardown = async {
        let down = down_session.down().await;
        // The emulator first (no more hooks), then whatever `down` did not stop.
        let _ = emulator.shutdown().await;
        runtime.stop_all().await;
        front_door.stop().await;
        down
    };
    let down = tokio::select! {
        down = teardown => down,
        () = signals.second() => {
            say("local", "second interrupt: stopping every process at once");
            runtime.stop_all().await;
            return Ok(EXIT_INTERRUPTED);
        }
    };
    drop(data_dir);
    if let Err(e) = &result
        && e.chain().any(|c| c.is::<Interrupted>())
    {
        down.context("`down` after the interrupt did not finish cleanly")?;
        say(
            "local",
            "interrupted before it was up: `down` removed what was started; nothing left running",
        );
        return Ok(EXIT_INTERRUPTED);
    }
    result?;
    down.context("`down` did not finish cleanly; every local process was stopped anyway")?;
    say("local", "stopped: nothing left running");
    Ok(EXIT_OK)
}

/// The stack a running `up --local` published (for `logs --local`, `open --local`) and the
/// settings of its environment (its project is local mode's unless --project names one), or a
/// configuration error saying how to start one.
pub fn find_running(global: &GlobalArgs) -> anyhow::Result<(config::Settings, LocalStack)> {
    let mut global = global.clone();
    global
        .project
        .get_or_insert_with(|| LOCAL_PROJECT.to_string());
    let settings = config::resolve(&global, &StackArgs::default(), &config::process_env)?;
    let stack = session_file::find(&settings.environment, &settings.names.env)?;
    Ok((settings, stack))
}

/// --bus nats: the installed nats-server, a free port and a password generated for this run.
fn nats_plan(search_path: Option<&str>) -> Result<NatsPlan, ConfigError> {
    use rand::distr::{Alphanumeric, SampleString as _};
    let program = find_program("nats-server", search_path).ok_or_else(|| {
        ConfigError(
            "--bus nats runs a local nats-server, which is not installed (not found on PATH): \
             install it (e.g. `apt install nats-server` or `brew install nats-server`), or use \
             --bus redis"
                .into(),
        )
    })?;
    let port = runtime::free_port()
        .map_err(|e| ConfigError(format!("no free port on 127.0.0.1 for nats-server: {e}")))?;
    Ok(NatsPlan {
        program,
        port,
        password: Alphanumeric.sample_string(&mut rand::rng(), 32),
    })
}

/// SIGINT and SIGTERM, counted: the first asks for a clean stop, the second for a fast one.
struct Signals {
    count: tokio::sync::watch::Receiver<u32>,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let (tx, count) = tokio::sync::watch::channel(0u32);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = interrupt.recv() => {}
                    Some(()) = terminate.recv() => {}
                    else => return,
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Ok(Signals { count })
    }

    async fn reached(&self, n: u32) {
        let mut count = self.count.clone();
        let _ = count.wait_for(|c| *c >= n).await;
    }

    async fn first(&self) {
        self.reached(1).await;
    }

    async fn second(&self) {
        self.reached(2).await;
    }
}

/// The first `name` on `search_path` (PATH) that is an executable file.
fn find_program(name: &str, search_path: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(search_path?)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
