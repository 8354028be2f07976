//! Planning rounds: duty shifts and other rounds in the way, weekly series, two planners at once.

use super::*;

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
