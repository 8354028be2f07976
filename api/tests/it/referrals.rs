//! Referrals through the API and the job worker, with an injected clock: routing, consent,
//! deadlines and their breaches, the lifecycle, and who sees what.

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{alerts, notification_attempts, referral_events};
use terren_api::worker;

use crate::harness::{PASSWORD, TestApp};
use crate::identifications::sighting;
use crate::rotas::{daily_layer, error_codes, user_id};

const SIGHTING: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a01";
const REFERRAL: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6b01";

/// Creates an account in the admin's agency and returns its token, password already changed.
async fn person(app: &TestApp, admin: &str, username: &str, agency: &str, roles: &[&str]) -> String {
    let created = app
        .post(
            "/api/v1/users",
            Some(admin),
            &json!({ "username": username, "display_name": format!("{username} (test)"), "agency_code": agency,
                     "roles": roles, "phone": "+355690007777", "password": "temporary-pass-1" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let login = app.login_full(username, "temporary-pass-1", &format!("{username}-phone")).await;
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(&token),
            &json!({ "current_password": "temporary-pass-1", "new_password": PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    app.login(username).await
}

/// A sighting recorded by the QKT field worker; returns its id.
async fn record_sighting(app: &TestApp, field: &str, id: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut body = sighting(id);
    change(&mut body);
    let res = app.post_idempotent("/api/v1/identifications", field, &format!("s-{id}"), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    id.to_owned()
}

pub(crate) fn referral(id: &str, identification: &str, priority: &str) -> Value {
    json!({
        "id": id,
        "identification_id": identification,
        "priority": priority,
        "reasons": ["street_situation"],
        "services": ["child_protection_assessment"],
        "notes": "selling tissues at the lights, no adult nearby",
        "share": "details",
        "consent_given_by": "child",
    })
}

async fn refer(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post_idempotent("/api/v1/referrals", token, &format!("r-{}", body["id"]), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

fn deadline<'a>(referral: &'a Value, kind: &str) -> &'a Value {
    referral["deadlines"].as_array().unwrap().iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("{kind}"))
}

async fn alert_rows(app: &TestApp, referral: &str) -> Vec<(String, String, String, Option<String>)> {
    let referral = referral.to_owned();
    app.db(move |conn| {
        alerts::table
            .filter(alerts::referral_id.eq(&referral))
            .order(alerts::created_at.asc())
            .select((alerts::source, alerts::state, alerts::agency_id, alerts::dedup_key))
            .load(conn)
            .unwrap()
    })
    .await
}

async fn paged(app: &TestApp, user: &str) -> i64 {
    let user = user.to_owned();
    app.db(move |conn| {
        notification_attempts::table
            .filter(notification_attempts::recipient_user_id.eq(&user))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

async fn event_kinds(app: &TestApp, referral: &str) -> Vec<String> {
    let referral = referral.to_owned();
    app.db(move |conn| {
        referral_events::table
            .filter(referral_events::referral_id.eq(&referral))
            .order((referral_events::occurred_at.asc(), referral_events::id.asc()))
            .select(referral_events::kind)
            .load(conn)
            .unwrap()
    })
    .await
}

async fn agency_id(app: &TestApp, token: &str, code: &str) -> String {
    let res = app.get(&format!("/api/v1/agencies?q={code}&include_inactive=true"), Some(token)).await;
    res.body.as_array().unwrap().iter().find(|a| a["code"] == code).unwrap()["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_emergency_referral_pages_the_duty_officer_and_the_outcome_reaches_the_field_worker() {
    let app = TestApp::spawn().await;
    let njmf_admin = app.login("tirana.admin").await;
    let duty = person(&app, &njmf_admin, "njmf.duty", "AL224-NJMF", &["duty_officer"]).await;
    let duty_id = user_id(&app, "njmf.duty").await;
    let rota = app
        .post(
            "/api/v1/schedules",
            Some(&njmf_admin),
            &json!({ "name": "Gadishmëria NJMF", "layers": [daily_layer(&[&duty_id], "08:00", "2026-03-02")] }),
        )
        .await;
    assert_eq!(rota.status, StatusCode::CREATED, "{}", rota.body);

    // An emergency sighting and, a moment later, the emergency referral about the same child.
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |s| {
        s["risk_level"] = json!("emergency");
        s["emergency"] = json!(true);
    })
    .await;
    let sent = refer(&app, &field, &referral(REFERRAL, &sighting, "emergency")).await;
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["to_agency"]["code"], "AL224-NJMF", "a child goes to the child-protection unit of the place");
    assert_eq!(sent["routing"]["method"], "rule");
    assert_eq!(sent["subject"]["age_band"], "7-9");
    assert_eq!(sent["identification_id"], SIGHTING, "the sender sees whom it is about");
    assert_eq!(deadline(&sent, "acknowledge")["due_at"], "2026-03-02T09:15:00Z");
    assert_eq!(deadline(&sent, "first_contact")["due_at"], "2026-03-02T11:00:00Z");
    assert_eq!(deadline(&sent, "outcome")["due_at"], "2026-03-03T09:00:00Z");
    assert_eq!(deadline(&sent, "acknowledge")["state"], "pending");

    // The worker pages NJMF's duty officer once: the sighting's alert joins the referral's.
    worker::run_until_idle(&app.state).await.unwrap();
    let raised = alert_rows(&app, REFERRAL).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!((raised[0].0.as_str(), raised[0].1.as_str()), ("referral", "triggered"));
    let open_alerts: i64 = app.db(|conn| alerts::table.count().get_result(conn).unwrap()).await;
    assert_eq!(open_alerts, 1, "one page for one child");
    assert!(paged(&app, &duty_id).await >= 1, "the duty officer was paged");

    // Before accepting, the receiving agency sees the referral but not whom it names.
    let inbox = app.get("/api/v1/referrals?box=inbox&open=true", Some(&duty)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    let item = &inbox.body["items"][0];
    assert_eq!(item["id"], REFERRAL);
    assert!(item.get("identification_id").is_none() && item.get("profile").is_none(), "{item}");
    assert_eq!(item["notes"], "selling tissues at the lights, no adult nearby");

    app.clock.advance(Duration::minutes(6));
    let path = format!("/api/v1/referrals/{REFERRAL}");
    let acked = app.post(&format!("{path}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    assert_eq!(acked.body["status"], "acknowledged");
    assert_eq!(deadline(&acked.body, "acknowledge")["state"], "met");
    assert_eq!(alert_rows(&app, REFERRAL).await[0].1, "acknowledged", "answering the referral stops the paging");
    let again = app.post(&format!("{path}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "a retry from the phone is answered, not refused");

    let accepted = app.post(&format!("{path}/accept"), Some(&duty), &json!({ "note": "on our way" })).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["identification_id"], SIGHTING, "accepted with consent: the details are shared");

    app.clock.advance(Duration::minutes(40));
    let duty = app.login("njmf.duty").await;
    let started = app.post(&format!("{path}/start"), Some(&duty), &json!({ "note": "found her at the lights" })).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["contacted_at"], "2026-03-02T09:46:00Z");
    assert_eq!(deadline(&started.body, "first_contact")["state"], "met");

    let no_outcome = app.post(&format!("{path}/close"), Some(&duty), &json!({})).await;
    assert_eq!(no_outcome.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_codes(&no_outcome.body), ["outcome_required"]);
    let closed = app.post(&format!("{path}/close"), Some(&duty), &json!({ "outcome": "case_opened" })).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.body["overdue"], false);
    for kind in ["acknowledge", "first_contact", "outcome"] {
        assert_eq!(deadline(&closed.body, kind)["state"], "met", "{kind}");
    }
    assert_eq!(alert_rows(&app, REFERRAL).await[0].1, "resolved", "the page ends with the referral");

    // The loop closes: the field worker sees how it ended.
    let field = app.login("tirana.field").await;
    let mine = app.get("/api/v1/referrals?box=mine", Some(&field)).await;
    assert_eq!(mine.body["items"][0]["outcome"], "case_opened");
    assert_eq!(mine.body["items"][0]["ended_by"]["display_name"], "njmf.duty (test)");
    let timeline = app.get(&format!("{path}/timeline"), Some(&field)).await;
    let kinds: Vec<&str> = timeline.body.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "sent",
            "alert_raised",
            "deadline_met",
            "acknowledged",
            "accepted",
            "deadline_met",
            "in_progress",
            "deadline_met",
            "closed"
        ]
    );
    assert_eq!(timeline.body[4]["note"], "on our way");
}

#[actix_web::test]
async fn nobody_acknowledges_so_the_breach_alerts_the_unit_then_the_senders_coordinators() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    let sent = refer(&app, &field, &referral(REFERRAL, &sighting, "high")).await;
    assert_eq!(deadline(&sent, "acknowledge")["due_at"], "2026-03-02T10:00:00Z");
    worker::run_until_idle(&app.state).await.unwrap();
    assert!(alert_rows(&app, REFERRAL).await.is_empty(), "a high referral pages nobody until a deadline passes");

    app.clock.advance(Duration::minutes(61));
    worker::run_until_idle(&app.state).await.unwrap();
    let raised = alert_rows(&app, REFERRAL).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].0, "referral_deadline");
    let njmf = agency_id(&app, &app.login("tirana.admin").await, "AL224-NJMF").await;
    assert_eq!(raised[0].2, njmf, "first to the receiving unit");
    // NJMF has no rota: its default policy pages its coordinators; it has none, so nobody yet.

    let pmf = app.login("tirana.pmf").await;
    let overdue = app.get("/api/v1/referrals?box=inbox&overdue=true", Some(&pmf)).await;
    assert_eq!(overdue.body["items"].as_array().unwrap().len(), 1, "{}", overdue.body);
    assert_eq!(overdue.body["items"][0]["overdue"], true);
    assert_eq!(deadline(&overdue.body["items"][0], "acknowledge")["state"], "breached");
    let on_time = app.get("/api/v1/referrals?box=inbox&overdue=false", Some(&pmf)).await;
    assert_eq!(on_time.body["items"], json!([]));

    // Still unanswered an hour later: the QKT coordinator, who sent it, is paged.
    let coordinator = user_id(&app, "tirana.coord").await;
    assert_eq!(paged(&app, &coordinator).await, 0);
    app.clock.advance(Duration::minutes(60));
    worker::run_until_idle(&app.state).await.unwrap();
    let raised = alert_rows(&app, REFERRAL).await;
    assert_eq!(raised.len(), 2, "{raised:?}");
    let qkt = agency_id(&app, &app.login("tirana.pmf").await, "AL224-QKT").await;
    assert_eq!(raised[1].2, qkt);
    assert!(paged(&app, &coordinator).await >= 1, "the sender's coordinator was paged");

    // Late is still late: acknowledging now keeps the breach on record and ends both alerts.
    let pmf = app.login("tirana.pmf").await;
    let acked = app.post(&format!("/api/v1/referrals/{REFERRAL}/acknowledge"), Some(&pmf), &json!({})).await;
    assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
    let ack = deadline(&acked.body, "acknowledge");
    assert_eq!(ack["state"], "breached");
    assert_eq!(ack["met_at"], "2026-03-02T11:01:00Z");
    assert_eq!(ack["breached_at"], "2026-03-02T10:01:00Z");
    assert!(alert_rows(&app, REFERRAL).await.iter().all(|a| a.1 == "resolved"));
    let kinds = event_kinds(&app, REFERRAL).await;
    assert_eq!(kinds, ["sent", "deadline_breached", "alert_raised", "sender_alerted", "acknowledged"]);

    // The breach is on record for the unit's reports.
    let period = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z";
    let stats = app.get(&format!("/api/v1/referrals/deadline-statistics?{period}"), Some(&pmf)).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["referrals"], 1);
    let row = |kind: &str| {
        stats.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["priority"] == "high" && r["kind"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("acknowledge"),
        json!({ "priority": "high", "kind": "acknowledge", "met": 0, "breached": 1, "pending": 0, "void": 0 })
    );
    assert_eq!(row("first_contact")["pending"], 1);
    let police = app.login("police.tirana").await;
    let theirs =
        app.get(&format!("/api/v1/referrals/deadline-statistics?agency=AL224-NJMF&{period}"), Some(&police)).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn consent_choice_of_agency_and_capacity_are_checked_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    let mut body = referral(REFERRAL, &sighting, "medium");

    body["consent_given_by"] = Value::Null;
    let res = app.post_idempotent("/api/v1/referrals", &field, "k-1", &body).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_codes(&res.body), ["consent_required"]);
    body["consent_override_reason"] = json!("the child is alone at night and at risk");
    let res = app.post_idempotent("/api/v1/referrals", &field, "k-2", &body).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "a field worker may not override consent");

    let admin = app.login("admin").await;
    body["consent_override_reason"] = Value::Null;
    body["consent_given_by"] = json!("child");
    body["to_agency_id"] = json!(agency_id(&app, &admin, "ASHDMF").await);
    let res = app.post_idempotent("/api/v1/referrals", &field, "k-3", &body).await;
    assert_eq!(error_codes(&res.body), ["agency_does_not_take_case"]);
    body["to_agency_id"] = json!(agency_id(&app, &admin, "AL221-NJMF").await);
    let res = app.post_idempotent("/api/v1/referrals", &field, "k-4", &body).await;
    assert_eq!(error_codes(&res.body), ["agency_outside_area"], "Kamëz's unit does not serve Tirana");

    // The shelter is full: choosing it is refused, and routing passes over it.
    let shelter = agency_id(&app, &admin, "AL224-QSST").await;
    let current = app.get(&format!("/api/v1/agencies/{shelter}"), Some(&admin)).await;
    let full = app
        .patch(
            &format!("/api/v1/agencies/{shelter}"),
            Some(&admin),
            &json!({ "version": current.body["version"], "capacity": 1 }),
        )
        .await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.body);
    let occupancy =
        app.put(&format!("/api/v1/agencies/{shelter}/occupancy"), Some(&admin), &json!({ "occupied": 1 })).await;
    assert_eq!(occupancy.status, StatusCode::NO_CONTENT, "{}", occupancy.body);
    body["services"] = json!(["shelter_placement"]);
    body["to_agency_id"] = json!(shelter);
    let res = app.post_idempotent("/api/v1/referrals", &field, "k-5", &body).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(res.body["code"], "shelter_full");
    let count: i64 = app.db(|conn| terren_api::db::schema::referrals::table.count().get_result(conn).unwrap()).await;
    assert_eq!(count, 0, "nothing half-written");

    body["to_agency_id"] = Value::Null;
    let routed = refer(&app, &field, &body).await;
    assert_eq!(routed["to_agency"]["code"], "AL224-NJMF", "no free place: the rule's next agency type");

    // Replays: the same key answers again; the same id with other content is refused.
    let replay = app.post_idempotent("/api/v1/referrals", &field, &format!("r-{}", body["id"]), &body).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.headers.get("Idempotent-Replayed").unwrap(), "true");
    let resent = app.post_idempotent("/api/v1/referrals", &field, "k-6", &body).await;
    assert_eq!(resent.status, StatusCode::OK, "the same referral sent again without its key");
    body["priority"] = json!("low");
    let other = app.post_idempotent("/api/v1/referrals", &field, "k-7", &body).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["code"], "already_exists");
}

#[actix_web::test]
async fn illegal_steps_are_refused_and_other_agencies_see_nothing() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "medium")).await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    let pmf = app.login("tirana.pmf").await;

    let early = app.post(&format!("{path}/start"), Some(&pmf), &json!({})).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.body["code"], "invalid_transition");
    let not_theirs = app.post(&format!("{path}/accept"), Some(&field), &json!({})).await;
    assert_eq!(not_theirs.status, StatusCode::FORBIDDEN, "the sender does not answer its own referral");

    let police = app.login("police.tirana").await;
    assert_eq!(app.get(&path, Some(&police)).await.status, StatusCode::NOT_FOUND);
    let their_inbox = app.get("/api/v1/referrals?to_agency=AL224-NJMF", Some(&police)).await;
    assert_eq!(their_inbox.body["items"], json!([]));
    assert_eq!(app.post(&format!("{path}/accept"), Some(&police), &json!({})).await.status, StatusCode::NOT_FOUND);

    let bad_reason = app.post(&format!("{path}/decline"), Some(&pmf), &json!({ "reason": "too_busy" })).await;
    assert_eq!(error_codes(&bad_reason.body), ["unknown_code"]);
    let declined = app
        .post(&format!("{path}/decline"), Some(&pmf), &json!({ "reason": "already_handled", "note": "known to us" }))
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(declined.body["status"], "declined");
    assert!(declined.body["suggested_agency"]["code"].as_str().unwrap().ends_with("-NJVNR"), "{}", declined.body);
    for kind in ["first_contact", "outcome"] {
        assert_eq!(deadline(&declined.body, kind)["state"], "void");
    }
    let late = app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.body["code"], "referral_ended");

    // The decline goes back to the sender's coordinators.
    let raised = alert_rows(&app, REFERRAL).await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].0, "referral_declined");
    let coordinator = app.login("tirana.coord").await;
    let outbox = app.get("/api/v1/referrals?box=outbox&status=declined", Some(&coordinator)).await;
    assert_eq!(outbox.body["items"][0]["decline_reason"], "already_handled");
}

#[actix_web::test]
async fn the_inbox_pages_newest_first_through_referrals_sent_at_the_same_instant() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    // Three sent at one instant, then two a minute apart.
    let mut sent = Vec::new();
    for n in 0..5 {
        if n >= 3 {
            app.clock.advance(Duration::minutes(1));
        }
        let id = format!("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6c{n:02}");
        refer(&app, &field, &referral(&id, &sighting, "medium")).await;
        sent.push(id);
    }
    let pmf = app.login("tirana.pmf").await;
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/referrals?box=inbox&limit=2&cursor={cursor}"),
            None => "/api/v1/referrals?box=inbox&limit=2".to_owned(),
        };
        let page = app.get(&path, Some(&pmf)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Newest first; among those sent at the same instant, the greater id first.
    let expected: Vec<String> = [4, 3, 2, 1, 0].into_iter().map(|n| sent[n].clone()).collect();
    assert_eq!(seen, expected);
}

#[actix_web::test]
async fn a_forwarded_referral_keeps_the_chain_and_opens_the_details_only_on_acceptance() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "high")).await;
    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    app.clock.advance(Duration::minutes(5));

    // The child's family lives in Kamëz: the case goes to Kamëz's unit, outside Tirana.
    let admin = app.login("admin").await;
    let kamez = agency_id(&app, &admin, "AL221-NJMF").await;
    let forwarded = app
        .post(
            &format!("{path}/forward"),
            Some(&pmf),
            &json!({ "to_agency_id": kamez, "note": "family lives in Kamëz" }),
        )
        .await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);
    assert_eq!(forwarded.body["status"], "forwarded");
    let next = forwarded.body["forwarded_to"].as_str().unwrap().to_owned();

    let kamez_pmf = person(&app, &admin, "kamez.pmf", "AL221-NJMF", &["case_manager"]).await;
    let waiting = app.get(&format!("/api/v1/referrals/{next}"), Some(&kamez_pmf)).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    assert_eq!(waiting.body["forwarded_from"], REFERRAL);
    assert_eq!(waiting.body["from_agency"]["code"], "AL224-NJMF");
    assert_eq!(waiting.body["routing"]["method"], "forward");
    assert!(waiting.body.get("identification_id").is_none());
    let sighting_path = format!("/api/v1/identifications/{SIGHTING}");
    assert_eq!(app.get(&sighting_path, Some(&kamez_pmf)).await.status, StatusCode::NOT_FOUND);

    let accepted = app.post(&format!("/api/v1/referrals/{next}/accept"), Some(&kamez_pmf), &json!({})).await;
    assert_eq!(accepted.body["identification_id"], SIGHTING);
    let read = app.get(&sighting_path, Some(&kamez_pmf)).await;
    assert_eq!(read.status, StatusCode::OK, "an accepted referral with consent opens the sighting");

    // The field worker who started the chain follows it to the end.
    let mine = app.get("/api/v1/referrals?box=mine", Some(&field)).await;
    let ids: Vec<&str> = mine.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [next.as_str(), REFERRAL]);
}

#[actix_web::test]
async fn municipalities_edit_their_routing_table_and_deadlines() {
    let app = TestApp::spawn().await;
    let njmf_admin = app.login("tirana.admin").await;
    let rules = app.get("/api/v1/referral-routes?municipality=AL224", Some(&njmf_admin)).await;
    assert_eq!(rules.body.as_array().unwrap().len(), 4, "the national defaults: {}", rules.body);

    // Tirana sends every child in a street situation to the needs-assessment unit of the unit.
    let rule =
        json!({ "municipality_code": "AL224", "subject_type": "child", "agency_types": ["needs_assessment_unit"] });
    let created = app.post("/api/v1/referral-routes", Some(&njmf_admin), &rule).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let twice = app.post("/api/v1/referral-routes", Some(&njmf_admin), &rule).await;
    assert_eq!(twice.body["code"], "already_exists");
    let elsewhere = app
        .post(
            "/api/v1/referral-routes",
            Some(&njmf_admin),
            &json!({ "municipality_code": "AL221", "subject_type": "child", "agency_types": ["shelter"] }),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let wrong = app
        .post(
            "/api/v1/referral-routes",
            Some(&njmf_admin),
            &json!({ "municipality_code": "AL224", "subject_type": "adult", "agency_types": ["child_protection_unit"] }),
        )
        .await;
    assert_eq!(error_codes(&wrong.body), ["agency_does_not_take_case"]);

    // Tirana's emergencies must be acknowledged within five minutes.
    let policy = app.get("/api/v1/referral-deadline-policies/AL224", Some(&njmf_admin)).await;
    assert_eq!(policy.body["inherited"], true);
    let mut body = policy.body["policy"].clone();
    body["priorities"][0]["acknowledge"] = json!({ "amount": 5, "unit": "minutes" });
    let saved = app
        .put("/api/v1/referral-deadline-policies/AL224", Some(&njmf_admin), &json!({ "policy": body.clone() }))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["inherited"], false);
    let stale =
        app.put("/api/v1/referral-deadline-policies/AL224", Some(&njmf_admin), &json!({ "policy": body })).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let mut broken = saved.body["policy"].clone();
    broken["working_calendar"]["ends"] = json!("07:00");
    let refused = app
        .put("/api/v1/referral-deadline-policies/AL224", Some(&njmf_admin), &json!({ "policy": broken, "version": 1 }))
        .await;
    assert_eq!(error_codes(&refused.body), ["ends_before_start"]);

    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    let suggestion = app.get(&format!("/api/v1/referrals/route?identification_id={sighting}"), Some(&field)).await;
    assert_eq!(suggestion.status, StatusCode::OK, "{}", suggestion.body);
    let unit_team = suggestion.body["agency"]["code"].as_str().unwrap().to_owned();
    assert!(unit_team.starts_with("AL224-") && unit_team.ends_with("-NJVNR"), "{unit_team}");
    assert_eq!(suggestion.body["rule_id"], created.body["id"]);
    let sent = refer(&app, &field, &referral(REFERRAL, &sighting, "emergency")).await;
    assert_eq!(sent["to_agency"]["code"], unit_team.as_str());
    assert_eq!(sent["routing"]["rule_id"], created.body["id"]);
    assert_eq!(deadline(&sent, "acknowledge")["due_at"], "2026-03-02T09:05:00Z", "Tirana's own deadline");
}

#[actix_web::test]
async fn answers_at_once_leave_one_history_and_the_last_shelter_place_goes_once() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "high")).await;
    let njmf_admin = app.login("tirana.admin").await;
    let second_pmf = person(&app, &njmf_admin, "pmf.two", "AL224-NJMF", &["case_manager"]).await;
    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    let (accept_path, decline_path) = (format!("{path}/accept"), format!("{path}/decline"));
    let (empty, reason) = (json!({}), json!({ "reason": "no_capacity" }));
    let (accept, decline) = futures_util::join!(
        app.post(&accept_path, Some(&pmf), &empty),
        app.post(&decline_path, Some(&second_pmf), &reason),
    );
    let mut statuses = [accept.status.as_u16(), decline.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", accept.body, decline.body);
    let loser = if accept.status == StatusCode::CONFLICT { &accept } else { &decline };
    assert!(["referral_ended", "invalid_transition"].contains(&loser.body["code"].as_str().unwrap()), "{}", loser.body);
    let kinds = event_kinds(&app, REFERRAL).await;
    let answers = kinds.iter().filter(|k| *k == "accepted" || *k == "declined").count();
    assert_eq!(answers, 1, "{kinds:?}");

    // Two placements asked for, one place left when both are accepted at once.
    let admin = app.login("admin").await;
    let shelter = agency_id(&app, &admin, "AL224-QSST").await;
    let current = app.get(&format!("/api/v1/agencies/{shelter}"), Some(&admin)).await;
    let patched = app
        .patch(
            &format!("/api/v1/agencies/{shelter}"),
            Some(&admin),
            &json!({ "version": current.body["version"], "capacity": 2 }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let staff = [
        person(&app, &admin, "qsst.one", "AL224-QSST", &["partner_responder"]).await,
        person(&app, &admin, "qsst.two", "AL224-QSST", &["partner_responder"]).await,
    ];
    let mut placements = Vec::new();
    for n in 0..2 {
        let mut body = referral(&format!("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6c0{n}"), &sighting, "high");
        body["services"] = json!(["shelter_placement"]);
        body["to_agency_id"] = json!(shelter);
        placements.push(refer(&app, &field, &body).await["id"].as_str().unwrap().to_owned());
    }
    let occupancy =
        app.put(&format!("/api/v1/agencies/{shelter}/occupancy"), Some(&staff[0]), &json!({ "occupied": 1 })).await;
    assert_eq!(occupancy.status, StatusCode::NO_CONTENT, "{}", occupancy.body);
    let paths: Vec<String> = placements.iter().map(|id| format!("/api/v1/referrals/{id}/accept")).collect();
    let (first, second) = futures_util::join!(
        app.post(&paths[0], Some(&staff[0]), &empty),
        app.post(&paths[1], Some(&staff[1]), &empty),
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", first.body, second.body);
    let loser = if first.status == StatusCode::CONFLICT { &first } else { &second };
    assert_eq!(loser.body["code"], "shelter_full");
    let now = app.get(&format!("/api/v1/agencies/{shelter}"), Some(&admin)).await;
    assert_eq!(now.body["occupied"], 2);
    let refused = if first.status == StatusCode::CONFLICT { &placements[0] } else { &placements[1] };
    let still = app.get(&format!("/api/v1/referrals/{refused}"), Some(&staff[0])).await;
    assert_eq!(still.body["status"], "sent", "a refused acceptance changes nothing");
}

#[actix_web::test]
async fn a_referral_moves_the_child_on_and_keeps_the_precise_location_while_open() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, &field, SIGHTING, |_| {}).await;
    let other = record_sighting(&app, &field, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a02", |_| {}).await;
    let profile = "019a2b3d-4d5e-7f00-8a1b-000000000009";
    let linked = app
        .post_idempotent(
            &format!("/api/v1/identifications/{sighting}/link"),
            &field,
            "link-1",
            &json!({ "new_profile": { "id": profile, "given_name": "Ana", "aliases": [] } }),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    let sent = refer(&app, &field, &referral(REFERRAL, &sighting, "medium")).await;
    assert_eq!(sent["profile"]["id"], profile, "the sighting's profile comes along");
    let status = |body: &Value| body["status"].as_str().unwrap().to_owned();
    let read = app.get(&format!("/api/v1/child-profiles/{profile}"), Some(&field)).await;
    assert_eq!(status(&read.body), "referred");

    // A hundred days on the referral is still open: its sighting keeps its exact point, the
    // other sighting of the same morning is coarsened.
    app.clock.advance(Duration::days(100));
    app.run_retention().await;
    let field = app.login("tirana.field").await;
    let kept = app.get(&format!("/api/v1/identifications/{sighting}"), Some(&field)).await;
    assert_eq!(kept.body["location"]["lat"], 41.3275);
    let coarsened = app.get(&format!("/api/v1/identifications/{other}"), Some(&field)).await;
    assert_ne!(coarsened.body["location"]["lat"], 41.3275);

    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    let closed = app.post(&format!("{path}/close"), Some(&pmf), &json!({ "outcome": "case_opened" })).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(deadline(&closed.body, "first_contact")["state"], "breached", "never contacted within 3 working days");
    assert_eq!(deadline(&closed.body, "outcome")["state"], "breached");
    let read = app.get(&format!("/api/v1/child-profiles/{profile}"), Some(&field)).await;
    assert_eq!(status(&read.body), "in_case_management");
}
