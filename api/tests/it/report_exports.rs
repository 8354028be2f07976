//! Reports as files: the same report as `GET /reports`, as CSV, XLSX and a DHIS2 data value set,
//! and the DHIS2 mapping system administrators keep.

use std::io::Cursor;

use actix_web::http::StatusCode;
use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_api::access::AuthUser;
use terren_api::db::backend::write_transaction;
use terren_api::db::schema::audit_log;
use terren_api::reports::period::tirana_midnight;
use terren_contract::cases::OpenProtectionCase;
use terren_contract::identifications::CreateIdentification;
use terren_contract::profiles::{LinkIdentification, NewChildProfile};
use uuid::Uuid;

use crate::fixtures::error_codes;
use crate::harness::{Response, TestApp};

/// Who identified each of Tirana's children whose cases opened in the third quarter of 2023:
/// ten by the police, two by a school, two by an NGO. Half are Roma, half boys.
const IDENTIFIED_BY: [&str; 14] = [
    "police", "police", "police", "police", "police", "police", "police", "police", "police", "police", "school",
    "school", "ngo", "ngo",
];

/// Each child seen by Tirana's field worker, linked to a new profile and given a case by Tirana's
/// child-protection unit in July and August 2023; the clock then stands in October.
async fn write_cases(app: &TestApp) {
    app.clock.set(Utc.with_ymd_and_hms(2023, 10, 10, 9, 0, 0).unwrap());
    let (state, now) = (app.state.clone(), app.clock_naive());
    app.db(move |conn| {
        let field = AuthUser::acting_as(conn, "tirana.field", "fixture").unwrap();
        let pmf = AuthUser::acting_as(conn, "tirana.pmf", "fixture").unwrap();
        let index = state.territory();
        let mut settings = state.config.profiles.clone();
        settings.candidate_radius_m = 1.0;
        settings.candidate_window_days = 1;
        write_transaction(conn, |tx| {
            for (k, identified_by) in IDENTIFIED_BY.iter().enumerate() {
                let n = u32::try_from(k).unwrap();
                let seen_at = Utc.with_ymd_and_hms(2023, 7, 3, 10, 0, 0).unwrap() + Duration::hours(i64::from(n) * 50);
                let sighting: CreateIdentification = serde_json::from_value(json!({
                    "id": Uuid::now_v7(),
                    "observed_at": seen_at,
                    "location": { "lat": 41.31 + f64::from(n) * 0.0008, "lon": 19.80,
                                  "accuracy_m": 10.0, "fix_time": seen_at, "source": "gps" },
                    "subject_type": "child",
                    "estimated_age": 9,
                    "sex": if k % 2 == 0 { "male" } else { "female" },
                    "nationality": "AL",
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
                terren_api::identifications::create::create(tx, &index, &field, prepared)?;
                let profile = Uuid::now_v7();
                let link = LinkIdentification {
                    profile_id: None,
                    new_profile: Some(NewChildProfile {
                        id: profile,
                        given_name: None,
                        family_name: None,
                        aliases: Vec::new(),
                        birth_year: Some(2014),
                        birth_year_estimated: Some(false),
                        family_contacts: None,
                    }),
                };
                terren_api::profiles::linking::link(tx, &index, &field, &sighting.id.to_string(), &link, now)?;
                let opened = NaiveDate::from_ymd_opt(2023, 7, 5).unwrap() + Duration::days(i64::from(n) * 3);
                let opening = OpenProtectionCase {
                    id: Uuid::now_v7(),
                    identified_by: (*identified_by).to_owned(),
                    opened_at: Some(tirana_midnight(opened).and_utc() + Duration::hours(10)),
                    referral_id: None,
                    risk_level: Some("medium".to_owned()),
                    primary_problem: Some("street_situation".to_owned()),
                    ethnicity: Some(if k < 7 { "roma" } else { "albanian_majority" }.to_owned()),
                };
                terren_api::cases::service::open(tx, &index, &pmf, &profile.to_string(), &opening, now)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e: terren_api::http::ApiError| panic!("the fixture: {e:?}"));
    })
    .await;
}

/// A report value as the CSV writes it: the figure, `<3` when hidden, nothing when there is none.
fn written(value: &Value) -> String {
    match (value["suppressed"] == true, value["count"].as_i64()) {
        (true, _) => "<3".to_owned(),
        (false, Some(figure)) => figure.to_string(),
        (false, None) => String::new(),
    }
}

fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tables"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("{id}"))
}

/// The CSV's table rows (after the lines about the report and the header row), as the csv crate
/// reads them.
fn csv_rows(res: &Response) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(&res.bytes).unwrap().strip_prefix('\u{feff}').expect("byte-order mark");
    let records: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let header = records.iter().position(|r| r.first().is_some_and(|c| c == "Tabela / Table")).expect("header row");
    records[header + 1..].to_vec()
}

async fn exports(app: &TestApp, action: &'static str) -> Vec<Value> {
    app.db(move |conn| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .order(audit_log::seq.asc())
            .select(audit_log::details)
            .load::<String>(conn)
            .unwrap()
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    })
    .await
}

#[actix_web::test]
async fn the_csv_and_the_workbook_are_the_report_as_its_reader_sees_it() {
    let app = TestApp::spawn().await;
    write_cases(&app).await;

    // The case manager reads Tirana exactly: the CSV has every count the report has.
    let pmf = app.login("tirana.pmf").await;
    let report = app.get("/api/v1/reports?period=2023-Q3", Some(&pmf)).await.body;
    let res = app.get("/api/v1/reports/export?period=2023-Q3&format=csv", Some(&pmf)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(header(&res, "content-type"), "text/csv; charset=utf-8");
    assert_eq!(header(&res, "content-disposition"), "attachment; filename=\"terren-AL224-2023-Q3.csv\"");
    let rows = csv_rows(&res);
    let tables = report["tables"].as_array().unwrap();
    let cells: usize = tables.iter().map(|t| t["rows"].as_array().unwrap().len() + 1).sum();
    assert_eq!(rows.len(), cells, "a line per row and per total");
    for table in tables {
        let id = table["id"].as_str().unwrap();
        for row in table["rows"].as_array().unwrap() {
            let line = rows.iter().find(|r| r[0] == id && r[3] == row["code"]).unwrap();
            assert_eq!(line[6], written(&row["value"]), "{id} {}", row["code"]);
            assert_eq!(line[4], row["label"]["sq"].as_str().unwrap());
        }
        let total = rows.iter().find(|r| r[0] == id && r[3] == "total").unwrap();
        assert_eq!(total[6], written(&table["total"]), "{id}");
    }
    let police = rows.iter().find(|r| r[0] == "cases_new_by_identifier" && r[3] == "police").unwrap();
    assert_eq!(police[6], "10");

    // The national viewer reads Tirana with small numbers hidden, in the workbook as in the report.
    let analyst = app.login("ashdmf.analyst").await;
    let report = app.get("/api/v1/reports?period=2023-Q3&area=AL224", Some(&analyst)).await.body;
    let res = app.get("/api/v1/reports/export?period=2023-Q3&area=AL224&format=xlsx", Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(header(&res, "content-type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert_eq!(header(&res, "content-disposition"), "attachment; filename=\"terren-AL224-2023-Q3.xlsx\"");
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(res.bytes.to_vec())).unwrap();
    let names = book.sheet_names();
    assert_eq!(names.len(), 1 + report["tables"].as_array().unwrap().len(), "{names:?}");
    let identifiers = table(&report, "cases_new_by_identifier");
    let sheet = book.worksheet_range("cases_new_by_identifier").unwrap();
    let cell = |code: &str| -> Data {
        let row = (0..sheet.height() as u32)
            .find(|&r| sheet.get_value((r, 0)) == Some(&Data::String(code.into())))
            .unwrap_or_else(|| panic!("{code}"));
        sheet.get_value((row, 3)).unwrap().clone()
    };
    for row in identifiers["rows"].as_array().unwrap() {
        let code = row["code"].as_str().unwrap();
        let expected = match row["value"]["count"].as_i64() {
            Some(n) => Data::Float(n as f64),
            None => Data::String("<3".into()),
        };
        assert_eq!(cell(code), expected, "{code}");
    }
    assert_eq!(cell("school"), Data::String("<3".into()), "two children: hidden");
    assert_eq!(cell("total"), Data::Float(14.0));
    let cover = book.worksheet_range("Raporti - Report").unwrap();
    let hidden = (0..cover.height() as u32)
        .find(|&r| cover.get_value((r, 1)) == Some(&Data::String("Small numbers hidden".into())))
        .unwrap();
    assert_eq!(cover.get_value((hidden, 2)), Some(&Data::String("Po / Yes".into())));

    // Each export is audited as one, with its format.
    let audited = exports(&app, "report.export").await;
    let formats: Vec<&str> = audited.iter().map(|d| d["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["csv", "xlsx"]);
    assert_eq!(audited[1]["small_numbers_hidden"], true);
}

#[actix_web::test]
async fn an_export_is_refused_as_the_report_would_be_and_for_an_unknown_format() {
    let app = TestApp::spawn().await;
    let pmf = app.login("tirana.pmf").await;
    let res = app.get("/api/v1/reports/export?period=2023-Q3&format=pdf", Some(&pmf)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    assert_eq!(res.body["errors"][0]["field"], "format");
    assert_eq!(error_codes(&res.body), ["unknown_export_format"]);

    // Who may not read the report may not export it, whatever they ask for.
    let field = app.login("tirana.field").await;
    let res = app.get("/api/v1/reports/export?period=2023-Q3&format=pdf", Some(&field)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let res = app.get("/api/v1/reports/export?period=2023-Q3&area=AL213&format=csv", Some(&pmf)).await;
    assert_eq!((res.status, res.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("area_outside_scope")));
    let res = app.get("/api/v1/reports/export?period=2023-Q5&format=csv", Some(&pmf)).await;
    assert_eq!(error_codes(&res.body), ["invalid_format"]);
    assert!(exports(&app, "report.export").await.is_empty(), "nothing refused is audited as exported");
}

/// A mapping of the new cases by identifier (and their total) for Tirana.
fn mapping(version: i32) -> Value {
    json!({
        "version": version,
        "data_set": "pBOMPrpg1QX",
        "cells": [
            { "table": "cases_new_by_identifier", "row": "police", "data_element": "fbfJHSPpUQD", "category_option_combo": "HllvX50cXC0" },
            { "table": "cases_new_by_identifier", "row": "school", "data_element": "cYeuwXTCPkU", "category_option_combo": "HllvX50cXC0" },
            { "table": "cases_new_by_identifier", "row": "total", "data_element": "Jtf34kNZhzP", "category_option_combo": "HllvX50cXC0" },
        ],
        "org_units": [{ "area": "al224", "org_unit": "ImspTQPwCqd" }],
    })
}

#[actix_web::test]
async fn system_administrators_keep_the_dhis2_mapping_and_the_export_follows_it() {
    let app = TestApp::spawn().await;
    write_cases(&app).await;
    let admin = app.login("admin").await;
    let analyst = app.login("ashdmf.analyst").await;
    let path = "/api/v1/reports/dhis2-mapping";

    // Only system administrators read and change it.
    for reader in [&analyst, &app.login("tirana.admin").await] {
        assert_eq!(app.get(path, Some(reader)).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.put(path, Some(reader), &mapping(0)).await.status, StatusCode::FORBIDDEN);
    }
    let empty = app.get(path, Some(&admin)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!({ "cells": [], "org_units": [], "version": 0 }));

    // Without an organisation unit for the area, nothing can go.
    let res = app.get("/api/v1/reports/export?period=2023-Q3&area=AL224&format=dhis2", Some(&analyst)).await;
    assert_eq!(
        (res.status, res.body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("area_without_org_unit"))
    );

    // Refused: uids of the wrong make, a table the reports do not have, the same cell twice.
    for (change, field, code) in [
        (json!({ "data_set": "1BOMPrpg1QX" }), "data_set", "not_a_dhis_uid"),
        (json!({ "data_set": "short" }), "data_set", "invalid_length"),
        (
            json!({ "org_units": [{ "area": "AL224", "org_unit": "ImspTQPw-qd" }] }),
            "org_units[0].org_unit",
            "not_a_dhis_uid",
        ),
        (json!({ "org_units": [{ "area": "XX999", "org_unit": "ImspTQPwCqd" }] }), "org_units[0].area", "unknown_area"),
        (
            json!({ "cells": [{ "table": "sightings_by_month", "row": "total", "data_element": "fbfJHSPpUQD", "category_option_combo": "HllvX50cXC0" }] }),
            "cells[0].table",
            "unknown_code",
        ),
        (
            json!({ "cells": [
                { "table": "cases_new_by_sex", "row": "male", "data_element": "fbfJHSPpUQD", "category_option_combo": "HllvX50cXC0" },
                { "table": "cases_new_by_sex", "row": "male", "data_element": "cYeuwXTCPkU", "category_option_combo": "HllvX50cXC0" },
            ] }),
            "cells[1]",
            "duplicate_entry",
        ),
    ] {
        let mut body = mapping(0);
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let res = app.put(path, Some(&admin), &body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {}", res.body);
        assert_eq!(res.body["errors"][0]["field"], field, "{change}: {}", res.body);
        assert_eq!(error_codes(&res.body), [code], "{change}");
    }

    let saved = app.put(path, Some(&admin), &mapping(0)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["version"], 1);
    assert_eq!(saved.body["org_units"], json!([{ "area": "AL224", "org_unit": "ImspTQPwCqd" }]), "the area's own code");
    assert_eq!(app.get(path, Some(&admin)).await.body, saved.body);
    let stale = app.put(path, Some(&admin), &mapping(0)).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
    assert_eq!(stale.body, saved.body, "the current mapping comes back");
    assert_eq!(
        exports(&app, "dhis2_mapping.put").await,
        [json!({ "version": 1, "data_set": "pBOMPrpg1QX", "cells": 3, "org_units": 1 })]
    );

    // DHIS2 takes years, quarters and half-years, not runs of days (days that make up a quarter
    // are that quarter).
    let days = "/api/v1/reports/export?period=2023-07-01..2023-08-31&area=AL224&format=dhis2";
    let res = app.get(days, Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(
        (res.body["errors"][0]["field"].as_str(), error_codes(&res.body)),
        (Some("period"), vec!["not_a_dhis_period".to_owned()])
    );

    // The quarter goes, without the hidden counts, and says how many counts had no data element.
    let report = app.get("/api/v1/reports?period=2023-Q3&area=AL224", Some(&analyst)).await.body;
    let res = app.get("/api/v1/reports/export?period=2023-Q3&area=AL224&format=dhis2", Some(&analyst)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(header(&res, "content-type"), "application/json");
    assert_eq!(header(&res, "content-disposition"), "attachment; filename=\"terren-AL224-2023-Q3.dhis2.json\"");
    let schema_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/dhis2-data-value-set.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&res.body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", res.body);
    assert_eq!((res.body["period"].as_str(), res.body["orgUnit"].as_str()), (Some("2023Q3"), Some("ImspTQPwCqd")));
    assert_eq!(res.body["dataSet"], "pBOMPrpg1QX");
    let values = res.body["dataValues"].as_array().unwrap();
    let police = table(&report, "cases_new_by_identifier")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "police")
        .unwrap()["value"]
        .clone();
    assert_eq!(police, json!({ "suppressed": true }), "hidden with the schools' two");
    assert_eq!(
        values,
        &[json!({ "dataElement": "Jtf34kNZhzP", "period": "2023Q3", "orgUnit": "ImspTQPwCqd",
                  "categoryOptionCombo": "HllvX50cXC0", "value": "14" })],
        "police and school are hidden: only the total goes"
    );
    // A figure with nothing behind it (`{}`) is neither sent nor counted as left out.
    let count = |v: &Value| match (v["suppressed"] == true, v["count"].is_i64()) {
        (true, _) => (0, 1),
        (false, true) => (1, 0),
        (false, false) => (0, 0),
    };
    let (shown, hidden) = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap().iter().map(|r| &r["value"]).chain([&t["total"]]))
        .fold((0, 0), |(s, h), v| (s + count(v).0, h + count(v).1));
    assert_eq!(header(&res, "terren-suppressed-cells"), hidden.to_string());
    assert_eq!(header(&res, "terren-unmapped-cells"), (shown - 1).to_string(), "all shown counts but the total");
    let audited = exports(&app, "report.export").await;
    assert_eq!(audited.iter().map(|d| d["format"].as_str().unwrap()).collect::<Vec<_>>(), ["dhis2"]);
}
