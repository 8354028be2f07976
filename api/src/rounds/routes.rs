use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use terren_contract::rounds::{
    CheckIn, CheckOut, Coverage, CoverageQuery, CreateRound, MyRounds, MyRoundsQuery, PlanningPolicy, PutRoundSeries,
    PutTeam, Round, RoundListQuery, RoundSeries, StopVisit, Team, UpdateRound,
};
use uuid::Uuid;

use super::{coverage, field, plan, read, teams};
use crate::access::AuthUser;
use crate::db::{DbConnection, Tx};
use crate::http::idempotency::{self, IdempotencyKey, PhoneWrite, Written};
use crate::http::paths::{AgencyPath, RoundPath, RoundStopPath, SeriesPath, TeamPath};
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::ids::{AgencyId, TeamId};
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/teams").route(web::get().to(list_teams)).route(web::post().to(create_team)))
        .service(web::resource("/teams/{id}").route(web::get().to(get_team)).route(web::put().to(replace_team)))
        .service(web::resource("/rounds").route(web::get().to(list_rounds)).route(web::post().to(create_round)))
        .service(web::resource("/rounds/{id}").route(web::get().to(get_round)).route(web::patch().to(update_round)))
        .service(web::resource("/rounds/{id}/cancel").route(web::post().to(cancel_round)))
        .service(web::resource("/rounds/{id}/check-in").route(web::post().to(check_in)))
        .service(web::resource("/rounds/{id}/check-out").route(web::post().to(check_out)))
        .service(web::resource("/rounds/{id}/stops/{position}/arrive").route(web::post().to(arrive)))
        .service(web::resource("/rounds/{id}/stops/{position}/leave").route(web::post().to(leave)))
        .service(web::resource("/round-series").route(web::post().to(create_series)))
        .service(
            web::resource("/round-series/{id}").route(web::get().to(get_series)).route(web::put().to(replace_series)),
        )
        .service(web::resource("/me/rounds").route(web::get().to(my_rounds)))
        .service(web::resource("/coverage").route(web::get().to(get_coverage)))
        .service(
            web::resource("/agencies/{id}/planning-policy")
                .route(web::get().to(get_planning_policy))
                .route(web::put().to(put_planning_policy)),
        );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_teams,
    create_team,
    get_team,
    replace_team,
    list_rounds,
    create_round,
    get_round,
    update_round,
    cancel_round,
    check_in,
    check_out,
    arrive,
    leave,
    create_series,
    get_series,
    replace_series,
    my_rounds,
    get_coverage,
    get_planning_policy,
    put_planning_policy
))]
pub struct RoundsApi;

/// Teams of your agency, and joint teams you are in.
#[utoipa::path(
    get, path = "/api/v1/teams", tag = "rounds",
    responses((status = 200, description = "Teams", body = Vec<Team>))
)]
pub async fn list_teams(user: AuthUser, state: web::Data<AppState>) -> ApiResult<web::Json<Vec<Team>>> {
    let index = state.territory();
    Ok(web::Json(with_conn(&state, move |conn| teams::list(conn, &index, &user)).await?))
}

/// Add a team (`planning_manage`). Members come from your agency, or from any agency for a
/// `joint` team.
#[utoipa::path(
    post, path = "/api/v1/teams", tag = "rounds",
    request_body = PutTeam,
    responses(
        (status = 201, description = "Added", body = Team),
        (status = 422, description = "`unknown_user`, `other_agency`, `unknown_area`"),
    )
)]
pub async fn create_team(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<PutTeam>,
) -> ApiResult<HttpResponse> {
    let request = body.0;
    let (team, _) = audited(&state, move |conn, index, at| teams::put(conn, index, &user, None, &request, at)).await?;
    Ok(HttpResponse::Created().json(team))
}

#[utoipa::path(
    get, path = "/api/v1/teams/{id}", tag = "rounds",
    params(TeamPath),
    responses((status = 200, description = "The team", body = Team))
)]
pub async fn get_team(user: AuthUser, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<web::Json<Team>> {
    let (index, id) = (state.territory(), TeamId::from(id.into_inner()));
    Ok(web::Json(with_conn(&state, move |conn| teams::get(conn, &index, &user, &id)).await?))
}

/// Replace a team, at the `version` you read.
#[utoipa::path(
    put, path = "/api/v1/teams/{id}", tag = "rounds",
    params(TeamPath),
    request_body = PutTeam,
    responses(
        (status = 200, description = "Saved", body = Team),
        (status = 412, description = "Changed since you read it; the body is the current team", body = Team),
    )
)]
pub async fn replace_team(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutTeam>,
) -> ApiResult<web::Json<Team>> {
    let (request, id) = (body.0, TeamId::from(id.into_inner()));
    let (team, _) =
        audited(&state, move |conn, index, at| teams::put(conn, index, &user, Some(&id), &request, at)).await?;
    Ok(web::Json(team))
}

/// Rounds of your agency and of teams you are in, by start (default from a week ago, five weeks).
#[utoipa::path(
    get, path = "/api/v1/rounds", tag = "rounds",
    params(RoundListQuery),
    responses((status = 200, description = "Rounds", body = Vec<Round>))
)]
pub async fn list_rounds(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<RoundListQuery>,
) -> ApiResult<web::Json<Vec<Round>>> {
    let (index, now) = (state.territory(), state.clock.now());
    Ok(web::Json(with_conn(&state, move |conn| read::list(conn, &index, &user, &query, now)).await?))
}

/// Plan one round (`planning_manage`). The `id` is yours: sending it again gives the round back.
#[utoipa::path(
    post, path = "/api/v1/rounds", tag = "rounds",
    request_body = CreateRound,
    responses(
        (status = 201, description = "Planned", body = Round),
        (status = 200, description = "You planned this round already", body = Round),
        (status = 409, description = "`round_conflict` (a member is in another round then, or on duty when the agency forbids it), `already_exists`"),
        (status = 422, description = "`ends_before_start`, `in_past`, `out_of_range`, `outside_agency_area`, `unknown_hotspot`, `unknown_area`, `unknown_code`"),
    )
)]
pub async fn create_round(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<CreateRound>,
) -> ApiResult<HttpResponse> {
    let (request, now) = (body.0, state.clock.now());
    let (round, created) =
        audited(&state, move |conn, index, _| plan::create(conn, index, &user, &request, now)).await?;
    Ok(HttpResponse::build(if created { StatusCode::CREATED } else { StatusCode::OK }).json(round))
}

#[utoipa::path(
    get, path = "/api/v1/rounds/{id}", tag = "rounds",
    params(RoundPath),
    responses((status = 200, description = "The round", body = Round))
)]
pub async fn get_round(user: AuthUser, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<web::Json<Round>> {
    let (index, id) = (state.territory(), id.into_inner().to_string());
    Ok(web::Json(with_conn(&state, move |conn| read::get(conn, &index, &user, &id)).await?))
}

/// Change a planned round, at the `version` you read. A round of a series is detached from it.
#[utoipa::path(
    patch, path = "/api/v1/rounds/{id}", tag = "rounds",
    params(RoundPath),
    request_body = UpdateRound,
    responses(
        (status = 200, description = "Saved", body = Round),
        (status = 409, description = "`round_conflict`, or the round is no longer planned (`conflict`)"),
        (status = 412, description = "Changed since you read it; the body is the current round", body = Round),
    )
)]
pub async fn update_round(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<UpdateRound>,
) -> ApiResult<web::Json<Round>> {
    let (request, id, now) = (body.0, id.into_inner().to_string(), state.clock.now());
    Ok(web::Json(audited(&state, move |conn, index, _| plan::update(conn, index, &user, &id, &request, now)).await?))
}

#[utoipa::path(
    post, path = "/api/v1/rounds/{id}/cancel", tag = "rounds",
    params(RoundPath),
    responses((status = 200, description = "Cancelled", body = Round))
)]
pub async fn cancel_round(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Round>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |conn, index, at| plan::cancel(conn, index, &user, &id, at)).await?))
}

/// Check in to a round of your team, with the phone's location, from half an hour before it
/// starts until it ends (422 `outside_window`). Farther than the agency allows from every stop
/// needs a `reason` (422 `too_far`), and is recorded with it. A repeat with the same
/// `Idempotency-Key`, or a check-in after a teammate's, answers the round as it is.
#[utoipa::path(
    post, path = "/api/v1/rounds/{id}/check-in", tag = "rounds",
    params(
        RoundPath,
        ("Idempotency-Key" = String, Header, description = "Made once per check-in by the phone"),
    ),
    request_body = CheckIn,
    responses(
        (status = 200, description = "In progress", body = Round),
        (status = 403, description = "`not_on_team`"),
        (status = 422, description = "`too_far`, `outside_window`, `out_of_range`"),
    )
)]
pub async fn check_in(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
    body: ValidJson<CheckIn>,
) -> ApiResult<HttpResponse> {
    let user_id = user.user_id.clone();
    idempotency::respond(&req, &state, user_id, key, check_in_write(&state, user, id.into_inner(), body.0)).await
}

/// Check out with the team's report. Checking out again answers the round as it is.
#[utoipa::path(
    post, path = "/api/v1/rounds/{id}/check-out", tag = "rounds",
    params(
        RoundPath,
        ("Idempotency-Key" = String, Header, description = "Made once per check-out by the phone"),
    ),
    request_body = CheckOut,
    responses(
        (status = 200, description = "Done", body = Round),
        (status = 403, description = "`not_on_team`"),
    )
)]
pub async fn check_out(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
    body: ValidJson<CheckOut>,
) -> ApiResult<HttpResponse> {
    let user_id = user.user_id.clone();
    idempotency::respond(&req, &state, user_id, key, check_out_write(&state, user, id.into_inner(), body.0)).await
}

/// Arrived at a stop (the first arrival counts).
#[utoipa::path(
    post, path = "/api/v1/rounds/{id}/stops/{position}/arrive", tag = "rounds",
    params(
        RoundStopPath,
        ("Idempotency-Key" = String, Header, description = "Made once per visit by the phone"),
    ),
    request_body = StopVisit,
    responses((status = 200, description = "Recorded", body = Round))
)]
pub async fn arrive(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    path: web::Path<(Uuid, i32)>,
    body: ValidJson<StopVisit>,
) -> ApiResult<HttpResponse> {
    let user_id = user.user_id.clone();
    idempotency::respond(&req, &state, user_id, key, visit_write(&state, user, path.into_inner(), true, body.0)).await
}

/// Left a stop (the first departure counts).
#[utoipa::path(
    post, path = "/api/v1/rounds/{id}/stops/{position}/leave", tag = "rounds",
    params(
        RoundStopPath,
        ("Idempotency-Key" = String, Header, description = "Made once per visit by the phone"),
    ),
    request_body = StopVisit,
    responses((status = 200, description = "Recorded", body = Round))
)]
pub async fn leave(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    path: web::Path<(Uuid, i32)>,
    body: ValidJson<StopVisit>,
) -> ApiResult<HttpResponse> {
    let user_id = user.user_id.clone();
    idempotency::respond(&req, &state, user_id, key, visit_write(&state, user, path.into_inner(), false, body.0)).await
}

/// A check-in from a phone.
pub(crate) fn check_in_write(state: &AppState, user: AuthUser, id: Uuid, request: CheckIn) -> impl RoundPhoneWrite {
    round_write(state, request, id, move |tx, index, id, request, at| {
        field::check_in(tx, index, &user, id, request, at)
    })
}

pub(crate) fn check_out_write(state: &AppState, user: AuthUser, id: Uuid, request: CheckOut) -> impl RoundPhoneWrite {
    round_write(state, request, id, move |tx, index, id, request, at| {
        field::check_out(tx, index, &user, id, request, at)
    })
}

/// Arriving at (`arrive`) or leaving a stop.
pub(crate) fn visit_write(
    state: &AppState,
    user: AuthUser,
    (id, position): (Uuid, i32),
    arrive: bool,
    request: StopVisit,
) -> impl RoundPhoneWrite {
    round_write(state, request, id, move |tx, index, id, request, at| {
        field::visit(tx, index, &user, id, field::StopEvent { position, arrive }, request, at)
    })
}

/// A phone's write to a round; a repeat is answered with the round as it is now.
pub(crate) trait RoundPhoneWrite: PhoneWrite<Answer = Round> {}

impl<Rq, F> RoundPhoneWrite for RoundWrite<Rq, F>
where
    Rq: Serialize + Send + Sync + 'static,
    F: Fn(&mut Tx<'_>, &TerritoryIndex, &str, &Rq, NaiveDateTime) -> ApiResult<Round> + Send + Sync + 'static,
{
}

fn round_write<Rq, F>(state: &AppState, request: Rq, id: Uuid, apply: F) -> RoundWrite<Rq, F>
where
    F: Fn(&mut Tx<'_>, &TerritoryIndex, &str, &Rq, NaiveDateTime) -> ApiResult<Round>,
{
    RoundWrite { request, round_id: id.to_string(), index: state.territory(), at: state.clock.now_naive(), apply }
}

/// A write to one round from a phone: check-in, check-out, a stop's arrival or departure.
pub(crate) struct RoundWrite<Rq, F> {
    request: Rq,
    round_id: String,
    index: Arc<TerritoryIndex>,
    at: NaiveDateTime,
    apply: F,
}

/// What a round write keeps for repeats.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptRound {
    round_id: Uuid,
}

impl<Rq, F> PhoneWrite for RoundWrite<Rq, F>
where
    Rq: Serialize + Send + Sync + 'static,
    F: Fn(&mut Tx<'_>, &TerritoryIndex, &str, &Rq, NaiveDateTime) -> ApiResult<Round> + Send + Sync + 'static,
{
    type Request = Rq;
    type Prepared = ();
    type Answer = Round;
    type Kept = KeptRound;

    fn request(&self) -> &Rq {
        &self.request
    }

    fn prepare(&self, _: &mut DbConnection) -> ApiResult<()> {
        Ok(())
    }

    fn apply(&self, tx: &mut Tx<'_>, (): ()) -> ApiResult<Written<Self>> {
        let round = (self.apply)(tx, &self.index, &self.round_id, &self.request, self.at)?;
        Ok(Written { status: StatusCode::OK, kept: KeptRound { round_id: round.id }, answer: round })
    }

    fn replay(&self, tx: &mut Tx<'_>, kept: KeptRound) -> ApiResult<Round> {
        read::reload(tx, &self.index, &kept.round_id.to_string())
    }
}

/// Plan rounds from a weekly rule (`planning_manage`): the rounds of the next eight weeks are
/// planned at once, later ones daily.
#[utoipa::path(
    post, path = "/api/v1/round-series", tag = "rounds",
    request_body = PutRoundSeries,
    responses(
        (status = 201, description = "Planned", body = RoundSeries),
        (status = 409, description = "`round_conflict`, naming the days"),
        (status = 422, description = "`generates_nothing`, `ends_before_start`, `overlapping_windows`, `invalid_time`, `in_past`, `outside_agency_area`"),
    )
)]
pub async fn create_series(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<PutRoundSeries>,
) -> ApiResult<HttpResponse> {
    let (request, now) = (body.0, state.clock.now());
    let (series, _) =
        audited(&state, move |conn, index, _| super::series::put_series(conn, index, &user, None, &request, now))
            .await?;
    Ok(HttpResponse::Created().json(series))
}

#[utoipa::path(
    get, path = "/api/v1/round-series/{id}", tag = "rounds",
    params(SeriesPath),
    responses((status = 200, description = "The series", body = RoundSeries))
)]
pub async fn get_series(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<RoundSeries>> {
    let (index, id) = (state.territory(), id.into_inner().to_string());
    Ok(web::Json(with_conn(&state, move |conn| super::series::get_series(conn, &index, &user, &id)).await?))
}

/// Replace a series, at the `version` you read: rounds not started and not changed by hand are
/// planned again.
#[utoipa::path(
    put, path = "/api/v1/round-series/{id}", tag = "rounds",
    params(SeriesPath),
    request_body = PutRoundSeries,
    responses(
        (status = 200, description = "Saved", body = RoundSeries),
        (status = 412, description = "Changed since you read it; the body is the current series", body = RoundSeries),
    )
)]
pub async fn replace_series(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutRoundSeries>,
) -> ApiResult<web::Json<RoundSeries>> {
    let (request, id, now) = (body.0, id.into_inner().to_string(), state.clock.now());
    let (series, _) =
        audited(&state, move |conn, index, _| super::series::put_series(conn, index, &user, Some(&id), &request, now))
            .await?;
    Ok(web::Json(series))
}

/// Your rounds on a day, with what the phone needs offline: the team's phones, each stop's
/// hotspot shape, and the sightings there in the last 30 days that you may see (audited).
#[utoipa::path(
    get, path = "/api/v1/me/rounds", tag = "rounds",
    params(MyRoundsQuery),
    responses((status = 200, description = "The day's rounds", body = MyRounds))
)]
pub async fn my_rounds(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<MyRoundsQuery>,
) -> ApiResult<web::Json<MyRounds>> {
    let (date, now) = (query.date, state.clock.now());
    Ok(web::Json(audited(&state, move |conn, index, _| field::my_rounds(conn, index, &user, date, now)).await?))
}

/// Coverage of an area over a period (`planning_manage` or `statistics_read`, in your agency's
/// areas): per hotspot, visits planned and made against sightings and children there; per hour of
/// the week, sightings against minutes teams were out; hotspots not visited in `stale_days`; rounds
/// missed.
#[utoipa::path(
    get, path = "/api/v1/coverage", tag = "rounds",
    params(CoverageQuery),
    responses(
        (status = 200, description = "The report", body = Coverage),
        (status = 422, description = "`unknown_area`, `before_from`, `out_of_range`"),
    )
)]
pub async fn get_coverage(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<CoverageQuery>,
) -> ApiResult<web::Json<Coverage>> {
    let index = state.territory();
    Ok(web::Json(with_conn(&state, move |conn| coverage::coverage(conn, &index, &user, &query)).await?))
}

#[utoipa::path(
    get, path = "/api/v1/agencies/{id}/planning-policy", tag = "rounds",
    params(AgencyPath),
    responses((status = 200, description = "The policy (the default when none was set)", body = PlanningPolicy))
)]
pub async fn get_planning_policy(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<PlanningPolicy>> {
    let id = AgencyId::from(id.into_inner());
    if id != user.agency.id && !user.national_scope() {
        return Err(crate::http::ApiError::not_found("agency"));
    }
    Ok(web::Json(with_conn(&state, move |conn| super::policy::policy_of(conn, &id)).await?))
}

/// Set your agency's rules for rounds (`planning_manage`).
#[utoipa::path(
    put, path = "/api/v1/agencies/{id}/planning-policy", tag = "rounds",
    params(AgencyPath),
    request_body = PlanningPolicy,
    responses((status = 200, description = "Saved", body = PlanningPolicy))
)]
pub async fn put_planning_policy(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PlanningPolicy>,
) -> ApiResult<web::Json<PlanningPolicy>> {
    let (policy, id) = (body.0, AgencyId::from(id.into_inner()));
    Ok(web::Json(audited(&state, move |conn, _, at| super::policy::put_policy(conn, &user, &id, &policy, at)).await?))
}
