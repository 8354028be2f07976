use std::io::{Read, Write};

use actix_web::http::StatusCode;

use crate::harness::TestApp;

#[actix_web::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    let backend = if crate::harness::postgres_url().is_some() { "postgres" } else { "sqlite" };
    assert_eq!(ready.body["database"], backend);
    app.get("/api/v1/areas", None).await;
    let metrics = app.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(r#"terren_http_requests_total{method="GET",route="/api/v1/areas",status="401"} 1"#),
        "{text}"
    );
    assert!(text.contains("terren_http_request_duration_seconds_bucket"));
}

#[actix_web::test]
async fn docs_and_contract_are_served() {
    let app = TestApp::spawn().await;
    let spec = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["openapi"], "3.1.0");
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.body.as_str().unwrap().contains("swagger"), "Swagger UI is vendored and served");
    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
}

/// The real server, bound to port 0, answering over TCP.
#[actix_web::test]
async fn the_server_listens_and_answers() {
    let app = TestApp::spawn().await;
    let application = terren_api::app::Application::build(app.state.clone()).unwrap();
    let port = application.port();
    let server = actix_web::rt::spawn(application.run_until_stopped());
    let response = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    server.abort();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"status\":\"ok\""));
}
