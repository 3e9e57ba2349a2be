//! Cloud Run services and their rules: the service ID, what a revision template must hold
//! (a container image, a timeout ≤ 3600 s, concurrency ≤ 1000, no reserved env names or
//! annotations), generations and revisions, conditions as the real API reports them, and the IAM
//! policy of each service. What a service may reference is checked in `references.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::service::{ContainerPort, RevisionScaling, Service};
use crate::error::ApiError;
use crate::policy::Policy;
use crate::runtime::ServiceInfo;

const MAX_TIMEOUT_SECONDS: f64 = 3600.0;
const DEFAULT_TIMEOUT: &str = "300s";
const MAX_CONCURRENCY: i32 = 1000;
const DEFAULT_CONCURRENCY: i32 = 80;
const DEFAULT_PORT: i32 = 8080;
const DEFAULT_MAX_INSTANCES: i32 = 100;
const MAX_CONTAINERS: usize = 10;
/// Env names Cloud Run sets itself.
const RESERVED_ENV: &[&str] = &["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"];
/// Label and annotation namespaces v2 keeps for itself.
const RESERVED_PREFIXES: &[&str] = &[
    "run.googleapis.com/",
    "cloud.googleapis.com/",
    "serving.knative.dev/",
    "autoscaling.knative.dev/",
];

/// A stored service with its policy.
#[derive(Clone, Debug, Serialize)]
pub struct Stored {
    pub service: Service,
    pub policy: Policy,
    /// A delete is under way: the name stays taken until it finishes.
    pub deleting: bool,
}

/// How long after a delete a create of the same name still answers 409 although GET answers
/// 404 (the backing deletion finishing; Terraform retries it as `IsCloudRunCreationConflict`),
/// real time, scaled. Modelled for described projects only.
pub const CREATE_CONFLICT_WINDOW: Duration = Duration::from_secs(20);

impl Stored {
    /// Whether anyone may invoke the service: the invoker check is off, or roles/run.invoker
    /// is granted to allUsers or allAuthenticatedUsers.
    pub fn is_public(&self) -> bool {
        self.service.invoker_iam_disabled
            || ["allUsers", "allAuthenticatedUsers"]
                .iter()
                .any(|m| self.policy.roles_of(m).any(|r| r == "roles/run.invoker"))
    }
}

/// Services by full name.
#[derive(Default, Serialize)]
pub struct Store {
    services: BTreeMap<String, Stored>,
    /// Names deleted lately, with the end of their create-conflict window.
    #[serde(skip)]
    deleted: BTreeMap<String, Instant>,
}

pub fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("service \"{name}\" not found"))
}

/// `generation` as a number (it travels as an int64 string).
pub fn generation_of(service: &Service) -> i64 {
    match &service.generation {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// The service ID rule: a letter first, lowercase letters, digits and hyphens, no hyphen last,
/// fewer than 50 characters.
pub fn check_id(id: &str) -> Result<(), ApiError> {
    if crate::validate::lower_id(id, 1, 49) {
        return Ok(());
    }
    Err(ApiError::invalid_argument(format!(
        "Invalid service ID \"{id}\": it must use only lowercase letters, digits and hyphens, begin with a letter, not end with a hyphen, and be less than 50 characters."
    )))
}

fn reserved_keys(map: &BTreeMap<String, String>, what: &str) -> Result<(), ApiError> {
    match map
        .keys()
        .find(|k| RESERVED_PREFIXES.iter().any(|p| k.starts_with(p)))
    {
        Some(key) => Err(ApiError::invalid_argument(format!(
            "{what} \"{key}\" uses a system namespace (run.googleapis.com, cloud.googleapis.com, serving.knative.dev, autoscaling.knative.dev); these are set by Cloud Run and cannot be given in the v2 API."
        ))),
        None => Ok(()),
    }
}

/// The checks of the request itself (no other resource involved).
pub fn check_spec(service: &Service) -> Result<(), ApiError> {
    crate::validate::labels(&service.labels)?;
    reserved_keys(&service.annotations, "Annotation")?;
    let template = service.template.as_ref().ok_or_else(|| {
        ApiError::invalid_argument("service.template: missing required field (the revision template with at least one container).")
    })?;
    crate::validate::labels(&template.labels)?;
    reserved_keys(&template.annotations, "Annotation")?;
    if template.containers.is_empty() {
        return Err(ApiError::invalid_argument(
            "service.template.containers: at least one container is required.",
        ));
    }
    if template.containers.len() > MAX_CONTAINERS {
        return Err(ApiError::invalid_argument(format!(
            "service.template.containers: at most {MAX_CONTAINERS} containers are allowed."
        )));
    }
    for (i, c) in template.containers.iter().enumerate() {
        if c.image.trim().is_empty() {
            return Err(ApiError::invalid_argument(format!(
                "service.template.containers[{i}].image: missing required field (the container image to run, e.g. us-docker.pkg.dev/cloudrun/container/hello)."
            )));
        }
        if let Some(env) = c
            .env
            .iter()
            .find(|e| RESERVED_ENV.contains(&e.name.as_str()))
        {
            return Err(ApiError::invalid_argument(format!(
                "service.template.containers[{i}].env: the following reserved env names were provided: {}. These values are automatically set by the system.",
                env.name
            )));
        }
        if let Some(p) = c
            .ports
            .iter()
            .find(|p| !(0..=65535).contains(&p.container_port))
        {
            return Err(ApiError::invalid_argument(format!(
                "service.template.containers[{i}].ports: container port {} must be between 1 and 65535.",
                p.container_port
            )));
        }
    }
    let serving = template
        .containers
        .iter()
        .filter(|c| !c.ports.is_empty())
        .count();
    if template.containers.len() > 1 && serving != 1 {
        return Err(ApiError::invalid_argument(
            "service.template.containers: exactly one container must expose a port when there are several.",
        ));
    }
    if let Some(timeout) = &template.timeout {
        let seconds = crate::json::parse_duration(timeout)?;
        if !(1.0..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
            return Err(ApiError::invalid_argument(format!(
                "service.template.timeout: {timeout} is out of range: the request timeout must be between 1s and 3600s."
            )));
        }
    }
    let concurrency = template.max_instance_request_concurrency;
    if !(0..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(ApiError::invalid_argument(format!(
            "service.template.max_instance_request_concurrency: {concurrency} is out of range: it must be between 1 and {MAX_CONCURRENCY}."
        )));
    }
    if let Some(s) = &template.scaling {
        if s.min_instance_count < 0 || s.max_instance_count < 0 {
            return Err(ApiError::invalid_argument(
                "service.template.scaling: instance counts cannot be negative.",
            ));
        }
        if s.max_instance_count > 0 && s.min_instance_count > s.max_instance_count {
            return Err(ApiError::invalid_argument(format!(
                "service.template.scaling: min_instance_count ({}) cannot be greater than max_instance_count ({}).",
                s.min_instance_count, s.max_instance_count
            )));
        }
    }
    if let Some(vpc) = &template.vpc_access
        && vpc.connector.is_empty() == vpc.network_interfaces.is_empty()
    {
        return Err(ApiError::invalid_argument(
            "service.template.vpc_access: one and only one of connector and network_interfaces must be set.",
        ));
    }
    Ok(())
}

/// A condition as Cloud Run reports it.
pub fn condition(kind: &str, state: &str, reason: Option<&str>, message: &str) -> Value {
    let mut c = json!({
        "type": kind,
        "state": state,
        "lastTransitionTime": crate::json::now_timestamp(),
    });
    if let Some(reason) = reason {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    if state == "CONDITION_FAILED" {
        c["severity"] = json!("ERROR");
    }
    c
}

/// What the runtime hook is told about a service's revision.
pub fn service_info(project: &str, location: &str, id: &str, service: &Service) -> ServiceInfo {
    let template = service.template.clone().unwrap_or_default();
    let serving = template
        .containers
        .iter()
        .find(|c| !c.ports.is_empty())
        .or(template.containers.first())
        .cloned()
        .unwrap_or_default();
    let port = serving
        .ports
        .first()
        .map_or(DEFAULT_PORT, |p| p.container_port);
    let timeout = template
        .timeout
        .as_deref()
        .and_then(|t| crate::json::parse_duration(t).ok())
        .unwrap_or(300.0);
    let max = template
        .scaling
        .as_ref()
        .map_or(0, |s| s.max_instance_count);
    let mut info = ServiceInfo::new(project, location, id);
    info.image = serving.image;
    info.revision = service.latest_created_revision.clone();
    info.env = serving
        .env
        .iter()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect();
    info.container_port = u16::try_from(port).unwrap_or(8080);
    info.max_instance_count = if max == 0 { DEFAULT_MAX_INSTANCES } else { max };
    info.session_affinity = template.session_affinity;
    info.timeout_seconds = timeout as u64;
    info
}

/// Fills the defaults the real API populates (template timeout, concurrency, account, ports,
/// ingress, launch stage, egress).
pub fn apply_defaults(service: &mut Service, project_number: u64) {
    service
        .ingress
        .get_or_insert_with(|| "INGRESS_TRAFFIC_ALL".to_string());
    if service.ingress.as_deref() == Some("INGRESS_TRAFFIC_UNSPECIFIED") {
        service.ingress = Some("INGRESS_TRAFFIC_ALL".to_string());
    }
    service.launch_stage.get_or_insert_with(|| "GA".to_string());
    if service.traffic.is_empty() {
        service.traffic =
            vec![json!({ "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100 })];
    }
    let Some(t) = service.template.as_mut() else {
        return;
    };
    t.timeout.get_or_insert_with(|| DEFAULT_TIMEOUT.to_string());
    if t.max_instance_request_concurrency == 0 {
        t.max_instance_request_concurrency = DEFAULT_CONCURRENCY;
    }
    if t.service_account.is_empty() {
        t.service_account = format!("{project_number}-compute@developer.gserviceaccount.com");
    }
    if t.scaling.as_ref().is_none_or(|s| s.max_instance_count == 0) {
        let min = t.scaling.as_ref().map_or(0, |s| s.min_instance_count);
        t.scaling = Some(RevisionScaling {
            min_instance_count: min,
            max_instance_count: DEFAULT_MAX_INSTANCES,
        });
    }
    if let Some(vpc) = t.vpc_access.as_mut()
        && vpc
            .egress
            .as_deref()
            .is_none_or(|e| e == "VPC_EGRESS_UNSPECIFIED")
    {
        vpc.egress = Some("PRIVATE_RANGES_ONLY".to_string());
    }
    let single = t.containers.len() == 1;
    for c in &mut t.containers {
        if single && c.ports.is_empty() {
            c.ports.push(ContainerPort {
                name: "http1".to_string(),
                container_port: DEFAULT_PORT,
            });
        }
        if c.resources.is_none() {
            c.resources =
                Some(json!({ "limits": { "cpu": "1000m", "memory": "512Mi" }, "cpuIdle": true }));
        }
    }
}

impl Store {
    pub fn get(&self, name: &str) -> Result<&Stored, ApiError> {
        self.services.get(name).ok_or_else(|| not_found(name))
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut Stored, ApiError> {
        self.services.get_mut(name).ok_or_else(|| not_found(name))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.services.contains_key(name)
    }

    /// Services under `projects/P/locations/L` (`-` for every location).
    pub fn list(&self, project: &str, location: &str) -> Vec<Service> {
        let prefix = format!("projects/{project}/locations/");
        self.services
            .iter()
            .filter(|(n, _)| n.starts_with(&prefix))
            .filter(|(n, _)| {
                location == "-" || n.starts_with(&format!("{prefix}{location}/services/"))
            })
            .map(|(_, s)| s.service.clone())
            .collect()
    }

    pub fn insert(&mut self, service: Service) {
        self.services.insert(
            service.name.clone(),
            Stored {
                service,
                policy: Policy::empty(),
                deleting: false,
            },
        );
    }

    pub fn remove(&mut self, name: &str) -> Option<Stored> {
        self.services.remove(name)
    }

    /// Records that `name` was deleted: creates of it conflict until `until`.
    pub fn note_deleted(&mut self, name: &str, until: Instant) {
        self.deleted.insert(name.to_string(), until);
    }

    /// Whether a create of `name` still conflicts with its recent deletion.
    pub fn create_conflicts(&mut self, name: &str) -> bool {
        let now = Instant::now();
        self.deleted.retain(|_, until| *until > now);
        self.deleted.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apis::run::service::{Container, EnvVar, RevisionTemplate};

    fn service(image: &str) -> Service {
        Service {
            template: Some(RevisionTemplate {
                containers: vec![Container {
                    image: image.into(),
                    ..Container::default()
                }],
                ..RevisionTemplate::default()
            }),
            ..Service::default()
        }
    }

    #[test]
    fn ids_follow_the_rule() {
        check_id("chat").unwrap();
        assert!(check_id("Chat").is_err());
        assert!(check_id("chat-").is_err());
        assert!(check_id(&"a".repeat(50)).is_err());
        check_id(&"a".repeat(49)).unwrap();
    }

    #[test]
    fn spec_rules() {
        check_spec(&service("gcr.io/p/x")).unwrap();
        assert!(check_spec(&service("")).is_err());
        assert!(check_spec(&Service::default()).is_err());
        let mut s = service("gcr.io/p/x");
        let t = s.template.as_mut().unwrap();
        t.timeout = Some("3601s".into());
        assert!(check_spec(&s).is_err());
        let t = s.template.as_mut().unwrap();
        t.timeout = Some("3600s".into());
        t.max_instance_request_concurrency = 1001;
        assert!(check_spec(&s).is_err());
        let t = s.template.as_mut().unwrap();
        t.max_instance_request_concurrency = 1000;
        t.containers[0].env.push(EnvVar {
            name: "PORT".into(),
            value: Some("1".into()),
            value_source: None,
        });
        assert!(check_spec(&s).is_err());
    }

    #[test]
    fn the_hook_gets_image_env_port_scaling_affinity_and_timeout() {
        let mut s = service("gcr.io/p/x");
        let t = s.template.as_mut().unwrap();
        t.session_affinity = true;
        t.timeout = Some("3600s".into());
        t.scaling = Some(RevisionScaling {
            min_instance_count: 0,
            max_instance_count: 3,
        });
        t.containers[0].env.push(EnvVar {
            name: "REDIS_HOST".into(),
            value: Some("10.0.0.3".into()),
            value_source: None,
        });
        t.containers[0].ports.push(ContainerPort {
            name: String::new(),
            container_port: 3000,
        });
        let info = service_info("p", "us-central1", "chat", &s);
        assert_eq!(info.name, "projects/p/locations/us-central1/services/chat");
        assert_eq!(info.image, "gcr.io/p/x");
        assert_eq!(
            info.env,
            vec![("REDIS_HOST".to_string(), "10.0.0.3".to_string())]
        );
        assert_eq!(
            (
                info.container_port,
                info.max_instance_count,
                info.session_affinity,
                info.timeout_seconds
            ),
            (3000, 3, true, 3600)
        );
    }
}
