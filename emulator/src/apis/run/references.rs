//! What a Cloud Run service may reference, checked against the other APIs' stores: a READY
//! connector in the same region, or (Direct VPC egress) one network interface on a network and
//! a subnet of it in the service's region, a service account that exists and is visible, an image
//! Artifact Registry has (or a public one), and Secret Manager secrets its env reads
//! (`valueSource.secretKeyRef`) that exist and that the revision's account may access.

use super::service::Service;
use crate::apis::artifactregistry::model::ImageCheck;
use crate::error::ApiError;
use crate::world::World;

/// The checks against other resources made before answering: the connector and the service
/// account. (The image is checked when the revision starts, and fails the operation.)
pub fn check_references(
    w: &mut World,
    project: &str,
    location: &str,
    service: &Service,
) -> Result<(), ApiError> {
    let Some(template) = &service.template else {
        return Ok(());
    };
    if let Some(connector) = template
        .vpc_access
        .as_ref()
        .map(|v| v.connector.as_str())
        .filter(|c| !c.is_empty())
    {
        check_connector(w, location, connector)?;
    }
    if let Some(vpc) = &template.vpc_access {
        check_network_interfaces(w, project, location, &vpc.network_interfaces)?;
    }
    let email = template.service_account.as_str();
    let default_account = w
        .projects
        .get(project)
        .is_some_and(|p| email == format!("{}-compute@developer.gserviceaccount.com", p.number));
    if !email.is_empty() && !default_account && !w.iam.is_visible_email(email) {
        return Err(ApiError::permission_denied(format!(
            "Permission 'iam.serviceaccounts.actAs' denied on service account {email} (or it may not exist)."
        )));
    }
    secret_env(w, project, service).map(|_| ())
}

/// The values of every env var read from Secret Manager, `(name, value)`, as the revision would
/// get them; or Cloud Run's refusal: a secret (or version) that does not exist, or one the
/// revision's service account may not access (`secretmanager.versions.access` on the secret or
/// the project).
pub fn secret_env(
    w: &mut World,
    project: &str,
    service: &Service,
) -> Result<Vec<(String, String)>, ApiError> {
    let Some(template) = &service.template else {
        return Ok(Vec::new());
    };
    let (number, default_account) = match w.projects.ensure(project) {
        Ok(p) => (p.number, p.compute_default_account()),
        Err(e) => return Err(e),
    };
    let account = if template.service_account.is_empty() {
        default_account
    } else {
        template.service_account.clone()
    };
    let member = format!("serviceAccount:{account}");
    let mut values = Vec::new();
    for (i, container) in template.containers.iter().enumerate() {
        for (j, env) in container.env.iter().enumerate() {
            let Some(source) = &env.value_source else {
                continue;
            };
            let field =
                format!("spec.template.spec.containers[{i}].env[{j}].value_from.secret_key_ref");
            let reference = source.get("secretKeyRef").ok_or_else(|| {
                ApiError::invalid_argument(format!("{field}: valueSource must set secretKeyRef."))
            })?;
            let secret = reference
                .get("secret")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            let version = reference
                .get("version")
                .and_then(|s| s.as_str())
                .filter(|v| !v.is_empty())
                .unwrap_or("latest");
            let id = match secret.split('/').collect::<Vec<_>>()[..] {
                [id] if !id.is_empty() => id.to_string(),
                ["projects", p, "secrets", id] if p == project || p == number.to_string() => {
                    id.to_string()
                }
                _ => {
                    return Err(ApiError::invalid_argument(format!(
                        "{field}.name: \"{secret}\" must be a secret name, or projects/PROJECT/secrets/SECRET."
                    )));
                }
            };
            let name = crate::apis::secretmanager::model::secret_name(number, &id);
            let shown = format!("{name}/versions/{version}");
            let (_, data) = w.secretmanager.access(&name, version).map_err(|_| {
                ApiError::invalid_argument(format!("{field}.name: Secret {shown} was not found"))
            })?;
            let stored = w.secretmanager.get(&name)?;
            let project_policy = w.projects.get(project).map(|p| &p.policy);
            let granted = stored
                .policy
                .roles_of(&member)
                .chain(project_policy.into_iter().flat_map(|p| p.roles_of(&member)))
                .any(|role| crate::roles::grants(role, "secretmanager.versions.access"));
            if !granted {
                return Err(ApiError::invalid_argument(format!(
                    "{field}.name: Permission denied on secret: {shown} for Revision service account {account}. The service account used must be granted the 'Secret Manager Secret Accessor' role (roles/secretmanager.secretAccessor) at the secret, project or higher level."
                )));
            }
            values.push((
                env.name.clone(),
                String::from_utf8_lossy(&data).into_owned(),
            ));
        }
    }
    Ok(values)
}

fn check_connector(w: &mut World, location: &str, connector: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = connector.split('/').collect();
    let [_, project, _, region, _, id] = parts[..] else {
        return Err(ApiError::invalid_argument(format!(
            "VPC connector \"{connector}\" must be given as projects/PROJECT/locations/REGION/connectors/CONNECTOR."
        )));
    };
    let looks_right = parts[0] == "projects" && parts[2] == "locations" && parts[4] == "connectors";
    if !looks_right {
        return Err(ApiError::invalid_argument(format!(
            "VPC connector \"{connector}\" must be given as projects/PROJECT/locations/REGION/connectors/CONNECTOR."
        )));
    }
    if region != location {
        return Err(ApiError::invalid_argument(format!(
            "VPC connector {connector} is in {region}, but the service is in {location}: a service can only use a connector of its own region."
        )));
    }
    // The project may be given by number.
    let project_id = match w.projects.ensure(project) {
        Ok(p) => p.id.clone(),
        Err(_) => project.to_string(),
    };
    let name = format!("projects/{project_id}/locations/{region}/connectors/{id}");
    let found = w.vpcaccess.get(&name).map_err(|_| {
        ApiError::invalid_argument(format!(
            "VPC connector {connector} does not exist: create it (Serverless VPC Access) before deploying."
        ))
    })?;
    match found.state.as_deref() {
        Some("READY") => Ok(()),
        state => Err(ApiError::failed_precondition(format!(
            "VPC connector {connector} is not ready (state {}): wait until it is READY before deploying.",
            state.unwrap_or("STATE_UNSPECIFIED")
        ))),
    }
}

/// Direct VPC egress: one interface, naming a network or a subnet (or both); the subnet (by
/// default the one named like the network) must exist in the service's region and belong to
/// the network.
fn check_network_interfaces(
    w: &World,
    project: &str,
    location: &str,
    interfaces: &[serde_json::Value],
) -> Result<(), ApiError> {
    const FIELD: &str = "service.template.vpc_access.network_interfaces";
    if interfaces.len() > 1 {
        return Err(ApiError::invalid_argument(format!(
            "{FIELD}: only a single network interface is supported."
        )));
    }
    let Some(interface) = interfaces.first() else {
        return Ok(());
    };
    let text = |key: &str| interface.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let last = |reference: &str| reference.rsplit('/').next().unwrap_or("").to_string();
    let (network, subnet) = (last(text("network")), last(text("subnetwork")));
    if network.is_empty() && subnet.is_empty() {
        return Err(ApiError::invalid_argument(format!(
            "{FIELD}[0]: at least one of network or subnetwork must be specified."
        )));
    }
    let Some(stored) = w.projects.get(project) else {
        return Ok(());
    };
    let subnet = if subnet.is_empty() {
        network.clone()
    } else {
        subnet
    };
    let subnet_link = format!("projects/{project}/regions/{location}/subnetworks/{subnet}");
    if !network.is_empty() && !stored.networks.contains_key(&network) {
        return Err(ApiError::invalid_argument(format!(
            "{FIELD}[0].network: The network \"projects/{project}/global/networks/{network}\" was not found."
        )));
    }
    let owner = stored.networks.values().find(|n| {
        n.subnets
            .iter()
            .any(|s| s.name == subnet && s.region == location)
    });
    match owner {
        None => Err(ApiError::invalid_argument(format!(
            "{FIELD}[0].subnetwork: The subnetwork \"{subnet_link}\" was not found in region {location}."
        ))),
        Some(owner) if !network.is_empty() && owner.name != network => {
            Err(ApiError::invalid_argument(format!(
                "{FIELD}[0].subnetwork: The subnetwork \"{subnet_link}\" does not belong to the network \"projects/{project}/global/networks/{network}\"."
            )))
        }
        Some(_) => Ok(()),
    }
}

/// An image check for every container; the first one that is missing, if any.
pub fn missing_image(w: &World, service: &Service) -> Option<String> {
    service
        .template
        .as_ref()?
        .containers
        .iter()
        .find(|c| w.artifactregistry.check(&c.image) == ImageCheck::Missing)
        .map(|c| c.image.clone())
}
