//! The tables referrals go by, through the API: routing rules, deadline policies, and the
//! occupancy a shelter reports.

use actix_web::{HttpResponse, web};
use terren_contract::referrals::{
    DeadlinePolicy, PutDeadlinePolicy, PutOccupancy, PutRoutingRule, RoutingRule, RoutingRuleQuery,
};
use uuid::Uuid;

use super::super::{deadlines, routing_rules, shelters};
use crate::access::AuthUser;
use crate::http::paths::{AgencyPath, PolicyScopePath, RoutingRulePath};
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::ids::AgencyId;
use crate::state::AppState;

/// The national routing rules, and a municipality's own when `municipality` is given.
#[utoipa::path(
    get, path = "/api/v1/referral-routes", tag = "referrals",
    params(RoutingRuleQuery),
    responses((status = 200, description = "Rules, the municipality's first", body = Vec<RoutingRule>))
)]
pub async fn list_routing_rules(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<RoutingRuleQuery>,
) -> ApiResult<web::Json<Vec<RoutingRule>>> {
    let index = state.territory();
    Ok(web::Json(
        with_conn(&state, move |conn| routing_rules::list(conn, &index, &user, query.municipality.as_deref())).await?,
    ))
}

/// Add a rule to a municipality's routing table (administrators of the municipality's social
/// services or child-protection unit) or a national one (`system_admin`); others get 403
/// `not_municipal_authority`.
#[utoipa::path(
    post, path = "/api/v1/referral-routes", tag = "referrals",
    request_body = PutRoutingRule,
    responses(
        (status = 201, description = "Added", body = RoutingRule),
        (status = 403, description = "`not_municipal_authority`"),
        (status = 409, description = "A rule for this municipality, person and service exists (`already_exists`)"),
        (status = 422, description = "`unknown_area`, `unknown_code`, `unknown_agency`, `agency_does_not_take_case`, `invalid_value`"),
    )
)]
pub async fn create_routing_rule(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<PutRoutingRule>,
) -> ApiResult<HttpResponse> {
    let request = body.0;
    let (rule, _) =
        audited(&state, move |conn, index, at| routing_rules::put(conn, index, &user, None, &request, at)).await?;
    Ok(HttpResponse::Created().json(rule))
}

/// Replace a rule, at the `version` you read (same people as adding one).
#[utoipa::path(
    put, path = "/api/v1/referral-routes/{id}", tag = "referrals",
    params(RoutingRulePath),
    request_body = PutRoutingRule,
    responses(
        (status = 200, description = "Saved", body = RoutingRule),
        (status = 403, description = "`not_municipal_authority`"),
        (status = 412, description = "Changed since you read it; the body is the current rule", body = RoutingRule),
    )
)]
pub async fn replace_routing_rule(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutRoutingRule>,
) -> ApiResult<web::Json<RoutingRule>> {
    let (request, id) = (body.0, id.into_inner().to_string());
    let (rule, _) =
        audited(&state, move |conn, index, at| routing_rules::put(conn, index, &user, Some(&id), &request, at)).await?;
    Ok(web::Json(rule))
}

#[utoipa::path(
    delete, path = "/api/v1/referral-routes/{id}", tag = "referrals",
    params(RoutingRulePath),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`not_municipal_authority`"),
    )
)]
pub async fn delete_routing_rule(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    audited(&state, move |conn, _, at| routing_rules::delete(conn, &user, &id, at)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The deadline policy of a municipality (its LAU code) or `default`, as it applies
/// (`inherited` when the national default does).
#[utoipa::path(
    get, path = "/api/v1/referral-deadline-policies/{scope}", tag = "referrals",
    params(PolicyScopePath),
    responses((status = 200, description = "The policy", body = DeadlinePolicy))
)]
pub async fn get_deadline_policy(
    _user: AuthUser,
    state: web::Data<AppState>,
    scope: web::Path<String>,
) -> ApiResult<web::Json<DeadlinePolicy>> {
    let index = state.territory();
    Ok(web::Json(with_conn(&state, move |conn| deadlines::get(conn, &index, &scope)).await?))
}

/// Set a municipality's deadlines (administrators of its social services or child-protection
/// unit) or the national default (`system_admin`); others get 403 `not_municipal_authority`.
/// Referrals already sent keep theirs.
#[utoipa::path(
    put, path = "/api/v1/referral-deadline-policies/{scope}", tag = "referrals",
    params(PolicyScopePath),
    request_body = PutDeadlinePolicy,
    responses(
        (status = 200, description = "Saved", body = DeadlinePolicy),
        (status = 403, description = "`not_municipal_authority`"),
        (status = 412, description = "Changed since you read it; the body is the current policy", body = DeadlinePolicy),
        (status = 422, description = "`invalid_time`, `ends_before_start`, `invalid_format`, `invalid_value`"),
    )
)]
pub async fn put_deadline_policy(
    user: AuthUser,
    state: web::Data<AppState>,
    scope: web::Path<String>,
    body: ValidJson<PutDeadlinePolicy>,
) -> ApiResult<web::Json<DeadlinePolicy>> {
    let (request, scope) = (body.0, scope.into_inner());
    Ok(web::Json(
        audited(&state, move |conn, index, at| deadlines::put(conn, index, &user, &scope, &request, at)).await?,
    ))
}

/// A shelter reports how many of its places are in use (its own staff).
#[utoipa::path(
    put, path = "/api/v1/agencies/{id}/occupancy", tag = "referrals",
    params(AgencyPath),
    request_body = PutOccupancy,
    responses(
        (status = 204, description = "Saved"),
        (status = 422, description = "`invalid_value` (not a shelter), `out_of_range`"),
    )
)]
pub async fn put_occupancy(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutOccupancy>,
) -> ApiResult<HttpResponse> {
    let (occupied, id) = (body.0.occupied, AgencyId::from(id.into_inner()));
    audited(&state, move |conn, _, at| shelters::put_occupancy(conn, &user, &id, occupied, at)).await?;
    Ok(HttpResponse::NoContent().finish())
}
