//! Planning rounds one by one: windows in local time, stops inside the agency's areas, conflicts
//! with other rounds and with duty, edits and cancellations, and how rounds are shown.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::rounds::{
    CreateRound, PlanningPolicy, Round, RoundListQuery, RoundReport, RoundStatus, RoundStop, StopInput, UpdateRound,
};
use terren_contract::time::LocalOrInstant;

use super::teams::{self, TeamRow};
use crate::access::AuthUser;
use crate::access::ServedAreas;
use crate::accounts::service::{agency_ref_of, person_refs};
use crate::audit;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{hotspots, identifications, round_stops, rounds, team_members, users};
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::parse_uuid;
use crate::outbox::{self, kinds};
use crate::rota::resolve::{end_instant, start_instant};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{is_active_code, parse_wire_code, wire_code};

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
    pub check_out_lat: Option<f64>,
    pub check_out_lon: Option<f64>,
    /// When the missed-round check found nobody checked in; kept after a late check-in.
    pub missed_at: Option<NaiveDateTime>,
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

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<RoundRow>> {
    rounds::table.filter(rounds::id.eq(id)).select(RoundRow::as_select()).get_result(conn).optional()
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<RoundRow> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("round"))
}

pub fn stops_of(conn: &mut DbConnection, round_ids: &[String]) -> QueryResult<Vec<StopRow>> {
    round_stops::table
        .filter(round_stops::round_id.eq_any(round_ids))
        .order((round_stops::round_id.asc(), round_stops::position.asc()))
        .select(StopRow::as_select())
        .load(conn)
}

/// A stop, resolved: a hotspot or an area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub hotspot_id: Option<String>,
    pub area_id: Option<String>,
}

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
            |code: &str, message: &str| FieldError { field: field.clone(), code: code.into(), message: message.into() };
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
                    Some((true, _, _)) => {
                        errors.push(error("outside_agency_area", "the hotspot is outside the areas your agency serves"))
                    }
                    _ => errors.push(error("unknown_hotspot", "no such active hotspot")),
                }
            }
            (None, Some(code)) => match index.find_code(code).map(|a| index.area(a).id.clone()) {
                Some(area_id) if served.cover(&[&Some(area_id.clone())]) => {
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
    Ok(window_at(tz, starts, ends))
}

/// The window of a round as the client sent it: local wall-clock times, or instants with an
/// offset (kept exactly, so that a round read from the API can be written back unchanged), or
/// one of each.
pub(super) fn round_window(tz: Tz, starts: LocalOrInstant, ends: LocalOrInstant) -> ApiResult<Window> {
    if let (LocalOrInstant::Local(starts), LocalOrInstant::Local(ends)) = (starts, ends) {
        return local_window(tz, starts, ends);
    }
    let instant = |time: LocalOrInstant, local: fn(Tz, NaiveDateTime) -> DateTime<Utc>| match time {
        LocalOrInstant::Local(wall) => local(tz, wall),
        LocalOrInstant::Instant(at) => at.with_timezone(&Utc),
    };
    let starts_at = instant(starts, start_instant);
    let ends_at = instant(ends, end_instant);
    if ends_at <= starts_at {
        return Err(ApiError::field("ends_at", "ends_before_start", "the round ends after it starts"));
    }
    if ends_at - starts_at > chrono::Duration::hours(MAX_ROUND_HOURS) {
        return Err(ApiError::field("ends_at", "out_of_range", "a round lasts at most 24 hours"));
    }
    Ok(Window { starts_at, ends_at, local_date: starts_at.with_timezone(&tz).date_naive() })
}

/// The instants of a local window (`ends` after `starts`), DST-safe as rotas are: a start in a
/// spring gap moves to the gap's end, an ambiguous autumn hour counts from its first pass to its
/// second.
pub(super) fn window_at(tz: Tz, starts: NaiveDateTime, ends: NaiveDateTime) -> Window {
    let starts_at = start_instant(tz, starts);
    let mut ends_at = end_instant(tz, ends);
    if ends_at <= starts_at {
        // Wholly inside a spring gap the window would shrink to nothing: it keeps its length from
        // the end of the gap instead.
        ends_at = starts_at + (ends - starts);
    }
    Window { starts_at, ends_at, local_date: starts.date() }
}

pub(super) fn in_past(window: &Window, now: DateTime<Utc>) -> ApiResult<()> {
    if window.starts_at < now {
        return Err(ApiError::field("starts_at", "in_past", "a round is planned from now on"));
    }
    Ok(())
}

/// People who cannot go out then: in another round, or (if the agency forbids it) on duty.
pub(super) fn busy(
    conn: &mut DbConnection,
    team: &TeamRow,
    window: &Window,
    exclude_round: Option<&str>,
    policy: &PlanningPolicy,
) -> ApiResult<Vec<String>> {
    let members = teams::member_ids(conn, &team.id)?;
    busy_members(conn, team, &members, window, exclude_round, policy)
}

/// Which of `members` cannot go out with `team` then, and why.
pub(super) fn busy_members(
    conn: &mut DbConnection,
    team: &TeamRow,
    members: &[String],
    window: &Window,
    exclude_round: Option<&str>,
    policy: &PlanningPolicy,
) -> ApiResult<Vec<String>> {
    // Held to the commit, so that the round (or membership) written after this check cannot
    // cross another coordinator's.
    crate::db::backend::serialise_writers(conn, "rounds")?;
    let (starts, ends) = (crate::clock::truncate(window.starts_at), crate::clock::truncate(window.ends_at));
    let open = [wire_code(RoundStatus::Planned), wire_code(RoundStatus::InProgress)];
    let mut clashes: Vec<(String, String)> = rounds::table
        .inner_join(team_members::table.on(team_members::team_id.eq(rounds::team_id)))
        .filter(team_members::user_id.eq_any(members))
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
        // The rotas of every member's agency: in a joint team, the police officer's own rota.
        let mut agencies: Vec<String> =
            users::table.filter(users::id.eq_any(members)).select(users::agency_id).distinct().load(conn)?;
        agencies.push(team.agency_id.clone());
        agencies.sort();
        agencies.dedup();
        let schedules = crate::rota::service::live_schedules(conn, &agencies)?;
        for (_, schedule_id, _) in schedules {
            let loaded = crate::rota::service::load(conn, &schedule_id)?;
            for shift in loaded.resolve(conn, window.starts_at, window.ends_at)? {
                for person in shift.people.iter().filter(|p| members.contains(*p)) {
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

pub(super) fn conflict(mut described: Vec<String>) -> ApiError {
    // The first few say enough; a long series could clash on every day.
    described.truncate(5);
    ApiError::new(ErrorCode::RoundConflict).with_detail(described.join("; "))
}

pub(super) fn insert_round(
    conn: &mut DbConnection,
    row: &RoundRow,
    stops: &[Stop],
    policy: &PlanningPolicy,
) -> ApiResult<()> {
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

pub(super) fn check_purpose(conn: &mut DbConnection, purpose: &str) -> ApiResult<()> {
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
    teams::ensure_active(&team)?;
    let id = request.id.to_string();
    let tz = hotspot_service::agency_zone(conn, &team.agency_id)?;
    let window = round_window(tz, request.starts_at, request.ends_at)?;
    if let Some(existing) = find(conn, &id)? {
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
    let policy = super::policy::policy_of(conn, &team.agency_id)?;
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
    let unchanged = |t: NaiveDateTime| LocalOrInstant::from(to_utc(t));
    let window = round_window(
        tz,
        request.starts_at.unwrap_or_else(|| unchanged(row.starts_at)),
        request.ends_at.unwrap_or_else(|| unchanged(row.ends_at)),
    )?;
    in_past(&window, now)?;
    let policy = super::policy::policy_of(conn, &team.agency_id)?;
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
