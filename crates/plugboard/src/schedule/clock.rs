//! Where the scheduler reads the time: the host's clock, or a clock a test moves by hand.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The host's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until told to move (tests, previews).
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            micros: AtomicI64::new(start.0),
        }
    }

    /// Sets the time.
    pub fn set(&self, time: Timestamp) {
        self.micros.store(time.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `micros`.
    pub fn advance(&self, micros: i64) {
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::SeqCst))
    }
}
