//! Latency recording in microseconds (hdrhistogram) and its millisecond summary for the report.

use std::sync::OnceLock;
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

/// A histogram of 1 µs .. 10 min at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

/// Percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    pub fn of(histogram: &Histogram<u64>) -> Self {
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
