//! Append-only, hash-chained audit log. Every change is written in the same transaction as the
//! audit row, so there is never a change without its record.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::audit_log;
use crate::db::{DbConnection, backend};
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

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn chain_hash(row: &AuditRow) -> String {
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

/// Appends one record. Call inside the transaction that makes the change.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    at: NaiveDateTime,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    details: serde_json::Value,
) -> QueryResult<()> {
    backend::serialise_writers(conn, "audit_log")?;
    // The head by its sequence number rather than `ORDER BY … LIMIT ?`: SQLite plans a statement
    // with a bound LIMIT again on every execution.
    let newest = diesel::alias!(audit_log as newest);
    let head = newest.select(diesel::dsl::max(newest.field(audit_log::seq))).single_value();
    let last: Option<(i64, String)> = audit_log::table
        .filter(audit_log::seq.nullable().eq(head))
        .select((audit_log::seq, audit_log::hash))
        .get_result(conn)
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_owned()));
    let mut row = AuditRow {
        id: uuid::Uuid::now_v7().to_string(),
        seq: prev_seq + 1,
        occurred_at: at,
        actor_user_id: actor.user_id.clone(),
        actor_device_id: actor.device_id.clone(),
        actor_ip: actor.ip.clone(),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        details: details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = chain_hash(&row);
    diesel::insert_into(audit_log::table).values(&row).execute(conn)?;
    Ok(())
}

/// Walks the whole chain; returns the number of records, or the first broken sequence number.
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
