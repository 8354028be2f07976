use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::areas::{Area, AreaLevel, AreaListQuery, LatLon, LocateResponse, LocatedArea};
use terren_contract::problem::FieldErrorCode;

use super::fold::fold;
use super::index::{AreaInput, BoundaryInput, Location, Resolved, TerritoryIndex};
use crate::db::DbConnection;
use crate::db::schema::{area_aliases, area_boundaries, areas};
use crate::http::{ApiError, ApiResult};
use crate::ids::parse_uuid;
use crate::vocabularies::parse_wire_code;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = areas)]
pub struct AreaRow {
    pub id: String,
    pub code: String,
    pub level: String,
    pub kind: String,
    pub name: String,
    pub name_folded: String,
    pub parent_id: Option<String>,
    pub centroid_lat: f64,
    pub centroid_lon: f64,
    pub centroid_approximate: bool,
    pub boundary_id: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = area_boundaries)]
pub struct BoundaryRow {
    pub id: String,
    pub level: String,
    pub source_name: String,
    pub source_feature_id: Option<String>,
    pub geometry: String,
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
    pub vertex_count: i32,
    pub imported_at: NaiveDateTime,
}

pub fn level_of(row: &AreaRow) -> AreaLevel {
    AreaLevel::parse(&row.level).unwrap_or(AreaLevel::AdminUnit)
}

/// Reads areas and boundaries into a fresh spatial index.
pub fn load_index(conn: &mut DbConnection, max_centroid_distance_km: f64) -> anyhow::Result<TerritoryIndex> {
    let rows: Vec<AreaRow> =
        areas::table.filter(areas::active.eq(true)).select(AreaRow::as_select()).order(areas::code.asc()).load(conn)?;
    // Import removes boundaries no area uses, so every stored boundary belongs to an area.
    let boundary_rows: Vec<(String, String)> =
        area_boundaries::table.select((area_boundaries::id, area_boundaries::geometry)).load(conn)?;
    let mut boundaries = Vec::with_capacity(boundary_rows.len());
    for (id, geometry) in boundary_rows {
        let geometry = super::import::parse_multipolygon(&geometry)
            .map_err(|e| anyhow::anyhow!("stored boundary {id} is not a polygon: {e}"))?;
        boundaries.push(BoundaryInput { id, geometry });
    }
    let inputs = rows
        .into_iter()
        .map(|row| AreaInput {
            level: level_of(&row),
            id: row.id,
            code: row.code,
            name: row.name,
            parent_id: row.parent_id,
            centroid_lat: row.centroid_lat,
            centroid_lon: row.centroid_lon,
            boundary_id: row.boundary_id,
        })
        .collect();
    Ok(TerritoryIndex::build(inputs, boundaries, max_centroid_distance_km))
}

/// Checks coordinates before they reach any index or table.
pub fn validate_point(lat: f64, lon: f64) -> ApiResult<()> {
    let mut errors = Vec::new();
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        errors.push(terren_contract::problem::FieldError {
            field: "lat".into(),
            code: FieldErrorCode::OutOfRange,
            message: "latitude must be a number between -90 and 90".into(),
        });
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        errors.push(terren_contract::problem::FieldError {
            field: "lon".into(),
            code: FieldErrorCode::OutOfRange,
            message: "longitude must be a number between -180 and 180".into(),
        });
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

pub fn locate_response(index: &TerritoryIndex, lat: f64, lon: f64) -> ApiResult<LocateResponse> {
    validate_point(lat, lon)?;
    let location: Location = index.locate(lat, lon);
    let describe = |resolved: &Option<Resolved>| -> ApiResult<Option<LocatedArea>> {
        resolved
            .as_ref()
            .map(|r| {
                let area = index.area(r.area);
                Ok(LocatedArea {
                    id: parse_uuid(&area.id)?,
                    code: area.code.clone(),
                    name: area.name.clone(),
                    method: r.method,
                    distance_m: r.distance_m.map(|d| d.round()),
                })
            })
            .transpose()
    };
    Ok(LocateResponse {
        point: LatLon { lat, lon },
        county: describe(&location.county)?,
        municipality: describe(&location.municipality)?,
        admin_unit: describe(&location.admin_unit)?,
        method: location.method(),
    })
}

/// Areas matching the filters, flat or as a tree of counties.
pub fn list_areas(conn: &mut DbConnection, query: &AreaListQuery) -> ApiResult<Vec<Area>> {
    let mut rows: Vec<AreaRow> = areas::table.filter(areas::active.eq(true)).select(AreaRow::as_select()).load(conn)?;
    // Byte order, the same on both backends.
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    let alias_rows: Vec<(String, String)> =
        area_aliases::table.select((area_aliases::area_id, area_aliases::alias)).load(conn)?;
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    for (area_id, alias) in alias_rows {
        aliases.entry(area_id).or_default().push(alias);
    }
    aliases.values_mut().for_each(|list| list.sort());
    let code_of: HashMap<&str, &str> = rows.iter().map(|r| (r.id.as_str(), r.code.as_str())).collect();
    let mut dtos: Vec<(Option<String>, Area)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let dto = Area {
            id: parse_uuid(&row.id)?,
            code: row.code.clone(),
            level: level_of(row),
            kind: parse_wire_code(&row.kind)?,
            name: row.name.clone(),
            parent_code: row.parent_id.as_deref().and_then(|p| code_of.get(p)).map(|c| (*c).to_owned()),
            centroid: LatLon { lat: row.centroid_lat, lon: row.centroid_lon },
            centroid_approximate: row.centroid_approximate,
            has_boundary: row.boundary_id.is_some(),
            aliases: aliases.remove(&row.id).unwrap_or_default(),
            children: Vec::new(),
        };
        dtos.push((dto.parent_code.clone(), dto));
    }
    let needle = query.q.as_deref().map(fold).filter(|q| !q.is_empty());
    let matches = |area: &Area| {
        needle.as_ref().is_none_or(|q| {
            fold(&area.name).contains(q.as_str())
                || area.code.to_lowercase().contains(q.as_str())
                || area.aliases.iter().any(|a| fold(a).contains(q.as_str()))
        })
    };
    if query.tree.unwrap_or(false) {
        return Ok(build_tree(dtos, query.parent.as_deref(), &matches));
    }
    Ok(dtos
        .into_iter()
        .map(|(_, area)| area)
        .filter(|a| query.level.is_none_or(|level| a.level == level))
        .filter(|a| query.parent.as_ref().is_none_or(|p| a.parent_code.as_ref() == Some(p)))
        .filter(|a| matches(a))
        .collect())
}

/// Nests areas under their parents. With a search term, keeps matching areas and the path to
/// them; with `root`, returns that area's subtree.
fn build_tree(dtos: Vec<(Option<String>, Area)>, root: Option<&str>, matches: &dyn Fn(&Area) -> bool) -> Vec<Area> {
    let mut by_parent: BTreeMap<Option<String>, Vec<Area>> = BTreeMap::new();
    for (parent, area) in dtos {
        by_parent.entry(parent).or_default().push(area);
    }
    fn attach(
        area: &mut Area,
        by_parent: &mut BTreeMap<Option<String>, Vec<Area>>,
        matches: &dyn Fn(&Area) -> bool,
    ) -> bool {
        let mut children = by_parent.remove(&Some(area.code.clone())).unwrap_or_default();
        let self_matches = matches(area);
        children.retain_mut(|child| attach(child, by_parent, &|a| self_matches || matches(a)));
        area.children = children;
        self_matches || !area.children.is_empty()
    }
    let mut tops = by_parent.remove(&None).unwrap_or_default();
    tops.retain_mut(|area| attach(area, &mut by_parent, matches));
    match root {
        None => tops,
        Some(code) => find_subtree(tops, code).map(|a| a.children).unwrap_or_default(),
    }
}

fn find_subtree(areas: Vec<Area>, code: &str) -> Option<Area> {
    for area in areas {
        if area.code == code {
            return Some(area);
        }
        if let Some(found) = find_subtree(area.children, code) {
            return Some(found);
        }
    }
    None
}
