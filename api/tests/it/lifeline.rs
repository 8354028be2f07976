//! The SMS lifeline: an emergency sent by SMS from a phone without data pages the duty rota and
//! later merges with the phone's upload of the same sighting; forged, copied and malformed texts
//! are refused, logged and page nobody.

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use serde_json::json;
use terren_api::db::schema::{audit_log, identifications, outbox_jobs};
use terren_contract::auth::TokenResponse;
use terren_contract::identifications::Identification;

use crate::fixtures::lifeline::{
    Phone, WEBHOOK_URL, app_with_lifeline, deliver, emergency_message, form, inbound_log, is_silent, moments_ago,
    post_form, twiml,
};
use crate::fixtures::paging::{run_worker, sms_gateway, texts_to, three_steps_and_a_fallback};
use crate::fixtures::sighting;
use crate::harness::TestApp;

const SIGHTING: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b";

async fn actions_on(app: &TestApp, id: &'static str) -> Vec<String> {
    app.db(move |conn| {
        audit_log::table
            .filter(audit_log::entity_id.eq(id))
            .order(audit_log::seq.asc())
            .select(audit_log::action)
            .load(conn)
            .unwrap()
    })
    .await
}

async fn conditions_of(app: &TestApp) -> String {
    app.db(|conn| {
        identifications::table.find(SIGHTING).select(identifications::visible_conditions).get_result(conn).unwrap()
    })
    .await
}

async fn sightings(app: &TestApp) -> i64 {
    app.db(|conn| identifications::table.count().get_result(conn).unwrap()).await
}

async fn jobs(app: &TestApp) -> i64 {
    app.db(|conn| outbox_jobs::table.count().get_result(conn).unwrap()).await
}

fn refused(reason: &str) -> (String, Option<String>, bool) {
    ("refused".to_owned(), Some(reason.to_owned()), true)
}

#[actix_web::test]
async fn an_sms_only_emergency_pages_the_rota_and_merges_with_the_later_upload() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    three_steps_and_a_fallback(&app).await;
    let mut phone = Phone::enrol(&app, "tirana.field").await;

    let text = phone.emergency(SIGHTING, moments_ago(&app));
    let answer = twiml(&deliver(&app, "SM-1", &text).await);
    assert!(answer.contains("<Message>Terren: emergjenca u mor"), "{answer}");
    assert!(answer.contains("Ref AZorPE1e") && answer.contains("EN: emergency received"), "{answer}");
    let confirmation = answer.split("<Message>").nth(1).unwrap().split("</Message>").next().unwrap();
    assert!(confirmation.len() <= 160 && terren_contract::lifeline::is_gsm7_basic(confirmation), "{confirmation}");

    // Paged exactly as the same emergency sent online is (see `alerts.rs`): the child-protection
    // unit of the place, whose administrator the fallback reaches.
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await, ["+355690000009"], "the rota of the place is paged");
    let alerts = app.get("/api/v1/alerts?source=field_identification", Some(&phone.token)).await;
    assert_eq!(alerts.body.as_array().unwrap().len(), 1, "{}", alerts.body);
    assert_eq!(alerts.body[0]["identification_id"], SIGHTING);
    assert_eq!(alerts.body[0]["agency"]["code"], "AL224-NJMF");

    let provisional: Identification =
        app.get(&format!("/api/v1/identifications/{SIGHTING}"), Some(&phone.token)).await.read(StatusCode::OK);
    assert!(provisional.provisional && provisional.emergency);
    assert_eq!((provisional.subject_type.as_str(), provisional.sex.as_str()), ("child", "female"));
    assert_eq!(provisional.risk_level, "emergency");
    assert_eq!(conditions_of(&app).await, r#"["injury"]"#, "withheld from the field worker, stored");
    assert_eq!(provisional.areas.municipality.as_ref().unwrap().code, "AL224");
    assert_eq!(provisional.recorded_by.display_name, "Punonjëse terreni QKT (demo)");

    // Hours later the phone has data and uploads the whole sighting under the same id.
    app.clock.advance(Duration::hours(3));
    run_worker(&app).await;
    let paged = texts_to(&gateway).await.len();
    let res = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": phone.refresh_token })).await;
    phone.token = res.read::<TokenResponse>(StatusCode::OK).access_token;
    let mut full = sighting(SIGHTING);
    full["emergency"] = json!(true);
    full["risk_level"] = json!("emergency");
    let upload = app.post_idempotent("/api/v1/identifications", &phone.token, "upload-1", &full).await;
    let merged: Identification = upload.read(StatusCode::CREATED);
    assert!(!merged.provisional);
    assert_eq!(merged.version, 2);
    assert_eq!(merged.received_at, provisional.received_at, "first received by SMS");
    assert_eq!(merged.notes.as_deref(), Some("says her name is Ana"));
    assert_eq!(conditions_of(&app).await, r#"["exposure"]"#, "the upload's details");
    assert!(merged.candidates.is_some(), "answered as a create");
    assert_eq!(sightings(&app).await, 1, "one record");
    run_worker(&app).await;
    assert_eq!(texts_to(&gateway).await.len(), paged, "the upload pages nobody again");
    let outbox = app.db(|conn| {
        outbox_jobs::table
            .filter(outbox_jobs::kind.eq("identification.emergency"))
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    });
    assert_eq!(outbox.await, 1, "one emergency job");
    let alerts = app.get("/api/v1/alerts?source=field_identification", Some(&phone.token)).await;
    assert_eq!(alerts.body.as_array().unwrap().len(), 1, "the alert already raised is kept");
    assert_eq!(
        actions_on(&app, SIGHTING).await.iter().filter(|a| !a.ends_with(".read")).collect::<Vec<_>>(),
        ["identification.create", "lifeline.sms_received", "identification.complete"]
    );

    // The endpoint's rules hold from then on: the same request again is a replay, the same
    // content without the key the record as it is, other content a conflict.
    let replay = app.post_idempotent("/api/v1/identifications", &phone.token, "upload-1", &full).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.headers.get("Idempotent-Replayed").unwrap(), "true");
    let again = app.post_idempotent("/api/v1/identifications", &phone.token, "upload-2", &full).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    full["notes"] = json!("something else");
    let other = app.post_idempotent("/api/v1/identifications", &phone.token, "upload-3", &full).await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["code"], "already_exists");
    assert_eq!(inbound_log(&app).await, [("accepted".to_owned(), None, true)]);
}

#[actix_web::test]
async fn only_the_recorder_completes_a_provisional_sighting() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let mut phone = Phone::enrol(&app, "tirana.field").await;
    let text = phone.emergency(SIGHTING, moments_ago(&app));
    assert!(!is_silent(&deliver(&app, "SM-1", &text).await));
    let colleague = app.login("tirana.coord").await;
    let mut full = sighting(SIGHTING);
    full["emergency"] = json!(true);
    let res = app.post_idempotent("/api/v1/identifications", &colleague, "k-1", &full).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert_eq!(res.body["code"], "already_exists");
    let still: Identification =
        app.get(&format!("/api/v1/identifications/{SIGHTING}"), Some(&phone.token)).await.read(StatusCode::OK);
    assert!(still.provisional && still.version == 1);
}

#[actix_web::test]
async fn a_message_delivered_twice_or_sent_again_is_one_emergency() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let mut phone = Phone::enrol(&app, "tirana.field").await;
    let text = phone.emergency(SIGHTING, moments_ago(&app));
    let first = deliver(&app, "SM-1", &text).await;
    let second = deliver(&app, "SM-1", &text).await;
    assert!(!is_silent(&first));
    assert_eq!(twiml(&first), twiml(&second), "the gateway's retry gets the first answer");
    // No confirmation reached the phone, so it sends the emergency again with its next counter.
    let resent = phone.emergency(SIGHTING, moments_ago(&app));
    assert_eq!(twiml(&deliver(&app, "SM-2", &resent).await), twiml(&first));
    run_worker(&app).await;
    assert_eq!(sightings(&app).await, 1);
    assert_eq!(texts_to(&gateway).await.len(), 1, "paged once");
    let log = inbound_log(&app).await;
    assert_eq!(log, [("accepted".to_owned(), None, true), ("already_recorded".to_owned(), None, true)]);

    // The upload came first and the SMS, held up in the network, after: it changes nothing.
    let other = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7c";
    let mut full = sighting(other);
    full["emergency"] = json!(true);
    let res = app.post_idempotent("/api/v1/identifications", &phone.token, "k-2", &full).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let late = phone.emergency(other, moments_ago(&app));
    assert!(!is_silent(&deliver(&app, "SM-3", &late).await));
    let kept: Identification =
        app.get(&format!("/api/v1/identifications/{other}"), Some(&phone.token)).await.read(StatusCode::OK);
    assert!(!kept.provisional && kept.version == 1 && kept.notes.is_some());
}

#[actix_web::test]
async fn forged_copied_and_malformed_messages_are_refused_logged_and_page_nobody() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let mut phone = Phone::enrol(&app, "tirana.field").await;
    let now = moments_ago(&app);

    // Not signed by the gateway.
    let text = phone.emergency(SIGHTING, now);
    let res = post_form(&app, &form("SM-1", &text), "bm90IHRoZSBnYXRld2F5J3M=").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.body["code"], "sms_signature_invalid");
    let res = post_form(&app, &form("SM-1", &text), "").await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // Signed for another URL.
    let params = form("SM-1", &text);
    let elsewhere = terren_api::lifeline::signature::sign(b"gateway-secret", "https://elsewhere.example/", &params);
    assert_eq!(post_form(&app, &params, &elsewhere).await.status, StatusCode::FORBIDDEN);

    // Composed without the device's secret.
    let forged = emergency_message(phone.session_id, 50, SIGHTING, now).encode(b"a guess at the secret").unwrap();
    assert!(is_silent(&deliver(&app, "SM-2", &forged).await));
    // A session nobody has.
    let unknown = emergency_message(uuid::Uuid::now_v7(), 50, SIGHTING, now).encode(&phone.secret).unwrap();
    assert!(is_silent(&deliver(&app, "SM-3", &unknown).await));
    // Malformed, or not a lifeline text at all.
    assert!(is_silent(&deliver(&app, "SM-4", "Ndihmë, fëmijë në rrezik").await));
    assert!(is_silent(&deliver(&app, "SM-5", "T1 garbage").await));
    assert!(is_silent(&deliver(&app, "SM-6", &text.replace(" cfei ", " cfeq ")).await));
    assert!(is_silent(&deliver(&app, "SM-7", "T9 a b c").await));
    // Outside the window: seen too long ago, or in the future.
    let old =
        emergency_message(phone.session_id, 60, SIGHTING, now - Duration::hours(3)).encode(&phone.secret).unwrap();
    assert!(is_silent(&deliver(&app, "SM-8", &old).await));
    let ahead =
        emergency_message(phone.session_id, 61, SIGHTING, now + Duration::hours(1)).encode(&phone.secret).unwrap();
    assert!(is_silent(&deliver(&app, "SM-9", &ahead).await));
    // Composed by a genuine phone of someone who may not record sightings.
    let mut case_manager = Phone::enrol(&app, "tirana.pmf").await;
    let not_theirs = case_manager.emergency(SIGHTING, now);
    assert!(is_silent(&deliver(&app, "SM-13", &not_theirs).await));
    run_worker(&app).await;
    assert_eq!(sightings(&app).await, 0);
    assert_eq!(jobs(&app).await, 0, "nothing queued");
    assert!(texts_to(&gateway).await.is_empty(), "nobody paged");

    // The genuine text is accepted; a copy of it sent later (another message id) is refused by
    // its counter, and so is an older counter.
    assert!(!is_silent(&deliver(&app, "SM-10", &text).await));
    assert!(is_silent(&deliver(&app, "SM-11", &text).await));
    let older = emergency_message(phone.session_id, 1, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7d", now)
        .encode(&phone.secret)
        .unwrap();
    assert!(is_silent(&deliver(&app, "SM-12", &older).await), "counter 1 was taken");
    run_worker(&app).await;
    assert_eq!(sightings(&app).await, 1);
    assert_eq!(texts_to(&gateway).await.len(), 1, "the genuine emergency only");

    assert_eq!(
        inbound_log(&app).await,
        [
            ("refused".to_owned(), Some("bad_signature".to_owned()), false),
            ("refused".to_owned(), Some("bad_signature".to_owned()), false),
            ("refused".to_owned(), Some("bad_signature".to_owned()), false),
            refused("bad_mac"),
            refused("bad_mac"),
            refused("not_one_sms"),
            refused("malformed"),
            refused("malformed"),
            refused("unknown_version"),
            refused("too_old"),
            refused("in_future"),
            refused("invalid_sighting"),
            ("accepted".to_owned(), None, true),
            refused("replayed_counter"),
            refused("replayed_counter"),
        ]
    );
    // A forged request did not take the id of a real message: SM-1 may still arrive.
    let genuine = phone.emergency("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7e", moments_ago(&app));
    assert!(!is_silent(&deliver(&app, "SM-1", &genuine).await));
}

#[actix_web::test]
async fn a_revoked_session_or_a_disabled_user_gets_nothing() {
    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let mut logged_out = Phone::enrol(&app, "tirana.field").await;
    let res = app.post("/api/v1/auth/logout", None, &json!({ "refresh_token": logged_out.refresh_token })).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let text = logged_out.emergency(SIGHTING, moments_ago(&app));
    assert!(is_silent(&deliver(&app, "SM-1", &text).await));

    let mut disabled = Phone::enrol(&app, "tirana.duty").await;
    let id = crate::fixtures::user_id(&app, "tirana.duty").await;
    let at = app.clock_naive();
    app.db(move |conn| {
        use terren_api::db::schema::users;
        diesel::update(users::table.find(id)).set(users::disabled_at.eq(at)).execute(conn).unwrap()
    })
    .await;
    let text = disabled.emergency("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7c", moments_ago(&app));
    assert!(is_silent(&deliver(&app, "SM-2", &text).await));

    run_worker(&app).await;
    assert_eq!(sightings(&app).await, 0);
    assert!(texts_to(&gateway).await.is_empty());
    assert_eq!(inbound_log(&app).await, [refused("session_ended"), refused("user_disabled")]);
}

#[actix_web::test]
async fn the_login_answer_enrols_the_phone_only_when_the_lifeline_is_on() {
    let app = TestApp::spawn().await;
    let res = app.login_full("tirana.field", crate::harness::PASSWORD, "phone-1").await;
    assert!(res.read::<TokenResponse>(StatusCode::OK).lifeline.is_none());
    let res = post_form(&app, &form("SM-1", "T1"), "").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.body["code"], "sms_lifeline_off");

    let gateway = sms_gateway().await;
    let app = app_with_lifeline(&gateway).await;
    let res = app.login_full("tirana.field", crate::harness::PASSWORD, "phone-1").await;
    let login: TokenResponse = res.read(StatusCode::OK);
    let enrolment = login.lifeline.unwrap();
    assert_eq!(enrolment.inbound_number, "+355690001111");
    assert_eq!(enrolment.format_version, 1);
    assert_eq!(enrolment.device_secret.len(), 43, "32 bytes, base64url");
    let res = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": login.refresh_token })).await;
    let refreshed: TokenResponse = res.read(StatusCode::OK);
    assert_eq!(refreshed.lifeline.unwrap().device_secret, enrolment.device_secret, "one secret per session");
    let other =
        app.login_full("tirana.field", crate::harness::PASSWORD, "phone-2").await.read::<TokenResponse>(StatusCode::OK);
    assert_ne!(other.lifeline.unwrap().device_secret, enrolment.device_secret, "each session its own");
    // Not a form.
    let res = app.post("/api/v1/sms/inbound", None, &json!({ "Body": "T1" })).await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(WEBHOOK_URL.ends_with("/api/v1/sms/inbound"));
}
