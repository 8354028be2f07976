//! The job worker's lateness: ALERTS open alerts escalating at once, their first steps due over
//! SPREAD_SECONDS, each step paging one contact by SMS through a local Twilio-shaped stub. The
//! worker runs as in the server (`worker::spawn`) on the
//! real clock. Lateness of a step = when its SMS was handed to the provider (the attempt's
//! start) − when the step was due. Each first step schedules a second one a minute later, so from
//! the second minute on both kinds run together.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`); the alerts go to the
//! demo agency AL224-QKT.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchlate/terren.db ALERTS=10000 SPREAD_SECONDS=60 cargo bench --bench escalation_lateness
//! ```

#[macro_use]
#[expect(dead_code, unused_macros, reason = "alerts are raised through the service, as no one")]
mod support;

use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, anyhow};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_api::alerts::service::{NewAlert, raise};
use terren_api::audit::Actor;
use terren_api::db::backend;
use terren_api::db::schema::{alerts, notification_attempts};
use terren_api::state::AppState;
use terren_contract::alerts::{AlertSource, EscalationPolicyBody, EscalationStep, Severity, Target};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{agency_id, bench_config, env_or, report_ms};

/// Lateness in milliseconds of every step-`step` SMS: when it was handed to the provider (the
/// attempt's start) − when the step was due (the alert's time plus one minute per step before).
fn lateness(state: &AppState, step: i32) -> anyhow::Result<Vec<i64>> {
    let mut conn = state.db.get()?;
    let rows: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = notification_attempts::table
        .inner_join(alerts::table.on(alerts::id.eq(notification_attempts::alert_id)))
        .filter(notification_attempts::step.eq(step))
        .select((alerts::created_at, notification_attempts::started_at))
        .load(&mut conn)?;
    let offset = Duration::minutes(i64::from(step));
    let mut late: Vec<i64> =
        rows.iter().map(|(raised, started)| (*started - (*raised + offset)).num_milliseconds()).collect();
    late.sort_unstable();
    Ok(late)
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let alerts: i64 = env_or("ALERTS", 10_000)?;
    let spread: i64 = env_or("SPREAD_SECONDS", 60)?;
    // Raising the alerts must finish before the first is due.
    let lead: i64 = env_or("LEAD_SECONDS", 30)?;
    actix_web::rt::System::new().block_on(async move {
        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM0001" })))
            .mount(&gateway)
            .await;
        let (_data_dir, mut config) = bench_config(url)?;
        config.database.pool_size = 16;
        config.log.filter = "error".into();
        config.notify.sms = Some(terren_api::notify::SmsConfig {
            base_url: gateway.uri(),
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: "bench".to_owned().into(),
            from: Some("+355690009999".into()),
            messaging_service_sid: None,
        });
        config.validate()?;
        let state =
            actix_web::rt::task::spawn_blocking(move || AppState::prepare_with_system_clock(config, false)).await??;

        let policy = EscalationPolicyBody {
            steps: (0..2)
                .map(|n| EscalationStep {
                    targets: vec![Target::Contact { name: format!("Kontakt {n}"), phone: format!("+35569000{n:04}") }],
                    wait_minutes: 1,
                    only_when: Vec::new(),
                })
                .collect(),
            repeat: 0,
            fallback: Vec::new(),
        };
        let setup = Instant::now();
        let start = Utc::now() + Duration::seconds(lead);
        {
            let (db, policy) = (state.db.clone(), policy.clone());
            actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut conn = db.get()?;
                let agency = agency_id(&mut conn, "AL224-QKT")?;
                for chunk in 0..(alerts + 499) / 500 {
                    backend::write_transaction(&mut conn, |conn| -> anyhow::Result<()> {
                        for i in (chunk * 500)..((chunk + 1) * 500).min(alerts) {
                            let due =
                                terren_api::clock::truncate(start + Duration::milliseconds(i * spread * 1000 / alerts));
                            let new = NewAlert {
                                severity: Severity::Emergency,
                                source: AlertSource::Manual,
                                agency_id: agency.clone(),
                                area_id: None,
                                title: format!("Bench {i}"),
                                details: None,
                                dedup_key: None,
                                identification_id: None,
                                profile_id: None,
                                referral_id: None,
                                policy: Some(policy.clone()),
                            };
                            raise(conn, &Actor::system(), new, due).map_err(|e| anyhow!("{e:?}"))?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await??;
        }
        println!(
            "{alerts} alerts raised in {:.1} s; first steps due from {start} over {spread} s",
            setup.elapsed().as_secs_f64()
        );

        let expected = usize::try_from(alerts * 2)?;
        let deadline = Instant::now() + StdDuration::from_secs(u64::try_from(lead + spread + 60 + 300)?);
        let worker = terren_api::worker::spawn(state.clone());
        loop {
            let sent = gateway.received_requests().await.map_or(0, |r| r.len());
            if sent >= expected || Instant::now() > deadline {
                break;
            }
            actix_web::rt::time::sleep(StdDuration::from_millis(500)).await;
        }
        worker.shutdown(&state, StdDuration::from_secs(5)).await;
        report_ms("first steps", "sent; lateness ms", &lateness(&state, 0)?);
        report_ms("second steps", "sent; lateness ms", &lateness(&state, 1)?);
        Ok(())
    })
}
