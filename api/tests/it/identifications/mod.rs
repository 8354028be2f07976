use actix_web::http::StatusCode;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{audit_log, idempotency_keys, identifications, outbox_jobs};

pub use crate::fixtures::sighting;
use crate::harness::{TestApp, post_idempotent_on};

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
