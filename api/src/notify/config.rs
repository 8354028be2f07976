//! The `notify` settings: live or dry run, timeouts, tries and backoff, and the FCM and SMS
//! providers; checked without reading files or the network.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    Live,
    /// Log each notification instead of sending it; every send counts as delivered.
    DryRun,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub mode: NotifyMode,
    /// Limit for one HTTP attempt, connecting included.
    pub timeout_ms: u64,
    /// Attempts per address in one send (a page that is not delivered is sent again later, with
    /// backoff, until it is or the alert is acknowledged).
    pub max_tries: u32,
    /// Longest time one send to one address may take, all its attempts included; then the next
    /// address of the person is tried.
    pub send_deadline_ms: u64,
    /// Retry n waits a random time up to min(backoff_max_ms, backoff_base_ms · 2ⁿ), or what a
    /// 429/503 `Retry-After` asks for, never more than backoff_max_ms.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Push through Firebase Cloud Messaging; absent means push addresses fail.
    pub fcm: Option<FcmConfig>,
    /// SMS through Twilio (or a service with its API); absent means SMS addresses fail.
    pub sms: Option<SmsConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// A Google service-account key (JSON with project_id, client_email, private_key, token_uri).
    pub service_account_file: PathBuf,
    /// Defaults to `https://fcm.googleapis.com`.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default = "default_sms_base_url")]
    pub base_url: String,
    pub account_sid: String,
    #[serde(serialize_with = "serialize_secret")]
    pub auth_token: SecretString,
    /// Sender number; this or `messaging_service_sid` is required.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
}

fn default_sms_base_url() -> String {
    "https://api.twilio.com".to_owned()
}

// Like the other sections: the configuration is serialised only to be merged as defaults.
fn serialize_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            mode: NotifyMode::Live,
            timeout_ms: 5000,
            max_tries: 3,
            send_deadline_ms: 10_000,
            backoff_base_ms: 500,
            backoff_max_ms: 8000,
            fcm: None,
            sms: None,
        }
    }
}

impl NotifyConfig {
    /// Checks the settings without reading files or the network; messages name the keys.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=120_000).contains(&self.timeout_ms) {
            return Err("notify.timeout_ms must be between 1 and 120000".into());
        }
        if !(1..=10).contains(&self.max_tries) {
            return Err("notify.max_tries must be between 1 and 10".into());
        }
        if !(100..=600_000).contains(&self.send_deadline_ms) {
            return Err("notify.send_deadline_ms must be between 100 and 600000".into());
        }
        if self.backoff_base_ms > self.backoff_max_ms || self.backoff_max_ms > 600_000 {
            return Err("notify.backoff_base_ms must be ≤ notify.backoff_max_ms, and that ≤ 600000".into());
        }
        if let Some(endpoint) = self.fcm.as_ref().and_then(|fcm| fcm.endpoint.as_deref()) {
            check_base_url(endpoint).map_err(|e| format!("notify.fcm.endpoint: {e}"))?;
        }
        if let Some(sms) = &self.sms {
            check_base_url(&sms.base_url).map_err(|e| format!("notify.sms.base_url: {e}"))?;
            if sms.account_sid.is_empty() || !sms.account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err("notify.sms.account_sid must be a non-empty alphanumeric SID".into());
            }
            if sms.auth_token.expose_secret().is_empty() {
                return Err("notify.sms.auth_token must not be empty".into());
            }
            let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
            if !given(&sms.from) && !given(&sms.messaging_service_sid) {
                return Err("notify.sms needs a sender: set notify.sms.from or notify.sms.messaging_service_sid".into());
            }
        }
        Ok(())
    }
}

fn check_base_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(()),
        _ => Err(format!("'{url}' is not an http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    use super::*;
    use crate::notify::Notifier;
    use crate::notify::testing::{clock, config};

    #[test]
    fn defaults_and_toml_keys() {
        let cfg = NotifyConfig::default();
        assert_eq!(
            (cfg.mode, cfg.timeout_ms, cfg.max_tries, cfg.backoff_base_ms, cfg.backoff_max_ms),
            (NotifyMode::Live, 5000, 3, 500, 8000)
        );
        let toml = r#"
            mode = "dry_run"
            max_tries = 5
            [fcm]
            service_account_file = "/etc/terren/fcm.json"
            [sms]
            account_sid = "AC1"
            auth_token = "secret"
            messaging_service_sid = "MG1"
        "#;
        let cfg: NotifyConfig =
            Figment::from(Serialized::defaults(NotifyConfig::default())).merge(Toml::string(toml)).extract().unwrap();
        assert_eq!((cfg.mode, cfg.max_tries, cfg.timeout_ms), (NotifyMode::DryRun, 5, 5000));
        let sms = cfg.sms.as_ref().unwrap();
        assert_eq!(sms.base_url, "https://api.twilio.com");
        assert_eq!(sms.messaging_service_sid.as_deref(), Some("MG1"));
        assert_eq!(cfg.fcm.as_ref().unwrap().endpoint, None);
        assert!(!format!("{cfg:?}").contains("secret"));
        cfg.validate().unwrap();

        let unknown = Toml::string("mode = \"live\"\nretries = 3");
        assert!(
            Figment::from(Serialized::defaults(NotifyConfig::default()))
                .merge(unknown)
                .extract::<NotifyConfig>()
                .is_err()
        );
    }

    #[test]
    fn sms_needs_a_sender_and_settings_stay_in_range() {
        let sms = SmsConfig {
            base_url: "https://api.twilio.com".into(),
            account_sid: "AC1".into(),
            auth_token: SecretString::from("t"),
            from: None,
            messaging_service_sid: Some("  ".into()),
        };
        let (_, clock) = clock();
        let err = Notifier::from_config(&NotifyConfig { sms: Some(sms), ..config() }, clock).unwrap_err();
        assert!(err.to_string().contains("notify.sms.from or notify.sms.messaging_service_sid"), "{err}");

        for (cfg, key) in [
            (NotifyConfig { max_tries: 0, ..config() }, "notify.max_tries"),
            (NotifyConfig { timeout_ms: 0, ..config() }, "notify.timeout_ms"),
            (NotifyConfig { backoff_base_ms: 10, backoff_max_ms: 5, ..config() }, "notify.backoff_base_ms"),
        ] {
            assert!(cfg.validate().unwrap_err().contains(key), "{key}");
        }
    }
}
