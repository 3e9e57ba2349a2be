//! Command-line definitions for chatctl (clap derive). Each flag is documented where it is
//! defined, together with the environment variable that can set it instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{BuildMode, Bus, Egress, Tier};
use crate::report::OutputFormat;

const AFTER_HELP: &str = "\
Configuration precedence: command-line flags > CHATCTL_* environment variables > the
configuration file (--config, else ./chatctl.yaml when present) > built-in defaults.

Exit codes:
  0    success (for `plan --detailed-exitcode`: no changes)
  1    an API call or operation failed (the message says what to do); the preflight of `plan`
       or `up` found missing permissions (nothing was changed); `doctor` found problems
  2    `plan --detailed-exitcode` found changes
  3    invalid flags, configuration, region, environment name or credentials (no API was
       called): the message names what to fix
  4    refused: `down` without a terminal and without --yes, or the answer was not yes
  5    an operation outlived its deadline; it is still running: run the command again to resume
  6    another `up` or `down` of the environment held its lock for all of --lock-timeout (the
       message names the holder); `chatctl unlock` breaks a lock whose holder is gone
  130  interrupted by Ctrl-C (a second Ctrl-C exits at once)

Environment: CHATCTL_API_ENDPOINT=http://127.0.0.1:PORT sends every Google API call there (the
emulator); application default credentials are used when configured, anonymous ones otherwise.
Credentials are checked (a token fetched) before the first API call.";

/// Provision the Cloud Run WebSocket chat stack (Memorystore Redis, Serverless VPC Access
/// connector, service account and Cloud Run service) in one command, and tear it down again.
#[derive(Debug, Parser)]
#[command(name = "chatctl", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Google Cloud project ID. Else CHATCTL_PROJECT, the configuration file, GOOGLE_CLOUD_PROJECT,
    /// CLOUDSDK_CORE_PROJECT, the active gcloud configuration, then the credentials' project_id.
    #[arg(long, global = true, env = "CHATCTL_PROJECT")]
    pub project: Option<String>,

    /// Region of every regional resource: one where Cloud Run, Memorystore for Redis and
    /// Serverless VPC Access are all offered [default: us-central1].
    #[arg(long, global = true, env = "CHATCTL_REGION")]
    pub region: Option<String>,

    /// Environment name: several environments live side by side in one project (e.g. one per
    /// pull request). Every resource name derives from it; lowercase letters, digits and
    /// hyphens, at most 16 characters [default: default].
    #[arg(long = "env", global = true, env = "CHATCTL_ENV", value_name = "NAME")]
    pub env_name: Option<String>,

    /// Configuration file [default: ./chatctl.yaml when it exists].
    #[arg(long, global = true, env = "CHATCTL_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format: `human` (progress and text on stderr) or `json` (JSON lines on stdout:
    /// one event per state change, then a summary) [default: human].
    #[arg(long, global = true, env = "CHATCTL_OUTPUT", value_enum)]
    pub output: Option<OutputFormat>,

    /// More log detail on stderr (-v: info, -vv: debug, -vvv: trace including HTTP).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the environment: enable the APIs, create or adopt Redis, the VPC
    /// connector and the service account, grant its role, build (or check) the chat-server
    /// image, deploy Cloud Run and open it to the public. Converges: running it again changes
    /// only what differs. Prints the service URL.
    Up(UpArgs),
    /// Delete everything of the environment (the service, connector, Redis instance, role
    /// bindings and service accounts; APIs, the image repository and the staging bucket stay),
    /// waiting for every operation.
    Down(DownArgs),
    /// Show what `up` would create, update or leave alone, field by field. Reads only.
    Plan(PlanArgs),
    /// Show every resource of the environment, its state, the URL and drift from what `up`
    /// with the same settings would set (pass the same --image or --build, or keep them in
    /// chatctl.yaml). Reads only.
    Status(StackArgs),
    /// Check that this machine and the project are ready for `up`, without changing anything:
    /// the credentials found (type and principal, never a secret), the quota project in effect,
    /// which APIs are disabled (`up` enables them), every permission the caller lacks with the
    /// predefined role that grants it, whether the network exists, and organisation-policy
    /// effects it can detect. Takes the same flags as `up` (only what they use is checked).
    /// Exit 0 when ready, 1 when not; `--output json` prints one JSON object with `ready`
    /// (true/false), `problems` (what blocks `up`), `warnings` and each check's findings.
    Doctor(StackArgs),
    /// Break the environment's lock (`up` and `down` hold it while they run, in the staging
    /// bucket as `chatctl-lock-ENV.json`): for when its holder is gone and you do not want to
    /// wait until it counts as stale (60 s without a refresh). Says who held it.
    Unlock,
    /// Show the service's logs from Cloud Logging: one line per entry on stdout (timestamp,
    /// severity, text), or one JSON object per entry with --output json (`type` "log"). Needs
    /// roles/logging.viewer (`logging.logEntries.list`). With --build, the log of the last
    /// Cloud Build build of chat-server instead. With --local, the logs of the stack `chatctl
    /// up --local` is running on this machine.
    Logs(LogsArgs),
    /// Open the service's URL in a browser; where there is none (no display, or
    /// CHATCTL_NO_BROWSER=1, or BROWSER=none), print it on stdout instead. With --local, the
    /// front door of the stack `chatctl up --local` is running.
    Open(OpenArgs),
    /// Write a commented chatctl.yaml to start from.
    Init(InitArgs),
    /// Print a shell completion script, e.g. `chatctl completion bash >
    /// ~/.local/share/bash-completion/completions/chatctl`, or for zsh into a directory of your
    /// $fpath as `_chatctl`.
    Completion(CompletionArgs),
    /// Print the man page (roff), e.g. `chatctl man > ~/.local/share/man/man1/chatctl.1`.
    Man,
    /// Run the local Google Cloud API emulator in the foreground (Ctrl-C stops it). Point chatctl
    /// at it with CHATCTL_API_ENDPOINT=http://LISTEN.
    Emulator(EmulatorArgs),
    /// Internal: one chat-server instance of `up --local` (settings from the environment, as
    /// for the chat-server binary). Not for direct use.
    #[command(hide = true)]
    ServeChat(ServeChatArgs),
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The hidden `serve-chat` subcommand: `up --local` starts its instances with it.
#[derive(Debug, Args)]
pub struct ServeChatArgs {
    /// Address to listen on (local mode uses 127.0.0.1 and a free port).
    #[arg(long)]
    pub listen: SocketAddr,
}

/// What the environment should look like: shared by up, plan and status.
#[derive(Debug, Clone, Default, Args)]
pub struct StackArgs {
    /// Deploy this prebuilt chat-server image instead of building one, e.g.
    /// us-central1-docker.pkg.dev/PROJECT/chat/chat-server:v1. chatctl checks that it exists
    /// and deploys it by digest. Not together with --build.
    #[arg(
        long,
        env = "CHATCTL_IMAGE",
        value_name = "REF",
        conflicts_with = "build",
        help_heading = "Image"
    )]
    pub image: Option<String>,

    /// How to make the chat-server image: `source` sends the sources chatctl carries to Cloud
    /// Build (works from any OS; skipped when an image of the same sources exists), `local`
    /// compiles here and pushes without Docker (x86_64 Linux, fastest) [default: source].
    /// With `local`, CHATCTL_LOCAL_BUILD_BINARY=PATH pushes a static chat-server you built
    /// instead of compiling, CHATCTL_LOCAL_BUILD_WORKSPACE=DIR compiles that checkout and
    /// CHATCTL_LOCAL_BUILD_PROFILE picks the cargo profile (release).
    #[arg(long, env = "CHATCTL_BUILD", value_enum, help_heading = "Image")]
    pub build: Option<BuildMode>,

    /// Artifact Registry Docker repository the image goes to, in --region
    /// [default: cloud-run-source-deploy, the one `gcloud run deploy --source` uses].
    #[arg(
        long,
        env = "CHATCTL_REPOSITORY",
        value_name = "NAME",
        help_heading = "Image"
    )]
    pub repository: Option<String>,

    /// With --build local: push to this registry path instead of Artifact Registry, e.g.
    /// 127.0.0.1:5000/chatctl (required when CHATCTL_API_ENDPOINT points at the emulator).
    #[arg(
        long,
        env = "CHATCTL_REGISTRY",
        value_name = "HOST[:PORT]/PATH",
        help_heading = "Image"
    )]
    pub registry: Option<String>,

    /// With --build source: the Cloud Storage bucket the sources are staged in
    /// [default: PROJECT_cloudbuild, as gcloud names it].
    #[arg(
        long,
        env = "CHATCTL_STAGING_BUCKET",
        value_name = "BUCKET",
        help_heading = "Image"
    )]
    pub staging_bucket: Option<String>,

    /// With --build source: the service account Cloud Build runs the build as (an email; you
    /// need iam.serviceAccounts.actAs on it, and it needs roles/run.builder) [default: chatctl's
    /// own chat-builder-ENV, created with that role and removed by `down`].
    #[arg(
        long,
        env = "CHATCTL_BUILD_SERVICE_ACCOUNT",
        value_name = "EMAIL",
        help_heading = "Image"
    )]
    pub build_service_account: Option<String>,

    /// Memorystore tier: `basic` (one node) or `standard` (STANDARD_HA, a replica in another
    /// zone) [default: basic].
    #[arg(long, env = "CHATCTL_TIER", value_enum)]
    pub tier: Option<Tier>,

    /// What the chat-server instances share history and broadcasts through: `redis`
    /// (Memorystore) or `nats` (a NATS server with JetStream on a Compute Engine VM without an
    /// external IP, its data disk, a firewall rule for the connector's range and its
    /// credentials in Secret Manager; with --local a nats-server process). Switching moves the
    /// service first, then deletes what the old bus left [default: redis].
    #[arg(long, env = "CHATCTL_BUS", value_enum)]
    pub bus: Option<Bus>,

    /// How the service reaches Redis (or the NATS VM) on the network: `connector` (a
    /// Serverless VPC Access connector, as the tutorial does) or `direct` (Direct VPC egress:
    /// the instances take addresses from --subnet; no connector VMs to pay for). Switching
    /// moves the service first, then deletes the connector nothing uses [default: connector].
    #[arg(long, env = "CHATCTL_EGRESS", value_enum)]
    pub egress: Option<Egress>,

    /// With --egress direct: the subnet of --network in the region the instances take their
    /// addresses from; it needs about two addresses per instance the service may scale to
    /// (checked before anything is created) [default: the subnet named like the network, as
    /// Cloud Run picks].
    #[arg(long, env = "CHATCTL_SUBNET", value_name = "NAME")]
    pub subnet: Option<String>,

    /// The connector's /28 range, e.g. 10.8.0.0/28, or `auto` to pick a free /28 that overlaps
    /// no connector or subnet of the network [default: 10.8.0.0/28].
    #[arg(long, env = "CHATCTL_CONNECTOR_RANGE", value_name = "CIDR|auto")]
    pub connector_range: Option<String>,

    /// VPC network for Redis and the connector [default: default].
    #[arg(long, env = "CHATCTL_NETWORK", value_name = "NAME")]
    pub network: Option<String>,

    /// Do not grant roles/run.invoker to allUsers (the service then needs authenticated
    /// callers). Env: CHATCTL_NO_ALLOW_UNAUTHENTICATED=true.
    #[arg(long, env = "CHATCTL_NO_ALLOW_UNAUTHENTICATED")]
    pub no_allow_unauthenticated: bool,

    /// Redis without AUTH (no password, no Secret Manager secret; an existing instance has AUTH
    /// turned off in place). Env: CHATCTL_NO_REDIS_AUTH=true; chatctl.yaml `redisAuth: false`.
    #[arg(long, env = "CHATCTL_NO_REDIS_AUTH")]
    pub no_redis_auth: bool,

    /// Create Redis without in-transit encryption (plain text on the VPC). Env:
    /// CHATCTL_NO_REDIS_TLS=true; chatctl.yaml `redisTls: false`.
    #[arg(long, env = "CHATCTL_NO_REDIS_TLS")]
    pub no_redis_tls: bool,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// How long a command waits (up, plan, status and down share it).
#[derive(Debug, Clone, Default, Args)]
pub struct WaitArgs {
    /// Longest wait for one operation before chatctl reports it (with its name) and exits 5;
    /// the operation keeps running and the next `up` resumes it, e.g. 20m, 90s (1s to 24h)
    /// [default: 20m].
    #[arg(long, env = "CHATCTL_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// `up` and `down` take the environment's lock first (`plan` and `status` take none): how
    /// long to wait while another run holds it, naming the holder, before exiting 6, e.g. 10m
    /// [default: 5m].
    #[arg(long, env = "CHATCTL_LOCK_TIMEOUT", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Run the whole stack on this machine instead, in the foreground like `docker compose up`:
    /// the emulated Google APIs in-process, Memorystore as a real redis-server, Cloud Run as
    /// chat-server processes behind a front door. Ctrl-C runs `down` and stops them all.
    #[arg(long)]
    pub local: bool,

    /// With --local (ignored otherwise): the front door's port on 127.0.0.1 (0 picks a free one).
    /// Env: CHATCTL_PORT.
    #[arg(long, env = "CHATCTL_PORT", default_value_t = 8080)]
    pub port: u16,

    /// With --local (ignored otherwise): how many chat-server instances serve behind the front
    /// door (1 to 16).
    /// Env: CHATCTL_INSTANCES.
    #[arg(long, env = "CHATCTL_INSTANCES", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub instances: u16,

    /// Accepted so that CI can pass --yes to every command that changes something: `up` asks
    /// nothing (only `down` asks for confirmation). Env: CHATCTL_YES=true.
    #[arg(short, long, env = "CHATCTL_YES")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation (required when there is no terminal, e.g. in CI).
    /// Env: CHATCTL_YES=true.
    #[arg(short, long, env = "CHATCTL_YES")]
    pub yes: bool,

    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep showing new entries as they arrive (polling Cloud Logging every few seconds) until
    /// Ctrl-C, which ends it with exit 0.
    #[arg(short, long)]
    pub follow: bool,

    /// Show entries from this long ago on, e.g. 10m, 1h30m, 2d (1s to 30d) [default: 1h].
    #[arg(long, value_parser = parse_since, value_name = "DURATION", conflicts_with = "build")]
    pub since: Option<Duration>,

    /// Show the log of the last Cloud Build build of chat-server (`--build source`) instead of
    /// the service's.
    #[arg(long)]
    pub build: bool,

    /// The most entries shown before following (the newest ones).
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,

    /// The logs of the stack `chatctl up --local` runs on this machine (its emulated Logging).
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The front door of the stack `chatctl up --local` runs on this machine.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long, default_value = "chatctl.yaml", value_name = "PATH")]
    pub path: PathBuf,

    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (use port 0 for any free port; the chosen address is printed).
    #[arg(
        long,
        env = "CHATCTL_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8085"
    )]
    pub listen: SocketAddr,

    /// Multiplier applied to the modelled real-world durations (1.0 = as slow as Google,
    /// 0.01 = a 4-minute Redis create takes 2.4 s).
    #[arg(long, env = "CHATCTL_EMULATOR_TIME_SCALE", default_value_t = 0.01,
          value_parser = parse_time_scale)]
    pub time_scale: f64,

    /// Accept requests without an Authorization header (anonymous credentials).
    #[arg(long, env = "CHATCTL_EMULATOR_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,

    /// Seed of the fault injector and of generated values, for reproducible runs.
    #[arg(long, env = "CHATCTL_EMULATOR_SEED")]
    pub seed: Option<u64>,

    /// Answer 403 SERVICE_DISABLED for APIs not enabled in the project, as Google does.
    #[arg(long, env = "CHATCTL_EMULATOR_ENFORCE_API_ENABLEMENT")]
    pub enforce_api_enablement: bool,
}

/// The longest duration chatctl takes (a wait longer than a day is a typo, and Cloud Build
/// stops any build at 24 h).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The shortest: below it every wait would time out at once.
pub const MIN_DURATION: Duration = Duration::from_secs(1);

/// Parses `--timeout`, `--lock-timeout` and the file's `timeout:`: a duration such as `90s`,
/// `20m` or `1h30m` (humantime's syntax; a bare number counts as seconds), from 1 s to 24 h.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    // A bare number was always seconds here (`--timeout 90`); humantime wants a unit.
    let with_unit =
        if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit() || c == '.') {
            format!("{trimmed}s")
        } else {
            trimmed.to_string()
        };
    parse_bounded(text, &with_unit, MAX_DURATION, "24h", "90s, 20m or 1h30m")
}

/// The furthest back `logs --since` goes (Cloud Logging keeps the _Default bucket 30 days).
pub const MAX_SINCE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses `logs --since`: a duration such as `10m`, `1h30m` or `2d`, from 1 s to 30 days.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    parse_bounded(text, text.trim(), MAX_SINCE, "30d", "10m, 1h30m or 2d")
}

/// `text` (as the user wrote it, for the message) parsed as `humantime` reads `duration`, and
/// kept within [`MIN_DURATION`]..=`max`; the errors name the range and give `examples`.
fn parse_bounded(
    text: &str,
    duration: &str,
    max: Duration,
    max_text: &str,
    examples: &str,
) -> Result<Duration, String> {
    let out_of_range = || {
        format!("`{text}` is out of range: use a duration from 1s to {max_text}, e.g. {examples}")
    };
    match humantime::parse_duration(duration) {
        Ok(d) if (MIN_DURATION..=max).contains(&d) => Ok(d),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => Err(out_of_range()),
        Err(e) => Err(format!(
            "`{text}` is not a duration ({e}): use e.g. {examples}"
        )),
    }
}

/// Parses the emulator's time scale: a positive number up to 100 (1 = as slow as Google).
pub fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 && scale <= 100.0 => Ok(scale),
        Ok(_) => Err(format!(
            "`{text}` is out of range: use a number above 0 and at most 100, e.g. 0.01"
        )),
        Err(_) => Err(format!("`{text}` is not a number: use e.g. 0.01")),
    }
}

/// The clap command, for tests and for parsing example command lines.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_that_changes_something_accepts_yes() {
        for args in [["chatctl", "up", "--yes"], ["chatctl", "down", "--yes"]] {
            let parsed = super::command().try_get_matches_from(args);
            assert!(parsed.is_ok(), "{args:?}: {parsed:?}");
        }
    }

    #[test]
    fn timeouts_take_humantime_durations_and_bare_seconds() {
        use std::time::Duration;
        for (text, secs) in [
            ("90", 90.0),
            ("90s", 90.0),
            ("1.5m", 90.0),
            ("20m", 1200.0),
            ("1h30m", 5400.0),
            (" 2min ", 120.0),
            ("1500ms", 1.5),
            ("24h", 86400.0),
        ] {
            assert_eq!(
                super::parse_duration(text),
                Ok(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for (bad, needle) in [
            ("5x", "not a duration"),
            ("", "not a duration"),
            ("-5m", "not a duration"),
            ("25h", "from 1s to 24h"),
            ("0.5s", "from 1s to 24h"),
            ("99999999999999999999", "from 1s to 24h"),
        ] {
            let error = super::parse_duration(bad).expect_err(bad);
            assert!(error.contains(needle), "{bad}: {error}");
            assert!(error.contains("e.g. 90s, 20m or 1h30m"), "{bad}: {error}");
        }
    }

    #[test]
    fn since_takes_durations_and_refuses_anything_else() {
        assert_eq!(
            super::parse_since("1h30m"),
            Ok(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            super::parse_since("2d"),
            Ok(std::time::Duration::from_secs(2 * 86400))
        );
        for bad in ["", "yesterday", "10", "-5m", "0s", "31d"] {
            let error = super::parse_since(bad).expect_err(bad);
            assert!(error.contains("e.g. 10m"), "{bad}: {error}");
        }
    }

    #[test]
    fn completions_cover_the_subcommands_and_their_flags() {
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut super::command(),
            "chatctl",
            &mut script,
        );
        let script = String::from_utf8(script).expect("UTF-8");
        for word in [
            "doctor",
            "--build-service-account",
            "--connector-range",
            "--yes",
        ] {
            assert!(script.contains(word), "bash completion lacks {word}");
        }
    }
}
