use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::harness::TestApp;

#[actix_web::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.headers.get("content-type").unwrap(), "application/problem+json");
    assert_eq!(res.body["code"], "not_found");
    assert_eq!(res.body["status"], 404);
    assert_eq!(res.body["type"], "urn:terren:problem:not_found");

    let res = app.request(TestRequest::delete().uri("/api/v1/me")).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.body["code"], "method_not_allowed");
}

#[actix_web::test]
async fn titles_follow_accept_language() {
    let app = TestApp::spawn().await;
    let sq = app.request(TestRequest::get().uri("/nope").insert_header(("Accept-Language", "sq-AL,sq;q=0.9"))).await;
    let en = app.request(TestRequest::get().uri("/nope").insert_header(("Accept-Language", "en-US,en;q=0.8"))).await;
    let default = app.get("/nope", None).await;
    assert_eq!(sq.body["title"], "Nuk u gjet");
    assert_eq!(en.body["title"], "Not found");
    assert_eq!(default.body["title"], "Nuk u gjet");
    assert_eq!(sq.body["code"], en.body["code"]);
}

#[actix_web::test]
async fn bodies_that_are_not_json_too_big_or_malformed() {
    let app = TestApp::spawn_with(|c| c.http.max_body_bytes = 2048).await;
    let login = "/api/v1/auth/login";
    let json = "application/json";
    let res = app.post_raw(login, "text/plain", "hello").await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(res.body["code"], "unsupported_media_type");

    let huge = format!("{{\"username\": \"{}\", \"password\": \"x\", \"device_id\": \"d\"}}", "a".repeat(4096));
    let res = app.post_raw(login, json, huge).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.body["code"], "payload_too_large");

    let res = app.post_raw(login, json, "{\"username\": ").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.body["code"], "malformed_json");

    let res = app.post_raw(login, json, r#"{"username": 42, "password": "x", "device_id": "d"}"#).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.body["errors"][0]["field"], "username");
    assert_eq!(res.body["errors"][0]["code"], "invalid_type");

    let res = app.post_raw(login, json, r#"{"username": "a", "password": "", "device_id": "d", "extra": 1}"#).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.body["errors"][0]["code"], "unknown_field");
}

/// Every error code the contract lists is produced somewhere in the service (or by the
/// problem middleware for a bare status).
#[test]
fn every_error_code_is_used() {
    use terren_api::http::ErrorCode;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut text = String::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "problem.rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let produced_by_status = [ErrorCode::MethodNotAllowed, ErrorCode::BadRequest];
    let helper = |code: ErrorCode| match code {
        ErrorCode::Forbidden => Some("ApiError::forbidden("),
        ErrorCode::Conflict => Some("ApiError::conflict("),
        ErrorCode::NotFound => Some("ApiError::not_found("),
        ErrorCode::ValidationFailed => Some("ApiError::field("),
        ErrorCode::VersionMismatch => Some("ApiError::version_mismatch("),
        ErrorCode::Internal => Some("ApiError::internal("),
        _ => None,
    };
    for code in ErrorCode::ALL {
        let variant = format!("{code:?}");
        assert!(
            text.contains(&format!("ErrorCode::{variant}"))
                || helper(*code).is_some_and(|h| text.contains(h))
                || produced_by_status.contains(code),
            "error code {} is never produced",
            code.as_str()
        );
    }
}
