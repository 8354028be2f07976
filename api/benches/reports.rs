//! The reports over a year of national data: the national annual report, a municipality's
//! quarter, and the XLSX of the national report.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchsync/terren.db QUARTER_DAYS=365 IDENTIFICATIONS=300000 OTHERS=700000 \
//!   cargo bench -p terren-api --bench reports
//! ```
//!
//! Opens the year the `sync` bench fills (see `tirana_quarter/mod.rs`; with the figures above,
//! 300,000 sightings in Tirana and 700,000 elsewhere over the 365 days before the clock,
//! 2026-11-24 12:00 UTC, half of them linked to profiles) and, the first time, adds what it lacks
//! (see `reports/fill.rs`): profiles up to 130,000, about 200,000 referrals with their deadlines,
//! 4,000 protection cases with their measures. Then, after refreshing the planner statistics as
//! `terren serve` does, RUNS (5) times each, in a read snapshot as `GET /api/v1/reports` reads
//! (`backend::read_snapshot`; the audit record the endpoint adds after it is left out):
//!
//! - the national report of YEAR (`2025-11-25..2026-11-24`), counted (`service::count`) and shown
//!   with small numbers hidden, as a national reader of aggregates gets it;
//! - Tirana's (AL224) report of QUARTER (`2026-Q3`), exact;
//! - the XLSX of the national report: counted, shown and rendered (`export::xlsx::xlsx`).
//!
//! Wall time of each, p50 and max (the first run, on a cold cache, included). Then the time of
//! each query of one national count, slowest first, and the plans of the heaviest counting
//! queries for the national year and Tirana's quarter (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
//! on PostgreSQL). The street query is `street::people_statement` itself; the others restate the
//! ones in `reports/plan.rs` and `reports/referrals.rs`.

#[macro_use]
#[expect(dead_code, reason = "each bench uses part of it")]
mod support;
#[path = "reports/fill.rs"]
mod fill;
#[path = "tirana_quarter/mod.rs"]
mod quarter;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::anyhow;
use chrono::NaiveDateTime;
use diesel::connection::InstrumentationEvent;
use diesel::deserialize::{self, QueryableByName};
use diesel::prelude::*;
use diesel::row::NamedRow;
use diesel::sql_types::{BigInt, Text};
use terren_api::db::schema::{child_profiles, identifications, protection_cases, referral_deadlines, referrals};
use terren_api::db::{DbConnection, MultiBackend, PooledConn, backend};
use terren_api::reports::cases::Scope;
use terren_api::reports::export::xlsx::xlsx;
use terren_api::reports::period::Period;
use terren_api::reports::service::{self, Counted};
use terren_api::reports::sql::Statement;
use terren_api::territory::index::TerritoryIndex;
use terren_contract::reports::{Report, ReportTableId};

use quarter::summary;
use support::env_or;

/// Counts the report of `area` over `period` in a read snapshot.
fn count(
    conn: &mut PooledConn,
    index: &TerritoryIndex,
    area: &str,
    period: &Period,
    at: NaiveDateTime,
) -> anyhow::Result<Counted> {
    backend::read_snapshot(conn, |tx| {
        let covered = service::covered(index, area)?;
        service::count(tx, covered, period.clone(), None, at)
    })
    .map_err(|e| anyhow!("{area} {}: {e:?}", period.label))
}

fn total(report: &Report, id: ReportTableId) -> String {
    report
        .tables
        .iter()
        .find(|table| table.id == id)
        .and_then(|table| table.total.count)
        .map_or_else(|| "hidden".into(), |n| n.to_string())
}

/// Runs `work` RUNS times and prints its wall times.
fn timed<T>(label: &str, runs: usize, mut work: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let began = Instant::now();
        last = Some(work()?);
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    println!("{label} over {runs} runs: {}", summary(&mut times));
    last.ok_or_else(|| anyhow!("RUNS must be at least 1"))
}

/// A line of PostgreSQL's `EXPLAIN`.
struct PgPlan(String);

impl QueryableByName<MultiBackend> for PgPlan {
    fn build<'a>(row: &impl NamedRow<'a, MultiBackend>) -> deserialize::Result<Self> {
        Ok(PgPlan(NamedRow::get::<Text, String>(row, "QUERY PLAN")?))
    }
}

/// A row of SQLite's `EXPLAIN QUERY PLAN`.
#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    parent: i64,
    #[diesel(sql_type = Text)]
    detail: String,
}

/// Prints the plan of `statement`.
fn explain(conn: &mut DbConnection, label: &str, statement: Statement) -> anyhow::Result<()> {
    println!("plan of {label}:");
    match conn {
        DbConnection::Sqlite(_) => {
            let rows: Vec<SqlitePlan> = Statement::new(conn).sql("EXPLAIN QUERY PLAN ").append(statement).load(conn)?;
            let mut depth: Vec<(i64, usize)> = Vec::new();
            for row in rows {
                let level = depth.iter().find(|(id, _)| *id == row.parent).map_or(0, |(_, level)| level + 1);
                depth.push((row.id, level));
                println!("  {}{}", "  ".repeat(level), row.detail);
            }
        }
        DbConnection::Postgres(_) => {
            let rows: Vec<PgPlan> = Statement::new(conn).sql("EXPLAIN ").append(statement).load(conn)?;
            for row in rows {
                println!("  {}", row.0);
            }
        }
    }
    Ok(())
}

/// The street situations the seed's vocabulary lists.
const STREET_SITUATIONS: [&str; 6] =
    ["begging", "living_on_street", "other", "selling_items", "with_adult_begging", "working"];

/// The heaviest counting queries of a report over `scope` and `period`.
fn heavy(conn: &DbConnection, scope: &Scope, period: (NaiveDateTime, NaiveDateTime)) -> Vec<(&'static str, Statement)> {
    let (from, to) = period;
    vec![
        (
            "street: people of the period, grouped (children and adults)",
            terren_api::reports::street::people_statement(conn, scope, from, to, &STREET_SITUATIONS.map(str::to_owned)),
        ),
        (
            "plan: sightings by hour",
            Statement::new(conn)
                .sql("SELECT ")
                .hour_of("i.observed_at")
                .sql(" AS code, COUNT(*) AS n FROM identifications i WHERE i.observed_at >= ")
                .time(from)
                .sql(" AND i.observed_at < ")
                .time(to)
                .within("i.municipality_id", scope)
                .sql(" GROUP BY 1"),
        ),
        (
            "referrals: chains of children by outcome",
            Statement::new(conn)
                .sql(
                    "SELECT CASE r.status WHEN 'closed' THEN r.outcome WHEN 'declined' THEN 'declined' \
                                 WHEN 'cancelled' THEN 'cancelled' ELSE 'open' END AS code, COUNT(*) AS n \
                     FROM referrals r JOIN referrals f ON f.id = r.chain_id \
                     JOIN agencies a ON a.id = f.to_agency_id \
                     WHERE r.forwarded_to IS NULL AND COALESCE(f.made_at, f.sent_at) >= ",
                )
                .time(from)
                .sql(" AND COALESCE(f.made_at, f.sent_at) < ")
                .time(to)
                .sql(" AND f.subject_type = ")
                .text("child")
                .within("f.municipality_id", scope)
                .sql(" GROUP BY 1"),
        ),
        (
            "referrals: deadlines met and breached",
            Statement::new(conn)
                .sql(
                    "SELECT d.kind || CASE WHEN d.breached_at IS NOT NULL THEN '_breached' ELSE '_met' END AS code, \
                            COUNT(*) AS n FROM referral_deadlines d JOIN referrals r ON r.id = d.referral_id \
                     WHERE (d.met_at IS NOT NULL OR d.breached_at IS NOT NULL) AND r.sent_at >= ",
                )
                .time(from)
                .sql(" AND r.sent_at < ")
                .time(to)
                .within("r.municipality_id", scope)
                .sql(" GROUP BY 1"),
        ),
        (
            "referrals: median minutes to acknowledge",
            Statement::new(conn)
                .sql("SELECT ")
                .minutes_between("r.sent_at", "r.acknowledged_at")
                .sql(" AS minutes FROM referrals r WHERE r.sent_at >= ")
                .time(from)
                .sql(" AND r.sent_at < ")
                .time(to)
                .within("r.municipality_id", scope)
                .sql(" AND r.acknowledged_at IS NOT NULL ORDER BY 1 LIMIT 1 OFFSET 50000"),
        ),
    ]
}

/// Times each query a national count runs, and prints the slowest.
fn per_query(conn: &mut PooledConn, index: &TerritoryIndex, period: &Period, at: NaiveDateTime) -> anyhow::Result<()> {
    type Timings = Arc<Mutex<Vec<(String, f64)>>>;
    let timings: Timings = Arc::default();
    let started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (kept, start) = (timings.clone(), started.clone());
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
        InstrumentationEvent::StartQuery { .. } => {
            if let Ok(mut start) = start.lock() {
                *start = Some(Instant::now());
            }
        }
        InstrumentationEvent::FinishQuery { query, .. } => {
            let took = start.lock().ok().and_then(|start| *start).map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0);
            let text = query.to_string();
            let text = text.split(" -- binds").next().unwrap_or_default();
            let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Ok(mut kept) = kept.lock() {
                kept.push((text.chars().take(150).collect(), took));
            }
        }
        _ => {}
    });
    let result = count(conn, index, service::NATIONAL, period, at);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    result?;
    let mut timings = timings.lock().map_err(|_| anyhow!("timings"))?.clone();
    timings.sort_by(|a, b| b.1.total_cmp(&a.1));
    let all: f64 = timings.iter().map(|t| t.1).sum();
    println!("queries of one national count: {} in {all:.0} ms; the slowest:", timings.len());
    for (text, took) in timings.iter().take(12) {
        println!("  {took:7.1} ms  {text}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("RUNS", 5)?;
    let year_text: String = env_or("YEAR", "2025-11-25..2026-11-24".to_owned())?;
    let quarter_text: String = env_or("QUARTER", "2026-Q3".to_owned())?;
    let filled = quarter::open()?;
    let (state, now) = (&filled.state, filled.now);
    let mut conn = state.db.get()?;
    let began = Instant::now();
    fill::fill_once(&mut conn, now, &fill::Sizes::from_env()?)?;
    eprintln!("reports data ready in {:.0} s", began.elapsed().as_secs_f64());
    let began = Instant::now();
    let sealed = terren_api::changes::seal_pending(&mut conn, now)?;
    if sealed > 0 {
        eprintln!("sealed {sealed} change notes of the fill in {:.0} s", began.elapsed().as_secs_f64());
    }
    let began = Instant::now();
    terren_api::db::statistics::refresh(&mut conn)?;
    eprintln!("planner statistics refreshed in {:.0} ms", began.elapsed().as_secs_f64() * 1000.0);
    let index = state.territory();

    let sightings: i64 = identifications::table.count().get_result(&mut *conn)?;
    let profiles: i64 = child_profiles::table.count().get_result(&mut *conn)?;
    let links: i64 = referrals::table.count().get_result(&mut *conn)?;
    let deadlines: i64 = referral_deadlines::table.count().get_result(&mut *conn)?;
    let cases: i64 = protection_cases::table.count().get_result(&mut *conn)?;
    let year = service::period_of("period", &year_text, now).map_err(|e| anyhow!("YEAR: {e:?}"))?;
    let quarter = service::period_of("period", &quarter_text, now).map_err(|e| anyhow!("QUARTER: {e:?}"))?;
    println!(
        "backend={} now={now}: {sightings} sightings ({} of the fill in Tirana, {} elsewhere over {} days), {profiles} profiles, {links} referrals, {deadlines} deadlines, \
         {cases} protection cases; year {}, quarter {}",
        state.db.backend.name(),
        filled.sizes.identifications,
        filled.sizes.others,
        filled.sizes.quarter_days,
        year.label,
        quarter.label
    );

    let national = timed(&format!("national report {} (small numbers hidden)", year.label), runs, || {
        Ok(count(&mut conn, &index, service::NATIONAL, &year, now)?.shown(false))
    })?;
    let tirana = timed(&format!("Tirana AL224 {} (exact)", quarter.label), runs, || {
        Ok(count(&mut conn, &index, "AL224", &quarter, now)?.shown(true))
    })?;
    let file = timed(&format!("XLSX of the national report {}", year.label), runs, || {
        let report = count(&mut conn, &index, service::NATIONAL, &year, now)?.shown(false);
        xlsx(&report, report.generated_at).map_err(|e| anyhow!("xlsx: {e:?}"))
    })?;
    for (label, report) in [("national", &national), ("Tirana", &tirana)] {
        println!(
            "{label}: {} tables; children identified {}, children's referrals {}, new cases {}, deadlines {}",
            report.tables.len(),
            total(report, ReportTableId::StreetChildrenIdentified),
            total(report, ReportTableId::ReferralsChildrenByPriority),
            total(report, ReportTableId::CasesNewByAgeBand),
            report
                .tables
                .iter()
                .find(|t| t.id == ReportTableId::ReferralDeadlines)
                .map(|t| t.rows.iter().filter_map(|r| r.value.count).sum::<i64>())
                .unwrap_or_default(),
        );
    }
    println!("XLSX: {:.0} KB", file.len() as f64 / 1e3);

    per_query(&mut conn, &index, &year, now)?;
    let tirana_scope = service::covered(&index, "AL224").map_err(|e| anyhow!("{e:?}"))?.scope;
    for (label, scope, period) in [("national", Scope::National, &year), ("Tirana", tirana_scope, &quarter)] {
        for (what, statement) in heavy(&conn, &scope, period.bounds()) {
            explain(&mut conn, &format!("{what}, {label} {}", period.label), statement)?;
        }
    }
    Ok(())
}
