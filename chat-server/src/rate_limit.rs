//! Per-socket message budget: a token bucket holding `count` tokens that refills at
//! `count / window`, so a client may burst `count` messages and then sustain the average rate.

use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// The bucket of one socket.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket for this limit.
    pub fn new(limit: RateLimit) -> Self {
        let tokens = match limit {
            RateLimit::Off => 0.0,
            RateLimit::PerWindow { count, .. } => f64::from(count),
        };
        Self {
            limit,
            tokens,
            refilled_at: Instant::now(),
        }
    }

    /// Takes one token if there is one at `now`. `Err` carries how long until the next token.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let RateLimit::PerWindow { count, window } = self.limit else {
            return Ok(());
        };
        let capacity = f64::from(count);
        let per_second = capacity / window.as_secs_f64();
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses_until_refilled() {
        let limit = RateLimit::PerWindow {
            count: 3,
            window: Duration::from_secs(3),
        };
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit);
        for _ in 0..3 {
            assert!(bucket.try_take(start).is_ok());
        }
        let wait = bucket.try_take(start).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(bucket.try_take(start + Duration::from_secs(1)).is_ok());
        assert!(bucket.try_take(start + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn off_never_refuses() {
        let mut bucket = TokenBucket::new(RateLimit::Off);
        let now = Instant::now();
        assert!((0..1000).all(|_| bucket.try_take(now).is_ok()));
    }
}
