//! Projects: any valid project ID springs into existence on first use, with a project number,
//! the `default` auto-mode network and its regional subnets (so CIDR clashes can happen), the
//! project IAM policy and the enablement state of each API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::Serialize;
use serde_json::json;

use crate::apis::compute::model::Network;
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

/// How long a just-enabled API may still answer SERVICE_DISABLED (real time, scaled).
pub const ENABLE_PROPAGATION: Duration = Duration::from_secs(20);

pub fn service_title(service: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, title)| *title)
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
            services: BTreeMap::new(),
            policy: Policy::new_project(number),
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
        Ok(self
            .0
            .entry(id_or_number.to_string())
            .or_insert_with(|| Project::new(id_or_number)))
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
