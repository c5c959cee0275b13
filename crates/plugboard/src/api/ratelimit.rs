//! Rate limits: a token bucket per client address and one per token, answering `429` with
//! `Retry-After` when a bucket is empty.
//!
//! Each bucket holds up to `burst` requests and refills at the configured rate a second; a
//! rate of 0 turns that limit off. A client address's bucket pays only for requests that bring
//! no valid token (guesses, floods from outside, sign-in codes); a token's pays for its own
//! requests, a batch of jobs by its size. docs/configuration.md says why the defaults are what
//! they are. Buckets live in this process only: with several nodes, each
//! node limits on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::settings::RateLimitSettings;

/// The buckets of one kind of key (addresses or tokens).
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets are forgotten once this many exist and they are full again.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    /// `per_second` 0 allows everything; `burst` 0 is one second's worth of the rate.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        let burst = if burst == 0 { per_second } else { burst };
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket; `Err` has the seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.with_bucket(key, |bucket, per_second| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                Ok(())
            } else {
                Err(wait_seconds(bucket.tokens, per_second))
            }
        })
    }

    /// Whether `key`'s bucket has a request left, without taking it; `Err` has the seconds to
    /// wait.
    pub fn peek(&self, key: &str) -> Result<(), u64> {
        self.with_bucket(key, |bucket, per_second| {
            if bucket.tokens >= 1.0 {
                Ok(())
            } else {
                Err(wait_seconds(bucket.tokens, per_second))
            }
        })
    }

    /// Takes `units` from `key`'s bucket even when that empties it: the bucket goes into debt,
    /// and the next requests wait until the rate has paid it back. For work already admitted
    /// whose weight is known only once its body is read (a batch of jobs).
    pub fn charge(&self, key: &str, units: f64) {
        let _ = self.with_bucket(key, |bucket, _| {
            bucket.tokens -= units;
            Ok(())
        });
    }

    fn with_bucket(
        &self,
        key: &str,
        act: impl FnOnce(&mut Bucket, f64) -> Result<(), u64>,
    ) -> Result<(), u64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        act(bucket, self.per_second)
    }
}

/// Whole seconds until a bucket holding `tokens` has one again.
fn wait_seconds(tokens: f64, per_second: f64) -> u64 {
    ((1.0 - tokens) / per_second).ceil().max(1.0) as u64
}

/// The two limiters of the API.
pub struct RateLimits {
    pub per_address: RateLimiter,
    pub per_token: RateLimiter,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> RateLimits {
        RateLimits {
            per_address: RateLimiter::new(settings.per_address, settings.burst),
            per_token: RateLimiter::new(settings.per_token, settings.burst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_bucket_allows_its_burst_then_says_how_long_to_wait() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        assert_eq!(limiter.check("a"), Err(1));
        assert_eq!(limiter.check("b"), Ok(()), "buckets are per key");
        let off = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert_eq!(off.check("a"), Ok(()));
        }
    }

    #[test]
    fn peek_takes_nothing_and_a_charge_is_a_debt_paid_back_at_the_rate() {
        let limiter = RateLimiter::new(1, 2);
        for _ in 0..10 {
            assert_eq!(limiter.peek("a"), Ok(()));
        }
        assert_eq!(limiter.check("a"), Ok(()));
        // 1 left; a charge of 4 leaves -3: four seconds until one request fits again.
        limiter.charge("a", 4.0);
        assert_eq!(limiter.peek("a"), Err(4));
        assert_eq!(limiter.check("a"), Err(4));
        // Burst 0: one second's worth of the rate at once.
        let second = RateLimiter::new(5, 0);
        for _ in 0..5 {
            assert_eq!(second.check("a"), Ok(()));
        }
        assert_eq!(second.check("a"), Err(1));
        let off = RateLimiter::new(0, 1);
        off.charge("a", 1000.0);
        assert_eq!(off.check("a"), Ok(()));
    }
}
