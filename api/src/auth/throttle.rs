//! Throttling of password guesses (logins, and the current password on `/me/password`), per
//! account and client address together, against the injected clock.
//!
//! A pair (account, address) that reaches `throttle_max_failures_per_account` failures must wait
//! before its next attempt (15 s), and twice as long after each further failure, up to
//! `throttle_window_secs`; a quiet window after the last wait forgives the failures. A guesser
//! therefore slows down only their own pair: the duty officer signing in from another address is
//! not locked out. An address that fails more than `throttle_max_failures_per_ip` times within the
//! window (one address trying many accounts) is held back for accounts that have not signed in from
//! it before; a shared address behind a NAT keeps working for the people who use it.
//!
//! Counters live in the process: with several instances behind a load balancer each enforces
//! its own limit, which still bounds guessing to limit × instances.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::header::{self, HeaderValue};
use chrono::{DateTime, Duration, Utc};

use crate::config::AuthConfig;
use crate::http::problem::{ApiError, ErrorCode};

/// The wait at the limit; each further failure doubles it.
const FIRST_DELAY_SECS: i64 = 15;
/// Pairs that signed in successfully are remembered this long (for the address limit).
const KNOWN_PAIR_DAYS: i64 = 90;
/// Bound on remembered entries, so that a flood of made-up names cannot grow memory without end.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Default)]
struct PairState {
    failures: u32,
    last_failure: Option<DateTime<Utc>>,
    blocked_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    pairs: HashMap<(String, String), PairState>,
    /// Failure times per address, across accounts.
    addresses: HashMap<String, Vec<DateTime<Utc>>>,
    /// Last successful sign-in per (account, address).
    known: HashMap<(String, String), DateTime<Utc>>,
}

/// A pair that must wait, or an address held back for unknown accounts (`account` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    pub account: Option<String>,
    pub address: String,
    pub failures: u32,
    pub until: DateTime<Utc>,
}

pub struct LoginThrottle {
    window: Duration,
    free_failures: u32,
    max_per_address: u32,
    state: Mutex<State>,
}

/// The 429 for a refused attempt, with `Retry-After`.
pub fn too_many(wait: i64) -> ApiError {
    ApiError::new(ErrorCode::TooManyAttempts)
        .with_detail(format!("too many wrong passwords; try again in {wait} seconds"))
        .with_header(header::RETRY_AFTER, HeaderValue::from(wait))
}

impl LoginThrottle {
    pub fn new(config: &AuthConfig) -> LoginThrottle {
        LoginThrottle {
            window: Duration::seconds(config.throttle_window_secs),
            free_failures: config.throttle_max_failures_per_account,
            max_per_address: config.throttle_max_failures_per_ip,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a pair waits after its `failures`-th failure: from the limit on, 15 s, 30 s, …
    fn delay_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        let secs = FIRST_DELAY_SECS.saturating_mul(1_i64 << over.min(20));
        Some(Duration::seconds(secs).min(self.window))
    }

    /// Counts this attempt as a failure before the password is checked, so that parallel
    /// guesses cannot overshoot the limit; [`record_success`](Self::record_success) takes it
    /// back. `Err(seconds to wait)` when the pair must wait or the address is held back.
    pub fn begin_attempt(&self, account: &str, ip: &str, now: DateTime<Utc>) -> Result<(), i64> {
        let mut state = self.lock();
        let cutoff = now - self.window;
        let key = (account.to_owned(), ip.to_owned());
        if let Some(pair) = state.pairs.get(&key)
            && let Some(until) = pair.blocked_until.filter(|until| *until > now)
        {
            return Err((until - now).num_seconds().max(1));
        }
        let known = state.known.get(&key).is_some_and(|at| *at > now - Duration::days(KNOWN_PAIR_DAYS));
        let failures_here = state.addresses.entry(ip.to_owned()).or_default();
        failures_here.retain(|t| *t > cutoff);
        let limit = self.max_per_address as usize;
        if !known && failures_here.len() >= limit {
            let oldest_relevant = failures_here[failures_here.len() - limit];
            return Err((oldest_relevant + self.window - now).num_seconds().max(1));
        }
        failures_here.push(now);
        let pair = state.pairs.entry(key).or_default();
        // A quiet window after the last failure's delay forgives the earlier failures.
        if pair.blocked_until.or(pair.last_failure).is_some_and(|quiet_from| quiet_from + self.window <= now) {
            *pair = PairState::default();
        }
        pair.failures += 1;
        pair.last_failure = Some(now);
        pair.blocked_until = self.delay_after(pair.failures).map(|delay| now + delay);
        if state.pairs.len() + state.addresses.len() + state.known.len() > MAX_ENTRIES {
            Self::prune(&mut state, now, cutoff);
        }
        Ok(())
    }

    fn prune(state: &mut State, now: DateTime<Utc>, cutoff: DateTime<Utc>) {
        state
            .pairs
            .retain(|_, p| p.blocked_until.is_some_and(|u| u > now) || p.last_failure.is_some_and(|t| t > cutoff));
        state.addresses.retain(|_, times| times.iter().any(|t| *t > cutoff));
        state.known.retain(|_, at| *at > now - Duration::days(KNOWN_PAIR_DAYS));
    }

    /// The right password: the pair's failures are forgotten, the address's count for this
    /// attempt is returned, and the pair is known from now on.
    pub fn record_success(&self, account: &str, ip: &str, attempted_at: DateTime<Utc>) {
        let mut state = self.lock();
        let key = (account.to_owned(), ip.to_owned());
        state.pairs.remove(&key);
        if let Some(attempts) = state.addresses.get_mut(ip)
            && let Some(position) = attempts.iter().rposition(|t| *t == attempted_at)
        {
            attempts.remove(position);
        }
        state.known.insert(key, attempted_at);
    }

    /// Current lockouts: pairs that must wait, and addresses held back for unknown accounts.
    pub fn lockouts(&self, now: DateTime<Utc>) -> Vec<Lockout> {
        let state = self.lock();
        let mut out: Vec<Lockout> = state
            .pairs
            .iter()
            .filter_map(|((account, address), pair)| {
                let until = pair.blocked_until.filter(|u| *u > now)?;
                Some(Lockout {
                    account: Some(account.clone()),
                    address: address.clone(),
                    failures: pair.failures,
                    until,
                })
            })
            .collect();
        let limit = self.max_per_address as usize;
        for (address, times) in &state.addresses {
            let recent: Vec<&DateTime<Utc>> = times.iter().filter(|t| **t > now - self.window).collect();
            if recent.len() >= limit {
                let until = *recent[recent.len() - limit] + self.window;
                let failures = u32::try_from(recent.len()).unwrap_or(u32::MAX);
                out.push(Lockout { account: None, address: address.clone(), failures, until });
            }
        }
        out.sort_by(|a, b| (&a.account, &a.address).cmp(&(&b.account, &b.address)));
        out
    }

    /// Lifts a lockout: a pair's failures are forgotten, or (without an account) the address's.
    /// Whether there was anything to lift.
    pub fn lift(&self, account: Option<&str>, ip: &str, now: DateTime<Utc>) -> bool {
        let mut state = self.lock();
        match account {
            Some(account) => state
                .pairs
                .remove(&(account.to_owned(), ip.to_owned()))
                .is_some_and(|pair| pair.blocked_until.is_some_and(|u| u > now)),
            None => state.addresses.remove(ip).is_some_and(|times| !times.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn throttle(free: u32, per_address: u32) -> LoginThrottle {
        let mut config = Config::default().auth;
        config.throttle_max_failures_per_account = free;
        config.throttle_max_failures_per_ip = per_address;
        config.throttle_window_secs = 900;
        LoginThrottle::new(&config)
    }

    #[test]
    fn from_the_limit_on_the_pair_waits_longer_after_each_failure() {
        let throttle = throttle(3, 1000);
        let t0 = Utc::now();
        for i in 0..3 {
            assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0 + Duration::seconds(i)), Ok(()));
        }
        // The third failure reached the limit: the pair waits 15 s, then 30 s after the next.
        let t = t0 + Duration::seconds(2);
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t + Duration::seconds(1)), Err(14));
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t + Duration::seconds(15)), Ok(()));
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t + Duration::seconds(16)), Err(29));
        // The same account from another address is not held back by the guesser.
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.9", t + Duration::seconds(16)), Ok(()));
        // Each further failure doubles the wait, up to the window; the pair is not forgiven
        // while it keeps failing.
        let mut at = t + Duration::seconds(45);
        let mut waits = Vec::new();
        for _ in 0..7 {
            assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", at), Ok(()));
            let wait = throttle.begin_attempt("ana", "10.0.0.1", at).unwrap_err();
            waits.push(wait);
            at += Duration::seconds(wait);
        }
        assert_eq!(waits, [60, 120, 240, 480, 900, 900, 900]);
        let lockouts = throttle.lockouts(at - Duration::seconds(1));
        assert_eq!(lockouts.len(), 1, "{lockouts:?}");
        assert_eq!((lockouts[0].account.as_deref(), lockouts[0].failures), (Some("ana"), 11));
        // A quiet window after the last delay forgives everything.
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", at + Duration::seconds(900)), Ok(()));
        assert!(throttle.lockouts(at + Duration::seconds(901)).is_empty());
    }

    #[test]
    fn a_busy_address_is_held_back_only_for_accounts_that_never_signed_in_from_it() {
        let throttle = throttle(5, 3);
        let t0 = Utc::now();
        // The duty officer has signed in from the shared address before.
        throttle.begin_attempt("duty", "10.0.0.1", t0).unwrap();
        throttle.record_success("duty", "10.0.0.1", t0);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(throttle.begin_attempt(name, "10.0.0.1", t0 + Duration::seconds(i as i64 + 1)), Ok(()));
        }
        assert!(throttle.begin_attempt("d", "10.0.0.1", t0 + Duration::seconds(5)).is_err());
        assert_eq!(throttle.begin_attempt("duty", "10.0.0.1", t0 + Duration::seconds(5)), Ok(()));
        let lockouts = throttle.lockouts(t0 + Duration::seconds(6));
        assert_eq!(lockouts.iter().filter(|l| l.account.is_none()).count(), 1, "{lockouts:?}");
        assert!(throttle.lift(None, "10.0.0.1", t0 + Duration::seconds(6)));
        assert_eq!(throttle.begin_attempt("d", "10.0.0.1", t0 + Duration::seconds(7)), Ok(()));
    }

    #[test]
    fn success_clears_the_pair_and_a_lifted_pair_may_try_again() {
        let throttle = throttle(2, 100);
        let t0 = Utc::now();
        throttle.begin_attempt("ana", "10.0.0.1", t0).unwrap();
        throttle.record_success("ana", "10.0.0.1", t0);
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0), Ok(()));
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0), Ok(()));
        assert!(throttle.begin_attempt("ana", "10.0.0.1", t0).is_err());
        assert!(throttle.lift(Some("ana"), "10.0.0.1", t0));
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0), Ok(()));
        assert!(!throttle.lift(Some("nobody"), "10.0.0.1", t0));
    }
}
