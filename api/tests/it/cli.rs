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
    assert!(text(&migrate).contains("8 migration(s) applied"), "{}", text(&migrate));
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
