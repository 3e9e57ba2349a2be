//! The Google APIs the stack needs, enabled in one batch (they stay enabled on `down`).

use super::{Action, Planned};
use crate::cli::BuildMode;
use crate::config::Settings;
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::serviceusage;
use crate::report::Progress;
use crate::stack::ResourceId;

/// Every API the stack calls or runs on (the connector needs Compute Engine; images live in
/// Artifact Registry).
pub const SERVICES: &[&str] = &[
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "compute.googleapis.com",
    "redis.googleapis.com",
    "vpcaccess.googleapis.com",
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
];

/// What `--build source` adds: the staging bucket and the build.
pub const SOURCE_BUILD_SERVICES: &[&str] = &["storage.googleapis.com", "cloudbuild.googleapis.com"];

/// The APIs this run needs.
pub fn services(settings: &Settings) -> Vec<&'static str> {
    let mut services = SERVICES.to_vec();
    if settings.image.is_none() && settings.build == BuildMode::Source {
        services.extend_from_slice(SOURCE_BUILD_SERVICES);
    }
    services
}

/// The APIs a resource is read through (`plan` cannot read it while one is disabled).
pub fn read_through(id: ResourceId) -> &'static [&'static str] {
    match id {
        ResourceId::Apis => &[],
        ResourceId::ServiceAccount => &["iam.googleapis.com"],
        ResourceId::ProjectBinding => &["cloudresourcemanager.googleapis.com"],
        ResourceId::Redis => &["redis.googleapis.com"],
        ResourceId::Connector => &["vpcaccess.googleapis.com", "compute.googleapis.com"],
        ResourceId::Image => &["artifactregistry.googleapis.com"],
        ResourceId::RunService | ResourceId::PublicAccess => &["run.googleapis.com"],
    }
}

pub async fn plan(ctx: &Ctx) -> anyhow::Result<Planned> {
    let services = services(&ctx.settings);
    let disabled = serviceusage::disabled(ctx, &services).await?;
    let name = format!("{} APIs", services.len());
    if disabled.is_empty() {
        return Ok(Planned::new(name, "ENABLED", Action::NoOp));
    }
    let changes = disabled
        .iter()
        .map(|s| Change {
            path: s.clone(),
            from: "DISABLED".into(),
            to: "ENABLED".into(),
        })
        .collect();
    Ok(Planned::new(name, "DISABLED", Action::Update { changes }))
}

pub async fn apply(ctx: &Ctx, planned: &Planned, progress: &Progress<'_>) -> anyhow::Result<()> {
    let Action::Update { changes } = &planned.action else {
        return Ok(());
    };
    let services: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
    progress.state("enabling");
    serviceusage::enable(ctx, &services).await?;
    Ok(())
}
