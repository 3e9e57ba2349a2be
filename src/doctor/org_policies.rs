//! The organisation-policy part of `chatctl doctor`: the effective policies of the constraints
//! that change what `up` does (Org Policy v2, best effort: a caller without
//! orgpolicy.policy.get, or with the API disabled, gets one note instead), each judged against
//! the settings: informational, fine, or a problem that stops `up` (its preflight asks
//! [`refusals`]).

use serde_json::{Value, json};

use crate::config::{Bus, Settings};
use crate::gcp::Google;
use crate::gcp::orgpolicy::{self, Policy, Read};

/// The settings of the Cloud Run service that org policies may refuse (templates/run-service.yaml:
/// `ingress: INGRESS_TRAFFIC_ALL`, the connector's `egress: PRIVATE_RANGES_ONLY`), as the
/// constraints `run.allowedIngress` and `run.allowedVPCEgress` spell them.
const INGRESS: &str = "all";
const VPC_EGRESS: &str = "private-ranges-only";

/// What a policy means for `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Not set, or set without consequence for `up`.
    Fine,
    /// It changes what `up` does, and `up` copes.
    Info,
    /// `up` would fail.
    Problem,
}

impl Effect {
    fn label(self) -> &'static str {
        match self {
            Effect::Fine => "ok",
            Effect::Info => "info",
            Effect::Problem => "problem",
        }
    }
}

/// One constraint, read and judged.
#[derive(Debug, Clone)]
pub struct Judged {
    pub constraint: &'static str,
    pub effect: Effect,
    pub message: String,
    policy: Policy,
}

impl Judged {
    pub fn to_json(&self) -> Value {
        json!({
            "constraint": format!("constraints/{}", self.constraint),
            "effect": self.effect.label(),
            "message": self.message,
            "spec": self.policy.spec,
        })
    }

    /// What the JSON problem entry carries besides the message.
    pub fn extra(&self) -> Value {
        json!({
            "constraint": format!("constraints/{}", self.constraint),
            "allowedValues": self.policy.allowed_values(),
        })
    }
}

/// The report: every constraint judged, or why none could be read.
pub enum Report {
    Read(Vec<Judged>),
    NotRead(String),
}

/// The constraints doctor reads, in the order it reports them.
const CONSTRAINTS: &[&str] = &[
    "gcp.resourceLocations",
    "iam.allowedPolicyMemberDomains",
    "compute.skipDefaultNetworkCreation",
    "iam.automaticIamGrantsForDefaultServiceAccounts",
    "run.allowedIngress",
    "run.allowedVPCEgress",
    "compute.vmExternalIpAccess",
    "compute.requireOsLogin",
];

/// The constraints [`judge`] can find a problem in: all `up`'s preflight reads.
const REFUSING: &[&str] = &[
    "gcp.resourceLocations",
    "run.allowedIngress",
    "run.allowedVPCEgress",
];

/// Reads (all at once) and judges every constraint; `network_exists`: what the network check
/// found.
pub async fn check(google: &Google, settings: &Settings, network_exists: Option<bool>) -> Report {
    read_and_judge(google, settings, CONSTRAINTS, network_exists).await
}

/// Reads (all at once) and judges `constraints`.
async fn read_and_judge(
    google: &Google,
    settings: &Settings,
    constraints: &[&'static str],
    network_exists: Option<bool>,
) -> Report {
    let reads = futures::future::join_all(
        constraints
            .iter()
            .map(|constraint| orgpolicy::effective(google, constraint)),
    )
    .await;
    let mut judged = Vec::new();
    for (constraint, read) in constraints.iter().zip(reads) {
        let policy = match read {
            Ok(Read::Policy(policy)) => policy,
            Ok(Read::Denied) => {
                return Report::NotRead(format!(
                    "organisation policies not read: the caller lacks {} (granted by {}); \
                     doctor cannot tell whether one refuses what `up` creates",
                    orgpolicy::PERMISSION,
                    orgpolicy::VIEWER
                ));
            }
            Ok(Read::Disabled { consumer }) => {
                return Report::NotRead(format!(
                    "organisation policies not read: the Organization Policy API is disabled for \
                     {consumer}; enable it (`gcloud services enable {} --project {}`) to let \
                     doctor read them",
                    orgpolicy::SERVICE,
                    google.project
                ));
            }
            Err(e) => return Report::NotRead(format!("organisation policies not read: {e:#}")),
        };
        let (effect, message) = judge(constraint, &policy, settings, network_exists);
        judged.push(Judged {
            constraint,
            effect,
            message,
            policy,
        });
    }
    Report::Read(judged)
}

/// What the effective policies refuse of what `up` would create (each Problem's message), for
/// `up`'s preflight; nothing when they cannot be read (the create itself is then refused, with
/// the fix).
pub async fn refusals(google: &Google, settings: &Settings) -> Vec<String> {
    match read_and_judge(google, settings, REFUSING, None).await {
        Report::Read(judged) => judged
            .into_iter()
            .filter(|j| j.effect == Effect::Problem)
            .map(|j| j.message)
            .collect(),
        Report::NotRead(_) => Vec::new(),
    }
}

/// What `policy` of `constraint` means for `up` with these settings.
fn judge(
    constraint: &str,
    policy: &Policy,
    settings: &Settings,
    network_exists: Option<bool>,
) -> (Effect, String) {
    let allowed = || {
        let values = policy.allowed_values();
        if values.is_empty() {
            "none".to_string()
        } else {
            values.join(", ")
        }
    };
    let region = &settings.region;
    match constraint {
        "gcp.resourceLocations" if !policy.allows(|v| orgpolicy::names_region(v, region)) => (
            Effect::Problem,
            format!(
                "region {region} is not allowed by the organisation policy \
                 constraints/gcp.resourceLocations (allowed: {}): choose an allowed region with \
                 --region, or ask an organisation policy administrator to allow {region}",
                allowed()
            ),
        ),
        "gcp.resourceLocations" if policy.restricts() => (
            Effect::Fine,
            format!("region {region} is allowed (allowed: {})", allowed()),
        ),
        "iam.allowedPolicyMemberDomains" if policy.restricts() => (
            Effect::Info,
            if settings.allow_unauthenticated {
                format!(
                    "Domain Restricted Sharing (allowed customers: {}) refuses `allUsers`: \
                     `up` makes the service public by turning its invoker check off \
                     (invokerIamDisabled) instead",
                    allowed()
                )
            } else {
                "Domain Restricted Sharing refuses `allUsers`; the service is not public \
                 (--no-allow-unauthenticated), so `up` is not affected"
                    .to_string()
            },
        ),
        "compute.skipDefaultNetworkCreation" if policy.enforced() => (
            Effect::Info,
            if network_exists == Some(false) && settings.network == crate::config::DEFAULT_NETWORK {
                "projects here are created without the `default` network, which is why it is \
                 missing: create a network or pass --network NAME"
                    .to_string()
            } else {
                format!(
                    "projects here are created without the `default` network; `up` uses \
                     network {}",
                    settings.network
                )
            },
        ),
        "iam.automaticIamGrantsForDefaultServiceAccounts" if policy.enforced() => (
            Effect::Info,
            format!(
                "the default service accounts get no roles: `up` does not rely on them (Cloud \
                 Build runs as {}, granted roles/run.builder)",
                settings
                    .build_service_account
                    .clone()
                    .unwrap_or_else(|| format!("chatctl's {}", settings.names.build_account_id))
            ),
        ),
        "run.allowedIngress" if !policy.allows(|v| v.trim_start_matches("is:") == INGRESS) => (
            Effect::Problem,
            format!(
                "Cloud Run ingress `{INGRESS}`, which the chat service needs (browsers reach it \
                 from the internet), is not allowed by constraints/run.allowedIngress (allowed: \
                 {}): ask an organisation policy administrator to allow `{INGRESS}` for project {}",
                allowed(),
                settings.project
            ),
        ),
        "run.allowedVPCEgress" if !policy.allows(|v| v.trim_start_matches("is:") == VPC_EGRESS) => {
            (
                Effect::Problem,
                format!(
                    "Cloud Run VPC egress `{VPC_EGRESS}`, which the chat service uses to reach its \
                 bus, is not allowed by constraints/run.allowedVPCEgress (allowed: {}): ask an \
                 organisation policy administrator to allow `{VPC_EGRESS}` for project {}",
                    allowed(),
                    settings.project
                ),
            )
        }
        "compute.vmExternalIpAccess" if policy.restricts() => (
            Effect::Fine,
            if settings.bus == Bus::Nats {
                "VMs may not have external IPs: the NATS VM has none".to_string()
            } else {
                "VMs may not have external IPs: `up` creates no VM with --bus redis".to_string()
            },
        ),
        "compute.requireOsLogin" if policy.enforced() => (
            Effect::Fine,
            "OS Login is required on VMs: `up` never logs in to one".to_string(),
        ),
        _ => (Effect::Fine, "not restricted".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{GlobalArgs, StackArgs};

    fn settings(region: &str) -> Settings {
        let global = GlobalArgs {
            project: Some("acme-1".into()),
            region: Some(region.into()),
            ..GlobalArgs::default()
        };
        crate::config::resolve(&global, &StackArgs::default(), &|_| None).expect("settings")
    }

    fn policy(spec: Value) -> Policy {
        Policy::from_json(&json!({ "spec": spec }))
    }

    #[test]
    fn a_region_outside_the_allowed_locations_is_a_problem_naming_both() {
        let us_only =
            policy(json!({"rules": [{"values": {"allowedValues": ["in:us-locations"]}}]}));
        let (effect, message) = judge(
            "gcp.resourceLocations",
            &us_only,
            &settings("europe-west1"),
            None,
        );
        assert_eq!(effect, Effect::Problem);
        assert!(message.contains("europe-west1") && message.contains("in:us-locations"));
        assert!(message.contains("--region"), "{message}");
        let (effect, _) = judge(
            "gcp.resourceLocations",
            &us_only,
            &settings("us-east1"),
            None,
        );
        assert_eq!(effect, Effect::Fine);
    }

    #[test]
    fn only_the_refusing_constraints_can_be_a_problem() {
        let s = settings("us-central1");
        let strict = [
            json!({"rules": [{"denyAll": true}]}),
            json!({"rules": [{"enforce": true}]}),
            json!({"rules": [{"values": {"allowedValues": ["nothing-we-use"]}}]}),
        ];
        for constraint in CONSTRAINTS {
            let problem = strict.iter().any(|spec| {
                judge(constraint, &policy(spec.clone()), &s, Some(false)).0 == Effect::Problem
            });
            assert_eq!(problem, REFUSING.contains(constraint), "{constraint}");
        }
    }

    #[test]
    fn cloud_runs_settings_are_judged_against_its_constraints() {
        let internal = policy(json!({"rules": [{"values": {"allowedValues": ["internal"]}}]}));
        let s = settings("us-central1");
        assert_eq!(
            judge("run.allowedIngress", &internal, &s, None).0,
            Effect::Problem
        );
        let all_traffic =
            policy(json!({"rules": [{"values": {"allowedValues": ["all-traffic"]}}]}));
        assert_eq!(
            judge("run.allowedVPCEgress", &all_traffic, &s, None).0,
            Effect::Problem
        );
        let private =
            policy(json!({"rules": [{"values": {"allowedValues": ["private-ranges-only"]}}]}));
        assert_eq!(
            judge("run.allowedVPCEgress", &private, &s, None).0,
            Effect::Fine
        );
        let drs = policy(json!({"rules": [{"values": {"allowedValues": ["C0acme1"]}}]}));
        let (effect, message) = judge("iam.allowedPolicyMemberDomains", &drs, &s, None);
        assert_eq!(effect, Effect::Info);
        assert!(message.contains("invokerIamDisabled"), "{message}");
        let unset = policy(json!({"rules": [{"enforce": false}]}));
        assert_eq!(
            judge(
                "compute.skipDefaultNetworkCreation",
                &unset,
                &s,
                Some(false)
            ),
            (Effect::Fine, "not restricted".to_string())
        );
    }
}
