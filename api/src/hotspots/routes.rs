use actix_web::{HttpResponse, web};
use terren_contract::hotspots::{Hotspot, HotspotListQuery, HotspotSuggestions, PutHotspot, SuggestionQuery};
use uuid::Uuid;

use super::service;
use crate::access::AuthUser;
use crate::http::paths::HotspotPath;
use crate::http::{ApiResult, ValidJson, audited, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/hotspots").route(web::get().to(list_hotspots)).route(web::post().to(create_hotspot)))
        // Before `{id}`, which would otherwise take this name for an id.
        .service(web::resource("/hotspots/suggestions").route(web::get().to(suggest_hotspots)))
        .service(web::resource("/hotspots/geojson").route(web::get().to(hotspots_geojson)))
        .service(
            web::resource("/hotspots/{id}").route(web::get().to(get_hotspot)).route(web::put().to(replace_hotspot)),
        );
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_hotspots, hotspots_geojson, create_hotspot, get_hotspot, replace_hotspot, suggest_hotspots))]
pub struct HotspotsApi;

/// Hotspots in an area (and below it), or your agency's.
#[utoipa::path(
    get, path = "/api/v1/hotspots", tag = "rounds",
    params(HotspotListQuery),
    responses((status = 200, description = "Hotspots by name", body = Vec<Hotspot>))
)]
pub async fn list_hotspots(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<HotspotListQuery>,
) -> ApiResult<web::Json<Vec<Hotspot>>> {
    let index = state.territory();
    Ok(web::Json(with_conn(&state, move |conn| service::list(conn, &index, &user, &query)).await?))
}

/// The same hotspots as a GeoJSON FeatureCollection of polygons (circles drawn as 32-gons), for
/// maps.
#[utoipa::path(
    get, path = "/api/v1/hotspots/geojson", tag = "rounds",
    params(HotspotListQuery),
    responses((status = 200, description = "FeatureCollection of Polygon features", content_type = "application/geo+json"))
)]
pub async fn hotspots_geojson(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<HotspotListQuery>,
) -> ApiResult<HttpResponse> {
    let index = state.territory();
    let collection = with_conn(&state, move |conn| service::feature_collection(conn, &index, &user, &query)).await?;
    Ok(HttpResponse::Ok().content_type("application/geo+json").json(collection))
}

/// Add a hotspot (`planning_manage`): a circle or a polygon inside the areas your agency serves.
#[utoipa::path(
    post, path = "/api/v1/hotspots", tag = "rounds",
    request_body = PutHotspot,
    responses(
        (status = 201, description = "Added", body = Hotspot),
        (status = 422, description = "`outside_agency_area`, `unknown_code`, `out_of_range`, `invalid_value`"),
    )
)]
pub async fn create_hotspot(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<PutHotspot>,
) -> ApiResult<HttpResponse> {
    let request = body.0;
    let (hotspot, _) =
        audited(&state, move |conn, index, at| service::put(conn, index, &user, None, &request, at)).await?;
    Ok(HttpResponse::Created().json(hotspot))
}

#[utoipa::path(
    get, path = "/api/v1/hotspots/{id}", tag = "rounds",
    params(HotspotPath),
    responses((status = 200, description = "The hotspot", body = Hotspot))
)]
pub async fn get_hotspot(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Hotspot>> {
    let (index, id) = (state.territory(), id.into_inner().to_string());
    Ok(web::Json(with_conn(&state, move |conn| service::get(conn, &index, &user, &id)).await?))
}

/// Replace a hotspot of your agency, at the `version` you read (`active: false` retires it).
#[utoipa::path(
    put, path = "/api/v1/hotspots/{id}", tag = "rounds",
    params(HotspotPath),
    request_body = PutHotspot,
    responses(
        (status = 200, description = "Saved", body = Hotspot),
        (status = 412, description = "Changed since you read it; the body is the current hotspot", body = Hotspot),
    )
)]
pub async fn replace_hotspot(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutHotspot>,
) -> ApiResult<web::Json<Hotspot>> {
    let (request, id) = (body.0, id.into_inner().to_string());
    let (hotspot, _) =
        audited(&state, move |conn, index, at| service::put(conn, index, &user, Some(&id), &request, at)).await?;
    Ok(web::Json(hotspot))
}

/// Where recent sightings cluster outside every active hotspot (`planning_manage` and
/// `locations_read_precise`, in your agency's areas): candidates to promote to hotspots, with how
/// many sightings and children, and the hours and weekdays they were seen. Audited.
#[utoipa::path(
    get, path = "/api/v1/hotspots/suggestions", tag = "rounds",
    params(SuggestionQuery),
    responses(
        (status = 200, description = "Clusters, largest first", body = HotspotSuggestions),
        (status = 422, description = "`unknown_area`, `out_of_range`"),
    )
)]
pub async fn suggest_hotspots(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<SuggestionQuery>,
) -> ApiResult<web::Json<HotspotSuggestions>> {
    let now = state.clock.now();
    Ok(web::Json(audited(&state, move |conn, index, _| service::suggestions(conn, index, &user, &query, now)).await?))
}
