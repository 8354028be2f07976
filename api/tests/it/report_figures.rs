//! The street-situation and referral figures of the reports, reproduced from records written
//! through the service's own functions: Tirana's joint plan for adults, July–September 2023
//! (`../shared/design/DOMAIN.md` §5).

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use terren_api::access::AuthUser;
use terren_api::db::backend::write_transaction;
use terren_api::referrals::lifecycle::{Step, transition};
use terren_api::reports::cases::Scope;
use terren_api::reports::period::Period;
use terren_api::reports::{referrals, street};
use terren_contract::Role;
use terren_contract::identifications::CreateIdentification;
use terren_contract::profiles::{LinkIdentification, NewChildProfile};
use terren_contract::referrals::{CloseReferral, CreateReferral, ReferralAction, StartReferral};
use uuid::Uuid;

use crate::fixtures::person;
use crate::harness::TestApp;

/// Where the adults and children were met: by the traffic lights at Skanderbeg Square.
const LAT: f64 = 41.3275;
const LON: f64 = 19.8187;

fn sighting(
    id: Uuid,
    at: DateTime<Utc>,
    subject: &str,
    age: i32,
    residence: &str,
    accompanied: &str,
) -> CreateIdentification {
    serde_json::from_value(json!({
        "id": id,
        "observed_at": at,
        "location": { "lat": LAT, "lon": LON, "accuracy_m": 10.0, "fix_time": at, "source": "gps" },
        "subject_type": subject,
        "estimated_age": age,
        "sex": if age % 2 == 0 { "female" } else { "male" },
        "nationality": "AL",
        "languages": ["sq"],
        "residence_origin": residence,
        "street_situations": if subject == "adult" { json!(["begging"]) } else { json!(["selling_items", "begging"]) },
        "accompanied_by": accompanied,
        "risk_level": "medium",
    }))
    .unwrap()
}

/// How each adult's referral ended, in the order they were met.
fn outcomes() -> Vec<Option<&'static str>> {
    let mut ends = Vec::new();
    ends.extend(std::iter::repeat_n(Some("community_centre_services"), 23));
    ends.extend(std::iter::repeat_n(Some("accompanied_to_shelter"), 14));
    ends.extend(std::iter::repeat_n(Some("prevented_not_seen_again"), 44));
    ends.extend(std::iter::repeat_n(Some("returned_to_family"), 9));
    ends.extend(std::iter::repeat_n(Some("health_services"), 9));
    ends.extend(std::iter::repeat_n(None, 7));
    assert_eq!(ends.len(), 106);
    ends
}

/// Minutes from sending to acknowledgement of the `k`th referral.
fn acknowledged_after(k: usize) -> i64 {
    5 + i64::try_from(k % 23).unwrap() * 3
}

/// The quarter as the joint plan counted it: 106 adults met (six of them seen already in June),
/// every one referred to the unit's needs-assessment team, which accompanied 23 to community
/// centre services and 14 to the shelter, and saw 44 not again; 85 children met in the same
/// quarter, none linked to a profile.
async fn tirana_2023_q3(app: &TestApp) -> String {
    app.clock.set(Utc.with_ymd_and_hms(2023, 10, 5, 9, 0, 0).unwrap());
    let state = app.state.clone();
    let quarter = Utc.with_ymd_and_hms(2023, 7, 3, 8, 0, 0).unwrap();
    let referral_ids: Vec<Uuid> = app
        .db(move |conn| {
            let field = AuthUser::acting_as(conn, "tirana.field", "fixture").unwrap();
            let index = state.territory();
            let mut settings = state.config.profiles.clone();
            settings.candidate_radius_m = 1.0;
            settings.candidate_window_days = 1;
            write_transaction(conn, |tx| {
                let record =
                    |tx: &mut terren_api::db::Tx<'_>, body: &CreateIdentification| -> terren_api::http::ApiResult<()> {
                        let at = body.observed_at + Duration::minutes(2);
                        let prepared =
                            terren_api::identifications::create::prepare(tx, &index, &field, &settings, body, at)?;
                        terren_api::identifications::create::create(tx, &index, &field, prepared)?;
                        Ok(())
                    };
                let mut referrals = Vec::new();
                let mut linked = Vec::new();
                for k in 0..106_usize {
                    let n = i64::try_from(k).unwrap();
                    let met = quarter + Duration::hours(n * 19);
                    let residence = if k % 3 == 2 { "other_municipality" } else { "resident" };
                    let accompanied = if k % 10 == 0 { "other_adult" } else { "alone" };
                    let age = 30 + i32::try_from(k % 40).unwrap();
                    let this = sighting(Uuid::now_v7(), met, "adult", age, residence, accompanied);
                    record(tx, &this)?;
                    let profile = Uuid::now_v7();
                    if k < 6 {
                        // Seen in June already, and linked to that profile now.
                        let june = sighting(
                            Uuid::now_v7(),
                            quarter - Duration::days(20) + Duration::hours(n),
                            "adult",
                            age,
                            residence,
                            "alone",
                        );
                        record(tx, &june)?;
                        linked.push((june.id, Some(profile), true));
                        linked.push((this.id, Some(profile), false));
                    } else if k < 60 {
                        linked.push((this.id, Some(profile), true));
                    }
                    let referral = CreateReferral {
                        id: Uuid::now_v7(),
                        identification_id: Some(this.id),
                        profile_id: None,
                        priority: if k % 5 == 0 {
                            terren_contract::referrals::Priority::High
                        } else {
                            terren_contract::referrals::Priority::Medium
                        },
                        reasons: vec!["street_situation".into()],
                        services: vec!["needs_assessment".into()],
                        notes: None,
                        to_agency_id: None,
                        share: Default::default(),
                        consent_given_by: None,
                        consent_override_reason: None,
                        made_at: None,
                    };
                    let sent = met.naive_utc() + Duration::minutes(10);
                    terren_api::referrals::create::create(tx, &index, &field, &referral, sent)?;
                    referrals.push(referral.id);
                }
                for (sighting_id, profile, new) in linked {
                    let link = if new {
                        LinkIdentification {
                            profile_id: None,
                            new_profile: Some(NewChildProfile {
                                id: profile.unwrap(),
                                given_name: None,
                                family_name: None,
                                aliases: Vec::new(),
                                birth_year: Some(1985),
                                birth_year_estimated: Some(true),
                                family_contacts: None,
                            }),
                        }
                    } else {
                        LinkIdentification { profile_id: profile, new_profile: None }
                    };
                    terren_api::profiles::linking::link(
                        tx,
                        &index,
                        &field,
                        &sighting_id.to_string(),
                        &link,
                        state.clock.now().naive_utc(),
                    )?;
                }
                for k in 0..85_i64 {
                    let met = quarter + Duration::hours(k * 23 + 5);
                    let residence = if k % 5 == 0 { "other_municipality" } else { "resident" };
                    let accompanied = if k % 4 == 0 { "parent" } else { "group_of_children" };
                    record(
                        tx,
                        &sighting(
                            Uuid::now_v7(),
                            met,
                            "child",
                            8 + i32::try_from(k % 9).unwrap(),
                            residence,
                            accompanied,
                        ),
                    )?;
                }
                Ok(referrals)
            })
            .unwrap_or_else(|e: terren_api::http::ApiError| panic!("the fixture: {e:?}"))
        })
        .await;

    // The needs-assessment team the referrals were routed to answers them.
    let unit: String = {
        let first = referral_ids[0].to_string();
        app.db(move |conn| {
            use diesel::prelude::*;
            use terren_api::db::schema::{agencies, referrals};
            referrals::table
                .inner_join(agencies::table.on(agencies::id.eq(referrals::to_agency_id)))
                .filter(referrals::id.eq(first))
                .select(agencies::code)
                .first(conn)
                .unwrap()
        })
        .await
    };
    assert!(unit.starts_with("AL224-") && unit.ends_with("-NJVNR"), "{unit}");
    person(app, "njvnr.worker", &unit, &[Role::CaseManager]).await;
    let state = app.state.clone();
    app.db(move |conn| {
        let worker = AuthUser::acting_as(conn, "njvnr.worker", "fixture").unwrap();
        let index = state.territory();
        write_transaction(conn, |tx| {
            for (k, (id, outcome)) in referral_ids.iter().zip(outcomes()).enumerate() {
                let id = terren_api::ids::ReferralId::from(*id);
                let sent = terren_api::referrals::service::find(tx, &id)?.unwrap().sent_at;
                let acknowledged = sent + Duration::minutes(acknowledged_after(k));
                let note = ReferralAction { note: None };
                transition(tx, &index, &worker, &id, Step::Acknowledge(note.clone()), acknowledged)?;
                transition(tx, &index, &worker, &id, Step::Accept(note), acknowledged + Duration::minutes(1))?;
                let Some(outcome) = outcome else { continue };
                let contacted = Some(terren_api::clock::to_utc(sent + Duration::hours(2)));
                let start = StartReferral { contacted_at: contacted, note: None };
                transition(tx, &index, &worker, &id, Step::Start(start), sent + Duration::hours(3))?;
                let close = CloseReferral { outcome: Some(outcome.into()), note: None };
                transition(tx, &index, &worker, &id, Step::Close(close), sent + Duration::days(2))?;
            }
            Ok(())
        })
        .unwrap_or_else(|e: terren_api::http::ApiError| panic!("the answers: {e:?}"));
    })
    .await;
    unit
}

fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("{id}: {report}"))
}

/// Tries to work every hidden count of a report back from what it shows: in a table whose rows
/// add up to its total, a lone hidden cell is the total less the others, and hidden cells that
/// add up to no more than their number are all 1. Neither may happen.
pub(crate) fn assert_no_hidden_count_recoverable(report: &Value) {
    let mut hidden_cells = 0;
    for table in report["tables"].as_array().unwrap() {
        let rows = table["rows"].as_array().unwrap();
        let hidden = rows.iter().filter(|r| r["value"]["suppressed"] == true).count();
        hidden_cells += hidden;
        let Some(total) = table["total"]["count"].as_i64() else { continue };
        if table["rows_overlap"] == true || hidden == 0 {
            continue;
        }
        let rest = total - rows.iter().filter_map(|r| r["value"]["count"].as_i64()).sum::<i64>();
        assert!(
            hidden > 1 && rest > i64::try_from(hidden).unwrap(),
            "{}: {hidden} hidden, {rest} between them",
            table["id"]
        );
    }
    assert!(hidden_cells > 0, "the report hides something to try");
}

fn count(table: &Value, code: &str) -> Option<i64> {
    table["rows"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap_or_else(|| panic!("{code}: {table}"))
        ["value"]["count"]
        .as_i64()
}

#[actix_web::test]
async fn tirana_s_adults_of_july_to_september_2023_are_reproduced_from_referrals_and_their_outcomes() {
    let app = TestApp::spawn().await;
    tirana_2023_q3(&app).await;
    let coordinator = app.login("tirana.coord").await;
    let res = app.get("/api/v1/reports?period=2023-Q3&area=AL224", Some(&coordinator)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let report = res.body;

    // 106 adults identified, six of them seen before the quarter.
    let adults = table(&report, "street_adults_identified");
    assert_eq!(adults["total"]["count"], 106);
    assert_eq!(
        (count(adults, "first_time"), count(adults, "repeat"), count(adults, "not_linked")),
        (Some(54), Some(6), Some(46))
    );
    let residence = table(&report, "street_adults_by_residence_origin");
    assert_eq!((count(residence, "resident"), count(residence, "other_municipality")), (Some(71), Some(35)));
    let accompanied = table(&report, "street_adults_accompanied");
    assert_eq!((count(accompanied, "with_adult"), count(accompanied, "without_adult")), (Some(11), Some(95)));

    // 106 referred to the needs-assessment units; 37 accompanied (23 + 14); 44 not seen again.
    let referred = table(&report, "referrals_adults_by_receiving_agency");
    assert_eq!((count(referred, "needs_assessment_unit"), referred["total"]["count"].as_i64()), (Some(106), Some(106)));
    let ends = table(&report, "referrals_adults_by_outcome");
    let (community, shelter) = (count(ends, "community_centre_services"), count(ends, "accompanied_to_shelter"));
    assert_eq!((community, shelter), (Some(23), Some(14)));
    assert_eq!(community.unwrap() + shelter.unwrap(), 37, "accompanied to social centres or the shelter");
    assert_eq!(count(ends, "prevented_not_seen_again"), Some(44));
    assert_eq!((count(ends, "open"), count(ends, "declined")), (Some(7), Some(0)));
    let priority = table(&report, "referrals_adults_by_priority");
    assert_eq!((count(priority, "high"), count(priority, "medium")), (Some(22), Some(84)));
    assert_eq!(table(&report, "referrals_children_by_priority")["total"]["count"], 0);

    // 85 children in the same quarter, each met once and linked to no profile.
    let children = table(&report, "street_children_identified");
    assert_eq!((children["total"]["count"].as_i64(), count(children, "not_linked")), (Some(85), Some(85)));
    let situations = table(&report, "street_children_by_situation");
    assert_eq!((count(situations, "selling_items"), count(situations, "begging")), (Some(85), Some(85)));
    assert_eq!((situations["rows_overlap"].as_bool(), situations["total"]["count"].as_i64()), (Some(true), Some(85)));
    let with_adult = table(&report, "street_children_accompanied");
    assert_eq!((count(with_adult, "with_adult"), count(with_adult, "without_adult")), (Some(22), Some(63)));

    // Every referral acknowledged: the median and 90th percentile of the minutes it took.
    let mut minutes: Vec<i64> = (0..106).map(acknowledged_after).collect();
    minutes.sort_unstable();
    let times = table(&report, "referral_response_minutes");
    assert_eq!(times["unit"], "minutes");
    assert_eq!(
        (count(times, "acknowledge_median"), count(times, "acknowledge_p90")),
        (Some(minutes[52]), Some(minutes[95])),
        "nearest rank: the 53rd and the 96th of 106"
    );
    assert_eq!((count(times, "first_contact_median"), count(times, "first_contact_p90")), (Some(120), Some(120)));

    // The counting queries give the same on their own, and the quarter before had the six only.
    let (from, to) = Period::parse("period", "2023-Q2").unwrap().bounds();
    let tirana = {
        let index = app.state.territory();
        Scope::Municipalities(vec![index.area(index.find_code("AL224").unwrap()).id.clone()])
    };
    let (june, june_referrals) = app
        .db(move |conn| {
            (
                street::count(conn, "adult", &tirana, from, to).unwrap(),
                referrals::count(conn, "adult", &tirana, from, to).unwrap(),
            )
        })
        .await;
    assert_eq!((june.people(), june.repeat(), june.linked()), (6, 0, 6));
    assert_eq!(june_referrals, referrals::ReferralTables::default());

    // The national viewer sees the same quarter with small numbers hidden.
    let analyst = app.login("ashdmf.analyst").await;
    let national = app.get("/api/v1/reports?period=2023-Q3&area=AL224", Some(&analyst)).await.body;
    assert_eq!(national["small_numbers_hidden"], true);
    let accompanied = table(&national, "street_adults_accompanied");
    assert_eq!(count(accompanied, "with_adult"), Some(11), "nothing small to hide: {accompanied}");
    let unknown =
        app.get("/api/v1/reports?period=2023-Q3&area=AL224&tables=cases_new_by_sex,nothing", Some(&analyst)).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.body);
    assert_eq!(crate::fixtures::error_codes(&unknown.body), ["unknown_table"]);
    let some = app
        .get(
            "/api/v1/reports?period=2023-Q3&area=AL224&tables=cases_new_by_sex,street_adults_identified",
            Some(&analyst),
        )
        .await;
    let ids: Vec<&str> = some.body["tables"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cases_new_by_sex", "street_adults_identified"]);
}

/// Kamëz's children in street situations: eight in 2025 (the plan's baseline year), then in 2026
/// three of them again and two new ones, by quarter: A B C I · A J · B · none.
async fn kamez_2025_and_2026(app: &TestApp) {
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 5, 9, 0, 0).unwrap());
    let state = app.state.clone();
    app.db(move |conn| {
        let field = AuthUser::acting_as(conn, "kamez.field", "fixture").unwrap();
        let index = state.territory();
        let mut settings = state.config.profiles.clone();
        settings.candidate_radius_m = 1.0;
        settings.candidate_window_days = 1;
        let day = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 9, 30, 0).unwrap();
        let seen: Vec<(usize, DateTime<Utc>)> = [
            (0, day(2025, 2, 3)),
            (1, day(2025, 3, 10)),
            (2, day(2025, 5, 5)),
            (3, day(2025, 6, 2)),
            (4, day(2025, 8, 4)),
            (5, day(2025, 9, 8)),
            (6, day(2025, 10, 6)),
            (7, day(2025, 11, 3)),
            (0, day(2025, 12, 1)),
            (0, day(2026, 1, 12)),
            (1, day(2026, 2, 9)),
            (2, day(2026, 3, 2)),
            (8, day(2026, 3, 16)),
            (0, day(2026, 4, 13)),
            (9, day(2026, 5, 11)),
            (1, day(2026, 8, 10)),
        ]
        .into();
        write_transaction(conn, |tx| {
            let profiles: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
            let mut known = [false; 10];
            for (child, at) in seen {
                let body = CreateIdentification {
                    location: serde_json::from_value(
                        json!({ "lat": 41.3817, "lon": 19.7603, "accuracy_m": 10.0, "fix_time": at, "source": "gps" }),
                    )
                    .unwrap(),
                    ..sighting(Uuid::now_v7(), at, "child", 10, "resident", "alone")
                };
                let recorded = at.naive_utc() + Duration::minutes(2);
                let prepared = terren_api::identifications::create::prepare(tx, &index, &field, &settings, &body, at)?;
                terren_api::identifications::create::create(tx, &index, &field, prepared)?;
                let link = if known[child] {
                    LinkIdentification { profile_id: Some(profiles[child]), new_profile: None }
                } else {
                    known[child] = true;
                    LinkIdentification {
                        profile_id: None,
                        new_profile: Some(NewChildProfile {
                            id: profiles[child],
                            given_name: None,
                            family_name: None,
                            aliases: Vec::new(),
                            birth_year: Some(2015),
                            birth_year_estimated: Some(true),
                            family_contacts: None,
                        }),
                    }
                };
                terren_api::profiles::linking::link(tx, &index, &field, &body.id.to_string(), &link, recorded)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e: terren_api::http::ApiError| panic!("the fixture: {e:?}"));
    })
    .await;
}

#[actix_web::test]
async fn kamez_s_children_against_its_2025_baseline_and_the_forty_per_cent_target() {
    let app = TestApp::spawn().await;
    kamez_2025_and_2026(&app).await;

    // The plan is Kamëz's own: its child-protection unit's administrator sets it, nobody else.
    let kamez_admin = person(&app, "kamez.njmf.admin", "AL221-NJMF", &[Role::AgencyAdmin]).await;
    let plan = json!({ "baseline_period": "2025", "target_change_percent": -40 });
    for other in ["tirana.admin", "kamez.field", "tirana.coord"] {
        let token = app.login(other).await;
        let refused = app.put("/api/v1/municipal-plans/AL221", Some(&token), &plan).await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_municipal_authority")),
            "{other}: {}",
            refused.body
        );
    }
    let future = app
        .put(
            "/api/v1/municipal-plans/AL221",
            Some(&kamez_admin.token),
            &json!({ "baseline_period": "2027", "target_change_percent": -40 }),
        )
        .await;
    assert_eq!(crate::fixtures::error_codes(&future.body), ["in_future"], "{}", future.body);
    let saved = app.put("/api/v1/municipal-plans/AL221", Some(&kamez_admin.token), &plan).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!((saved.body["version"].as_i64(), saved.body["baseline_period"].as_str()), (Some(1), Some("2025")));
    let stale = app.put("/api/v1/municipal-plans/AL221", Some(&kamez_admin.token), &plan).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "the version read must be sent");

    // 2026 so far against 2025: 5 children against 8; at least 40 % fewer is at most 4.
    let analyst = app.login("ashdmf.analyst").await;
    let res = app.get("/api/v1/reports?period=2026&area=AL221", Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let indicator = table(&res.body, "plan_street_children");
    assert_eq!(
        ["baseline", "period", "target", "above_target"].map(|code| count(indicator, code)),
        [Some(8), Some(5), Some(4), Some(1)],
        "{indicator}"
    );
    assert_eq!(indicator["rows"][0]["label"]["en"], "Baseline (2025)");
    let change = table(&res.body, "plan_street_children_change");
    assert_eq!((count(change, "change"), count(change, "target_change")), (Some(-38), Some(-40)));
    assert_eq!(change["unit"], "percent");
    // By quarter, small numbers hidden from the national viewer.
    let quarters = table(&res.body, "plan_street_children_by_quarter");
    assert_eq!(
        ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"].map(|q| count(quarters, q)),
        [Some(4), None, None, Some(0)],
        "{quarters}"
    );
    let repeat = table(&res.body, "plan_repeat_identification");
    assert_eq!(count(repeat, "repeat_rate"), None, "2 of the 5 are new: a small count, hidden");
    assert_no_hidden_count_recoverable(&res.body);
    // Kamëz's coordinators read the same exactly.
    let kamez_coordinator = person(&app, "kamez.coord", "AL221-SHL", &[Role::Coordinator]).await;
    let exact = app.get("/api/v1/reports?period=2026&area=AL221", Some(&kamez_coordinator.token)).await.body;
    let quarters = table(&exact, "plan_street_children_by_quarter");
    assert_eq!(
        ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"].map(|q| count(quarters, q)),
        [Some(4), Some(2), Some(1), Some(0)]
    );
    assert_eq!(count(table(&exact, "plan_repeat_identification"), "repeat_rate"), Some(60), "A, B, C of A, B, C, I, J");
    let hours = table(&exact, "plan_hours_of_week");
    assert_eq!(
        ["with_sightings", "with_sightings_uncovered", "uncovered"].map(|code| count(hours, code)),
        [Some(2), Some(2), Some(168)],
        "every sighting on a Monday at 09:30 UTC: 10:30 in Tirana in winter, 11:30 in summer; no team out: {hours}"
    );

    // Another baseline for one report; one that does not end before the period is refused.
    let res = app.get("/api/v1/reports?period=2026&area=AL221&baseline=2025-H2", Some(&kamez_coordinator.token)).await;
    assert_eq!(count(table(&res.body, "plan_street_children"), "baseline"), Some(5), "children 0, 4, 5, 6, 7");
    for (baseline, code) in [("2026-Q1", "not_before_period"), ("2027", "in_future"), ("someday", "invalid_format")] {
        let res = app
            .get(&format!("/api/v1/reports?period=2026&area=AL221&baseline={baseline}"), Some(&kamez_coordinator.token))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{baseline}: {}", res.body);
        assert_eq!(
            (res.body["errors"][0]["field"].as_str(), crate::fixtures::error_codes(&res.body)),
            (Some("baseline"), vec![code.to_owned()])
        );
    }
    // The plan's baseline does not apply to a period before it ends, nor to a county.
    let earlier = app.get("/api/v1/reports?period=2025-Q4&area=AL221", Some(&kamez_coordinator.token)).await.body;
    assert!(earlier["tables"].as_array().unwrap().iter().all(|t| t["id"] != "plan_street_children"));
    assert_eq!(count(table(&earlier, "plan_street_children_by_quarter"), "2025-Q4"), Some(3));
}

#[actix_web::test]
async fn the_quarter_is_frozen_at_its_end_and_a_late_record_makes_a_new_version_that_shows_what_changed() {
    let app = TestApp::spawn().await;
    kamez_2025_and_2026(&app).await;
    let kamez_admin = person(&app, "kamez.njmf.admin", "AL221-NJMF", &[Role::AgencyAdmin]).await;
    let kamez_coordinator = person(&app, "kamez.coord", "AL221-SHL", &[Role::Coordinator]).await;

    // The quarter-end job runs at 06:00 in Tirana and freezes the quarter that ended.
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 1, 1, 0, 0).unwrap());
    app.db({
        let state = app.state.clone();
        move |conn| terren_api::worker::schedule_daily_jobs(conn, &state).unwrap()
    })
    .await;
    terren_api::worker::run_due(&app.state).await.unwrap();
    let listed = app.get("/api/v1/reports/versions?period=2026-Q3&area=AL221", Some(&kamez_admin.token)).await;
    assert_eq!((listed.status, listed.body.as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "not yet");
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 1, 4, 30, 0).unwrap());
    terren_api::worker::run_due(&app.state).await.unwrap();
    let listed = app.get("/api/v1/reports?period=2026-Q3&area=AL221", Some(&kamez_admin.token)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed = app.get("/api/v1/reports/versions?period=2026-Q3&area=AL221", Some(&kamez_admin.token)).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let first = listed[0].clone();
    assert_eq!((first["version"].as_i64(), first["cut_off"].as_str()), (Some(1), Some("2026-10-01T04:30:00Z")));
    assert!(first.get("generated_by").is_none(), "frozen by the job: {first}");
    // Its child-protection unit's coordinators and administrators are told, once.
    let notices: Vec<(String, String)> = app
        .db(|conn| {
            use diesel::prelude::*;
            use terren_api::db::schema::{agencies, alerts};
            alerts::table
                .inner_join(agencies::table.on(agencies::id.eq(alerts::agency_id)))
                .filter(alerts::source.eq("report_frozen"))
                .filter(agencies::code.like("AL221-%"))
                .select((agencies::code, alerts::title))
                .order(agencies::code)
                .load(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        notices.iter().map(|(code, _)| code.as_str()).collect::<Vec<_>>(),
        ["AL221-DNECS", "AL221-NJMF"],
        "{notices:?}"
    );
    assert!(notices[0].1.contains("2026-Q3"), "{notices:?}");
    // The next day's run leaves the frozen quarter alone.
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 2, 4, 30, 0).unwrap());
    terren_api::worker::run_due(&app.state).await.unwrap();
    let again = app.get("/api/v1/reports/versions?period=2026-Q3&area=AL221", Some(&kamez_admin.token)).await.body;
    assert_eq!(again.as_array().unwrap().len(), 1);

    // A record of September arrives late: freezing again makes version 2 with what changed.
    app.clock.set(Utc.with_ymd_and_hms(2026, 10, 5, 9, 0, 0).unwrap());
    let late = crate::fixtures::recorded_sighting(&app, "kamez.field", &{
        let mut body = crate::fixtures::sighting(&Uuid::now_v7().to_string());
        body["observed_at"] = json!("2026-09-21T09:30:00Z");
        body["location"] = json!({ "lat": 41.3817, "lon": 19.7603, "accuracy_m": 10.0, "fix_time": "2026-09-21T09:30:00Z", "source": "gps" });
        body
    })
    .await;
    assert_eq!(late.areas.municipality.as_ref().map(|m| m.code.as_str()), Some("AL221"));
    let request = json!({ "period": "2026-Q3", "area": "AL221" });
    let second = app.post("/api/v1/reports/versions", Some(&kamez_coordinator.token), &request).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["version"]["version"], 2);
    assert_eq!(second.body["version"]["generated_by"]["display_name"], "kamez.coord (test)");
    assert_ne!(second.body["version"]["content_hash"], first["content_hash"]);
    let changes = second.body["changes"].as_array().unwrap();
    let changed = |table: &str, row: Option<&str>| {
        changes
            .iter()
            .find(|c| c["table"] == table && c["row"].as_str() == row)
            .map(|c| (c["before"]["count"].as_i64(), c["after"]["count"].as_i64()))
    };
    assert_eq!(changed("street_children_identified", Some("not_linked")), Some((Some(0), Some(1))), "{changes:?}");
    assert_eq!(changed("street_children_identified", None), Some((Some(1), Some(2))));
    assert_eq!(changed("street_children_by_residence_origin", Some("other_municipality")), Some((Some(0), Some(1))));
    assert_eq!(changed("cases_new_by_sex", Some("female")), None, "what did not change is not listed");
    // Nothing new since: the same version again.
    let same = app.post("/api/v1/reports/versions", Some(&kamez_coordinator.token), &request).await;
    assert_eq!((same.status, same.body["version"]["version"].as_i64()), (StatusCode::OK, Some(2)));

    // Version 1 reads as it did, whoever reads it now.
    let id = first["id"].as_str().unwrap();
    let frozen = app.get(&format!("/api/v1/reports/versions/{id}"), Some(&kamez_coordinator.token)).await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.body);
    assert_eq!(frozen.body["version"], first);
    assert_eq!(count(table(&frozen.body["report"], "street_children_identified"), "not_linked"), Some(0));
    assert_eq!(count(table(&frozen.body["report"], "street_children_identified"), "repeat"), Some(1));
    assert_eq!(frozen.body["report"]["generated_at"], "2026-10-01T04:30:00Z");
    assert_eq!(frozen.body["changes"], json!([]));

    // A national viewer reads it with small numbers hidden and may not freeze; Elbasan sees none of it.
    let analyst = app.login("ashdmf.analyst").await;
    let hidden = app.get(&format!("/api/v1/reports/versions/{id}"), Some(&analyst)).await.body;
    assert_eq!(hidden["report"]["small_numbers_hidden"], true);
    assert_eq!(count(table(&hidden["report"], "street_children_identified"), "repeat"), None);
    let refused = app.post("/api/v1/reports/versions", Some(&analyst), &request).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let elbasan = app.login("elbasan.coord").await;
    assert_eq!(app.get(&format!("/api/v1/reports/versions/{id}"), Some(&elbasan)).await.status, StatusCode::NOT_FOUND);
    let outside = app.post("/api/v1/reports/versions", Some(&elbasan), &request).await;
    assert_eq!((outside.status, outside.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("area_outside_scope")));

    // A frozen version goes out as a file as it was counted, its cut-off on the workbook's cover.
    let file = app.get(&format!("/api/v1/reports/versions/{id}/export?format=xlsx"), Some(&analyst)).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(
        file.headers.get("content-disposition").unwrap().to_str().unwrap(),
        "attachment; filename=\"terren-AL221-2026-Q3-v1.xlsx\""
    );
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(file.bytes.to_vec())).unwrap();
    use calamine::Reader;
    let cover = workbook.worksheet_range_at(0).unwrap().unwrap();
    let cover_text: Vec<String> = cover.rows().flat_map(|row| row.iter().map(|c| c.to_string())).collect();
    assert!(
        cover_text.iter().any(|c| c.contains("2026-10-01 06:30:00 +02:00")),
        "the cut-off in Tirana: {cover_text:?}"
    );
    let csv = app.get(&format!("/api/v1/reports/versions/{id}/export?format=csv"), Some(&analyst)).await;
    let text = std::str::from_utf8(&csv.bytes).unwrap();
    let repeat = text.lines().find(|l| l.starts_with("street_children_identified,") && l.contains(",repeat,")).unwrap();
    assert!(repeat.ends_with(",<3"), "{repeat}");
    assert_eq!(
        app.get(&format!("/api/v1/reports/versions/{id}/export?format=csv"), Some(&elbasan)).await.status,
        StatusCode::NOT_FOUND
    );
}
