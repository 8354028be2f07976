//! A phone's offline shift end to end: it syncs, goes offline, the world changes, it uploads the
//! shift in one batch and syncs again, and ends holding exactly what the server shows its user.

use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use super::phone::Phone;
use crate::fixtures::{referral, sighting, user_id};
use crate::harness::TestApp;

fn id(n: u32) -> String {
    format!("0190f7a0-0000-7000-8000-0000000e{n:04}")
}

async fn team(
    app: &TestApp,
    coordinator: &str,
    name: &str,
    members: &[&'static str],
    version: Option<i64>,
    id: Option<&str>,
) -> String {
    let mut ids = Vec::new();
    for member in members {
        ids.push(user_id(app, member).await);
    }
    let body = json!({ "name": name, "kind": "squad", "members": ids, "version": version });
    let res = match id {
        Some(id) => app.put(&format!("/api/v1/teams/{id}"), Some(coordinator), &body).await,
        None => app.post("/api/v1/teams", Some(coordinator), &body).await,
    };
    assert!(res.status.is_success(), "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

async fn round(app: &TestApp, coordinator: &str, n: u32, team: &str, starts: &str, ends: &str) -> String {
    let body = json!({
        "id": id(n), "team_id": team, "starts_at": starts, "ends_at": ends,
        "purpose": "patrol", "stops": [{ "area_code": "AL224" }],
    });
    let res = app.post("/api/v1/rounds", Some(coordinator), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    id(n)
}

async fn link_new(app: &TestApp, token: &str, sighting_id: &str, profile_id: &str, name: &str) {
    let body = json!({ "new_profile": { "id": profile_id, "given_name": name } });
    let path = format!("/api/v1/identifications/{sighting_id}/link");
    let res = app.post_idempotent(&path, token, &format!("link-{sighting_id}"), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}

fn statuses(outcome: &Value) -> Vec<u64> {
    outcome["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
}

#[actix_web::test]
async fn a_phone_ends_an_offline_shift_holding_exactly_what_the_server_shows() {
    let app = TestApp::spawn_with(|config| config.retention.precise_location_days = 1).await;
    let coordinator = app.login("tirana.coord").await;
    let team_a = team(&app, &coordinator, "Skuadra A", &["tirana.field", "tirana.duty"], None, None).await;
    let team_b = team(&app, &coordinator, "Skuadra B", &["tirana.duty"], None, None).await;
    let tomorrow = round(&app, &coordinator, 301, &team_a, "2026-03-03T11:00:00", "2026-03-03T13:00:00").await;
    let field = app.login("tirana.field").await;
    let (ana, alone, xhoana) = (id(1), id(2), id(4));
    for seen in [&ana, &alone, &xhoana] {
        crate::fixtures::recorded_sighting(&app, "tirana.field", &sighting(seen)).await;
    }
    link_new(&app, &field, &ana, &id(101), "Ana").await;
    link_new(&app, &field, &xhoana, &id(102), "Xhoana").await;
    let referred = app.post_idempotent("/api/v1/referrals", &field, "r-201", &referral(&id(201), &ana, "high")).await;
    assert_eq!(referred.status, StatusCode::CREATED, "{}", referred.body);

    // The first sync, two records a page.
    let mut phone = Phone::default();
    phone.sync(&app, &field, 2).await;
    assert!(phone.pages.len() >= 4, "seven records, two a page: {}", phone.pages.len());
    assert_eq!(phone.ids("identifications"), [ana.clone(), alone.clone(), xhoana.clone()]);
    assert_eq!(phone.ids("profiles"), [id(101), id(102)]);
    assert_eq!(phone.ids("referrals"), [id(201)]);
    assert_eq!(phone.ids("rounds"), [tomorrow]);
    phone.assert_current(&app, &field).await;

    // Two days offline: the unit accepts the referral, the coordinator finds Xhoana is Ana, and
    // retention coarsens the sighting of the child nobody followed.
    app.clock.advance(Duration::days(2));
    let pmf = app.login("tirana.pmf").await;
    let accepted = app.post(&format!("/api/v1/referrals/{}/accept", id(201)), Some(&pmf), &json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let coordinator = app.login("tirana.coord").await;
    let merge = json!({ "from_profile_id": id(102), "reason": "the same girl; her aunt confirmed" });
    let merged = app.post(&format!("/api/v1/child-profiles/{}/merge", id(101)), Some(&coordinator), &merge).await;
    assert_eq!(merged.status, StatusCode::CREATED, "{}", merged.body);
    assert_eq!(app.run_retention().await.coarsened, 1);
    let today = round(&app, &coordinator, 302, &team_a, "2026-03-04T10:05:00", "2026-03-04T12:00:00").await;

    // The shift's writes, made offline, reach the server in one upload hours later.
    app.clock.advance(Duration::minutes(210));
    let field = app.login("tirana.field").await;
    let fix = json!({ "lat": 41.3275, "lon": 19.8187, "accuracy_m": 10.0, "fix_time": "2026-03-04T09:05:50Z", "source": "gps" });
    let mut emergency = sighting(&id(3));
    emergency["emergency"] = json!(true);
    emergency["risk_level"] = json!("emergency");
    let shift = json!({ "operations": [
        { "type": "comment_referral", "key": "c-1", "referral_id": id(201), "body": { "text": "E pamë sërish te semaforët" } },
        { "type": "check_in", "key": "in-0", "round_id": today,
          "body": { "location": fix, "occurred_at": "2026-03-04T14:00:00Z" } },
        { "type": "check_in", "key": "in-1", "round_id": today,
          "body": { "location": fix, "occurred_at": "2026-03-04T09:06:00Z" } },
        { "type": "send_referral", "key": "r-205", "body": referral(&id(205), &id(6), "high") },
        { "type": "record_sighting", "key": "s-6", "body": sighting(&id(6)) },
        { "type": "record_sighting", "key": "s-3", "body": emergency },
        { "type": "link_sighting", "key": "l-3", "identification_id": id(3),
          "body": { "new_profile": { "id": id(103), "given_name": "Bora" } } },
        { "type": "send_referral", "key": "r-203", "body": referral(&id(203), &id(3), "high") },
        { "type": "record_sighting", "key": "s-7", "body": { "id": id(7) } },
        { "type": "send_referral", "key": "r-207", "body": referral(&id(207), &id(7), "high") },
        { "type": "teleport", "key": "t-1" },
    ]});
    let uploaded = app.post("/api/v1/sync/batch", Some(&field), &shift).await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.body);
    assert_eq!(statuses(&uploaded.body), [201, 422, 200, 422, 201, 201, 201, 201, 422, 424, 422], "{}", uploaded.body);
    let results = uploaded.body["results"].as_array().unwrap();
    assert_eq!(results[1]["problem"]["errors"][0]["code"], "in_future", "the phone's clock runs hours ahead");
    assert_eq!(results[3]["problem"]["code"], "batch_out_of_order", "the referral came before its sighting");
    assert_eq!(results[9]["problem"]["code"], "batch_dependency_failed");
    assert_eq!(results[10]["problem"]["code"], "validation_failed");
    assert_eq!(results[5]["id"], id(3));
    assert_eq!(results[0]["key"], "c-1");
    let written = app.db(|conn| terren_api::changes::head(conn).unwrap()).await;

    // The answer was lost: the same upload again changes nothing and answers the same.
    let again = app.post("/api/v1/sync/batch", Some(&field), &shift).await;
    assert_eq!(statuses(&again.body), statuses(&uploaded.body), "{}", again.body);
    assert!(again.body["results"][5]["replayed"].as_bool().unwrap());
    assert_eq!(app.db(|conn| terren_api::changes::head(conn).unwrap()).await, written, "nothing written again");

    phone.sync(&app, &field, 50).await;
    assert_eq!(phone.pages[0]["reset"], false);
    assert_eq!(phone.changed("profiles", "remove"), [id(102)], "merged away");
    assert_eq!(phone.record("referrals", &id(201))["status"], "accepted");
    assert_eq!(phone.record("identifications", &alone)["location"]["precision"], "coarse");
    assert_eq!(phone.record("identifications", &xhoana)["profile"]["id"], id(101));
    // The round was over when the upload came: the check-in counts when it happened.
    let walked = phone.record("rounds", &today);
    assert_eq!(walked["status"], "in_progress");
    assert_eq!(walked["checked_in_at"], "2026-03-04T09:06:00Z");
    assert_eq!(walked["checked_in_received_at"], "2026-03-04T12:30:00Z");
    for made in [id(3), id(6)] {
        assert!(phone.ids("identifications").contains(&made), "{made}");
    }
    assert!(phone.ids("referrals").contains(&id(203)) && phone.ids("profiles").contains(&id(103)));
    phone.assert_current(&app, &field).await;

    // The worker moves to the other team: the phone starts over, without team A's rounds.
    let coordinator = app.login("tirana.coord").await;
    team(&app, &coordinator, "Skuadra A", &["tirana.duty"], Some(1), Some(&team_a)).await;
    team(&app, &coordinator, "Skuadra B", &["tirana.duty", "tirana.field"], Some(1), Some(&team_b)).await;
    phone.sync(&app, &field, 50).await;
    assert_eq!(phone.pages[0]["reset"], true);
    assert!(phone.ids("rounds").is_empty(), "{:?}", phone.ids("rounds"));
    phone.assert_current(&app, &field).await;
}
