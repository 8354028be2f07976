//! Odd input that fuzzing found: NUL characters, truncated bodies, times with and without an
//! offset, and query parameters in the wrong form. Every case answers a problem, never a 500, and
//! the same on SQLite and PostgreSQL.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::fixtures::sighting;
use crate::fixtures::{daily_layer, user_id};
use crate::harness::{PASSWORD, TestApp};

fn assert_nul_refused(res: &crate::harness::Response, field: &str) {
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(res.body["code"], "validation_failed");
    assert_eq!(res.body["errors"][0]["field"], field, "{}", res.body);
    assert_eq!(res.body["errors"][0]["code"], "nul_character");
}

#[actix_web::test]
async fn a_nul_character_is_refused_everywhere_naming_the_field() {
    let app = TestApp::spawn().await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({ "username": "tirana.field\u{0}", "password": PASSWORD, "device_id": "phone" }),
        )
        .await;
    assert_nul_refused(&login, "username");

    let field = app.login("tirana.field").await;
    let id = "019a2b3c-4d5e-7f00-8a1b-00000000e001";
    let mut body = sighting(id);
    body["notes"] = json!("fjeti te\u{0} stacioni");
    let res = app.post_idempotent("/api/v1/identifications", &field, "nul-1", &body).await;
    assert_nul_refused(&res, "notes");
    body["notes"] = json!("fjeti te stacioni");
    body["languages"] = json!(["sq", "r\u{0}m"]);
    let res = app.post_idempotent("/api/v1/identifications", &field, "nul-2", &body).await;
    assert_nul_refused(&res, "languages[1]");
    let stored = app.get(&format!("/api/v1/identifications/{id}"), Some(&field)).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND, "nothing half-written: {}", stored.body);
    // The phone fixes the text and sends again under a new key: stored.
    body["languages"] = json!(["sq"]);
    let res = app.post_idempotent("/api/v1/identifications", &field, "nul-3", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    let coordinator = app.login("tirana.coord").await;
    let res = app
        .post(
            "/api/v1/hotspots",
            Some(&coordinator),
            &json!({ "name": "Semafori\u{0}", "kind": "traffic_light_junction",
                     "shape": { "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 100.0 } }),
        )
        .await;
    assert_nul_refused(&res, "name");
    let res = app
        .post("/api/v1/schedules", Some(&coordinator), &json!({ "name": "Roja\u{0}", "layers": [daily_layer(&[&user_id(&app, "tirana.duty").await], "08:00", "2026-03-02")] }))
        .await;
    assert_nul_refused(&res, "name");

    // Query strings and paths.
    let res = app.get("/api/v1/areas?q=Tiran%00", Some(&field)).await;
    assert_nul_refused(&res, "q");
    let res = app.get("/api/v1/profiles?q=Ana%00", Some(&coordinator)).await;
    assert_nul_refused(&res, "q");
    let res = app.get("/api/v1/referral-deadline-policies/a%00b", Some(&coordinator)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert_eq!(res.body["code"], "not_found");
    // A literal backslash-u-zero text is ordinary text.
    let res = app.get("/api/v1/areas?q=%5Cu0000", Some(&field)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[actix_web::test]
async fn a_real_body_cut_at_every_byte_is_malformed_json() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let mut body = sighting("019a2b3c-4d5e-7f00-8a1b-00000000e002");
    body["notes"] = json!("Fëmijë 🙂 te \"semafori\" / at the lights");
    let bytes = serde_json::to_vec(&body).unwrap();
    for cut in 0..bytes.len() {
        let res = app
            .request(
                TestRequest::post()
                    .uri("/api/v1/identifications")
                    .insert_header(("Authorization", format!("Bearer {field}")))
                    .insert_header(("Idempotency-Key", format!("cut-{cut}")))
                    .insert_header(("Content-Type", "application/json"))
                    .set_payload(bytes[..cut].to_vec()),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "cut at {cut}: {}", res.body);
        assert_eq!(res.body["code"], "malformed_json", "cut at {cut}: {}", res.body);
    }
    let res = app.post_idempotent("/api/v1/identifications", &field, "whole", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "the whole body is fine: {}", res.body);
}

#[actix_web::test]
async fn a_round_takes_times_with_or_without_an_offset_and_what_it_returns_can_be_written_back() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let mut members = Vec::new();
    for member in ["tirana.field", "tirana.duty"] {
        members.push(user_id(&app, member).await);
    }
    let team = app
        .post("/api/v1/teams", Some(&coordinator), &json!({ "name": "Skuadra 1", "kind": "squad", "members": members }))
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{}", team.body);
    let team = team.body["id"].as_str().unwrap().to_owned();
    let round = |n: u32, starts: &str, ends: &str| {
        json!({
            "id": format!("019a2b3c-4d5e-7f00-8a1b-{:012}", 800_000 + n),
            "team_id": team, "starts_at": starts, "ends_at": ends,
            "purpose": "patrol", "stops": [{ "area_code": "AL224" }],
        })
    };
    // The same afternoon three ways: local, UTC, and with Tirana's offset (+01:00 in March).
    let cases = [
        ("2026-03-03T15:00:00", "2026-03-03T17:00:00"),
        ("2026-03-04T14:00:00Z", "2026-03-04T16:00:00Z"),
        ("2026-03-05T15:00:00+01:00", "2026-03-05T17:00:00+01:00"),
    ];
    for (n, (starts, ends)) in (1..).zip(cases) {
        let res = app.post("/api/v1/rounds", Some(&coordinator), &round(n, starts, ends)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{starts}: {}", res.body);
        let day = 2 + n;
        assert_eq!(res.body["starts_at"], format!("2026-03-0{day}T14:00:00Z"), "{starts}");
        assert_eq!(res.body["ends_at"], format!("2026-03-0{day}T16:00:00Z"));
        assert_eq!(res.body["local_date"], format!("2026-03-0{day}"));
    }
    let refused = app
        .post("/api/v1/rounds", Some(&coordinator), &round(9, "2026-03-06T16:00:00Z", "2026-03-06T15:00:00+01:00"))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["code"], "ends_before_start");
    let refused = app.post("/api/v1/rounds", Some(&coordinator), &round(9, "tomorrow", "2026-03-06T15:00:00")).await;
    assert_eq!(refused.body["errors"][0]["field"], "starts_at", "{}", refused.body);

    // Read a round and write its times back unchanged, then move it by an hour in UTC.
    let id = format!("019a2b3c-4d5e-7f00-8a1b-{:012}", 800_001);
    let read = app.get(&format!("/api/v1/rounds/{id}"), Some(&coordinator)).await.body;
    let patch = json!({ "version": read["version"], "starts_at": read["starts_at"], "ends_at": read["ends_at"] });
    let written = app.patch(&format!("/api/v1/rounds/{id}"), Some(&coordinator), &patch).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    assert_eq!((&written.body["starts_at"], &written.body["ends_at"]), (&read["starts_at"], &read["ends_at"]));
    let moved = app
        .patch(
            &format!("/api/v1/rounds/{id}"),
            Some(&coordinator),
            &json!({ "version": written.body["version"], "starts_at": "2026-03-03T13:00:00Z" }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["starts_at"], "2026-03-03T13:00:00Z");
    assert_eq!(moved.body["ends_at"], "2026-03-03T16:00:00Z", "the end stays where it was");
}

#[actix_web::test]
async fn an_on_call_time_without_offset_is_a_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let res = app.get("/api/v1/on-call?at=2026-03-02T10:00:00", Some(&field)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.body["code"], "invalid_query");
    assert_eq!(res.body["errors"][0]["field"], "at", "{}", res.body);
    assert_eq!(res.body["errors"][0]["code"], "invalid_format");
    let detail = res.body["detail"].as_str().unwrap();
    assert!(detail.contains("RFC 3339") && detail.contains("%2B"), "{detail}");
    for good in ["2026-03-02T10:00:00Z", "2026-03-02T11:00:00%2B01:00"] {
        let res = app.get(&format!("/api/v1/on-call?at={good}"), Some(&field)).await;
        assert_eq!(res.status, StatusCode::OK, "{good}: {}", res.body);
    }
    // The same for the bounds of shifts and of the sightings list.
    let res = app.get("/api/v1/identifications?from=2026-03-01", Some(&field)).await;
    assert_eq!(
        (res.status, &res.body["errors"][0]["field"]),
        (StatusCode::BAD_REQUEST, &json!("from")),
        "{}",
        res.body
    );
    let res = app
        .get("/api/v1/schedules/019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b/shifts?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00%201:00", Some(&field))
        .await;
    assert_eq!((res.status, &res.body["errors"][0]["field"]), (StatusCode::BAD_REQUEST, &json!("to")), "{}", res.body);
}

#[actix_web::test]
async fn hotspot_outlines_run_counterclockwise_on_the_map() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    // Drawn clockwise (north-west, north-east, south-east, south-west).
    let clockwise = json!({ "type": "polygon", "coordinates": [[19.8180, 41.3280], [19.8190, 41.3280], [19.8190, 41.3270], [19.8180, 41.3270]] });
    let circle = json!({ "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 100.0 });
    for (name, shape) in [("Katrori", clockwise), ("Rrethi", circle)] {
        let res = app
            .post(
                "/api/v1/hotspots",
                Some(&coordinator),
                &json!({ "name": name, "kind": "traffic_light_junction", "shape": shape }),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    }
    let map = app.get("/api/v1/hotspots/geojson?area=AL224", Some(&coordinator)).await.body;
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 2, "{map}");
    for feature in features {
        let ring: Vec<(f64, f64)> = feature["geometry"]["coordinates"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p: &Value| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        let twice_area: f64 = ring.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum();
        assert!(twice_area > 0.0, "exterior ring counterclockwise (RFC 7946): {feature}");
    }
}
