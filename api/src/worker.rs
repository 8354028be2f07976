//! Runs due outbox jobs: claims each with a lease (a compare-and-set, so two workers never run
//! one job at once), dispatches it to the capability that owns it, and marks it done or schedules
//! a retry with backoff. Jobs are rows, so a restart resumes where the last process stopped.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures_util::StreamExt;

use crate::alerts::{coverage, escalation};
use crate::app::AppState;
use crate::clock::truncate;
use crate::db::schema::outbox_jobs;
use crate::db::{DbConnection, backend};
use crate::http::{ApiError, ApiResult, with_db};
use crate::outbox::{self, kinds};
use crate::referrals::checker as referrals;

/// Due jobs read per round.
const BATCH: i64 = 1000;
/// Longest wait between retries of a failing job.
const MAX_BACKOFF_SECONDS: i64 = 600;

#[derive(Debug, Clone)]
struct Claimed {
    id: String,
    kind: String,
    payload: String,
    attempts: i32,
}

fn due(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<Claimed>> {
    let due: Vec<(String, String, String, i32)> = outbox_jobs::table
        .filter(outbox_jobs::done_at.is_null())
        .filter(outbox_jobs::due_at.le(now))
        .filter(outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now)))
        .order(outbox_jobs::due_at.asc())
        .limit(BATCH)
        .select((outbox_jobs::id, outbox_jobs::kind, outbox_jobs::payload, outbox_jobs::attempts))
        .load(conn)?;
    Ok(due
        .into_iter()
        .map(|(id, kind, payload, attempts)| Claimed { id, kind, payload, attempts: attempts + 1 })
        .collect())
}

/// Takes a job just before it runs, so that its lease starts then; `false` when another worker
/// has it or it is done.
fn claim(conn: &mut DbConnection, job: &Claimed, now: NaiveDateTime) -> QueryResult<bool> {
    let taken = diesel::update(
        outbox_jobs::table
            .filter(outbox_jobs::id.eq(&job.id))
            .filter(outbox_jobs::done_at.is_null())
            .filter(outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now))),
    )
    .set((
        outbox_jobs::locked_until.eq(now + Duration::seconds(outbox::LEASE_SECONDS)),
        outbox_jobs::attempts.eq(job.attempts),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
    Duration::seconds((5_i64 << exponent).min(MAX_BACKOFF_SECONDS))
}

async fn dispatch(state: &AppState, job: &Claimed) -> ApiResult<()> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| ApiError::internal(anyhow::anyhow!("job payload: {e}")))?;
    let public_url = state.config.http.public_url.clone().unwrap_or_default();
    match job.kind.as_str() {
        kinds::IDENTIFICATION_EMERGENCY => {
            let (index, at) = (state.territory(), state.clock.now_naive());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| {
                    escalation::raise_for_identification(conn, &index, &payload, at).map(|_| ())
                })
            })
            .await
        }
        kinds::ALERT_ESCALATE => {
            let step: escalation::StepJob =
                serde_json::from_value(payload).map_err(|e| ApiError::internal(anyhow::anyhow!("step job: {e}")))?;
            run_step(state, &job.id, step, public_url).await
        }
        kinds::ALERT_SMS_FOLLOWUP => {
            let follow: escalation::SmsFollowUp = serde_json::from_value(payload)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("follow-up job: {e}")))?;
            let job_id = job.id.clone();
            let planned = with_db(&state.db, move |conn| {
                escalation::plan_follow_up(conn, &job_id, &follow, &public_url).map(|p| p.map(|(r, m)| (r, m, follow)))
            })
            .await?;
            if let Some((recipient, message, follow)) = planned {
                let step = escalation::StepJob { alert_id: follow.alert_id, step: follow.step, round: follow.round };
                escalation::deliver(
                    &state.db,
                    &state.notifier,
                    &state.clock,
                    (&job.id, &step),
                    &message,
                    vec![recipient],
                )
                .await?;
            }
            Ok(())
        }
        kinds::COVERAGE_CHECK => {
            let (now, days) = (state.clock.now(), state.config.alerts.coverage_days);
            with_db(&state.db, move |conn| coverage::run(conn, now, days).map(|_| ())).await
        }
        kinds::REFERRAL_DEADLINE | kinds::REFERRAL_SENDER_ALERT => {
            let check: referrals::DeadlineJob = serde_json::from_value(payload)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("deadline job: {e}")))?;
            let (now, kind) = (state.clock.now(), job.kind.clone());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| {
                    if kind == kinds::REFERRAL_DEADLINE {
                        referrals::check_deadline(conn, &check.referral_id, check.kind, now)
                    } else {
                        referrals::alert_sender_of_breach(conn, &check.referral_id, check.kind, now)
                    }
                })
                .map(|_| ())
            })
            .await
        }
        kinds::ROUND_MISSED_CHECK => {
            let check: crate::rounds::plan::MissedCheck = serde_json::from_value(payload)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("missed check: {e}")))?;
            let (index, now) = (state.territory(), state.clock.now());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| crate::rounds::field::check_missed(conn, &index, &check, now))
                    .map(|_| ())
            })
            .await
        }
        kinds::ROUNDS_PLAN_AHEAD => {
            let now = state.clock.now();
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| crate::rounds::field::run_plan_ahead(conn, now)).map(|_| ())
            })
            .await
        }
        other => Err(ApiError::internal(anyhow::anyhow!("unknown job kind {other}"))),
    }
}

async fn run_step(state: &AppState, job_id: &str, step: escalation::StepJob, public_url: String) -> ApiResult<()> {
    let now = state.clock.now();
    let (id, planned_step) = (job_id.to_owned(), step.clone());
    let plan = with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |conn| escalation::plan(conn, &id, &planned_step, now, &public_url))
    })
    .await?;
    let Some(plan) = plan else { return Ok(()) };
    let delivered =
        escalation::deliver(&state.db, &state.notifier, &state.clock, (job_id, &step), &plan.message, plan.recipients)
            .await?;
    let at = state.clock.now_naive();
    with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |conn| {
            escalation::follow_ups(conn, &step, &delivered, at)?;
            escalation::finish(conn, &step, plan.next, at)
        })
    })
    .await
}

async fn settle(state: &AppState, job: &Claimed, outcome: ApiResult<()>) {
    let now = state.clock.now_naive();
    let (id, attempts) = (job.id.clone(), job.attempts);
    let error =
        outcome.as_ref().err().map(|e| format!("{}: {}", e.code.as_str(), e.detail.clone().unwrap_or_default()));
    if let Err(e) = &outcome {
        tracing::warn!(job = %job.id, kind = %job.kind, attempts, error = ?e, "job failed; retrying later");
    }
    let written = with_db(&state.db, move |conn| {
        let target = outbox_jobs::table.filter(outbox_jobs::id.eq(&id));
        match error {
            None => diesel::update(target)
                .set((outbox_jobs::done_at.eq(now), outbox_jobs::locked_until.eq(None::<NaiveDateTime>)))
                .execute(conn)?,
            Some(error) => diesel::update(target)
                .set((
                    outbox_jobs::last_error.eq(error),
                    outbox_jobs::due_at.eq(now + backoff(attempts)),
                    outbox_jobs::locked_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?,
        };
        Ok(())
    })
    .await;
    if let Err(e) = written {
        tracing::error!(job = %job.id, error = ?e, "could not record a job's outcome; it runs again after its lease");
    }
}

/// Runs every job due now, up to `alerts.worker_concurrency` at a time, each claimed as it
/// starts. Returns how many ran.
pub async fn run_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.clock.now_naive();
    let due = with_db(&state.db, move |conn| Ok(due(conn, now)?))
        .await
        .map_err(|e| anyhow::anyhow!("reading due jobs failed: {e:?}"))?;
    let ran = std::sync::atomic::AtomicUsize::new(0);
    futures_util::stream::iter(due)
        .for_each_concurrent(state.config.alerts.worker_concurrency, |job| {
            let ran = &ran;
            async move {
                let now = state.clock.now_naive();
                let claimed = {
                    let job = job.clone();
                    with_db(&state.db, move |conn| Ok(claim(conn, &job, now)?)).await
                };
                match claimed {
                    Ok(true) => {
                        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let outcome = dispatch(state, &job).await;
                        settle(state, &job, outcome).await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(job = %job.id, error = ?e, "could not claim a job"),
                }
            }
        })
        .await;
    Ok(ran.into_inner())
}

/// Runs due jobs until none is left (jobs may make jobs that are due at once).
pub async fn run_until_idle(state: &AppState) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let ran = run_due(state).await?;
        if ran == 0 {
            return Ok(total);
        }
        total += ran;
    }
}

/// Makes sure the daily jobs (the rota coverage check, planning round series ahead) are scheduled.
pub fn schedule_daily_jobs(conn: &mut DbConnection, state: &AppState) -> QueryResult<bool> {
    let coverage = coverage::enqueue_next(conn, state.clock.now(), truncate(state.clock.now()))?;
    let rounds = crate::rounds::field::enqueue_plan_ahead(conn, state.clock.now())?;
    Ok(coverage || rounds)
}

/// The worker loop of a running server.
pub fn spawn(state: AppState) {
    let poll = StdDuration::from_millis(state.config.alerts.worker_poll_ms);
    actix_web::rt::spawn(async move {
        if let Ok(mut conn) = state.db.get()
            && let Err(e) = schedule_daily_jobs(&mut conn, &state)
        {
            tracing::error!(error = %e, "could not schedule the daily jobs");
        }
        loop {
            match run_until_idle(&state).await {
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "job worker round failed"),
            }
            actix_web::rt::time::sleep(poll).await;
        }
    });
}
