//! The Google APIs the stack needs, enabled in one batch (they stay enabled on `down`).

use super::{Action, Planned};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::serviceusage;
use crate::report::Progress;

/// Every API the stack calls or runs on (the connector needs Compute Engine).
pub const SERVICES: &[&str] = &[
    "serviceusage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "compute.googleapis.com",
    "redis.googleapis.com",
    "vpcaccess.googleapis.com",
    "run.googleapis.com",
];

pub async fn plan(ctx: &Ctx) -> anyhow::Result<Planned> {
    let disabled = serviceusage::disabled(ctx, SERVICES).await?;
    let name = format!("{} APIs", SERVICES.len());
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
