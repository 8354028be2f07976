//! Overrides: someone on duty instead of the rotation for a while, written directly or by an
//! approved swap, cancelled from now on.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::schedules::{CreateOverride, Override};
use uuid::Uuid;

use super::resolve::Cover;
use super::service::{MAX_SPAN_DAYS, can_manage, in_past, load, members, people};
use crate::access::AuthUser;
use crate::accounts::service::person_ref;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{schedule_overrides, schedules};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::{ScheduleId, parse_uuid};

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

/// Overrides touching `[from, to)`; a cancelled one still counts up to its cancellation (the past
/// does not change).
pub(super) fn covers(
    conn: &mut DbConnection,
    schedule_id: &ScheduleId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<Cover>> {
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

fn load_override(conn: &mut DbConnection, schedule_id: &ScheduleId, id: &str) -> ApiResult<OverrideRow> {
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
fn touch(tx: &mut Tx<'_>, schedule_id: &ScheduleId, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(schedules::table.filter(schedules::id.eq(schedule_id)))
        .set((schedules::version.eq(schedules::version + 1), schedules::updated_at.eq(at)))
        .execute(tx.conn())?;
    Ok(())
}

/// An override about to be written.
pub struct NewOverride<'a> {
    pub schedule_id: &'a ScheduleId,
    pub user_id: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<&'a str>,
    pub swap_request_id: Option<&'a str>,
}

/// Writes an override and its audit record; used directly and by approved swaps.
pub fn insert_override(
    tx: &mut Tx<'_>,
    new: &NewOverride<'_>,
    actor: &AuthUser,
    at: NaiveDateTime,
) -> ApiResult<String> {
    let id = Uuid::now_v7().to_string();
    touch(tx, new.schedule_id, at)?;
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
        .execute(tx.conn())?;
    audit::record(
        tx,
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
    tx: &mut Tx<'_>,
    schedule_id: &ScheduleId,
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
        .load(tx.conn())?;
    for row in rows {
        touch(tx, schedule_id, at)?;
        diesel::update(schedule_overrides::table.filter(schedule_overrides::id.eq(&row.id)))
            .set((schedule_overrides::cancelled_at.eq(at), schedule_overrides::cancelled_by.eq(&actor.user_id)))
            .execute(tx.conn())?;
        audit::record(
            tx,
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
                insert_override(tx, &part, actor, at)?;
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
            code: FieldErrorCode::EndsBeforeStart,
            message: "must end after it starts".into(),
        });
    } else if ends_at - starts_at > Duration::days(MAX_SPAN_DAYS) {
        errors.push(FieldError {
            field: "ends_at".into(),
            code: FieldErrorCode::SpanTooLong,
            message: format!("at most {MAX_SPAN_DAYS} days"),
        });
    }
    if in_past(starts_at, now) {
        errors.push(FieldError {
            field: "starts_at".into(),
            code: FieldErrorCode::InPast,
            message: "past shifts cannot change".into(),
        });
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

pub fn create_override(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    schedule_id: &ScheduleId,
    request: &CreateOverride,
    at: NaiveDateTime,
) -> ApiResult<Override> {
    let loaded = load(tx, schedule_id)?;
    can_manage(user, &loaded.row.agency_id)?;
    check_future_span(request.starts_at, request.ends_at, to_utc(at))?;
    let person = request.user_id.to_string();
    if !members(tx, &loaded.row.agency_id)?.contains(&person) {
        return Err(ApiError::field(
            "user_id",
            FieldErrorCode::UnknownParticipant,
            "not an active member of the schedule's agency",
        ));
    }
    let new = NewOverride {
        schedule_id,
        user_id: &person,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        reason: request.reason.as_deref(),
        swap_request_id: None,
    };
    let id = insert_override(tx, &new, user, at)?;
    let row = load_override(tx, schedule_id, &id)?;
    override_view(tx, row)
}

pub fn list_overrides(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &ScheduleId,
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
    tx: &mut Tx<'_>,
    user: &AuthUser,
    schedule_id: &ScheduleId,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Override> {
    let loaded = load(tx, schedule_id)?;
    can_manage(user, &loaded.row.agency_id)?;
    let row = load_override(tx, schedule_id, id)?;
    if row.cancelled_at.is_some() {
        return Err(ApiError::conflict("the override is already cancelled"));
    }
    if row.ends_at <= at {
        return Err(ApiError::conflict("the override has ended; past shifts cannot change"));
    }
    touch(tx, schedule_id, at)?;
    diesel::update(schedule_overrides::table.filter(schedule_overrides::id.eq(id)))
        .set((schedule_overrides::cancelled_at.eq(at), schedule_overrides::cancelled_by.eq(&user.user_id)))
        .execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "schedule.override.cancel",
        "schedule",
        schedule_id,
        json!({ "override_id": id }),
    )?;
    let row = load_override(tx, schedule_id, id)?;
    override_view(tx, row)
}
