//! Candidate search for a new sighting over a large store of identifications.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/candidates.db IDENTIFICATIONS=1000000 QUERIES=2000 \
//!   cargo bench --bench candidates
//! ```
//!
//! The first run fills the database (reused by later runs with the same URL): identifications over
//! three years across Albania's 61 municipalities, 40 % of them in Tirana, 60 % linked to child
//! profiles of one to eight sightings around a home point. It then times
//! `profiles::candidates::for_sighting` for new sightings in Tirana (the densest area), half of them
//! with a name told, as a Tirana field worker, and prints p50, p90, p99 and max.
#![expect(clippy::expect_used, reason = "a benchmark that cannot set up should stop loudly")]

use std::collections::HashSet;
#[macro_use]
#[expect(dead_code, reason = "the database is seeded on start here, not by the bench")]
mod support;

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use secrecy::SecretString;
use terren_api::access::AuthUser;
use terren_api::clock::ManualClock;
use terren_api::config::Config;
use terren_api::db::DbConnection;
use terren_api::db::schema::{
    agencies, child_profile_name_keys, child_profile_names, child_profiles, identification_links, identifications,
};
use terren_api::identifications::privacy::coarse_cell;
use terren_api::identifications::store::IdentificationRow;
use terren_api::profiles::names::sound_keys;
use terren_api::profiles::store::ProfileRow;
use terren_api::state::AppState;
use terren_api::territory::index::TerritoryIndex;
use terren_api::vocabularies::wire_code;
use terren_contract::identifications::AgeBand;

use support::{Random, acting_as, env_or, percentile};

const GIVEN_NAMES: [&str; 24] = [
    "Ana", "Xhoni", "Endri", "Besa", "Klea", "Ardit", "Sara", "Erion", "Elira", "Dritan", "Mira", "Gentian", "Jonida",
    "Kristjan", "Arbër", "Flutura", "Ilir", "Dafina", "Gëzim", "Hana", "Luan", "Teuta", "Sokol", "Vjosa",
];
const FAMILY_NAMES: [&str; 12] =
    ["Hoxha", "Shehu", "Krasniqi", "Gjoka", "Dervishi", "Leka", "Çela", "Muça", "Bregu", "Kola", "Duka", "Rama"];

impl Random {
    /// Roughly normal, mean 0, standard deviation 1.
    fn normal(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() - 3.0
    }
}

fn start() -> NaiveDateTime {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).single().expect("time").naive_utc()
}

/// Centres to scatter sightings around: central Tirana (40 %) and every other municipality.
fn centres(index: &TerritoryIndex) -> Vec<(f64, f64)> {
    (100..400)
        .map(|n| format!("AL{n}"))
        .filter(|code| code != "AL224")
        .filter_map(|code| index.find_code(&code))
        .map(|area| (index.area(area).centroid.y(), index.area(area).centroid.x()))
        .collect()
}

const CENTRAL_TIRANA: (f64, f64) = (41.3275, 19.8187);

#[expect(clippy::too_many_arguments, reason = "one sighting's varying facts")]
fn sighting_row(
    index: &TerritoryIndex,
    id: String,
    user: &AuthUser,
    lat: f64,
    lon: f64,
    observed_at: NaiveDateTime,
    age: i32,
    sex: &str,
    name: Option<String>,
) -> IdentificationRow {
    let located = index.locate(lat, lon);
    let area_id = |resolved: &Option<terren_api::territory::index::Resolved>| {
        resolved.as_ref().map(|r| index.area(r.area).id.clone())
    };
    IdentificationRow {
        id,
        recorded_by: user.user_id.to_string(),
        agency_id: user.agency.id.clone(),
        device_id: "bench".into(),
        observed_at,
        received_at: observed_at,
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: Some(15.0),
        altitude_m: None,
        fix_time: None,
        location_source: Some("gps".into()),
        mock_location: false,
        location_not_collected_reason: None,
        place_description: None,
        county_id: area_id(&located.county),
        municipality_id: area_id(&located.municipality),
        admin_unit_id: area_id(&located.admin_unit),
        locate_method: located.method().as_str().into(),
        cell_key: Some(coarse_cell(lat, lon).0),
        subject_type: "child".into(),
        estimated_age: Some(age),
        birth_year: None,
        age_band: wire_code(AgeBand::of_age(Some(age))),
        sex: sex.into(),
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
        created_at: observed_at,
        updated_at: observed_at,
        name_as_told: name,
        location_coarsened_at: None,
        round_id: None,
        provisional: false,
    }
}

/// Everything one batch writes.
#[derive(Default)]
struct Batch {
    sightings: Vec<IdentificationRow>,
    profiles: Vec<ProfileRow>,
    names: Vec<(String, String, String)>,
    keys: Vec<(String, String, NaiveDateTime)>,
    links: Vec<(IdentificationRow, String)>,
}

impl Batch {
    fn write(&mut self, conn: &mut DbConnection, user: &AuthUser) {
        let at = start();
        // Each multi-row insert commits on its own (diesel wraps SQLite's in a transaction).
        let mut write = || -> QueryResult<()> {
            for chunk in self.sightings.chunks(500) {
                insert_rows!(conn, diesel::insert_into(identifications::table).values(chunk))?;
            }
            for chunk in self.profiles.chunks(500) {
                insert_rows!(conn, diesel::insert_into(child_profiles::table).values(chunk))?;
            }
            for chunk in self.names.chunks(2000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(profile, name, folded)| {
                        (
                            child_profile_names::profile_id.eq(profile),
                            child_profile_names::folded.eq(folded),
                            child_profile_names::name.eq(name),
                            child_profile_names::source.eq("given"),
                            child_profile_names::added_at.eq(at),
                        )
                    })
                    .collect();
                insert_rows!(conn, diesel::insert_into(child_profile_names::table).values(rows))?;
            }
            for chunk in self.keys.chunks(5000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(key, profile, last_seen_at)| {
                        (
                            child_profile_name_keys::sound_key.eq(key),
                            child_profile_name_keys::profile_id.eq(profile),
                            child_profile_name_keys::last_seen_at.eq(last_seen_at),
                        )
                    })
                    .collect();
                insert_rows!(conn, diesel::insert_into(child_profile_name_keys::table).values(rows))?;
            }
            for chunk in self.links.chunks(2000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|(sighting, profile)| {
                        (
                            identification_links::identification_id.eq(&sighting.id),
                            identification_links::profile_id.eq(profile),
                            identification_links::cell_key.eq(&sighting.cell_key),
                            identification_links::lat.eq(sighting.lat),
                            identification_links::lon.eq(sighting.lon),
                            identification_links::accompanied_by.eq(&sighting.accompanied_by),
                            identification_links::observed_at.eq(sighting.observed_at),
                            identification_links::linked_by.eq(&user.user_id),
                            identification_links::linked_at.eq(at),
                        )
                    })
                    .collect();
                insert_rows!(conn, diesel::insert_into(identification_links::table).values(rows))?;
            }
            Ok(())
        };
        write().expect("batch written");
        *self = Batch::default();
    }
}

fn fill(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, target: usize) {
    let others = centres(index);
    assert_eq!(others.len(), 60, "the other municipalities");
    // Profiles outside Tirana belong to another agency: Tirana's worker sees them only by area.
    let elsewhere: terren_api::ids::AgencyId =
        agencies::table.filter(agencies::code.eq("ASHDMF")).select(agencies::id).first(conn).expect("ASHDMF agency");
    let mut random = Random(0x5eed_cafe_f00d_0001);
    let span_minutes = 3 * 365 * 24 * 60;
    let mut batch = Batch::default();
    let mut written = 0;
    let mut profiles = 0;
    let began = Instant::now();
    while written < target {
        let in_tirana = random.unit() < 0.4;
        let (c_lat, c_lon) = if in_tirana { CENTRAL_TIRANA } else { others[random.below(others.len())] };
        let spread_km = if in_tirana { 3.0 } else { 2.0 };
        let home_lat = c_lat + random.normal() * spread_km / 111.32;
        let home_lon = c_lon + random.normal() * spread_km / 83.6;
        let first_seen = start() - Duration::minutes((random.unit() * f64::from(span_minutes)) as i64);
        let age = 4 + random.below(13) as i32;
        let sex = if random.unit() < 0.5 { "female" } else { "male" };
        let given = GIVEN_NAMES[random.below(GIVEN_NAMES.len())];
        let linked = random.unit() < 0.25;
        let sightings = if linked { 1 + random.below(8) } else { 1 };
        let profile_id = random.uuid();
        if linked {
            profiles += 1;
            let family = FAMILY_NAMES[random.below(FAMILY_NAMES.len())];
            let full = format!("{given} {family}");
            let mut row = ProfileRow {
                id: profile_id.clone(),
                reference: format!("BN-2026-{profiles:07}"),
                subject_type: "child".into(),
                status: "identified".into(),
                given_name: Some(given.into()),
                family_name: Some(family.into()),
                sex: sex.into(),
                birth_year: Some(2026 - age),
                birth_year_estimated: true,
                nationality: Some("AL".into()),
                languages: "[\"sq\"]".into(),
                residence_origin: None,
                family_contacts: None,
                municipality_id: None,
                admin_unit_id: None,
                agency_id: if in_tirana { user.agency.id.clone() } else { elsewhere.clone() },
                created_by: user.user_id.to_string(),
                merged_into: None,
                sightings_count: sightings as i32,
                first_seen_at: first_seen,
                last_seen_at: first_seen,
                version: 1,
                created_at: first_seen,
                updated_at: first_seen,
            };
            let located = index.locate(home_lat, home_lon);
            row.municipality_id = located.municipality.map(|r| index.area(r.area).id.clone());
            row.admin_unit_id = located.admin_unit.map(|r| index.area(r.area).id.clone());
            batch.names.push((profile_id.clone(), full.clone(), terren_api::territory::fold::fold(&full)));
            batch.profiles.push(row);
        }
        let mut last_seen = first_seen;
        for _ in 0..sightings {
            let lat = home_lat + random.normal() * 0.4 / 111.32;
            let lon = home_lon + random.normal() * 0.4 / 83.6;
            let observed_at = last_seen + Duration::minutes((random.unit() * 30.0 * 24.0 * 60.0) as i64);
            last_seen = observed_at;
            let name = (random.unit() < 0.5).then(|| given.to_owned());
            let row = sighting_row(index, random.uuid(), user, lat, lon, observed_at, age, sex, name);
            if linked {
                batch.links.push((row.clone(), profile_id.clone()));
            }
            batch.sightings.push(row);
            written += 1;
        }
        if let Some(profile) = batch.profiles.last_mut().filter(|p| p.id == profile_id) {
            profile.last_seen_at = last_seen;
            let full = format!("{given} {}", profile.family_name.as_deref().unwrap_or_default());
            let keys: HashSet<String> = sound_keys(&full).into_iter().collect();
            batch.keys.extend(keys.into_iter().map(|k| (k, profile_id.clone(), last_seen)));
        }
        if batch.sightings.len() >= 20_000 {
            batch.write(conn, user);
            eprintln!("  {written} identifications, {profiles} profiles ({:.0} s)", began.elapsed().as_secs_f64());
        }
    }
    batch.write(conn, user);
    eprintln!("filled: {written} identifications, {profiles} profiles in {:.0} s", began.elapsed().as_secs_f64());
}

fn main() {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:///tmp/terren-candidates.db".into());
    let target: usize = env_or("IDENTIFICATIONS", 1_000_000).expect("IDENTIFICATIONS");
    let queries: usize = env_or("QUERIES", 2000).expect("QUERIES");
    let backdated = std::env::var("BACKDATED").is_ok_and(|v| v == "1");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config { data_dir: data_dir.path().to_path_buf(), ..Config::default() };
    config.database.url = Some(SecretString::from(url.clone()));
    config.database.pool_size = 1;
    config.log.filter = "warn".into();
    let state = AppState::prepare(config, Arc::new(ManualClock::new(start().and_utc())), true).expect("prepare");
    let index = state.territory();
    let mut conn = state.db.get().expect("connection");
    let user = acting_as(&mut conn, "tirana.field").expect("demo user");
    let stored: i64 = identifications::table.count().get_result(&mut *conn).expect("count");
    if (stored as usize) < target {
        assert_eq!(stored, 0, "a partly filled database: start from an empty one");
        fill(&mut conn, &index, &user, target);
        if let DbConnection::Postgres(pg) = &mut *conn {
            diesel::connection::SimpleConnection::batch_execute(pg, "ANALYZE").expect("analyze");
        }
    }
    let stored: i64 = identifications::table.count().get_result(&mut *conn).expect("count");
    let linked: i64 = identification_links::table.count().get_result(&mut *conn).expect("count");
    let profiles: i64 = child_profiles::table.count().get_result(&mut *conn).expect("count");

    let settings = state.config.profiles.clone();
    let mut random = Random(0x0bad_5eed_0000_0042);
    let mut times = Vec::with_capacity(queries);
    let mut found = 0usize;
    for n in 0..queries + 50 {
        let lat = CENTRAL_TIRANA.0 + random.normal() * 2.0 / 111.32;
        let lon = CENTRAL_TIRANA.1 + random.normal() * 2.0 / 83.6;
        // Live: seen in the last hour, as phones record. Back-dated: any time in the three years.
        let back = if backdated { 3.0 * 365.0 * 24.0 * 60.0 } else { 60.0 };
        let observed_at = start() - Duration::minutes((random.unit() * back) as i64);
        let name = (n % 2 == 0).then(|| GIVEN_NAMES[random.below(GIVEN_NAMES.len())].to_owned());
        let sex = if random.unit() < 0.5 { "female" } else { "male" };
        let age = 4 + random.below(13) as i32;
        let row = sighting_row(&index, random.uuid(), &user, lat, lon, observed_at, age, sex, name);
        let began = Instant::now();
        let candidates =
            terren_api::profiles::candidates::for_sighting(&mut conn, &index, &user, &settings, &row, None)
                .expect("search");
        let elapsed = began.elapsed().as_secs_f64() * 1000.0;
        // The first 50 warm the caches.
        if n >= 50 {
            times.push(elapsed);
            found += candidates.len();
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "backend={} identifications={stored} linked={linked} profiles={profiles} queries={queries} backdated={backdated} \
         candidates/query={:.1} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        state.db.backend.name(),
        found as f64 / queries as f64,
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or_default(),
    );
}
