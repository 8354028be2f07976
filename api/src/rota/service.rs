//! Schedules and their revisions in the database: loading one for resolution, creating, listing,
//! changing; who is on duty at an instant. Overrides are in `overrides`, read-outs in `shifts`.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::schedules::{
    CreateSchedule, Gap, Layer as LayerSpec, OnDutyPerson, Schedule, ScheduleRevision, UpdateSchedule,
};
use uuid::Uuid;

use super::layers;
use super::overrides;
use super::resolve::{self, Revision, Shift};
use crate::access::AuthUser;
use crate::accounts::service::{agency_ref_of, person_ref};
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{agencies, schedule_revisions, schedules, users};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, ScheduleId, parse_uuid};

/// The longest span `shifts` answers for, and the longest override.
pub const MAX_SPAN_DAYS: i64 = 100;
/// How far ahead a 24/7 schedule is checked for holes when it is saved.
pub const COVERAGE_DAYS: i64 = 30;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = schedules)]
pub struct ScheduleRow {
    pub id: ScheduleId,
    pub agency_id: AgencyId,
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
        let covers = overrides::covers(conn, &self.row.id, from, to)?;
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

pub fn load(conn: &mut DbConnection, id: &ScheduleId) -> ApiResult<Loaded> {
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

/// Active people of an agency: who may be on its rota.
pub fn members(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<BTreeSet<String>> {
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

pub(crate) fn can_manage(user: &AuthUser, agency_id: &AgencyId) -> ApiResult<()> {
    user.require(Permission::PlanningManage)?;
    if user.agency.id != *agency_id {
        return Err(ApiError::forbidden("rotas are planned by their own agency"));
    }
    Ok(())
}

fn is_24_7(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<bool> {
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
        id: loaded.row.id.uuid()?,
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
    agency_id: &AgencyId,
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
pub(super) fn in_past(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at < now - Duration::minutes(1)
}

fn not_in_past(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> ApiResult<()> {
    if in_past(at, now) {
        return Err(ApiError::field(field, FieldErrorCode::InPast, "past shifts cannot change: choose now or later"));
    }
    Ok(())
}

fn insert_revision(
    tx: &mut Tx<'_>,
    schedule_id: &ScheduleId,
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
        .execute(tx.conn())?;
    Ok(())
}

pub fn create(tx: &mut Tx<'_>, user: &AuthUser, request: &CreateSchedule, at: NaiveDateTime) -> ApiResult<Schedule> {
    let now = to_utc(at);
    let agency_id = request.agency_id.map_or_else(|| user.agency.id.clone(), AgencyId::from);
    can_manage(user, &agency_id)?;
    let agency_zone: String =
        agencies::table.filter(agencies::id.eq(&agency_id)).select(agencies::time_zone).get_result(tx.conn())?;
    let zone = request.time_zone.clone().unwrap_or(agency_zone);
    let tz = layers::parse_time_zone(&zone).ok_or_else(|| {
        ApiError::field("time_zone", FieldErrorCode::UnknownTimeZone, format!("{zone} is not an IANA time zone"))
    })?;
    let effective_from = request.effective_from.unwrap_or(now);
    not_in_past("effective_from", effective_from, now)?;
    checked_layers(tx, tz, &agency_id, &request.layers, effective_from)?;
    let id = ScheduleId::generate();
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
        .execute(tx.conn())?;
    insert_revision(tx, &id, 1, effective_from, &request.layers, user, at)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "schedule.create",
        "schedule",
        &id,
        json!({ "name": request.name.trim(), "time_zone": zone, "effective_from": effective_from, "layers": request.layers }),
    )?;
    let loaded = load(tx, &id)?;
    view(tx, &loaded, now)
}

pub fn get(conn: &mut DbConnection, user: &AuthUser, id: &ScheduleId, now: DateTime<Utc>) -> ApiResult<Schedule> {
    user.require(Permission::ReferenceRead)?;
    let loaded = load(conn, id)?;
    view(conn, &loaded, now)
}

pub fn list(
    conn: &mut DbConnection,
    user: &AuthUser,
    agency_id: Option<&AgencyId>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Schedule>> {
    user.require(Permission::ReferenceRead)?;
    let agency_id = agency_id.unwrap_or(&user.agency.id);
    let ids: Vec<ScheduleId> = schedules::table
        .filter(schedules::agency_id.eq(agency_id))
        .filter(schedules::archived_at.is_null())
        .order(schedules::name.asc())
        .select(schedules::id)
        .load(conn)?;
    ids.iter().map(|id| load(conn, id).and_then(|loaded| view(conn, &loaded, now))).collect()
}

pub fn update(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    id: &ScheduleId,
    request: &UpdateSchedule,
    at: NaiveDateTime,
) -> ApiResult<Schedule> {
    let now = to_utc(at);
    let loaded = load(tx, id)?;
    can_manage(user, &loaded.row.agency_id)?;
    if loaded.row.version != request.version {
        let current = view(tx, &loaded, now)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).map_err(anyhow::Error::from)?));
    }
    let mut changes = serde_json::Map::new();
    if let Some(specs) = &request.layers {
        let effective_from = request.effective_from.unwrap_or(now);
        not_in_past("effective_from", effective_from, now)?;
        checked_layers(tx, loaded.tz, &loaded.row.agency_id, specs, effective_from)?;
        let next: Option<i32> = schedule_revisions::table
            .filter(schedule_revisions::schedule_id.eq(id))
            .select(diesel::dsl::max(schedule_revisions::revision))
            .get_result(tx.conn())?;
        let revision = next.unwrap_or(0) + 1;
        insert_revision(tx, id, revision, effective_from, specs, user, at)?;
        changes.insert("revision".into(), json!(revision));
        changes.insert("effective_from".into(), json!(effective_from));
        changes.insert("layers".into(), json!(specs));
    } else if request.effective_from.is_some() {
        return Err(ApiError::field(
            "effective_from",
            FieldErrorCode::WithoutLayers,
            "effective_from goes with new layers",
        ));
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
            .execute(tx.conn())?;
    if updated == 0 {
        return Err(ApiError::conflict("the schedule changed while it was being saved; read it again"));
    }
    audit::record(tx, &user.actor(), at, "schedule.update", "schedule", id, serde_json::Value::Object(changes))?;
    let loaded = load(tx, id)?;
    view(tx, &loaded, now)
}

/// The people on duty for a schedule at an instant (for paging).
pub fn on_duty(conn: &mut DbConnection, schedule_id: &ScheduleId, at: DateTime<Utc>) -> ApiResult<BTreeSet<String>> {
    let loaded = load(conn, schedule_id)?;
    let resolved = loaded.resolve(conn, at, at + Duration::minutes(1))?;
    Ok(resolved.into_iter().next().map(|s| s.people).unwrap_or_default())
}

/// Live schedules of the given agencies with their versions: (agency id, schedule id, version).
pub fn live_schedules(
    conn: &mut DbConnection,
    agency_ids: &[AgencyId],
) -> QueryResult<Vec<(AgencyId, ScheduleId, i32)>> {
    schedules::table
        .filter(schedules::agency_id.eq_any(agency_ids))
        .filter(schedules::archived_at.is_null())
        .order((schedules::agency_id.asc(), schedules::name.asc()))
        .select((schedules::agency_id, schedules::id, schedules::version))
        .load(conn)
}

/// A schedule's version, or 404.
pub fn version_of(conn: &mut DbConnection, id: &ScheduleId) -> ApiResult<i32> {
    schedules::table
        .filter(schedules::id.eq(id))
        .select(schedules::version)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("schedule"))
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
