//! Alerts through the API and the job worker, with an injected clock and a stub SMS gateway.

use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};
use terren_api::worker;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fixtures::paging::*;
use crate::fixtures::{daily_layer, error_codes, user_id};
use crate::harness::TestApp;

#[actix_web::test]
async fn a_three_step_escalation_runs_to_the_fallback_when_nobody_acknowledges() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let alert = raise(&app, "a-1", emergency()).await;
    let id = alert["id"].as_str().unwrap().to_owned();
    assert_eq!(alert["state"], "triggered");
    assert_eq!(alert["agency"]["code"], "AL224-QKT", "the 24/7 unit answering for the place");

    run_worker(&app).await;
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await, ["+355690000002"], "the on-call duty officer first, once");
    app.clock.advance(Duration::minutes(4));
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await.len(), 1, "nothing before the five minutes are up");
    app.clock.advance(Duration::minutes(1));
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await, ["+355690000002", "+355690000003"]);
    app.clock.advance(Duration::minutes(5));
    run_worker(&app).await;
    app.clock.advance(Duration::minutes(5));
    run_worker(&app).await;
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await, ["+355690000002", "+355690000003", "+355690000004", POLICE_DESK]);
    app.clock.advance(Duration::hours(2));
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await.len(), 4, "the fallback is the end");

    let token = app.login("tirana.coord").await;
    let now = app.get(&format!("/api/v1/alerts/{id}"), Some(&token)).await.body;
    assert_eq!(now["escalation"]["step"], 3, "{now}");
    assert!(now["escalation"].get("next_step_at").is_none());
    let kinds = timeline_kinds(&app, &id).await;
    assert_eq!(
        kinds,
        [
            "triggered",
            "step_started",
            "notification",
            "step_started",
            "notification",
            "step_started",
            "notification",
            "fallback",
            "notification"
        ]
    );
    let timeline = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&token)).await.body;
    let sent = &timeline[2]["notification"];
    assert_eq!(sent["channel"], "sms");
    assert_eq!(sent["address_hint"], "…0002");
    assert_eq!(sent["outcome"], "delivered");
    assert_eq!(sent["provider_reference"], "SM0001");
    assert_eq!(sent["http_status"], 201);
    let police = &timeline[8]["notification"];
    assert_eq!(police["recipient"], "Policia Tiranë");

    let request = &gateway.received_requests().await.unwrap()[0];
    let form = serde_urlencoded_pairs(&request.body);
    let body = form.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()).unwrap();
    assert!(body.starts_with("EMERGJENCË / EMERGENCY: Fëmijë i vogël vetëm natën"), "{body}");
    assert!(body.contains("+355690000001"), "the raiser's number to call back: {body}");
}

#[actix_web::test]
async fn acknowledging_stops_the_escalation() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let id = raise(&app, "a-1", emergency()).await["id"].as_str().unwrap().to_owned();
    run_worker(&app).await;
    app.clock.advance(Duration::minutes(2));
    let duty = app.login("tirana.duty").await;
    let ack = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({ "note": "po shkoj" })).await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
    assert_eq!(ack.body["state"], "acknowledged");
    assert_eq!(ack.body["acknowledged_by"]["display_name"], "Punonjës në gadishmëri QKT (demo)");
    let again = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "repeating your own acknowledgement is harmless");

    app.clock.advance(Duration::hours(1));
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await, ["+355690000002"], "nobody else is paged");
    let kinds = timeline_kinds(&app, &id).await;
    assert_eq!(kinds, ["triggered", "step_started", "notification", "acknowledged"]);

    let duty = app.login("tirana.duty").await;
    let resolve =
        app.post(&format!("/api/v1/alerts/{id}/resolve"), Some(&duty), &json!({ "note": "fëmija në qendër" })).await;
    assert_eq!(resolve.status, StatusCode::OK);
    let coordinator = app.login("tirana.coord").await;
    let late = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&coordinator), &json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.body["code"], "alert_closed");
    assert!(late.body["detail"].as_str().unwrap().contains("resolved"), "{}", late.body);
}

#[actix_web::test]
async fn two_people_acknowledging_at_once_leave_one_history() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let id = raise(&app, "a-1", emergency()).await["id"].as_str().unwrap().to_owned();
    let (duty, coordinator) = (app.login("tirana.duty").await, app.login("tirana.coord").await);
    let path = format!("/api/v1/alerts/{id}/acknowledge");
    let empty = json!({});
    let (first, second) =
        futures_util::join!(app.post(&path, Some(&duty), &empty), app.post(&path, Some(&coordinator), &empty));
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", first.body, second.body);
    let loser = if first.status == StatusCode::CONFLICT { &first } else { &second };
    assert_eq!(loser.body["code"], "alert_already_acknowledged");

    // Acknowledging while somebody resolves: either order is one consistent history.
    let id2 =
        raise(&app, "a-2", json!({ "severity": "high", "title": "Tjetër" })).await["id"].as_str().unwrap().to_owned();
    let (ack_path, resolve_path) =
        (format!("/api/v1/alerts/{id2}/acknowledge"), format!("/api/v1/alerts/{id2}/resolve"));
    let (ack, resolve) = futures_util::join!(
        app.post(&ack_path, Some(&duty), &empty),
        app.post(&resolve_path, Some(&coordinator), &empty)
    );
    assert_eq!(resolve.status, StatusCode::OK, "{}", resolve.body);
    let kinds = timeline_kinds(&app, &id2).await;
    if ack.status == StatusCode::OK {
        assert_eq!(kinds, ["triggered", "acknowledged", "resolved"]);
    } else {
        assert_eq!(ack.body["code"], "alert_closed");
        assert_eq!(kinds, ["triggered", "resolved"]);
    }
    let token = app.login("tirana.coord").await;
    assert_eq!(app.get(&format!("/api/v1/alerts/{id2}"), Some(&token)).await.body["state"], "resolved");
    let acks = events_of_kind(&app, &id, "acknowledged").await;
    assert_eq!(acks, 1);
}

#[actix_web::test]
async fn one_open_alert_per_dedup_key() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let body = json!({ "severity": "high", "title": "Fëmijë te semafori", "dedup_key": "semafori-1" });
    let first = raise(&app, "a-1", body.clone()).await;
    let second = raise(&app, "a-2", body.clone()).await;
    assert_eq!(first["id"], second["id"]);
    let coordinator = app.login("tirana.coord").await;
    let id = first["id"].as_str().unwrap();
    app.post(&format!("/api/v1/alerts/{id}/resolve"), Some(&coordinator), &json!({})).await;
    let third = raise(&app, "a-3", body).await;
    assert_ne!(third["id"], first["id"], "after resolution a new alert opens");
    let replay =
        raise(&app, "a-1", json!({ "severity": "high", "title": "Fëmijë te semafori", "dedup_key": "semafori-1" }))
            .await;
    assert_eq!(replay["id"], first["id"], "a replayed request answers what it answered");
    assert_eq!(timeline_kinds(&app, id).await, ["triggered", "deduplicated", "resolved"]);
}

#[actix_web::test]
async fn an_emergency_identification_alerts_the_unit_answering_for_the_place() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let field = app.login("tirana.field").await;
    emergency_sighting(&app, &field, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b", "i-1").await;
    run_worker(&app).await;
    let alerts = app.get("/api/v1/alerts?source=field_identification", Some(&field)).await;
    assert_eq!(alerts.body.as_array().unwrap().len(), 1, "{}", alerts.body);
    let alert = &alerts.body[0];
    assert_eq!(alert["agency"]["code"], "AL224-NJMF", "the child-protection unit referral routing chooses");
    assert_eq!(alert["severity"], "emergency");
    assert_eq!(alert["identification_id"], "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b");
    assert!(!alert["title"].as_str().unwrap().contains("Ana"), "no child's name in what is sent");
    assert_eq!(alert["escalation"]["unreachable"], false);
    // The unit has no coordinator: the step says so and the alert falls back at once to the
    // unit's administrator.
    let id = alert["id"].as_str().unwrap();
    let timeline = app.get(&format!("/api/v1/alerts/{id}/timeline"), Some(&field)).await.body;
    let skipped: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "step_skipped")
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    assert!(skipped.iter().any(|n| n.contains("nobody has this role")), "{timeline}");
    let fallback = timeline.as_array().unwrap().iter().find(|e| e["kind"] == "fallback").expect("a fallback");
    assert!(fallback["note"].as_str().unwrap().contains("the agency's administrators"), "{fallback}");
    assert_eq!(texts_to(&gateway).await, ["+355690000009"], "the unit's administrator is paged");

    // Without the administrator's phone, the next emergency falls back to the finder's own
    // agency: its duty officer on call and its coordinator.
    without_phone(&app, "tirana.admin").await;
    emergency_sighting(&app, &field, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7c", "i-2").await;
    run_worker(&app).await;
    let mut texts = texts_to(&gateway).await;
    texts.sort();
    assert_eq!(
        texts,
        ["+355690000002", "+355690000003", "+355690000009"],
        "the duty officer on call and the coordinator are paged"
    );
}

#[actix_web::test]
async fn policies_that_reach_nobody_are_refused() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let agency: String =
        app.get("/api/v1/me", Some(&coordinator)).await.body["agency"]["id"].as_str().unwrap().to_owned();
    let put = |policy: Value| {
        let (app, coordinator, agency) = (&app, coordinator.clone(), agency.clone());
        async move {
            app.put(
                &format!("/api/v1/agencies/{agency}/escalation-policy"),
                Some(&coordinator),
                &json!({ "policy": policy }),
            )
            .await
        }
    };
    // Nobody in the unit is a case manager.
    let res =
        put(json!({ "steps": [{ "targets": [{ "kind": "role", "role": "case_manager" }], "wait_minutes": 5 }] })).await;
    assert_eq!(error_codes(&res.body), ["unreachable_step"]);
    // Targets who could not open or acknowledge what they are paged for: an agency admin, a
    // field worker.
    let res =
        put(json!({ "steps": [{ "targets": [{ "kind": "role", "role": "agency_admin" }], "wait_minutes": 5 }] })).await;
    assert_eq!(error_codes(&res.body), ["cannot_respond", "unreachable_step"]);
    let field = user_id(&app, "tirana.field").await;
    let res = put(json!({ "steps": [{ "targets": [{ "kind": "user", "user_id": field }], "wait_minutes": 5 }] })).await;
    assert_eq!(error_codes(&res.body), ["cannot_respond", "unreachable_step"]);
    let res = put(json!({ "steps": [{ "targets": [{ "kind": "on_call", "schedule_id": "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b" }], "wait_minutes": 5 }] })).await;
    assert_eq!(error_codes(&res.body), ["unknown_schedule", "unreachable_step"]);
    let res = put(json!({ "steps": [{ "targets": [{ "kind": "contact", "name": "Policia", "phone": "042 000 000" }], "wait_minutes": 5 }] })).await;
    assert_eq!(error_codes(&res.body), ["invalid_phone", "unreachable_step"]);
    let res = put(json!({ "steps": [{ "targets": [{ "kind": "role", "role": "coordinator" }], "wait_minutes": 5, "only_when": [{ "weekdays": ["mon"], "from": "20:00", "to": "08:00" }] }] })).await;
    assert_eq!(error_codes(&res.body), ["unreachable_step"], "a policy must be able to run at any hour");
    let res = put(json!({ "steps": [] })).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res =
        put(json!({ "steps": [{ "targets": [{ "kind": "role", "role": "coordinator" }], "wait_minutes": 5 }] })).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["version"], 1);
    let stale =
        put(json!({ "steps": [{ "targets": [{ "kind": "role", "role": "coordinator" }], "wait_minutes": 6 }] })).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "a second write must carry the version it read");
}

#[actix_web::test]
async fn a_daily_check_alerts_coordinators_to_a_hole_in_a_24_7_rota_once() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    let coordinator = app.login("tirana.coord").await;
    let duty = user_id(&app, "tirana.duty").await;
    let mut days_only = daily_layer(&[&duty], "08:00", "2026-03-02");
    days_only["restrictions"] =
        json!([{ "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00", "to": "20:00" }]);
    let rota =
        app.post("/api/v1/schedules", Some(&coordinator), &json!({ "name": "Ditët", "layers": [days_only] })).await;
    assert_eq!(rota.status, StatusCode::CREATED);
    app.db({
        let state = app.state.clone();
        move |conn| worker::schedule_daily_jobs(conn, &state).unwrap()
    })
    .await;
    run_worker(&app).await;
    assert!(texts_to(&gateway).await.is_empty(), "the check runs at 07:00");
    // 2026-03-03 07:00 in Tirana.
    app.clock.set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 3, 6, 0, 0).unwrap());
    run_worker(&app).await;
    let token = app.login("tirana.coord").await;
    let alerts = app.get("/api/v1/alerts?source=schedule_gap", Some(&token)).await;
    assert_eq!(alerts.body.as_array().unwrap().len(), 1, "{}", alerts.body);
    assert!(
        alerts.body[0]["title"].as_str().unwrap().contains("Ditët, 2026-03-03 07:00"),
        "nobody is on duty from 07:00 to 08:00 today either: {}",
        alerts.body
    );
    assert!(
        alerts.body[0]["details"].as_str().unwrap().contains("2026-03-03 20:00 – 2026-03-04 08:00"),
        "{}",
        alerts.body
    );
    // (The quarter-end job ran at 06:00 too and told the administrators of 2025-Q4's reports.)
    assert_eq!(texts_about(&gateway, "Ditët").await, ["+355690000003"], "the coordinator is told");
    app.clock.advance(Duration::days(1));
    run_worker(&app).await;
    let again = app.get("/api/v1/alerts?source=schedule_gap", Some(&app.login("tirana.coord").await)).await;
    assert_eq!(again.body.as_array().unwrap().len(), 1, "still one open alert for the rota");
}

#[actix_web::test]
async fn push_first_then_an_sms_reminder_when_nobody_acknowledges() {
    let gateway = sms_gateway().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "access_token": "ya29.test", "expires_in": 3599 })),
        )
        .mount(&gateway)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/projects/terren-test/messages:send"))
        .and(wiremock::matchers::body_string_contains("a-token-the-phone-no-longer-has"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "error": { "code": 404, "status": "NOT_FOUND",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" }] } })))
        .with_priority(1)
        .mount(&gateway)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/projects/terren-test/messages:send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "name": "projects/terren-test/messages/1" })))
        .mount(&gateway)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let account_path = dir.path().join("service-account.json");
    let mut account: Value =
        serde_json::from_str(include_str!("../../src/notify/testdata/service-account.json")).unwrap();
    account["token_uri"] = json!(format!("{}/token", gateway.uri()));
    std::fs::write(&account_path, account.to_string()).unwrap();
    let (base_url, endpoint) = (gateway.uri(), gateway.uri());
    let app = TestApp::spawn_with(move |config| {
        config.notify.mode = terren_api::notify::NotifyMode::Live;
        config.notify.backoff_base_ms = 1;
        config.notify.backoff_max_ms = 2;
        config.notify.fcm =
            Some(terren_api::notify::FcmConfig { service_account_file: account_path, endpoint: Some(endpoint) });
        config.notify.sms = Some(terren_api::notify::SmsConfig {
            base_url,
            account_sid: ACCOUNT.into(),
            auth_token: "gateway-secret".to_owned().into(),
            from: Some("+355690009999".into()),
            messaging_service_sid: None,
        });
    })
    .await;
    three_steps_and_a_fallback(&app).await;
    let duty = app.login("tirana.duty").await;
    let device = app
        .post(
            "/api/v1/devices",
            Some(&duty),
            &json!({ "platform": "android", "push_token": "fcm-token-of-the-duty-phone-0001" }),
        )
        .await;
    assert_eq!(device.status, StatusCode::CREATED, "{}", device.body);
    let again = app
        .post(
            "/api/v1/devices",
            Some(&duty),
            &json!({ "platform": "android", "push_token": "fcm-token-of-the-duty-phone-0001" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "registering again is harmless");
    let rules =
        app.put("/api/v1/me/notification-rules", Some(&duty), &json!({ "push": true, "sms_after_minutes": 2 })).await;
    assert_eq!(rules.status, StatusCode::OK, "{}", rules.body);

    raise(&app, "a-1", emergency()).await;
    run_worker(&app).await;
    let pushes =
        |requests: &[wiremock::Request]| requests.iter().filter(|r| r.url.path().ends_with("messages:send")).count();
    let received = gateway.received_requests().await.unwrap();
    assert_eq!(pushes(&received), 1, "push first");
    let push: Value =
        serde_json::from_slice(&received.iter().find(|r| r.url.path().ends_with("messages:send")).unwrap().body)
            .unwrap();
    assert_eq!(push["message"]["token"], "fcm-token-of-the-duty-phone-0001");
    assert_eq!(push["message"]["android"]["priority"], "HIGH");
    assert!(texts_to(&gateway).await.iter().all(String::is_empty), "no SMS yet");

    app.clock.advance(Duration::minutes(2));
    run_worker(&app).await;
    let texts: Vec<String> = texts_to(&gateway).await.into_iter().filter(|to| !to.is_empty()).collect();
    assert_eq!(texts, ["+355690000002"], "an SMS after two minutes without acknowledgement");
    app.clock.advance(Duration::minutes(1));
    run_worker(&app).await;
    let texts: Vec<String> = texts_to(&gateway).await.into_iter().filter(|to| !to.is_empty()).collect();
    assert_eq!(texts, ["+355690000002"], "and only one");

    // The coordinator's phone lost its token: step two falls back to SMS at once, the dead token
    // is disabled, and no reminder follows an SMS.
    let coordinator = app.login("tirana.coord").await;
    let dead = json!({ "platform": "ios", "push_token": "a-token-the-phone-no-longer-has" });
    assert_eq!(app.post("/api/v1/devices", Some(&coordinator), &dead).await.status, StatusCode::CREATED);
    let rules = json!({ "push": true, "sms_after_minutes": 2 });
    assert_eq!(app.put("/api/v1/me/notification-rules", Some(&coordinator), &rules).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(2));
    run_worker(&app).await;
    let texts: Vec<String> = texts_to(&gateway).await.into_iter().filter(|to| !to.is_empty()).collect();
    assert_eq!(texts, ["+355690000002", "+355690000003"]);
    app.clock.advance(Duration::minutes(3));
    run_worker(&app).await;
    let texts: Vec<String> = texts_to(&gateway).await.into_iter().filter(|to| !to.is_empty()).collect();
    assert_eq!(texts, ["+355690000002", "+355690000003"], "no reminder after an SMS");
    let coordinator = app.login("tirana.coord").await;
    let devices = app.get("/api/v1/devices", Some(&coordinator)).await;
    assert!(devices.body[0]["disabled_at"].is_string(), "{}", devices.body);
}

/// The alert list pages by `cursor` like every list, its next cursor in `X-Next-Cursor`; alerts
/// raised in the same instant are neither skipped nor repeated. `before` still works.
#[actix_web::test]
async fn the_alert_list_pages_by_cursor() {
    let gateway = sms_gateway().await;
    let app = app_with(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    for n in 0..5 {
        raise(&app, &format!("p-{n}"), json!({ "severity": "normal", "title": format!("Alarm {n}") })).await;
    }
    let coordinator = app.login("tirana.coord").await;
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let cursor = next.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = app.get(&format!("/api/v1/alerts?limit=2{cursor}"), Some(&coordinator)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        seen.extend(page.body.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        next = page.headers.get("x-next-cursor").map(|v| v.to_str().unwrap().to_owned());
        if next.is_none() {
            break;
        }
    }
    assert_eq!((pages, seen.len()), (3, 5), "{seen:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);

    let bad = app.get("/api/v1/alerts?cursor=nonsense", Some(&coordinator)).await;
    assert_eq!(error_codes(&bad.body), ["invalid_cursor"]);
    let old_style = app.get("/api/v1/alerts?before=2026-03-02T00:00:00Z", Some(&coordinator)).await;
    assert_eq!(old_style.status, StatusCode::OK);
    assert_eq!(old_style.body.as_array().unwrap().len(), 0, "nothing was raised before the day began");
}
