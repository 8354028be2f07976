//! Retention: a sighting's precise location is kept only while the work needs it. After the
//! configured period it is replaced by the centre of its ~500 m cell, unless the child is
//! referred or in case management. Each batch is one transaction with its own audit record.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::referrals::ReferralStatus;

use crate::audit::{self, Actor};
use crate::config::RetentionConfig;
use crate::db::schema::{child_profiles, identification_links, identifications, referrals};
use crate::db::{PooledConn, Tx, backend};
use crate::identifications::privacy::{COARSE_ACCURACY_M, coarse_cell};
use crate::state::AppState;

/// Profile statuses that keep precise locations: someone is still acting on the child.
const OPEN_STATUSES: [&str; 2] = ["referred", "in_case_management"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub coarsened: usize,
    pub batches: usize,
    /// Idempotency keys past their expiry, removed.
    pub expired_keys: usize,
    /// Change-feed entries past `change_feed_days`, removed.
    pub pruned_changes: usize,
}

/// Everything the retention job does: coarsens old precise locations, forgets expired
/// idempotency keys and old change-feed entries.
pub fn run(conn: &mut PooledConn, settings: &RetentionConfig, now: NaiveDateTime) -> QueryResult<RetentionReport> {
    let mut report = coarsen_expired(conn, settings, now)?;
    report.expired_keys = crate::http::idempotency::purge_expired(conn, now)?;
    let feed_cutoff = now - Duration::days(settings.change_feed_days);
    report.pruned_changes = backend::write_transaction(conn, |tx| crate::changes::prune(tx, feed_cutoff))?;
    Ok(report)
}

/// Coarsens every sighting whose precise location is past the retention period.
fn coarsen_expired(
    conn: &mut PooledConn,
    settings: &RetentionConfig,
    now: NaiveDateTime,
) -> QueryResult<RetentionReport> {
    let cutoff = now - Duration::days(settings.precise_location_days);
    let mut report = RetentionReport::default();
    loop {
        let done = backend::write_transaction(conn, |conn| coarsen_batch(conn, cutoff, settings.batch_size, now))?;
        if done == 0 {
            return Ok(report);
        }
        report.coarsened += done;
        report.batches += 1;
        if (done as i64) < settings.batch_size {
            return Ok(report);
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = identifications)]
struct DueLocation {
    id: String,
    lat: Option<f64>,
    lon: Option<f64>,
    accuracy_m: Option<f64>,
}

fn coarsen_batch(tx: &mut Tx<'_>, cutoff: NaiveDateTime, batch_size: i64, now: NaiveDateTime) -> QueryResult<usize> {
    let held = identification_links::table
        .filter(identification_links::profile_id.eq_any(
            child_profiles::table.filter(child_profiles::status.eq_any(OPEN_STATUSES)).select(child_profiles::id),
        ))
        .select(identification_links::identification_id);
    let referred = referrals::table
        .filter(referrals::identification_id.is_not_null())
        // An open referral keeps the precise location of the sighting referred.
        .filter(referrals::status.eq_any(ReferralStatus::OPEN.map(crate::vocabularies::wire_code)))
        .select(referrals::identification_id.assume_not_null());
    let due: Vec<DueLocation> = identifications::table
        .filter(identifications::location_coarsened_at.is_null())
        .filter(identifications::lat.is_not_null())
        .filter(identifications::observed_at.lt(cutoff))
        .filter(identifications::id.ne_all(held))
        .filter(identifications::id.ne_all(referred))
        .select(DueLocation::as_select())
        .order((identifications::observed_at.asc(), identifications::id.asc()))
        .limit(batch_size)
        .load(tx.conn())?;
    let mut ids = Vec::with_capacity(due.len());
    for DueLocation { id, lat, lon, accuracy_m } in due {
        let (Some(lat), Some(lon)) = (lat, lon) else { continue };
        let (_, cell_lat, cell_lon) = coarse_cell(lat, lon);
        diesel::update(identifications::table.find(&id))
            .set((
                identifications::lat.eq(cell_lat),
                identifications::lon.eq(cell_lon),
                identifications::accuracy_m.eq(accuracy_m.unwrap_or(COARSE_ACCURACY_M).max(COARSE_ACCURACY_M)),
                identifications::altitude_m.eq(None::<f64>),
                identifications::fix_time.eq(None::<NaiveDateTime>),
                identifications::location_coarsened_at.eq(now),
                identifications::version.eq(identifications::version + 1),
                identifications::updated_at.eq(now),
            ))
            .execute(tx.conn())?;
        diesel::update(identification_links::table.find(&id))
            .set((identification_links::lat.eq(cell_lat), identification_links::lon.eq(cell_lon)))
            .execute(tx.conn())?;
        ids.push(id);
    }
    if !ids.is_empty() {
        audit::record(
            tx,
            &Actor::system(),
            now,
            "identification.location_coarsen",
            "identification",
            "retention",
            serde_json::json!({ "ids": ids, "observed_before": cutoff.and_utc() }),
        )?;
    }
    Ok(ids.len())
}

/// Runs the job now and then every `run_every_minutes` for as long as the server runs.
pub fn schedule(state: AppState) {
    let minutes = state.config.retention.run_every_minutes;
    if minutes == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(StdDuration::from_secs(minutes * 60));
        loop {
            ticks.tick().await;
            let job_state = state.clone();
            let outcome = actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<RetentionReport> {
                let mut conn = job_state.db.get()?;
                let now = job_state.clock.now_naive();
                Ok(run(&mut conn, &job_state.config.retention, now)?)
            })
            .await;
            match outcome {
                Ok(Ok(report)) if report.coarsened > 0 || report.expired_keys > 0 => {
                    tracing::info!(
                        coarsened = report.coarsened,
                        batches = report.batches,
                        expired_keys = report.expired_keys,
                        "retention: locations coarsened, expired idempotency keys removed"
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::error!(error = %error, "retention job failed; it runs again at the next tick")
                }
                Err(error) => tracing::error!(error = %error, "retention job panicked"),
            }
        }
    });
}
