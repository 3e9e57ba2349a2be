//! The Google APIs the stack needs, enabled in one batch (they stay enabled on `down`).

use super::{Action, Outputs, Planned};
use crate::config::BuildMode;
use crate::config::Settings;
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::serviceusage;
use crate::report::{Phase, Progress};
use crate::resource::{Resource, ResourceId};

pub const ID: ResourceId = ResourceId("apis");

/// The Google APIs the stack uses, enabled in the project before anything else.
pub struct Apis;

impl Resource for Apis {
    fn id(&self) -> ResourceId {
        ID
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        format!("{} APIs", services(&ctx.settings).len())
    }

    /// Reads which APIs are disabled and publishes them, so that `plan` skips reading resources
    /// through them (see [`crate::resource::Values::disabled_apis`]).
    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let services = services(&ctx.settings);
        let disabled = serviceusage::disabled(&ctx.google, &services).await?;
        out.update(|v| v.disabled_apis = disabled.clone());
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

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        _planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let services = out.get().disabled_apis;
        if services.is_empty() {
            return Ok(());
        }
        progress.detail(Phase::Updating, "enabling");
        serviceusage::enable(&ctx.google, &services).await?;
        out.update(|v| v.enabled_now = std::mem::take(&mut v.disabled_apis));
        Ok(())
    }
}

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
    "secretmanager.googleapis.com",
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
