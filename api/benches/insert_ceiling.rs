//! The raw insert ceiling for identifications: CLIENTS threads, each inserting one
//! identification row per write transaction (`backend::write_transaction`, as the service
//! commits; BEGIN IMMEDIATE on SQLite) through the project's own pool, for SECONDS seconds.
//! No HTTP, no authentication, no validation, no candidate search, no audit record, no
//! idempotency key: the number that `POST /api/v1/identifications` is compared against.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`, `terren import-areas`);
//! the rows are recorded by the demo user `tirana.field`.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchpost/terren.db CLIENTS=32 SECONDS=20 cargo bench --bench insert_ceiling
//! DATABASE_URL=postgres://terren:terren@127.0.0.1:5432/terren_bench_post cargo bench --bench insert_ceiling
//! ```

#[macro_use]
#[expect(dead_code, unused_macros, reason = "inserts go through the pool one row at a time, as the service writes")]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use chrono::Utc;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use terren_api::config::Config;
use terren_api::db::schema::{identifications, users};
use terren_api::db::{Database, backend};
use terren_api::identifications::privacy::coarse_cell;
use terren_api::identifications::store::IdentificationRow;
use terren_api::territory::index::TerritoryIndex;
use terren_api::vocabularies::wire_code;
use terren_contract::identifications::AgeBand;

use support::{env_or, percentile};

const NAMES: [&str; 6] = ["Ana", "Xhoni", "Endri", "Besa", "Klea", "Ardit"];

/// xorshift64: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Who {
    user_id: String,
    agency_id: terren_api::ids::AgencyId,
}

/// One row with the values the wrk script sends, resolved as the service would resolve them
/// (the locate lookup runs here, outside the timed part).
fn make_row(rng: &mut Rng, seq: u64, who: &Who, index: &TerritoryIndex) -> IdentificationRow {
    let now = Utc::now();
    let at = terren_api::clock::truncate(now);
    let observed_at = terren_api::clock::truncate(now - chrono::Duration::minutes(10));
    let lat = 41.30 + rng.next_f64() * 0.05;
    let lon = 19.78 + rng.next_f64() * 0.07;
    let age = 5 + (rng.next_f64() * 11.0) as i32;
    let id = uuid::Uuid::now_v7().to_string();
    let located = index.locate(lat, lon);
    let area_id =
        |r: &Option<terren_api::territory::index::Resolved>| r.as_ref().map(|r| index.area(r.area).id.clone());
    let list = |codes: &[&str]| serde_json::to_string(codes).unwrap_or_else(|_| "[]".into());
    IdentificationRow {
        content_hash: terren_api::digest::hex(&Sha256::digest(id.as_bytes())),
        id,
        recorded_by: who.user_id.clone(),
        agency_id: who.agency_id.clone(),
        device_id: "bench".into(),
        observed_at,
        received_at: at,
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: Some(5.0 + rng.next_f64() * 25.0),
        altitude_m: None,
        fix_time: None,
        location_source: Some("gps".into()),
        mock_location: false,
        location_not_collected_reason: None,
        place_description: Some("traffic lights".into()),
        county_id: area_id(&located.county),
        municipality_id: area_id(&located.municipality),
        admin_unit_id: area_id(&located.admin_unit),
        locate_method: located.method().as_str().to_owned(),
        cell_key: Some(coarse_cell(lat, lon).0),
        subject_type: "child".into(),
        estimated_age: Some(age),
        birth_year: None,
        age_band: wire_code(AgeBand::of_age(Some(age))),
        sex: if seq.is_multiple_of(2) { "female" } else { "male" }.into(),
        nationality: Some("AL".into()),
        languages: list(&["sq"]),
        ethnicity: None,
        residence_origin: Some("other_municipality".into()),
        street_situations: list(&["selling_items"]),
        accompanied_by: Some("other_adult".into()),
        risk_factors: list(&["school_dropout"]),
        exploitation_indicators: list(&["forced_begging"]),
        visible_conditions: list(&["exposure"]),
        immediate_needs: list(&["food"]),
        actions_taken: list(&["food_or_water_given", "information_given"]),
        consent_given_by: Some("child".into()),
        risk_level: "medium".into(),
        emergency: false,
        notes: None,
        version: 1,
        created_at: at,
        updated_at: at,
        name_as_told: seq.is_multiple_of(3).then(|| NAMES[(rng.next_f64() * NAMES.len() as f64) as usize].to_owned()),
        location_coarsened_at: None,
        round_id: None,
        provisional: false,
    }
}

#[derive(Default)]
struct ClientResult {
    /// Per-insert latency in microseconds: pool checkout, BEGIN, INSERT, COMMIT.
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

fn count_rows(db: &Database) -> anyhow::Result<i64> {
    let mut conn = db.get()?;
    Ok(identifications::table.count().get_result(&mut conn)?)
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let clients: u32 = env_or("CLIENTS", 32)?;
    let seconds: u64 = env_or("SECONDS", 20)?;
    if clients == 0 || seconds == 0 {
        return Err(anyhow!("CLIENTS and SECONDS must be at least 1"));
    }

    let mut config = Config::default();
    config.database.url = Some(url.into());
    config.database.pool_size = clients;
    config.validate()?;
    let db = Database::connect(&config)?;
    let (who, index) = {
        let mut conn = db.get()?;
        if conn.has_pending_migrations()? {
            return Err(anyhow!(
                "the database is not migrated: run `terren seed --demo` and `terren import-areas` first"
            ));
        }
        let (user_id, agency_id): (String, terren_api::ids::AgencyId) = users::table
            .filter(users::username.eq("tirana.field"))
            .select((users::id, users::agency_id))
            .first(&mut conn)
            .optional()?
            .ok_or_else(|| anyhow!("no user tirana.field: run `terren seed --demo` first"))?;
        let index = terren_api::territory::service::load_index(&mut conn, config.territory.max_centroid_distance_km)?;
        (Who { user_id, agency_id }, index)
    };
    let (who, index) = (Arc::new(who), Arc::new(index));
    let rows_before = count_rows(&db)?;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|client| {
            let (db, who, index, stop) = (db.clone(), who.clone(), index.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x5eed_1234_abcd_ef01 ^ (u64::from(client) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut result = ClientResult { latencies_us: Vec::with_capacity(1 << 16), ..Default::default() };
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let row = make_row(&mut rng, seq, &who, &index);
                    let t0 = Instant::now();
                    let outcome = db.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                        backend::write_transaction(&mut conn, |conn| {
                            diesel::insert_into(identifications::table).values(&row).execute(conn.conn())
                        })
                        .map_err(|e| e.to_string())
                    });
                    let elapsed = t0.elapsed();
                    match outcome {
                        Ok(_) => result.latencies_us.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
                        Err(e) => {
                            result.errors += 1;
                            result.first_error.get_or_insert(e);
                        }
                    }
                }
                result
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for worker in workers {
        let result = worker.join().map_err(|_| anyhow!("a client thread panicked"))?;
        all.extend(result.latencies_us);
        errors += result.errors;
        first_error = first_error.or(result.first_error);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rows_after = count_rows(&db)?;
    all.sort_unstable();
    let inserts = all.len();
    let ms = |p: f64| f64::from(percentile(&all, p)) / 1000.0;
    println!(
        "insert_ceiling backend={} clients={clients} seconds={elapsed:.1} inserts={inserts} rate={:.0}/s \
         p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms errors={errors} rows_before={rows_before} rows_after={rows_after}",
        db.backend.name(),
        inserts as f64 / elapsed,
        ms(50.0),
        ms(90.0),
        ms(99.0),
        ms(100.0),
    );
    if let Some(error) = first_error {
        println!("first error: {error}");
    }
    Ok(())
}
