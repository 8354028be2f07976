//! The SMS gateway's signature on its webhooks (Twilio's `X-Twilio-Signature`): base64 of
//! HMAC-SHA1 under the account's auth token over the full URL the gateway called, followed by
//! every POST parameter, sorted by name (and, for a repeated name, by value), as name then value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const HEADER: &str = "X-Twilio-Signature";

/// What the gateway signs for a webhook to `url` with these form parameters.
fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut text = url.to_owned();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

/// The signature the gateway sends for this webhook.
pub fn sign(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(signed_text(url, params).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (the header's value) is the gateway's for this webhook, compared in
/// constant time.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(presented) = STANDARD.decode(signature.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token) else { return false };
    mac.update(signed_text(url, params).as_bytes());
    mac.verify_slice(&presented).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_gateways_documented_example_verifies() {
        // Twilio's published example of its request validation.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let mut shuffled = params();
        shuffled.reverse();
        assert_eq!(sign(b"12345", url, &shuffled), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(b"12345", url, &shuffled, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn another_token_url_or_parameter_fails() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = sign(b"12345", url, &params());
        assert!(!verify(b"12346", url, &params(), &good));
        assert!(!verify(b"12345", "https://mycompany.com/myapp.php", &params(), &good));
        let mut changed = params();
        changed[2].1 = "1235".into();
        assert!(!verify(b"12345", url, &changed, &good));
        assert!(!verify(b"12345", url, &params(), "not base64!"));
        assert!(!verify(b"12345", url, &params(), ""));
    }
}
