//! Moves pending audit records into the hash chain: numbered and hashed one after the other, in
//! the order the sealer finds them committed. Any number of processes may run it; one seals at a
//! time (PostgreSQL: a table lock that only sealers take; SQLite: the write lock).
//!
//! The chain's order is the order of sealing, so a record sealed later always has a higher `seq`
//! than every record sealed before it, even when its change committed after a later change's:
//! readers following the log by `seq` never miss a record.

use std::time::Duration as StdDuration;

use diesel::prelude::*;

use super::{AuditRow, GENESIS, PendingRow, chain_hash};
use crate::db::schema::{audit_log, audit_pending};
use crate::db::{DbConnection, PooledConn, Tx, backend};
use crate::state::AppState;

/// Records sealed per transaction.
const BATCH: i64 = 500;

/// Seals every record pending now; returns how many.
pub fn seal_pending(conn: &mut PooledConn) -> QueryResult<usize> {
    let pending = |conn: &mut DbConnection| {
        Ok(audit_pending::table.select(audit_pending::id).limit(1).get_result::<String>(conn).optional()?.is_some())
    };
    backend::drain(conn, BATCH as usize, pending, |tx| seal_batch(tx).map(|sealed| (sealed, sealed)))
}

fn seal_batch(tx: &mut Tx<'_>) -> QueryResult<usize> {
    backend::serialise_writers(tx, "audit_log")?;
    let pending: Vec<PendingRow> = audit_pending::table
        .select(PendingRow::as_select())
        .order(audit_pending::id.asc())
        .limit(BATCH)
        .load(tx.conn())?;
    if pending.is_empty() {
        return Ok(0);
    }
    // The head by its sequence number rather than `ORDER BY … LIMIT ?`, which SQLite plans again
    // on every execution.
    let newest = diesel::alias!(audit_log as newest);
    let head = newest.select(diesel::dsl::max(newest.field(audit_log::seq))).single_value();
    let last: Option<(i64, String)> = audit_log::table
        .filter(audit_log::seq.nullable().eq(head))
        .select((audit_log::seq, audit_log::hash))
        .get_result(tx.conn())
        .optional()?;
    let (mut seq, mut prev_hash) = last.unwrap_or((0, GENESIS.to_owned()));
    let ids: Vec<String> = pending.iter().map(|row| row.id.clone()).collect();
    for record in pending {
        seq += 1;
        let mut row = AuditRow {
            id: record.id,
            seq,
            occurred_at: record.occurred_at,
            actor_user_id: record.actor_user_id,
            actor_device_id: record.actor_device_id,
            actor_ip: record.actor_ip,
            action: record.action,
            entity_type: record.entity_type,
            entity_id: record.entity_id,
            details: record.details,
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
        };
        row.hash = chain_hash(&row);
        prev_hash.clone_from(&row.hash);
        diesel::insert_into(audit_log::table).values(&row).execute(tx.conn())?;
    }
    diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(&ids))).execute(tx.conn())?;
    Ok(ids.len())
}

/// Seals audit records and the change feed ([`crate::changes`]) on the configured period for as
/// long as the server runs.
pub fn spawn(state: AppState) {
    let period = StdDuration::from_millis(state.config.audit.seal_every_ms);
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(period);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let (db, now) = (state.db.clone(), state.clock.now_naive());
            let outcome = actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<usize> {
                let mut conn = db.get()?;
                Ok(seal_pending(&mut conn)? + crate::changes::seal_pending(&mut conn, now)?)
            })
            .await;
            match outcome {
                Ok(Ok(_)) if failing => {
                    failing = false;
                    tracing::info!("audit records and changes are being sealed again");
                }
                Ok(Ok(_)) => {}
                // The records stay pending (nothing is lost) and are sealed once the database
                // answers again; say so once, not on every tick.
                Ok(Err(error)) if !failing => {
                    failing = true;
                    tracing::error!(error = %error, "sealing audit records or changes failed; they wait and are sealed later");
                }
                Ok(Err(_)) => {}
                Err(error) => tracing::error!(error = %error, "the audit sealer panicked"),
            }
        }
    });
}
