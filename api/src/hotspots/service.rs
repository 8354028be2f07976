//! Hotspots: kept by coordinators within their agency's areas, read by everyone who plans or
//! walks rounds, and suggested from where recent sightings cluster.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::areas::{AreaLevel, LatLon};
use terren_contract::hotspots::{
    Hotspot, HotspotListQuery, HotspotRef, HotspotShape, HotspotSuggestion, HotspotSuggestions, PutHotspot,
    SuggestionQuery,
};
use terren_contract::problem::FieldErrorCode;
use uuid::Uuid;

use super::cluster;
use super::shape::Shape;
use crate::access::AuthUser;
use crate::access::ServedAreas;
use crate::accounts::service::agency_ref_of;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{agencies, hotspots, identification_links, identifications};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::{area_ref, area_ref_at};
use crate::vocabularies::is_active_code;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hotspots)]
pub struct HotspotRow {
    pub id: String,
    pub agency_id: AgencyId,
    pub name: String,
    pub kind: String,
    pub shape: String,
    pub centroid_lat: f64,
    pub centroid_lon: f64,
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub notes: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl HotspotRow {
    pub fn wire_shape(&self) -> ApiResult<HotspotShape> {
        serde_json::from_str(&self.shape)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored shape of hotspot {}: {e}", self.id)))
    }

    pub fn shape(&self) -> ApiResult<Shape> {
        Shape::parse(&self.wire_shape()?)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored shape of hotspot {}: {e:?}", self.id)))
    }

    /// A cheap test before the exact one.
    pub fn may_contain(&self, lat: f64, lon: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat) && (self.min_lon..=self.max_lon).contains(&lon)
    }

    pub fn as_ref(&self) -> ApiResult<HotspotRef> {
        Ok(HotspotRef { id: parse_uuid(&self.id)?, name: self.name.clone() })
    }
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<HotspotRow> {
    hotspots::table
        .filter(hotspots::id.eq(id))
        .select(HotspotRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("hotspot"))
}

pub fn view(conn: &mut DbConnection, index: &TerritoryIndex, row: &HotspotRow) -> ApiResult<Hotspot> {
    Ok(Hotspot {
        id: parse_uuid(&row.id)?,
        agency: agency_ref_of(conn, &row.agency_id)?,
        name: row.name.clone(),
        kind: row.kind.clone(),
        shape: row.wire_shape()?,
        centroid: LatLon { lat: row.centroid_lat, lon: row.centroid_lon },
        municipality: area_ref(index, &row.municipality_id),
        admin_unit: area_ref(index, &row.admin_unit_id),
        notes: row.notes.clone(),
        active: row.active,
        version: row.version,
        updated_at: to_utc(row.updated_at),
    })
}

/// The area's id and the ids of every area below it.
pub fn area_and_below(index: &TerritoryIndex, field: &str, code: &str) -> ApiResult<(usize, Vec<String>)> {
    let area = index
        .find_code(code)
        .ok_or_else(|| ApiError::field(field, FieldErrorCode::UnknownArea, format!("no area {code}")))?;
    Ok((area, index.descendants(area).into_iter().map(|a| index.area(a).id.clone()).collect()))
}

/// Active hotspots (or all) lying in any of these areas.
pub fn in_areas(conn: &mut DbConnection, area_ids: &[String], include_inactive: bool) -> ApiResult<Vec<HotspotRow>> {
    let mut q = hotspots::table
        .filter(hotspots::municipality_id.eq_any(area_ids).or(hotspots::admin_unit_id.eq_any(area_ids)))
        .select(HotspotRow::as_select())
        .into_boxed();
    if !include_inactive {
        q = q.filter(hotspots::active.eq(true));
    }
    let mut rows: Vec<HotspotRow> = q.load(conn)?;
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(rows)
}

pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &HotspotListQuery,
) -> ApiResult<Vec<Hotspot>> {
    user.require(Permission::ReferenceRead)?;
    let include_inactive = query.include_inactive.unwrap_or(false);
    let rows = match &query.area {
        Some(code) => in_areas(conn, &area_and_below(index, "area", code)?.1, include_inactive)?,
        None => {
            let mut q = hotspots::table
                .filter(hotspots::agency_id.eq(&user.agency.id))
                .select(HotspotRow::as_select())
                .order((hotspots::name.asc(), hotspots::id.asc()))
                .into_boxed();
            if !include_inactive {
                q = q.filter(hotspots::active.eq(true));
            }
            q.load(conn)?
        }
    };
    rows.iter().map(|row| view(conn, index, row)).collect()
}

/// Hotspots of an area (or of the person's agency) as an RFC 7946 FeatureCollection of polygons,
/// for maps.
pub fn feature_collection(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &HotspotListQuery,
) -> ApiResult<serde_json::Value> {
    let hotspots = list(conn, index, user, query)?;
    let mut features = Vec::with_capacity(hotspots.len());
    for hotspot in hotspots {
        let ring = Shape::parse(&hotspot.shape)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored shape of hotspot {}: {e:?}", hotspot.id)))?
            .ring();
        features.push(json!({
            "type": "Feature",
            "id": hotspot.id,
            "geometry": { "type": "Polygon", "coordinates": [ring] },
            "properties": {
                "name": hotspot.name,
                "kind": hotspot.kind,
                "agency": hotspot.agency.code,
                "active": hotspot.active,
            }
        }));
    }
    Ok(json!({ "type": "FeatureCollection", "features": features }))
}

pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, id: &str) -> ApiResult<Hotspot> {
    user.require(Permission::ReferenceRead)?;
    let row = load(conn, id)?;
    view(conn, index, &row)
}

/// Creates (`id` absent) or replaces a hotspot of the person's agency.
pub fn put(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&str>,
    request: &PutHotspot,
    at: NaiveDateTime,
) -> ApiResult<(Hotspot, bool)> {
    user.require(Permission::PlanningManage)?;
    // Whose it is comes before what is wrong with the request.
    let existing = id.map(|id| load(tx, id)).transpose()?;
    if let Some(current) = &existing
        && current.agency_id != user.agency.id
        && !user.is_system_admin()
    {
        return Err(ApiError::forbidden("a hotspot is edited by its own agency"));
    }
    let shape = Shape::parse(&request.shape).map_err(ApiError::fields)?;
    if !is_active_code(tx, "hotspot_kind", &request.kind)? {
        return Err(ApiError::field(
            "kind",
            FieldErrorCode::UnknownCode,
            format!("{} is not a hotspot_kind code", request.kind),
        ));
    }
    let centroid = shape.centroid();
    let area_ids_at = |lat: f64, lon: f64| {
        let location = index.locate(lat, lon);
        let id = |r: &Option<crate::territory::index::Resolved>| r.as_ref().map(|r| index.area(r.area).id.clone());
        (id(&location.municipality), id(&location.admin_unit))
    };
    let (municipality_id, admin_unit_id) = area_ids_at(centroid.y(), centroid.x());
    // A polygon's corners must lie in the agency's areas too, not only its middle.
    let served = ServedAreas::of(index, user);
    let corners_outside = || {
        shape.ring().into_iter().any(|[lon, lat]| {
            let (municipality, unit) = area_ids_at(lat, lon);
            !served.cover(&[&municipality, &unit])
        })
    };
    if !served.cover(&[&municipality_id, &admin_unit_id])
        || (matches!(request.shape, HotspotShape::Polygon { .. }) && corners_outside())
    {
        return Err(ApiError::field(
            "shape",
            FieldErrorCode::OutsideAgencyArea,
            "the place is outside the areas your agency serves",
        ));
    }
    let (min_lat, min_lon, max_lat, max_lon) = shape.bounds();
    let shape_text = serde_json::to_string(&request.shape).map_err(anyhow::Error::from)?;
    let name = request.name.trim().to_owned();
    let (hotspot_id, created) = match id {
        None => {
            let hotspot_id = Uuid::now_v7().to_string();
            let row = HotspotRow {
                id: hotspot_id.clone(),
                agency_id: user.agency.id.clone(),
                name,
                kind: request.kind.clone(),
                shape: shape_text,
                centroid_lat: centroid.y(),
                centroid_lon: centroid.x(),
                min_lat,
                min_lon,
                max_lat,
                max_lon,
                municipality_id,
                admin_unit_id,
                notes: request.notes.clone(),
                active: request.active,
                version: 1,
                created_by: user.user_id.to_string(),
                created_at: at,
                updated_at: at,
            };
            diesel::insert_into(hotspots::table).values(&row).execute(tx.conn())?;
            (hotspot_id, true)
        }
        Some(id) => {
            let current = existing.ok_or_else(|| ApiError::not_found("hotspot"))?;
            if request.version != Some(current.version) {
                let now = view(tx, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(now).map_err(anyhow::Error::from)?));
            }
            let changed = diesel::update(
                hotspots::table.filter(hotspots::id.eq(id)).filter(hotspots::version.eq(current.version)),
            )
            .set((
                hotspots::name.eq(&name),
                hotspots::kind.eq(&request.kind),
                hotspots::shape.eq(&shape_text),
                hotspots::centroid_lat.eq(centroid.y()),
                hotspots::centroid_lon.eq(centroid.x()),
                hotspots::min_lat.eq(min_lat),
                hotspots::min_lon.eq(min_lon),
                hotspots::max_lat.eq(max_lat),
                hotspots::max_lon.eq(max_lon),
                hotspots::municipality_id.eq(&municipality_id),
                hotspots::admin_unit_id.eq(&admin_unit_id),
                hotspots::notes.eq(&request.notes),
                hotspots::active.eq(request.active),
                hotspots::version.eq(current.version + 1),
                hotspots::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
            if changed == 0 {
                return Err(ApiError::new(ErrorCode::VersionMismatch));
            }
            (id.to_owned(), false)
        }
    };
    audit::record(
        tx,
        &user.actor(),
        at,
        if created { "hotspot.create" } else { "hotspot.update" },
        "hotspot",
        &hotspot_id,
        json!({ "name": request.name, "kind": request.kind, "active": request.active }),
    )?;
    let row = load(tx, &hotspot_id)?;
    Ok((view(tx, index, &row)?, created))
}

/// A sighting as clustering and coverage read it.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub observed_at: NaiveDateTime,
    /// The child profile the sighting is linked to, if any.
    pub profile_id: Option<String>,
    /// The exact place; none when none was recorded or retention has coarsened it.
    pub point: Option<cluster::Point>,
}

/// Every sighting in the area (at any level below it) observed in `[from, to)`, with its
/// profile and exact place.
pub fn sightings_in(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    area: usize,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<Sighting>> {
    type Row = (NaiveDateTime, Option<String>, Option<f64>, Option<f64>, Option<NaiveDateTime>);
    // A sighting's areas come from one locate, which resolves each level inside the one above
    // it: whatever lies below the area also carries the area at the area's own level.
    let area = index.area(area);
    let query = identifications::table
        .left_join(identification_links::table)
        .filter(identifications::observed_at.ge(from))
        .filter(identifications::observed_at.lt(to))
        .select((
            identifications::observed_at,
            identification_links::profile_id.nullable(),
            identifications::lat,
            identifications::lon,
            identifications::location_coarsened_at,
        ))
        .into_boxed();
    let id = area.id.clone();
    let rows: Vec<Row> = match area.level {
        AreaLevel::County => query.filter(identifications::county_id.eq(id)),
        AreaLevel::Municipality => query.filter(identifications::municipality_id.eq(id)),
        AreaLevel::AdminUnit => query.filter(identifications::admin_unit_id.eq(id)),
    }
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(observed_at, profile_id, lat, lon, coarsened_at)| Sighting {
            observed_at,
            profile_id,
            point: match (lat, lon, coarsened_at) {
                (Some(lat), Some(lon), None) => Some(cluster::Point { lat, lon }),
                _ => None,
            },
        })
        .collect())
}

/// For each hotspot, the points inside it (indices into `points`). The points are sorted by
/// latitude once, so each hotspot tests only the band of points level with it rather than all.
pub fn points_inside_each(hotspots: &[HotspotRow], points: &[cluster::Point]) -> ApiResult<Vec<Vec<usize>>> {
    let mut by_lat: Vec<usize> = (0..points.len()).collect();
    by_lat.sort_by(|&a, &b| points[a].lat.total_cmp(&points[b].lat));
    hotspots
        .iter()
        .map(|hotspot| {
            let shape = hotspot.shape()?;
            let first = by_lat.partition_point(|&i| points[i].lat < hotspot.min_lat);
            Ok(by_lat[first..]
                .iter()
                .copied()
                .take_while(|&i| points[i].lat <= hotspot.max_lat)
                .filter(|&i| {
                    let p = points[i];
                    hotspot.may_contain(p.lat, p.lon) && shape.contains(p.lat, p.lon)
                })
                .collect())
        })
        .collect()
}

/// The zone the person's agency keeps its local time in.
pub fn agency_zone(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<chrono_tz::Tz> {
    let zone: String =
        agencies::table.filter(agencies::id.eq(agency_id)).select(agencies::time_zone).get_result(conn)?;
    Ok(crate::rota::layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane))
}

pub fn suggestions(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &SuggestionQuery,
    now: DateTime<Utc>,
) -> ApiResult<HotspotSuggestions> {
    user.require(Permission::PlanningManage)?;
    user.require(Permission::LocationsReadPrecise)?;
    let days = query.days.unwrap_or(60);
    let distance_m = query.distance_m.unwrap_or(100.0);
    let min_sightings = query.min_sightings.unwrap_or(5);
    let out_of_range = |field: &str, message: &str| terren_contract::problem::FieldError {
        field: field.into(),
        code: FieldErrorCode::OutOfRange,
        message: message.into(),
    };
    let errors: Vec<_> = [
        (!(1..=365).contains(&days)).then(|| out_of_range("days", "1 to 365")),
        (!(10.0..=1000.0).contains(&distance_m)).then(|| out_of_range("distance_m", "10 to 1,000 metres")),
        (!(2..=100).contains(&min_sightings)).then(|| out_of_range("min_sightings", "2 to 100")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let (area, area_ids) = area_and_below(index, "area", &query.area)?;
    let area_id = Some(index.area(area).id.clone());
    if !ServedAreas::of(index, user).cover(&[&area_id]) {
        return Err(ApiError::forbidden("the area is outside the areas your agency serves"));
    }
    let to = crate::clock::truncate(now);
    let from = to - chrono::Duration::days(i64::from(days));
    let sightings = sightings_in(tx, index, area, from, to)?;
    let (located, located_points): (Vec<&Sighting>, Vec<cluster::Point>) =
        sightings.iter().filter_map(|s| Some((s, s.point?))).unzip();
    let hotspot_rows = in_areas(tx, &area_ids, false)?;
    let mut in_a_hotspot = vec![false; located.len()];
    for inside in points_inside_each(&hotspot_rows, &located_points)? {
        for i in inside {
            in_a_hotspot[i] = true;
        }
    }
    let (outside, points): (Vec<&Sighting>, Vec<cluster::Point>) = located
        .iter()
        .zip(located_points)
        .zip(&in_a_hotspot)
        .filter(|(_, inside)| !**inside)
        .map(|((sighting, point), _)| (*sighting, point))
        .unzip();
    let labels = cluster::dbscan(
        &points,
        cluster::Params { eps_m: distance_m, min_points: usize::try_from(min_sightings).unwrap_or(usize::MAX) },
    );
    let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, label) in labels.iter().enumerate() {
        if let Some(cluster) = label {
            members.entry(*cluster).or_default().push(i);
        }
    }
    let tz = agency_zone(tx, &user.agency.id)?;
    let mut found: Vec<HotspotSuggestion> = members
        .values()
        .filter_map(|indices| {
            let circle = cluster::centroid_and_radius(&points, indices)?;
            let (lat, lon, radius_m) = (circle.centre.lat, circle.centre.lon, circle.radius_m);
            let mut by_hour = vec![0_i64; 24];
            let mut by_weekday = vec![0_i64; 7];
            let mut profiles = HashSet::new();
            let mut unlinked = 0;
            for &i in indices {
                let sighting = outside[i];
                let local = to_utc(sighting.observed_at).with_timezone(&tz);
                by_hour[local.hour() as usize] += 1;
                by_weekday[local.weekday().num_days_from_monday() as usize] += 1;
                match &sighting.profile_id {
                    Some(profile) => {
                        profiles.insert(profile.as_str());
                    }
                    None => unlinked += 1,
                }
            }
            let seen = indices.iter().map(|&i| outside[i].observed_at);
            let location = index.locate(lat, lon);
            Some(HotspotSuggestion {
                centroid: LatLon { lat, lon },
                radius_m,
                admin_unit: location.admin_unit.map(|r| area_ref_at(index, r.area)),
                sightings: i64::try_from(indices.len()).unwrap_or(i64::MAX),
                distinct_children: i64::try_from(profiles.len()).unwrap_or(i64::MAX),
                unlinked_sightings: unlinked,
                by_hour,
                by_weekday,
                first_seen_at: to_utc(seen.clone().min().unwrap_or(from)),
                last_seen_at: to_utc(seen.max().unwrap_or(to)),
            })
        })
        .collect();
    found.sort_by(|a, b| b.sightings.cmp(&a.sightings).then(a.centroid.lat.total_cmp(&b.centroid.lat)));
    audit::record(
        tx,
        &user.actor(),
        to,
        "hotspot.suggestions",
        "area",
        &index.area(area).id,
        json!({ "days": days, "distance_m": distance_m, "min_sightings": min_sightings, "clusters": found.len() }),
    )?;
    Ok(HotspotSuggestions {
        area: area_ref_at(index, area),
        from: to_utc(from),
        to: to_utc(to),
        sightings_considered: i64::try_from(located.len()).unwrap_or(i64::MAX),
        sightings_in_hotspots: i64::try_from(located.len() - outside.len()).unwrap_or(i64::MAX),
        suggestions: found,
    })
}
