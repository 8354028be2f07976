use actix_web::{HttpResponse, web};
use terren_contract::Permission;
use terren_contract::areas::{Area, AreaListQuery, LocateQuery, LocateResponse};

use super::service;
use crate::access::AuthUser;
use crate::http::{ApiResult, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/areas").route(web::get().to(list_areas)))
        .service(web::resource("/areas/locate").route(web::get().to(locate)))
        .service(web::resource("/areas/reload").route(web::post().to(reload)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_areas, locate, reload))]
pub struct TerritoryApi;

/// Counties, municipalities and administrative units, flat or as a tree.
#[utoipa::path(
    get, path = "/api/v1/areas", tag = "reference",
    params(AreaListQuery),
    responses((status = 200, description = "Areas", body = Vec<Area>))
)]
pub async fn list_areas(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<AreaListQuery>,
) -> ApiResult<web::Json<Vec<Area>>> {
    user.require(Permission::ReferenceRead)?;
    Ok(web::Json(with_conn(&state, move |conn| service::list_areas(conn, &query)).await?))
}

/// The county, municipality and administrative unit a point lies in: by boundary where one
/// contains it, else by nearest centroid (`method: nearest_centroid`); `method: outside` with no
/// areas for a point outside Albania (e.g. at sea).
#[utoipa::path(
    get, path = "/api/v1/areas/locate", tag = "reference",
    params(LocateQuery),
    responses(
        (status = 200, description = "Where the point is", body = LocateResponse),
        (status = 400, description = "`lat` or `lon` missing or not a number (`invalid_query`)"),
        (status = 422, description = "Coordinates out of range, NaN or infinite (`validation_failed`, field codes `out_of_range`)"),
    )
)]
pub async fn locate(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<LocateQuery>,
) -> ApiResult<web::Json<LocateResponse>> {
    user.require(Permission::ReferenceRead)?;
    Ok(web::Json(service::locate_response(&state.territory(), query.lat, query.lon)?))
}

/// Rebuild the in-memory index after `terren import-areas` ran against this database.
#[utoipa::path(
    post, path = "/api/v1/areas/reload", tag = "reference",
    responses((status = 204, description = "Reloaded"))
)]
pub async fn reload(user: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    user.require(Permission::AreasManage)?;
    let max_km = state.config.territory.max_centroid_distance_km;
    let index = with_conn(&state, move |conn| Ok(service::load_index(conn, max_km)?)).await?;
    state.replace_territory(index);
    Ok(HttpResponse::NoContent().finish())
}
