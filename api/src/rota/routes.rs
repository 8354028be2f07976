use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use terren_contract::agencies::AgencyListQuery;
use terren_contract::schedules::{
    AtQuery, CalendarFeed, CreateOverride, CreateSchedule, CreateSwapRequest, Gap, GapsQuery, OnCall, OnCallQuery,
    Override, Schedule, Shift, ShiftsQuery, SwapAction, SwapListQuery, SwapRequest, UpdateSchedule,
};
use uuid::Uuid;

use super::swaps::Action;
use super::{calendar, overrides, service, shifts, swaps};
use crate::access::AuthUser;
use crate::http::paths::{CalendarFeedPath, CalendarTokenPath, OverridePath, SchedulePath, SwapPath};
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/schedules").route(web::get().to(list_schedules)).route(web::post().to(create_schedule)),
    )
    .service(web::resource("/schedules/{id}").route(web::get().to(get_schedule)).route(web::put().to(update_schedule)))
    .service(web::resource("/schedules/{id}/on-call").route(web::get().to(schedule_on_call)))
    .service(web::resource("/schedules/{id}/shifts").route(web::get().to(schedule_shifts)))
    .service(web::resource("/schedules/{id}/gaps").route(web::get().to(schedule_gaps)))
    .service(
        web::resource("/schedules/{id}/overrides")
            .route(web::get().to(list_overrides))
            .route(web::post().to(create_override)),
    )
    .service(web::resource("/schedules/{id}/overrides/{override_id}/cancel").route(web::post().to(cancel_override)))
    .service(web::resource("/schedules/{id}/swaps").route(web::get().to(list_swaps)).route(web::post().to(create_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/take").route(web::post().to(take_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/approve").route(web::post().to(approve_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/decline").route(web::post().to(decline_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/cancel").route(web::post().to(cancel_swap)))
    .service(
        web::resource("/schedules/{id}/calendar-feeds")
            .route(web::get().to(list_schedule_feeds))
            .route(web::post().to(create_schedule_feed)),
    )
    .service(
        web::resource("/me/calendar-feeds").route(web::get().to(list_my_feeds)).route(web::post().to(create_my_feed)),
    )
    .service(web::resource("/calendar-feeds/{feed_id}/revoke").route(web::post().to(revoke_feed)))
    .service(web::resource("/calendar/{token:[A-Za-z0-9_-]+}.ics").route(web::get().to(calendar_feed)))
    .service(web::resource("/schedules/{id}/rota.csv").route(web::get().to(rota_csv)))
    .service(web::resource("/on-call").route(web::get().to(on_call)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_schedules,
    create_schedule,
    get_schedule,
    update_schedule,
    schedule_on_call,
    schedule_shifts,
    schedule_gaps,
    list_overrides,
    create_override,
    cancel_override,
    on_call,
    list_swaps,
    create_swap,
    take_swap,
    approve_swap,
    decline_swap,
    cancel_swap,
    create_schedule_feed,
    list_schedule_feeds,
    create_my_feed,
    list_my_feeds,
    revoke_feed,
    calendar_feed,
    rota_csv
))]
pub struct RotaApi;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleListQuery {
    /// Agency id; defaults to your own agency.
    pub agency_id: Option<Uuid>,
}

/// The schedules of an agency.
#[utoipa::path(
    get, path = "/api/v1/schedules", tag = "rotas",
    params(ScheduleListQuery),
    responses((status = 200, description = "Schedules", body = Vec<Schedule>))
)]
pub async fn list_schedules(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ScheduleListQuery>,
) -> ApiResult<web::Json<Vec<Schedule>>> {
    let now = state.clock.now();
    let agency = query.agency_id.map(|id| id.to_string());
    Ok(web::Json(with_conn(&state, move |conn| service::list(conn, &user, agency.as_deref(), now)).await?))
}

/// Make a rota for your agency (`planning_manage`). For a 24/7 agency the answer lists the
/// uncovered stretches of the next 30 days in `coverage_gaps`.
#[utoipa::path(
    post, path = "/api/v1/schedules", tag = "rotas",
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 403, description = "Not your agency, or no `planning_manage`"),
        (status = 422, description = "Invalid layers: `invalid_time`, `nonexistent_local_time`, `zero_length`, `overlapping_layers`, `unknown_participant`, `unknown_time_zone`, `in_past`"),
    )
)]
pub async fn create_schedule(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<CreateSchedule>,
) -> ApiResult<HttpResponse> {
    let created = audited(&state, move |conn, _, at| service::create(conn, &user, &body.0, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A schedule: the layers in force, revisions to come, and (24/7 agencies) coverage gaps.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}", tag = "rotas",
    params(SchedulePath),
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        (status = 404, description = "No such schedule"),
    )
)]
pub async fn get_schedule(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Schedule>> {
    let (id, now) = (id.into_inner().to_string(), state.clock.now());
    Ok(web::Json(with_conn(&state, move |conn| service::get(conn, &user, &id, now)).await?))
}

/// Rename a schedule or give it new layers from `effective_from` (now or later). Every change is a
/// new revision; shifts before it never change.
#[utoipa::path(
    put, path = "/api/v1/schedules/{id}", tag = "rotas",
    params(SchedulePath),
    request_body = UpdateSchedule,
    responses(
        (status = 200, description = "Updated", body = Schedule),
        (status = 412, description = "Changed since you read it; the body is the current schedule", body = Schedule),
        (status = 422, description = "Invalid layers, or `effective_from` in the past"),
    )
)]
pub async fn update_schedule(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateSchedule>,
) -> ApiResult<web::Json<Schedule>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |conn, _, at| service::update(conn, &user, &id, &body.0, at)).await?))
}

/// Who is on duty at `at` (default now), with phone numbers, since when, and the next handoff.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/on-call", tag = "rotas",
    params(SchedulePath, AtQuery),
    responses(
        (status = 200, description = "Who is on duty", body = OnCall),
        (status = 404, description = "No such schedule"),
    )
)]
pub async fn schedule_on_call(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<AtQuery>,
) -> ApiResult<web::Json<OnCall>> {
    let id = id.into_inner().to_string();
    let at = query.at.unwrap_or_else(|| state.clock.now());
    let cache = state.on_call_cache.clone();
    let now = state.clock.now();
    Ok(web::Json(with_conn(&state, move |conn| shifts::on_call(conn, &cache, &user, &id, at, now)).await?))
}

/// The final schedule between `from` and `to` (at most 100 days): layers, overrides and gaps
/// resolved into consecutive stretches.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/shifts", tag = "rotas",
    params(SchedulePath, ShiftsQuery),
    responses(
        (status = 200, description = "Shifts in order; a shift with no people is a gap", body = Vec<Shift>),
        (status = 422, description = "`to` before `from`, or a span over 100 days"),
    )
)]
pub async fn schedule_shifts(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<ShiftsQuery>,
) -> ApiResult<web::Json<Vec<Shift>>> {
    let id = id.into_inner().to_string();
    let (from, to) = (query.from, query.to);
    Ok(web::Json(with_conn(&state, move |conn| shifts::shifts(conn, &user, &id, from, to)).await?))
}

/// Uncovered stretches in the next `days` (default 30).
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/gaps", tag = "rotas",
    params(SchedulePath, GapsQuery),
    responses(
        (status = 200, description = "Gaps, earliest first", body = Vec<Gap>),
        (status = 422, description = "`days` out of 1–100"),
    )
)]
pub async fn schedule_gaps(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<GapsQuery>,
) -> ApiResult<web::Json<Vec<Gap>>> {
    let (id, now, days) = (id.into_inner().to_string(), state.clock.now(), query.days);
    Ok(web::Json(with_conn(&state, move |conn| shifts::gaps(conn, &user, &id, days, now)).await?))
}

/// Overrides that have not ended.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/overrides", tag = "rotas",
    params(SchedulePath),
    responses((status = 200, description = "Overrides, earliest first", body = Vec<Override>))
)]
pub async fn list_overrides(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<Override>>> {
    let (id, now) = (id.into_inner().to_string(), state.clock.now());
    Ok(web::Json(with_conn(&state, move |conn| overrides::list_overrides(conn, &user, &id, now)).await?))
}

/// One person covers a span, whatever the layers say (`planning_manage`).
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/overrides", tag = "rotas",
    params(SchedulePath),
    request_body = CreateOverride,
    responses(
        (status = 201, description = "Created", body = Override),
        (status = 422, description = "`ends_before_start`, `in_past`, `span_too_long`, `unknown_participant`"),
    )
)]
pub async fn create_override(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<CreateOverride>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    let created = audited(&state, move |conn, _, at| overrides::create_override(conn, &user, &id, &body.0, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Cancel an override from now on; the part already served stays.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/overrides/{override_id}/cancel", tag = "rotas",
    params(OverridePath),
    responses(
        (status = 200, description = "Cancelled", body = Override),
        (status = 409, description = "Already cancelled or ended"),
    )
)]
pub async fn cancel_override(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<Override>> {
    let (id, override_id) = path.into_inner();
    let (id, override_id) = (id.to_string(), override_id.to_string());
    Ok(web::Json(
        audited(&state, move |conn, _, at| overrides::cancel_override(conn, &user, &id, &override_id, at)).await?,
    ))
}

/// Who is on duty now for an agency (default yours) or for the agencies serving an area — the
/// number to call for a child found there. Agencies with 24/7 duty come first.
#[utoipa::path(
    get, path = "/api/v1/on-call", tag = "rotas",
    params(OnCallQuery),
    responses(
        (status = 200, description = "One entry per schedule", body = Vec<OnCall>),
        (status = 404, description = "Unknown agency"),
        (status = 422, description = "Unknown area code"),
    )
)]
pub async fn on_call(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<OnCallQuery>,
) -> ApiResult<web::Json<Vec<OnCall>>> {
    user.require(terren_contract::Permission::ReferenceRead)?;
    let query = query.into_inner();
    let now = state.clock.now();
    let at = query.at.unwrap_or(now);
    let (index, cache) = (state.territory(), state.on_call_cache.clone());
    Ok(web::Json(
        with_conn(&state, move |conn| {
            let agency_ids: Vec<String> = match (&query.area, &query.agency) {
                (Some(area), _) => {
                    let mut found = crate::agencies::service::list(
                        conn,
                        &index,
                        &AgencyListQuery { area: Some(area.clone()), ..AgencyListQuery::default() },
                    )?;
                    found.sort_by_key(|agency| !agency.is_24_7);
                    found.into_iter().map(|agency| agency.id.to_string()).collect()
                }
                (None, Some(agency)) => vec![crate::agencies::service::resolve_id(conn, agency)?],
                (None, None) => vec![user.agency.id.clone()],
            };
            let mut live = service::live_schedules(conn, &agency_ids)?;
            live.sort_by_key(|(agency, _, _)| agency_ids.iter().position(|id| id == agency));
            live.iter().map(|(_, id, version)| cache.on_call(conn, id, *version, at, now)).collect()
        })
        .await?,
    ))
}

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
    let (id, wanted) = (id.into_inner().to_string(), query.state);
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
    let id = id.into_inner().to_string();
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
    let (id, swap_id, version) = (id.to_string(), swap_id.to_string(), body.0.version);
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

/// Where links to this service start: `http.public_url`, or the scheme and host the request came
/// to (forwarded ones only behind a trusted proxy).
fn base_url(state: &AppState, req: &HttpRequest) -> String {
    if let Some(url) = &state.config.http.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    if state.config.http.trust_forwarded_for {
        let info = req.connection_info();
        return format!("{}://{}", info.scheme(), info.host());
    }
    let scheme = if req.app_config().secure() { "https" } else { "http" };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map_or_else(|| req.app_config().host().to_owned(), str::to_owned);
    format!("{scheme}://{host}")
}

/// A calendar subscription of the schedule (`planning_manage` of its agency). The answer's `url`
/// holds the secret link; it is shown only here.
#[utoipa::path(
    post, path = "/api/v1/schedules/{id}/calendar-feeds", tag = "rotas",
    params(SchedulePath),
    responses(
        (status = 201, description = "Created, with its `url`", body = CalendarFeed),
        (status = 403, description = "No `planning_manage` for the schedule's agency"),
    )
)]
pub async fn create_schedule_feed(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (id, base) = (id.into_inner().to_string(), base_url(&state, &req));
    let created = audited(&state, move |conn, _, at| calendar::create_feed(conn, &user, Some(&id), &base, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// The schedule's calendar subscriptions, without their links (`planning_manage` of its agency).
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/calendar-feeds", tag = "rotas",
    params(SchedulePath),
    responses(
        (status = 200, description = "Feeds, oldest first", body = Vec<CalendarFeed>),
        (status = 403, description = "No `planning_manage` for the schedule's agency"),
    )
)]
pub async fn list_schedule_feeds(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<CalendarFeed>>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(with_conn(&state, move |conn| calendar::list_feeds(conn, &user, Some(&id))).await?))
}

/// A calendar subscription of your own shifts on every rota of your agency. The answer's `url`
/// holds the secret link; it is shown only here.
#[utoipa::path(
    post, path = "/api/v1/me/calendar-feeds", tag = "rotas",
    responses((status = 201, description = "Created, with its `url`", body = CalendarFeed))
)]
pub async fn create_my_feed(user: AuthUser, state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let base = base_url(&state, &req);
    let created = audited(&state, move |conn, _, at| calendar::create_feed(conn, &user, None, &base, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Your personal calendar subscriptions, without their links.
#[utoipa::path(
    get, path = "/api/v1/me/calendar-feeds", tag = "rotas",
    responses((status = 200, description = "Feeds, oldest first", body = Vec<CalendarFeed>))
)]
pub async fn list_my_feeds(user: AuthUser, state: web::Data<AppState>) -> ApiResult<web::Json<Vec<CalendarFeed>>> {
    Ok(web::Json(with_conn(&state, move |conn| calendar::list_feeds(conn, &user, None)).await?))
}

/// Revoke a calendar subscription: its link answers 410 from now on. Yours, one you made, or
/// (`planning_manage`) one showing your agency's rota.
#[utoipa::path(
    post, path = "/api/v1/calendar-feeds/{feed_id}/revoke", tag = "rotas",
    params(CalendarFeedPath),
    responses(
        (status = 200, description = "Revoked", body = CalendarFeed),
        (status = 403, description = "Not yours to revoke"),
        (status = 404, description = "No such feed"),
        (status = 409, description = "Already revoked"),
    )
)]
pub async fn revoke_feed(
    user: AuthUser,
    state: web::Data<AppState>,
    feed_id: web::Path<Uuid>,
) -> ApiResult<web::Json<CalendarFeed>> {
    let feed_id = feed_id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |conn, _, at| calendar::revoke_feed(conn, &user, &feed_id, at)).await?))
}

/// The iCalendar (RFC 5545) feed behind a secret link, for calendar apps: no bearer token, the
/// link is the credential. Shifts overlapping 30 days back to 90 days ahead, times in UTC.
#[utoipa::path(
    get, path = "/api/v1/calendar/{token}.ics", tag = "rotas", security(()),
    params(CalendarTokenPath),
    responses(
        (status = 200, description = "The calendar", body = String, content_type = "text/calendar"),
        (status = 404, description = "Unknown link"),
        (status = 410, description = "`calendar_feed_revoked`: the link was revoked (or its account disabled, or its schedule archived)"),
    )
)]
pub async fn calendar_feed(state: web::Data<AppState>, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let (token, now) = (token.into_inner(), state.clock.now());
    let body = with_conn(&state, move |conn| calendar::feed_body(conn, &token, now)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(body))
}

/// The final schedule between `from` and `to` (at most 100 days) as a CSV file for the police,
/// the court and ASHDMF: local times, names and phone numbers, gaps as `PA MBULIM / NOT COVERED`.
#[utoipa::path(
    get, path = "/api/v1/schedules/{id}/rota.csv", tag = "rotas",
    params(SchedulePath, ShiftsQuery),
    responses(
        (status = 200, description = "The rota, UTF-8 with a byte-order mark, header row in Albanian and English", body = String, content_type = "text/csv"),
        (status = 404, description = "No such schedule"),
        (status = 422, description = "`to` before `from`, or a span over 100 days"),
    )
)]
pub async fn rota_csv(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    query: web::Query<ShiftsQuery>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    let (from, to) = (query.from, query.to);
    let csv = with_conn(&state, move |conn| calendar::rota_csv(conn, &user, &id, from, to)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", csv.filename)))
        .body(csv.body))
}
