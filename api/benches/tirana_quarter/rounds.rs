//! The quarter's TEAMS teams and their rounds: members, a home unit, six days a week in one
//! window, stops at hotspots near home; past rounds done, missed or cancelled, the rest planned.

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use diesel::prelude::*;
use terren_api::db::schema::{round_stops, teams};
use terren_api::hotspots::service::HotspotRow;
use terren_api::rounds::store::RoundRow;
use terren_api::territory::index::TerritoryIndex;
use terren_api::vocabularies::wire_code;
use terren_contract::rounds::{RoundStatus, TeamKind};

use super::places::{Refs, centroid};
use super::{Sizes, now};
use crate::support::Random;

#[derive(Insertable)]
#[diesel(table_name = teams)]
pub(super) struct NewTeam {
    id: String,
    agency_id: terren_api::ids::AgencyId,
    name: String,
    kind: String,
    home_area_id: Option<String>,
    notes: Option<String>,
    phone: Option<String>,
    active: bool,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = round_stops)]
pub(super) struct NewStop {
    round_id: String,
    position: i32,
    hotspot_id: Option<String>,
    area_id: Option<String>,
    arrived_at: Option<NaiveDateTime>,
    arrived_lat: Option<f64>,
    arrived_lon: Option<f64>,
    left_at: Option<NaiveDateTime>,
}

/// Teams, members, rounds and stops.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) teams: Vec<NewTeam>,
    pub(super) members: Vec<(String, String)>,
    pub(super) rounds: Vec<RoundRow>,
    pub(super) stops: Vec<NewStop>,
}

/// The UTC instant of a local time in Tirana.
fn tirana_time(date: NaiveDate, hour: u32) -> anyhow::Result<NaiveDateTime> {
    let local = date.and_hms_opt(hour, 0, 0).context("time")?;
    Ok(chrono_tz::Europe::Tirane.from_local_datetime(&local).earliest().context("local time")?.naive_utc())
}

pub(super) fn plan(ctx: &Refs, index: &TerritoryIndex, sizes: &Sizes, spots: &[HotspotRow]) -> anyhow::Result<Plan> {
    let now = now()?;
    let mut random = Random(0x5eed_0000_0006_0004);
    let mut plan = Plan::default();
    let active: Vec<&HotspotRow> = spots.iter().filter(|h| h.active).collect();
    let hotspots_in = |unit: &str| active.iter().filter(|h| h.admin_unit_id.as_deref() == Some(unit)).count();
    // Home units: the units with hotspots, busiest first, then round again.
    let mut homes: Vec<usize> = ctx.units.iter().copied().filter(|&u| hotspots_in(&index.area(u).id) > 0).collect();
    homes.sort_by_key(|&u| std::cmp::Reverse(hotspots_in(&index.area(u).id)));
    let first_day = (now - Duration::days(sizes.quarter_days)).date();
    let last_day = now.date() + Duration::days(14);
    let windows = [(9, 13), (15, 19), (17, 21)];
    let (done, missed, cancelled, planned) = (
        wire_code(RoundStatus::Done),
        wire_code(RoundStatus::Missed),
        wire_code(RoundStatus::Cancelled),
        wire_code(RoundStatus::Planned),
    );
    for n in 0..sizes.teams {
        let home = homes[n % homes.len()];
        let (home_lat, home_lon) = centroid(index, home);
        // The eight active hotspots nearest the home unit's centroid, its own first.
        let mut pool = active.clone();
        pool.sort_by(|a, b| {
            let own = |h: &HotspotRow| h.admin_unit_id.as_deref() != Some(index.area(home).id.as_str());
            let far =
                |h: &HotspotRow| (h.centroid_lat - home_lat).powi(2) + ((h.centroid_lon - home_lon) * 0.75).powi(2);
            own(a).cmp(&own(b)).then(far(a).total_cmp(&far(b)))
        });
        pool.truncate(8);
        let (agency, people) =
            if n < sizes.teams * 2 / 3 { (&ctx.qkt, &ctx.qkt_users) } else { (&ctx.njmf, &ctx.njmf_users) };
        let team_id = random.uuid();
        let created_at = now - Duration::days(400);
        let kind = [TeamKind::Squad, TeamKind::MobileUnit, TeamKind::Joint][n % 3];
        plan.teams.push(NewTeam {
            id: team_id.clone(),
            agency_id: agency.clone(),
            name: format!("Ekipi {:02}", n + 1),
            kind: wire_code(kind),
            home_area_id: Some(index.area(home).id.clone()),
            notes: None,
            phone: None,
            active: true,
            version: 1,
            created_at,
            updated_at: created_at,
        });
        let members = [people[n % people.len()].clone(), people[(n + 1) % people.len()].clone()];
        for member in &members {
            plan.members.push((team_id.clone(), member.clone()));
        }
        let (start_hour, end_hour) = windows[n % windows.len()];
        let mut day = first_day;
        while day <= last_day {
            if day.weekday() == Weekday::Sun {
                day += Duration::days(1);
                continue;
            }
            let starts_at = tirana_time(day, start_hour)?;
            let ends_at = tirana_time(day, end_hour)?;
            let round_id = random.uuid();
            let outcome = random.unit();
            let status = if starts_at >= now {
                planned.clone()
            } else if outcome < 0.88 {
                done.clone()
            } else if outcome < 0.95 {
                missed.clone()
            } else {
                cancelled.clone()
            };
            let is_done = status == done && ends_at <= now;
            let missed_at = (status == missed).then(|| starts_at + Duration::minutes(30));
            let checked_in_at = is_done.then(|| starts_at + Duration::minutes(random.below(20) as i64));
            let checked_out_at = is_done.then(|| ends_at + Duration::minutes(random.below(45) as i64 - 30));
            let count = 3 + random.below(4);
            let mut order: Vec<usize> = (0..pool.len()).collect();
            for i in 0..count {
                let j = i + random.below(order.len() - i);
                order.swap(i, j);
            }
            let first = pool[order[0]];
            for (position, &pick) in order.iter().take(count).enumerate() {
                let hotspot = pool[pick];
                let arrived_at = match (checked_in_at, checked_out_at) {
                    (Some(from), Some(to)) if random.unit() < 0.92 => {
                        let span = (to - from).num_seconds() as f64;
                        Some(from + Duration::seconds((span * (position as f64 + 0.3) / count as f64) as i64))
                    }
                    _ => None,
                };
                let (lat, lon) = random.scatter((hotspot.centroid_lat, hotspot.centroid_lon), 20.0);
                plan.stops.push(NewStop {
                    round_id: round_id.clone(),
                    position: position as i32,
                    hotspot_id: Some(hotspot.id.clone()),
                    area_id: None,
                    arrived_at,
                    arrived_lat: arrived_at.map(|_| lat),
                    arrived_lon: arrived_at.map(|_| lon),
                    left_at: arrived_at.map(|at| at + Duration::minutes(10 + random.below(20) as i64)),
                });
            }
            if random.unit() < 0.1 {
                plan.stops.push(NewStop {
                    round_id: round_id.clone(),
                    position: count as i32,
                    hotspot_id: None,
                    area_id: Some(index.area(home).id.clone()),
                    arrived_at: None,
                    arrived_lat: None,
                    arrived_lon: None,
                    left_at: None,
                });
            }
            let check_in = random.scatter((first.centroid_lat, first.centroid_lon), 30.0);
            let created = starts_at - Duration::days(7);
            plan.rounds.push(RoundRow {
                id: round_id,
                team_id: terren_api::ids::TeamId::from_stored(team_id.clone()),
                agency_id: agency.clone(),
                series_id: None,
                occurrence_key: None,
                detached: false,
                starts_at,
                ends_at,
                local_date: day.format("%Y-%m-%d").to_string(),
                purpose: if random.unit() < 0.9 { "patrol".into() } else { "child_follow_up".into() },
                notes: None,
                status,
                checked_in_by: checked_in_at.map(|_| members[0].clone()),
                checked_in_at,
                check_in_lat: checked_in_at.map(|_| check_in.0),
                check_in_lon: checked_in_at.map(|_| check_in.1),
                check_in_distance_m: checked_in_at.map(|_| random.between(5.0, 60.0).round()),
                check_in_reason: None,
                checked_out_by: checked_out_at.map(|_| members[0].clone()),
                checked_out_at,
                report: checked_out_at
                    .map(|_| format!("{{\"children_met\":{},\"adults_met\":{}}}", random.below(12), random.below(4))),
                created_by: ctx.coordinator.clone(),
                version: if is_done { 3 } else { 1 },
                created_at: created,
                updated_at: checked_out_at.unwrap_or(created),
                check_out_lat: checked_out_at.map(|_| check_in.0),
                check_out_lon: checked_out_at.map(|_| check_in.1),
                missed_at,
                checked_in_received_at: checked_in_at,
                checked_out_received_at: checked_out_at,
            });
            day += Duration::days(1);
        }
    }
    Ok(plan)
}
