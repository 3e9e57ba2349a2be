//! Settings of one run, merged as flags > CHATCTL_* environment > chatctl.yaml > defaults
//! (clap already folds flags and CHATCTL_* together), plus where the project ID comes from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::cli::{GlobalArgs, StackArgs};
use crate::names::{self, Names};
use crate::report::OutputFormat;

pub const DEFAULT_REGION: &str = "us-central1";
pub const DEFAULT_ENV: &str = "default";
pub const DEFAULT_CONNECTOR_RANGE: &str = "10.8.0.0/28";
pub const DEFAULT_NETWORK: &str = "default";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long `up` and `down` wait for another run's lock on the environment.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DEFAULT_CONFIG_FILE: &str = "chatctl.yaml";

/// A configuration problem: reported before any API call (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// How `up` makes the chat-server image (see --build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildMode {
    Source,
    Local,
}

/// The Memorystore tier (see --tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Basic,
    Standard,
}

/// What the chat-server instances share history, presence and broadcasts through (see --bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bus {
    /// A Memorystore for Redis instance (locally: redis-server).
    Redis,
    /// A NATS server with JetStream (on Google: a Compute Engine VM; locally: nats-server).
    Nats,
}

impl Bus {
    /// The name chat-server's `BUS` takes and reports show.
    pub fn name(self) -> &'static str {
        match self {
            Bus::Redis => "redis",
            Bus::Nats => "nats",
        }
    }
}

/// How the Cloud Run service reaches the VPC, where Redis or the NATS VM is (see --egress).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    /// Through a Serverless VPC Access connector (a /28 of connector VMs), as the tutorial does.
    Connector,
    /// Direct VPC egress: the instances take addresses from a subnet of the network.
    Direct,
}

impl Egress {
    /// The name reports show.
    pub fn name(self) -> &'static str {
        match self {
            Egress::Connector => "connector",
            Egress::Direct => "direct",
        }
    }
}

/// The chatctl.yaml file. Keys are camelCase like the REST resources they sit next to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    pub project: Option<String>,
    pub region: Option<String>,
    pub env: Option<String>,
    pub output: Option<OutputFormat>,
    pub image: Option<String>,
    pub build: Option<BuildMode>,
    pub repository: Option<String>,
    pub registry: Option<String>,
    pub staging_bucket: Option<String>,
    pub build_service_account: Option<String>,
    pub tier: Option<Tier>,
    pub bus: Option<Bus>,
    pub egress: Option<Egress>,
    pub subnet: Option<String>,
    pub connector_range: Option<String>,
    pub network: Option<String>,
    pub allow_unauthenticated: Option<bool>,
    /// Redis AUTH, its string in Secret Manager (default true).
    pub redis_auth: Option<bool>,
    /// Redis in-transit encryption, SERVER_AUTHENTICATION (default true).
    pub redis_tls: Option<bool>,
    pub timeout: Option<String>,
    /// Merged into templates/run-service.yaml (any Cloud Run v2 Service field).
    pub service: Option<Value>,
    /// Merged into templates/redis-instance.yaml (any Memorystore Instance field).
    pub redis: Option<Value>,
    /// Merged into templates/vpc-connector.yaml (any VPC Access Connector field).
    pub connector: Option<Value>,
}

impl FileConfig {
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(text).map_err(|e| ConfigError(format!("{}: {e}", origin.display())))
    }
}

/// Where the connector's /28 comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorRange {
    Fixed(String),
    Auto,
}

/// User overrides merged into the resource templates.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub service: Value,
    pub redis: Value,
    pub connector: Value,
}

/// What the process environment says besides the CHATCTL_* twins of flags (clap reads those):
/// read here once, by [`Environment::read`], and handed down; no other module reads it.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// CHATCTL_API_ENDPOINT: send every Google API call there (the emulator).
    pub api_endpoint: Option<String>,
    /// CHATCTL_POLL_FLOOR_MS: the shortest interval between two polls of an operation.
    pub poll_floor: Option<Duration>,
    /// GOOGLE_APPLICATION_CREDENTIALS: a credentials file (a service-account key, say).
    pub credentials_file: Option<PathBuf>,
    /// gcloud's application default credentials (`$CLOUDSDK_CONFIG` or ~/.config/gcloud).
    pub gcloud_adc_file: Option<PathBuf>,
    /// GCE_METADATA_HOST: where the metadata server is (google-cloud-auth reads it too); when
    /// set, it is asked for a token even with an endpoint override.
    pub metadata_host: Option<String>,
    /// GOOGLE_CLOUD_QUOTA_PROJECT: bill and check API calls against this project instead of
    /// the target project (google-cloud-auth reads it too, with the same precedence).
    pub quota_project: Option<String>,
    /// CHATCTL_LOCAL_BUILD_BINARY: a static linux/amd64 chat-server to push (no compile).
    pub local_build_binary: Option<PathBuf>,
    /// CHATCTL_LOCAL_BUILD_WORKSPACE: compile this checkout instead of the embedded sources.
    pub local_build_workspace: Option<PathBuf>,
    /// CHATCTL_LOCAL_BUILD_PROFILE: the cargo profile of `--build local` (release by default).
    pub local_build_profile: Option<String>,
    /// `$DOCKER_CONFIG/config.json` or ~/.docker/config.json: `docker login`s for registries.
    pub docker_config: Option<PathBuf>,
    /// `$XDG_CACHE_HOME/chatctl` or ~/.cache/chatctl: `--build local`'s sources and target.
    pub cache_dir: Option<PathBuf>,
    /// CARGO: the cargo that runs `--build local` (cargo sets it for what it runs).
    pub cargo: Option<PathBuf>,
    /// PATH: where local mode looks for redis-server.
    pub search_path: Option<String>,
    /// CHATCTL_LOCK_STALE_MS: after how long without a refresh a lock's holder counts as gone
    /// (`crate::lock::STALE` by default).
    pub lock_stale: Option<Duration>,
    /// CHATCTL_RUNTIME_DIR, else `$XDG_RUNTIME_DIR/chatctl`: where a running `up --local` says
    /// how to reach it (for `logs --local`, `open --local`); unset: a per-user temporary dir.
    pub runtime_dir: Option<PathBuf>,
    /// CHATCTL_NO_BROWSER (any value but 0/false), or BROWSER=none: `open` prints the URL.
    pub no_browser: bool,
    /// DISPLAY or WAYLAND_DISPLAY is set (a graphical session where a browser can open).
    pub display: bool,
    /// USER (USERNAME on Windows): who holds a lock, as other runs are told.
    pub user: Option<String>,
}

impl Environment {
    /// Reads it through `env` (the process environment, or a test's map).
    pub fn read(env: &dyn Fn(&str) -> Option<String>) -> Environment {
        let set = |key: &str| env(key).filter(|v| !v.trim().is_empty());
        let path = |key: &str| set(key).map(PathBuf::from);
        let home = path("HOME");
        Environment {
            api_endpoint: set(crate::gcp::ENDPOINT_ENV),
            poll_floor: set("CHATCTL_POLL_FLOOR_MS")
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_millis),
            credentials_file: path("GOOGLE_APPLICATION_CREDENTIALS"),
            gcloud_adc_file: path("CLOUDSDK_CONFIG")
                .or_else(|| home.as_ref().map(|h| h.join(".config").join("gcloud")))
                .map(|dir| dir.join("application_default_credentials.json")),
            metadata_host: set("GCE_METADATA_HOST"),
            quota_project: set("GOOGLE_CLOUD_QUOTA_PROJECT").map(|p| p.trim().to_string()),
            local_build_binary: path("CHATCTL_LOCAL_BUILD_BINARY"),
            local_build_workspace: path("CHATCTL_LOCAL_BUILD_WORKSPACE"),
            local_build_profile: set("CHATCTL_LOCAL_BUILD_PROFILE"),
            docker_config: path("DOCKER_CONFIG")
                .or_else(|| home.as_ref().map(|h| h.join(".docker")))
                .map(|dir| dir.join("config.json")),
            cache_dir: path("XDG_CACHE_HOME")
                .or_else(|| home.map(|h| h.join(".cache")))
                .map(|dir| dir.join("chatctl")),
            cargo: path("CARGO"),
            search_path: set("PATH"),
            lock_stale: set("CHATCTL_LOCK_STALE_MS")
                .and_then(|v| v.trim().parse().ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            runtime_dir: path("CHATCTL_RUNTIME_DIR")
                .or_else(|| path("XDG_RUNTIME_DIR").map(|dir| dir.join("chatctl"))),
            no_browser: set("CHATCTL_NO_BROWSER")
                .is_some_and(|v| !matches!(v.trim(), "0" | "false"))
                || set("BROWSER").is_some_and(|b| b.trim() == "none"),
            display: set("DISPLAY").is_some() || set("WAYLAND_DISPLAY").is_some(),
            user: set("USER").or_else(|| set("USERNAME")),
        }
    }
}

/// The process environment, for [`resolve`] and [`Environment::read`].
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Everything but the project: known without touching the network or credentials.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project: String,
    /// Where `project` came from (see [`resolve_project_with_source`]).
    pub project_source: &'static str,
    pub region: String,
    /// Where `region` came from (see [`resolve_region`]), for the line every command prints.
    pub region_source: &'static str,
    pub names: Names,
    pub output: OutputFormat,
    pub verbose: u8,
    /// `--image REF`: a prebuilt image (exclusive with `build`).
    pub image: Option<String>,
    /// `--build`: how to make the image when no `image` is given.
    pub build: BuildMode,
    /// Artifact Registry repository for built images (None: the image module's default).
    pub repository: Option<String>,
    /// `--registry`: where `--build local` pushes instead of Artifact Registry.
    pub registry: Option<String>,
    /// `--staging-bucket` for `--build source`.
    pub staging_bucket: Option<String>,
    /// `--build-service-account` for `--build source` (None: chatctl's own build account).
    pub build_service_account: Option<String>,
    pub tier: Tier,
    /// `--bus`: Redis (Memorystore) or NATS (a VM) between the instances.
    pub bus: Bus,
    /// With --bus nats: a NATS server chatctl does not provision (`up --local` sets it to its
    /// loopback nats-server; never read from flags, environment or file). No credentials in it.
    pub nats_server: Option<String>,
    /// `--egress`: a connector, or Direct VPC egress through `subnet`.
    pub egress: Egress,
    /// With --egress direct: the subnet of `network` in `region` the instances take their
    /// addresses from (by default the one named like the network, as Cloud Run picks).
    pub subnet: String,
    pub connector_range: ConnectorRange,
    pub network: String,
    pub allow_unauthenticated: bool,
    /// Redis requires AUTH; its string is kept in a Secret Manager secret the service reads.
    /// False unless Redis is the bus.
    pub redis_auth: bool,
    /// Redis speaks TLS (in-transit encryption, server authentication). False unless Redis is
    /// the bus.
    pub redis_tls: bool,
    pub timeout: Duration,
    /// `--lock-timeout`: how long `up` and `down` wait for the environment's lock.
    pub lock_timeout: Duration,
    pub overrides: Overrides,
    pub environment: Environment,
}

/// Reads the configuration file named by --config, or ./chatctl.yaml when it exists.
pub fn load_file(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => FileConfig::parse(&text, &path),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(ConfigError(format!(
            "cannot read the configuration file {}: {e} (create one with `chatctl init`)",
            path.display()
        ))),
    }
}

/// Merges flags/env (already folded by clap), the file and defaults into settings.
pub fn resolve(
    global: &GlobalArgs,
    stack: &StackArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let file = load_file(global.config.as_deref())?;
    let (region, region_source) = resolve_region(global.region.clone(), file.region.clone(), env);
    crate::regions::validate(&region)
        .map_err(|e| ConfigError(format!("{e} (the region came from {region_source})")))?;
    let env_name = pick(global.env_name.clone(), file.env.clone(), DEFAULT_ENV);
    let names = Names::derive(&env_name).map_err(ConfigError)?;
    let (project, project_source) =
        resolve_project_with_source(global.project.clone(), file.project.clone(), env)?;
    let connector_range = match pick(
        stack.connector_range.clone(),
        file.connector_range.clone(),
        DEFAULT_CONNECTOR_RANGE,
    )
    .as_str()
    {
        "auto" => ConnectorRange::Auto,
        cidr => ConnectorRange::Fixed(validate_slash28(cidr)?),
    };
    let timeout = match (stack.wait.timeout, &file.timeout) {
        (Some(t), _) => t,
        (None, Some(text)) => crate::cli::parse_duration(text)
            .map_err(|e| ConfigError(format!("timeout in the configuration file: {e}")))?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    // A flag (or CHATCTL_*) for one way of getting the image overrides the file's other way.
    let (image, build) = match (stack.image.clone(), stack.build) {
        (Some(image), _) => (Some(image), None),
        (None, Some(build)) => (None, Some(build)),
        (None, None) => (file.image.clone(), file.build),
    };
    if let Some(image) = &image {
        validate_image(image)?;
        if build.is_some() {
            return Err(ConfigError(
                "the configuration file sets both `image:` and `build:`: keep one (a prebuilt \
                 image, or how to build one)"
                    .into(),
            ));
        }
    }
    let repository = stack.repository.clone().or(file.repository);
    if let Some(repository) = &repository {
        names::validate_repository(repository).map_err(ConfigError)?;
    }
    let staging_bucket = stack.staging_bucket.clone().or(file.staging_bucket);
    if let Some(bucket) = &staging_bucket {
        names::validate_bucket(bucket).map_err(ConfigError)?;
    }
    let build_service_account = stack
        .build_service_account
        .clone()
        .or(file.build_service_account);
    if let Some(email) = &build_service_account {
        names::validate_service_account_email(email).map_err(ConfigError)?;
    }
    let overrides = Overrides {
        service: object_or_empty(file.service, "service")?,
        redis: object_or_empty(file.redis, "redis")?,
        connector: object_or_empty(file.connector, "connector")?,
    };
    let bus = stack.bus.or(file.bus).unwrap_or(Bus::Redis);
    let network = pick(stack.network.clone(), file.network, DEFAULT_NETWORK);
    names::validate_network_name("network", &network).map_err(ConfigError)?;
    let subnet = pick(stack.subnet.clone(), file.subnet, &network);
    names::validate_network_name("subnet", &subnet).map_err(ConfigError)?;
    Ok(Settings {
        project,
        project_source,
        region,
        region_source,
        names,
        output: global.output.or(file.output).unwrap_or(OutputFormat::Human),
        verbose: global.verbose,
        image,
        build: build.unwrap_or(BuildMode::Source),
        repository,
        registry: stack.registry.clone().or(file.registry),
        staging_bucket,
        build_service_account,
        tier: stack.tier.or(file.tier).unwrap_or(Tier::Basic),
        bus,
        nats_server: None,
        egress: stack.egress.or(file.egress).unwrap_or(Egress::Connector),
        subnet,
        connector_range,
        network,
        allow_unauthenticated: if stack.no_allow_unauthenticated {
            false
        } else {
            file.allow_unauthenticated.unwrap_or(true)
        },
        // Redis settings mean nothing when Redis is not the bus.
        redis_auth: bus == Bus::Redis && !stack.no_redis_auth && file.redis_auth.unwrap_or(true),
        redis_tls: bus == Bus::Redis && !stack.no_redis_tls && file.redis_tls.unwrap_or(true),
        timeout,
        lock_timeout: stack.wait.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT),
        overrides,
        environment: Environment::read(env),
    })
}

fn pick(flag: Option<String>, file: Option<String>, default: &str) -> String {
    flag.or(file).unwrap_or_else(|| default.to_string())
}

fn object_or_empty(value: Option<Value>, key: &str) -> Result<Value, ConfigError> {
    match value {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ConfigError(format!(
            "`{key}:` in the configuration file must be a mapping of REST fields"
        ))),
    }
}

fn validate_slash28(cidr: &str) -> Result<String, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "connector range `{cidr}` is not an IPv4 /28 such as 10.8.0.0/28 (or `auto`)"
        ))
    };
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    if len != "28" {
        return Err(bad());
    }
    if u32::from(addr) & 0xF != 0 {
        return Err(ConfigError(format!(
            "connector range `{cidr}` does not start on a /28 boundary (its last 4 bits must be 0)"
        )));
    }
    Ok(cidr.to_string())
}

fn validate_image(image: &str) -> Result<(), ConfigError> {
    let ok = !image.is_empty()
        && !image.contains(char::is_whitespace)
        && !image.starts_with(['/', ':', '@'])
        && image.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "`{image}` is not an image reference such as \
             us-central1-docker.pkg.dev/PROJECT/REPO/chat-server:TAG"
        )))
    }
}

/// Resolves the project: flag or CHATCTL_PROJECT (folded by clap), the file, GOOGLE_CLOUD_PROJECT,
/// CLOUDSDK_CORE_PROJECT, the active gcloud configuration, then the credentials' project_id.
pub fn resolve_project(
    flag: Option<String>,
    file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    resolve_project_with_source(flag, file, env).map(|(project, _)| project)
}

/// [`resolve_project`], with where the project came from.
pub fn resolve_project_with_source(
    flag: Option<String>,
    file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, &'static str), ConfigError> {
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let tagged = |v: Option<String>, source: &'static str| nonempty(v).map(|p| (p, source));
    let found = tagged(flag, "--project or CHATCTL_PROJECT")
        .or_else(|| tagged(file, "the configuration file"))
        .or_else(|| tagged(env("GOOGLE_CLOUD_PROJECT"), "GOOGLE_CLOUD_PROJECT"))
        .or_else(|| tagged(env("CLOUDSDK_CORE_PROJECT"), "CLOUDSDK_CORE_PROJECT"))
        .or_else(|| {
            tagged(
                gcloud_config_project(env),
                "gcloud's active configuration (core/project)",
            )
        })
        .or_else(|| tagged(credentials_project(env), "the credentials file"));
    match found {
        Some((project, source)) => {
            let project = project.trim().to_string();
            names::validate_project(&project).map_err(ConfigError)?;
            Ok((project, source))
        }
        None => Err(ConfigError(
            "no project: pass --project ID, set CHATCTL_PROJECT, put `project:` in chatctl.yaml \
             or run `gcloud config set project ID`"
                .into(),
        )),
    }
}

fn gcloud_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("CLOUDSDK_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    env("HOME").map(|home| Path::new(&home).join(".config").join("gcloud"))
}

/// `project` in the [core] section of the active gcloud configuration.
fn gcloud_config_project(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    gcloud_property(env, "core", "project")
}

/// The region and where it came from, in gcloud's precedence with chatctl's own sources first:
/// `--region` or CHATCTL_REGION (clap folds them), `region:` in chatctl.yaml,
/// CLOUDSDK_RUN_REGION, `run/region` of gcloud's active configuration, then us-central1.
pub fn resolve_region(
    flag: Option<String>,
    file: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, &'static str) {
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(region) = nonempty(flag) {
        return (region, "--region or CHATCTL_REGION");
    }
    if let Some(region) = nonempty(file) {
        return (region, "the configuration file");
    }
    if let Some(region) = nonempty(env("CLOUDSDK_RUN_REGION")) {
        return (region, "CLOUDSDK_RUN_REGION");
    }
    if let Some(region) = nonempty(gcloud_property(env, "run", "region")) {
        return (region, "gcloud's active configuration (run/region)");
    }
    (DEFAULT_REGION.to_string(), "chatctl's default")
}

/// `key` in the `[section]` of the active gcloud configuration (CLOUDSDK_CONFIG or
/// ~/.config/gcloud; CLOUDSDK_ACTIVE_CONFIG_NAME, else the `active_config` file, else default).
fn gcloud_property(
    env: &dyn Fn(&str) -> Option<String>,
    section: &str,
    wanted: &str,
) -> Option<String> {
    let dir = gcloud_dir(env)?;
    let active = env("CLOUDSDK_ACTIVE_CONFIG_NAME")
        .or_else(|| std::fs::read_to_string(dir.join("active_config")).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let text = std::fs::read_to_string(dir.join("configurations").join(format!("config_{active}")))
        .ok()?;
    let header = format!("[{section}]");
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == header;
        } else if in_section
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == wanted
        {
            return Some(value.trim().to_string());
        }
    }
    None
}

/// `project_id` (service account keys) or `quota_project_id` of the credentials file.
fn credentials_project(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let path = env("GOOGLE_APPLICATION_CREDENTIALS")
        .map(PathBuf::from)
        .or_else(|| gcloud_dir(env).map(|d| d.join("application_default_credentials.json")))?;
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    ["project_id", "quota_project_id"]
        .iter()
        .find_map(|key| json.get(*key)?.as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn project_precedence_follows_the_documented_chain() {
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir_all(gcloud.join("configurations")).unwrap();
        std::fs::write(gcloud.join("active_config"), "work\n").unwrap();
        std::fs::write(
            gcloud.join("configurations/config_work"),
            "[compute]\nproject = not-this\n[core]\naccount = me@example.com\nproject = from-gcloud\n",
        )
        .unwrap();
        let creds = dir.path().join("key.json");
        std::fs::write(
            &creds,
            r#"{"type":"service_account","project_id":"from-creds"}"#,
        )
        .unwrap();
        let cfg = gcloud.display().to_string();
        let key = creds.display().to_string();

        let all = env_of(&[
            ("GOOGLE_CLOUD_PROJECT", "from-google".into()),
            ("CLOUDSDK_CORE_PROJECT", "from-cloudsdk".into()),
            ("CLOUDSDK_CONFIG", cfg.clone()),
            ("GOOGLE_APPLICATION_CREDENTIALS", key.clone()),
        ]);
        let p = |flag: Option<&str>, file: Option<&str>, env: &dyn Fn(&str) -> Option<String>| {
            resolve_project(flag.map(Into::into), file.map(Into::into), env).unwrap()
        };
        assert_eq!(p(Some("from-flag"), Some("from-file"), &all), "from-flag");
        assert_eq!(p(None, Some("from-file"), &all), "from-file");
        assert_eq!(p(None, None, &all), "from-google");
        let no_google = env_of(&[
            ("CLOUDSDK_CORE_PROJECT", "from-cloudsdk".into()),
            ("CLOUDSDK_CONFIG", cfg.clone()),
            ("GOOGLE_APPLICATION_CREDENTIALS", key.clone()),
        ]);
        assert_eq!(p(None, None, &no_google), "from-cloudsdk");
        let gcloud_only = env_of(&[
            ("CLOUDSDK_CONFIG", cfg.clone()),
            ("GOOGLE_APPLICATION_CREDENTIALS", key.clone()),
        ]);
        assert_eq!(p(None, None, &gcloud_only), "from-gcloud");
        let creds_only = env_of(&[("GOOGLE_APPLICATION_CREDENTIALS", key)]);
        assert_eq!(p(None, None, &creds_only), "from-creds");
        let err = resolve_project(None, None, &env_of(&[])).unwrap_err();
        assert!(err.0.contains("--project"), "{err}");
    }

    #[test]
    fn connector_range_must_be_an_aligned_slash_28() {
        assert_eq!(validate_slash28("10.8.0.16/28").unwrap(), "10.8.0.16/28");
        assert!(validate_slash28("10.8.0.0/20").is_err());
        assert!(validate_slash28("10.8.0.4/28").is_err());
        assert!(validate_slash28("nonsense").is_err());
    }

    #[test]
    fn file_config_rejects_unknown_keys_and_reads_overrides() {
        let path = Path::new("chatctl.yaml");
        let err = FileConfig::parse("regoin: x\n", path).unwrap_err();
        assert!(err.0.contains("regoin"), "{err}");
        let cfg = FileConfig::parse(
            "tier: standard\nservice:\n  template:\n    scaling:\n      minInstanceCount: 2\n",
            path,
        )
        .unwrap();
        assert_eq!(cfg.tier, Some(Tier::Standard));
        let bus = FileConfig::parse("bus: nats\n", path).unwrap();
        assert_eq!(bus.bus, Some(Bus::Nats));
        assert!(FileConfig::parse("bus: kafka\n", path).is_err());
        assert_eq!(
            cfg.service.unwrap()["template"]["scaling"]["minInstanceCount"],
            2
        );
    }

    /// Global flags naming a configuration file `chatctl.yaml` in a fresh directory (kept
    /// alive by the returned guard) and the test project.
    fn with_config_file() -> (tempfile::TempDir, PathBuf, crate::cli::GlobalArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatctl.yaml");
        let global = crate::cli::GlobalArgs {
            config: Some(path.clone()),
            project: Some("chat-e2e-1".into()),
            ..Default::default()
        };
        (dir, path, global)
    }

    #[test]
    fn a_timeout_out_of_range_in_the_file_is_a_config_error() {
        let (_dir, path, global) = with_config_file();
        for (timeout, needle) in [
            ("99999999999999999999h", "from 1s to 24h"),
            ("0.5ms", "from 1s to 24h"),
            ("soon", "not a duration"),
        ] {
            std::fs::write(&path, format!("timeout: {timeout}\n")).unwrap();
            let err = resolve(&global, &StackArgs::default(), &env_of(&[])).unwrap_err();
            assert!(err.0.contains("timeout in the configuration file"), "{err}");
            assert!(err.0.contains(needle), "{timeout}: {err}");
        }
        std::fs::write(&path, "timeout: 90s\n").unwrap();
        let ok = resolve(&global, &StackArgs::default(), &env_of(&[])).unwrap();
        assert_eq!(ok.timeout, Duration::from_secs(90));
    }

    #[test]
    fn egress_defaults_to_a_connector_and_the_subnet_to_the_network_name() {
        let (_dir, path, global) = with_config_file();
        std::fs::write(&path, "network: chat\n").unwrap();
        let plain = resolve(&global, &StackArgs::default(), &env_of(&[])).unwrap();
        assert_eq!(
            (plain.egress, plain.subnet.as_str()),
            (Egress::Connector, "chat")
        );
        std::fs::write(&path, "egress: direct\nsubnet: chat-us\n").unwrap();
        let direct = resolve(&global, &StackArgs::default(), &env_of(&[])).unwrap();
        assert_eq!(
            (direct.egress, direct.subnet.as_str()),
            (Egress::Direct, "chat-us")
        );
        let flag = StackArgs {
            egress: Some(Egress::Connector),
            ..Default::default()
        };
        assert_eq!(
            resolve(&global, &flag, &env_of(&[])).unwrap().egress,
            Egress::Connector
        );
        std::fs::write(&path, "egress: tunnel\n").unwrap();
        assert!(resolve(&global, &StackArgs::default(), &env_of(&[])).is_err());
        std::fs::write(&path, "subnet: Bad_Subnet\n").unwrap();
        let err = resolve(&global, &StackArgs::default(), &env_of(&[])).unwrap_err();
        assert!(err.0.contains("not a Compute Engine subnet name"), "{err}");
    }
}

/// Whether the run asked for `--output json` (or `--output=json`, or CHATCTL_OUTPUT=json),
/// read from the raw arguments: `main` needs it to report a failure of the parse itself (a bad
/// flag value) as JSON, before there are parsed flags to look at.
pub fn json_output_requested(args: &[std::ffi::OsString]) -> bool {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut requested = None;
    for (i, arg) in args.iter().enumerate() {
        if arg == "--" {
            break;
        }
        if let Some(value) = arg.strip_prefix("--output=") {
            requested = Some(value.to_string());
        } else if arg == "--output" {
            requested = args.get(i + 1).cloned();
        }
    }
    requested
        .or_else(|| std::env::var("CHATCTL_OUTPUT").ok())
        .is_some_and(|value| value == "json")
}

#[cfg(test)]
mod output_requested_tests {
    use super::json_output_requested;

    fn args(words: &[&str]) -> Vec<std::ffi::OsString> {
        words.iter().map(Into::into).collect()
    }

    #[test]
    fn the_last_output_flag_counts_in_either_spelling() {
        assert!(json_output_requested(&args(&[
            "chatctl", "up", "--output", "json"
        ])));
        assert!(json_output_requested(&args(&[
            "chatctl",
            "--output=json",
            "up",
            "--tier",
            "x"
        ])));
        assert!(!json_output_requested(&args(&[
            "chatctl",
            "--output=json",
            "up",
            "--output",
            "human"
        ])));
        assert!(!json_output_requested(&args(&[
            "chatctl",
            "up",
            "--",
            "--output=json"
        ])));
    }
}

#[cfg(test)]
mod region_tests {
    use super::*;

    /// A temporary CLOUDSDK_CONFIG with `configurations/config_NAME` files and `active_config`.
    fn gcloud(active: Option<&str>, configs: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("configurations")).expect("mkdir");
        for (name, text) in configs {
            let path = dir
                .path()
                .join("configurations")
                .join(format!("config_{name}"));
            std::fs::write(path, text).expect("write");
        }
        if let Some(active) = active {
            std::fs::write(dir.path().join("active_config"), active).expect("write");
        }
        dir
    }

    fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_region_follows_flag_file_cloudsdk_run_region_gcloud_then_the_default() {
        let dir = gcloud(
            Some("work\n"),
            &[
                ("default", "[run]\nregion = asia-east1\n"),
                (
                    "work",
                    "[core]\nproject = p1\nregion = no\n[run]\nregion = europe-west1\n",
                ),
            ],
        );
        let config = dir.path().display().to_string();
        let with_run = env_of(vec![
            ("CLOUDSDK_CONFIG", config.clone()),
            ("CLOUDSDK_RUN_REGION", "us-east1".into()),
        ]);
        let gcloud_only = env_of(vec![("CLOUDSDK_CONFIG", config.clone())]);
        let flag = Some("us-west1".to_string());
        let file = Some("europe-north1".to_string());
        assert_eq!(
            resolve_region(flag, file.clone(), &with_run),
            ("us-west1".into(), "--region or CHATCTL_REGION")
        );
        assert_eq!(
            resolve_region(None, file, &with_run),
            ("europe-north1".into(), "the configuration file")
        );
        assert_eq!(
            resolve_region(None, None, &with_run),
            ("us-east1".into(), "CLOUDSDK_RUN_REGION")
        );
        assert_eq!(
            resolve_region(None, None, &gcloud_only),
            (
                "europe-west1".into(),
                "gcloud's active configuration (run/region)"
            ),
            "[run] of the active configuration, not [core]"
        );
        let named = env_of(vec![
            ("CLOUDSDK_CONFIG", config),
            ("CLOUDSDK_ACTIVE_CONFIG_NAME", "default".into()),
        ]);
        assert_eq!(resolve_region(None, None, &named).0, "asia-east1");
        let empty = gcloud(None, &[]);
        let nothing = env_of(vec![(
            "CLOUDSDK_CONFIG",
            empty.path().display().to_string(),
        )]);
        assert_eq!(
            resolve_region(None, None, &nothing),
            (DEFAULT_REGION.into(), "chatctl's default")
        );
    }
}
