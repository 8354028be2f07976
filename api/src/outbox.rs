//! Side effects as rows: a transaction that makes a change also writes the jobs that change
//! causes (alert the duty rota, check a deadline), and a worker runs them later. Because jobs are
//! rows, a restart loses nothing; the dedup key makes a job impossible to enqueue twice.
//!
//! Each kind of job is a struct of the capability that queues it, implementing [`JobPayload`]:
//! its JSON is the stored payload, and the worker reads it back into the same struct.

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::db::Tx;
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
    /// The hourly check that every agency emergencies can be routed to can be reached.
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
    /// The daily job that freezes each municipality's report once its quarter has ended.
    pub const REPORTS_QUARTER_END: &str = "reports.quarter_end";

    /// Jobs on an alert's way to a person, retried quickly while they fail.
    pub fn pages_people(kind: &str) -> bool {
        matches!(kind, IDENTIFICATION_EMERGENCY | ALERT_ESCALATE | ALERT_PAGE | ALERT_SMS_FOLLOWUP)
    }
}

/// The payload of one kind of job. Its JSON is stored in the job's row and read back by the worker,
/// so field names and optional fields stay as they are: jobs queued by an earlier version must
/// still decode.
pub trait JobPayload: Serialize + DeserializeOwned {
    /// The job kind, as stored (one of [`kinds`]).
    const KIND: &'static str;

    /// The key that keeps the job from being queued twice.
    fn dedup_key(&self) -> String;
}

/// A job's payload as stored: a JSON object with its keys in alphabetical order (the payload goes
/// through `serde_json::Value`, as it always has, not straight from the struct's field order).
pub fn payload_text<J: JobPayload>(job: &J) -> serde_json::Result<String> {
    Ok(serde_json::to_value(job)?.to_string())
}

/// Enqueues a job inside the caller's transaction, unless one with its dedup key exists; returns
/// whether this call added it.
pub fn enqueue_job<J: JobPayload>(
    tx: &mut Tx<'_>,
    job: &J,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let payload = serde_json::to_value(job).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    enqueue(tx, J::KIND, &payload, &job.dedup_key(), due_at, now)
}

/// Enqueues a job of `kind` with a payload already made, inside the caller's transaction. A job
/// with the same dedup key is not added again; returns whether this call added it. Capabilities
/// use [`enqueue_job`].
pub fn enqueue(
    tx: &mut Tx<'_>,
    kind: &str,
    payload: &serde_json::Value,
    dedup_key: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let exists: i64 = outbox_jobs::table.filter(outbox_jobs::dedup_key.eq(dedup_key)).count().get_result(tx.conn())?;
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
        .execute(tx.conn())?;
    Ok(true)
}

/// Schedules a daily job at `local_time` in Tirana, the next one after `now`, unless it is already
/// scheduled: `job_for` makes the job of that day, whose dedup key names the day.
pub fn enqueue_daily<J: JobPayload>(
    tx: &mut Tx<'_>,
    job_for: impl FnOnce(NaiveDate) -> J,
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
    enqueue_job(tx, &job_for(day), crate::clock::truncate(due), at)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::{JobPayload, payload_text};

    /// Checks that a payload in the form stored today decodes into `expected`, and that `expected`
    /// is stored in exactly that form.
    #[track_caller]
    pub(crate) fn assert_stored_form<J: JobPayload + std::fmt::Debug + PartialEq>(stored: &str, expected: &J) {
        let decoded: J = serde_json::from_str(stored).unwrap_or_else(|e| panic!("{} payload {stored}: {e}", J::KIND));
        assert_eq!(&decoded, expected, "{} payload {stored}", J::KIND);
        assert_eq!(payload_text(expected).unwrap(), stored, "{} payload as stored", J::KIND);
    }
}
