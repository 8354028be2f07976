use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;

fn codes(body: &Value) -> Vec<String> {
    body.as_array().unwrap_or_else(|| panic!("{body}")).iter().map(|a| a["code"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn the_directory_filters_by_type_area_municipality_and_availability() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let njmf = app.get("/api/v1/agencies?type=child_protection_unit", Some(&token)).await;
    let njmf_codes = codes(&njmf.body);
    assert!(njmf_codes.len() >= 61, "every municipality has an NJMF");
    assert!(njmf_codes.contains(&"AL224-NJMF".to_owned()) && njmf_codes.contains(&"AL221-NJMF".to_owned()));

    // A child found in Tirana's unit 5: its needs-assessment unit and the municipality-wide bodies.
    let unit5 = codes(&app.get("/api/v1/agencies?area=AL224-U05", Some(&token)).await.body);
    assert!(unit5.contains(&"AL224-U05-NJVNR".to_owned()), "{unit5:?}");
    assert!(unit5.contains(&"AL224-NJMF".to_owned()));
    assert!(unit5.contains(&"AL-11-DVP".to_owned()), "county police serve every unit of the county");
    assert!(!unit5.contains(&"AL224-U01-NJVNR".to_owned()));
    assert!(!unit5.contains(&"AL221-NJMF".to_owned()));

    let needs_assessment =
        app.get("/api/v1/agencies?type=needs_assessment_unit&municipality=AL224", Some(&token)).await;
    assert_eq!(codes(&needs_assessment.body).len(), 27, "one NJVNR per Tirana unit");

    let always_open = app.get("/api/v1/agencies?is_24_7=true&municipality=AL224", Some(&token)).await;
    let body = always_open.body.as_array().unwrap();
    assert!(!body.is_empty() && body.iter().all(|a| a["is_24_7"] == true));
    assert!(codes(&always_open.body).contains(&"AL224-QKT".to_owned()));

    let shelter = app.get("/api/v1/agencies?type=shelter", Some(&token)).await;
    assert_eq!(shelter.body[0]["code"], "AL224-QSST");
    assert_eq!(shelter.body[0]["time_zone"], "Europe/Tirane");

    let found = app.get("/api/v1/agencies?q=strehez", Some(&token)).await;
    assert_eq!(codes(&found.body), vec!["AL224-QSST"]);

    let unknown = app.get("/api/v1/agencies?area=XX-99", Some(&token)).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_area");
}

async fn agency(app: &TestApp, token: &str, code: &str) -> Value {
    let list = app.get(&format!("/api/v1/agencies?q={code}&include_inactive=true"), Some(token)).await;
    list.body.as_array().unwrap().iter().find(|a| a["code"] == code).cloned().unwrap_or_else(|| panic!("{code}"))
}

#[actix_web::test]
async fn agency_edits_are_versioned_scoped_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.login("tirana.admin").await;
    let njmf = agency(&app, &admin, "AL224-NJMF").await;
    let id = njmf["id"].as_str().unwrap();
    let path = format!("/api/v1/agencies/{id}");
    let res = app
        .patch(
            &path,
            Some(&admin),
            &json!({"version": njmf["version"], "phone": "+355 4 222 2222", "hours": "Mon–Fri 08:00–16:00"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["phone"], "+355 4 222 2222");
    assert_eq!(res.body["version"], njmf["version"].as_i64().unwrap() + 1);
    assert_eq!(res.body["name"], njmf["name"], "absent fields stay");

    // A second editor still holding the old version gets 412 and the current record.
    let stale = app.patch(&path, Some(&admin), &json!({"version": njmf["version"], "phone": "+355 1"})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["phone"], "+355 4 222 2222");
    assert_eq!(stale.body["version"], res.body["version"]);

    // null clears an optional field.
    let cleared = app.patch(&path, Some(&admin), &json!({"version": res.body["version"], "phone": null})).await;
    assert_eq!(cleared.body["phone"], Value::Null);

    let other = agency(&app, &admin, "AL221-NJMF").await;
    let res = app
        .patch(
            &format!("/api/v1/agencies/{}", other["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"version": other["version"], "phone": "1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    // The areas an agency serves are its users' data scope: only a system administrator widens it.
    let widen =
        app.patch(&path, Some(&admin), &json!({"version": cleared.body["version"], "area_codes": ["AL-11"]})).await;
    assert_eq!(widen.status, StatusCode::FORBIDDEN);
    let system = app.login("admin").await;
    let bad = app
        .patch(
            &path,
            Some(&system),
            &json!({"version": cleared.body["version"], "time_zone": "Europe/Tirana", "area_codes": ["AL224", "NOPE"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> =
        bad.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["time_zone", "area_codes[1]"]);
    let too_long =
        app.patch(&path, Some(&admin), &json!({"version": cleared.body["version"], "notes": "x".repeat(2001)})).await;
    assert_eq!(too_long.body["errors"][0]["field"], "notes");
    let unchanged = app.get(&path, Some(&admin)).await;
    assert_eq!(unchanged.body["version"], cleared.body["version"], "nothing half-written");

    // Every accepted edit is in the audit log, with who made it.
    let agency_id = id.to_owned();
    let audited: Vec<(String, Option<String>)> = app
        .db(move |conn| {
            use diesel::prelude::*;
            use terren_api::db::schema::audit_log;
            audit_log::table
                .filter(audit_log::entity_id.eq(agency_id))
                .order(audit_log::seq.asc())
                .select((audit_log::action, audit_log::actor_user_id))
                .load(conn)
                .unwrap()
        })
        .await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        audited,
        vec![("agency.update".to_owned(), Some(admin_id.clone())), ("agency.update".to_owned(), Some(admin_id))]
    );

    let field = app.login("tirana.field").await;
    let res = app.patch(&path, Some(&field), &json!({"version": cleared.body["version"], "phone": "1"})).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn system_admins_create_agencies_with_checked_fields() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let request = json!({
        "code": "AL224-QEND-EMERG", "name": "Qendra e emergjencës për fëmijë", "name_en": "Emergency centre for children",
        "agency_type": "shelter", "municipality_code": "AL224", "area_codes": ["AL224"], "is_24_7": true, "capacity": 12
    });
    let res = app.post("/api/v1/agencies", Some(&admin), &request).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["capacity"], 12);
    assert_eq!(res.body["time_zone"], "Europe/Tirane");
    assert_eq!(res.body["area_codes"], json!(["AL224"]));
    let again = app.post("/api/v1/agencies", Some(&admin), &request).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let mut bad = request.clone();
    bad["code"] = json!("X-1");
    bad["agency_type"] = json!("spaceship");
    bad["time_zone"] = json!("Mars/Olympus");
    bad["municipality_code"] = json!("AL-11");
    let res = app.post("/api/v1/agencies", Some(&admin), &bad).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = res.body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["unknown_code", "unknown_time_zone", "unknown_area"]);

    let agency_admin = app.login("tirana.admin").await;
    let mut other = request.clone();
    other["code"] = json!("X-2");
    assert_eq!(app.post("/api/v1/agencies", Some(&agency_admin), &other).await.status, StatusCode::FORBIDDEN);
}
