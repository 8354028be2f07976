//! Push through Firebase Cloud Messaging's HTTP v1 API: the message a page sends to a device, and
//! how FCM's answer is read (delivered, a dead token, a refused access token, a retry). Sends are
//! authorised with the service account's access token (`access_token`).

mod access_token;
#[cfg(test)]
mod fixture;

use anyhow::{Context, anyhow};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::config::FcmConfig;
use super::http::Reply;
use super::message::Message;
use super::retry::{Answer, Verdict};
use crate::clock::Clock;
use access_token::AccessTokens;

const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: SecretString,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

pub(crate) struct Fcm {
    send_url: String,
    tokens: AccessTokens,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorStatus,
}

#[derive(Deserialize)]
struct ErrorStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDetail {
    error_code: Option<String>,
    #[serde(default)]
    field_violations: Vec<FieldViolation>,
}

#[derive(Deserialize)]
struct FieldViolation {
    #[serde(default)]
    field: String,
}

#[derive(Deserialize)]
struct SendResponse {
    name: Option<String>,
}

impl Fcm {
    pub(crate) fn load(cfg: &FcmConfig) -> anyhow::Result<Fcm> {
        let path = cfg.service_account_file.display();
        let text = std::fs::read_to_string(&cfg.service_account_file)
            .with_context(|| format!("notify.fcm.service_account_file: cannot read {path}"))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .with_context(|| format!("notify.fcm.service_account_file: {path} is not a service-account key"))?;
        let signing_key = access_token::rsa_signing_key(account.private_key.expose_secret())
            .with_context(|| format!("notify.fcm.service_account_file: the private_key in {path}"))?;
        let project_ok = !account.project_id.is_empty()
            && account.project_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
        if !project_ok {
            return Err(anyhow!("notify.fcm.service_account_file: {path} has no usable project_id"));
        }
        let endpoint = cfg.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/');
        Ok(Fcm {
            send_url: format!("{endpoint}/v1/projects/{}/messages:send", account.project_id),
            tokens: AccessTokens::new(account.client_email, account.private_key_id, signing_key, account.token_uri),
        })
    }

    pub(crate) async fn attempt(
        &self,
        http: &reqwest::Client,
        clock: &dyn Clock,
        token: &str,
        message: &Message,
    ) -> Answer {
        if token.is_empty() {
            return Answer::invalid_address("empty FCM registration token");
        }
        let access = match self.tokens.get(http, clock).await {
            Ok(access) => access,
            Err(answer) => return answer,
        };
        let reply = match Reply::exchange(
            http.post(&self.send_url).bearer_auth(access.expose_secret()).json(&payload(token, message)),
        )
        .await
        {
            Ok(reply) => reply,
            Err(answer) => return answer,
        };
        if reply.is_success() {
            let name = reply.json::<SendResponse>().and_then(|r| r.name);
            return Answer::replied(&reply, Verdict::Delivered, name);
        }
        let verdict = classify(&reply);
        if verdict == Verdict::Reauthenticate {
            self.tokens.forget(&access);
        }
        Answer::replied(&reply, verdict, None)
    }
}

fn payload(token: &str, message: &Message) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    data.insert("alert_id".into(), message.alert_id.clone().into());
    data.insert("message_id".into(), message.id.clone().into());
    data.insert("severity".into(), json!(message.severity));
    if let Some(link) = &message.link {
        data.insert("link".into(), link.clone().into());
    }
    let urgent = message.is_urgent();
    json!({
        "message": {
            "token": token,
            "notification": { "title": message.title, "body": message.body },
            "data": data,
            "android": { "priority": if urgent { "HIGH" } else { "NORMAL" } },
            "apns": { "headers": { "apns-priority": if urgent { "10" } else { "5" } } },
        }
    })
}

fn classify(reply: &Reply) -> Verdict {
    let error = reply.json::<ErrorBody>().map(|body| body.error);
    let code = |wanted: &str| {
        error.as_ref().is_some_and(|e| e.details.iter().any(|d| d.error_code.as_deref() == Some(wanted)))
    };
    if reply.status == 404 || code("UNREGISTERED") || code("SENDER_ID_MISMATCH") {
        return Verdict::InvalidAddress;
    }
    if reply.status == 400 {
        // INVALID_ARGUMENT also covers a payload FCM rejects; only a bad token makes the
        // address dead, otherwise every device's token would be thrown away over one bug.
        let about_token = error.as_ref().is_some_and(|e| {
            e.status == "INVALID_ARGUMENT"
                && (e.details.iter().flat_map(|d| &d.field_violations).any(|v| v.field == "message.token")
                    || e.message.contains("registration token"))
        });
        return if about_token { Verdict::InvalidAddress } else { Verdict::Failed };
    }
    match reply.status {
        401 => Verdict::Reauthenticate,
        429 | 500..=599 => Verdict::Retry { after: reply.throttled_for() },
        _ => Verdict::Failed,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::Duration;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;
    use terren_contract::alerts::{NotificationChannel, Severity};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    use super::fixture::{DEVICE, SEND_PATH, fcm_error, fixture, form, push, sent, token_answer};
    use super::*;
    use crate::notify::testing::{self, SERVICE_ACCOUNT, clock, message};
    use crate::notify::{Notifier, NotifyConfig, Outcome};

    fn public_key() -> DecodingKey {
        let account: serde_json::Value = serde_json::from_str(SERVICE_ACCOUNT).unwrap();
        let key = RsaPrivateKey::from_pkcs8_pem(account["private_key"].as_str().unwrap()).unwrap();
        DecodingKey::from_rsa_components(
            &URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            &URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        )
        .unwrap()
    }

    #[actix_web::test]
    async fn push_exchanges_a_signed_assertion_and_sends_the_exact_message() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.first"))
            .expect(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(sent("projects/terren-test/messages/0:1"))
            .expect(2)
            .mount(&f.server)
            .await;

        let first = f.notifier.send(&push(), &message()).await;
        f.clock.advance(Duration::minutes(30));
        let normal = Message { severity: Severity::Normal, link: None, ..message() };
        let second = f.notifier.send(&push(), &normal).await;

        assert_eq!(first.outcome, Outcome::Delivered);
        let attempt = &first.attempts[0];
        assert_eq!(
            (attempt.channel, attempt.try_number, attempt.http_status),
            (NotificationChannel::Push, 1, Some(200))
        );
        assert_eq!(attempt.provider_reference.as_deref(), Some("projects/terren-test/messages/0:1"));
        assert_eq!(attempt.started_at, testing::start());
        assert_eq!(second.outcome, Outcome::Delivered);

        let requests = f.server.received_requests().await.unwrap();
        let [token, send1, send2] = &requests[..] else { panic!("{requests:?}") };

        let token_uri = format!("{}/token", f.server.uri());
        assert_eq!(token.headers["content-type"], "application/x-www-form-urlencoded");
        let fields = form(&token.body);
        let [(grant_key, grant), (assertion_key, assertion)] = &fields[..] else { panic!("{fields:?}") };
        assert_eq!((grant_key.as_str(), grant.as_str()), ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"));
        assert_eq!(assertion_key, "assertion");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&token_uri]);
        validation.set_issuer(&["notify@terren-test.iam.gserviceaccount.com"]);
        // The assertion is dated by the test clock, not by the machine's.
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(assertion, &public_key(), &validation).unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"));
        let iat = testing::start().timestamp();
        assert_eq!(
            decoded.claims,
            json!({
                "iss": "notify@terren-test.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/firebase.messaging",
                "aud": token_uri,
                "iat": iat,
                "exp": iat + 3600,
            })
        );

        for request in [send1, send2] {
            assert_eq!(request.url.path(), SEND_PATH);
            assert_eq!(request.headers["authorization"], "Bearer ya29.first");
            assert_eq!(request.headers["content-type"], "application/json");
        }
        assert_eq!(
            send1.body_json::<serde_json::Value>().unwrap(),
            json!({"message": {
                "token": DEVICE,
                "notification": {"title": "Fëmijë në rrezik", "body": "Vajzë rreth 8 vjeç, vetëm, Rruga e Durrësit"},
                "data": {
                    "alert_id": "0195f3a2-6b00-7000-8000-00000000a1e7",
                    "message_id": "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a",
                    "severity": "emergency",
                    "link": "https://terren.example/alerts/0195f3a2-6b00-7000-8000-00000000a1e7",
                },
                "android": {"priority": "HIGH"},
                "apns": {"headers": {"apns-priority": "10"}},
            }})
        );
        let normal_body = send2.body_json::<serde_json::Value>().unwrap();
        assert_eq!(normal_body["message"]["android"], json!({"priority": "NORMAL"}));
        assert_eq!(normal_body["message"]["apns"], json!({"headers": {"apns-priority": "5"}}));
        assert_eq!(
            normal_body["message"]["data"],
            json!({
                "alert_id": "0195f3a2-6b00-7000-8000-00000000a1e7",
                "message_id": "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a",
                "severity": "normal",
            })
        );
    }

    #[actix_web::test]
    async fn an_unregistered_token_is_an_invalid_address_after_one_attempt() {
        let f = fixture().await;
        Mock::given(method("POST")).and(path("/token")).respond_with(token_answer("ya29.first")).mount(&f.server).await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
            .expect(1)
            .mount(&f.server)
            .await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::InvalidAddress);
        let [attempt] = &delivery.attempts[..] else { panic!("{delivery:?}") };
        assert_eq!((attempt.http_status, attempt.outcome), (Some(404), Outcome::InvalidAddress));
        assert!(attempt.response.as_deref().unwrap().contains("UNREGISTERED"));
    }

    #[actix_web::test]
    async fn invalid_argument_kills_the_address_only_when_it_is_about_the_token() {
        let f = fixture().await;
        Mock::given(method("POST")).and(path("/token")).respond_with(token_answer("ya29.first")).mount(&f.server).await;
        let bad_token = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400, "message": "The registration token is not a valid FCM registration token", "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
                {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}]}
            ]
        }}));
        let bad_payload = ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400, "message": "Invalid value at 'message.data[0].value'", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.data[0].value"}]}]
        }}));
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(bad_token)
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(bad_payload).expect(1).mount(&f.server).await;

        let token = f.notifier.send(&push(), &message()).await;
        let payload = f.notifier.send(&push(), &message()).await;

        assert_eq!((token.outcome, token.attempts.len()), (Outcome::InvalidAddress, 1));
        assert_eq!((payload.outcome, payload.attempts.len()), (Outcome::Failed, 1));
    }

    #[actix_web::test]
    async fn unavailable_then_ok_is_delivered_on_the_second_attempt() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.first"))
            .expect(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"))
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(sent("projects/terren-test/messages/2"))
            .mount(&f.server)
            .await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let recorded: Vec<_> =
            delivery.attempts.iter().map(|a| (a.try_number, a.http_status, a.outcome, a.error.clone())).collect();
        assert_eq!(recorded, [(1, Some(503), Outcome::Failed, None), (2, Some(200), Outcome::Delivered, None)]);
        assert!(delivery.attempts[0].response.as_deref().unwrap().contains("UNAVAILABLE"));
    }

    #[test]
    fn a_broken_service_account_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sa.json");
        std::fs::write(&file, r#"{"project_id":"p","client_email":"e","private_key":"not a key"}"#).unwrap();
        let cfg =
            NotifyConfig { fcm: Some(FcmConfig { service_account_file: file, endpoint: None }), ..testing::config() };
        let (_, clock) = clock();
        let err = Notifier::from_config(&cfg, Arc::clone(&clock)).unwrap_err();
        assert!(format!("{err:#}").contains("is not an RSA private key"), "{err:#}");

        let cfg = NotifyConfig {
            fcm: Some(FcmConfig { service_account_file: dir.path().join("missing.json"), endpoint: None }),
            ..testing::config()
        };
        let err = Notifier::from_config(&cfg, clock).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
