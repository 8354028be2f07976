use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terren_contract::identifications::{
    CreateIdentification, Identification, IdentificationFilters, IdentificationGrid, IdentificationListQuery,
    IdentificationMapQuery, IdentificationPage,
};
use utoipa::IntoParams;
use uuid::Uuid;

use super::{create, lists, read, statistics};
use crate::access::AuthUser;
use crate::config::ProfilesConfig;
use crate::db::{DbConnection, Tx};
use crate::http::idempotency::{self, IdempotencyKey, PhoneWrite, Written};
use crate::http::paths::IdentificationPath;
use crate::http::{ApiResult, ValidJson, audited};
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/identifications")
            .route(web::post().to(create_identification))
            .route(web::get().to(list_identifications)),
    )
    // Before `{id}`, which would otherwise take these names for ids.
    .service(web::resource("/identifications/geojson").route(web::get().to(identifications_geojson)))
    .service(web::resource("/identifications/grid").route(web::get().to(identifications_grid)))
    .service(
        web::resource("/identifications/counts").route(web::get().to(crate::profiles::routes::count_identifications)),
    )
    .service(web::resource("/identifications/{id}").route(web::get().to(get_identification)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_identification,
    get_identification,
    list_identifications,
    identifications_geojson,
    identifications_grid
))]
pub struct IdentificationsApi;

/// Record a sighting from the field. Idempotent: send an `Idempotency-Key`; a retry with the same
/// key and body gets the first answer again (`Idempotent-Replayed: true`), never a second record.
/// The server resolves the county, municipality and administrative unit from the location.
/// An `emergency` sighting returns at once and queues the alert to the responsible duty rota.
#[utoipa::path(
    post, path = "/api/v1/identifications", tag = "identifications",
    params(("Idempotency-Key" = String, Header, description = "Made once per record by the phone, e.g. a UUID")),
    request_body = CreateIdentification,
    responses(
        (status = 201, description = "Recorded", body = Identification),
        (status = 200, description = "You already recorded this id with the same content: the record as it is", body = Identification),
        (status = 400, description = "No `Idempotency-Key` (`idempotency_key_required`)"),
        (status = 409, description = "The first request with this key is still running (`idempotency_request_in_flight`), or this id already holds another record (`already_exists`): different content is never applied"),
        (status = 422, description = "Invalid field (codes such as `unknown_code`, `out_of_range`, `in_future`, `required`), or the key was used for another body (`idempotency_key_reused`)"),
    )
)]
pub async fn create_identification(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: ValidJson<CreateIdentification>,
) -> ApiResult<HttpResponse> {
    let write = RecordSighting::new(&state, user.clone(), body.0);
    idempotency::respond(&req, &state, user.user_id, key, write).await
}

/// Recording a sighting from a phone.
pub(crate) struct RecordSighting {
    request: CreateIdentification,
    user: AuthUser,
    index: Arc<TerritoryIndex>,
    settings: ProfilesConfig,
    now: DateTime<Utc>,
}

impl RecordSighting {
    pub(crate) const PATH: &str = "/api/v1/identifications";

    pub(crate) fn new(state: &AppState, user: AuthUser, request: CreateIdentification) -> RecordSighting {
        RecordSighting {
            request,
            user,
            index: state.territory(),
            settings: state.config.profiles.clone(),
            now: state.clock.now(),
        }
    }
}

/// What a recorded sighting keeps for repeats.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptSighting {
    identification_id: Uuid,
}

impl PhoneWrite for RecordSighting {
    type Request = CreateIdentification;
    type Prepared = create::Prepared;
    type Answer = Identification;
    type Kept = KeptSighting;

    fn request(&self) -> &CreateIdentification {
        &self.request
    }

    fn prepare(&self, conn: &mut DbConnection) -> ApiResult<create::Prepared> {
        create::prepare(conn, &self.index, &self.user, &self.settings, &self.request, self.now)
    }

    fn apply(&self, tx: &mut Tx<'_>, prepared: create::Prepared) -> ApiResult<Written<Self>> {
        let created = create::create(tx, &self.index, &self.user, prepared)?;
        Ok(Written {
            status: if created.new { StatusCode::CREATED } else { StatusCode::OK },
            kept: KeptSighting { identification_id: created.identification.id },
            answer: created.identification,
        })
    }

    fn replay(&self, tx: &mut Tx<'_>, kept: KeptSighting) -> ApiResult<Identification> {
        let id = kept.identification_id.to_string();
        create::replay(tx, &self.index, &self.user, &self.settings, &id, crate::clock::truncate(self.now))
    }
}

/// One sighting, as the reader may see it: location coarsened to ~500 m without
/// `locations_read_precise`, notes without `children_read_names` and sensitive codes without
/// `children_read_sensitive` are withheld (listed in `withheld`). Every read is audited.
#[utoipa::path(
    get, path = "/api/v1/identifications/{id}", tag = "identifications",
    params(IdentificationPath),
    responses(
        (status = 200, description = "The sighting", body = Identification),
        (status = 404, description = "No such sighting within your scope"),
    )
)]
pub async fn get_identification(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Identification>> {
    let id = id.into_inner().to_string();
    let view = audited(&state, move |conn, index, at| read::read(conn, index, &user, &id, at)).await?;
    Ok(web::Json(view))
}

/// Sightings within your scope, newest received first, filtered by area, bounding box, time,
/// subject, risk, street situation or emergency. Each item is shown as `GET …/{id}` would show it
/// to you. Page with `next_cursor`.
#[utoipa::path(
    get, path = "/api/v1/identifications", tag = "identifications",
    params(IdentificationListQuery),
    responses(
        (status = 200, description = "A page of sightings", body = IdentificationPage),
        (status = 422, description = "Bad filter (`unknown_area`, `invalid_format`, `invalid_cursor`, `out_of_range`, `before_from`)"),
    )
)]
pub async fn list_identifications(
    user: AuthUser,
    state: web::Data<AppState>,
    filters: web::Query<IdentificationFilters>,
    query: web::Query<IdentificationListQuery>,
) -> ApiResult<web::Json<IdentificationPage>> {
    // One query string, read twice: the filters every query of sightings takes, and this list's
    // own parameters, of which its cursor and limit are used.
    let page = audited(&state, move |conn, index, at| lists::list(conn, index, &user, &filters, &query, at)).await?;
    Ok(web::Json(page))
}

/// The same sightings as a GeoJSON FeatureCollection (RFC 7946) for a map: a point each,
/// coarsened as for the reader, newest first; `truncated: true` when more matched. Audited like a
/// list.
#[utoipa::path(
    get, path = "/api/v1/identifications/geojson", tag = "identifications",
    params(IdentificationMapQuery),
    responses(
        (status = 200, description = "FeatureCollection of Point features", content_type = "application/geo+json"),
        (status = 422, description = "Bad filter"),
    )
)]
pub async fn identifications_geojson(
    user: AuthUser,
    state: web::Data<AppState>,
    filters: web::Query<IdentificationFilters>,
    query: web::Query<IdentificationMapQuery>,
) -> ApiResult<HttpResponse> {
    let collection =
        audited(&state, move |conn, index, at| lists::feature_collection(conn, index, &user, &filters, &query, at))
            .await?;
    Ok(HttpResponse::Ok().content_type("application/geo+json").json(collection))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridQuery {
    /// Cell edge is 180/2^zoom degrees; 2–15 (15 ≈ 600 m).
    pub zoom: u8,
}

/// Sightings counted per grid cell for heat maps, never single points. Readers of sightings
/// count within their scope; national statistics count the whole country and leave out cells
/// with fewer than 3 sightings. Takes the list's filters.
#[utoipa::path(
    get, path = "/api/v1/identifications/grid", tag = "identifications",
    params(GridQuery, IdentificationFilters),
    responses(
        (status = 200, description = "Counts per cell", body = IdentificationGrid),
        (status = 422, description = "Bad zoom or filter"),
    )
)]
pub async fn identifications_grid(
    user: AuthUser,
    state: web::Data<AppState>,
    grid: web::Query<GridQuery>,
    query: web::Query<IdentificationFilters>,
) -> ApiResult<web::Json<IdentificationGrid>> {
    let zoom = grid.zoom;
    let cells = audited(&state, move |conn, index, at| statistics::grid(conn, index, &user, &query, zoom, at)).await?;
    Ok(web::Json(cells))
}
