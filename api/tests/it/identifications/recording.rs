//! Recording sightings: located and audited, retries and races written once, bad input refused,
//! what each reader sees of one, emergencies and the outbox.

use super::*;

#[actix_web::test]
async fn a_sighting_is_recorded_located_and_audited() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &sighting(ID)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let body = &res.body;
    assert_eq!(body["id"], ID);
    assert_eq!(body["age_band"], "7-9");
    assert_eq!(body["areas"]["municipality"]["code"], "AL224");
    assert_eq!(body["areas"]["county"]["code"], "AL-11");
    assert_eq!(body["areas"]["method"], "nearest_centroid", "no boundaries imported in this test");
    assert_eq!(body["location"]["precision"], "exact");
    assert_eq!(body["location"]["lat"], 41.3275);
    assert_eq!(body["received_at"], "2026-03-02T09:00:00Z");
    assert_eq!(body["recorded_by"]["display_name"], "Punonjëse terreni QKT (demo)");
    assert_eq!(body["agency"]["code"], "AL224-QKT");
    assert_eq!(body["notes"], "says her name is Ana", "field workers see names");
    // Field workers record sensitive codes but do not read them back.
    assert_eq!(body["risk_factors"], Value::Null);
    // Listed because the permission is missing, not because they hold anything.
    assert_eq!(body["withheld"], json!(["ethnicity", "risk_factors", "exploitation_indicators", "visible_conditions"]));
    let actions: Vec<String> = app
        .db(|conn| audit_log::table.filter(audit_log::entity_id.eq(ID)).select(audit_log::action).load(conn).unwrap())
        .await;
    assert_eq!(actions, vec!["identification.create"]);
}

#[actix_web::test]
async fn a_retry_replays_the_first_answer_and_never_creates_a_second_record() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let first = app.post_idempotent("/api/v1/identifications", &token, "k-1", &sighting(ID)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    app.clock.advance(chrono::Duration::seconds(30));
    let again = app.post_idempotent("/api/v1/identifications", &token, "k-1", &sighting(ID)).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body, first.body);
    assert_eq!(count(&app).await, 1);
    // The replay is a read of the record, audited as one.
    let actions: Vec<String> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::entity_id.eq(ID))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(actions, vec!["identification.create", "identification.replay"]);

    // The same key for a different body is refused.
    let mut other = sighting(ID);
    other["estimated_age"] = json!(10);
    let reused = app.post_idempotent("/api/v1/identifications", &token, "k-1", &other).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["code"], "idempotency_key_reused");

    // Without a key there is no safe retry, so there is no write.
    let res =
        app.post("/api/v1/identifications", Some(&token), &sighting("019a2b3c-4d5e-7f00-8a1b-000000000002")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.body["code"], "idempotency_key_required");

    // The phone lost the key but sends the same record: the record as it is, not a copy.
    let same_id = app.post_idempotent("/api/v1/identifications", &token, "k-2", &sighting(ID)).await;
    assert_eq!(same_id.status, StatusCode::OK);
    assert_eq!(count(&app).await, 1);
    // Other content under the same id is refused, not applied.
    let mut changed = sighting(ID);
    changed["risk_level"] = json!("low");
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-4", &changed).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(res.body["code"], "already_exists");
    // Another person cannot take an existing id.
    let coordinator = app.login("tirana.coord").await;
    let taken = app.post_idempotent("/api/v1/identifications", &coordinator, "k-3", &sighting(ID)).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.body["code"], "already_exists");
}

#[actix_web::test]
async fn a_retry_while_the_first_request_runs_is_409_and_nothing_is_kept_of_it() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    let user_id = me.body["id"].as_str().unwrap().to_owned();
    let body = sighting(ID);
    // The first request with this key is running (as if it were still in the handler).
    let running = app.state.in_flight.enter(&user_id, "k-1").expect("free");
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &body).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(res.body["code"], "idempotency_request_in_flight");
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(count(&app).await, 0);
    assert_eq!(app.db(|conn| idempotency_keys::table.count().get_result::<i64>(conn).unwrap()).await, 0);
    // Once it has ended (here without an answer, as after a crash), the retry goes through.
    drop(running);
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}

/// A racing repeat either succeeded (first or replayed) or was asked to retry; nothing else.
fn assert_created_or_asked_to_retry(res: &crate::harness::Response) {
    assert!(
        res.status == StatusCode::CREATED
            || (res.status == StatusCode::CONFLICT && res.body["code"] == "idempotency_request_in_flight"),
        "{} {}",
        res.status,
        res.body
    );
}

/// The same retry reaching two instances of the service at once: one writes, the other waits for
/// the key and answers as the first did; one record.
#[actix_web::test]
async fn twins_at_two_instances_write_one_record() {
    let app = TestApp::spawn().await;
    let other = app.state.sibling();
    let token = app.login("tirana.field").await;
    for round in 0..4 {
        let key = format!("twin-{round}");
        let body = sighting(&id(200 + round));
        let (a, b) = futures_util::future::join(
            app.post_idempotent("/api/v1/identifications", &token, &key, &body),
            post_idempotent_on(&other, "/api/v1/identifications", &token, &key, &body),
        )
        .await;
        assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED), "{} {}", a.body, b.body);
        assert_eq!(a.body, b.body, "the second answer is the first one again");
    }
    assert_eq!(count(&app).await, 4);
}

#[actix_web::test]
async fn bad_input_gets_field_codes_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let cases: Vec<(&str, Change, &str, &str)> = vec![
        (
            "unknown code",
            Box::new(|b| b["street_situations"] = json!(["selling_items", "juggling"])),
            "street_situations[1]",
            "unknown_code",
        ),
        ("unknown sex", Box::new(|b| b["sex"] = json!("x")), "sex", "unknown_code"),
        ("accuracy 0", Box::new(|b| b["location"]["accuracy_m"] = json!(0.0)), "location.accuracy_m", "out_of_range"),
        ("latitude 95", Box::new(|b| b["location"]["lat"] = json!(95.0)), "location.lat", "out_of_range"),
        ("future", Box::new(|b| b["observed_at"] = json!("2026-03-03T09:00:00Z")), "observed_at", "in_future"),
        (
            "no location",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("location");
            }),
            "location",
            "required",
        ),
        ("adult age for a child", Box::new(|b| b["estimated_age"] = json!(25)), "estimated_age", "inconsistent"),
        ("notes too long", Box::new(|b| b["notes"] = json!("x".repeat(4001))), "notes", "invalid_length"),
        ("bad nationality", Box::new(|b| b["nationality"] = json!("al")), "nationality", "invalid_format"),
        ("age and birth year disagree", Box::new(|b| b["birth_year"] = json!(1980)), "birth_year", "inconsistent"),
        ("a year old", Box::new(|b| b["observed_at"] = json!("2025-02-01T09:00:00Z")), "observed_at", "too_old"),
        ("unknown field", Box::new(|b| b["photo"] = json!("data:")), "photo", "unknown_field"),
    ];
    for (i, (name, change, field, code)) in cases.iter().enumerate() {
        let mut body = sighting(&format!("019a2b3c-4d5e-7f00-8a1b-0000000001{i:02}"));
        change(&mut body);
        let res = app.post_idempotent("/api/v1/identifications", &token, &format!("bad-{i}"), &body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {}", res.body);
        let errors = res.body["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == *field && e["code"] == *code), "{name}: {}", res.body);
    }
    assert_eq!(count(&app).await, 0);
    // A refusal is remembered: the same request gets the same answer.
    let mut body = sighting("019a2b3c-4d5e-7f00-8a1b-000000000100");
    body["street_situations"] = json!(["selling_items", "juggling"]);
    let again = app.post_idempotent("/api/v1/identifications", &token, "bad-0", &body).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body["errors"][0]["field"], "street_situations[1]", "{}", again.body);
    // A location that was not collected is fine with a reason.
    let mut body = sighting("019a2b3c-4d5e-7f00-8a1b-000000000200");
    body.as_object_mut().unwrap().remove("location");
    body["location_not_collected_reason"] = json!("no_fix");
    let res = app.post_idempotent("/api/v1/identifications", &token, "ok", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["areas"]["method"], "outside");
    assert_eq!(res.body["location"], Value::Null);
}

#[actix_web::test]
async fn readers_see_what_their_permissions_and_scope_allow() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let res = app.post_idempotent("/api/v1/identifications", &field, "k-1", &sighting(ID)).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let path = format!("/api/v1/identifications/{ID}");

    // The case manager of Tirana's NJMF sees everything.
    let pmf = app.login("tirana.pmf").await;
    let full = app.get(&path, Some(&pmf)).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.body);
    assert_eq!(full.body["location"]["precision"], "exact");
    assert_eq!(full.body["risk_factors"], json!(["school_dropout"]));
    assert_eq!(full.body["exploitation_indicators"], json!(["forced_begging"]));
    assert_eq!(full.body["notes"], "says her name is Ana");
    assert_eq!(full.body.get("withheld"), None);

    // County police: coarse location, no names, no sensitive codes, and it says what it withheld.
    let police = app.login("police.tirana").await;
    let coarse = app.get(&path, Some(&police)).await;
    assert_eq!(coarse.status, StatusCode::OK, "{}", coarse.body);
    assert_eq!(coarse.body["location"]["precision"], "coarse");
    // The centre of the ~500 m cell, not the point.
    assert_eq!(
        (coarse.body["location"]["lat"].as_f64(), coarse.body["location"]["lon"].as_f64()),
        (Some(41.32575), Some(19.821))
    );
    assert!(coarse.body["location"]["accuracy_m"].as_f64().unwrap() >= 400.0);
    assert_eq!(coarse.body["location"].get("fix_time"), None);
    assert_eq!(coarse.body.get("notes"), None);
    assert_eq!(coarse.body.get("place_description"), None);
    assert_eq!(coarse.body.get("risk_factors"), None);
    assert_eq!(
        coarse.body["withheld"],
        json!([
            "location",
            "notes",
            "name_as_told",
            "place_description",
            "ethnicity",
            "risk_factors",
            "exploitation_indicators",
            "visible_conditions"
        ])
    );

    // Elbasan's duty officer: outside their scope, as if it did not exist.
    let elbasan = app.login("elbasan.duty").await;
    assert_eq!(app.get(&path, Some(&elbasan)).await.status, StatusCode::NOT_FOUND);
    // National viewers never see individual records.
    let national = app.login("ashdmf.analyst").await;
    assert_eq!(app.get(&path, Some(&national)).await.status, StatusCode::FORBIDDEN);
    // Nor may they record one.
    let res = app
        .post_idempotent("/api/v1/identifications", &national, "k-9", &sighting("019a2b3c-4d5e-7f00-8a1b-000000000009"))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Every read is audited, with what the reader saw.
    let reads: Vec<(Option<String>, String)> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::entity_id.eq(ID))
                .filter(audit_log::action.eq("identification.read"))
                .order(audit_log::seq.asc())
                .select((audit_log::actor_device_id, audit_log::details))
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(reads.len(), 2, "two successful reads");
    assert!(reads[1].1.contains("\"coarse\""), "{}", reads[1].1);
    assert_eq!(reads[0].0.as_deref(), Some("tirana.pmf-phone"));
}

#[actix_web::test]
async fn an_emergency_queues_one_alert_job_however_often_it_is_sent() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let mut body = sighting(ID);
    body["emergency"] = json!(true);
    body["risk_level"] = json!("emergency");
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["emergency"], true);
    app.post_idempotent("/api/v1/identifications", &token, "k-1", &body).await;
    app.post_idempotent("/api/v1/identifications", &token, "k-2", &body).await;
    let jobs: Vec<(String, String, chrono::NaiveDateTime)> = app
        .db(|conn| {
            outbox_jobs::table
                .select((outbox_jobs::kind, outbox_jobs::payload, outbox_jobs::due_at))
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0, "identification.emergency");
    let payload: Value = serde_json::from_str(&jobs[0].1).unwrap();
    assert_eq!(payload["identification_id"], ID);
    assert_eq!(payload["municipality_code"], "AL224");
    assert_eq!(jobs[0].2, app.clock_naive(), "due at once");
    // A sighting that is not an emergency queues nothing.
    let res = app
        .post_idempotent("/api/v1/identifications", &token, "k-3", &sighting("019a2b3c-4d5e-7f00-8a1b-000000000003"))
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(app.db(|conn| outbox_jobs::table.count().get_result::<i64>(conn).unwrap()).await, 1);
}

#[actix_web::test]
async fn idempotency_keys_expire_after_the_configured_time() {
    let app = TestApp::spawn_with(|c| c.http.idempotency_ttl_hours = 1).await;
    let token = app.login("tirana.field").await;
    assert_eq!(
        app.post_idempotent("/api/v1/identifications", &token, "k-1", &sighting(ID)).await.status,
        StatusCode::CREATED
    );
    let other = sighting("019a2b3c-4d5e-7f00-8a1b-000000000077");
    app.clock.advance(chrono::Duration::minutes(59));
    let token = app.login("tirana.field").await;
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &other).await;
    assert_eq!(res.body["code"], "idempotency_key_reused", "still remembered");
    app.clock.advance(chrono::Duration::minutes(2));
    let token = app.login("tirana.field").await;
    let res = app.post_idempotent("/api/v1/identifications", &token, "k-1", &other).await;
    assert_eq!(res.status, StatusCode::CREATED, "expired keys are forgotten: {}", res.body);
    // The retention job removes keys once they expire, and only those.
    app.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(app.run_retention().await.expired_keys, 0, "the new key has half an hour left");
    app.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(app.run_retention().await.expired_keys, 1);
    assert_eq!(app.db(|conn| idempotency_keys::table.count().get_result::<i64>(conn).unwrap()).await, 0);
    assert_eq!(count(&app).await, 2);
}

/// A phone that retries before the first answer arrives: both requests race. Exactly one record
/// is written; the other request is told to wait or gets the first answer.
#[actix_web::test]
async fn racing_retries_write_one_record() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let body = sighting(ID);
    for round in 0..4 {
        let key = format!("race-{round}");
        let mut body = body.clone();
        body["id"] = json!(id(100 + round));
        let (a, b, c) = futures_util::future::join3(
            app.post_idempotent("/api/v1/identifications", &token, &key, &body),
            app.post_idempotent("/api/v1/identifications", &token, &key, &body),
            app.post_idempotent("/api/v1/identifications", &token, &key, &body),
        )
        .await;
        let statuses = [a.status, b.status, c.status];
        assert!(statuses.contains(&StatusCode::CREATED), "{statuses:?}");
        let created: Vec<&Value> =
            [&a, &b, &c].into_iter().filter(|r| r.status == StatusCode::CREATED).map(|r| &r.body).collect();
        assert!(created.windows(2).all(|w| w[0] == w[1]), "every success is the same answer");
        for res in [&a, &b, &c] {
            assert_created_or_asked_to_retry(res);
        }
    }
    assert_eq!(count(&app).await, 4);
    // Every key ends with one stored answer, and it holds only the id.
    let stored: Vec<(Option<i32>, Option<String>)> = app
        .db(|conn| {
            idempotency_keys::table
                .select((idempotency_keys::response_status, idempotency_keys::response_body))
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(stored.len(), 4);
    for (status, body) in stored {
        assert_eq!(status, Some(201));
        let body: Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["identification_id"]);
    }
}

#[actix_web::test]
async fn the_outbox_never_holds_the_same_job_twice() {
    let app = TestApp::spawn().await;
    let at = app.clock_naive();
    let added: Vec<bool> = app
        .db(move |conn| {
            let payload = json!({"identification_id": ID});
            (0..3)
                .map(|_| {
                    terren_api::db::backend::write_transaction(conn, |tx| {
                        terren_api::outbox::enqueue(
                            tx,
                            "identification.emergency",
                            &payload,
                            "identification.emergency:x",
                            at,
                            at,
                        )
                    })
                    .unwrap()
                })
                .collect()
        })
        .await;
    assert_eq!(added, vec![true, false, false]);
    assert_eq!(app.db(|conn| outbox_jobs::table.count().get_result::<i64>(conn).unwrap()).await, 1);
}
