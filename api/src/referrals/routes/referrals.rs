//! Referrals through the API: sending one from a phone, lists and the routing suggestion, one
//! referral and its timeline, comments, and each step of its way (acknowledge to forward).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use terren_contract::referrals::{
    CloseReferral, CreateReferral, CreateReferralComment, DeadlineStatistics, DeadlineStatisticsQuery, DeclineReferral,
    ForwardReferral, Referral, ReferralAction, ReferralEvent, ReferralListQuery, ReferralPage, RouteQuery,
    RouteSuggestion, StartReferral,
};
use uuid::Uuid;

use super::super::lifecycle::{self, Step};
use super::super::{checker, create, service};
use crate::access::AuthUser;
use crate::db::{DbConnection, Tx};
use crate::http::idempotency::{self, IdempotencyKey, PhoneWrite, Written};
use crate::http::paths::ReferralPath;
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::ids::ReferralId;
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

/// Refer a person to the agency that must act (`referrals_create`). Idempotent like a sighting:
/// the phone makes the `id` and an `Idempotency-Key`; a retry gets the first answer. Without
/// `to_agency_id` the routing table of the place chooses. Deadlines start when the server gets
/// it; an `emergency` referral pages the receiving agency's duty rota at once.
#[utoipa::path(
    post, path = "/api/v1/referrals", tag = "referrals",
    params(("Idempotency-Key" = String, Header, description = "Made once per referral by the phone, e.g. a UUID")),
    request_body = CreateReferral,
    responses(
        (status = 201, description = "Sent", body = Referral),
        (status = 200, description = "You already sent this id with the same content", body = Referral),
        (status = 403, description = "Details shared without consent, without `referrals_override_consent`"),
        (status = 409, description = "`shelter_full`, or this id holds another referral (`already_exists`)"),
        (status = 422, description = "`consent_required`, `agency_does_not_take_case`, `agency_outside_area`, `no_responsible_agency`, `unknown_agency`, `unknown_identification`, `unknown_profile`, `profile_mismatch`, `unknown_code`, `required`"),
    )
)]
pub async fn create_referral(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: ValidJson<CreateReferral>,
) -> ApiResult<HttpResponse> {
    let write = SendReferral::new(&state, user.clone(), body.0);
    idempotency::respond(&req, &state, user.user_id, key, write).await
}

/// Sending a referral from a phone.
pub(crate) struct SendReferral {
    request: CreateReferral,
    user: AuthUser,
    index: Arc<TerritoryIndex>,
    at: NaiveDateTime,
}

impl SendReferral {
    pub(crate) const PATH: &str = "/api/v1/referrals";

    pub(crate) fn new(state: &AppState, user: AuthUser, request: CreateReferral) -> SendReferral {
        SendReferral { request, user, index: state.territory(), at: state.clock.now_naive() }
    }
}

/// What a sent referral keeps for repeats.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptReferral {
    referral_id: Uuid,
}

impl PhoneWrite for SendReferral {
    type Request = CreateReferral;
    type Prepared = ();
    type Answer = Referral;
    type Kept = KeptReferral;

    fn request(&self) -> &CreateReferral {
        &self.request
    }

    fn prepare(&self, _: &mut DbConnection) -> ApiResult<()> {
        Ok(())
    }

    fn apply(&self, tx: &mut Tx<'_>, (): ()) -> ApiResult<Written<Self>> {
        let created = create::create(tx, &self.index, &self.user, &self.request, self.at)?;
        Ok(Written {
            status: if created.new { StatusCode::CREATED } else { StatusCode::OK },
            kept: KeptReferral { referral_id: created.referral.id },
            answer: created.referral,
        })
    }

    fn replay(&self, tx: &mut Tx<'_>, kept: KeptReferral) -> ApiResult<Referral> {
        service::get(tx, &self.index, &self.user, &ReferralId::from(kept.referral_id), self.at)
    }
}

/// Referrals you may see, newest sent first: `box=inbox` (to your agency), `outbox` (sent by
/// your agency, or by an agency it handed the person to), `mine` (that you made, with how they
/// ended). `overdue=true` lists those with a deadline passed unmet.
#[utoipa::path(
    get, path = "/api/v1/referrals", tag = "referrals",
    params(ReferralListQuery),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralPage),
        (status = 422, description = "`unknown_agency`, `invalid_cursor`, `out_of_range`"),
    )
)]
pub async fn list_referrals(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ReferralListQuery>,
) -> ApiResult<web::Json<ReferralPage>> {
    let (index, now) = (state.territory(), state.clock.now_naive());
    Ok(web::Json(with_conn(&state, move |conn| service::list(conn, &index, &user, &query, now)).await?))
}

/// Where a referral about this sighting or profile would go (the routing table's choice and the
/// rule), and other agencies serving the place that take this kind of case.
#[utoipa::path(
    get, path = "/api/v1/referrals/route", tag = "referrals",
    params(RouteQuery),
    responses((status = 200, description = "The suggestion", body = RouteSuggestion))
)]
pub async fn suggest_route(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<RouteQuery>,
) -> ApiResult<web::Json<RouteSuggestion>> {
    let (index, at) = (state.territory(), state.clock.now_naive());
    Ok(web::Json(with_conn(&state, move |conn| create::suggest_route(conn, &index, &user, &query, at)).await?))
}

/// Deadlines met, breached, pending and void per priority and kind, over the referrals an agency
/// received in the period (`referrals_respond` or `statistics_read` of that agency; any agency
/// with national scope). Counts only.
#[utoipa::path(
    get, path = "/api/v1/referrals/deadline-statistics", tag = "referrals",
    params(DeadlineStatisticsQuery),
    responses(
        (status = 200, description = "The counts", body = DeadlineStatistics),
        (status = 422, description = "`before_from`, `out_of_range`, `unknown_agency`"),
    )
)]
pub async fn deadline_statistics(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<DeadlineStatisticsQuery>,
) -> ApiResult<web::Json<DeadlineStatistics>> {
    let now = state.clock.now_naive();
    Ok(web::Json(with_conn(&state, move |conn| checker::deadline_statistics(conn, &user, &query, now)).await?))
}

/// One referral with its deadlines (`met`, `pending`, `breached`, `void`). The receiving agency
/// sees the sighting and profile only once it accepted a referral that shares details.
#[utoipa::path(
    get, path = "/api/v1/referrals/{id}", tag = "referrals",
    params(ReferralPath),
    responses(
        (status = 200, description = "The referral", body = Referral),
        (status = 404, description = "No such referral, or not yours to see"),
    )
)]
pub async fn get_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Referral>> {
    let id = ReferralId::from(id.into_inner());
    Ok(web::Json(audited(&state, move |conn, index, at| service::get(conn, index, &user, &id, at)).await?))
}

/// Every step, comment, deadline met or breached and alert raised, in order.
#[utoipa::path(
    get, path = "/api/v1/referrals/{id}/timeline", tag = "referrals",
    params(ReferralPath),
    responses((status = 200, description = "The timeline", body = Vec<ReferralEvent>))
)]
pub async fn referral_timeline(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<ReferralEvent>>> {
    let id = ReferralId::from(id.into_inner());
    Ok(web::Json(with_conn(&state, move |conn| service::timeline(conn, &user, &id)).await?))
}

/// A comment both sides see (`Idempotency-Key` required).
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/comments", tag = "referrals",
    params(
        ReferralPath,
        ("Idempotency-Key" = String, Header, description = "Made once per comment by the phone"),
    ),
    request_body = CreateReferralComment,
    responses((status = 201, description = "Added", body = ReferralEvent))
)]
pub async fn comment_referral(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
    body: ValidJson<CreateReferralComment>,
) -> ApiResult<HttpResponse> {
    let write = Comment::new(&state, user.clone(), ReferralId::from(id.into_inner()), body.0);
    idempotency::respond(&req, &state, user.user_id, key, write).await
}

/// A comment on a referral from a phone.
pub(crate) struct Comment {
    request: CreateReferralComment,
    user: AuthUser,
    id: ReferralId,
    at: NaiveDateTime,
}

impl Comment {
    pub(crate) fn path(id: &Uuid) -> String {
        format!("/api/v1/referrals/{id}/comments")
    }

    pub(crate) fn new(state: &AppState, user: AuthUser, id: ReferralId, request: CreateReferralComment) -> Comment {
        Comment { request, user, id, at: state.clock.now_naive() }
    }
}

/// A comment keeps its timeline entry for repeats (the entry holds no more than the timeline
/// shows to whoever may comment).
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptComment {
    event: ReferralEvent,
}

impl PhoneWrite for Comment {
    type Request = CreateReferralComment;
    type Prepared = ();
    type Answer = ReferralEvent;
    type Kept = KeptComment;

    fn request(&self) -> &CreateReferralComment {
        &self.request
    }

    fn prepare(&self, _: &mut DbConnection) -> ApiResult<()> {
        Ok(())
    }

    fn apply(&self, tx: &mut Tx<'_>, (): ()) -> ApiResult<Written<Self>> {
        let event = service::comment(tx, &self.user, &self.id, &self.request, self.at)?;
        Ok(Written { status: StatusCode::CREATED, kept: KeptComment { event: event.clone() }, answer: event })
    }

    fn replay(&self, _: &mut Tx<'_>, kept: KeptComment) -> ApiResult<ReferralEvent> {
        Ok(kept.event)
    }
}

async fn step(state: web::Data<AppState>, user: AuthUser, id: Uuid, step: Step) -> ApiResult<web::Json<Referral>> {
    let id = ReferralId::from(id);
    Ok(web::Json(
        audited(&state, move |conn, index, at| lifecycle::transition(conn, index, &user, &id, step, at)).await?,
    ))
}

/// "We have it" (receiving agency, `referrals_respond`): meets the acknowledgement deadline and
/// acknowledges the emergency page about it.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/acknowledge", tag = "referrals",
    params(ReferralPath),
    request_body = ReferralAction,
    responses(
        (status = 200, description = "Acknowledged (also when you had already)", body = Referral),
        (status = 409, description = "`invalid_transition` or `referral_ended`"),
    )
)]
pub async fn acknowledge_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ReferralAction>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Acknowledge(body.0)).await
}

/// Take the case. A shelter accepting a placement takes one of its places (409 `shelter_full`
/// when none is free). Once accepted, a referral that shares details opens the sighting and
/// profile to the agency.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/accept", tag = "referrals",
    params(ReferralPath),
    request_body = ReferralAction,
    responses(
        (status = 200, description = "Accepted", body = Referral),
        (status = 409, description = "`invalid_transition`, `referral_ended` (e.g. already declined), `shelter_full`"),
    )
)]
pub async fn accept_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ReferralAction>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Accept(body.0)).await
}

/// Decline with a `referral_decline_reason`. The sender's coordinators are alerted, with your
/// suggestion or the routing table's next agency as `suggested_agency`.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/decline", tag = "referrals",
    params(ReferralPath),
    request_body = DeclineReferral,
    responses(
        (status = 200, description = "Declined", body = Referral),
        (status = 409, description = "`invalid_transition` or `referral_ended`"),
        (status = 422, description = "`unknown_code`, `unknown_agency`"),
    )
)]
pub async fn decline_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<DeclineReferral>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Decline(body.0)).await
}

/// Work started: the person was reached (`contacted_at`), which meets the first-contact deadline.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/start", tag = "referrals",
    params(ReferralPath),
    request_body = StartReferral,
    responses(
        (status = 200, description = "In progress", body = Referral),
        (status = 409, description = "`invalid_transition` (accept first) or `referral_ended`"),
        (status = 422, description = "`in_future`, `before_sent`"),
    )
)]
pub async fn start_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<StartReferral>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Start(body.0)).await
}

/// Close with a `referral_outcome` (from `accepted` or `in_progress`). The sender sees it.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/close", tag = "referrals",
    params(ReferralPath),
    request_body = CloseReferral,
    responses(
        (status = 200, description = "Closed", body = Referral),
        (status = 409, description = "`invalid_transition` or `referral_ended`"),
        (status = 422, description = "`outcome_required`, `unknown_code`"),
    )
)]
pub async fn close_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<CloseReferral>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Close(body.0)).await
}

/// Withdraw a referral still open (its sender).
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/cancel", tag = "referrals",
    params(ReferralPath),
    request_body = ReferralAction,
    responses(
        (status = 200, description = "Cancelled", body = Referral),
        (status = 409, description = "`referral_ended`"),
    )
)]
pub async fn cancel_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ReferralAction>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Cancel(body.0)).await
}

/// Hand the person on to another agency: this referral ends as `forwarded` and names the next
/// one (`forwarded_to`), which keeps the chain and starts its own deadlines.
#[utoipa::path(
    post, path = "/api/v1/referrals/{id}/forward", tag = "referrals",
    params(ReferralPath),
    request_body = ForwardReferral,
    responses(
        (status = 200, description = "Forwarded", body = Referral),
        (status = 409, description = "`referral_ended`, `shelter_full`"),
        (status = 422, description = "`agency_does_not_take_case`, `agency_outside_area`, `unknown_agency`"),
    )
)]
pub async fn forward_referral(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ForwardReferral>,
) -> ApiResult<web::Json<Referral>> {
    step(state, user, id.into_inner(), Step::Forward(body.0)).await
}
