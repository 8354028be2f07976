use actix_web::http::StatusCode;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{audit_log, idempotency_keys, identifications, outbox_jobs};

use crate::harness::{TestApp, post_idempotent_on};

/// A girl of about 9 selling tissues at a junction near Skanderbeg Square, with an adult.
pub fn sighting(id: &str) -> Value {
    json!({
        "id": id,
        "observed_at": "2026-03-02T08:55:00Z",
        "location": {"lat": 41.3275, "lon": 19.8187, "accuracy_m": 12.0, "fix_time": "2026-03-02T08:54:50Z", "source": "gps"},
        "place_description": "traffic lights at the square",
        "subject_type": "child",
        "estimated_age": 9,
        "sex": "female",
        "nationality": "AL",
        "languages": ["sq"],
        "residence_origin": "other_municipality",
        "street_situations": ["selling_items"],
        "accompanied_by": "other_adult",
        "risk_factors": ["school_dropout"],
        "exploitation_indicators": ["forced_begging"],
        "visible_conditions": ["exposure"],
        "immediate_needs": ["food"],
        "actions_taken": ["food_or_water_given", "information_given"],
        "consent_given_by": "child",
        "risk_level": "high",
        "notes": "says her name is Ana"
    })
}

/// A change to a valid sighting that makes it invalid.
type Change = Box<dyn Fn(&mut Value)>;

const ID: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b";

async fn count(app: &TestApp) -> i64 {
    app.db(|conn| identifications::table.count().get_result(conn).unwrap()).await
}

fn id(n: u32) -> String {
    format!("019a2b3c-4d5e-7f00-8a1b-{n:012}")
}

mod lists;
mod recording;
