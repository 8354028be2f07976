use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use terren_contract::reports::{
    FreezeReport, FrozenReport, MunicipalPlan, PutMunicipalPlan, Report, ReportQuery, ReportVersion,
    ReportVersionsQuery,
};
use uuid::Uuid;

use super::{frozen, plan, service};
use crate::access::AuthUser;
use crate::http::paths::{MunicipalityPath, ReportVersionPath};
use crate::http::{ApiResult, ValidJson, audited, audited_read, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports").route(web::get().to(get_report)))
        .service(
            web::resource("/reports/versions")
                .route(web::get().to(list_report_versions))
                .route(web::post().to(freeze_report)),
        )
        .service(web::resource("/reports/versions/{id}").route(web::get().to(get_report_version)))
        .service(
            web::resource("/municipal-plans/{municipality}")
                .route(web::get().to(get_municipal_plan))
                .route(web::put().to(put_municipal_plan)),
        );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_report,
    freeze_report,
    list_report_versions,
    get_report_version,
    get_municipal_plan,
    put_municipal_plan
))]
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

/// Freeze a report: count it now and keep it as counted, with its content hash and cut-off
/// (coordinators, agency administrators and system administrators, over the areas they read
/// reports for). 201 with a new version; 200 with the latest when no figure changed since it.
/// The quarter-end job freezes each municipality's last quarter by itself. Audited.
#[utoipa::path(
    post, path = "/api/v1/reports/versions", tag = "reports",
    request_body = FreezeReport,
    responses(
        (status = 201, description = "A new version", body = FrozenReport),
        (status = 200, description = "No figure changed: the latest version", body = FrozenReport),
        (status = 403, description = "`forbidden`, `area_outside_scope`"),
        (status = 422, description = "As `GET /reports`"),
    )
)]
pub async fn freeze_report(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<FreezeReport>,
) -> ApiResult<HttpResponse> {
    let request = body.0;
    let (report, new) = audited(&state, move |tx, index, at| frozen::freeze(tx, index, &user, &request, at)).await?;
    Ok(HttpResponse::build(if new { StatusCode::CREATED } else { StatusCode::OK }).json(report))
}

/// The frozen versions of an area's report for a period, newest first.
#[utoipa::path(
    get, path = "/api/v1/reports/versions", tag = "reports",
    params(ReportVersionsQuery),
    responses(
        (status = 200, description = "The versions", body = [ReportVersion]),
        (status = 403, description = "`forbidden`, `area_outside_scope`"),
    )
)]
pub async fn list_report_versions(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ReportVersionsQuery>,
) -> ApiResult<web::Json<Vec<ReportVersion>>> {
    let query = query.into_inner();
    Ok(web::Json(audited_read(&state, move |tx, index, _| frozen::list(tx, index, &user, &query)).await?))
}

/// A frozen report as it was counted, exact or with small numbers hidden as for `GET /reports`,
/// and what changed since the version before. 404 outside the reader's reach. Audited.
#[utoipa::path(
    get, path = "/api/v1/reports/versions/{id}", tag = "reports",
    params(ReportVersionPath),
    responses(
        (status = 200, description = "The frozen report", body = FrozenReport),
        (status = 404, description = "No such version within your reach"),
    )
)]
pub async fn get_report_version(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> ApiResult<web::Json<FrozenReport>> {
    let id = path.into_inner().to_string();
    Ok(web::Json(audited_read(&state, move |tx, index, at| frozen::get(tx, index, &user, &id, at, None)).await?))
}
