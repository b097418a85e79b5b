//! Clocks: the system clock in production, a simulated one in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of time for the executor.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Resolves once `now_ms() >= at_ms`.
    fn sleep_until(&self, at_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// True for clocks whose time only moves when the executor is idle.
    fn is_simulated(&self) -> bool {
        false
    }
}

/// Wall-clock time; sleeping really waits.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn sleep_until(&self, at_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let now = self.now_ms();
                if now >= at_ms {
                    return;
                }
                // Sleep in bounded steps so a changed wall clock is noticed.
                let step = (at_ms - now).min(60_000) as u64;
                tokio::time::sleep(std::time::Duration::from_millis(step)).await;
            }
        })
    }
}

/// Simulated time: starts at a given instant and jumps forward to whatever
/// the executor sleeps until, so a one-year Wait takes no real time.
#[derive(Debug)]
pub struct SimulatedClock {
    now: AtomicI64,
}

impl SimulatedClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        SimulatedClock {
            now: AtomicI64::new(start_ms),
        }
    }

    /// Moves time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.now.fetch_max(at_ms, Ordering::SeqCst);
        Box::pin(std::future::ready(()))
    }

    fn is_simulated(&self) -> bool {
        true
    }
}

/// Time that moves only when a test calls [`ManualClock::advance`]: sleepers
/// wake when time passes their deadline. For tests of long-running servers.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    moved: tokio::sync::Notify,
}

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(start_ms),
            moved: tokio::sync::Notify::new(),
        }
    }

    /// Moves time forward by `ms` and wakes sleepers that are due.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                // Register before checking, so an advance in between is not missed.
                let moved = self.moved.notified();
                if self.now_ms() >= at_ms {
                    return;
                }
                moved.await;
            }
        })
    }
}
