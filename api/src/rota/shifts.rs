//! The final schedule read out: shifts with names and phone numbers, gaps, who is on call now.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::schedules::{Gap, OnCall, OnDutyPerson, Shift as ShiftView, ShiftSource};

use super::cache::{NEXT_HANDOFF_DAYS, OnCallCache};
use super::resolve::{Shift, Source};
use super::service::{Loaded, MAX_SPAN_DAYS, gaps_ahead, load, people, version_of};
use crate::access::AuthUser;
use crate::accounts::service::agency_ref_of;
use crate::db::DbConnection;
use crate::http::{ApiError, ApiResult};
use crate::ids::{ScheduleId, parse_uuid};

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
    id: &ScheduleId,
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
        return Err(ApiError::field("to", FieldErrorCode::EndsBeforeStart, "`to` must be after `from`"));
    }
    if to - from > Duration::days(MAX_SPAN_DAYS) {
        return Err(ApiError::field(
            "to",
            FieldErrorCode::SpanTooLong,
            format!("at most {MAX_SPAN_DAYS} days at once"),
        ));
    }
    Ok(())
}

pub fn gaps(
    conn: &mut DbConnection,
    user: &AuthUser,
    id: &ScheduleId,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Gap>> {
    user.require(Permission::ReferenceRead)?;
    let days = i64::from(days.unwrap_or(30));
    if !(1..=MAX_SPAN_DAYS).contains(&days) {
        return Err(ApiError::field("days", FieldErrorCode::OutOfRange, format!("1 to {MAX_SPAN_DAYS} days")));
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
        schedule_id: loaded.row.id.uuid()?,
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
    id: &ScheduleId,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ApiResult<OnCall> {
    user.require(Permission::ReferenceRead)?;
    let version = version_of(conn, id)?;
    cache.on_call(conn, id, version, at, now)
}
