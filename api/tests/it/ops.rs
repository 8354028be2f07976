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

fn header<'a>(res: &'a crate::harness::Response, name: &str) -> &'a str {
    res.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_privacy_headers() {
    let app = TestApp::spawn().await;
    let unauthenticated = app.get("/api/v1/areas", None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&unauthenticated, "www-authenticate"), r#"Bearer realm="terren""#);
    let expired = app.get("/api/v1/areas", Some("not-a-token")).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&expired, "www-authenticate"), r#"Bearer realm="terren", error="invalid_token""#);
    let token = app.login("tirana.field").await;
    let ok = app.get("/api/v1/areas?level=county", Some(&token)).await;
    let missing = app.get("/api/v1/nothing-here", None).await;
    for res in [&unauthenticated, &expired, &ok, &missing] {
        let id = header(res, "x-request-id");
        assert_eq!(uuid::Uuid::parse_str(id).map(|u| u.get_version_num()).ok(), Some(7), "{id}");
        assert_eq!(header(res, "cache-control"), "no-store");
        assert_eq!(header(res, "x-content-type-options"), "nosniff");
        assert_eq!(header(res, "referrer-policy"), "no-referrer");
    }
    assert_ne!(header(&ok, "x-request-id"), header(&missing, "x-request-id"));
    let given = app
        .request(actix_web::test::TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "lb-7f3a.42")))
        .await;
    assert_eq!(header(&given, "x-request-id"), "lb-7f3a.42", "a sane incoming id is kept");
    let forged = app
        .request(actix_web::test::TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "a\"b<script>")))
        .await;
    assert!(uuid::Uuid::parse_str(header(&forged, "x-request-id")).is_ok(), "an odd incoming id is replaced");

    // Swagger UI still works with nosniff: its assets carry their real types.
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(header(&docs, "content-type").starts_with("text/html"), "{:?}", docs.headers);
    let css = app.get("/docs/swagger-ui.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(header(&css, "content-type").starts_with("text/css"), "{:?}", css.headers);
    let js = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(header(&js, "content-type").contains("javascript"), "{:?}", js.headers);
}

async fn insert_job(app: &TestApp, due_in_secs: i64, locked_for_secs: Option<i64>, error: Option<&str>, done: bool) {
    use diesel::prelude::*;
    use terren_api::db::schema::outbox_jobs;
    let now = app.clock_naive();
    let error = error.map(str::to_owned);
    app.db(move |conn| {
        diesel::insert_into(outbox_jobs::table)
            .values((
                outbox_jobs::id.eq(uuid::Uuid::now_v7().to_string()),
                outbox_jobs::kind.eq("test"),
                outbox_jobs::payload.eq("{}"),
                outbox_jobs::due_at.eq(now + chrono::Duration::seconds(due_in_secs)),
                outbox_jobs::attempts.eq(0),
                outbox_jobs::last_error.eq(error),
                outbox_jobs::locked_until.eq(locked_for_secs.map(|s| now + chrono::Duration::seconds(s))),
                outbox_jobs::done_at.eq(done.then_some(now)),
                outbox_jobs::created_at.eq(now),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
}

#[actix_web::test]
async fn metrics_speak_openmetrics_and_show_the_job_queue_pool_and_process() {
    let app = TestApp::spawn().await;
    let queued =
        |text: &str| ["terren_jobs_due", "terren_jobs_running", "terren_jobs_failed"].map(|name| metric(text, name));
    let before = app.get("/metrics", None).await;
    let base = queued(before.body.as_str().unwrap());
    // Due for a minute; claimed by a worker; failed and waiting for its next try; done.
    insert_job(&app, -60, None, None, false).await;
    insert_job(&app, -10, Some(30), None, false).await;
    insert_job(&app, 3600, None, Some("provider answered 500"), false).await;
    insert_job(&app, -600, None, None, true).await;
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(header(&res, "content-type"), terren_api::ops::metrics::OPENMETRICS_CONTENT_TYPE);
    let text = res.body.as_str().unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(queued(text), [base[0] + 1.0, base[1] + 1.0, base[2] + 1.0], "{text}");
    if base[0] == 0.0 {
        assert!((metric(text, "terren_jobs_oldest_due_age_seconds") - 60.0).abs() < 1e-9, "{text}");
    }
    assert_eq!(metric(text, "terren_database_up"), 1.0);
    assert_eq!(metric(text, "terren_db_pool_max_connections"), 4.0);
    assert!(text.contains(r#"terren_db_pool_connections{state="idle"}"#), "{text}");
    assert!(metric(text, "process_resident_memory_bytes") > 0.0);
    assert!(metric(text, "process_open_fds") > 0.0);
    assert!(text.contains("process_cpu_seconds_total "), "{text}");
    assert!(text.contains("# TYPE terren_http_requests counter"), "{text}");
    // Every sample line is a name, optional labels and a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit_once(' ').map(|(_, v)| v).unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[actix_web::test]
async fn metrics_answer_only_the_token_or_allowed_addresses() {
    // By default only the machine itself (the harness calls from 127.0.0.1).
    let app = TestApp::spawn_with(|c| c.http.trust_forwarded_for = true).await;
    assert_eq!(app.get("/metrics", None).await.status, StatusCode::OK);
    let from_outside = app
        .request(actix_web::test::TestRequest::get().uri("/metrics").insert_header(("X-Forwarded-For", "203.0.113.9")))
        .await;
    assert_eq!(from_outside.status, StatusCode::FORBIDDEN);
    assert_eq!(from_outside.body["code"], "forbidden");

    let token = "scrape-token-0123456789";
    let app = TestApp::spawn_with(|c| {
        c.ops.metrics_token = Some(secrecy::SecretString::from(token));
        c.ops.metrics_allow_from = vec!["10.0.0.0/8".into()];
    })
    .await;
    let without = app.get("/metrics", None).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&without, "www-authenticate"), r#"Bearer realm="terren""#);
    assert_eq!(app.get("/metrics", Some("wrong-token-0123456789")).await.status, StatusCode::UNAUTHORIZED);
    let with = app.get("/metrics", Some(token)).await;
    assert_eq!(with.status, StatusCode::OK);
    assert!(with.body.as_str().unwrap().contains("terren_jobs_due"));
}

#[actix_web::test]
async fn an_unreachable_database_answers_503_within_a_second() {
    let app = TestApp::spawn().await;
    let token = app.login("tirana.field").await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target =
        terren_api::config::DatabaseTarget::Postgres(format!("postgres://terren@127.0.0.1:{closed_port}/terren"));
    let pool =
        diesel::r2d2::Pool::builder().max_size(2).build_unchecked(terren_api::db::ConnectionManager::new(target, 1000));
    let down = terren_api::db::Database {
        pool,
        backend: terren_api::db::Backend::Postgres,
        acquire_timeout: std::time::Duration::from_millis(app.state.config.database.acquire_timeout_ms),
        busy_timeout: std::time::Duration::from_secs(app.state.config.database.connect_timeout_secs),
    };
    let state = app.state.with_database(down);
    let login =
        serde_json::json!({ "username": "tirana.field", "password": crate::harness::PASSWORD, "device_id": "p" });
    for request in [
        actix_web::test::TestRequest::get().uri("/readyz"),
        actix_web::test::TestRequest::get()
            .uri("/api/v1/areas?level=county")
            .insert_header(("Authorization", format!("Bearer {token}"))),
        actix_web::test::TestRequest::post().uri("/api/v1/auth/login").set_json(&login),
    ] {
        let started = std::time::Instant::now();
        let res = crate::harness::request_on(&state, request).await;
        let elapsed = started.elapsed();
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
        assert_eq!(res.body["code"], "service_unavailable");
        assert_eq!(header(&res, "content-type"), "application/problem+json");
        assert!(!header(&res, "retry-after").is_empty());
        assert!(elapsed < std::time::Duration::from_secs(1), "answered after {elapsed:?}");
    }
}

/// Runs the real server with `adjust`, sends `request` over TCP and waits for the answer or the
/// close, at most 10 s.
async fn raw_exchange(
    adjust: impl FnOnce(&mut terren_api::config::Config),
    request: &'static [u8],
) -> (String, std::time::Duration) {
    let app = TestApp::spawn_with(adjust).await;
    let application = terren_api::app::Application::build(app.state.clone()).unwrap();
    let port = application.port();
    let server = actix_web::rt::spawn(application.run_until_stopped());
    let outcome = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let started = std::time::Instant::now();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        // Ends when the server closes; a read timeout means it held the connection.
        let _ = stream.read_to_end(&mut response);
        (String::from_utf8_lossy(&response).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    server.abort();
    outcome
}

#[actix_web::test]
async fn a_body_that_stalls_gets_408_and_the_connection_closes() {
    let (response, elapsed) = raw_exchange(
        |c| c.http.body_read_timeout_ms = 300,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"username\": \"tir",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request_timeout"), "{response}");
    assert!(elapsed < std::time::Duration::from_secs(3), "closed after {elapsed:?}");
    // A chunked body too: the server must not keep the connection to read the rest.
    let (response, elapsed) = raw_exchange(
        |c| c.http.body_read_timeout_ms = 300,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"use\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(elapsed < std::time::Duration::from_secs(3), "closed after {elapsed:?}");
}

#[actix_web::test]
async fn headers_that_stall_end_the_connection() {
    let (response, elapsed) = raw_exchange(
        |c| c.http.request_header_timeout_ms = 300,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
    )
    .await;
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(elapsed < std::time::Duration::from_secs(3), "closed after {elapsed:?}");
}

#[cfg(unix)]
#[test]
fn the_sqlite_database_is_readable_by_the_service_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = data.join("terren.db");
    let config = terren_api::config::Config { data_dir: data.clone(), ..terren_api::config::Config::default() };
    let db = terren_api::db::Database::connect(&config).unwrap();
    let mut conn = db.get().unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut *conn,
        "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);",
    )
    .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&path), 0o600);
    let wal = data.join("terren.db-wal");
    assert!(wal.exists());
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&data.join("terren.db-shm")), 0o600);
    drop(conn);
    drop(db);

    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut config = config;
    config.database.url = Some(secrecy::SecretString::from(format!("sqlite://{}", old.display())));
    drop(terren_api::db::Database::connect(&config).unwrap());
    assert_eq!(mode(&old), 0o600, "an existing world-readable file is made private");
}

/// A pool that is merely busy (every connection open and in use) makes a request wait for a
/// connection beyond `acquire_timeout_ms`, unlike a pool that cannot open any.
#[test]
fn a_busy_pool_waits_longer_than_an_unreachable_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = terren_api::config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
    config.database.pool_size = 1;
    config.database.acquire_timeout_ms = 50;
    let db = terren_api::db::Database::connect(&config).unwrap();
    let held = db.get().unwrap();
    let waiting = {
        let db = db.clone();
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let conn = db.get();
            (conn.is_ok(), started.elapsed())
        })
    };
    // Hold the only connection well past the acquire timeout, then give it back.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(held);
    let (got, waited) = waiting.join().unwrap();
    assert!(got, "the busy pool's connection came back within connect_timeout_secs");
    assert!(waited >= std::time::Duration::from_millis(250), "{waited:?}");
}
