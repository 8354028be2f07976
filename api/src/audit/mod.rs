//! Append-only, hash-chained audit log. Every change writes its audit record in its own
//! transaction, so there is never a change without its record; the record waits in
//! `audit_pending` until the sealer ([`sealer`]) gives it its place in the chain, a moment after
//! the commit. Writers therefore never wait for each other on the chain's head, and the chain's
//! order is the order in which records became visible, which later readers can follow with a
//! cursor on `seq`.

pub mod sealer;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::{audit_log, audit_pending};
use crate::db::{DbConnection, Tx};
use crate::digest::hex;

/// Who is acting, from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor::default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: String,
    pub seq: i64,
    pub occurred_at: NaiveDateTime,
    pub actor_user_id: Option<String>,
    pub actor_device_id: Option<String>,
    pub actor_ip: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn chain_hash(row: &AuditRow) -> String {
    let mut hasher = Sha256::new();
    for part in [
        row.prev_hash.as_str(),
        &row.seq.to_string(),
        &row.id,
        &row.occurred_at.and_utc().to_rfc3339(),
        row.actor_user_id.as_deref().unwrap_or(""),
        row.actor_device_id.as_deref().unwrap_or(""),
        row.actor_ip.as_deref().unwrap_or(""),
        &row.action,
        &row.entity_type,
        &row.entity_id,
        &row.details,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

/// A record not yet in the chain, as the change wrote it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_pending)]
pub(crate) struct PendingRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor_user_id: Option<String>,
    pub actor_device_id: Option<String>,
    pub actor_ip: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub details: String,
}

/// Writes one record. Call inside the transaction that makes the change: the record commits or
/// rolls back with it, and is sealed into the chain shortly after it commits.
pub fn record(
    tx: &mut Tx<'_>,
    actor: &Actor,
    at: NaiveDateTime,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    details: serde_json::Value,
) -> QueryResult<()> {
    let row = PendingRow {
        id: uuid::Uuid::now_v7().to_string(),
        occurred_at: at,
        actor_user_id: actor.user_id.clone(),
        actor_device_id: actor.device_id.clone(),
        actor_ip: actor.ip.clone(),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        details: details.to_string(),
    };
    // In a read snapshot the record is written after it (`backend::read_snapshot`).
    let insert: crate::db::backend::DeferredWrite = Box::new(move |tx| {
        diesel::insert_into(audit_pending::table).values(&row).execute(tx.conn())?;
        Ok(())
    });
    match tx.defer(insert) {
        Some(insert) => insert(tx),
        None => Ok(()),
    }
}

/// Walks the whole sealed chain; returns the number of records, or the first broken sequence
/// number. Records not sealed yet are not part of it ([`sealer::seal_pending`] first).
pub fn verify_chain(conn: &mut DbConnection) -> QueryResult<Result<usize, i64>> {
    let rows: Vec<AuditRow> = audit_log::table.select(AuditRow::as_select()).order(audit_log::seq.asc()).load(conn)?;
    let mut prev = GENESIS.to_owned();
    for (index, row) in rows.iter().enumerate() {
        if row.seq != index as i64 + 1 || row.prev_hash != prev || chain_hash(row) != row.hash {
            return Ok(Err(row.seq));
        }
        prev.clone_from(&row.hash);
    }
    Ok(Ok(rows.len()))
}
