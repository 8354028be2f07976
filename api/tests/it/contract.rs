//! The committed contract matches what the code generates.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = terren_api::openapi::to_pretty_json().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mobile-contract/openapi.json");
    if std::env::var("TERREN_UPDATE_CONTRACT").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "mobile-contract/openapi.json is out of date: run `TERREN_UPDATE_CONTRACT=1 cargo test committed_openapi` \
         and record the change in mobile-contract/CHANGELOG.md"
    );
}

#[test]
fn the_contract_documents_problems_and_security() {
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/areas/locate",
        "/api/v1/agencies",
        "/api/v1/vocabularies",
        "/api/v1/users",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the contract");
    }
}

#[test]
fn every_operation_declares_its_errors_as_problems_and_the_version_is_the_changelogs() {
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let public =
                operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r == &serde_json::json!({})));
            let responses = operation["responses"].as_object().unwrap();
            assert!(public || responses.contains_key("401"), "{method} {path} needs a token but declares no 401");
            for (status, response) in responses {
                if status == "default" || status.starts_with(['4', '5']) {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    let own = response["content"].as_object().is_some_and(|c| !c.is_empty());
                    assert!(schema == "#/components/schemas/Problem" || own, "{method} {path} {status}: {response}");
                }
            }
            assert!(responses.contains_key("default"), "{method} {path}");
        }
    }
    assert!(operations > 100, "{operations}");
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap();
    assert!(codes.iter().any(|c| c == "sync_cursor_expired") && codes.len() >= 40, "{codes:?}");

    let changelog = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mobile-contract/CHANGELOG.md"),
    )
    .unwrap();
    let latest = changelog.lines().find_map(|line| line.strip_prefix("## ")).unwrap();
    let version = latest.split_whitespace().next().unwrap();
    assert_eq!(doc["info"]["version"], version, "the document's version is the changelog's latest");
}
