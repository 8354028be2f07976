//! Shared by the provider tests: a manual clock, the message, a live configuration with quick
//! retries, and a test service account pointing at a mock token endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use terren_contract::alerts::Severity;

use super::{Message, NotifyConfig, NotifyMode};
use crate::clock::{ManualClock, SharedClock};

pub(crate) const SERVICE_ACCOUNT: &str = include_str!("testdata/service-account.json");

pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).single().unwrap()
}

pub(crate) fn clock() -> (ManualClock, SharedClock) {
    let clock = ManualClock::new(start());
    (clock.clone(), Arc::new(clock) as SharedClock)
}

pub(crate) fn message() -> Message {
    Message {
        id: "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a".into(),
        alert_id: "0195f3a2-6b00-7000-8000-00000000a1e7".into(),
        severity: Severity::Emergency,
        title: "Fëmijë në rrezik".into(),
        body: "Vajzë rreth 8 vjeç, vetëm, Rruga e Durrësit".into(),
        link: Some("https://terren.example/alerts/0195f3a2-6b00-7000-8000-00000000a1e7".into()),
    }
}

/// Live, with 1 ms backoff so that retries do not slow the tests.
pub(crate) fn config() -> NotifyConfig {
    NotifyConfig {
        mode: NotifyMode::Live,
        timeout_ms: 2000,
        max_tries: 3,
        send_deadline_ms: 10_000,
        backoff_base_ms: 1,
        backoff_max_ms: 1,
        fcm: None,
        sms: None,
    }
}

/// The test service account with its token endpoint moved to `token_uri`.
pub(crate) fn service_account_file(dir: &Path, token_uri: &str) -> PathBuf {
    let mut account: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
    account["token_uri"] = token_uri.into();
    let path = dir.join("service-account.json");
    std::fs::write(&path, account.to_string()).unwrap();
    path
}
