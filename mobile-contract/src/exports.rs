//! Reports as files: CSV and XLSX for people, DHIS2 data value sets for the national health and
//! social information systems, and the table that says which DHIS2 ids Terren's codes stand for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::reports::ReportTableId;

/// Which report to export, and as what.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportExportQuery {
    /// As for `GET /reports`: a year (`2022`), a quarter (`2023-Q3`), a half-year (`2024-H1`) or
    /// whole days (`2023-07-01..2023-09-30`). DHIS2 takes years, quarters and half-years only.
    pub period: String,
    /// As for `GET /reports`: a municipality's code, a county's, or `AL` for the country.
    pub area: Option<String>,
    /// `csv`, `xlsx` or `dhis2` (a DHIS2 `dataValueSets` JSON document).
    pub format: String,
    /// As for `GET /reports`: only these tables (comma-separated ids).
    pub tables: Option<String>,
    /// As for `GET /reports`: another baseline for the plan's indicators.
    pub baseline: Option<String>,
}

/// How to export a frozen report.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FrozenExportQuery {
    /// `csv`, `xlsx` or `dhis2`, as for `GET /reports/export`.
    pub format: String,
}

/// The row code that stands for a table's total in the DHIS2 mapping.
pub const TOTAL_ROW: &str = "total";

/// Which DHIS2 data element and category option combination one cell of a report goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Dhis2CellMapping {
    /// The report table.
    pub table: ReportTableId,
    /// A row's code (a code of the table's breakdown), or `total` for the table's total.
    #[validate(length(min = 1, max = 64))]
    pub row: String,
    /// The DHIS2 data element's uid: 11 characters, a letter then letters and digits.
    #[validate(length(equal = 11))]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9]{10}$")]
    pub data_element: String,
    /// The uid of the data element's category option combination (DHIS2's `default` one where
    /// the element has no disaggregation).
    #[validate(length(equal = 11))]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9]{10}$")]
    pub category_option_combo: String,
}

/// Which DHIS2 organisation unit an area's reports go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Dhis2OrgUnitMapping {
    /// A municipality's code (`AL224`), a county's, or `AL` for the country.
    #[validate(length(min = 1, max = 32))]
    pub area: String,
    /// The DHIS2 organisation unit's uid.
    #[validate(length(equal = 11))]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9]{10}$")]
    pub org_unit: String,
}

/// The whole mapping from Terren's codes to DHIS2 ids, as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Dhis2Mapping {
    /// The DHIS2 data set the values are sent for (its uid), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_set: Option<String>,
    pub cells: Vec<Dhis2CellMapping>,
    pub org_units: Vec<Dhis2OrgUnitMapping>,
    /// Send it back as `version` when replacing the mapping; 0 while there is none.
    pub version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A new mapping, replacing the whole of the old one (system administrators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutDhis2Mapping {
    /// The `version` you read (0 while there is no mapping); a stale one is refused with 412.
    pub version: i32,
    /// The DHIS2 data set's uid, if the values are sent for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(equal = 11))]
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9]{10}$")]
    pub data_set: Option<String>,
    /// At most one entry per table and row.
    #[validate(length(max = 5000), nested)]
    pub cells: Vec<Dhis2CellMapping>,
    /// At most one entry per area.
    #[validate(length(max = 500), nested)]
    pub org_units: Vec<Dhis2OrgUnitMapping>,
}

/// Whether a text is a DHIS2 uid: 11 characters, an ASCII letter then ASCII letters and digits.
pub fn is_dhis2_uid(text: &str) -> bool {
    let mut chars = text.chars();
    text.len() == 11
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhis2_uids_are_eleven_letters_and_digits_starting_with_a_letter() {
        for uid in ["fbfJHSPpUQD", "ImspTQPwCqd", "HllvX50cXC0"] {
            assert!(is_dhis2_uid(uid), "{uid}");
        }
        for not in ["", "fbfJHSPpUQ", "fbfJHSPpUQDx", "1bfJHSPpUQD", "fbfJHSPp-QD", "fbfJHSPpUQë"] {
            assert!(!is_dhis2_uid(not), "{not}");
        }
    }
}
