//! `GET /api/v1/sync` and `GET /api/v1/sync/reference`, answered compressed to phones that
//! accept it.

use actix_web::http::header::{ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, middleware, web};
use terren_contract::batch::{BatchOutcome, SyncBatch};
use terren_contract::problem::FieldErrorCode;
use terren_contract::sync::{SyncPage, SyncQuery, SyncReference};

use super::pull::{self, Settings};
use crate::access::AuthUser;
use crate::http::lang::Lang;
use crate::http::{ApiError, ApiResult, ErrorCode, audited_read, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/sync").wrap(middleware::Compress::default()).route(web::get().to(sync)))
        .service(web::resource("/sync/reference").wrap(middleware::Compress::default()).route(web::get().to(reference)))
        .service(web::resource("/sync/batch").wrap(middleware::Compress::default()).route(web::post().to(batch)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(sync, reference, batch))]
pub struct SyncApi;

/// Your working set, then only what changed in it (see the module `sync` of the contract). Without
/// a `cursor` a full sync starts (`reset`); while `has_more`, call again at once with the
/// `cursor` returned. Reading a child's details here is audited as any read is. Answered
/// gzip-compressed when the request accepts it.
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
    let (keys, index, on_call, replicas, now) = (
        state.tokens.clone(),
        state.territory(),
        state.on_call_cache.clone(),
        state.sync_replicas.clone(),
        state.clock.now(),
    );
    let (window_days, feed_days) = (state.config.sync.window_days, state.config.retention.change_feed_days);
    crate::http::json::check_rules(&*query)?;
    let SyncQuery { cursor, limit } = query.into_inner();
    // What committed before this call is in the feed before it is read, so that the answer's
    // changes and its checksums tell of the same moment.
    let sealed_at = crate::clock::truncate(now);
    with_conn(&state, move |conn| Ok(crate::changes::seal_pending(conn, sealed_at)?)).await?;
    // Built on a read snapshot, out of the writers' queue; what it shows is audited after it.
    let page = audited_read(&state, move |tx, _, _| {
        let settings =
            Settings { keys: &keys, index: &index, on_call: &on_call, replicas: &replicas, window_days, feed_days };
        pull::page(tx, &settings, &user, cursor.as_deref(), limit, now)
    })
    .await?;
    Ok(web::Json(page))
}

/// The reference data a phone works offline with. Send the `ETag` of the copy you hold as
/// `If-None-Match`: while nothing changed the answer is `304` with no body. The last page of a
/// sync says the current tag (`reference_etag`).
#[utoipa::path(
    get, path = "/api/v1/sync/reference", tag = "sync",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the copy held")),
    responses(
        (status = 200, description = "The reference data", body = SyncReference,
            headers(("ETag" = String, description = "The tag of this copy"))),
        (status = 304, description = "Unchanged since the copy whose tag was sent"),
    )
)]
pub async fn reference(req: HttpRequest, user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let index = state.territory();
    let reference = with_conn(&state, move |conn| super::reference::load(conn, &index, &user)).await?;
    let etag = super::reference::etag(&reference)?;
    let held = req.headers().get(IF_NONE_MATCH).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if held.split(',').map(str::trim).any(|tag| tag == etag || tag == "*") {
        return Ok(HttpResponse::NotModified().insert_header((ETAG, etag)).finish());
    }
    Ok(HttpResponse::Ok().insert_header((ETAG, etag)).json(reference))
}

/// The body of a batch as it is read: each operation on its own, so that one that does not parse
/// gets its own problem instead of refusing the batch.
#[derive(serde::Deserialize)]
struct ArrivedBatch {
    operations: Vec<serde_json::Value>,
}

/// A whole offline shift in one upload (see the module `batch` of the contract): each operation
/// is applied as its own endpoint would apply it, emergencies first, and gets its own result.
/// Sending the same batch again changes nothing and answers the same.
#[utoipa::path(
    post, path = "/api/v1/sync/batch", tag = "sync",
    request_body = SyncBatch,
    responses(
        (status = 200, description = "Each operation's result, in the order sent", body = BatchOutcome),
        (status = 400, description = "`malformed_json`"),
        (status = 413, description = "`payload_too_large`"),
        (status = 422, description = "No `operations`"),
    )
)]
pub async fn batch(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> ApiResult<web::Json<BatchOutcome>> {
    use futures_util::StreamExt;
    let limit = state.config.sync.max_batch_bytes;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(ErrorCode::BadRequest).with_detail(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(
                ApiError::new(ErrorCode::PayloadTooLarge).with_detail(format!("a batch takes at most {limit} bytes"))
            );
        }
        body.extend_from_slice(&chunk);
    }
    let arrived: ArrivedBatch = crate::http::json::parse_json(&body)?;
    if arrived.operations.is_empty() {
        return Err(ApiError::field("operations", FieldErrorCode::Required, "at least one operation"));
    }
    Ok(web::Json(super::batch::apply(&state, &user, Lang::from_request(&req), arrived.operations).await))
}
