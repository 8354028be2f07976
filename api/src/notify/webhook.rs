//! Signed webhooks for partner systems.
//!
//! Each attempt POSTs the alert as JSON with three headers: `X-Terren-Delivery` (the message
//! id, the same on every retry, so a partner can drop repeats), `X-Terren-Timestamp` (Unix
//! seconds) and `X-Terren-Signature: sha256=<hex>`, the lowercase hex HMAC-SHA256 of
//! `"<timestamp>.<raw body>"` keyed with the address's secret. A receiver recomputes it over
//! the bytes it received ([`verify`]) and should refuse timestamps far from its own clock.

use std::net::IpAddr;

use chrono::SecondsFormat;
use hmac::{Hmac, Mac};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use terren_contract::alerts::AlertWebhook;

use super::http::Reply;
use super::message::Message;
use super::retry::{Answer, Verdict};
use crate::clock::Clock;

pub const DELIVERY_HEADER: &str = "X-Terren-Delivery";
pub const TIMESTAMP_HEADER: &str = "X-Terren-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Terren-Signature";

/// The `X-Terren-Signature` value for `body` sent at `timestamp`: `sha256=<lowercase hex>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * tag.len());
    out.push_str("sha256=");
    for byte in tag {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Whether `signature` (an `X-Terren-Signature` value) signs `body` at `timestamp`; compared in
/// constant time.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature.strip_prefix("sha256=").and_then(decode_hex) else { return false };
    mac(secret, timestamp, body).verify_slice(&tag).is_ok()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes.chunks_exact(2).map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?)).collect()
}

/// Alerts about children do not travel in clear text; plain http is allowed only to this
/// machine (a local relay, tests).
fn target(url: &str) -> Result<Url, String> {
    let url = Url::parse(url).map_err(|_| "not a URL".to_owned())?;
    let Some(host) = url.host_str() else { return Err("the URL has no host".into()) };
    let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>();
    let loopback = host == "localhost" || ip.is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("webhooks must use https".into()),
    }
}

pub(crate) async fn attempt(
    http: &reqwest::Client,
    clock: &dyn Clock,
    url: &str,
    secret: &SecretString,
    message: &Message,
) -> Answer {
    let target = match target(url) {
        Ok(target) => target,
        Err(why) => return Answer::invalid_address(why),
    };
    // Signed afresh on every attempt, so a retry carries a current timestamp.
    let now = clock.now();
    let timestamp = now.timestamp();
    let payload = AlertWebhook {
        id: message.id.clone(),
        alert_id: message.alert_id.clone(),
        severity: message.severity,
        title: message.title.clone(),
        body: message.body.clone(),
        link: message.link.clone(),
        sent_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    let body = match serde_json::to_vec(&payload) {
        Ok(body) => body,
        Err(err) => return Answer::failed(format!("could not encode the webhook body: {err}")),
    };
    let signature = sign(secret.expose_secret().as_bytes(), timestamp, &body);
    let reply = match Reply::exchange(
        http.post(target)
            .header(CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, &message.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body),
    )
    .await
    {
        Ok(reply) => reply,
        Err(answer) => return answer,
    };
    let verdict = match reply.status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::InvalidAddress,
        408 | 429 | 500..=599 => Verdict::Retry { after: reply.throttled_for() },
        _ => Verdict::Failed,
    };
    Answer::replied(&reply, verdict, None)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::notify::testing::{self, clock, message};
    use crate::notify::{Address, Notifier, Outcome};

    const SECRET: &str = "whsec_3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e";

    fn hook(server: &MockServer) -> Address {
        Address::Webhook { url: format!("{}/hooks/terren", server.uri()), secret: SecretString::from(SECRET) }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '%s' '1700000000.{"id":"job-1"}' | openssl dgst -sha256 -hmac whsec_test
        let expected = "sha256=2c080f0b2685cf2edc6213f4d50b130f38cc01b5886d6724a988e7f86f3bf479";
        assert_eq!(sign(b"whsec_test", 1_700_000_000, br#"{"id":"job-1"}"#), expected);
        assert!(verify(b"whsec_test", 1_700_000_000, br#"{"id":"job-1"}"#, expected));
        assert!(verify(
            b"whsec_test",
            1_700_000_000,
            br#"{"id":"job-1"}"#,
            &expected.to_uppercase().replace("SHA256", "sha256")
        ));
        assert!(!verify(b"whsec_test", 1_700_000_001, br#"{"id":"job-1"}"#, expected));
        assert!(!verify(b"whsec_test", 1_700_000_000, br#"{"id":"job-2"}"#, expected));
        assert!(!verify(b"other", 1_700_000_000, br#"{"id":"job-1"}"#, expected));
        for malformed in ["", "sha256=", "sha256=abc", "sha1=2c08", &expected[7..], &expected[..expected.len() - 2]] {
            assert!(!verify(b"whsec_test", 1_700_000_000, br#"{"id":"job-1"}"#, malformed), "{malformed}");
        }
    }

    #[actix_web::test]
    async fn a_webhook_is_signed_over_the_exact_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/terren"))
            .respond_with(ResponseTemplate::new(202))
            .expect(1)
            .mount(&server)
            .await;
        let (manual, shared) = clock();
        manual.advance(Duration::milliseconds(750));
        let notifier = Notifier::from_config(&testing::config(), shared).unwrap();

        let delivery = notifier.send(&hook(&server), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        assert_eq!(delivery.attempts[0].http_status, Some(202));
        let requests = server.received_requests().await.unwrap();
        let request = &requests[0];
        let timestamp = testing::start().timestamp();
        let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("x-terren-delivery"), "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a");
        assert_eq!(header("x-terren-timestamp"), timestamp.to_string());
        assert!(verify(SECRET.as_bytes(), timestamp, &request.body, &header("x-terren-signature")));
        assert_eq!(
            String::from_utf8(request.body.clone()).unwrap(),
            concat!(
                r#"{"id":"0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a","alert_id":"0195f3a2-6b00-7000-8000-00000000a1e7","#,
                r#""severity":"emergency","title":"Fëmijë në rrezik","body":"Vajzë rreth 8 vjeç, vetëm, Rruga e Durrësit","#,
                r#""link":"https://terren.example/alerts/0195f3a2-6b00-7000-8000-00000000a1e7","#,
                r#""sent_at":"2026-03-14T09:30:00Z"}"#
            )
        );
    }

    #[actix_web::test]
    async fn a_server_error_is_retried_and_the_retry_signed_afresh() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/terren"))
            .respond_with(ResponseTemplate::new(500).set_body_string("database is down"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/hooks/terren"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let (_, shared) = clock();
        let notifier = Notifier::from_config(&testing::config(), shared).unwrap();

        let delivery = notifier.send(&hook(&server), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let recorded: Vec<_> =
            delivery.attempts.iter().map(|a| (a.try_number, a.http_status, a.response.clone(), a.outcome)).collect();
        assert_eq!(
            recorded,
            [
                (1, Some(500), Some("database is down".to_owned()), Outcome::Failed),
                (2, Some(200), None, Outcome::Delivered)
            ]
        );
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        for request in &requests {
            let timestamp: i64 = request.headers["x-terren-timestamp"].to_str().unwrap().parse().unwrap();
            let signature = request.headers["x-terren-signature"].to_str().unwrap();
            assert!(verify(SECRET.as_bytes(), timestamp, &request.body, signature));
        }
    }

    #[actix_web::test]
    async fn gone_is_an_invalid_address_and_other_refusals_are_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/gone"))
            .respond_with(ResponseTemplate::new(410))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/forbidden"))
            .respond_with(ResponseTemplate::new(403))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/moved"))
            .respond_with(ResponseTemplate::new(301).insert_header("Location", "https://elsewhere.example/"))
            .expect(1)
            .mount(&server)
            .await;
        let (_, shared) = clock();
        let notifier = Notifier::from_config(&testing::config(), shared).unwrap();
        let at = |p: &str| Address::Webhook { url: format!("{}{p}", server.uri()), secret: SecretString::from(SECRET) };

        let gone = notifier.send(&at("/gone"), &message()).await;
        let forbidden = notifier.send(&at("/forbidden"), &message()).await;
        let moved = notifier.send(&at("/moved"), &message()).await;

        assert_eq!((gone.outcome, gone.attempts.len()), (Outcome::InvalidAddress, 1));
        assert_eq!((forbidden.outcome, forbidden.attempts.len()), (Outcome::Failed, 1));
        assert_eq!((moved.outcome, moved.attempts[0].http_status), (Outcome::Failed, Some(301)));
    }

    #[actix_web::test]
    async fn an_unreachable_partner_is_retried_and_each_attempt_recorded() {
        // Bind and drop a listener to get a local port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (_, shared) = clock();
        let notifier = Notifier::from_config(&testing::config(), shared).unwrap();
        let address =
            Address::Webhook { url: format!("http://127.0.0.1:{port}/hook"), secret: SecretString::from(SECRET) };

        let delivery = notifier.send(&address, &message()).await;

        assert_eq!((delivery.outcome, delivery.attempts.len()), (Outcome::Failed, 3));
        for attempt in &delivery.attempts {
            assert_eq!(attempt.http_status, None);
            let error = attempt.error.as_deref().unwrap();
            assert!(error.starts_with("could not connect") && !error.contains(&port.to_string()), "{error}");
        }
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(target("https://partner.example/hook").is_ok());
        assert!(target("http://127.0.0.1:9000/hook").is_ok());
        assert!(target("http://localhost/hook").is_ok());
        assert!(target("http://[::1]/hook").is_ok());
        assert_eq!(target("http://partner.example/hook").unwrap_err(), "webhooks must use https");
        assert_eq!(target("ftp://partner.example/hook").unwrap_err(), "webhooks must use https");
        assert_eq!(target("partner.example/hook").unwrap_err(), "not a URL");
    }
}
