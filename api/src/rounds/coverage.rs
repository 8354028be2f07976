//! Coverage of an area over a period: per hotspot, visits planned and made against the sightings
//! there; per hour of the week, sightings against the time teams were out; hotspots left
//! unvisited; rounds missed.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{
    Coverage, CoverageCell, CoverageQuery, HotspotCoverage, HotspotCoverageCount, MissedRound, RoundStatus,
    StaleHotspot, TeamRef,
};
use terren_contract::schedules::WeekdayCode;

use super::store::{RoundRow, StopRow, stops_of};
use crate::access::AuthUser;
use crate::access::ServedAreas;
use crate::access::{MIN_PUBLISHED_COUNT, suppress_group};
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{round_stops, rounds, teams};
use crate::hotspots::cluster;
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult};
use crate::ids::{TeamId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref_at;
use crate::vocabularies::wire_code;

const MAX_DAYS: i64 = 190;

/// The cell of the week grid a local instant falls in.
pub(crate) fn cell_of(at: DateTime<Utc>, tz: Tz) -> usize {
    let local = at.with_timezone(&tz);
    local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize
}

/// Adds the minutes of `[start, end)` to the hour cells they fall in, hour by local hour.
pub(crate) fn spread_minutes(grid: &mut [i64], start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) {
    let mut at = start;
    while at < end {
        let local = at.with_timezone(&tz);
        let to_next_hour =
            Duration::minutes(60 - i64::from(local.minute())) - Duration::seconds(i64::from(local.second()));
        let step_end = (at + to_next_hour).min(end);
        grid[cell_of(at, tz)] += (step_end - at).num_minutes();
        at = step_end;
    }
}

pub fn coverage(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &CoverageQuery,
) -> ApiResult<Coverage> {
    if !(user.can(Permission::PlanningManage) || user.can(Permission::StatisticsRead)) {
        return Err(ApiError::forbidden("this needs planning_manage or statistics_read"));
    }
    let (from, to) = (query.from.naive_utc(), query.to.naive_utc());
    if to <= from {
        return Err(ApiError::field("to", FieldErrorCode::BeforeFrom, "to is after from"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ApiError::field("to", FieldErrorCode::OutOfRange, "at most 190 days"));
    }
    let stale_days = query.stale_days.unwrap_or(14);
    if !(1..=365).contains(&stale_days) {
        return Err(ApiError::field("stale_days", FieldErrorCode::OutOfRange, "1 to 365"));
    }
    // Statistics without the sightings behind them: whole days only (so that two windows cannot
    // differ by one sighting's minutes) and small counts left out.
    let statistics_only = !user.can(Permission::IdentificationsRead);
    if statistics_only {
        let errors = crate::access::off_midnight(&[("from", Some(from.time())), ("to", Some(to.time()))]);
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
    }
    let (area, area_ids) = hotspot_service::area_and_below(index, "area", &query.area)?;
    if !ServedAreas::of(index, user).cover(&[&Some(index.area(area).id.clone())]) {
        return Err(ApiError::forbidden("the area is outside the areas your agency serves"));
    }
    let tz = hotspot_service::agency_zone(conn, &user.agency.id)?;
    let hotspot_rows = hotspot_service::in_areas(conn, &area_ids, false)?;
    let hotspot_ids: Vec<String> = hotspot_rows.iter().map(|h| h.id.clone()).collect();

    // Sightings: when, and inside which hotspot (exact places only).
    let sightings = hotspot_service::sightings_in(conn, index, area, from, to)?;
    let mut sightings_grid = vec![0_i64; 168];
    for sighting in &sightings {
        sightings_grid[cell_of(to_utc(sighting.observed_at), tz)] += 1;
    }
    let (profiles, points): (Vec<&Option<String>>, Vec<cluster::Point>) =
        sightings.iter().filter_map(|s| Some((&s.profile_id, s.point?))).unzip();
    // Per hotspot, in `hotspot_rows` order: its sightings, and its distinct children (profiles,
    // plus each unlinked sighting as one child).
    let per_hotspot: Vec<(i64, i64)> = hotspot_service::points_inside_each(&hotspot_rows, &points)?
        .into_iter()
        .map(|inside| {
            let linked: HashSet<&String> = inside.iter().filter_map(|&i| profiles[i].as_ref()).collect();
            let unlinked = inside.iter().filter(|&&i| profiles[i].is_none()).count();
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            (count(inside.len()), count(linked.len() + unlinked))
        })
        .collect();

    // Rounds that visit the area: a stop at one of its hotspots or in one of its areas.
    let touching = round_stops::table
        .filter(round_stops::hotspot_id.eq_any(hotspot_ids.clone()).or(round_stops::area_id.eq_any(area_ids.clone())))
        .select(round_stops::round_id);
    let round_rows: Vec<RoundRow> = rounds::table
        .filter(rounds::id.eq_any(touching))
        .filter(rounds::starts_at.lt(to))
        .filter(rounds::ends_at.gt(from - Duration::days(365)))
        .select(RoundRow::as_select())
        .load(conn)?;
    let in_period = |r: &RoundRow| r.starts_at >= from && r.starts_at < to;
    let round_ids: Vec<String> = round_rows.iter().map(|r| r.id.clone()).collect();
    let stops: Vec<StopRow> = stops_of(conn, &round_ids)?;
    let by_id: HashMap<&str, &RoundRow> = round_rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let cancelled = wire_code(RoundStatus::Cancelled);
    let mut visits: HashMap<String, (i64, i64, Option<NaiveDateTime>)> = HashMap::new();
    for stop in &stops {
        let (Some(hotspot), Some(round)) = (&stop.hotspot_id, by_id.get(stop.round_id.as_str())) else { continue };
        let entry = visits.entry(hotspot.clone()).or_default();
        if in_period(round) && round.status != cancelled {
            entry.0 += 1;
            if stop.arrived_at.is_some() {
                entry.1 += 1;
            }
        }
        if let Some(arrived) = stop.arrived_at.filter(|a| *a < to) {
            entry.2 = Some(entry.2.map_or(arrived, |last| last.max(arrived)));
        }
    }
    let mut team_grid = vec![0_i64; 168];
    for round in round_rows.iter() {
        let Some(checked_in) = round.checked_in_at else { continue };
        let checked_out = round.checked_out_at.unwrap_or(round.ends_at.max(checked_in));
        let (start, end) = (checked_in.max(from), checked_out.min(to));
        if end > start {
            spread_minutes(&mut team_grid, to_utc(start), to_utc(end), tz);
        }
    }

    let team_names: HashMap<TeamId, String> = teams::table
        .filter(teams::id.eq_any(round_rows.iter().map(|r| r.team_id.clone()).collect::<Vec<_>>()))
        .select((teams::id, teams::name))
        .load::<(TeamId, String)>(conn)?
        .into_iter()
        .collect();
    // A round checked in to late was still missed.
    let mut missed_rounds: Vec<&RoundRow> =
        round_rows.iter().filter(|r| in_period(r) && r.missed_at.is_some()).collect();
    missed_rounds.sort_by_key(|r| (r.starts_at, r.id.clone()));
    let stale_before = to - Duration::days(i64::from(stale_days));

    let min_count = if statistics_only { MIN_PUBLISHED_COUNT } else { 1 };
    let small = |n: i64| (1..min_count).contains(&n);
    let mut hotspots = Vec::new();
    let mut stale = Vec::new();
    for (hotspot, (count, children)) in hotspot_rows.iter().zip(per_hotspot) {
        let (planned, done, last) = visits.get(&hotspot.id).copied().unwrap_or_default();
        // Children never outnumber sightings: a small sighting count hides both.
        let mut suppressed = Vec::new();
        if small(count) {
            suppressed.push(HotspotCoverageCount::Identifications);
        }
        if small(count) || small(children) {
            suppressed.push(HotspotCoverageCount::DistinctChildren);
        }
        let shown = |name: HotspotCoverageCount, value: i64| if suppressed.contains(&name) { 0 } else { value };
        hotspots.push(HotspotCoverage {
            hotspot: hotspot.as_ref()?,
            planned_visits: planned,
            done_visits: done,
            last_visit_at: last.map(to_utc),
            identifications: shown(HotspotCoverageCount::Identifications, count),
            distinct_children: shown(HotspotCoverageCount::DistinctChildren, children),
            suppressed,
        });
        if last.is_none_or(|last| last < stale_before) {
            stale.push(StaleHotspot { hotspot: hotspot.as_ref()?, last_visit_at: last.map(to_utc) });
        }
    }
    // The grid adds up to the area's total for the period (which `/identifications/counts` gives),
    // so one hidden hour takes others with it.
    let mut hidden = vec![false; sightings_grid.len()];
    if statistics_only {
        suppress_group(&sightings_grid, &mut hidden);
    }
    let grid = (0..168)
        .map(|cell| CoverageCell {
            weekday: WeekdayCode::ALL[cell / 24],
            hour: u32::try_from(cell % 24).unwrap_or(0),
            identifications: if hidden[cell] { 0 } else { sightings_grid[cell] },
            team_minutes: team_grid[cell],
            identifications_suppressed: hidden[cell],
        })
        .collect();
    Ok(Coverage {
        area: area_ref_at(index, area),
        from: query.from,
        to: query.to,
        time_zone: tz.name().to_owned(),
        min_count,
        hotspots,
        grid,
        stale_hotspots: stale,
        missed_rounds: missed_rounds
            .into_iter()
            .map(|r| {
                Ok(MissedRound {
                    round_id: parse_uuid(&r.id)?,
                    team: TeamRef {
                        id: parse_uuid(&r.team_id)?,
                        name: team_names.get(&r.team_id).cloned().unwrap_or_default(),
                    },
                    starts_at: to_utc(r.starts_at),
                })
            })
            .collect::<ApiResult<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn team_minutes_fall_in_the_local_hours_they_were_spent() {
        let tz = chrono_tz::Europe::Tirane;
        let mut grid = vec![0_i64; 168];
        // Monday 2 March 2026, 09:40–11:15 local (08:40–10:15 UTC).
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 8, 40, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 3, 2, 10, 15, 0).unwrap();
        spread_minutes(&mut grid, start, end, tz);
        assert_eq!((grid[9], grid[10], grid[11]), (20, 60, 15));
        assert_eq!(grid.iter().sum::<i64>(), 95);
        // Sunday 23:30 to Monday 00:30 wraps around the week.
        let mut grid = vec![0_i64; 168];
        let start = Utc.with_ymd_and_hms(2026, 3, 8, 22, 30, 0).unwrap();
        spread_minutes(&mut grid, start, start + Duration::hours(1), tz);
        assert_eq!((grid[167], grid[0]), (30, 30));
    }
}
