//! A phone's sync over a year of the country's sightings: the first sync of a Tirana field
//! worker's working set, the delta after a night offline, and a batch of an offline shift.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchsync/terren.db QUARTER_DAYS=365 IDENTIFICATIONS=300000 OTHERS=700000 \
//!   cargo bench -p terren-api --bench sync
//! ```
//!
//! Needs a migrated and seeded database (`terren seed --demo`); the first run fills it (see
//! `tirana_quarter/mod.rs`; with the figures above, a year: 300,000 sightings in Tirana, 700,000
//! elsewhere) and seals the change feed the fill's triggers noted. Then, as `tirana.field`
//! (AL224-QKT), through `sync::pull::page` in a write transaction as `GET /api/v1/sync` runs it:
//!
//! - FULL_RUNS (5) first syncs, LIMIT (500) records a page: wall time of the whole sync, records
//!   and records per second, the JSON and gzip sizes of all its pages;
//! - the delta after a 12-hour night in which CHANGES (500) of the worker's sightings changed,
//!   DELTA_RUNS (100) times from the same cursor: p50, p99, JSON and gzip size;
//! - BATCH_RUNS (5) batches of BATCH (200) offline sightings through `sync::batch::apply`.

#[macro_use]
#[expect(dead_code, reason = "its figures are printed in its own form")]
mod support;
#[path = "tirana_quarter/mod.rs"]
mod quarter;

use std::io::Write;
use std::time::Instant;

use anyhow::anyhow;
use chrono::Duration;
use diesel::prelude::*;
use terren_api::access::AuthUser;
use terren_api::db::schema::identifications;
use terren_api::db::{PooledConn, backend};
use terren_api::http::lang::Lang;
use terren_api::state::AppState;
use terren_api::sync::pull::{self, Settings};
use terren_api::sync::replicas::ReplicaCache;
use terren_contract::sync::SyncPage;

use quarter::summary;
use support::{acting_as, env_or};

/// Records put in a page.
fn records(page: &SyncPage) -> usize {
    page.referrals.put.len()
        + page.alerts.put.len()
        + page.hotspots.put.len()
        + page.identifications.put.len()
        + page.profiles.put.len()
        + page.rounds.put.len()
}

/// The page as JSON and gzip-compressed (as `Compress` sends it), in bytes.
fn wire_sizes(page: &SyncPage) -> anyhow::Result<(usize, usize)> {
    let json = serde_json::to_vec(page)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&json)?;
    Ok((json.len(), gzip.finish()?.len()))
}

fn call(
    conn: &mut PooledConn,
    state: &AppState,
    user: &AuthUser,
    replicas: &ReplicaCache,
    cursor: Option<&str>,
    limit: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<SyncPage> {
    let index = state.territory();
    let settings = Settings {
        keys: &state.tokens,
        index: &index,
        on_call: &state.on_call_cache,
        replicas,
        window_days: state.config.sync.window_days,
        feed_days: state.config.retention.change_feed_days,
    };
    backend::write_transaction(conn, |tx| pull::page(tx, &settings, user, cursor, Some(limit), now))
        .map_err(|e| anyhow!("sync: {e:?}"))
}

fn main() -> anyhow::Result<()> {
    let (full_runs, delta_runs): (usize, usize) = (env_or("FULL_RUNS", 5)?, env_or("DELTA_RUNS", 100)?);
    let (limit, changes, batch, batch_runs): (u32, usize, usize, usize) =
        (env_or("LIMIT", 500)?, env_or("CHANGES", 500)?, env_or("BATCH", 200)?, env_or("BATCH_RUNS", 5)?);
    let filled = quarter::open()?;
    let (state, now) = (&filled.state, filled.now.and_utc());
    let mut conn = state.db.get()?;
    let began = Instant::now();
    let sealed = terren_api::changes::seal_pending(&mut conn, filled.now)?;
    if sealed > 0 {
        eprintln!("sealed {sealed} change notes of the fill in {:.0} s", began.elapsed().as_secs_f64());
    }
    // As `terren serve` does when it starts.
    let began = Instant::now();
    terren_api::db::statistics::refresh(&mut conn)?;
    eprintln!("planner statistics refreshed in {:.0} ms", began.elapsed().as_secs_f64() * 1000.0);
    let user = acting_as(&mut conn, "tirana.field")?;
    let (sizes, window) = (&filled.sizes, state.config.sync.window_days);
    println!(
        "backend={} now={now} limit={limit}: {} sightings in Tirana and {} elsewhere over {} days, window {window} days",
        state.db.backend.name(),
        sizes.identifications,
        sizes.others,
        sizes.quarter_days
    );

    let mut times = Vec::new();
    let mut last_cursor = String::new();
    for _ in 0..full_runs {
        let (mut cursor, mut took, mut total, mut pages, mut json, mut gzip) = (None::<String>, 0.0, 0, 0, 0, 0);
        let (mut sightings, mut profiles) = (0, 0);
        loop {
            let began = Instant::now();
            let page = call(&mut conn, state, &user, &state.sync_replicas, cursor.as_deref(), limit, now)?;
            took += began.elapsed().as_secs_f64();
            total += records(&page);
            (sightings, profiles) = (sightings + page.identifications.put.len(), profiles + page.profiles.put.len());
            pages += 1;
            let (j, g) = wire_sizes(&page)?;
            (json, gzip) = (json + j, gzip + g);
            cursor = Some(page.cursor.clone());
            if !page.has_more {
                break;
            }
        }
        println!(
            "first sync: {total} records ({sightings} sightings, {profiles} profiles) in {pages} pages, server time \
             {:.0} ms, {:.0} records/s, {:.1} MB JSON, {:.1} MB gzip",
            took * 1000.0,
            total as f64 / took,
            json as f64 / 1e6,
            gzip as f64 / 1e6,
        );
        times.push(took * 1000.0);
        last_cursor = cursor.unwrap_or_default();
    }
    println!("first sync over {full_runs} runs: {}", summary(&mut times));

    // A night: the worker's sightings change (a link, a coarsening, a correction) while the phone
    // is offline.
    let ids: Vec<String> = identifications::table
        .filter(identifications::municipality_id.is_not_null())
        .filter(identifications::observed_at.ge(filled.now - Duration::days(state.config.sync.window_days)))
        .select(identifications::id)
        .order(identifications::observed_at.desc())
        // Past the newest, where earlier runs' batches put their sightings, so that every run
        // changes sightings of the fill.
        .offset(5_000)
        .limit(changes as i64)
        .load(&mut conn)?;
    backend::write_transaction(&mut conn, |tx| {
        diesel::update(identifications::table.filter(identifications::id.eq_any(&ids)))
            .set(identifications::version.eq(identifications::version + 1))
            .execute(tx.conn())
    })?;
    terren_api::changes::seal_pending(&mut conn, filled.now)?;
    let morning = now + Duration::hours(12);
    let mut times = Vec::new();
    let mut shape = (0, 0, 0);
    for _ in 0..delta_runs {
        let began = Instant::now();
        let page = call(&mut conn, state, &user, &state.sync_replicas, Some(&last_cursor), limit, morning)?;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        let (json, gzip) = wire_sizes(&page)?;
        shape = (records(&page) + page.identifications.remove.len(), json, gzip);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "delta after {changes} changes: {} records, p99={:.1}ms, {:.1} KB JSON, {:.1} KB gzip; {}",
        shape.0,
        support::percentile(&times, 99.0),
        shape.1 as f64 / 1e3,
        shape.2 as f64 / 1e3,
        summary(&mut times)
    );
    // The same delta on an instance that never answered this phone (restarted, or a sibling
    // behind the same address): no copy of what the phone holds, so the membership is worked out.
    let mut times = Vec::new();
    for _ in 0..(delta_runs / 5).max(1) {
        let began = Instant::now();
        call(&mut conn, state, &user, &ReplicaCache::default(), Some(&last_cursor), limit, morning)?;
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "delta after {changes} changes, no copy in memory: p99={:.1}ms; {}",
        support::percentile(&times, 99.0),
        summary(&mut times)
    );

    // The batch takes its connections from the pool, as a request does.
    drop(conn);
    let system = actix_web::rt::System::new();
    let mut times = Vec::new();
    for run in 0..batch_runs {
        let operations: Vec<serde_json::Value> = (0..batch)
            .map(|n| {
                let id = uuid::Uuid::new_v4();
                let at = (now - Duration::minutes((batch - n) as i64)).to_rfc3339();
                serde_json::json!({ "type": "record_sighting", "key": format!("bench-{run}-{n}-{id}"), "body": {
                    "id": id, "observed_at": at, "subject_type": "child", "estimated_age": 10, "sex": "male",
                    "location": { "lat": 41.3275 + n as f64 * 1e-4, "lon": 19.8187, "accuracy_m": 15.0, "fix_time": at, "source": "gps" },
                    "street_situations": ["begging"], "risk_level": "medium", "consent_given_by": "child"
                }})
            })
            .collect();
        let began = Instant::now();
        let outcome = system.block_on(terren_api::sync::batch::apply(state, &user, Lang::En, operations));
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        let refused = outcome.results.iter().filter(|r| r.problem.is_some()).count();
        anyhow::ensure!(
            refused == 0,
            "{refused} operations refused: {:?}",
            outcome.results.iter().find(|r| r.problem.is_some())
        );
    }
    println!("batch of {batch} sightings over {batch_runs} runs: {}", summary(&mut times));
    Ok(())
}
