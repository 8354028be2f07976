//! Planning rounds: one-off rounds, weekly series planned eight weeks ahead (an edited occurrence
//! is detached and left alone), conflicts, the agency's planning policy, and round views.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::rounds::{
    CreateRound, PlanningPolicy, PutRoundSeries, Round, RoundListQuery, RoundReport, RoundSeries, RoundStatus,
    RoundStop, StopInput, TimeWindow, UpdateRound,
};
use terren_contract::schedules::WeekdayCode;
use uuid::Uuid;

use super::teams::{self, TeamRow};
use crate::accounts::service::{agency_ref_of, parse_uuid, person_refs};
use crate::audit;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{
    hotspots, identifications, planning_policies, round_series, round_stops, rounds, team_members,
};
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult, AuthUser, ErrorCode};
use crate::identifications::service::{area_ref, scope_area_ids};
use crate::outbox::{self, kinds};
use crate::rota::layers::{parse_local_time, weekday};
use crate::rota::resolve::{end_instant, start_instant};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::{is_active_code, parse_wire_code, wire_code};

/// How far ahead a series plans its rounds.
pub const PLAN_AHEAD_WEEKS: u64 = 8;
/// The longest round.
const MAX_ROUND_HOURS: i64 = 24;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rounds)]
pub struct RoundRow {
    pub id: String,
    pub team_id: String,
    pub agency_id: String,
    pub series_id: Option<String>,
    pub occurrence_key: Option<String>,
    pub detached: bool,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub local_date: String,
    pub purpose: String,
    pub notes: Option<String>,
    pub status: String,
    pub checked_in_by: Option<String>,
    pub checked_in_at: Option<NaiveDateTime>,
    pub check_in_lat: Option<f64>,
    pub check_in_lon: Option<f64>,
    pub check_in_distance_m: Option<f64>,
    pub check_in_reason: Option<String>,
    pub checked_out_by: Option<String>,
    pub checked_out_at: Option<NaiveDateTime>,
    pub report: Option<String>,
    pub created_by: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl RoundRow {
    pub fn status(&self) -> ApiResult<RoundStatus> {
        parse_wire_code(&self.status)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = round_stops)]
pub struct StopRow {
    pub round_id: String,
    pub position: i32,
    pub hotspot_id: Option<String>,
    pub area_id: Option<String>,
    pub arrived_at: Option<NaiveDateTime>,
    pub arrived_lat: Option<f64>,
    pub arrived_lon: Option<f64>,
    pub left_at: Option<NaiveDateTime>,
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<RoundRow> {
    rounds::table
        .filter(rounds::id.eq(id))
        .select(RoundRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("round"))
}

pub fn stops_of(conn: &mut DbConnection, round_ids: &[String]) -> QueryResult<Vec<StopRow>> {
    round_stops::table
        .filter(round_stops::round_id.eq_any(round_ids))
        .order((round_stops::round_id.asc(), round_stops::position.asc()))
        .select(StopRow::as_select())
        .load(conn)
}

pub fn default_policy() -> PlanningPolicy {
    PlanningPolicy { forbid_rounds_while_on_duty: false, missed_after_minutes: 30, far_check_in_km: 30.0 }
}

pub fn policy_of(conn: &mut DbConnection, agency_id: &str) -> ApiResult<PlanningPolicy> {
    let stored: Option<String> = planning_policies::table
        .filter(planning_policies::agency_id.eq(agency_id))
        .select(planning_policies::policy)
        .get_result(conn)
        .optional()?;
    match stored {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored planning policy of {agency_id}: {e}"))),
        None => Ok(default_policy()),
    }
}

pub fn put_policy(
    conn: &mut DbConnection,
    user: &AuthUser,
    agency_id: &str,
    policy: &PlanningPolicy,
    at: NaiveDateTime,
) -> ApiResult<PlanningPolicy> {
    user.require(Permission::PlanningManage)?;
    if user.agency.id != agency_id {
        return Err(ApiError::forbidden("an agency's planning policy is set by its own planners"));
    }
    let text = serde_json::to_string(policy).map_err(anyhow::Error::from)?;
    let exists: i64 =
        planning_policies::table.filter(planning_policies::agency_id.eq(agency_id)).count().get_result(conn)?;
    if exists > 0 {
        diesel::update(planning_policies::table.filter(planning_policies::agency_id.eq(agency_id)))
            .set((
                planning_policies::policy.eq(&text),
                planning_policies::version.eq(planning_policies::version + 1),
                planning_policies::updated_by.eq(&user.user_id),
                planning_policies::updated_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(planning_policies::table)
            .values((
                planning_policies::agency_id.eq(agency_id),
                planning_policies::policy.eq(&text),
                planning_policies::version.eq(1),
                planning_policies::updated_by.eq(&user.user_id),
                planning_policies::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    audit::record(conn, &user.actor(), at, "planning_policy.put", "agency", agency_id, json!(policy))?;
    Ok(policy.clone())
}

/// A stop, resolved: a hotspot or an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub hotspot_id: Option<String>,
    pub area_id: Option<String>,
}

/// Checks the stops: each names one active hotspot or one area, inside the agency's areas.
fn resolve_stops(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    stops: &[StopInput],
) -> ApiResult<Vec<Stop>> {
    let scope = scope_area_ids(index, user);
    let in_scope = |ids: &[&Option<String>]| {
        user.national_scope() || ids.iter().any(|id| id.as_ref().is_some_and(|id| scope.contains(id)))
    };
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    for (i, stop) in stops.iter().enumerate() {
        let field = format!("stops[{i}]");
        let error =
            |code: &str, message: &str| FieldError { field: field.clone(), code: code.into(), message: message.into() };
        match (&stop.hotspot_id, &stop.area_code) {
            (Some(id), None) => {
                let found: Option<(bool, Option<String>, Option<String>)> = hotspots::table
                    .filter(hotspots::id.eq(id.to_string()))
                    .select((hotspots::active, hotspots::municipality_id, hotspots::admin_unit_id))
                    .get_result(conn)
                    .optional()?;
                match found {
                    Some((true, municipality, unit)) if in_scope(&[&municipality, &unit]) => {
                        resolved.push(Stop { hotspot_id: Some(id.to_string()), area_id: None });
                    }
                    Some((true, _, _)) => {
                        errors.push(error("outside_agency_area", "the hotspot is outside the areas your agency serves"))
                    }
                    _ => errors.push(error("unknown_hotspot", "no such active hotspot")),
                }
            }
            (None, Some(code)) => match index.find_code(code).map(|a| index.area(a).id.clone()) {
                Some(area_id) if in_scope(&[&Some(area_id.clone())]) => {
                    resolved.push(Stop { hotspot_id: None, area_id: Some(area_id) });
                }
                Some(_) => {
                    errors.push(error("outside_agency_area", "the area is outside the areas your agency serves"))
                }
                None => errors.push(error("unknown_area", "no such area")),
            },
            _ => errors.push(error("invalid_value", "give hotspot_id or area_code")),
        }
    }
    if errors.is_empty() { Ok(resolved) } else { Err(ApiError::fields(errors)) }
}

/// A window in UTC from local wall-clock times in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub local_date: NaiveDate,
}

fn local_window(tz: Tz, starts: NaiveDateTime, ends: NaiveDateTime) -> ApiResult<Window> {
    if ends <= starts {
        return Err(ApiError::field("ends_at", "ends_before_start", "the round ends after it starts"));
    }
    if ends - starts > chrono::Duration::hours(MAX_ROUND_HOURS) {
        return Err(ApiError::field("ends_at", "out_of_range", "a round lasts at most 24 hours"));
    }
    Ok(Window { starts_at: start_instant(tz, starts), ends_at: end_instant(tz, ends), local_date: starts.date() })
}

fn in_past(window: &Window, now: DateTime<Utc>) -> ApiResult<()> {
    if window.starts_at < now {
        return Err(ApiError::field("starts_at", "in_past", "a round is planned from now on"));
    }
    Ok(())
}

/// People who cannot go out then: in another round, or (if the agency forbids it) on duty.
fn busy(
    conn: &mut DbConnection,
    team: &TeamRow,
    window: &Window,
    exclude_round: Option<&str>,
    policy: &PlanningPolicy,
) -> ApiResult<Vec<String>> {
    let members = teams::member_ids(conn, &team.id)?;
    let (starts, ends) = (crate::clock::truncate(window.starts_at), crate::clock::truncate(window.ends_at));
    let open = [wire_code(RoundStatus::Planned), wire_code(RoundStatus::InProgress)];
    let mut clashes: Vec<(String, String)> = rounds::table
        .inner_join(team_members::table.on(team_members::team_id.eq(rounds::team_id)))
        .filter(team_members::user_id.eq_any(&members))
        .filter(rounds::status.eq_any(open))
        .filter(rounds::starts_at.lt(ends))
        .filter(rounds::ends_at.gt(starts))
        .filter(rounds::id.ne(exclude_round.unwrap_or_default()))
        .select((team_members::user_id, rounds::local_date))
        .load(conn)?
        .into_iter()
        .map(|(user, date): (String, String)| (user, format!("in another round on {date}")))
        .collect();
    if policy.forbid_rounds_while_on_duty {
        let schedules = crate::rota::service::live_schedules(conn, std::slice::from_ref(&team.agency_id))?;
        for (_, schedule_id, _) in schedules {
            let loaded = crate::rota::service::load(conn, &schedule_id)?;
            for shift in loaded.resolve(conn, window.starts_at, window.ends_at)? {
                for person in shift.people.iter().filter(|p| members.contains(p)) {
                    clashes.push((person.clone(), "on duty in the rota".into()));
                }
            }
        }
    }
    let people: BTreeSet<String> = clashes.iter().map(|(p, _)| p.clone()).collect();
    let names = person_refs(conn, &people)?;
    let mut described: Vec<String> = clashes
        .into_iter()
        .map(|(person, why)| format!("{} is {why}", names.get(&person).map_or(person.as_str(), |p| &p.display_name)))
        .collect();
    described.sort();
    described.dedup();
    Ok(described)
}

fn conflict(described: Vec<String>) -> ApiError {
    ApiError::new(ErrorCode::RoundConflict).with_detail(described.join("; "))
}

fn insert_round(conn: &mut DbConnection, row: &RoundRow, stops: &[Stop], policy: &PlanningPolicy) -> ApiResult<()> {
    diesel::insert_into(rounds::table).values(row).execute(conn)?;
    write_stops(conn, &row.id, stops)?;
    schedule_missed_check(conn, row, policy)?;
    Ok(())
}

fn write_stops(conn: &mut DbConnection, round_id: &str, stops: &[Stop]) -> QueryResult<()> {
    diesel::delete(round_stops::table.filter(round_stops::round_id.eq(round_id))).execute(conn)?;
    for (position, stop) in stops.iter().enumerate() {
        diesel::insert_into(round_stops::table)
            .values((
                round_stops::round_id.eq(round_id),
                round_stops::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                round_stops::hotspot_id.eq(&stop.hotspot_id),
                round_stops::area_id.eq(&stop.area_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// What the missed-round check carries: the start it was planned for, so that a round moved
/// later is judged by its new start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MissedCheck {
    pub round_id: String,
    pub starts_at: NaiveDateTime,
}

fn schedule_missed_check(conn: &mut DbConnection, row: &RoundRow, policy: &PlanningPolicy) -> QueryResult<bool> {
    let due = row.starts_at + chrono::Duration::minutes(i64::from(policy.missed_after_minutes));
    outbox::enqueue(
        conn,
        kinds::ROUND_MISSED_CHECK,
        &json!(MissedCheck { round_id: row.id.clone(), starts_at: row.starts_at }),
        &format!("round:{}:missed:{}", row.id, row.starts_at.and_utc().timestamp()),
        due,
        row.created_at,
    )
}

fn check_purpose(conn: &mut DbConnection, purpose: &str) -> ApiResult<()> {
    if is_active_code(conn, "round_purpose", purpose)? {
        Ok(())
    } else {
        Err(ApiError::field("purpose", "unknown_code", format!("{purpose} is not a round_purpose code")))
    }
}

pub fn create(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateRound,
    now: DateTime<Utc>,
) -> ApiResult<(Round, bool)> {
    let team = teams::planned_by(conn, user, &request.team_id.to_string())?;
    let id = request.id.to_string();
    let tz = hotspot_service::agency_zone(conn, &team.agency_id)?;
    let window = local_window(tz, request.starts_at, request.ends_at)?;
    if let Ok(existing) = load(conn, &id) {
        // The same person planning the same round again (a retry without its key).
        let same = existing.created_by == user.user_id
            && existing.team_id == team.id
            && existing.starts_at == crate::clock::truncate(window.starts_at)
            && existing.ends_at == crate::clock::truncate(window.ends_at)
            && existing.purpose == request.purpose;
        return if same {
            Ok((view(conn, index, &existing)?, false))
        } else {
            Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different round has this id"))
        };
    }
    check_purpose(conn, &request.purpose)?;
    let stops = resolve_stops(conn, index, user, &request.stops)?;
    in_past(&window, now)?;
    let policy = policy_of(conn, &team.agency_id)?;
    let busy = busy(conn, &team, &window, None, &policy)?;
    if !busy.is_empty() {
        return Err(conflict(busy));
    }
    let at = crate::clock::truncate(now);
    let notes = request.notes.as_ref().map(|n| n.trim().to_owned());
    let row = new_row(&team, id.clone(), &user.user_id, &window, &request.purpose, notes, at);
    insert_round(conn, &row, &stops, &policy)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "round.create",
        "round",
        &id,
        json!({ "team_id": team.id, "starts_at": row.starts_at, "ends_at": row.ends_at }),
    )?;
    Ok((reload(conn, index, &id)?, true))
}

fn new_row(
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
    }
}

fn planned_round(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<(RoundRow, TeamRow)> {
    let row = load(conn, id)?;
    let team = teams::planned_by(conn, user, &row.team_id).map_err(|_| ApiError::not_found("round"))?;
    Ok((row, team))
}

/// Changes one round that has not started. A round of a series is detached from it.
pub fn update(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &UpdateRound,
    now: DateTime<Utc>,
) -> ApiResult<Round> {
    let (row, team) = planned_round(conn, user, id)?;
    if request.version != row.version {
        let current = view(conn, index, &row)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    if row.status()? != RoundStatus::Planned {
        return Err(ApiError::conflict(format!("the round is {}; only a planned round is changed", row.status)));
    }
    if let Some(purpose) = &request.purpose {
        check_purpose(conn, purpose)?;
    }
    let tz = hotspot_service::agency_zone(conn, &team.agency_id)?;
    let local = |t: NaiveDateTime| to_utc(t).with_timezone(&tz).naive_local();
    let window = local_window(
        tz,
        request.starts_at.unwrap_or_else(|| local(row.starts_at)),
        request.ends_at.unwrap_or_else(|| local(row.ends_at)),
    )?;
    in_past(&window, now)?;
    let policy = policy_of(conn, &team.agency_id)?;
    let busy = busy(conn, &team, &window, Some(id), &policy)?;
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
        .execute(conn)?;
    if changed == 0 {
        return Err(ApiError::new(ErrorCode::VersionMismatch));
    }
    if let Some(stops) = &request.stops {
        let stops = resolve_stops(conn, index, user, stops)?;
        write_stops(conn, id, &stops)?;
    }
    let updated = load(conn, id)?;
    schedule_missed_check(conn, &updated, &policy)?;
    audit::record(conn, &user.actor(), at, "round.update", "round", id, json!({ "detached": updated.detached }))?;
    view(conn, index, &updated)
}

pub fn cancel(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Round> {
    let (row, _) = planned_round(conn, user, id)?;
    let changed = diesel::update(
        rounds::table.filter(rounds::id.eq(id)).filter(rounds::status.eq(wire_code(RoundStatus::Planned))),
    )
    .set((
        rounds::status.eq(wire_code(RoundStatus::Cancelled)),
        rounds::detached.eq(row.series_id.is_some()),
        rounds::version.eq(rounds::version + 1),
        rounds::updated_at.eq(at),
    ))
    .execute(conn)?;
    if changed == 0 && row.status()? != RoundStatus::Cancelled {
        return Err(ApiError::conflict(format!("the round is {}; only a planned round is cancelled", row.status)));
    }
    audit::record(conn, &user.actor(), at, "round.cancel", "round", id, json!({}))?;
    reload(conn, index, id)
}

/// A series' rule as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rule {
    weekdays: Vec<WeekdayCode>,
    windows: Vec<TimeWindow>,
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = round_series)]
pub struct SeriesRow {
    pub id: String,
    pub team_id: String,
    pub agency_id: String,
    pub rule: String,
    pub purpose: String,
    pub stops: String,
    pub notes: Option<String>,
    pub time_zone: String,
    pub planned_until: String,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SeriesRow {
    fn rule(&self) -> ApiResult<Rule> {
        serde_json::from_str(&self.rule)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored rule of series {}: {e}", self.id)))
    }

    fn stops(&self) -> Vec<Stop> {
        let stored: Vec<(Option<String>, Option<String>)> = serde_json::from_str(&self.stops).unwrap_or_default();
        stored.into_iter().map(|(hotspot_id, area_id)| Stop { hotspot_id, area_id }).collect()
    }

    fn tz(&self) -> Tz {
        crate::rota::layers::parse_time_zone(&self.time_zone).unwrap_or(chrono_tz::Europe::Tirane)
    }
}

/// Parsed windows of a rule, or the errors in them.
fn parse_windows(windows: &[TimeWindow]) -> ApiResult<Vec<(NaiveTime, NaiveTime)>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (i, window) in windows.iter().enumerate() {
        match (parse_local_time(&window.starts), parse_local_time(&window.ends)) {
            (Some(starts), Some(ends)) if ends > starts => parsed.push((starts, ends)),
            (Some(_), Some(_)) => errors.push(FieldError {
                field: format!("windows[{i}].ends"),
                code: "ends_before_start".into(),
                message: "a window ends after it starts, on the same day".into(),
            }),
            _ => errors.push(FieldError {
                field: format!("windows[{i}]"),
                code: "invalid_time".into(),
                message: "HH:MM".into(),
            }),
        }
    }
    parsed.sort();
    if errors.is_empty() && parsed.windows(2).any(|pair| pair[1].0 < pair[0].1) {
        errors.push(FieldError {
            field: "windows".into(),
            code: "overlapping_windows".into(),
            message: "the windows of a day overlap".into(),
        });
    }
    if errors.is_empty() { Ok(parsed) } else { Err(ApiError::fields(errors)) }
}

/// The rounds a rule plans on the local days `from..=until`, with their occurrence keys.
fn occurrences(
    series_id: &str,
    rule: &Rule,
    windows: &[(NaiveTime, NaiveTime)],
    tz: Tz,
    from: NaiveDate,
    until: NaiveDate,
) -> Vec<(String, Window)> {
    let days: std::collections::HashSet<chrono::Weekday> = rule.weekdays.iter().map(|d| weekday(*d)).collect();
    let mut found = Vec::new();
    let mut day = from.max(rule.starts_on);
    let last = rule.ends_on.map_or(until, |end| end.min(until));
    while day <= last {
        if days.contains(&day.weekday()) {
            for (n, (starts, ends)) in windows.iter().enumerate() {
                let window = Window {
                    starts_at: start_instant(tz, day.and_time(*starts)),
                    ends_at: end_instant(tz, day.and_time(*ends)),
                    local_date: day,
                };
                found.push((format!("{series_id}|{day}|{n}"), window));
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    found
}

fn series_view(conn: &mut DbConnection, index: &TerritoryIndex, row: &SeriesRow) -> ApiResult<RoundSeries> {
    let rule = row.rule()?;
    let team = teams::load(conn, &row.team_id)?;
    let stops = row
        .stops()
        .into_iter()
        .map(|stop| StopInput {
            hotspot_id: stop.hotspot_id.as_deref().and_then(|id| id.parse().ok()),
            area_code: stop.area_id.as_ref().and_then(|id| area_ref(index, &Some(id.clone()))).map(|a| a.code),
        })
        .collect();
    Ok(RoundSeries {
        id: parse_uuid(&row.id)?,
        team: team.as_ref()?,
        weekdays: rule.weekdays,
        windows: rule.windows,
        starts_on: rule.starts_on,
        ends_on: rule.ends_on,
        purpose: row.purpose.clone(),
        stops,
        notes: row.notes.clone(),
        planned_until: row.planned_until.parse().unwrap_or(rule.starts_on),
        time_zone: row.time_zone.clone(),
        version: row.version,
    })
}

pub fn load_series(conn: &mut DbConnection, id: &str) -> ApiResult<SeriesRow> {
    round_series::table
        .filter(round_series::id.eq(id))
        .select(SeriesRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("round series"))
}

pub fn get_series(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<RoundSeries> {
    let row = load_series(conn, id)?;
    teams::visible(conn, user, &row.team_id).map_err(|_| ApiError::not_found("round series"))?;
    series_view(conn, index, &row)
}

/// Plans a series' rounds on the local days `from..=until` that are not planned yet; with
/// `strict`, a busy member refuses the whole series (when a person saves it), otherwise the
/// round is planned anyway and its conflict shows when the team is asked (the daily extension).
fn plan_series(
    conn: &mut DbConnection,
    row: &SeriesRow,
    from: NaiveDate,
    until: NaiveDate,
    strict: bool,
    at: NaiveDateTime,
) -> ApiResult<usize> {
    let rule = row.rule()?;
    let windows = parse_windows(&rule.windows)?;
    let team = teams::load(conn, &row.team_id)?;
    let policy = policy_of(conn, &row.agency_id)?;
    let stops = row.stops();
    let mut planned = 0;
    let mut refusals = Vec::new();
    for (key, window) in occurrences(&row.id, &rule, &windows, row.tz(), from, until) {
        let exists: i64 = rounds::table.filter(rounds::occurrence_key.eq(&key)).count().get_result(conn)?;
        if exists > 0 || window.starts_at < to_utc(at) {
            continue;
        }
        if strict {
            let busy = busy(conn, &team, &window, None, &policy)?;
            if !busy.is_empty() {
                refusals.push(format!("{}: {}", window.local_date, busy.join(", ")));
                continue;
            }
        }
        let mut round =
            new_row(&team, Uuid::now_v7().to_string(), &row.created_by, &window, &row.purpose, row.notes.clone(), at);
        round.series_id = Some(row.id.clone());
        round.occurrence_key = Some(key);
        insert_round(conn, &round, &stops, &policy)?;
        planned += 1;
    }
    if !refusals.is_empty() {
        refusals.truncate(5);
        return Err(conflict(refusals));
    }
    diesel::update(round_series::table.filter(round_series::id.eq(&row.id)))
        .set(round_series::planned_until.eq(until.to_string()))
        .execute(conn)?;
    Ok(planned)
}

fn local_today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Creates (`id` absent) or replaces a series. Replacing re-plans the rounds that have not
/// started and were not changed by hand.
pub fn put_series(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&str>,
    request: &PutRoundSeries,
    now: DateTime<Utc>,
) -> ApiResult<(RoundSeries, bool)> {
    let team = teams::planned_by(conn, user, &request.team_id.to_string())?;
    check_purpose(conn, &request.purpose)?;
    let windows = parse_windows(&request.windows)?;
    let stops = resolve_stops(conn, index, user, &request.stops)?;
    let tz = hotspot_service::agency_zone(conn, &team.agency_id)?;
    let today = local_today(tz, now);
    let rule = Rule {
        weekdays: request.weekdays.clone(),
        windows: request.windows.clone(),
        starts_on: request.starts_on,
        ends_on: request.ends_on,
    };
    if request.ends_on.is_some_and(|end| end < request.starts_on) {
        return Err(ApiError::field("ends_on", "ends_before_start", "ends_on is on or after starts_on"));
    }
    if request.ends_on.is_some_and(|end| end < today) {
        return Err(ApiError::field("ends_on", "in_past", "the series ends before today"));
    }
    let horizon = today.checked_add_days(Days::new(PLAN_AHEAD_WEEKS * 7)).unwrap_or(today);
    let first_year = request.starts_on.max(today).checked_add_days(Days::new(366)).unwrap_or(horizon);
    let probe_id = id.unwrap_or("probe");
    if occurrences(probe_id, &rule, &windows, tz, request.starts_on.max(today), first_year)
        .iter()
        .all(|(_, w)| w.starts_at < now)
    {
        return Err(ApiError::field("weekdays", "generates_nothing", "the rule plans no round from today on"));
    }
    let at = crate::clock::truncate(now);
    let stored_stops =
        serde_json::to_string(&stops.iter().map(|s| (s.hotspot_id.clone(), s.area_id.clone())).collect::<Vec<_>>())
            .map_err(anyhow::Error::from)?;
    let rule_text = serde_json::to_string(&rule).map_err(anyhow::Error::from)?;
    let (series_id, created) = match id {
        None => {
            let series_id = Uuid::now_v7().to_string();
            diesel::insert_into(round_series::table)
                .values((
                    round_series::id.eq(&series_id),
                    round_series::team_id.eq(&team.id),
                    round_series::agency_id.eq(&team.agency_id),
                    round_series::rule.eq(&rule_text),
                    round_series::purpose.eq(&request.purpose),
                    round_series::stops.eq(&stored_stops),
                    round_series::notes.eq(&request.notes),
                    round_series::time_zone.eq(tz.name()),
                    round_series::planned_until.eq(today.to_string()),
                    round_series::version.eq(1),
                    round_series::created_by.eq(&user.user_id),
                    round_series::created_at.eq(at),
                    round_series::updated_at.eq(at),
                ))
                .execute(conn)?;
            (series_id, true)
        }
        Some(id) => {
            let current = load_series(conn, id)?;
            if current.agency_id != user.agency.id {
                return Err(ApiError::not_found("round series"));
            }
            if request.version != Some(current.version) {
                let view = series_view(conn, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(view).map_err(anyhow::Error::from)?));
            }
            diesel::update(round_series::table.filter(round_series::id.eq(id)))
                .set((
                    round_series::team_id.eq(&team.id),
                    round_series::rule.eq(&rule_text),
                    round_series::purpose.eq(&request.purpose),
                    round_series::stops.eq(&stored_stops),
                    round_series::notes.eq(&request.notes),
                    round_series::version.eq(current.version + 1),
                    round_series::updated_at.eq(at),
                ))
                .execute(conn)?;
            let replaced: Vec<String> = rounds::table
                .filter(rounds::series_id.eq(id))
                .filter(rounds::detached.eq(false))
                .filter(rounds::status.eq(wire_code(RoundStatus::Planned)))
                .filter(rounds::starts_at.gt(at))
                .select(rounds::id)
                .load(conn)?;
            diesel::delete(round_stops::table.filter(round_stops::round_id.eq_any(&replaced))).execute(conn)?;
            diesel::delete(rounds::table.filter(rounds::id.eq_any(&replaced))).execute(conn)?;
            (id.to_owned(), false)
        }
    };
    let row = load_series(conn, &series_id)?;
    let planned = plan_series(conn, &row, today, horizon, true, at)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        if created { "round_series.create" } else { "round_series.update" },
        "round_series",
        &series_id,
        json!({ "team_id": team.id, "rounds_planned": planned }),
    )?;
    let saved = load_series(conn, &series_id)?;
    Ok((series_view(conn, index, &saved)?, created))
}

/// The daily job: every series plans its rounds up to eight weeks ahead.
pub fn plan_ahead(conn: &mut DbConnection, now: DateTime<Utc>) -> ApiResult<usize> {
    let at = crate::clock::truncate(now);
    let all: Vec<SeriesRow> = round_series::table.select(SeriesRow::as_select()).load(conn)?;
    let mut planned = 0;
    for row in all {
        let today = local_today(row.tz(), now);
        let horizon = today.checked_add_days(Days::new(PLAN_AHEAD_WEEKS * 7)).unwrap_or(today);
        let from: NaiveDate = row.planned_until.parse().unwrap_or(today);
        if from >= horizon || row.rule()?.ends_on.is_some_and(|end| end < from) {
            continue;
        }
        planned += plan_series(conn, &row, from, horizon, false, at)?;
    }
    Ok(planned)
}

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
    let team_ids: Vec<String> = rows.iter().map(|r| r.team_id.clone()).collect();
    let team_names: HashMap<String, String> = crate::db::schema::teams::table
        .filter(crate::db::schema::teams::id.eq_any(&team_ids))
        .select((crate::db::schema::teams::id, crate::db::schema::teams::name))
        .load::<(String, String)>(conn)?
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
                check_in_distance_m: row.check_in_distance_m,
                check_in_reason: row.check_in_reason.clone(),
                checked_out_at: row.checked_out_at.map(to_utc),
                report,
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

/// A round the person may see: of their agency, or of a team they are in.
pub fn visible(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<RoundRow> {
    let row = load(conn, id)?;
    if row.agency_id == user.agency.id || teams::is_member(conn, &row.team_id, &user.user_id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found("round"))
    }
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
        return Err(ApiError::field("to", "before_from", "to is after from"));
    }
    if to - from > chrono::Duration::days(100) {
        return Err(ApiError::field("to", "out_of_range", "at most 100 days"));
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
