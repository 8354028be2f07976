//! The national report's figures, reproduced from individual records written through the
//! service's own functions (`../shared/design/DOMAIN.md` §5).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::access::AuthUser;
use terren_api::db::backend::write_transaction;
use terren_api::db::schema::audit_log;
use terren_api::reports::cases::{CaseTables, Scope, count};
use terren_api::reports::period::{Period, tirana_midnight};
use terren_contract::cases::{CloseProtectionCase, OpenProtectionCase, RecordProtectionMeasure};
use terren_contract::identifications::CreateIdentification;
use terren_contract::profiles::{LinkIdentification, NewChildProfile};
use uuid::Uuid;

use crate::fixtures::error_codes;
use crate::harness::TestApp;

/// One child in case management and what their case says.
struct Child {
    born: i32,
    sex: &'static str,
    nationality: &'static str,
    ethnicity: Option<&'static str>,
    identified_by: &'static str,
    risk: &'static str,
    problem: &'static str,
    opened: NaiveDate,
    closed: Option<(NaiveDate, &'static str)>,
}

/// A published breakdown as a list, one entry per case, in the order given.
fn each(counts: &[(&'static str, usize)]) -> Vec<&'static str> {
    counts.iter().flat_map(|&(code, n)| std::iter::repeat_n(code, n)).collect()
}

fn published(counts: &[(&'static str, usize)]) -> BTreeMap<String, i64> {
    counts.iter().map(|&(code, n)| (code.to_owned(), i64::try_from(n).unwrap())).collect()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

const NEW_BY_AGE: [(&str, usize); 6] =
    [("0-3", 114), ("4-6", 95), ("7-9", 118), ("10-12", 154), ("13-15", 274), ("16-18", 232)];
const NEW_BY_SEX: [(&str, usize); 2] = [("male", 547), ("female", 440)];
const NEW_BY_COMMUNITY: [(&str, usize); 4] =
    [("roma", 81), ("egyptian", 81), ("albanian_majority", 776), ("foreign", 49)];
const NEW_BY_IDENTIFIER: [(&str, usize); 14] = [
    ("child_protection_worker", 147),
    ("police", 299),
    ("ngo", 63),
    ("parent", 67),
    ("child", 6),
    ("school", 179),
    ("health", 21),
    ("economic_aid_administrator", 13),
    ("court", 36),
    ("prosecution", 6),
    ("probation_service", 49),
    ("media", 13),
    ("field_squad", 17),
    ("other", 71),
];
const CLOSED_BY_REASON: [(&str, usize); 5] =
    [("turned_18", 74), ("risk_reduced", 290), ("out_of_risk", 36), ("child_died", 2), ("moved_residence", 150)];
const MANAGED_BY_RISK: [(&str, usize); 4] = [("low", 977), ("medium", 1155), ("high", 221), ("emergency", 143)];
const MANAGED_BY_PROBLEM: [(&str, usize); 14] = [
    ("physical_violence", 137),
    ("sexual_violence", 73),
    ("psychological_violence", 320),
    ("trafficking", 35),
    ("street_situation", 229),
    ("neglect", 291),
    ("socio_economic", 864),
    ("disability", 71),
    ("unregistered_civil_status", 35),
    ("conflict_with_law", 239),
    ("digital_violence", 6),
    ("unaccompanied_foreign_child", 46),
    ("without_parental_care", 52),
    ("other", 98),
];

/// The born year that puts a child in an age band in 2022.
fn born_for(band: &str) -> i32 {
    let age = match band {
        "0-3" => 2,
        "4-6" => 5,
        "7-9" => 8,
        "10-12" => 11,
        "13-15" => 14,
        _ => 17,
    };
    2022 - age
}

/// Albania's 2022: 987 cases opened in the year, 1,509 opened before and still open at its start
/// (2,496 managed), 552 of those closed in it; plus a case closed in 2021 and one opened in
/// 2023, which 2022 must not count.
fn albania_2022() -> Vec<Child> {
    let (ages, sexes, communities, identifiers) =
        (each(&NEW_BY_AGE), each(&NEW_BY_SEX), each(&NEW_BY_COMMUNITY), each(&NEW_BY_IDENTIFIER));
    let (risks, problems, reasons) = (each(&MANAGED_BY_RISK), each(&MANAGED_BY_PROBLEM), each(&CLOSED_BY_REASON));
    let new = ages.len();
    let mut children: Vec<Child> = (0..risks.len())
        .map(|k| {
            let opened_in_2022 = k < new;
            let foreign = opened_in_2022 && communities[k] == "foreign";
            Child {
                born: if opened_in_2022 { born_for(ages[k]) } else { 2010 },
                sex: if opened_in_2022 { sexes[k] } else { ["female", "male"][k % 2] },
                nationality: if foreign { "GR" } else { "AL" },
                ethnicity: (opened_in_2022 && !foreign).then(|| communities[k]),
                identified_by: if opened_in_2022 { identifiers[k] } else { "police" },
                risk: risks[k],
                problem: problems[k],
                opened: if opened_in_2022 {
                    day("2022-01-03") + Duration::days(i64::try_from(k % 350).unwrap())
                } else {
                    day("2021-02-01") + Duration::days(i64::try_from(k % 300).unwrap())
                },
                closed: (!opened_in_2022 && k - new < reasons.len()).then(|| (day("2022-06-15"), reasons[k - new])),
            }
        })
        .collect();
    let outside = |opened: &str, closed: Option<(&str, &'static str)>| Child {
        born: 2012,
        sex: "male",
        nationality: "AL",
        ethnicity: None,
        identified_by: "school",
        risk: "low",
        problem: "neglect",
        opened: day(opened),
        closed: closed.map(|(on, reason)| (day(on), reason)),
    };
    children.push(outside("2020-03-01", Some(("2021-06-01", "out_of_risk"))));
    children.push(outside("2023-01-05", None));
    children
}

/// Each child seen by Tirana's field worker, linked to a new profile and given a case by Tirana's
/// child-protection unit, through the service's functions; the first three cases of 2022 record
/// measures in it. The clock stands in January 2023.
async fn write(app: &TestApp, children: Vec<Child>) {
    app.clock.set(Utc.with_ymd_and_hms(2023, 1, 10, 9, 0, 0).unwrap());
    let (state, now) = (app.state.clone(), app.clock_naive());
    app.db(move |conn| {
        let field = AuthUser::acting_as(conn, "tirana.field", "fixture").unwrap();
        let pmf = AuthUser::acting_as(conn, "tirana.pmf", "fixture").unwrap();
        let index = state.territory();
        // Each child is a new one: no candidates to weigh.
        let mut settings = state.config.profiles.clone();
        settings.candidate_radius_m = 1.0;
        settings.candidate_window_days = 1;
        // One transaction for them all: the fixture is about what is written, not how often it commits.
        write_transaction(conn, |tx| {
            for (k, child) in children.iter().enumerate() {
                let n = u32::try_from(k).unwrap();
                let seen_at =
                    Utc.with_ymd_and_hms(2022, 3, 1, 10, 0, 0).unwrap() + Duration::minutes(i64::from(n) * 97);
                let sighting: CreateIdentification = serde_json::from_value(json!({
                    "id": Uuid::now_v7(),
                    "observed_at": seen_at,
                    "location": { "lat": 41.31 + f64::from(n % 40) * 0.0008, "lon": 19.80 + f64::from(n / 40) * 0.0006,
                                  "accuracy_m": 10.0, "fix_time": seen_at, "source": "gps" },
                    "subject_type": "child",
                    "estimated_age": 2022 - child.born,
                    "sex": child.sex,
                    "nationality": child.nationality,
                    "languages": ["sq"],
                    "street_situations": ["begging"],
                    "risk_level": "medium",
                }))
                .unwrap();
                let prepared = terren_api::identifications::create::prepare(
                    tx,
                    &index,
                    &field,
                    &settings,
                    &sighting,
                    terren_api::clock::to_utc(now),
                )?;
                let profile = Uuid::now_v7();
                terren_api::identifications::create::create(tx, &index, &field, prepared)?;
                let link = LinkIdentification {
                    profile_id: None,
                    new_profile: Some(NewChildProfile {
                        id: profile,
                        given_name: None,
                        family_name: None,
                        aliases: Vec::new(),
                        birth_year: Some(child.born),
                        birth_year_estimated: Some(false),
                        family_contacts: None,
                    }),
                };
                terren_api::profiles::linking::link(tx, &index, &field, &sighting.id.to_string(), &link, now)?;
                let opening = OpenProtectionCase {
                    id: Uuid::now_v7(),
                    identified_by: child.identified_by.to_owned(),
                    opened_at: Some(tirana_midnight(child.opened).and_utc() + Duration::hours(10)),
                    referral_id: None,
                    risk_level: Some(child.risk.to_owned()),
                    primary_problem: Some(child.problem.to_owned()),
                    ethnicity: child.ethnicity.map(str::to_owned),
                };
                let case =
                    terren_api::cases::service::open(tx, &index, &pmf, &profile.to_string(), &opening, now)?.case;
                let mut version = case.version;
                if k < 3 {
                    let measure = RecordProtectionMeasure {
                        id: Uuid::now_v7(),
                        measure: ["emergency_measure", "emergency_measure", "specialised_supervision"][k].to_owned(),
                        taken_at: Some(case.opened_at + Duration::days(2)),
                    };
                    let case_id = case.id.to_string();
                    version = terren_api::cases::service::record_measure(tx, &index, &pmf, &case_id, &measure, now)?
                        .case
                        .version;
                }
                if let Some((on, reason)) = child.closed {
                    let close = CloseProtectionCase {
                        version,
                        closure_reason: reason.to_owned(),
                        closed_at: Some(tirana_midnight(on).and_utc() + Duration::hours(12)),
                    };
                    terren_api::cases::service::close(tx, &index, &pmf, &case.id.to_string(), &close, now)?;
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e: terren_api::http::ApiError| panic!("the fixture: {e:?}"));
    })
    .await;
}

async fn tables(app: &TestApp, scope: Scope, period: &str) -> CaseTables {
    let (from, to) = Period::parse("period", period).unwrap().bounds();
    app.db(move |conn| count(conn, &scope, from, to).unwrap()).await
}

#[actix_web::test]
async fn the_national_2022_case_tables_are_reproduced_cell_by_cell_from_the_records() {
    let app = TestApp::spawn().await;
    write(&app, albania_2022()).await;

    let national = tables(&app, Scope::National, "2022").await;
    assert_eq!(national.new_by_age_band, published(&NEW_BY_AGE));
    assert_eq!(national.new_by_sex, published(&NEW_BY_SEX));
    assert_eq!(national.new_by_community, published(&NEW_BY_COMMUNITY));
    assert_eq!(national.new_by_identifier, published(&NEW_BY_IDENTIFIER));
    assert_eq!(national.closed_by_reason, published(&CLOSED_BY_REASON));
    assert_eq!(national.managed_by_risk, published(&MANAGED_BY_RISK));
    assert_eq!(national.managed_by_problem, published(&MANAGED_BY_PROBLEM));
    assert_eq!(national.measures_by_type, published(&[("emergency_measure", 2), ("specialised_supervision", 1)]));
    assert_eq!((national.new_cases(), national.managed_cases(), national.closed_cases()), (987, 2496, 552));

    // All of it was Tirana's; Elbasan's year is an honest table of zeros.
    let area = |code: &'static str| {
        let index = app.state.territory();
        let id = index.find_code(code).map(|a| index.area(a).id.clone()).unwrap_or_else(|| panic!("{code}"));
        Scope::Municipalities(vec![id])
    };
    assert_eq!(tables(&app, area("AL224"), "2022").await, national);
    assert_eq!(tables(&app, area("AL213"), "2022").await, CaseTables::default());
    // The cases opened in 2021 and still open are 2021's new cases too; 2023 so far has one.
    let earlier = tables(&app, Scope::National, "2021").await;
    assert_eq!(earlier.new_cases(), 1509);
    assert_eq!(earlier.closed_by_reason, published(&[("out_of_risk", 1)]));
    assert_eq!(tables(&app, Scope::National, "2023-Q1").await.new_by_identifier, published(&[("school", 1)]));
}

fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("{id}: {report}"))
}

fn cell<'a>(table: &'a Value, code: &str) -> &'a Value {
    &table["rows"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap_or_else(|| panic!("{code}"))["value"]
}

#[actix_web::test]
async fn the_report_hides_small_numbers_from_national_readers_and_keeps_everyone_to_their_areas() {
    let app = TestApp::spawn().await;
    write(&app, albania_2022()).await;

    // The national viewer reads the country's year with small numbers hidden.
    let analyst = app.login("ashdmf.analyst").await;
    let res = app.get("/api/v1/reports?period=2022", Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let national = res.body;
    assert_eq!(
        (national["area"]["code"].as_str(), national["small_numbers_hidden"].as_bool()),
        (Some("AL"), Some(true))
    );
    let ages = table(&national, "cases_new_by_age_band");
    assert_eq!((cell(ages, "0-3")["count"].as_i64(), ages["total"]["count"].as_i64()), (Some(114), Some(987)));
    assert_eq!(ages["title"]["sq"], "Raste të reja sipas grupmoshës");
    let closed = table(&national, "cases_closed_by_reason");
    assert_eq!(cell(closed, "child_died"), &json!({ "suppressed": true }), "2 children died: hidden");
    assert_eq!(cell(closed, "out_of_risk"), &json!({ "suppressed": true }), "and the next smallest with it");
    assert_eq!(cell(closed, "risk_reduced")["count"], 290);
    assert_eq!(closed["total"]["count"], 552);
    // Trying to work the hidden cells back from the total leaves two unknowns.
    let rows = closed["rows"].as_array().unwrap();
    let visible: i64 = rows.iter().filter_map(|r| r["value"]["count"].as_i64()).sum();
    let hidden = rows.iter().filter(|r| r["value"]["suppressed"] == true).count();
    assert_eq!((552 - visible, hidden), (38, 2), "38 between two cells, each of which could be 1 to 37");
    crate::report_figures::assert_no_hidden_count_recoverable(&national);
    let measures = table(&national, "protection_measures_by_type");
    assert_eq!(measures["total"], json!({ "suppressed": true }), "three measures in all: nothing shown");

    // The case manager of Tirana's unit reads Tirana exactly, and nothing beyond it.
    let pmf = app.login("tirana.pmf").await;
    let res = app.get("/api/v1/reports?period=2022", Some(&pmf)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (res.body["area"]["code"].as_str(), res.body["small_numbers_hidden"].as_bool()),
        (Some("AL224"), Some(false))
    );
    assert_eq!(cell(table(&res.body, "cases_closed_by_reason"), "child_died")["count"], 2);
    assert_eq!(cell(table(&res.body, "cases_new_by_community"), "foreign")["count"], 49);
    for area in ["AL", "AL213", "AL-11"] {
        let res = app.get(&format!("/api/v1/reports?period=2022&area={area}"), Some(&pmf)).await;
        assert_eq!(
            (res.status, res.body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("area_outside_scope")),
            "{area}"
        );
    }
    let field = app.login("tirana.field").await;
    assert_eq!(app.get("/api/v1/reports?period=2022", Some(&field)).await.status, StatusCode::FORBIDDEN);

    // Elbasan had no cases: an honest table of zeros.
    let res = app.get("/api/v1/reports?period=2022&area=AL213", Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(table(&res.body, "cases_managed_by_risk")["total"]["count"], 0);

    for (query, field, code) in [
        ("period=2022-Q5", "period", "invalid_format"),
        ("period=2023-09-30..2023-07-01", "period", "ends_before_start"),
        ("period=2024", "period", "in_future"),
        ("period=2022&area=XX999", "area", "unknown_area"),
        ("period=2022&area=AL224-15", "area", "invalid_value"),
    ] {
        let res = app.get(&format!("/api/v1/reports?{query}"), Some(&analyst)).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", res.body);
        assert_eq!(
            (res.body["errors"][0]["field"].as_str(), error_codes(&res.body)),
            (Some(field), vec![code.to_owned()]),
            "{query}"
        );
    }
    let reads: i64 = app
        .db(|conn| audit_log::table.filter(audit_log::action.eq("report.read")).count().get_result(conn).unwrap())
        .await;
    assert_eq!(reads, 3, "every report read is audited");
}
