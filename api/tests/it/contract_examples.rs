//! The document's request examples are requests the server takes: each is sent as it stands (with
//! the ids it refers to made first) and must not be refused as invalid (422). Swagger UI and
//! generated clients pre-fill exactly these. Response examples read as their types and have the
//! fields of the server's real answers.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use terren_contract::auth::TokenResponse;
use terren_contract::lifeline::{InboundSms, LifelineEnrolment};
use terren_contract::sync::SyncPage;

use crate::fixtures::example;
use crate::fixtures::lifeline::{GATEWAY_TOKEN, WEBHOOK_URL, app_with_lifeline, is_silent, post_form};
use crate::fixtures::paging::sms_gateway;
use crate::harness::{PASSWORD, TestApp};

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().map(|object| object.keys().map(String::as_str).collect()).unwrap_or_default()
}

fn taken(what: &str, status: StatusCode, body: &Value) {
    assert_ne!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: the document's example is refused: {body}");
    assert!(status.is_success(), "{what}: {status} {body}");
}

#[actix_web::test]
async fn the_documents_request_examples_are_accepted() {
    let app = TestApp::spawn().await;
    // The examples tell of a December evening in Tirana.
    app.clock.set(Utc.with_ymd_and_hms(2026, 12, 8, 22, 0, 0).single().unwrap());

    let login = app.post("/api/v1/auth/login", None, &example("login_request.json")).await;
    assert_ne!(login.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", login.body);

    let admin = app.login("admin").await;
    let user = app.post("/api/v1/users", Some(&admin), &example("create_user_request.json")).await;
    taken("create user", user.status, &user.body);

    let field = app.login("tirana.field").await;
    let sighting = example("create_identification_request.json");
    let recorded = app.post_idempotent("/api/v1/identifications", &field, "example-sighting", &sighting).await;
    taken("create identification", recorded.status, &recorded.body);

    let mut referral = example("create_referral_request.json");
    referral["identification_id"] = sighting["id"].clone();
    let referred = app.post_idempotent("/api/v1/referrals", &field, "example-referral", &referral).await;
    taken("create referral", referred.status, &referred.body);

    let coordinator = app.login("tirana.coord").await;
    let hotspot = app.post("/api/v1/hotspots", Some(&coordinator), &example("create_hotspot_request.json")).await;
    taken("create hotspot", hotspot.status, &hotspot.body);
}

/// The sync examples read as `SyncPage`, and have the fields of real pages: the first page of a
/// full sync with more to come, and a last page (with who is on duty, the checksums and the
/// reference tag).
#[actix_web::test]
async fn the_sync_page_examples_have_the_fields_of_real_pages() {
    let app = TestApp::spawn().await;
    app.clock.set(Utc.with_ymd_and_hms(2026, 12, 8, 22, 0, 0).single().unwrap());
    let coordinator = app.login("tirana.coord").await;
    for name in ["Tregu Elektrik", "Semafori i Zogut të Zi"] {
        let mut hotspot = example("create_hotspot_request.json");
        hotspot["name"] = json!(name);
        let made = app.post("/api/v1/hotspots", Some(&coordinator), &hotspot).await;
        taken("create hotspot", made.status, &made.body);
    }
    let field = app.login("tirana.field").await;
    let first = app.get("/api/v1/sync?limit=1", Some(&field)).await;
    let page: SyncPage = first.read(StatusCode::OK);
    assert!(page.reset && page.has_more, "{}", first.body);
    let full = example("sync_page_full.json");
    assert_eq!(keys(&first.body), keys(&full), "sync_page_full.json");
    let mut cursor = page.cursor;
    let last = loop {
        let next = app.get(&format!("/api/v1/sync?cursor={cursor}&limit=500"), Some(&field)).await;
        let page: SyncPage = next.read(StatusCode::OK);
        if !page.has_more {
            break next;
        }
        cursor = page.cursor;
    };
    let delta = example("sync_page.json");
    assert_eq!(keys(&last.body), keys(&delta), "sync_page.json");
    for file in ["sync_page_full.json", "sync_page.json"] {
        serde_json::from_value::<SyncPage>(example(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

/// The SMS gateway's example form is taken as it stands: signed by the gateway, it is answered
/// 200 (its message is the lifeline module's example, made under the documentation's secret, so
/// it is refused quietly here: no session of this server holds that secret). The enrolment
/// examples have the fields of a real login answer.
#[actix_web::test]
async fn the_lifeline_examples_are_what_the_gateway_sends_and_a_login_gives() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let form = example("inbound_sms_request.json");
    serde_json::from_value::<InboundSms>(form.clone()).unwrap();
    let params: Vec<(String, String)> = form
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned()))
        .collect();
    let signature = terren_api::lifeline::signature::sign(GATEWAY_TOKEN.as_bytes(), WEBHOOK_URL, &params);
    let answer = post_form(&app, &params, &signature).await;
    assert_ne!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert!(is_silent(&answer), "{}", answer.body);

    let login = app.login_full("tirana.field", PASSWORD, "example-phone").await;
    let tokens: TokenResponse = login.read(StatusCode::OK);
    assert!(tokens.lifeline.is_some());
    let answered = example("token_response_lifeline.json");
    serde_json::from_value::<TokenResponse>(answered.clone()).unwrap();
    assert_eq!(keys(&login.body), keys(&answered), "token_response_lifeline.json");
    let enrolment = example("lifeline_enrolment.json");
    serde_json::from_value::<LifelineEnrolment>(enrolment.clone()).unwrap();
    assert_eq!(keys(&login.body["lifeline"]), keys(&enrolment), "lifeline_enrolment.json");
}
