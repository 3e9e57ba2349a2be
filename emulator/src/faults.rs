//! Fault injection: seeded random 429/500/503 at a rate, scripted one-shot failures of a named
//! method, and added latency. Configured at start or through `POST /_emulator/faults`.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::config::FaultConfig;
use crate::error::{ApiError, Code};

pub struct Faults(Mutex<State>);

struct State {
    config: FaultConfig,
    rng: StdRng,
}

impl Faults {
    pub fn new(config: FaultConfig, seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
            None => rand::make_rng::<StdRng>(),
        };
        Faults(Mutex::new(State { config, rng }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> FaultConfig {
        self.state().config.clone()
    }

    /// Replaces the fault configuration; bad values are INVALID_ARGUMENT.
    pub fn set(&self, config: FaultConfig) -> Result<(), ApiError> {
        if !(0.0..=1.0).contains(&config.error_rate) {
            return Err(ApiError::invalid_argument(
                "errorRate must be between 0 and 1",
            ));
        }
        if let Some(bad) = config
            .error_codes
            .iter()
            .find(|c| ![429, 500, 503].contains(*c))
        {
            return Err(ApiError::invalid_argument(format!(
                "errorCodes may hold 429, 500 and 503, not {bad}"
            )));
        }
        self.state().config = config;
        Ok(())
    }

    /// Added latency for every API call.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.state().config.latency_ms)
    }

    /// The injected failure for a call of `method_id`, if any: scripted faults first, then the
    /// random rate (always before the call runs).
    pub fn pick(&self, method_id: &str) -> Option<Injected> {
        let mut state = self.state();
        if let Some(i) = state
            .config
            .scripted
            .iter()
            .position(|f| method_matches(&f.method, method_id))
        {
            let fault = &mut state.config.scripted[i];
            let error = ApiError::new(
                fault.status,
                fault
                    .message
                    .clone()
                    .unwrap_or_else(|| scripted_message(fault.status, method_id)),
            );
            let after = fault.after;
            fault.times = fault.times.saturating_sub(1);
            if fault.times == 0 {
                state.config.scripted.remove(i);
            }
            return Some(Injected { error, after });
        }
        let rate = state.config.error_rate;
        if rate <= 0.0 || !state.rng.random_bool(rate.min(1.0)) {
            return None;
        }
        let codes = if state.config.error_codes.is_empty() {
            vec![429, 500, 503]
        } else {
            state.config.error_codes.clone()
        };
        let http = codes[state.rng.random_range(0..codes.len())];
        let error = match http {
            429 => ApiError::new(
                Code::ResourceExhausted,
                "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
            )
            .with_error_info(
                "RATE_LIMIT_EXCEEDED",
                "googleapis.com",
                serde_json::json!({}),
            ),
            500 => ApiError::internal("Internal error encountered."),
            _ => ApiError::new(Code::Unavailable, "The service is currently unavailable."),
        };
        Some(Injected {
            error,
            after: false,
        })
    }
}

/// An injected failure: answered instead of running the call, or `after` running it.
#[derive(Debug)]
pub struct Injected {
    pub error: ApiError,
    pub after: bool,
}

/// `setIamPolicy` matches `cloudresourcemanager.projects.setIamPolicy`; so does the full id.
fn method_matches(pattern: &str, method_id: &str) -> bool {
    method_id == pattern
        || method_id
            .strip_suffix(pattern)
            .is_some_and(|head| head.ends_with('.'))
}

/// Google's text for the failures a scripted fault stands for: an etag conflict on
/// setIamPolicy (ABORTED, or FAILED_PRECONDITION as some front ends report it), Service Usage's
/// concurrent (de)activation (FAILED_PRECONDITION on enable, batchEnable or disable).
fn scripted_message(code: Code, method_id: &str) -> String {
    let service_usage_change = method_id.starts_with("serviceusage.services.")
        && ["enable", "batchEnable", "disable"]
            .iter()
            .any(|m| method_id.ends_with(m));
    match code {
        Code::FailedPrecondition if service_usage_change => {
            "Another activation or deactivation is in progress.".to_string()
        }
        Code::FailedPrecondition if method_id.ends_with("setIamPolicy") => {
            "Precondition check failed.".to_string()
        }
        Code::Aborted => "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.".to_string(),
        Code::Unavailable => "The service is currently unavailable.".to_string(),
        Code::Internal => "Internal error encountered.".to_string(),
        other => format!("Injected fault: {}", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_ids_match_by_whole_trailing_parts() {
        assert!(method_matches(
            "setIamPolicy",
            "cloudresourcemanager.projects.setIamPolicy"
        ));
        assert!(method_matches(
            "instances.create",
            "redis.projects.locations.instances.create"
        ));
        assert!(!method_matches(
            "IamPolicy",
            "cloudresourcemanager.projects.setIamPolicy"
        ));
    }
}
