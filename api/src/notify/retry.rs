//! What one attempt came to, and how long to wait before the next.

use std::time::Duration;

use super::http::{Reply, describe};

/// What an attempt means for the send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// The provider says the address is dead, or it cannot be used at all.
    InvalidAddress,
    /// Asking again cannot help: a refusal or a misconfiguration.
    Failed,
    /// Worth another attempt; `after` is what the provider asked for (429/503 `Retry-After`).
    Retry {
        after: Option<Duration>,
    },
    /// The credentials were refused: one more attempt at once, with fresh ones.
    Reauthenticate,
}

/// One attempt's result, before it becomes an `Attempt` record.
#[derive(Debug)]
pub(crate) struct Answer {
    pub http_status: Option<u16>,
    pub provider_reference: Option<String>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub verdict: Verdict,
}

impl Answer {
    /// Nothing was sent, and sending later would not change that.
    pub(crate) fn failed(error: impl Into<String>) -> Answer {
        Answer::unsent(error, Verdict::Failed)
    }

    pub(crate) fn invalid_address(error: impl Into<String>) -> Answer {
        Answer::unsent(error, Verdict::InvalidAddress)
    }

    pub(crate) fn unsent(error: impl Into<String>, verdict: Verdict) -> Answer {
        Answer { http_status: None, provider_reference: None, response: None, error: Some(error.into()), verdict }
    }

    /// The request got no answer (connection, timeout). A request reqwest could not even build
    /// would fail the same way again.
    pub(crate) fn transport(err: &reqwest::Error) -> Answer {
        let verdict = if err.is_builder() { Verdict::Failed } else { Verdict::Retry { after: None } };
        Answer::unsent(describe(err), verdict)
    }

    pub(crate) fn replied(reply: &Reply, verdict: Verdict, provider_reference: Option<String>) -> Answer {
        Answer { http_status: Some(reply.status), provider_reference, response: reply.recorded(), error: None, verdict }
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    base_ms: u64,
    max_ms: u64,
}

impl Backoff {
    pub(crate) fn new(base_ms: u64, max_ms: u64) -> Backoff {
        Backoff { base_ms, max_ms }
    }

    /// The longest wait before retry `retry` (0 for the first): min(max, base · 2^retry).
    pub(crate) fn ceiling_ms(&self, retry: u32) -> u64 {
        let factor = 1u64.checked_shl(retry).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// A random wait in [0, ceiling], or the provider's `Retry-After` when it gave one; never
    /// longer than the maximum.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.max_ms);
        match retry_after {
            Some(after) => after.min(max),
            None => Duration::from_millis(random_up_to(self.ceiling_ms(retry))),
        }
    }
}

/// Uniform in [0, max] (the modulo bias is negligible for millisecond ranges).
fn random_up_to(max: u64) -> u64 {
    match getrandom::u64() {
        Ok(random) => random % max.saturating_add(1),
        // Without randomness the full wait is the safe choice: it still spreads load.
        Err(_) => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_maximum() {
        let backoff = Backoff::new(500, 8000);
        let ceilings: Vec<u64> = (0..7).map(|retry| backoff.ceiling_ms(retry)).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(backoff.ceiling_ms(200), 8000);
    }

    #[test]
    fn jitter_stays_within_the_ceiling_and_varies() {
        let backoff = Backoff::new(500, 8000);
        let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(1, None)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1000)));
        assert!(delays.iter().any(|d| *d != delays[0]), "full jitter should not repeat one value");
        assert_eq!(Backoff::new(0, 0).delay(3, None), Duration::ZERO);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let backoff = Backoff::new(500, 8000);
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(120))), Duration::from_secs(8));
    }
}
