//! What a notification says and where it goes: the message, and a push token, phone number or
//! partner endpoint that can be logged without giving it away.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use terren_contract::alerts::{NotificationChannel, Severity};

/// What to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique per notification (the outbox job id); providers and partners see it as the
    /// delivery id, so a retried send can be recognised as the same one.
    pub id: String,
    pub alert_id: String,
    pub severity: Severity,
    /// Already in the recipient's language, short.
    pub title: String,
    pub body: String,
    /// Deep link or URL to the alert.
    pub link: Option<String>,
}

impl Message {
    /// Emergencies and high-severity alerts wake the phone.
    pub(super) fn is_urgent(&self) -> bool {
        matches!(self.severity, Severity::Emergency | Severity::High)
    }
}

/// Where to say it.
#[derive(Clone)]
pub enum Address {
    /// An FCM registration token.
    Push { token: String },
    /// An E.164 phone number.
    Sms { phone: String },
    /// A partner's endpoint; the body is signed with `secret` (see [`webhook::sign`]).
    Webhook { url: String, secret: SecretString },
}

impl Address {
    pub fn channel(&self) -> NotificationChannel {
        match self {
            Address::Push { .. } => NotificationChannel::Push,
            Address::Sms { .. } => NotificationChannel::Sms,
            Address::Webhook { .. } => NotificationChannel::Webhook,
        }
    }

    /// Safe to log: the last four characters of a token or number, the host of a webhook
    /// (paths and queries may carry credentials).
    pub fn masked(&self) -> String {
        match self {
            Address::Push { token } => last_four(token),
            Address::Sms { phone } => last_four(phone),
            Address::Webhook { url, .. } => reqwest::Url::parse(url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| "(invalid url)".to_owned()),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel().as_str(), self.masked())
    }
}

fn last_four(text: &str) -> String {
    let count = text.chars().count();
    let tail: String = text.chars().skip(count.saturating_sub(4)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_masked() {
        let push = Address::Push { token: "dGhpcyBpcyBhIHRva2Vu".into() };
        let sms = Address::Sms { phone: "+355691234567".into() };
        let hook = Address::Webhook {
            url: "https://partner.example/hooks/terren?key=abc".into(),
            secret: SecretString::from("whsec"),
        };
        assert_eq!(format!("{push:?} {sms:?} {hook:?}"), "push:…a2Vu sms:…4567 webhook:partner.example");
    }
}
