//! Builds and their rules: what a create must carry (steps, a valid timeout, a logging choice
//! when a service account is named), and what running one means here: fetch the source object
//! from the emulated Storage, check every image in `images` is built by a step, push each to
//! the emulated Artifact Registry with a digest derived from the source bytes and the image
//! name, and write a log that says what happened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::apis::artifactregistry::model::Store as Registry;
use crate::apis::storage::model::Store as Storage;
use crate::error::ApiError;

/// google.devtools.cloudbuild.v1.Build, as sent and stored (enums as names).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Build {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status_detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub logs_bucket: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_provenance: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub build_trigger_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub substitutions: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_secrets: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Source {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_source: Option<StorageSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_source: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_source: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_source_manifest: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_repository: Option<Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct StorageSource {
    pub bucket: String,
    pub object: String,
    /// int64, sent as a string (or a number by some clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_fetcher: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Step {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dir: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wait_for: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub entrypoint: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_timing: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_failure: bool,
    #[serde(skip_serializing_if = "is_zero")]
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_exit_codes: Vec<i32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub script: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automap_substitutions: Option<bool>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// Cloud Build's limits on a build's `timeout`.
const MAX_TIMEOUT_SECONDS: f64 = 24.0 * 3600.0;
const DEFAULT_TIMEOUT: &str = "3600s";
/// Source archives Cloud Build can unpack.
const ARCHIVE_SUFFIXES: &[&str] = &[".tar.gz", ".tgz", ".zip"];

/// A stored build, its log and its operation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub build: Build,
    pub log: String,
    /// How much of `log` is in Cloud Logging already (whole lines only).
    #[serde(skip)]
    pub logged: usize,
    pub operation: String,
    /// Creation order (timestamps can tie), for listing newest first.
    #[serde(skip)]
    pub sequence: u64,
}

/// Builds by id.
#[derive(Default, Serialize)]
pub struct Store {
    builds: BTreeMap<String, Stored>,
    #[serde(skip)]
    created: u64,
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Build {id} not found."))
}

/// The location in a build's name, `projects/N/locations/LOCATION/builds/ID`.
fn location_of(build: &Build) -> &str {
    build
        .name
        .split_once("/locations/")
        .and_then(|(_, rest)| rest.split_once("/builds/"))
        .map_or("global", |(location, _)| location)
}

/// The checks Cloud Build makes before accepting a build.
pub fn validate(build: &Build, project: &str) -> Result<(), ApiError> {
    if build.steps.is_empty() {
        return Err(ApiError::invalid_argument(
            "invalid build: no build steps: a build needs at least one step (e.g. gcr.io/cloud-builders/docker).",
        ));
    }
    if let Some(i) = build.steps.iter().position(|s| s.name.trim().is_empty()) {
        return Err(ApiError::invalid_argument(format!(
            "invalid build: step {i} has no name: set the builder image of every step."
        )));
    }
    let timeout = build.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT);
    let seconds = crate::json::parse_duration(timeout)?;
    if !(1.0..=MAX_TIMEOUT_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid_argument(format!(
            "invalid build: timeout {timeout} must be between 1s and 86400s (24 hours)."
        )));
    }
    if let Some(s) = build
        .source
        .as_ref()
        .and_then(|s| s.storage_source.as_ref())
    {
        if s.bucket.is_empty() || s.object.is_empty() {
            return Err(ApiError::invalid_argument(
                "invalid build: source.storageSource needs both bucket and object.",
            ));
        }
        if !ARCHIVE_SUFFIXES.iter().any(|x| s.object.ends_with(x)) {
            return Err(ApiError::invalid_argument(format!(
                "invalid build: source object gs://{}/{} must be a .tar.gz, .tgz or .zip archive.",
                s.bucket, s.object
            )));
        }
    }
    if !build.service_account.is_empty() {
        let email = build
            .service_account
            .strip_prefix(&format!("projects/{project}/serviceAccounts/"))
            .or_else(|| {
                build
                    .service_account
                    .strip_prefix("projects/-/serviceAccounts/")
            });
        if email.is_none_or(|e| !e.contains('@')) {
            return Err(ApiError::invalid_argument(format!(
                "invalid build: service account {} must be projects/{project}/serviceAccounts/EMAIL.",
                build.service_account
            )));
        }
        let logging = build
            .options
            .as_ref()
            .and_then(|o| o.get("logging"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let user_bucket = build
            .options
            .as_ref()
            .and_then(|o| o.get("defaultLogsBucketBehavior"))
            .is_some();
        if build.logs_bucket.is_empty()
            && !user_bucket
            && !matches!(logging, "CLOUD_LOGGING_ONLY" | "NONE")
        {
            return Err(ApiError::invalid_argument(
                "invalid build: if 'build.service_account' is specified, the build must either (a) specify 'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET build.options.default_logs_bucket_behavior option, or (c) use either CLOUD_LOGGING_ONLY / NONE logging options",
            ));
        }
    }
    Ok(())
}

/// Whether a step of the build produces `image` (`docker build -t IMAGE`, `--tag=IMAGE`, or
/// the image named as an argument of a builder such as `gcr.io/k8s-skaffold/pack`).
fn built_by_steps(build: &Build, image: &str) -> bool {
    build.steps.iter().any(|step| {
        step.args.iter().any(|a| {
            a == image
                || a.strip_prefix("--tag=").is_some_and(|t| t == image)
                || a.strip_prefix("-t=").is_some_and(|t| t == image)
        })
    })
}

/// The account a build runs as and what it may do, for projects whose build accounts are
/// modelled (described projects); `None` runs builds unchecked.
#[derive(Clone, Debug)]
pub struct RunAs {
    /// `projects/P/serviceAccounts/EMAIL` (how Cloud Build names it in messages).
    pub account: String,
    pub email: String,
    /// `logging.logEntries.create`, or `None` when the build writes no Cloud Logging entries
    /// (logging NONE or GCS_ONLY).
    pub write_logs: Option<bool>,
    /// `storage.objects.get`.
    pub read_source: bool,
    /// `artifactregistry.repositories.uploadArtifacts`.
    pub push: bool,
}

/// The build's logging mode writes to Cloud Logging (everything but NONE and GCS_ONLY).
pub fn writes_cloud_logging(build: &Build) -> bool {
    let mode = build
        .options
        .as_ref()
        .and_then(|o| o.get("logging"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    !matches!(mode, "NONE" | "GCS_ONLY")
}

/// `projects/P/locations/L/repositories/R` of an Artifact Registry image
/// (`L-docker.pkg.dev/P/R/IMAGE[:TAG]`), for messages.
fn repository_of(image: &str) -> String {
    let parts: Vec<&str> = image.splitn(4, '/').collect();
    match parts[..] {
        [host, project, repo, _] if host.ends_with("-docker.pkg.dev") => format!(
            "projects/{project}/locations/{}/repositories/{repo}",
            host.trim_end_matches("-docker.pkg.dev")
        ),
        _ => image.to_string(),
    }
}

/// What running a build came to.
pub struct Outcome {
    pub success: bool,
    pub build: Build,
}

impl Store {
    pub fn insert(&mut self, build: Build, operation: String) {
        let log = format!("starting build \"{}\"\n", build.id);
        self.created += 1;
        self.builds.insert(
            build.id.clone(),
            Stored {
                build,
                log,
                logged: 0,
                operation,
                sequence: self.created,
            },
        );
    }

    /// The builds of `project` in `location` (`global` for the global endpoint), newest first.
    pub fn list(&self, project: &str, location: &str) -> Vec<Build> {
        let mut found: Vec<&Stored> = self
            .builds
            .values()
            .filter(|s| s.build.project_id == project && location_of(&s.build) == location)
            .collect();
        found.sort_by_key(|s| std::cmp::Reverse(s.sequence));
        found.into_iter().map(|s| s.build.clone()).collect()
    }

    /// A build of `project` by id.
    pub fn get(&self, project: &str, id: &str) -> Result<&Stored, ApiError> {
        self.builds
            .get(id)
            .filter(|s| s.build.project_id == project)
            .ok_or_else(|| not_found(id))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Stored> {
        self.builds.get_mut(id)
    }

    /// QUEUED → WORKING (nothing happens to a build already finished or cancelled).
    pub fn start(&mut self, id: &str) -> Option<Build> {
        let stored = self.builds.get_mut(id)?;
        if stored.build.status.as_deref() != Some("QUEUED") {
            return None;
        }
        stored.build.status = Some("WORKING".to_string());
        stored.build.start_time = Some(crate::json::now_timestamp());
        stored.log.push_str("\nFETCHSOURCE\n");
        Some(stored.build.clone())
    }

    /// Runs the build against the source in `storage`, pushing into `registry`.
    pub fn execute(
        &mut self,
        id: &str,
        storage: &Storage,
        registry: &mut Registry,
        run_as: Option<&RunAs>,
    ) -> Option<Outcome> {
        let stored = self.builds.get_mut(id)?;
        if matches!(
            stored.build.status.as_deref(),
            Some("CANCELLED") | Some("SUCCESS") | Some("FAILURE")
        ) {
            return None;
        }
        let result = run(&stored.build, storage, registry, run_as, &mut stored.log);
        let build = &mut stored.build;
        build.finish_time = Some(crate::json::now_timestamp());
        let success = match result {
            Ok(results) => {
                build.status = Some("SUCCESS".to_string());
                build.results = Some(results);
                for step in &mut build.steps {
                    step.status = Some("SUCCESS".to_string());
                }
                stored.log.push_str("DONE\n");
                true
            }
            Err((kind, detail)) => {
                build.status = Some("FAILURE".to_string());
                build.status_detail = detail.clone();
                build.failure_info = Some(json!({ "type": kind, "detail": detail }));
                stored.log.push_str(&format!("ERROR: {detail}\n"));
                false
            }
        };
        Some(Outcome {
            success,
            build: build.clone(),
        })
    }

    /// The whole lines of a build's log not handed to Cloud Logging yet, with its project;
    /// they count as handed over.
    pub fn take_unlogged(&mut self, id: &str) -> Option<(String, Vec<String>)> {
        let stored = self.builds.get_mut(id)?;
        let fresh = &stored.log[stored.logged..];
        let whole = fresh.rfind('\n').map_or(0, |at| at + 1);
        let lines = fresh[..whole]
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_string)
            .collect();
        stored.logged += whole;
        Some((stored.build.project_id.clone(), lines))
    }

    /// Cancels a build that has not finished.
    pub fn cancel(&mut self, project: &str, id: &str) -> Result<Build, ApiError> {
        self.get(project, id)?;
        let stored = self.builds.get_mut(id).ok_or_else(|| not_found(id))?;
        if matches!(
            stored.build.status.as_deref(),
            Some("QUEUED") | Some("WORKING") | Some("PENDING")
        ) {
            stored.build.status = Some("CANCELLED".to_string());
            stored.build.finish_time = Some(crate::json::now_timestamp());
            stored.log.push_str("CANCELLED\n");
        }
        Ok(stored.build.clone())
    }
}

/// The build's steps as the emulator plays them; `Err((failure type, detail))` on failure.
fn run(
    build: &Build,
    storage: &Storage,
    registry: &mut Registry,
    run_as: Option<&RunAs>,
    log: &mut String,
) -> Result<Value, (&'static str, String)> {
    if let Some(r) = run_as
        && r.write_logs == Some(false)
    {
        return Err((
            "LOGGING_FAILURE",
            format!(
                "The service account running this build {} does not have permission to write logs to Cloud Logging. To fix this, grant the Logs Writer (roles/logging.logWriter) role to the service account.",
                r.account
            ),
        ));
    }
    let source_bytes = match build
        .source
        .as_ref()
        .and_then(|s| s.storage_source.as_ref())
    {
        Some(s) => {
            let generation = s.generation.as_ref().and_then(|g| match g {
                Value::String(t) => t.parse::<i64>().ok(),
                other => other.as_i64(),
            });
            let gen_text = generation.map(|g| format!("#{g}")).unwrap_or_default();
            log.push_str(&format!(
                "Fetching storage object: gs://{}/{}{gen_text}\n",
                s.bucket, s.object
            ));
            if let Some(r) = run_as.filter(|r| !r.read_source) {
                return Err((
                    "FETCH_SOURCE_FAILED",
                    format!(
                        "AccessDeniedException: 403 {} does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).",
                        r.email
                    ),
                ));
            }
            let object = storage
                .object(&s.bucket, &s.object, generation)
                .map_err(|_| {
                    (
                        "FETCH_SOURCE_FAILED",
                        format!(
                            "failed to fetch the source: storage object gs://{}/{}{gen_text} does not exist (upload it before starting the build)",
                            s.bucket, s.object
                        ),
                    )
                })?;
            log.push_str(&format!(
                "Copying gs://{}/{}{gen_text}... {} bytes\n",
                s.bucket, s.object, object.size
            ));
            object.data.as_ref().clone()
        }
        None => serde_json::to_vec(&build.steps).unwrap_or_default(),
    };
    for (i, step) in build.steps.iter().enumerate() {
        log.push_str(&format!(
            "BUILD\nStep #{i}: {} {}\n",
            step.name,
            step.args.join(" ")
        ));
    }
    let mut images = Vec::new();
    if !build.images.is_empty() {
        log.push_str("PUSH\n");
    }
    for image in &build.images {
        if !built_by_steps(build, image) {
            return Err((
                "PUSH_IMAGE_NOT_FOUND",
                format!(
                    "failed to find one or more images after execution of build steps: [\"{image}\"]"
                ),
            ));
        }
        let base = image.split(['@']).next().unwrap_or(image);
        let name_only = base
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or(base, |(n, _)| n);
        let mut input = source_bytes.clone();
        input.push(b'\n');
        input.extend_from_slice(name_only.as_bytes());
        let digest = super::sha256_digest(&input);
        log.push_str(&format!("Pushing {image}\n"));
        if run_as.is_some_and(|r| !r.push) {
            return Err((
                "PUSH_NOT_AUTHORIZED",
                format!(
                    "denied: Permission \"artifactregistry.repositories.uploadArtifacts\" denied on resource \"{}\" (or it may not exist)",
                    repository_of(image)
                ),
            ));
        }
        registry
            .push(image, &digest, source_bytes.len() as u64)
            .map_err(|e| ("PUSH_FAILED", format!("failed to push {image}: {e}")))?;
        log.push_str(&format!("{image}: digest: {digest}\n"));
        images.push(json!({ "name": image, "digest": digest }));
    }
    let step_images: Vec<Value> = build.steps.iter().map(|_| json!("")).collect();
    let mut results = json!({ "buildStepImages": step_images, "buildStepOutputs": step_images });
    if !images.is_empty() {
        results["images"] = Value::Array(images);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(args: &[&str]) -> Step {
        Step {
            name: "gcr.io/cloud-builders/docker".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Step::default()
        }
    }

    #[test]
    fn builds_need_steps_a_sane_timeout_and_a_log_choice_with_a_service_account() {
        let mut b = Build::default();
        assert!(validate(&b, "p").is_err());
        b.steps.push(step(&["build", "-t", "x", "."]));
        validate(&b, "p").unwrap();
        b.timeout = Some("100000s".into());
        assert!(validate(&b, "p").is_err());
        b.timeout = None;
        b.service_account = "projects/p/serviceAccounts/b@p.iam.gserviceaccount.com".into();
        assert!(validate(&b, "p").is_err());
        b.options = Some(json!({"logging": "CLOUD_LOGGING_ONLY"}));
        validate(&b, "p").unwrap();
    }

    #[test]
    fn images_must_be_built_by_a_step() {
        let mut b = Build::default();
        b.steps
            .push(step(&["build", "-t", "us-docker.pkg.dev/p/r/i:v1", "."]));
        assert!(built_by_steps(&b, "us-docker.pkg.dev/p/r/i:v1"));
        assert!(!built_by_steps(&b, "us-docker.pkg.dev/p/r/other:v1"));
    }
}
