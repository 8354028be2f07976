//! The SMS lifeline's settings: off unless configured, and then complete.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, serialize_secret_opt};

/// The SMS lifeline (`POST /api/v1/sms/inbound`): on when `inbound_number` and `webhook_url` are
/// set and a gateway auth token is known (`auth_token`, else `notify.sms.auth_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifelineConfig {
    /// The number phones send emergencies to, E.164 (`+355…`); told to the app at login.
    pub inbound_number: Option<String>,
    /// The full public URL the gateway posts inbound messages to, exactly as configured at the
    /// gateway, since its signature covers it: `https://terren.example.al/api/v1/sms/inbound`.
    pub webhook_url: Option<String>,
    /// The gateway's auth token, which signs its webhooks (Twilio: the account's auth token);
    /// absent, `notify.sms.auth_token` is used.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub auth_token: Option<SecretString>,
    /// An SMS whose observed time is older than this when it arrives is refused; one more than
    /// 15 minutes ahead of the server's clock too.
    pub max_delay_minutes: u32,
}

impl Default for LifelineConfig {
    fn default() -> Self {
        LifelineConfig { inbound_number: None, webhook_url: None, auth_token: None, max_delay_minutes: 120 }
    }
}

/// What the SMS lifeline runs with, once configured.
#[derive(Debug, Clone)]
pub struct Lifeline<'a> {
    pub inbound_number: &'a str,
    pub webhook_url: &'a str,
    pub auth_token: &'a SecretString,
    pub max_delay_minutes: u32,
}

impl Config {
    /// The SMS lifeline's settings, or `None` when it is off.
    pub fn lifeline(&self) -> Option<Lifeline<'_>> {
        let lifeline = &self.lifeline;
        Some(Lifeline {
            inbound_number: lifeline.inbound_number.as_deref()?,
            webhook_url: lifeline.webhook_url.as_deref()?,
            auth_token: lifeline.auth_token.as_ref().or(self.notify.sms.as_ref().map(|sms| &sms.auth_token))?,
            max_delay_minutes: lifeline.max_delay_minutes,
        })
    }
}

impl Config {
    /// The SMS lifeline is off with none of its keys set; once any is, it needs them all.
    pub(super) fn validate_lifeline(&self) -> Result<(), ConfigError> {
        let lifeline = &self.lifeline;
        if !(5..=24 * 60).contains(&lifeline.max_delay_minutes) {
            return Err(ConfigError::Invalid("lifeline.max_delay_minutes must be between 5 and 1440".into()));
        }
        if lifeline.inbound_number.is_none() && lifeline.webhook_url.is_none() && lifeline.auth_token.is_none() {
            return Ok(());
        }
        let mut missing = Vec::new();
        if lifeline.inbound_number.is_none() {
            missing.push("lifeline.inbound_number (the number phones send emergencies to)");
        }
        if lifeline.webhook_url.is_none() {
            missing.push("lifeline.webhook_url (the public URL the SMS gateway posts inbound messages to)");
        }
        if lifeline.auth_token.is_none() && self.notify.sms.is_none() {
            missing.push("lifeline.auth_token or notify.sms (the gateway's auth token that signs its webhooks)");
        }
        if !missing.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "the SMS lifeline is half configured: set {}",
                missing.join(", ")
            )));
        }
        if let Some(number) = &lifeline.inbound_number {
            let digits = number.strip_prefix('+').unwrap_or_default();
            if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::Invalid(format!(
                    "lifeline.inbound_number '{number}' is not an E.164 number like +355690000000"
                )));
            }
        }
        if let Some(url) = &lifeline.webhook_url {
            let parsed = reqwest::Url::parse(url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
                return Err(ConfigError::Invalid(format!(
                    "lifeline.webhook_url '{url}' is not an http(s) URL; give the full URL the gateway calls"
                )));
            }
        }
        if lifeline.auth_token.as_ref().is_some_and(|t| t.expose_secret().is_empty()) {
            return Err(ConfigError::Invalid("lifeline.auth_token must not be empty".into()));
        }
        Ok(())
    }
}
