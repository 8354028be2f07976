//! Reports as files, and the DHIS2 mapping they are exported with, through the API.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use terren_contract::exports::{Dhis2Mapping, FrozenExportQuery, PutDhis2Mapping, ReportExportQuery};
use terren_contract::reports::ReportQuery;

use super::export::{self, Format, dhis2};
use super::period::Period;
use super::{dhis2_mapping, frozen, service};
use crate::access::AuthUser;
use crate::access::reports::report_reach;
use crate::http::paths::ReportVersionPath;
use crate::http::{ApiError, ApiResult, ValidJson, audited, audited_read, with_conn};
use crate::state::AppState;
use uuid::Uuid;

/// How many counts of a DHIS2 export the mapping named no data element for.
pub const UNMAPPED_HEADER: HeaderName = HeaderName::from_static("terren-unmapped-cells");
/// How many counts of a DHIS2 export were hidden, and so left out.
pub const SUPPRESSED_HEADER: HeaderName = HeaderName::from_static("terren-suppressed-cells");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports/export").route(web::get().to(export_report)))
        .service(web::resource("/reports/versions/{id}/export").route(web::get().to(export_report_version)))
        .service(
            web::resource("/reports/dhis2-mapping")
                .route(web::get().to(get_dhis2_mapping))
                .route(web::put().to(put_dhis2_mapping)),
        );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(export_report, export_report_version, get_dhis2_mapping, put_dhis2_mapping))]
pub struct ExportsApi;

/// The report of `GET /reports` (same readers, same small numbers hidden, audited as
/// `report.export` with its format) as a file to download: `csv` (UTF-8 with a byte-order mark,
/// headers in Albanian and English, hidden counts as `<3`), `xlsx` (a cover sheet, then a sheet
/// per table), or `dhis2` (a DHIS2 `dataValueSets` JSON document under the DHIS2 mapping: hidden
/// counts and counts the mapping does not name are left out, and the headers
/// `Terren-Unmapped-Cells` and `Terren-Suppressed-Cells` say how many). The file is named
/// `terren-<area>-<period>.<csv|xlsx|dhis2.json>`.
#[utoipa::path(
    get, path = "/api/v1/reports/export", tag = "reports",
    params(ReportExportQuery),
    responses(
        (status = 200, description = "The file (`Content-Disposition: attachment`): `text/csv`, `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` or, for `dhis2`, `application/json` with `Terren-Unmapped-Cells` and `Terren-Suppressed-Cells`", content(
            (String = "text/csv"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "application/json"),
        ), headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"terren-AL224-2023-Q3.xlsx\"`"),
            ("Terren-Unmapped-Cells" = i64, description = "`dhis2` only: counts shown in the report that the mapping names no data element for, left out"),
            ("Terren-Suppressed-Cells" = i64, description = "`dhis2` only: hidden counts, left out"),
        )),
        (status = 403, description = "`forbidden` (no `statistics_read`), `area_outside_scope`"),
        (status = 422, description = "`format`: `unknown_export_format`; `period`: `invalid_format`, `ends_before_start`, `in_future`, `not_a_dhis_period` (a run of days to DHIS2); `area`: `unknown_area`, `invalid_value`, `required`; `area_without_org_unit`: the mapping has no organisation unit for the area"),
    )
)]
pub async fn export_report(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ReportExportQuery>,
) -> ApiResult<HttpResponse> {
    report_reach(&user)?;
    let query = query.into_inner();
    let format = Format::parse("format", &query.format).map_err(|e| ApiError::fields(vec![e]))?;
    if format == Format::Dhis2 {
        // Refused before anything is counted; a period that does not parse is the report's to say.
        if let Ok(period) = Period::parse("period", &query.period) {
            dhis2::check_period("period", period.first_day, period.last_day).map_err(|e| ApiError::fields(vec![e]))?;
        }
    }
    let report_query =
        ReportQuery { period: query.period, area: query.area, tables: query.tables, baseline: query.baseline };
    let file = audited_read(&state, move |tx, index, at| {
        let report = service::export(tx, index, &user, &report_query, at, format.as_str())?;
        // A live report's data run to the moment it is counted.
        let cut_off = report.generated_at;
        export::render(tx, &report, format, cut_off, export::filename(&report, format))
    })
    .await?;
    Ok(respond(file))
}

/// A frozen report as a file, as `GET /reports/export` makes one: the version as its reader
/// may see it (exact, or with small numbers hidden), its cut-off on the XLSX cover, named
/// `terren-<area>-<period>-v<version>.<extension>`. 404 outside the reader's reach. Audited as
/// `report.export`.
#[utoipa::path(
    get, path = "/api/v1/reports/versions/{id}/export", tag = "reports",
    params(ReportVersionPath, FrozenExportQuery),
    responses(
        (status = 200, description = "The file, as for `GET /reports/export`"),
        (status = 404, description = "No such version within your reach"),
        (status = 422, description = "`format`: `unknown_export_format`; `period`: `not_a_dhis_period`; `area_without_org_unit`"),
    )
)]
pub async fn export_report_version(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<FrozenExportQuery>,
) -> ApiResult<HttpResponse> {
    report_reach(&user)?;
    let format = Format::parse("format", &query.format).map_err(|e| ApiError::fields(vec![e]))?;
    let id = path.into_inner().to_string();
    let file = audited_read(&state, move |tx, index, at| {
        let frozen = frozen::get(tx, index, &user, &id, at, Some(format.as_str()))?;
        let name = export::filename(&frozen.report, format).replacen('.', &format!("-v{}.", frozen.version.version), 1);
        export::render(tx, &frozen.report, format, frozen.version.cut_off, name)
    })
    .await?;
    Ok(respond(file))
}

fn respond(file: export::File) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(file.format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", file.name)));
    if let Some((unmapped, suppressed)) = file.left_out {
        response.insert_header((UNMAPPED_HEADER, HeaderValue::from(unmapped)));
        response.insert_header((SUPPRESSED_HEADER, HeaderValue::from(suppressed)));
    }
    response.body(file.bytes)
}

/// The DHIS2 mapping: which data element and category option combination each report table's
/// row (or `total`) goes to, which organisation unit each area is, and the data set (system
/// administrators; others get 403 `forbidden`).
#[utoipa::path(
    get, path = "/api/v1/reports/dhis2-mapping", tag = "reports",
    responses(
        (status = 200, description = "The mapping (version 0 while there is none)", body = Dhis2Mapping),
        (status = 403, description = "`forbidden`: not a system administrator"),
    )
)]
pub async fn get_dhis2_mapping(user: AuthUser, state: web::Data<AppState>) -> ApiResult<web::Json<Dhis2Mapping>> {
    Ok(web::Json(with_conn(&state, move |conn| dhis2_mapping::get(conn, &user)).await?))
}

/// Replace the whole DHIS2 mapping, at the `version` you read (system administrators). Audited
/// as `dhis2_mapping.put`.
#[utoipa::path(
    put, path = "/api/v1/reports/dhis2-mapping", tag = "reports",
    request_body = PutDhis2Mapping,
    responses(
        (status = 200, description = "Saved", body = Dhis2Mapping),
        (status = 403, description = "`forbidden`: not a system administrator"),
        (status = 412, description = "Changed since you read it; the body is the current mapping", body = Dhis2Mapping),
        (status = 422, description = "`not_a_dhis_uid`, `invalid_length`, `duplicate_entry`, `unknown_code` (a table), `unknown_area`, `invalid_value` (an administrative unit), `blank`"),
    )
)]
pub async fn put_dhis2_mapping(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<PutDhis2Mapping>,
) -> ApiResult<web::Json<Dhis2Mapping>> {
    let request = body.0;
    Ok(web::Json(audited(&state, move |tx, index, at| dhis2_mapping::put(tx, index, &user, &request, at)).await?))
}
