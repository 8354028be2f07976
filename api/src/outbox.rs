//! Side effects as rows: a transaction that makes a change also writes the jobs that change
//! causes (alert the duty rota, check a deadline), and a worker runs them later. Because jobs are
//! rows, a restart loses nothing; the dedup key makes a job impossible to enqueue twice.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::DbConnection;
use crate::db::schema::outbox_jobs;

/// How long a running job is its worker's; the worker extends it as it goes (each message sent),
/// and after it another worker may take the job over.
pub const LEASE_SECONDS: i64 = 120;

/// Job kinds, as stored.
pub mod kinds {
    /// An identification marked as an emergency: the responsible agency's duty rota is alerted.
    pub const IDENTIFICATION_EMERGENCY: &str = "identification.emergency";
    /// The next step of an alert's escalation.
    pub const ALERT_ESCALATE: &str = "alert.escalate";
    /// An SMS to a person paged by push who has not acknowledged.
    pub const ALERT_SMS_FOLLOWUP: &str = "alert.sms_followup";
    /// The daily check that 24/7 rotas have nobody missing ahead.
    pub const COVERAGE_CHECK: &str = "schedule.coverage_check";
    /// A referral deadline falls due: breached unless met, and the receiving agency is alerted.
    pub const REFERRAL_DEADLINE: &str = "referral.deadline";
    /// A breached referral deadline still unmet a while later: the sender's coordinators hear.
    pub const REFERRAL_SENDER_ALERT: &str = "referral.sender_alert";
}

/// Enqueues a job inside the caller's transaction. A job with the same dedup key is not added
/// again; returns whether this call added it.
pub fn enqueue(
    conn: &mut DbConnection,
    kind: &str,
    payload: &serde_json::Value,
    dedup_key: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let exists: i64 = outbox_jobs::table.filter(outbox_jobs::dedup_key.eq(dedup_key)).count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    diesel::insert_into(outbox_jobs::table)
        .values((
            outbox_jobs::id.eq(Uuid::now_v7().to_string()),
            outbox_jobs::kind.eq(kind),
            outbox_jobs::payload.eq(payload.to_string()),
            outbox_jobs::dedup_key.eq(dedup_key),
            outbox_jobs::due_at.eq(due_at),
            outbox_jobs::attempts.eq(0),
            outbox_jobs::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}
