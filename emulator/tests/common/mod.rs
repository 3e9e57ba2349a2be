//! Shared test helpers: start an emulator on a free loopback port and build official Google
//! clients against it (anonymous credentials, fast LRO polling).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use emulator::{Emulator, EmulatorConfig, EmulatorHandle, NoRuntime};
use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::{ExponentialBackoff, ExponentialBackoffBuilder};

/// Fast, anonymous, seeded: what most tests want.
pub fn fast_config() -> EmulatorConfig {
    EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: true,
        seed: Some(42),
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free loopback port");
    Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .expect("start the emulator")
}

pub fn anonymous() -> Credentials {
    anonymous::Builder::new().build()
}

/// LRO polling every few milliseconds instead of Google's 1 s → 60 s.
pub fn fast_polling() -> ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(5))
        .with_maximum_delay(Duration::from_millis(50))
        .build()
        .expect("valid backoff")
}

/// The status code a client decoded from an error.
pub fn code_of(error: &google_cloud_gax::error::Error) -> Code {
    match error.status() {
        Some(status) => status.code,
        None => panic!("expected a service error with a status, got: {error:?}"),
    }
}

/// The ErrorInfo reason of a service error, if any.
pub fn reason_of(error: &google_cloud_gax::error::Error) -> Option<String> {
    error.status()?.details.iter().find_map(|d| match d {
        google_cloud_gax::error::rpc::StatusDetails::ErrorInfo(info) => Some(info.reason.clone()),
        _ => None,
    })
}

/// A raw HTTP client for the emulator's own endpoints and JSON checks.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
