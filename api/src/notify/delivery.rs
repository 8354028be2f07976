//! What came back from a send: each HTTP attempt with the provider's answer, and the outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terren_contract::alerts::{NotificationChannel, NotificationOutcome};

use super::message::Address;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    Failed,
    /// The provider says the token or number is dead (or the address cannot be used at all);
    /// never retried.
    InvalidAddress,
}

impl From<Outcome> for NotificationOutcome {
    fn from(outcome: Outcome) -> NotificationOutcome {
        match outcome {
            Outcome::Delivered => NotificationOutcome::Delivered,
            Outcome::Failed => NotificationOutcome::Failed,
            Outcome::InvalidAddress => NotificationOutcome::InvalidAddress,
        }
    }
}

impl Outcome {
    /// The code recorded and logged.
    pub fn as_str(self) -> &'static str {
        NotificationOutcome::from(self).as_str()
    }
}

/// One attempt, recorded with the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub channel: NotificationChannel,
    /// 1 for the first attempt of a send.
    pub try_number: u32,
    pub started_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    /// FCM's message name, Twilio's message SID.
    pub provider_reference: Option<String>,
    /// The provider's body, cut to about 1 KiB.
    pub response: Option<String>,
    /// Why no usable answer came: network, timeout, refused credentials, an unusable address.
    pub error: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub outcome: Outcome,
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// A send cut off by the per-send deadline (`notify.send_deadline_ms`): it may be retried.
    pub fn timed_out(address: &Address, started_at: DateTime<Utc>, deadline: Duration) -> Delivery {
        let attempt = Attempt {
            channel: address.channel(),
            try_number: 1,
            started_at,
            http_status: None,
            provider_reference: None,
            response: None,
            error: Some(format!("no answer within the send deadline of {} ms", deadline.as_millis())),
            outcome: Outcome::Failed,
        };
        Delivery { outcome: Outcome::Failed, attempts: vec![attempt] }
    }
}
