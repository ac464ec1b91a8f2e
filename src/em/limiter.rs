//! The request rate limiter shared by every request to the server.
//!
//! One governor (GCRA) limiter per run: logons, reads, polls and POSTs all
//! take a cell before they are sent, so `--rate R` bounds every kind of
//! request together. `--burst B` is the bucket size: with the default `1`
//! requests are spaced at least `1/R` apart and no one-second window sees
//! more than `R + 1` of them.
//!
//! The promise is kept where it is measured, at the server, so the spacing
//! leaves room for delivery jitter: any `R + 2` consecutive requests leave
//! at least [`JITTER_ALLOWANCE`] more than a second apart. At `1/R` that
//! room is `1/R` (50 ms at `--rate 20`, 10 ms at `--rate 100`); above 20
//! requests per second the spacing grows just enough to keep 50 ms
//! (`--rate 100` sends at most 96.2 per second).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How late a request may reach the server, relative to the one sent
/// `R + 1` requests after it, without the server seeing `R + 2` of them in
/// one second. 50 ms covers a loaded client or a WAN hop; it costs nothing
/// at 20 requests per second or fewer.
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(50);

/// The spacing between requests at `rate` per second: `1/R`, or more where
/// `1/R` would leave less than [`JITTER_ALLOWANCE`] of room (see the module
/// documentation).
pub fn spacing(rate: u32) -> Duration {
    let rate = u64::from(rate.max(1));
    let nominal = 1_000_000_000 / rate;
    let with_room = (1_000_000_000 + JITTER_ALLOWANCE.as_nanos() as u64).div_ceil(rate + 1);
    Duration::from_nanos(nominal.max(with_room))
}

/// A shared limit on requests per second.
#[derive(Debug)]
pub struct RequestLimiter {
    inner: DefaultDirectRateLimiter,
    /// Waiters queue here in arrival order, so that only the first sleeps on
    /// the limiter instead of every waiter waking at every free slot.
    queue: tokio::sync::Mutex<()>,
    /// No request leaves before this instant: the latest `Retry-After` of
    /// a `503`/`429`, which speaks for the whole server.
    held_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    rate: u32,
}

impl RequestLimiter {
    /// At most `rate` requests per second, `burst` of them at once.
    pub fn new(rate: u32, burst: u32) -> RequestLimiter {
        let rate = rate.max(1);
        let quota = Quota::with_period(spacing(rate))
            .expect("a positive rate gives a positive period")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is at least 1"));
        RequestLimiter {
            inner: RateLimiter::direct(quota),
            queue: tokio::sync::Mutex::new(()),
            held_until: std::sync::Mutex::new(None),
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
        loop {
            let until = *self.held_until.lock().expect("limiter lock poisoned");
            match until {
                Some(until) if until > tokio::time::Instant::now() => {
                    tokio::time::sleep_until(until).await
                }
                _ => break,
            }
        }
        self.inner.until_ready().await;
    }

    /// Send nothing more for `wait`: the server answered `503`/`429` with
    /// `Retry-After`. Without this, every request waiting for the limiter
    /// would still go out in that second, be refused in turn, and spend
    /// its retries against a server that had said when to come back.
    pub fn hold_off(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut held = self.held_until.lock().expect("limiter lock poisoned");
        if held.is_none_or(|h| h < until) {
            *held = Some(until);
        }
    }

    /// The `--rate` it was made with, requests per second (the steady rate
    /// is at most this; see [`spacing`]).
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

    #[tokio::test]
    async fn a_hold_off_delays_every_later_request() {
        let limiter = RequestLimiter::new(1000, 1);
        limiter.acquire().await;
        limiter.hold_off(Duration::from_millis(300));
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        // A shorter hold-off does not shorten a longer one.
        limiter.hold_off(Duration::from_millis(200));
        limiter.hold_off(Duration::from_millis(10));
        let start = Instant::now();
        limiter.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(190));
    }

    /// R + 2 consecutive requests span more than a second plus the jitter
    /// allowance, at every rate, and the spacing is never below 1/R.
    #[test]
    fn spacing_leaves_room_for_jitter_and_never_exceeds_the_rate() {
        for rate in [1u32, 2, 10, 19, 20, 21, 50, 100, 1000, 100_000] {
            let p = spacing(rate);
            assert!(
                p >= Duration::from_nanos(1_000_000_000 / u64::from(rate)),
                "{rate}: {p:?}"
            );
            let span = p * (rate + 1);
            assert!(
                span >= Duration::from_secs(1) + JITTER_ALLOWANCE,
                "{rate}: R + 2 requests span only {span:?}"
            );
        }
        // At or below 20 per second 1/R already leaves the room: no cost.
        assert_eq!(spacing(10), Duration::from_millis(100));
        assert_eq!(spacing(20), Duration::from_millis(50));
        // Above, the rate gives up what the room needs and no more.
        assert_eq!(spacing(100), Duration::from_nanos(10_396_040));
    }
}
