//! Hotspots, teams and field rounds through the API and the job worker, with an injected clock;
//! coverage checked against hand-counted fixtures.

use actix_web::http::StatusCode;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use terren_api::worker;

use crate::harness::TestApp;
use crate::identifications::sighting;
use crate::rotas::{daily_layer, error_codes, user_id};

/// The traffic lights at Skanderbeg Square, 100 m around.
const LIGHTS: (f64, f64) = (41.3275, 19.8187);
/// A market about 700 m north-east of the square.
const MARKET: (f64, f64) = (41.3320, 19.8240);

async fn hotspot(app: &TestApp, token: &str, name: &str, shape: Value) -> String {
    let res = app
        .post(
            "/api/v1/hotspots",
            Some(token),
            &json!({ "name": name, "kind": "traffic_light_junction", "shape": shape }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

fn circle((lat, lon): (f64, f64), radius_m: f64) -> Value {
    json!({ "type": "circle", "lat": lat, "lon": lon, "radius_m": radius_m })
}

/// A sighting at a place and time (UTC), recorded by the token's owner; returns its body.
async fn seen(app: &TestApp, token: &str, n: u32, (lat, lon): (f64, f64), observed_at: &str) -> Value {
    let id = format!("019a2b3c-4d5e-7f00-8a1b-{n:012}");
    let mut body = sighting(&id);
    body["observed_at"] = json!(observed_at);
    body["location"]["lat"] = json!(lat);
    body["location"]["lon"] = json!(lon);
    body["location"]["fix_time"] = json!(observed_at);
    let res = app.post_idempotent("/api/v1/identifications", token, &format!("seen-{n}"), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

/// A few metres from `place`, by index.
fn near((lat, lon): (f64, f64), i: u32) -> (f64, f64) {
    (lat + f64::from(i % 3) * 0.0001, lon + f64::from(i / 3) * 0.0001)
}

async fn squad(app: &TestApp, coordinator: &str, members: &[&'static str]) -> String {
    let mut ids = Vec::new();
    for member in members {
        ids.push(user_id(app, member).await);
    }
    let res = app
        .post(
            "/api/v1/teams",
            Some(coordinator),
            &json!({ "name": "Skuadra 1", "kind": "squad", "members": ids, "phone": "+355690001111" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

fn round(id: u32, team: &str, starts: &str, ends: &str, stops: Value) -> Value {
    json!({
        "id": format!("019a2b3c-4d5e-7f00-8a1b-{:012}", 900_000 + id),
        "team_id": team,
        "starts_at": starts,
        "ends_at": ends,
        "purpose": "patrol",
        "stops": stops,
    })
}

async fn plan(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/rounds", Some(token), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

fn fix((lat, lon): (f64, f64)) -> Value {
    json!({ "lat": lat, "lon": lon, "accuracy_m": 10.0, "source": "gps" })
}

#[actix_web::test]
async fn hotspots_stay_in_the_agency_s_areas_and_clusters_of_sightings_are_suggested() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët e sheshit", circle(LIGHTS, 100.0)).await;
    let read = app.get(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator)).await;
    assert_eq!(read.body["municipality"]["code"], "AL224");
    assert_eq!(read.body["centroid"], json!({ "lat": LIGHTS.0, "lon": LIGHTS.1 }));
    let map = app.get("/api/v1/hotspots/geojson?area=AL224", Some(&coordinator)).await;
    assert_eq!(map.headers.get("content-type").unwrap(), "application/geo+json");
    assert_eq!(map.body["features"][0]["id"], lights.as_str());
    assert_eq!(map.body["features"][0]["geometry"]["type"], "Polygon");
    assert_eq!(map.body["features"][0]["geometry"]["coordinates"][0].as_array().unwrap().len(), 33);

    let elbasan = app
        .post(
            "/api/v1/hotspots",
            Some(&coordinator),
            &json!({ "name": "Tregu", "kind": "market", "shape": circle((41.1125, 20.0822), 100.0) }),
        )
        .await;
    assert_eq!(error_codes(&elbasan.body), ["outside_agency_area"]);
    // Its middle in Tiranë, its northern corner over the line in Kamëz.
    let corner = app.get("/api/v1/areas/locate?lat=41.371&lon=19.78", Some(&coordinator)).await;
    assert_eq!(corner.body["municipality"]["code"], "AL221");
    let reaching = json!({ "type": "polygon", "coordinates": [[19.775, 41.355], [19.785, 41.355], [19.78, 41.371]] });
    let straddling = app
        .post("/api/v1/hotspots", Some(&coordinator), &json!({ "name": "Kufiri", "kind": "market", "shape": reaching }))
        .await;
    assert_eq!(error_codes(&straddling.body), ["outside_agency_area"], "{}", straddling.body);
    let bad = app
        .post(
            "/api/v1/hotspots",
            Some(&coordinator),
            &json!({ "name": "X", "kind": "castle", "shape": circle(LIGHTS, 5.0) }),
        )
        .await;
    assert_eq!(error_codes(&bad.body), ["out_of_range"], "the shape is checked first");
    let field = app.login("tirana.field").await;
    let not_a_planner = app
        .post(
            "/api/v1/hotspots",
            Some(&field),
            &json!({ "name": "Y", "kind": "market", "shape": circle(MARKET, 50.0) }),
        )
        .await;
    assert_eq!(not_a_planner.status, StatusCode::FORBIDDEN);

    // Six sightings at the market, three at the lights (already a hotspot), two far apart.
    for i in 0..6 {
        seen(&app, &field, i, near(MARKET, i), "2026-03-02T08:55:00Z").await;
    }
    for i in 6..9 {
        seen(&app, &field, i, near(LIGHTS, i), "2026-03-01T16:30:00Z").await;
    }
    seen(&app, &field, 9, (41.3300, 19.8050), "2026-03-01T12:00:00Z").await;
    seen(&app, &field, 10, (41.3200, 19.8300), "2026-03-01T12:00:00Z").await;
    let suggested =
        app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=50&min_sightings=5", Some(&coordinator)).await;
    assert_eq!(suggested.status, StatusCode::OK, "{}", suggested.body);
    assert_eq!(suggested.body["sightings_considered"], 11);
    assert_eq!(suggested.body["sightings_in_hotspots"], 3);
    let clusters = suggested.body["suggestions"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{}", suggested.body);
    let market = &clusters[0];
    assert_eq!(market["sightings"], 6);
    assert_eq!(market["unlinked_sightings"], 6);
    assert_eq!(market["distinct_children"], 0);
    assert_eq!(market["by_hour"][9], 6, "08:55 UTC is 09:55 in Tirana");
    assert_eq!(market["by_weekday"][0], 6, "a Monday");
    let (lat, lon) = (market["centroid"]["lat"].as_f64().unwrap(), market["centroid"]["lon"].as_f64().unwrap());
    assert!((lat - 41.3321).abs() < 1e-6 && (lon - 19.82405).abs() < 1e-6, "{lat},{lon}");
    assert!(market["radius_m"].as_f64().unwrap() < 20.0);
    let strict =
        app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=50&min_sightings=7", Some(&coordinator)).await;
    assert_eq!(strict.body["suggestions"], json!([]));
    let wrong = app.get("/api/v1/hotspots/suggestions?area=AL224&distance_m=5", Some(&coordinator)).await;
    assert_eq!(error_codes(&wrong.body), ["out_of_range"]);

    // The lights hotspot grows; a second editor with the old version is refused.
    let wider = json!({ "name": "Semaforët e sheshit", "kind": "traffic_light_junction", "shape": circle(LIGHTS, 150.0), "version": read.body["version"] });
    let saved = app.put(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator), &wider).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["shape"]["radius_m"], 150.0);
    let stale = app.put(&format!("/api/v1/hotspots/{lights}"), Some(&coordinator), &wider).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
}

#[actix_web::test]
async fn a_round_is_planned_walked_and_reported_from_the_phone() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let team = squad(&app, &coordinator, &["tirana.field", "tirana.duty"]).await;
    let field = app.login("tirana.field").await;
    seen(&app, &field, 1, LIGHTS, "2026-02-20T10:00:00Z").await;

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

    let during = seen(&app, &field, 2, LIGHTS, "2026-03-02T10:05:00Z").await;
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
async fn people_on_duty_stay_off_rounds_when_the_agency_says_so() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let duty = user_id(&app, "tirana.duty").await;
    let rota = app
        .post(
            "/api/v1/schedules",
            Some(&coordinator),
            &json!({ "name": "Gadishmëria", "layers": [daily_layer(&[&duty], "08:00", "2026-03-02")] }),
        )
        .await;
    assert_eq!(rota.status, StatusCode::CREATED, "{}", rota.body);
    let team = squad(&app, &coordinator, &["tirana.duty"]).await;
    let me = app.get("/api/v1/me", Some(&coordinator)).await;
    let agency = me.body["agency"]["id"].as_str().unwrap().to_owned();
    let body = round(1, &team, "2026-03-02T12:00:00", "2026-03-02T14:00:00", json!([{ "area_code": "AL224" }]));
    let policy = json!({ "forbid_rounds_while_on_duty": true, "missed_after_minutes": 30, "far_check_in_km": 30.0 });
    let saved = app.put(&format!("/api/v1/agencies/{agency}/planning-policy"), Some(&coordinator), &policy).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let refused = app.post("/api/v1/rounds", Some(&coordinator), &body).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body["detail"].as_str().unwrap().contains("on duty in the rota"), "{}", refused.body);

    // In a joint team, each member's own agency's rota counts: the case manager of AL224-NJMF is
    // on duty there.
    let njmf_admin = app.login("tirana.admin").await;
    let pmf = user_id(&app, "tirana.pmf").await;
    let theirs = app
        .post(
            "/api/v1/schedules",
            Some(&njmf_admin),
            &json!({ "name": "Kujdestaria NJMF", "layers": [daily_layer(&[&pmf], "08:00", "2026-03-02")] }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    let members = json!([user_id(&app, "tirana.field").await, pmf]);
    let joint = app
        .post(
            "/api/v1/teams",
            Some(&coordinator),
            &json!({ "name": "Grupi i përbashkët", "kind": "joint", "members": members }),
        )
        .await;
    assert_eq!(joint.status, StatusCode::CREATED, "{}", joint.body);
    let joint_round = round(
        2,
        joint.body["id"].as_str().unwrap(),
        "2026-03-02T15:00:00",
        "2026-03-02T17:00:00",
        json!([{ "area_code": "AL224" }]),
    );
    let refused = app.post("/api/v1/rounds", Some(&coordinator), &joint_round).await;
    assert_eq!(refused.body["code"], "round_conflict", "{}", refused.body);
    assert!(refused.body["detail"].as_str().unwrap().contains("on duty in the rota"), "{}", refused.body);

    let relaxed = json!({ "forbid_rounds_while_on_duty": false, "missed_after_minutes": 30, "far_check_in_km": 30.0 });
    app.put(&format!("/api/v1/agencies/{agency}/planning-policy"), Some(&coordinator), &relaxed).await;
    plan(&app, &coordinator, &body).await;
    plan(&app, &coordinator, &joint_round).await;
}

/// The team's rounds from March to May, by start.
async fn listed(app: &TestApp, token: &str, team: &str) -> Value {
    let path = format!("/api/v1/rounds?team_id={team}&from=2026-03-01T00:00:00Z&to=2026-06-01T00:00:00Z");
    app.get(&path, Some(token)).await.body
}

#[actix_web::test]
async fn a_series_plans_eight_weeks_ahead_and_an_edited_round_keeps_its_edit() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let team = squad(&app, &coordinator, &["tirana.field"]).await;
    let series = |windows: Value| {
        json!({
            "team_id": team, "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat"], "windows": windows,
            "starts_on": "2026-03-02", "purpose": "patrol", "stops": [{ "hotspot_id": lights }],
        })
    };
    let bad_window = app
        .post("/api/v1/round-series", Some(&coordinator), &series(json!([{ "starts": "14:00", "ends": "10:00" }])))
        .await;
    assert_eq!(error_codes(&bad_window.body), ["ends_before_start"]);
    let overlapping = app
        .post(
            "/api/v1/round-series",
            Some(&coordinator),
            &series(json!([{ "starts": "10:00", "ends": "14:00" }, { "starts": "13:00", "ends": "15:00" }])),
        )
        .await;
    assert_eq!(error_codes(&overlapping.body), ["overlapping_windows"]);
    let mut nothing = series(json!([{ "starts": "10:00", "ends": "14:00" }]));
    nothing["weekdays"] = json!(["sun"]);
    nothing["starts_on"] = json!("2026-03-03");
    nothing["ends_on"] = json!("2026-03-07");
    let empty = app.post("/api/v1/round-series", Some(&coordinator), &nothing).await;
    assert_eq!(error_codes(&empty.body), ["generates_nothing"]);
    let too_many = app
        .post(
            "/api/v1/round-series",
            Some(&coordinator),
            &series(json!(vec![json!({ "starts": "08:00", "ends": "09:00" }); 5])),
        )
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY, "at most four windows a day");

    let created = app
        .post("/api/v1/round-series", Some(&coordinator), &series(json!([{ "starts": "10:00", "ends": "14:00" }])))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["planned_until"], "2026-04-27");
    let series_id = created.body["id"].as_str().unwrap().to_owned();
    let rounds = listed(&app, &coordinator, &team).await;
    let rounds = rounds.as_array().unwrap();
    // Monday 2 March to Monday 27 April, Mondays to Saturdays: 8 weeks of 6 days and one Monday.
    assert_eq!(rounds.len(), 49);
    assert_eq!(rounds[0]["starts_at"], "2026-03-02T09:00:00Z", "10:00 in Tirana, winter time");
    let after_change = rounds.iter().find(|r| r["local_date"] == "2026-03-30").unwrap();
    assert_eq!(after_change["starts_at"], "2026-03-30T08:00:00Z", "still 10:00 in Tirana, summer time");

    // A clash with another team's series is refused, naming the days.
    let other_team = squad(&app, &coordinator, &["tirana.field", "tirana.duty"]).await;
    let mut clash = series(json!([{ "starts": "13:00", "ends": "15:00" }]));
    clash["team_id"] = json!(other_team);
    let refused = app.post("/api/v1/round-series", Some(&coordinator), &clash).await;
    assert_eq!(refused.body["code"], "round_conflict");
    assert!(refused.body["detail"].as_str().unwrap().starts_with("2026-03-02"), "{}", refused.body);
    // The other team goes out on 4 May, before the series reaches that far.
    let may = round(7, &other_team, "2026-05-04T09:30:00", "2026-05-04T10:30:00", json!([{ "hotspot_id": lights }]));
    plan(&app, &coordinator, &may).await;
    // Someone joining the series' team must be free for its rounds ahead.
    let duty_team = squad(&app, &coordinator, &["tirana.duty"]).await;
    plan(
        &app,
        &coordinator,
        &round(8, &duty_team, "2026-03-03T11:00:00", "2026-03-03T12:00:00", json!([{ "hotspot_id": lights }])),
    )
    .await;
    let both = json!([user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await]);
    let joined = app
        .put(
            &format!("/api/v1/teams/{team}"),
            Some(&coordinator),
            &json!({ "name": "Skuadra 1", "kind": "squad", "members": both, "active": true, "version": 1 }),
        )
        .await;
    assert_eq!(joined.body["code"], "round_conflict", "{}", joined.body);
    assert!(joined.body["detail"].as_str().unwrap().starts_with("2026-03-03"), "{}", joined.body);
    // A team out of service gets no new rounds.
    let members = json!([user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await]);
    let retired = app
        .put(
            &format!("/api/v1/teams/{other_team}"),
            Some(&coordinator),
            &json!({ "name": "Skuadra 2", "kind": "squad", "members": members, "active": false, "version": 1 }),
        )
        .await;
    assert_eq!(retired.status, StatusCode::OK, "{}", retired.body);
    let mut evenings = series(json!([{ "starts": "17:00", "ends": "20:00" }]));
    evenings["team_id"] = json!(other_team);
    let inactive = app.post("/api/v1/round-series", Some(&coordinator), &evenings).await;
    assert_eq!(error_codes(&inactive.body), ["inactive_team"]);

    // One occurrence moved by hand, then the series moved an hour earlier.
    let tuesday = rounds.iter().find(|r| r["local_date"] == "2026-03-10").unwrap();
    let moved = app
        .patch(
            &format!("/api/v1/rounds/{}", tuesday["id"].as_str().unwrap()),
            Some(&coordinator),
            &json!({ "version": tuesday["version"], "starts_at": "2026-03-10T15:00:00", "ends_at": "2026-03-10T18:00:00" }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["detached"], true);
    let mut earlier = series(json!([{ "starts": "09:00", "ends": "13:00" }]));
    earlier["version"] = json!(1);
    let replaced = app.put(&format!("/api/v1/round-series/{series_id}"), Some(&coordinator), &earlier).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let rounds = listed(&app, &coordinator, &team).await;
    let rounds = rounds.as_array().unwrap();
    assert_eq!(rounds.len(), 49, "re-planned, not doubled");
    let by_date = |date: &str| rounds.iter().find(|r| r["local_date"] == date).unwrap().clone();
    assert_eq!(by_date("2026-03-10")["starts_at"], "2026-03-10T14:00:00Z", "the edited round stays as edited");
    assert_eq!(by_date("2026-03-11")["starts_at"], "2026-03-11T08:00:00Z", "09:00 in Tirana now");
    assert_eq!(by_date("2026-03-02")["starts_at"], "2026-03-02T09:00:00Z", "today's round had started: left alone");

    // A week later the daily job plans the next week.
    app.db({
        let state = app.state.clone();
        move |conn| worker::schedule_daily_jobs(conn, &state).unwrap()
    })
    .await;
    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 9, 3, 0, 0).unwrap());
    worker::run_until_idle(&app.state).await.unwrap();
    let coordinator = app.login("tirana.coord").await;
    let read = app.get(&format!("/api/v1/round-series/{series_id}"), Some(&coordinator)).await;
    assert_eq!(read.body["planned_until"], "2026-05-04", "{}", read.body);
    let rounds = listed(&app, &coordinator, &team).await;
    assert_eq!(rounds.as_array().unwrap().len(), 55);
    let conflicts = app.get("/api/v1/alerts?source=round_conflict", Some(&coordinator)).await;
    let conflicts = conflicts.body.as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "the 4 May round is planned, and its clash told: {conflicts:?}");
    assert!(conflicts[0]["title"].as_str().unwrap().ends_with("2026-05-04"), "{}", conflicts[0]);
    let may_id = may["id"].as_str().unwrap();
    let cancelled = app.post(&format!("/api/v1/rounds/{may_id}/cancel"), Some(&coordinator), &json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    // A sighting names the round about to start (09:00 Tirana); the series then moves back to
    // 10:00, and that round stays where the sighting put it.
    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 9, 7, 40, 0).unwrap());
    let coordinator = app.login("tirana.coord").await;
    let field = app.login("tirana.field").await;
    let monday = by_date_in(&listed(&app, &coordinator, &team).await, "2026-03-09");
    let mut early = sighting("019a2b3c-4d5e-7f00-8a1b-000000000031");
    early["observed_at"] = json!("2026-03-09T07:35:00Z");
    early["location"]["fix_time"] = json!("2026-03-09T07:35:00Z");
    early["round_id"] = monday["id"].clone();
    let named = app.post_idempotent("/api/v1/identifications", &field, "seen-early", &early).await;
    assert_eq!(named.body["round_id"], monday["id"], "{}", named.body);
    let mut back = series(json!([{ "starts": "10:00", "ends": "14:00" }]));
    back["version"] = json!(2);
    let moved_back = app.put(&format!("/api/v1/round-series/{series_id}"), Some(&coordinator), &back).await;
    assert_eq!(moved_back.status, StatusCode::OK, "{}", moved_back.body);
    let rounds = listed(&app, &coordinator, &team).await;
    assert_eq!(by_date_in(&rounds, "2026-03-09")["starts_at"], "2026-03-09T08:00:00Z", "kept for its sighting");
    assert_eq!(by_date_in(&rounds, "2026-03-11")["starts_at"], "2026-03-11T09:00:00Z", "10:00 in Tirana again");
    assert_eq!(rounds.as_array().unwrap().len(), 55);
}

fn by_date_in(rounds: &Value, date: &str) -> Value {
    rounds.as_array().unwrap().iter().find(|r| r["local_date"] == date).unwrap().clone()
}

#[actix_web::test]
async fn coverage_matches_a_hand_counted_week_and_missed_rounds_alert_the_coordinators() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let market_square = json!({ "type": "polygon", "coordinates": [
        [MARKET.1 - 0.0005, MARKET.0 - 0.0005], [MARKET.1 + 0.0005, MARKET.0 - 0.0005],
        [MARKET.1 + 0.0005, MARKET.0 + 0.0005], [MARKET.1 - 0.0005, MARKET.0 + 0.0005]] });
    let market = hotspot(&app, &coordinator, "Tregu", market_square).await;
    let team = squad(&app, &coordinator, &["tirana.field"]).await;
    // Round A, 11:00–13:00 Tirana (10:00–12:00 UTC), at the lights; round B, 14:00–15:00 at the market.
    let a = plan(
        &app,
        &coordinator,
        &round(1, &team, "2026-03-02T11:00:00", "2026-03-02T13:00:00", json!([{ "hotspot_id": lights }])),
    )
    .await;
    let b = plan(
        &app,
        &coordinator,
        &round(2, &team, "2026-03-02T14:00:00", "2026-03-02T15:00:00", json!([{ "hotspot_id": market }])),
    )
    .await;

    // Sightings this week: three at the lights (two of one child), one at the market, one elsewhere.
    let field = app.login("tirana.field").await;
    let first = seen(&app, &field, 1, near(LIGHTS, 1), "2026-03-02T08:30:00Z").await;
    let second = seen(&app, &field, 2, near(LIGHTS, 2), "2026-03-02T08:40:00Z").await;
    seen(&app, &field, 3, near(LIGHTS, 3), "2026-03-01T17:05:00Z").await;
    seen(&app, &field, 4, MARKET, "2026-03-01T17:20:00Z").await;
    seen(&app, &field, 5, (41.3300, 19.8050), "2026-03-02T07:00:00Z").await;
    let profile = "019a2b3d-4d5e-7f00-8a1b-000000000077";
    for (n, sighting) in [first, second].iter().enumerate() {
        let body = if n == 0 {
            json!({ "new_profile": { "id": profile, "given_name": "Ana", "aliases": [] } })
        } else {
            json!({ "profile_id": profile })
        };
        let id = sighting["id"].as_str().unwrap();
        let linked =
            app.post_idempotent(&format!("/api/v1/identifications/{id}/link"), &field, &format!("l-{n}"), &body).await;
        assert!(linked.status.is_success(), "{}", linked.body);
    }

    // Round A is walked 11:05–12:50 Tirana; nobody checks in to round B.
    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 10, 5, 0).unwrap());
    let field = app.login("tirana.field").await;
    let a_path = format!("/api/v1/rounds/{}", a["id"].as_str().unwrap());
    let checked = app
        .post_idempotent(&format!("{a_path}/check-in"), &field, "check-in-7", &json!({ "location": fix(LIGHTS) }))
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert!(checked.body.get("check_in_distance_m").is_none(), "at the stop");
    app.post_idempotent(&format!("{a_path}/stops/0/arrive"), &field, "arrive-8", &json!({})).await;
    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 11, 50, 0).unwrap());
    let field = app.login("tirana.field").await;
    let out = app
        .post_idempotent(
            &format!("{a_path}/check-out"),
            &field,
            "check-out-a",
            &json!({ "report": { "children_met": 2, "adults_met": 0 } }),
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 13, 31, 0).unwrap());
    worker::run_until_idle(&app.state).await.unwrap();
    let coordinator = app.login("tirana.coord").await;
    let b_now = app.get(&format!("/api/v1/rounds/{}", b["id"].as_str().unwrap()), Some(&coordinator)).await;
    assert_eq!(b_now.body["status"], "missed", "no check-in by 14:30 Tirana");
    let alerts = app.get("/api/v1/alerts?source=round_missed", Some(&coordinator)).await;
    assert_eq!(alerts.body.as_array().unwrap().len(), 1, "{}", alerts.body);

    let report = app
        .get(
            "/api/v1/coverage?area=AL224&from=2026-02-23T00:00:00Z&to=2026-03-09T00:00:00Z&stale_days=7",
            Some(&coordinator),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let of = |name: &str| {
        report.body["hotspots"].as_array().unwrap().iter().find(|h| h["hotspot"]["name"] == name).unwrap().clone()
    };
    let at_lights = of("Semaforët");
    assert_eq!(
        (
            &at_lights["planned_visits"],
            &at_lights["done_visits"],
            &at_lights["identifications"],
            &at_lights["distinct_children"]
        ),
        (&json!(1), &json!(1), &json!(3), &json!(2)),
        "three sightings, of Ana twice and of one unknown child: {at_lights}"
    );
    assert_eq!(at_lights["last_visit_at"], "2026-03-02T10:05:00Z");
    let at_market = of("Tregu");
    assert_eq!(
        (
            &at_market["planned_visits"],
            &at_market["done_visits"],
            &at_market["identifications"],
            &at_market["distinct_children"]
        ),
        (&json!(1), &json!(0), &json!(1), &json!(1))
    );
    let cell = |weekday: &str, hour: u32| {
        report.body["grid"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["weekday"] == weekday && c["hour"] == hour)
            .unwrap()
            .clone()
    };
    // Sightings: Monday 09:30 and 09:40, 08:00 Tirana; Sunday 18:05 and 18:20.
    assert_eq!(cell("mon", 9)["identifications"], 2);
    assert_eq!(cell("mon", 8)["identifications"], 1);
    assert_eq!(cell("sun", 18)["identifications"], 2);
    // Round A out 11:05–12:50 Tirana: 55 minutes in the 11 o'clock hour, 50 in the 12 o'clock one.
    assert_eq!(
        (cell("mon", 11)["team_minutes"].clone(), cell("mon", 12)["team_minutes"].clone()),
        (json!(55), json!(50))
    );
    let total: i64 = report.body["grid"].as_array().unwrap().iter().map(|c| c["team_minutes"].as_i64().unwrap()).sum();
    assert_eq!(total, 105);
    let identifications: i64 =
        report.body["grid"].as_array().unwrap().iter().map(|c| c["identifications"].as_i64().unwrap()).sum();
    assert_eq!(identifications, 5);
    let stale: Vec<&str> = report.body["stale_hotspots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hotspot"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(stale, ["Tregu"], "never visited");
    assert_eq!(report.body["missed_rounds"][0]["round_id"], b["id"]);

    // The team turns up at the market late, while round B is still on: it stays missed.
    let field = app.login("tirana.field").await;
    let b_path = format!("/api/v1/rounds/{}", b["id"].as_str().unwrap());
    let late = app
        .post_idempotent(&format!("{b_path}/check-in"), &field, "check-in-b", &json!({ "location": fix(MARKET) }))
        .await;
    assert_eq!(late.body["status"], "in_progress", "{}", late.body);
    assert_eq!(late.body["missed_at"], "2026-03-02T13:31:00Z", "when the check found it missed");
    let after = app
        .get("/api/v1/coverage?area=AL224&from=2026-02-23T00:00:00Z&to=2026-03-09T00:00:00Z", Some(&coordinator))
        .await;
    assert_eq!(after.body["missed_rounds"][0]["round_id"], b["id"], "{}", after.body);

    let police = app.login("police.tirana").await;
    let theirs =
        app.get("/api/v1/coverage?area=AL224&from=2026-02-23T00:00:00Z&to=2026-03-09T00:00:00Z", Some(&police)).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
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
    let report = crate::boundaries::import(&app, outline.to_string(), "tirana.geojson").await;
    assert_eq!(report.matched.len(), 1, "{:?}", report.unmatched);
    let inside = app.post_idempotent(&path, &field, "check-in-2", &json!({ "location": fix(LIGHTS) })).await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.body);
    assert!(inside.body.get("check_in_distance_m").is_none(), "inside the area: {}", inside.body);
}

#[actix_web::test]
async fn two_coordinators_planning_at_once_cannot_book_one_person_twice() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let lights = hotspot(&app, &coordinator, "Semaforët", circle(LIGHTS, 100.0)).await;
    let first = squad(&app, &coordinator, &["tirana.field"]).await;
    let second = squad(&app, &coordinator, &["tirana.field", "tirana.duty"]).await;
    let stops = json!([{ "hotspot_id": lights }]);
    let one = round(1, &first, "2026-03-03T10:00:00", "2026-03-03T12:00:00", stops.clone());
    let other = round(2, &second, "2026-03-03T11:00:00", "2026-03-03T13:00:00", stops);
    let (a, b) = futures_util::join!(
        app.post("/api/v1/rounds", Some(&coordinator), &one),
        app.post("/api/v1/rounds", Some(&coordinator), &other)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{} / {}", a.body, b.body);
}
