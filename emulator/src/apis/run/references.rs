//! What a Cloud Run service may reference, checked against the other APIs' stores: a READY
//! connector in the same region, a service account that exists and is visible, and an image
//! Artifact Registry has (or a public one).

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
    Ok(())
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
