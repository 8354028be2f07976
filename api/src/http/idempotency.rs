//! Idempotent writes from phones (IETF `Idempotency-Key` draft): the same key with the same body
//! gets the stored answer again; the same key with another body is 422; a repeat while the first
//! is still being processed is 409. Keys are kept per user until they expire.
//!
//! The first request claims the key in its own short transaction; the handler then does its
//! work and stores the answer in the same transaction as the change (`complete`), so a stored
//! answer always describes a committed change. A claim left by a crash is taken over after
//! `STALE_CLAIM_SECS`.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures_util::future::{Ready, ready};
use sha2::{Digest, Sha256};

use super::lang::Lang;
use super::problem::{ApiError, ErrorCode};
use crate::auth::tokens::hex;
use crate::db::schema::idempotency_keys;
use crate::db::{DbConnection, backend};

pub const HEADER: &str = "Idempotency-Key";
/// A claim older than this belongs to a request that died; a retry may take it over.
const STALE_CLAIM_SECS: i64 = 60;

/// The `Idempotency-Key` header, required on phone writes.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"'));
        ready(match value {
            Some(key) if !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic()) => {
                Ok(IdempotencyKey(key.to_owned()))
            }
            Some(_) => Err(ApiError::new(ErrorCode::IdempotencyKeyRequired)
                .with_detail("the Idempotency-Key must be 1–255 visible ASCII characters")),
            None => Err(ApiError::new(ErrorCode::IdempotencyKeyRequired)
                .with_detail("send an Idempotency-Key header (a UUID made once per record) with this request")),
        })
    }
}

/// What the request's body and target look like, independent of JSON key order and spacing.
pub fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    // serde_json's map is ordered by key, so equal documents serialise identically.
    hasher.update(body.to_string().as_bytes());
    hex(&hasher.finalize())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
struct StoredKey {
    request_hash: String,
    response_status: Option<i32>,
    response_body: Option<String>,
    created_at: NaiveDateTime,
}

/// The outcome of claiming a key.
#[derive(Debug)]
pub enum Claim {
    /// First time: go ahead, then `complete` in the transaction that makes the change.
    Fresh,
    /// Seen and finished: send this answer again.
    Replay { status: u16, body: String },
}

impl Claim {
    /// The stored answer again; a stored refusal gets its title in the caller's language.
    pub fn replay_response(status: u16, body: String, lang: Lang) -> HttpResponse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let mut response = HttpResponse::build(status);
        response.insert_header(("Idempotent-Replayed", "true"));
        if status.is_success() {
            return response.content_type("application/json").body(body);
        }
        let body = match serde_json::from_str::<terren_contract::problem::Problem>(&body) {
            Ok(mut problem) => {
                if let Some(code) = ErrorCode::parse(&problem.code) {
                    problem.title = code.title(lang).to_owned();
                }
                serde_json::to_string(&problem).unwrap_or(body)
            }
            Err(_) => body,
        };
        response.content_type("application/problem+json").body(body)
    }
}

pub fn claim(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    request_hash: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<Claim, ApiError> {
    backend::write_transaction(conn, |conn| {
        // Each claim clears every expired key (an index on the expiry keeps this cheap), so keys of
        // people who stop writing do not linger.
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now))).execute(conn)?;
        let existing: Option<StoredKey> =
            idempotency_keys::table.find((user_id, key)).select(StoredKey::as_select()).first(conn).optional()?;
        let target = idempotency_keys::table.find((user_id, key));
        match existing {
            Some(stored) if stored.request_hash != request_hash => {
                return Err(ApiError::new(ErrorCode::IdempotencyKeyReused)
                    .with_detail("this Idempotency-Key was used for a different request"));
            }
            Some(StoredKey { response_status: Some(status), response_body: Some(body), .. }) => {
                return Ok(Claim::Replay { status: u16::try_from(status).unwrap_or(500), body });
            }
            Some(stored) if stored.created_at > now - Duration::seconds(STALE_CLAIM_SECS) => {
                return Err(in_flight());
            }
            Some(_) => {
                // A claim abandoned by a crashed request: take it over.
                diesel::delete(target).execute(conn)?;
            }
            None => {}
        }
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(user_id),
                idempotency_keys::idempotency_key.eq(key),
                idempotency_keys::request_hash.eq(request_hash),
                idempotency_keys::created_at.eq(now),
                idempotency_keys::expires_at.eq(now + ttl),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => Ok(Claim::Fresh),
            // On PostgreSQL a racing twin can claim the key between our read and our insert.
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                Err(in_flight())
            }
            Err(other) => Err(other.into()),
        }
    })
}

fn in_flight() -> ApiError {
    ApiError::new(ErrorCode::IdempotencyRequestInFlight)
        .with_detail("the first request with this Idempotency-Key is still being processed; retry shortly")
        .with_header(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(2))
}

/// The user's claim on the key, while it has no answer yet. An answer already stored (by a request
/// that took over a stale claim and finished first) is never overwritten or removed.
fn unanswered<'a>(
    user_id: &'a str,
    key: &'a str,
) -> diesel::dsl::Filter<
    diesel::dsl::Find<idempotency_keys::table, (&'a str, &'a str)>,
    diesel::dsl::IsNull<idempotency_keys::response_status>,
> {
    idempotency_keys::table.find((user_id, key)).filter(idempotency_keys::response_status.is_null())
}

/// Stores the answer. Call inside the transaction that makes the change.
pub fn complete(conn: &mut DbConnection, user_id: &str, key: &str, status: u16, body: &str) -> QueryResult<()> {
    diesel::update(unanswered(user_id, key))
        .set((idempotency_keys::response_status.eq(i32::from(status)), idempotency_keys::response_body.eq(body)))
        .execute(conn)?;
    Ok(())
}

/// Remembers a refusal (4xx) so that the same request gets the same answer, or forgets the
/// claim after a server failure so that a retry can succeed.
pub fn finish_failed(
    conn: &mut DbConnection,
    user_id: &str,
    key: &str,
    code: ErrorCode,
    problem: &terren_contract::problem::Problem,
) -> QueryResult<()> {
    if code.status().is_client_error() {
        let body = serde_json::to_string(problem).unwrap_or_default();
        complete(conn, user_id, key, code.status().as_u16(), &body)
    } else {
        diesel::delete(unanswered(user_id, key)).execute(conn).map(|_| ())
    }
}

/// What an idempotent write answers now, and what is kept for replays: only ids, so that no
/// personal data sits in the idempotency table and a replay re-reads the record as the reader
/// may see it then.
pub struct Written {
    pub status: StatusCode,
    pub body: String,
    pub stored: serde_json::Value,
}

/// Runs a phone write under its `Idempotency-Key`: claims the key, runs `prepare` (reads only,
/// outside any transaction, so that writers do not wait for it), then `write` with what it
/// prepared in one write transaction that also stores the answer. On a repeat it runs `replay`
/// on what was stored (in a write transaction too, so that a replay's read is audited). A
/// refused write (4xx, from either step) is remembered and answered the same way again; a server
/// failure frees the key for a retry.
#[expect(clippy::too_many_arguments, reason = "the request, its key, and the three steps of the write")]
pub async fn respond<P, T, W, R>(
    req: &HttpRequest,
    state: &crate::app::AppState,
    user_id: String,
    key: IdempotencyKey,
    request: &serde_json::Value,
    prepare: P,
    write: W,
    replay: R,
) -> Result<HttpResponse, ApiError>
where
    P: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
    W: FnOnce(&mut DbConnection, T) -> Result<Written, ApiError> + Send + 'static,
    R: FnOnce(&mut DbConnection, serde_json::Value) -> Result<String, ApiError> + Send + 'static,
{
    let hash = fingerprint(req.method().as_str(), req.path(), request);
    let now = crate::clock::truncate(state.clock.now());
    let ttl = Duration::hours(state.config.http.idempotency_ttl_hours);
    let key = key.0;
    let lang = Lang::from_request(req);
    let claimed = {
        let (user_id, key) = (user_id.clone(), key.clone());
        super::with_conn(state, move |conn| claim(conn, &user_id, &key, &hash, now, ttl)).await?
    };
    if let Claim::Replay { status, body } = claimed {
        let stored = serde_json::from_str::<serde_json::Value>(&body).ok().filter(|_| (200..300).contains(&status));
        let Some(stored) = stored else {
            // A stored refusal: the same answer again.
            return Ok(Claim::replay_response(status, body, lang));
        };
        let body =
            super::with_conn(state, move |conn| backend::write_transaction(conn, |conn| replay(conn, stored))).await?;
        return Ok(Claim::replay_response(status, body, lang));
    }
    let outcome = match super::with_conn(state, move |conn| prepare(conn)).await {
        Ok(prepared) => {
            let (user_id, key) = (user_id.clone(), key.clone());
            super::with_conn(state, move |conn| {
                backend::write_transaction(conn, |conn| {
                    let written = write(conn, prepared)?;
                    complete(conn, &user_id, &key, written.status.as_u16(), &written.stored.to_string())?;
                    Ok::<_, ApiError>(written)
                })
            })
            .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(written) => Ok(HttpResponse::build(written.status).content_type("application/json").body(written.body)),
        Err(error) => {
            let problem = (error.code, error.to_problem(Lang::En));
            let stored =
                super::with_conn(state, move |conn| Ok(finish_failed(conn, &user_id, &key, problem.0, &problem.1)?))
                    .await;
            if let Err(store_error) = stored {
                tracing::warn!(
                    code = store_error.code.as_str(),
                    "could not settle an idempotency key after a failed request"
                );
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_ignore_key_order_and_spacing_but_not_content() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "a":[1,2],"b":1 }"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a": [2, 1], "b": 1}"#).unwrap();
        assert_eq!(fingerprint("POST", "/x", &a), fingerprint("POST", "/x", &b));
        assert_ne!(fingerprint("POST", "/x", &a), fingerprint("POST", "/x", &c));
        assert_ne!(fingerprint("POST", "/x", &a), fingerprint("POST", "/y", &a));
    }
}
