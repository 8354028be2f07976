use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::json;

use crate::harness::{PASSWORD, TestApp};

#[actix_web::test]
async fn login_gives_tokens_and_me_describes_the_person() {
    let app = TestApp::spawn().await;
    let res = app.login_full("tirana.field", PASSWORD, "phone-7").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert!(res.body["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let token = res.body["access_token"].as_str().unwrap();

    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "tirana.field");
    assert_eq!(me.body["agency"]["code"], "AL224-QKT");
    assert_eq!(me.body["roles"], json!(["field_worker"]));
    assert_eq!(me.body["area_codes"], json!(["AL224"]));
    assert_eq!(me.body["device_id"], "phone-7");
    assert_eq!(me.body["session_id"], res.body["session_id"]);
    let permissions = me.body["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("identifications_create")));
    assert!(!permissions.contains(&json!("users_manage")));
}

#[actix_web::test]
async fn wrong_password_unknown_user_and_disabled_user_look_the_same() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let target = app.get("/api/v1/users?agency=AL213-GADISHMERI", Some(&admin)).await;
    let duty = target.body.as_array().unwrap().iter().find(|u| u["username"] == "elbasan.duty").unwrap();
    let id = duty["id"].as_str().unwrap().to_owned();
    let res = app.post(&format!("/api/v1/users/{id}/disable"), Some(&admin), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let wrong_password = app.login_full("tirana.field", "not-the-password", "d").await;
    let unknown_user = app.login_full("nobody.here", PASSWORD, "d").await;
    let disabled_user = app.login_full("elbasan.duty", PASSWORD, "d").await;
    for res in [&wrong_password, &unknown_user, &disabled_user] {
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(res.body["code"], "invalid_credentials");
    }
    assert_eq!(wrong_password.body, unknown_user.body);
    assert_eq!(unknown_user.body, disabled_user.body);
}

#[actix_web::test]
async fn usernames_are_case_insensitive() {
    let app = TestApp::spawn().await;
    let res = app.login_full("  Tirana.Field ", PASSWORD, "d").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[actix_web::test]
async fn access_tokens_expire_after_fifteen_minutes() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    app.clock.advance(Duration::minutes(14));
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(1));
    let res = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.body["code"], "invalid_token");
}

#[actix_web::test]
async fn refresh_rotates_and_a_reused_token_ends_the_whole_session() {
    let app = TestApp::spawn().await;
    let login = app.login_full("tirana.field", PASSWORD, "phone-1").await;
    let first = login.body["refresh_token"].as_str().unwrap().to_owned();

    app.clock.advance(Duration::minutes(20));
    let refreshed = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": first })).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let second = refreshed.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(refreshed.body["session_id"], login.body["session_id"]);
    let access = refreshed.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", Some(&access)).await.status, StatusCode::OK);

    // Someone replays the first token: the family is revoked.
    let replay = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": first })).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.body["code"], "refresh_token_reused");
    let after = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": second })).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["code"], "invalid_token");
    assert_eq!(app.get("/api/v1/me", Some(&access)).await.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn refresh_tokens_expire_and_unknown_ones_are_refused() {
    let app = TestApp::spawn().await;
    let login = app.login_full("tirana.field", PASSWORD, "phone-1").await;
    let token = login.body["refresh_token"].as_str().unwrap().to_owned();
    let unknown = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": "rt_made_up" })).await;
    assert_eq!(unknown.body["code"], "invalid_token");
    app.clock.advance(Duration::days(31));
    let expired = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": token })).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.body["code"], "invalid_token");
}

#[actix_web::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let login = app.login_full("tirana.field", PASSWORD, "phone-1").await;
    let access = login.body["access_token"].as_str().unwrap();
    let refresh = login.body["refresh_token"].as_str().unwrap();
    let res = app.post("/api/v1/auth/logout", None, &json!({ "refresh_token": refresh })).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", Some(access)).await.status, StatusCode::UNAUTHORIZED);
    // Logging out twice is fine.
    let again = app.post("/api/v1/auth/logout", None, &json!({ "refresh_token": refresh })).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn a_disabled_users_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let admin = app.login("tirana.admin").await;
    let me = app.get("/api/v1/me", Some(&field)).await;
    let id = me.body["id"].as_str().unwrap();
    // tirana.admin administers AL224-NJMF, not the field centre: not theirs to disable.
    let res = app.post(&format!("/api/v1/users/{id}/disable"), Some(&admin), &json!({})).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    let system = app.login("admin").await;
    let res = app.post(&format!("/api/v1/users/{id}/disable"), Some(&system), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body["disabled"], true);
    let after = app.get("/api/v1/me", Some(&field)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["code"], "invalid_token");
    // Enabled again, the person logs in anew (old sessions stay ended).
    let res = app.post(&format!("/api/v1/users/{id}/enable"), Some(&system), &json!({})).await;
    assert_eq!(res.body["disabled"], false);
    assert_eq!(app.get("/api/v1/me", Some(&field)).await.status, StatusCode::UNAUTHORIZED);
    app.login("tirana.field").await;
}

#[actix_web::test]
async fn failed_logins_are_throttled_per_account_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.auth.throttle_max_failures_per_account = 3;
        c.auth.throttle_window_secs = 600;
    })
    .await;
    for _ in 0..3 {
        let res = app.login_full("tirana.field", "wrong-password", "d").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    let res = app.login_full("tirana.field", PASSWORD, "d").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.body["code"], "too_many_attempts");
    let retry: i64 = res.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    // Other accounts are not affected by one account's lock.
    assert_eq!(app.login_full("tirana.coord", PASSWORD, "d").await.status, StatusCode::OK);
    app.clock.advance(Duration::seconds(601));
    assert_eq!(app.login_full("tirana.field", PASSWORD, "d").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn failed_logins_are_throttled_per_address() {
    let app = TestApp::spawn_with(|c| c.auth.throttle_max_failures_per_ip = 4).await;
    for name in ["a.one", "b.two", "c.three", "d.four"] {
        assert_eq!(app.login_full(name, "x-wrong-password", "d").await.status, StatusCode::UNAUTHORIZED);
    }
    let res = app.login_full("tirana.field", PASSWORD, "d").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn protected_routes_need_a_token_and_the_permission() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/users", None).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.body["code"], "unauthenticated");
    let res = app.get("/api/v1/users", Some("not.a.jwt")).await;
    assert_eq!(res.body["code"], "invalid_token");
    let field = app.login("tirana.field").await;
    let res = app.get("/api/v1/users", Some(&field)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.body["code"], "forbidden");
}

#[actix_web::test]
async fn a_temporary_password_must_be_changed_before_anything_else() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let created = app
        .post(
            "/api/v1/users",
            Some(&admin),
            &json!({ "username": "ana.hoxha", "display_name": "Ana Hoxha", "agency_code": "AL224-QKT",
                     "roles": ["field_worker"], "password": "temporary-pass-1" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["must_change_password"], true);
    let login = app.login_full("ana.hoxha", "temporary-pass-1", "phone").await;
    let token = login.body["access_token"].as_str().unwrap();
    let blocked = app.get("/api/v1/areas?level=county", Some(token)).await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert_eq!(blocked.body["code"], "password_change_required");
    assert_eq!(app.get("/api/v1/me", Some(token)).await.body["must_change_password"], true);

    let wrong = app
        .post(
            "/api/v1/me/password",
            Some(token),
            &json!({ "current_password": "nope", "new_password": "my-own-passphrase" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["errors"][0]["field"], "current_password");
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(token),
            &json!({ "current_password": "temporary-pass-1", "new_password": "my-own-passphrase" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(app.get("/api/v1/areas?level=county", Some(token)).await.status, StatusCode::OK);
    assert_eq!(app.login_full("ana.hoxha", "my-own-passphrase", "p").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn tokens_signed_with_another_key_are_refused() {
    let app = TestApp::spawn().await;
    let other = TestApp::spawn_with(|c| {
        c.auth.jwt_keys[0].secret = secrecy::SecretString::from("a-completely-different-secret-0123456789abcdef");
    })
    .await;
    let foreign = other.login("tirana.field").await;
    let res = app.get("/api/v1/me", Some(&foreign)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

/// Disabling also ends sessions; this checks the account flag on its own, as when an operator
/// disables an account directly in the database.
#[actix_web::test]
async fn the_disabled_flag_alone_stops_tokens_and_refreshes() {
    let app = TestApp::spawn().await;
    let login = app.login_full("tirana.field", PASSWORD, "phone-1").await;
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    let db = app.state.db.clone();
    let at = app.clock_naive();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use terren_api::db::schema::users;
        diesel::update(users::table.filter(users::username.eq("tirana.field")))
            .set(users::disabled_at.eq(Some(at)))
            .execute(&mut db.get().unwrap())
            .unwrap();
    })
    .await
    .unwrap();
    let res = app.get("/api/v1/me", Some(&access)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.body["detail"], "the account is disabled");
    let res = app.post("/api/v1/auth/refresh", None, &json!({ "refresh_token": refresh })).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}
