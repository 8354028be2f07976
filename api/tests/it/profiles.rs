use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{audit_log, child_profiles, identification_links, identifications};

use crate::harness::TestApp;

fn uuid(prefix: &str, n: u32) -> String {
    format!("{prefix}-4d5e-7f00-8a1b-{n:012}")
}

fn sighting_id(n: u32) -> String {
    uuid("019a2b3c", n)
}

fn profile_id(n: u32) -> String {
    uuid("019a2b3d", n)
}

/// A child seen in the street: `age` and `sex` as estimated, `name` as told, at a point, at the
/// test clock's time minus `minutes_ago`.
struct Seen<'a> {
    n: u32,
    lat: f64,
    lon: f64,
    age: i32,
    sex: &'a str,
    name: Option<&'a str>,
    accompanied_by: &'a str,
}

impl Seen<'_> {
    fn at_the_square(n: u32, name: Option<&str>) -> Seen<'_> {
        Seen { n, lat: 41.3275, lon: 19.8187, age: 9, sex: "female", name, accompanied_by: "other_adult" }
    }

    fn body(&self, app: &TestApp) -> Value {
        let observed = app.clock_naive() - Duration::minutes(5);
        let mut body = json!({
            "id": sighting_id(self.n),
            "observed_at": observed.and_utc(),
            "location": {"lat": self.lat, "lon": self.lon, "accuracy_m": 10.0, "source": "gps"},
            "subject_type": "child",
            "estimated_age": self.age,
            "sex": self.sex,
            "street_situations": ["selling_items"],
            "accompanied_by": self.accompanied_by,
            "risk_level": "medium"
        });
        if let Some(name) = self.name {
            body["name_as_told"] = json!(name);
        }
        body
    }
}

async fn record(app: &TestApp, token: &str, seen: Seen<'_>) -> Value {
    let res = app.post_idempotent("/api/v1/identifications", token, &format!("s-{}", seen.n), &seen.body(app)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

async fn link(app: &TestApp, token: &str, sighting: u32, body: Value) -> crate::harness::Response {
    // One key per distinct request: a repeated body is a retry.
    let key: String = format!("l-{sighting}-{body}").chars().filter(char::is_ascii_graphic).take(255).collect();
    app.post_idempotent(&format!("/api/v1/identifications/{}/link", sighting_id(sighting)), token, &key, &body).await
}

async fn link_new(app: &TestApp, token: &str, sighting: u32, profile: u32, given_name: Option<&str>) -> Value {
    let mut new_profile = json!({ "id": profile_id(profile) });
    if let Some(name) = given_name {
        new_profile["given_name"] = json!(name);
    }
    let res = link(app, token, sighting, json!({ "new_profile": new_profile })).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

fn candidate_ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["profile"]["id"].as_str().unwrap().to_owned()).collect()
}

fn reason_codes(candidate: &Value) -> Vec<String> {
    candidate["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn a_girl_seen_again_is_proposed_linked_and_counted_once() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let first = record(&app, &field, Seen::at_the_square(1, Some("Ana"))).await;
    assert_eq!(first["candidates"], json!([]), "nobody is known yet");
    let linked = link_new(&app, &field, 1, 1, Some("Ana")).await;
    assert_eq!(linked["created_profile"], true);
    assert_eq!(linked["profile"]["reference"], "TR-2026-000001", "Tirana's HASC code, the year, a number");
    assert_eq!(linked["profile"]["sightings"], 1);
    assert_eq!(linked["profile"]["birth_year"], 2017, "from the estimated age");
    assert_eq!(linked["profile"]["birth_year_estimated"], true);

    // Two days later, 300 m away, the name heard as "Anna".
    app.clock.advance(Duration::days(2));
    let field = app.login("tirana.field").await;
    let second = record(&app, &field, Seen { lat: 41.3302, name: Some("Anna"), ..Seen::at_the_square(2, None) }).await;
    assert_eq!(candidate_ids(&second["candidates"]), vec![profile_id(1)], "{}", second["candidates"]);
    let best = &second["candidates"][0];
    let reasons = reason_codes(best);
    for code in ["same_sex", "same_age", "near_in_space_and_time", "same_companions", "name_sounds_alike"] {
        assert!(reasons.contains(&code.to_owned()), "{code} in {reasons:?}");
    }
    let detail = best["reasons"].as_array().unwrap().iter().find(|r| r["code"] == "near_in_space_and_time").unwrap();
    assert_eq!(detail["detail"], "seen 300 m away, 2 days earlier");
    assert!(best["score"].as_f64().unwrap() > 0.8, "{best}");
    assert_eq!(best["display_name"], "Ana");

    // The same list on demand; linking makes the sighting part of her history.
    let listed = app.get(&format!("/api/v1/identifications/{}/candidates", sighting_id(2)), Some(&field)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(candidate_ids(&listed.body["candidates"]), vec![profile_id(1)]);
    let res = link(&app, &field, 2, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["profile"]["sightings"], 2);
    assert_eq!(res.body["profile"]["aliases"], json!(["Anna"]), "the name as told is kept as an alias");
    // Linking again (a new request, not a retry) changes nothing.
    let again = app
        .post_idempotent(
            &format!("/api/v1/identifications/{}/link", sighting_id(2)),
            &field,
            "another-key",
            &json!({ "profile_id": profile_id(1) }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let after = app.get(&format!("/api/v1/identifications/{}/candidates", sighting_id(2)), Some(&field)).await;
    assert_eq!(after.body["linked_profile"]["id"], profile_id(1));
    assert_eq!(after.body["candidates"], json!([]), "her own profile is not a candidate");

    let history = app.get(&format!("/api/v1/child-profiles/{}/history", profile_id(1)), Some(&field)).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let seen: Vec<&str> = history.body["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["identification_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, vec![sighting_id(1), sighting_id(2)], "ordered in time");
    assert_eq!(history.body["sightings"][1]["municipality"]["code"], "AL224");
    assert_eq!(history.body["sightings"][1]["identification"]["profile"]["reference"], "TR-2026-000001");

    // Two sightings, one child.
    let coordinator = app.login("tirana.coord").await;
    let counts = app.get("/api/v1/identifications/counts?area=AL224", Some(&coordinator)).await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.body);
    assert_eq!(
        counts.body,
        json!({"identifications": 2, "linked": 2, "unlinked": 0, "distinct_children": 1, "repeat_sightings": 1,
               "children_seen_more_than_once": 1, "min_count": 1})
    );
    let unlinked = app.get("/api/v1/identifications?linked=false", Some(&coordinator)).await;
    assert_eq!(unlinked.body["items"], json!([]));
    let linked = app.get("/api/v1/identifications?linked=true", Some(&coordinator)).await;
    assert_eq!(linked.body["items"].as_array().map(Vec::len), Some(2), "{}", linked.body);

    let actions: Vec<String> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.like("child_profile.%").or(audit_log::action.like("identification.link%")))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        actions,
        vec!["child_profile.create", "identification.link", "identification.link", "child_profile.history"],
        "the repeated link changed nothing and wrote nothing"
    );
}

#[actix_web::test]
async fn other_children_are_not_proposed() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, Some("Ana"))).await;
    link_new(&app, &field, 1, 1, Some("Ana")).await;
    // At the same junction: a boy; a girl of 16; a girl of about 9 with unknown sex is fine.
    let boy = record(&app, &field, Seen { sex: "male", ..Seen::at_the_square(2, None) }).await;
    assert_eq!(boy["candidates"], json!([]));
    let older = record(&app, &field, Seen { age: 16, ..Seen::at_the_square(3, Some("Ana")) }).await;
    assert_eq!(older["candidates"], json!([]));
    let unsure = record(&app, &field, Seen { sex: "unknown", ..Seen::at_the_square(4, None) }).await;
    assert_eq!(candidate_ids(&unsure["candidates"]), vec![profile_id(1)]);
    // Far away (Elbasan, recorded by a Tirana worker) with another name: nothing in common.
    let far = record(&app, &field, Seen { lat: 41.1125, lon: 20.0822, ..Seen::at_the_square(5, Some("Besa")) }).await;
    assert_eq!(far["candidates"], json!([]));
    // Far away but with the same name sound: proposed on the name alone, ranked lower.
    let named = record(&app, &field, Seen { lat: 41.3400, lon: 19.7800, ..Seen::at_the_square(6, Some("Ana")) }).await;
    let candidates = named["candidates"].as_array().unwrap();
    assert_eq!(candidate_ids(&named["candidates"]), vec![profile_id(1)]);
    assert!(!reason_codes(&candidates[0]).contains(&"near_in_space_and_time".to_owned()));
    assert!(candidates[0]["score"].as_f64().unwrap() < 0.7);
}

#[actix_web::test]
async fn another_municipalitys_child_can_be_neither_seen_nor_linked() {
    let app = TestApp::spawn().await;
    let kamez = app.login("kamez.field").await;
    record(&app, &kamez, Seen { lat: 41.3746, lon: 19.7776, ..Seen::at_the_square(1, Some("Ana")) }).await;
    let made = link_new(&app, &kamez, 1, 1, Some("Ana")).await;
    assert!(made["profile"]["reference"].as_str().unwrap().starts_with("KM-2026-"), "{made}");

    let tirana = app.login("tirana.field").await;
    let mine = record(&app, &tirana, Seen::at_the_square(2, Some("Ana"))).await;
    assert_eq!(mine["candidates"], json!([]), "Kamëz's profile is outside Tirana's scope");
    let res = link(&app, &tirana, 2, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert_eq!(res.headers.get("content-type").unwrap(), "application/problem+json");
    assert_eq!(res.body["code"], "not_found");
    let links: i64 = app
        .db(|conn| {
            identification_links::table
                .filter(identification_links::identification_id.eq(sighting_id(2)))
                .count()
                .get_result(conn)
                .unwrap()
        })
        .await;
    assert_eq!(links, 0, "nothing half-written");
    assert_eq!(app.get(&format!("/api/v1/child-profiles/{}", profile_id(1)), Some(&tirana)).await.status, 404);
    let search = app.get("/api/v1/child-profiles?q=KM-2026-1", Some(&tirana)).await;
    assert_eq!(search.body["items"], json!([]));
    // Nor can Kamëz link Tirana's sighting.
    let res = link(&app, &kamez, 2, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn bad_links_are_refused_with_codes() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, None)).await;
    record(&app, &field, Seen { sex: "male", ..Seen::at_the_square(2, None) }).await;
    record(&app, &field, Seen::at_the_square(3, None)).await;
    link_new(&app, &field, 1, 1, None).await;

    let cases = [
        (json!({}), 422, "validation_failed", "one_of_required"),
        (
            json!({ "profile_id": profile_id(1), "new_profile": { "id": profile_id(2) } }),
            422,
            "validation_failed",
            "one_of_required",
        ),
        (json!({ "new_profile": { "id": profile_id(2), "given_name": " - " } }), 422, "validation_failed", "blank"),
        (json!({ "profile_id": profile_id(9) }), 404, "not_found", ""),
        (json!({ "new_profile": { "id": profile_id(1) } }), 409, "already_exists", ""),
    ];
    for (body, status, code, field_code) in cases {
        let res = link(&app, &field, 3, body.clone()).await;
        assert_eq!(res.status.as_u16(), status, "{body}: {}", res.body);
        assert_eq!(res.body["code"], code, "{body}");
        if !field_code.is_empty() {
            assert_eq!(res.body["errors"][0]["code"], field_code, "{body}: {}", res.body);
        }
    }
    let boy = link(&app, &field, 2, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(boy.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(boy.body["errors"][0]["code"], "sex_mismatch");
    link_new(&app, &field, 3, 3, None).await;
    let elsewhere = link(&app, &field, 3, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(elsewhere.status, StatusCode::CONFLICT);
    assert_eq!(elsewhere.body["code"], "already_linked");
    let no_key = app
        .post(
            &format!("/api/v1/identifications/{}/link", sighting_id(1)),
            Some(&field),
            &json!({ "profile_id": profile_id(1) }),
        )
        .await;
    assert_eq!(no_key.status, StatusCode::BAD_REQUEST);
    let police = app.login("police.tirana").await;
    let res = link(&app, &police, 2, json!({ "new_profile": { "id": profile_id(4) } })).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let profiles: i64 = app.db(|conn| child_profiles::table.count().get_result(conn).unwrap()).await;
    assert_eq!(profiles, 2, "only the two good links made profiles");

    // A retried link gets the first answer, showing the profile as it is now.
    let coordinator = app.login("tirana.coord").await;
    let renamed = app
        .patch(
            &format!("/api/v1/child-profiles/{}", profile_id(3)),
            Some(&coordinator),
            &json!({ "version": 1, "given_name": "Drita" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let retry = link_new(&app, &field, 3, 3, None).await;
    assert_eq!(retry["profile"]["id"], profile_id(3));
    assert_eq!(
        (retry["profile"]["version"].as_i64(), retry["profile"]["given_name"].as_str()),
        (Some(2), Some("Drita"))
    );

    // A wrong link is undone by a coordinator, and the sighting can then go where it belongs.
    let unlink_path = format!("/api/v1/identifications/{}/link", sighting_id(3));
    assert_eq!(app.delete(&unlink_path, Some(&field)).await.status, StatusCode::FORBIDDEN);
    let coordinator = app.login("tirana.coord").await;
    assert_eq!(app.delete(&unlink_path, Some(&coordinator)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&unlink_path, Some(&coordinator)).await.status, StatusCode::NOT_FOUND);
    let emptied = app.get(&format!("/api/v1/child-profiles/{}", profile_id(3)), Some(&coordinator)).await;
    assert_eq!(emptied.body["sightings"], 0);
    // A new request (new key): the key of the refused attempt would replay its refusal.
    let relinked = app.post_idempotent(&unlink_path, &field, "relink", &json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(relinked.status, StatusCode::CREATED, "{}", relinked.body);
    assert_eq!(relinked.body["profile"]["sightings"], 2);
}

#[actix_web::test]
async fn a_coordinator_merges_and_unmerges_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, Some("Ana"))).await;
    link_new(&app, &field, 1, 1, Some("Ana")).await;
    app.clock.advance(Duration::hours(3));
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen { lat: 41.3330, ..Seen::at_the_square(2, Some("Xhoana")) }).await;
    link_new(&app, &field, 2, 2, Some("Xhoana")).await;

    let merge_path = format!("/api/v1/child-profiles/{}/merge", profile_id(1));
    let body = json!({ "from_profile_id": profile_id(2), "reason": "the same girl; her aunt confirmed" });
    assert_eq!(app.post(&merge_path, Some(&field), &body).await.status, StatusCode::FORBIDDEN);
    let coordinator = app.login("tirana.coord").await;
    let merged = app.post(&merge_path, Some(&coordinator), &body).await;
    assert_eq!(merged.status, StatusCode::CREATED, "{}", merged.body);
    assert_eq!(merged.body["identifications_moved"], 1);
    let survivor = app.get(&format!("/api/v1/child-profiles/{}", profile_id(1)), Some(&coordinator)).await;
    assert_eq!(survivor.body["sightings"], 2);
    assert_eq!(survivor.body["aliases"], json!(["Xhoana"]));
    let gone = app.get(&format!("/api/v1/child-profiles/{}", profile_id(2)), Some(&coordinator)).await;
    assert_eq!(gone.body["merged_into"]["id"], profile_id(1));
    assert_eq!(gone.body["sightings"], 0);
    assert_eq!(app.post(&merge_path, Some(&coordinator), &body).await.status, StatusCode::CONFLICT);

    // A phone that still knows the old profile links to it: the link follows the merge.
    record(&app, &field, Seen::at_the_square(3, Some("Joana"))).await;
    let followed = link(&app, &field, 3, json!({ "profile_id": profile_id(2) })).await;
    assert_eq!(followed.body["profile"]["id"], profile_id(1), "{}", followed.body);

    let unmerge_path = format!("/api/v1/child-profiles/{}/unmerge", profile_id(1));
    let undo = json!({ "merge_id": merged.body["id"], "reason": "two sisters, not one girl" });
    let undone = app.post(&unmerge_path, Some(&coordinator), &undo).await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(undone.body["unmerge_reason"], "two sisters, not one girl");
    let back = app.get(&format!("/api/v1/child-profiles/{}", profile_id(2)), Some(&coordinator)).await;
    assert_eq!(back.body.get("merged_into"), None);
    assert_eq!(back.body["sightings"], 1);
    let survivor = app.get(&format!("/api/v1/child-profiles/{}", profile_id(1)), Some(&coordinator)).await;
    assert_eq!(survivor.body["sightings"], 2, "the sighting linked after the merge stays");
    assert_eq!(survivor.body["aliases"], json!(["Joana"]), "the merged name went back");
    assert_eq!(app.post(&unmerge_path, Some(&coordinator), &undo).await.status, StatusCode::CONFLICT);

    let history = app.get(&format!("/api/v1/child-profiles/{}/history", profile_id(2)), Some(&coordinator)).await;
    assert_eq!(history.body["merges"].as_array().unwrap().len(), 1, "{}", history.body);
    assert!(history.body["merges"][0]["unmerged_at"].is_string());
    assert_eq!(history.body["merges"][0]["merged_by"]["id"], history.body["merges"][0]["unmerged_by"]["id"]);
    let trail: Vec<(String, String)> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.like("child_profile.%merge"))
                .order(audit_log::seq.asc())
                .select((audit_log::action, audit_log::entity_id))
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        trail,
        vec![
            ("child_profile.merge".to_owned(), profile_id(1)),
            ("child_profile.merge".to_owned(), profile_id(2)),
            ("child_profile.unmerge".to_owned(), profile_id(1)),
            ("child_profile.unmerge".to_owned(), profile_id(2)),
        ]
    );
}

#[actix_web::test]
async fn profiles_are_found_by_reference_name_age_and_status() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, None)).await;
    let endri = link(
        &app,
        &field,
        1,
        json!({ "new_profile": { "id": profile_id(1), "given_name": "Ëndri", "family_name": "Hoxha" } }),
    )
    .await;
    assert_eq!(endri.status, StatusCode::CREATED, "{}", endri.body);
    record(&app, &field, Seen { age: 15, lat: 41.3330, ..Seen::at_the_square(2, None) }).await;
    link_new(&app, &field, 2, 2, Some("Sara")).await;

    let found = |query: &'static str| {
        let app = &app;
        let field = field.clone();
        async move {
            let res = app.get(&format!("/api/v1/child-profiles?{query}"), Some(&field)).await;
            assert_eq!(res.status, StatusCode::OK, "{query}: {}", res.body);
            res.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("q=tr-2026-1").await, vec![profile_id(1)]);
    assert_eq!(found("q=endri").await, vec![profile_id(1)], "diacritics and case ignored");
    assert_eq!(found("q=HOX").await, vec![profile_id(1)]);
    assert_eq!(found("age_band=13-15").await, vec![profile_id(2)]);
    assert_eq!(found("age_band=7-9&area=AL224").await, vec![profile_id(1)]);
    assert_eq!(found("area=AL213").await, Vec::<String>::new());
    assert_eq!(found("status=identified").await, vec![profile_id(2), profile_id(1)], "last seen first");
    assert_eq!(found("status=closed").await, Vec::<String>::new());

    let page = app.get("/api/v1/child-profiles?limit=1", Some(&field)).await;
    let next = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/api/v1/child-profiles?limit=1&cursor={next}"), Some(&field)).await;
    assert_eq!(rest.body["items"][0]["id"], profile_id(1));

    for (query, code) in [
        ("q=a", "too_short"),
        ("area=XX", "unknown_area"),
        ("age_band=old", "unknown_code"),
        ("cursor=zz", "invalid_cursor"),
    ] {
        let res = app.get(&format!("/api/v1/child-profiles?{query}"), Some(&field)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(res.body["errors"][0]["code"], code, "{query}");
    }
    // The police see the profile without names, and may not search by name.
    let police = app.login("police.tirana").await;
    let seen = app.get(&format!("/api/v1/child-profiles/{}", profile_id(1)), Some(&police)).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body.get("given_name"), None);
    assert_eq!(seen.body["withheld"], json!(["given_name", "family_name", "family_contacts", "aliases"]));
    assert_eq!(app.get("/api/v1/child-profiles?q=hoxha", Some(&police)).await.status, StatusCode::FORBIDDEN);
    let analyst = app.login("ashdmf.analyst").await;
    assert_eq!(app.get("/api/v1/child-profiles", Some(&analyst)).await.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn profile_edits_are_versioned_checked_and_a_closed_child_seen_again_reopens() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, None)).await;
    link_new(&app, &field, 1, 1, None).await;
    let path = format!("/api/v1/child-profiles/{}", profile_id(1));
    let manager = app.login("tirana.pmf").await;

    let bad =
        app.patch(&path, Some(&manager), &json!({ "version": 1, "status": "gone", "languages": ["Albanian"] })).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let codes: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["unknown_code", "invalid_format"]);

    let closed = app
        .patch(
            &path,
            Some(&manager),
            &json!({ "version": 1, "status": "closed", "given_name": "Ana", "aliases": ["Anushe"] }),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["version"], 2);
    assert_eq!(closed.body["aliases"], json!(["Anushe"]));
    let stale = app.patch(&path, Some(&manager), &json!({ "version": 1, "status": "referred" })).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["status"], "closed", "the current profile comes back");
    let police = app.login("police.tirana").await;
    let res = app.patch(&path, Some(&police), &json!({ "version": 2, "given_name": "X" })).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // Back on the street a month later: the case opens again.
    app.clock.advance(Duration::days(30));
    let field = app.login("tirana.field").await;
    let seen = record(&app, &field, Seen::at_the_square(2, Some("Anushe"))).await;
    assert_eq!(candidate_ids(&seen["candidates"]), vec![profile_id(1)]);
    let res = link(&app, &field, 2, json!({ "profile_id": profile_id(1) })).await;
    assert_eq!(res.body["profile"]["status"], "identified", "{}", res.body);
    let fields: String = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.eq("child_profile.update"))
                .select(audit_log::details)
                .first(conn)
                .unwrap()
        })
        .await;
    assert!(fields.contains("given_name") && !fields.contains("Ana"), "field names, not values: {fields}");
}

#[actix_web::test]
async fn precise_locations_are_coarsened_after_the_retention_period_unless_the_child_is_followed() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    record(&app, &field, Seen::at_the_square(1, None)).await;
    record(&app, &field, Seen { lat: 41.3330, ..Seen::at_the_square(2, None) }).await;
    link_new(&app, &field, 2, 2, None).await;
    let manager = app.login("tirana.pmf").await;
    let referred = app
        .patch(
            &format!("/api/v1/child-profiles/{}", profile_id(2)),
            Some(&manager),
            &json!({ "version": 1, "status": "referred" }),
        )
        .await;
    assert_eq!(referred.status, StatusCode::OK);

    let days = app.state.config.retention.precise_location_days;
    app.clock.advance(Duration::days(days - 1));
    assert_eq!(app.run_retention().await.coarsened, 0, "not yet");
    app.clock.advance(Duration::days(2));
    let report = app.run_retention().await;
    assert_eq!(report.coarsened, 1);
    assert_eq!(app.run_retention().await.coarsened, 0, "done once");

    let field = app.login("tirana.field").await;
    let old = app.get(&format!("/api/v1/identifications/{}", sighting_id(1)), Some(&field)).await;
    assert_eq!(old.body["location"]["precision"], "coarse", "{}", old.body);
    assert_ne!(old.body["location"]["lat"], 41.3275);
    assert!(old.body["location"]["accuracy_m"].as_f64().unwrap() >= 400.0);
    assert_eq!(old.body["location"].get("fix_time"), None);
    let followed = app.get(&format!("/api/v1/identifications/{}", sighting_id(2)), Some(&field)).await;
    assert_eq!(followed.body["location"]["precision"], "exact");
    assert_eq!(followed.body["location"]["lat"], 41.333);
    let map = app.get("/api/v1/identifications/geojson", Some(&field)).await;
    let precision_of = |id: String| {
        let features = map.body["features"].as_array().unwrap();
        let feature = features.iter().find(|f| f["id"] == id.as_str()).unwrap();
        feature["properties"]["precision"].clone()
    };
    assert_eq!(precision_of(sighting_id(1)), "coarse", "the map says so too");
    assert_eq!(precision_of(sighting_id(2)), "exact");

    let stored: (Option<f64>, i32) = app
        .db(|conn| {
            identifications::table
                .find(sighting_id(1))
                .select((identifications::lat, identifications::version))
                .first(conn)
                .unwrap()
        })
        .await;
    assert_eq!(stored.1, 2, "a change to the record");
    assert!((stored.0.unwrap() - 41.3275).abs() > 1e-6, "the precise value is gone from the database");
    let audited: String = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.eq("identification.location_coarsen"))
                .select(audit_log::details)
                .first(conn)
                .unwrap()
        })
        .await;
    assert!(audited.contains(&sighting_id(1)) && !audited.contains(&sighting_id(2)), "{audited}");
    let chain = app.db(|conn| terren_api::audit::verify_chain(conn).unwrap()).await;
    assert!(chain.is_ok());
}

#[actix_web::test]
async fn national_counts_hide_small_numbers() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    for n in 1..=4 {
        record(&app, &field, Seen { lat: 41.3275 + f64::from(n) * 0.003, ..Seen::at_the_square(n, None) }).await;
    }
    link_new(&app, &field, 1, 1, None).await;
    link(&app, &field, 2, json!({ "profile_id": profile_id(1) })).await;
    let analyst = app.login("ashdmf.analyst").await;
    let counts = app.get("/api/v1/identifications/counts?area=AL224", Some(&analyst)).await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.body);
    assert_eq!(counts.body["identifications"], 4);
    assert_eq!(counts.body["unlinked"], 0, "2 is below 3");
    assert_eq!(counts.body["distinct_children"], 0);
    assert_eq!(counts.body["min_count"], 3);
    assert_eq!(
        counts.body["suppressed"],
        json!(["linked", "unlinked", "distinct_children", "repeat_sightings", "children_seen_more_than_once"])
    );
    let refused = app.get("/api/v1/identifications/counts?linked=true", Some(&analyst)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}
