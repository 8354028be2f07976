//! Every role tries every write endpoint, as the table says.

use super::*;

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
            let (id, token) = person(&app, &username, agency, name).await;
            actors.push(Actor { role, rel, username, id, token });
        }
    }
    for (role, name) in ROLES.iter().enumerate().skip(6) {
        let username = format!("walk.national.{role}");
        let (id, token) = person(&app, &username, "ASHDMF", name).await;
        actors.push(Actor { role, rel: Rel::National, username, id, token });
    }

    // The owning agency's records, made by people who are not among the actors.
    let pmf = app.login("tirana.pmf").await;
    let njmf_admin = app.login("tirana.admin").await;
    let (_, field) = person(&app, "walk.fixture.field", OWN, "field_worker").await;
    let (_, coordinator) = person(&app, "walk.fixture.coord", OWN, "coordinator").await;
    let mut world = World { case_manager: user_id(&app, "tirana.pmf").await, ..World::default() };
    let me = app.get("/api/v1/me", Some(&pmf)).await;
    world.agency = me.body["agency"]["id"].as_str().unwrap().to_owned();
    world.member = person(&app, "walk.fixture.member", OWN, "field_worker").await.0;
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
    let opening = json!({ "id": uuid(9), "identified_by": "field_squad" });
    let path = format!("/api/v1/child-profiles/{}/cases", world.profile);
    world.protection_case =
        created(&app, Method::Post, &path, &pmf, "fx-19", &opening).await["id"].as_str().unwrap().to_owned();
    lock_out(&app, &world.member_username).await;

    let mut wrong = Vec::new();
    let mut n = 100;
    let mut walked = 0;
    let mut batched = 0;
    for case in cases() {
        for actor in &actors {
            n += 1;
            let path = (case.path)(&world);
            let body = (case.body)(&world, actor, n);
            let res = send(&app, case.method, &path, &actor.token, &format!("walk-{n}"), &body).await;
            walked += 1;
            if res.status.is_success() {
                renew(&app, &mut world, case.fresh, &res, n, &system, &field).await;
            }
            let mut answers = vec![("", res)];
            let key = format!("walk-batch-{n}");
            if let Some(batch) = batch::twin(case.method, &path, &key, &(case.body)(&world, actor, n + 1_000_000)) {
                let res = send(&app, Method::Post, "/api/v1/sync/batch", &actor.token, &key, &batch).await;
                let res = operation_result(res);
                if res.status.is_success() {
                    renew(&app, &mut world, case.fresh, &res, n + 1_000_000, &system, &field).await;
                }
                batched += 1;
                answers.push((" (in a batch)", res));
            }
            let expected = allowed(case.expect, actor);
            for (how, res) in answers {
                let ok = if expected {
                    passed_the_checks(res.status) || case.also == Some(res.status.as_u16())
                } else {
                    refused(&res)
                };
                if !ok {
                    wrong.push(format!(
                        "{}{how} as {} of {:?} ({}): expected {}, got {} {}",
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
    }
    // Every write a phone can batch was tried in a batch by every actor.
    assert_eq!(batched, 10 * actors.len());
    assert_eq!(walked, cases().len() * actors.len());
    assert!(wrong.is_empty(), "{} of {walked} answers outside the table:\n{}", wrong.len(), wrong.join("\n"));
}

/// What a later case needs after an allowed write changed the record it works on.
async fn renew(app: &TestApp, world: &mut World, fresh: Fresh, res: &Response, n: usize, system: &str, field: &str) {
    match fresh {
        Fresh::No => {}
        Fresh::RoutingRule => {
            let rule = json!({ "municipality_code": "AL224", "subject_type": "adult", "agency_types": ["needs_assessment_unit"] });
            let path = "/api/v1/referral-routes";
            world.rule = created(app, Method::Post, path, system, &format!("rule-{n}"), &rule).await["id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        Fresh::Link => {
            let link = json!({ "new_profile": { "id": uuid(500_000 + n) } });
            let path = format!("/api/v1/identifications/{}/link", world.spare_sighting);
            created(app, Method::Post, &path, field, &format!("relink-{n}"), &link).await;
        }
        Fresh::Lockout => lock_out(app, &world.member_username).await,
        Fresh::Merge => world.merge = res.body["id"].as_str().unwrap().to_owned(),
    }
}

/// A batch of one operation's answer as if the operation had been its own request: its status
/// and problem (the batch's own answer when the batch as a whole was refused).
fn operation_result(res: Response) -> Response {
    if res.status != StatusCode::OK {
        return res;
    }
    let result = &res.body["results"][0];
    let status = StatusCode::from_u16(result["status"].as_u64().unwrap() as u16).unwrap();
    let body = if status.is_success() { json!({ "id": result["id"] }) } else { result["problem"].clone() };
    Response { status, headers: res.headers, body, bytes: res.bytes }
}
