//! A referral's steps: who may take them, forwarding, concurrent answers, moving the child on.

use super::*;

#[actix_web::test]
async fn illegal_steps_are_refused_and_other_agencies_see_nothing() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "medium")).await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    let pmf = app.login("tirana.pmf").await;

    let early = app.post(&format!("{path}/start"), Some(&pmf), &json!({})).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.body["code"], "invalid_transition");
    let not_theirs = app.post(&format!("{path}/accept"), Some(&field), &json!({})).await;
    assert_eq!(not_theirs.status, StatusCode::FORBIDDEN, "the sender does not answer its own referral");

    let police = app.login("police.tirana").await;
    assert_eq!(app.get(&path, Some(&police)).await.status, StatusCode::NOT_FOUND);
    let their_inbox = app.get("/api/v1/referrals?to_agency=AL224-NJMF", Some(&police)).await;
    assert_eq!(their_inbox.body["items"], json!([]));
    assert_eq!(app.post(&format!("{path}/accept"), Some(&police), &json!({})).await.status, StatusCode::NOT_FOUND);

    let bad_reason = app.post(&format!("{path}/decline"), Some(&pmf), &json!({ "reason": "too_busy" })).await;
    assert_eq!(error_codes(&bad_reason.body), ["unknown_code"]);
    let declined = app
        .post(&format!("{path}/decline"), Some(&pmf), &json!({ "reason": "already_handled", "note": "known to us" }))
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(declined.body["status"], "declined");
    assert!(declined.body["suggested_agency"]["code"].as_str().unwrap().ends_with("-NJVNR"), "{}", declined.body);
    for kind in ["first_contact", "outcome"] {
        assert_eq!(deadline(&declined.body, kind)["state"], "void");
    }
    let late = app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.body["code"], "referral_ended");

    // The decline goes back to the sender's coordinators.
    let raised = alert_rows(&app, REFERRAL).await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].0, "referral_declined");
    let coordinator = app.login("tirana.coord").await;
    let outbox = app.get("/api/v1/referrals?box=outbox&status=declined", Some(&coordinator)).await;
    assert_eq!(outbox.body["items"][0]["decline_reason"], "already_handled");
}

#[actix_web::test]
async fn a_forwarded_referral_keeps_the_chain_and_opens_the_details_only_on_acceptance() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "high")).await;
    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    app.clock.advance(Duration::minutes(5));

    // The child's family lives in Kamëz: the case goes to Kamëz's unit, outside Tirana.
    let admin = app.login("admin").await;
    let kamez = agency_id(&app, &admin, "AL221-NJMF").await;
    let forwarded = app
        .post(
            &format!("{path}/forward"),
            Some(&pmf),
            &json!({ "to_agency_id": kamez, "note": "family lives in Kamëz" }),
        )
        .await;
    assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);
    assert_eq!(forwarded.body["status"], "forwarded");
    let next = forwarded.body["forwarded_to"].as_str().unwrap().to_owned();

    let kamez_pmf = person(&app, "kamez.pmf", "AL221-NJMF", &[Role::CaseManager]).await.token;
    let waiting = app.get(&format!("/api/v1/referrals/{next}"), Some(&kamez_pmf)).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    assert_eq!(waiting.body["forwarded_from"], REFERRAL);
    assert_eq!(waiting.body["from_agency"]["code"], "AL224-NJMF");
    assert_eq!(waiting.body["routing"]["method"], "forward");
    assert!(waiting.body.get("identification_id").is_none());
    let sighting_path = format!("/api/v1/identifications/{SIGHTING}");
    assert_eq!(app.get(&sighting_path, Some(&kamez_pmf)).await.status, StatusCode::NOT_FOUND);

    let accepted = app.post(&format!("/api/v1/referrals/{next}/accept"), Some(&kamez_pmf), &json!({})).await;
    assert_eq!(accepted.body["identification_id"], SIGHTING);
    let read = app.get(&sighting_path, Some(&kamez_pmf)).await;
    assert_eq!(read.status, StatusCode::OK, "an accepted referral with consent opens the sighting");

    // The field worker who started the chain follows it to the end.
    let mine = app.get("/api/v1/referrals?box=mine", Some(&field)).await;
    let ids: Vec<&str> = mine.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [next.as_str(), REFERRAL]);
}

#[actix_web::test]
async fn answers_at_once_leave_one_history_and_the_last_shelter_place_goes_once() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
    refer(&app, &field, &referral(REFERRAL, &sighting, "high")).await;
    let second_pmf = person(&app, "pmf.two", "AL224-NJMF", &[Role::CaseManager]).await.token;
    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    let (accept_path, decline_path) = (format!("{path}/accept"), format!("{path}/decline"));
    let (empty, reason) = (json!({}), json!({ "reason": "no_capacity" }));
    let (accept, decline) = futures_util::join!(
        app.post(&accept_path, Some(&pmf), &empty),
        app.post(&decline_path, Some(&second_pmf), &reason),
    );
    let mut statuses = [accept.status.as_u16(), decline.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", accept.body, decline.body);
    let loser = if accept.status == StatusCode::CONFLICT { &accept } else { &decline };
    assert!(["referral_ended", "invalid_transition"].contains(&loser.body["code"].as_str().unwrap()), "{}", loser.body);
    let kinds = event_kinds(&app, REFERRAL).await;
    let answers = kinds.iter().filter(|k| *k == "accepted" || *k == "declined").count();
    assert_eq!(answers, 1, "{kinds:?}");

    // Two placements asked for, one place left when both are accepted at once.
    let admin = app.login("admin").await;
    let shelter = agency_id(&app, &admin, "AL224-QSST").await;
    let current = app.get(&format!("/api/v1/agencies/{shelter}"), Some(&admin)).await;
    let patched = app
        .patch(
            &format!("/api/v1/agencies/{shelter}"),
            Some(&admin),
            &json!({ "version": current.body["version"], "capacity": 2 }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let staff = [
        person(&app, "qsst.one", "AL224-QSST", &[Role::PartnerResponder]).await.token,
        person(&app, "qsst.two", "AL224-QSST", &[Role::PartnerResponder]).await.token,
    ];
    let mut placements = Vec::new();
    for n in 0..2 {
        let mut body = referral(&format!("019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6c0{n}"), &sighting, "high");
        body["services"] = json!(["shelter_placement"]);
        body["to_agency_id"] = json!(shelter);
        placements.push(refer(&app, &field, &body).await["id"].as_str().unwrap().to_owned());
    }
    let occupancy =
        app.put(&format!("/api/v1/agencies/{shelter}/occupancy"), Some(&staff[0]), &json!({ "occupied": 1 })).await;
    assert_eq!(occupancy.status, StatusCode::NO_CONTENT, "{}", occupancy.body);
    let paths: Vec<String> = placements.iter().map(|id| format!("/api/v1/referrals/{id}/accept")).collect();
    let (first, second) = futures_util::join!(
        app.post(&paths[0], Some(&staff[0]), &empty),
        app.post(&paths[1], Some(&staff[1]), &empty),
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", first.body, second.body);
    let loser = if first.status == StatusCode::CONFLICT { &first } else { &second };
    assert_eq!(loser.body["code"], "shelter_full");
    let now = app.get(&format!("/api/v1/agencies/{shelter}"), Some(&admin)).await;
    assert_eq!(now.body["occupied"], 2);
    let refused = if first.status == StatusCode::CONFLICT { &placements[0] } else { &placements[1] };
    let still = app.get(&format!("/api/v1/referrals/{refused}"), Some(&staff[0])).await;
    assert_eq!(still.body["status"], "sent", "a refused acceptance changes nothing");
}

#[actix_web::test]
async fn a_referral_moves_the_child_on_and_keeps_the_precise_location_while_open() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let sighting = record_sighting(&app, SIGHTING, |_| {}).await;
    let other = record_sighting(&app, "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a02", |_| {}).await;
    let profile = "019a2b3d-4d5e-7f00-8a1b-000000000009";
    let linked = app
        .post_idempotent(
            &format!("/api/v1/identifications/{sighting}/link"),
            &field,
            "link-1",
            &json!({ "new_profile": { "id": profile, "given_name": "Ana", "aliases": [] } }),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.body);
    let sent = refer(&app, &field, &referral(REFERRAL, &sighting, "medium")).await;
    assert_eq!(sent["profile"]["id"], profile, "the sighting's profile comes along");
    let status = |body: &Value| body["status"].as_str().unwrap().to_owned();
    let read = app.get(&format!("/api/v1/child-profiles/{profile}"), Some(&field)).await;
    assert_eq!(status(&read.body), "referred");

    // A hundred days on the referral is still open: its sighting keeps its exact point, the
    // other sighting of the same morning is coarsened.
    app.clock.advance(Duration::days(100));
    app.run_retention().await;
    let field = app.login("tirana.field").await;
    let kept = app.get(&format!("/api/v1/identifications/{sighting}"), Some(&field)).await;
    assert_eq!(kept.body["location"]["lat"], 41.3275);
    let coarsened = app.get(&format!("/api/v1/identifications/{other}"), Some(&field)).await;
    assert_ne!(coarsened.body["location"]["lat"], 41.3275);

    let pmf = app.login("tirana.pmf").await;
    let path = format!("/api/v1/referrals/{REFERRAL}");
    app.post(&format!("{path}/accept"), Some(&pmf), &json!({})).await;
    let closed = app.post(&format!("{path}/close"), Some(&pmf), &json!({ "outcome": "case_opened" })).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(deadline(&closed.body, "first_contact")["state"], "breached", "never contacted within 3 working days");
    assert_eq!(deadline(&closed.body, "outcome")["state"], "breached");
    let read = app.get(&format!("/api/v1/child-profiles/{profile}"), Some(&field)).await;
    assert_eq!(status(&read.body), "in_case_management");
    // The unit's case is opened with it, identified by the field squad that sent the child.
    let cases = app.get(&format!("/api/v1/child-profiles/{profile}/cases"), Some(&pmf)).await;
    assert_eq!(cases.body.as_array().map(Vec::len), Some(1), "{}", cases.body);
    let case = &cases.body[0];
    assert_eq!((case["identified_by"].as_str(), case["referral_id"].as_str()), (Some("field_squad"), Some(REFERRAL)));
    assert_eq!(case["opened_at"], closed.body["ended_at"]);
    assert!(case.get("risk_level").is_none() && case.get("closed_at").is_none(), "{case}");
}
