//! Referrals that page: an emergency referral, and deadlines nobody meets.

use super::*;

#[actix_web::test]
async fn an_emergency_referral_pages_the_duty_officer_and_the_outcome_reaches_the_field_worker() {
    let app = TestApp::spawn().await;
    let njmf_admin = app.login("tirana.admin").await;
    let duty = person(&app, "njmf.duty", "AL224-NJMF", &[Role::DutyOfficer]).await.token;
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
    let sighting = record_sighting(&app, SIGHTING, |s| {
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
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
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
