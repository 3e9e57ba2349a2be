//! Predefined IAM roles and the permissions they grant, for the roles chatctl and its build
//! accounts need (from Google's role reference, cloud.google.com/iam/docs/roles-permissions).
//! Permissions are listed whole or as `service.*` / `service.collection.*` wildcards, as the
//! reference writes them. Basic roles are rules: Owner grants everything; Editor everything but
//! `*.setIamPolicy` (and other IAM administration); Viewer the `get`/`list`/`getIamPolicy` reads
//! outside data access.

/// Each role with the permissions it grants.
static ROLES: &[(&str, &[&str])] = &[
    (
        "roles/run.admin",
        &[
            "run.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/run.builder",
        &[
            "artifactregistry.repositories.deleteArtifacts",
            "artifactregistry.repositories.downloadArtifacts",
            "artifactregistry.repositories.uploadArtifacts",
            "logging.logEntries.create",
            "source.repos.get",
            "storage.objects.get",
        ],
    ),
    (
        "roles/run.sourceDeveloper",
        &[
            "run.services.create",
            "run.services.get",
            "run.services.list",
            "run.services.update",
            "run.operations.get",
            "run.operations.list",
            "cloudbuild.builds.create",
            "cloudbuild.builds.get",
            "cloudbuild.builds.list",
            "artifactregistry.repositories.create",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.list",
            "storage.buckets.create",
            "storage.buckets.get",
            "storage.objects.create",
            "storage.objects.get",
            "resourcemanager.projects.get",
        ],
    ),
    (
        "roles/redis.admin",
        &[
            "redis.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/vpcaccess.admin",
        &[
            "vpcaccess.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/iam.serviceAccountAdmin",
        &[
            "iam.serviceAccounts.create",
            "iam.serviceAccounts.delete",
            "iam.serviceAccounts.disable",
            "iam.serviceAccounts.enable",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.getIamPolicy",
            "iam.serviceAccounts.list",
            "iam.serviceAccounts.setIamPolicy",
            "iam.serviceAccounts.undelete",
            "iam.serviceAccounts.update",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/iam.serviceAccountUser",
        &[
            "iam.serviceAccounts.actAs",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.list",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/iam.serviceAccountKeyAdmin",
        &[
            "iam.serviceAccountKeys.*",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.list",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/resourcemanager.projectIamAdmin",
        &[
            "iam.policybindings.*",
            "resourcemanager.projects.createPolicyBinding",
            "resourcemanager.projects.deletePolicyBinding",
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.searchPolicyBindings",
            "resourcemanager.projects.setIamPolicy",
            "resourcemanager.projects.updatePolicyBinding",
        ],
    ),
    (
        "roles/serviceusage.serviceUsageAdmin",
        &[
            "serviceusage.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/serviceusage.serviceUsageConsumer",
        &[
            "serviceusage.quotas.get",
            "serviceusage.services.get",
            "serviceusage.services.list",
            "serviceusage.services.use",
        ],
    ),
    (
        "roles/serviceusage.serviceUsageViewer",
        &[
            "serviceusage.quotas.get",
            "serviceusage.services.get",
            "serviceusage.services.list",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/artifactregistry.admin",
        &[
            "artifactregistry.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/artifactregistry.writer",
        &[
            "artifactregistry.dockerimages.get",
            "artifactregistry.dockerimages.list",
            "artifactregistry.files.get",
            "artifactregistry.files.list",
            "artifactregistry.locations.get",
            "artifactregistry.locations.list",
            "artifactregistry.packages.get",
            "artifactregistry.packages.list",
            "artifactregistry.repositories.downloadArtifacts",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.list",
            "artifactregistry.repositories.listEffectiveTags",
            "artifactregistry.repositories.listTagBindings",
            "artifactregistry.repositories.readViaVirtualRepository",
            "artifactregistry.repositories.uploadArtifacts",
            "artifactregistry.tags.create",
            "artifactregistry.tags.get",
            "artifactregistry.tags.list",
            "artifactregistry.tags.update",
            "artifactregistry.versions.get",
            "artifactregistry.versions.list",
        ],
    ),
    (
        "roles/artifactregistry.reader",
        &[
            "artifactregistry.dockerimages.get",
            "artifactregistry.dockerimages.list",
            "artifactregistry.files.get",
            "artifactregistry.files.list",
            "artifactregistry.locations.get",
            "artifactregistry.locations.list",
            "artifactregistry.packages.get",
            "artifactregistry.packages.list",
            "artifactregistry.repositories.downloadArtifacts",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.list",
            "artifactregistry.tags.get",
            "artifactregistry.tags.list",
            "artifactregistry.versions.get",
            "artifactregistry.versions.list",
        ],
    ),
    (
        "roles/storage.admin",
        &[
            "storage.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/storage.objectAdmin",
        &["storage.objects.*", "storage.managedFolders.*"],
    ),
    (
        "roles/storage.objectViewer",
        &[
            "storage.folders.get",
            "storage.folders.list",
            "storage.managedFolders.get",
            "storage.managedFolders.list",
            "storage.objects.get",
            "storage.objects.list",
        ],
    ),
    (
        "roles/cloudbuild.builds.editor",
        &[
            "cloudbuild.builds.create",
            "cloudbuild.builds.get",
            "cloudbuild.builds.list",
            "cloudbuild.builds.update",
            "cloudbuild.operations.get",
            "cloudbuild.operations.list",
            "remotebuildexecution.blobs.get",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/cloudbuild.builds.viewer",
        &[
            "cloudbuild.builds.get",
            "cloudbuild.builds.list",
            "cloudbuild.operations.get",
            "cloudbuild.operations.list",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    // What the legacy Cloud Build account (PROJECT_NUMBER@cloudbuild.gserviceaccount.com) holds.
    (
        "roles/cloudbuild.builds.builder",
        &[
            "artifactregistry.*",
            "cloudbuild.builds.*",
            "cloudbuild.workerpools.use",
            "containeranalysis.occurrences.*",
            "logging.logEntries.create",
            "logging.logEntries.list",
            "logging.views.access",
            "pubsub.topics.create",
            "pubsub.topics.publish",
            "remotebuildexecution.blobs.get",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
            "source.repos.get",
            "source.repos.list",
            "storage.buckets.create",
            "storage.buckets.get",
            "storage.buckets.list",
            "storage.objects.create",
            "storage.objects.delete",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.update",
        ],
    ),
    (
        "roles/compute.networkViewer",
        &[
            "compute.addresses.get",
            "compute.addresses.list",
            "compute.firewalls.get",
            "compute.firewalls.list",
            "compute.globalAddresses.get",
            "compute.globalAddresses.list",
            "compute.globalOperations.get",
            "compute.globalOperations.list",
            "compute.networks.get",
            "compute.networks.list",
            "compute.regionOperations.get",
            "compute.regionOperations.list",
            "compute.regions.get",
            "compute.regions.list",
            "compute.routes.get",
            "compute.routes.list",
            "compute.subnetworks.get",
            "compute.subnetworks.list",
            "compute.zones.get",
            "compute.zones.list",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/compute.networkAdmin",
        &[
            "compute.addresses.*",
            "compute.firewalls.get",
            "compute.firewalls.list",
            "compute.globalAddresses.*",
            "compute.globalOperations.*",
            "compute.networks.*",
            "compute.regionOperations.*",
            "compute.regions.*",
            "compute.routes.*",
            "compute.subnetworks.*",
            "compute.zones.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
            "servicenetworking.*",
        ],
    ),
    (
        // A subset of Google's list: what instances, their disks and zone operations need.
        "roles/compute.instanceAdmin.v1",
        &[
            "compute.disks.*",
            "compute.diskTypes.*",
            "compute.images.useReadOnly",
            "compute.instances.*",
            "compute.machineTypes.*",
            "compute.networks.get",
            "compute.networks.list",
            "compute.networks.use",
            "compute.subnetworks.get",
            "compute.subnetworks.list",
            "compute.subnetworks.use",
            "compute.zoneOperations.*",
            "compute.zones.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        // A subset of Google's list: firewall rules and the global operations they run.
        "roles/compute.securityAdmin",
        &[
            "compute.firewalls.*",
            "compute.globalOperations.*",
            "compute.networks.get",
            "compute.networks.list",
            "compute.networks.updatePolicy",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        // A subset of Google's list: reading entries and what the console reads with them.
        "roles/logging.viewer",
        &[
            "logging.buckets.get",
            "logging.buckets.list",
            "logging.logEntries.list",
            "logging.logs.list",
            "logging.logServiceIndexes.list",
            "logging.logServices.list",
            "logging.views.get",
            "logging.views.list",
            "resourcemanager.projects.get",
        ],
    ),
    (
        "roles/logging.logWriter",
        &["logging.logEntries.create", "logging.logEntries.route"],
    ),
    (
        "roles/secretmanager.admin",
        &[
            "secretmanager.*",
            "resourcemanager.projects.get",
            "resourcemanager.projects.list",
        ],
    ),
    (
        "roles/secretmanager.secretAccessor",
        &["secretmanager.versions.access"],
    ),
    ("roles/run.invoker", &["run.routes.invoke", "run.jobs.run"]),
    (
        "roles/orgpolicy.policyViewer",
        &[
            "orgpolicy.constraints.list",
            "orgpolicy.policies.list",
            "orgpolicy.policy.get",
        ],
    ),
];

/// Permissions Editor lacks besides `*.setIamPolicy` (IAM administration and project lifecycle).
const NOT_IN_EDITOR: &[&str] = &[
    "resourcemanager.projects.delete",
    "resourcemanager.projects.undelete",
    "resourcemanager.projects.move",
    "resourcemanager.projects.createPolicyBinding",
    "resourcemanager.projects.deletePolicyBinding",
    "resourcemanager.projects.updatePolicyBinding",
    "iam.roles.create",
    "iam.roles.delete",
    "iam.roles.update",
    "secretmanager.versions.access",
];

/// Whether a role is in the table (basic roles included).
pub fn known(role: &str) -> bool {
    matches!(role, "roles/owner" | "roles/editor" | "roles/viewer")
        || ROLES.iter().any(|(name, _)| *name == role)
}

/// Whether `pattern` (a permission, or `prefix.*`) covers `permission`.
fn covers(pattern: &str, permission: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => permission.starts_with(prefix),
        None => pattern == permission,
    }
}

/// Whether `role` grants `permission`. Custom and unknown roles grant nothing.
pub fn grants(role: &str, permission: &str) -> bool {
    match role {
        "roles/owner" => true,
        "roles/editor" => {
            !permission.ends_with(".setIamPolicy") && !NOT_IN_EDITOR.contains(&permission)
        }
        "roles/viewer" => {
            let read = permission.ends_with(".get")
                || permission.ends_with(".list")
                || permission.ends_with(".getIamPolicy");
            read && !permission.starts_with("storage.objects.")
                && !permission.starts_with("secretmanager.versions.")
        }
        _ => ROLES
            .iter()
            .find(|(name, _)| *name == role)
            .is_some_and(|(_, perms)| perms.iter().any(|p| covers(p, permission))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_cannot_set_iam_policies_but_owner_can() {
        for p in [
            "resourcemanager.projects.setIamPolicy",
            "iam.serviceAccounts.setIamPolicy",
            "run.services.setIamPolicy",
        ] {
            assert!(!grants("roles/editor", p), "{p}");
            assert!(grants("roles/owner", p), "{p}");
        }
        assert!(grants("roles/editor", "run.services.create"));
        assert!(grants("roles/editor", "iam.serviceAccounts.actAs"));
    }

    #[test]
    fn predefined_roles_and_wildcards() {
        assert!(grants("roles/run.admin", "run.services.setIamPolicy"));
        assert!(grants(
            "roles/run.builder",
            "artifactregistry.repositories.uploadArtifacts"
        ));
        assert!(!grants("roles/run.builder", "storage.objects.create"));
        assert!(grants(
            "roles/logging.logWriter",
            "logging.logEntries.create"
        ));
        assert!(grants("roles/viewer", "run.services.get"));
        assert!(!grants("roles/viewer", "storage.objects.get"));
        assert!(!grants("roles/unknown", "run.services.get"));
        assert!(known("roles/run.builder") && !known("roles/run.builders"));
    }
}
