//! Test harness: every test gets its own database (a copy of a migrated, seeded template) and
//! drives the real application through HTTP with an injected clock.
//!
//! Backend: SQLite by default; PostgreSQL when `TERREN_TEST_DATABASE_URL` points at a server
//! (the URL's database is only used to create and drop the per-test databases).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::test;
use chrono::{DateTime, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use futures_util::future::LocalBoxFuture;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use terren_api::app::build_app;
use terren_api::clock::ManualClock;
use terren_api::config::{Config, JwtKey};
use terren_api::seed::DEMO_PASSWORD;
use terren_api::state::AppState;

pub const PASSWORD: &str = DEMO_PASSWORD;

/// A fixed start time: tests never depend on the wall clock.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("valid time")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Changes whenever migrations or seed data change, so stale templates are never reused.
fn fingerprint() -> &'static str {
    static FINGERPRINT: OnceLock<String> = OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        for dir in ["migrations", "seed"] {
            collect_files(&repo_root().join(dir), &mut files);
        }
        files.sort();
        for file in files {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&file).expect("readable"));
        }
        hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() { collect_files(&path, out) } else { out.push(path) }
    }
}

pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TERREN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("TERREN_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("TERREN_TEST_REQUIRE_POSTGRES=1 but TERREN_TEST_DATABASE_URL is not set");
    }
    url
}

pub fn test_config(data_dir: &Path, database_url: String) -> Config {
    let mut config = Config { data_dir: data_dir.to_path_buf(), ..Config::default() };
    config.database.url = Some(SecretString::from(database_url));
    config.database.pool_size = 4;
    config.http.bind = "127.0.0.1:0".into();
    config.auth.jwt_keys = vec![JwtKey {
        kid: "test-1".into(),
        secret: SecretString::from("test-signing-secret-of-enough-length-0123456789"),
    }];
    // Cheap hashing keeps the suite fast; production parameters are tested in unit tests.
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config.log.filter = "warn".into();
    // Nothing leaves the machine unless a test points a channel at its own stub server.
    config.notify.mode = terren_api::notify::NotifyMode::DryRun;
    config
}

/// Where a test's database lives; dropped with the test.
enum DbGuard {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String, _dir: tempfile::TempDir },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let DbGuard::Postgres { admin_url, name, .. } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

fn sqlite_template() -> &'static Path {
    static TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("template.db");
            let config = test_config(dir.path(), format!("sqlite://{}", path.display()));
            let state = AppState::prepare(config, Arc::new(ManualClock::new(start_time())), true).expect("template");
            let mut conn = state.db.get().expect("connection");
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);").expect("checkpoint");
            drop(conn);
            drop(state);
            (dir, path)
        })
        .1
}

fn admin_url_for(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{database}?{q}"),
        None => format!("{prefix}/{database}"),
    }
}

/// Creates (once, under an advisory lock shared by parallel test processes) a migrated and seeded
/// template database, and returns its name.
fn postgres_template(admin_url: &str) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let name = format!("terren_tpl_{}", fingerprint());
            let mut admin =
                PgConnection::establish(admin_url).expect("PostgreSQL reachable at TERREN_TEST_DATABASE_URL");
            admin.batch_execute("SELECT pg_advisory_lock(727272)").expect("lock");
            let exists = diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"))
                .execute(&mut admin)
                .expect("query")
                > 0;
            if !exists {
                admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create template");
                let dir = tempfile::tempdir().expect("tempdir");
                let config = test_config(dir.path(), admin_url_for(admin_url, &name));
                let state =
                    AppState::prepare(config, Arc::new(ManualClock::new(start_time())), true).expect("template");
                drop(state);
            }
            admin.batch_execute("SELECT pg_advisory_unlock(727272)").expect("unlock");
            name
        })
        .clone()
}

fn record_backend(backend: &str) {
    if let Ok(path) = std::env::var("TERREN_TEST_BACKEND_LOG") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            // One write per line: appends of a few bytes are atomic, so parallel tests never
            // interleave their lines.
            let _ = file.write_all(format!("{backend}\n").as_bytes());
        }
    }
}

pub struct TestApp {
    pub state: AppState,
    pub clock: ManualClock,
    /// The application, built once per test.
    service: Service,
    _db: DbGuard,
}

/// A built application: takes a request, gives its response.
type Service = Rc<dyn Fn(actix_http::Request) -> LocalBoxFuture<'static, Response>>;

pub struct Response {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    /// The body as it came, for files that are not text (a workbook).
    pub bytes: actix_web::web::Bytes,
}

impl Response {
    /// The body read into a type of the contract, after checking the status.
    #[track_caller]
    pub fn read<T: DeserializeOwned>(&self, expected: StatusCode) -> T {
        assert_eq!(self.status, expected, "{}", self.body);
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("the body is not a {}: {e}\n{}", std::any::type_name::<T>(), self.body))
    }
}

/// Builds the application on `state` once; every request of a test goes through it.
async fn build_service(state: &AppState) -> Service {
    let app = Rc::new(test::init_service(build_app(state.clone())).await);
    Rc::new(move |req| {
        let app = app.clone();
        Box::pin(async move { into_response(test::call_service(&*app, req).await).await })
    })
}

async fn into_response<B: actix_web::body::MessageBody>(res: actix_web::dev::ServiceResponse<B>) -> Response {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Response { status, headers, body, bytes }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// A fresh application on its own database, with the configuration adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let clock = ManualClock::new(start_time());
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, guard) = match postgres_url() {
            Some(base) => {
                let admin_url = admin_url_for(&base, "postgres");
                let template = postgres_template(&admin_url);
                let name = format!("terren_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url).expect("admin connection");
                admin.batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).expect("create");
                record_backend("postgres");
                (admin_url_for(&base, &name), DbGuard::Postgres { admin_url, name, _dir: dir })
            }
            None => {
                let path = dir.path().join("terren.db");
                std::fs::copy(sqlite_template(), &path).expect("copy template");
                record_backend("sqlite");
                (format!("sqlite://{}", path.display()), DbGuard::Sqlite { _dir: dir })
            }
        };
        let data_dir = std::env::temp_dir();
        let mut config = test_config(&data_dir, url);
        adjust(&mut config);
        let shared_clock = Arc::new(clock.clone());
        let state = actix_web::rt::task::spawn_blocking(move || AppState::prepare(config, shared_clock, false))
            .await
            .expect("join")
            .expect("prepare");
        let service = build_service(&state).await;
        TestApp { clock, state, service, _db: guard }
    }

    pub async fn request(&self, req: test::TestRequest) -> Response {
        (self.service)(req.peer_addr(PEER.parse().expect("address")).to_request()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(with_token(test::TestRequest::get().uri(path), token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(with_token(test::TestRequest::post().uri(path).set_json(body), token)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(with_token(test::TestRequest::put().uri(path).set_json(body), token)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(with_token(test::TestRequest::patch().uri(path).set_json(body), token)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(with_token(test::TestRequest::delete().uri(path), token)).await
    }

    /// POSTs a raw body with the given content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, payload: impl Into<String>) -> Response {
        let payload: String = payload.into();
        self.request(
            test::TestRequest::post().uri(path).insert_header(("Content-Type", content_type)).set_payload(payload),
        )
        .await
    }

    /// Logs in and returns the full token response.
    pub async fn login_full(&self, username: &str, password: &str, device: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({ "username": username, "password": password, "device_id": device }),
        )
        .await
    }

    /// Logs in a demo account and returns its access token.
    pub async fn login(&self, username: &str) -> String {
        let res = self.login_full(username, PASSWORD, &format!("{username}-phone")).await;
        assert_eq!(res.status, StatusCode::OK, "login {username}: {}", res.body);
        res.body["access_token"].as_str().expect("token").to_owned()
    }
}

fn with_token(req: test::TestRequest, token: Option<&str>) -> test::TestRequest {
    match token {
        Some(token) => req.insert_header(("Authorization", format!("Bearer {token}"))),
        None => req,
    }
}

/// Where test requests come from.
const PEER: &str = "127.0.0.1:50000";

/// Sends a request to a new application on `state` (for a second instance of the service on the
/// same database; a test's own requests go through [`TestApp::request`]).
pub async fn request_on(state: &AppState, req: test::TestRequest) -> Response {
    build_service(state).await(req.peer_addr(PEER.parse().expect("address")).to_request()).await
}

/// POSTs JSON with an `Idempotency-Key` to the service running on `state`.
pub async fn post_idempotent_on(state: &AppState, path: &str, token: &str, key: &str, body: &Value) -> Response {
    request_on(state, idempotent_post(path, token, key, body)).await
}

fn idempotent_post(path: &str, token: &str, key: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key.to_owned()))
        .set_json(body)
}

impl TestApp {
    /// The injected clock's now, as stored in the database.
    pub fn clock_naive(&self) -> chrono::NaiveDateTime {
        use terren_api::clock::Clock;
        self.clock.now_naive()
    }

    /// POSTs JSON with an `Idempotency-Key`, as the phone does.
    pub async fn post_idempotent(&self, path: &str, token: &str, key: &str, body: &Value) -> Response {
        self.request(idempotent_post(path, token, key, body)).await
    }

    /// Runs blocking database work against this test's database.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut terren_api::db::PooledConn) -> T + Send + 'static,
    ) -> T {
        let (db, now) = (self.state.db.clone(), self.clock_naive());
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = db.get().expect("connection");
            // What the server's sealer does a moment after every commit, so that a test reads the
            // audit chain and the change feed as they would be by then.
            terren_api::audit::sealer::seal_pending(&mut conn).expect("seal the audit records");
            terren_api::changes::seal_pending(&mut conn, now).expect("seal the change feed");
            f(&mut conn)
        })
        .await
        .expect("join")
    }

    /// Runs the retention job once, at the injected clock's time.
    pub async fn run_retention(&self) -> terren_api::retention::RetentionReport {
        let settings = self.state.config.retention.clone();
        let now = self.clock_naive();
        self.db(move |conn| terren_api::retention::run(conn, &settings, now).expect("retention")).await
    }
}

/// An empty database for a `terren` process a test starts itself: a new PostgreSQL database when
/// the suite runs on PostgreSQL (dropped with the value), else the process's own SQLite file under
/// its data directory (`url` is `None`).
pub struct ScratchDatabase {
    pub url: Option<String>,
    _guard: Option<DbGuard>,
}

impl ScratchDatabase {
    pub fn new() -> ScratchDatabase {
        match postgres_url() {
            Some(base) => {
                let admin_url = admin_url_for(&base, "postgres");
                let name = format!("terren_proc_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url).expect("admin connection");
                admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).expect("create");
                record_backend("postgres");
                let dir = tempfile::tempdir().expect("tempdir");
                ScratchDatabase {
                    url: Some(admin_url_for(&base, &name)),
                    _guard: Some(DbGuard::Postgres { admin_url, name, _dir: dir }),
                }
            }
            None => {
                record_backend("sqlite");
                ScratchDatabase { url: None, _guard: None }
            }
        }
    }
}
