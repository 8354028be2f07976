//! Pages that must get through: provider outages, interrupted sends, a hanging provider, agencies
//! nobody can reach, dry runs.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{notification_attempts, outbox_jobs};
use terren_api::outbox::kinds;
use terren_api::worker;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::paging::{app_with, emergency_sighting, raise, run_worker, sms_gateway, texts_to, without_phone};
use crate::fixtures::user_id;
use crate::harness::TestApp;

const MESSAGES: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";

/// QKT's policy: the duty officer, then the coordinator, then the child-protection unit's case
/// manager, five minutes apart, once.
async fn three_people(app: &TestApp) {
    let coordinator = app.login("tirana.coord").await;
    let agency = app.get("/api/v1/me", Some(&coordinator)).await.body["agency"]["id"].as_str().unwrap().to_owned();
    let step = |user: String| json!({ "targets": [{ "kind": "user", "user_id": user }], "wait_minutes": 5 });
    let policy = json!({ "policy": { "steps": [
        step(user_id(app, "tirana.duty").await),
        step(user_id(app, "tirana.coord").await),
        step(user_id(app, "tirana.pmf").await),
    ]}});
    let res = app.put(&format!("/api/v1/agencies/{agency}/escalation-policy"), Some(&coordinator), &policy).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

fn manual_alert() -> Value {
    json!({ "severity": "emergency", "title": "Fëmijë vetëm natën" })
}

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let token = app.login("tirana.coord").await;
    let res = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body.as_array().unwrap().clone()
}

fn notifications(timeline: &[Value]) -> Vec<Value> {
    timeline.iter().filter(|e| e["kind"] == "notification").map(|e| e["notification"].clone()).collect()
}

/// Delivered sends per page job.
async fn delivered_per_job(app: &TestApp) -> BTreeMap<String, i64> {
    app.db(|conn| {
        notification_attempts::table
            .filter(notification_attempts::outcome.eq("delivered"))
            .select(notification_attempts::job_id)
            .load::<String>(conn)
            .unwrap()
            .into_iter()
            .fold(BTreeMap::new(), |mut counts, job| {
                *counts.entry(job).or_insert(0) += 1;
                counts
            })
    })
    .await
}

#[actix_web::test]
async fn a_ten_minute_outage_delivers_every_owed_page_once_the_provider_recovers() {
    let gateway = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&gateway).await;
    let app = app_with(&gateway).await;
    three_people(&app).await;
    let id = raise(&app, "a-1", manual_alert()).await["id"].as_str().unwrap().to_owned();

    // Ten minutes of outage, the worker polling every five seconds: steps one to three fall due
    // and every page fails.
    run_worker(&app).await;
    for _ in 0..120 {
        app.clock.advance(Duration::seconds(5));
        run_worker(&app).await;
    }
    assert!(delivered_per_job(&app).await.is_empty());
    let failed_tries = gateway.received_requests().await.unwrap().len();
    assert!(failed_tries > 20, "undelivered pages are retried: {failed_tries} requests");
    let undelivered = app
        .db(|conn| {
            outbox_jobs::table
                .filter(outbox_jobs::kind.eq(kinds::ALERT_PAGE))
                .filter(outbox_jobs::done_at.is_null())
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(undelivered, 3, "three pages owed, none given up");

    // The provider recovers: within its longest backoff every owed page is delivered, once.
    gateway.reset().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })))
        .mount(&gateway)
        .await;
    for _ in 0..7 {
        app.clock.advance(Duration::seconds(5));
        run_worker(&app).await;
    }
    let mut texts = texts_to(&gateway).await;
    texts.sort();
    assert_eq!(texts, ["+355690000002", "+355690000003", "+355690000004"], "each owed page once");
    let per_job = delivered_per_job(&app).await;
    assert_eq!(per_job.len(), 3);
    assert!(per_job.values().all(|n| *n == 1), "{per_job:?}");
    for _ in 0..12 {
        app.clock.advance(Duration::seconds(5));
        run_worker(&app).await;
    }
    assert_eq!(texts_to(&gateway).await.len(), 3, "nothing is sent twice after delivery");

    let sends = notifications(&timeline(&app, &id).await);
    let duty: Vec<&Value> = sends.iter().filter(|n| n["address_hint"] == "…0002").collect();
    assert!(duty.len() > 5, "each attempt is on the timeline");
    assert!(duty[..duty.len() - 1].iter().all(|n| n["outcome"] == "failed"));
    let last = duty.last().unwrap();
    assert_eq!(last["outcome"], "delivered");
    assert_eq!(last["attempt"].as_i64().unwrap(), i64::try_from(duty.len()).unwrap(), "numbered in order");
}

#[actix_web::test]
async fn a_page_stops_being_retried_once_the_alert_is_acknowledged() {
    let gateway = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&gateway).await;
    let app = app_with(&gateway).await;
    three_people(&app).await;
    let id = raise(&app, "a-1", manual_alert()).await["id"].as_str().unwrap().to_owned();
    run_worker(&app).await;
    let duty = app.login("tirana.duty").await;
    let ack = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
    let before = gateway.received_requests().await.unwrap().len();
    for _ in 0..24 {
        app.clock.advance(Duration::seconds(5));
        run_worker(&app).await;
    }
    assert_eq!(gateway.received_requests().await.unwrap().len(), before, "no page after the acknowledgement");
}

#[actix_web::test]
async fn a_send_cut_short_by_a_crash_is_sent_again_after_the_lease_and_shows_twice() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_people(&app).await;
    let id = raise(&app, "a-1", manual_alert()).await["id"].as_str().unwrap().to_owned();
    // Step one runs and writes the duty officer's page.
    worker::run_due(&app.state).await.unwrap();
    assert!(texts_to(&gateway).await.is_empty());

    // A process claims the page, writes the attempt, and dies before the provider answers.
    let now = app.clock_naive();
    let alert_id = id.clone();
    app.db(move |conn| {
        let job: String = outbox_jobs::table
            .filter(outbox_jobs::kind.eq(kinds::ALERT_PAGE))
            .select(outbox_jobs::id)
            .get_result(conn)
            .unwrap();
        diesel::update(outbox_jobs::table.filter(outbox_jobs::id.eq(&job)))
            .set((
                outbox_jobs::locked_until.eq(now + Duration::seconds(terren_api::outbox::LEASE_SECONDS)),
                outbox_jobs::locked_by.eq("the-dead-process"),
                outbox_jobs::attempts.eq(1),
            ))
            .execute(conn)
            .unwrap();
        diesel::insert_into(notification_attempts::table)
            .values((
                notification_attempts::id.eq(uuid::Uuid::now_v7().to_string()),
                notification_attempts::alert_id.eq(&alert_id),
                notification_attempts::job_id.eq(&job),
                notification_attempts::step.eq(0),
                notification_attempts::round.eq(0),
                notification_attempts::recipient_label.eq("Punonjës në gadishmëri QKT (demo)"),
                notification_attempts::channel.eq("sms"),
                notification_attempts::address_hint.eq("…0002"),
                notification_attempts::started_at.eq(now),
                notification_attempts::tries.eq(0),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;

    // A new process: while the dead one's lease runs the page is left alone, then it is sent.
    let restarted = app.state.sibling();
    assert_eq!(worker::run_until_idle(&restarted).await.unwrap(), 0);
    app.clock.advance(Duration::seconds(terren_api::outbox::LEASE_SECONDS) + Duration::milliseconds(1));
    worker::run_until_idle(&restarted).await.unwrap();
    assert_eq!(texts_to(&gateway).await, ["+355690000002"]);

    let sends = notifications(&timeline(&app, &id).await);
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!((sends[0]["attempt"].as_i64(), sends[0]["outcome"].as_str()), (Some(1), Some("interrupted")));
    assert_eq!((sends[1]["attempt"].as_i64(), sends[1]["outcome"].as_str()), (Some(2), Some("delivered")));
    app.clock.advance(Duration::minutes(1));
    worker::run_until_idle(&restarted).await.unwrap();
    assert_eq!(texts_to(&gateway).await.len(), 1, "delivered once is enough");
}

#[actix_web::test]
async fn a_hanging_provider_for_one_person_does_not_delay_another_alerts_pages() {
    let gateway = MockServer::start().await;
    // The duty officer's number hangs at the provider; everyone else's goes through.
    Mock::given(method("POST"))
        .and(body_string_contains("355690000002"))
        .respond_with(ResponseTemplate::new(201).set_delay(StdDuration::from_secs(30)))
        .with_priority(1)
        .mount(&gateway)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })))
        .mount(&gateway)
        .await;
    let app = app_with(&gateway).await;
    let coordinator = app.login("tirana.coord").await;
    let agency = app.get("/api/v1/me", Some(&coordinator)).await.body["agency"]["id"].as_str().unwrap().to_owned();
    let policy = json!({ "policy": { "steps": [{ "targets": [
        { "kind": "user", "user_id": user_id(&app, "tirana.duty").await },
        { "kind": "user", "user_id": user_id(&app, "tirana.coord").await },
    ], "wait_minutes": 5 }]}});
    let res = app.put(&format!("/api/v1/agencies/{agency}/escalation-policy"), Some(&coordinator), &policy).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let handle = worker::spawn(app.state.clone());
    raise(&app, "a-1", json!({ "severity": "emergency", "title": "Rruga e Kavajës" })).await;
    raise(&app, "a-2", json!({ "severity": "emergency", "title": "Sheshi Skënderbej" })).await;
    // Both alerts reach the coordinator while both pages to the duty officer still hang (they
    // hang for 30 s, so anything seen within 10 s went out beside them, not after them).
    let reached = async {
        loop {
            let texts = texts_to(&gateway).await;
            let sent_to = |number: &str| texts.iter().filter(|to| *to == number).count();
            if sent_to("+355690000003") == 2 && sent_to("+355690000002") == 2 {
                return;
            }
            actix_web::rt::time::sleep(StdDuration::from_millis(20)).await;
        }
    };
    actix_web::rt::time::timeout(StdDuration::from_secs(10), reached)
        .await
        .expect("the coordinator's pages were held up by the hanging provider, or the hanging sends never started");
    handle.shutdown(&app.state, StdDuration::ZERO).await;
}

#[actix_web::test]
async fn an_agency_nobody_can_reach_is_said_so_to_the_raiser_at_once_and_by_a_page() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    // Tirana's child-protection case manager raises an alert for the police directorate: its
    // only account has no phone, and the unit has no rota and no coordinator.
    let police: String = app
        .db(|conn| {
            use terren_api::db::schema::agencies;
            agencies::table.filter(agencies::code.eq("AL-11-DVP")).select(agencies::id).get_result(conn).unwrap()
        })
        .await;
    let field = app.login("tirana.pmf").await;
    let res = app
        .post_idempotent(
            "/api/v1/alerts",
            &field,
            "k-1",
            &json!({ "severity": "emergency", "title": "Fëmijë në rrugë", "agency_id": police }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["escalation"]["unreachable"], true, "the raiser learns it at once: {}", res.body);
    let id = res.body["id"].as_str().unwrap().to_owned();

    run_worker(&app).await;
    let kinds: Vec<String> = {
        let res = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&field)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.body.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    };
    assert!(kinds.contains(&"step_skipped".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"unreachable".to_owned()), "{kinds:?}");
    assert_eq!(texts_to(&gateway).await, ["+355690000004"], "the raiser is told by SMS");
    let request = &gateway.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&request.body).into_owned();
    assert!(body.contains("NOBODY+REACHED") || body.contains("NOBODY%20REACHED"), "{body}");
}

#[actix_web::test]
async fn dry_run_pages_are_shown_as_dry_run() {
    let app = TestApp::spawn().await;
    three_people(&app).await;
    let id = raise(&app, "a-1", manual_alert()).await["id"].as_str().unwrap().to_owned();
    run_worker(&app).await;
    let sends = notifications(&timeline(&app, &id).await);
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(sends[0]["channel"], "dry_run");
    assert_eq!(sends[0]["address_hint"], "sms …0002");
    assert_eq!(sends[0]["outcome"], "delivered");
}

#[actix_web::test]
async fn the_raisers_coordinator_may_resolve_a_sightings_alert_raised_for_another_agency() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    emergency_sighting(&app, &field, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b", "i-1").await;
    run_worker(&app).await;
    let alerts = app.get("/api/v1/alerts?source=field_identification", Some(&field)).await;
    let alert = &alerts.body[0];
    assert_eq!(alert["agency"]["code"], "AL224-NJMF", "{}", alerts.body);
    let id = alert["id"].as_str().unwrap().to_owned();

    let refused = app.post(&format!("/api/v1/alerts/{id}/resolve"), Some(&field), &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "the raiser alone does not close it: {}", refused.body);
    let coordinator = app.login("tirana.coord").await;
    let resolved = app.post(&format!("/api/v1/alerts/{id}/resolve"), Some(&coordinator), &json!({})).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["state"], "resolved");
}

#[actix_web::test]
async fn readiness_shows_coordinators_what_would_stop_an_emergency() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let njmf: String = app
        .db(|conn| {
            use terren_api::db::schema::agencies;
            agencies::table.filter(agencies::code.eq("AL224-NJMF")).select(agencies::id).get_result(conn).unwrap()
        })
        .await;
    let res = app.get(&format!("/api/v1/agencies/{njmf}/readiness"), Some(&admin)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["receives_emergencies"], true, "{}", res.body);
    let codes: Vec<&str> =
        res.body["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"no_rota") && codes.contains(&"no_policy"), "{codes:?}");

    let tirana = app.get("/api/v1/readiness?municipality=AL224", Some(&admin)).await;
    assert_eq!(tirana.status, StatusCode::OK, "{}", tirana.body);
    let agencies: Vec<&str> =
        tirana.body["agencies"].as_array().unwrap().iter().map(|a| a["agency"]["code"].as_str().unwrap()).collect();
    assert!(agencies.contains(&"AL224-NJMF"), "{agencies:?}");

    let field = app.login("tirana.field").await;
    let refused = app.get(&format!("/api/v1/agencies/{njmf}/readiness"), Some(&field)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let coordinator = app.login("tirana.coord").await;
    let own = app.get("/api/v1/readiness?municipality=AL224", Some(&coordinator)).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

#[actix_web::test]
async fn a_sightings_alert_raised_before_its_referral_ends_with_the_referral() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting_id = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b";
    emergency_sighting(&app, &field, sighting_id, "i-1").await;
    run_worker(&app).await;
    let alert_id = app.get("/api/v1/alerts?source=field_identification", Some(&field)).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let referral_id = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6000";
    let body = crate::fixtures::referral(referral_id, sighting_id, "emergency");
    let sent = app.post_idempotent("/api/v1/referrals", &field, "r-1", &body).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    run_worker(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{referral_id}");
    for (step, body) in [
        ("acknowledge", json!({})),
        ("accept", json!({})),
        ("start", json!({})),
        ("close", json!({ "outcome": "case_opened" })),
    ] {
        let res = app.post(&format!("{path}/{step}"), Some(&pmf), &body).await;
        assert_eq!(res.status, StatusCode::OK, "{step}: {}", res.body);
    }
    let alert = app.get(&format!("/api/v1/alerts/{alert_id}"), Some(&field)).await;
    assert_eq!(alert.body["state"], "resolved", "{}", alert.body);
}

#[actix_web::test]
async fn the_hourly_readiness_check_alerts_an_agency_emergencies_cannot_reach() {
    let app = TestApp::spawn().await;
    // Tirana's child-protection unit has no coordinator and no rota, and its administrator no
    // phone here: its default policy reaches nobody.
    without_phone(&app, "tirana.admin").await;
    let state = app.state.clone();
    app.db(move |conn| worker::schedule_daily_jobs(conn, &state).unwrap()).await;
    app.clock.advance(Duration::hours(1));
    run_worker(&app).await;
    // Its case manager sees the alert.
    let pmf = app.login("tirana.pmf").await;
    let alerts = app.get("/api/v1/alerts?source=agency_unreachable", Some(&pmf)).await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    let listed = alerts.body.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", alerts.body);
    assert_eq!(listed[0]["agency"]["code"], "AL224-NJMF");
    // The next hour's check does not raise it again while it is open.
    app.clock.advance(Duration::hours(1));
    run_worker(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let again = app.get("/api/v1/alerts?source=agency_unreachable", Some(&pmf)).await;
    assert_eq!(again.body.as_array().unwrap().len(), 1);
}
