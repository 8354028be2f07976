//! Runs due outbox jobs: claims each with a short lease (a compare-and-set naming this worker, so
//! two workers never run one job at once), dispatches it to the capability that owns it, and marks
//! it done or schedules a retry with backoff. Jobs are rows, so a restart resumes where the last
//! process stopped.
//!
//! A running server keeps taking due jobs while others run (up to `alerts.worker_concurrency` at
//! once), renews the leases of the jobs it runs every second, and releases them when it shuts
//! down; a process that dies holds its jobs for at most [`outbox::LEASE_SECONDS`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::alerts::{coverage, emergency, escalation, paging, readiness};
use crate::clock::truncate;
use crate::db::schema::outbox_jobs;
use crate::db::{DbConnection, PooledConn, backend};
use crate::http::{ApiError, ApiResult, with_db};
use crate::outbox::{self, JobPayload, kinds};
use crate::referrals::checker as referrals;
use crate::reports::frozen;
use crate::rounds::{missed, plan_ahead};
use crate::state::AppState;

/// Due jobs read per round by [`run_due`].
const BATCH: i64 = 1000;
/// Longest wait between retries of a failing job.
const MAX_BACKOFF_SECONDS: i64 = 600;
/// Longest wait between retries of a job that pages people: a provider that recovers gets every
/// page still owed within this time.
const MAX_PAGING_BACKOFF_SECONDS: i64 = 30;
/// How often a running server renews the leases of its jobs.
const HEARTBEAT: StdDuration = StdDuration::from_secs(1);

#[derive(Debug, Clone)]
struct Claimed {
    id: String,
    kind: String,
    payload: String,
    attempts: i32,
}

/// One worker: its name on the leases it holds, and the jobs it is running.
#[derive(Clone)]
struct Runner {
    id: Arc<str>,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Runner {
    fn new() -> Runner {
        Runner { id: Uuid::now_v7().to_string().into(), running: Arc::default() }
    }

    fn running(&self) -> Vec<String> {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    fn is_running(&self, id: &str) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    fn set_running(&self, id: &str, running: bool) {
        let mut set = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running {
            set.insert(id.to_owned());
        } else {
            set.remove(id);
        }
    }
}

fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<Claimed>> {
    let due: Vec<(String, String, String, i32)> = outbox_jobs::table
        .filter(outbox_jobs::done_at.is_null())
        .filter(outbox_jobs::due_at.le(now))
        .filter(outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now)))
        .order(outbox_jobs::due_at.asc())
        .limit(limit)
        .select((outbox_jobs::id, outbox_jobs::kind, outbox_jobs::payload, outbox_jobs::attempts))
        .load(conn)?;
    Ok(due
        .into_iter()
        .map(|(id, kind, payload, attempts)| Claimed { id, kind, payload, attempts: attempts + 1 })
        .collect())
}

/// Takes a job just before it runs, so that its lease starts then; `false` when another worker
/// has it or it is done.
fn claim(conn: &mut DbConnection, job: &Claimed, runner: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let taken = diesel::update(
        outbox_jobs::table
            .filter(outbox_jobs::id.eq(&job.id))
            .filter(outbox_jobs::done_at.is_null())
            .filter(outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now))),
    )
    .set((
        outbox_jobs::locked_until.eq(now + Duration::seconds(outbox::LEASE_SECONDS)),
        outbox_jobs::locked_by.eq(runner),
        outbox_jobs::attempts.eq(job.attempts),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

/// Extends the leases of the jobs this worker is running.
fn renew(conn: &mut DbConnection, runner: &str, ids: &[String], now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        outbox_jobs::table
            .filter(outbox_jobs::id.eq_any(ids))
            .filter(outbox_jobs::locked_by.eq(runner))
            .filter(outbox_jobs::done_at.is_null()),
    )
    .set(outbox_jobs::locked_until.eq(now + Duration::seconds(outbox::LEASE_SECONDS)))
    .execute(conn)
}

/// Gives up every lease this worker holds, so another process takes the jobs over at once.
fn release(conn: &mut DbConnection, runner: &str) -> QueryResult<usize> {
    diesel::update(outbox_jobs::table.filter(outbox_jobs::locked_by.eq(runner)).filter(outbox_jobs::done_at.is_null()))
        .set((outbox_jobs::locked_until.eq(None::<NaiveDateTime>), outbox_jobs::locked_by.eq(None::<String>)))
        .execute(conn)
}

fn backoff(kind: &str, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
    let ceiling = if kinds::pages_people(kind) { MAX_PAGING_BACKOFF_SECONDS } else { MAX_BACKOFF_SECONDS };
    Duration::seconds((5_i64 << exponent).min(ceiling))
}

/// The job's payload, read into the struct of its kind.
fn payload_of<J: JobPayload>(job: &Claimed) -> ApiResult<J> {
    if job.kind != J::KIND {
        return Err(ApiError::internal(anyhow::anyhow!("{} job {} read as a {} job", job.kind, job.id, J::KIND)));
    }
    serde_json::from_str(&job.payload)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("payload of {} job {}: {e}", job.kind, job.id)))
}

async fn dispatch(state: &AppState, job: &Claimed) -> ApiResult<()> {
    match job.kind.as_str() {
        kinds::IDENTIFICATION_EMERGENCY => {
            let emergency: emergency::EmergencyJob = payload_of(job)?;
            let (index, at) = (state.territory(), state.clock.now_naive());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |tx| {
                    emergency::raise_for_identification(tx, &index, &emergency, at).map(|_| ())
                })
            })
            .await
        }
        kinds::ALERT_ESCALATE => escalation::run_step(state, &job.id, payload_of(job)?).await,
        kinds::ALERT_PAGE => paging::run_page(state, &job.id, payload_of(job)?).await,
        kinds::ALERT_SMS_FOLLOWUP => {
            let follow: paging::SmsFollowUp = payload_of(job)?;
            paging::run_page(state, &job.id, follow.into()).await
        }
        kinds::COVERAGE_CHECK => {
            // The check looks ahead from now, whichever day it was queued for.
            let coverage::CoverageCheck { day: _ } = payload_of(job)?;
            let (now, days) = (state.clock.now(), state.config.alerts.coverage_days);
            with_db(&state.db, move |conn| coverage::run(conn, now, days).map(|_| ())).await
        }
        kinds::READINESS_CHECK => {
            let readiness::ReadinessCheck { at: _ } = payload_of(job)?;
            let (index, now) = (state.territory(), state.clock.now());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| readiness::run_check(conn, &index, now)).map(|_| ())
            })
            .await
        }
        kinds::REFERRAL_DEADLINE => {
            let check: referrals::DeadlineJob = payload_of(job)?;
            let now = state.clock.now();
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |tx| {
                    referrals::check_deadline(tx, &check.referral_id, check.kind, now)
                })
                .map(|_| ())
            })
            .await
        }
        kinds::REFERRAL_SENDER_ALERT => {
            let alert: referrals::SenderAlertJob = payload_of(job)?;
            let now = state.clock.now();
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |tx| {
                    referrals::alert_sender_of_breach(tx, &alert.referral_id, alert.kind, now)
                })
                .map(|_| ())
            })
            .await
        }
        kinds::ROUND_MISSED_CHECK => {
            let check: missed::MissedCheck = payload_of(job)?;
            let (index, now) = (state.territory(), state.clock.now());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| missed::check_missed(conn, &index, &check, now)).map(|_| ())
            })
            .await
        }
        kinds::REPORTS_QUARTER_END => {
            let frozen::QuarterEndJob { day: _ } = payload_of(job)?;
            let (now, index) = (state.clock.now(), state.territory());
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |tx| frozen::run_quarter_end(tx, &index, now)).map(|_| ())
            })
            .await
        }
        kinds::ROUNDS_PLAN_AHEAD => {
            let plan_ahead::PlanAheadJob { day: _ } = payload_of(job)?;
            let now = state.clock.now();
            with_db(&state.db, move |conn| {
                backend::write_transaction(conn, |conn| plan_ahead::run_plan_ahead(conn, now)).map(|_| ())
            })
            .await
        }
        other => Err(ApiError::internal(anyhow::anyhow!("unknown job kind {other}"))),
    }
}

async fn settle(state: &AppState, runner: &Runner, job: &Claimed, outcome: ApiResult<()>) {
    let now = state.clock.now_naive();
    let (id, attempts, owner) = (job.id.clone(), job.attempts, runner.id.to_string());
    let error =
        outcome.as_ref().err().map(|e| format!("{}: {}", e.code.as_str(), e.detail.clone().unwrap_or_default()));
    let retry_at = now + backoff(&job.kind, attempts);
    if let Err(e) = &outcome {
        tracing::warn!(job = %job.id, kind = %job.kind, attempts, retry_at = %retry_at, error = ?e, "job failed; retrying later");
    }
    let written = with_db(&state.db, move |conn| {
        // Only while the lease is still ours: a job another worker took over is theirs to settle.
        let target = outbox_jobs::table.filter(outbox_jobs::id.eq(&id)).filter(outbox_jobs::locked_by.eq(&owner));
        let unlocked = (outbox_jobs::locked_until.eq(None::<NaiveDateTime>), outbox_jobs::locked_by.eq(None::<String>));
        match error {
            None => diesel::update(target).set((outbox_jobs::done_at.eq(now), unlocked)).execute(conn)?,
            Some(error) => diesel::update(target)
                .set((outbox_jobs::last_error.eq(error), outbox_jobs::due_at.eq(retry_at), unlocked))
                .execute(conn)?,
        };
        Ok(())
    })
    .await;
    if let Err(e) = written {
        tracing::error!(job = %job.id, error = ?e, "could not record a job's outcome; it runs again after its lease");
    }
}

/// Claims a job and, if it was still free, runs and settles it; `false` when another worker had it.
async fn claim_and_run(state: &AppState, runner: &Runner, job: Claimed) -> bool {
    let now = state.clock.now_naive();
    let claimed = {
        let (job, owner) = (job.clone(), runner.id.to_string());
        with_db(&state.db, move |conn| Ok(claim(conn, &job, &owner, now)?)).await
    };
    match claimed {
        Ok(true) => {
            runner.set_running(&job.id, true);
            let outcome = dispatch(state, &job).await;
            settle(state, runner, &job, outcome).await;
            runner.set_running(&job.id, false);
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::error!(job = %job.id, error = ?e, "could not claim a job");
            false
        }
    }
}

/// Runs every job due now, up to `alerts.worker_concurrency` at a time, each claimed as it
/// starts, and waits for them. Returns how many ran. (Tests and benchmarks drive the worker with
/// it; a server runs [`spawn`].)
pub async fn run_due(state: &AppState) -> anyhow::Result<usize> {
    let runner = Runner::new();
    let now = state.clock.now_naive();
    let due = with_db(&state.db, move |conn| Ok(due(conn, now, BATCH)?))
        .await
        .map_err(|e| anyhow::anyhow!("reading due jobs failed: {e:?}"))?;
    let ran = AtomicUsize::new(0);
    futures_util::stream::iter(due)
        .for_each_concurrent(state.config.alerts.worker_concurrency, |job| {
            let (ran, runner) = (&ran, &runner);
            async move {
                if claim_and_run(state, runner, job).await {
                    ran.fetch_add(1, Ordering::Relaxed);
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

/// Makes sure the daily jobs (the rota coverage check, the agencies' readiness, planning round
/// series ahead, freezing the quarter's reports) are scheduled.
pub fn schedule_daily_jobs(conn: &mut PooledConn, state: &AppState) -> QueryResult<bool> {
    let now = state.clock.now();
    backend::write_transaction(conn, |tx| {
        let coverage = coverage::enqueue_next(tx, now, truncate(now))?;
        let readiness = readiness::enqueue_next(tx, now, truncate(now))?;
        let rounds = plan_ahead::enqueue_plan_ahead(tx, now)?;
        let reports = frozen::enqueue_quarter_end(tx, now)?;
        Ok(coverage || readiness || rounds || reports)
    })
}

/// The worker of a running server; [`WorkerHandle::shutdown`] stops it and gives its jobs back.
pub struct WorkerHandle {
    runner: Runner,
    stopping: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl WorkerHandle {
    /// Stops taking jobs, lets running ones finish for up to `grace`, then releases the leases of
    /// any still running, so that another process resumes them at once instead of after the
    /// lease.
    pub async fn shutdown(self, state: &AppState, grace: StdDuration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let deadline = std::time::Instant::now() + grace;
        while !self.runner.running().is_empty() && std::time::Instant::now() < deadline {
            actix_web::rt::time::sleep(StdDuration::from_millis(50)).await;
        }
        let owner = self.runner.id.to_string();
        match with_db(&state.db, move |conn| Ok(release(conn, &owner)?)).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "job leases released for another process to resume"),
            Err(e) => tracing::error!(error = ?e, "could not release job leases; they expire on their own"),
        }
    }
}

/// The worker loop of a running server: it takes due jobs whenever a place is free, never waiting
/// for a batch to end, and keeps the leases of running jobs fresh.
pub fn spawn(state: AppState) -> WorkerHandle {
    let poll = StdDuration::from_millis(state.config.alerts.worker_poll_ms);
    let concurrency = state.config.alerts.worker_concurrency;
    let handle = WorkerHandle { runner: Runner::new(), stopping: Arc::default(), wake: Arc::new(Notify::new()) };
    let (runner, stopping, wake) = (handle.runner.clone(), handle.stopping.clone(), handle.wake.clone());
    let heartbeat = (state.clone(), runner.clone(), stopping.clone());
    actix_web::rt::spawn(async move {
        let (state, runner, stopping) = heartbeat;
        while !stopping.load(Ordering::SeqCst) {
            actix_web::rt::time::sleep(HEARTBEAT).await;
            let running = runner.running();
            if running.is_empty() {
                continue;
            }
            let (owner, now) = (runner.id.to_string(), state.clock.now_naive());
            if let Err(e) = with_db(&state.db, move |conn| Ok(renew(conn, &owner, &running, now)?)).await {
                tracing::error!(error = ?e, "could not renew job leases");
            }
        }
    });
    actix_web::rt::spawn(async move {
        if let Ok(mut conn) = state.db.get()
            && let Err(e) = schedule_daily_jobs(&mut conn, &state)
        {
            tracing::error!(error = %e, "could not schedule the daily jobs");
        }
        let places = Arc::new(Semaphore::new(concurrency));
        while !stopping.load(Ordering::SeqCst) {
            let free = places.available_permits();
            let mut full_batch = false;
            if free > 0 {
                let now = state.clock.now_naive();
                let limit = i64::try_from(free).unwrap_or(BATCH).min(BATCH);
                match with_db(&state.db, move |conn| Ok(due(conn, now, limit)?)).await {
                    Ok(jobs) => {
                        full_batch = i64::try_from(jobs.len()).unwrap_or(0) == limit;
                        for job in jobs {
                            // Our own job whose renewal is late is still ours: never run it twice.
                            if runner.is_running(&job.id) {
                                continue;
                            }
                            let Ok(place) = places.clone().try_acquire_owned() else { break };
                            let (state, runner, wake) = (state.clone(), runner.clone(), wake.clone());
                            actix_web::rt::spawn(async move {
                                claim_and_run(&state, &runner, job).await;
                                drop(place);
                                wake.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = ?e, "reading due jobs failed"),
                }
            }
            if full_batch && places.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                () = actix_web::rt::time::sleep(poll) => {}
                () = wake.notified() => {}
            }
        }
    });
    handle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_jobs_back_off_to_half_a_minute_and_others_to_ten() {
        let waits = |kind: &str| (1..=9).map(|n| backoff(kind, n).num_seconds()).collect::<Vec<_>>();
        assert_eq!(waits(kinds::ALERT_PAGE), [5, 10, 20, 30, 30, 30, 30, 30, 30]);
        assert_eq!(waits(kinds::ALERT_ESCALATE), [5, 10, 20, 30, 30, 30, 30, 30, 30]);
        assert_eq!(waits(kinds::COVERAGE_CHECK), [5, 10, 20, 40, 80, 160, 320, 600, 600]);
    }
}
