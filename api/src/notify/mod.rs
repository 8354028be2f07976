//! Paging people: push (FCM HTTP v1), SMS (Twilio's API) and signed webhooks for partner systems.
//!
//! `Notifier::send` makes up to `max_tries` HTTP attempts on one address and records each with
//! the provider's answer; a page walks a person's addresses (push, then SMS) with it, and is sent
//! again later if none delivered. A
//! provider that says an address is dead (`InvalidAddress`) is never asked again for that
//! message. In `dry_run` mode nothing leaves the process: each send is logged and counts as
//! delivered.

mod fcm;
mod http;
mod retry;
mod sms;
pub mod webhook;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use retry::{Answer, Backoff, Verdict};

/// What to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique per notification (the outbox job id); providers and partners see it as the
    /// delivery id, so a retried send can be recognised as the same one.
    pub id: String,
    pub alert_id: String,
    /// `emergency`, `high` or `normal`.
    pub severity: String,
    /// Already in the recipient's language, short.
    pub title: String,
    pub body: String,
    /// Deep link or URL to the alert.
    pub link: Option<String>,
}

impl Message {
    /// Emergencies and high-severity alerts wake the phone.
    fn is_urgent(&self) -> bool {
        matches!(self.severity.as_str(), "emergency" | "high")
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
    /// `push`, `sms` or `webhook`.
    pub fn channel(&self) -> &'static str {
        match self {
            Address::Push { .. } => "push",
            Address::Sms { .. } => "sms",
            Address::Webhook { .. } => "webhook",
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
        write!(f, "{}:{}", self.channel(), self.masked())
    }
}

fn last_four(text: &str) -> String {
    let count = text.chars().count();
    let tail: String = text.chars().skip(count.saturating_sub(4)).collect();
    format!("…{tail}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    Failed,
    /// The provider says the token or number is dead (or the address cannot be used at all);
    /// never retried.
    InvalidAddress,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::InvalidAddress => "invalid_address",
        }
    }
}

/// One attempt, recorded with the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// `push`, `sms`, `webhook` or `dry_run`.
    pub channel: &'static str,
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

/// Sends notifications; cheap to share behind an `Arc`.
pub struct Notifier {
    clock: SharedClock,
    /// `None` in dry-run mode.
    live: Option<Live>,
}

struct Live {
    http: reqwest::Client,
    backoff: Backoff,
    max_tries: u32,
    fcm: Option<fcm::Fcm>,
    sms: Option<sms::Sms>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Notifier");
        match &self.live {
            None => out.field("mode", &NotifyMode::DryRun),
            Some(live) => out
                .field("mode", &NotifyMode::Live)
                .field("max_tries", &live.max_tries)
                .field("push", &live.fcm.is_some())
                .field("sms", &live.sms.is_some()),
        };
        out.finish()
    }
}

impl Notifier {
    /// Validates the configuration and, in live mode, loads the FCM service account and builds
    /// the HTTP client.
    pub fn from_config(cfg: &NotifyConfig, clock: SharedClock) -> anyhow::Result<Notifier> {
        cfg.validate().map_err(anyhow::Error::msg)?;
        if cfg.mode == NotifyMode::DryRun {
            tracing::warn!("notify.mode is dry_run: notifications are logged, not sent");
            return Ok(Notifier { clock, live: None });
        }
        let http = http::client(Duration::from_millis(cfg.timeout_ms))?;
        let fcm = cfg.fcm.as_ref().map(fcm::Fcm::load).transpose()?;
        let sms = cfg.sms.as_ref().map(sms::Sms::new);
        if fcm.is_none() && sms.is_none() {
            tracing::warn!("neither notify.fcm nor notify.sms is configured: only webhooks can be delivered");
        }
        let backoff = Backoff::new(cfg.backoff_base_ms, cfg.backoff_max_ms);
        Ok(Notifier { clock, live: Some(Live { http, backoff, max_tries: cfg.max_tries, fcm, sms }) })
    }

    pub fn is_dry_run(&self) -> bool {
        self.live.is_none()
    }

    /// Delivers `message` to one address, retrying what may succeed later. A 401 from FCM gets
    /// one extra attempt with a fresh access token.
    pub async fn send(&self, address: &Address, message: &Message) -> Delivery {
        let Some(live) = &self.live else { return self.dry_run(address, message) };
        let mut attempts = Vec::new();
        let mut budget = live.max_tries;
        let mut reauthenticated = false;
        let mut retries = 0;
        loop {
            let try_number = u32::try_from(attempts.len()).unwrap_or(u32::MAX).saturating_add(1);
            let started_at = self.clock.now();
            let answer = live.attempt(self.clock.as_ref(), address, message).await;
            let (outcome, wait) = match answer.verdict {
                Verdict::Delivered => (Outcome::Delivered, None),
                Verdict::InvalidAddress => (Outcome::InvalidAddress, None),
                Verdict::Failed => (Outcome::Failed, None),
                Verdict::Retry { after } => {
                    let wait = (try_number < budget).then(|| live.backoff.delay(retries, after));
                    retries += 1;
                    (Outcome::Failed, wait)
                }
                Verdict::Reauthenticate if !reauthenticated => {
                    reauthenticated = true;
                    budget = budget.saturating_add(1);
                    (Outcome::Failed, Some(Duration::ZERO))
                }
                Verdict::Reauthenticate => (Outcome::Failed, None),
            };
            log_attempt(address, message, try_number, &answer, outcome, wait.is_some());
            attempts.push(Attempt {
                channel: address.channel(),
                try_number,
                started_at,
                http_status: answer.http_status,
                provider_reference: answer.provider_reference,
                response: answer.response,
                error: answer.error,
                outcome,
            });
            match wait {
                None => return Delivery { outcome, attempts },
                Some(wait) if !wait.is_zero() => actix_web::rt::time::sleep(wait).await,
                Some(_) => {}
            }
        }
    }

    fn dry_run(&self, address: &Address, message: &Message) -> Delivery {
        tracing::info!(
            channel = address.channel(),
            to = %address.masked(),
            message_id = %message.id,
            title = %message.title,
            "dry run: notification not sent"
        );
        let attempt = Attempt {
            channel: "dry_run",
            try_number: 1,
            started_at: self.clock.now(),
            http_status: None,
            provider_reference: None,
            response: None,
            error: None,
            outcome: Outcome::Delivered,
        };
        Delivery { outcome: Outcome::Delivered, attempts: vec![attempt] }
    }
}

impl Live {
    async fn attempt(&self, clock: &dyn crate::clock::Clock, address: &Address, message: &Message) -> Answer {
        match address {
            Address::Push { token } => match &self.fcm {
                Some(fcm) => fcm.attempt(&self.http, clock, token, message).await,
                None => Answer::failed("push is not configured (notify.fcm)"),
            },
            Address::Sms { phone } => match &self.sms {
                Some(sms) => sms.attempt(&self.http, phone, message).await,
                None => Answer::failed("SMS is not configured (notify.sms)"),
            },
            Address::Webhook { url, secret } => webhook::attempt(&self.http, clock, url, secret, message).await,
        }
    }
}

// Provider bodies stay out of the log: an SMS provider echoes the number and the text.
fn log_attempt(address: &Address, message: &Message, try_number: u32, answer: &Answer, outcome: Outcome, again: bool) {
    let channel = address.channel();
    let to = address.masked();
    let status = answer.http_status;
    let error = answer.error.as_deref().unwrap_or("");
    match outcome {
        Outcome::Delivered => {
            tracing::info!(channel, %to, message_id = %message.id, try_number, ?status, "notification delivered");
        }
        _ => tracing::warn!(
            channel,
            %to,
            message_id = %message.id,
            try_number,
            ?status,
            error,
            outcome = outcome.as_str(),
            retrying = again,
            "notification attempt failed"
        ),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};

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
            severity: "emergency".into(),
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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};
    use wiremock::matchers::{any, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::testing::{clock, config, message, service_account_file, start};
    use super::*;

    fn sms_config(server: &MockServer) -> SmsConfig {
        SmsConfig {
            base_url: server.uri(),
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: SecretString::from("twilio-test-token"),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
        }
    }

    fn push_and_sms(server: &MockServer, dir: &std::path::Path) -> NotifyConfig {
        let account = service_account_file(dir, &format!("{}/token", server.uri()));
        NotifyConfig {
            fcm: Some(FcmConfig { service_account_file: account, endpoint: Some(server.uri()) }),
            sms: Some(sms_config(server)),
            ..config()
        }
    }

    fn addresses(server: &MockServer) -> Vec<Address> {
        vec![
            Address::Push { token: "fcm-token-of-the-duty-phone".into() },
            Address::Sms { phone: "+355691234567".into() },
            Address::Webhook { url: format!("{}/partner", server.uri()), secret: SecretString::from("s") },
        ]
    }

    #[actix_web::test]
    async fn a_timed_out_attempt_is_recorded_and_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/partner"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/partner"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let (_, clock) = clock();
        let notifier = Notifier::from_config(&NotifyConfig { timeout_ms: 50, ..config() }, clock).unwrap();
        let address = Address::Webhook { url: format!("{}/partner", server.uri()), secret: SecretString::from("s") };

        let delivery = notifier.send(&address, &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let [first, second] = &delivery.attempts[..] else { panic!("two attempts expected: {delivery:?}") };
        assert_eq!((first.try_number, first.http_status, first.outcome), (1, None, Outcome::Failed));
        assert_eq!(first.error.as_deref(), Some("timed out"));
        assert_eq!((second.try_number, second.http_status, second.outcome), (2, Some(204), Outcome::Delivered));
    }

    #[actix_web::test]
    async fn dry_run_makes_no_request_and_counts_as_delivered() {
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(500)).expect(0).mount(&server).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = NotifyConfig { mode: NotifyMode::DryRun, ..push_and_sms(&server, dir.path()) };
        let (_, clock) = clock();
        let notifier = Notifier::from_config(&cfg, clock).unwrap();
        assert!(notifier.is_dry_run());

        let push = notifier.send(&addresses(&server)[0], &message()).await;
        let sms = notifier.send(&addresses(&server)[1], &message()).await;

        for delivery in [&push, &sms] {
            assert_eq!(delivery.outcome, Outcome::Delivered);
            let expected = Attempt {
                channel: "dry_run",
                try_number: 1,
                started_at: start(),
                http_status: None,
                provider_reference: None,
                response: None,
                error: None,
                outcome: Outcome::Delivered,
            };
            assert_eq!(delivery.attempts, [expected]);
        }
    }

    #[actix_web::test]
    async fn an_unconfigured_channel_fails_at_once_so_the_next_address_is_tried() {
        let (_, clock) = clock();
        let notifier = Notifier::from_config(&config(), clock).unwrap();

        let delivery = notifier.send(&Address::Sms { phone: "+355691234567".into() }, &message()).await;

        assert_eq!(delivery.outcome, Outcome::Failed);
        assert_eq!(delivery.attempts.len(), 1);
        assert_eq!(delivery.attempts[0].error.as_deref(), Some("SMS is not configured (notify.sms)"));
    }

    #[test]
    fn send_can_run_on_a_multi_threaded_executor() {
        fn assert_send<T: Send>(_: &T) {}
        let (_, clock) = clock();
        let notifier = Arc::new(Notifier::from_config(&config(), clock).unwrap());
        let (address, message) = (Address::Sms { phone: "+355691234567".into() }, message());
        assert_send(&notifier.send(&address, &message));
    }

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
