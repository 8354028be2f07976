//! Idempotent writes from phones (IETF `Idempotency-Key` draft): the same key with the same body
//! gets the stored answer again; the same key with another body is 422; a repeat while the first
//! is still being processed is 409. Keys are kept per user until they expire.
//!
//! The key is stored in the transaction that makes the change, inserted before the change and
//! given its answer at the end, so a stored answer always describes a committed change and a
//! crash leaves nothing behind. A repeat arriving while the first request runs in this process is
//! refused by the process's register of keys in flight; one arriving at another instance waits on
//! the key's row (PostgreSQL's unique index) and then gets the first answer.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures_util::future::{Ready, ready};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::lang::Lang;
use super::problem::{ApiError, ApiResult, ErrorCode};
use crate::db::schema::idempotency_keys;
use crate::db::{DbConnection, PooledConn, Tx, backend};
use crate::digest::hex;
use crate::ids::UserId;

pub const HEADER: &str = "Idempotency-Key";

/// The `Idempotency-Key` header, required on phone writes.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(|v| v.trim().trim_matches('"'));
        ready(match value {
            Some(key) if IdempotencyKey::well_formed(key) => Ok(IdempotencyKey(key.to_owned())),
            Some(_) => Err(ApiError::new(ErrorCode::IdempotencyKeyRequired)
                .with_detail("the Idempotency-Key must be 1–255 visible ASCII characters")),
            None => Err(ApiError::new(ErrorCode::IdempotencyKeyRequired)
                .with_detail("send an Idempotency-Key header (a UUID made once per record) with this request")),
        })
    }
}

impl IdempotencyKey {
    /// 1–255 visible ASCII characters: what the header takes, and a batch operation's `key`.
    pub fn well_formed(key: &str) -> bool {
        !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_graphic())
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
}

/// What is known about a key before the write.
#[derive(Debug)]
pub enum Claim {
    /// First time: go ahead.
    Fresh,
    /// Seen and finished: send this answer again.
    Replay { status: u16, body: String },
}

/// A stored refusal's body with its title in the reader's language.
fn localised_problem(body: String, lang: Lang) -> String {
    match serde_json::from_str::<terren_contract::problem::Problem>(&body) {
        Ok(mut problem) => {
            if let Some(code) = ErrorCode::parse(&problem.code) {
                problem.title = code.title(lang).to_owned();
            }
            serde_json::to_string(&problem).unwrap_or(body)
        }
        Err(_) => body,
    }
}

/// Where a phone write is addressed: the endpoint it is made to (a write made through a batch is
/// fingerprinted as if sent to its own endpoint, so the same key answers the same either way),
/// and the reader's language.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: &'static str,
    pub path: String,
    pub lang: Lang,
}

impl Target {
    pub fn of(req: &HttpRequest) -> Target {
        let method = match *req.method() {
            actix_web::http::Method::PUT => "PUT",
            actix_web::http::Method::PATCH => "PATCH",
            actix_web::http::Method::DELETE => "DELETE",
            _ => "POST",
        };
        Target { method, path: req.path().to_owned(), lang: Lang::from_request(req) }
    }
}

/// What a phone write answered: its status and JSON body (a problem for a refusal), and whether
/// it is a stored answer given again.
#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: String,
    pub replayed: bool,
}

impl Outcome {
    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        let content_type = if self.status.is_success() { "application/json" } else { "application/problem+json" };
        response.content_type(content_type).body(self.body)
    }
}

/// One use of a key: whose, which, for what request, when, and for how long it is kept.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub user_id: UserId,
    pub key: String,
    pub request_hash: String,
    pub now: NaiveDateTime,
    pub ttl: Duration,
}

/// What the key says before the write: fresh, a replay, or a different request under the same key.
pub fn lookup(conn: &mut DbConnection, used: &KeyUse) -> Result<Claim, ApiError> {
    let existing: Option<StoredKey> = idempotency_keys::table
        .find((&used.user_id, &used.key))
        .filter(idempotency_keys::expires_at.gt(used.now))
        .select(StoredKey::as_select())
        .get_result(conn)
        .optional()?;
    match existing {
        Some(stored) if stored.request_hash != used.request_hash => Err(ApiError::new(ErrorCode::IdempotencyKeyReused)
            .with_detail("this Idempotency-Key was used for a different request")),
        Some(StoredKey { response_status: Some(status), response_body: Some(body), .. }) => {
            Ok(Claim::Replay { status: u16::try_from(status).unwrap_or(500), body })
        }
        _ => Ok(Claim::Fresh),
    }
}

/// Takes the key inside the write transaction, before the change. An expired key of the same
/// name is replaced. A twin request that stored the key first (at another instance) makes this
/// fail with `idempotency_request_in_flight`; the caller then answers from what the twin stored.
pub fn take(tx: &mut Tx<'_>, used: &KeyUse) -> Result<(), ApiError> {
    diesel::delete(
        idempotency_keys::table
            .find((&used.user_id, &used.key))
            .filter(idempotency_keys::expires_at.le(used.now).or(idempotency_keys::response_status.is_null())),
    )
    .execute(tx.conn())?;
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(&used.user_id),
            idempotency_keys::idempotency_key.eq(&used.key),
            idempotency_keys::request_hash.eq(&used.request_hash),
            idempotency_keys::created_at.eq(used.now),
            idempotency_keys::expires_at.eq(used.now + used.ttl),
        ))
        .execute(tx.conn());
    match inserted {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(in_flight())
        }
        Err(other) => Err(other.into()),
    }
}

/// Removes expired keys; the periodic retention job calls this.
pub fn purge_expired(conn: &mut PooledConn, now: NaiveDateTime) -> QueryResult<usize> {
    backend::write_transaction(conn, |tx| {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now))).execute(tx.conn())
    })
}

fn in_flight() -> ApiError {
    ApiError::new(ErrorCode::IdempotencyRequestInFlight)
        .with_detail("the first request with this Idempotency-Key is still being processed; retry shortly")
        .with_header(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(2))
}

/// Stores the answer. Call inside the transaction that took the key.
fn complete(tx: &mut Tx<'_>, used: &KeyUse, status: u16, body: &str) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((&used.user_id, &used.key)))
        .set((idempotency_keys::response_status.eq(i32::from(status)), idempotency_keys::response_body.eq(body)))
        .execute(tx.conn())?;
    Ok(())
}

/// Remembers a refusal (4xx) so that the same request gets the same answer. After a server
/// failure nothing is kept, so that a retry can succeed.
fn remember_refusal(
    conn: &mut PooledConn,
    used: &KeyUse,
    code: ErrorCode,
    problem: &terren_contract::problem::Problem,
) -> Result<(), ApiError> {
    if !code.status().is_client_error() {
        return Ok(());
    }
    let body = serde_json::to_string(problem).unwrap_or_default();
    backend::write_transaction(conn, |tx| {
        take(tx, used)?;
        Ok(complete(tx, used, code.status().as_u16(), &body)?)
    })
}

/// A write from a phone, run under its `Idempotency-Key` by [`respond`]: the request, what it
/// reads before the write, how it is applied, and how a repeat reads the record back.
///
/// What a write keeps for repeats ([`PhoneWrite::Kept`]) is the record's ids, serialized with
/// serde, so that no personal data sits in the idempotency table and a repeat re-reads the record
/// as the reader may see it then.
pub trait PhoneWrite: Send + Sync + 'static {
    /// The body, as it is fingerprinted.
    type Request: Serialize;
    /// What [`PhoneWrite::prepare`] reads for the write.
    type Prepared: Send + 'static;
    /// What the write answers, and a repeat answers again.
    type Answer: Serialize;
    /// What is kept for repeats: the ids of what was written.
    type Kept: Serialize + DeserializeOwned + Send + 'static;

    fn request(&self) -> &Self::Request;

    /// Reads only, outside any transaction, so that writers do not wait for it.
    fn prepare(&self, conn: &mut DbConnection) -> ApiResult<Self::Prepared>;

    /// The change, in the write transaction that also takes the key and stores what is kept.
    fn apply(&self, tx: &mut Tx<'_>, prepared: Self::Prepared) -> ApiResult<Written<Self>>;

    /// A repeat: the record again, as the reader may see it now (in a write transaction, so that
    /// the read can be audited).
    fn replay(&self, tx: &mut Tx<'_>, kept: Self::Kept) -> ApiResult<Self::Answer>;
}

/// What an idempotent write answers now, and what it keeps for repeats.
pub struct Written<W: PhoneWrite + ?Sized> {
    pub status: StatusCode,
    pub answer: W::Answer,
    pub kept: W::Kept,
}

fn to_json(value: &impl Serialize) -> ApiResult<String> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// Runs a phone write under its `Idempotency-Key`: checks the key, prepares (reads only, outside
/// any transaction), then applies what was prepared in one write transaction that also takes the
/// key and stores what is kept. On a repeat it replays what was kept (in a write transaction too,
/// so that a replay's read is audited). A refused write (4xx, from either step) is remembered and
/// answered the same way again; a server failure leaves the key free for a retry.
pub async fn respond<W: PhoneWrite>(
    req: &HttpRequest,
    state: &crate::state::AppState,
    user_id: UserId,
    key: IdempotencyKey,
    write: W,
) -> Result<HttpResponse, ApiError> {
    Ok(run(state, &Target::of(req), user_id, key, write).await?.into_response())
}

/// [`respond`] for a write addressed to `target`, answering what it would send: refusals found
/// before or during the write are errors, stored refusals given again are outcomes.
pub async fn run<W: PhoneWrite>(
    state: &crate::state::AppState,
    target: &Target,
    user_id: UserId,
    key: IdempotencyKey,
    write: W,
) -> Result<Outcome, ApiError> {
    let request = serde_json::to_value(write.request()).map_err(anyhow::Error::from)?;
    let used = KeyUse {
        request_hash: fingerprint(target.method, &target.path, &request),
        now: state.clock.now_naive(),
        ttl: Duration::hours(state.config.http.idempotency_ttl_hours),
        user_id,
        key: key.0,
    };
    let write = Arc::new(write);
    let lang = target.lang;
    let Some(_running) = state.in_flight.enter(&used.user_id, &used.key) else {
        return Err(in_flight());
    };
    /// What happens before the write: a repeat is answered again, a first request is prepared.
    enum Before<T> {
        Replay(u16, String),
        Prepared(Result<T, ApiError>),
    }
    // The key's check and the preparation share one connection.
    let before = {
        let (used, write) = (used.clone(), write.clone());
        super::with_conn(state, move |conn| {
            Ok(match lookup(conn, &used)? {
                Claim::Replay { status, body } => Before::Replay(status, body),
                Claim::Fresh => Before::Prepared(write.prepare(conn)),
            })
        })
        .await?
    };
    let prepared = match before {
        Before::Replay(status, body) => return replay_stored(state, status, body, lang, write).await,
        Before::Prepared(prepared) => prepared,
    };
    let outcome = match prepared {
        Ok(prepared) => {
            let (used, write) = (used.clone(), write.clone());
            super::with_conn(state, move |conn| {
                backend::write_transaction(conn, |tx| {
                    take(tx, &used)?;
                    let written = write.apply(tx, prepared)?;
                    let body = to_json(&written.answer)?;
                    complete(tx, &used, written.status.as_u16(), &to_json(&written.kept)?)?;
                    Ok::<_, ApiError>((written.status, body))
                })
            })
            .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok((status, body)) => Ok(Outcome { status, body, replayed: false }),
        Err(error) if error.code == ErrorCode::IdempotencyRequestInFlight => {
            // A twin at another instance stored the key first: answer as it did.
            let known = super::with_conn(state, move |conn| lookup(conn, &used)).await?;
            match known {
                Claim::Replay { status, body } => replay_stored(state, status, body, lang, write).await,
                Claim::Fresh => Err(error),
            }
        }
        Err(error) => {
            let problem = (error.code, error.to_problem(Lang::En));
            let stored =
                super::with_conn(state, move |conn| remember_refusal(conn, &used, problem.0, &problem.1)).await;
            if let Err(store_error) = stored {
                tracing::warn!(code = store_error.code.as_str(), "could not remember a refused request's answer");
            }
            Err(error)
        }
    }
}

async fn replay_stored<W: PhoneWrite>(
    state: &crate::state::AppState,
    status: u16,
    body: String,
    lang: Lang,
    write: Arc<W>,
) -> Result<Outcome, ApiError> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let kept = serde_json::from_str::<serde_json::Value>(&body).ok().filter(|_| status.is_success());
    let Some(kept) = kept else {
        // A stored refusal: the same answer again.
        return Ok(Outcome { status, body: localised_problem(body, lang), replayed: true });
    };
    let kept: W::Kept = serde_json::from_value(kept)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a kept idempotent answer does not read back: {e}")))?;
    let body = super::with_conn(state, move |conn| {
        backend::write_transaction(conn, |conn| to_json(&write.replay(conn, kept)?))
    })
    .await?;
    Ok(Outcome { status, body, replayed: true })
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
