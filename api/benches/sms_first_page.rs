//! How fast an emergency sent by SMS reaches the duty rota: SMS lifeline messages (each from its
//! own enrolled phone) posted at once by CONCURRENCY senders to a running server
//! (`Application` on a free port, its worker running), as the SMS gateway posts them, signed.
//! Each message records an emergency sighting at Skanderbeg Square; its alert goes to the agency
//! answering for the place, whose policy pages a contact by SMS through a local Twilio-shaped
//! stub. Latency = when the page's send started (the attempt's start) − when the gateway's
//! request was sent.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`); the sender is the demo
//! field worker tirana.field. Every agency's escalation policy is replaced by the bench's.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchsms/terren.db SMS=100 cargo bench --bench sms_first_page
//! ```

#[macro_use]
#[expect(dead_code, unused_macros, reason = "the bench uses a few of the shared helpers")]
mod support;

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use terren_api::app::Application;
use terren_api::db::schema::{agencies, alerts, escalation_policies, notification_attempts, sessions};
use terren_api::lifeline::signature;
use terren_api::state::AppState;
use terren_contract::alerts::{EscalationPolicyBody, EscalationStep, Target};
use terren_contract::lifeline::{Condition, LifelineMessage, Point, Risk, Sex, Source, Subject};
use uuid::Uuid;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{bench_config, env_or, report_ms, user_id};

const CONTACT: &str = "+355690000888";
const WEBHOOK_URL: &str = "https://terren.bench/api/v1/sms/inbound";
const GATEWAY_TOKEN: &str = "bench-gateway-token";

/// One enrolled phone per message: its session and the secret the login answer would give it.
fn enrol(state: &AppState, count: usize) -> anyhow::Result<Vec<(Uuid, [u8; 32])>> {
    let mut conn = state.db.get()?;
    let user = user_id(&mut conn, "tirana.field")?;
    let now = Utc::now().naive_utc();
    let mut phones = Vec::with_capacity(count);
    for i in 0..count {
        let id = Uuid::now_v7();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(id.to_string()),
                sessions::user_id.eq(&user),
                sessions::device_id.eq(format!("bench-phone-{i}")),
                sessions::created_at.eq(now),
                sessions::last_used_at.eq(now),
                sessions::expires_at.eq(now + Duration::days(30)),
            ))
            .execute(&mut conn)?;
        let secret = state.lifeline_keys.current(&id.to_string()).ok_or_else(|| anyhow!("no signing key"))?;
        phones.push((id, secret));
    }
    Ok(phones)
}

/// Every agency pages the bench's contact at once.
fn page_the_contact(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.db.get()?;
    let policy = EscalationPolicyBody {
        steps: vec![EscalationStep {
            targets: vec![Target::Contact { name: "Bench".into(), phone: CONTACT.into() }],
            wait_minutes: 10,
            only_when: Vec::new(),
        }],
        repeat: 0,
        fallback: Vec::new(),
    };
    let text = serde_json::to_string(&policy)?;
    let user = user_id(&mut conn, "tirana.field")?;
    let ids: Vec<String> = agencies::table.select(agencies::id).load(&mut conn)?;
    diesel::delete(escalation_policies::table).execute(&mut conn)?;
    for id in ids {
        diesel::insert_into(escalation_policies::table)
            .values((
                escalation_policies::agency_id.eq(id),
                escalation_policies::policy.eq(&text),
                escalation_policies::version.eq(1),
                escalation_policies::updated_by.eq(&user),
                escalation_policies::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(&mut conn)?;
    }
    Ok(())
}

/// Milliseconds from the gateway's request to the page's send, per sighting.
fn latencies(state: &AppState, sent: &HashMap<String, DateTime<Utc>>) -> anyhow::Result<Vec<i64>> {
    let mut conn = state.db.get()?;
    let rows: Vec<(Option<String>, chrono::NaiveDateTime)> = notification_attempts::table
        .inner_join(alerts::table.on(alerts::id.eq(notification_attempts::alert_id)))
        .filter(alerts::identification_id.eq_any(sent.keys()))
        .select((alerts::identification_id, notification_attempts::started_at))
        .load(&mut conn)?;
    let mut first: HashMap<String, chrono::NaiveDateTime> = HashMap::new();
    for (id, started) in rows {
        if let Some(id) = id {
            let earliest = first.entry(id).or_insert(started);
            *earliest = (*earliest).min(started);
        }
    }
    let mut late: Vec<i64> = first
        .iter()
        .filter_map(|(id, started)| sent.get(id).map(|at| (started.and_utc() - *at).num_milliseconds()))
        .collect();
    late.sort_unstable();
    Ok(late)
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let count: usize = env_or("SMS", 100)?;
    let senders: usize = env_or("CONCURRENCY", 16)?;
    actix_web::rt::System::new().block_on(async move {
        let gateway = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM0001" })))
            .mount(&gateway)
            .await;
        let (_data_dir, mut config) = bench_config(url)?;
        config.database.pool_size = 24;
        config.log.filter = "error".into();
        config.http.bind = "127.0.0.1:0".into();
        config.http.workers = Some(2);
        config.notify.sms = Some(terren_api::notify::SmsConfig {
            base_url: gateway.uri(),
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: GATEWAY_TOKEN.to_owned().into(),
            from: None,
            messaging_service_sid: Some("MGbench".into()),
        });
        config.lifeline.inbound_number = Some("+355690001111".into());
        config.lifeline.webhook_url = Some(WEBHOOK_URL.into());
        config.validate()?;
        let state =
            actix_web::rt::task::spawn_blocking(move || AppState::prepare_with_system_clock(config, false)).await??;
        page_the_contact(&state)?;
        let phones = {
            let state = state.clone();
            actix_web::rt::task::spawn_blocking(move || enrol(&state, count)).await??
        };
        let application = Application::build(state.clone())?;
        let endpoint = format!("http://127.0.0.1:{}/api/v1/sms/inbound", application.port());
        actix_web::rt::spawn(application.run_until_stopped());
        let worker = terren_api::worker::spawn(state.clone());
        // Let the server and the worker settle into their idle polling before the burst.
        actix_web::rt::time::sleep(StdDuration::from_secs(1)).await;

        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().build()?;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for s in 0..senders {
            let mine: Vec<(usize, (Uuid, [u8; 32]))> =
                phones.iter().copied().enumerate().skip(s).step_by(senders).collect();
            let (client, endpoint) = (client.clone(), endpoint.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let mut sent = Vec::new();
                for (i, (session_id, secret)) in mine {
                    let sighting = Uuid::now_v7();
                    let message = LifelineMessage {
                        session_id,
                        counter: 1,
                        sighting_id: sighting,
                        point: Some(Point { lat: 41.3275, lon: 19.8187, accuracy_m: 12, source: Source::Gps }),
                        observed_at: Utc::now() - Duration::minutes(2),
                        subject: Subject::Child,
                        sex: Sex::Female,
                        risk: Risk::Emergency,
                        conditions: vec![Condition::Injury],
                    };
                    let text = message.encode(&secret).map_err(|e| anyhow!("{e:?}"))?;
                    let params: Vec<(String, String)> = [
                        ("MessageSid", format!("SMbench{i}")),
                        ("AccountSid", "AC00000000000000000000000000000001".to_owned()),
                        ("From", "+355690000001".to_owned()),
                        ("To", "+355690001111".to_owned()),
                        ("Body", text),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                    let signed = signature::sign(GATEWAY_TOKEN.as_bytes(), WEBHOOK_URL, &params);
                    let at = Utc::now();
                    let answer = client
                        .post(&endpoint)
                        .header("X-Twilio-Signature", signed)
                        .form(&params)
                        .send()
                        .await?
                        .text()
                        .await?;
                    if !answer.contains("<Message>") {
                        return Err(anyhow!("message {i} was refused: {answer}"));
                    }
                    sent.push((sighting.to_string(), at));
                }
                Ok::<_, anyhow::Error>(sent)
            }));
        }
        let mut sent = HashMap::new();
        for task in tasks {
            sent.extend(task.await??);
        }
        println!("{count} SMS accepted in {} ms", started.elapsed().as_millis());
        let deadline = Instant::now() + StdDuration::from_secs(60);
        while Instant::now() < deadline && latencies(&state, &sent)?.len() < count {
            actix_web::rt::time::sleep(StdDuration::from_millis(100)).await;
        }
        report_ms(
            "first page",
            "emergencies; ms from the gateway's request to the page's send",
            &latencies(&state, &sent)?,
        );
        worker.shutdown(&state, StdDuration::ZERO).await;
        Ok(())
    })
}
