//! `chatctl open`: the service's URL (the Cloud Run service's, or with --local the running local
//! stack's front door) opened in the user's browser where there is one, else printed. The URL
//! is always printed on stdout (or as an `open` JSON object), so scripts and terminals without a
//! browser get it too; nothing is opened with CHATCTL_NO_BROWSER set, BROWSER=none, or, on Linux,
//! without a graphical session (DISPLAY/WAYLAND_DISPLAY).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::{GlobalArgs, OpenArgs, StackArgs};
use crate::config::{self, Environment, process_env};
use crate::context::Ctx;
use crate::gcp;
use crate::outcome::EXIT_OK;
use crate::report::{self, OutputFormat, emit_json};

/// Runs `open`; Ok carries the exit code.
pub async fn run(global: &GlobalArgs, args: &OpenArgs) -> anyhow::Result<u8> {
    if args.local {
        let (settings, stack) = crate::local::find_running(global)?;
        return Ok(show(
            &stack.front_door,
            &settings.environment,
            settings.output,
        ));
    }
    let settings = config::resolve(global, &StackArgs::default(), &process_env)?;
    let url = {
        crate::commands::say_chosen(&settings);
        let clients = crate::commands::connect(&settings).await?;
        let mut ctx = Ctx::new(clients, settings.clone(), CancellationToken::new());
        // A disabled Cloud Run API means no service: said at once, not waited out.
        ctx.google.waiting.retry.eventual_window = Duration::ZERO;
        let service = &settings.names.run_service;
        let uri = gcp::run::get(&ctx.google, service)
            .await
            .with_context(|| format!("cannot read Cloud Run service {service}"))?
            .map(|s| s.uri)
            .filter(|uri| !uri.is_empty());
        uri.ok_or_else(|| {
            anyhow::anyhow!(
                "Cloud Run service {service} has no URL in project {} ({}): it does not exist \
                 or is not ready; run `chatctl up` (or `chatctl status` to see why)",
                settings.project,
                settings.region
            )
        })?
    };
    Ok(show(&url, &settings.environment, settings.output))
}

/// Opens `url` where a browser may be opened, and prints it; the exit code.
fn show(url: &str, environment: &Environment, format: OutputFormat) -> u8 {
    let opened = can_open(environment) && open(url, format);
    match format {
        OutputFormat::Json => emit_json(&json!({"type": "open", "url": url, "opened": opened})),
        OutputFormat::Human => println!("{url}"),
    }
    EXIT_OK
}

/// Whether a browser may be opened here.
fn can_open(environment: &Environment) -> bool {
    if environment.no_browser {
        return false;
    }
    cfg!(any(target_os = "macos", windows)) || environment.display
}

/// Opens `url` in the default browser; false (and a notice) when it could not.
fn open(url: &str, format: OutputFormat) -> bool {
    match webbrowser::open(url) {
        Ok(()) => {
            report::notice(format, &format!("opened {url} in your browser"));
            true
        }
        Err(e) => {
            report::notice(
                format,
                &format!("could not open a browser ({e}): open {url} yourself"),
            );
            false
        }
    }
}
