//! Side effects as rows: a transaction that makes a change also writes the jobs that change
//! causes (alert the duty rota, check a deadline), and a worker runs them later. Because jobs are
//! rows, a restart loses nothing; the dedup key makes a job impossible to enqueue twice.

use chrono::{DateTime, Days, NaiveDateTime, NaiveTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::DbConnection;
use crate::db::schema::outbox_jobs;

/// How long a claimed job is its worker's. A running server renews the leases of its jobs every
/// second and releases them when it shuts down, so only a process that died holds a job this long
/// before another takes it over.
pub const LEASE_SECONDS: i64 = 3;

/// Job kinds, as stored.
pub mod kinds {
    /// An identification marked as an emergency: the responsible agency's duty rota is alerted.
    pub const IDENTIFICATION_EMERGENCY: &str = "identification.emergency";
    /// The next step of an alert's escalation.
    pub const ALERT_ESCALATE: &str = "alert.escalate";
    /// One person, contact or partner system paged for one step, retried until delivered or the
    /// alert no longer waits.
    pub const ALERT_PAGE: &str = "alert.page";
    /// An SMS to a person paged by push who has not acknowledged (queued by earlier versions;
    /// now an SMS-only page).
    pub const ALERT_SMS_FOLLOWUP: &str = "alert.sms_followup";
    /// The daily check that every agency emergencies can be routed to can be reached.
    pub const READINESS_CHECK: &str = "agency.readiness_check";
    /// The daily check that 24/7 rotas have nobody missing ahead.
    pub const COVERAGE_CHECK: &str = "schedule.coverage_check";
    /// A referral deadline falls due: breached unless met, and the receiving agency is alerted.
    pub const REFERRAL_DEADLINE: &str = "referral.deadline";
    /// A breached referral deadline still unmet a while later: the sender's coordinators hear.
    pub const REFERRAL_SENDER_ALERT: &str = "referral.sender_alert";
    /// Nobody checked in to a round in time: it is missed and the coordinators hear.
    pub const ROUND_MISSED_CHECK: &str = "round.missed_check";
    /// The daily job that plans every round series eight weeks ahead.
    pub const ROUNDS_PLAN_AHEAD: &str = "rounds.plan_ahead";

    /// Jobs on an alert's way to a person, retried quickly while they fail.
    pub fn pages_people(kind: &str) -> bool {
        matches!(kind, IDENTIFICATION_EMERGENCY | ALERT_ESCALATE | ALERT_PAGE | ALERT_SMS_FOLLOWUP)
    }
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

/// Schedules a daily job at `local_time` in Tirana, the next one after `now`, unless it is already
/// scheduled (one job per day, keyed `{key_prefix}:{day}`, carrying `{"day": …}`).
pub fn enqueue_daily(
    conn: &mut DbConnection,
    kind: &str,
    key_prefix: &str,
    local_time: NaiveTime,
    now: DateTime<Utc>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let tz = chrono_tz::Europe::Tirane;
    let today = now.with_timezone(&tz).date_naive();
    let mut due = crate::rota::resolve::start_instant(tz, today.and_time(local_time));
    if due <= now {
        let tomorrow = today.checked_add_days(Days::new(1)).unwrap_or(today);
        due = crate::rota::resolve::start_instant(tz, tomorrow.and_time(local_time));
    }
    let day = due.with_timezone(&tz).date_naive();
    enqueue(
        conn,
        kind,
        &serde_json::json!({ "day": day }),
        &format!("{key_prefix}:{day}"),
        crate::clock::truncate(due),
        at,
    )
}
