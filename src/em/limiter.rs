//! The request rate limiter shared by every request to the server.
//!
//! One governor (GCRA) limiter per run: logons, reads, polls and POSTs all
//! take a cell before they are sent, so `--rate R` bounds every kind of
//! request together. `--burst B` is the bucket size: with the default `1`
//! requests are spaced `1/R` apart and no one-second window sees more than
//! `R + 1` of them.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A shared limit on requests per second.
#[derive(Debug)]
pub struct RequestLimiter {
    inner: DefaultDirectRateLimiter,
    /// Waiters queue here in arrival order, so that only the first sleeps on
    /// the limiter instead of every waiter waking at every free slot.
    queue: tokio::sync::Mutex<()>,
    rate: u32,
}

impl RequestLimiter {
    /// At most `rate` requests per second, `burst` of them at once.
    pub fn new(rate: u32, burst: u32) -> RequestLimiter {
        let rate = rate.max(1);
        let period = Duration::from_nanos(1_000_000_000 / rate as u64);
        let quota = Quota::with_period(period)
            .expect("a positive rate gives a positive period")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
        RequestLimiter {
            inner: RateLimiter::direct(quota),
            queue: tokio::sync::Mutex::new(()),
            rate,
        }
    }

    /// Wait until one more request may be sent.
    ///
    /// Waiters are served first come, first served, and only the first of
    /// them waits on the limiter: with every waiter on it, each free slot
    /// woke them all (governor's timer thread took a seventh of the client's
    /// CPU time in the apply bench). Governor's own wait is kept: its timer
    /// is finer than tokio's millisecond wheel, and a waiter woken late
    /// would push every later slot back (the limiter has no slack at the
    /// default burst of 1).
    pub async fn acquire(&self) {
        let _turn = self.queue.lock().await;
        self.inner.until_ready().await;
    }

    /// The steady rate, requests per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn spaces_requests_at_the_rate() {
        let limiter = RequestLimiter::new(50, 1);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        // The first goes at once, the next ten at 20 ms intervals.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }
}
