//! `chatctl logs`: the Cloud Run service's log entries (or, with --build, the last chat-server
//! build's) read from Cloud Logging with `entries.list`, printed through `report::log_entry`;
//! `--follow` keeps polling for newer entries until Ctrl-C. With --local the same reads go to
//! the emulator of the running `up --local`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::signal::unix::{Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::cli::{GlobalArgs, LogsArgs, MAX_DURATION, StackArgs};
use crate::config::{self, Settings, process_env};
use crate::context::Ctx;
use crate::gcp::{self, Clients, Google, logging};
use crate::outcome::EXIT_OK;
use crate::report::{self, OutputFormat};

/// How far back `logs` looks without --since.
const DEFAULT_SINCE: Duration = Duration::from_secs(3600);
/// Between two polls of --follow: Google's read quota is 60 entries.list calls a minute per
/// project; the emulator answers at once.
const FOLLOW_INTERVAL_GOOGLE: Duration = Duration::from_secs(2);
const FOLLOW_INTERVAL_EMULATED: Duration = Duration::from_millis(250);
/// The most entries one poll of --follow shows.
const FOLLOW_PAGE: usize = 1000;

/// Runs `logs`; Ok carries the exit code.
pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<u8> {
    let (google, settings) = connect(global, args.local).await?;
    let format = settings.output;
    let filter = if args.build {
        let Some(build) = last_build(&google).await? else {
            report::notice(
                format,
                "no Cloud Build build of chat-server was found in this project: `chatctl up` \
                 with --build source (the default) makes one",
            );
            return Ok(EXIT_OK);
        };
        report::notice(
            format,
            &format!("log of build {} ({})", build.id, build.log_url),
        );
        logging::build_filter(&build.id)
    } else {
        let since = args.since.unwrap_or(DEFAULT_SINCE);
        logging::service_filter(
            &settings.names.run_service,
            &settings.region,
            &rfc3339_ago(since),
        )
    };
    // Ctrl-C ends --follow cleanly: caught from before the first read on.
    let interrupt = if args.follow {
        Some(tokio::signal::unix::signal(SignalKind::interrupt())?)
    } else {
        None
    };
    let entries = logging::list(&google, &filter, args.limit as usize).await?;
    if entries.is_empty() && !args.follow {
        report::notice(format, &format!("no log entries match {filter}"));
    }
    let mut shown = Shown::default();
    for entry in &entries {
        shown.show(format, entry);
    }
    match interrupt {
        Some(interrupt) => follow(&google, &filter, format, shown, interrupt).await,
        None => Ok(EXIT_OK),
    }
}

/// The Google handle and settings of the command: the environment's project and credentials, or
/// the running local stack's emulator (anonymous, loopback only).
async fn connect(global: &GlobalArgs, local: bool) -> anyhow::Result<(Google, Settings)> {
    let (settings, clients) = if local {
        let (mut settings, stack) = crate::local::find_running(global)?;
        settings.project = stack.project;
        settings.region = stack.region;
        (settings, Clients::connect_anonymous(stack.emulator).await?)
    } else {
        let settings = config::resolve(global, &StackArgs::default(), &process_env)?;
        crate::commands::say_chosen(&settings);
        let clients = crate::commands::connect(&settings).await?;
        (settings, clients)
    };
    let mut ctx = Ctx::new(clients, settings, CancellationToken::new());
    // Reads only: a disabled API is said at once, not waited out as after `up` enables it.
    ctx.google.waiting.retry.eventual_window = Duration::ZERO;
    Ok((ctx.google, ctx.settings))
}

/// The newest build chatctl started (tagged `chatctl`).
async fn last_build(
    google: &Google,
) -> anyhow::Result<Option<google_cloud_build_v1::model::Build>> {
    let builds = gcp::cloud_build::list(google, r#"tags="chatctl""#, 1).await?;
    Ok(builds.and_then(|builds| builds.into_iter().next()))
}

/// The RFC 3339 time `ago` before now.
fn rfc3339_ago(ago: Duration) -> String {
    let now = jiff::Timestamp::now();
    let span = jiff::SignedDuration::try_from(ago).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_sub(span).unwrap_or(now).to_string()
}

/// How late an entry may reach Cloud Logging (its timestamp older than entries already
/// shown) and still be shown by --follow: each poll looks back this far.
const LATE: Duration = Duration::from_secs(10);

/// What was shown, so polls that overlap show nothing twice: the newest timestamp, and the
/// entries (logName and insertId) seen within [`LATE`] of it.
#[derive(Default)]
struct Shown {
    newest: Option<jiff::Timestamp>,
    recent: HashMap<(String, String), jiff::Timestamp>,
}

impl Shown {
    fn show(&mut self, format: OutputFormat, entry: &Value) {
        let at = entry["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let key = (
            entry["logName"].as_str().unwrap_or_default().to_string(),
            entry["insertId"].as_str().unwrap_or_default().to_string(),
        );
        if let Some(at) = at {
            if self.recent.contains_key(&key) || self.cutoff().is_some_and(|c| at < c) {
                return;
            }
            self.recent.insert(key, at);
            if self.newest.is_none_or(|newest| at > newest) {
                self.newest = Some(at);
                let cutoff = self.cutoff();
                self.recent
                    .retain(|_, seen| cutoff.is_none_or(|c| *seen >= c));
            }
        }
        report::log_entry(format, entry);
    }

    /// The oldest timestamp a poll still looks at: [`LATE`] before the newest shown.
    fn cutoff(&self) -> Option<jiff::Timestamp> {
        let late = jiff::SignedDuration::try_from(LATE).unwrap_or(jiff::SignedDuration::ZERO);
        self.newest.and_then(|newest| newest.checked_sub(late).ok())
    }

    /// The filter of what may be new: from [`LATE`] before the newest entry shown on.
    fn newer(&self, filter: &str) -> String {
        match self.cutoff() {
            Some(at) => format!(r#"{filter} AND timestamp>="{at}""#),
            None => filter.to_string(),
        }
    }
}

/// Polls for new entries until Ctrl-C (exit 0) or a day has passed.
async fn follow(
    google: &Google,
    filter: &str,
    format: OutputFormat,
    mut shown: Shown,
    mut interrupt: Signal,
) -> anyhow::Result<u8> {
    let interval = if google.emulated() {
        FOLLOW_INTERVAL_EMULATED
    } else {
        FOLLOW_INTERVAL_GOOGLE
    };
    let deadline = tokio::time::Instant::now() + MAX_DURATION;
    loop {
        tokio::select! {
            _ = interrupt.recv() => {
                report::notice(format, "stopped following (Ctrl-C)");
                return Ok(EXIT_OK);
            }
            () = tokio::time::sleep(interval) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            report::notice(
                format,
                "stopped following after 24h: run `chatctl logs --follow` again",
            );
            return Ok(EXIT_OK);
        }
        let newer = shown.newer(filter);
        let poll = logging::list(google, &newer, FOLLOW_PAGE);
        let entries = tokio::select! {
            _ = interrupt.recv() => {
                report::notice(format, "stopped following (Ctrl-C)");
                return Ok(EXIT_OK);
            }
            entries = poll => entries?,
        };
        for entry in &entries {
            shown.show(format, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlapping_polls_show_each_entry_once_and_late_ones_still() {
        let mut shown = Shown::default();
        let entry =
            |id: &str, at: &str| json!({"insertId": id, "timestamp": at, "textPayload": id});
        shown.show(OutputFormat::Json, &entry("a", "2026-12-04T10:00:00Z"));
        shown.show(OutputFormat::Json, &entry("b", "2026-12-04T10:00:30Z"));
        assert_eq!(shown.recent.len(), 1, "a is older than the look-back");
        shown.show(OutputFormat::Json, &entry("b", "2026-12-04T10:00:30Z"));
        shown.show(OutputFormat::Json, &entry("late", "2026-12-04T10:00:25Z"));
        shown.show(
            OutputFormat::Json,
            &entry("too-late", "2026-12-04T10:00:10Z"),
        );
        assert_eq!(shown.recent.len(), 2, "b and the late one, each once");
        assert!(
            shown
                .newer("x")
                .ends_with(r#"timestamp>="2026-12-04T10:00:20Z""#)
        );
    }
}
