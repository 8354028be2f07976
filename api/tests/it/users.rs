use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp};

fn new_user(username: &str, agency: &str, roles: &[&str]) -> Value {
    json!({ "username": username, "display_name": "Test Person", "agency_code": agency, "roles": roles,
            "phone": "+355690001234", "password": "a-temporary-password" })
}

#[actix_web::test]
async fn agency_admins_manage_their_own_agency_only() {
    let app = TestApp::spawn().await;
    let admin = app.login("tirana.admin").await;
    let ok = app.post("/api/v1/users", Some(&admin), &new_user("pmf.two", "AL224-NJMF", &["case_manager"])).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(ok.body["agency"]["code"], "AL224-NJMF");
    assert_eq!(ok.body["roles"], json!(["case_manager"]));

    let other = app.post("/api/v1/users", Some(&admin), &new_user("x.other", "AL221-NJMF", &["case_manager"])).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let privileged =
        app.post("/api/v1/users", Some(&admin), &new_user("x.boss", "AL224-NJMF", &["system_admin"])).await;
    assert_eq!(privileged.status, StatusCode::FORBIDDEN);

    let list = app.get("/api/v1/users", Some(&admin)).await;
    let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["pmf.two", "tirana.admin", "tirana.pmf"]);
}

#[actix_web::test]
async fn bad_users_are_refused_with_clear_codes_and_nothing_written() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let taken =
        app.post("/api/v1/users", Some(&admin), &new_user("Tirana.Field", "AL224-QKT", &["field_worker"])).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.body["code"], "already_exists");
    let bad_name =
        app.post("/api/v1/users", Some(&admin), &new_user("ana hoxha!", "AL224-QKT", &["field_worker"])).await;
    assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_name.body["errors"][0]["field"], "username");
    let unknown_agency = app.post("/api/v1/users", Some(&admin), &new_user("ana.h", "NOPE", &["field_worker"])).await;
    assert_eq!(unknown_agency.body["errors"][0]["code"], "unknown_agency");
    let unknown_role = app.post("/api/v1/users", Some(&admin), &new_user("ana.h", "AL224-QKT", &["wizard"])).await;
    assert_eq!(unknown_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_role.body["errors"][0]["code"], "unknown_code");
    let mut short = new_user("ana.h", "AL224-QKT", &["field_worker"]);
    short["password"] = json!("short");
    let res = app.post("/api/v1/users", Some(&admin), &short).await;
    assert_eq!(
        res.body["errors"][0],
        json!({"field": "password", "code": "invalid_length", "message": "length must be between 10 and 256"})
    );
    let list = app.get("/api/v1/users?agency=AL224-QKT", Some(&admin)).await;
    assert!(list.body.as_array().unwrap().iter().all(|u| u["username"] != "ana.h"));
}

#[actix_web::test]
async fn password_reset_ends_sessions_and_forces_a_change() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let id = app.get("/api/v1/me", Some(&field)).await.body["id"].as_str().unwrap().to_owned();
    let admin = app.login("admin").await;
    let res = app
        .post(
            &format!("/api/v1/users/{id}/reset-password"),
            Some(&admin),
            &json!({ "password": "reset-temp-password" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    assert_eq!(app.get("/api/v1/me", Some(&field)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_full("tirana.field", PASSWORD, "d").await.status, StatusCode::UNAUTHORIZED);
    let login = app.login_full("tirana.field", "reset-temp-password", "d").await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(token)).await.body["must_change_password"], true);
}

#[actix_web::test]
async fn admins_cannot_disable_themselves_and_unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let id = app.get("/api/v1/me", Some(&admin)).await.body["id"].as_str().unwrap().to_owned();
    let res = app.post(&format!("/api/v1/users/{id}/disable"), Some(&admin), &json!({})).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    let res = app.get("/api/v1/users/01900000-0000-7000-8000-000000000000", Some(&admin)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app.get("/api/v1/users/not-a-uuid", Some(&admin)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.body["code"], "not_found");
}

#[actix_web::test]
async fn every_account_change_is_in_an_intact_audit_chain() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let created = app.post("/api/v1/users", Some(&admin), &new_user("audit.me", "AL224-QKT", &["field_worker"])).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/users/{id}/disable"), Some(&admin), &json!({})).await;

    let (actions, chain) = app
        .db(move |conn| {
            use diesel::prelude::*;
            use terren_api::db::schema::audit_log;
            let actions: Vec<String> = audit_log::table
                .filter(audit_log::entity_id.eq(&id))
                .order(audit_log::seq.asc())
                .select(audit_log::action)
                .load(conn)
                .unwrap();
            let chain = terren_api::audit::verify_chain(conn).unwrap();
            // The log is append-only in the database itself.
            let tamper = diesel::sql_query("UPDATE audit_log SET action = 'x'").execute(conn);
            assert!(tamper.is_err(), "audit rows must not be updatable");
            let delete = diesel::sql_query("DELETE FROM audit_log").execute(conn);
            assert!(delete.is_err(), "audit rows must not be deletable");
            (actions, chain)
        })
        .await;
    assert_eq!(actions, vec!["user.create", "user.disable"]);
    assert!(matches!(chain, Ok(n) if n >= 3), "{chain:?}");
}

#[actix_web::test]
async fn an_agency_admin_cannot_take_over_a_system_administrator_of_the_same_agency() {
    let app = TestApp::spawn().await;
    let system = app.login("admin").await;
    let created =
        app.post("/api/v1/users", Some(&system), &new_user("ashdmf.admin", "ASHDMF", &["agency_admin"])).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let login = app.login_full("ashdmf.admin", "a-temporary-password", "d").await;
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": "a-temporary-password", "new_password": "my own passphrase"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    let system_id = app.get("/api/v1/me", Some(&system)).await.body["id"].as_str().unwrap().to_owned();
    let reset = app
        .post(
            &format!("/api/v1/users/{system_id}/reset-password"),
            Some(&token),
            &json!({"password": "hijacked-password"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::FORBIDDEN);
    let disable = app.post(&format!("/api/v1/users/{system_id}/disable"), Some(&token), &json!({})).await;
    assert_eq!(disable.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.login_full("admin", PASSWORD, "d").await.status,
        StatusCode::OK,
        "the system administrator is untouched"
    );
    // The same admin manages ordinary colleagues.
    let colleague =
        app.post("/api/v1/users", Some(&token), &new_user("ashdmf.clerk", "ASHDMF", &["coordinator"])).await;
    let id = colleague.body["id"].as_str().unwrap();
    assert_eq!(app.post(&format!("/api/v1/users/{id}/disable"), Some(&token), &json!({})).await.status, StatusCode::OK);
}
