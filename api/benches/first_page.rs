//! How fast an emergency's first page is handed to a provider: ALERTS emergency alerts raised at
//! once (each in its own transaction, from CONCURRENCY threads, as requests would), with the
//! server's worker running (`worker::spawn`) and one provider hanging. Each alert's step pages
//! two contacts by SMS through a local Twilio-shaped stub: one whose every message hangs for a
//! minute, one answered at once. Latency = when a page's send started (the attempt's start) −
//! when its alert was raised.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`); the alerts go to the
//! demo agency AL224-QKT.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchfirst/terren.db ALERTS=100 cargo bench --bench first_page
//! ```

#[macro_use]
#[expect(dead_code, unused_macros, reason = "alerts are raised through the service, as no one")]
mod support;

use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, anyhow};
use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;
use terren_api::alerts::service::{NewAlert, raise};
use terren_api::audit::Actor;
use terren_api::db::backend;
use terren_api::db::schema::{alerts, notification_attempts};
use terren_api::state::AppState;
use terren_contract::alerts::{AlertSource, EscalationPolicyBody, EscalationStep, Severity, Target};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{agency_id, bench_config, env_or, report_ms};

const HANGING: &str = "+355690000777";
const ANSWERING: &str = "+355690000888";

/// Milliseconds from raise to send, per alert, for the contact whose number ends with `hint`.
fn latencies(state: &AppState, hint: &str) -> anyhow::Result<Vec<i64>> {
    let mut conn = state.db.get()?;
    let rows: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> = notification_attempts::table
        .inner_join(alerts::table.on(alerts::id.eq(notification_attempts::alert_id)))
        .filter(notification_attempts::address_hint.eq(hint))
        .select((alerts::created_at, notification_attempts::started_at))
        .load(&mut conn)?;
    let mut late: Vec<i64> = rows.iter().map(|(raised, started)| (*started - *raised).num_milliseconds()).collect();
    late.sort_unstable();
    Ok(late)
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let count: usize = env_or("ALERTS", 100)?;
    let threads: usize = env_or("CONCURRENCY", 16)?;
    actix_web::rt::System::new().block_on(async move {
        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("355690000777"))
            .respond_with(ResponseTemplate::new(201).set_delay(StdDuration::from_secs(60)))
            .with_priority(1)
            .mount(&gateway)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM0001" })))
            .mount(&gateway)
            .await;
        let (_data_dir, mut config) = bench_config(url)?;
        config.database.pool_size = 24;
        config.log.filter = "error".into();
        config.notify.sms = Some(terren_api::notify::SmsConfig {
            base_url: gateway.uri(),
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: "bench".to_owned().into(),
            from: None,
            messaging_service_sid: Some("MGbench".into()),
        });
        config.validate()?;
        let state =
            actix_web::rt::task::spawn_blocking(move || AppState::prepare_with_system_clock(config, false)).await??;
        let policy = EscalationPolicyBody {
            steps: vec![EscalationStep {
                targets: vec![
                    Target::Contact { name: "Hanging".into(), phone: HANGING.into() },
                    Target::Contact { name: "Answering".into(), phone: ANSWERING.into() },
                ],
                wait_minutes: 10,
                only_when: Vec::new(),
            }],
            repeat: 0,
            fallback: Vec::new(),
        };
        let agency = {
            let mut conn = state.db.get()?;
            agency_id(&mut conn, "AL224-QKT")?
        };
        let worker = terren_api::worker::spawn(state.clone());
        // Let the worker settle into its idle polling before the burst.
        actix_web::rt::time::sleep(StdDuration::from_secs(1)).await;
        let started = Instant::now();
        let mut raisers = Vec::new();
        for t in 0..threads {
            let (db, policy, agency) = (state.db.clone(), policy.clone(), agency.clone());
            raisers.push(actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut conn = db.get()?;
                for i in (t..count).step_by(threads) {
                    backend::write_transaction(&mut conn, |conn| -> anyhow::Result<()> {
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
                        let at = terren_api::clock::truncate(Utc::now());
                        raise(conn, &Actor::system(), new, at).map_err(|e| anyhow!("{e:?}"))?;
                        Ok(())
                    })?;
                }
                Ok(())
            }));
        }
        for raiser in raisers {
            raiser.await??;
        }
        println!("{count} alerts raised in {} ms", started.elapsed().as_millis());
        let deadline = Instant::now() + StdDuration::from_secs(60);
        while Instant::now() < deadline {
            if latencies(&state, "…0888")?.len() >= count && latencies(&state, "…0777")?.len() >= count {
                break;
            }
            actix_web::rt::time::sleep(StdDuration::from_millis(100)).await;
        }
        report_ms("answering provider", "pages; ms from raise to send", &latencies(&state, "…0888")?);
        report_ms("hanging provider", "pages; ms from raise to send", &latencies(&state, "…0777")?);
        worker.shutdown(&state, StdDuration::ZERO).await;
        Ok(())
    })
}
