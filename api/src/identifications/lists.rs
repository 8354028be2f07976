//! Sightings listed, mapped and filtered: the list's filters checked, the query within the
//! reader's reach, keyset pages, a GeoJSON map, and every listing audited.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::identifications::{
    Identification, IdentificationFilters, IdentificationListQuery, IdentificationMapQuery, IdentificationPage,
};
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;

use super::privacy::shown_point;
use super::read::view_with;
use super::store::{Backend, IdentificationRow, Lookups, located_in};
use crate::access::AuthUser;
use crate::access::identifications::{Reach, scope_filter, search_box, shows_exact};
use crate::audit;
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{identification_links, identifications};
use crate::http::json::rule_errors;
use crate::http::{ApiError, ApiResult, cursor};
use crate::territory::index::TerritoryIndex;

fn parse_bbox(text: &str) -> Option<(f64, f64, f64, f64)> {
    let parts: Vec<f64> = text.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().ok()?;
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else { return None };
    let valid_lon = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
    let valid_lat = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
    (valid_lon(min_lon)
        && valid_lon(max_lon)
        && valid_lat(min_lat)
        && valid_lat(max_lat)
        && min_lon <= max_lon
        && min_lat <= max_lat)
        .then_some((min_lon, min_lat, max_lon, max_lat))
}

fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A list, map, grid or counts request's filters, checked.
pub(super) struct Filters {
    area: Option<usize>,
    bbox: Option<(f64, f64, f64, f64)>,
}

/// Checks the filters, answering their problems together with `errors`, those the request's other
/// parameters have.
pub(super) fn parse_filters(
    index: &TerritoryIndex,
    query: &IdentificationFilters,
    mut errors: Vec<FieldError>,
) -> ApiResult<Filters> {
    let mut bad = |field: &str, code: FieldErrorCode, message: String| {
        errors.push(FieldError { field: field.into(), code, message })
    };
    let area = query.area.as_ref().and_then(|code| {
        let found = index.find_code(code);
        if found.is_none() {
            bad("area", FieldErrorCode::UnknownArea, format!("no area with code {code}"));
        }
        found
    });
    let bbox = query.bbox.as_ref().and_then(|text| {
        let parsed = parse_bbox(text);
        if parsed.is_none() {
            bad("bbox", FieldErrorCode::InvalidFormat, "use min_lon,min_lat,max_lon,max_lat in WGS84".into());
        }
        parsed
    });
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        bad("to", FieldErrorCode::BeforeFrom, "to must be after from".into());
    }
    for (field, value) in [
        ("subject_type", &query.subject_type),
        ("risk_level", &query.risk_level),
        ("street_situation", &query.street_situation),
    ] {
        if value.as_deref().is_some_and(|v| !is_code(v)) {
            bad(field, FieldErrorCode::InvalidFormat, "not a vocabulary code".into());
        }
    }
    if errors.is_empty() { Ok(Filters { area, bbox }) } else { Err(ApiError::fields(errors)) }
}

/// The sightings matching the filters within the reader's reach, as a query to refine further.
pub(super) fn filtered(
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationFilters,
    filters: &Filters,
    reach: Reach,
) -> identifications::BoxedQuery<'static, Backend> {
    let mut q = identifications::table.into_boxed();
    if reach == Reach::Scope {
        q = q.filter(scope_filter(index, user));
    }
    if let Some(area) = filters.area {
        let ids: Vec<String> = index.descendants(area).into_iter().map(|a| index.area(a).id.clone()).collect();
        q = q.filter(located_in(ids));
    }
    if let Some(bbox) = filters.bbox {
        let (min_lon, min_lat, max_lon, max_lat) = search_box(user, bbox);
        q = q
            .filter(identifications::lat.between(min_lat, max_lat).assume_not_null())
            .filter(identifications::lon.between(min_lon, max_lon).assume_not_null());
    }
    if let Some(from) = query.from {
        q = q.filter(identifications::observed_at.ge(from.naive_utc()));
    }
    if let Some(to) = query.to {
        q = q.filter(identifications::observed_at.lt(to.naive_utc()));
    }
    if let Some(value) = &query.subject_type {
        q = q.filter(identifications::subject_type.eq(value.clone()));
    }
    if let Some(value) = &query.risk_level {
        q = q.filter(identifications::risk_level.eq(value.clone()));
    }
    if let Some(value) = &query.street_situation {
        // Codes may hold `_`, a LIKE wildcard: match it literally.
        let literal = crate::db::like_literal(value);
        q = q.filter(identifications::street_situations.like(format!("%\"{literal}\"%")).escape('\\'));
    }
    if let Some(value) = query.emergency {
        q = q.filter(identifications::emergency.eq(value));
    }
    if query.mine == Some(true) {
        q = q.filter(identifications::recorded_by.eq(user.user_id.clone()));
    }
    if let Some(linked) = query.linked {
        let linked_ids = identification_links::table.select(identification_links::identification_id);
        q = if linked {
            q.filter(identifications::id.eq_any(linked_ids))
        } else {
            q.filter(identifications::id.ne_all(linked_ids))
        };
    }
    q
}

fn audit_shown(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    rows: &[IdentificationRow],
) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let precision = if rows.iter().any(|row| shows_exact(user, row)) { "exact" } else { "coarse" };
    audit::record(
        tx,
        &user.actor(),
        at,
        action,
        "identification",
        "list",
        serde_json::json!({ "ids": ids, "location": precision }),
    )
}

/// These sightings, as the reader may see them, in the order given; the reading is audited as one
/// listing. The ids are ones the reader's scope was checked for (a sync's working set).
pub fn read_many(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    ids: &[String],
    at: NaiveDateTime,
    action: &str,
) -> ApiResult<Vec<Identification>> {
    user.require(Permission::IdentificationsRead)?;
    let rows: Vec<IdentificationRow> = identifications::table
        .filter(identifications::id.eq_any(ids))
        .select(IdentificationRow::as_select())
        .order(identifications::id.asc())
        .load(tx.conn())?;
    let lookups = Lookups::load(tx, &rows)?;
    let items = rows.iter().map(|row| view_with(&lookups, index, user, row)).collect::<ApiResult<Vec<_>>>()?;
    audit_shown(tx, user, at, action, &rows)?;
    Ok(items)
}

/// Sightings within the reader's scope, newest received first, with keyset paging that stays
/// stable while new sightings arrive. The listing itself is audited.
pub fn list(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationFilters,
    page: &IdentificationListQuery,
    at: NaiveDateTime,
) -> ApiResult<IdentificationPage> {
    user.require(Permission::IdentificationsRead)?;
    let mut errors = rule_errors(page);
    let cursor = page.cursor.as_ref().and_then(|text| {
        let decoded = cursor::decode(text);
        if decoded.is_none() {
            errors.push(FieldError::new(
                "cursor",
                FieldErrorCode::InvalidCursor,
                "use next_cursor from the previous page",
            ));
        }
        decoded
    });
    let filters = parse_filters(index, query, errors)?;
    let limit = page.limit.unwrap_or(50);
    let mut q = filtered(index, user, query, &filters, Reach::Scope);
    if let Some((received_at, id)) = cursor {
        // The plain bound is what the index scan starts from; the `or` alone is only a filter.
        q = q.filter(identifications::received_at.le(received_at)).filter(
            identifications::received_at
                .lt(received_at)
                .or(identifications::received_at.eq(received_at).and(identifications::id.lt(id))),
        );
    }
    let mut rows: Vec<IdentificationRow> = q
        .select(IdentificationRow::as_select())
        .order((identifications::received_at.desc(), identifications::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(tx.conn())?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| cursor::encode(row.received_at, &row.id))
    } else {
        None
    };
    let lookups = Lookups::load(tx, &rows)?;
    let items = rows.iter().map(|row| view_with(&lookups, index, user, row)).collect::<ApiResult<Vec<_>>>()?;
    audit_shown(tx, user, at, "identification.list", &rows)?;
    Ok(IdentificationPage { items, next_cursor })
}

/// The same sightings as a GeoJSON FeatureCollection for a map: one point each (coarsened as
/// for the reader), newest first, at most `limit` (default 1000); `truncated` says when there
/// were more.
pub fn feature_collection(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationFilters,
    map: &IdentificationMapQuery,
    at: NaiveDateTime,
) -> ApiResult<serde_json::Value> {
    user.require(Permission::IdentificationsRead)?;
    let filters = parse_filters(index, query, rule_errors(map))?;
    let limit = map.limit.unwrap_or(1000);
    let mut rows: Vec<IdentificationRow> = filtered(index, user, query, &filters, Reach::Scope)
        .filter(identifications::lat.is_not_null())
        .select(IdentificationRow::as_select())
        .order((identifications::received_at.desc(), identifications::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(tx.conn())?;
    let truncated = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let features: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|row| {
            let precise = shows_exact(user, row);
            let (lat, lon) = shown_point(row.lat?, row.lon?, precise);
            Some(serde_json::json!({
                "type": "Feature",
                "id": row.id,
                "geometry": { "type": "Point", "coordinates": [lon, lat] },
                "properties": {
                    "observed_at": to_utc(row.observed_at),
                    "subject_type": row.subject_type,
                    "age_band": row.age_band,
                    "risk_level": row.risk_level,
                    "emergency": row.emergency,
                    "precision": if precise { "exact" } else { "coarse" },
                }
            }))
        })
        .collect();
    audit_shown(tx, user, at, "identification.map", &rows)?;
    Ok(serde_json::json!({ "type": "FeatureCollection", "features": features, "truncated": truncated }))
}
