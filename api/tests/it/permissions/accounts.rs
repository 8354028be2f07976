//! Accounts and teams: password guesses and lockouts, and a joint team's phones.

use super::*;

#[actix_web::test]
async fn password_guesses_wait_per_account_and_address_and_admins_see_and_lift_the_lockout() {
    let app = TestApp::spawn().await;
    let system = app.login("admin").await;
    let (_, qkt_admin) = person(&app, "qkt.admin", "AL224-QKT", "agency_admin").await;
    let field = app.login("tirana.field").await;
    let wrong = json!({ "current_password": "not-my-password", "new_password": "a-new-password-2026" });
    for _ in 0..5 {
        let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
        assert_eq!(res.body["errors"][0]["code"], "wrong_password", "{}", res.body);
    }
    // A stolen session cannot go on guessing the current password.
    let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.headers.get("retry-after").is_some());

    // Lockouts are listed to the account's own agency admin and to system admins only.
    let mine = app.get("/api/v1/lockouts", Some(&qkt_admin)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body[0]["username"], "tirana.field", "{}", mine.body);
    assert_eq!(mine.body[0]["address"], "127.0.0.1");
    assert_eq!(mine.body[0]["failures"], 5);
    let njmf_admin = app.login("tirana.admin").await;
    assert_eq!(app.get("/api/v1/lockouts", Some(&njmf_admin)).await.body, json!([]));
    assert_eq!(app.get("/api/v1/lockouts", Some(&field)).await.status, StatusCode::FORBIDDEN);
    let lift = json!({ "username": "tirana.field", "address": "127.0.0.1" });
    assert_eq!(app.post("/api/v1/lockouts/lift", Some(&njmf_admin), &lift).await.status, StatusCode::NOT_FOUND);
    let lifted = app.post("/api/v1/lockouts/lift", Some(&qkt_admin), &lift).await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT, "{}", lifted.body);
    assert_eq!(audited_actions(&app, "auth.lockout_lift").await, 1);
    assert_eq!(audited_actions(&app, "auth.lockouts_read").await, 2);
    assert_eq!(app.get("/api/v1/lockouts", Some(&system)).await.body, json!([]));
    let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "lifted: {}", res.body);

    // The wait grows with each further wrong login, and stays with that pair.
    for _ in 0..4 {
        app.login_full("tirana.coord", "wrong-password", "d").await;
    }
    let res = app.login_full("tirana.coord", "wrong-password", "d").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let first_wait: i64 = app
        .login_full("tirana.coord", PASSWORD, "d")
        .await
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_wait, 15);
    app.clock.advance(chrono::Duration::seconds(15));
    assert_eq!(app.login_full("tirana.coord", "wrong-password", "d").await.status, StatusCode::UNAUTHORIZED);
    let res = app.login_full("tirana.coord", PASSWORD, "d").await;
    assert_eq!(res.headers.get("retry-after").unwrap().to_str().unwrap(), "30");
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(app.login_full("tirana.coord", PASSWORD, "d").await.status, StatusCode::OK);

    // An administrator's own password is changed with the current one, not reset.
    let me = app.get("/api/v1/me", Some(&qkt_admin)).await;
    let own = format!("/api/v1/users/{}/reset-password", me.body["id"].as_str().unwrap());
    let res = app.post(&own, Some(&qkt_admin), &json!({ "password": "temporary-pass-9" })).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
}

#[actix_web::test]
async fn a_joint_team_shows_other_agencies_phones_only_to_its_members() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let (_, other_coordinator) = person(&app, "qkt.coord2", "AL224-QKT", "coordinator").await;
    let (field, pmf) = (user_id(&app, "tirana.field").await, user_id(&app, "tirana.pmf").await);
    let team = json!({ "name": "Grupi i përbashkët", "kind": "joint", "members": [field, pmf] });
    let made = created(&app, Method::Post, "/api/v1/teams", &coordinator, "t-1", &team).await;
    let path = format!("/api/v1/teams/{}", made["id"].as_str().unwrap());
    let phones = |body: &Value| -> Vec<(String, Option<String>)> {
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["agency"]["code"].as_str().unwrap().to_owned(), m["phone"].as_str().map(str::to_owned)))
            .collect()
    };
    let member = app.login("tirana.pmf").await;
    let seen_by_member = phones(&app.get(&path, Some(&member)).await.body);
    assert!(seen_by_member.iter().all(|(_, phone)| phone.is_some()), "{seen_by_member:?}");
    for reader in [&coordinator, &other_coordinator] {
        let seen = phones(&app.get(&path, Some(reader)).await.body);
        for (agency, phone) in seen {
            assert_eq!(phone.is_some(), agency == "AL224-QKT", "{agency}");
        }
    }
}
