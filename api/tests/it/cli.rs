//! The `terren` binary itself: the commands an operator runs.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn terren(data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terren"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERREN_DATA_DIR", data_dir)
        .env("TERREN_AUTH_ARGON2_MEMORY_KIB", "64")
        .env("TERREN_AUTH_ARGON2_ITERATIONS", "1")
        .env("TERREN_LOG_FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("terren runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("terren finishes")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `terren user create` for ASHDMF, with the password on standard input.
fn create_user(data_dir: &std::path::Path, username: &str, role: &str) -> Output {
    terren(
        data_dir,
        &[
            "user",
            "create",
            "--username",
            username,
            "--display-name",
            "Test",
            "--agency",
            "ASHDMF",
            "--role",
            role,
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    )
}

#[test]
fn an_operator_migrates_seeds_creates_the_first_admin_imports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = terren(dir.path(), &["migrate"], None);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/sqlite")).unwrap().count();
    assert!(text(&migrate).contains(&format!("{migrations} migration(s) applied")), "{}", text(&migrate));
    let again = terren(dir.path(), &["migrate"], None);
    assert!(text(&again).contains("0 migration(s) applied"), "{}", text(&again));

    let seed = terren(dir.path(), &["seed"], None);
    assert!(seed.status.success(), "{}", text(&seed));
    assert!(text(&seed).contains("459 areas"), "{}", text(&seed));

    let create = create_user(dir.path(), "root.admin", "system_admin");
    assert!(create.status.success(), "{}", text(&create));
    assert!(text(&create).contains("created user root.admin"), "{}", text(&create));
    let duplicate = create_user(dir.path(), "root.admin", "system_admin");
    assert!(!duplicate.status.success());
    assert!(text(&duplicate).contains("already_exists"), "{}", text(&duplicate));
    let bad_role = create_user(dir.path(), "x.y", "wizard");
    assert!(text(&bad_role).contains("unknown role wizard"), "{}", text(&bad_role));

    let geojson = dir.path().join("kamez.geojson");
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "AL221", "properties": {"name": "Kamëz"},
             "geometry": {"type": "Polygon", "coordinates": [[[19.70, 41.35], [19.85, 41.35], [19.85, 41.45], [19.70, 41.45], [19.70, 41.35]]]}},
            {"type": "Feature", "properties": {"name": "Atlantis"},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}]}"#,
    )
    .unwrap();
    let path = geojson.to_str().unwrap();
    let import = terren(dir.path(), &["import-areas", path], None);
    assert!(import.status.success(), "{}", text(&import));
    assert!(text(&import).contains("2 feature(s), 1 matched, 1 unmatched"), "{}", text(&import));
    assert!(text(&import).contains("unmatched: Atlantis"), "{}", text(&import));
    let strict = terren(dir.path(), &["import-areas", "--strict", path], None);
    assert!(!strict.status.success(), "--strict fails on unmatched features");

    let verify = terren(dir.path(), &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("audit chain intact"), "{}", text(&verify));
    let retention = terren(dir.path(), &["retention", "run"], None);
    assert!(retention.status.success(), "{}", text(&retention));
    assert!(text(&retention).contains("0 location(s) older than 90 days coarsened"), "{}", text(&retention));

    let spec = terren(dir.path(), &["openapi"], None);
    let doc: serde_json::Value = serde_json::from_slice(&spec.stdout).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn bad_configuration_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_terren"));
    let output = command
        .args(["migrate"])
        .env_clear()
        .env("TERREN_DATA_DIR", dir.path())
        .env("TERREN_DATABASE_URL", "mysql://localhost/terren")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("unsupported scheme 'mysql'"), "{message}");
    let output = Command::new(env!("CARGO_BIN_EXE_terren"))
        .args(["migrate"])
        .env_clear()
        .env("TERREN_DATA_DIR", dir.path())
        .env("TERREN_HTTP_BIDN", "0.0.0.0:1")
        .output()
        .unwrap();
    assert!(!output.status.success(), "a misspelt variable is an error, not ignored");
    assert!(String::from_utf8_lossy(&output.stderr).contains("bidn"), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `terren serve` with the extra arguments, stopped as soon as it prints a line containing
/// `until`; returns whether it got there and what it printed. A refusal to start ends the process by itself.
fn serve_briefly(data_dir: &std::path::Path, args: &[&str], until: &str) -> (bool, String) {
    use std::io::BufRead;
    let mut command = Command::new(env!("CARGO_BIN_EXE_terren"));
    command
        .arg("serve")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERREN_DATA_DIR", data_dir)
        .env("TERREN_HTTP_BIND", "127.0.0.1:0")
        .env("TERREN_ALERTS_WORKER", "false")
        .env("TERREN_AUTH_ARGON2_MEMORY_KIB", "64")
        .env("TERREN_AUTH_ARGON2_ITERATIONS", "1")
        .env("TERREN_LOG_FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("terren runs");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut printed = String::new();
    let mut started = false;
    while let Ok(line) = receiver.recv_timeout(std::time::Duration::from_secs(60)) {
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(until) {
            started = true;
            break;
        }
    }
    if started {
        child.kill().expect("kill");
    }
    let output = child.wait_with_output().expect("terren ends");
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    (started, printed)
}

#[test]
fn a_plain_serve_refuses_demo_accounts_until_they_are_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let seed = terren(dir.path(), &["seed", "--demo"], None);
    assert!(seed.status.success(), "{}", text(&seed));

    let (started, printed) = serve_briefly(dir.path(), &[], "API docs");
    assert!(!started, "{printed}");
    assert!(printed.contains("demo password"), "{printed}");
    assert!(printed.contains("admin"), "{printed}");
    assert!(printed.contains("terren user disable-demo"), "{printed}");

    let (started, printed) = serve_briefly(dir.path(), &["--demo"], "demo logins");
    assert!(started, "the demo itself still runs: {printed}");
    assert!(printed.contains("DEMO MODE"), "{printed}");

    let disable = terren(dir.path(), &["user", "disable-demo"], None);
    assert!(disable.status.success(), "{}", text(&disable));
    assert!(text(&disable).contains("disabled 12 demo account(s)"), "{}", text(&disable));
    let again = terren(dir.path(), &["user", "disable-demo"], None);
    assert!(text(&again).contains("no demo account has the demo password"), "{}", text(&again));

    let (started, printed) = serve_briefly(dir.path(), &[], "API docs");
    assert!(started, "{printed}");
    let verify = terren(dir.path(), &["audit", "verify"], None);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[cfg(unix)]
#[test]
fn numbers_in_text_settings_do_not_stop_the_boot() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_terren"))
        .args(["migrate"])
        .env_clear()
        .env("TERREN_DATA_DIR", dir.path())
        .env("TERREN_NOTIFY_SMS_FROM", "+15005550006")
        .env("TERREN_NOTIFY_SMS_ACCOUNT_SID", "AC0123")
        .env("TERREN_NOTIFY_SMS_AUTH_TOKEN", "123456")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Sends one HTTP/1.1 request and returns the answer's head.
fn http_get(address: &str, path: &str, extra: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[test]
fn the_access_log_has_one_line_per_request() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let seed = terren(dir.path(), &["seed"], None);
    assert!(seed.status.success(), "{}", text(&seed));
    let mut child = Command::new(env!("CARGO_BIN_EXE_terren"))
        .args(["serve", "--log-json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERREN_DATA_DIR", dir.path())
        .env("TERREN_HTTP_BIND", "127.0.0.1:0")
        .env("TERREN_ALERTS_WORKER", "false")
        .env("TERREN_RETENTION_RUN_EVERY_MINUTES", "0")
        .env("TERREN_LOG_FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let wait = std::time::Duration::from_secs(60);
    let address = loop {
        let line = receiver.recv_timeout(wait).expect("the server starts");
        if let Some(url) = line.strip_prefix("Terren is running at http://") {
            break url.trim().to_owned();
        }
    };
    let healthz = http_get(&address, "/healthz", "X-Request-Id: probe-1\r\n");
    let agency = http_get(&address, &format!("/api/v1/agencies/{}", uuid::Uuid::now_v7()), "");
    let nowhere = http_get(&address, "/nowhere", "");
    let mut access = Vec::new();
    while access.len() < 3 {
        let line = receiver.recv_timeout(wait).expect("access log lines");
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
            && value["message"] == "request"
        {
            access.push(value);
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let more: Vec<String> = receiver.try_iter().filter(|l| l.contains("\"message\":\"request\"")).collect();
    assert!(more.is_empty(), "one line per request: {more:?}");

    assert!(healthz.to_ascii_lowercase().contains("x-request-id: probe-1"), "{healthz}");
    assert_eq!(access[0]["method"], "GET");
    assert_eq!(access[0]["route"], "/healthz");
    assert_eq!(access[0]["status"], 200);
    assert_eq!(access[0]["request_id"], "probe-1");
    assert_eq!(access[0]["user"], "-");
    assert!(access[0]["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{}", access[0]);
    assert_eq!(access[1]["route"], "/api/v1/agencies/{id}", "the route pattern, never the raw path");
    assert_eq!(access[1]["status"], 401);
    let id = agency.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned));
    assert_eq!(access[1]["request_id"].as_str(), id.as_deref(), "{agency}");
    assert_eq!(access[2]["route"], "unmatched");
    assert_eq!(access[2]["status"], 404, "{nowhere}");
}

#[test]
fn terren_report_writes_the_files_of_the_api_as_the_named_user_would_get_them() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = terren(dir.path(), &["seed", "--demo"], None);
    assert!(seeded.status.success(), "{}", text(&seeded));

    let workbook = dir.path().join("tirana.xlsx");
    let out = workbook.to_str().unwrap();
    let written = terren(
        dir.path(),
        &["report", "--as", "tirana.coord", "--period", "2025", "--format", "xlsx", "--out", out],
        None,
    );
    assert!(written.status.success(), "{}", text(&written));
    assert!(text(&written).contains("wrote"), "{}", text(&written));
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&workbook).unwrap();
    let sheets = book.sheet_names();
    assert!(sheets.len() > 20, "a cover and a sheet per table: {sheets:?}");
    let cover = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<String> = cover.rows().flat_map(|row| row.iter().map(|c| c.to_string())).collect();
    assert!(cells.iter().any(|c| c == "Tiranë (AL224)"), "the coordinator's municipality: {cells:?}");

    // To standard output as CSV, for the national viewer: the whole country with small numbers hidden.
    let csv = terren(dir.path(), &["report", "--as", "ashdmf.analyst", "--period", "2025", "--out", "-"], None);
    assert!(csv.status.success(), "{}", text(&csv));
    let body = String::from_utf8(csv.stdout).unwrap();
    assert!(body.starts_with('\u{feff}'), "byte-order mark: {}", body.chars().take(300).collect::<String>());
    assert!(body.contains("Zona / Area,AL,"), "{body}");

    // The API's refusals, in words.
    let bad = terren(dir.path(), &["report", "--as", "tirana.coord", "--period", "2025-Q5"], None);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("period") && text(&bad).contains("invalid_format"), "{}", text(&bad));
    let outside = terren(dir.path(), &["report", "--as", "tirana.coord", "--period", "2025", "--area", "AL213"], None);
    assert!(text(&outside).contains("area_outside_scope"), "{}", text(&outside));
    let field = terren(dir.path(), &["report", "--as", "tirana.field", "--period", "2025"], None);
    assert!(text(&field).contains("forbidden"), "{}", text(&field));
}
