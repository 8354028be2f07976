//! Reports as files, rendered from a [`Report`] as its reader may see it (small numbers already
//! hidden): `csv` and `xlsx` for people, `dhis2` as a DHIS2 data value set for the country's
//! aggregate systems. The renderers are pure: they read every table of the report the same way,
//! whatever its id, so a table added to the report is exported without a change here.

pub mod csv;
pub mod dhis2;
pub mod xlsx;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Tirane;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::reports::{Report, ReportTableId, ReportValue};

use crate::db::Tx;
use crate::http::{ApiError, ApiResult};

/// What a hidden count is written as: it is below the floor of published counts
/// (`access::MIN_PUBLISHED_COUNT`), or hidden so that one below it cannot be worked out.
pub const SUPPRESSED: &str = "<3";

/// The code of a table's total row in the files (and in the DHIS2 mapping).
pub use terren_contract::exports::TOTAL_ROW;

/// A format reports are exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Dhis2,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Xlsx, Format::Dhis2];

    /// Reads the `format` parameter; the field error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<Format, FieldError> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| FieldError::new(field, FieldErrorCode::UnknownExportFormat, "export as csv, xlsx or dhis2"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Dhis2 => "dhis2",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Dhis2 => "application/json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Dhis2 => "dhis2.json",
        }
    }
}

/// The file's name, ASCII only: `terren-<area>-<period>.<extension>`, a run of days written
/// `2023-07-01_2023-09-30`.
pub fn filename(report: &Report, format: Format) -> String {
    let ascii = |text: &str| -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || c == '-' {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.trim_end_matches('_').to_owned()
    };
    format!("terren-{}-{}.{}", ascii(&report.area.code), ascii(&report.period.label), format.extension())
}

/// A file made from a report.
pub struct File {
    pub bytes: Vec<u8>,
    pub name: String,
    pub format: Format,
    /// For DHIS2: counts unmapped, counts hidden.
    pub left_out: Option<(usize, usize)>,
}

/// A report as a file of `format`, named `name`; `cut_off` is the instant its data run to.
pub fn render(
    tx: &mut Tx<'_>,
    report: &Report,
    format: Format,
    cut_off: chrono::DateTime<chrono::Utc>,
    name: String,
) -> ApiResult<File> {
    let (bytes, left_out) = match format {
        Format::Csv => (csv::csv(report), None),
        Format::Xlsx => (xlsx::xlsx(report, cut_off).map_err(ApiError::internal)?, None),
        Format::Dhis2 => {
            let mapping = super::dhis2_mapping::load(tx.conn())?;
            let export = dhis2::data_value_set(report, &mapping).map_err(|refusal| match refusal {
                dhis2::Refusal::Period(error) => ApiError::fields(vec![error]),
                dhis2::Refusal::OrgUnit(area) => ApiError::new(crate::http::ErrorCode::AreaWithoutOrgUnit)
                    .with_detail(format!("map the area {area} to a DHIS2 organisation unit first")),
            })?;
            let bytes = serde_json::to_vec_pretty(&export.set).map_err(ApiError::internal)?;
            (bytes, Some((export.unmapped, export.suppressed)))
        }
    };
    Ok(File { bytes, name, format, left_out })
}

/// A table's id as it is written on the wire (`cases_new_by_age_band`).
pub fn table_key(id: ReportTableId) -> String {
    crate::vocabularies::wire_code(id)
}

/// A figure as a file shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Figure(i64),
    /// Written [`SUPPRESSED`].
    Hidden,
    /// Nothing to show (a median of no referrals, the total of a table whose rows are not parts
    /// of a whole): left blank.
    Empty,
}

pub fn shown(value: &ReportValue) -> Cell {
    match (value.suppressed, value.count) {
        (true, _) => Cell::Hidden,
        (false, Some(figure)) => Cell::Figure(figure),
        (false, None) => Cell::Empty,
    }
}

/// An instant as Albania reads it, with its offset from UTC: `2023-10-02 10:15:00 +02:00`.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Tirane).format("%Y-%m-%d %H:%M:%S %:z").to_string()
}

/// Text a spreadsheet would run as a formula gets a leading apostrophe.
pub fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

/// The words the files are written with, in Albanian and English.
pub mod words {
    pub const REPORT: (&str, &str) = ("Raport", "Report");
    pub const AREA: (&str, &str) = ("Zona", "Area");
    pub const PERIOD: (&str, &str) = ("Periudha", "Period");
    pub const FIRST_DAY: (&str, &str) = ("Dita e parë", "First day");
    pub const LAST_DAY: (&str, &str) = ("Dita e fundit", "Last day");
    pub const GENERATED_AT: (&str, &str) = ("Krijuar më", "Generated at");
    pub const CUT_OFF: (&str, &str) = ("Të dhënat deri më", "Data as of");
    pub const SMALL_NUMBERS_HIDDEN: (&str, &str) = ("Numrat e vegjël të fshehur", "Small numbers hidden");
    pub const HIDDEN_MEANS: (&str, &str) = (
        "numër i fshehur: 1 ose 2, ose i fshehur bashkë me të tillë",
        "hidden count: 1 or 2, or hidden along with one",
    );
    pub const YES: (&str, &str) = ("Po", "Yes");
    pub const NO: (&str, &str) = ("Jo", "No");
    pub const TABLE: (&str, &str) = ("Tabela", "Table");
    pub const TITLE: (&str, &str) = ("Titulli", "Title");
    pub const CODE: (&str, &str) = ("Kodi", "Code");
    pub const LABEL: (&str, &str) = ("Emërtimi", "Label");
    pub const COUNT: (&str, &str) = ("Numri", "Count");
    pub const TOTAL: (&str, &str) = ("Gjithsej", "Total");
    pub const SHEET: (&str, &str) = ("Fleta", "Sheet");

    /// `Zona / Area`.
    pub fn both((sq, en): (&str, &str)) -> String {
        format!("{sq} / {en}")
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use chrono::{NaiveDate, TimeZone, Utc};
    use terren_contract::reports::{
        Labels, Report, ReportArea, ReportPeriod, ReportRow, ReportTable, ReportTableId, ReportUnit, ReportValue,
    };

    fn value(count: Option<i64>) -> ReportValue {
        ReportValue { count, suppressed: count.is_none() }
    }

    fn labels(sq: &str, en: &str) -> Labels {
        Labels { sq: sq.into(), en: en.into() }
    }

    /// Tirana's third quarter of 2023 as a national reader sees it: two tables, a hidden cell.
    pub(crate) fn report() -> Report {
        let row = |code: &str, sq: &str, en: &str, count: Option<i64>| ReportRow {
            code: code.into(),
            label: labels(sq, en),
            value: value(count),
        };
        Report {
            area: ReportArea { code: "AL224".into(), name: "Tiranë".into(), level: "municipality".into() },
            period: ReportPeriod {
                label: "2023-Q3".into(),
                first_day: NaiveDate::from_ymd_opt(2023, 7, 1).unwrap(),
                last_day: NaiveDate::from_ymd_opt(2023, 9, 30).unwrap(),
            },
            generated_at: Utc.with_ymd_and_hms(2023, 10, 2, 8, 15, 0).unwrap(),
            small_numbers_hidden: true,
            tables: vec![
                ReportTable {
                    id: ReportTableId::CasesNewByCommunity,
                    title: labels("Raste të reja sipas etnisë ose komunitetit", "New cases by ethnicity or community"),
                    breakdown: "ethnicity".into(),
                    unit: ReportUnit::Count,
                    rows_overlap: false,
                    rows: vec![
                        row("roma", "Rome", "Roma", Some(12)),
                        row("egyptian", "Egjiptianë", "Egyptian", None),
                        row("albanian_majority", "Shqiptarë (shumicë)", "Albanian (majority)", Some(40)),
                        row("foreign", "Të huaj", "Foreign", None),
                        row("not_stated", "Pa deklaruar, çfarëdo", "Not stated, \"any\"", Some(0)),
                    ],
                    total: value(Some(60)),
                },
                ReportTable {
                    id: ReportTableId::ProtectionMeasuresByType,
                    title: labels("Masa mbrojtëse sipas llojit", "Protection measures by type"),
                    breakdown: "protection_measure".into(),
                    unit: ReportUnit::Count,
                    rows_overlap: false,
                    rows: vec![row("emergency_measure", "Masë emergjente", "Emergency measure", Some(5))],
                    total: value(Some(5)),
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::MIN_PUBLISHED_COUNT;

    #[test]
    fn a_hidden_count_reads_as_below_the_floor() {
        assert_eq!(SUPPRESSED, format!("<{MIN_PUBLISHED_COUNT}"));
    }

    #[test]
    fn file_names_are_ascii_and_name_the_area_and_period() {
        let mut report = testing::report();
        assert_eq!(filename(&report, Format::Xlsx), "terren-AL224-2023-Q3.xlsx");
        assert_eq!(filename(&report, Format::Dhis2), "terren-AL224-2023-Q3.dhis2.json");
        report.period.label = "2023-07-01..2023-09-30".into();
        assert_eq!(filename(&report, Format::Csv), "terren-AL224-2023-07-01_2023-09-30.csv");
    }

    #[test]
    fn formats_are_read_by_name() {
        assert_eq!(Format::parse("format", "XLSX").unwrap(), Format::Xlsx);
        assert_eq!(Format::parse("format", "pdf").unwrap_err().code, FieldErrorCode::UnknownExportFormat);
        assert_eq!(table_key(ReportTableId::CasesNewBySex), "cases_new_by_sex");
    }
}
