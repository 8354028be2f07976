//! Duty rotas through the API: schedules, revisions, overrides, who is on duty, gaps.

use actix_web::http::StatusCode;
use chrono::{Duration, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use terren_api::ids::ScheduleId;
use terren_contract::schedules::{OnCall, OnDutyPerson, Schedule, ShiftSource};

use crate::fixtures::{daily_layer, error_codes, qkt_rota, user_id};
use crate::harness::TestApp;

fn at(instant: &str) -> chrono::DateTime<Utc> {
    instant.parse().unwrap()
}

fn on_duty(people: &[OnDutyPerson]) -> Vec<&str> {
    people.iter().map(|p| p.display_name.as_str()).collect()
}

fn names(people: &Value) -> Vec<String> {
    people.as_array().unwrap().iter().map(|p| p["display_name"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn who_is_on_duty_with_phone_and_next_handoff_across_the_spring_change() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap();
    assert_eq!(schedule["time_zone"], "Europe/Tirane", "the agency's zone by default");
    assert_eq!(schedule["version"], 1);
    assert_eq!(schedule["coverage_gaps"], json!([]), "a 24/7 agency's complete rota has no gaps");

    let field_worker = app.login("tirana.field").await;
    // 2026-03-02 09:00 UTC is 10:00 in Tirana: the first turn (field worker) runs until 08:00 on the 3rd.
    let now: OnCall =
        app.get(&format!("/api/v1/schedules/{id}/on-call"), Some(&field_worker)).await.read(StatusCode::OK);
    assert_eq!(on_duty(&now.on_duty), ["Punonjëse terreni QKT (demo)"]);
    assert_eq!(now.on_duty[0].phone.as_deref(), Some("+355690000001"));
    assert_eq!(now.since, Some(at("2026-03-02T09:00:00Z")), "the rota applies from when it was made");
    assert_eq!(now.next_handoff, Some(at("2026-03-03T07:00:00Z")));
    assert_eq!(on_duty(&now.next_on_duty), ["Punonjës në gadishmëri QKT (demo)"]);

    // Clocks go forward on 29 March 2026: handoffs stay at 08:00 local, 06:00 UTC from then on.
    let shifts = app
        .get(
            &format!("/api/v1/schedules/{id}/shifts?from=2026-03-28T00:00:00Z&to=2026-03-31T00:00:00Z"),
            Some(&field_worker),
        )
        .await;
    assert_eq!(shifts.status, StatusCode::OK, "{}", shifts.body);
    let bounds: Vec<(&str, &str)> = shifts
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].as_str().unwrap(), s["end"].as_str().unwrap()))
        .collect();
    assert_eq!(
        bounds,
        [
            ("2026-03-28T00:00:00Z", "2026-03-28T07:00:00Z"),
            ("2026-03-28T07:00:00Z", "2026-03-29T06:00:00Z"),
            ("2026-03-29T06:00:00Z", "2026-03-30T06:00:00Z"),
            ("2026-03-30T06:00:00Z", "2026-03-31T00:00:00Z"),
        ]
    );
    assert_eq!(shifts.body[1]["sources"], json!([{ "kind": "layer", "name": "main" }]));

    let at_area = app.get("/api/v1/on-call?area=AL224-U05&at=2026-03-03T12:00:00Z", Some(&field_worker)).await;
    assert_eq!(at_area.status, StatusCode::OK, "{}", at_area.body);
    let first = &at_area.body[0];
    assert_eq!(first["schedule_id"], id, "the 24/7 unit's rota first: {}", at_area.body);
    assert_eq!(names(&first["on_duty"]), ["Punonjës në gadishmëri QKT (demo)"]);
    let by_code = app.get("/api/v1/on-call?agency=AL224-QKT", Some(&field_worker)).await;
    assert_eq!(by_code.body.as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/on-call?agency=NOPE", Some(&field_worker)).await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_24_7_rota_with_a_hole_is_saved_and_its_gaps_reported() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let duty = user_id(&app, "tirana.duty").await;
    let mut days_only = daily_layer(&[&duty], "08:00", "2026-03-02");
    days_only["restrictions"] =
        json!([{ "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "08:00", "to": "20:00" }]);
    let res =
        app.post("/api/v1/schedules", Some(&coordinator), &json!({ "name": "Ditët", "layers": [days_only] })).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let gaps = res.body["coverage_gaps"].as_array().unwrap();
    // Now (Monday 10:00) until 20:00 is covered; the first hole is Monday night.
    assert_eq!(gaps[0], json!({ "start": "2026-03-02T19:00:00Z", "end": "2026-03-03T07:00:00Z" }));
    // Saturday 20:00 to Monday 08:00 is one hole.
    assert_eq!(gaps[5], json!({ "start": "2026-03-07T19:00:00Z", "end": "2026-03-09T07:00:00Z" }));

    let id = res.body["id"].as_str().unwrap();
    let week = app.get(&format!("/api/v1/schedules/{id}/gaps?days=7"), Some(&coordinator)).await;
    assert_eq!(week.status, StatusCode::OK);
    assert_eq!(week.body.as_array().unwrap().len(), 6, "{}", week.body);
    assert_eq!(week.body[5], json!({ "start": "2026-03-07T19:00:00Z", "end": "2026-03-09T07:00:00Z" }));
    let night = app.get(&format!("/api/v1/schedules/{id}/on-call?at=2026-03-02T22:00:00Z"), Some(&coordinator)).await;
    assert_eq!(night.body["on_duty"], json!([]), "nobody on duty in a gap");
    assert_eq!(night.body["next_handoff"], "2026-03-03T07:00:00Z");
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{id}/gaps?days=101"), Some(&coordinator)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[actix_web::test]
async fn bad_rotas_are_refused_with_a_named_reason() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let (field, duty) = (user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await);
    let stranger = user_id(&app, "kamez.field").await;
    let post = |body: Value| {
        let (app, coordinator) = (&app, coordinator.clone());
        async move { app.post("/api/v1/schedules", Some(&coordinator), &body).await }
    };

    let res = post(
        json!({ "name": "x", "time_zone": "Europe/Tirana", "layers": [daily_layer(&[&field], "08:00", "2026-03-02")] }),
    )
    .await;
    assert_eq!(error_codes(&res.body), ["unknown_time_zone"]);

    let res = post(json!({ "name": "x", "layers": [daily_layer(&[&field], "8:00", "2026-03-02")] })).await;
    assert_eq!(error_codes(&res.body), ["invalid_time"]);

    let res = post(json!({ "name": "x", "layers": [daily_layer(&[&field], "02:30", "2026-03-29")] })).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_codes(&res.body), ["nonexistent_local_time"], "02:30 on 29 March does not exist in Tirana");

    let res = post(json!({ "name": "x", "layers": [daily_layer(&[&field, &stranger], "08:00", "2026-03-02")] })).await;
    assert_eq!(error_codes(&res.body), ["unknown_participant"]);

    let mut zero = daily_layer(&[&field], "08:00", "2026-03-02");
    zero["turn_every"] = json!(0);
    assert_eq!(post(json!({ "name": "x", "layers": [zero] })).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut no_one = daily_layer(&[], "08:00", "2026-03-02");
    no_one["name"] = json!("empty");
    assert_eq!(post(json!({ "name": "x", "layers": [no_one] })).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut second = daily_layer(&[&duty], "20:00", "2026-03-02");
    second["name"] = json!("second");
    let res = post(json!({ "name": "x", "layers": [daily_layer(&[&field], "08:00", "2026-03-02"), second] })).await;
    assert_eq!(error_codes(&res.body), ["overlapping_layers"]);

    let res = post(json!({ "name": "x", "effective_from": "2026-03-01T00:00:00Z", "layers": [daily_layer(&[&field], "08:00", "2026-03-02")] })).await;
    assert_eq!(error_codes(&res.body), ["in_past"]);

    let field_worker = app.login("tirana.field").await;
    let res = app
        .post(
            "/api/v1/schedules",
            Some(&field_worker),
            &json!({ "name": "x", "layers": [daily_layer(&[&field], "08:00", "2026-03-02")] }),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "field workers do not plan rotas");

    let kamez_agency: String = app
        .db(|conn| {
            terren_api::db::schema::agencies::table
                .filter(terren_api::db::schema::agencies::code.eq("AL221-SHL"))
                .select(terren_api::db::schema::agencies::id)
                .get_result(conn)
                .unwrap()
        })
        .await;
    let res = post(
        json!({ "agency_id": kamez_agency, "name": "x", "layers": [daily_layer(&[&stranger], "08:00", "2026-03-02")] }),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "rotas are planned by their own agency");

    let count: i64 = app.db(|conn| terren_api::db::schema::schedules::table.count().get_result(conn).unwrap()).await;
    assert_eq!(count, 0, "nothing half-written");
}

#[actix_web::test]
async fn edits_are_revisions_that_never_change_past_shifts() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    let coord_id = user_id(&app, "tirana.coord").await;
    let shifts_path = format!("/api/v1/schedules/{id}/shifts?from=2026-03-02T07:00:00Z&to=2026-03-12T07:00:00Z");
    let before = app.get(&shifts_path, Some(&coordinator)).await.body;

    app.clock.advance(Duration::days(3));
    let coordinator = app.login("tirana.coord").await;
    let stale =
        app.put(&format!("/api/v1/schedules/{id}"), Some(&coordinator), &json!({ "version": 0, "name": "y" })).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["version"], 1, "the current schedule comes back");

    let put = |body: Value| {
        let (app, coordinator, id) = (&app, coordinator.clone(), id.clone());
        async move { app.put(&format!("/api/v1/schedules/{id}"), Some(&coordinator), &body).await }
    };
    let res = put(json!({ "version": 1, "layers": [daily_layer(&[&coord_id], "08:00", "2026-03-02")], "effective_from": "2026-03-04T00:00:00Z" })).await;
    assert_eq!(error_codes(&res.body), ["in_past"]);

    // From 7 March the coordinator alone is on duty.
    let res = put(json!({ "version": 1, "name": "Gadishmëria e re", "layers": [daily_layer(&[&coord_id], "08:00", "2026-03-02")], "effective_from": "2026-03-07T07:00:00Z" })).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.body["current"]["revision"], 1);
    assert_eq!(res.body["upcoming"][0]["revision"], 2);

    let after = app.get(&shifts_path, Some(&coordinator)).await.body;
    let before_7th: Vec<&Value> =
        before.as_array().unwrap().iter().filter(|s| s["start"].as_str().unwrap() < "2026-03-07T07:00:00Z").collect();
    let after_7th: Vec<&Value> =
        after.as_array().unwrap().iter().filter(|s| s["start"].as_str().unwrap() < "2026-03-07T07:00:00Z").collect();
    assert_eq!(before_7th, after_7th, "shifts before the revision are unchanged");
    let last = after.as_array().unwrap().last().unwrap();
    assert_eq!(last["start"], "2026-03-07T07:00:00Z", "one stretch with the coordinator from the 7th: {after}");
    assert_eq!(names(&last["people"]), ["Koordinatore QKT (demo)"]);

    let history: i64 = app
        .db(|conn| {
            use terren_api::db::schema::audit_log;
            audit_log::table.filter(audit_log::entity_type.eq("schedule")).count().get_result(conn).unwrap()
        })
        .await;
    assert_eq!(history, 2, "creation and change are audited");
}

#[actix_web::test]
async fn an_override_wins_and_cancelling_it_keeps_the_part_served() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap();
    let coord_id = user_id(&app, "tirana.coord").await;
    let cover = json!({ "user_id": coord_id, "starts_at": "2026-03-02T12:00:00Z", "ends_at": "2026-03-02T18:00:00Z", "reason": "mjek" });
    let res = app.post(&format!("/api/v1/schedules/{id}/overrides"), Some(&coordinator), &cover).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let override_id = res.body["id"].as_str().unwrap().to_owned();

    let during: OnCall = app
        .get(&format!("/api/v1/schedules/{id}/on-call?at=2026-03-02T13:00:00Z"), Some(&coordinator))
        .await
        .read(StatusCode::OK);
    assert_eq!(on_duty(&during.on_duty), ["Koordinatore QKT (demo)"]);
    assert!(matches!(during.sources[..], [ShiftSource::Override { .. }]), "{:?}", during.sources);
    assert_eq!(during.next_handoff, Some(at("2026-03-02T18:00:00Z")));
    assert_eq!(on_duty(&during.next_on_duty), ["Punonjëse terreni QKT (demo)"]);

    app.clock.set(Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap());
    let coordinator = app.login("tirana.coord").await;
    let cancel = app
        .post(&format!("/api/v1/schedules/{id}/overrides/{override_id}/cancel"), Some(&coordinator), &json!({}))
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let shifts = app
        .get(
            &format!("/api/v1/schedules/{id}/shifts?from=2026-03-02T10:00:00Z&to=2026-03-02T20:00:00Z"),
            Some(&coordinator),
        )
        .await;
    let stretches: Vec<(String, Vec<String>)> = shifts
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].as_str().unwrap().to_owned(), names(&s["people"])))
        .collect();
    assert_eq!(
        stretches,
        [
            ("2026-03-02T10:00:00Z".to_owned(), vec!["Punonjëse terreni QKT (demo)".to_owned()]),
            ("2026-03-02T12:00:00Z".to_owned(), vec!["Koordinatore QKT (demo)".to_owned()]),
            ("2026-03-02T14:00:00Z".to_owned(), vec!["Punonjëse terreni QKT (demo)".to_owned()]),
        ]
    );
    let again = app
        .post(&format!("/api/v1/schedules/{id}/overrides/{override_id}/cancel"), Some(&coordinator), &json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let past = json!({ "user_id": coord_id, "starts_at": "2026-03-01T12:00:00Z", "ends_at": "2026-03-01T10:00:00Z" });
    let res = app.post(&format!("/api/v1/schedules/{id}/overrides"), Some(&coordinator), &past).await;
    assert_eq!(error_codes(&res.body), ["ends_before_start", "in_past"]);
}

#[actix_web::test]
async fn on_call_from_memory_is_the_resolved_answer_and_sees_an_override_at_once() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let (field, duty, coord) =
        (user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await, user_id(&app, "tirana.coord").await);
    let mut days = daily_layer(&[&field, &duty], "08:00", "2026-03-02");
    days["restrictions"] = json!([{ "weekdays": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00" }]);
    let mut nights = daily_layer(&[&coord], "20:00", "2026-03-02");
    nights["name"] = json!("nights");
    nights["turn_unit"] = json!("hours");
    nights["turn_every"] = json!(7);
    nights["priority"] = json!(-1);
    let res = app
        .post("/api/v1/schedules", Some(&coordinator), &json!({ "name": "Dy shtresa", "layers": [days, nights] }))
        .await;
    let id = ScheduleId::from(res.read::<Schedule>(StatusCode::CREATED).id);
    for step in 0..240 {
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(53 * step);
        let answer = app
            .get(&format!("/api/v1/schedules/{id}/on-call?at={}", at.format("%Y-%m-%dT%H:%M:%SZ")), Some(&coordinator))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let schedule = id.clone();
        let resolved = app
            .db(move |conn| {
                let loaded = terren_api::rota::service::load(conn, &schedule).unwrap();
                serde_json::to_value(terren_api::rota::shifts::on_call_of(conn, &loaded, at).unwrap()).unwrap()
            })
            .await;
        assert_eq!(answer.body, resolved, "at {at}");
    }
    let before: OnCall =
        app.get(&format!("/api/v1/schedules/{id}/on-call"), Some(&coordinator)).await.read(StatusCode::OK);
    assert_eq!(on_duty(&before.on_duty), ["Punonjëse terreni QKT (demo)"]);
    let cover = json!({ "user_id": coord, "starts_at": "2026-03-02T09:00:00Z", "ends_at": "2026-03-02T12:00:00Z" });
    assert_eq!(
        app.post(&format!("/api/v1/schedules/{id}/overrides"), Some(&coordinator), &cover).await.status,
        StatusCode::CREATED
    );
    let after: OnCall =
        app.get(&format!("/api/v1/schedules/{id}/on-call"), Some(&coordinator)).await.read(StatusCode::OK);
    assert_eq!(on_duty(&after.on_duty), ["Koordinatore QKT (demo)"], "no stale answer after a change");
    let by_agency: Vec<OnCall> =
        app.get("/api/v1/on-call?agency=AL224-QKT", Some(&coordinator)).await.read(StatusCode::OK);
    assert_eq!(on_duty(&by_agency[0].on_duty), ["Koordinatore QKT (demo)"]);
}

#[actix_web::test]
async fn weekly_four_weekly_and_single_person_rotas_are_answered_from_memory_as_resolved() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let (field, duty) = (user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await);
    let (pair, alone) = (vec![field.as_str(), duty.as_str()], vec![duty.as_str()]);
    for (name, people, unit, every) in
        [("Javore", &pair, "weeks", 1), ("Katër javë", &pair, "weeks", 4), ("Një roje", &alone, "weeks", 1)]
    {
        let mut layer = daily_layer(people, "08:00", "2026-02-02");
        layer["turn_unit"] = json!(unit);
        layer["turn_every"] = json!(every);
        let res = app.post("/api/v1/schedules", Some(&coordinator), &json!({ "name": name, "layers": [layer] })).await;
        let id = ScheduleId::from(res.read::<Schedule>(StatusCode::CREATED).id);
        for step in 0..80 {
            let at = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::hours(23 * step);
            let answer = app
                .get(
                    &format!("/api/v1/schedules/{id}/on-call?at={}", at.format("%Y-%m-%dT%H:%M:%SZ")),
                    Some(&coordinator),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert!(app.state.on_call_cache.answers_from_memory(&id, at), "{name}: the answer at {at} is kept");
            let schedule = id.clone();
            let resolved = app
                .db(move |conn| {
                    let loaded = terren_api::rota::service::load(conn, &schedule).unwrap();
                    serde_json::to_value(terren_api::rota::shifts::on_call_of(conn, &loaded, at).unwrap()).unwrap()
                })
                .await;
            assert_eq!(answer.body, resolved, "{name} at {at}");
        }
    }
}
