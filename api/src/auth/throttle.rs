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

    /// `Some(seconds to wait)` when either the account or the address is over its limit.
    pub fn check(&self, account: &str, ip: &str, now: DateTime<Utc>) -> Option<i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for (key, is_account) in Self::keys(account, ip) {
            let limit = if is_account { self.max_per_account } else { self.max_per_ip } as usize;
            if let Some(failures) = state.get_mut(&key) {
                failures.retain(|t| *t > now - self.window);
                if failures.len() >= limit {
                    let oldest_relevant = failures[failures.len() - limit];
                    let secs = (oldest_relevant + self.window - now).num_seconds().max(1);
                    wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, account: &str, ip: &str, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _) in Self::keys(account, ip) {
            let failures = state.entry(key).or_default();
            failures.retain(|t| *t > now - self.window);
            failures.push(now);
        }
        if state.len() > 100_000 {
            let cutoff = now - self.window;
            state.retain(|_, failures| failures.iter().any(|t| *t > cutoff));
        }
    }

    /// A successful login forgets the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.remove(&format!("account:{account}"));
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
            assert_eq!(throttle.check("ana", "10.0.0.1", t0), None);
            throttle.record_failure("ana", "10.0.0.1", t0 + Duration::seconds(i));
        }
        let wait = throttle.check("ana", "10.0.0.9", t0 + Duration::seconds(10)).unwrap();
        assert!((589..=600).contains(&wait), "{wait}");
        // Another account from the same address is still allowed, until the address limit.
        assert_eq!(throttle.check("beni", "10.0.0.1", t0), None);
        throttle.record_failure("beni", "10.0.0.1", t0);
        throttle.record_failure("cima", "10.0.0.1", t0);
        assert!(throttle.check("dora", "10.0.0.1", t0).is_some());
        // After the window everything is allowed again.
        assert_eq!(throttle.check("ana", "10.0.0.1", t0 + Duration::seconds(700)), None);
    }
}
