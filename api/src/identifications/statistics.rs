//! Counting sightings: grid cells for heat maps and counts of sightings and children, within
//! the reader's scope or, for national statistics, the whole country with small counts hidden.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::identifications::{GridCell, IdentificationFilters, IdentificationGrid};
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::{SightingCount, SightingCounts};

use super::lists::{filtered, parse_filters};
use super::privacy::shown_point;
use crate::access::AuthUser;
use crate::access::identifications::{Reach, shown, statistics_reach};
use crate::audit;
use crate::db::Tx;
use crate::db::schema::{identification_links, identifications};
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;

/// Counts of sightings per grid cell, for heat maps that show no single point. Readers of
/// individual sightings count within their scope; holders of national statistics count the whole
/// country, and for them cells with fewer than `MIN_PUBLISHED_COUNT` sightings are left out.
pub fn grid(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationFilters,
    zoom: u8,
    at: NaiveDateTime,
) -> ApiResult<IdentificationGrid> {
    let reach = statistics_reach(user)?;
    let max_zoom = if reach == Reach::National { MAX_NATIONAL_GRID_ZOOM } else { MAX_GRID_ZOOM };
    if !(MIN_GRID_ZOOM..=max_zoom).contains(&zoom) {
        return Err(ApiError::field(
            "zoom",
            FieldErrorCode::OutOfRange,
            format!("zoom must be between {MIN_GRID_ZOOM} and {max_zoom}"),
        ));
    }
    if reach == Reach::National {
        national_filters_only(query)?;
    }
    let filters = parse_filters(index, query, Vec::new())?;
    let points: Vec<(Option<f64>, Option<f64>)> = filtered(index, user, query, &filters, reach)
        .filter(identifications::lat.is_not_null())
        .select((identifications::lat, identifications::lon))
        .load(tx.conn())?;
    let cell_deg = 180.0 / f64::from(1u32 << zoom);
    // Without precise locations, count each sighting at its coarse cell's centre: grid cells do
    // not line up with coarse cells, and counting exact points would narrow a sighting down.
    let precise = reach == Reach::Scope && shown(user).precise;
    let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
    for (lat, lon) in points {
        if let (Some(lat), Some(lon)) = (lat, lon) {
            let (lat, lon) = shown_point(lat, lon, precise);
            *counts.entry(((lat / cell_deg).floor() as i64, (lon / cell_deg).floor() as i64)).or_default() += 1;
        }
    }
    let threshold = if reach == Reach::National { MIN_PUBLISHED_COUNT } else { 1 };
    let mut cells: Vec<GridCell> = counts
        .into_iter()
        .filter(|(_, count)| *count >= threshold)
        .map(|((row, col), count)| GridCell {
            min_lat: row as f64 * cell_deg,
            min_lon: col as f64 * cell_deg,
            max_lat: (row + 1) as f64 * cell_deg,
            max_lon: (col + 1) as f64 * cell_deg,
            count,
        })
        .collect();
    cells.sort_by(|a, b| a.min_lat.total_cmp(&b.min_lat).then(a.min_lon.total_cmp(&b.min_lon)));
    let total: i64 = cells.iter().map(|c| c.count).sum();
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.grid",
        "identification",
        "grid",
        serde_json::json!({ "zoom": zoom, "cells": cells.len(), "counted": total, "national": reach == Reach::National }),
    )?;
    Ok(IdentificationGrid { zoom, cell_size_deg: cell_deg, min_count: threshold, cells })
}

/// Sightings counted two ways, so that repeat sightings and distinct children are both known:
/// every sighting, and the profiles they are linked to. Takes the list's filters; national
/// statistics take only area and whole days, and counts below three are left out.
pub fn counts(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationFilters,
    at: NaiveDateTime,
) -> ApiResult<SightingCounts> {
    let reach = statistics_reach(user)?;
    if reach == Reach::National {
        national_filters_only(query)?;
    }
    let filters = parse_filters(index, query, Vec::new())?;
    let identifications: i64 = filtered(index, user, query, &filters, reach).count().get_result(tx.conn())?;
    // The linked sightings' profiles, counted here: a boxed query can neither group nor be
    // nested in another query on a multi-backend connection.
    let linked_ids: Vec<String> = filtered(index, user, query, &filters, reach)
        .filter(identifications::id.eq_any(identification_links::table.select(identification_links::identification_id)))
        .select(identifications::id)
        .load(tx.conn())?;
    let mut sightings_per_child: HashMap<String, i64> = HashMap::new();
    for chunk in linked_ids.chunks(5000) {
        let profiles: Vec<String> = identification_links::table
            .filter(identification_links::identification_id.eq_any(chunk))
            .select(identification_links::profile_id)
            .load(tx.conn())?;
        for profile_id in profiles {
            *sightings_per_child.entry(profile_id).or_default() += 1;
        }
    }
    let per_child: Vec<(String, i64)> = sightings_per_child.into_iter().collect();
    let linked: i64 = per_child.iter().map(|(_, n)| n).sum();
    let distinct_children = per_child.len() as i64;
    let mut counts = SightingCounts {
        identifications,
        linked,
        unlinked: identifications - linked,
        distinct_children,
        repeat_sightings: linked - distinct_children,
        children_seen_more_than_once: per_child.iter().filter(|(_, n)| *n > 1).count() as i64,
        min_count: 1,
        suppressed: Vec::new(),
    };
    if reach == Reach::National {
        counts.min_count = MIN_PUBLISHED_COUNT;
        // identifications = linked + unlinked and linked = distinct_children + repeat_sightings:
        // each is a group whose total is shown, so a hidden count takes another of its group
        // with it. Children seen more than once never outnumber the distinct children.
        let names = [
            SightingCount::Identifications,
            SightingCount::Linked,
            SightingCount::Unlinked,
            SightingCount::DistinctChildren,
            SightingCount::RepeatSightings,
            SightingCount::ChildrenSeenMoreThanOnce,
        ];
        let values = [
            counts.identifications,
            counts.linked,
            counts.unlinked,
            counts.distinct_children,
            counts.repeat_sightings,
            counts.children_seen_more_than_once,
        ];
        let hidden = crate::access::suppress_groups(&values, &[vec![0, 1, 2], vec![1, 3, 4], vec![5]]);
        for (i, slot) in [
            &mut counts.identifications,
            &mut counts.linked,
            &mut counts.unlinked,
            &mut counts.distinct_children,
            &mut counts.repeat_sightings,
            &mut counts.children_seen_more_than_once,
        ]
        .into_iter()
        .enumerate()
        {
            if hidden[i] {
                *slot = 0;
                counts.suppressed.push(names[i]);
            }
        }
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.counts",
        "identification",
        "counts",
        serde_json::json!({ "area": query.area, "national": reach == Reach::National }),
    )?;
    Ok(counts)
}

/// National statistics may only be cut by area and whole days: finer filters (a box, a risk
/// level, a time to the second) would let two queries differ by a single child.
fn national_filters_only(query: &IdentificationFilters) -> ApiResult<()> {
    let mut errors = Vec::new();
    let refused = [
        ("bbox", query.bbox.is_some()),
        ("subject_type", query.subject_type.is_some()),
        ("risk_level", query.risk_level.is_some()),
        ("street_situation", query.street_situation.is_some()),
        ("emergency", query.emergency.is_some()),
        ("mine", query.mine.is_some()),
        ("linked", query.linked.is_some()),
    ];
    for (field, present) in refused {
        if present {
            errors.push(FieldError {
                field: field.into(),
                code: FieldErrorCode::NotAllowed,
                message: "national statistics are cut by area and whole days only".into(),
            });
        }
    }
    errors.extend(crate::access::off_midnight(&[
        ("from", query.from.map(|t| t.time())),
        ("to", query.to.map(|t| t.time())),
    ]));
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// Coarsest and finest grid: a cell is 180/2^zoom degrees, from 45° down to ~600 m (never finer
/// than the ~500 m cells of coarse locations).
pub const MIN_GRID_ZOOM: u8 = 2;
pub const MAX_GRID_ZOOM: u8 = 15;
/// National aggregates stop at ~5 km cells.
pub const MAX_NATIONAL_GRID_ZOOM: u8 = 12;
/// National aggregates leave out cells with fewer sightings than this, so that a single child
/// seen at one junction cannot be picked out (the floor of every published count).
pub use crate::access::MIN_PUBLISHED_COUNT;
