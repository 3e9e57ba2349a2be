//! Latency recording in microseconds (hdrhistogram) and its millisecond summary for the report.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The instant all timestamps in message texts count from (one process, one clock).
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Microseconds from the process origin to `at`.
pub fn micros_at(at: Instant) -> u64 {
    let origin = *ORIGIN.get_or_init(Instant::now);
    at.saturating_duration_since(origin).as_micros() as u64
}

/// Microseconds from the process origin to now.
pub fn micros_now() -> u64 {
    micros_at(Instant::now())
}

/// Fixes the origin; call once before any timestamp is taken.
pub fn init_origin() {
    ORIGIN.get_or_init(Instant::now);
}

/// Latencies in microseconds, 1 µs .. 60 s at 3 significant digits (slower ones count as 60 s).
/// The histogram (about 90 KB) is allocated at the first sample: most connections of a run
/// record only deliveries, and only senders record acks and send lag.
#[derive(Default)]
pub struct Recorder {
    histogram: Option<Histogram<u32>>,
}

impl Recorder {
    /// Records the time from `start_us` (see [`micros_at`]) to now.
    pub fn record_since(&mut self, start_us: u64) {
        let histogram = self.histogram.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
        });
        histogram.saturating_record(micros_now().saturating_sub(start_us).max(1));
    }

    /// Adds another recorder's samples to this one.
    pub fn merge(&mut self, other: Recorder) {
        match (&mut self.histogram, other.histogram) {
            // Same bounds everywhere, so adding cannot fail.
            (Some(mine), Some(theirs)) => drop(mine.add(&theirs)),
            (None, theirs) => self.histogram = theirs,
            (Some(_), None) => {}
        }
    }

    pub fn summary(&self) -> Summary {
        self.histogram
            .as_ref()
            .map_or(Summary::default(), Summary::of)
    }
}

/// Latencies recorded from many tasks: one histogram per runtime thread, so the hot buckets stay
/// in that core's cache (one histogram per connection meant hundreds of cold histograms) and
/// the per-thread lock is never contended.
pub struct ShardedRecorder {
    shards: Vec<Mutex<Recorder>>,
}

/// Shard of the current thread: threads are numbered in the order they first record.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|index| *index)
}

impl Default for ShardedRecorder {
    fn default() -> Self {
        Self {
            shards: (0..64).map(|_| Mutex::default()).collect(),
        }
    }
}

impl ShardedRecorder {
    /// Records the time from `start_us` (see [`micros_at`]) to now.
    pub fn record_since(&self, start_us: u64) {
        let shard = &self.shards[shard_index() % self.shards.len()];
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .record_since(start_us);
    }

    pub fn summary(&self) -> Summary {
        let mut all = Recorder::default();
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            all.merge(std::mem::take(&mut *shard));
        }
        all.summary()
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    fn of(histogram: &Histogram<u32>) -> Self {
        let ms = |micros: u64| (micros as f64 / 10.0).round() / 100.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            mean_ms: (histogram.mean() / 10.0).round() / 100.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_recorder_merges_every_thread() {
        init_origin();
        let recorder = ShardedRecorder::default();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        recorder.record_since(micros_now());
                    }
                });
            }
        });
        recorder.record_since(micros_now());
        assert_eq!(recorder.summary().count, 301);
    }

    #[test]
    fn empty_recorder_reports_zeroes() {
        let summary = Recorder::default().summary();
        assert_eq!(summary.count, 0);
        assert_eq!(summary.p99_ms, 0.0);
    }
}
