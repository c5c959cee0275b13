//! The one retry policy: exponential backoff with jitter.

use std::time::Duration;

use rand::Rng;

/// When to try a failed job again. Attempt `n` (1-based) that failed waits
/// `base * 2^(n-1)`, capped at `max`, then scaled by a random factor in [0.5, 1.0] so that jobs
/// that failed together do not come back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Default 1 second.
    pub base: Duration,
    /// Default 1 hour.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        let factor = rand::rng().random_range(0.5..=1.0);
        full.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_with_jitter_and_stops_at_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.delay(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }
}
