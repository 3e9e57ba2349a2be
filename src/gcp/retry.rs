//! Retries with jittered exponential backoff: transient failures (429 rate limits, 500, 502, 503,
//! network) for a short window, and eventual consistency (an API just enabled, a service account
//! just created) for a longer bounded one.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use google_cloud_gax::error::Error as GaxError;
use rand::RngExt;

use super::errors::{Kind, classify};

/// How long and how often to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff; each retry doubles it (with full jitter) up to `max_delay`.
    pub initial: Duration,
    pub max_delay: Duration,
    /// How long transient failures are retried (Terraform's transport uses 90 s).
    pub transient_window: Duration,
    /// How long "not visible yet" failures are waited out: SERVICE_DISABLED right after an
    /// enable, a new service account unknown to IAM (Google: "60 seconds or more").
    pub eventual_window: Duration,
    /// Set when calls are checked against another quota project (GOOGLE_CLOUD_QUOTA_PROJECT):
    /// chatctl enables APIs only in the target project, so a SERVICE_DISABLED whose consumer is
    /// not the target never passes by waiting and is reported at once.
    pub foreign_quota: Option<Arc<ForeignQuota>>,
}

/// What tells the target project's SERVICE_DISABLED (an enable still propagating: wait) from
/// another quota project's (final): the target's number, once Service Usage has named it.
#[derive(Debug, Default)]
pub struct ForeignQuota {
    pub target_number: OnceLock<String>,
}

impl ForeignQuota {
    /// Whether `err` is SERVICE_DISABLED for a consumer known not to be the target project.
    fn disabled_elsewhere(&self, err: &GaxError) -> bool {
        let Some(target) = self.target_number.get() else {
            return false; // not known yet: it may be the target's enable propagating
        };
        err.status()
            .and_then(super::errors::error_consumer)
            .is_some_and(|consumer| consumer != format!("projects/{target}"))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            transient_window: Duration::from_secs(90),
            eventual_window: Duration::from_secs(300),
            foreign_quota: None,
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
    pub async fn run<T, F, Fut>(&self, what: &str, call: F) -> Result<T, GaxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GaxError>>,
    {
        self.create_or_find(what, call, || async { Ok(None) }).await
    }

    /// Sends a create that is not safe to repeat blindly (it starts a build, or its id may be
    /// taken by then): a transient failure may hide a create that happened, so `find` looks
    /// for what it would have made, and only when nothing is found is the create sent again.
    /// A refused call (API disabled, account not visible yet) made nothing and is resent.
    pub async fn create_or_find<T, C, CFut, F, FFut>(
        &self,
        what: &str,
        mut create: C,
        mut find: F,
    ) -> Result<T, GaxError>
    where
        C: FnMut() -> CFut,
        CFut: Future<Output = Result<T, GaxError>>,
        F: FnMut() -> FFut,
        FFut: Future<Output = Result<Option<T>, GaxError>>,
    {
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut look_first = false;
        loop {
            let result = if look_first {
                find().await
            } else {
                create().await.map(Some)
            };
            let err = match result {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {
                    look_first = false;
                    continue;
                }
                Err(err) => err,
            };
            let kind = classify(&err);
            let Some(window) = self.window(kind) else {
                return Err(err);
            };
            if kind == Kind::ServiceDisabled
                && self
                    .foreign_quota
                    .as_ref()
                    .is_some_and(|f| f.disabled_elsewhere(&err))
            {
                return Err(err);
            }
            let delay = self.backoff(attempt);
            if start.elapsed() + delay > window || attempt >= 200 {
                return Err(err);
            }
            tracing::info!(%what, attempt, ?delay, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
            look_first = look_first || kind == Kind::Transient;
        }
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
            foreign_quota: None,
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

    #[tokio::test]
    async fn a_create_that_failed_transiently_is_looked_up_before_it_is_resent() {
        let unavailable = || GaxError::service(Status::default().set_code(Code::Unavailable));
        // The create went through although its answer was lost: found, not sent again.
        let (creates, finds) = (AtomicU32::new(0), AtomicU32::new(0));
        let made = quick()
            .create_or_find(
                "create",
                || async {
                    creates.fetch_add(1, Ordering::SeqCst);
                    Err::<u32, _>(unavailable())
                },
                || async {
                    finds.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(42))
                },
            )
            .await;
        assert_eq!(made.unwrap(), 42);
        assert_eq!(creates.load(Ordering::SeqCst), 1, "never resent");
        assert_eq!(finds.load(Ordering::SeqCst), 1);

        // It did not: the lookup finds nothing, so the create is sent again.
        let creates = AtomicU32::new(0);
        let made = quick()
            .create_or_find(
                "create",
                || async {
                    if creates.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(unavailable())
                    } else {
                        Ok(7)
                    }
                },
                || async { Ok(None) },
            )
            .await;
        assert_eq!(made.unwrap(), 7);
        assert_eq!(creates.load(Ordering::SeqCst), 2);

        // A final error is not retried, and a failing lookup is retried as a read.
        let finds = AtomicU32::new(0);
        let made: Result<u32, _> = quick()
            .create_or_find(
                "create",
                || async { Err(unavailable()) },
                || async {
                    if finds.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(unavailable())
                    } else {
                        Err(GaxError::service(
                            Status::default().set_code(Code::PermissionDenied),
                        ))
                    }
                },
            )
            .await;
        assert!(made.is_err());
        assert_eq!(finds.load(Ordering::SeqCst), 2);
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
