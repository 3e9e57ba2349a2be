//! Every call chatctl makes to Google goes through here: one module per API (the official
//! google-cloud-* crates, and Cloud Storage's, Cloud Logging's and Org Policy's JSON APIs
//! through `rest`), the
//! clients built once ([`Clients`]),
//! and the shared rules ([`Google`]: project and region, one retry policy, waiting for
//! operations, errors explained in one place).

pub mod artifact_registry;
pub mod cloud_build;
pub mod compute;
pub mod compute_vms;
pub mod errors;
pub mod iam;
pub mod logging;
pub mod lro;
pub mod orgpolicy;
pub mod policy;
pub mod projects;
pub mod redis;
pub mod rest;
pub mod retry;
pub mod run;
pub mod secretmanager;
pub mod serviceusage;
pub mod storage;
pub mod vpcaccess;

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use anyhow::Context as _;

use crate::config::Environment;
use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_longrunning::model::Operation;
use lro::{PollPolicy, Waiting};
use retry::RetryPolicy;

/// The environment variable that sends every API call to another endpoint (the emulator).
pub const ENDPOINT_ENV: &str = "CHATCTL_API_ENDPOINT";

/// One client per API, all built the same way.
#[derive(Clone, Debug)]
pub struct Clients {
    pub redis: google_cloud_redis_v1::client::CloudRedis,
    pub vpcaccess: google_cloud_vpcaccess_v1::client::VpcAccessService,
    pub iam: google_cloud_iam_admin_v1::client::Iam,
    pub projects: google_cloud_resourcemanager_v3::client::Projects,
    pub run: google_cloud_run_v2::client::Services,
    pub serviceusage: google_cloud_api_serviceusage_v1::client::ServiceUsage,
    pub secretmanager: google_cloud_secretmanager_v1::client::SecretManagerService,
    pub subnetworks: google_cloud_compute_v1::client::Subnetworks,
    pub networks: google_cloud_compute_v1::client::Networks,
    /// The NATS server of --bus nats: its instance, data disk, firewall rule, their operations.
    pub instances: google_cloud_compute_v1::client::Instances,
    pub disks: google_cloud_compute_v1::client::Disks,
    pub firewalls: google_cloud_compute_v1::client::Firewalls,
    pub zone_operations: google_cloud_compute_v1::client::ZoneOperations,
    pub global_operations: google_cloud_compute_v1::client::GlobalOperations,
    pub artifact_registry: google_cloud_artifactregistry_v1::client::ArtifactRegistry,
    pub cloud_build: google_cloud_build_v1::client::CloudBuild,
    /// Cloud Storage's JSON API (buckets: the crate manages them over gRPC only).
    pub storage: rest::Rest,
    /// Cloud Storage's objects through google-cloud-storage (resumable, checksummed uploads).
    pub objects: google_cloud_storage::client::Storage,
    /// Serverless VPC Access over JSON, for `connectors.patch` (the crate has no update call).
    pub vpcaccess_json: rest::Rest,
    /// Cloud Logging's REST API (`gcp::logging`: `logs`, local mode's agent).
    pub logging: rest::Rest,
    /// Org Policy v2's REST API (`gcp::orgpolicy`: `doctor` reads effective policies).
    pub orgpolicy: rest::Rest,
    /// Set when the calls go to an endpoint override rather than Google.
    pub endpoint: Option<String>,
    /// The project calls are checked and billed against (`x-goog-user-project`) when it is not
    /// the target project (GOOGLE_CLOUD_QUOTA_PROJECT names another one).
    pub foreign_quota_project: Option<String>,
    /// The credentials every client uses (also the login to Artifact Registry's Docker registry).
    pub credentials: Credentials,
}

/// Application default credentials are "configured" when a file says so; otherwise, with an
/// endpoint override, chatctl talks to it anonymously (the metadata server is not tried).
fn adc_configured(environment: &Environment) -> bool {
    environment.credentials_file.is_some()
        || environment
            .gcloud_adc_file
            .as_deref()
            .is_some_and(Path::is_file)
}

/// The project API calls are billed and checked against (`x-goog-user-project`):
/// GOOGLE_CLOUD_QUOTA_PROJECT when set, else the target `project`, never the `quota_project_id`
/// a user credentials file carries from whatever project was current at login.
pub fn quota_project(environment: &Environment, project: Option<&str>) -> Option<String> {
    environment
        .quota_project
        .clone()
        .or_else(|| project.map(str::to_string))
}

/// The credentials of every client and the quota project they send (none when anonymous). A
/// file that is missing or unreadable, or credentials that cannot be built, are a configuration
/// error naming what was looked for (`crate::credentials`).
fn credentials(
    environment: &Environment,
    project: Option<&str>,
) -> anyhow::Result<(Credentials, Option<String>)> {
    // GCE_METADATA_HOST says where a metadata server is: it is asked even with an override.
    if environment.api_endpoint.is_some()
        && !adc_configured(environment)
        && environment.metadata_host.is_none()
    {
        return Ok((anonymous::Builder::new().build(), None));
    }
    crate::credentials::inspect(environment)?;
    let mut builder = google_cloud_auth::credentials::Builder::default();
    let quota = quota_project(environment, project);
    if let Some(quota) = &quota {
        builder = builder.with_quota_project_id(quota.clone());
    }
    let credentials = builder
        .build()
        .map_err(|e| crate::credentials::unusable(environment, &e))?;
    Ok((credentials, quota))
}

macro_rules! build_client {
    ($client:ty, $endpoint:expr, $creds:expr) => {{
        let mut builder = <$client>::builder()
            .with_credentials($creds.clone())
            .with_retry_policy(NeverRetry);
        if let Some(endpoint) = $endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        builder
            .build()
            .await
            .with_context(|| format!("cannot set up the {} client", stringify!($client)))?
    }};
}

impl Clients {
    /// Builds every client for `environment`: its endpoint override and credentials, with
    /// `project` (the target) as the quota project unless GOOGLE_CLOUD_QUOTA_PROJECT names one.
    pub async fn for_environment(
        environment: &Environment,
        project: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (creds, quota_project) = credentials(environment, project)?;
        let mut clients = Self::connect_with(environment.api_endpoint.clone(), creds).await?;
        clients.foreign_quota_project =
            quota_project.filter(|quota| Some(quota.as_str()) != project);
        Ok(clients)
    }

    /// Builds every client for `endpoint` (an emulator's, in tests and benchmarks) with no
    /// credentials configured: anonymous.
    pub async fn connect(endpoint: Option<String>) -> anyhow::Result<Self> {
        let environment = Environment {
            api_endpoint: endpoint.filter(|e| !e.trim().is_empty()),
            ..Environment::default()
        };
        Self::for_environment(&environment, None).await
    }

    /// Builds every client for the emulator of `up --local` (or a test's): anonymous
    /// credentials whatever application default credentials are configured (no token is ever
    /// sent to Google).
    pub async fn connect_anonymous(endpoint: String) -> anyhow::Result<Self> {
        Self::connect_with(Some(endpoint), anonymous::Builder::new().build()).await
    }

    async fn connect_with(endpoint: Option<String>, creds: Credentials) -> anyhow::Result<Self> {
        let ep = endpoint.clone();
        Ok(Clients {
            redis: build_client!(google_cloud_redis_v1::client::CloudRedis, ep.clone(), creds),
            vpcaccess: build_client!(
                google_cloud_vpcaccess_v1::client::VpcAccessService,
                ep.clone(),
                creds
            ),
            iam: build_client!(google_cloud_iam_admin_v1::client::Iam, ep.clone(), creds),
            projects: build_client!(
                google_cloud_resourcemanager_v3::client::Projects,
                ep.clone(),
                creds
            ),
            run: build_client!(google_cloud_run_v2::client::Services, ep.clone(), creds),
            serviceusage: build_client!(
                google_cloud_api_serviceusage_v1::client::ServiceUsage,
                ep.clone(),
                creds
            ),
            secretmanager: build_client!(
                google_cloud_secretmanager_v1::client::SecretManagerService,
                ep.clone(),
                creds
            ),
            subnetworks: build_client!(
                google_cloud_compute_v1::client::Subnetworks,
                ep.clone(),
                creds
            ),
            networks: build_client!(google_cloud_compute_v1::client::Networks, ep.clone(), creds),
            instances: build_client!(
                google_cloud_compute_v1::client::Instances,
                ep.clone(),
                creds
            ),
            disks: build_client!(google_cloud_compute_v1::client::Disks, ep.clone(), creds),
            firewalls: build_client!(
                google_cloud_compute_v1::client::Firewalls,
                ep.clone(),
                creds
            ),
            zone_operations: build_client!(
                google_cloud_compute_v1::client::ZoneOperations,
                ep.clone(),
                creds
            ),
            global_operations: build_client!(
                google_cloud_compute_v1::client::GlobalOperations,
                ep.clone(),
                creds
            ),
            artifact_registry: build_client!(
                google_cloud_artifactregistry_v1::client::ArtifactRegistry,
                ep.clone(),
                creds
            ),
            cloud_build: build_client!(
                google_cloud_build_v1::client::CloudBuild,
                ep.clone(),
                creds
            ),
            objects: build_client!(google_cloud_storage::client::Storage, ep.clone(), creds),
            storage: rest::Rest::new(
                ep.as_deref(),
                storage::ENDPOINT,
                creds.clone(),
                Duration::from_secs(300),
            )?,
            vpcaccess_json: rest::Rest::new(
                ep.as_deref(),
                vpcaccess::ENDPOINT,
                creds.clone(),
                Duration::from_secs(60),
            )?,
            logging: rest::Rest::new(
                ep.as_deref(),
                logging::LOGGING_ENDPOINT,
                creds.clone(),
                Duration::from_secs(60),
            )?,
            orgpolicy: rest::Rest::new(
                ep.as_deref(),
                orgpolicy::ENDPOINT,
                creds.clone(),
                Duration::from_secs(60),
            )?,
            endpoint,
            foreign_quota_project: None,
            credentials: creds,
        })
    }
}

/// Polling floor when talking to Google; an endpoint override (the emulator, whose time is
/// scaled down) polls faster. CHATCTL_POLL_FLOOR_MS (`Environment::poll_floor`) overrides both.
const POLL_FLOOR_GOOGLE: Duration = Duration::from_secs(1);
const POLL_FLOOR_OVERRIDE: Duration = Duration::from_millis(10);

/// What every Google call needs, and nothing else: the clients, the project and region, and
/// how to retry and wait (deadline, polling, Ctrl-C).
#[derive(Debug, Clone)]
pub struct Google {
    pub clients: Clients,
    pub project: String,
    pub region: String,
    pub waiting: Waiting,
}

impl Google {
    /// The handle for `project` and `region`: waits end at `timeout` or at `cancel`; against an
    /// endpoint override (the emulator) retries and polls are quicker, unless `poll_floor` says.
    pub fn new(
        clients: Clients,
        project: impl Into<String>,
        region: impl Into<String>,
        timeout: Duration,
        poll_floor: Option<Duration>,
        cancel: CancellationToken,
    ) -> Self {
        let emulated = clients.endpoint.is_some();
        let mut retry = RetryPolicy {
            foreign_quota: clients
                .foreign_quota_project
                .is_some()
                .then(Default::default),
            ..RetryPolicy::default()
        };
        if emulated {
            retry.initial = Duration::from_millis(20);
            retry.max_delay = Duration::from_secs(1);
        }
        let floor = poll_floor.unwrap_or(if emulated {
            POLL_FLOOR_OVERRIDE
        } else {
            POLL_FLOOR_GOOGLE
        });
        let waiting = Waiting {
            retry,
            poll: PollPolicy {
                floor,
                ..PollPolicy::default()
            },
            timeout,
            cancel,
        };
        Google {
            clients,
            project: project.into(),
            region: region.into(),
            waiting,
        }
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `projects/P/locations/R`.
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }

    /// Whether the calls go to an endpoint override (the emulator) rather than Google.
    pub fn emulated(&self) -> bool {
        self.clients.endpoint.is_some()
    }

    pub fn call<'a>(&'a self, what: &'a str, role: &'a str) -> errors::Call<'a> {
        errors::Call {
            what,
            role,
            project: &self.project,
            quota_project: self.clients.foreign_quota_project.as_deref(),
        }
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.waiting.retry
    }
}

/// Sends a call with retries; any failure becomes an explained error.
pub async fn send<T, F, Fut>(google: &Google, call: errors::Call<'_>, send: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, google_cloud_gax::error::Error>>,
{
    google
        .retry()
        .run(call.what, send)
        .await
        .map_err(|e| errors::explain(e, call))
}

/// Sends a call with retries; the failure kind `absent` (NOT_FOUND for reads and deletes,
/// ALREADY_EXISTS for creates) becomes `None`, any other failure an explained error.
pub async fn send_unless<T, F, Fut>(
    google: &Google,
    call: errors::Call<'_>,
    absent: errors::Kind,
    send: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, google_cloud_gax::error::Error>>,
{
    match google.retry().run(call.what, send).await {
        Ok(value) => Ok(Some(value)),
        Err(e) if errors::classify(&e) == absent => Ok(None),
        Err(e) => Err(errors::explain(e, call)),
    }
}

/// How a read of something chatctl may not manage in this run treats a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Every failure but NOT_FOUND is an error (what the settings use).
    Strict,
    /// PERMISSION_DENIED is `None` too: the other bus's pieces, looked for with the roles of
    /// the bus in use (a caller granted only those may not read them; then there is nothing
    /// of ours it could remove either way).
    IfPermitted,
}

/// A read: `None` when absent (and, with [`Read::IfPermitted`], when the caller may not read
/// it); any other failure an explained error.
pub async fn read<T, F, Fut>(
    google: &Google,
    call: errors::Call<'_>,
    read: Read,
    send: F,
) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, google_cloud_gax::error::Error>>,
{
    match google.retry().run(call.what, send).await {
        Ok(value) => Ok(Some(value)),
        Err(e) if errors::classify(&e) == errors::Kind::NotFound => Ok(None),
        Err(e)
            if read == Read::IfPermitted
                && (e.http_status_code() == Some(403)
                    || e.status().is_some_and(|s| {
                        s.code == google_cloud_gax::error::rpc::Code::PermissionDenied
                    }))
                && errors::classify(&e) == errors::Kind::Other =>
        {
            Ok(None)
        }
        Err(e) => Err(errors::explain(e, call)),
    }
}

/// The future of a call that answers with a long-running operation.
pub trait OperationCall: std::future::Future<Output = Result<Operation, GaxError>> {}
impl<F: std::future::Future<Output = Result<Operation, GaxError>>> OperationCall for F {}

/// Sends a call that answers with a long-running operation (a create, update or delete), runs
/// `accepted` once the request is accepted (the resource is then visible, being changed), and
/// waits for the operation with `get_operation`. Ok(false) when the call failed with `absent`:
/// ALREADY_EXISTS for a create (a retried create that went through answers so too: the caller
/// reads what is there and decides), NOT_FOUND for a delete (already gone); `None` for updates,
/// where every failure is an error.
pub async fn send_and_wait<S, SendFut, G, GetFut>(
    google: &Google,
    call: errors::Call<'_>,
    absent: Option<errors::Kind>,
    send: S,
    get_operation: G,
    accepted: impl FnOnce(),
) -> anyhow::Result<bool>
where
    S: FnMut() -> SendFut,
    SendFut: OperationCall,
    G: FnMut(String) -> GetFut,
    GetFut: OperationCall,
{
    let op = match google.retry().run(call.what, send).await {
        Ok(op) => op,
        Err(e) if absent.is_some_and(|kind| errors::classify(&e) == kind) => return Ok(false),
        Err(e) => return Err(errors::explain(e, call)),
    };
    accepted();
    google.waiting.operation(op, call, get_operation).await?;
    Ok(true)
}
