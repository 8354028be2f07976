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

/// Every `#[validate(...)]` rule of the wire types is in the document, where a generated client
/// reads it: the component schema's property, or the query parameter.
#[test]
fn every_validation_rule_is_declared_in_the_document() {
    use terren_contract::schema_rules::{FIELD_RULES, Holder, PARAMETER_STRUCTS, Rule, same};
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    assert!(FIELD_RULES.len() >= 150, "build.rs found only {} rules", FIELD_RULES.len());
    let mut parameters_seen = 0;
    for rule in FIELD_RULES {
        let declared: Vec<&serde_json::Value> = match rule.holder {
            Holder::Schema => {
                let property = &doc["components"]["schemas"][rule.name]["properties"][rule.field];
                let value = property["oneOf"]
                    .as_array()
                    .and_then(|options| options.iter().find(|o| o["type"] != "null"))
                    .unwrap_or(property);
                vec![value]
            }
            Holder::Parameters => {
                let (_, fields) = PARAMETER_STRUCTS.iter().find(|(name, _)| *name == rule.name).unwrap();
                doc["paths"]
                    .as_object()
                    .unwrap()
                    .values()
                    .flat_map(|item| item.as_object().unwrap().values())
                    .filter_map(|operation| operation["parameters"].as_array())
                    .filter(|parameters| {
                        let query: Vec<&str> = parameters
                            .iter()
                            .filter(|p| p["in"] == "query")
                            .filter_map(|p| p["name"].as_str())
                            .collect();
                        same(fields, &query)
                    })
                    .flatten()
                    .filter(|p| p["name"] == rule.field)
                    .map(|p| &p["schema"])
                    .collect()
            }
        };
        assert!(!declared.is_empty(), "{rule:?} is in no operation");
        if rule.holder == Holder::Parameters {
            parameters_seen += 1;
        }
        for schema in declared {
            let number = |key: &str| schema[key].as_f64();
            let count = |key: &str| schema[key].as_u64();
            let fits = match rule.rule {
                Rule::Length { min, max } if schema["type"] == "array" || schema["type"][0] == "array" => {
                    count("minItems") == min && count("maxItems") == max
                }
                Rule::Length { min, max } => count("minLength") == min && count("maxLength") == max,
                Rule::Range { min, max } => number("minimum") == min && number("maximum") == max,
                Rule::Url => schema["format"] == "uri",
                Rule::Email => schema["format"] == "email",
            };
            assert!(fits, "{rule:?} is not declared: {schema}");
        }
    }
    assert!(parameters_seen >= 6, "the paging `limit` of the lists");
    let identification = &doc["components"]["schemas"]["CreateIdentification"]["properties"];
    assert_eq!(identification["estimated_age"]["maximum"], 120, "a known rule, read from the source");
}

/// The field codes a client may switch on are one closed set, listed with their meaning, and
/// `FieldError.code` refers to it; the same for the problem codes.
#[test]
fn field_and_problem_codes_are_closed_sets_in_the_document() {
    use terren_contract::problem::FieldErrorCode;
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["FieldError"]["properties"]["code"]["$ref"], "#/components/schemas/FieldErrorCode");
    let listed: Vec<&str> =
        schemas["FieldErrorCode"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let emitted: Vec<&str> = FieldErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, emitted);
    let description = schemas["FieldErrorCode"]["description"].as_str().unwrap();
    for code in FieldErrorCode::ALL {
        assert!(description.contains(&format!("- `{}`: {}", code.as_str(), code.meaning())), "{code}");
        assert_eq!(FieldErrorCode::parse(code.as_str()), Some(*code));
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
    let problem_codes: Vec<&str> =
        schemas["ErrorCode"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let server_codes: Vec<&str> = terren_api::http::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(problem_codes, server_codes);
}

/// A client generator names what the document names: no union carries an anonymous object
/// (only `null` beside a named schema, for optional fields), and every union is told apart by a
/// discriminator.
#[test]
fn every_union_member_is_a_named_schema() {
    fn walk(value: &serde_json::Value, at: &str, anonymous: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for key in ["oneOf", "anyOf"] {
                    for member in map.get(key).and_then(|m| m.as_array()).into_iter().flatten() {
                        let named = member.get("$ref").is_some();
                        let null = member["type"] == "null";
                        let plain = member.get("properties").is_none() && member.get("allOf").is_none();
                        if !(named || null || plain) {
                            anonymous.push(format!("{at}/{key}"));
                        }
                    }
                }
                for (key, inner) in map {
                    walk(inner, &format!("{at}/{key}"), anonymous);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, at, anonymous)),
            _ => {}
        }
    }
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    let mut anonymous = Vec::new();
    walk(&doc, "", &mut anonymous);
    assert!(anonymous.is_empty(), "unions with anonymous members: {anonymous:#?}");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Target"]["discriminator"]["propertyName"], "kind");
    assert_eq!(schemas["Target"]["discriminator"]["mapping"]["on_call"], "#/components/schemas/TargetOnCall");
    assert!(schemas["BatchOperationRecordSighting"]["allOf"].is_array());
}

/// The webhooks Terren sends are in the document, with the headers a receiver verifies.
#[test]
fn the_webhooks_terren_sends_are_documented() {
    let doc: serde_json::Value = serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap();
    let alert = &doc["webhooks"]["alert"]["post"];
    assert_eq!(
        alert["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AlertWebhook"
    );
    let headers: Vec<&str> =
        alert["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(headers, ["X-Terren-Delivery", "X-Terren-Timestamp", "X-Terren-Signature"]);
    assert!(doc["components"]["schemas"]["AlertWebhook"]["examples"].is_array());
}
