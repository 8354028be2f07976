//! Coverage against a hand-counted week, and missed rounds.

use super::*;

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
    let first = seen(&app, 1, near(LIGHTS, 1), "2026-03-02T08:30:00Z").await;
    let second = seen(&app, 2, near(LIGHTS, 2), "2026-03-02T08:40:00Z").await;
    seen(&app, 3, near(LIGHTS, 3), "2026-03-01T17:05:00Z").await;
    seen(&app, 4, MARKET, "2026-03-01T17:20:00Z").await;
    seen(&app, 5, (41.3300, 19.8050), "2026-03-02T07:00:00Z").await;
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
