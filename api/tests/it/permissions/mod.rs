//! The permission table of `docs/security.md`, walked over HTTP. Users of every role are made in
//! the agency that owns the records (Tirana's child-protection unit, NJMF), in another agency of
//! the same municipality that also serves the place (Tirana county's State Police directorate),
//! and in an agency of another municipality (Elbasan's NJMF); the national roles come once. Each
//! of them tries each write endpoint, and each write a phone can upload in a batch
//! (`POST /api/v1/sync/batch`) as a batch operation too, held to the same line of the table.
//!
//! Allowed means the request got past the permission and scope checks: 2xx, or 409/412 because an
//! earlier allowed request already changed the record. Refused means 403, or 404 (or 422
//! `unknown_identification`) where the record's existence is not revealed. Endpoints for one's
//! own things are walked too; that a team member may work the round, and who may offer a swap
//! (which depends on who is on duty), are checked in `rounds.rs` and `rota_publishing.rs`.

use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{Value, json};

use crate::fixtures::sighting;
use crate::fixtures::{daily_layer, user_id};
use crate::harness::{PASSWORD, Response, TestApp};

/// Columns of every expectation, in this order.
const ROLES: [&str; 8] = [
    "field_worker",
    "duty_officer",
    "coordinator",
    "case_manager",
    "partner_responder",
    "agency_admin",
    "national_viewer",
    "system_admin",
];

const OWN: &str = "AL224-NJMF";
const SAME_MUNICIPALITY: &str = "AL-11-DVP";
const OTHER_MUNICIPALITY: &str = "AL213-NJMF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Own,
    SameMunicipality,
    OtherMunicipality,
    National,
}

struct Actor {
    role: usize,
    rel: Rel,
    username: String,
    id: String,
    token: String,
}

/// One expectation per role (columns as in [`ROLES`]): `-` refused; `o` the owning agency only;
/// `s` the owning agency and the other agency of its municipality, which serves the place; `a`
/// anyone holding the role.
fn allowed(spec: &str, actor: &Actor) -> bool {
    match (spec.as_bytes()[actor.role], actor.rel) {
        (b'-', _) => false,
        (b'a', _) => true,
        (b'o', rel) => rel == Rel::Own,
        (b's', rel) => matches!(rel, Rel::Own | Rel::SameMunicipality),
        (other, _) => panic!("unknown expectation {}", other as char),
    }
}

#[derive(Clone, Copy)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

/// Records the requests refer to, all of the owning agency.
#[derive(Default)]
struct World {
    agency: String,
    member: String,
    sighting: String,
    spare_sighting: String,
    profile: String,
    alert: String,
    referral: String,
    rule: String,
    webhook: String,
    hotspot: String,
    team: String,
    schedule: String,
    deadline_policy: Value,
    case_manager: String,
    second_profile: String,
    merge: String,
    round: String,
    override_id: String,
    feed: String,
    device: String,
    member_username: String,
    forward_to: String,
    series: String,
    swap: String,
    protection_case: String,
}

/// A weekly series of the owning agency's team.
fn series(w: &World, version: Option<i32>) -> Value {
    json!({ "team_id": w.team, "weekdays": ["mon"], "windows": [{ "starts": "10:00", "ends": "12:00" }],
            "starts_on": "2026-03-09", "ends_on": "2026-03-20", "purpose": "patrol",
            "stops": [{ "area_code": "AL224" }], "version": version })
}

/// Whether a successful request uses its record up, so that it is made again for the next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fresh {
    No,
    RoutingRule,
    /// The spare sighting is linked again after an unlink.
    Link,
    /// The member is locked out again after a lift.
    Lockout,
    /// A merge's id is kept for the unmerge.
    Merge,
}

struct Case {
    name: &'static str,
    /// Per role, as [`allowed`] reads it.
    expect: &'static str,
    method: Method,
    path: fn(&World) -> String,
    body: fn(&World, &Actor, usize) -> Value,
    fresh: Fresh,
    /// Another status that means the checks were passed (a rule of the record, not of the role).
    also: Option<u16>,
}

fn uuid(n: usize) -> String {
    format!("019a2b3c-4d5e-7f00-9a1b-{n:012}")
}

/// A place the actor's agency serves: Tirana's square, or Elbasan's centre.
fn home(actor: &Actor) -> (f64, f64) {
    if actor.rel == Rel::OtherMunicipality { (41.1125, 20.0822) } else { (41.3275, 19.8187) }
}

mod accounts;
mod batch;
mod cases_records;
mod cases_workflow;
mod records;
mod walk;

/// Every write endpoint the walk tries, in the order it tries them (later cases rely on what
/// earlier allowed ones changed).
fn cases() -> Vec<Case> {
    let mut cases = cases_records::cases();
    cases.extend(cases_workflow::cases());
    cases
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str, key: &str, body: &Value) -> Response {
    let req = match method {
        Method::Post => test::TestRequest::post(),
        Method::Put => test::TestRequest::put(),
        Method::Patch => test::TestRequest::patch(),
        Method::Delete => test::TestRequest::delete(),
    };
    let mut req = req
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key.to_owned()));
    if !body.is_null() {
        req = req.set_json(body);
    }
    app.request(req).await
}

fn passed_the_checks(status: StatusCode) -> bool {
    status.is_success() || status == StatusCode::CONFLICT || status == StatusCode::PRECONDITION_FAILED
}

/// 403, 404, or a 422 that answers as if the named sighting or profile did not exist.
fn refused(res: &Response) -> bool {
    let as_unknown = res.status == StatusCode::UNPROCESSABLE_ENTITY
        && res.body["errors"].as_array().is_some_and(|e| {
            e.len() == 1 && matches!(e[0]["code"].as_str(), Some("unknown_identification" | "unknown_profile"))
        });
    res.status == StatusCode::FORBIDDEN || res.status == StatusCode::NOT_FOUND || as_unknown
}

/// A signed-in user with one role (by its wire name) in an agency: their id and token.
async fn person(app: &TestApp, username: &str, agency: &str, role: &str) -> (String, String) {
    let role: terren_contract::Role = serde_json::from_value(json!(role)).unwrap();
    let person = crate::fixtures::person(app, username, agency, &[role]).await;
    (person.id, person.token)
}

/// Wrong passwords until the account must wait, from the address every test request comes from.
async fn lock_out(app: &TestApp, username: &str) {
    for _ in 0..5 {
        app.login_full(username, "not-the-password", "d").await;
    }
    assert_eq!(app.login_full(username, "not-the-password", "d").await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn created(app: &TestApp, method: Method, path: &str, token: &str, key: &str, body: &Value) -> Value {
    let res = send(app, method, path, token, key, body).await;
    assert!(res.status.is_success(), "{path}: {} {}", res.status, res.body);
    res.body
}

async fn agency_id(app: &TestApp, token: &str, code: &str) -> String {
    let res = app.get(&format!("/api/v1/agencies?q={code}&include_inactive=true"), Some(token)).await;
    res.body.as_array().unwrap().iter().find(|a| a["code"] == code).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn count_rows(app: &TestApp, table: &'static str) -> i64 {
    use diesel::prelude::*;
    use terren_api::db::schema::{alerts, audit_log};
    app.db(move |conn| match table {
        "alerts" => alerts::table.count().get_result(conn).unwrap(),
        _ => audit_log::table.count().get_result(conn).unwrap(),
    })
    .await
}

async fn audited_actions(app: &TestApp, action: &'static str) -> i64 {
    use diesel::prelude::*;
    use terren_api::db::schema::audit_log;
    app.db(move |conn| audit_log::table.filter(audit_log::action.eq(action)).count().get_result(conn).unwrap()).await
}
