//! `chatctl doctor`: the readiness report for `up`, reading only: credentials (type and
//! principal, never a secret), the quota project, APIs, the caller's permissions (the preflight
//! table), the network and organisation-policy effects it can detect (`org_policies`). Exit 0
//! when ready, 1 not.

pub mod org_policies;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::{Environment, Settings};
use crate::gcp::{self, Clients, Google};
use crate::outcome::{EXIT_FAILED, EXIT_OK};
use crate::preflight;
use crate::report::{OutputFormat, emit_json};

/// The application default credentials chatctl would use, as far as a file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsFound {
    /// `authorized_user`, `service_account`, `external_account`,
    /// `impersonated_service_account`, `metadata` (no file: the metadata server), `anonymous`
    /// (no file, with CHATCTL_API_ENDPOINT), or `none` (a file that cannot be used).
    pub kind: String,
    /// The account's email when the file names it (never a key, token or secret).
    pub principal: Option<String>,
    /// Where the file is, and which setting pointed there.
    pub file: Option<PathBuf>,
    pub source: &'static str,
    /// The file's `quota_project_id`, if any.
    pub quota_project_id: Option<String>,
    /// Why the file cannot be used, when it cannot.
    pub problem: Option<String>,
}

/// Reads what the credentials file says, keeping only the non-secret fields.
pub fn inspect_credentials(environment: &Environment) -> CredentialsFound {
    let (file, source) = match (&environment.credentials_file, &environment.gcloud_adc_file) {
        (Some(f), _) => (Some(f.clone()), "GOOGLE_APPLICATION_CREDENTIALS"),
        (None, Some(f)) if f.is_file() => {
            (Some(f.clone()), "gcloud application default credentials")
        }
        _ => (None, "none"),
    };
    let mut found = CredentialsFound {
        kind: if environment.api_endpoint.is_some() {
            "anonymous".into()
        } else {
            "metadata".into()
        },
        principal: None,
        file: file.clone(),
        source,
        quota_project_id: None,
        problem: None,
    };
    let Some(path) = file else {
        return found;
    };
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|_| format!("{} is not a JSON credentials file", path.display()))
        });
    let json = match parsed {
        Ok(json) => json,
        Err(problem) => {
            found.kind = "none".into();
            found.problem = Some(problem);
            return found;
        }
    };
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
    found.kind = text("type").unwrap_or_else(|| "unknown".into());
    found.quota_project_id = text("quota_project_id");
    found.principal = match found.kind.as_str() {
        "service_account" => text("client_email"),
        "authorized_user" => text("account").filter(|a| !a.is_empty()),
        "external_account" | "impersonated_service_account" => {
            text("service_account_impersonation_url").and_then(|url| impersonated(&url))
        }
        _ => None,
    };
    if !matches!(
        found.kind.as_str(),
        "service_account" | "authorized_user" | "external_account" | "impersonated_service_account"
    ) {
        found.problem = Some(format!(
            "{} has credentials of type `{}`, which chatctl cannot use",
            path.display(),
            found.kind
        ));
    }
    found
}

/// The email in `.../serviceAccounts/EMAIL:generateAccessToken`.
fn impersonated(url: &str) -> Option<String> {
    let rest = url.rsplit_once("/serviceAccounts/")?.1;
    Some(rest.split(':').next()?.to_string()).filter(|e| e.contains('@'))
}

/// One finding that blocks `up`, or a warning.
#[derive(Debug, Clone)]
struct Finding {
    check: &'static str,
    message: String,
    extra: Value,
}

impl Finding {
    fn new(check: &'static str, message: impl Into<String>) -> Self {
        Finding {
            check,
            message: message.into(),
            extra: json!({}),
        }
    }

    fn to_json(&self) -> Value {
        let mut value = json!({ "check": self.check, "message": self.message });
        if let (Some(map), Some(extra)) = (value.as_object_mut(), self.extra.as_object()) {
            map.extend(extra.clone());
        }
        value
    }
}

/// Runs every check and prints the report; the exit code says whether `up` can go ahead.
pub async fn run(settings: &Settings) -> anyhow::Result<u8> {
    let environment = &settings.environment;
    let project = settings.project.as_str();
    let mut problems: Vec<Finding> = Vec::new();
    let mut warnings: Vec<Finding> = Vec::new();

    let credentials = inspect_credentials(environment);
    if let Some(problem) = &credentials.problem {
        problems.push(Finding::new(
            "credentials",
            format!(
                "{problem}: point GOOGLE_APPLICATION_CREDENTIALS at a service-account key or \
                 run `gcloud auth application-default login`"
            ),
        ));
    } else if credentials.kind == "metadata" {
        warnings.push(Finding::new(
            "credentials",
            "no credentials file (GOOGLE_APPLICATION_CREDENTIALS is unset and gcloud has no \
             application default credentials): chatctl will ask the metadata server, which only \
             Google Cloud runtimes have; elsewhere run `gcloud auth application-default login`",
        ));
    }

    let quota_in_effect = gcp::quota_project(environment, Some(project));
    let quota_from = if environment.quota_project.is_some() {
        "GOOGLE_CLOUD_QUOTA_PROJECT"
    } else {
        "the target project"
    };
    if let Some(file_quota) = &credentials.quota_project_id
        && environment.quota_project.is_none()
        && file_quota != project
    {
        warnings.push(Finding::new(
            "quota-project",
            format!(
                "the credentials file names quota project {file_quota}; chatctl bills and \
                 checks its calls against {project} instead (set GOOGLE_CLOUD_QUOTA_PROJECT to \
                 choose another)"
            ),
        ));
    }

    let mut apis = json!({ "checked": false });
    let mut permissions = json!({ "checked": false, "missing": [] });
    let mut network = json!({ "name": settings.network, "exists": null });
    let mut subnet = Value::Null;
    let mut policies: Vec<org_policies::Judged> = Vec::new();

    match Clients::for_environment(environment, Some(project)).await {
        Err(e) => problems.push(Finding::new("credentials", format!("{e:#}"))),
        Ok(clients) => {
            let mut google = Google::new(
                clients,
                project,
                &settings.region,
                settings.timeout,
                environment.poll_floor,
                CancellationToken::new(),
            );
            // A report answers at once: no waiting out an API that is still disabled.
            google.waiting.retry.eventual_window = Duration::ZERO;
            google.waiting.retry.transient_window = Duration::from_secs(20);

            let services = crate::resources::apis::services(settings);
            let mut compute_disabled = false;
            match gcp::serviceusage::disabled(&google, &services).await {
                Ok(disabled) => {
                    compute_disabled = disabled.iter().any(|s| s == "compute.googleapis.com");
                    if !disabled.is_empty() {
                        warnings.push(Finding::new(
                            "apis",
                            format!(
                                "{} disabled: `up` enables {}",
                                disabled.join(", "),
                                if disabled.len() == 1 { "it" } else { "them" }
                            ),
                        ));
                    }
                    apis = json!({ "checked": true, "disabled": disabled });
                }
                Err(e) => problems.push(Finding::new(
                    "apis",
                    format!("cannot read which APIs are enabled: {e:#}"),
                )),
            }

            let findings = preflight::check(
                &google,
                settings,
                &preflight::needed(settings),
                &preflight::user_accounts(settings),
            )
            .await;
            for not_checked in &findings.unchecked {
                let finding = Finding::new(
                    "permissions",
                    format!(
                        "the permissions could not be checked: {:#}",
                        not_checked.error
                    ),
                );
                if not_checked.api_disabled {
                    warnings.push(finding);
                } else {
                    problems.push(finding);
                }
            }
            for m in &findings.missing {
                let mut finding = Finding::new(
                    "permissions",
                    format!(
                        "missing {} (granted by {}): needed to {}",
                        m.permission, m.role, m.why
                    ),
                );
                finding.extra = m.to_json();
                problems.push(finding);
            }
            permissions = json!({
                "checked": findings.unchecked.is_empty(),
                "missing": findings.missing.iter().map(preflight::Missing::to_json).collect::<Vec<_>>(),
            });

            if compute_disabled {
                warnings.push(Finding::new(
                    "network",
                    format!(
                        "network {} not checked: the Compute Engine API is disabled (`up` \
                         enables it; the default network can take a while to appear after that)",
                        settings.network
                    ),
                ));
            } else {
                match gcp::compute::network_exists(&google, &settings.network).await {
                    Ok(true) => network["exists"] = json!(true),
                    Ok(false) => {
                        network["exists"] = json!(false);
                        let hint = if settings.network == crate::config::DEFAULT_NETWORK {
                            " (projects under the organisation policy \
                             compute.skipDefaultNetworkCreation have no `default` network)"
                        } else {
                            ""
                        };
                        problems.push(Finding::new(
                            "network",
                            format!(
                                "network {} does not exist in project {project}{hint}: create \
                                 it (gcloud compute networks create {} --subnet-mode=auto \
                                 --project {project}) or pass --network NAME",
                                settings.network, settings.network
                            ),
                        ));
                    }
                    Err(e) => warnings.push(Finding::new(
                        "network",
                        format!("network {} not checked: {e:#}", settings.network),
                    )),
                }
            }

            if settings.egress == crate::config::Egress::Direct && !compute_disabled {
                subnet =
                    direct_egress_subnet(&google, settings, &mut problems, &mut warnings).await;
            }

            let network_exists = network["exists"].as_bool();
            match org_policies::check(&google, settings, network_exists).await {
                org_policies::Report::NotRead(note) => {
                    warnings.push(Finding::new("org-policies", note));
                }
                org_policies::Report::Read(judged) => policies = judged,
            }
            for judged in &policies {
                if judged.effect == org_policies::Effect::Problem {
                    let mut finding = Finding::new("org-policy", judged.message.clone());
                    finding.extra = judged.extra();
                    problems.push(finding);
                }
            }
        }
    }

    let ready = problems.is_empty();
    match settings.output {
        OutputFormat::Json => emit_json(&json!({
            "type": "doctor",
            "ready": ready,
            "project": project,
            "region": settings.region,
            "env": settings.names.env,
            "credentials": {
                "type": credentials.kind,
                "principal": credentials.principal,
                "source": credentials.source,
                "file": credentials.file.as_deref().map(Path::display).map(|d| d.to_string()),
            },
            "quota_project": { "in_effect": quota_in_effect, "from": quota_from, "credentials_file": credentials.quota_project_id },
            "apis": apis,
            "permissions": permissions,
            "network": network,
            "subnet": subnet,
            "orgPolicies": policies.iter().map(org_policies::Judged::to_json).collect::<Vec<_>>(),
            "problems": problems.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })),
        OutputFormat::Human => {
            eprintln!(
                "chatctl doctor: environment `{}` in project {project} ({})",
                settings.names.env, settings.region
            );
            eprintln!(
                "  credentials:   {}{}{}",
                credentials.kind,
                credentials
                    .principal
                    .as_deref()
                    .map(|p| format!(" as {p}"))
                    .unwrap_or_default(),
                credentials
                    .file
                    .as_deref()
                    .map(|f| format!(" ({}: {})", credentials.source, f.display()))
                    .unwrap_or_default()
            );
            eprintln!(
                "  quota project: {} (from {quota_from})",
                quota_in_effect.as_deref().unwrap_or("none")
            );
            for judged in policies
                .iter()
                .filter(|j| j.effect == org_policies::Effect::Info)
            {
                eprintln!("  i org-policy: {}", judged.message);
            }
            for w in &warnings {
                eprintln!("  ! {}: {}", w.check, w.message);
            }
            for p in &problems {
                eprintln!("  ✗ {}: {}", p.check, p.message);
            }
            if ready {
                eprintln!("✓ ready: `chatctl up` has what it needs");
            } else {
                let roles: std::collections::BTreeSet<&str> = findings_roles(&problems);
                eprintln!("✗ not ready: {} problem(s)", problems.len());
                if !roles.is_empty() {
                    eprintln!(
                        "  ask a project owner for: {}",
                        roles.into_iter().collect::<Vec<_>>().join(", ")
                    );
                }
            }
        }
    }
    Ok(if ready { EXIT_OK } else { EXIT_FAILED })
}

fn findings_roles(problems: &[Finding]) -> std::collections::BTreeSet<&str> {
    problems
        .iter()
        .filter_map(|p| p.extra.get("role").and_then(Value::as_str))
        .collect()
}

/// With --egress direct: `up`'s own subnet check (exists in the region, belongs to the
/// network, has room for the instances), its refusal a problem; the subnet as JSON.
async fn direct_egress_subnet(
    google: &Google,
    settings: &Settings,
    problems: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
) -> Value {
    use crate::resource::Resource as _;
    let ctx = crate::context::Ctx {
        google: google.clone(),
        settings: settings.clone(),
    };
    let out = crate::resource::Outputs::default();
    match crate::resources::egress_subnet::EgressSubnet
        .plan(&ctx, &out)
        .await
    {
        Ok(planned) => match planned.action {
            crate::resource::Action::Conflict { reason } => {
                problems.push(Finding::new("subnet", reason));
                json!({ "name": settings.subnet, "usable": false })
            }
            _ => json!({
                "name": settings.subnet,
                "usable": true,
                "range": out.get().egress_range,
            }),
        },
        Err(e) => {
            warnings.push(Finding::new(
                "subnet",
                format!("subnet {} not checked: {e:#}", settings.subnet),
            ));
            Value::Null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_give_their_type_and_principal_never_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, json: Value| {
            let path = dir.path().join(name);
            std::fs::write(&path, json.to_string()).unwrap();
            Environment {
                credentials_file: Some(path),
                ..Environment::default()
            }
        };
        let key = write(
            "key.json",
            json!({"type": "service_account", "client_email": "ci@p.iam.gserviceaccount.com",
                   "private_key": "-----BEGIN PRIVATE KEY-----secret"}),
        );
        let found = inspect_credentials(&key);
        assert_eq!(found.kind, "service_account");
        assert_eq!(
            found.principal.as_deref(),
            Some("ci@p.iam.gserviceaccount.com")
        );
        assert!(!format!("{found:?}").contains("secret"));

        let wif = write(
            "wif.json",
            json!({"type": "external_account", "audience": "//iam.googleapis.com/x",
                   "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/deployer@p.iam.gserviceaccount.com:generateAccessToken"}),
        );
        assert_eq!(
            inspect_credentials(&wif).principal.as_deref(),
            Some("deployer@p.iam.gserviceaccount.com")
        );

        let user = write(
            "adc.json",
            json!({"type": "authorized_user", "refresh_token": "1//secret", "client_secret": "s3",
                   "quota_project_id": "other-proj"}),
        );
        let found = inspect_credentials(&user);
        assert_eq!(found.kind, "authorized_user");
        assert_eq!(found.quota_project_id.as_deref(), Some("other-proj"));
        assert!(found.problem.is_none());

        let none = inspect_credentials(&Environment::default());
        assert_eq!(none.kind, "metadata");
        let broken = write("broken.json", json!("not an object"));
        assert!(inspect_credentials(&broken).problem.is_some());
    }
}
