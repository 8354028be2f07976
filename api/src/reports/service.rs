//! A report for an area and a period as its reader may see it: the tables counted, labelled in
//! both languages, small numbers hidden from readers of aggregates only, the reading audited.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::areas::AreaLevel;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::reports::{
    Labels, Report, ReportArea, ReportPeriod, ReportQuery, ReportRow, ReportTable, ReportTableId,
};

use super::cases::{self, CaseTables, Counts, FOREIGN, NOT_ASSESSED, Scope};
use super::period::{Period, tirana_day};
use super::suppress::{self, Shown};
use crate::access::AuthUser;
use crate::access::reports::{ReportReach, check_report_area, report_reach};
use crate::audit;
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{agencies, vocabulary_entries};
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;

/// The code that names the whole country.
pub const NATIONAL: &str = "AL";

/// What a report covers, worked out from the query.
struct Covered {
    area: ReportArea,
    scope: Scope,
}

pub fn report(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
) -> ApiResult<Report> {
    counted(tx, index, user, query, at, None)
}

/// The same report as [`report`], audited as exported in `format` (`report.export`).
pub fn export(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
    format: &str,
) -> ApiResult<Report> {
    counted(tx, index, user, query, at, Some(format))
}

fn counted(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportQuery,
    at: NaiveDateTime,
    exported_as: Option<&str>,
) -> ApiResult<Report> {
    let reach = report_reach(user)?;
    let period = Period::parse("period", &query.period)
        .and_then(|period| period.check_begun("period", tirana_day(at)).map(|()| period))
        .map_err(|e| ApiError::fields(vec![e]))?;
    let covered = covered(tx, index, user, reach, query.area.as_deref())?;
    let (from, to) = period.bounds();
    let counts = cases::count(tx, &covered.scope, from, to)?;
    let labels = Vocabularies::load(tx)?;
    let tables = case_tables(&counts, &labels, reach.exact);
    let mut details =
        serde_json::json!({ "area": covered.area.code, "period": period.label, "small_numbers_hidden": !reach.exact });
    if let Some(format) = exported_as {
        details["format"] = format.into();
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        if exported_as.is_some() { "report.export" } else { "report.read" },
        "report",
        &format!("{}:{}", covered.area.code, period.label),
        details,
    )?;
    Ok(Report {
        area: covered.area,
        period: ReportPeriod { label: period.label, first_day: period.first_day, last_day: period.last_day },
        generated_at: to_utc(at),
        small_numbers_hidden: !reach.exact,
        tables,
    })
}

fn covered(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    reach: ReportReach,
    area: Option<&str>,
) -> ApiResult<Covered> {
    let code = match area {
        Some(code) => code.trim().to_owned(),
        None if reach.national => NATIONAL.to_owned(),
        None => {
            let municipality: Option<String> =
                agencies::table.find(&user.agency.id).select(agencies::municipality_id).get_result(tx.conn())?;
            let at = municipality.as_deref().and_then(|id| index.find_id(id)).ok_or_else(|| {
                ApiError::fields(vec![FieldError::new(
                    "area",
                    FieldErrorCode::Required,
                    "your agency has no municipality: name the area",
                )])
            })?;
            index.area(at).code.clone()
        }
    };
    if code.eq_ignore_ascii_case(NATIONAL) {
        check_report_area(index, user, reach, None)?;
        let area = ReportArea { code: NATIONAL.into(), name: "Shqipëri".into(), level: "country".into() };
        return Ok(Covered { area, scope: Scope::National });
    }
    let Some(at) = index.find_code(&code) else {
        return Err(ApiError::fields(vec![FieldError::new(
            "area",
            FieldErrorCode::UnknownArea,
            format!("no area has the code {code}"),
        )]));
    };
    let found = index.area(at);
    let (municipalities, level) = match found.level {
        AreaLevel::Municipality => (vec![at], "municipality"),
        AreaLevel::County => (
            index.descendants(at).into_iter().filter(|&a| index.area(a).level == AreaLevel::Municipality).collect(),
            "county",
        ),
        AreaLevel::AdminUnit => {
            return Err(ApiError::fields(vec![FieldError::new(
                "area",
                FieldErrorCode::InvalidValue,
                "reports are made for a municipality, a county or the country",
            )]));
        }
    };
    check_report_area(index, user, reach, Some(&municipalities))?;
    Ok(Covered {
        area: ReportArea { code: found.code.clone(), name: found.name.clone(), level: level.into() },
        scope: Scope::Municipalities(municipalities.into_iter().map(|m| index.area(m).id.clone()).collect()),
    })
}

/// The labels of the vocabularies a report's rows come from, in their order.
struct Vocabularies(HashMap<String, Vec<(String, Labels)>>);

impl Vocabularies {
    fn load(tx: &mut Tx<'_>) -> ApiResult<Vocabularies> {
        let rows: Vec<(String, String, String, String)> = vocabulary_entries::table
            .filter(vocabulary_entries::active.eq(true))
            .order((vocabulary_entries::vocabulary, vocabulary_entries::sort_order, vocabulary_entries::code))
            .select((
                vocabulary_entries::vocabulary,
                vocabulary_entries::code,
                vocabulary_entries::label_sq,
                vocabulary_entries::label_en,
            ))
            .load(tx.conn())?;
        let mut by_name: HashMap<String, Vec<(String, Labels)>> = HashMap::new();
        for (vocabulary, code, sq, en) in rows {
            by_name.entry(vocabulary).or_default().push((code, Labels { sq, en }));
        }
        Ok(Vocabularies(by_name))
    }

    /// Every code of a vocabulary in its order, then `extra` codes, then codes counted that the
    /// vocabulary no longer lists (labelled by their code).
    fn rows(&self, vocabulary: &str, extra: &[(&str, &str, &str)], counts: &Counts) -> Vec<(String, Labels)> {
        let mut rows: Vec<(String, Labels)> = self.0.get(vocabulary).cloned().unwrap_or_default();
        for &(code, sq, en) in extra {
            if !rows.iter().any(|(c, _)| c == code) {
                rows.push((code.to_owned(), Labels { sq: sq.into(), en: en.into() }));
            }
        }
        for code in counts.keys() {
            if !rows.iter().any(|(c, _)| c == code) {
                rows.push((code.clone(), Labels { sq: code.clone(), en: code.clone() }));
            }
        }
        rows
    }
}

const NOT_ASSESSED_ROW: (&str, &str, &str) = (NOT_ASSESSED, "Pa vlerësuar", "Not assessed");
const FOREIGN_ROW: (&str, &str, &str) = (FOREIGN, "Të huaj", "Foreign");

/// A table: its id, title in Albanian and English, the vocabulary of its rows, its counts, and
/// rows it has beyond the vocabulary's codes.
type TableSpec<'a> = (ReportTableId, &'a str, &'a str, &'a str, &'a Counts, &'a [(&'a str, &'a str, &'a str)]);

/// The case tables, with a group's tables hidden whole when one of them hides its total.
fn case_tables(counts: &CaseTables, vocabularies: &Vocabularies, exact: bool) -> Vec<ReportTable> {
    let specs: [TableSpec<'_>; 8] = [
        (
            ReportTableId::CasesNewByAgeBand,
            "Raste të reja sipas grupmoshës",
            "New cases by age band",
            "age_band",
            &counts.new_by_age_band,
            &[],
        ),
        (
            ReportTableId::CasesNewBySex,
            "Raste të reja sipas gjinisë",
            "New cases by sex",
            "sex",
            &counts.new_by_sex,
            &[],
        ),
        (
            ReportTableId::CasesNewByCommunity,
            "Raste të reja sipas etnisë ose komunitetit",
            "New cases by ethnicity or community",
            "ethnicity",
            &counts.new_by_community,
            &[FOREIGN_ROW],
        ),
        (
            ReportTableId::CasesNewByIdentifier,
            "Raste të reja sipas identifikuesit",
            "New cases by who identified the child",
            "identifier_type",
            &counts.new_by_identifier,
            &[],
        ),
        (
            ReportTableId::CasesClosedByReason,
            "Raste të mbyllura sipas arsyes",
            "Closed cases by reason",
            "case_closure_reason",
            &counts.closed_by_reason,
            &[],
        ),
        (
            ReportTableId::CasesManagedByRisk,
            "Raste në menaxhim sipas nivelit të rrezikut",
            "Managed cases by risk level",
            "risk_level",
            &counts.managed_by_risk,
            &[NOT_ASSESSED_ROW],
        ),
        (
            ReportTableId::CasesManagedByProblem,
            "Raste në menaxhim sipas problematikës",
            "Managed cases by problem",
            "problem_category",
            &counts.managed_by_problem,
            &[NOT_ASSESSED_ROW],
        ),
        (
            ReportTableId::ProtectionMeasuresByType,
            "Masa mbrojtëse sipas llojit",
            "Protection measures by type",
            "protection_measure",
            &counts.measures_by_type,
            &[],
        ),
    ];
    let laid_out: Vec<(Vec<(String, Labels)>, Shown)> = specs
        .iter()
        .map(|&(_, _, _, vocabulary, counted, extra)| {
            let rows = vocabularies.rows(vocabulary, extra, counted);
            let values: Vec<i64> = rows.iter().map(|(code, _)| counted.get(code).copied().unwrap_or(0)).collect();
            (rows, suppress::table(&values, exact))
        })
        .collect();
    let (mut rows, mut shown): (Vec<_>, Vec<Shown>) = laid_out.into_iter().unzip();
    if let [age, sex, community, identifier, _closed, risk, problem, _measures] = &mut shown[..] {
        suppress::hide_group_with_hidden_total(&mut [age, sex, community, identifier]);
        suppress::hide_group_with_hidden_total(&mut [risk, problem]);
    }
    specs
        .iter()
        .zip(rows.iter_mut().zip(shown))
        .map(|(&(id, sq, en, vocabulary, _, _), (rows, shown))| ReportTable {
            id,
            title: Labels { sq: sq.into(), en: en.into() },
            breakdown: vocabulary.into(),
            rows: std::mem::take(rows)
                .into_iter()
                .zip(shown.cells)
                .map(|((code, label), value)| ReportRow { code, label, value })
                .collect(),
            total: shown.total,
        })
        .collect()
}
