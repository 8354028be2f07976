//! What is checked before a referral is written, and the routing table and deadline policies.

use super::*;

#[actix_web::test]
async fn consent_choice_of_agency_and_capacity_are_checked_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
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
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
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
