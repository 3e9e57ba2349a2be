//! Preflight: before `plan` or `up` changes anything, ask Google (`testIamPermissions`, which
//! needs no role) which of the permissions this run needs the caller lacks, and name, for each,
//! the predefined role that grants it. [`NEEDS`] is the one table of permission → role → why;
//! the README's least-privilege role table is derived from it (a test keeps them equal).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::{BuildMode, Settings};
use crate::gcp::{self, Google};

/// When a run needs a permission, from its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Used {
    /// Every run: APIs, the runtime account and its binding, Redis, the connector, Cloud Run.
    Always,
    /// The service is public (not `--no-allow-unauthenticated`).
    PublicAccess,
    /// `--build source`: the staging bucket, the upload and the Cloud Build build.
    SourceBuild,
    /// chatctl puts the image into Artifact Registry (`--build source`, or `--build local`
    /// without `--registry`): the repository.
    BuildsIntoArtifactRegistry,
    /// `--build local` pushing to Artifact Registry.
    LocalPush,
    /// The image is read from this project's Artifact Registry (built there, or an `--image`
    /// that lives there).
    ImageInProject,
    /// Redis AUTH (not `--no-redis-auth`): reading the AUTH string.
    RedisAuth,
    /// Redis AUTH or `--bus nats`: the secret holding the AUTH string or the NATS credentials.
    Secrets,
    /// `--bus nats`: the NATS server's VM, data disk and firewall rule, and its credentials
    /// secret.
    NatsBus,
    /// `--egress connector` (the default): creating and changing the connector.
    ConnectorEgress,
    /// `--egress direct`: reading the subnet the service's instances take addresses from.
    DirectEgress,
}

impl Used {
    /// What the README's role table says about when a role is needed.
    pub fn label(self) -> &'static str {
        match self {
            Used::Always => "always",
            Used::PublicAccess => {
                "public service (the default; not with --no-allow-unauthenticated)"
            }
            Used::SourceBuild => "--build source (the default)",
            Used::BuildsIntoArtifactRegistry | Used::ImageInProject => {
                "--build source, --build local to Artifact Registry, or an --image in the project's Artifact Registry"
            }
            Used::LocalPush => "--build local to Artifact Registry",
            Used::RedisAuth => "Redis AUTH (the default; not with --no-redis-auth)",
            Used::NatsBus => "--bus nats",
            Used::ConnectorEgress => "--egress connector (the default)",
            Used::DirectEgress => "--egress direct",
            Used::Secrets => "Redis AUTH (the default; not with --no-redis-auth), or --bus nats",
        }
    }
}

/// One permission a run needs on the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub permission: &'static str,
    /// The predefined role (of the README's least-privilege set) that grants it.
    pub role: &'static str,
    /// What chatctl does with it.
    pub why: &'static str,
    pub used: Used,
    /// False for reads (what `plan` needs to run at all).
    pub mutates: bool,
}

const fn need(
    permission: &'static str,
    role: &'static str,
    why: &'static str,
    used: Used,
    mutates: bool,
) -> Need {
    Need {
        permission,
        role,
        why,
        used,
        mutates,
    }
}

const SERVICE_USAGE: &str = "roles/serviceusage.serviceUsageAdmin";
const PROJECT_IAM: &str = "roles/resourcemanager.projectIamAdmin";
const ACCOUNT_ADMIN: &str = "roles/iam.serviceAccountAdmin";
const ACCOUNT_USER: &str = "roles/iam.serviceAccountUser";
const REDIS: &str = "roles/redis.admin";
const VPC_ACCESS: &str = "roles/vpcaccess.admin";
const NETWORK_VIEWER: &str = "roles/compute.networkViewer";
const RUN: &str = "roles/run.admin";
const ARTIFACT_REGISTRY: &str = "roles/artifactregistry.admin";
const STORAGE: &str = "roles/storage.admin";
const CLOUD_BUILD: &str = "roles/cloudbuild.builds.editor";
const SECRETS: &str = "roles/secretmanager.admin";
const INSTANCES: &str = "roles/compute.instanceAdmin.v1";
const FIREWALLS: &str = "roles/compute.securityAdmin";

use Used::*;

/// Every permission chatctl's `up` (and `down`) uses on the project, with the role that grants
/// it. The roles are those the `gcp` modules name in their error messages.
#[rustfmt::skip]
pub static NEEDS: &[Need] = &[
    need("serviceusage.services.list", SERVICE_USAGE, "see which APIs are enabled", Always, false),
    need("serviceusage.services.get", SERVICE_USAGE, "see which APIs are enabled", Always, false),
    need("serviceusage.services.enable", SERVICE_USAGE, "enable the APIs the stack uses", Always, true),
    need("serviceusage.services.use", SERVICE_USAGE, "bill API calls to the project (chatctl's quota project)", Always, false),
    need("serviceusage.operations.get", SERVICE_USAGE, "wait for the APIs to be enabled", Always, false),
    need("resourcemanager.projects.getIamPolicy", PROJECT_IAM, "read the project's IAM policy", Always, false),
    need("resourcemanager.projects.setIamPolicy", PROJECT_IAM, "grant chat-identity-ENV roles/serviceusage.serviceUsageConsumer (and the build account roles/run.builder)", Always, true),
    need("iam.serviceAccounts.get", ACCOUNT_ADMIN, "read the service accounts chat-identity-ENV and chat-builder-ENV", Always, false),
    need("iam.serviceAccounts.create", ACCOUNT_ADMIN, "create the service accounts", Always, true),
    need("iam.serviceAccounts.delete", ACCOUNT_ADMIN, "delete them on `down`", Always, true),
    need("iam.serviceAccounts.actAs", ACCOUNT_USER, "deploy Cloud Run as chat-identity-ENV and run Cloud Build as chat-builder-ENV", Always, true),
    need("redis.instances.get", REDIS, "read the Redis instance", Always, false),
    need("redis.instances.create", REDIS, "create the Redis instance", Always, true),
    need("redis.instances.update", REDIS, "update the Redis instance", Always, true),
    need("redis.instances.delete", REDIS, "delete it on `down`", Always, true),
    need("redis.operations.get", REDIS, "wait for Redis operations", Always, false),
    need("vpcaccess.connectors.get", VPC_ACCESS, "read the connector", Always, false),
    need("vpcaccess.connectors.list", VPC_ACCESS, "find the /28 ranges other connectors use", Always, false),
    need("vpcaccess.connectors.create", VPC_ACCESS, "create the Serverless VPC Access connector", ConnectorEgress, true),
    need("vpcaccess.connectors.update", VPC_ACCESS, "change its machine type or instance bounds in place", ConnectorEgress, true),
    need("vpcaccess.connectors.delete", VPC_ACCESS, "delete it on `down`", Always, true),
    need("vpcaccess.operations.get", VPC_ACCESS, "wait for connector operations", Always, false),
    need("compute.networks.get", NETWORK_VIEWER, "check that the network exists", Always, false),
    need("compute.subnetworks.list", NETWORK_VIEWER, "keep the connector's /28 clear of the network's subnets", Always, false),
    need("compute.subnetworks.get", NETWORK_VIEWER, "check the Direct VPC egress subnet and its room", DirectEgress, false),
    need("run.services.get", RUN, "read the Cloud Run service", Always, false),
    need("run.services.create", RUN, "deploy the Cloud Run service", Always, true),
    need("run.services.update", RUN, "update the Cloud Run service", Always, true),
    need("run.services.delete", RUN, "delete it on `down`", Always, true),
    need("run.operations.get", RUN, "wait for Cloud Run operations", Always, false),
    need("run.services.getIamPolicy", RUN, "read who may invoke the service", PublicAccess, false),
    need("run.services.setIamPolicy", RUN, "open the service to the public (allUsers, or invokerIamDisabled)", PublicAccess, true),
    need("artifactregistry.repositories.get", ARTIFACT_REGISTRY, "read the image repository", BuildsIntoArtifactRegistry, false),
    need("artifactregistry.repositories.create", ARTIFACT_REGISTRY, "create the image repository", BuildsIntoArtifactRegistry, true),
    need("artifactregistry.repositories.uploadArtifacts", ARTIFACT_REGISTRY, "push the locally built image", LocalPush, true),
    need("artifactregistry.tags.get", ARTIFACT_REGISTRY, "find the image by tag", ImageInProject, false),
    need("artifactregistry.dockerimages.get", ARTIFACT_REGISTRY, "find the image by digest", ImageInProject, false),
    need("storage.buckets.list", STORAGE, "find the staging bucket, which also holds the environment's lock", Always, false),
    need("storage.buckets.create", STORAGE, "create the staging bucket PROJECT_cloudbuild", Always, true),
    need("storage.objects.create", STORAGE, "take the environment's lock (and upload the source archive)", Always, true),
    need("storage.objects.get", STORAGE, "see who holds the environment's lock", Always, false),
    need("storage.objects.delete", STORAGE, "release the environment's lock", Always, true),
    need("cloudbuild.builds.create", CLOUD_BUILD, "start the Cloud Build build", SourceBuild, true),
    need("cloudbuild.builds.get", CLOUD_BUILD, "follow the build", SourceBuild, false),
    need("cloudbuild.builds.list", CLOUD_BUILD, "find a build of the same sources already running", SourceBuild, false),
    need("redis.instances.getAuthString", REDIS, "read Redis's AUTH string to keep it in Secret Manager", RedisAuth, false),
    need("secretmanager.secrets.get", SECRETS, "read the secret holding Redis's AUTH string (or the NATS credentials)", Secrets, false),
    need("secretmanager.secrets.create", SECRETS, "create the secret holding Redis's AUTH string (or the NATS credentials)", Secrets, true),
    need("secretmanager.secrets.delete", SECRETS, "delete it on `down`", Secrets, true),
    need("secretmanager.versions.add", SECRETS, "store the AUTH string (or the NATS URL with its generated password) as a secret version", Secrets, true),
    // Counted with `up`'s needs: Editor lacks it, and a first plan never reads a version.
    need("secretmanager.versions.access", SECRETS, "compare the stored AUTH string with the instance's (reuse the NATS password)", Secrets, true),
    need("secretmanager.secrets.getIamPolicy", SECRETS, "see whether chat-identity-ENV may read the secret", Secrets, false),
    need("secretmanager.secrets.setIamPolicy", SECRETS, "grant chat-identity-ENV roles/secretmanager.secretAccessor on the secret only", Secrets, true),
    need("compute.instances.get", INSTANCES, "read the NATS server's VM chat-nats-ENV", NatsBus, false),
    need("compute.instances.create", INSTANCES, "create the NATS server's VM", NatsBus, true),
    need("compute.instances.delete", INSTANCES, "delete it on `down` (or when --bus changes)", NatsBus, true),
    need("compute.instances.setMetadata", INSTANCES, "give the VM its startup script", NatsBus, true),
    need("compute.instances.setTags", INSTANCES, "give the VM the network tag the firewall rule targets", NatsBus, true),
    need("compute.instances.setLabels", INSTANCES, "label the VM", NatsBus, true),
    need("compute.instances.setServiceAccount", INSTANCES, "run the VM as chat-identity-ENV (it reads the NATS secret)", NatsBus, true),
    need("compute.instances.attachDisk", INSTANCES, "attach the data disk to the VM", NatsBus, true),
    need("compute.subnetworks.use", INSTANCES, "put the VM on the network (no external IP)", NatsBus, true),
    need("compute.disks.get", INSTANCES, "read the NATS data disk chat-nats-data-ENV", NatsBus, false),
    need("compute.disks.create", INSTANCES, "create the NATS data disk", NatsBus, true),
    need("compute.disks.use", INSTANCES, "attach the data disk to the VM", NatsBus, true),
    need("compute.disks.setLabels", INSTANCES, "label the data disk", NatsBus, true),
    need("compute.disks.delete", INSTANCES, "delete it on `down` (or when --bus changes)", NatsBus, true),
    need("compute.zoneOperations.get", INSTANCES, "wait for VM and disk operations", NatsBus, false),
    need("compute.firewalls.get", FIREWALLS, "read the firewall rule chat-nats-allow-ENV", NatsBus, false),
    need("compute.firewalls.create", FIREWALLS, "admit tcp:4222 from the connector's range to the NATS VM", NatsBus, true),
    need("compute.firewalls.update", FIREWALLS, "change the rule's ranges in place (when --egress changes)", NatsBus, true),
    need("compute.firewalls.delete", FIREWALLS, "delete it on `down` (or when --bus changes)", NatsBus, true),
    need("compute.networks.updatePolicy", FIREWALLS, "add the firewall rule to the network", NatsBus, true),
    need("compute.globalOperations.get", FIREWALLS, "wait for firewall operations", NatsBus, false),
];

/// What this run uses, from its settings.
pub fn uses(settings: &Settings) -> BTreeSet<Used> {
    let mut used = BTreeSet::from([Always]);
    if settings.allow_unauthenticated {
        used.insert(PublicAccess);
    }
    used.insert(match settings.egress {
        crate::config::Egress::Connector => ConnectorEgress,
        crate::config::Egress::Direct => DirectEgress,
    });
    if settings.redis_auth {
        used.insert(RedisAuth);
    }
    if settings.bus == crate::config::Bus::Nats && settings.nats_server.is_none() {
        used.insert(NatsBus);
    }
    if used.contains(&RedisAuth) || used.contains(&NatsBus) {
        used.insert(Secrets);
    }
    match &settings.image {
        Some(image) => {
            if in_project_registry(image, &settings.project) {
                used.insert(ImageInProject);
            }
        }
        None => match settings.build {
            BuildMode::Source => {
                used.extend([SourceBuild, BuildsIntoArtifactRegistry, ImageInProject]);
            }
            BuildMode::Local if settings.registry.is_none() => {
                used.extend([LocalPush, BuildsIntoArtifactRegistry, ImageInProject]);
            }
            BuildMode::Local => {}
        },
    }
    used
}

/// Whether `image` lives in `project`'s Artifact Registry (`*-docker.pkg.dev/PROJECT/...`).
fn in_project_registry(image: &str, project: &str) -> bool {
    let mut parts = image.split('/');
    let host = parts.next().unwrap_or_default();
    host.ends_with("-docker.pkg.dev") && parts.next() == Some(project)
}

/// The permissions this run's `up` (and `plan`) needs.
pub fn needed(settings: &Settings) -> Vec<&'static Need> {
    let used = uses(settings);
    NEEDS.iter().filter(|n| used.contains(&n.used)).collect()
}

/// What `down` uses of [`NEEDS`]: it reads and deletes the environment's resources (those of
/// either bus: it takes no --bus) and removes its role bindings; it enables nothing and builds
/// nothing (the APIs, the image repository and the staging bucket stay).
const DOWN: &[&str] = &[
    "serviceusage.services.use",
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.projects.setIamPolicy",
    "iam.serviceAccounts.get",
    "iam.serviceAccounts.delete",
    "redis.instances.get",
    "redis.instances.delete",
    "redis.operations.get",
    "vpcaccess.connectors.get",
    "vpcaccess.connectors.delete",
    "vpcaccess.operations.get",
    "run.services.get",
    "run.services.delete",
    "run.operations.get",
    "secretmanager.secrets.get",
    "secretmanager.secrets.delete",
    "compute.instances.get",
    "compute.instances.delete",
    "compute.disks.get",
    "compute.disks.delete",
    "compute.zoneOperations.get",
    "compute.firewalls.get",
    "compute.firewalls.delete",
    "compute.globalOperations.get",
    "storage.buckets.list",
    "storage.buckets.create",
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.delete",
];

/// The permissions `down` needs.
pub fn needed_by_down() -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|n| DOWN.contains(&n.permission))
        .collect()
}

/// The least-privilege role set for these settings (what the README tells CI to grant).
pub fn roles(needs: &[&Need]) -> BTreeSet<&'static str> {
    needs.iter().map(|n| n.role).collect()
}

/// A permission the caller lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub permission: String,
    pub role: String,
    pub why: String,
    /// `projects/P`, or the service account it was checked on.
    pub on: String,
    pub mutates: bool,
    /// Needed only where the environment has the resources of a setting (`down`, which takes
    /// no --bus, deleting the NATS server's pieces): its absence warns instead of stopping.
    pub conditional: bool,
}

impl Missing {
    /// `need` as missing in `project`, its text naming environment `env`'s accounts.
    fn of(need: &Need, project: &str, env: &str) -> Self {
        Missing {
            permission: need.permission.into(),
            role: need.role.into(),
            why: need.why.replace("-ENV", &format!("-{env}")),
            on: format!("projects/{project}"),
            mutates: need.mutates,
            conditional: need.used != Always,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "permission": self.permission,
            "role": self.role,
            "why": self.why,
            "on": self.on,
        })
    }
}

/// What the preflight found.
#[derive(Debug, Default)]
pub struct Findings {
    pub missing: Vec<Missing>,
    /// Checks that got no answer (testIamPermissions failed): chatctl carries on without them.
    pub unchecked: Vec<gcp::projects::NotChecked>,
}

/// The user's accounts the run acts as, whose own policies may grant `actAs` where the
/// project's does not: `--build-service-account`.
pub fn user_accounts(settings: &Settings) -> Vec<String> {
    settings.build_service_account.iter().cloned().collect()
}

/// Asks Google which of `needs` the caller lacks on the project, and `actAs` on each of
/// `accounts` (service accounts outside the project chatctl deploys as, e.g. a user-specified
/// build account), which the project's policy may not cover.
pub async fn check(
    google: &Google,
    settings: &Settings,
    needs: &[&Need],
    accounts: &[String],
) -> Findings {
    let mut asked: Vec<&str> = needs.iter().map(|n| n.permission).collect();
    asked.dedup();
    let mut findings = Findings::default();
    match gcp::projects::test_permissions(google, &asked).await {
        Ok(held) => {
            findings.missing = needs
                .iter()
                .filter(|n| !held.iter().any(|h| h == n.permission))
                .map(|n| Missing::of(n, &settings.project, &settings.names.env))
                .collect();
        }
        Err(not_checked) => findings.unchecked.push(not_checked),
    }
    for email in accounts {
        let act_as = "iam.serviceAccounts.actAs";
        match gcp::iam::test_permissions(google, email, &[act_as]).await {
            Ok(held) if held.iter().any(|h| h == act_as) => {}
            Ok(_) => findings.missing.push(Missing {
                permission: act_as.into(),
                role: ACCOUNT_USER.into(),
                why: format!("run Cloud Build as {email}"),
                on: format!("serviceAccounts/{email}"),
                mutates: true,
                conditional: false,
            }),
            Err(not_checked) => findings.unchecked.push(not_checked),
        }
    }
    findings
}

/// The message listing `missing`, every one with its role, and what to ask for.
pub fn explain(missing: &[Missing], project: &str, command: &str) -> String {
    let width = |f: fn(&Missing) -> usize| missing.iter().map(f).max().unwrap_or(0);
    let (pw, rw) = (width(|m| m.permission.len()), width(|m| m.role.len()));
    let mut text = format!(
        "preflight: the caller lacks {} permission(s) that `{command}` needs in project \
         {project}; nothing was changed:",
        missing.len()
    );
    let own = format!("projects/{project}");
    for m in missing {
        let on = if m.on == own {
            String::new()
        } else {
            format!(" (on {})", m.on)
        };
        text.push_str(&format!(
            "\n  {:<pw$}  {:<rw$}  to {}{on}",
            m.permission, m.role, m.why
        ));
    }
    let roles: BTreeSet<&str> = missing.iter().map(|m| m.role.as_str()).collect();
    text.push_str(
        "\nAsk a project owner to grant the account chatctl runs as (MEMBER: user:EMAIL, or \
         serviceAccount:EMAIL in CI):",
    );
    for role in roles {
        text.push_str(&format!(
            "\n  gcloud projects add-iam-policy-binding {project} --member=MEMBER --role={role}"
        ));
    }
    text.push_str(
        "\nThe README's role table lists the whole least-privilege set; `chatctl doctor` \
         checks everything at once.",
    );
    text
}

/// The error that ends `up` (or `plan`) at preflight: exit 1, nothing changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MissingPermissions(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: crate::cli::StackArgs) -> Settings {
        let global = crate::cli::GlobalArgs {
            project: Some("proj-123".into()),
            ..Default::default()
        };
        crate::config::resolve(&global, &args, &|_| None).unwrap()
    }

    #[test]
    fn every_permission_down_uses_is_in_the_table_and_none_builds_or_enables() {
        let down = needed_by_down();
        assert_eq!(
            down.len(),
            DOWN.len(),
            "DOWN names a permission NEEDS lacks"
        );
        // Not only `Always`: down takes no --bus, so it reads (and deletes) the NATS server's
        // pieces and the secrets whichever bus the environment used.
        assert!(
            down.iter()
                .all(|n| matches!(n.used, Always | Secrets | NatsBus))
        );
        // The only things `down` may create are the lock's bucket and object.
        assert!(!down.iter().any(|n| {
            (n.permission.ends_with(".create") && !n.permission.starts_with("storage."))
                || n.permission.ends_with(".enable")
        }));
    }

    #[test]
    fn only_what_the_settings_use_is_checked() {
        let default = needed(&settings(Default::default()));
        let has = |needs: &[&Need], p: &str| needs.iter().any(|n| n.permission == p);
        assert!(has(&default, "cloudbuild.builds.create"));
        assert!(has(&default, "run.services.setIamPolicy"));
        assert!(!has(
            &default,
            "artifactregistry.repositories.uploadArtifacts"
        ));

        let prebuilt_elsewhere = needed(&settings(crate::cli::StackArgs {
            image: Some("docker.io/library/nginx:1".into()),
            no_allow_unauthenticated: true,
            ..Default::default()
        }));
        assert!(!has(&prebuilt_elsewhere, "cloudbuild.builds.create"));
        assert!(!has(&prebuilt_elsewhere, "artifactregistry.tags.get"));
        assert!(!has(&prebuilt_elsewhere, "run.services.setIamPolicy"));
        assert!(has(&prebuilt_elsewhere, "redis.instances.create"));

        let prebuilt_here = needed(&settings(crate::cli::StackArgs {
            image: Some("us-central1-docker.pkg.dev/proj-123/chat/chat-server:v1".into()),
            ..Default::default()
        }));
        assert!(has(&prebuilt_here, "artifactregistry.tags.get"));
        assert!(!has(&prebuilt_here, "artifactregistry.repositories.create"));
    }

    #[test]
    fn every_permission_is_listed_once_with_a_role() {
        let mut seen = BTreeSet::new();
        for n in NEEDS {
            assert!(seen.insert(n.permission), "{} twice", n.permission);
            assert!(n.role.starts_with("roles/"), "{}", n.permission);
            assert_eq!(n.permission.split('.').count(), 3, "{}", n.permission);
        }
    }

    #[test]
    fn the_explanation_names_every_permission_and_role() {
        let missing: Vec<Missing> = NEEDS
            .iter()
            .filter(|n| n.permission.ends_with("setIamPolicy"))
            .map(|n| Missing::of(n, "proj-123", "pr-1"))
            .collect();
        let text = explain(&missing, "proj-123", "up");
        for m in &missing {
            assert!(
                text.contains(&m.permission) && text.contains(&m.role),
                "{text}"
            );
        }
        assert!(text.contains("nothing was changed"), "{text}");
    }
}
