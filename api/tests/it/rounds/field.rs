//! A round walked from the phone: check-in, stops, sightings on the way, check-out and its report.

use super::*;

#[actix_web::test]
async fn a_round_is_planned_walked_and_reported_from_the_phone() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let team = squad(&app, &coordinator, &["tirana.field", "tirana.duty"]).await;
    let field = app.login("tirana.field").await;
    seen(&app, 1, LIGHTS, "2026-02-20T10:00:00Z").await;

    let stops = json!([{ "hotspot_id": lights }, { "area_code": "AL224" }]);
    let backwards = app
        .post(
            "/api/v1/rounds",
            Some(&coordinator),
            &round(1, &team, "2026-03-02T14:00:00", "2026-03-02T11:00:00", stops.clone()),
        )
        .await;
    assert_eq!(error_codes(&backwards.body), ["ends_before_start"]);
    let past = app
        .post(
            "/api/v1/rounds",
            Some(&coordinator),
            &round(1, &team, "2026-03-02T09:00:00", "2026-03-02T11:00:00", stops.clone()),
        )
        .await;
    assert_eq!(error_codes(&past.body), ["in_past"], "10:00 in Tirana now");
    let elsewhere = app
        .post(
            "/api/v1/rounds",
            Some(&coordinator),
            &round(1, &team, "2026-03-02T11:00:00", "2026-03-02T14:00:00", json!([{ "area_code": "AL213" }])),
        )
        .await;
    assert_eq!(error_codes(&elsewhere.body), ["outside_agency_area"]);

    let planned =
        plan(&app, &coordinator, &round(1, &team, "2026-03-02T11:00:00", "2026-03-02T14:00:00", stops.clone())).await;
    let id = planned["id"].as_str().unwrap().to_owned();
    assert_eq!(planned["starts_at"], "2026-03-02T10:00:00Z");
    assert_eq!(planned["status"], "planned");
    let again = app
        .post(
            "/api/v1/rounds",
            Some(&coordinator),
            &round(1, &team, "2026-03-02T11:00:00", "2026-03-02T14:00:00", stops.clone()),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "the same round sent twice");
    let clash = app
        .post(
            "/api/v1/rounds",
            Some(&coordinator),
            &round(2, &team, "2026-03-02T13:00:00", "2026-03-02T15:00:00", stops.clone()),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(clash.body["code"], "round_conflict");
    assert!(clash.body["detail"].as_str().unwrap().contains("in another round on 2026-03-02"), "{}", clash.body);

    // The phone's day: the team's phones, the hotspot's shape, who was seen there lately.
    let day = app.get("/api/v1/me/rounds?date=2026-03-02", Some(&field)).await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.body);
    let mine = &day.body["rounds"][0];
    assert_eq!(mine["round"]["id"], id.as_str());
    assert_eq!(mine["members"].as_array().unwrap().len(), 2);
    assert_eq!(mine["team_phone"], "+355690001111");
    assert_eq!(mine["stops"][0]["hotspot"]["shape"]["radius_m"], 100.0);
    assert_eq!(mine["stops"][0]["recent_sightings"].as_array().unwrap().len(), 1);
    assert_eq!(mine["stops"][1]["area"]["code"], "AL224");

    let path = format!("/api/v1/rounds/{id}");
    let early = app
        .post_idempotent(&format!("{path}/check-in"), &field, "check-in-early", &json!({ "location": fix(LIGHTS) }))
        .await;
    assert_eq!(
        error_codes(&early.body),
        ["outside_window"],
        "at 10:00 Tirana, an hour before the start: {}",
        early.body
    );
    app.clock.advance(Duration::minutes(65));
    let coordinator = app.login("tirana.coord").await;
    let field = app.login("tirana.field").await;
    let keyless = app.post(&format!("{path}/check-in"), Some(&field), &json!({ "location": fix(LIGHTS) })).await;
    assert_eq!(keyless.body["code"], "idempotency_key_required");
    let nowhere = app
        .post_idempotent(
            &format!("{path}/check-in"),
            &field,
            "check-in-nowhere",
            &json!({ "location": fix((95.0, 19.8)) }),
        )
        .await;
    assert_eq!(error_codes(&nowhere.body), ["out_of_range"]);
    let outsider = app
        .post_idempotent(&format!("{path}/check-in"), &coordinator, "check-in-1", &json!({ "location": fix(LIGHTS) }))
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    assert_eq!(outsider.body["code"], "not_on_team");
    let shkoder = (42.0683, 19.5126);
    let far = app
        .post_idempotent(&format!("{path}/check-in"), &field, "check-in-2", &json!({ "location": fix(shkoder) }))
        .await;
    assert_eq!(error_codes(&far.body), ["too_far"]);
    let checked_in = app
        .post_idempotent(
            &format!("{path}/check-in"),
            &field,
            "check-in-far",
            &json!({ "location": fix(shkoder), "reason": "car broke down in Shkodër on the way back" }),
        )
        .await;
    assert_eq!(checked_in.status, StatusCode::OK, "{}", checked_in.body);
    assert_eq!(checked_in.body["status"], "in_progress");
    assert!(checked_in.body["check_in_distance_m"].as_f64().unwrap() > 30_000.0);

    let duty = app.login("tirana.duty").await;
    let teammate = app
        .post_idempotent(&format!("{path}/check-in"), &duty, "check-in-duty", &json!({ "location": fix(LIGHTS) }))
        .await;
    assert_eq!(teammate.status, StatusCode::OK, "a teammate's check-in after the first: {}", teammate.body);
    assert_eq!(teammate.body["checked_in_by"], checked_in.body["checked_in_by"]);

    let during = seen(&app, 2, LIGHTS, "2026-03-02T10:05:00Z").await;
    assert_eq!(during["round_id"], id.as_str(), "a sighting during the round is linked to it");
    let mut before = sighting("019a2b3c-4d5e-7f00-8a1b-000000000003");
    before["observed_at"] = json!("2026-03-01T10:05:00Z");
    before["location"]["fix_time"] = json!("2026-03-01T10:05:00Z");
    before["round_id"] = json!(id);
    let named = app.post_idempotent("/api/v1/identifications", &field, "seen-before", &before).await;
    assert_eq!(error_codes(&named.body), ["outside_round"], "the day before the round: {}", named.body);
    let arrived = app
        .post_idempotent(&format!("{path}/stops/0/arrive"), &field, "arrive-3", &json!({ "location": fix(LIGHTS) }))
        .await;
    assert_eq!(arrived.body["stops"][0]["arrived_at"], "2026-03-02T10:05:00Z");
    app.clock.advance(Duration::minutes(30));
    let field = app.login("tirana.field").await;
    app.post_idempotent(&format!("{path}/stops/0/leave"), &field, "leave-4", &json!({})).await;
    let report = json!({ "report": { "children_met": 3, "adults_met": 1, "notes": "two girls selling tissues" } });
    let done = app.post_idempotent(&format!("{path}/check-out"), &field, "check-out-5", &report).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "done");
    assert_eq!(done.body["identifications"], 1);
    assert_eq!(done.body["report"]["children_met"], 3);
    assert_eq!(done.body["stops"][0]["left_at"], "2026-03-02T10:35:00Z");
    let repeat = app.post_idempotent(&format!("{path}/check-out"), &field, "check-out-5", &report).await;
    assert_eq!((repeat.status, &repeat.body), (StatusCode::OK, &done.body), "a retried check-out is answered again");
    let again = app.post_idempotent(&format!("{path}/check-out"), &field, "check-out-6", &report).await;
    assert_eq!(again.status, StatusCode::OK, "a second check-out answers the round as it is");
}

#[actix_web::test]
async fn an_area_stop_is_reached_anywhere_inside_its_boundary() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let team = squad(&app, &coordinator, &["tirana.field"]).await;
    let me = app.get("/api/v1/me", Some(&coordinator)).await;
    let agency = me.body["agency"]["id"].as_str().unwrap().to_owned();
    let strict = json!({ "forbid_rounds_while_on_duty": false, "missed_after_minutes": 30, "far_check_in_km": 1.0 });
    app.put(&format!("/api/v1/agencies/{agency}/planning-policy"), Some(&coordinator), &strict).await;
    let planned = plan(
        &app,
        &coordinator,
        &round(1, &team, "2026-03-02T10:15:00", "2026-03-02T12:00:00", json!([{ "area_code": "AL224" }])),
    )
    .await;
    let path = format!("/api/v1/rounds/{}/check-in", planned["id"].as_str().unwrap());
    let field = app.login("tirana.field").await;
    // Without a boundary, the square is measured to Tiranë's centroid, more than a kilometre away.
    let by_centroid = app.post_idempotent(&path, &field, "check-in-1", &json!({ "location": fix(LIGHTS) })).await;
    assert_eq!(error_codes(&by_centroid.body), ["too_far"], "{}", by_centroid.body);

    let outline = json!({ "type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": { "municipality_name": "TIRANE" },
        "geometry": { "type": "Polygon", "coordinates": [[[19.70, 41.20], [19.95, 41.20], [19.95, 41.45], [19.70, 41.45], [19.70, 41.20]]] },
    }] });
    let report = crate::fixtures::import_boundaries(&app, outline.to_string(), "tirana.geojson").await;
    assert_eq!(report.matched.len(), 1, "{:?}", report.unmatched);
    let inside = app.post_idempotent(&path, &field, "check-in-2", &json!({ "location": fix(LIGHTS) })).await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.body);
    assert!(inside.body.get("check_in_distance_m").is_none(), "inside the area: {}", inside.body);
}

/// The document's check-in example, sent from the round's place during the round, is taken.
#[actix_web::test]
async fn the_documents_check_in_example_is_taken() {
    let app = TestApp::spawn().await;
    // The example was taken on the morning of 6 July 2026, at 08:58 UTC (10:58 in Tirana).
    app.clock.set(Utc.with_ymd_and_hms(2026, 7, 6, 7, 0, 0).single().unwrap());
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let team = squad(&app, &coordinator, &["tirana.field"]).await;
    let stops = json!([{ "hotspot_id": lights }]);
    let planned = plan(&app, &coordinator, &round(1, &team, "2026-07-06T10:30:00", "2026-07-06T12:00:00", stops)).await;
    app.clock.set(Utc.with_ymd_and_hms(2026, 7, 6, 8, 59, 0).single().unwrap());
    let field = app.login("tirana.field").await;
    let example = terren_contract::examples::EXAMPLES.iter().find(|e| e.file == "check_in_request.json").unwrap();
    let body: Value = serde_json::from_str(example.json).unwrap();
    let id = planned["id"].as_str().unwrap();
    let checked_in = app.post_idempotent(&format!("/api/v1/rounds/{id}/check-in"), &field, "example", &body).await;
    assert_eq!(checked_in.status, StatusCode::OK, "the document's example is refused: {}", checked_in.body);
}
