//! The referral deadline checker with REFERRALS open referrals, each with its three deadlines
//! pending and their `referral.deadline` jobs in the outbox, written as `service::create` writes
//! them (the referral, its deadlines, one job per deadline with the dedup key
//! `referral:{id}:deadline:{kind}`, the `sent` event). BURST of them are due to be acknowledged at
//! the same instant, a minute after the bench's clock (a `ManualClock`) starts; every other
//! deadline is due later, over the next weeks.
//!
//! (a) The idle poll: `worker::run_due` while nothing is due, IDLE_RUNS times after 50
//! unrecorded runs; p50, p99 and max.
//! (b) The burst: the clock moves to the instant and the worker runs rounds of `worker::run_due`
//! until none is due, as `worker::run_until_idle` does. Each breach marks the deadline, raises an
//! alert to the receiving agency whose first escalation step is due at once (so it runs in the
//! same burst: the agency's coordinator is paged by SMS, in dry run) and schedules the sender's
//! alert an hour later. Prints the time until every deadline of the burst was breached and until
//! the worker was idle, and breaches per second.
//!
//! Needs a freshly migrated and seeded database (`terren seed --demo`) with no referrals: a run
//! uses up its burst. The referrals go from AL224-NJMF (made by `tirana.pmf`) to AL224-QKT, whose
//! coordinator `tirana.coord` is the one the default escalation policy pages. The worker runs
//! with the server's defaults (`alerts.worker_concurrency`, `database.pool_size`); notifications
//! are dry-run.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchdead/terren.db REFERRALS=100000 BURST=10000 cargo bench --bench deadline_checker
//! ```

#[macro_use]
#[expect(dead_code, reason = "the worker runs as no one: `acting_as` is not needed")]
mod support;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_api::clock::{ManualClock, truncate};
use terren_api::db::DbConnection;
use terren_api::db::schema::{
    alerts, areas, notification_attempts, outbox_jobs, referral_deadlines, referral_events, referrals,
};
use terren_api::ids::{AgencyId, ReferralId};
use terren_api::notify::NotifyMode;
use terren_api::outbox::{self, JobPayload, kinds};
use terren_api::referrals::checker::DeadlineJob;
use terren_api::referrals::service::ReferralRow;
use terren_api::state::AppState;
use terren_api::worker::run_due;
use terren_contract::referrals::DeadlineKind;

use support::{Random, agency_id, bench_config, env_or, percentile, user_id};

impl Random {
    /// Between `low` and `high` minutes.
    fn minutes(&mut self, low: i64, high: i64) -> Duration {
        Duration::seconds(((low as f64 + self.unit() * (high - low) as f64) * 60.0) as i64)
    }
}

#[derive(Insertable)]
#[diesel(table_name = referral_deadlines)]
struct NewDeadline {
    referral_id: ReferralId,
    kind: String,
    due_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = outbox_jobs)]
struct NewJob {
    id: String,
    kind: String,
    payload: String,
    dedup_key: String,
    due_at: NaiveDateTime,
    attempts: i32,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = referral_events)]
struct NewEvent {
    id: String,
    referral_id: ReferralId,
    occurred_at: NaiveDateTime,
    kind: String,
    actor_user_id: Option<String>,
    details: String,
}

/// The rows the fill refers to, from the seeded database.
struct Ids {
    from: AgencyId,
    to: AgencyId,
    maker: String,
    tirana: String,
}

fn ids(conn: &mut DbConnection) -> anyhow::Result<Ids> {
    Ok(Ids {
        from: agency_id(conn, "AL224-NJMF")?,
        to: agency_id(conn, "AL224-QKT")?,
        maker: user_id(conn, "tirana.pmf")?,
        tirana: areas::table.filter(areas::code.eq("AL224")).select(areas::id).get_result(conn).context("Tirana")?,
    })
}

/// Everything one batch writes.
#[derive(Default)]
struct Batch {
    referrals: Vec<ReferralRow>,
    deadlines: Vec<NewDeadline>,
    jobs: Vec<NewJob>,
    events: Vec<NewEvent>,
}

impl Batch {
    /// One open referral as `service::create` leaves it: sent, its deadlines pending, a job per
    /// deadline, the `sent` event.
    fn add(
        &mut self,
        id: ReferralId,
        ids: &Ids,
        priority: &str,
        sent_at: NaiveDateTime,
        dues: [NaiveDateTime; 3],
    ) -> anyhow::Result<()> {
        for (kind, due_at) in DeadlineKind::ALL.into_iter().zip(dues) {
            let code = terren_api::vocabularies::wire_code(kind);
            self.deadlines.push(NewDeadline { referral_id: id.clone(), kind: code, due_at });
            let job = DeadlineJob { referral_id: id.clone(), kind };
            self.jobs.push(NewJob {
                id: uuid::Uuid::now_v7().to_string(),
                kind: DeadlineJob::KIND.into(),
                payload: outbox::payload_text(&job)?,
                dedup_key: job.dedup_key(),
                due_at,
                attempts: 0,
                created_at: sent_at,
            });
        }
        self.events.push(NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            referral_id: id.clone(),
            occurred_at: sent_at,
            kind: "sent".into(),
            actor_user_id: Some(ids.maker.clone()),
            details: json!({ "to_agency_id": ids.to, "routing": "chosen", "route_key": null, "deadline_policy": "*" })
                .to_string(),
        });
        self.referrals.push(ReferralRow {
            id: id.clone(),
            chain_id: id,
            origin_agency_id: ids.from.clone(),
            origin_user_id: ids.maker.clone(),
            forwarded_from: None,
            forwarded_to: None,
            identification_id: None,
            profile_id: None,
            subject_type: "child".into(),
            age_band: "10-12".into(),
            sex: "female".into(),
            municipality_id: Some(ids.tirana.clone()),
            admin_unit_id: None,
            street_situations: "[\"begging\"]".into(),
            risk_level: Some("medium".into()),
            from_agency_id: ids.from.clone(),
            to_agency_id: ids.to.clone(),
            routing_method: "chosen".into(),
            route_id: None,
            priority: priority.into(),
            reasons: "[\"street_situation\"]".into(),
            services: "[\"child_protection_assessment\"]".into(),
            notes: None,
            share: "minimal".into(),
            consent_given_by: None,
            consent_override_reason: None,
            status: "sent".into(),
            outcome: None,
            decline_reason: None,
            suggested_agency_id: None,
            created_by: ids.maker.clone(),
            device_id: "bench".into(),
            made_at: None,
            sent_at,
            acknowledged_by: None,
            acknowledged_at: None,
            responded_by: None,
            responded_at: None,
            contacted_at: None,
            ended_by: None,
            ended_at: None,
            next_due_at: dues.into_iter().min(),
            content_hash: "bench".into(),
            version: 1,
            updated_at: sent_at,
        });
        Ok(())
    }

    fn write(&mut self, conn: &mut DbConnection) -> anyhow::Result<()> {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for chunk in self.referrals.chunks(500) {
                insert_rows!(conn, diesel::insert_into(referrals::table).values(chunk))?;
            }
            for chunk in self.deadlines.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(referral_deadlines::table).values(chunk))?;
            }
            for chunk in self.jobs.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(outbox_jobs::table).values(chunk))?;
            }
            for chunk in self.events.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(referral_events::table).values(chunk))?;
            }
            Ok(())
        })?;
        *self = Batch::default();
        Ok(())
    }
}

/// BURST referrals due to be acknowledged at `instant`, the rest later.
fn fill(
    conn: &mut DbConnection,
    ids: &Ids,
    (total, burst): (usize, usize),
    start: NaiveDateTime,
    instant: NaiveDateTime,
) -> anyhow::Result<()> {
    let mut random = Random(0x5eed_0000_0005_0002);
    let began = Instant::now();
    let mut batch = Batch::default();
    for n in 0..total {
        let id = ReferralId::from_stored(random.uuid());
        if n < burst {
            let sent_at = instant - Duration::hours(1);
            let dues = [instant, sent_at + Duration::hours(24), sent_at + Duration::days(7)];
            batch.add(id, ids, "high", sent_at, dues)?;
        } else {
            let sent_at = start - random.minutes(0, 6 * 24 * 60);
            let acknowledge = start + random.minutes(60, 3 * 24 * 60);
            let first_contact = acknowledge + random.minutes(24 * 60, 10 * 24 * 60);
            let outcome = sent_at + random.minutes(30 * 24 * 60, 60 * 24 * 60);
            let priority = if random.unit() < 0.75 { "medium" } else { "low" };
            batch.add(id, ids, priority, sent_at, [acknowledge, first_contact, outcome])?;
        }
        if batch.referrals.len() >= 10_000 {
            batch.write(conn)?;
            eprintln!("  {} referrals ({:.0} s)", n + 1, began.elapsed().as_secs_f64());
        }
    }
    batch.write(conn)?;
    eprintln!("filled: {total} referrals in {:.0} s", began.elapsed().as_secs_f64());
    Ok(())
}

fn jobs_done(conn: &mut DbConnection, kind: &str) -> anyhow::Result<i64> {
    Ok(outbox_jobs::table
        .filter(outbox_jobs::kind.eq(kind))
        .filter(outbox_jobs::done_at.is_not_null())
        .count()
        .get_result(conn)?)
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let total: usize = env_or("REFERRALS", 100_000)?;
    let burst: usize = env_or("BURST", 10_000)?;
    let idle_runs: usize = env_or("IDLE_RUNS", 1000)?;
    anyhow::ensure!(burst <= total, "BURST is at most REFERRALS");
    let start: DateTime<Utc> = DateTime::from_timestamp(Utc::now().timestamp(), 0).context("now")?;
    let instant = start + Duration::minutes(1);
    let clock = ManualClock::new(start);
    actix_web::rt::System::new().block_on(async move {
        let (_data_dir, mut config) = bench_config(url)?;
        config.log.filter = "error".into();
        config.notify.mode = NotifyMode::DryRun;
        config.validate()?;
        let (pool, concurrency) = (config.database.pool_size, config.alerts.worker_concurrency);
        let shared = Arc::new(clock.clone());
        let state = actix_web::rt::task::spawn_blocking(move || AppState::prepare(config, shared, false)).await??;

        {
            let mut conn = state.db.get()?;
            let stored: i64 = referrals::table.count().get_result(&mut *conn)?;
            anyhow::ensure!(stored == 0, "the database has referrals: start from a newly seeded one");
            let ids = ids(&mut conn)?;
            fill(&mut conn, &ids, (total, burst), truncate(start), truncate(instant))?;
            if let DbConnection::Postgres(pg) = &mut *conn {
                diesel::connection::SimpleConnection::batch_execute(pg, "VACUUM ANALYZE")?;
            }
        }
        // Whatever the seed left due now runs first, outside the measurement.
        let earlier = terren_api::worker::run_until_idle(&state).await?;
        let (pending, all): (i64, i64) = {
            let mut conn = state.db.get()?;
            (
                outbox_jobs::table.filter(outbox_jobs::done_at.is_null()).count().get_result(&mut *conn)?,
                outbox_jobs::table.count().get_result(&mut *conn)?,
            )
        };
        println!(
            "backend={} referrals={total} burst={burst} jobs pending={pending} of {all} (ran {earlier} due before) \
             pool={pool} concurrency={concurrency}",
            state.db.backend.name()
        );

        // (a) Nothing due: what every poll of an idle worker costs.
        let mut times = Vec::with_capacity(idle_runs);
        for n in 0..idle_runs + 50 {
            let began = Instant::now();
            let ran = run_due(&state).await?;
            let elapsed = began.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(ran == 0, "a job ran while nothing should be due");
            if n >= 50 {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "idle poll: runs={idle_runs} p50={:.3}ms p99={:.3}ms max={:.3}ms",
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            times.last().copied().unwrap_or_default()
        );

        // (b) The burst.
        clock.set(instant);
        let expected = i64::try_from(burst)?;
        let mut worked = std::time::Duration::ZERO;
        let (mut rounds, mut ran_total) = (0, 0);
        let mut all_breached = None;
        loop {
            let began = Instant::now();
            let ran = run_due(&state).await?;
            worked += began.elapsed();
            if ran == 0 {
                break;
            }
            rounds += 1;
            ran_total += ran;
            let mut conn = state.db.get()?;
            if all_breached.is_none() && jobs_done(&mut conn, kinds::REFERRAL_DEADLINE)? >= expected {
                all_breached = Some(worked);
            }
        }
        let mut conn = state.db.get()?;
        let breached: i64 = referral_deadlines::table
            .filter(referral_deadlines::breached_at.is_not_null())
            .count()
            .get_result(&mut *conn)?;
        let raised: i64 = alerts::table.filter(alerts::source.eq("referral_deadline")).count().get_result(&mut *conn)?;
        let steps = jobs_done(&mut conn, kinds::ALERT_ESCALATE)?;
        let paged: i64 = notification_attempts::table.count().get_result(&mut *conn)?;
        let sender_jobs: i64 = outbox_jobs::table
            .filter(outbox_jobs::kind.eq(kinds::REFERRAL_SENDER_ALERT))
            .filter(outbox_jobs::done_at.is_null())
            .count()
            .get_result(&mut *conn)?;
        let failed: i64 = outbox_jobs::table.filter(outbox_jobs::last_error.is_not_null()).count().get_result(&mut *conn)?;
        anyhow::ensure!(breached == expected, "{breached} deadlines breached, {burst} expected");
        let breached_in = all_breached.context("the burst's deadline jobs did not all run")?.as_secs_f64();
        println!(
            "burst: {breached} deadlines breached, {raised} alerts raised, {steps} first escalation steps run, \
             {paged} messages sent (dry run), {sender_jobs} sender alerts scheduled, {failed} jobs failed; {ran_total} jobs in {rounds} rounds"
        );
        println!(
            "burst: all breached after {breached_in:.2} s ({:.0} breaches/s), idle after {:.2} s ({:.0} jobs/s)",
            burst as f64 / breached_in,
            worked.as_secs_f64(),
            ran_total as f64 / worked.as_secs_f64()
        );
        Ok(())
    })
}
