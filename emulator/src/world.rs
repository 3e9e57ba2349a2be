//! Everything the emulator knows, behind one lock: projects, operations, each API's resources
//! and the issued tokens. `GET /_emulator/resources` serialises it (tokens excluded).

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::apis::{
    artifactregistry, cloudbuild, compute, iam, logging, redis, run, secretmanager, storage,
    vpcaccess,
};
use crate::auth::Tokens;
use crate::ops::Operations;
use crate::projects::Projects;

/// One field per API store; an API module adds its own.
#[derive(Default, Serialize)]
pub struct World {
    pub projects: Projects,
    pub operations: Operations,
    pub redis: redis::model::Store,
    pub vpcaccess: vpcaccess::model::Store,
    pub iam: iam::model::Store,
    pub run: run::model::Store,
    pub artifactregistry: artifactregistry::model::Store,
    pub cloudbuild: cloudbuild::model::Store,
    pub storage: storage::model::Store,
    pub secretmanager: secretmanager::model::Store,
    /// Compute Engine instances, disks and firewalls (networks and subnets live in `projects`).
    pub compute: compute::vms::Store,
    /// Cloud Logging's entries (written by Cloud Run revisions, builds and `entries.write`).
    pub logging: logging::model::Store,
    #[serde(skip)]
    pub tokens: Tokens,
}

impl World {
    /// Every range in use on a project's network: its subnets, connector ranges and Redis
    /// reserved ranges (`except` names a resource whose own range is ignored).
    pub fn used_ranges(
        &self,
        project: &str,
        network: &str,
        except: &str,
    ) -> Vec<(String, Ipv4Net)> {
        let mut ranges = self
            .projects
            .get(project)
            .map(|p| p.network_ranges(network))
            .unwrap_or_default();
        ranges.extend(self.vpcaccess.ranges(project, network, except));
        ranges.extend(self.redis.ranges(project, network, except));
        ranges
    }
}
