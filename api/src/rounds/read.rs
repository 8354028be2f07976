//! Rounds as readers see them: one round, a page of rounds over a period, and the views that
//! gather their stops, teams, hotspots and sightings together.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{Round, RoundListQuery, RoundReport, RoundStop};

use super::store::{RoundRow, load, stops_of};
use super::teams;
use crate::access::AuthUser;
use crate::accounts::service::{agency_ref_of, person_refs};
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{hotspots, identifications, rounds, team_members};
use crate::http::{ApiError, ApiResult};
use crate::ids::{TeamId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::wire_code;

/// Rounds as the reader sees them, looked up together.
pub fn views(conn: &mut DbConnection, index: &TerritoryIndex, rows: &[RoundRow]) -> ApiResult<Vec<Round>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let stops = stops_of(conn, &ids)?;
    let hotspot_ids: Vec<String> = stops.iter().filter_map(|s| s.hotspot_id.clone()).collect();
    let hotspot_names: HashMap<String, String> = hotspots::table
        .filter(hotspots::id.eq_any(&hotspot_ids))
        .select((hotspots::id, hotspots::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let team_ids: Vec<TeamId> = rows.iter().map(|r| r.team_id.clone()).collect();
    let team_names: HashMap<TeamId, String> = crate::db::schema::teams::table
        .filter(crate::db::schema::teams::id.eq_any(&team_ids))
        .select((crate::db::schema::teams::id, crate::db::schema::teams::name))
        .load::<(TeamId, String)>(conn)?
        .into_iter()
        .collect();
    let counts: HashMap<String, i64> = identifications::table
        .filter(identifications::round_id.eq_any(&ids))
        .group_by(identifications::round_id)
        .select((identifications::round_id.assume_not_null(), diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let people: BTreeSet<String> = rows.iter().filter_map(|r| r.checked_in_by.clone()).collect();
    let names = person_refs(conn, &people)?;
    let mut by_round: HashMap<String, Vec<RoundStop>> = HashMap::new();
    for stop in stops {
        let hotspot = match &stop.hotspot_id {
            Some(id) => Some(terren_contract::hotspots::HotspotRef {
                id: parse_uuid(id)?,
                name: hotspot_names.get(id).cloned().unwrap_or_default(),
            }),
            None => None,
        };
        by_round.entry(stop.round_id.clone()).or_default().push(RoundStop {
            position: stop.position,
            hotspot,
            area: area_ref(index, &stop.area_id),
            arrived_at: stop.arrived_at.map(to_utc),
            left_at: stop.left_at.map(to_utc),
            arrived_received_at: stop.arrived_received_at.map(to_utc),
            left_received_at: stop.left_received_at.map(to_utc),
        });
    }
    rows.iter()
        .map(|row| {
            let report: Option<RoundReport> = row.report.as_deref().and_then(|r| serde_json::from_str(r).ok());
            Ok(Round {
                id: parse_uuid(&row.id)?,
                team: terren_contract::rounds::TeamRef {
                    id: parse_uuid(&row.team_id)?,
                    name: team_names.get(&row.team_id).cloned().unwrap_or_default(),
                },
                agency: agency_ref_of(conn, &row.agency_id)?,
                series_id: row.series_id.as_deref().map(parse_uuid).transpose()?,
                detached: row.detached,
                starts_at: to_utc(row.starts_at),
                ends_at: to_utc(row.ends_at),
                local_date: row.local_date.parse().unwrap_or_default(),
                purpose: row.purpose.clone(),
                notes: row.notes.clone(),
                status: row.status()?,
                stops: by_round.remove(&row.id).unwrap_or_default(),
                checked_in_by: row.checked_in_by.as_ref().and_then(|id| names.get(id).cloned()),
                checked_in_at: row.checked_in_at.map(to_utc),
                checked_in_received_at: row.checked_in_received_at.map(to_utc),
                check_in_distance_m: row.check_in_distance_m,
                check_in_reason: row.check_in_reason.clone(),
                checked_out_at: row.checked_out_at.map(to_utc),
                checked_out_received_at: row.checked_out_received_at.map(to_utc),
                report,
                missed_at: row.missed_at.map(to_utc),
                identifications: counts.get(&row.id).copied().unwrap_or(0),
                version: row.version,
            })
        })
        .collect()
}

/// The round as it is now.
pub fn reload(conn: &mut DbConnection, index: &TerritoryIndex, id: &str) -> ApiResult<Round> {
    let row = load(conn, id)?;
    view(conn, index, &row)
}

pub fn view(conn: &mut DbConnection, index: &TerritoryIndex, row: &RoundRow) -> ApiResult<Round> {
    views(conn, index, std::slice::from_ref(row))?.pop().ok_or_else(|| ApiError::not_found("round"))
}

/// A round the person may see: one of a team they may see.
pub fn visible(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<RoundRow> {
    let row = load(conn, id)?;
    teams::visible_for(conn, user, &row.team_id, "round")?;
    Ok(row)
}

pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, id: &str) -> ApiResult<Round> {
    let row = visible(conn, user, id)?;
    view(conn, index, &row)
}

pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &RoundListQuery,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Round>> {
    user.require(Permission::ReferenceRead)?;
    let from = query.from.unwrap_or(now - chrono::Duration::days(7));
    let to = query.to.unwrap_or(from + chrono::Duration::days(35));
    if to <= from {
        return Err(ApiError::field("to", FieldErrorCode::BeforeFrom, "to is after from"));
    }
    if to - from > chrono::Duration::days(100) {
        return Err(ApiError::field("to", FieldErrorCode::OutOfRange, "at most 100 days"));
    }
    let mine = team_members::table.filter(team_members::user_id.eq(user.user_id.clone())).select(team_members::team_id);
    let mut q = rounds::table
        .filter(rounds::agency_id.eq(user.agency.id.clone()).or(rounds::team_id.eq_any(mine)))
        .filter(rounds::starts_at.ge(from.naive_utc()))
        .filter(rounds::starts_at.lt(to.naive_utc()))
        .select(RoundRow::as_select())
        .order((rounds::starts_at.asc(), rounds::id.asc()))
        .into_boxed();
    if let Some(team) = query.team_id {
        q = q.filter(rounds::team_id.eq(team.to_string()));
    }
    if let Some(status) = query.status {
        q = q.filter(rounds::status.eq(wire_code(status)));
    }
    let rows: Vec<RoundRow> = q.limit(1000).load(conn)?;
    views(conn, index, &rows)
}
