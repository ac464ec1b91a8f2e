//! Fault injection: one seeded random stream per kind of choice, and the
//! sliding one-second admission window of `--max-rps`.
//!
//! Each knob draws once per request it applies to, in arrival order, from its
//! own ChaCha stream, so the faults of a run with a fixed `--seed` repeat
//! exactly whatever the other knobs are set to.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random streams of one simulator.
#[derive(Debug, Clone)]
pub struct Streams {
    /// `--fail-rate`: one draw per admitted `/api/` request.
    pub fail: ChaCha8Rng,
    /// `--drop-rate`: one draw per `POST /api/cloud/publicIpAddresses`.
    pub drop: ChaCha8Rng,
    /// `--task-fail-rate`: one draw per task created.
    pub task_fail: ChaCha8Rng,
    /// Entity GUIDs.
    pub guid: ChaCha8Rng,
    /// Logon session ids and tokens.
    pub session: ChaCha8Rng,
    /// `--post-reply-delay-rate`: one draw per range POST answered `202`.
    pub reply_delay: ChaCha8Rng,
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(n);
    rng
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        Streams {
            fail: stream(seed, 1),
            drop: stream(seed, 2),
            task_fail: stream(seed, 3),
            guid: stream(seed, 4),
            session: stream(seed, 5),
            reply_delay: stream(seed, 6),
        }
    }
}

/// True with probability `p` (one draw, always taken so streams stay aligned).
pub fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    let x: f64 = rng.random();
    x < p
}

/// Sixteen random bytes (a GUID, a token).
pub fn bytes16(rng: &mut ChaCha8Rng) -> [u8; 16] {
    rng.random()
}

/// A version-4-shaped GUID from the stream.
pub fn guid(rng: &mut ChaCha8Rng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(bytes16(rng)).into_uuid()
}

/// Admissions in the last second; a window counter, not a token bucket.
#[derive(Debug, Default)]
pub struct Window {
    admitted: VecDeque<Instant>,
    /// The most admissions ever seen within one second.
    pub max_seen: u64,
}

impl Window {
    /// Admit a request at `now` unless `limit` admissions already happened in
    /// the second before it. Returns whether it was admitted.
    pub fn admit(&mut self, now: Instant, limit: Option<u32>) -> bool {
        while let Some(&t) = self.admitted.front() {
            if now.duration_since(t) >= Duration::from_secs(1) {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if let Some(limit) = limit
            && self.admitted.len() >= limit as usize
        {
            return false;
        }
        self.admitted.push_back(now);
        self.max_seen = self.max_seen.max(self.admitted.len() as u64);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_repeat_under_a_seed_and_differ_between_kinds() {
        let mut a = Streams::new(7);
        let mut b = Streams::new(7);
        let xs: Vec<bool> = (0..64).map(|_| chance(&mut a.fail, 0.5)).collect();
        let ys: Vec<bool> = (0..64).map(|_| chance(&mut b.fail, 0.5)).collect();
        assert_eq!(xs, ys);
        let zs: Vec<bool> = (0..64).map(|_| chance(&mut b.drop, 0.5)).collect();
        assert_ne!(xs, zs);
    }

    #[test]
    fn window_admits_at_most_limit_per_sliding_second() {
        let mut w = Window::default();
        let t0 = Instant::now();
        assert!(w.admit(t0, Some(2)));
        assert!(w.admit(t0 + Duration::from_millis(500), Some(2)));
        assert!(!w.admit(t0 + Duration::from_millis(900), Some(2)));
        assert!(w.admit(t0 + Duration::from_millis(1000), Some(2)));
        assert!(!w.admit(t0 + Duration::from_millis(1400), Some(2)));
        assert!(w.admit(t0 + Duration::from_millis(1500), Some(2)));
        assert_eq!(w.max_seen, 2);
    }
}
