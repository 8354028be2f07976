//! Hotspot suggestions over a quarter of sightings in Tirana: `hotspots::service::suggestions`
//! as `GET /api/v1/hotspots/suggestions` runs it (in a write transaction, because it is audited),
//! for Tirana's coordinator `tirana.coord` (AL224-QKT), area AREA (AL224) over the last DAYS (60)
//! days, with every distance of 50, 100 and 200 m and every minimum of 5 and 10 sightings. Each
//! case runs RUNS (20) times after WARMUP (2) unrecorded runs; p50, p95 and max are printed with
//! the clusters found. Apart: loading the sightings and their profile links
//! (`hotspots::service::sightings_in`), leaving out those inside active hotspots, and the
//! clustering alone (`hotspots::cluster::dbscan`), each timed the same way.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`). The first run fills it
//! (see `tirana_quarter/mod.rs`: 300,000 sightings in Tirana over 90 days, about 200,000 of them
//! in the last 60, 100,000 elsewhere, profiles, hotspots, teams and rounds); later runs with the
//! same URL reuse it, as does the `coverage` bench.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchrounds/terren.db RUNS=20 cargo bench --bench hotspot_suggestions
//! ```

#[macro_use]
#[expect(dead_code, reason = "its figures are printed in its own form, not with `report_ms`")]
mod support;
#[path = "tirana_quarter/mod.rs"]
mod quarter;

use std::time::Instant;

use anyhow::{Context, anyhow};
use terren_api::db::backend;
use terren_api::hotspots::cluster;
use terren_api::hotspots::service::{area_and_below, in_areas, points_inside_each, sightings_in, suggestions};
use terren_api::http::ApiError;
use terren_contract::hotspots::SuggestionQuery;

use quarter::summary;
use support::{acting_as, env_or};

/// Times `work` RUNS times after WARMUP unrecorded runs; returns the timings in milliseconds and
/// the last result.
fn timed<T>(runs: usize, warmup: usize, mut work: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(Vec<f64>, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for n in 0..runs + warmup {
        let began = Instant::now();
        let result = work()?;
        if n >= warmup {
            times.push(began.elapsed().as_secs_f64() * 1000.0);
        }
        last = Some(result);
    }
    Ok((times, last.context("RUNS is at least 1")?))
}

fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("RUNS", 20)?;
    let warmup: usize = env_or("WARMUP", 2)?;
    let days: u32 = env_or("DAYS", 60)?;
    let area = std::env::var("AREA").unwrap_or_else(|_| "AL224".into());
    let filled = quarter::open()?;
    let (state, now) = (&filled.state, filled.now);
    anyhow::ensure!(i64::from(days) <= filled.sizes.quarter_days, "DAYS is at most QUARTER_DAYS, the span of the fill");
    let index = state.territory();
    let mut conn = state.db.get()?;
    let user = acting_as(&mut conn, "tirana.coord")?;
    let (area_index, area_ids) = area_and_below(&index, "area", &area).map_err(|e| anyhow!("{e:?}"))?;
    let from = now - chrono::Duration::days(i64::from(days));
    println!("backend={} area={area} days={days} runs={runs}", state.db.backend.name());

    // The parts, apart.
    let (mut times, sightings) = timed(runs, warmup, || Ok(sightings_in(&mut conn, &index, area_index, from, now)?))?;
    let linked = sightings.iter().filter(|s| s.profile_id.is_some()).count();
    println!(
        "load sightings and their profiles: sightings={} linked={linked} {}",
        sightings.len(),
        summary(&mut times)
    );
    let located: Vec<cluster::Point> = sightings.iter().filter_map(|s| s.point).collect();
    let (mut times, points) = timed(runs, warmup, || {
        let rows = in_areas(&mut conn, &area_ids, false).map_err(|e| anyhow!("{e:?}"))?;
        let mut inside = vec![false; located.len()];
        for members in points_inside_each(&rows, &located).map_err(|e| anyhow!("{e:?}"))? {
            for i in members {
                inside[i] = true;
            }
        }
        let outside: Vec<cluster::Point> =
            located.iter().zip(&inside).filter(|(_, inside)| !**inside).map(|(point, _)| *point).collect();
        Ok(outside)
    })?;
    println!(
        "hotspots and sightings outside them: located={} outside={} in hotspots={} {}",
        located.len(),
        points.len(),
        located.len() - points.len(),
        summary(&mut times)
    );

    for distance_m in [50.0, 100.0, 200.0] {
        for min_sightings in [5_u32, 10] {
            let params = cluster::Params { eps_m: distance_m, min_points: min_sightings as usize };
            let (mut dbscan_times, labels) = timed(runs, warmup, || Ok(cluster::dbscan(&points, params)))?;
            let clustered = labels.iter().filter(|label| label.is_some()).count();
            let query = SuggestionQuery {
                area: area.clone(),
                days: Some(days),
                distance_m: Some(distance_m),
                min_sightings: Some(min_sightings),
            };
            let (mut times, found) = timed(runs, warmup, || {
                backend::write_transaction(&mut conn, |conn| suggestions(conn, &index, &user, &query, now.and_utc()))
                    .map_err(|e: ApiError| anyhow!("{e:?}"))
            })?;
            let largest = found.suggestions.iter().map(|s| s.sightings).max().unwrap_or_default();
            println!(
                "distance={distance_m:.0}m min={min_sightings:<2} clusters={} clustered={clustered} largest={largest} \
                 considered={} in_hotspots={} suggestions: {} | dbscan alone: {}",
                found.suggestions.len(),
                found.sightings_considered,
                found.sightings_in_hotspots,
                summary(&mut times),
                summary(&mut dbscan_times),
            );
        }
    }
    Ok(())
}
