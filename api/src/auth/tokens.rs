//! Access tokens (short-lived HS256 JWTs with a `kid`) and opaque refresh tokens.

use crate::digest::hex;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, JwtKey};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id (the refresh-token family).
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

const AUDIENCE: &str = "terren-api";

pub struct TokenKeys {
    signing_kid: String,
    signing: EncodingKey,
    verifying: Vec<(String, DecodingKey)>,
    issuer: String,
    pub access_ttl_secs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("expired")]
    Expired,
}

impl TokenKeys {
    pub fn new(keys: &[JwtKey], config: &AuthConfig) -> anyhow::Result<TokenKeys> {
        let first = keys.first().ok_or_else(|| anyhow::anyhow!("no JWT signing key configured"))?;
        Ok(TokenKeys {
            signing_kid: first.kid.clone(),
            signing: EncodingKey::from_secret(first.secret.expose_secret().as_bytes()),
            verifying: keys
                .iter()
                .map(|k| (k.kid.clone(), DecodingKey::from_secret(k.secret.expose_secret().as_bytes())))
                .collect(),
            issuer: config.issuer.clone(),
            access_ttl_secs: config.access_token_ttl_secs,
        })
    }

    pub fn issue(&self, user_id: &str, session_id: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + self.access_ttl_secs,
        };
        self.sign(&claims)
    }

    /// Checks signature (HS256 only, key chosen by `kid`), issuer, audience and expiry against
    /// the server's clock.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = self.verify_claims(token, AUDIENCE)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The issuer every token of this server names.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs other claims with the current key (sync cursors); their `aud` keeps them apart
    /// from access tokens.
    pub fn sign<C: Serialize>(&self, claims: &C) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing).map_err(|e| anyhow::anyhow!("signing failed: {e}"))
    }

    /// Checks a token's signature, issuer and `audience`; expiry is the caller's to check
    /// against the injected clock.
    pub fn verify_claims<C: DeserializeOwned>(&self, token: &str, audience: &str) -> Result<C, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.verifying.iter().find(|(k, _)| *k == kid).map(|(_, key)| key).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        Ok(jsonwebtoken::decode::<C>(token, key, &validation).map_err(|_| TokenError::Invalid)?.claims)
    }
}

/// A new opaque refresh token (256 random bits) and the hash that is stored.
pub fn new_refresh_token() -> anyhow::Result<(String, String)> {
    let token = format!("rt_{}", random_token()?);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

pub fn hash_refresh_token(token: &str) -> String {
    hash_token(token)
}

/// 256 random bits, base64url: refresh tokens, calendar links, webhook signing secrets.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a bearer secret: its SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A random secret for deployments that do not configure one.
pub fn generate_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use secrecy::SecretString;

    fn keys(kids: &[&str]) -> TokenKeys {
        let keys: Vec<JwtKey> = kids
            .iter()
            .map(|kid| JwtKey {
                kid: (*kid).into(),
                secret: SecretString::from(format!("{kid}-secret-secret-secret-secret-secret")),
            })
            .collect();
        TokenKeys::new(&keys, &Config::default().auth).unwrap()
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let keys = keys(&["k1"]);
        let now = Utc::now();
        let token = keys.issue("u1", "s1", now).unwrap();
        let claims = keys.verify(&token, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
        assert!(claims.exp - claims.iat <= 900);
        assert!(matches!(keys.verify(&token, now + chrono::Duration::seconds(900)), Err(TokenError::Expired)));
    }

    #[test]
    fn rotation_old_kid_still_verifies_unknown_kid_does_not() {
        let old = keys(&["old"]);
        let rotated = keys(&["new", "old"]);
        let now = Utc::now();
        let token = old.issue("u", "s", now).unwrap();
        assert!(rotated.verify(&token, now).is_ok());
        assert!(matches!(keys(&["other"]).verify(&token, now), Err(TokenError::UnknownKey)));
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_refused() {
        let keys = keys(&["k1"]);
        let now = Utc::now();
        let token = keys.issue("u1", "s1", now).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"iss":"terren","aud":"terren-api","sub":"admin","sid":"s1","iat":0,"exp":i64::MAX})
                .to_string(),
        );
        parts[1] = &forged_claims;
        assert!(keys.verify(&parts.join("."), now).is_err());
        // The same secret and kid, but another HMAC: the algorithm is pinned.
        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k1".into());
        let claims = AccessClaims {
            iss: "terren".into(),
            aud: AUDIENCE.into(),
            sub: "u1".into(),
            sid: "s1".into(),
            iat: now.timestamp(),
            exp: now.timestamp() + 60,
        };
        let secret = b"k1-secret-secret-secret-secret-secret";
        let hs384 = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert!(matches!(keys.verify(&hs384, now), Err(TokenError::Invalid)));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
        let unsigned = format!("{none_header}.{}.", forged_claims);
        assert!(keys.verify(&unsigned, now).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_refresh_token(&a));
        assert!(!hash_a.contains(&a[3..]));
        assert_eq!(hash_a.len(), 64);
    }
}
