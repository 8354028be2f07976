//! Schedules, what they resolve to, overrides, and who is on call.

use actix_web::{HttpResponse, web};
use terren_contract::agencies::AgencyListQuery;
use terren_contract::schedules::{
    AtQuery, CreateOverride, CreateSchedule, Gap, GapsQuery, OnCall, OnCallQuery, Override, Schedule, Shift,
    ShiftsQuery, UpdateSchedule,
};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::http::paths::{OverridePath, SchedulePath};
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::ids::{AgencyId, ScheduleId};
use crate::rota::{overrides, service, shifts};
use crate::state::AppState;

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
    let agency = query.agency_id.map(AgencyId::from);
    Ok(web::Json(with_conn(&state, move |conn| service::list(conn, &user, agency.as_ref(), now)).await?))
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
    let (id, now) = (ScheduleId::from(id.into_inner()), state.clock.now());
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
    let id = ScheduleId::from(id.into_inner());
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
    let id = ScheduleId::from(id.into_inner());
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
    let id = ScheduleId::from(id.into_inner());
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
    let (id, now, days) = (ScheduleId::from(id.into_inner()), state.clock.now(), query.days);
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
    let (id, now) = (ScheduleId::from(id.into_inner()), state.clock.now());
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
    let id = ScheduleId::from(id.into_inner());
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
    let (id, override_id) = (ScheduleId::from(id), override_id.to_string());
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
            let agency_ids: Vec<AgencyId> = match (&query.area, &query.agency) {
                (Some(area), _) => {
                    let mut found = crate::agencies::service::list(
                        conn,
                        &index,
                        &AgencyListQuery { area: Some(area.clone()), ..AgencyListQuery::default() },
                    )?;
                    found.sort_by_key(|agency| !agency.is_24_7);
                    found.into_iter().map(|agency| AgencyId::from(agency.id)).collect()
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
