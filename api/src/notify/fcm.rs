//! Push through Firebase Cloud Messaging's HTTP v1 API, authorised with a service account
//! (OAuth 2.0 JWT-bearer grant).

use std::sync::Mutex;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http::Reply;
use super::retry::{Answer, Verdict};
use super::{FcmConfig, Message};
use crate::clock::Clock;

const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// A cached access token is replaced this long before it expires.
const REFRESH_MARGIN_SECS: i64 = 60;

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: SecretString,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

pub(crate) struct Fcm {
    client_email: String,
    key_id: Option<String>,
    signing_key: EncodingKey,
    token_uri: String,
    send_url: String,
    token: Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: SecretString,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    expires_in: i64,
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
        let signing_key = rsa_signing_key(account.private_key.expose_secret())
            .with_context(|| format!("notify.fcm.service_account_file: the private_key in {path}"))?;
        let project_ok = !account.project_id.is_empty()
            && account.project_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
        if !project_ok {
            return Err(anyhow!("notify.fcm.service_account_file: {path} has no usable project_id"));
        }
        let endpoint = cfg.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT).trim_end_matches('/');
        Ok(Fcm {
            send_url: format!("{endpoint}/v1/projects/{}/messages:send", account.project_id),
            client_email: account.client_email,
            key_id: account.private_key_id,
            signing_key,
            token_uri: account.token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            token: Mutex::new(None),
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
        let access = match self.access_token(http, clock).await {
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
            self.forget(&access);
        }
        Answer::replied(&reply, verdict, None)
    }

    async fn access_token(&self, http: &reqwest::Client, clock: &dyn Clock) -> Result<SecretString, Answer> {
        let now = clock.now();
        if let Some(token) = self.cached(now) {
            return Ok(token);
        }
        let assertion =
            self.assertion(now).map_err(|e| Answer::failed(format!("signing the token request failed: {e}")))?;
        let form = [("grant_type", GRANT_TYPE), ("assertion", assertion.as_str())];
        let reply = Reply::exchange(http.post(&self.token_uri).form(&form)).await.map_err(|mut answer| {
            answer.error = answer.error.map(|e| format!("access token: {e}"));
            answer
        })?;
        if !reply.is_success() {
            let verdict = match reply.status {
                429 | 500..=599 => Verdict::Retry { after: reply.throttled_for() },
                _ => Verdict::Failed,
            };
            let mut answer = Answer::unsent(format!("access token refused: HTTP {}", reply.status), verdict);
            answer.response = reply.recorded();
            return Err(answer);
        }
        // The body is not recorded: it may hold a token in a shape this code does not expect.
        let Some(granted) = reply.json::<TokenResponse>() else {
            return Err(Answer::failed("access token: unreadable answer from the token endpoint"));
        };
        // Counted from before the request, so the token is never thought to live longer than it
        // does; a day at most, whatever the endpoint says.
        let expires_at = now + Duration::seconds(granted.expires_in.clamp(0, 86_400));
        let value = granted.access_token.clone();
        *self.token.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(AccessToken { value: granted.access_token, expires_at });
        Ok(value)
    }

    fn cached(&self, now: DateTime<Utc>) -> Option<SecretString> {
        let token = self.token.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        token
            .as_ref()
            .filter(|token| now < token.expires_at - Duration::seconds(REFRESH_MARGIN_SECS))
            .map(|token| token.value.clone())
    }

    /// Drops the cached token if it is the one refused (another send may have replaced it).
    fn forget(&self, refused: &SecretString) {
        let mut token = self.token.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if token.as_ref().is_some_and(|t| t.value.expose_secret() == refused.expose_secret()) {
            *token = None;
        }
    }

    fn assertion(&self, now: DateTime<Utc>) -> jsonwebtoken::errors::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        let iat = now.timestamp();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.signing_key)
    }
}

/// Service accounts carry PKCS#8 keys; jsonwebtoken signs with PKCS#1 DER.
fn rsa_signing_key(pem: &str) -> anyhow::Result<EncodingKey> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| anyhow!("is not an RSA private key in PEM form"))?;
    let der = key.to_pkcs1_der().map_err(|e| anyhow!("cannot be encoded: {e}"))?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}

fn payload(token: &str, message: &Message) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    data.insert("alert_id".into(), message.alert_id.clone().into());
    data.insert("message_id".into(), message.id.clone().into());
    data.insert("severity".into(), message.severity.clone().into());
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
    use jsonwebtoken::{DecodingKey, Validation};
    use rsa::traits::PublicKeyParts;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::notify::testing::{self, SERVICE_ACCOUNT, clock, message, service_account_file};
    use crate::notify::{Address, Notifier, NotifyConfig, Outcome};

    const SEND_PATH: &str = "/v1/projects/terren-test/messages:send";
    const DEVICE: &str = "fcm-token-of-the-duty-phone";

    struct Fixture {
        server: MockServer,
        notifier: Notifier,
        clock: crate::clock::ManualClock,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let server = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let account = service_account_file(dir.path(), &format!("{}/token", server.uri()));
        let cfg = NotifyConfig {
            fcm: Some(FcmConfig { service_account_file: account, endpoint: Some(server.uri()) }),
            ..testing::config()
        };
        let (manual, shared) = clock();
        let notifier = Notifier::from_config(&cfg, shared).unwrap();
        Fixture { server, notifier, clock: manual, _dir: dir }
    }

    fn token_answer(token: &str) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .set_body_json(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
    }

    fn sent(name: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({ "name": name }))
    }

    fn fcm_error(status: u16, grpc: &str, error_code: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(json!({"error": {
            "code": status, "message": "refused", "status": grpc,
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
        }}))
    }

    fn push() -> Address {
        Address::Push { token: DEVICE.into() }
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(body).unwrap()
    }

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
        let normal = Message { severity: "normal".into(), link: None, ..message() };
        let second = f.notifier.send(&push(), &normal).await;

        assert_eq!(first.outcome, Outcome::Delivered);
        let attempt = &first.attempts[0];
        assert_eq!((attempt.channel, attempt.try_number, attempt.http_status), ("push", 1, Some(200)));
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
    async fn an_access_token_about_to_expire_is_replaced() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.first"))
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.second"))
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(sent("projects/terren-test/messages/1"))
            .mount(&f.server)
            .await;

        f.notifier.send(&push(), &message()).await;
        // 3599 s granted, replaced 60 s early.
        f.clock.advance(Duration::seconds(3539));
        f.notifier.send(&push(), &message()).await;

        let requests = f.server.received_requests().await.unwrap();
        let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
        assert_eq!(paths, ["/token", SEND_PATH, "/token", SEND_PATH]);
        assert_eq!(requests[3].headers["authorization"], "Bearer ya29.second");
        let iat = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&form(&requests[2].body)[1].1)
            .unwrap()
            .claims["iat"]
            .clone();
        assert_eq!(iat, json!((testing::start() + Duration::seconds(3539)).timestamp()));
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

    #[actix_web::test]
    async fn a_refused_access_token_is_replaced_once() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.stale"))
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST")).and(path("/token")).respond_with(token_answer("ya29.fresh")).mount(&f.server).await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"))
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(sent("projects/terren-test/messages/3"))
            .mount(&f.server)
            .await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let statuses: Vec<_> = delivery.attempts.iter().map(|a| a.http_status).collect();
        assert_eq!(statuses, [Some(401), Some(200)]);
        let requests = f.server.received_requests().await.unwrap();
        let seen: Vec<(&str, Option<&str>)> = requests
            .iter()
            .map(|r| (r.url.path(), r.headers.get("authorization").map(|v| v.to_str().unwrap())))
            .collect();
        assert_eq!(
            seen,
            [
                ("/token", None),
                (SEND_PATH, Some("Bearer ya29.stale")),
                ("/token", None),
                (SEND_PATH, Some("Bearer ya29.fresh"))
            ]
        );
    }

    #[actix_web::test]
    async fn a_second_refusal_is_not_retried() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(token_answer("ya29.any"))
            .expect(2)
            .mount(&f.server)
            .await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"))
            .expect(2)
            .mount(&f.server)
            .await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!((delivery.outcome, delivery.attempts.len()), (Outcome::Failed, 2));
    }

    #[actix_web::test]
    async fn a_token_endpoint_outage_is_retried() {
        let f = fixture().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(503).set_body_string("backend error"))
            .up_to_n_times(1)
            .mount(&f.server)
            .await;
        Mock::given(method("POST")).and(path("/token")).respond_with(token_answer("ya29.first")).mount(&f.server).await;
        Mock::given(method("POST"))
            .and(path(SEND_PATH))
            .respond_with(sent("projects/terren-test/messages/4"))
            .expect(1)
            .mount(&f.server)
            .await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Delivered);
        let first = &delivery.attempts[0];
        assert_eq!(
            (first.http_status, first.error.as_deref(), first.response.as_deref()),
            (None, Some("access token refused: HTTP 503"), Some("backend error"))
        );
        assert_eq!(delivery.attempts[1].http_status, Some(200));
    }

    #[actix_web::test]
    async fn a_refused_service_account_fails_without_retry() {
        let f = fixture().await;
        let refused = ResponseTemplate::new(400)
            .set_body_json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}));
        Mock::given(method("POST")).and(path("/token")).respond_with(refused).expect(1).mount(&f.server).await;
        Mock::given(method("POST")).and(path(SEND_PATH)).respond_with(sent("x")).expect(0).mount(&f.server).await;

        let delivery = f.notifier.send(&push(), &message()).await;

        assert_eq!(delivery.outcome, Outcome::Failed);
        let [attempt] = &delivery.attempts[..] else { panic!("{delivery:?}") };
        assert_eq!(attempt.error.as_deref(), Some("access token refused: HTTP 400"));
        assert!(attempt.response.as_deref().unwrap().contains("invalid_grant"));
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
