//! Rounds from the field: the phone's day (everything needed offline), check-in and check-out
//! with GPS, visits to each stop, and sightings linked to the round.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::areas::LocateMethod;
use terren_contract::identifications::GeoFix;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{CheckIn, CheckOut, MyRounds, RoundForPhone, RoundStatus, StopForPhone, StopVisit};

use super::read;
use super::store::{self, RoundRow};
use super::teams;
use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{identifications, round_stops, rounds, team_members};
use crate::db::{DbConnection, Tx};
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::identifications::validate::fix_errors;
use crate::ids::UserId;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::wire_code;

/// Days back the phone is shown who was seen at a stop.
const RECENT_DAYS: i64 = 30;
/// How early before its start a team may check in to a round.
const EARLY_CHECK_IN_MINUTES: i64 = 30;
/// How long after its planned end a round never checked out still takes the team's sightings.
const OVERRUN_MINUTES: i64 = 120;
/// Sightings shown per stop.
const RECENT_PER_STOP: usize = 20;

/// A round of a team the person is in, for the steps only members take.
fn member_round(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<RoundRow> {
    let row = read::visible(conn, user, id)?;
    if !teams::is_member(conn, &row.team_id, &user.user_id)? {
        return Err(ApiError::new(ErrorCode::NotOnTeam));
    }
    Ok(row)
}

/// A location the phone sent must be a place on Earth, as for sightings.
/// How far ahead of the server's clock a phone's may run.
const CLOCK_AHEAD_MINUTES: i64 = 5;
/// How long a write may wait on a phone without data.
const OFFLINE_DAYS: i64 = 7;

/// When a field event happened: the phone's time for a write queued offline, when plausible;
/// otherwise (not given) the server's, `at`.
fn occurred(occurred_at: Option<DateTime<Utc>>, at: NaiveDateTime) -> ApiResult<NaiveDateTime> {
    let Some(when) = occurred_at.map(crate::clock::truncate) else { return Ok(at) };
    if when > at + Duration::minutes(CLOCK_AHEAD_MINUTES) {
        return Err(ApiError::field(
            "occurred_at",
            FieldErrorCode::InFuture,
            "later than the server's clock; check the phone's",
        ));
    }
    if when < at - Duration::days(OFFLINE_DAYS) {
        return Err(ApiError::field(
            "occurred_at",
            FieldErrorCode::OutOfRange,
            format!("at most {OFFLINE_DAYS} days ago"),
        ));
    }
    Ok(when)
}

fn check_fix(fix: Option<&GeoFix>, at: NaiveDateTime) -> ApiResult<()> {
    let errors = fix.map(|fix| fix_errors("location", fix, to_utc(at))).unwrap_or_default();
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// Metres from the nearest stop of the round (hotspot shapes; an area is 0 inside its boundary,
/// else the distance to its centroid), if any stop has a place.
fn distance_to_stops(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    round_id: &str,
    lat: f64,
    lon: f64,
) -> ApiResult<Option<f64>> {
    let located = index.locate(lat, lon);
    let inside = |area: usize| {
        [&located.county, &located.municipality, &located.admin_unit]
            .into_iter()
            .flatten()
            .any(|r| r.area == area && r.method == LocateMethod::Boundary)
    };
    let mut nearest: Option<f64> = None;
    for stop in store::stops_of(conn, &[round_id.to_owned()])? {
        let distance = match (&stop.hotspot_id, &stop.area_id) {
            (Some(hotspot), _) => Some(hotspot_service::load(conn, hotspot)?.shape()?.distance_m(lat, lon)),
            (None, Some(area)) => index.find_id(area).map(|a| {
                use geo::Distance;
                if inside(a) { 0.0 } else { geo::Haversine.distance(index.area(a).centroid, geo::Point::new(lon, lat)) }
            }),
            (None, None) => None,
        };
        if let Some(d) = distance {
            nearest = Some(nearest.map_or(d, |n: f64| n.min(d)));
        }
    }
    Ok(nearest)
}

pub fn check_in(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &CheckIn,
    at: NaiveDateTime,
) -> ApiResult<terren_contract::rounds::Round> {
    let row = member_round(tx, user, id)?;
    let status = row.status()?;
    // A teammate got there first, or a check-in queued offline arrives after the round: the
    // round as it is answers both.
    if matches!(status, RoundStatus::InProgress | RoundStatus::Done) {
        return read::view(tx, index, &row);
    }
    if !matches!(status, RoundStatus::Planned | RoundStatus::Missed) {
        return Err(ApiError::conflict(format!("the round is {}", row.status)));
    }
    let when = occurred(request.occurred_at, at)?;
    check_fix(Some(&request.location), when)?;
    if when < row.starts_at - Duration::minutes(EARLY_CHECK_IN_MINUTES) || when > row.ends_at {
        return Err(ApiError::field(
            "round",
            FieldErrorCode::OutsideWindow,
            format!("check in from half an hour before the round starts until it ends ({} UTC)", row.ends_at),
        ));
    }
    let policy = super::policy::policy_of(tx, &row.agency_id)?;
    let (lat, lon) = (request.location.lat, request.location.lon);
    let distance = distance_to_stops(tx, index, id, lat, lon)?;
    let far = distance.filter(|d| *d > policy.far_check_in_km * 1000.0);
    if let Some(d) = far
        && request.reason.is_none()
    {
        return Err(ApiError::field(
            "reason",
            FieldErrorCode::TooFar,
            format!("{:.1} km from the nearest stop; say why to check in from here", d / 1000.0),
        ));
    }
    let changed = diesel::update(
        rounds::table
            .filter(rounds::id.eq(id))
            .filter(rounds::status.eq_any([wire_code(RoundStatus::Planned), wire_code(RoundStatus::Missed)])),
    )
    .set((
        rounds::status.eq(wire_code(RoundStatus::InProgress)),
        rounds::checked_in_by.eq(&user.user_id),
        rounds::checked_in_at.eq(when),
        rounds::checked_in_received_at.eq(at),
        rounds::check_in_lat.eq(lat),
        rounds::check_in_lon.eq(lon),
        rounds::check_in_distance_m.eq(far),
        rounds::check_in_reason.eq(far.and(request.reason.clone())),
        rounds::version.eq(rounds::version + 1),
        rounds::updated_at.eq(at),
    ))
    .execute(tx.conn())?;
    if changed == 0 {
        return Err(ApiError::new(ErrorCode::Conflict).with_detail("somebody else checked in first"));
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "round.check_in",
        "round",
        id,
        json!({ "distance_m": distance, "far": far.is_some(), "late": row.missed_at.is_some(), "occurred_at": to_utc(when) }),
    )?;
    read::reload(tx, index, id)
}

/// Arriving at or leaving the stop at `position`.
#[derive(Debug, Clone, Copy)]
pub struct StopEvent {
    pub position: i32,
    pub arrive: bool,
}

/// Arrival at or departure from a stop; the first of each counts.
pub fn visit(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    StopEvent { position, arrive }: StopEvent,
    request: &StopVisit,
    at: NaiveDateTime,
) -> ApiResult<terren_contract::rounds::Round> {
    let row = member_round(tx, user, id)?;
    if row.status()? != RoundStatus::InProgress {
        return Err(ApiError::conflict(format!("the round is {}; check in first", row.status)));
    }
    let when = occurred(request.occurred_at, at)?;
    check_fix(request.location.as_ref(), when)?;
    let stop = round_stops::table.filter(round_stops::round_id.eq(id)).filter(round_stops::position.eq(position));
    let found: i64 = stop.count().get_result(tx.conn())?;
    if found == 0 {
        return Err(ApiError::not_found("stop"));
    }
    if arrive {
        diesel::update(stop.filter(round_stops::arrived_at.is_null()))
            .set((
                round_stops::arrived_at.eq(when),
                round_stops::arrived_received_at.eq(at),
                round_stops::arrived_lat.eq(request.location.as_ref().map(|l| l.lat)),
                round_stops::arrived_lon.eq(request.location.as_ref().map(|l| l.lon)),
            ))
            .execute(tx.conn())?;
    } else {
        // Leaving a stop means the team was there, even if the phone never said it arrived.
        diesel::update(stop.filter(round_stops::arrived_at.is_null()))
            .set((round_stops::arrived_at.eq(when), round_stops::arrived_received_at.eq(at)))
            .execute(tx.conn())?;
        diesel::update(stop.filter(round_stops::left_at.is_null()))
            .set((round_stops::left_at.eq(when), round_stops::left_received_at.eq(at)))
            .execute(tx.conn())?;
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        if arrive { "round.arrive" } else { "round.leave" },
        "round",
        id,
        json!({ "position": position, "occurred_at": to_utc(when) }),
    )?;
    read::reload(tx, index, id)
}

pub fn check_out(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &CheckOut,
    at: NaiveDateTime,
) -> ApiResult<terren_contract::rounds::Round> {
    let row = member_round(tx, user, id)?;
    if row.status()? == RoundStatus::Done {
        return read::view(tx, index, &row);
    }
    let when = occurred(request.occurred_at, at)?;
    check_fix(request.location.as_ref(), when)?;
    let report = serde_json::to_string(&request.report).map_err(anyhow::Error::from)?;
    let changed = diesel::update(
        rounds::table.filter(rounds::id.eq(id)).filter(rounds::status.eq(wire_code(RoundStatus::InProgress))),
    )
    .set((
        rounds::status.eq(wire_code(RoundStatus::Done)),
        rounds::checked_out_by.eq(&user.user_id),
        rounds::checked_out_at.eq(when),
        rounds::checked_out_received_at.eq(at),
        rounds::check_out_lat.eq(request.location.as_ref().map(|l| l.lat)),
        rounds::check_out_lon.eq(request.location.as_ref().map(|l| l.lon)),
        rounds::report.eq(&report),
        rounds::version.eq(rounds::version + 1),
        rounds::updated_at.eq(at),
    ))
    .execute(tx.conn())?;
    if changed == 0 {
        return Err(ApiError::conflict(format!("the round is {}; check in first", row.status)));
    }
    diesel::update(
        round_stops::table
            .filter(round_stops::round_id.eq(id))
            .filter(round_stops::arrived_at.is_not_null())
            .filter(round_stops::left_at.is_null()),
    )
    .set((round_stops::left_at.eq(when), round_stops::left_received_at.eq(at)))
    .execute(tx.conn())?;
    let detail = json!({ "report": request.report, "occurred_at": to_utc(when) });
    audit::record(tx, &user.actor(), at, "round.check_out", "round", id, detail)?;
    read::reload(tx, index, id)
}

/// The round a sighting belongs to: the one named (the recorder must be on its team), else the
/// round the recorder is checked in to at the time of the sighting.
pub fn round_for_sighting(
    conn: &mut DbConnection,
    user_id: &UserId,
    named: Option<&str>,
    observed_at: NaiveDateTime,
) -> ApiResult<Option<String>> {
    if let Some(round_id) = named {
        let round = store::find(conn, round_id)?;
        let member = match &round {
            Some(r) => teams::is_member(conn, &r.team_id, user_id)?,
            None => false,
        };
        let Some(round) = round.filter(|_| member) else {
            return Err(ApiError::field("round_id", FieldErrorCode::UnknownRound, "no round of a team you are in"));
        };
        let from = round.checked_in_at.unwrap_or(round.starts_at).min(round.starts_at)
            - Duration::minutes(EARLY_CHECK_IN_MINUTES);
        let until =
            round.checked_out_at.unwrap_or(round.ends_at).max(round.ends_at) + Duration::minutes(OVERRUN_MINUTES);
        if round.status()? == RoundStatus::Cancelled || observed_at < from || observed_at > until {
            return Err(ApiError::field(
                "round_id",
                FieldErrorCode::OutsideRound,
                "the sighting was not made during this round",
            ));
        }
        return Ok(Some(round.id));
    }
    let my_teams =
        team_members::table.filter(team_members::user_id.eq(user_id.to_owned())).select(team_members::team_id);
    Ok(rounds::table
        .filter(rounds::team_id.eq_any(my_teams))
        .filter(rounds::checked_in_at.le(observed_at))
        .filter(rounds::checked_out_at.ge(observed_at).or(
            rounds::checked_out_at.is_null().and(rounds::ends_at.ge(observed_at - Duration::minutes(OVERRUN_MINUTES))),
        ))
        .filter(rounds::status.eq_any([wire_code(RoundStatus::InProgress), wire_code(RoundStatus::Done)]))
        .order(rounds::checked_in_at.desc())
        .select(rounds::id)
        .first(conn)
        .optional()?)
}

/// The person's rounds on a local day, with everything the phone needs offline.
pub fn my_rounds(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> ApiResult<MyRounds> {
    let tz = hotspot_service::agency_zone(tx, &user.agency.id)?;
    let date = date.unwrap_or_else(|| now.with_timezone(&tz).date_naive());
    let my_teams =
        team_members::table.filter(team_members::user_id.eq(user.user_id.clone())).select(team_members::team_id);
    let rows: Vec<RoundRow> = rounds::table
        .filter(rounds::team_id.eq_any(my_teams))
        .filter(rounds::local_date.eq(date.to_string()))
        .filter(rounds::status.ne(wire_code(RoundStatus::Cancelled)))
        .order((rounds::starts_at.asc(), rounds::id.asc()))
        .select(RoundRow::as_select())
        .load(tx.conn())?;
    let views = read::views(tx, index, &rows)?;
    let since = crate::clock::truncate(now) - chrono::Duration::days(RECENT_DAYS);
    let reads_sightings = user.can(Permission::IdentificationsRead);
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut stops_by_round: HashMap<String, Vec<store::StopRow>> = HashMap::new();
    for stop in store::stops_of(tx, &ids)? {
        stops_by_round.entry(stop.round_id.clone()).or_default().push(stop);
    }
    let mut out = Vec::new();
    for (row, round) in rows.iter().zip(views) {
        let team = teams::load(tx, &row.team_id)?;
        let mut stops = Vec::new();
        for stop in stops_by_round.remove(&row.id).unwrap_or_default() {
            let hotspot = match &stop.hotspot_id {
                Some(id) => Some(hotspot_service::load(tx, id)?),
                None => None,
            };
            let recent_sightings = match (&hotspot, reads_sightings) {
                (Some(hotspot), true) => recent_at(tx, index, user, hotspot, since, now)?,
                _ => Vec::new(),
            };
            stops.push(StopForPhone {
                position: stop.position,
                hotspot: hotspot.as_ref().map(|h| hotspot_service::view(tx, index, h)).transpose()?,
                area: area_ref(index, &stop.area_id),
                recent_sightings,
            });
        }
        out.push(RoundForPhone { round, members: teams::members(tx, &row.team_id)?, team_phone: team.phone, stops });
    }
    Ok(MyRounds { date, rounds: out })
}

/// Sightings inside the hotspot since `since` that the person may see, newest first, each as the
/// person may see it (and audited as such).
fn recent_at(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    hotspot: &hotspot_service::HotspotRow,
    since: NaiveDateTime,
    now: DateTime<Utc>,
) -> ApiResult<Vec<terren_contract::identifications::Identification>> {
    let shape = hotspot.shape()?;
    let candidates: Vec<(String, f64, f64)> = identifications::table
        .filter(identifications::observed_at.ge(since))
        .filter(identifications::lat.between(hotspot.min_lat, hotspot.max_lat))
        .filter(identifications::lon.between(hotspot.min_lon, hotspot.max_lon))
        .order((identifications::observed_at.desc(), identifications::id.desc()))
        .select((identifications::id, identifications::lat.assume_not_null(), identifications::lon.assume_not_null()))
        .limit(500)
        .load(tx.conn())?;
    let mut shown = Vec::new();
    for (id, lat, lon) in candidates {
        if shown.len() >= RECENT_PER_STOP {
            break;
        }
        if !shape.contains(lat, lon) {
            continue;
        }
        if let Ok(sighting) = crate::identifications::read::read(tx, index, user, &id, crate::clock::truncate(now)) {
            shown.push(sighting);
        }
    }
    Ok(shown)
}
