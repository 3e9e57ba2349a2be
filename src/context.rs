//! What every step of a command shares: the clients, the settings, and how to retry and wait.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::gcp::Clients;
use crate::gcp::errors::Call;
use crate::gcp::lro::{PollPolicy, Waiting};
use crate::gcp::retry::RetryPolicy;

/// Polling floor when talking to Google; an endpoint override (the emulator, whose time is
/// scaled down) polls faster. CHATCTL_POLL_FLOOR_MS (`Environment::poll_floor`) overrides both.
const POLL_FLOOR_GOOGLE: Duration = Duration::from_secs(1);
const POLL_FLOOR_OVERRIDE: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct Ctx {
    pub clients: Clients,
    pub settings: Settings,
    pub waiting: Waiting,
}

impl Ctx {
    pub fn new(clients: Clients, settings: Settings, cancel: CancellationToken) -> Self {
        let floor = settings
            .environment
            .poll_floor
            .unwrap_or(if clients.endpoint.is_some() {
                POLL_FLOOR_OVERRIDE
            } else {
                POLL_FLOOR_GOOGLE
            });
        let mut retry = RetryPolicy::default();
        if clients.endpoint.is_some() {
            retry.initial = Duration::from_millis(20);
            retry.max_delay = Duration::from_secs(1);
        }
        let waiting = Waiting {
            retry,
            poll: PollPolicy {
                floor,
                ..PollPolicy::default()
            },
            timeout: settings.timeout,
            cancel,
        };
        Ctx {
            clients,
            settings,
            waiting,
        }
    }

    pub fn project(&self) -> &str {
        &self.settings.project
    }

    pub fn region(&self) -> &str {
        &self.settings.region
    }

    /// `projects/P/locations/R`.
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project(), self.region())
    }

    pub fn call<'a>(&'a self, what: &'a str, role: &'a str) -> Call<'a> {
        Call {
            what,
            role,
            project: &self.settings.project,
        }
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.waiting.retry
    }
}
