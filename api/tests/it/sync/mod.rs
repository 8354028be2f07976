//! Sync: a phone's working set, then only what changed in it, as the access rules allow.

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::Duration;
use serde_json::{Value, json};

use crate::fixtures::paging::raise;
use crate::fixtures::{error_codes, recorded_sighting, referral, sighting};
use crate::harness::TestApp;

mod phone;
mod shift;

const SIGHTING: &str = "0190f7a0-0000-7000-8000-00000000d001";
const REFERRAL: &str = "0190f7a0-0000-7000-8000-00000000d002";
const SECOND_SIGHTING: &str = "0190f7a0-0000-7000-8000-00000000d003";
const SECOND_REFERRAL: &str = "0190f7a0-0000-7000-8000-00000000d004";

/// One sync call, after the feed is sealed as the server's sealer would have done by then.
async fn sync(app: &TestApp, token: &str, cursor: Option<&str>, limit: Option<u32>) -> Value {
    let res = call(app, token, cursor, limit).await;
    assert_eq!(res.0, StatusCode::OK, "{}", res.1);
    res.1
}

async fn call(app: &TestApp, token: &str, cursor: Option<&str>, limit: Option<u32>) -> (StatusCode, Value) {
    app.db(|_| ()).await;
    let mut query = Vec::new();
    if let Some(cursor) = cursor {
        query.push(format!("cursor={cursor}"));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let res = app.get(&format!("/api/v1/sync?{}", query.join("&")), Some(token)).await;
    (res.status, res.body)
}

fn ids(page: &Value, collection: &str, list: &str) -> Vec<String> {
    page[collection][list]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.get("id").unwrap_or(item).as_str().unwrap().to_owned())
        .collect()
}

fn cursor(page: &Value) -> String {
    page["cursor"].as_str().unwrap().to_owned()
}

async fn refer(app: &TestApp, token: &str, sighting_id: &str, referral_id: &str) {
    recorded_sighting(app, "tirana.field", &sighting(sighting_id)).await;
    let res =
        app.post_idempotent("/api/v1/referrals", token, referral_id, &referral(referral_id, sighting_id, "high")).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}

#[actix_web::test]
async fn a_phone_gets_its_working_set_then_only_what_changed_and_what_left_it() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    refer(&app, &field, SIGHTING, REFERRAL).await;
    let alert = raise(&app, "a-1", json!({ "severity": "emergency", "title": "Fëmijë vetëm natën" })).await;
    let alert_id = alert["id"].as_str().unwrap().to_owned();

    let first = sync(&app, &field, None, None).await;
    assert_eq!((first["reset"].as_bool(), first["has_more"].as_bool()), (Some(true), Some(false)), "{first}");
    assert_eq!(ids(&first, "referrals", "put"), [REFERRAL]);
    assert_eq!(ids(&first, "alerts", "put"), [alert_id.as_str()]);
    // The record is the one the referral's own endpoint shows this person.
    let one = app.get(&format!("/api/v1/referrals/{REFERRAL}"), Some(&field)).await;
    assert_eq!(first["referrals"]["put"][0], one.body);

    let quiet = sync(&app, &field, Some(&cursor(&first)), None).await;
    assert_eq!(quiet["reset"], false);
    assert!(ids(&quiet, "referrals", "put").is_empty() && ids(&quiet, "alerts", "put").is_empty(), "{quiet}");

    // Overnight the unit accepts the referral and the duty officer acknowledges the alert.
    let pmf = app.login("tirana.pmf").await;
    let res = app.post(&format!("/api/v1/referrals/{REFERRAL}/accept"), Some(&pmf), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let duty = app.login("tirana.duty").await;
    let res = app.post(&format!("/api/v1/alerts/{alert_id}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let changed = sync(&app, &field, Some(&cursor(&quiet)), None).await;
    assert_eq!(ids(&changed, "referrals", "put"), [REFERRAL]);
    assert_eq!(changed["referrals"]["put"][0]["status"], "accepted");
    assert_eq!(ids(&changed, "alerts", "put"), [alert_id.as_str()]);
    assert_eq!(changed["alerts"]["put"][0]["state"], "acknowledged");

    // The alert is resolved; a month later it has left the working set, and the phone is told.
    let res = app.post(&format!("/api/v1/alerts/{alert_id}/resolve"), Some(&duty), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let resolved = sync(&app, &field, Some(&cursor(&changed)), None).await;
    assert_eq!(resolved["alerts"]["put"][0]["state"], "resolved");
    let window = app.state.config.sync.window_days;
    app.clock.advance(Duration::days(window / 2));
    let field = app.login("tirana.field").await;
    let midway = sync(&app, &field, Some(&cursor(&resolved)), None).await;
    assert!(ids(&midway, "alerts", "remove").is_empty(), "{midway}");
    app.clock.advance(Duration::days(window - window / 2 + 1));
    let field = app.login("tirana.field").await;
    let later = sync(&app, &field, Some(&cursor(&midway)), None).await;
    assert_eq!(ids(&later, "alerts", "remove"), [alert_id.as_str()], "{later}");
    assert!(ids(&later, "referrals", "remove").is_empty(), "an open referral stays: {later}");

    // What the phone now holds is what a full sync would give it.
    let fresh = sync(&app, &field, None, None).await;
    assert_eq!(ids(&fresh, "referrals", "put"), [REFERRAL]);
    assert!(ids(&fresh, "alerts", "put").is_empty(), "{fresh}");
}

#[actix_web::test]
async fn a_full_sync_comes_in_bounded_pages_and_misses_nothing_that_changes_meanwhile() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    refer(&app, &field, SIGHTING, REFERRAL).await;
    refer(&app, &field, SECOND_SIGHTING, SECOND_REFERRAL).await;

    let first = sync(&app, &field, None, Some(1)).await;
    assert_eq!((first["reset"].as_bool(), first["has_more"].as_bool()), (Some(true), Some(true)));
    assert_eq!(ids(&first, "referrals", "put").len(), 1);
    // While the phone pages, the unit accepts the referral it already has.
    let pmf = app.login("tirana.pmf").await;
    let res = app.post(&format!("/api/v1/referrals/{REFERRAL}/accept"), Some(&pmf), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let second = sync(&app, &field, Some(&cursor(&first)), Some(1)).await;
    assert_eq!(second["reset"], false);
    let mut all = [ids(&first, "referrals", "put"), ids(&second, "referrals", "put")].concat();
    all.sort();
    assert_eq!(all, [REFERRAL, SECOND_REFERRAL]);
    let mut next = second;
    while next["has_more"] == true {
        next = sync(&app, &field, Some(&cursor(&next)), Some(1)).await;
    }
    // The change made during the full sync arrives after it.
    let after = sync(&app, &field, Some(&cursor(&next)), None).await;
    assert_eq!(ids(&after, "referrals", "put"), [REFERRAL]);
    assert_eq!(after["referrals"]["put"][0]["status"], "accepted");
}

/// The referrals' checksum of a phone holding exactly these.
fn referrals_sum(held: &[&str]) -> Value {
    let ids: Vec<uuid::Uuid> = held.iter().map(|id| id.parse().unwrap()).collect();
    json!(terren_contract::sync::collection_checksum(&ids))
}

#[actix_web::test]
async fn checksums_are_of_what_the_phone_was_sent_so_a_lost_answer_shows_and_a_restart_changes_nothing() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    refer(&app, &field, SIGHTING, REFERRAL).await;

    // A referral made while a full sync pages is not in its sums: the phone was not sent it yet.
    let first = sync(&app, &field, None, Some(1)).await;
    refer(&app, &field, SECOND_SIGHTING, SECOND_REFERRAL).await;
    let mut full = first;
    while full["has_more"] == true {
        full = sync(&app, &field, Some(&cursor(&full)), Some(1)).await;
    }
    assert_eq!(full["checksums"]["referrals"], referrals_sum(&[REFERRAL]), "{full}");

    // The delta that brings it is lost on the way; asked again from the same cursor, it answers the same.
    let lost = sync(&app, &field, Some(&cursor(&full)), None).await;
    assert_eq!(ids(&lost, "referrals", "put"), [SECOND_REFERRAL]);
    let both = referrals_sum(&[REFERRAL, SECOND_REFERRAL]);
    assert_eq!(lost["checksums"]["referrals"], both);
    let again = sync(&app, &field, Some(&cursor(&full)), None).await;
    assert_eq!(
        (&again["checksums"], ids(&again, "referrals", "put")),
        (&lost["checksums"], vec![SECOND_REFERRAL.to_owned()])
    );

    // A phone that kept the cursor but not the answer holds one referral; the sums say two.
    let quiet = sync(&app, &field, Some(&cursor(&again)), None).await;
    assert!(ids(&quiet, "referrals", "put").is_empty(), "{quiet}");
    assert_eq!(quiet["checksums"]["referrals"], both);
    assert_ne!(referrals_sum(&[REFERRAL]), both);

    // Another instance (or this one after a restart) holds no copy of what the phone was sent: it
    // works the members out and answers the same sums.
    let restarted = app.state.sibling();
    let res = crate::harness::request_on(
        &restarted,
        test::TestRequest::get()
            .uri(&format!("/api/v1/sync?cursor={}", cursor(&quiet)))
            .insert_header(("Authorization", format!("Bearer {field}"))),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["checksums"], quiet["checksums"]);
}

#[actix_web::test]
async fn a_forged_foreign_or_old_cursor_is_refused_and_says_what_to_do() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let first = sync(&app, &field, None, None).await;
    let mine = cursor(&first);

    let (status, body) = call(&app, &field, Some("not-a-cursor"), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("sync_cursor_invalid")), "{body}");
    let mut tampered = mine.clone();
    tampered.insert(tampered.len() - 2, if tampered.ends_with("A") { 'B' } else { 'A' });
    let (status, body) = call(&app, &field, Some(&tampered), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("sync_cursor_invalid")), "{body}");

    let pmf = app.login("tirana.pmf").await;
    let (status, body) = call(&app, &pmf, Some(&mine), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("sync_cursor_not_yours")), "{body}");

    let (status, body) = call(&app, &field, None, Some(0)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_codes(&body), ["out_of_range"]);

    app.clock.advance(Duration::days(app.state.config.retention.change_feed_days + 1));
    let field = app.login("tirana.field").await;
    let (status, body) = call(&app, &field, Some(&mine), None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::GONE, Some("sync_cursor_expired")), "{body}");
    let restarted = sync(&app, &field, None, None).await;
    assert_eq!(restarted["reset"], true);
}

#[actix_web::test]
async fn a_hotspot_reaches_the_phones_of_its_areas_and_leaves_them_when_it_is_closed() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let field = app.login("tirana.field").await;
    let before = sync(&app, &field, None, None).await;

    let shape = json!({ "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 80.0 });
    let body = json!({ "name": "Semaforët e sheshit", "kind": "traffic_light_junction", "shape": shape });
    let res = app.post("/api/v1/hotspots", Some(&coordinator), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let added = sync(&app, &field, Some(&cursor(&before)), None).await;
    assert_eq!(ids(&added, "hotspots", "put"), [id.as_str()]);
    assert_eq!(added["hotspots"]["put"][0], res.body, "as its own endpoint shows it");

    let closed = json!({ "name": "Semaforët e sheshit", "kind": "traffic_light_junction", "shape": shape,
                         "active": false, "version": 1 });
    let res = app.put(&format!("/api/v1/hotspots/{id}"), Some(&coordinator), &closed).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let removed = sync(&app, &field, Some(&cursor(&added)), None).await;
    assert_eq!(ids(&removed, "hotspots", "remove"), [id.as_str()]);
    assert!(ids(&removed, "hotspots", "put").is_empty());
    // A phone of another municipality never hears of it.
    let kamez = app.login("kamez.field").await;
    let elsewhere = sync(&app, &kamez, None, None).await;
    assert!(!ids(&elsewhere, "hotspots", "put").contains(&id), "{elsewhere}");
}

#[actix_web::test]
async fn reference_data_is_tagged_and_sync_answers_compressed_and_a_disabled_user_gets_nothing() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let reference = app.get("/api/v1/sync/reference", Some(&field)).await;
    assert_eq!(reference.status, StatusCode::OK, "{}", reference.body);
    let etag = reference.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    let areas: Vec<&str> =
        reference.body["areas"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert!(areas.contains(&"AL224") && areas.contains(&"AL-11"), "Tirana and its county: {areas:?}");
    let everywhere = app.get("/api/v1/areas", Some(&field)).await;
    assert!(areas.len() < everywhere.body.as_array().unwrap().len() / 2, "only Tirana's: {areas:?}");
    assert!(reference.body["agencies"].as_array().unwrap().iter().any(|a| a["phone"].is_string()));
    assert!(reference.body["vocabularies"].as_array().unwrap().iter().any(|v| v["name"] == "street_situation"));
    let page = sync(&app, &field, None, None).await;
    assert_eq!(page["reference_etag"], etag.as_str(), "the last page says which copy is current");

    let held = test::TestRequest::get().uri("/api/v1/sync/reference").insert_header(("If-None-Match", etag.clone()));
    let unchanged = app.request(held.insert_header(("Authorization", format!("Bearer {field}")))).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    // An agency's phone changes: the copy is stale.
    let admin = app.login("admin").await;
    let agencies = app.get("/api/v1/agencies?type=child_protection_unit", Some(&admin)).await;
    let agency = &agencies.body[0];
    let path = format!("/api/v1/agencies/{}", agency["id"].as_str().unwrap());
    let changed =
        app.patch(&path, Some(&admin), &json!({ "phone": "+355 4 222 0000", "version": agency["version"] })).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let held = test::TestRequest::get().uri("/api/v1/sync/reference").insert_header(("If-None-Match", etag.clone()));
    let stale = app.request(held.insert_header(("Authorization", format!("Bearer {field}")))).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_ne!(stale.headers.get("etag").unwrap().to_str().unwrap(), etag);

    let gzip = test::TestRequest::get()
        .uri("/api/v1/sync")
        .insert_header(("Accept-Encoding", "gzip"))
        .insert_header(("Authorization", format!("Bearer {field}")));
    let compressed = app.request(gzip).await;
    assert_eq!(compressed.status, StatusCode::OK);
    assert_eq!(compressed.headers.get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"));

    // The person is disabled: the phone gets nothing and is told to sign in again.
    let id = crate::fixtures::user_id(&app, "tirana.field").await;
    let disabled = app.post(&format!("/api/v1/users/{id}/disable"), Some(&admin), &json!({})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let (status, body) = call(&app, &field, Some(&cursor(&page)), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_token");
    let batch = app.post("/api/v1/sync/batch", Some(&field), &json!({ "operations": [] })).await;
    assert_eq!(batch.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn what_a_sync_shows_is_audited_after_the_snapshot_it_was_read_from() {
    use diesel::prelude::*;
    use terren_api::audit::sealer;
    use terren_api::db::schema::audit_log;

    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    recorded_sighting(&app, "tirana.field", &sighting(SIGHTING)).await;
    let link = json!({ "new_profile": { "id": "019a2b3c-4d5e-7f00-8a1b-0000000a0001", "given_name": "Ana" } });
    let res = app.post_idempotent(&format!("/api/v1/identifications/{SIGHTING}/link"), &field, "link-1", &link).await;
    assert!(res.status.is_success(), "{}", res.body);

    let page = sync(&app, &field, None, None).await;
    assert_eq!(ids(&page, "identifications", "put"), [SIGHTING]);
    assert_eq!(page["profiles"]["put"][0]["given_name"], "Ana", "{page}");
    let audited = app
        .db(|conn| {
            sealer::seal_pending(conn).unwrap();
            audit_log::table
                .filter(audit_log::action.eq_any(["identification.sync", "child_profile.sync"]))
                .select((audit_log::action, audit_log::details))
                .load::<(String, String)>(conn)
                .unwrap()
        })
        .await;
    let actions: Vec<&str> = audited.iter().map(|(action, _)| action.as_str()).collect();
    assert!(actions.contains(&"identification.sync") && actions.contains(&"child_profile.sync"), "{audited:?}");
    assert!(
        audited.iter().all(|(_, details)| details.contains(SIGHTING) || details.contains("0000000a0001")),
        "{audited:?}"
    );
}
