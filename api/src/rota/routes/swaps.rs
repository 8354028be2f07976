//! Swap requests: offered, taken, approved, declined, withdrawn.

use actix_web::{HttpResponse, web};
use terren_contract::schedules::{CreateSwapRequest, SwapAction, SwapListQuery, SwapRequest};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::http::paths::{SchedulePath, SwapPath};
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::ids::ScheduleId;
use crate::rota::swaps;
use crate::rota::swaps::Action;
use crate::state::AppState;

/// Swap requests of a schedule, earliest span first (members of the schedule's agency).
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/swaps", tag = "rotas",
    params(SchedulePath, SwapListQuery),
    responses(
        (status = 200, description = "Swap requests", body = Vec<SwapRequest>),
        (status = 403, description = "Not a member of the schedule's agency"),
    )
)]
pub async fn list_swaps(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<SwapListQuery>,
) -> ApiResult<web::Json<Vec<SwapRequest>>> {
    let (id, wanted) = (ScheduleId::from(id.into_inner()), query.state);
    Ok(web::Json(with_conn(&state, move |conn| swaps::list(conn, &user, &id, wanted)).await?))
}

/// Offer a span of your own duty to the other members of the agency. You must be on duty for the
/// whole span; it starts now or later and lasts at most 100 days.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/swaps", tag = "rotas",
    params(SchedulePath),
    request_body = CreateSwapRequest,
    responses(
        (status = 201, description = "Offered", body = SwapRequest),
        (status = 403, description = "Not a member of the schedule's agency"),
        (status = 409, description = "You already offered part of this span in an open swap"),
        (status = 422, description = "`not_on_duty`, `ends_before_start`, `in_past`, `span_too_long`"),
    )
)]
pub async fn create_swap(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<CreateSwapRequest>,
) -> ApiResult<HttpResponse> {
    let id = ScheduleId::from(id.into_inner());
    let created = audited(&state, move |conn, _, at| swaps::create(conn, &user, &id, &body.0, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn swap_action(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SwapAction>,
    action: Action,
) -> ApiResult<web::Json<SwapRequest>> {
    let (id, swap_id) = path.into_inner();
    let (id, swap_id, version) = (ScheduleId::from(id), swap_id.to_string(), body.0.version);
    Ok(web::Json(
        audited(&state, move |conn, _, at| swaps::act(conn, &user, (&id, &swap_id), action, version, at)).await?,
    ))
}

/// Take an offered swap (another active member of the agency, not on duty during the span). When
/// the offer needs no approval the swap is approved at once and you are on duty for the span.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/swaps/{swap_id}/take", tag = "rotas",
    params(SwapPath),
    request_body = SwapAction,
    responses(
        (status = 200, description = "Taken (or approved, without approval)", body = SwapRequest),
        (status = 403, description = "Not an active member of the schedule's agency"),
        (status = 409, description = "Not `offered` any more (the detail names its state), or the rota changed"),
        (status = 412, description = "Changed since you read it (someone else took it); the body is the current swap request", body = SwapRequest),
        (status = 422, description = "`own_swap` (you offered it), `already_on_duty`"),
    )
)]
pub async fn take_swap(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SwapAction>,
) -> ApiResult<web::Json<SwapRequest>> {
    swap_action(user, state, path, body, Action::Take).await
}

/// Approve a taken swap (`planning_manage` of the agency): the taker is on duty for the span
/// (an override), and whoever shared the offerer's duty stays on.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/swaps/{swap_id}/approve", tag = "rotas",
    params(SwapPath),
    request_body = SwapAction,
    responses(
        (status = 200, description = "Approved", body = SwapRequest),
        (status = 403, description = "No `planning_manage` for the schedule's agency"),
        (status = 409, description = "Not `taken` (the detail names its state), the span has passed, or the rota changed"),
        (status = 412, description = "Changed since you read it; the body is the current swap request", body = SwapRequest),
    )
)]
pub async fn approve_swap(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SwapAction>,
) -> ApiResult<web::Json<SwapRequest>> {
    swap_action(user, state, path, body, Action::Approve).await
}

/// Decline a taken swap (`planning_manage` of the agency); the rota stays as it was.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/swaps/{swap_id}/decline", tag = "rotas",
    params(SwapPath),
    request_body = SwapAction,
    responses(
        (status = 200, description = "Declined", body = SwapRequest),
        (status = 403, description = "No `planning_manage` for the schedule's agency"),
        (status = 409, description = "Not `taken` (the detail names its state)"),
        (status = 412, description = "Changed since you read it; the body is the current swap request", body = SwapRequest),
    )
)]
pub async fn decline_swap(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SwapAction>,
) -> ApiResult<web::Json<SwapRequest>> {
    swap_action(user, state, path, body, Action::Decline).await
}

/// Withdraw your offer before it is approved.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/swaps/{swap_id}/cancel", tag = "rotas",
    params(SwapPath),
    request_body = SwapAction,
    responses(
        (status = 200, description = "Cancelled", body = SwapRequest),
        (status = 403, description = "Not your offer"),
        (status = 409, description = "Already approved, declined or cancelled (the detail names its state)"),
        (status = 412, description = "Changed since you read it; the body is the current swap request", body = SwapRequest),
    )
)]
pub async fn cancel_swap(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SwapAction>,
) -> ApiResult<web::Json<SwapRequest>> {
    swap_action(user, state, path, body, Action::Cancel).await
}
