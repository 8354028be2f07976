//! The change feed: which records changed, numbered in the order their changes became visible.
//!
//! Database triggers note, in the transaction of every change to a table a phone's working set is
//! made of, the record the row belongs to (`change_pending`; the migration `change_feed` lists the
//! tables). Sealing moves committed notes into `change_log` with the next sequence number, after
//! the commit, so a note sealed later always has a higher `seq` than every note sealed before it
//! even when its change committed after a later change's: a reader that remembers the highest
//! `seq` it has read and later asks for what follows misses nothing. Sealing runs beside the
//! audit sealer, on the same period; any number of processes may seal, one at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{change_log, change_pending};
use crate::db::{DbConnection, PooledConn, Tx, backend};

/// Notes sealed per transaction.
const BATCH: i64 = 2_000;

/// A kind of record the feed names (`change_pending.record_kind`).
pub mod kinds {
    pub const IDENTIFICATION: &str = "identification";
    pub const PROFILE: &str = "profile";
    pub const REFERRAL: &str = "referral";
    pub const ALERT: &str = "alert";
    pub const ROUND: &str = "round";
    pub const HOTSPOT: &str = "hotspot";
    pub const SCHEDULE: &str = "schedule";
    pub const USER: &str = "user";
    pub const TEAM: &str = "team";
    pub const AGENCY: &str = "agency";
    pub const AREA: &str = "area";
    pub const VOCABULARY: &str = "vocabulary";
}

/// One sealed change: the record, not what changed in it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = change_log)]
pub struct Change {
    pub seq: i64,
    pub record_kind: String,
    pub record_id: String,
    pub sealed_at: NaiveDateTime,
}

/// Seals every note committed now; returns how many records were sealed.
pub fn seal_pending(conn: &mut PooledConn, now: NaiveDateTime) -> QueryResult<usize> {
    let pending = |conn: &mut DbConnection| {
        Ok(change_pending::table.select(change_pending::id).limit(1).get_result::<String>(conn).optional()?.is_some())
    };
    backend::drain(conn, BATCH as usize, pending, |tx| seal_batch(tx, now))
}

/// Seals one batch of notes; a record noted several times in it is sealed once. Returns the
/// notes taken and the records sealed.
fn seal_batch(tx: &mut Tx<'_>, now: NaiveDateTime) -> QueryResult<(usize, usize)> {
    backend::serialise_writers(tx, "change_log")?;
    let notes: Vec<(String, String, String)> = change_pending::table
        .select((change_pending::id, change_pending::record_kind, change_pending::record_id))
        .order(change_pending::id.asc())
        .limit(BATCH)
        .load(tx.conn())?;
    if notes.is_empty() {
        return Ok((0, 0));
    }
    let head: Option<i64> = change_log::table.select(diesel::dsl::max(change_log::seq)).get_result(tx.conn())?;
    let mut seq = head.unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    for (_, kind, id) in &notes {
        if seen.insert((kind.as_str(), id.as_str())) {
            seq += 1;
            diesel::insert_into(change_log::table)
                .values((
                    change_log::seq.eq(seq),
                    change_log::record_kind.eq(kind),
                    change_log::record_id.eq(id),
                    change_log::sealed_at.eq(now),
                ))
                .execute(tx.conn())?;
        }
    }
    // SQLite allows 32,766 bound values per statement.
    let ids: Vec<&str> = notes.iter().map(|(id, _, _)| id.as_str()).collect();
    for chunk in ids.chunks(1_000) {
        diesel::delete(change_pending::table.filter(change_pending::id.eq_any(chunk))).execute(tx.conn())?;
    }
    Ok((notes.len(), seen.len()))
}

/// The highest sequence number sealed so far (0 before the first).
pub fn head(conn: &mut DbConnection) -> QueryResult<i64> {
    Ok(change_log::table.select(diesel::dsl::max(change_log::seq)).get_result::<Option<i64>>(conn)?.unwrap_or(0))
}

/// The lowest sequence number still kept, if any: a reader that last read before it has missed
/// what was pruned and must start over.
pub fn oldest_kept(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    change_log::table.select(diesel::dsl::min(change_log::seq)).get_result(conn)
}

/// The changes after `after`, in order, at most `limit`.
pub fn since(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<Change>> {
    change_log::table
        .filter(change_log::seq.gt(after))
        .order(change_log::seq.asc())
        .limit(limit)
        .select(Change::as_select())
        .load(conn)
}

/// Forgets changes sealed before `before`, keeping the newest so that the head stays known.
pub fn prune(tx: &mut Tx<'_>, before: NaiveDateTime) -> QueryResult<usize> {
    let head = head(tx)?;
    diesel::delete(change_log::table.filter(change_log::sealed_at.lt(before)).filter(change_log::seq.lt(head)))
        .execute(tx.conn())
}
