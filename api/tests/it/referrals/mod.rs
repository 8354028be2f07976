//! Referrals through the API and the job worker, with an injected clock: routing, consent,
//! deadlines and their breaches, the lifecycle, and who sees what.

use actix_web::http::StatusCode;
use chrono::Duration;
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::db::schema::{alerts, notification_attempts, referral_events};
use terren_api::worker;
use terren_contract::Role;

use crate::fixtures::sighting;
use crate::fixtures::{daily_layer, error_codes, person, recorded_sighting, referral, user_id};
use crate::harness::TestApp;

mod inbox;
mod lifecycle;
mod paging;
mod sending;

const SIGHTING: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a01";

const REFERRAL: &str = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6b01";

/// A sighting recorded by the QKT field worker; returns its id.
async fn record_sighting(app: &TestApp, id: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut body = sighting(id);
    change(&mut body);
    recorded_sighting(app, "tirana.field", &body).await.id.to_string()
}

async fn refer(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post_idempotent("/api/v1/referrals", token, &format!("r-{}", body["id"]), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body
}

fn deadline<'a>(referral: &'a Value, kind: &str) -> &'a Value {
    referral["deadlines"].as_array().unwrap().iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("{kind}"))
}

async fn alert_rows(app: &TestApp, referral: &str) -> Vec<(String, String, String, Option<String>)> {
    let referral = referral.to_owned();
    app.db(move |conn| {
        alerts::table
            .filter(alerts::referral_id.eq(&referral))
            .order(alerts::created_at.asc())
            .select((alerts::source, alerts::state, alerts::agency_id, alerts::dedup_key))
            .load(conn)
            .unwrap()
    })
    .await
}

async fn paged(app: &TestApp, user: &str) -> i64 {
    let user = user.to_owned();
    app.db(move |conn| {
        notification_attempts::table
            .filter(notification_attempts::recipient_user_id.eq(&user))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

async fn event_kinds(app: &TestApp, referral: &str) -> Vec<String> {
    let referral = referral.to_owned();
    app.db(move |conn| {
        referral_events::table
            .filter(referral_events::referral_id.eq(&referral))
            .order((referral_events::occurred_at.asc(), referral_events::id.asc()))
            .select(referral_events::kind)
            .load(conn)
            .unwrap()
    })
    .await
}

async fn agency_id(app: &TestApp, token: &str, code: &str) -> String {
    let res = app.get(&format!("/api/v1/agencies?q={code}&include_inactive=true"), Some(token)).await;
    res.body.as_array().unwrap().iter().find(|a| a["code"] == code).unwrap()["id"].as_str().unwrap().to_owned()
}
