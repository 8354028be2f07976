//! Planning rounds one by one: a team's round with its window and stops inside the agency's
//! areas, checked for conflicts; edits and cancellations of a round that has not started.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{CreateRound, PlanningPolicy, Round, RoundStatus, StopInput, UpdateRound};
use terren_contract::time::LocalOrInstant;

use super::conflicts::{busy, conflict};
use super::missed::schedule_missed_check;
use super::read::{reload, view};
use super::store::{RoundRow, Stop, find, load, write_stops};
use super::teams::{self, TeamRow};
use super::window::{Window, in_past, round_window};
use crate::access::AuthUser;
use crate::access::ServedAreas;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{hotspots, rounds};
use crate::db::{DbConnection, Tx};
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::TeamId;
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{is_active_code, wire_code};

/// Checks the stops: each names one active hotspot or one area, inside the agency's areas.
pub(super) fn resolve_stops(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    stops: &[StopInput],
) -> ApiResult<Vec<Stop>> {
    let served = ServedAreas::of(index, user);
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    for (i, stop) in stops.iter().enumerate() {
        let field = format!("stops[{i}]");
        let error =
            |code: FieldErrorCode, message: &str| FieldError { field: field.clone(), code, message: message.into() };
        match (&stop.hotspot_id, &stop.area_code) {
            (Some(id), None) => {
                let found: Option<(bool, Option<String>, Option<String>)> = hotspots::table
                    .filter(hotspots::id.eq(id.to_string()))
                    .select((hotspots::active, hotspots::municipality_id, hotspots::admin_unit_id))
                    .get_result(conn)
                    .optional()?;
                match found {
                    Some((true, municipality, unit)) if served.cover(&[&municipality, &unit]) => {
                        resolved.push(Stop { hotspot_id: Some(id.to_string()), area_id: None });
                    }
                    Some((true, _, _)) => errors.push(error(
                        FieldErrorCode::OutsideAgencyArea,
                        "the hotspot is outside the areas your agency serves",
                    )),
                    _ => errors.push(error(FieldErrorCode::UnknownHotspot, "no such active hotspot")),
                }
            }
            (None, Some(code)) => match index.find_code(code).map(|a| index.area(a).id.clone()) {
                Some(area_id) if served.cover(&[&Some(area_id.clone())]) => {
                    resolved.push(Stop { hotspot_id: None, area_id: Some(area_id) });
                }
                Some(_) => errors
                    .push(error(FieldErrorCode::OutsideAgencyArea, "the area is outside the areas your agency serves")),
                None => errors.push(error(FieldErrorCode::UnknownArea, "no such area")),
            },
            _ => errors.push(error(FieldErrorCode::InvalidValue, "give hotspot_id or area_code")),
        }
    }
    if errors.is_empty() { Ok(resolved) } else { Err(ApiError::fields(errors)) }
}

pub(super) fn insert_round(tx: &mut Tx<'_>, row: &RoundRow, stops: &[Stop], policy: &PlanningPolicy) -> ApiResult<()> {
    diesel::insert_into(rounds::table).values(row).execute(tx.conn())?;
    write_stops(tx, &row.id, stops)?;
    schedule_missed_check(tx, row, policy)?;
    Ok(())
}

pub(super) fn check_purpose(conn: &mut DbConnection, purpose: &str) -> ApiResult<()> {
    if is_active_code(conn, "round_purpose", purpose)? {
        Ok(())
    } else {
        Err(ApiError::field("purpose", FieldErrorCode::UnknownCode, format!("{purpose} is not a round_purpose code")))
    }
}

pub fn create(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateRound,
    now: DateTime<Utc>,
) -> ApiResult<(Round, bool)> {
    let team = teams::planned_by(tx, user, &TeamId::from(request.team_id))?;
    teams::ensure_active(&team)?;
    let id = request.id.to_string();
    let tz = hotspot_service::agency_zone(tx, &team.agency_id)?;
    let window = round_window(tz, request.starts_at, request.ends_at)?;
    if let Some(existing) = find(tx, &id)? {
        // The same person planning the same round again (a retry without its key).
        let same = existing.created_by == user.user_id
            && existing.team_id == team.id
            && existing.starts_at == crate::clock::truncate(window.starts_at)
            && existing.ends_at == crate::clock::truncate(window.ends_at)
            && existing.purpose == request.purpose;
        return if same {
            Ok((view(tx, index, &existing)?, false))
        } else {
            Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different round has this id"))
        };
    }
    check_purpose(tx, &request.purpose)?;
    let stops = resolve_stops(tx, index, user, &request.stops)?;
    in_past(&window, now)?;
    let policy = super::policy::policy_of(tx, &team.agency_id)?;
    let busy = busy(tx, &team, &window, None, &policy)?;
    if !busy.is_empty() {
        return Err(conflict(busy));
    }
    let at = crate::clock::truncate(now);
    let notes = request.notes.as_ref().map(|n| n.trim().to_owned());
    let row = new_row(&team, id.clone(), &user.user_id, &window, &request.purpose, notes, at);
    insert_round(tx, &row, &stops, &policy)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "round.create",
        "round",
        &id,
        json!({ "team_id": team.id, "starts_at": row.starts_at, "ends_at": row.ends_at }),
    )?;
    Ok((reload(tx, index, &id)?, true))
}

pub(super) fn new_row(
    team: &TeamRow,
    id: String,
    created_by: &str,
    window: &Window,
    purpose: &str,
    notes: Option<String>,
    at: NaiveDateTime,
) -> RoundRow {
    RoundRow {
        id,
        team_id: team.id.clone(),
        agency_id: team.agency_id.clone(),
        series_id: None,
        occurrence_key: None,
        detached: false,
        starts_at: crate::clock::truncate(window.starts_at),
        ends_at: crate::clock::truncate(window.ends_at),
        local_date: window.local_date.to_string(),
        purpose: purpose.to_owned(),
        notes,
        status: wire_code(RoundStatus::Planned),
        checked_in_by: None,
        checked_in_at: None,
        check_in_lat: None,
        check_in_lon: None,
        check_in_distance_m: None,
        check_in_reason: None,
        checked_out_by: None,
        checked_out_at: None,
        report: None,
        created_by: created_by.to_owned(),
        version: 1,
        created_at: at,
        updated_at: at,
        check_out_lat: None,
        check_out_lon: None,
        missed_at: None,
        checked_in_received_at: None,
        checked_out_received_at: None,
    }
}

fn planned_round(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<(RoundRow, TeamRow)> {
    let row = load(conn, id)?;
    let team = teams::planned_by(conn, user, &row.team_id).map_err(|_| ApiError::not_found("round"))?;
    Ok((row, team))
}

/// Changes one round that has not started. A round of a series is detached from it.
pub fn update(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &UpdateRound,
    now: DateTime<Utc>,
) -> ApiResult<Round> {
    let (row, team) = planned_round(tx, user, id)?;
    if request.version != row.version {
        let current = view(tx, index, &row)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    if row.status()? != RoundStatus::Planned {
        return Err(ApiError::conflict(format!("the round is {}; only a planned round is changed", row.status)));
    }
    if let Some(purpose) = &request.purpose {
        check_purpose(tx, purpose)?;
    }
    let tz = hotspot_service::agency_zone(tx, &team.agency_id)?;
    let unchanged = |t: NaiveDateTime| LocalOrInstant::from(to_utc(t));
    let window = round_window(
        tz,
        request.starts_at.unwrap_or_else(|| unchanged(row.starts_at)),
        request.ends_at.unwrap_or_else(|| unchanged(row.ends_at)),
    )?;
    in_past(&window, now)?;
    let policy = super::policy::policy_of(tx, &team.agency_id)?;
    let busy = busy(tx, &team, &window, Some(id), &policy)?;
    if !busy.is_empty() {
        return Err(conflict(busy));
    }
    let at = crate::clock::truncate(now);
    let changed = diesel::update(rounds::table.filter(rounds::id.eq(id)).filter(rounds::version.eq(row.version)))
        .set((
            rounds::starts_at.eq(crate::clock::truncate(window.starts_at)),
            rounds::ends_at.eq(crate::clock::truncate(window.ends_at)),
            rounds::local_date.eq(window.local_date.to_string()),
            rounds::purpose.eq(request.purpose.as_ref().unwrap_or(&row.purpose)),
            rounds::notes.eq(request.notes.clone().or(row.notes.clone())),
            rounds::detached.eq(row.series_id.is_some()),
            rounds::version.eq(row.version + 1),
            rounds::updated_at.eq(at),
        ))
        .execute(tx.conn())?;
    if changed == 0 {
        return Err(ApiError::new(ErrorCode::VersionMismatch));
    }
    if let Some(stops) = &request.stops {
        let stops = resolve_stops(tx, index, user, stops)?;
        write_stops(tx, id, &stops)?;
    }
    let updated = load(tx, id)?;
    schedule_missed_check(tx, &updated, &policy)?;
    audit::record(tx, &user.actor(), at, "round.update", "round", id, json!({ "detached": updated.detached }))?;
    view(tx, index, &updated)
}

pub fn cancel(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Round> {
    let (row, _) = planned_round(tx, user, id)?;
    let changed = diesel::update(
        rounds::table.filter(rounds::id.eq(id)).filter(rounds::status.eq(wire_code(RoundStatus::Planned))),
    )
    .set((
        rounds::status.eq(wire_code(RoundStatus::Cancelled)),
        rounds::detached.eq(row.series_id.is_some()),
        rounds::version.eq(rounds::version + 1),
        rounds::updated_at.eq(at),
    ))
    .execute(tx.conn())?;
    if changed == 0 && row.status()? != RoundStatus::Cancelled {
        return Err(ApiError::conflict(format!("the round is {}; only a planned round is cancelled", row.status)));
    }
    audit::record(tx, &user.actor(), at, "round.cancel", "round", id, json!({}))?;
    reload(tx, index, id)
}
