//! Hotspots, teams and field rounds through the API and the job worker, with an injected clock;
//! coverage checked against hand-counted fixtures.

use actix_web::http::StatusCode;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use terren_api::worker;

use crate::fixtures::{daily_layer, error_codes, user_id};
use crate::fixtures::{recorded_sighting, sighting};
use crate::harness::TestApp;

mod coverage;
mod field;
mod hotspots;
mod planning;

/// The traffic lights at Skanderbeg Square, 100 m around.
const LIGHTS: (f64, f64) = (41.3275, 19.8187);

/// A market about 700 m north-east of the square.
const MARKET: (f64, f64) = (41.3320, 19.8240);

async fn hotspot(app: &TestApp, token: &str, name: &str, shape: Value) -> String {
    let res = app
        .post(
            "/api/v1/hotspots",
            Some(token),
            &json!({ "name": name, "kind": "traffic_light_junction", "shape": shape }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

fn circle((lat, lon): (f64, f64), radius_m: f64) -> Value {
    json!({ "type": "circle", "lat": lat, "lon": lon, "radius_m": radius_m })
}

/// A sighting at a place and time (UTC), recorded by the QKT field worker; returns it.
async fn seen(app: &TestApp, n: u32, (lat, lon): (f64, f64), observed_at: &str) -> Value {
    let id = format!("019a2b3c-4d5e-7f00-8a1b-{n:012}");
    let mut body = sighting(&id);
    body["observed_at"] = json!(observed_at);
    body["location"]["lat"] = json!(lat);
    body["location"]["lon"] = json!(lon);
    body["location"]["fix_time"] = json!(observed_at);
    serde_json::to_value(recorded_sighting(app, "tirana.field", &body).await).unwrap()
}

/// A few metres from `place`, by index.
fn near((lat, lon): (f64, f64), i: u32) -> (f64, f64) {
    (lat + f64::from(i % 3) * 0.0001, lon + f64::from(i / 3) * 0.0001)
}

async fn squad(app: &TestApp, coordinator: &str, members: &[&'static str]) -> String {
    let mut ids = Vec::new();
    for member in members {
        ids.push(user_id(app, member).await);
    }
    let res = app
        .post(
            "/api/v1/teams",
            Some(coordinator),
            &json!({ "name": "Skuadra 1", "kind": "squad", "members": ids, "phone": "+355690001111" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["id"].as_str().unwrap().to_owned()
}

fn round(id: u32, team: &str, starts: &str, ends: &str, stops: Value) -> Value {
    json!({
        "id": format!("019a2b3c-4d5e-7f00-8a1b-{:012}", 900_000 + id),
        "team_id": team,
        "starts_at": starts,
        "ends_at": ends,
        "purpose": "patrol",
        "stops": stops,
    })
}

async fn plan(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/rounds", Some(token), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

fn fix((lat, lon): (f64, f64)) -> Value {
    json!({ "lat": lat, "lon": lon, "accuracy_m": 10.0, "source": "gps" })
}
