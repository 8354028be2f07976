//! Schedules, their revisions and overrides in the database; who is on duty when.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::schedules::{
    CreateOverride, CreateSchedule, Gap, Layer as LayerSpec, OnCall, OnDutyPerson, Override, Schedule,
    ScheduleRevision, Shift as ShiftView, ShiftSource, UpdateSchedule,
};
use uuid::Uuid;

use super::cache::OnCallCache;
use super::layers;
use super::resolve::{self, Cover, Revision, Shift, Source};
use crate::access::AuthUser;
use crate::accounts::service::{agency_ref_of, person_ref};
use crate::audit;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{agencies, schedule_overrides, schedule_revisions, schedules, users};
use crate::http::{ApiError, ApiResult};
use crate::ids::parse_uuid;

/// The longest span `shifts` answers for, and the longest override.
pub const MAX_SPAN_DAYS: i64 = 100;
/// How far ahead a 24/7 schedule is checked for holes when it is saved.
pub const COVERAGE_DAYS: i64 = 30;
/// How far ahead `on-call` looks for the next handoff.
const NEXT_HANDOFF_DAYS: i64 = 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules)]
pub struct ScheduleRow {
    pub id: String,
    pub agency_id: String,
    pub name: String,
    pub time_zone: String,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub archived_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_revisions)]
struct RevisionRow {
    revision: i32,
    effective_from: NaiveDateTime,
    layers: String,
    created_by: String,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedule_overrides)]
struct OverrideRow {
    id: String,
    schedule_id: String,
    user_id: String,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    reason: Option<String>,
    swap_request_id: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
    cancelled_at: Option<NaiveDateTime>,
}

/// A schedule with what its resolution needs.
pub struct Loaded {
    pub row: ScheduleRow,
    pub tz: Tz,
    revisions: Vec<(RevisionRow, Vec<LayerSpec>)>,
}

impl Loaded {
    fn engine_revisions(&self) -> Vec<Revision> {
        self.revisions
            .iter()
            .map(|(row, specs)| Revision {
                effective_from: to_utc(row.effective_from),
                layers: specs.iter().filter_map(layers::to_engine).collect(),
            })
            .collect()
    }

    /// When the schedule starts to apply: the earliest revision in force.
    pub fn first_effective(&self) -> Option<DateTime<Utc>> {
        self.revisions.iter().map(|(row, _)| to_utc(row.effective_from)).min()
    }

    /// The final schedule over `[from, to)`.
    pub fn resolve(&self, conn: &mut DbConnection, from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<Vec<Shift>> {
        let covers = covers(conn, &self.row.id, from, to)?;
        Ok(resolve::resolve(self.tz, &self.engine_revisions(), &covers, from, to))
    }
}

fn invalid_stored(what: &str, id: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::internal(anyhow::anyhow!("stored {what} of schedule {id} is invalid: {error}"))
}

/// Revisions in force at some time: a revision made later replaces every earlier one that would
/// have started at or after it.
fn in_force(mut rows: Vec<RevisionRow>) -> Vec<RevisionRow> {
    rows.sort_by_key(|row| row.revision);
    let mut kept: Vec<RevisionRow> = Vec::new();
    for row in rows {
        kept.retain(|earlier| earlier.effective_from < row.effective_from);
        kept.push(row);
    }
    kept
}

pub fn load(conn: &mut DbConnection, id: &str) -> ApiResult<Loaded> {
    let row: ScheduleRow = schedules::table
        .filter(schedules::id.eq(id))
        .select(ScheduleRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("schedule"))?;
    let tz = layers::parse_time_zone(&row.time_zone).ok_or_else(|| invalid_stored("time zone", id, &row.time_zone))?;
    let rows: Vec<RevisionRow> = schedule_revisions::table
        .filter(schedule_revisions::schedule_id.eq(id))
        .select(RevisionRow::as_select())
        .load(conn)?;
    let revisions = in_force(rows)
        .into_iter()
        .map(|row| {
            let specs: Vec<LayerSpec> =
                serde_json::from_str(&row.layers).map_err(|e| invalid_stored("layers", id, e))?;
            Ok((row, specs))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Loaded { row, tz, revisions })
}

/// Overrides touching `[from, to)`; a cancelled one still counts up to its cancellation (the past
/// does not change).
fn covers(conn: &mut DbConnection, schedule_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<Vec<Cover>> {
    let rows: Vec<OverrideRow> = schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .filter(schedule_overrides::ends_at.gt(from.naive_utc()))
        .filter(schedule_overrides::starts_at.lt(to.naive_utc()))
        .select(OverrideRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| Cover {
            start: to_utc(row.starts_at),
            end: to_utc(row.cancelled_at.map_or(row.ends_at, |cancelled| cancelled.min(row.ends_at))),
            id: row.id,
            user_id: row.user_id,
        })
        .collect())
}

/// Active people of an agency: who may be on its rota.
pub fn members(conn: &mut DbConnection, agency_id: &str) -> QueryResult<BTreeSet<String>> {
    Ok(users::table
        .filter(users::agency_id.eq(agency_id))
        .filter(users::disabled_at.is_null())
        .select(users::id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Names and phone numbers of people, by id.
pub fn people(conn: &mut DbConnection, ids: &BTreeSet<String>) -> ApiResult<HashMap<String, OnDutyPerson>> {
    let rows: Vec<(String, String, Option<String>)> =
        users::table.filter(users::id.eq_any(ids)).select((users::id, users::display_name, users::phone)).load(conn)?;
    rows.into_iter()
        .map(|(id, display_name, phone)| Ok((id.clone(), OnDutyPerson { id: parse_uuid(&id)?, display_name, phone })))
        .collect()
}

pub(crate) fn can_manage(user: &AuthUser, agency_id: &str) -> ApiResult<()> {
    user.require(Permission::PlanningManage)?;
    if user.agency.id != agency_id {
        return Err(ApiError::forbidden("rotas are planned by their own agency"));
    }
    Ok(())
}

fn is_24_7(conn: &mut DbConnection, agency_id: &str) -> QueryResult<bool> {
    agencies::table.filter(agencies::id.eq(agency_id)).select(agencies::is_24_7).get_result(conn)
}

/// Uncovered stretches of `loaded` in the next `days`.
pub fn gaps_ahead(conn: &mut DbConnection, loaded: &Loaded, now: DateTime<Utc>, days: i64) -> ApiResult<Vec<Gap>> {
    let shifts = loaded.resolve(conn, now, now + Duration::days(days))?;
    Ok(resolve::gaps(&shifts).into_iter().map(|(start, end)| Gap { start, end }).collect())
}

fn revision_view(conn: &mut DbConnection, row: &RevisionRow, specs: &[LayerSpec]) -> ApiResult<ScheduleRevision> {
    Ok(ScheduleRevision {
        revision: row.revision,
        effective_from: to_utc(row.effective_from),
        layers: specs.to_vec(),
        created_by: person_ref(conn, &row.created_by)?,
        created_at: to_utc(row.created_at),
    })
}

pub fn view(conn: &mut DbConnection, loaded: &Loaded, now: DateTime<Utc>) -> ApiResult<Schedule> {
    let mut current = None;
    let mut upcoming = Vec::new();
    for (row, specs) in &loaded.revisions {
        if to_utc(row.effective_from) <= now {
            current = Some((row, specs));
        } else {
            upcoming.push(revision_view(conn, row, specs)?);
        }
    }
    // Before its first revision takes effect, a schedule shows that one as current.
    let current = match current.or_else(|| loaded.revisions.first().map(|(row, specs)| (row, specs))) {
        Some((row, specs)) => revision_view(conn, row, specs)?,
        None => return Err(invalid_stored("revisions", &loaded.row.id, "none")),
    };
    upcoming.retain(|r| r.revision != current.revision);
    let coverage_gaps =
        if is_24_7(conn, &loaded.row.agency_id)? { gaps_ahead(conn, loaded, now, COVERAGE_DAYS)? } else { Vec::new() };
    Ok(Schedule {
        id: parse_uuid(&loaded.row.id)?,
        agency: agency_ref_of(conn, &loaded.row.agency_id)?,
        name: loaded.row.name.clone(),
        time_zone: loaded.row.time_zone.clone(),
        version: loaded.row.version,
        current,
        upcoming,
        coverage_gaps,
        created_at: to_utc(loaded.row.created_at),
        updated_at: to_utc(loaded.row.updated_at),
    })
}

fn checked_layers(
    conn: &mut DbConnection,
    tz: Tz,
    agency_id: &str,
    specs: &[LayerSpec],
    effective_from: DateTime<Utc>,
) -> ApiResult<()> {
    let members = members(conn, agency_id)?;
    layers::check(tz, specs, &members, effective_from).map(|_| ()).map_err(ApiError::fields)
}

fn layers_json(specs: &[LayerSpec]) -> ApiResult<String> {
    serde_json::to_string(specs).map_err(|e| ApiError::internal(anyhow::Error::from(e)))
}

/// Before now, with a minute's grace for the phone's and the server's clocks.
fn in_past(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at < now - Duration::minutes(1)
}

fn not_in_past(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> ApiResult<()> {
    if in_past(at, now) {
        return Err(ApiError::field(field, "in_past", "past shifts cannot change: choose now or later"));
    }
    Ok(())
}

fn insert_revision(
    conn: &mut DbConnection,
    schedule_id: &str,
    revision: i32,
    effective_from: DateTime<Utc>,
    specs: &[LayerSpec],
    user: &AuthUser,
    at: NaiveDateTime,
) -> ApiResult<()> {
    diesel::insert_into(schedule_revisions::table)
        .values((
            schedule_revisions::id.eq(Uuid::now_v7().to_string()),
            schedule_revisions::schedule_id.eq(schedule_id),
            schedule_revisions::revision.eq(revision),
            schedule_revisions::effective_from.eq(crate::clock::truncate(effective_from)),
            schedule_revisions::layers.eq(layers_json(specs)?),
            schedule_revisions::created_by.eq(&user.user_id),
            schedule_revisions::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn create(
    conn: &mut DbConnection,
    user: &AuthUser,
    request: &CreateSchedule,
    at: NaiveDateTime,
) -> ApiResult<Schedule> {
    let now = to_utc(at);
    let agency_id = request.agency_id.map_or_else(|| user.agency.id.clone(), |id| id.to_string());
    can_manage(user, &agency_id)?;
    let agency_zone: String =
        agencies::table.filter(agencies::id.eq(&agency_id)).select(agencies::time_zone).get_result(conn)?;
    let zone = request.time_zone.clone().unwrap_or(agency_zone);
    let tz = layers::parse_time_zone(&zone)
        .ok_or_else(|| ApiError::field("time_zone", "unknown_time_zone", format!("{zone} is not an IANA time zone")))?;
    let effective_from = request.effective_from.unwrap_or(now);
    not_in_past("effective_from", effective_from, now)?;
    checked_layers(conn, tz, &agency_id, &request.layers, effective_from)?;
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(schedules::table)
        .values((
            schedules::id.eq(&id),
            schedules::agency_id.eq(&agency_id),
            schedules::name.eq(request.name.trim()),
            schedules::time_zone.eq(&zone),
            schedules::version.eq(1),
            schedules::created_by.eq(&user.user_id),
            schedules::created_at.eq(at),
            schedules::updated_at.eq(at),
        ))
        .execute(conn)?;
    insert_revision(conn, &id, 1, effective_from, &request.layers, user, at)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "schedule.create",
        "schedule",
        &id,
        json!({ "name": request.name.trim(), "time_zone": zone, "effective_from": effective_from, "layers": request.layers }),
    )?;
    let loaded = load(conn, &id)?;
    view(conn, &loaded, now)
}

pub fn get(conn: &mut DbConnection, user: &AuthUser, id: &str, now: DateTime<Utc>) -> ApiResult<Schedule> {
    user.require(Permission::ReferenceRead)?;
    let loaded = load(conn, id)?;
    view(conn, &loaded, now)
}

pub fn list(
    conn: &mut DbConnection,
    user: &AuthUser,
    agency_id: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Schedule>> {
    user.require(Permission::ReferenceRead)?;
    let agency_id = agency_id.unwrap_or(&user.agency.id).to_owned();
    let ids: Vec<String> = schedules::table
        .filter(schedules::agency_id.eq(&agency_id))
        .filter(schedules::archived_at.is_null())
        .order(schedules::name.asc())
        .select(schedules::id)
        .load(conn)?;
    ids.iter().map(|id| load(conn, id).and_then(|loaded| view(conn, &loaded, now))).collect()
}

pub fn update(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: &str,
    request: &UpdateSchedule,
    at: NaiveDateTime,
) -> ApiResult<Schedule> {
    let now = to_utc(at);
    let loaded = load(conn, id)?;
    can_manage(user, &loaded.row.agency_id)?;
    if loaded.row.version != request.version {
        let current = view(conn, &loaded, now)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    let mut changes = serde_json::Map::new();
    if let Some(specs) = &request.layers {
        let effective_from = request.effective_from.unwrap_or(now);
        not_in_past("effective_from", effective_from, now)?;
        checked_layers(conn, loaded.tz, &loaded.row.agency_id, specs, effective_from)?;
        let next: Option<i32> = schedule_revisions::table
            .filter(schedule_revisions::schedule_id.eq(id))
            .select(diesel::dsl::max(schedule_revisions::revision))
            .get_result(conn)?;
        let revision = next.unwrap_or(0) + 1;
        insert_revision(conn, id, revision, effective_from, specs, user, at)?;
        changes.insert("revision".into(), json!(revision));
        changes.insert("effective_from".into(), json!(effective_from));
        changes.insert("layers".into(), json!(specs));
    } else if request.effective_from.is_some() {
        return Err(ApiError::field("effective_from", "without_layers", "effective_from goes with new layers"));
    }
    if let Some(name) = &request.name {
        changes.insert("name".into(), json!({ "from": loaded.row.name, "to": name.trim() }));
    }
    let updated =
        diesel::update(schedules::table.filter(schedules::id.eq(id)).filter(schedules::version.eq(request.version)))
            .set((
                schedules::name.eq(request.name.as_deref().map_or(loaded.row.name.as_str(), str::trim)),
                schedules::version.eq(request.version + 1),
                schedules::updated_at.eq(at),
            ))
            .execute(conn)?;
    if updated == 0 {
        return Err(ApiError::conflict("the schedule changed while it was being saved; read it again"));
    }
    audit::record(conn, &user.actor(), at, "schedule.update", "schedule", id, serde_json::Value::Object(changes))?;
    let loaded = load(conn, id)?;
    view(conn, &loaded, now)
}

pub(crate) fn source_view(source: &Source) -> ApiResult<ShiftSource> {
    Ok(match source {
        Source::Layer(name) => ShiftSource::Layer { name: name.clone() },
        Source::Override(id) => ShiftSource::Override { id: parse_uuid(id)? },
    })
}

pub(crate) fn on_duty_list(people: &BTreeSet<String>, known: &HashMap<String, OnDutyPerson>) -> Vec<OnDutyPerson> {
    people.iter().filter_map(|id| known.get(id).cloned()).collect()
}

/// The final schedule over `[from, to)` with names and phone numbers.
pub fn shifts(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<ShiftView>> {
    user.require(Permission::ReferenceRead)?;
    check_span(from, to)?;
    let loaded = load(conn, id)?;
    let resolved = loaded.resolve(conn, from, to)?;
    shift_views(conn, &resolved)
}

pub fn shift_views(conn: &mut DbConnection, resolved: &[Shift]) -> ApiResult<Vec<ShiftView>> {
    let everyone: BTreeSet<String> = resolved.iter().flat_map(|s| s.people.iter().cloned()).collect();
    let known = people(conn, &everyone)?;
    resolved
        .iter()
        .map(|shift| {
            Ok(ShiftView {
                start: shift.start,
                end: shift.end,
                people: on_duty_list(&shift.people, &known),
                sources: shift.sources.iter().map(source_view).collect::<ApiResult<_>>()?,
            })
        })
        .collect()
}

pub fn check_span(from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<()> {
    if to <= from {
        return Err(ApiError::field("to", "ends_before_start", "`to` must be after `from`"));
    }
    if to - from > Duration::days(MAX_SPAN_DAYS) {
        return Err(ApiError::field("to", "span_too_long", format!("at most {MAX_SPAN_DAYS} days at once")));
    }
    Ok(())
}

pub fn gaps(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: &str,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Gap>> {
    user.require(Permission::ReferenceRead)?;
    let days = i64::from(days.unwrap_or(30));
    if !(1..=MAX_SPAN_DAYS).contains(&days) {
        return Err(ApiError::field("days", "out_of_range", format!("1 to {MAX_SPAN_DAYS} days")));
    }
    let loaded = load(conn, id)?;
    gaps_ahead(conn, &loaded, now, days)
}

/// Who is on duty at `at`: the current stretch and the next handoff.
pub fn on_call_of(conn: &mut DbConnection, loaded: &Loaded, at: DateTime<Utc>) -> ApiResult<OnCall> {
    // Most rotas hand over within two days; look further only when they do not.
    let mut resolved = loaded.resolve(conn, at, at + Duration::days(2))?;
    if resolved.len() < 2 {
        resolved = loaded.resolve(conn, at, at + Duration::days(NEXT_HANDOFF_DAYS))?;
    }
    let current = resolved.first();
    let next = resolved.get(1);
    let mut everyone: BTreeSet<String> = current.map(|s| s.people.clone()).unwrap_or_default();
    everyone.extend(next.map(|s| s.people.clone()).unwrap_or_default());
    let known = people(conn, &everyone)?;
    let since = match current {
        // The stretch began before `at`: find when.
        Some(shift) if !shift.people.is_empty() || !shift.sources.is_empty() => {
            let mut since = None;
            for days in [2, NEXT_HANDOFF_DAYS] {
                let from = at - Duration::days(days);
                let earlier = loaded.resolve(conn, from, at + Duration::seconds(1))?;
                since = earlier.iter().rev().find(|s| s.start <= at).map(|s| s.start);
                if since.is_some_and(|start| start > from) {
                    break;
                }
            }
            since
        }
        _ => None,
    };
    Ok(OnCall {
        schedule_id: parse_uuid(&loaded.row.id)?,
        schedule_name: loaded.row.name.clone(),
        agency: agency_ref_of(conn, &loaded.row.agency_id)?,
        time_zone: loaded.row.time_zone.clone(),
        at,
        on_duty: current.map(|s| on_duty_list(&s.people, &known)).unwrap_or_default(),
        sources: current
            .map(|s| s.sources.iter().map(source_view).collect::<ApiResult<_>>())
            .transpose()?
            .unwrap_or_default(),
        since,
        next_handoff: next.map(|s| s.start),
        next_on_duty: next.map(|s| on_duty_list(&s.people, &known)).unwrap_or_default(),
    })
}

pub fn on_call(
    conn: &mut DbConnection,
    cache: &OnCallCache,
    user: &AuthUser,
    id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ApiResult<OnCall> {
    user.require(Permission::ReferenceRead)?;
    let version = version_of(conn, id)?;
    cache.on_call(conn, id, version, at, now)
}

/// The people on duty for a schedule at an instant (for paging).
pub fn on_duty(conn: &mut DbConnection, schedule_id: &str, at: DateTime<Utc>) -> ApiResult<BTreeSet<String>> {
    let loaded = load(conn, schedule_id)?;
    let resolved = loaded.resolve(conn, at, at + Duration::minutes(1))?;
    Ok(resolved.into_iter().next().map(|s| s.people).unwrap_or_default())
}

/// Live schedules of the given agencies with their versions: (agency id, schedule id, version).
pub fn live_schedules(conn: &mut DbConnection, agency_ids: &[String]) -> QueryResult<Vec<(String, String, i32)>> {
    schedules::table
        .filter(schedules::agency_id.eq_any(agency_ids))
        .filter(schedules::archived_at.is_null())
        .order((schedules::agency_id.asc(), schedules::name.asc()))
        .select((schedules::agency_id, schedules::id, schedules::version))
        .load(conn)
}

/// A schedule's version, or 404.
pub fn version_of(conn: &mut DbConnection, id: &str) -> ApiResult<i32> {
    schedules::table
        .filter(schedules::id.eq(id))
        .select(schedules::version)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("schedule"))
}

fn override_view(conn: &mut DbConnection, row: OverrideRow) -> ApiResult<Override> {
    let known = people(conn, &BTreeSet::from([row.user_id.clone()]))?;
    let person = known.get(&row.user_id).cloned().ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Override {
        id: parse_uuid(&row.id)?,
        schedule_id: parse_uuid(&row.schedule_id)?,
        person,
        starts_at: to_utc(row.starts_at),
        ends_at: to_utc(row.ends_at),
        reason: row.reason,
        swap_request_id: row.swap_request_id.as_deref().map(parse_uuid).transpose()?,
        created_by: person_ref(conn, &row.created_by)?,
        created_at: to_utc(row.created_at),
        cancelled_at: row.cancelled_at.map(to_utc),
    })
}

fn load_override(conn: &mut DbConnection, schedule_id: &str, id: &str) -> ApiResult<OverrideRow> {
    schedule_overrides::table
        .filter(schedule_overrides::id.eq(id))
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .select(OverrideRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("override"))
}

/// Marks a schedule changed by an override: its version moves on, so that cached answers and
/// stale edits see it.
fn touch(conn: &mut DbConnection, schedule_id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(schedules::table.filter(schedules::id.eq(schedule_id)))
        .set((schedules::version.eq(schedules::version + 1), schedules::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}

/// An override about to be written.
pub struct NewOverride<'a> {
    pub schedule_id: &'a str,
    pub user_id: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<&'a str>,
    pub swap_request_id: Option<&'a str>,
}

/// Writes an override and its audit record; used directly and by approved swaps.
pub fn insert_override(
    conn: &mut DbConnection,
    new: &NewOverride<'_>,
    actor: &AuthUser,
    at: NaiveDateTime,
) -> ApiResult<String> {
    let id = Uuid::now_v7().to_string();
    touch(conn, new.schedule_id, at)?;
    diesel::insert_into(schedule_overrides::table)
        .values((
            schedule_overrides::id.eq(&id),
            schedule_overrides::schedule_id.eq(new.schedule_id),
            schedule_overrides::user_id.eq(new.user_id),
            schedule_overrides::starts_at.eq(crate::clock::truncate(new.starts_at)),
            schedule_overrides::ends_at.eq(crate::clock::truncate(new.ends_at)),
            schedule_overrides::reason.eq(new.reason),
            schedule_overrides::swap_request_id.eq(new.swap_request_id),
            schedule_overrides::created_by.eq(&actor.user_id),
            schedule_overrides::created_at.eq(at),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &actor.actor(),
        at,
        "schedule.override.create",
        "schedule",
        new.schedule_id,
        json!({
            "override_id": id,
            "user_id": new.user_id,
            "starts_at": new.starts_at,
            "ends_at": new.ends_at,
            "swap_request_id": new.swap_request_id,
        }),
    )?;
    Ok(id)
}

/// Takes `user_id` off every override of theirs in `[start, end)` (`start` now or later): each such
/// override is cancelled and its parts outside the span are written again, so that only the span
/// changes. Used when a swap hands over duty that came from an override.
pub fn carve_out(
    conn: &mut DbConnection,
    schedule_id: &str,
    user_id: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    actor: &AuthUser,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let now = to_utc(at);
    let rows: Vec<OverrideRow> = schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .filter(schedule_overrides::user_id.eq(user_id))
        .filter(schedule_overrides::cancelled_at.is_null())
        .filter(schedule_overrides::ends_at.gt(crate::clock::truncate(start)))
        .filter(schedule_overrides::starts_at.lt(crate::clock::truncate(end)))
        .select(OverrideRow::as_select())
        .load(conn)?;
    for row in rows {
        touch(conn, schedule_id, at)?;
        diesel::update(schedule_overrides::table.filter(schedule_overrides::id.eq(&row.id)))
            .set((schedule_overrides::cancelled_at.eq(at), schedule_overrides::cancelled_by.eq(&actor.user_id)))
            .execute(conn)?;
        audit::record(
            conn,
            &actor.actor(),
            at,
            "schedule.override.cancel",
            "schedule",
            schedule_id,
            json!({ "override_id": row.id, "span": { "starts_at": start, "ends_at": end } }),
        )?;
        // The cancelled override still covers what was served before now.
        let (row_start, row_end) = (to_utc(row.starts_at).max(now), to_utc(row.ends_at));
        for (part_start, part_end) in [(row_start, start.min(row_end)), (end.max(row_start), row_end)] {
            if part_start < part_end {
                let part = NewOverride {
                    schedule_id,
                    user_id,
                    starts_at: part_start,
                    ends_at: part_end,
                    reason: row.reason.as_deref(),
                    swap_request_id: row.swap_request_id.as_deref(),
                };
                insert_override(conn, &part, actor, at)?;
            }
        }
    }
    Ok(())
}

/// Checks a span of duty that starts now or later and ends after it starts.
pub fn check_future_span(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>, now: DateTime<Utc>) -> ApiResult<()> {
    let mut errors = Vec::new();
    if ends_at <= starts_at {
        errors.push(FieldError {
            field: "ends_at".into(),
            code: "ends_before_start".into(),
            message: "must end after it starts".into(),
        });
    } else if ends_at - starts_at > Duration::days(MAX_SPAN_DAYS) {
        errors.push(FieldError {
            field: "ends_at".into(),
            code: "span_too_long".into(),
            message: format!("at most {MAX_SPAN_DAYS} days"),
        });
    }
    if in_past(starts_at, now) {
        errors.push(FieldError {
            field: "starts_at".into(),
            code: "in_past".into(),
            message: "past shifts cannot change".into(),
        });
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

pub fn create_override(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &str,
    request: &CreateOverride,
    at: NaiveDateTime,
) -> ApiResult<Override> {
    let loaded = load(conn, schedule_id)?;
    can_manage(user, &loaded.row.agency_id)?;
    check_future_span(request.starts_at, request.ends_at, to_utc(at))?;
    let person = request.user_id.to_string();
    if !members(conn, &loaded.row.agency_id)?.contains(&person) {
        return Err(ApiError::field("user_id", "unknown_participant", "not an active member of the schedule's agency"));
    }
    let new = NewOverride {
        schedule_id,
        user_id: &person,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        reason: request.reason.as_deref(),
        swap_request_id: None,
    };
    let id = insert_override(conn, &new, user, at)?;
    let row = load_override(conn, schedule_id, &id)?;
    override_view(conn, row)
}

pub fn list_overrides(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &str,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Override>> {
    user.require(Permission::ReferenceRead)?;
    load(conn, schedule_id)?;
    let rows: Vec<OverrideRow> = schedule_overrides::table
        .filter(schedule_overrides::schedule_id.eq(schedule_id))
        .filter(schedule_overrides::ends_at.gt(now.naive_utc()))
        .filter(schedule_overrides::cancelled_at.is_null())
        .order(schedule_overrides::starts_at.asc())
        .select(OverrideRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|row| override_view(conn, row)).collect()
}

/// Cancels an override from now on: the part already served stays in the schedule.
pub fn cancel_override(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &str,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Override> {
    let loaded = load(conn, schedule_id)?;
    can_manage(user, &loaded.row.agency_id)?;
    let row = load_override(conn, schedule_id, id)?;
    if row.cancelled_at.is_some() {
        return Err(ApiError::conflict("the override is already cancelled"));
    }
    if row.ends_at <= at {
        return Err(ApiError::conflict("the override has ended; past shifts cannot change"));
    }
    touch(conn, schedule_id, at)?;
    diesel::update(schedule_overrides::table.filter(schedule_overrides::id.eq(id)))
        .set((schedule_overrides::cancelled_at.eq(at), schedule_overrides::cancelled_by.eq(&user.user_id)))
        .execute(conn)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "schedule.override.cancel",
        "schedule",
        schedule_id,
        json!({ "override_id": id }),
    )?;
    let row = load_override(conn, schedule_id, id)?;
    override_view(conn, row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(revision: i32, effective_from: &str) -> RevisionRow {
        RevisionRow {
            revision,
            effective_from: effective_from.parse().unwrap(),
            layers: String::new(),
            created_by: String::new(),
            created_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn a_later_revision_replaces_the_upcoming_ones_it_precedes() {
        let kept =
            in_force(vec![row(1, "2027-01-01T00:00:00"), row(2, "2027-03-01T00:00:00"), row(3, "2027-02-01T00:00:00")]);
        assert_eq!(kept.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 3]);
    }
}
