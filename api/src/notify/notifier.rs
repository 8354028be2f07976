//! Sending one message to one address: up to `max_tries` attempts with jittered backoff, one more
//! with a fresh FCM access token after a 401, each attempt recorded and logged; in dry-run mode,
//! only logged.

use std::fmt;
use std::time::Duration;

use terren_contract::alerts::NotificationChannel;

use super::config::{NotifyConfig, NotifyMode};
use super::delivery::{Attempt, Delivery, Outcome};
use super::message::{Address, Message};
use super::retry::{Answer, Backoff, Verdict};
use super::{fcm, http, sms, webhook};
use crate::clock::SharedClock;

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
            channel = address.channel().as_str(),
            to = %address.masked(),
            message_id = %message.id,
            title = %message.title,
            "dry run: notification not sent"
        );
        let attempt = Attempt {
            channel: NotificationChannel::DryRun,
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
    let channel = address.channel().as_str();
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
mod tests {
    use std::sync::Arc;

    use secrecy::SecretString;
    use wiremock::matchers::{any, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::notify::testing::{clock, config, message, service_account_file, start};
    use crate::notify::{FcmConfig, SmsConfig};

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
                channel: NotificationChannel::DryRun,
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
}
