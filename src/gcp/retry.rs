//! Retries with jittered exponential backoff: transient failures (429 rate limits, 500, 502, 503,
//! network) for a short window, and eventual consistency (an API just enabled, a service account
//! just created) for a longer bounded one.

use std::future::Future;
use std::time::{Duration, Instant};

use google_cloud_gax::error::Error as GaxError;
use rand::Rng;

use super::errors::{Kind, classify};

/// How long and how often to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First backoff; each retry doubles it (with full jitter) up to `max_delay`.
    pub initial: Duration,
    pub max_delay: Duration,
    /// How long transient failures are retried (Terraform's transport uses 90 s).
    pub transient_window: Duration,
    /// How long "not visible yet" failures are waited out: SERVICE_DISABLED right after an
    /// enable, a new service account unknown to IAM (Google: "60 seconds or more").
    pub eventual_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            transient_window: Duration::from_secs(90),
            eventual_window: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// How long failures of `kind` are retried; `None` for failures that are final.
    pub fn window(&self, kind: Kind) -> Option<Duration> {
        match kind {
            Kind::Transient => Some(self.transient_window),
            Kind::ServiceDisabled | Kind::AccountNotVisible => Some(self.eventual_window),
            _ => None,
        }
    }

    /// The jittered delay before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let low = cap / 2;
        low + rand::rng().random_range(Duration::ZERO..=cap - low)
    }

    /// Runs `call` until it succeeds, fails for good, or its retry window closes. The error
    /// returned is the last one, for the caller to classify or explain.
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, GaxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GaxError>>,
    {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            let err = match call().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(window) = self.window(classify(&err)) else {
                return Err(err);
            };
            let delay = self.backoff(attempt);
            if start.elapsed() + delay > window || attempt >= 200 {
                return Err(err);
            }
            tracing::info!(%what, attempt, ?delay, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// The same rules as [`RetryPolicy::run`] ([`RetryPolicy::window`]) for calls that retry inside
/// the google-cloud crates (the image module's clients). Transient failures are retried only
/// for idempotent calls; "not visible yet" failures (an API just enabled) were refused, so
/// even a create is safe to resend.
#[derive(Debug)]
struct SameRules(RetryPolicy);

impl google_cloud_gax::retry_policy::RetryPolicy for SameRules {
    fn on_error(
        &self,
        state: &google_cloud_gax::retry_state::RetryState,
        error: GaxError,
    ) -> google_cloud_gax::retry_result::RetryResult {
        use google_cloud_gax::retry_result::RetryResult;
        let kind = classify(&error);
        let resendable = state.idempotent || kind != Kind::Transient;
        let Some(window) = self.0.window(kind).filter(|_| resendable) else {
            return RetryResult::Permanent(error);
        };
        if state.start.elapsed() >= window || state.attempt_count >= 200 {
            RetryResult::Exhausted(error)
        } else {
            RetryResult::Continue(error)
        }
    }
}

impl RetryPolicy {
    /// This policy as a google-cloud client's retry and backoff policies.
    pub fn for_clients(
        &self,
    ) -> (
        google_cloud_gax::retry_policy::RetryPolicyArg,
        google_cloud_gax::backoff_policy::BackoffPolicyArg,
    ) {
        let backoff = google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
            .with_initial_delay(self.initial)
            .with_maximum_delay(self.max_delay)
            .clamp();
        (SameRules(*self).into(), backoff.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::{Code, Status};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            transient_window: Duration::from_secs(5),
            eventual_window: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_and_others_are_not() {
        let calls = AtomicU32::new(0);
        let result = quick()
            .run("get", || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(GaxError::service(
                        Status::default().set_code(Code::Unavailable),
                    ))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = quick()
            .run("get", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(GaxError::service(
                    Status::default().set_code(Code::NotFound),
                ))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let policy = RetryPolicy::default();
        for attempt in 0..30 {
            let d = policy.backoff(attempt);
            assert!(d <= policy.max_delay, "{attempt}: {d:?}");
        }
        assert!(policy.backoff(0) <= Duration::from_millis(250));
    }
}
