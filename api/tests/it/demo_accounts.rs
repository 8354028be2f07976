//! Demo accounts are public knowledge: they are found and disabled before real use.

use actix_web::http::StatusCode;

use crate::harness::{PASSWORD, TestApp};

#[actix_web::test]
async fn demo_accounts_with_the_published_password_are_found_and_disabled() {
    let app = TestApp::spawn().await;
    let state = app.state.clone();
    let token = app.login("tirana.field").await;
    let exposed = app.db(move |conn| terren_api::seed::demo_password_accounts(&state, conn).unwrap()).await;
    assert_eq!(exposed.len(), 12, "{exposed:?}");
    assert!(exposed.contains(&"admin".to_owned()));

    // An account whose password was changed is no longer the public one.
    let coord = app.login("tirana.coord").await;
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(&coord),
            &serde_json::json!({ "current_password": PASSWORD, "new_password": "a private passphrase 2026" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);

    let state = app.state.clone();
    let disabled = app.db(move |conn| terren_api::seed::disable_demo_accounts(&state, conn).unwrap()).await;
    assert_eq!(disabled.len(), 11, "{disabled:?}");
    assert!(!disabled.contains(&"tirana.coord".to_owned()));
    let state = app.state.clone();
    let left = app.db(move |conn| terren_api::seed::demo_password_accounts(&state, conn).unwrap()).await;
    assert!(left.is_empty(), "{left:?}");

    let login = app.login_full("admin", PASSWORD, "attacker").await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    let session = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(session.status, StatusCode::UNAUTHORIZED, "sessions of disabled demo accounts end");
    let still = app.login_full("tirana.coord", "a private passphrase 2026", "phone").await;
    assert_eq!(still.status, StatusCode::OK);

    let audited: i64 = app
        .db(|conn| {
            use diesel::prelude::*;
            use terren_api::db::schema::audit_log;
            audit_log::table.filter(audit_log::action.eq("user.disable_demo")).count().get_result(conn).unwrap()
        })
        .await;
    assert_eq!(audited, 11);
    let chain = app.db(|conn| terren_api::audit::verify_chain(conn).unwrap()).await;
    assert!(chain.is_ok());
}
