//! What every step of a command shares: the settings it was asked for, and the handle every
//! Google call goes through ([`Google`]: clients, project, region, retrying and waiting).

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::gcp::{Clients, Google};

#[derive(Debug, Clone)]
pub struct Ctx {
    pub google: Google,
    pub settings: Settings,
}

impl Ctx {
    pub fn new(clients: Clients, settings: Settings, cancel: CancellationToken) -> Self {
        let google = Google::new(
            clients,
            &settings.project,
            &settings.region,
            settings.timeout,
            settings.environment.poll_floor,
            cancel,
        );
        Ctx { google, settings }
    }

    pub fn project(&self) -> &str {
        &self.settings.project
    }

    pub fn region(&self) -> &str {
        &self.settings.region
    }
}
