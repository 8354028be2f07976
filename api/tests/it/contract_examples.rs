//! The document's request examples are requests the server takes: each is sent as it stands (with
//! the ids it refers to made first) and must not be refused as invalid (422). Swagger UI and
//! generated clients pre-fill exactly these.

use actix_web::http::StatusCode;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use terren_contract::examples::EXAMPLES;

use crate::harness::TestApp;

fn example(file: &str) -> Value {
    let found = EXAMPLES.iter().find(|e| e.file == file).unwrap_or_else(|| panic!("{file} is not in the document"));
    serde_json::from_str(found.json).unwrap()
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
