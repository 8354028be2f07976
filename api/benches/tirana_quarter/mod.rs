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

mod hotspots;
mod places;
mod rounds;
mod sightings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use terren_api::clock::ManualClock;
use terren_api::db::DbConnection;
use terren_api::db::schema;
use terren_api::state::AppState;
use terren_api::territory::index::TerritoryIndex;

use crate::support::{Random, bench_config, env_or, percentile};

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

/// The device the fill's sightings are recorded from, which tells them from the demo's.
const DEVICE: &str = "bench";

/// Fills the database unless it already holds the bench's sightings (the demo's own field records
/// are not the bench's); refuses a half-filled one.
fn fill_once(conn: &mut DbConnection, index: &TerritoryIndex, sizes: &Sizes) -> anyhow::Result<()> {
    use schema::{hotspots, identifications};
    let bench_sightings: i64 =
        identifications::table.filter(identifications::device_id.eq(DEVICE)).count().get_result(conn)?;
    let bench_hotspots: i64 =
        hotspots::table.filter(hotspots::name.like("Vend i njohur %")).count().get_result(conn)?;
    if bench_hotspots > 0 {
        return Ok(());
    }
    anyhow::ensure!(bench_sightings == 0, "a partly filled database: start from a newly seeded one");
    fill(conn, index, sizes)?;
    if let DbConnection::Postgres(pg) = conn {
        diesel::connection::SimpleConnection::batch_execute(pg, "VACUUM ANALYZE")?;
    }
    Ok(())
}

fn fill(conn: &mut DbConnection, index: &TerritoryIndex, sizes: &Sizes) -> anyhow::Result<()> {
    let began = Instant::now();
    let ctx = places::refs(conn, index)?;
    let mut random = Random(0x5eed_0000_0006_0001);
    let places = places::hot_places(&mut random, &ctx, index, sizes);
    // Stored in the order they were seen, as phones send them.
    let mut seen = sightings::sightings(&ctx, index, sizes, &places)?;
    seen.sort_by_key(|sighting| sighting.observed_at);
    let profiles = sightings::write(conn, &ctx, index, sizes, &seen, &mut random, began)?;

    let spots = hotspots::hotspot_rows(&ctx, index, sizes, &places)?;
    let plan = rounds::plan(&ctx, index, sizes, &spots)?;
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in spots.chunks(500) {
            insert_rows!(conn, diesel::insert_into(schema::hotspots::table).values(chunk))?;
        }
        insert_rows!(conn, diesel::insert_into(schema::teams::table).values(&plan.teams))?;
        let members: Vec<_> = plan
            .members
            .iter()
            .map(|(team, user)| (schema::team_members::team_id.eq(team), schema::team_members::user_id.eq(user)))
            .collect();
        insert_rows!(conn, diesel::insert_into(schema::team_members::table).values(&members))?;
        for chunk in plan.rounds.chunks(500) {
            insert_rows!(conn, diesel::insert_into(schema::rounds::table).values(chunk))?;
        }
        for chunk in plan.stops.chunks(2000) {
            insert_rows!(conn, diesel::insert_into(schema::round_stops::table).values(chunk))?;
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
        profiles,
        spots.len(),
        plan.teams.len(),
        plan.rounds.len(),
        plan.stops.len(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
