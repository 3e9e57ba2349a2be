//! Waiting: for a long-running operation to finish, or for a resource to reach a state. Polls
//! at an interval proportional to the time already waited (so the overshoot past completion
//! stays a small fraction of the wait), gives up at a deadline with the operation's name, and
//! stops at Ctrl-C.

use std::future::Future;
use std::time::{Duration, Instant};

use google_cloud_gax::error::Error as GaxError;
use google_cloud_longrunning::model::{Operation, operation};
use tokio_util::sync::CancellationToken;

use super::errors::{Call, explain, explain_operation};
use super::retry::RetryPolicy;
use crate::outcome::{Interrupted, TimedOut};

/// How often to poll: `fraction` of the time waited so far, within [floor, ceiling].
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub floor: Duration,
    pub ceiling: Duration,
    pub fraction: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            floor: Duration::from_secs(1),
            ceiling: Duration::from_secs(10),
            fraction: 0.04,
        }
    }
}

impl PollPolicy {
    pub fn interval(&self, waited: Duration) -> Duration {
        waited
            .mul_f64(self.fraction)
            .clamp(self.floor, self.ceiling)
    }
}

/// Everything a wait needs besides the thing waited for.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub retry: RetryPolicy,
    pub poll: PollPolicy,
    pub timeout: Duration,
    pub cancel: CancellationToken,
}

impl Waiting {
    async fn pause(&self, started: Instant) -> Result<(), Interrupted> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Interrupted),
            _ = tokio::time::sleep(self.poll.interval(started.elapsed())) => Ok(()),
        }
    }

    /// Polls `get` (the API's GetOperation) until the operation is done, then returns it or
    /// its error, explained.
    pub async fn operation<F, Fut>(
        &self,
        mut op: Operation,
        call: Call<'_>,
        mut get: F,
    ) -> anyhow::Result<Operation>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<Operation, GaxError>>,
    {
        let started = Instant::now();
        while !op.done {
            if started.elapsed() >= self.timeout {
                return Err(TimedOut {
                    what: call.what.to_string(),
                    operation: op.name.clone(),
                    waited: started.elapsed(),
                }
                .into());
            }
            if self.pause(started).await.is_err() {
                return Err(anyhow::Error::new(Interrupted)
                    .context(format!("{}: operation {} left running", call.what, op.name)));
            }
            let name = op.name.clone();
            op = self
                .retry
                .run(call.what, || get(name.clone()))
                .await
                .map_err(|e| explain(e, call))?;
        }
        if let Some(operation::Result::Error(status)) = &op.result {
            return Err(explain_operation(
                status.code,
                &status.message,
                &op.name,
                call,
            ));
        }
        Ok(op)
    }

    /// Calls `check` until it yields a value, within the deadline.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if started.elapsed() >= self.timeout {
                return Err(TimedOut {
                    what: what.to_string(),
                    operation: "(resource state)".to_string(),
                    waited: started.elapsed(),
                }
                .into());
            }
            if self.pause(started).await.is_err() {
                return Err(anyhow::Error::new(Interrupted).context(format!("{what}: interrupted")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_is_proportional_and_bounded() {
        let p = PollPolicy::default();
        assert_eq!(p.interval(Duration::ZERO), p.floor);
        assert_eq!(p.interval(Duration::from_secs(100)), Duration::from_secs(4));
        assert_eq!(p.interval(Duration::from_secs(10_000)), p.ceiling);
    }
}
