//! Escalation as outbox jobs. A step job decides, in one transaction, whom its targets reach now
//! (logging whom they cannot reach and why), falls back at once when they reach nobody, writes one
//! page job per person, contact or partner system, and schedules the next step. Page jobs send;
//! a page that was not delivered is retried with backoff until it is, or until the alert no longer
//! waits. So a later step never waits for an earlier step's sends, and a slow provider or person
//! holds up only their own page.
//!
//! Sending happens outside any transaction: each send is written as an attempt before the provider
//! is called and updated with its answer. If the process dies between the provider's acceptance
//! and that update, the page is sent again when the job is retried, and the timeline shows both
//! attempts: paging twice is preferred over not paging.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertEventKind, AlertState};

use super::paging::{PageJob, PageKind};
use super::recipients::{self, Missed, PageTarget, Reach};
use super::service::{self, AlertRow, add_event};
use crate::db::schema::{agencies, alert_events, alerts};
use crate::db::{DbConnection, Tx, backend};
use crate::http::{ApiResult, with_db};
use crate::ids::{AgencyId, AlertId};
use crate::outbox::{self, JobPayload, kinds};
use crate::rota::layers;
use crate::rota::resolve::{self, Restriction};
use crate::state::AppState;
use crate::vocabularies::wire_code;

/// One step of an alert's escalation, in one round of its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    pub alert_id: AlertId,
    /// Index into the policy's steps; the number of steps means the fallback.
    pub step: i32,
    pub round: i32,
}

impl JobPayload for StepJob {
    const KIND: &'static str = kinds::ALERT_ESCALATE;

    fn dedup_key(&self) -> String {
        format!("{}step:{}:round:{}", service::job_prefix(&self.alert_id), self.step, self.round)
    }
}

pub fn enqueue_step(tx: &mut Tx<'_>, job: StepJob, due: NaiveDateTime, now: NaiveDateTime) -> QueryResult<bool> {
    outbox::enqueue_job(tx, &job, due, now)
}

fn in_windows(
    tz: chrono_tz::Tz,
    windows: &[terren_contract::schedules::RestrictionWindow],
    now: DateTime<Utc>,
) -> bool {
    let restrictions: Vec<Restriction> = windows.iter().filter_map(layers::restriction).collect();
    !resolve::windows(tz, &restrictions, now, now + Duration::seconds(1)).is_empty()
}

fn already_logged(conn: &mut DbConnection, alert_id: &AlertId, job_id: &str) -> QueryResult<bool> {
    let count: i64 = alert_events::table
        .filter(alert_events::alert_id.eq(alert_id))
        .filter(alert_events::details.like(format!("%\"job_id\":\"{}\"%", crate::db::like_literal(job_id))))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

pub(super) fn log_missed(
    tx: &mut Tx<'_>,
    alert_id: &AlertId,
    at: NaiveDateTime,
    details: &serde_json::Value,
    missed: &[Missed],
) -> QueryResult<()> {
    for missed in missed {
        let mut details = details.clone();
        details["target"] = json!(missed.target);
        let note = format!("{}: {}", missed.target, missed.reason);
        add_event(tx, alert_id, at, AlertEventKind::StepSkipped, None, Some(&note), details)?;
    }
    Ok(())
}

/// What a step did, for the worker to report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepOutcome {
    pub pages: usize,
    /// Nobody at all could be reached: not the step, not any fallback.
    pub unreachable: bool,
}

/// Runs one step in the caller's transaction: logs it, writes its pages (or falls back, or records
/// that nobody can be reached and tells the raiser), and schedules the next step. Does nothing
/// when the alert no longer waits or the step already ran.
pub fn step(tx: &mut Tx<'_>, job_id: &str, job: &StepJob, now: DateTime<Utc>) -> ApiResult<StepOutcome> {
    let alert = service::load(tx, &job.alert_id)?;
    if alert.state != wire_code(AlertState::Triggered) || already_logged(tx, &alert.id, job_id)? {
        return Ok(StepOutcome::default());
    }
    let at = crate::clock::truncate(now);
    let policy = alert.policy()?;
    let steps = i32::try_from(policy.steps.len()).unwrap_or(i32::MAX);
    let zone: String =
        agencies::table.filter(agencies::id.eq(&alert.agency_id)).select(agencies::time_zone).get_result(tx.conn())?;
    let tz = layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
    let details = json!({ "job_id": job_id, "step": job.step, "round": job.round });
    let (targets, wait, kind) = match usize::try_from(job.step).ok().and_then(|s| policy.steps.get(s)) {
        Some(step) if !step.only_when.is_empty() && !in_windows(tz, &step.only_when, now) => {
            (None, 0, AlertEventKind::StepSkipped)
        }
        Some(step) => (Some(step.targets.clone()), step.wait_minutes, AlertEventKind::StepStarted),
        None if policy.fallback.is_empty() => (None, 0, AlertEventKind::Exhausted),
        None => (Some(policy.fallback.clone()), 0, AlertEventKind::Fallback),
    };
    let note = (kind == AlertEventKind::StepSkipped).then_some("jashtë orarit të hapit / outside the step's hours");
    add_event(tx, &alert.id, at, kind, None, note, details.clone())?;
    let mut outcome = StepOutcome::default();
    if let Some(targets) = targets {
        let reach = recipients::reach(tx, &alert.agency_id, &targets, now)?;
        log_missed(tx, &alert.id, at, &details, &reach.missed)?;
        let reach = if reach.targets.is_empty() {
            match recipients::fall_back(tx, &alert.agency_id, alert.created_by.as_deref(), now)? {
                Some((level, reach)) => {
                    let mut fell = details.clone();
                    fell["to"] = json!(level.code());
                    add_event(tx, &alert.id, at, AlertEventKind::Fallback, None, Some(level.label()), fell)?;
                    reach
                }
                None => {
                    outcome.unreachable = true;
                    mark_unreachable(tx, &alert, job, &details, at)?;
                    Reach::default()
                }
            }
        } else {
            reach
        };
        for target in reach.targets {
            let page = PageJob {
                alert_id: alert.id.clone(),
                step: job.step,
                round: job.round,
                target,
                sms_only: false,
                kind: PageKind::Alert,
            };
            if page.enqueue(tx, at, at)? {
                outcome.pages += 1;
            }
        }
    }
    let next = match job.step + 1 {
        next if next < steps => Some((next, job.round)),
        next if next == steps && u32::try_from(job.round).unwrap_or(u32::MAX) < policy.repeat => {
            Some((0, job.round + 1))
        }
        // After the last round: the fallback (or the record that nobody answered).
        next if next == steps => Some((steps, job.round)),
        _ => None,
    };
    diesel::update(alerts::table.filter(alerts::id.eq(&alert.id)))
        .set((alerts::escalation_step.eq(job.step), alerts::escalation_round.eq(job.round)))
        .execute(tx.conn())?;
    if let Some((step, round)) = next {
        let next = StepJob { alert_id: alert.id.clone(), step, round };
        enqueue_step(tx, next, at + Duration::minutes(i64::from(wait)), at)?;
    }
    Ok(outcome)
}

/// Nobody at all can be reached: the alert says so, and the raiser is told to call for help.
fn mark_unreachable(
    tx: &mut Tx<'_>,
    alert: &AlertRow,
    job: &StepJob,
    details: &serde_json::Value,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let note = "askush nuk mund të arrihej / nobody could be reached";
    add_event(tx, &alert.id, at, AlertEventKind::Unreachable, None, Some(note), details.clone())?;
    diesel::update(alerts::table.filter(alerts::id.eq(&alert.id)).filter(alerts::unreachable_at.is_null()))
        .set(alerts::unreachable_at.eq(at))
        .execute(tx.conn())?;
    tracing::warn!(alert = %alert.id, agency = %alert.agency_id, step = job.step, round = job.round, "alert reaches nobody");
    if let Some(raiser) = &alert.created_by {
        let page = PageJob {
            alert_id: alert.id.clone(),
            step: job.step,
            round: job.round,
            target: PageTarget::User { user_id: raiser.clone() },
            sms_only: false,
            kind: PageKind::Unreachable,
        };
        page.enqueue(tx, at, at)?;
    }
    Ok(())
}

/// Runs a step job.
pub async fn run_step(state: &AppState, job_id: &str, job: StepJob) -> ApiResult<()> {
    let (id, now) = (job_id.to_owned(), state.clock.now());
    let outcome =
        with_db(&state.db, move |conn| backend::write_transaction(conn, |conn| step(conn, &id, &job, now))).await?;
    if outcome.unreachable {
        state.metrics.alert_unreachable();
    }
    Ok(())
}

/// Whether anybody can be reached for an alert of this agency now: the first step that runs now,
/// else a fallback level. Used to tell a raiser at once that nobody will be paged.
pub fn anybody_reachable(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    policy: &terren_contract::alerts::EscalationPolicyBody,
    raiser: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    for step in &policy.steps {
        let reach = recipients::reach(conn, agency_id, &step.targets, now)?;
        if !reach.targets.is_empty() {
            return Ok(true);
        }
    }
    if !policy.fallback.is_empty() && !recipients::reach(conn, agency_id, &policy.fallback, now)?.targets.is_empty() {
        return Ok(true);
    }
    Ok(recipients::fall_back(conn, agency_id, raiser, now)?.is_some())
}
