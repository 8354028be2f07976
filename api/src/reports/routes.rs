use actix_web::web;
use terren_contract::reports::{MunicipalPlan, PutMunicipalPlan, Report, ReportQuery};

use super::{plan, service};
use crate::access::AuthUser;
use crate::http::paths::MunicipalityPath;
use crate::http::{ApiResult, ValidJson, audited, audited_read, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports").route(web::get().to(get_report))).service(
        web::resource("/municipal-plans/{municipality}")
            .route(web::get().to(get_municipal_plan))
            .route(web::put().to(put_municipal_plan)),
    );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_report, get_municipal_plan, put_municipal_plan))]
pub struct ReportsApi;

/// A municipality's plan: the baseline period its indicators are measured against and the change
/// it aims for (`version` 0 while it has none). For readers of reports and planners of rounds.
#[utoipa::path(
    get, path = "/api/v1/municipal-plans/{municipality}", tag = "reports",
    params(MunicipalityPath),
    responses(
        (status = 200, description = "The plan", body = MunicipalPlan),
        (status = 404, description = "No municipality has this code"),
    )
)]
pub async fn get_municipal_plan(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<MunicipalPlan>> {
    let index = state.territory();
    let code = path.into_inner();
    Ok(web::Json(with_conn(&state, move |conn| plan::get(conn, &index, &user, &code)).await?))
}

/// Set a municipality's plan (the administrators of its social services or child-protection
/// unit, or a system administrator; others get 403 `not_municipal_authority`). Audited.
#[utoipa::path(
    put, path = "/api/v1/municipal-plans/{municipality}", tag = "reports",
    params(MunicipalityPath),
    request_body = PutMunicipalPlan,
    responses(
        (status = 200, description = "Saved", body = MunicipalPlan),
        (status = 403, description = "`not_municipal_authority`"),
        (status = 404, description = "No municipality has this code"),
        (status = 412, description = "Changed since you read it; the body is the current plan", body = MunicipalPlan),
        (status = 422, description = "`baseline_period`: `invalid_format`, `ends_before_start`, `in_future`"),
    )
)]
pub async fn put_municipal_plan(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ValidJson<PutMunicipalPlan>,
) -> ApiResult<web::Json<MunicipalPlan>> {
    let (request, code) = (body.0, path.into_inner());
    Ok(web::Json(audited(&state, move |tx, index, at| plan::put(tx, index, &user, &code, &request, at)).await?))
}

/// The national report's tables for an area and a period, counted from the records now
/// (`statistics_read`). Coordinators and case managers get exact counts for their agency's
/// municipalities; agency administrators (their municipalities), national viewers and system
/// administrators (any area, `AL` for the country) get counts below 3 hidden (`suppressed`),
/// with whatever else would give them away. Counted on a read snapshot, so writers do not wait
/// for it; audited.
#[utoipa::path(
    get, path = "/api/v1/reports", tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 403, description = "`forbidden` (no `statistics_read`), `area_outside_scope`"),
        (status = 422, description = "`period`, `baseline`: `invalid_format`, `ends_before_start`, `in_future`; `baseline`: `not_before_period`; `area`: `unknown_area`, `invalid_value` (an administrative unit), `required`; `tables`: `unknown_table`"),
    )
)]
pub async fn get_report(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ReportQuery>,
) -> ApiResult<web::Json<Report>> {
    let query = query.into_inner();
    Ok(web::Json(audited_read(&state, move |tx, index, at| service::report(tx, index, &user, &query, at)).await?))
}
