//! Write endpoints of the walk, first half: accounts and agencies, municipal policies, sightings
//! and child records, answering referrals, alerts, planning, and changing child records.

use serde_json::json;

use super::*;

pub(super) fn cases() -> Vec<Case> {
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
        Case {
            name: "PUT /reports/dhis2-mapping",
            expect: "-------a",
            method: Put,
            path: |_| "/api/v1/reports/dhis2-mapping".into(),
            body: |_, _, _| json!({ "version": 0, "cells": [], "org_units": [] }),
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
        Case {
            name: "PUT /municipal-plans/AL224",
            expect: "-----o-a",
            method: Put,
            path: |_| "/api/v1/municipal-plans/AL224".into(),
            body: |_, _, _| json!({ "baseline_period": "2025", "target_change_percent": -40 }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /reports/versions (Tirana, 2026-Q1)",
            expect: "--s--s-a",
            method: Post,
            path: |_| "/api/v1/reports/versions".into(),
            body: |_, _, _| json!({ "period": "2026-Q1", "area": "AL224" }),
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
        // A protection case is worked by the owning unit's case workers (a child-protection unit).
        Case {
            name: "POST /child-profiles/{id}/cases",
            expect: "--oo----",
            method: Post,
            path: |w| format!("/api/v1/child-profiles/{}/cases", w.profile),
            body: |_, _, n| json!({ "id": uuid(n), "identified_by": "police" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "PATCH /protection-cases/{id}",
            expect: "--oo----",
            method: Patch,
            path: |w| format!("/api/v1/protection-cases/{}", w.protection_case),
            body: |_, _, _| json!({ "version": 1, "risk_level": "high" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /protection-cases/{id}/measures",
            expect: "--oo----",
            method: Post,
            path: |w| format!("/api/v1/protection-cases/{}/measures", w.protection_case),
            body: |_, _, n| json!({ "id": uuid(n), "measure": "alternative_care" }),
            fresh: Fresh::No,
            also: None,
        },
        Case {
            name: "POST /protection-cases/{id}/close",
            expect: "--oo----",
            method: Post,
            path: |w| format!("/api/v1/protection-cases/{}/close", w.protection_case),
            body: |_, _, _| json!({ "version": 1, "closure_reason": "risk_reduced" }),
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
    ]
}
