//! One `up` or `down` at a time per environment, whichever machine runs it: a lock object in
//! the project's staging bucket (`gs://BUCKET/chatctl-lock-ENV.json`, `Names::lock_object`; the
//! bucket `--build source` stages in), created only where there is none (`ifGenerationMatch=0`), rewritten every
//! [`STALE`]/4 while held, and deleted at the end. A waiter that sees no new generation for
//! [`STALE`] takes over (a holder that died stops rewriting it); `chatctl unlock` breaks a lock
//! on purpose. No state file: the project's storage is what every machine shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::gcp::{Google, serviceusage, storage};
use crate::image::staging;
use crate::outcome::{Interrupted, Locked};

/// After how long without a new generation a holder counts as gone (CHATCTL_LOCK_STALE_MS
/// overrides it). A holder rewrites the lock four times per period.
pub const STALE: Duration = Duration::from_secs(60);
/// How often a waiter looks at the lock again.
const POLL: Duration = Duration::from_secs(2);

/// What the lock object holds: who took it, where, when and for which command.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Holder {
    who: String,
    host: String,
    pid: u32,
    command: String,
    since: String,
    /// Random per run: a create whose answer was lost is recognised as ours.
    token: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}, `chatctl {}` since {})",
            self.who, self.host, self.pid, self.command, self.since
        )
    }
}

/// The staging bucket, where locks live, made sure to exist (Cloud Storage enabled first if
/// need be; a new project has it on).
pub async fn bucket(google: &Google, staging_bucket: Option<&str>) -> anyhow::Result<String> {
    let bucket = staging::bucket_name(staging_bucket, &google.project);
    let disabled = serviceusage::disabled(google, &["storage.googleapis.com"]).await?;
    if !disabled.is_empty() {
        serviceusage::enable(google, &disabled).await?;
    }
    let labels = [("managed-by".to_string(), "chatctl".to_string())];
    if !staging::ensure_named(google, &bucket, &labels).await? {
        anyhow::bail!(
            "cannot keep the environment's lock in bucket {bucket}: {}",
            staging::TAKEN
        );
    }
    Ok(bucket)
}

/// A held lock: refreshed in the background until [`EnvLock::release`].
pub struct EnvLock {
    google: Google,
    bucket: String,
    object: String,
    generation: Arc<AtomicI64>,
    stop: CancellationToken,
    refresher: tokio::task::JoinHandle<()>,
}

/// Where and how long to look for the lock.
pub struct LockRequest<'a> {
    pub bucket: &'a str,
    pub env: &'a str,
    /// The lock object in `bucket` (`Names::lock_object`).
    pub object: &'a str,
    /// `up` or `down`.
    pub command: &'a str,
    pub timeout: Duration,
    pub stale: Duration,
    /// Who runs it (USER), as waiters are told.
    pub who: &'a str,
    /// Says what the wait is about (once per holder).
    pub say: &'a (dyn Fn(&str) + Sync),
}

/// Takes the lock of `request.env`, waiting up to `request.timeout` while a live run holds it.
pub async fn acquire(google: &Google, request: LockRequest<'_>) -> anyhow::Result<EnvLock> {
    let object = request.object.to_string();
    let me = Holder {
        who: request.who.to_string(),
        host: hostname(),
        pid: std::process::id(),
        command: request.command.to_string(),
        since: jiff::Timestamp::now()
            .round(jiff::Unit::Second)?
            .to_string(),
        token: format!("{:016x}", rand::random::<u64>()),
    };
    let body = serde_json::to_value(&me)?;
    let started = Instant::now();
    // The generation last seen and since when (this machine's clock only: no clock skew).
    let mut seen: Option<(i64, Instant)> = None;
    let mut told: Option<String> = None;
    loop {
        if let Some(generation) =
            storage::write_json_if(google, request.bucket, &object, &body, 0).await?
        {
            return Ok(EnvLock::held(google, request, object, generation, body));
        }
        if let Some((generation, content)) =
            storage::read_json(google, request.bucket, &object).await?
        {
            let holder: Option<Holder> = serde_json::from_value(content).ok();
            if holder.as_ref().is_some_and(|h| h.token == me.token) {
                return Ok(EnvLock::held(google, request, object, generation, body));
            }
            let holder = holder.map_or_else(
                || format!("an unreadable lock gs://{}/{object}", request.bucket),
                |h| h.describe(),
            );
            let unchanged_for = match seen {
                Some((g, at)) if g == generation => at.elapsed(),
                _ => {
                    seen = Some((generation, Instant::now()));
                    Duration::ZERO
                }
            };
            if unchanged_for >= request.stale {
                if let Some(generation) =
                    storage::write_json_if(google, request.bucket, &object, &body, generation)
                        .await?
                {
                    (request.say)(&format!(
                        "took over the lock of environment `{}` from {holder}: it was not \
                         refreshed for {}s",
                        request.env,
                        unchanged_for.as_secs()
                    ));
                    return Ok(EnvLock::held(google, request, object, generation, body));
                }
                continue;
            }
            if started.elapsed() >= request.timeout {
                return Err(Locked {
                    env: request.env.to_string(),
                    holder,
                    waited: started.elapsed(),
                }
                .into());
            }
            if told.as_deref() != Some(holder.as_str()) {
                (request.say)(&format!(
                    "waiting for the lock of environment `{}`, held by {holder} (up to {}s)",
                    request.env,
                    request.timeout.as_secs()
                ));
                told = Some(holder);
            }
        }
        let left = request.timeout.saturating_sub(started.elapsed());
        tokio::select! {
            _ = google.waiting.cancel.cancelled() => {
                return Err(anyhow::Error::new(Interrupted).context("waiting for the lock"));
            }
            _ = tokio::time::sleep(POLL.min(left.max(Duration::from_millis(50)))) => {}
        }
    }
}

impl EnvLock {
    fn held(
        google: &Google,
        request: LockRequest<'_>,
        object: String,
        generation: i64,
        body: Value,
    ) -> EnvLock {
        let generation = Arc::new(AtomicI64::new(generation));
        let stop = CancellationToken::new();
        let refresher = tokio::spawn(refresh(
            google.clone(),
            request.bucket.to_string(),
            object.clone(),
            body,
            generation.clone(),
            request.stale / 4,
            stop.clone(),
        ));
        EnvLock {
            google: google.clone(),
            bucket: request.bucket.to_string(),
            object,
            generation,
            stop,
            refresher,
        }
    }

    /// Stops refreshing and deletes the lock, unless someone broke or took it meanwhile.
    pub async fn release(self) -> anyhow::Result<()> {
        self.stop.cancel();
        let _ = self.refresher.await;
        let generation = self.generation.load(Ordering::SeqCst);
        storage::delete_if(&self.google, &self.bucket, &self.object, Some(generation)).await?;
        Ok(())
    }
}

/// Rewrites the lock every `every` while it is ours, so waiters see a live holder.
async fn refresh(
    google: Google,
    bucket: String,
    object: String,
    body: Value,
    generation: Arc<AtomicI64>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let current = generation.load(Ordering::SeqCst);
        match storage::write_json_if(&google, &bucket, &object, &body, current).await {
            Ok(Some(next)) => generation.store(next, Ordering::SeqCst),
            Ok(None) => {
                tracing::warn!("the lock gs://{bucket}/{object} was broken or taken over");
                return;
            }
            // A failed refresh is retried at the next tick; waiters allow four of them.
            Err(e) => tracing::warn!("cannot refresh the lock gs://{bucket}/{object}: {e:#}"),
        }
    }
}

/// `chatctl unlock`: deletes the lock `object` whoever holds it; who held it, if anyone.
pub async fn break_lock(
    google: &Google,
    bucket: &str,
    object: &str,
) -> anyhow::Result<Option<String>> {
    if !serviceusage::disabled(google, &["storage.googleapis.com"])
        .await?
        .is_empty()
    {
        return Ok(None); // no lock can exist without Cloud Storage
    }
    let Some((generation, content)) = storage::read_json(google, bucket, object).await? else {
        return Ok(None);
    };
    let holder = serde_json::from_value::<Holder>(content)
        .map_or_else(|_| "an unreadable lock".to_string(), |h| h.describe());
    storage::delete_if(google, bucket, object, Some(generation)).await?;
    Ok(Some(holder))
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "an unknown host".into())
}
