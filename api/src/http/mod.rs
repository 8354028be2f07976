//! HTTP plumbing shared by every capability: errors, language, JSON bodies, authentication.

pub mod auth;
pub mod cursor;
pub mod idempotency;
pub mod in_flight;
pub mod json;
pub mod lang;
pub mod outage;
pub mod paths;
pub mod problem;
pub mod query;

pub use json::ValidJson;
pub use problem::{ApiError, ApiResult, ErrorCode};

use actix_web::web;

use chrono::NaiveDateTime;

use crate::db::{Database, PooledConn, Tx, backend};
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

/// Runs blocking database work off the async executor with a pooled connection.
pub async fn with_conn<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut PooledConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    with_db(&state.db, f).await
}

/// [`with_conn`] for work that has the database but no application state (the job worker).
pub async fn with_db<T, F>(db: &Database, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut PooledConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let db = db.clone();
    web::block(move || {
        let mut conn = db.get()?;
        f(&mut conn)
    })
    .await?
}

/// Runs a service call that writes, or reads children's records and writes the audit record of
/// that read: one write transaction, with the territory index and the server's time.
pub async fn audited<T, F>(state: &AppState, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut Tx<'_>, &TerritoryIndex, NaiveDateTime) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let index = state.territory();
    let at = state.clock.now_naive();
    with_conn(state, move |conn| backend::write_transaction(conn, |conn| work(conn, &index, at))).await
}

/// Like [`audited`], for long reads: `work` runs on a read snapshot that takes no write lock, and
/// its audit records are written after it ([`backend::read_snapshot`]).
pub async fn audited_read<T, F>(state: &AppState, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut Tx<'_>, &TerritoryIndex, NaiveDateTime) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let index = state.territory();
    let at = state.clock.now_naive();
    with_conn(state, move |conn| backend::read_snapshot(conn, |conn| work(conn, &index, at))).await
}
