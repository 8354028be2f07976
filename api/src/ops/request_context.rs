//! What the outermost middleware learns about a request as it passes: its id and its user.

use actix_web::http::header::{HeaderMap, HeaderName};

/// The request's id: the caller's `X-Request-Id` when it is a short token, otherwise a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The signed-in user behind a request, once authentication has found them (for the access log).
#[derive(Debug, Clone)]
pub struct RequestUser(pub String);

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn incoming_request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&X_REQUEST_ID)?.to_str().ok()?;
    let sane = (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    sane.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    #[test]
    fn request_ids_from_callers_are_kept_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(incoming_request_id(&headers).as_deref(), Some("abc-123_x.y:z"));
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("a b"));
        assert_eq!(incoming_request_id(&headers), None);
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(&"a".repeat(129)).unwrap());
        assert_eq!(incoming_request_id(&headers), None);
    }
}
