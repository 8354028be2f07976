//! The limits the document states are the server's: a value at a limit is taken, a value just past
//! it is refused with 422 and the field code the document gives for that kind of limit. The query
//! parameters' limits are read from the document, so a limit declared on a list later is checked
//! too; of the bodies, a sighting's age and birth year and a new user's password.

use actix_web::http::StatusCode;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::example;
use crate::harness::{Response, TestApp};

fn document() -> Value {
    serde_json::from_str(&terren_api::openapi::to_pretty_json().unwrap()).unwrap()
}

/// The field code the document's `FieldErrorCode` gives for breaking a schema keyword.
fn documented_code(doc: &Value, keyword: &str) -> String {
    let description = doc["components"]["schemas"]["FieldErrorCode"]["description"].as_str().unwrap();
    let codes: Vec<&str> = description
        .lines()
        .filter(|line| line.contains(keyword))
        .filter_map(|line| line.strip_prefix("- `")?.split('`').next())
        .collect();
    assert_eq!(codes.len(), 1, "which field code breaks `{keyword}`: {codes:?}");
    codes[0].to_owned()
}

/// A value at a limit, and one just past it with the field code it gets.
struct Edge {
    at: Value,
    past: Option<(Value, String)>,
}

/// The edges of a schema's limits. A minimum of 0 alone is what the document says of an unsigned
/// number, not a rule: a value below it is not a number of the parameter's type.
fn edges(doc: &Value, schema: &Value) -> Vec<Edge> {
    let schema =
        schema["oneOf"].as_array().and_then(|options| options.iter().find(|o| o["type"] != "null")).unwrap_or(schema);
    let text = |length: u64| json!("x".repeat(usize::try_from(length).unwrap()));
    let mut edges = Vec::new();
    let edge = |at: Value, past: Value, keyword: &str| Edge { at, past: Some((past, documented_code(doc, keyword))) };
    if let Some(max) = schema["maximum"].as_i64() {
        edges.push(edge(json!(max), json!(max + 1), "maximum"));
    }
    match schema["minimum"].as_i64() {
        Some(min) if min > 0 => edges.push(edge(json!(min), json!(min - 1), "minimum")),
        Some(min) if schema["maximum"].is_number() => edges.push(Edge { at: json!(min), past: None }),
        _ => {}
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        edges.push(edge(text(max), text(max + 1), "maxLength"));
    }
    if let Some(min) = schema["minLength"].as_u64().filter(|min| *min > 0) {
        edges.push(edge(text(min), text(min - 1), "minLength"));
    }
    edges
}

#[track_caller]
fn refused(res: &Response, field: &str, code: &str, what: &str) {
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", res.body);
    let errors = res.body["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{what}: expected `{code}`: {}", res.body);
}

fn in_query(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// A value as a message names it: a number, or a text by its length.
fn shown(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), |text| format!("{} characters", text.chars().count()))
}

#[actix_web::test]
async fn every_limit_of_a_lists_query_is_the_servers() {
    let doc = document();
    let app = TestApp::spawn().await;
    let token = app.login("tirana.coord").await;
    let mut checked = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(parameters) = item["get"]["parameters"].as_array() else { continue };
        for parameter in parameters.iter().filter(|p| p["in"] == "query") {
            let name = parameter["name"].as_str().unwrap();
            let edges = edges(&doc, &parameter["schema"]);
            if edges.is_empty() {
                continue;
            }
            let others: Vec<&Value> =
                parameters.iter().filter(|p| p["required"] == true && p["name"] != name).collect();
            assert!(
                !path.contains('{') && others.is_empty(),
                "GET {path} states limits of `{name}` but needs other parameters: teach this test to send them"
            );
            for edge in edges {
                let at = format!("{path}?{name}={}", in_query(&edge.at));
                let res = app.get(&at, Some(&token)).await;
                assert!(res.status.is_success(), "GET {at}: {} {}", res.status, res.body);
                if let Some((value, code)) = &edge.past {
                    let past = format!("{path}?{name}={}", in_query(value));
                    refused(&app.get(&past, Some(&token)).await, name, code, &format!("GET {past}"));
                }
            }
            checked.push(format!("GET {path} {name}"));
        }
    }
    // The lists' `limit`: alerts, child profiles, referrals, sync, and the sightings' list and map.
    assert!(checked.len() >= 6, "{checked:#?}");
}

/// A sighting made now with `field` set to `value`, the other of age and birth year left out and
/// the subject the age makes it.
fn sighting(now: DateTime<Utc>, field: &str, value: &Value) -> Value {
    let mut body = example("create_identification_request.json");
    body["id"] = json!(Uuid::now_v7());
    body["observed_at"] = json!(now);
    body["location"]["fix_time"] = json!(now);
    body["estimated_age"] = Value::Null;
    body["birth_year"] = Value::Null;
    body[field] = value.clone();
    let age = match field {
        "birth_year" => value.as_i64().map(|year| i64::from(now.year()) - year),
        _ => value.as_i64(),
    };
    if age.is_some_and(|age| age >= 18) {
        body["subject_type"] = json!("adult");
    }
    body
}

#[actix_web::test]
async fn body_limits_of_age_birth_year_and_password_are_the_servers() {
    let doc = document();
    let app = TestApp::spawn().await;
    // The birth year's upper limit is a year a sighting can be made in only then.
    app.clock.set(Utc.with_ymd_and_hms(2100, 6, 1, 12, 0, 0).single().unwrap());
    let now = terren_api::clock::to_utc(app.clock_naive());
    let field_worker = app.login("tirana.field").await;
    let admin = app.login("admin").await;
    let schemas = &doc["components"]["schemas"];
    let mut users = 0;
    for (schema, field) in [
        ("CreateIdentification", "estimated_age"),
        ("CreateIdentification", "birth_year"),
        ("CreateUserRequest", "password"),
    ] {
        let edges = edges(&doc, &schemas[schema]["properties"][field]);
        assert!(!edges.is_empty(), "{schema}.{field} states no limit");
        for edge in edges {
            let past = edge.past.as_ref().map(|(value, code)| (value, Some(code)));
            for (value, code) in [(&edge.at, None)].into_iter().chain(past) {
                let res = match schema {
                    "CreateIdentification" => {
                        let body = sighting(now, field, value);
                        let key = body["id"].as_str().unwrap().to_owned();
                        app.post_idempotent("/api/v1/identifications", &field_worker, &key, &body).await
                    }
                    _ => {
                        let mut body = example("create_user_request.json");
                        body["username"] = json!(format!("limits.{users}"));
                        body[field] = value.clone();
                        users += 1;
                        app.post("/api/v1/users", Some(&admin), &body).await
                    }
                };
                let what = format!("{schema}.{field} = {}", shown(value));
                match code {
                    Some(code) => refused(&res, field, code, &what),
                    None => assert!(res.status.is_success(), "{what}: {} {}", res.status, res.body),
                }
            }
        }
    }
}
