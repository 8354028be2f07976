use actix_web::web;
use terren_contract::reports::{Report, ReportQuery};

use super::service;
use crate::access::AuthUser;
use crate::http::{ApiResult, audited_read};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports").route(web::get().to(get_report)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_report))]
pub struct ReportsApi;

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
        (status = 422, description = "`period`: `invalid_format`, `ends_before_start`, `in_future`; `area`: `unknown_area`, `invalid_value` (an administrative unit), `required`"),
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
