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
