//! The one retry policy of the client: exponential backoff with full jitter,
//! capped, added to a server's `Retry-After` (never sooner), and the rules that say
//! which failures may be retried at all.
//!
//! The contract distinguishes reads from writes. A GET (or a logon) may be
//! repeated after any transient failure. A POST may be sent again only when it
//! failed *before the server could act* (connection refused, `503`, a `4xx`
//! such as `401` after a new logon); when its outcome is unknown (timeout,
//! connection dropped after sending, `500`) it must not be repeated blindly:
//! the engine reconciles against the pool first.

use std::time::Duration;

/// How a failed HTTP exchange may be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server did not act on the request: sending it again is safe.
    /// `retry_after` is the server's `Retry-After`, when it gave one.
    NotActed { retry_after: Option<Duration> },
    /// The server may or may not have acted (timeout, connection lost after
    /// sending, `500`). Safe to repeat for a read, never for a write.
    Unknown { retry_after: Option<Duration> },
    /// Repeating would not help (`400`, `403`, `404`, ...).
    Permanent,
}

/// What went wrong in one exchange, as seen by the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symptom {
    /// No connection could be made: the request never left.
    ConnectFailed,
    /// No complete answer within the timeout.
    TimedOut,
    /// The connection broke after the request was (maybe) sent.
    ConnectionLost,
    /// The server answered with this status.
    Status(u16, Option<Duration>),
}

/// Classify one failed exchange. `401` is not classified here: the client
/// handles it by logging on again once, before any retry policy applies.
pub fn classify(symptom: Symptom) -> Failure {
    match symptom {
        Symptom::ConnectFailed => Failure::NotActed { retry_after: None },
        Symptom::TimedOut | Symptom::ConnectionLost => Failure::Unknown { retry_after: None },
        // Overloaded or in maintenance: refused before acting.
        Symptom::Status(503, ra) | Symptom::Status(429, ra) => {
            Failure::NotActed { retry_after: ra }
        }
        Symptom::Status(s, ra) if s >= 500 => Failure::Unknown { retry_after: ra },
        Symptom::Status(_, _) => Failure::Permanent,
    }
}

/// Whether a read (GET, logon, logoff) should be tried again after `failure`.
pub fn read_may_retry(failure: Failure) -> bool {
    !matches!(failure, Failure::Permanent)
}

/// Whether a write (POST) may be sent again after `failure` without first
/// reconciling against the pool.
pub fn write_may_resend(failure: Failure) -> bool {
    matches!(failure, Failure::NotActed { .. })
}

/// Exponential backoff with full jitter (`random(0, min(cap, base * 2^n))`),
/// after the server's `Retry-After` when it gave one.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most attempts of one request, the first included (`--retries`).
    pub attempts: u32,
    /// Backoff ceiling after the first failure.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The policy with `attempts` attempts and the default base and cap.
    pub fn new(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: attempts.max(1),
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }

    /// Whether attempt number `attempt` (1-based) may be followed by another.
    pub fn has_more(&self, attempt: u32) -> bool {
        attempt < self.attempts
    }

    /// How long to wait after the `failures`-th failure (1-based).
    pub fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let ceiling = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let jittered = Duration::from_micros(rand::random_range(0..=ceiling.as_micros() as u64));
        // Retry-After is when the server is ready again, not when every
        // refused request should come back at once: the jitter goes on top.
        match retry_after {
            Some(ra) => ra + jittered,
            None => jittered,
        }
    }

    /// The delay to wait for a failure, if it may be retried; `None` when
    /// attempts are exhausted or the failure does not allow it.
    pub fn next_delay(&self, attempt: u32, failure: Failure, write: bool) -> Option<Duration> {
        let allowed = if write {
            write_may_resend(failure)
        } else {
            read_may_retry(failure)
        };
        if !allowed || !self.has_more(attempt) {
            return None;
        }
        let ra = match failure {
            Failure::NotActed { retry_after } | Failure::Unknown { retry_after } => retry_after,
            Failure::Permanent => None,
        };
        Some(self.backoff(attempt, ra))
    }
}

/// Parse a `Retry-After` header value given in seconds (the HTTP-date form is
/// not used by Enterprise Manager and is ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_resend_only_when_the_server_did_not_act() {
        let resend = |s| write_may_resend(classify(s));
        assert!(resend(Symptom::ConnectFailed));
        assert!(resend(Symptom::Status(503, None)));
        assert!(!resend(Symptom::Status(500, None)));
        assert!(!resend(Symptom::TimedOut));
        assert!(!resend(Symptom::ConnectionLost));
        assert!(!resend(Symptom::Status(400, None)));
    }

    #[test]
    fn reads_retry_transient_failures_only() {
        let retry = |s| read_may_retry(classify(s));
        assert!(retry(Symptom::TimedOut));
        assert!(retry(Symptom::Status(500, None)));
        assert!(retry(Symptom::Status(503, None)));
        assert!(retry(Symptom::ConnectionLost));
        assert!(!retry(Symptom::Status(404, None)));
    }

    #[test]
    fn backoff_is_capped_jittered_and_honours_retry_after() {
        let p = RetryPolicy::new(5);
        for n in 1..30 {
            let d = p.backoff(n, None);
            assert!(d <= p.cap, "{d:?}");
            let ceiling = p.base.saturating_mul(1 << (n - 1).min(20)).min(p.cap);
            assert!(d <= ceiling);
        }
        assert!(p.backoff(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        // After a Retry-After, the refused requests spread out instead of
        // all coming back at the same instant.
        let after: std::collections::HashSet<_> = (0..50)
            .map(|_| p.backoff(2, Some(Duration::from_secs(1))))
            .collect();
        assert!(after.len() > 10, "{after:?}");
        assert!(
            after
                .iter()
                .all(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(1) + p.base * 2)
        );
        // Full jitter: not always the ceiling.
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(4, None)).collect();
        assert!(distinct.len() > 10);
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy::new(3);
        let f = Failure::NotActed { retry_after: None };
        assert!(p.next_delay(1, f, true).is_some());
        assert!(p.next_delay(2, f, true).is_some());
        assert!(p.next_delay(3, f, true).is_none());
        assert!(
            p.next_delay(1, Failure::Unknown { retry_after: None }, true)
                .is_none()
        );
        assert!(
            p.next_delay(1, Failure::Unknown { retry_after: None }, false)
                .is_some()
        );
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
