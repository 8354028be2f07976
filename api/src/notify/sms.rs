//! SMS through Twilio's Messages API (or a service that speaks it).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::SmsConfig;
use super::http::Reply;
use super::message::Message;
use super::retry::{Answer, Verdict};

/// Twilio's limit for one message body, in UTF-16 units (what it counts in).
const MAX_UNITS: usize = 1600;

/// Twilio error codes that mean the number will never work: invalid 'To' number (21211), cannot
/// be reached (21214), does not appear valid (21217), unsubscribed recipient (21610), not a
/// mobile number (21614).
const DEAD_NUMBER_CODES: [i64; 5] = [21211, 21214, 21217, 21610, 21614];

pub(crate) struct Sms {
    url: String,
    account_sid: String,
    auth_token: SecretString,
    from: Option<String>,
    messaging_service_sid: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
}

impl Sms {
    /// `cfg` has passed `NotifyConfig::validate`.
    pub(crate) fn new(cfg: &SmsConfig) -> Sms {
        let given =
            |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        Sms {
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                cfg.base_url.trim_end_matches('/'),
                cfg.account_sid
            ),
            account_sid: cfg.account_sid.clone(),
            auth_token: cfg.auth_token.clone(),
            from: given(&cfg.from),
            messaging_service_sid: given(&cfg.messaging_service_sid),
        }
    }

    pub(crate) async fn attempt(&self, http: &reqwest::Client, phone: &str, message: &Message) -> Answer {
        if !is_e164(phone) {
            return Answer::invalid_address("not an E.164 phone number");
        }
        let text = sms_text(message);
        let mut form = vec![("To", phone), ("Body", text.as_str())];
        if let Some(sid) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", sid));
        }
        if let Some(from) = &self.from {
            form.push(("From", from));
        }
        let reply = match Reply::exchange(
            http.post(&self.url).basic_auth(&self.account_sid, Some(self.auth_token.expose_secret())).form(&form),
        )
        .await
        {
            Ok(reply) => reply,
            Err(answer) => return answer,
        };
        if reply.is_success() {
            let sid = reply.json::<Created>().and_then(|created| created.sid);
            return Answer::replied(&reply, Verdict::Delivered, sid);
        }
        let code = reply.json::<TwilioError>().and_then(|error| error.code);
        let verdict = match reply.status {
            400..=499 if code.is_some_and(|code| DEAD_NUMBER_CODES.contains(&code)) => Verdict::InvalidAddress,
            429 | 500..=599 => Verdict::Retry { after: reply.throttled_for() },
            _ => Verdict::Failed,
        };
        Answer::replied(&reply, verdict, None)
    }
}

/// `+` and 8 to 15 digits, the first not 0.
fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// "title — body", then the link on its own line; the text gives way so the link survives.
fn sms_text(message: &Message) -> String {
    let link = message.link.as_deref().map(|link| format!("\n{link}")).filter(|link| units(link) <= MAX_UNITS / 4);
    let room = MAX_UNITS - link.as_deref().map_or(0, units);
    let mut text = fit(&format!("{} — {}", message.title, message.body), room);
    text.push_str(link.as_deref().unwrap_or_default());
    text
}

fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to at most `room` UTF-16 units, ending in … when cut.
fn fit(text: &str, room: usize) -> String {
    if units(text) <= room {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in text.chars() {
        used += c.len_utf16();
        if used > room {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use secrecy::SecretString;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use terren_contract::alerts::NotificationChannel;

    use super::*;
    use crate::notify::testing::{self, clock, message};
    use crate::notify::{Address, Notifier, NotifyConfig, Outcome};

    const SID: &str = "AC00000000000000000000000000000001";
    const SEND_PATH: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";
    const PHONE: &str = "+355691234567";

    fn notifier(server: &MockServer, from: Option<&str>, messaging_service_sid: Option<&str>) -> Notifier {
        let cfg = NotifyConfig {
            sms: Some(SmsConfig {
                base_url: format!("{}/", server.uri()),
                account_sid: SID.into(),
                auth_token: SecretString::from("twilio-test-token"),
                from: from.map(str::to_owned),
                messaging_service_sid: messaging_service_sid.map(str::to_owned),
            }),
            ..testing::config()
        };
        Notifier::from_config(&cfg, clock().1).unwrap()
    }

    fn sms() -> Address {
        Address::Sms { phone: PHONE.into() }
    }

    fn twilio_error(status: u16, code: i64) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(serde_json::json!({
            "code": code, "message": "refused", "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
        }))
    }

    #[actix_web::test]
    async fn sms_posts_the_form_with_basic_auth() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(
                    serde_json::json!({"sid": "SM5e1c0a5b0c2d4e6f8a9b0c1d2e3f4a5b", "status": "queued"}),
                ),
            )
            .expect(2)
            .mount(&server)
            .await;

        let delivery = notifier(&server, Some("+15005550006"), None).send(&sms(), &message()).await;
        notifier(&server, None, Some("MG00000000000000000000000000000002")).send(&sms(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let [attempt] = &delivery.attempts[..] else { panic!("{delivery:?}") };
        assert_eq!((attempt.channel, attempt.http_status), (NotificationChannel::Sms, Some(201)));
        assert_eq!(attempt.provider_reference.as_deref(), Some("SM5e1c0a5b0c2d4e6f8a9b0c1d2e3f4a5b"));

        let requests = server.received_requests().await.unwrap();
        let basic = format!("Basic {}", STANDARD.encode(format!("{SID}:twilio-test-token")));
        let text = "Fëmijë në rrezik — Vajzë rreth 8 vjeç, vetëm, Rruga e Durrësit\n\
                    https://terren.example/alerts/0195f3a2-6b00-7000-8000-00000000a1e7";
        for (request, sender) in requests
            .iter()
            .zip([("From", "+15005550006"), ("MessagingServiceSid", "MG00000000000000000000000000000002")])
        {
            assert_eq!(request.url.path(), SEND_PATH);
            assert_eq!(request.headers["authorization"], basic.as_str());
            assert_eq!(request.headers["content-type"], "application/x-www-form-urlencoded");
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
            let expected: Vec<(String, String)> = [("To", PHONE), ("Body", text), sender]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
            assert_eq!(fields, expected);
        }
    }

    #[actix_web::test]
    async fn an_invalid_number_is_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(twilio_error(400, 21211))
            .expect(1)
            .mount(&server)
            .await;

        let delivery = notifier(&server, Some("+15005550006"), None).send(&sms(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::InvalidAddress);
        let [attempt] = &delivery.attempts[..] else { panic!("{delivery:?}") };
        assert_eq!((attempt.http_status, attempt.outcome), (Some(400), Outcome::InvalidAddress));
        assert!(attempt.response.as_deref().unwrap().contains("21211"));
    }

    #[actix_web::test]
    async fn server_errors_are_retried_up_to_max_tries() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(ResponseTemplate::new(500))
            .expect(3)
            .mount(&server)
            .await;

        let delivery = notifier(&server, Some("+15005550006"), None).send(&sms(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Failed);
        let recorded: Vec<_> = delivery.attempts.iter().map(|a| (a.try_number, a.http_status, a.outcome)).collect();
        assert_eq!(
            recorded,
            [(1, Some(500), Outcome::Failed), (2, Some(500), Outcome::Failed), (3, Some(500), Outcome::Failed)]
        );
    }

    #[actix_web::test]
    async fn other_refusals_fail_without_retry_and_throttling_is_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(twilio_error(401, 20003))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(twilio_error(429, 20429).insert_header("Retry-After", "1"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM2"})))
            .mount(&server)
            .await;
        let notifier = notifier(&server, Some("+15005550006"), None);

        let refused = notifier.send(&sms(), &message()).await;
        let throttled = notifier.send(&sms(), &message()).await;

        assert_eq!((refused.outcome, refused.attempts.len()), (Outcome::Failed, 1));
        let statuses: Vec<_> = throttled.attempts.iter().map(|a| a.http_status).collect();
        assert_eq!((throttled.outcome, statuses), (Outcome::Delivered, vec![Some(429), Some(201)]));
    }

    #[actix_web::test]
    async fn a_malformed_number_is_refused_without_a_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(201)).expect(0).mount(&server).await;

        let delivery = notifier(&server, Some("+15005550006"), None)
            .send(&Address::Sms { phone: "069 123 4567".into() }, &message())
            .await;

        assert_eq!(delivery.outcome, Outcome::InvalidAddress);
        assert_eq!(delivery.attempts[0].error.as_deref(), Some("not an E.164 phone number"));
    }

    #[test]
    fn e164() {
        assert!(is_e164("+355691234567"));
        assert!(is_e164("+15005550006"));
        for bad in ["355691234567", "+0355691234567", "+355 69 123 4567", "+1234567", "+1234567890123456", ""] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn a_long_text_is_cut_but_keeps_its_link() {
        let link = "https://terren.example/alerts/1";
        let long = Message { body: "ë".repeat(3000), link: Some(link.into()), ..message() };
        let text = sms_text(&long);
        assert_eq!(units(&text), MAX_UNITS);
        assert!(text.ends_with(&format!("…\n{link}")), "{text}");
        assert!(text.starts_with("Fëmijë në rrezik — ëëë"));

        let astral = Message { body: "🚨".repeat(1000), link: None, ..message() };
        assert!(units(&sms_text(&astral)) <= MAX_UNITS);

        let short = Message { link: None, ..message() };
        assert_eq!(sms_text(&short), "Fëmijë në rrezik — Vajzë rreth 8 vjeç, vetëm, Rruga e Durrësit");
    }
}
