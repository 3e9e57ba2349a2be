//! Projects: any valid project ID springs into existence on first use, with a project number,
//! the `default` auto-mode network and its regional subnets (so CIDR clashes can happen), the
//! project IAM policy and the enablement state of each API. A project can also be described
//! before its first use (`POST /_emulator/projects`, HTTP in `projects/http.rs`) as real
//! projects are: no default network, the post-2024 build account, Domain Restricted Sharing
//! and other organisation policies, IAM enforced ([`Setup`]).

pub mod http;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apis::compute::model::Network;
use crate::apis::orgpolicy::model::{self as orgpolicy, Spec};
use crate::error::ApiError;
use crate::policy::Policy;
use crate::validate;

/// The Service Usage catalogue: the services a project can enable, with their titles.
pub const SERVICES: &[(&str, &str)] = &[
    ("artifactregistry.googleapis.com", "Artifact Registry API"),
    ("cloudbuild.googleapis.com", "Cloud Build API"),
    (
        "cloudresourcemanager.googleapis.com",
        "Cloud Resource Manager API",
    ),
    ("compute.googleapis.com", "Compute Engine API"),
    (
        "iam.googleapis.com",
        "Identity and Access Management (IAM) API",
    ),
    (
        "iamcredentials.googleapis.com",
        "IAM Service Account Credentials API",
    ),
    ("logging.googleapis.com", "Cloud Logging API"),
    ("monitoring.googleapis.com", "Cloud Monitoring API"),
    ("orgpolicy.googleapis.com", "Organization Policy API"),
    (
        "redis.googleapis.com",
        "Google Cloud Memorystore for Redis API",
    ),
    ("run.googleapis.com", "Cloud Run Admin API"),
    ("secretmanager.googleapis.com", "Secret Manager API"),
    ("servicenetworking.googleapis.com", "Service Networking API"),
    ("serviceusage.googleapis.com", "Service Usage API"),
    ("storage.googleapis.com", "Cloud Storage API"),
    ("vpcaccess.googleapis.com", "Serverless VPC Access API"),
];

/// Service Usage itself can always be called (it is how the others get enabled).
pub const ALWAYS_ENABLED: &str = "serviceusage.googleapis.com";

/// The emulated APIs Google enables on every new project (part of its default list), so a
/// project's own logs can be read without enabling anything.
const ENABLED_AT_CREATION: &[&str] = &["logging.googleapis.com"];

/// How long a just-enabled API may still answer SERVICE_DISABLED (real time, scaled).
pub const ENABLE_PROPAGATION: Duration = Duration::from_secs(20);

pub fn service_title(service: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, title)| *title)
}

/// How long after the Compute API is enabled in a described project its `default` network
/// appears (Google creates it asynchronously), real time, scaled.
pub const DEFAULT_NETWORK_LAG: Duration = Duration::from_secs(40);

/// How long a binding added by the project's setIamPolicy takes to reach the build's account
/// checks (Google: a new binding takes effect within about 2 minutes, sometimes 7 or more;
/// here 5 minutes of real time, scaled: longer than a build, so the first build right after a
/// grant fails as it can on Google).
pub const IAM_PROPAGATION: Duration = Duration::from_secs(300);

/// The account builds run as when they name none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildAccount {
    /// `PROJECT_NUMBER@cloudbuild.gserviceaccount.com` with roles/cloudbuild.builds.builder
    /// (projects whose first build ran before mid-2024).
    Legacy,
    /// `PROJECT_NUMBER-compute@developer.gserviceaccount.com` with whatever roles it has.
    ComputeDefault,
}

/// How a described project differs from a fresh, permissive one.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    pub default_network: bool,
    pub build_service_account: BuildAccount,
    pub compute_default_service_account_roles: Vec<String>,
    /// Domain Restricted Sharing: the customer IDs policy members must belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_policy_member_domains: Option<Vec<String>>,
    pub enforce_iam: bool,
    /// The organisation policies in effect on the project, by constraint (no `constraints/`
    /// prefix): those described, and those the fields above imply (`apis::orgpolicy`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub org_policies: BTreeMap<String, Spec>,
    /// The default network waits for the Compute API to be enabled.
    #[serde(skip)]
    pub network_awaits_compute: bool,
    /// The default network appears at this instant.
    #[serde(skip)]
    pub network_at: Option<Instant>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            default_network: true,
            build_service_account: BuildAccount::Legacy,
            compute_default_service_account_roles: vec!["roles/editor".to_string()],
            allowed_policy_member_domains: None,
            enforce_iam: false,
            org_policies: BTreeMap::new(),
            network_awaits_compute: false,
            network_at: None,
        }
    }
}

/// Whether an API is enabled, and since when it really works.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Enablement {
    Disabled,
    Enabled {
        #[serde(skip)]
        effective_at: Instant,
    },
}

/// One project.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub number: u64,
    pub networks: BTreeMap<String, Network>,
    /// Only services whose state was changed through Service Usage are listed.
    pub services: BTreeMap<String, Enablement>,
    pub policy: Policy,
    /// Set when the project was described by `POST /_emulator/projects`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<Setup>,
    /// Bindings (member, role) the project's setIamPolicy added, with the moment they take
    /// effect for what builds' accounts may do ([`IAM_PROPAGATION`]).
    #[serde(skip)]
    pub propagating: BTreeMap<(String, String), Instant>,
}

impl Project {
    fn new(id: &str) -> Self {
        let mut networks = BTreeMap::new();
        networks.insert("default".to_string(), Network::auto_mode_default(id));
        let number = project_number(id);
        Project {
            id: id.to_string(),
            number,
            networks,
            services: ENABLED_AT_CREATION
                .iter()
                .map(|s| {
                    let now = Instant::now();
                    (s.to_string(), Enablement::Enabled { effective_at: now })
                })
                .collect(),
            policy: Policy::new_project(number),
            setup: None,
            propagating: BTreeMap::new(),
        }
    }

    /// A project as `setup` describes it (`compute_enabled`: whether the Compute API is
    /// enabled at once, which lets the default network exist from the start).
    fn described(id: &str, mut setup: Setup, compute_enabled: bool) -> Self {
        let mut project = Project::new(id);
        let number = project.number;
        if !setup.default_network || !compute_enabled {
            project.networks.clear();
        }
        setup.network_awaits_compute = setup.default_network && !compute_enabled;
        let mut policy = Policy::empty();
        policy.grant(
            "roles/editor",
            &format!("serviceAccount:{number}@cloudservices.gserviceaccount.com"),
        );
        let compute = format!("serviceAccount:{}", project.compute_default_account());
        for role in &setup.compute_default_service_account_roles {
            policy.grant(role, &compute);
        }
        if setup.build_service_account == BuildAccount::Legacy {
            policy.grant(
                "roles/cloudbuild.builds.builder",
                &format!("serviceAccount:{}", project.legacy_build_account()),
            );
        }
        project.policy = policy;
        project.setup = Some(setup);
        project
    }

    /// `PROJECT_NUMBER-compute@developer.gserviceaccount.com`.
    pub fn compute_default_account(&self) -> String {
        format!("{}-compute@developer.gserviceaccount.com", self.number)
    }

    /// `PROJECT_NUMBER@cloudbuild.gserviceaccount.com`.
    pub fn legacy_build_account(&self) -> String {
        format!("{}@cloudbuild.gserviceaccount.com", self.number)
    }

    /// The account a build that names none runs as, for described projects (others run
    /// unchecked, as before).
    pub fn default_build_account(&self) -> Option<String> {
        self.setup.as_ref().map(|s| match s.build_service_account {
            BuildAccount::Legacy => self.legacy_build_account(),
            BuildAccount::ComputeDefault => self.compute_default_account(),
        })
    }

    /// Records the bindings `after` has that `before` had not, effective at `at`.
    pub fn bindings_added(&mut self, before: &Policy, at: Instant) {
        for binding in &self.policy.bindings {
            for member in &binding.members {
                if !before.roles_of(member).any(|r| r == binding.role) {
                    self.propagating
                        .insert((member.clone(), binding.role.clone()), at);
                }
            }
        }
    }

    /// Whether `member`'s binding to `role` has reached every check (not still propagating).
    pub fn propagated(&self, member: &str, role: &str) -> bool {
        self.propagating
            .get(&(member.to_string(), role.to_string()))
            .is_none_or(|at| Instant::now() >= *at)
    }

    /// The organisation policy set on this project for `constraint` (no `constraints/`
    /// prefix), if any.
    pub fn org_policy(&self, constraint: &str) -> Option<&Spec> {
        self.setup.as_ref()?.org_policies.get(constraint)
    }

    /// Whether callers need the permissions (`enforceIam`).
    pub fn enforces_iam(&self) -> bool {
        self.setup.as_ref().is_some_and(|s| s.enforce_iam)
    }

    /// Whether an account belongs to this project (its own service accounts and the default
    /// and Google-managed accounts named by its number).
    pub fn owns_account(&self, email: &str) -> bool {
        let n = self.number;
        email.ends_with(&format!("@{}.iam.gserviceaccount.com", self.id))
            || email == self.compute_default_account()
            || email == self.legacy_build_account()
            || email == format!("{n}@cloudservices.gserviceaccount.com")
            || (email.starts_with(&format!("service-{n}@"))
                && email.ends_with(".gserviceaccount.com"))
    }

    /// The Compute API was just enabled: a default network that waits for it appears at `at`.
    pub fn compute_enabled(&mut self, at: Instant) {
        if let Some(setup) = self.setup.as_mut()
            && setup.network_awaits_compute
        {
            setup.network_awaits_compute = false;
            setup.network_at = Some(at);
        }
    }

    /// Brings time-driven state up to date (a default network whose moment has come).
    fn settle(&mut self) {
        let due = self
            .setup
            .as_ref()
            .and_then(|s| s.network_at)
            .is_some_and(|at| Instant::now() >= at);
        if due {
            if let Some(setup) = self.setup.as_mut() {
                setup.network_at = None;
            }
            let id = self.id.clone();
            self.networks
                .entry("default".to_string())
                .or_insert_with(|| Network::auto_mode_default(&id));
        }
    }

    /// Whether `service` answers calls now.
    pub fn is_enabled(&self, service: &str, enforce: bool) -> bool {
        if !enforce || service == ALWAYS_ENABLED {
            return true;
        }
        matches!(self.services.get(service), Some(Enablement::Enabled { effective_at }) if Instant::now() >= *effective_at)
    }

    /// What Service Usage reports (enabled as soon as the enable operation is done).
    pub fn reported_enabled(&self, service: &str, enforce: bool) -> bool {
        match self.services.get(service) {
            Some(Enablement::Enabled { .. }) => true,
            Some(Enablement::Disabled) => false,
            None => !enforce || service == ALWAYS_ENABLED,
        }
    }

    /// Every subnet range of a network (primary and secondary), for overlap checks.
    pub fn network_ranges(&self, network: &str) -> Vec<(String, Ipv4Net)> {
        self.networks
            .get(network)
            .map(Network::ranges)
            .unwrap_or_default()
    }
}

/// A stable 12-digit project number derived from the ID.
fn project_number(id: &str) -> u64 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    100_000_000_000 + hash % 900_000_000_000
}

/// All projects, by ID.
#[derive(Default, Serialize)]
pub struct Projects(BTreeMap<String, Project>);

impl Projects {
    /// An existing project by ID.
    pub fn get(&self, id: &str) -> Option<&Project> {
        self.0.get(id)
    }

    /// The project named by ID or number, created on first use (by ID).
    pub fn ensure(&mut self, id_or_number: &str) -> Result<&mut Project, ApiError> {
        if id_or_number.bytes().all(|b| b.is_ascii_digit()) && !id_or_number.is_empty() {
            let number: u64 = id_or_number.parse().unwrap_or(0);
            return self
                .0
                .values_mut()
                .find(|p| p.number == number)
                .ok_or_else(|| denied_project(id_or_number));
        }
        if !validate::project_id(id_or_number) {
            return Err(denied_project(id_or_number));
        }
        let project = self
            .0
            .entry(id_or_number.to_string())
            .or_insert_with(|| Project::new(id_or_number));
        project.settle();
        Ok(project)
    }

    /// Creates a described project; ALREADY_EXISTS when the project was used or described
    /// before (describe it before its first use, or reset the emulator). `enforce`: the
    /// emulator's `enforce_api_enablement` (the Compute API starts disabled then, and the
    /// default network waits for it).
    pub fn describe(
        &mut self,
        id: &str,
        setup: Setup,
        enforce: bool,
    ) -> Result<&Project, ApiError> {
        if !validate::project_id(id) {
            return Err(ApiError::invalid_argument(format!(
                "projectId \"{id}\" is not a valid project ID: 6-30 characters of lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
            )));
        }
        if self.0.contains_key(id) {
            return Err(ApiError::already_exists(format!(
                "Project {id} already exists in the emulator: describe a project before its first use (or POST /_emulator/reset first)."
            )));
        }
        let project = Project::described(id, setup, !enforce);
        Ok(self.0.entry(id.to_string()).or_insert(project))
    }

    /// The project's `gcp.resourceLocations` on a create in `location` of `resource` (its full
    /// name): Google's refusal when the policy does not allow the location.
    pub fn require_location(
        &self,
        project: &str,
        location: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        match self.find(project) {
            Some(p) => orgpolicy::check_location(
                p.org_policy(orgpolicy::RESOURCE_LOCATIONS),
                &p.id,
                location,
                resource,
            ),
            None => Ok(()),
        }
    }

    /// The project named by ID or number, if it exists.
    pub fn find(&self, id_or_number: &str) -> Option<&Project> {
        self.0.get(id_or_number).or_else(|| {
            self.0
                .values()
                .find(|p| p.number.to_string() == id_or_number)
        })
    }

    /// Fails with Google's SERVICE_DISABLED error when `service` is not (yet) usable in the
    /// project (`enforce`: the emulator's `enforce_api_enablement`). Creates the project on
    /// first use.
    pub fn require_enabled(
        &mut self,
        project: &str,
        service: &str,
        enforce: bool,
    ) -> Result<(), ApiError> {
        let p = self.ensure(project)?;
        if service.is_empty() || p.is_enabled(service, enforce) {
            return Ok(());
        }
        Err(service_disabled(p.number, service))
    }
}

/// What Google answers for a project that does not exist or is not yours.
fn denied_project(project: &str) -> ApiError {
    ApiError::permission_denied(format!(
        "Permission denied on resource project {project}."
    ))
    .with_error_info(
        "CONSUMER_INVALID",
        "googleapis.com",
        json!({ "consumer": format!("projects/{project}"), "service": "cloudresourcemanager.googleapis.com" }),
    )
}

/// 403 PERMISSION_DENIED with ErrorInfo reason SERVICE_DISABLED, as Google sends it.
pub fn service_disabled(number: u64, service: &str) -> ApiError {
    let title = service_title(service).unwrap_or(service);
    let url = format!(
        "https://console.developers.google.com/apis/api/{service}/overview?project={number}"
    );
    let message = format!(
        "{title} has not been used in project {number} before or it is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
    );
    ApiError::permission_denied(message.clone())
        .with_error_info(
            "SERVICE_DISABLED",
            "googleapis.com",
            json!({
                "service": service,
                "consumer": format!("projects/{number}"),
                "activationUrl": url,
                "serviceTitle": title,
                "containerInfo": number.to_string(),
            }),
        )
        .with_detail(json!({
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        }))
        .with_detail(json!({
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{ "description": "Google developers console API activation", "url": url }],
        }))
}
