//! Login throttling per account and per client address, against the injected clock.
//!
//! Counters live in the process: with several instances behind a load balancer each enforces
//! its own limit, which still bounds guessing to limit × instances per window.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::config::AuthConfig;

pub struct LoginThrottle {
    window: Duration,
    max_per_account: u32,
    max_per_ip: u32,
    state: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

impl LoginThrottle {
    pub fn new(config: &AuthConfig) -> LoginThrottle {
        LoginThrottle {
            window: Duration::seconds(config.throttle_window_secs),
            max_per_account: config.throttle_max_failures_per_account,
            max_per_ip: config.throttle_max_failures_per_ip,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, ip: &str) -> [(String, bool); 2] {
        [(format!("account:{account}"), true), (format!("ip:{ip}"), false)]
    }

    /// Counts this attempt before the password is checked, so that parallel guesses cannot
    /// overshoot the limit. `Err(seconds to wait)` when the account or the address is over it.
    pub fn begin_attempt(&self, account: &str, ip: &str, now: DateTime<Utc>) -> Result<(), i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let cutoff = now - self.window;
        let mut wait = None;
        for (key, is_account) in Self::keys(account, ip) {
            let limit = if is_account { self.max_per_account } else { self.max_per_ip } as usize;
            if let Some(attempts) = state.get_mut(&key) {
                attempts.retain(|t| *t > cutoff);
                if attempts.len() >= limit {
                    let oldest_relevant = attempts[attempts.len() - limit];
                    let secs = (oldest_relevant + self.window - now).num_seconds().max(1);
                    wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
                }
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in Self::keys(account, ip) {
            state.entry(key).or_default().push(now);
        }
        if state.len() > 100_000 {
            state.retain(|_, attempts| attempts.iter().any(|t| *t > cutoff));
        }
        Ok(())
    }

    /// A successful login forgets the account's failures and releases the address's count for
    /// this attempt.
    pub fn record_success(&self, account: &str, ip: &str, attempted_at: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.remove(&format!("account:{account}"));
        if let Some(attempts) = state.get_mut(&format!("ip:{ip}"))
            && let Some(position) = attempts.iter().rposition(|t| *t == attempted_at)
        {
            attempts.remove(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn limits_per_account_and_per_address_then_window_passes() {
        let mut config = Config::default().auth;
        config.throttle_max_failures_per_account = 3;
        config.throttle_max_failures_per_ip = 5;
        config.throttle_window_secs = 600;
        let throttle = LoginThrottle::new(&config);
        let t0 = Utc::now();
        for i in 0..3 {
            assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0 + Duration::seconds(i)), Ok(()));
        }
        let wait = throttle.begin_attempt("ana", "10.0.0.9", t0 + Duration::seconds(10)).unwrap_err();
        assert!((589..=600).contains(&wait), "{wait}");
        // Another account from the same address is still allowed, until the address limit.
        assert_eq!(throttle.begin_attempt("beni", "10.0.0.1", t0), Ok(()));
        assert_eq!(throttle.begin_attempt("cima", "10.0.0.1", t0), Ok(()));
        assert!(throttle.begin_attempt("dora", "10.0.0.1", t0).is_err());
        // After the window everything is allowed again.
        assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0 + Duration::seconds(700)), Ok(()));
    }

    #[test]
    fn success_clears_the_account_and_returns_the_address_slot() {
        let mut config = Config::default().auth;
        config.throttle_max_failures_per_account = 2;
        config.throttle_max_failures_per_ip = 2;
        let throttle = LoginThrottle::new(&config);
        let t0 = Utc::now();
        throttle.begin_attempt("ana", "10.0.0.1", t0).unwrap();
        throttle.record_success("ana", "10.0.0.1", t0);
        for i in 1..=2 {
            assert_eq!(throttle.begin_attempt("ana", "10.0.0.1", t0 + Duration::seconds(i)), Ok(()));
        }
        assert!(throttle.begin_attempt("ana", "10.0.0.1", t0 + Duration::seconds(3)).is_err());
    }
}
