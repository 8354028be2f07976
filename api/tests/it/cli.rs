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
    assert!(text(&migrate).contains("9 migration(s) applied"), "{}", text(&migrate));
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
