//! The checks a configuration passes before the server starts: each names the key at fault.

use std::net::SocketAddr;

use secrecy::ExposeSecret;

use super::{Config, ConfigError};

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        self.database_target()?;
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1".into());
        }
        if !(50..=60_000).contains(&self.database.acquire_timeout_ms) {
            return invalid("database.acquire_timeout_ms must be between 50 and 60000".into());
        }
        if !(100..=300_000).contains(&self.http.request_header_timeout_ms)
            || !(100..=3_600_000).contains(&self.http.body_read_timeout_ms)
        {
            return invalid(
                "http.request_header_timeout_ms must be 100–300000 and http.body_read_timeout_ms 100–3600000".into(),
            );
        }
        for entry in &self.ops.metrics_allow_from {
            if crate::ops::address::AddressRange::parse(entry).is_none() {
                return invalid(format!(
                    "ops.metrics_allow_from: '{entry}' is not an address or network like 10.0.0.0/8"
                ));
            }
        }
        if self.ops.metrics_token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
            return invalid("ops.metrics_token must be at least 16 characters".into());
        }
        if self.http.bind.parse::<SocketAddr>().is_err() {
            return invalid(format!("http.bind '{}' is not an address like 127.0.0.1:8080", self.http.bind));
        }
        if !(1..=24 * 90).contains(&self.http.idempotency_ttl_hours) {
            return invalid("http.idempotency_ttl_hours must be between 1 and 2160".into());
        }
        if self.alerts.worker_concurrency == 0 || !(10..=60_000).contains(&self.alerts.worker_poll_ms) {
            return invalid("alerts.worker_concurrency must be ≥ 1 and alerts.worker_poll_ms 10–60000".into());
        }
        if !(1..=100).contains(&self.alerts.coverage_days) {
            return invalid("alerts.coverage_days must be between 1 and 100".into());
        }
        self.notify.validate().map_err(ConfigError::Invalid)?;
        self.validate_lifeline()?;
        if self.http.max_body_bytes < 1024 {
            return invalid("http.max_body_bytes must be at least 1024".into());
        }
        let auth = &self.auth;
        if !(60..=900).contains(&auth.access_token_ttl_secs) {
            return invalid("auth.access_token_ttl_secs must be between 60 and 900".into());
        }
        if auth.refresh_token_ttl_days < 1 || auth.session_max_days < auth.refresh_token_ttl_days {
            return invalid("auth.refresh_token_ttl_days must be ≥ 1 and ≤ auth.session_max_days".into());
        }
        for key in &auth.jwt_keys {
            if key.kid.is_empty() || key.kid.len() > 64 {
                return invalid("auth.jwt_keys: every key needs a kid of 1–64 characters".into());
            }
            if key.secret.expose_secret().len() < 32 {
                return invalid(format!("auth.jwt_keys: the secret of '{}' must be at least 32 bytes", key.kid));
            }
        }
        if auth.argon2_memory_kib < 8 * auth.argon2_parallelism || auth.argon2_iterations == 0 {
            return invalid("auth.argon2_*: memory must be ≥ 8 KiB per lane and iterations ≥ 1".into());
        }
        if auth.throttle_window_secs < 1
            || auth.throttle_max_failures_per_account == 0
            || auth.throttle_max_failures_per_ip == 0
        {
            return invalid("auth.throttle_*: window and limits must be positive".into());
        }
        let max_km = self.territory.max_centroid_distance_km;
        if max_km.is_nan() || max_km <= 0.0 {
            return invalid("territory.max_centroid_distance_km must be positive".into());
        }
        let profiles = &self.profiles;
        if !(10.0..=50_000.0).contains(&profiles.candidate_radius_m) {
            return invalid("profiles.candidate_radius_m must be between 10 and 50000".into());
        }
        if !(1..=3650).contains(&profiles.candidate_window_days) || !(1..=50).contains(&profiles.max_candidates) {
            return invalid("profiles.candidate_window_days must be 1–3650 and profiles.max_candidates 1–50".into());
        }
        if !(1..=365).contains(&self.sync.window_days) {
            return invalid("sync.window_days must be 1–365".into());
        }
        if !(64 * 1024..=256 * 1024 * 1024).contains(&self.sync.max_batch_bytes) {
            return invalid("sync.max_batch_bytes must be 64 KiB to 256 MiB".into());
        }
        if !(10_000..=1_000_000_000).contains(&self.sync.replica_ids) {
            return invalid("sync.replica_ids must be 10000–1000000000".into());
        }
        if !(10..=60_000).contains(&self.audit.seal_every_ms) {
            return invalid("audit.seal_every_ms must be 10–60000".into());
        }
        let retention = &self.retention;
        if retention.precise_location_days < 1
            || !(1..=10_000).contains(&retention.batch_size)
            || retention.change_feed_days < 1
        {
            return invalid(
                "retention.precise_location_days and retention.change_feed_days must be ≥ 1, retention.batch_size 1–10000"
                    .into(),
            );
        }
        Ok(())
    }
}
