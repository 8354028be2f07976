use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use terren_contract::cases::{
    CaseRegisterEntry, CaseRegisterQuery, CloseProtectionCase, OpenProtectionCase, ProtectionCase,
    ProtectionCaseUpdate, RecordProtectionMeasure,
};
use uuid::Uuid;

use super::register::{self, RegisterFormat};
use super::service::{self, Written};
use crate::access::AuthUser;
use crate::http::paths::{CasePath, ProfilePath};
use crate::http::{ApiResult, ValidJson, audited, audited_read};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/child-profiles/{id}/cases")
            .route(web::get().to(list_profile_cases))
            .route(web::post().to(open_case)),
    )
    .service(web::resource("/protection-cases/register").route(web::get().to(case_register)))
    .service(web::resource("/protection-cases/{id}").route(web::get().to(get_case)).route(web::patch().to(update_case)))
    .service(web::resource("/protection-cases/{id}/close").route(web::post().to(close_case)))
    .service(web::resource("/protection-cases/{id}/measures").route(web::post().to(record_measure)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_profile_cases, open_case, get_case, update_case, close_case, record_measure, case_register))]
pub struct CasesApi;

fn created_or_repeated(written: Written) -> HttpResponse {
    let status = if written.new { StatusCode::CREATED } else { StatusCode::OK };
    HttpResponse::build(status).json(written.case)
}

/// A child's protection cases, oldest first: for whoever may see the profile. Audited.
#[utoipa::path(
    get, path = "/api/v1/child-profiles/{id}/cases", tag = "cases",
    params(ProfilePath),
    responses(
        (status = 200, description = "The child's cases", body = Vec<ProtectionCase>),
        (status = 404, description = "No such profile within your scope"),
    )
)]
pub async fn list_profile_cases(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<ProtectionCase>>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |tx, index, at| service::list_for_profile(tx, index, &user, &id, at)).await?))
}

/// Open a protection case for the child at your unit (a child-protection unit's or social-services
/// directorate's case manager or coordinator). The age band at opening comes from the profile's
/// birth year; the child's status becomes `in_case_management`. Sending the same case again (same
/// `id` and body) answers 200 with it.
#[utoipa::path(
    post, path = "/api/v1/child-profiles/{id}/cases", tag = "cases",
    params(ProfilePath),
    request_body = OpenProtectionCase,
    responses(
        (status = 201, description = "Opened", body = ProtectionCase),
        (status = 200, description = "Opened before by the same request", body = ProtectionCase),
        (status = 403, description = "`not_case_worker`, `not_child_protection_unit`, or `forbidden` (ethnicity without `children_read_sensitive`)"),
        (status = 404, description = "No such profile within your scope"),
        (status = 409, description = "`case_already_open`, `already_exists` (another case has this id), or the profile was merged"),
        (status = 422, description = "`unknown_code`, `in_future`, `unknown_referral`"),
    )
)]
pub async fn open_case(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<OpenProtectionCase>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    let request = body.0;
    let written = audited(&state, move |tx, index, at| service::open(tx, index, &user, &id, &request, at)).await?;
    Ok(created_or_repeated(written))
}

/// One protection case: for whoever may see the child's profile, and the unit managing it. Audited.
#[utoipa::path(
    get, path = "/api/v1/protection-cases/{id}", tag = "cases",
    params(CasePath),
    responses(
        (status = 200, description = "The case", body = ProtectionCase),
        (status = 404, description = "No such case within your scope"),
    )
)]
pub async fn get_case(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProtectionCase>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |tx, index, at| service::read(tx, index, &user, &id, at)).await?))
}

/// Change the assessed facts of an open case (its unit's case workers), against the `version` you
/// read (412 with the current case if it changed).
#[utoipa::path(
    patch, path = "/api/v1/protection-cases/{id}", tag = "cases",
    params(CasePath),
    request_body = ProtectionCaseUpdate,
    responses(
        (status = 200, description = "Updated", body = ProtectionCase),
        (status = 403, description = "`not_case_worker`, `not_child_protection_unit`, `not_your_agency`, or `forbidden` (ethnicity)"),
        (status = 404, description = "No such case within your scope"),
        (status = 409, description = "`case_closed`"),
        (status = 412, description = "Changed since you read it (`version_mismatch`); the body holds the current case", body = ProtectionCase),
        (status = 422, description = "`unknown_code`"),
    )
)]
pub async fn update_case(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ProtectionCaseUpdate>,
) -> ApiResult<web::Json<ProtectionCase>> {
    let id = id.into_inner().to_string();
    let update = body.0;
    Ok(web::Json(audited(&state, move |tx, index, at| service::update(tx, index, &user, &id, &update, at)).await?))
}

/// Close a case with its `case_closure_reason`, against the `version` you read; the child's
/// status becomes `closed`.
#[utoipa::path(
    post, path = "/api/v1/protection-cases/{id}/close", tag = "cases",
    params(CasePath),
    request_body = CloseProtectionCase,
    responses(
        (status = 200, description = "Closed", body = ProtectionCase),
        (status = 403, description = "`not_case_worker`, `not_child_protection_unit`, `not_your_agency`"),
        (status = 404, description = "No such case within your scope"),
        (status = 409, description = "`case_closed`"),
        (status = 412, description = "Changed since you read it (`version_mismatch`); the body holds the current case", body = ProtectionCase),
        (status = 422, description = "`unknown_code`, `in_future`, `before_opened`"),
    )
)]
pub async fn close_case(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<CloseProtectionCase>,
) -> ApiResult<web::Json<ProtectionCase>> {
    let id = id.into_inner().to_string();
    let request = body.0;
    Ok(web::Json(audited(&state, move |tx, index, at| service::close(tx, index, &user, &id, &request, at)).await?))
}

/// Record a protection measure taken in an open case (`protection_measure`). The same measure
/// sent again (same `id`) answers 200 with the case.
#[utoipa::path(
    post, path = "/api/v1/protection-cases/{id}/measures", tag = "cases",
    params(CasePath),
    request_body = RecordProtectionMeasure,
    responses(
        (status = 201, description = "Recorded", body = ProtectionCase),
        (status = 200, description = "Recorded before by the same request", body = ProtectionCase),
        (status = 403, description = "`not_case_worker`, `not_child_protection_unit`, `not_your_agency`"),
        (status = 404, description = "No such case within your scope"),
        (status = 409, description = "`case_closed`, `already_exists` (another measure has this id)"),
        (status = 422, description = "`unknown_code`, `in_future`, `before_opened`"),
    )
)]
pub async fn record_measure(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<RecordProtectionMeasure>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    let request = body.0;
    let written =
        audited(&state, move |tx, index, at| service::record_measure(tx, index, &user, &id, &request, at)).await?;
    Ok(created_or_repeated(written))
}

/// The children your unit managed at any time in a period, with the fields the national
/// electronic case register asks for (`docs/exports.md`), to enter or upload there: as CSV
/// (UTF-8 with a byte-order mark, headers in Albanian and English) or JSON, as an attachment.
/// For the case workers of a child-protection unit, their own unit's cases only; names for
/// readers of names, the community for readers of sensitive fields. Audited.
#[utoipa::path(
    get, path = "/api/v1/protection-cases/register", tag = "cases",
    params(CaseRegisterQuery),
    responses(
        (status = 200, description = "The register (`Content-Disposition: attachment`)", content(
            ([CaseRegisterEntry] = "application/json"),
            (String = "text/csv"),
        )),
        (status = 403, description = "`not_case_worker`, `not_child_protection_unit`"),
        (status = 422, description = "`period`: `invalid_format`, `in_future`; `format`: `unknown_export_format`"),
    )
)]
pub async fn case_register(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<CaseRegisterQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let register = audited_read(&state, move |tx, index, at| register::export(tx, index, &user, &query, at)).await?;
    let disposition = format!("attachment; filename=\"{}\"", register.filename);
    let mut response = HttpResponse::Ok();
    response.insert_header((actix_web::http::header::CONTENT_DISPOSITION, disposition));
    Ok(match register.format {
        RegisterFormat::Csv => response.content_type("text/csv; charset=utf-8").body(register::csv(&register.entries)),
        RegisterFormat::Json => response.json(register.entries),
    })
}
