//! Each session's lifeline secret, derived rather than stored: HMAC-SHA256 under a server key
//! over a label and the session id. The signing keys of access tokens serve (under their own
//! label, so a device secret is never a token key): the first one makes the secret the app is
//! given, and every configured one is tried when an SMS is checked, so rotating the keys as the
//! tokens' are rotated keeps enrolled phones working until they next log in or refresh.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use terren_contract::lifeline::{FORMAT_VERSION, LifelineEnrolment};

use crate::config::{JwtKey, Lifeline};

const LABEL: &[u8] = b"terren-lifeline-device-secret-v1\0";

/// The server keys device secrets are derived from.
pub struct LifelineKeys {
    keys: Vec<SecretSlice<u8>>,
}

impl LifelineKeys {
    pub fn new(keys: &[JwtKey]) -> LifelineKeys {
        LifelineKeys {
            keys: keys.iter().map(|k| SecretSlice::from(k.secret.expose_secret().as_bytes().to_vec())).collect(),
        }
    }

    /// The secret a session's phone is given now (under the first key).
    pub fn current(&self, session_id: &str) -> Option<[u8; 32]> {
        self.keys.first().map(|key| derive(key, session_id))
    }

    /// Every secret a session's phone may hold (one per configured key, the current first).
    pub fn candidates(&self, session_id: &str) -> Vec<[u8; 32]> {
        self.keys.iter().map(|key| derive(key, session_id)).collect()
    }
}

fn derive(key: &SecretSlice<u8>, session_id: &str) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return [0; 32],
    };
    mac.update(LABEL);
    mac.update(session_id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What the login and refresh answers tell the app, when the lifeline is on.
pub fn enrolment(lifeline: Option<Lifeline<'_>>, keys: &LifelineKeys, session_id: &str) -> Option<LifelineEnrolment> {
    let lifeline = lifeline?;
    Some(LifelineEnrolment {
        inbound_number: lifeline.inbound_number.to_owned(),
        format_version: FORMAT_VERSION,
        device_secret: URL_SAFE_NO_PAD.encode(keys.current(session_id)?),
        max_delay_minutes: lifeline.max_delay_minutes,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn key(kid: &str, secret: &str) -> JwtKey {
        JwtKey { kid: kid.into(), secret: SecretString::from(secret.to_owned()) }
    }

    #[test]
    fn secrets_differ_per_session_and_key_and_survive_rotation() {
        let old = LifelineKeys::new(&[key("k1", &"a".repeat(32))]);
        let rotated = LifelineKeys::new(&[key("k2", &"b".repeat(32)), key("k1", &"a".repeat(32))]);
        let secret = old.current("s1").unwrap();
        assert_ne!(secret, old.current("s2").unwrap());
        assert_ne!(secret, rotated.current("s1").unwrap());
        assert!(rotated.candidates("s1").contains(&secret), "the old key still verifies");
        assert_eq!(LifelineKeys::new(&[]).current("s1"), None);
    }
}
