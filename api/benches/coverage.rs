//! The coverage report of a quarter in Tirana: `rounds::coverage::coverage` as
//! `GET /api/v1/coverage` runs it, for Tirana's coordinator `tirana.coord` (AL224-QKT), over the
//! QUARTER_DAYS (90) days before the bench's clock, for the municipality (AL224, its 27
//! administrative units below it) and for one unit, UNIT (AL224-U10). Each runs RUNS (20) times
//! after WARMUP (2) unrecorded runs; p50, p95 and max are printed with the size of the report.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`). The first run fills it
//! (see `tirana_quarter/mod.rs`: 300,000 sightings in Tirana over 90 days, 100,000 elsewhere,
//! profiles, 300 hotspots, 30 teams and their rounds for the quarter and the next two weeks);
//! later runs with the same URL reuse it, as does the `hotspot_suggestions` bench.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchrounds/terren.db RUNS=20 cargo bench --bench coverage
//! ```

#[macro_use]
#[expect(dead_code, reason = "its figures are printed in its own form, not with `report_ms`")]
mod support;
#[path = "tirana_quarter/mod.rs"]
mod quarter;

use std::time::Instant;

use anyhow::{Context, anyhow};
use terren_api::rounds::coverage::coverage;
use terren_contract::rounds::CoverageQuery;

use quarter::summary;
use support::{acting_as, env_or};

fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("RUNS", 20)?;
    let warmup: usize = env_or("WARMUP", 2)?;
    let unit = std::env::var("UNIT").unwrap_or_else(|_| "AL224-U10".into());
    let filled = quarter::open()?;
    let (state, sizes, now) = (&filled.state, &filled.sizes, filled.now);
    let index = state.territory();
    let mut conn = state.db.get()?;
    let user = acting_as(&mut conn, "tirana.coord")?;
    let from = (now - chrono::Duration::days(sizes.quarter_days)).and_utc();
    println!("backend={} from={from} to={} runs={runs}", state.db.backend.name(), now.and_utc());

    for area in ["AL224".to_owned(), unit] {
        let query = CoverageQuery { area: area.clone(), from, to: now.and_utc(), stale_days: None };
        let mut times = Vec::with_capacity(runs);
        let mut report = None;
        for n in 0..runs + warmup {
            let began = Instant::now();
            let result = coverage(&mut conn, &index, &user, &query).map_err(|e| anyhow!("{area}: {e:?}"))?;
            if n >= warmup {
                times.push(began.elapsed().as_secs_f64() * 1000.0);
            }
            report = Some(result);
        }
        let report = report.context("RUNS is at least 1")?;
        let planned: i64 = report.hotspots.iter().map(|h| h.planned_visits).sum();
        let done: i64 = report.hotspots.iter().map(|h| h.done_visits).sum();
        let in_hotspots: i64 = report.hotspots.iter().map(|h| h.identifications).sum();
        let seen: i64 = report.grid.iter().map(|c| c.identifications).sum();
        let team_hours: i64 = report.grid.iter().map(|c| c.team_minutes).sum::<i64>() / 60;
        println!(
            "area={area:<9} hotspots={} visits planned={planned} done={done} sightings={seen} in_hotspots={in_hotspots} \
             team_hours={team_hours} stale={} missed_rounds={} {}",
            report.hotspots.len(),
            report.stale_hotspots.len(),
            report.missed_rounds.len(),
            summary(&mut times)
        );
    }
    Ok(())
}
