//! The OAuth 2.0 access token FCM sends carry: a JWT assertion signed with the service account's
//! key (the JWT-bearer grant), exchanged at the token endpoint and kept until shortly before it
//! expires; a token FCM refuses is dropped so that the next send fetches a fresh one.

use std::sync::Mutex;

use anyhow::anyhow;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::notify::http::Reply;
use crate::notify::retry::{Answer, Verdict};

const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// A cached access token is replaced this long before it expires.
const REFRESH_MARGIN_SECS: i64 = 60;

/// The service account's access tokens: how to ask for one, and the one in use.
pub(super) struct AccessTokens {
    client_email: String,
    key_id: Option<String>,
    signing_key: EncodingKey,
    token_uri: String,
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

impl AccessTokens {
    /// For the service account `client_email`, signing with `signing_key` (named `key_id`); tokens
    /// come from `token_uri`, Google's by default.
    pub(super) fn new(
        client_email: String,
        key_id: Option<String>,
        signing_key: EncodingKey,
        token_uri: Option<String>,
    ) -> AccessTokens {
        AccessTokens {
            client_email,
            key_id,
            signing_key,
            token_uri: token_uri.unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned()),
            token: Mutex::new(None),
        }
    }

    /// The token in use, or a new one if it is about to expire.
    pub(super) async fn get(&self, http: &reqwest::Client, clock: &dyn Clock) -> Result<SecretString, Answer> {
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
    pub(super) fn forget(&self, refused: &SecretString) {
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
pub(super) fn rsa_signing_key(pem: &str) -> anyhow::Result<EncodingKey> {
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| anyhow!("is not an RSA private key in PEM form"))?;
    let der = key.to_pkcs1_der().map_err(|e| anyhow!("cannot be encoded: {e}"))?;
    Ok(EncodingKey::from_rsa_der(der.as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    use super::super::fixture::{SEND_PATH, fcm_error, fixture, form, push, sent, token_answer};
    use super::*;
    use crate::notify::Outcome;
    use crate::notify::testing::{self, message};

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
}
