//! Protection cases: opened, assessed and closed by the child-protection unit, seen by whoever may
//! see the child, every change audited.

use actix_web::http::StatusCode;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{audit_log, protection_cases};

use terren_contract::Role;

use crate::fixtures::{error_codes, person, sighting};
use crate::harness::TestApp;

const SIGHTING: &str = "019a2b3c-4d5e-7f00-8a1b-00000000ca01";
const PROFILE: &str = "019a2b3d-4d5e-7f00-8a1b-00000000ca01";
const CASE: &str = "019a2b3e-4d5e-7f00-8a1b-00000000ca01";
const MEASURE: &str = "019a2b3f-4d5e-7f00-8a1b-00000000ca01";

/// A girl seen by the Tirana field worker and linked to a new profile born in 2016.
async fn child(app: &TestApp) -> String {
    let field = app.login("tirana.field").await;
    let res = app.post_idempotent("/api/v1/identifications", &field, "case-s", &sighting(SIGHTING)).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let link = json!({ "new_profile": { "id": PROFILE, "given_name": "Ana", "birth_year": 2016 } });
    let res = app.post_idempotent(&format!("/api/v1/identifications/{SIGHTING}/link"), &field, "case-l", &link).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    PROFILE.to_owned()
}

fn opening() -> Value {
    json!({
        "id": CASE,
        "identified_by": "field_squad",
        "risk_level": "medium",
        "primary_problem": "street_situation",
        "ethnicity": "roma",
    })
}

async fn status_of(app: &TestApp, token: &str) -> String {
    let res = app.get(&format!("/api/v1/child-profiles/{PROFILE}"), Some(token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["status"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_case_manager_opens_assesses_and_closes_a_case_and_every_step_is_audited() {
    let app = TestApp::spawn().await;
    let profile = child(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let cases = format!("/api/v1/child-profiles/{profile}/cases");

    let res = app.post(&cases, Some(&pmf), &opening()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let case = res.body;
    assert_eq!(case["id"], CASE);
    assert_eq!(case["age_band"], "10-12", "born 2016, opened in 2026");
    assert_eq!(case["agency"]["code"], "AL224-NJMF");
    assert_eq!(case["municipality"]["name"], "Tiranë");
    assert_eq!(case["ethnicity"], "roma");
    assert_eq!(status_of(&app, &pmf).await, "in_case_management");

    let again = app.post(&cases, Some(&pmf), &opening()).await;
    assert_eq!(again.status, StatusCode::OK, "the same opening again is the case made the first time");
    assert_eq!(again.body["id"], CASE);
    assert_eq!(again.body["version"], 1);
    let second = json!({ "id": "019a2b3e-4d5e-7f00-8a1b-00000000ca02", "identified_by": "police" });
    let res = app.post(&cases, Some(&pmf), &second).await;
    assert_eq!((res.status, res.body["code"].as_str()), (StatusCode::CONFLICT, Some("case_already_open")));

    // What a case says is for those who work cases: the field worker who found the child sees
    // the child but no case, the police not even that.
    let field = app.login("tirana.field").await;
    let res = app.get(&cases, Some(&field)).await;
    assert_eq!((res.status, res.body.clone()), (StatusCode::OK, json!([])));
    assert_eq!(app.get(&format!("/api/v1/protection-cases/{CASE}"), Some(&field)).await.status, StatusCode::NOT_FOUND);
    let res = app.get(&cases, Some(&app.login("tirana.pmf").await)).await;
    assert_eq!(res.body.as_array().unwrap().len(), 1);

    // Only the managing unit's case workers change it.
    let case_path = format!("/api/v1/protection-cases/{CASE}");
    let raise = json!({ "version": 1, "risk_level": "high" });
    for (who, agency, role, status, code) in [
        ("njmf.field", "AL224-NJMF", Role::FieldWorker, StatusCode::FORBIDDEN, "not_case_worker"),
        ("qkt.pmf", "AL224-QKT", Role::CaseManager, StatusCode::FORBIDDEN, "not_child_protection_unit"),
        ("dmps.pmf", "AL224-DMPS", Role::CaseManager, StatusCode::FORBIDDEN, "not_your_agency"),
    ] {
        let token = person(&app, who, agency, &[role]).await.token;
        let res = app.patch(&case_path, Some(&token), &raise).await;
        assert_eq!((res.status, res.body["code"].as_str()), (status, Some(code)), "{who}");
    }
    let coordinator = app.login("tirana.coord").await;
    assert_eq!(app.patch(&case_path, Some(&coordinator), &raise).await.status, StatusCode::NOT_FOUND);
    let police = app.login("police.tirana").await;
    assert_eq!(app.get(&case_path, Some(&police)).await.status, StatusCode::NOT_FOUND);

    // The unit's coordinator works it too, without reading the community.
    let njmf_coordinator = person(&app, "njmf.coord", "AL224-NJMF", &[Role::Coordinator]).await.token;
    let res = app.patch(&case_path, Some(&njmf_coordinator), &raise).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!((res.body["risk_level"].as_str(), res.body["version"].as_i64()), (Some("high"), Some(2)));
    assert!(res.body.get("ethnicity").is_none(), "{}", res.body);
    assert_eq!(res.body["withheld"], json!(["ethnicity"]));
    let stale = app.patch(&case_path, Some(&pmf), &json!({ "version": 1, "primary_problem": "neglect" })).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["risk_level"], "high", "412 answers the case as it is");

    let measures = format!("{case_path}/measures");
    let measure = json!({ "id": MEASURE, "measure": "emergency_measure" });
    let res = app.post(&measures, Some(&pmf), &measure).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["measures"][0]["measure"], "emergency_measure");
    let res = app.post(&measures, Some(&pmf), &measure).await;
    assert_eq!((res.status, res.body["measures"].as_array().unwrap().len()), (StatusCode::OK, 1));
    let res = app
        .post(&measures, Some(&pmf), &json!({ "id": "019a2b3f-4d5e-7f00-8a1b-00000000ca02", "measure": "jail" }))
        .await;
    assert_eq!(
        (res.status, error_codes(&res.body)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["unknown_code".to_owned()])
    );

    let version = app.get(&case_path, Some(&pmf)).await.body["version"].as_i64().unwrap();
    let close = format!("{case_path}/close");
    let early = json!({ "version": version, "closure_reason": "risk_reduced", "closed_at": "2026-03-01T00:00:00Z" });
    let res = app.post(&close, Some(&pmf), &early).await;
    assert_eq!(
        (res.status, error_codes(&res.body)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["before_opened".to_owned()])
    );
    let res = app.post(&close, Some(&pmf), &json!({ "version": version, "closure_reason": "grew_up" })).await;
    assert_eq!(
        (res.status, error_codes(&res.body)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["unknown_code".to_owned()])
    );
    let res = app.post(&close, Some(&pmf), &json!({ "version": version, "closure_reason": "risk_reduced" })).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["closure_reason"], "risk_reduced");
    assert!(res.body["closed_at"].is_string());
    assert_eq!(status_of(&app, &pmf).await, "closed");
    let res = app.patch(&case_path, Some(&pmf), &json!({ "version": version + 1, "risk_level": "low" })).await;
    assert_eq!((res.status, res.body["code"].as_str()), (StatusCode::CONFLICT, Some("case_closed")));

    let actions: Vec<String> = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::entity_id.eq(CASE))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        actions,
        [
            "protection_case.open",
            "protection_case.update",
            "protection_case.measure",
            "protection_case.read",
            "protection_case.close",
        ],
        "every change and every read of the case is audited; refusals change nothing"
    );
}

#[actix_web::test]
async fn a_bad_opening_is_refused_with_codes_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let profile = child(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let cases = format!("/api/v1/child-profiles/{profile}/cases");
    let with = |field: &str, value: Value| {
        let mut body = opening();
        body[field] = value;
        body
    };
    for (body, code) in [
        (with("identified_by", json!("neighbour")), "unknown_code"),
        (with("primary_problem", json!("poverty")), "unknown_code"),
        (with("opened_at", json!("2027-01-01T00:00:00Z")), "in_future"),
        (with("referral_id", json!("019a2b3e-4d5e-7f00-8a1b-0000000000ff")), "unknown_referral"),
    ] {
        let res = app.post(&cases, Some(&pmf), &body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", res.body);
        assert_eq!(error_codes(&res.body), [code], "{body}");
    }
    let res = app.post(&cases, Some(&pmf), &with("identified_by", json!(""))).await;
    assert_eq!(
        (res.status, error_codes(&res.body)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["invalid_length".to_owned()])
    );
    let res =
        app.post("/api/v1/child-profiles/019a2b3d-4d5e-7f00-8a1b-0000000000ff/cases", Some(&pmf), &opening()).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let written: i64 = app.db(|conn| protection_cases::table.count().get_result(conn).unwrap()).await;
    assert_eq!(written, 0);
    assert_eq!(status_of(&app, &pmf).await, "identified", "a refused opening leaves the child's status");
}

#[actix_web::test]
async fn the_unit_exports_its_cases_for_the_national_case_register_as_its_readers_may_read_them() {
    let app = TestApp::spawn().await;
    let profile = child(&app).await;
    let pmf = app.login("tirana.pmf").await;
    let opened =
        app.post_idempotent(&format!("/api/v1/child-profiles/{profile}/cases"), &pmf, "reg-o", &opening()).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let measure = json!({ "id": MEASURE, "measure": "emergency_measure" });
    let res = app.post_idempotent(&format!("/api/v1/protection-cases/{CASE}/measures"), &pmf, "reg-m", &measure).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    // JSON: every field the register asks for; the case manager reads the name and the community.
    let res = app.get("/api/v1/protection-cases/register?period=2026-Q1&format=json", Some(&pmf)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let entries = res.body.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", res.body);
    let entry = &entries[0];
    assert_eq!(
        (entry["case_id"].as_str(), entry["given_name"].as_str(), entry["ethnicity"].as_str()),
        (Some(CASE), Some("Ana"), Some("roma"))
    );
    assert_eq!(
        (entry["sex"].as_str(), entry["birth_year"].as_i64(), entry["age_band_at_opening"].as_str()),
        (Some("female"), Some(2016), Some("10-12"))
    );
    assert_eq!(
        (entry["managing_unit"]["code"].as_str(), entry["municipality"]["code"].as_str()),
        (Some("AL224-NJMF"), Some("AL224"))
    );
    assert_eq!(entry["measures"][0]["measure"], "emergency_measure");
    assert_eq!((entry["identified_by"].as_str(), entry["risk_level"].as_str()), (Some("field_squad"), Some("medium")));
    assert!(entry.get("closed_on").is_none());
    let attachment = res.headers.get("content-disposition").unwrap().to_str().unwrap();
    assert_eq!(attachment, "attachment; filename=\"terren-regjistri-AL224-NJMF-2026-Q1.json\"");

    // CSV for the spreadsheet: a byte-order mark, headers in both languages, the same case.
    let res = app.get("/api/v1/protection-cases/register?period=2026-Q1", Some(&pmf)).await;
    assert_eq!(res.status, StatusCode::OK);
    let text = std::str::from_utf8(&res.bytes).unwrap().strip_prefix('\u{feff}').expect("byte-order mark");
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][2], "Emri / Given name");
    assert_eq!(rows[0].len(), rows[1].len());
    let column = |name: &str| rows[0].iter().position(|h| h.ends_with(name)).unwrap();
    assert_eq!((rows[1][column("Given name")].as_str(), rows[1][column("Managing unit")].is_empty()), ("Ana", false));
    assert!(rows[1][column("Protection measures")].starts_with("emergency_measure 2026-"));

    // Another period has nothing; only the unit's case workers export it; every export audited.
    let earlier = app.get("/api/v1/protection-cases/register?period=2025&format=json", Some(&pmf)).await;
    assert_eq!(earlier.body, json!([]));
    for (who, code) in [("tirana.field", "not_case_worker"), ("tirana.coord", "not_child_protection_unit")] {
        let token = app.login(who).await;
        let res = app.get("/api/v1/protection-cases/register?period=2026-Q1", Some(&token)).await;
        assert_eq!((res.status, res.body["code"].as_str()), (StatusCode::FORBIDDEN, Some(code)), "{who}");
    }
    let other_unit = person(&app, "elbasan.pmf", "AL213-NJMF", &[Role::CaseManager]).await;
    let res = app.get("/api/v1/protection-cases/register?period=2026-Q1&format=json", Some(&other_unit.token)).await;
    assert_eq!(res.body, json!([]), "another unit's cases are not in its register");
    let bad = app.get("/api/v1/protection-cases/register?period=2026-Q1&format=pdf", Some(&pmf)).await;
    assert_eq!(error_codes(&bad.body), ["unknown_export_format"]);
    let exports: i64 = app
        .db(|conn| {
            audit_log::table.filter(audit_log::action.eq("case_register.export")).count().get_result(conn).unwrap()
        })
        .await;
    assert_eq!(exports, 4);
}
