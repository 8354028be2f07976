//! A quarter of street work in Tirana, shared by the `hotspot_suggestions` and `coverage`
//! benches: sightings clustered around hot places over scattered ones, child profiles, hotspots,
//! teams and their rounds, written straight into the tables of a seeded database (`terren seed
//! --demo`). The data is deterministic; the first run of either bench fills the database and later
//! runs with the same URL reuse it.
//!
//! - IDENTIFICATIONS (300,000) sightings in Tirana over the QUARTER_DAYS (90) days before the
//!   bench's clock (2026-11-24 12:00 UTC), so about 200,000 fall in the last 60 days. A share
//!   SCATTERED (0.05) of them is scattered: 85 % of those uniformly over central Tirana
//!   (41.30–41.36 N, 19.76–19.86 E), 15 % around the centroids of the 13 rural units
//!   (σ = 1.5 km). Children are found at a few places, not anywhere: at much more scatter (a
//!   share of 0.6 puts about 1,800 sightings per km² over central Tirana in 60 days) the
//!   background itself is dense enough to form clusters that chain across the city. The others are around HOT_PLACES (150) places, each with a spread (standard
//!   deviation) of 12–40 m and a Zipf-like share of the sightings; four out of five hot places
//!   are in central Tirana, the others near a rural unit's centroid. Sightings happen mostly by
//!   day (07:00–20:00 local time, seven times as likely per hour as at night). Each is in the
//!   municipality of Tirana and in the administrative unit with the nearest centroid among its 27.
//!   They are stored in the order they were seen, with time-ordered ids (UUIDv7), as phones send
//!   them.
//! - OTHERS (100,000) sightings in the other 60 municipalities over the same quarter, so that the
//!   queries have to pick Tirana's out.
//! - Half of all sightings are linked to child profiles: those at a hot place to one of the
//!   place's 30 regulars, scattered ones to one of 30,000 children seen around Tirana, the others
//!   to one of 20,000 children elsewhere.
//! - HOTSPOTS (300) kept by AL224-QKT: the first 30 are circles on every fifth hot place (three
//!   times the place's spread), the others are spread over the 27 units (three quarters of them
//!   around the 14 urban units, Njësia 1–11 and Lagjja 12–14), nine in ten circles of 40–200 m,
//!   one in ten rectangles; one in twenty of those is inactive.
//! - TEAMS (30) (20 of AL224-QKT, 10 of AL224-NJMF), each with two members and a home unit, out
//!   six days a week (Monday to Saturday) in one window (09–13, 15–19 or 17–21 local time) from
//!   the first day of the quarter to two weeks after the clock. Each round has 3–6 stops at
//!   hotspots near the team's home unit, one in ten also a stop in the unit itself. Past rounds:
//!   88 % done (checked in and out, 92 % of their stops arrived at), 7 % missed, 5 % cancelled;
//!   the rest are planned.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use diesel::prelude::*;
use terren_api::clock::ManualClock;
use terren_api::db::DbConnection;
use terren_api::db::schema::{
    child_profiles, hotspots, identification_links, identifications, round_stops, rounds, team_members, teams,
};
use terren_api::hotspots::service::HotspotRow;
use terren_api::hotspots::shape::Shape;
use terren_api::identifications::privacy::{age_band, coarse_cell};
use terren_api::identifications::store::IdentificationRow;
use terren_api::profiles::store::ProfileRow;
use terren_api::rounds::plan::RoundRow;
use terren_api::state::AppState;
use terren_api::territory::index::TerritoryIndex;
use terren_api::vocabularies::wire_code;
use terren_contract::hotspots::HotspotShape;
use terren_contract::rounds::{RoundStatus, TeamKind};

use crate::support::{Random, agency_id, bench_config, env_or, percentile, user_id};

/// p50, p95 and max of some timings in milliseconds.
pub fn summary(times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    format!(
        "p50={:.1}ms p95={:.1}ms max={:.1}ms",
        percentile(times, 50.0),
        percentile(times, 95.0),
        times.last().copied().unwrap_or_default()
    )
}

/// The bench's clock.
pub fn now() -> anyhow::Result<NaiveDateTime> {
    Ok(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().context("time")?.naive_utc())
}

impl Random {
    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + self.unit() * (high - low)
    }

    /// Roughly normal, mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() - 3.0
    }

    /// A version 7 UUID made at `at`, as a phone makes a sighting's id.
    fn uuid_at(&mut self, at: NaiveDateTime) -> String {
        let millis = at.and_utc().timestamp_millis().max(0) as u64;
        let b = (self.unit() * 2f64.powi(48)) as u64;
        let c = (self.unit() * 2f64.powi(48)) as u64;
        format!("{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}", millis >> 16, millis & 0xffff, b >> 36, (b >> 24) & 0xfff, c)
    }

    /// `(lat, lon)` moved by a normal scatter of `sigma_m` metres.
    fn scatter(&mut self, (lat, lon): (f64, f64), sigma_m: f64) -> (f64, f64) {
        (lat + self.normal() * sigma_m / 111_320.0, lon + self.normal() * sigma_m / 83_600.0)
    }
}

/// Sizes of the fill, from the environment.
pub struct Sizes {
    pub identifications: usize,
    pub others: usize,
    pub hot_places: usize,
    /// The share of Tirana's sightings that are scattered rather than at a hot place.
    pub scattered: f64,
    pub hotspots: usize,
    pub teams: usize,
    pub quarter_days: i64,
}

impl Sizes {
    pub fn from_env() -> anyhow::Result<Sizes> {
        Ok(Sizes {
            identifications: env_or("IDENTIFICATIONS", 300_000)?,
            others: env_or("OTHERS", 100_000)?,
            hot_places: env_or("HOT_PLACES", 150)?,
            scattered: env_or("SCATTERED", 0.05)?,
            hotspots: env_or("HOTSPOTS", 300)?,
            teams: env_or("TEAMS", 30)?,
            quarter_days: env_or("QUARTER_DAYS", 90)?,
        })
    }
}

/// The bench's database on one connection, filled on the first run, and its clock.
pub struct Quarter {
    pub state: AppState,
    pub sizes: Sizes,
    pub now: NaiveDateTime,
    _data_dir: tempfile::TempDir,
}

/// Opens `DATABASE_URL` and fills it unless it is filled already.
pub fn open() -> anyhow::Result<Quarter> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let sizes = Sizes::from_env()?;
    let (data_dir, mut config) = bench_config(url)?;
    config.database.pool_size = 1;
    config.validate()?;
    let now = now()?;
    let state = AppState::prepare(config, Arc::new(ManualClock::new(now.and_utc())), false)?;
    fill_once(&mut *state.db.get()?, &state.territory(), &sizes)?;
    Ok(Quarter { state, sizes, now, _data_dir: data_dir })
}

/// Fills the database unless it already holds the bench's hotspots; refuses a half-filled one.
fn fill_once(conn: &mut DbConnection, index: &TerritoryIndex, sizes: &Sizes) -> anyhow::Result<()> {
    let stored_hotspots: i64 = hotspots::table.count().get_result(conn)?;
    let stored_sightings: i64 = identifications::table.count().get_result(conn)?;
    if stored_hotspots > 0 {
        return Ok(());
    }
    anyhow::ensure!(stored_sightings == 0, "a partly filled database: start from a newly seeded one");
    fill(conn, index, sizes)?;
    if let DbConnection::Postgres(pg) = conn {
        diesel::connection::SimpleConnection::batch_execute(pg, "VACUUM ANALYZE")?;
    }
    Ok(())
}

/// The rows the fill refers to.
struct Refs {
    qkt: String,
    njmf: String,
    coordinator: String,
    /// Users of each agency, to make team members.
    qkt_users: Vec<String>,
    njmf_users: Vec<String>,
    /// Index of Tirana, its county and its 27 units in the territory index.
    tirana: usize,
    county: Option<usize>,
    units: Vec<usize>,
    /// Index of the other municipalities in the territory index.
    elsewhere: Vec<usize>,
}

fn user_ids(conn: &mut DbConnection, names: &[&str]) -> anyhow::Result<Vec<String>> {
    names.iter().map(|name| user_id(conn, name)).collect()
}

fn refs(conn: &mut DbConnection, index: &TerritoryIndex) -> anyhow::Result<Refs> {
    let tirana = index.find_code("AL224").context("Tirana")?;
    let units: Vec<usize> = index.descendants(tirana).into_iter().filter(|&a| a != tirana).collect();
    anyhow::ensure!(units.len() == 27, "Tirana has 27 administrative units, found {}", units.len());
    let elsewhere: Vec<usize> = (100..400)
        .map(|n| format!("AL{n}"))
        .filter(|code| code != "AL224")
        .filter_map(|code| index.find_code(&code))
        .collect();
    anyhow::ensure!(elsewhere.len() == 60, "the other 60 municipalities");
    Ok(Refs {
        qkt: agency_id(conn, "AL224-QKT")?,
        njmf: agency_id(conn, "AL224-NJMF")?,
        coordinator: user_id(conn, "tirana.coord")?,
        qkt_users: user_ids(conn, &["tirana.field", "tirana.duty", "tirana.coord"])?,
        njmf_users: user_ids(conn, &["tirana.pmf", "tirana.admin"])?,
        tirana,
        county: index.area(tirana).parent,
        units,
        elsewhere,
    })
}

fn centroid(index: &TerritoryIndex, area: usize) -> (f64, f64) {
    let point = index.area(area).centroid;
    (point.y(), point.x())
}

/// Whether a unit of Tirana is urban (Njësia 1–11, Lagjja 12–14) rather than a rural unit.
fn urban(index: &TerritoryIndex, unit: usize) -> bool {
    let code = &index.area(unit).code;
    code.contains("-U") || code.contains("-L")
}

/// The unit of Tirana with the nearest centroid.
fn nearest_unit(index: &TerritoryIndex, units: &[usize], (lat, lon): (f64, f64)) -> usize {
    let distance = |unit: usize| {
        let (c_lat, c_lon) = centroid(index, unit);
        ((c_lat - lat) * 111_320.0).powi(2) + ((c_lon - lon) * 83_600.0).powi(2)
    };
    units.iter().copied().min_by(|&a, &b| distance(a).total_cmp(&distance(b))).unwrap_or(units[0])
}

/// A point uniformly in central Tirana.
fn central(random: &mut Random) -> (f64, f64) {
    (random.between(41.30, 41.36), random.between(19.76, 19.86))
}

struct HotPlace {
    at: (f64, f64),
    spread_m: f64,
}

/// One sighting, before it becomes a row: where, when, its areas (indices in the territory
/// index) and the profile it is linked to.
struct Seen {
    at: (f64, f64),
    observed_at: NaiveDateTime,
    areas: [Option<usize>; 3],
    profile: Option<usize>,
}

/// A profile's sightings, gathered before the profile is written.
#[derive(Clone, Default)]
struct Seens {
    count: i32,
    first: Option<NaiveDateTime>,
    last: Option<NaiveDateTime>,
    areas: [Option<usize>; 3],
}

/// An instant in the quarter, mostly by day.
fn observed_at(random: &mut Random, now: NaiveDateTime, days: i64) -> NaiveDateTime {
    loop {
        let at = now - Duration::seconds((random.unit() * (days * 86_400) as f64) as i64);
        // 06:00–19:00 UTC is 07:00–20:00 in Tirana in winter; night hours are seven times rarer.
        let day = (6..19).contains(&chrono::Timelike::hour(&at));
        if day || random.unit() < 1.0 / 7.0 {
            return at;
        }
    }
}

fn sighting_row(ctx: &Refs, index: &TerritoryIndex, id: String, seen: &Seen, age: i32) -> IdentificationRow {
    let area_id = |area: Option<usize>| area.map(|a| index.area(a).id.clone());
    let (lat, lon) = seen.at;
    IdentificationRow {
        id,
        recorded_by: ctx.qkt_users[0].clone(),
        agency_id: ctx.qkt.clone(),
        device_id: "bench".into(),
        observed_at: seen.observed_at,
        received_at: seen.observed_at,
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: Some(15.0),
        altitude_m: None,
        fix_time: None,
        location_source: Some("gps".into()),
        mock_location: false,
        location_not_collected_reason: None,
        place_description: None,
        county_id: area_id(seen.areas[0]),
        municipality_id: area_id(seen.areas[1]),
        admin_unit_id: area_id(seen.areas[2]),
        locate_method: "nearest_centroid".into(),
        cell_key: Some(coarse_cell(lat, lon).0),
        subject_type: "child".into(),
        estimated_age: Some(age),
        birth_year: None,
        age_band: age_band(Some(age)).into(),
        sex: if age % 2 == 0 { "female".into() } else { "male".into() },
        nationality: Some("AL".into()),
        languages: "[\"sq\"]".into(),
        ethnicity: None,
        residence_origin: None,
        street_situations: "[\"begging\"]".into(),
        accompanied_by: Some(["alone", "parent", "other_adult", "group_of_children"][age as usize % 4].into()),
        risk_factors: "[]".into(),
        exploitation_indicators: "[]".into(),
        visible_conditions: "[]".into(),
        immediate_needs: "[]".into(),
        actions_taken: "[]".into(),
        consent_given_by: None,
        risk_level: "medium".into(),
        emergency: false,
        notes: None,
        content_hash: "bench".into(),
        version: 1,
        created_at: seen.observed_at,
        updated_at: seen.observed_at,
        name_as_told: None,
        location_coarsened_at: None,
        round_id: None,
    }
}

/// Regulars per hot place, scattered children around Tirana, children elsewhere.
const REGULARS: usize = 30;
const TIRANA_CHILDREN: usize = 30_000;
const OTHER_CHILDREN: usize = 20_000;

fn sightings(ctx: &Refs, index: &TerritoryIndex, sizes: &Sizes, places: &[HotPlace]) -> anyhow::Result<Vec<Seen>> {
    let now = now()?;
    let mut random = Random(0x5eed_0000_0006_0002);
    // Zipf-like shares: the busiest place is about seventeen times as busy as the quietest.
    let weights: Vec<f64> = (0..places.len()).map(|n| 1.0 / (n as f64 + 10.0)).collect();
    let total_weight: f64 = weights.iter().sum();
    let pick_place = |random: &mut Random| {
        let mut left = random.unit() * total_weight;
        for (n, weight) in weights.iter().enumerate() {
            left -= weight;
            if left <= 0.0 {
                return n;
            }
        }
        weights.len() - 1
    };
    let rural: Vec<usize> = ctx.units.iter().copied().filter(|&u| !urban(index, u)).collect();
    let tirana_children = places.len() * REGULARS;
    let other_children = tirana_children + TIRANA_CHILDREN;
    let mut seen = Vec::with_capacity(sizes.identifications + sizes.others);
    for _ in 0..sizes.identifications {
        let (at, regular_of) = if random.unit() < 1.0 - sizes.scattered {
            let place = pick_place(&mut random);
            (random.scatter(places[place].at, places[place].spread_m), Some(place))
        } else if random.unit() < 0.85 {
            (central(&mut random), None)
        } else {
            let unit = rural[random.below(rural.len())];
            (random.scatter(centroid(index, unit), 1500.0), None)
        };
        let profile = (random.unit() < 0.5).then(|| match regular_of {
            Some(place) => place * REGULARS + random.below(REGULARS),
            None => tirana_children + random.below(TIRANA_CHILDREN),
        });
        let unit = nearest_unit(index, &ctx.units, at);
        seen.push(Seen {
            at,
            observed_at: observed_at(&mut random, now, sizes.quarter_days),
            areas: [ctx.county, Some(ctx.tirana), Some(unit)],
            profile,
        });
    }
    for _ in 0..sizes.others {
        let municipality = ctx.elsewhere[random.below(ctx.elsewhere.len())];
        let at = random.scatter(centroid(index, municipality), 2000.0);
        let located = index.locate(at.0, at.1);
        let area = |resolved: Option<terren_api::territory::index::Resolved>| resolved.map(|r| r.area);
        seen.push(Seen {
            at,
            observed_at: observed_at(&mut random, now, sizes.quarter_days),
            areas: [area(located.county), area(located.municipality), area(located.admin_unit)],
            profile: (random.unit() < 0.5).then(|| other_children + random.below(OTHER_CHILDREN)),
        });
    }
    Ok(seen)
}

fn hotspot_row(
    ctx: &Refs,
    index: &TerritoryIndex,
    random: &mut Random,
    name: String,
    shape: &HotspotShape,
    active: bool,
) -> anyhow::Result<HotspotRow> {
    let parsed = Shape::parse(shape).map_err(|e| anyhow!("bench hotspot shape: {e:?}"))?;
    let centre = parsed.centroid();
    let (min_lat, min_lon, max_lat, max_lon) = parsed.bounds();
    let unit = nearest_unit(index, &ctx.units, (centre.y(), centre.x()));
    let kinds = ["traffic_light_junction", "market", "station", "square_or_park", "place_of_worship", "tourist_area"];
    let created_at = now()? - Duration::days(200 + random.below(300) as i64);
    Ok(HotspotRow {
        id: random.uuid(),
        agency_id: ctx.qkt.clone(),
        name,
        kind: kinds[random.below(kinds.len())].into(),
        shape: serde_json::to_string(shape)?,
        centroid_lat: centre.y(),
        centroid_lon: centre.x(),
        min_lat,
        min_lon,
        max_lat,
        max_lon,
        municipality_id: Some(index.area(ctx.tirana).id.clone()),
        admin_unit_id: Some(index.area(unit).id.clone()),
        notes: None,
        active,
        version: 1,
        created_by: ctx.coordinator.clone(),
        created_at,
        updated_at: created_at,
    })
}

fn hotspot_rows(
    ctx: &Refs,
    index: &TerritoryIndex,
    sizes: &Sizes,
    places: &[HotPlace],
) -> anyhow::Result<Vec<HotspotRow>> {
    let mut random = Random(0x5eed_0000_0006_0003);
    let mut rows = Vec::with_capacity(sizes.hotspots);
    for place in places.iter().step_by(5).take(sizes.hotspots) {
        let shape = HotspotShape::Circle { lat: place.at.0, lon: place.at.1, radius_m: 3.0 * place.spread_m };
        let name = format!("Vend i njohur {:03}", rows.len() + 1);
        rows.push(hotspot_row(ctx, index, &mut random, name, &shape, true)?);
    }
    let (urban_units, rural_units): (Vec<usize>, Vec<usize>) =
        ctx.units.iter().copied().partition(|&u| urban(index, u));
    while rows.len() < sizes.hotspots {
        let at = if random.unit() < 0.75 {
            let unit = urban_units[random.below(urban_units.len())];
            random.scatter(centroid(index, unit), 600.0)
        } else {
            let unit = rural_units[random.below(rural_units.len())];
            random.scatter(centroid(index, unit), 1500.0)
        };
        let shape = if random.unit() < 0.9 {
            HotspotShape::Circle { lat: at.0, lon: at.1, radius_m: random.between(40.0, 200.0).round() }
        } else {
            let (half_lat, half_lon) = (random.between(40.0, 90.0) / 111_320.0, random.between(50.0, 120.0) / 83_600.0);
            HotspotShape::Polygon {
                coordinates: vec![
                    [at.1 - half_lon, at.0 - half_lat],
                    [at.1 + half_lon, at.0 - half_lat],
                    [at.1 + half_lon, at.0 + half_lat],
                    [at.1 - half_lon, at.0 + half_lat],
                    [at.1 - half_lon, at.0 - half_lat],
                ],
            }
        };
        let name = format!("Pikë {:03}", rows.len() + 1);
        let active = random.unit() >= 0.05;
        rows.push(hotspot_row(ctx, index, &mut random, name, &shape, active)?);
    }
    Ok(rows)
}

#[derive(Insertable)]
#[diesel(table_name = teams)]
struct NewTeam {
    id: String,
    agency_id: String,
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
struct NewStop {
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
struct Plan {
    teams: Vec<NewTeam>,
    members: Vec<(String, String)>,
    rounds: Vec<RoundRow>,
    stops: Vec<NewStop>,
}

/// The UTC instant of a local time in Tirana.
fn tirana_time(date: NaiveDate, hour: u32) -> anyhow::Result<NaiveDateTime> {
    let local = date.and_hms_opt(hour, 0, 0).context("time")?;
    Ok(chrono_tz::Europe::Tirane.from_local_datetime(&local).earliest().context("local time")?.naive_utc())
}

fn plan(ctx: &Refs, index: &TerritoryIndex, sizes: &Sizes, spots: &[HotspotRow]) -> anyhow::Result<Plan> {
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
                team_id: team_id.clone(),
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
            });
            day += Duration::days(1);
        }
    }
    Ok(plan)
}

fn fill(conn: &mut DbConnection, index: &TerritoryIndex, sizes: &Sizes) -> anyhow::Result<()> {
    let began = Instant::now();
    let ctx = refs(conn, index)?;
    let mut random = Random(0x5eed_0000_0006_0001);
    let rural: Vec<usize> = ctx.units.iter().copied().filter(|&u| !urban(index, u)).collect();
    let places: Vec<HotPlace> = (0..sizes.hot_places)
        .map(|_| {
            let at = if random.unit() < 0.8 {
                central(&mut random)
            } else {
                let unit = rural[random.below(rural.len())];
                random.scatter(centroid(index, unit), 1000.0)
            };
            HotPlace { at, spread_m: random.between(12.0, 40.0) }
        })
        .collect();
    // Stored in the order they were seen, as phones send them.
    let mut seen = sightings(&ctx, index, sizes, &places)?;
    seen.sort_by_key(|sighting| sighting.observed_at);

    // Profiles first (links refer to them), with what their sightings say about them.
    let children = sizes.hot_places * REGULARS + TIRANA_CHILDREN + OTHER_CHILDREN;
    let mut of_child = vec![Seens::default(); children];
    for sighting in &seen {
        if let Some(child) = sighting.profile {
            let seens = &mut of_child[child];
            seens.count += 1;
            seens.first = Some(seens.first.map_or(sighting.observed_at, |t| t.min(sighting.observed_at)));
            seens.last = Some(seens.last.map_or(sighting.observed_at, |t| t.max(sighting.observed_at)));
            if seens.count == 1 {
                seens.areas = sighting.areas;
            }
        }
    }
    let profile_ids: Vec<String> = (0..children).map(|_| random.uuid()).collect();
    let ages: Vec<i32> = (0..children).map(|_| 4 + random.below(13) as i32).collect();
    let mut profiles = Vec::new();
    for (child, seens) in of_child.iter().enumerate() {
        let (Some(first), Some(last)) = (seens.first, seens.last) else { continue };
        let area_id = |area: Option<usize>| area.map(|a| index.area(a).id.clone());
        profiles.push(ProfileRow {
            id: profile_ids[child].clone(),
            reference: format!("TR-2026-{:06}", child + 1),
            subject_type: "child".into(),
            status: "identified".into(),
            given_name: None,
            family_name: None,
            sex: if ages[child] % 2 == 0 { "female".into() } else { "male".into() },
            birth_year: Some(2026 - ages[child]),
            birth_year_estimated: true,
            nationality: Some("AL".into()),
            languages: "[\"sq\"]".into(),
            residence_origin: None,
            family_contacts: None,
            municipality_id: area_id(seens.areas[1]),
            admin_unit_id: area_id(seens.areas[2]),
            agency_id: ctx.qkt.clone(),
            created_by: ctx.coordinator.clone(),
            merged_into: None,
            sightings_count: seens.count,
            first_seen_at: first,
            last_seen_at: last,
            version: 1,
            created_at: first,
            updated_at: last,
        });
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in profiles.chunks(500) {
            insert_rows!(conn, diesel::insert_into(child_profiles::table).values(chunk))?;
        }
        Ok(())
    })?;
    eprintln!("  {} child profiles ({:.0} s)", profiles.len(), began.elapsed().as_secs_f64());

    let linked_at = now()?;
    for (batch, chunk) in seen.chunks(10_000).enumerate() {
        let rows: Vec<IdentificationRow> = chunk
            .iter()
            .map(|sighting| {
                let age = sighting.profile.map_or_else(|| 4 + random.below(13) as i32, |child| ages[child]);
                sighting_row(&ctx, index, random.uuid_at(sighting.observed_at), sighting, age)
            })
            .collect();
        let links: Vec<_> = rows
            .iter()
            .zip(chunk)
            .filter_map(|(row, sighting)| {
                let child = sighting.profile?;
                Some((
                    identification_links::identification_id.eq(row.id.clone()),
                    identification_links::profile_id.eq(profile_ids[child].clone()),
                    identification_links::cell_key.eq(row.cell_key.clone()),
                    identification_links::lat.eq(row.lat),
                    identification_links::lon.eq(row.lon),
                    identification_links::accompanied_by.eq(row.accompanied_by.clone()),
                    identification_links::observed_at.eq(row.observed_at),
                    identification_links::linked_by.eq(ctx.coordinator.clone()),
                    identification_links::linked_at.eq(linked_at),
                ))
            })
            .collect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for rows in rows.chunks(500) {
                insert_rows!(conn, diesel::insert_into(identifications::table).values(rows))?;
            }
            for links in links.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(identification_links::table).values(links))?;
            }
            Ok(())
        })?;
        if batch % 5 == 4 {
            eprintln!("  {} identifications ({:.0} s)", (batch + 1) * 10_000, began.elapsed().as_secs_f64());
        }
    }

    let spots = hotspot_rows(&ctx, index, sizes, &places)?;
    let plan = plan(&ctx, index, sizes, &spots)?;
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in spots.chunks(500) {
            insert_rows!(conn, diesel::insert_into(hotspots::table).values(chunk))?;
        }
        insert_rows!(conn, diesel::insert_into(teams::table).values(&plan.teams))?;
        let members: Vec<_> = plan
            .members
            .iter()
            .map(|(team, user)| (team_members::team_id.eq(team), team_members::user_id.eq(user)))
            .collect();
        insert_rows!(conn, diesel::insert_into(team_members::table).values(&members))?;
        for chunk in plan.rounds.chunks(500) {
            insert_rows!(conn, diesel::insert_into(rounds::table).values(chunk))?;
        }
        for chunk in plan.stops.chunks(2000) {
            insert_rows!(conn, diesel::insert_into(round_stops::table).values(chunk))?;
        }
        Ok(())
    })?;
    let by_status = plan.rounds.iter().fold(HashMap::<&str, usize>::new(), |mut counts, round| {
        *counts.entry(round.status.as_str()).or_default() += 1;
        counts
    });
    let mut by_status: Vec<_> = by_status.into_iter().collect();
    by_status.sort();
    eprintln!(
        "filled: {} identifications, {} profiles, {} hotspots, {} teams, {} rounds {by_status:?}, {} stops in {:.0} s",
        seen.len(),
        profiles.len(),
        spots.len(),
        plan.teams.len(),
        plan.rounds.len(),
        plan.stops.len(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
