//! What a record shows to whom: an alert's sighting and profile, statistics without the records.

use super::*;

#[actix_web::test]
async fn an_alert_names_only_what_its_raiser_may_see_and_only_its_agency_answers_it() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let elbasan_field = app.login("elbasan.squad").await;
    created(&app, Method::Post, "/api/v1/identifications", &field, "s-1", &sighting(&uuid(1))).await;
    let link = json!({ "new_profile": { "id": uuid(2) } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", uuid(1)), &field, "l-1", &link).await;
    let before = count_rows(&app, "alerts").await;

    // An unknown profile and one out of the raiser's sight get the same answer; nothing is written.
    let alert = |profile: String| json!({ "severity": "high", "title": "Fëmijë në rrezik", "profile_id": profile });
    let unknown = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-1", &alert(uuid(999))).await;
    let hidden = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-2", &alert(uuid(2))).await;
    for res in [&unknown, &hidden] {
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert_eq!(res.body["errors"][0]["code"], "unknown_profile", "{}", res.body);
    }
    assert_eq!(unknown.body["errors"], hidden.body["errors"]);
    let hidden_sighting = json!({ "severity": "high", "title": "x", "identification_id": uuid(1) });
    let res = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-3", &hidden_sighting).await;
    assert_eq!(res.body["errors"][0]["code"], "unknown_identification", "{}", res.body);
    assert_eq!(count_rows(&app, "alerts").await, before);
    let res = app.post_idempotent("/api/v1/alerts", &field, "a-4", &alert(uuid(2))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    // Another agency is paged only by those who may route anywhere.
    let duty_unit = agency_id(&app, &field, "AL213-GADISHMERI").await;
    let elsewhere = json!({ "severity": "emergency", "title": "Fëmijë në stacion", "agency_id": duty_unit });
    let res = app.post_idempotent("/api/v1/alerts", &field, "a-5", &elsewhere).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_your_agency")),
        "{}",
        res.body
    );
    let coordinator = app.login("tirana.coord").await;
    let raised = app.post_idempotent("/api/v1/alerts", &coordinator, "a-6", &elsewhere).await;
    assert_eq!(raised.status, StatusCode::CREATED, "{}", raised.body);
    let id = raised.body["id"].as_str().unwrap();

    // The raiser still sees it, but stopping Elbasan's escalation is Elbasan's.
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&coordinator)).await.status, StatusCode::OK);
    for action in ["acknowledge", "resolve"] {
        let res = app.post(&format!("/api/v1/alerts/{id}/{action}"), Some(&coordinator), &json!({})).await;
        assert_eq!(res.body["code"], "not_your_agency", "{action}: {}", res.body);
    }
    let police = app.login("police.tirana").await;
    let res = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&police), &json!({})).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "not theirs to see: {}", res.body);
    let duty = app.login("elbasan.duty").await;
    let res = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["state"], "acknowledged");
}

#[actix_web::test]
async fn statistics_readers_without_the_records_get_no_small_numbers_and_no_complements() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let coordinator = app.login("tirana.coord").await;
    let spot = json!({ "name": "Semaforët", "kind": "traffic_light_junction",
                       "shape": { "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 80.0 } });
    created(&app, Method::Post, "/api/v1/hotspots", &coordinator, "h-1", &spot).await;
    for n in 1..=4 {
        let mut body = sighting(&uuid(n));
        body["observed_at"] = json!(format!("2026-03-02T0{}:55:00Z", 4 + n));
        body["location"]["fix_time"] = body["observed_at"].clone();
        created(&app, Method::Post, "/api/v1/identifications", &field, &format!("s-{n}"), &body).await;
    }
    let link = json!({ "new_profile": { "id": uuid(10) } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", uuid(1)), &field, "l-1", &link).await;

    // Four sightings, one linked: the linked one is hidden, and so is the unlinked count that
    // would give it away (4 − 3).
    let analyst = app.login("ashdmf.analyst").await;
    let counts = app.get("/api/v1/identifications/counts?area=AL224", Some(&analyst)).await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.body);
    assert_eq!(counts.body["identifications"], 4);
    assert_eq!(counts.body["suppressed"], json!(["linked", "unlinked", "distinct_children"]));
    assert_eq!((counts.body["linked"].as_i64(), counts.body["unlinked"].as_i64()), (Some(0), Some(0)));

    // Coverage: each hour holds one sighting, hidden; the hotspot's four are shown, its one child not.
    let window = "area=AL224&from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z";
    let exact = app.get(&format!("/api/v1/coverage?{window}"), Some(&coordinator)).await;
    assert_eq!(exact.status, StatusCode::OK, "{}", exact.body);
    assert_eq!(exact.body["min_count"], 1);
    let hour_counts = |body: &Value| -> Vec<i64> {
        body["grid"].as_array().unwrap().iter().map(|c| c["identifications"].as_i64().unwrap()).collect()
    };
    assert_eq!(hour_counts(&exact.body).iter().sum::<i64>(), 4);
    assert_eq!(exact.body["hotspots"][0]["distinct_children"], 4);
    let admin = app.login("tirana.admin").await;
    for reader in [&analyst, &admin] {
        let stats = app.get(&format!("/api/v1/coverage?{window}"), Some(reader)).await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
        assert_eq!(stats.body["min_count"], 3);
        assert_eq!(hour_counts(&stats.body).iter().sum::<i64>(), 0, "{}", stats.body["grid"]);
        let hidden = stats.body["grid"].as_array().unwrap().iter().filter(|c| c["identifications_suppressed"] == true);
        assert_eq!(hidden.count(), 4);
        assert_eq!(stats.body["hotspots"][0]["identifications"], 4);
        assert!(stats.body["hotspots"][0].get("suppressed").is_none(), "{}", stats.body["hotspots"]);
        let odd = app
            .get("/api/v1/coverage?area=AL224&from=2026-03-02T07:00:00Z&to=2026-03-03T00:00:00Z", Some(reader))
            .await;
        assert_eq!(odd.body["errors"][0]["code"], "not_whole_day", "{}", odd.body);
    }

    // Deadline statistics of one referral: every cell and the total hidden from the analyst.
    let referral = json!({
        "id": uuid(20), "identification_id": uuid(2), "priority": "high", "reasons": ["street_situation"],
        "services": ["child_protection_assessment"], "share": "minimal",
    });
    let sent = created(&app, Method::Post, "/api/v1/referrals", &field, "r-1", &referral).await;
    let to = sent["to_agency"]["code"].as_str().unwrap().to_owned();
    let period = "from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z";
    let stats = app.get(&format!("/api/v1/referrals/deadline-statistics?agency={to}&{period}"), Some(&analyst)).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!((stats.body["referrals"].as_i64(), stats.body["min_count"].as_i64()), (Some(0), Some(3)));
    assert_eq!(stats.body["suppressed"], json!(["referrals"]));
    for row in stats.body["rows"].as_array().unwrap() {
        assert_eq!(row["pending"], 0, "{row}");
    }
    let hidden: usize =
        stats.body["rows"].as_array().unwrap().iter().map(|r| r["suppressed"].as_array().map_or(0, Vec::len)).sum();
    assert!(hidden >= 2, "{}", stats.body);
}
