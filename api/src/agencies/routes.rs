use actix_web::{HttpResponse, web};
use terren_contract::agencies::{Agency, AgencyListQuery, AgencyUpdate, CreateAgencyRequest};
use uuid::Uuid;

use super::service;
use crate::access::AuthUser;
use crate::http::paths::AgencyPath;
use crate::http::{ApiResult, ValidJson, with_conn};
use crate::ids::AgencyId;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/agencies").route(web::get().to(list_agencies)).route(web::post().to(create_agency)))
        .service(
            web::resource("/agencies/{id}").route(web::get().to(get_agency)).route(web::patch().to(update_agency)),
        );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_agencies, get_agency, create_agency, update_agency))]
pub struct AgenciesApi;

/// The agency directory, filtered by type, area served, municipality, 24/7 or name.
#[utoipa::path(
    get, path = "/api/v1/agencies", tag = "agencies",
    params(AgencyListQuery),
    responses(
        (status = 200, description = "Agencies", body = Vec<Agency>),
        (status = 422, description = "Unknown area code"),
    )
)]
pub async fn list_agencies(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<AgencyListQuery>,
) -> ApiResult<web::Json<Vec<Agency>>> {
    user.require(terren_contract::Permission::ReferenceRead)?;
    let index = state.territory();
    Ok(web::Json(with_conn(&state, move |conn| service::list(conn, &index, &query)).await?))
}

#[utoipa::path(
    get, path = "/api/v1/agencies/{id}", tag = "agencies",
    params(AgencyPath),
    responses(
        (status = 200, description = "The agency", body = Agency),
        (status = 404, description = "No such agency"),
    )
)]
pub async fn get_agency(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Agency>> {
    user.require(terren_contract::Permission::ReferenceRead)?;
    let id = AgencyId::from(id.into_inner());
    Ok(web::Json(with_conn(&state, move |conn| service::get(conn, &id)).await?))
}

/// Create an agency (system administrators).
#[utoipa::path(
    post, path = "/api/v1/agencies", tag = "agencies",
    request_body = CreateAgencyRequest,
    responses(
        (status = 201, description = "Created", body = Agency),
        (status = 409, description = "Code taken (`already_exists`)"),
        (status = 422, description = "Unknown type, area, parent or time zone"),
    )
)]
pub async fn create_agency(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<CreateAgencyRequest>,
) -> ApiResult<HttpResponse> {
    let at = state.clock.now_naive();
    let created = with_conn(&state, move |conn| service::create(conn, &user, &body.0, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Edit an agency (its own admins, or system administrators). Send the `version` you read: a
/// stale version is refused with 412 and the current agency in the body.
#[utoipa::path(
    patch, path = "/api/v1/agencies/{id}", tag = "agencies",
    params(AgencyPath),
    request_body = AgencyUpdate,
    responses(
        (status = 200, description = "Updated", body = Agency),
        (status = 403, description = "Not your agency"),
        (status = 412, description = "Changed since you read it; the body is the current agency", body = Agency),
        (status = 422, description = "Invalid change"),
    )
)]
pub async fn update_agency(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<AgencyUpdate>,
) -> ApiResult<web::Json<Agency>> {
    let at = state.clock.now_naive();
    let id = AgencyId::from(id.into_inner());
    Ok(web::Json(with_conn(&state, move |conn| service::update(conn, &user, &id, &body.0, at)).await?))
}
