//! Publishing a rota: calendar feeds, the feed itself, the CSV rota.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use terren_contract::schedules::{CalendarFeed, ShiftsQuery};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::http::paths::{CalendarFeedPath, CalendarTokenPath, SchedulePath};
use crate::http::{ApiResult, audited, with_conn};
use crate::ids::ScheduleId;
use crate::rota::{calendar, spreadsheet};
use crate::state::AppState;

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
    let (id, base) = (ScheduleId::from(id.into_inner()), base_url(&state, &req));
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
    let id = ScheduleId::from(id.into_inner());
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
    let id = ScheduleId::from(id.into_inner());
    let (from, to) = (query.from, query.to);
    let csv = with_conn(&state, move |conn| spreadsheet::rota_csv(conn, &user, &id, from, to)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", csv.filename)))
        .body(csv.body))
}
