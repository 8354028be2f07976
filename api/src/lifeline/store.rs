//! What the lifeline keeps: every inbound message's outcome (never its text) and, per session,
//! the highest counter accepted.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{lifeline_counters, sms_inbound};
use crate::db::{DbConnection, Tx, backend};

/// One inbound message as logged.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_inbound)]
pub struct InboundRow {
    pub id: String,
    /// The gateway's id of the message; absent when its signature did not verify, so that a
    /// forged request cannot take the id of a real message.
    pub message_sid: Option<String>,
    pub received_at: NaiveDateTime,
    /// The session and counter the text named, once its MAC verified.
    pub session_id: Option<String>,
    pub counter: Option<i64>,
    /// The sighting it recorded (or had already recorded).
    pub identification_id: Option<String>,
    /// `accepted`, `already_recorded` or `refused`.
    pub outcome: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// The confirmation sent back; absent for refusals, which get none.
    pub reply: Option<String>,
}

/// Outcomes as logged.
pub mod outcomes {
    pub const ACCEPTED: &str = "accepted";
    pub const ALREADY_RECORDED: &str = "already_recorded";
    pub const REFUSED: &str = "refused";
}

/// The message the gateway already delivered under this id, if any.
pub fn find_by_sid(conn: &mut DbConnection, message_sid: &str) -> QueryResult<Option<InboundRow>> {
    sms_inbound::table
        .filter(sms_inbound::message_sid.eq(message_sid))
        .select(InboundRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn log(tx: &mut Tx<'_>, row: &InboundRow) -> QueryResult<()> {
    diesel::insert_into(sms_inbound::table).values(row).execute(tx.conn())?;
    Ok(())
}

/// The highest counter accepted for a session.
pub fn last_counter(conn: &mut DbConnection, session_id: &str) -> QueryResult<Option<i64>> {
    lifeline_counters::table.find(session_id).select(lifeline_counters::last_counter).get_result(conn).optional()
}

/// Takes `counter` for the session if it is above every counter accepted before; false if not.
/// Writers of counters take turns (on PostgreSQL a table lock, held to the commit), so of two
/// messages with the same counter only one is accepted.
pub fn advance_counter(tx: &mut Tx<'_>, session_id: &str, counter: i64, at: NaiveDateTime) -> QueryResult<bool> {
    backend::serialise_writers(tx, "lifeline_counters")?;
    match last_counter(tx, session_id)? {
        Some(last) if last >= counter => Ok(false),
        Some(_) => {
            diesel::update(lifeline_counters::table.find(session_id))
                .set((lifeline_counters::last_counter.eq(counter), lifeline_counters::accepted_at.eq(at)))
                .execute(tx.conn())?;
            Ok(true)
        }
        None => {
            diesel::insert_into(lifeline_counters::table)
                .values((
                    lifeline_counters::session_id.eq(session_id),
                    lifeline_counters::last_counter.eq(counter),
                    lifeline_counters::accepted_at.eq(at),
                ))
                .execute(tx.conn())?;
            Ok(true)
        }
    }
}
