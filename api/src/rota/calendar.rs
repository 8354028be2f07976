//! Publishing a rota outside the app: iCalendar (RFC 5545) feeds behind secret, revocable links
//! (the text itself is rendered in `ical`; the CSV rota is in `spreadsheet`).
//!
//! A feed's link carries a random token; only the token's SHA-256 is kept, so the link is shown
//! once. Calendar apps cannot send a bearer token, so the feed itself needs none: the link is the
//! credential, and revoking it answers 410 from then on.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::schedules::{CalendarFeed, OnDutyPerson, Shift as ShiftView};
use uuid::Uuid;

use super::ical::{Calendar, Event, NOT_COVERED, contacts, event_uid, names, render};
use super::service::{self, Loaded};
use super::shifts;
use crate::access::AuthUser;
use crate::audit;
use crate::auth::tokens::{hash_token, random_token};
use crate::clock::to_utc;
use crate::db::schema::{agencies, calendar_feeds, users};
use crate::db::{DbConnection, PooledConn, Tx, backend};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, ScheduleId, parse_uuid};

/// A feed shows the shifts that overlap this many days before now …
pub const FEED_DAYS_BACK: i64 = 30;
/// … to this many days after.
pub const FEED_DAYS_AHEAD: i64 = 90;
/// Shifts that began up to this long before the window are shown from their real start, so that
/// the first event keeps its start (and its UID) from one fetch to the next.
const FEED_LOOKBACK_DAYS: i64 = 7;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calendar_feeds)]
struct FeedRow {
    id: String,
    schedule_id: Option<ScheduleId>,
    user_id: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

fn feed_view(row: FeedRow, url: Option<String>) -> ApiResult<CalendarFeed> {
    Ok(CalendarFeed {
        id: parse_uuid(&row.id)?,
        schedule_id: row.schedule_id.as_ref().map(ScheduleId::uuid).transpose()?,
        user_id: row.user_id.as_deref().map(parse_uuid).transpose()?,
        url,
        created_at: to_utc(row.created_at),
        last_used_at: row.last_used_at.map(to_utc),
        revoked_at: row.revoked_at.map(to_utc),
    })
}

/// A new feed token and the hash that is stored.
fn new_token() -> ApiResult<(String, String)> {
    let token = random_token()?;
    let hash = hash_token(&token);
    Ok((token, hash))
}

fn load_feed(conn: &mut DbConnection, id: &str) -> ApiResult<FeedRow> {
    calendar_feeds::table
        .filter(calendar_feeds::id.eq(id))
        .select(FeedRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("calendar feed"))
}

/// Makes a feed: of a schedule (`planning_manage` of its agency), or, without one, of the
/// caller's own shifts. The answer carries the link, which is never shown again.
pub fn create_feed(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    schedule_id: Option<&ScheduleId>,
    base_url: &str,
    at: NaiveDateTime,
) -> ApiResult<CalendarFeed> {
    match schedule_id {
        Some(schedule_id) => {
            let loaded = service::load(tx, schedule_id)?;
            service::can_manage(user, &loaded.row.agency_id)?;
        }
        None => user.require(Permission::ReferenceRead)?,
    }
    let person = schedule_id.is_none().then_some(user.user_id.as_str());
    let (token, hash) = new_token()?;
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(calendar_feeds::table)
        .values((
            calendar_feeds::id.eq(&id),
            calendar_feeds::token_hash.eq(&hash),
            calendar_feeds::schedule_id.eq(schedule_id),
            calendar_feeds::user_id.eq(person),
            calendar_feeds::created_by.eq(&user.user_id),
            calendar_feeds::created_at.eq(at),
        ))
        .execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "calendar_feed.create",
        "calendar_feed",
        &id,
        json!({ "schedule_id": schedule_id, "user_id": person }),
    )?;
    let url = format!("{}/api/v1/calendar/{token}.ics", base_url.trim_end_matches('/'));
    feed_view(load_feed(tx, &id)?, Some(url))
}

/// The feeds of a schedule (`planning_manage` of its agency), or the caller's personal feeds.
pub fn list_feeds(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: Option<&ScheduleId>,
) -> ApiResult<Vec<CalendarFeed>> {
    let query = calendar_feeds::table.order(calendar_feeds::created_at.asc()).select(FeedRow::as_select());
    let rows: Vec<FeedRow> = match schedule_id {
        Some(schedule_id) => {
            let loaded = service::load(conn, schedule_id)?;
            service::can_manage(user, &loaded.row.agency_id)?;
            query.filter(calendar_feeds::schedule_id.eq(schedule_id)).load(conn)?
        }
        None => query.filter(calendar_feeds::user_id.eq(&user.user_id)).load(conn)?,
    };
    rows.into_iter().map(|row| feed_view(row, None)).collect()
}

/// Ends a feed: its link answers 410 from now on. The person it belongs to or who made it may,
/// and so may `planning_manage` of the agency whose rota it shows.
pub fn revoke_feed(tx: &mut Tx<'_>, user: &AuthUser, id: &str, at: NaiveDateTime) -> ApiResult<CalendarFeed> {
    let row = load_feed(tx, id)?;
    let own = row.user_id.as_deref() == Some(user.user_id.as_str()) || row.created_by == user.user_id;
    if !own {
        let agency_id: AgencyId = match (&row.schedule_id, &row.user_id) {
            (Some(schedule_id), _) => service::load(tx, schedule_id)?.row.agency_id,
            (None, Some(person)) => {
                users::table.filter(users::id.eq(person)).select(users::agency_id).get_result(tx.conn())?
            }
            (None, None) => return Err(ApiError::internal(anyhow::anyhow!("calendar feed {id} shows nothing"))),
        };
        service::can_manage(user, &agency_id)?;
    }
    if row.revoked_at.is_some() {
        return Err(ApiError::conflict("the calendar feed is already revoked"));
    }
    diesel::update(calendar_feeds::table.filter(calendar_feeds::id.eq(id)))
        .set((calendar_feeds::revoked_at.eq(at), calendar_feeds::revoked_by.eq(&user.user_id)))
        .execute(tx.conn())?;
    audit::record(tx, &user.actor(), at, "calendar_feed.revoke", "calendar_feed", id, json!({}))?;
    feed_view(load_feed(tx, id)?, None)
}

fn revoked(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::CalendarFeedRevoked).with_detail(detail)
}

/// The iCalendar text behind a feed token, as of `now`; notes when the feed was last used.
/// Unknown token: 404; revoked feed (or the person's account disabled, or the schedule
/// archived): 410 `calendar_feed_revoked`.
pub fn feed_body(conn: &mut PooledConn, token: &str, now: DateTime<Utc>) -> ApiResult<String> {
    let row: FeedRow = calendar_feeds::table
        .filter(calendar_feeds::token_hash.eq(hash_token(token)))
        .select(FeedRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("calendar feed"))?;
    if row.revoked_at.is_some() {
        return Err(revoked("this calendar link was revoked; ask for a new one"));
    }
    let window = (now - Duration::days(FEED_DAYS_BACK), now + Duration::days(FEED_DAYS_AHEAD));
    let calendar = match (&row.schedule_id, &row.user_id) {
        (Some(schedule_id), _) => schedule_calendar(conn, schedule_id, window, now)?,
        (None, Some(person)) => personal_calendar(conn, person, window, now)?,
        (None, None) => return Err(ApiError::internal(anyhow::anyhow!("calendar feed {} shows nothing", row.id))),
    };
    backend::write_transaction(conn, |tx| {
        diesel::update(calendar_feeds::table.filter(calendar_feeds::id.eq(&row.id)))
            .set(calendar_feeds::last_used_at.eq(crate::clock::truncate(now)))
            .execute(tx.conn())
    })?;
    Ok(render(&calendar))
}

/// The schedule's stretches overlapping `[from, to)`, none before the schedule applies.
pub(super) fn shifts_in(
    conn: &mut DbConnection,
    loaded: &Loaded,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    lookback: Duration,
) -> ApiResult<Vec<ShiftView>> {
    let Some(first) = loaded.first_effective() else { return Ok(Vec::new()) };
    let start = (from - lookback).max(first);
    if start >= to {
        return Ok(Vec::new());
    }
    let resolved = loaded.resolve(conn, start, to)?;
    let mut views = shifts::shift_views(conn, &resolved)?;
    views.retain(|shift| shift.end > from);
    Ok(views)
}

fn people_key(people: &[OnDutyPerson]) -> String {
    people.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join("+")
}

fn schedule_calendar(
    conn: &mut DbConnection,
    schedule_id: &ScheduleId,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Calendar> {
    let loaded = service::load(conn, schedule_id)?;
    if loaded.row.archived_at.is_some() {
        return Err(revoked("the schedule was archived"));
    }
    let shifts = shifts_in(conn, &loaded, window, Duration::days(FEED_LOOKBACK_DAYS))?;
    let events = shifts
        .iter()
        .map(|shift| {
            let start = shift.start.to_rfc3339();
            if shift.people.is_empty() {
                Event {
                    uid: event_uid(&[schedule_id, &start, "gap"]),
                    start: shift.start,
                    end: shift.end,
                    summary: NOT_COVERED.to_owned(),
                    description: "Askush nuk është në gadishmëri / Nobody is on duty".to_owned(),
                    transparent: true,
                }
            } else {
                Event {
                    uid: event_uid(&[schedule_id, &start, &people_key(&shift.people)]),
                    start: shift.start,
                    end: shift.end,
                    summary: names(&shift.people),
                    description: contacts(&shift.people),
                    transparent: false,
                }
            }
        })
        .collect();
    Ok(Calendar { name: loaded.row.name.clone(), time_zone: loaded.row.time_zone.clone(), stamp: now, events })
}

/// The person's own stretches on every live schedule of their agency, unbroken stretches of one
/// schedule as one event (with everyone who shared them).
fn personal_calendar(
    conn: &mut DbConnection,
    person: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Calendar> {
    let (display_name, agency_id, disabled): (String, AgencyId, Option<NaiveDateTime>) = users::table
        .filter(users::id.eq(person))
        .select((users::display_name, users::agency_id, users::disabled_at))
        .get_result(conn)?;
    if disabled.is_some() {
        return Err(revoked("the account this calendar belongs to is disabled"));
    }
    let time_zone: String =
        agencies::table.filter(agencies::id.eq(&agency_id)).select(agencies::time_zone).get_result(conn)?;
    let me = parse_uuid(person)?;
    let mut events = Vec::new();
    for (_, schedule_id, _) in service::live_schedules(conn, std::slice::from_ref(&agency_id))? {
        let loaded = service::load(conn, &schedule_id)?;
        let mut mine: Vec<ShiftView> = Vec::new();
        for shift in shifts_in(conn, &loaded, window, Duration::days(FEED_LOOKBACK_DAYS))? {
            if !shift.people.iter().any(|p| p.id == me) {
                continue;
            }
            match mine.last_mut() {
                Some(last) if last.end == shift.start => {
                    last.end = shift.end;
                    for p in shift.people {
                        if !last.people.contains(&p) {
                            last.people.push(p);
                        }
                    }
                }
                _ => mine.push(shift),
            }
        }
        events.extend(mine.into_iter().map(|shift| Event {
            uid: event_uid(&[&schedule_id, &shift.start.to_rfc3339(), person]),
            start: shift.start,
            end: shift.end,
            summary: format!("Gadishmëri: {}", loaded.row.name),
            description: contacts(&shift.people),
            transparent: false,
        }));
    }
    events.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    Ok(Calendar { name: format!("Gadishmëria ime / My duty — {display_name}"), time_zone, stamp: now, events })
}
