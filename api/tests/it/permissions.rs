//! The permission table of `docs/security.md`, walked over HTTP. Users of every role are made in
//! the agency that owns the records (Tirana's child-protection unit, NJMF), in another agency of
//! the same municipality that also serves the place (Tirana county's State Police directorate),
//! and in an agency of another municipality (Elbasan's NJMF); the national roles come once. Each
//! of them tries each write endpoint.
//!
//! Allowed means the request got past the permission and scope checks: 2xx, or 409/412 because an
//! earlier allowed request already changed the record. Refused means 403, or 404 (or 422
//! `unknown_identification`) where the record's existence is not revealed. Endpoints for one's
//! own things are walked too; that a team member may work the round, and who may offer a swap
//! (which depends on who is on duty), are checked in `rounds.rs` and `rota_publishing.rs`.

use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{Value, json};

use crate::harness::{PASSWORD, Response, TestApp};
use crate::identifications::sighting;
use crate::rotas::{daily_layer, user_id};

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

fn cases() -> Vec<Case> {
    use Method::*;
    vec![
        // Accounts and agencies.
        Case {
            name: "POST /users (in the owning agency)",
            expect: "-----o-a",
            method: Post,
            path: |_| "/api/v1/users".into(),
            body: |_, _, n| {
                json!({ "username": format!("walk.new{n}"), "display_name": "New", "agency_code": OWN,
                        "roles": ["field_worker"], "password": "temporary-pass-1" })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /users/{id}/disable",
            expect: "-----o-a",
            method: Post,
            path: |w| format!("/api/v1/users/{}/disable", w.member),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /users/{id}/enable",
            expect: "-----o-a",
            method: Post,
            path: |w| format!("/api/v1/users/{}/enable", w.member),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /users/{id}/reset-password",
            expect: "-----o-a",
            method: Post,
            path: |w| format!("/api/v1/users/{}/reset-password", w.member),
            body: |_, _, _| json!({ "password": "temporary-pass-2" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /agencies",
            expect: "-------a",
            method: Post,
            path: |_| "/api/v1/agencies".into(),
            body: |_, _, n| {
                json!({ "code": format!("AL224-WALK-{n}"), "name": "Walk", "agency_type": "ngo",
                        "municipality_code": "AL224", "area_codes": ["AL224"] })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PATCH /agencies/{id}",
            expect: "-----o-a",
            method: Patch,
            path: |w| format!("/api/v1/agencies/{}", w.agency),
            body: |_, _, _| json!({ "version": 1, "hours": "24/7" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /areas/reload",
            expect: "-------a",
            method: Post,
            path: |_| "/api/v1/areas/reload".into(),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        // Municipal policies: the municipality's child-protection administration.
        Case {
            name: "POST /referral-routes (Tirana)",
            expect: "-----o-a",
            method: Post,
            path: |_| "/api/v1/referral-routes".into(),
            body: |_, _, _| {
                json!({ "municipality_code": "AL224", "subject_type": "child", "service": "shelter_placement",
                        "agency_types": ["shelter"] })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /referral-routes/{id} (Tirana)",
            expect: "-----o-a",
            method: Put,
            path: |w| format!("/api/v1/referral-routes/{}", w.rule),
            body: |_, _, _| {
                json!({ "municipality_code": "AL224", "subject_type": "child",
                        "agency_types": ["child_protection_unit"], "version": 1 })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "DELETE /referral-routes/{id} (Tirana)",
            expect: "-----o-a",
            method: Delete,
            path: |w| format!("/api/v1/referral-routes/{}", w.rule),
            body: |_, _, _| Value::Null,
            fresh: Fresh::RoutingRule,
            also: None,
        },
        Case {
            name: "PUT /referral-deadline-policies/AL224",
            expect: "-----o-a",
            method: Put,
            path: |_| "/api/v1/referral-deadline-policies/AL224".into(),
            body: |w, _, _| json!({ "policy": w.deadline_policy }),
            fresh: Fresh::No,
            also: None,
        },
        // Sightings and child records: those who work the case, where their agency works.
        Case {
            name: "POST /identifications",
            expect: "a-a-----",
            method: Post,
            path: |_| "/api/v1/identifications".into(),
            body: |_, actor, n| {
                let mut body = sighting(&uuid(n));
                let (lat, lon) = home(actor);
                body["location"]["lat"] = json!(lat);
                body["location"]["lon"] = json!(lon);
                body
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /identifications/{id}/link",
            expect: "s-s-----",
            method: Post,
            path: |w| format!("/api/v1/identifications/{}/link", w.spare_sighting),
            body: |_, _, n| json!({ "new_profile": { "id": uuid(n) } }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PATCH /child-profiles/{id} (facts)",
            expect: "s-ss----",
            method: Patch,
            path: |w| format!("/api/v1/child-profiles/{}", w.profile),
            body: |_, _, _| json!({ "version": 1, "sex": "male", "birth_year": 2015 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PATCH /child-profiles/{id} (status)",
            expect: "--ss----",
            method: Patch,
            path: |w| format!("/api/v1/child-profiles/{}", w.profile),
            body: |_, _, _| json!({ "version": 1, "status": "closed" }),
            fresh: Fresh::No,
            also: None,
        },
        // Referrals addressed to the owning agency are answered by it.
        Case {
            name: "POST /referrals/{id}/acknowledge",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/acknowledge", w.referral),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        // Alerts.
        Case {
            name: "POST /alerts (for the owning agency)",
            expect: "ooaa----",
            method: Post,
            path: |_| "/api/v1/alerts".into(),
            body: |w, _, n| json!({ "severity": "high", "title": format!("walk {n}"), "agency_id": w.agency }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /alerts/{id}/acknowledge",
            expect: "-oooo---",
            method: Post,
            path: |w| format!("/api/v1/alerts/{}/acknowledge", w.alert),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /alerts/{id}/resolve",
            expect: "-oooo---",
            method: Post,
            path: |w| format!("/api/v1/alerts/{}/resolve", w.alert),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /alerts/{id}/cancel",
            expect: "--o-----",
            method: Post,
            path: |w| format!("/api/v1/alerts/{}/cancel", w.alert),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /agencies/{id}/escalation-policy",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/agencies/{}/escalation-policy", w.agency),
            body: |w, _, _| {
                json!({ "policy": { "steps": [{ "targets": [{ "kind": "user", "user_id": w.case_manager }],
                                                 "wait_minutes": 5 }], "fallback": [] } })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /webhook-endpoints",
            expect: "--a--a--",
            method: Post,
            path: |_| "/api/v1/webhook-endpoints".into(),
            body: |_, _, n| json!({ "name": format!("hook {n}"), "url": "https://hooks.example.org/terren" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /webhook-endpoints/{id}/deactivate",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/webhook-endpoints/{}/deactivate", w.webhook),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        // Planning: an agency plans its own rotas, hotspots and teams.
        Case {
            name: "POST /hotspots",
            expect: "--a--a--",
            method: Post,
            path: |_| "/api/v1/hotspots".into(),
            body: |_, actor, n| {
                let (lat, lon) = home(actor);
                json!({ "name": format!("spot {n}"), "kind": "traffic_light_junction",
                        "shape": { "type": "circle", "lat": lat, "lon": lon, "radius_m": 80.0 } })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /hotspots/{id}",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/hotspots/{}", w.hotspot),
            body: |_, _, _| {
                json!({ "name": "Semaforët", "kind": "traffic_light_junction", "version": 1,
                        "shape": { "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 90.0 } })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /teams",
            expect: "--a--a--",
            method: Post,
            path: |_| "/api/v1/teams".into(),
            body: |_, actor, n| json!({ "name": format!("team {n}"), "kind": "squad", "members": [actor.id] }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /teams/{id}",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/teams/{}", w.team),
            body: |w, _, _| json!({ "name": "Skuadra", "kind": "squad", "members": [w.case_manager], "version": 1 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules",
            expect: "--a--a--",
            method: Post,
            path: |_| "/api/v1/schedules".into(),
            body: |_, actor, n| json!({ "name": format!("rota {n}"), "layers": [daily_layer(&[&actor.id], "08:00", "2026-03-02")] }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /schedules/{id}",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/schedules/{}", w.schedule),
            body: |_, _, _| json!({ "version": 1, "name": "Gadishmëria" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /agencies/{id}/planning-policy",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/agencies/{}/planning-policy", w.agency),
            body: |_, _, _| json!({ "forbid_rounds_while_on_duty": true, "missed_after_minutes": 30, "far_check_in_km": 5.0 }),
            fresh: Fresh::No,
            also: None,
        },
        // Child records.
        Case {
            name: "DELETE /identifications/{id}/link",
            expect: "--s-----",
            method: Delete,
            path: |w| format!("/api/v1/identifications/{}/link", w.spare_sighting),
            body: |_, _, _| Value::Null,
            fresh: Fresh::Link,
            also: None,
        },
        Case {
            name: "POST /child-profiles/{id}/merge",
            expect: "--s-----",
            method: Post,
            path: |w| format!("/api/v1/child-profiles/{}/merge", w.profile),
            body: |w, _, _| json!({ "from_profile_id": w.second_profile, "reason": "the same girl" }),
            fresh: Fresh::Merge,
            also: None,
        },
        Case {
            name: "POST /child-profiles/{id}/unmerge",
            expect: "--s-----",
            method: Post,
            path: |w| format!("/api/v1/child-profiles/{}/unmerge", w.profile),
            body: |w, _, _| json!({ "merge_id": w.merge, "reason": "two sisters" }),
            fresh: Fresh::No,
            also: None,
        },
        // Referrals: made where the sighting may be seen; answered by the receiving agency.
        Case {
            name: "POST /referrals",
            expect: "s-ss----",
            method: Post,
            path: |_| "/api/v1/referrals".into(),
            body: |w, _, n| {
                json!({ "id": uuid(n), "identification_id": w.sighting, "priority": "medium",
                        "reasons": ["street_situation"], "services": ["child_protection_assessment"],
                        "share": "minimal" })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/comments",
            expect: "ooooo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/comments", w.referral),
            body: |_, _, n| json!({ "text": format!("note {n}") }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/accept",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/accept", w.referral),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/start",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/start", w.referral),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/decline",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/decline", w.referral),
            body: |_, _, _| json!({ "reason": "not_our_service" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/close",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/close", w.referral),
            body: |_, _, _| json!({ "outcome": "case_opened" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/cancel",
            expect: "o-oo----",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/cancel", w.referral),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /referrals/{id}/forward",
            expect: "-o-oo---",
            method: Post,
            path: |w| format!("/api/v1/referrals/{}/forward", w.referral),
            body: |w, _, _| json!({ "to_agency_id": w.forward_to, "note": "theirs after all" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /agencies/{id}/occupancy (not a shelter: 422 once past the checks)",
            expect: "-o-ooo-a",
            method: Put,
            path: |w| format!("/api/v1/agencies/{}/occupancy", w.agency),
            body: |_, _, _| json!({ "occupied": 1 }),
            fresh: Fresh::No,
            also: Some(422),
        },
        // Accounts.
        Case {
            name: "POST /lockouts/lift",
            expect: "-----o-a",
            method: Post,
            path: |_| "/api/v1/lockouts/lift".into(),
            body: |w, _, _| json!({ "username": w.member_username, "address": "127.0.0.1" }),
            fresh: Fresh::Lockout,
            also: None,
        },
        // Rotas.
        Case {
            name: "POST /schedules/{id}/overrides",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/overrides", w.schedule),
            body: |w, _, _| {
                json!({ "user_id": w.case_manager, "starts_at": "2026-03-04T12:00:00Z",
                        "ends_at": "2026-03-04T18:00:00Z", "reason": "walk" })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/overrides/{override_id}/cancel",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/overrides/{}/cancel", w.schedule, w.override_id),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/swaps (members of its agency; 422 when not on duty then)",
            expect: "oooooo--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/swaps", w.schedule),
            body: |_, _, _| json!({ "starts_at": "2026-03-12T07:00:00Z", "ends_at": "2026-03-13T07:00:00Z" }),
            fresh: Fresh::No,
            also: Some(422),
        },
        Case {
            name: "POST /schedules/{id}/swaps/{swap_id}/take",
            expect: "oooooo--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/swaps/{}/take", w.schedule, w.swap),
            body: |_, _, _| json!({ "version": 1 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/swaps/{swap_id}/approve",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/swaps/{}/approve", w.schedule, w.swap),
            body: |_, _, _| json!({ "version": 2 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/swaps/{swap_id}/decline",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/swaps/{}/decline", w.schedule, w.swap),
            body: |_, _, _| json!({ "version": 2 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/swaps/{swap_id}/cancel (the offerer only)",
            expect: "--------",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/swaps/{}/cancel", w.schedule, w.swap),
            body: |_, _, _| json!({ "version": 2 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /schedules/{id}/calendar-feeds",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/schedules/{}/calendar-feeds", w.schedule),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /calendar-feeds/{id}/revoke",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/calendar-feeds/{}/revoke", w.feed),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: Some(410),
        },
        // Rounds: planned by the team's agency; worked by the team's members.
        Case {
            name: "POST /rounds (the owning agency's team)",
            expect: "--o--o--",
            method: Post,
            path: |_| "/api/v1/rounds".into(),
            body: |w, _, n| {
                json!({ "id": uuid(n), "team_id": w.team, "starts_at": "2026-03-05T10:00:00",
                        "ends_at": "2026-03-05T12:00:00", "purpose": "patrol", "stops": [{ "area_code": "AL224" }] })
            },
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PATCH /rounds/{id}",
            expect: "--o--o--",
            method: Patch,
            path: |w| format!("/api/v1/rounds/{}", w.round),
            body: |_, _, _| json!({ "version": 1, "notes": "bring water" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /rounds/{id}/check-in (team members only)",
            expect: "--------",
            method: Post,
            path: |w| format!("/api/v1/rounds/{}/check-in", w.round),
            body: |_, _, _| json!({ "location": { "lat": 41.3275, "lon": 19.8187, "accuracy_m": 10.0, "source": "gps" } }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /round-series (the owning agency's team)",
            expect: "--o--o--",
            method: Post,
            path: |_| "/api/v1/round-series".into(),
            body: |w, _, _| series(w, None),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /round-series/{id}",
            expect: "--o--o--",
            method: Put,
            path: |w| format!("/api/v1/round-series/{}", w.series),
            body: |w, _, _| series(w, Some(1)),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /rounds/{id}/stops/{position}/arrive (team members only)",
            expect: "--------",
            method: Post,
            path: |w| format!("/api/v1/rounds/{}/stops/0/arrive", w.round),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /rounds/{id}/stops/{position}/leave (team members only)",
            expect: "--------",
            method: Post,
            path: |w| format!("/api/v1/rounds/{}/stops/0/leave", w.round),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /rounds/{id}/check-out (team members only)",
            expect: "--------",
            method: Post,
            path: |w| format!("/api/v1/rounds/{}/check-out", w.round),
            body: |_, _, _| json!({ "report": { "children_met": 1, "adults_met": 0 } }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /rounds/{id}/cancel",
            expect: "--o--o--",
            method: Post,
            path: |w| format!("/api/v1/rounds/{}/cancel", w.round),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        // One's own things.
        Case {
            name: "POST /devices",
            expect: "aaaaaaaa",
            method: Post,
            path: |_| "/api/v1/devices".into(),
            body: |_, _, n| json!({ "platform": "android", "push_token": format!("fcm-token-of-a-walking-phone-{n:06}") }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "DELETE /devices/{id} (someone else's)",
            expect: "--------",
            method: Delete,
            path: |w| format!("/api/v1/devices/{}", w.device),
            body: |_, _, _| Value::Null,
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PUT /me/notification-rules",
            expect: "aaaaaaaa",
            method: Put,
            path: |_| "/api/v1/me/notification-rules".into(),
            body: |_, _, _| json!({ "push": true, "sms_after_minutes": 3 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /me/calendar-feeds",
            expect: "aaaaaaaa",
            method: Post,
            path: |_| "/api/v1/me/calendar-feeds".into(),
            body: |_, _, _| json!({}),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /me/password",
            expect: "aaaaaaaa",
            method: Post,
            path: |_| "/api/v1/me/password".into(),
            body: |_, _, _| json!({ "current_password": PASSWORD, "new_password": "walked-all-the-way-2026" }),
            fresh: Fresh::No,
            also: None,
        },
    ]
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

/// A signed-in user with one role in an agency, password already changed.
async fn person(app: &TestApp, system: &str, username: &str, agency: &str, role: &str) -> (String, String) {
    let created = app
        .post(
            "/api/v1/users",
            Some(system),
            &json!({ "username": username, "display_name": format!("{username} (walk)"), "agency_code": agency,
                     "roles": [role], "phone": "+355690008888", "password": "temporary-pass-1" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let login = app.login_full(username, "temporary-pass-1", "walk-phone").await;
    let token = login.body["access_token"].as_str().unwrap().to_owned();
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(&token),
            &json!({ "current_password": "temporary-pass-1", "new_password": PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    (created.body["id"].as_str().unwrap().to_owned(), app.login(username).await)
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

#[actix_web::test]
async fn every_role_stays_inside_its_remit_on_every_write_endpoint() {
    let app = TestApp::spawn().await;
    let system = app.login("admin").await;
    let mut actors = Vec::new();
    for (rel, agency, tag) in [
        (Rel::Own, OWN, "own"),
        (Rel::SameMunicipality, SAME_MUNICIPALITY, "near"),
        (Rel::OtherMunicipality, OTHER_MUNICIPALITY, "far"),
    ] {
        for (role, name) in ROLES.iter().enumerate().take(6) {
            let username = format!("walk.{tag}.{role}");
            let (id, token) = person(&app, &system, &username, agency, name).await;
            actors.push(Actor { role, rel, username, id, token });
        }
    }
    for (role, name) in ROLES.iter().enumerate().skip(6) {
        let username = format!("walk.national.{role}");
        let (id, token) = person(&app, &system, &username, "ASHDMF", name).await;
        actors.push(Actor { role, rel: Rel::National, username, id, token });
    }

    // The owning agency's records, made by people who are not among the actors.
    let pmf = app.login("tirana.pmf").await;
    let njmf_admin = app.login("tirana.admin").await;
    let (_, field) = person(&app, &system, "walk.fixture.field", OWN, "field_worker").await;
    let (_, coordinator) = person(&app, &system, "walk.fixture.coord", OWN, "coordinator").await;
    let mut world = World { case_manager: user_id(&app, "tirana.pmf").await, ..World::default() };
    let me = app.get("/api/v1/me", Some(&pmf)).await;
    world.agency = me.body["agency"]["id"].as_str().unwrap().to_owned();
    world.member = person(&app, &system, "walk.fixture.member", OWN, "field_worker").await.0;
    world.sighting = uuid(1);
    created(&app, Method::Post, "/api/v1/identifications", &field, "fx-1", &sighting(&world.sighting)).await;
    world.spare_sighting = uuid(2);
    created(&app, Method::Post, "/api/v1/identifications", &field, "fx-2", &sighting(&world.spare_sighting)).await;
    world.profile = uuid(3);
    let link = json!({ "new_profile": { "id": world.profile } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", world.sighting), &field, "fx-3", &link)
        .await;
    world.alert = created(
        &app,
        Method::Post,
        "/api/v1/alerts",
        &pmf,
        "fx-4",
        &json!({ "severity": "high", "title": "Fëmijë vetëm në stacion", "agency_id": world.agency }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let referral = json!({
        "id": uuid(5), "identification_id": world.sighting, "priority": "high", "reasons": ["street_situation"],
        "services": ["child_protection_assessment"], "to_agency_id": world.agency, "share": "details",
        "consent_given_by": "child",
    });
    world.referral = created(&app, Method::Post, "/api/v1/referrals", &field, "fx-5", &referral).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule =
        json!({ "municipality_code": "AL224", "subject_type": "adult", "agency_types": ["needs_assessment_unit"] });
    world.rule = created(&app, Method::Post, "/api/v1/referral-routes", &system, "fx-6", &rule).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.deadline_policy =
        app.get("/api/v1/referral-deadline-policies/AL224", Some(&njmf_admin)).await.body["policy"].clone();
    let hook = json!({ "name": "NJMF", "url": "https://hooks.example.org/njmf" });
    world.webhook = created(&app, Method::Post, "/api/v1/webhook-endpoints", &coordinator, "fx-7", &hook).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let spot = json!({ "name": "Semaforët", "kind": "traffic_light_junction",
                       "shape": { "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 80.0 } });
    world.hotspot = created(&app, Method::Post, "/api/v1/hotspots", &coordinator, "fx-8", &spot).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team = json!({ "name": "Skuadra", "kind": "squad", "members": [world.case_manager] });
    world.team = created(&app, Method::Post, "/api/v1/teams", &coordinator, "fx-9", &team).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rota = json!({ "name": "Gadishmëria", "layers": [daily_layer(&[&world.case_manager], "08:00", "2026-03-02")] });
    world.schedule = created(&app, Method::Post, "/api/v1/schedules", &coordinator, "fx-10", &rota).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    world.member_username = "walk.fixture.member".into();
    // Where the routing table sends a child seen at the square: an agency serving the place.
    let route = app.get(&format!("/api/v1/referrals/route?identification_id={}", world.sighting), Some(&field)).await;
    world.forward_to = route.body["alternatives"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(world.forward_to, world.agency, "{}", route.body);
    created(&app, Method::Post, "/api/v1/identifications", &field, "fx-11", &sighting(&uuid(6))).await;
    world.second_profile = uuid(7);
    let link = json!({ "new_profile": { "id": world.second_profile } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", uuid(6)), &field, "fx-12", &link).await;
    let round = json!({ "id": uuid(8), "team_id": world.team, "starts_at": "2026-03-06T10:00:00",
                        "ends_at": "2026-03-06T12:00:00", "purpose": "patrol", "stops": [{ "area_code": "AL224" }] });
    world.round = created(&app, Method::Post, "/api/v1/rounds", &coordinator, "fx-13", &round).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cover = json!({ "user_id": world.case_manager, "starts_at": "2026-03-07T12:00:00Z",
                        "ends_at": "2026-03-07T18:00:00Z", "reason": "mjek" });
    let path = format!("/api/v1/schedules/{}/overrides", world.schedule);
    world.override_id =
        created(&app, Method::Post, &path, &coordinator, "fx-14", &cover).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/schedules/{}/calendar-feeds", world.schedule);
    world.feed =
        created(&app, Method::Post, &path, &coordinator, "fx-15", &json!({})).await["id"].as_str().unwrap().to_owned();
    let device = json!({ "platform": "android", "push_token": "fcm-token-of-the-pmf-phone-000001" });
    world.device =
        created(&app, Method::Post, "/api/v1/devices", &pmf, "fx-16", &device).await["id"].as_str().unwrap().to_owned();
    world.series = created(&app, Method::Post, "/api/v1/round-series", &coordinator, "fx-17", &series(&world, None))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let offer = json!({ "starts_at": "2026-03-10T07:00:00Z", "ends_at": "2026-03-11T07:00:00Z" });
    let path = format!("/api/v1/schedules/{}/swaps", world.schedule);
    world.swap = created(&app, Method::Post, &path, &pmf, "fx-18", &offer).await["id"].as_str().unwrap().to_owned();
    lock_out(&app, &world.member_username).await;

    let mut wrong = Vec::new();
    let mut n = 100;
    let mut walked = 0;
    for case in cases() {
        for actor in &actors {
            n += 1;
            let path = (case.path)(&world);
            let body = (case.body)(&world, actor, n);
            let res = send(&app, case.method, &path, &actor.token, &format!("walk-{n}"), &body).await;
            walked += 1;
            if res.status.is_success() {
                match case.fresh {
                    Fresh::No => {}
                    Fresh::RoutingRule => {
                        let rule = json!({ "municipality_code": "AL224", "subject_type": "adult",
                                           "agency_types": ["needs_assessment_unit"] });
                        let path = "/api/v1/referral-routes";
                        world.rule =
                            created(&app, Method::Post, path, &system, &format!("rule-{n}"), &rule).await["id"]
                                .as_str()
                                .unwrap()
                                .to_owned();
                    }
                    Fresh::Link => {
                        let link = json!({ "new_profile": { "id": uuid(500_000 + n) } });
                        let path = format!("/api/v1/identifications/{}/link", world.spare_sighting);
                        created(&app, Method::Post, &path, &field, &format!("relink-{n}"), &link).await;
                    }
                    Fresh::Lockout => lock_out(&app, &world.member_username).await,
                    Fresh::Merge => world.merge = res.body["id"].as_str().unwrap().to_owned(),
                }
            }
            let expected = allowed(case.expect, actor);
            let ok = if expected {
                passed_the_checks(res.status) || case.also == Some(res.status.as_u16())
            } else {
                refused(&res)
            };
            if !ok {
                wrong.push(format!(
                    "{} as {} of {:?} ({}): expected {}, got {} {}",
                    case.name,
                    ROLES[actor.role],
                    actor.rel,
                    actor.username,
                    if expected { "allowed" } else { "refused" },
                    res.status,
                    res.body
                ));
            }
        }
    }
    assert_eq!(walked, cases().len() * actors.len());
    assert!(wrong.is_empty(), "{} of {walked} answers outside the table:\n{}", wrong.len(), wrong.join("\n"));
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

#[actix_web::test]
async fn an_alert_names_only_what_its_raiser_may_see_and_only_its_agency_answers_it() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let elbasan_field = app.login("elbasan.squad").await;
    created(&app, Method::Post, "/api/v1/identifications", &field, "s-1", &sighting(&uuid(1))).await;
    let link = json!({ "new_profile": { "id": uuid(2) } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", uuid(1)), &field, "l-1", &link).await;
    let before = count_rows(&app, "alerts").await;

    // An unknown profile and one out of the raiser's sight get the same answer; nothing is written.
    let alert = |profile: String| json!({ "severity": "high", "title": "Fëmijë në rrezik", "profile_id": profile });
    let unknown = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-1", &alert(uuid(999))).await;
    let hidden = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-2", &alert(uuid(2))).await;
    for res in [&unknown, &hidden] {
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert_eq!(res.body["errors"][0]["code"], "unknown_profile", "{}", res.body);
    }
    assert_eq!(unknown.body["errors"], hidden.body["errors"]);
    let hidden_sighting = json!({ "severity": "high", "title": "x", "identification_id": uuid(1) });
    let res = app.post_idempotent("/api/v1/alerts", &elbasan_field, "a-3", &hidden_sighting).await;
    assert_eq!(res.body["errors"][0]["code"], "unknown_identification", "{}", res.body);
    assert_eq!(count_rows(&app, "alerts").await, before);
    let res = app.post_idempotent("/api/v1/alerts", &field, "a-4", &alert(uuid(2))).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);

    // Another agency is paged only by those who may route anywhere.
    let duty_unit = agency_id(&app, &field, "AL213-GADISHMERI").await;
    let elsewhere = json!({ "severity": "emergency", "title": "Fëmijë në stacion", "agency_id": duty_unit });
    let res = app.post_idempotent("/api/v1/alerts", &field, "a-5", &elsewhere).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_your_agency")),
        "{}",
        res.body
    );
    let coordinator = app.login("tirana.coord").await;
    let raised = app.post_idempotent("/api/v1/alerts", &coordinator, "a-6", &elsewhere).await;
    assert_eq!(raised.status, StatusCode::CREATED, "{}", raised.body);
    let id = raised.body["id"].as_str().unwrap();

    // The raiser still sees it, but stopping Elbasan's escalation is Elbasan's.
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), Some(&coordinator)).await.status, StatusCode::OK);
    for action in ["acknowledge", "resolve"] {
        let res = app.post(&format!("/api/v1/alerts/{id}/{action}"), Some(&coordinator), &json!({})).await;
        assert_eq!(res.body["code"], "not_your_agency", "{action}: {}", res.body);
    }
    let police = app.login("police.tirana").await;
    let res = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&police), &json!({})).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "not theirs to see: {}", res.body);
    let duty = app.login("elbasan.duty").await;
    let res = app.post(&format!("/api/v1/alerts/{id}/acknowledge"), Some(&duty), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["state"], "acknowledged");
}

#[actix_web::test]
async fn statistics_readers_without_the_records_get_no_small_numbers_and_no_complements() {
    let app = TestApp::spawn().await;
    let field = app.login("tirana.field").await;
    let coordinator = app.login("tirana.coord").await;
    let spot = json!({ "name": "Semaforët", "kind": "traffic_light_junction",
                       "shape": { "type": "circle", "lat": 41.3275, "lon": 19.8187, "radius_m": 80.0 } });
    created(&app, Method::Post, "/api/v1/hotspots", &coordinator, "h-1", &spot).await;
    for n in 1..=4 {
        let mut body = sighting(&uuid(n));
        body["observed_at"] = json!(format!("2026-03-02T0{}:55:00Z", 4 + n));
        body["location"]["fix_time"] = body["observed_at"].clone();
        created(&app, Method::Post, "/api/v1/identifications", &field, &format!("s-{n}"), &body).await;
    }
    let link = json!({ "new_profile": { "id": uuid(10) } });
    created(&app, Method::Post, &format!("/api/v1/identifications/{}/link", uuid(1)), &field, "l-1", &link).await;

    // Four sightings, one linked: the linked one is hidden, and so is the unlinked count that
    // would give it away (4 − 3).
    let analyst = app.login("ashdmf.analyst").await;
    let counts = app.get("/api/v1/identifications/counts?area=AL224", Some(&analyst)).await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.body);
    assert_eq!(counts.body["identifications"], 4);
    assert_eq!(counts.body["suppressed"], json!(["linked", "unlinked", "distinct_children"]));
    assert_eq!((counts.body["linked"].as_i64(), counts.body["unlinked"].as_i64()), (Some(0), Some(0)));

    // Coverage: each hour holds one sighting, hidden; the hotspot's four are shown, its one child not.
    let window = "area=AL224&from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z";
    let exact = app.get(&format!("/api/v1/coverage?{window}"), Some(&coordinator)).await;
    assert_eq!(exact.status, StatusCode::OK, "{}", exact.body);
    assert_eq!(exact.body["min_count"], 1);
    let hour_counts = |body: &Value| -> Vec<i64> {
        body["grid"].as_array().unwrap().iter().map(|c| c["identifications"].as_i64().unwrap()).collect()
    };
    assert_eq!(hour_counts(&exact.body).iter().sum::<i64>(), 4);
    assert_eq!(exact.body["hotspots"][0]["distinct_children"], 4);
    let admin = app.login("tirana.admin").await;
    for reader in [&analyst, &admin] {
        let stats = app.get(&format!("/api/v1/coverage?{window}"), Some(reader)).await;
        assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
        assert_eq!(stats.body["min_count"], 3);
        assert_eq!(hour_counts(&stats.body).iter().sum::<i64>(), 0, "{}", stats.body["grid"]);
        let hidden = stats.body["grid"].as_array().unwrap().iter().filter(|c| c["identifications_suppressed"] == true);
        assert_eq!(hidden.count(), 4);
        assert_eq!(stats.body["hotspots"][0]["identifications"], 4);
        assert!(stats.body["hotspots"][0].get("suppressed").is_none(), "{}", stats.body["hotspots"]);
        let odd = app
            .get("/api/v1/coverage?area=AL224&from=2026-03-02T07:00:00Z&to=2026-03-03T00:00:00Z", Some(reader))
            .await;
        assert_eq!(odd.body["errors"][0]["code"], "not_whole_day", "{}", odd.body);
    }

    // Deadline statistics of one referral: every cell and the total hidden from the analyst.
    let referral = json!({
        "id": uuid(20), "identification_id": uuid(2), "priority": "high", "reasons": ["street_situation"],
        "services": ["child_protection_assessment"], "share": "minimal",
    });
    let sent = created(&app, Method::Post, "/api/v1/referrals", &field, "r-1", &referral).await;
    let to = sent["to_agency"]["code"].as_str().unwrap().to_owned();
    let period = "from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z";
    let stats = app.get(&format!("/api/v1/referrals/deadline-statistics?agency={to}&{period}"), Some(&analyst)).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!((stats.body["referrals"].as_i64(), stats.body["min_count"].as_i64()), (Some(0), Some(3)));
    assert_eq!(stats.body["suppressed"], json!(["referrals"]));
    for row in stats.body["rows"].as_array().unwrap() {
        assert_eq!(row["pending"], 0, "{row}");
    }
    let hidden: usize =
        stats.body["rows"].as_array().unwrap().iter().map(|r| r["suppressed"].as_array().map_or(0, Vec::len)).sum();
    assert!(hidden >= 2, "{}", stats.body);
}

#[actix_web::test]
async fn password_guesses_wait_per_account_and_address_and_admins_see_and_lift_the_lockout() {
    let app = TestApp::spawn().await;
    let system = app.login("admin").await;
    let (_, qkt_admin) = person(&app, &system, "qkt.admin", "AL224-QKT", "agency_admin").await;
    let field = app.login("tirana.field").await;
    let wrong = json!({ "current_password": "not-my-password", "new_password": "a-new-password-2026" });
    for _ in 0..5 {
        let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
        assert_eq!(res.body["errors"][0]["code"], "wrong_password", "{}", res.body);
    }
    // A stolen session cannot go on guessing the current password.
    let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.headers.get("retry-after").is_some());

    // Lockouts are listed to the account's own agency admin and to system admins only.
    let mine = app.get("/api/v1/lockouts", Some(&qkt_admin)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!(mine.body[0]["username"], "tirana.field", "{}", mine.body);
    assert_eq!(mine.body[0]["address"], "127.0.0.1");
    assert_eq!(mine.body[0]["failures"], 5);
    let njmf_admin = app.login("tirana.admin").await;
    assert_eq!(app.get("/api/v1/lockouts", Some(&njmf_admin)).await.body, json!([]));
    assert_eq!(app.get("/api/v1/lockouts", Some(&field)).await.status, StatusCode::FORBIDDEN);
    let lift = json!({ "username": "tirana.field", "address": "127.0.0.1" });
    assert_eq!(app.post("/api/v1/lockouts/lift", Some(&njmf_admin), &lift).await.status, StatusCode::NOT_FOUND);
    let lifted = app.post("/api/v1/lockouts/lift", Some(&qkt_admin), &lift).await;
    assert_eq!(lifted.status, StatusCode::NO_CONTENT, "{}", lifted.body);
    assert_eq!(audited_actions(&app, "auth.lockout_lift").await, 1);
    assert_eq!(audited_actions(&app, "auth.lockouts_read").await, 2);
    assert_eq!(app.get("/api/v1/lockouts", Some(&system)).await.body, json!([]));
    let res = app.post("/api/v1/me/password", Some(&field), &wrong).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "lifted: {}", res.body);

    // The wait grows with each further wrong login, and stays with that pair.
    for _ in 0..4 {
        app.login_full("tirana.coord", "wrong-password", "d").await;
    }
    let res = app.login_full("tirana.coord", "wrong-password", "d").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let first_wait: i64 = app
        .login_full("tirana.coord", PASSWORD, "d")
        .await
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(first_wait, 15);
    app.clock.advance(chrono::Duration::seconds(15));
    assert_eq!(app.login_full("tirana.coord", "wrong-password", "d").await.status, StatusCode::UNAUTHORIZED);
    let res = app.login_full("tirana.coord", PASSWORD, "d").await;
    assert_eq!(res.headers.get("retry-after").unwrap().to_str().unwrap(), "30");
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(app.login_full("tirana.coord", PASSWORD, "d").await.status, StatusCode::OK);

    // An administrator's own password is changed with the current one, not reset.
    let me = app.get("/api/v1/me", Some(&qkt_admin)).await;
    let own = format!("/api/v1/users/{}/reset-password", me.body["id"].as_str().unwrap());
    let res = app.post(&own, Some(&qkt_admin), &json!({ "password": "temporary-pass-9" })).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
}

#[actix_web::test]
async fn a_joint_team_shows_other_agencies_phones_only_to_its_members() {
    let app = TestApp::spawn().await;
    let system = app.login("admin").await;
    let coordinator = app.login("tirana.coord").await;
    let (_, other_coordinator) = person(&app, &system, "qkt.coord2", "AL224-QKT", "coordinator").await;
    let (field, pmf) = (user_id(&app, "tirana.field").await, user_id(&app, "tirana.pmf").await);
    let team = json!({ "name": "Grupi i përbashkët", "kind": "joint", "members": [field, pmf] });
    let made = created(&app, Method::Post, "/api/v1/teams", &coordinator, "t-1", &team).await;
    let path = format!("/api/v1/teams/{}", made["id"].as_str().unwrap());
    let phones = |body: &Value| -> Vec<(String, Option<String>)> {
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["agency"]["code"].as_str().unwrap().to_owned(), m["phone"].as_str().map(str::to_owned)))
            .collect()
    };
    let member = app.login("tirana.pmf").await;
    let seen_by_member = phones(&app.get(&path, Some(&member)).await.body);
    assert!(seen_by_member.iter().all(|(_, phone)| phone.is_some()), "{seen_by_member:?}");
    for reader in [&coordinator, &other_coordinator] {
        let seen = phones(&app.get(&path, Some(reader)).await.body);
        for (agency, phone) in seen {
            assert_eq!(phone.is_some(), agency == "AL224-QKT", "{agency}");
        }
    }
}
