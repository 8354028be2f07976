//! `terren import-areas FILE.geojson`: attach boundaries (RFC 7946 Polygon or MultiPolygon
//! features) to the areas they describe.
//!
//! A feature is matched by code first — its `id` or any property equal to an area's code or one
//! of its external codes (ISO 3166-2, LAU, HASC, geoBoundaries shape id) — and by name second
//! (diacritics and case ignored, aliases included). A feature names its own area and usually its
//! parents too (an administrative unit carries its municipality's code): the most specific level
//! wins. Several areas may share one feature only when they share the code it carries (Tirana's
//! urban units and the city outline).
//!
//! A file is refused as a whole, with nothing written, when one feature would be written onto
//! areas it names by different codes, when several features would be written onto one area, or
//! when `--level` is given and a feature's own code (or declared `shapeType`) is of another
//! level: a municipality file imported as counties must not overwrite every county.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use geo::{BoundingRect, CoordsIter, MultiPolygon};
use geojson::{Feature, GeoJson, Geometry};
use serde::Serialize;
use terren_contract::areas::AreaLevel;
use uuid::Uuid;

use super::fold::fold;
use super::service::{AreaRow, BoundaryRow, level_of};
use crate::audit::{self, Actor};
use crate::db::schema::{area_aliases, area_boundaries, areas};
use crate::db::{DbConnection, PooledConn, backend};

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub features: usize,
    /// Feature label → codes of the areas it was attached to.
    pub matched: Vec<(String, Vec<String>)>,
    /// Features that named no area (or an ambiguous one), with the reason.
    pub unmatched: Vec<(String, String)>,
    /// Codes of areas at the imported levels that still have no boundary.
    pub still_without_boundary: Vec<String>,
}

/// Parses a stored or imported geometry into a multipolygon.
pub fn parse_multipolygon(json: &str) -> anyhow::Result<MultiPolygon<f64>> {
    let geometry: Geometry = json.parse::<Geometry>().map_err(|e| anyhow::anyhow!("{e}"))?;
    to_multipolygon(&geometry)
}

fn to_multipolygon(geometry: &Geometry) -> anyhow::Result<MultiPolygon<f64>> {
    let geo: geo::Geometry<f64> = geometry.value.clone().try_into().map_err(|e| anyhow::anyhow!("{e}"))?;
    let multi = match geo {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        other => anyhow::bail!("geometry is {}, not Polygon or MultiPolygon", geometry_kind(&other)),
    };
    for coord in multi.coords_iter() {
        if !coord.x.is_finite() || !coord.y.is_finite() || coord.x.abs() > 180.0 || coord.y.abs() > 90.0 {
            anyhow::bail!("coordinate ({}, {}) is not a WGS84 longitude/latitude", coord.x, coord.y);
        }
    }
    if multi.0.is_empty() {
        anyhow::bail!("empty geometry");
    }
    Ok(multi)
}

fn geometry_kind(geometry: &geo::Geometry<f64>) -> &'static str {
    match geometry {
        geo::Geometry::Point(_) => "Point",
        geo::Geometry::MultiPoint(_) => "MultiPoint",
        geo::Geometry::LineString(_) | geo::Geometry::Line(_) => "LineString",
        geo::Geometry::MultiLineString(_) => "MultiLineString",
        geo::Geometry::GeometryCollection(_) => "GeometryCollection",
        _ => "another type",
    }
}

struct Matcher {
    areas: Vec<AreaRow>,
    by_code: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Matcher {
    fn load(conn: &mut DbConnection) -> QueryResult<Matcher> {
        let areas: Vec<AreaRow> = areas::table.select(AreaRow::as_select()).load(conn)?;
        let index_of: HashMap<&str, usize> = areas.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();
        let mut by_code: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, area) in areas.iter().enumerate() {
            by_code.entry(area.code.to_uppercase()).or_default().push(i);
            by_name.entry(area.name_folded.clone()).or_default().push(i);
        }
        let aliases: Vec<(String, String, String, bool)> = area_aliases::table
            .select((area_aliases::area_id, area_aliases::alias, area_aliases::alias_folded, area_aliases::is_code))
            .load(conn)?;
        for (area_id, alias, folded, is_code) in aliases {
            let Some(&i) = index_of.get(area_id.as_str()) else { continue };
            if is_code {
                by_code.entry(alias.to_uppercase()).or_default().push(i);
            } else {
                by_name.entry(folded).or_default().push(i);
            }
        }
        Ok(Matcher { areas, by_code, by_name })
    }

    /// The areas a feature describes, or why none.
    ///
    /// The feature's own level comes first (`--level`, a `shapeType` such as `ADM2`, or the most
    /// specific key hint such as `adm3_name`); codes and names at other levels are only context
    /// (a unit's feature carries its municipality's code, which must not capture the polygon).
    fn match_feature(&self, feature: &Feature, only: Option<AreaLevel>) -> Result<Vec<usize>, String> {
        let values = feature_strings(feature);
        let level = only.or_else(|| feature_level(feature, &values));
        let at_level = |i: &usize| level.is_none_or(|l| level_of(&self.areas[*i]) == l);
        let code_matches = |value: &str| self.by_code.get(&value.to_uppercase()).into_iter().flatten().copied();

        // The feature's id names the feature itself; with several areas (a shared outline) all
        // of them take the boundary.
        if let Some(id) = feature_id(feature) {
            let own: Vec<usize> = code_matches(&id).filter(at_level).collect();
            if !own.is_empty() {
                return Ok(own);
            }
        }
        let by_code: BTreeSet<usize> = values.iter().flat_map(|(_, v)| code_matches(v)).collect();
        let own: Vec<usize> = by_code.iter().copied().filter(at_level).collect();
        if level.is_some() && !own.is_empty() {
            return Ok(self.prefer_named_parent(own, &by_code));
        }
        let by_name: BTreeSet<usize> = values
            .iter()
            .filter_map(|(hint, v)| self.by_name.get(&fold(v)).map(|found| (hint, found)))
            .flat_map(|(hint, found)| {
                found.iter().copied().filter(move |i| hint.is_none_or(|h| level_of(&self.areas[*i]) == h))
            })
            .collect();
        let context: BTreeSet<usize> = by_code.union(&by_name).copied().collect();
        let candidates: Vec<usize> = by_name.iter().copied().filter(at_level).collect();
        if level.is_none() {
            let levels: BTreeSet<AreaLevel> = candidates.iter().map(|i| level_of(&self.areas[*i])).collect();
            if levels.len() > 1 {
                return Err(format!(
                    "ambiguous: the name fits areas at several levels ({}); pass --level",
                    levels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if candidates.is_empty() {
            return Err("no area with this code or name".into());
        }
        let candidates = self.prefer_named_parent(candidates, &context);
        if candidates.len() == 1 {
            Ok(candidates)
        } else {
            Err(format!(
                "ambiguous name: {}",
                candidates.iter().map(|i| self.areas[*i].code.as_str()).collect::<Vec<_>>().join(", ")
            ))
        }
    }

    /// Why the feature cannot be written at level `only`: its declared level or its own codes
    /// (the id, and properties whose key names no level) say it is of another level.
    fn level_conflict(&self, feature: &Feature, only: AreaLevel) -> Option<String> {
        let values = feature_strings(feature);
        if let Some(declared) = declared_level(feature)
            && declared != only
        {
            return Some(format!("the feature declares itself a {}, not a {}", declared.as_str(), only.as_str()));
        }
        let mut own: Vec<(&str, usize)> = values
            .iter()
            .filter(|(hint, _)| hint.is_none())
            .flat_map(|(_, v)| self.by_code.get(&v.to_uppercase()).into_iter().flatten().map(move |i| (v.as_str(), *i)))
            .collect();
        own.dedup();
        if own.is_empty() || own.iter().any(|(_, i)| level_of(&self.areas[*i]) == only) {
            return None;
        }
        let (code, i) = own[0];
        Some(format!(
            "its own code {code} is the code of {} {} ({}), not of a {}",
            level_of(&self.areas[i]).as_str(),
            self.areas[i].code,
            self.areas[i].name,
            only.as_str()
        ))
    }

    /// Several targets are one shared outline only when one code the feature carries names all
    /// of them.
    fn share_one_code(&self, feature: &Feature, targets: &[usize]) -> bool {
        feature_strings(feature).iter().any(|(_, v)| {
            let named = self.by_code.get(&v.to_uppercase());
            named.is_some_and(|named| targets.iter().all(|t| named.contains(t)))
        })
    }

    fn describe(&self, i: usize) -> String {
        format!("{} {}", self.areas[i].code, self.areas[i].name)
    }

    /// Where several areas fit, those whose parent the feature also names.
    fn prefer_named_parent(&self, found: Vec<usize>, context: &BTreeSet<usize>) -> Vec<usize> {
        if found.len() <= 1 {
            return found;
        }
        let parent_named: Vec<usize> = found
            .iter()
            .copied()
            .filter(|i| {
                self.areas[*i].parent_id.as_ref().is_some_and(|p| context.iter().any(|c| self.areas[*c].id == *p))
            })
            .collect();
        if parent_named.is_empty() { found } else { parent_named }
    }
}

fn feature_id(feature: &Feature) -> Option<String> {
    feature.id.as_ref().map(|id| match id {
        geojson::feature::Id::String(s) => s.clone(),
        geojson::feature::Id::Number(n) => n.to_string(),
    })
}

/// The level a feature describes: a `shapeType`/`level` value (`ADM1`…`ADM3`), else the most
/// specific level any of its keys hints at (`adm3_name` over `municipality_name` over `county`).
fn feature_level(feature: &Feature, values: &[(Option<AreaLevel>, String)]) -> Option<AreaLevel> {
    declared_level(feature).or_else(|| values.iter().filter_map(|(hint, _)| *hint).max())
}

/// The level a `shapeType`/`level` property declares.
fn declared_level(feature: &Feature) -> Option<AreaLevel> {
    ["shapeType", "shape_type", "level", "admin_level"]
        .iter()
        .filter_map(|key| feature.property(key).and_then(|v| v.as_str()))
        .find_map(|value| match value.to_ascii_uppercase().as_str() {
            "ADM1" | "COUNTY" | "QARK" => Some(AreaLevel::County),
            "ADM2" | "MUNICIPALITY" | "BASHKI" => Some(AreaLevel::Municipality),
            "ADM3" | "ADMIN_UNIT" | "NJESI" => Some(AreaLevel::AdminUnit),
            _ => None,
        })
}

/// The feature's id and every scalar property, as text, each with the level its key suggests
/// (`adm3_name` → administrative unit, `municipality_name` → municipality, `qark` → county).
fn feature_strings(feature: &Feature) -> Vec<(Option<AreaLevel>, String)> {
    let mut values = Vec::new();
    if let Some(id) = feature_id(feature) {
        values.push((None, id));
    }
    for (key, value) in feature.properties.iter().flatten() {
        let hint = level_hint(key);
        match value {
            serde_json::Value::String(s) if !s.is_empty() => values.push((hint, s.clone())),
            serde_json::Value::Number(n) => values.push((hint, n.to_string())),
            _ => {}
        }
    }
    values
}

fn level_hint(key: &str) -> Option<AreaLevel> {
    let key = fold(key);
    if ["adm3", "unit", "njesi"].iter().any(|k| key.contains(k)) {
        Some(AreaLevel::AdminUnit)
    } else if ["adm2", "municip", "bashki"].iter().any(|k| key.contains(k)) {
        Some(AreaLevel::Municipality)
    } else if ["adm1", "qark", "county", "region"].iter().any(|k| key.contains(k)) {
        Some(AreaLevel::County)
    } else {
        None
    }
}

fn feature_label(feature: &Feature, position: usize) -> String {
    let name = ["name", "adm3_name", "municipality_name", "qark_name", "shapeName", "NAME"]
        .iter()
        .find_map(|key| feature.property(key).and_then(|v| v.as_str()));
    match (feature_id(feature), name) {
        (Some(id), Some(name)) => format!("{id} {name}"),
        (Some(id), None) => id,
        (None, Some(name)) => name.to_owned(),
        (None, None) => format!("feature #{position}"),
    }
}

/// Imports a GeoJSON FeatureCollection in one transaction. Nothing is written when the file is
/// not valid GeoJSON or is refused (see the module's description); features that match nothing
/// are reported and skipped.
pub fn import_geojson(
    conn: &mut PooledConn,
    text: &str,
    source_name: &str,
    only: Option<AreaLevel>,
    at: chrono::NaiveDateTime,
) -> anyhow::Result<ImportReport> {
    let geojson: GeoJson = text.parse().map_err(|e| anyhow::anyhow!("{source_name} is not valid GeoJSON: {e}"))?;
    let features = match geojson {
        GeoJson::FeatureCollection(collection) => collection.features,
        GeoJson::Feature(feature) => vec![feature],
        GeoJson::Geometry(_) => {
            anyhow::bail!("{source_name} holds a bare geometry; a Feature or FeatureCollection is needed")
        }
    };
    backend::write_transaction(conn, |tx| {
        let matcher = Matcher::load(tx)?;
        let mut report = ImportReport { features: features.len(), ..ImportReport::default() };
        // First decide where every feature goes; write only when the whole file is consistent.
        let mut planned = Vec::new();
        let mut refusals: Vec<String> = Vec::new();
        let mut writers: HashMap<usize, Vec<String>> = HashMap::new();
        for (position, feature) in features.iter().enumerate() {
            let label = feature_label(feature, position);
            let Some(geometry) = &feature.geometry else {
                report.unmatched.push((label, "feature has no geometry".into()));
                continue;
            };
            let multi = match to_multipolygon(geometry) {
                Ok(multi) => multi,
                Err(e) => {
                    report.unmatched.push((label, e.to_string()));
                    continue;
                }
            };
            if let Some(reason) = only.and_then(|level| matcher.level_conflict(feature, level)) {
                refusals.push(format!("{label}: {reason}"));
                continue;
            }
            let targets = match matcher.match_feature(feature, only) {
                Ok(targets) if !targets.is_empty() => targets,
                Ok(_) => {
                    report.unmatched.push((label, "no area with this code or name".into()));
                    continue;
                }
                Err(reason) => {
                    report.unmatched.push((label, reason));
                    continue;
                }
            };
            if targets.len() > 1 && !matcher.share_one_code(feature, &targets) {
                refusals.push(format!(
                    "{label}: would be written onto several areas it names by different codes ({})",
                    targets.iter().map(|i| matcher.describe(*i)).collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            for target in &targets {
                writers.entry(*target).or_default().push(label.clone());
            }
            planned.push((label, feature, geometry, multi, targets));
        }
        let mut crowded: Vec<(&usize, &Vec<String>)> = writers.iter().filter(|(_, labels)| labels.len() > 1).collect();
        crowded.sort();
        for (area, labels) in crowded {
            refusals.push(format!(
                "{}: several features would be written onto it ({})",
                matcher.describe(*area),
                labels.join("; ")
            ));
        }
        if !refusals.is_empty() {
            let hint = if only.is_some() { " (is --level right for this file?)" } else { "" };
            anyhow::bail!("{source_name}: refused, nothing was written{hint}:\n  {}", refusals.join("\n  "));
        }
        let mut levels = BTreeSet::new();
        for (label, feature, geometry, multi, targets) in planned {
            let level = level_of(&matcher.areas[targets[0]]);
            levels.insert(level);
            let Some(rect) = multi.bounding_rect() else { continue };
            let row = BoundaryRow {
                id: Uuid::now_v7().to_string(),
                level: level.as_str().to_owned(),
                source_name: source_name.to_owned(),
                source_feature_id: feature_id(feature),
                geometry: serde_json::to_string(geometry)?,
                min_lat: rect.min().y,
                min_lon: rect.min().x,
                max_lat: rect.max().y,
                max_lon: rect.max().x,
                vertex_count: i32::try_from(multi.coords_count()).unwrap_or(i32::MAX),
                imported_at: at,
            };
            diesel::insert_into(area_boundaries::table).values(&row).execute(tx.conn())?;
            let ids: Vec<&str> = targets.iter().map(|i| matcher.areas[*i].id.as_str()).collect();
            diesel::update(areas::table.filter(areas::id.eq_any(&ids)))
                .set((areas::boundary_id.eq(&row.id), areas::updated_at.eq(at)))
                .execute(tx.conn())?;
            report.matched.push((label, targets.iter().map(|i| matcher.areas[*i].code.clone()).collect()));
        }
        diesel::delete(area_boundaries::table.filter(diesel::dsl::not(diesel::dsl::exists(
            areas::table.filter(areas::boundary_id.eq(area_boundaries::id.nullable())),
        ))))
        .execute(tx.conn())?;
        let level_names: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
        report.still_without_boundary = areas::table
            .filter(areas::level.eq_any(&level_names))
            .filter(areas::boundary_id.is_null())
            .select(areas::code)
            .order(areas::code.asc())
            .load(tx.conn())?;
        audit::record(
            tx,
            &Actor::system(),
            at,
            "areas.import_boundaries",
            "area_boundaries",
            source_name,
            serde_json::json!({ "features": report.features, "matched": report.matched.len(), "unmatched": report.unmatched.len() }),
        )?;
        Ok(report)
    })
}
