//! The shared context every handler and background job gets: the world (all resources, behind
//! one lock), the clock (latencies × time scale), the seeded random source, the runtime hook and
//! background completions of operations.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinSet;

use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::reqlog::RequestLog;
use crate::runtime::Runtime;
use crate::world::World;

/// A cheap handle on the emulator's shared state.
#[derive(Clone)]
pub struct Emu(Arc<Shared>);

struct Shared {
    config: EmulatorConfig,
    base_url: String,
    runtime: Arc<dyn Runtime>,
    world: Mutex<World>,
    rng: Mutex<StdRng>,
    faults: Faults,
    requests: RequestLog,
    /// Bumped by reset: background jobs of an older generation do nothing.
    generation: AtomicU64,
    jobs: Mutex<JoinSet<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock must not take the whole emulator down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Emu {
    pub fn new(config: EmulatorConfig, base_url: String, runtime: Arc<dyn Runtime>) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng::<StdRng>(),
        };
        let faults = Faults::new(config.faults.clone(), config.seed);
        Emu(Arc::new(Shared {
            world: Mutex::new(World::default()),
            config,
            base_url,
            runtime,
            rng: Mutex::new(rng),
            faults,
            requests: RequestLog::default(),
            generation: AtomicU64::new(0),
            jobs: Mutex::new(JoinSet::new()),
        }))
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.0.config
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    pub fn runtime(&self) -> &dyn Runtime {
        self.0.runtime.as_ref()
    }

    pub fn faults(&self) -> &Faults {
        &self.0.faults
    }

    pub fn requests(&self) -> &RequestLog {
        &self.0.requests
    }

    /// Runs `f` with the world locked. Never hold the world across an `.await`.
    pub fn world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.0.world))
    }

    /// A modelled real-world duration, scaled by the time scale.
    pub fn scaled(&self, real: Duration) -> Duration {
        real.mul_f64(self.0.config.time_scale.max(0.0))
    }

    /// The instant a scaled window that starts now ends.
    pub fn after(&self, real: Duration) -> Instant {
        Instant::now() + self.scaled(real)
    }

    /// Random bytes from the (possibly seeded) generator, as lowercase hex.
    pub fn random_hex(&self, bytes: usize) -> String {
        let mut rng = lock(&self.0.rng);
        (0..bytes)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect()
    }

    /// A fresh operation id in Google's `operation-<ms>-<hex>-<hex>-<hex>` style.
    pub fn operation_id(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!(
            "operation-{ms}-{}-{}-{}",
            &self.random_hex(7)[..13],
            self.random_hex(4),
            self.random_hex(4)
        )
    }

    /// A random number in `range`.
    pub fn random_range(&self, range: std::ops::Range<u64>) -> u64 {
        lock(&self.0.rng).random_range(range)
    }

    /// Runs `job` after the scaled `real_delay`, unless the emulator is reset or shut down first.
    pub fn schedule<F, Fut>(&self, real_delay: Duration, job: F)
    where
        F: FnOnce(Emu) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let delay = self.scaled(real_delay);
        let generation = self.0.generation.load(Ordering::SeqCst);
        let emu = self.clone();
        let mut jobs = lock(&self.0.jobs);
        while jobs.try_join_next().is_some() {}
        jobs.spawn(async move {
            tokio::time::sleep(delay).await;
            if emu.0.generation.load(Ordering::SeqCst) == generation {
                job(emu).await;
            }
        });
    }

    /// Forgets every resource, operation, token and logged request; pending jobs are dropped.
    pub fn reset(&self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.0.jobs).abort_all();
        *lock(&self.0.world) = World::default();
        self.0.requests.clear();
    }

    /// Stops all background jobs (used on shutdown).
    pub fn stop_jobs(&self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.0.jobs).abort_all();
    }
}
