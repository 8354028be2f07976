//! HTTP plumbing shared by every capability: errors, language, JSON bodies, authentication.

pub mod auth;
pub mod idempotency;
pub mod json;
pub mod lang;
pub mod problem;

pub use auth::AuthUser;
pub use json::ValidJson;
pub use problem::{ApiError, ApiResult, ErrorCode};

use actix_web::web;

use crate::app::AppState;
use crate::db::PooledConn;

/// Runs blocking database work off the async executor with a pooled connection.
pub async fn with_conn<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut PooledConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let db = state.db.clone();
    web::block(move || {
        let mut conn = db.get()?;
        f(&mut conn)
    })
    .await?
}
