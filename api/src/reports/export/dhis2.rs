//! A report as a DHIS2 data value set (`dataValueSets` JSON, as DHIS2's web API imports it with
//! `POST /api/dataValueSets`): one data value per count of the report that the mapping names, for
//! the organisation unit the mapping gives the report's area and the DHIS2 period of the
//! report's period.
//!
//! Hidden counts are left out, never sent as 0, so that DHIS2 keeps them blank. Counts the
//! mapping does not name are left out too, and counted as unmapped, so the person sending the
//! file can see that something did not go. Values are strings, as DHIS2 writes them.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use terren_contract::exports::Dhis2Mapping;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::reports::{Report, ReportPeriod};

use super::{Cell, TOTAL_ROW, shown, table_key};

/// A DHIS2 data value set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValueSet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_set: Option<String>,
    pub period: String,
    pub org_unit: String,
    pub data_values: Vec<DataValue>,
}

/// One value of a data element (and category option combination) for a period and unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    pub data_element: String,
    pub period: String,
    pub org_unit: String,
    pub category_option_combo: String,
    pub value: String,
}

/// A report as DHIS2 takes it, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dhis2Export {
    pub set: DataValueSet,
    /// Counts shown in the report that the mapping names no data element for.
    pub unmapped: usize,
    /// Counts hidden in the report, which are not sent.
    pub suppressed: usize,
}

/// Why a report cannot go to DHIS2.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The period is not a DHIS2 period (a run of days); the field error says so.
    Period(FieldError),
    /// The mapping names no organisation unit for the area (its code).
    OrgUnit(String),
}

/// The DHIS2 period id of a report's period: `2022` (a year), `2023Q3` (a quarter), `2024S1`
/// (a half-year, DHIS2's six-monthly period). `field` names the parameter in the error.
pub fn period_id(field: &str, period: &ReportPeriod) -> Result<String, FieldError> {
    let (first, last) = (period.first_day, period.last_day);
    let refused = || {
        FieldError::new(
            field,
            FieldErrorCode::NotDhisPeriod,
            "DHIS2 takes a year (2022), a quarter (2023-Q3) or a half-year (2024-H1)",
        )
    };
    let year = first.year();
    let month_end = |month: u32| {
        NaiveDate::from_ymd_opt(if month == 12 { year + 1 } else { year }, month % 12 + 1, 1).and_then(|d| d.pred_opt())
    };
    if first.day() != 1 || last.year() != year || Some(last) != month_end(last.month()) {
        return Err(refused());
    }
    match (first.month(), last.month()) {
        (1, 12) => Ok(format!("{year}")),
        (1, 6) => Ok(format!("{year}S1")),
        (7, 12) => Ok(format!("{year}S2")),
        (m, n) if m % 3 == 1 && n == m + 2 => Ok(format!("{year}Q{}", m / 3 + 1)),
        _ => Err(refused()),
    }
}

/// Checks, before anything is counted, that a period can go to DHIS2.
pub fn check_period(field: &str, first_day: NaiveDate, last_day: NaiveDate) -> Result<(), FieldError> {
    let period = ReportPeriod { label: String::new(), first_day, last_day };
    period_id(field, &period).map(|_| ())
}

/// The report as a DHIS2 data value set under `mapping`.
pub fn data_value_set(report: &Report, mapping: &Dhis2Mapping) -> Result<Dhis2Export, Refusal> {
    let period = period_id("period", &report.period).map_err(Refusal::Period)?;
    let org_unit = mapping
        .org_units
        .iter()
        .find(|m| m.area.eq_ignore_ascii_case(&report.area.code))
        .map(|m| m.org_unit.clone())
        .ok_or_else(|| Refusal::OrgUnit(report.area.code.clone()))?;
    let cells: HashMap<(String, &str), _> =
        mapping.cells.iter().map(|m| ((table_key(m.table), m.row.as_str()), m)).collect();
    let (mut data_values, mut unmapped, mut suppressed) = (Vec::new(), 0, 0);
    for table in &report.tables {
        let key = table_key(table.id);
        let rows = table.rows.iter().map(|row| (row.code.as_str(), &row.value));
        for (code, value) in rows.chain([(TOTAL_ROW, &table.total)]) {
            let count = match shown(value) {
                Cell::Figure(figure) => figure,
                Cell::Hidden => {
                    suppressed += 1;
                    continue;
                }
                Cell::Empty => continue,
            };
            let Some(cell) = cells.get(&(key.clone(), code)) else {
                unmapped += 1;
                continue;
            };
            data_values.push(DataValue {
                data_element: cell.data_element.clone(),
                period: period.clone(),
                org_unit: org_unit.clone(),
                category_option_combo: cell.category_option_combo.clone(),
                value: count.to_string(),
            });
        }
    }
    Ok(Dhis2Export {
        set: DataValueSet { data_set: mapping.data_set.clone(), period, org_unit, data_values },
        unmapped,
        suppressed,
    })
}

#[cfg(test)]
mod tests {
    use jsonschema::Validator;
    use serde_json::{Value, json};
    use terren_contract::exports::{Dhis2CellMapping, Dhis2OrgUnitMapping};
    use terren_contract::reports::ReportTableId;

    use super::super::testing;
    use super::*;

    fn schema() -> Validator {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/dhis2-data-value-set.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    fn cell(table: ReportTableId, row: &str, data_element: &str) -> Dhis2CellMapping {
        Dhis2CellMapping {
            table,
            row: row.into(),
            data_element: data_element.into(),
            category_option_combo: "HllvX50cXC0".into(),
        }
    }

    fn mapping() -> Dhis2Mapping {
        Dhis2Mapping {
            data_set: Some("pBOMPrpg1QX".into()),
            cells: vec![
                cell(ReportTableId::CasesNewByCommunity, "roma", "a1CommRoma1"),
                cell(ReportTableId::CasesNewByCommunity, "egyptian", "a1CommEgypt"),
                cell(ReportTableId::CasesNewByCommunity, "not_stated", "a1CommNotSt"),
                cell(ReportTableId::CasesNewByCommunity, "total", "a1CommTotal"),
                cell(ReportTableId::CasesNewBySex, "male", "a1SexMale01"),
            ],
            org_units: vec![Dhis2OrgUnitMapping { area: "AL224".into(), org_unit: "ImspTQPwCqd".into() }],
            version: 1,
            updated_at: None,
        }
    }

    fn period(first: (i32, u32, u32), last: (i32, u32, u32)) -> Result<String, FieldErrorCode> {
        let day = |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let period = ReportPeriod { label: String::new(), first_day: day(first), last_day: day(last) };
        period_id("period", &period).map_err(|e| e.code)
    }

    #[test]
    fn periods_are_named_as_dhis2_names_them() {
        assert_eq!(period((2022, 1, 1), (2022, 12, 31)), Ok("2022".into()));
        assert_eq!(period((2023, 7, 1), (2023, 9, 30)), Ok("2023Q3".into()));
        assert_eq!(period((2024, 1, 1), (2024, 3, 31)), Ok("2024Q1".into()));
        assert_eq!(period((2023, 10, 1), (2023, 12, 31)), Ok("2023Q4".into()));
        assert_eq!(period((2024, 1, 1), (2024, 6, 30)), Ok("2024S1".into()));
        assert_eq!(period((2024, 7, 1), (2024, 12, 31)), Ok("2024S2".into()));
        for (first, last) in [
            ((2023, 7, 1), (2023, 7, 31)),
            ((2023, 7, 2), (2023, 9, 30)),
            ((2023, 7, 1), (2023, 9, 29)),
            ((2023, 2, 1), (2023, 4, 30)),
            ((2023, 1, 1), (2024, 12, 31)),
            ((2023, 4, 1), (2023, 9, 30)),
        ] {
            assert_eq!(period(first, last), Err(FieldErrorCode::NotDhisPeriod), "{first:?}..{last:?}");
        }
    }

    #[test]
    fn the_data_value_set_holds_the_mapped_shown_counts_and_validates_against_the_schema() {
        let export = data_value_set(&testing::report(), &mapping()).unwrap();
        let document = serde_json::to_value(&export.set).unwrap();
        let validator = schema();
        let errors: Vec<String> = validator.iter_errors(&document).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{document}");

        assert_eq!(document["dataSet"], "pBOMPrpg1QX");
        assert_eq!(document["period"], "2023Q3");
        assert_eq!(document["orgUnit"], "ImspTQPwCqd");
        assert_eq!(
            document["dataValues"],
            json!([
                { "dataElement": "a1CommRoma1", "period": "2023Q3", "orgUnit": "ImspTQPwCqd",
                  "categoryOptionCombo": "HllvX50cXC0", "value": "12" },
                { "dataElement": "a1CommNotSt", "period": "2023Q3", "orgUnit": "ImspTQPwCqd",
                  "categoryOptionCombo": "HllvX50cXC0", "value": "0" },
                { "dataElement": "a1CommTotal", "period": "2023Q3", "orgUnit": "ImspTQPwCqd",
                  "categoryOptionCombo": "HllvX50cXC0", "value": "60" },
            ]),
            "the hidden `egyptian` count is left out although mapped"
        );
        // Hidden: egyptian and foreign. Unmapped: albanian_majority, and the measures' row and total.
        assert_eq!((export.suppressed, export.unmapped), (2, 3));
    }

    #[test]
    fn the_schema_refuses_what_dhis2_would() {
        let validator = schema();
        let good = serde_json::to_value(data_value_set(&testing::report(), &mapping()).unwrap().set).unwrap();
        assert!(validator.is_valid(&good));
        for (pointer, bad) in [
            ("/period", json!("2023-Q3")),
            ("/orgUnit", json!("not-a-uid")),
            ("/dataValues/0/value", json!(12)),
            ("/dataValues/0/dataElement", json!("1bcdefghijk")),
        ] {
            let mut document = good.clone();
            *document.pointer_mut(pointer).unwrap() = bad;
            assert!(!validator.is_valid(&document), "{pointer}");
        }
    }

    #[test]
    fn an_area_without_an_org_unit_or_a_run_of_days_cannot_go() {
        let mut report = testing::report();
        report.area.code = "AL213".into();
        assert_eq!(data_value_set(&report, &mapping()).unwrap_err(), Refusal::OrgUnit("AL213".into()));
        let mut report = testing::report();
        report.period.last_day = NaiveDate::from_ymd_opt(2023, 8, 31).unwrap();
        assert!(matches!(data_value_set(&report, &mapping()), Err(Refusal::Period(_))));
    }
}
