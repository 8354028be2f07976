//! `GET /api/v1/sync`.

use actix_web::web;
use terren_contract::sync::{SyncPage, SyncQuery};

use super::pull::{self, Settings};
use crate::access::AuthUser;
use crate::http::{ApiResult, audited};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/sync").route(web::get().to(sync)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(sync))]
pub struct SyncApi;

/// Your working set, then only what changed in it (see the module `sync` of the contract). Without
/// a `cursor` a full sync starts (`reset`); while `has_more`, call again at once with the
/// `cursor` returned. Reading a child's details here is audited as any read is.
#[utoipa::path(
    get, path = "/api/v1/sync", tag = "sync",
    params(SyncQuery),
    responses(
        (status = 200, description = "A page of the sync", body = SyncPage),
        (status = 400, description = "`sync_cursor_invalid`: not a cursor this server made"),
        (status = 403, description = "`sync_cursor_not_yours`: the cursor of another account"),
        (status = 410, description = "`sync_cursor_expired`: older than the change feed keeps; start a full sync"),
        (status = 422, description = "`limit` out of range"),
    )
)]
pub async fn sync(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<SyncQuery>,
) -> ApiResult<web::Json<SyncPage>> {
    let (keys, index, now) = (state.tokens.clone(), state.territory(), state.clock.now());
    let (window_days, feed_days) = (state.config.sync.window_days, state.config.retention.change_feed_days);
    let SyncQuery { cursor, limit } = query.into_inner();
    let page = audited(&state, move |tx, _, _| {
        let settings = Settings { keys: &keys, index: &index, window_days, feed_days };
        pull::page(tx, &settings, &user, cursor.as_deref(), limit, now)
    })
    .await?;
    Ok(web::Json(page))
}
