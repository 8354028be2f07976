//! The HTTP client the channels share, and reading providers' answers.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

/// Bodies beyond this are cut while reading; providers answer in a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of a body an `Attempt` keeps.
const RECORDED_BYTES: usize = 1024;

pub(crate) fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a crypto provider so that aws-lc stays out of the build. Another
    // part of the process may have installed one already; either way there is one afterwards.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // A redirect would repeat the POST somewhere nobody configured.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("terren/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("could not build the HTTP client for notifications (are the system CA certificates installed?)")
}

/// A provider's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Reply {
    /// Sends a request and reads its answer; a failure to reach the provider is the attempt's
    /// answer.
    pub(crate) async fn exchange(request: reqwest::RequestBuilder) -> Result<Reply, super::retry::Answer> {
        let read = match request.send().await {
            Ok(response) => Reply::read(response).await,
            Err(err) => Err(err),
        };
        read.map_err(|err| super::retry::Answer::transport(&err))
    }

    pub(crate) async fn read(mut response: reqwest::Response) -> Result<Reply, reqwest::Error> {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            if body.len() >= MAX_BODY_BYTES {
                break;
            }
        }
        Ok(Reply { status, retry_after, body })
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `Retry-After` in seconds, honoured only on 429 and 503.
    pub(crate) fn throttled_for(&self) -> Option<Duration> {
        matches!(self.status, 429 | 503).then_some(self.retry_after).flatten()
    }

    pub(crate) fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as an `Attempt` keeps it.
    pub(crate) fn recorded(&self) -> Option<String> {
        (!self.body.is_empty()).then(|| truncate(&String::from_utf8_lossy(&self.body), RECORDED_BYTES))
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

/// At most `max_bytes` of `text`, cut at a character boundary, marked with … when cut.
pub(crate) fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// A transport error as recorded: what went wrong and its causes, without the URL (a webhook's
/// may carry credentials).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let what = if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "reading the answer failed"
    } else if err.is_builder() {
        "could not build the request"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        let line = inner.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("ëëë", 6), "ëëë");
        assert_eq!(truncate("ëëë", 5), "ëë…");
        assert_eq!(truncate(&"a".repeat(2000), RECORDED_BYTES).len(), RECORDED_BYTES + "…".len());
    }

    #[test]
    fn retry_after_is_read_only_when_throttled() {
        let reply = |status| Reply { status, retry_after: Some(Duration::from_secs(3)), body: Vec::new() };
        assert_eq!(reply(429).throttled_for(), Some(Duration::from_secs(3)));
        assert_eq!(reply(503).throttled_for(), Some(Duration::from_secs(3)));
        assert_eq!(reply(500).throttled_for(), None);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }
}
