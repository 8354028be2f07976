//! The demo's safety net (`serve --demo`): rotas around the clock, escalation policies and push
//! tokens, so that an emergency sighting pages the person on duty and can be acknowledged.

use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};
use terren_api::seed::demo::{DutyReport, ON_CALL_WAIT_MINUTES, seed_duty};
use terren_api::seed::field::{FieldReport, seed_field};
use terren_api::worker;

use crate::fixtures::sighting;
use crate::fixtures::user_id;
use crate::harness::TestApp;

async fn seed(app: &TestApp) -> DutyReport {
    let state = app.state.clone();
    app.db(move |conn| seed_duty(&state, conn).unwrap()).await
}

/// The timeline entries that are notifications naming `user_id` anywhere (recipient, ids).
fn pages_to(timeline: &Value, user_id: &str) -> usize {
    timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "notification" && entry.to_string().contains(user_id))
        .count()
}

#[actix_web::test]
async fn the_demo_rotas_cover_every_hour_and_seeding_twice_adds_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(seed(&app).await, DutyReport { schedules: 3, policies: 3, devices: 10 });
    assert_eq!(seed(&app).await, DutyReport::default(), "a second start adds nothing");

    for (planner, agency) in
        [("tirana.coord", "AL224-QKT"), ("tirana.admin", "AL224-NJMF"), ("elbasan.coord", "AL213-GADISHMERI")]
    {
        let token = app.login(planner).await;
        let schedules = app.get("/api/v1/schedules", Some(&token)).await.body;
        let schedules = schedules.as_array().unwrap();
        assert_eq!(schedules.len(), 1, "{agency}: {schedules:?}");
        let id = schedules[0]["id"].as_str().unwrap();
        let gaps = app.get(&format!("/api/v1/schedules/{id}/gaps?days=100"), Some(&token)).await;
        assert_eq!(gaps.status, StatusCode::OK, "{}", gaps.body);
        assert_eq!(gaps.body.as_array().map(Vec::len), Some(0), "{agency} is covered 24/7: {}", gaps.body);
        let on_call = app.get(&format!("/api/v1/schedules/{id}/on-call"), Some(&token)).await.body;
        assert_eq!(on_call["on_duty"].as_array().unwrap().len(), 1, "{on_call}");
        let me = app.get("/api/v1/me", Some(&token)).await.body;
        let policy = app
            .get(&format!("/api/v1/agencies/{}/escalation-policy", me["agency"]["id"].as_str().unwrap()), Some(&token))
            .await;
        assert_eq!(policy.status, StatusCode::OK, "{agency}: {}", policy.body);
        assert_eq!(policy.body["policy"]["steps"][0]["targets"][0]["kind"], "on_call");
        assert_eq!(policy.body["policy"]["repeat"], 1);
    }
}

#[actix_web::test]
async fn an_emergency_sighting_in_the_demo_pages_the_person_on_call_who_acknowledges() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let duty_id = user_id(&app, "tirana.pmf").await;
    let coordinator_id = user_id(&app, "tirana.coord").await;

    // The field worker sees a small child alone at Skanderbeg Square.
    let field = app.login("tirana.field").await;
    let mut body = sighting("019a2b3c-4d5e-7f00-8a1b-0000000de001");
    body["emergency"] = json!(true);
    body["risk_level"] = json!("emergency");
    let res = app.post_idempotent("/api/v1/identifications", &field, "demo-1", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    worker::run_until_idle(&app.state).await.unwrap();

    let duty = app.login("tirana.pmf").await;
    let alerts = app.get("/api/v1/alerts?source=field_identification", Some(&duty)).await.body;
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["agency"]["code"], "AL224-NJMF", "the child-protection unit of central Tirana");
    let id = alerts[0]["id"].as_str().unwrap().to_owned();
    let timeline = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&duty)).await.body;
    assert!(pages_to(&timeline, &duty_id) >= 1, "the case manager on call is paged: {timeline}");
    assert_eq!(pages_to(&timeline, &coordinator_id), 0, "nobody else yet: {timeline}");

    // Nobody answers: after the on-call's minutes the field centre's coordinator is paged.
    app.clock.advance(Duration::minutes(i64::from(ON_CALL_WAIT_MINUTES)));
    worker::run_until_idle(&app.state).await.unwrap();
    let timeline = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&duty)).await.body;
    assert!(pages_to(&timeline, &coordinator_id) >= 1, "escalated to the coordinator: {timeline}");

    let ack = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({ "note": "po shkoj" })).await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
    assert_eq!(ack.body["state"], "acknowledged");
    assert_eq!(ack.body["acknowledged_by"]["id"], duty_id.as_str());
}

#[actix_web::test]
async fn the_demo_field_worker_syncs_a_working_set_and_seeding_twice_adds_nothing() {
    let app = TestApp::spawn().await;
    let report = seed_field(&app.state).await.unwrap();
    assert_eq!(report, FieldReport { sightings: 8, hotspots: 1, cases: 1 });
    assert_eq!(seed_field(&app.state).await.unwrap(), FieldReport::default(), "a second start adds nothing");
    // A start that died after the shift and before the hotspot: the next makes only the hotspot.
    app.db(|conn| {
        use diesel::prelude::*;
        use terren_api::db::schema::hotspots;
        diesel::delete(hotspots::table).execute(conn).unwrap()
    })
    .await;
    assert_eq!(seed_field(&app.state).await.unwrap(), FieldReport { sightings: 0, hotspots: 1, cases: 0 });

    let field = app.login("tirana.field").await;
    let page = app.get("/api/v1/sync?limit=500", Some(&field)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["has_more"], false);
    let count = |collection: &str| page.body[collection]["put"].as_array().unwrap().len();
    assert_eq!(count("identifications"), 8, "{}", page.body["identifications"]);
    assert_eq!(count("profiles"), 2, "Ana, and Besi, whose case is open");
    assert_eq!(count("referrals"), 1);
    assert_eq!(count("hotspots"), 1);
    let names: Vec<&str> =
        page.body["profiles"]["put"].as_array().unwrap().iter().filter_map(|p| p["given_name"].as_str()).collect();
    assert!(names.contains(&"Ana"), "the finder reads the names: {names:?}");
    let referral = &page.body["referrals"]["put"][0];
    assert_eq!(referral["to_agency"]["code"], "AL224-NJMF", "routed to Tirana's unit: {referral}");
    // The unit that receives it sees it in its inbox.
    let pmf = app.login("tirana.pmf").await;
    let inbox = app.get("/api/v1/referrals?box=inbox", Some(&pmf)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    assert!(inbox.body.to_string().contains(referral["id"].as_str().unwrap()), "{}", inbox.body);
    // And the unit's report for this year counts Besi's case.
    let year = app.clock_naive().format("%Y").to_string();
    let report = app.get(&format!("/api/v1/reports?period={year}"), Some(&pmf)).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let new_cases = report.body["tables"].as_array().unwrap().iter().find(|t| t["id"] == "cases_new_by_identifier");
    assert_eq!(new_cases.unwrap()["total"]["count"], 1, "{}", report.body);
}
