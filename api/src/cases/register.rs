//! The case-register export: the children a unit managed in a period, with the fields the
//! national electronic case register asks for when a case is entered, for the unit's case
//! managers to enter or upload there. Only the unit's own case workers export it; names go only to
//! readers of names and the community only to readers of sensitive fields; no place finer than
//! the administrative unit is written. Every export is audited with what it held.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::cases::{CaseRegisterEntry, CaseRegisterMeasure, CaseRegisterQuery};
use terren_contract::problem::{FieldError, FieldErrorCode};

use super::store::{CaseRow, measures_of};
use crate::access::AuthUser;
use crate::access::cases::may_work_cases;
use crate::accounts::service::agency_ref_of;
use crate::audit;
use crate::db::Tx;
use crate::db::schema::{protection_cases, referrals};
use crate::http::{ApiError, ApiResult};
use crate::profiles::store::find_row;
use crate::reports::period::tirana_day;
use crate::reports::service::period_of;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;

/// What the register is exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterFormat {
    Csv,
    Json,
}

/// The export: its entries, and the file name it goes by.
pub struct Register {
    pub entries: Vec<CaseRegisterEntry>,
    pub format: RegisterFormat,
    pub filename: String,
}

/// The columns of the CSV: key, Albanian and English header.
pub const COLUMNS: [(&str, &str, &str); 24] = [
    ("case_id", "Nr. i rastit në Terren", "Terren case id"),
    ("child_reference", "Referenca e fëmijës", "Child reference"),
    ("given_name", "Emri", "Given name"),
    ("family_name", "Mbiemri", "Family name"),
    ("sex", "Gjinia", "Sex"),
    ("birth_year", "Viti i lindjes", "Birth year"),
    ("birth_year_estimated", "Viti i lindjes i vlerësuar", "Birth year estimated"),
    ("age_band_at_opening", "Grupmosha në hapje", "Age band at opening"),
    ("nationality", "Shtetësia", "Nationality"),
    ("ethnicity", "Etnia / komuniteti", "Ethnicity / community"),
    ("residence_origin", "Vendbanimi", "Residence origin"),
    ("municipality_code", "Kodi i bashkisë", "Municipality code"),
    ("municipality", "Bashkia", "Municipality"),
    ("admin_unit", "Njësia administrative", "Administrative unit"),
    ("managing_unit", "Njësia që menaxhon rastin", "Managing unit"),
    ("opened_on", "Data e hapjes", "Opened on"),
    ("identified_by", "Identifikuar nga", "Identified by"),
    ("referred_on", "Data e referimit", "Referred on"),
    ("referred_by", "Referuar nga", "Referred by"),
    ("risk_level", "Niveli i rrezikut", "Risk level"),
    ("primary_problem", "Problematika kryesore", "Primary problem"),
    ("measures", "Masat mbrojtëse", "Protection measures"),
    ("closed_on", "Data e mbylljes", "Closed on"),
    ("closure_reason", "Arsyeja e mbylljes", "Closure reason"),
];

pub fn export(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &CaseRegisterQuery,
    at: NaiveDateTime,
) -> ApiResult<Register> {
    may_work_cases(tx, user)?;
    let format = match query.format.as_deref().map(str::trim) {
        None | Some("csv") => RegisterFormat::Csv,
        Some("json") => RegisterFormat::Json,
        Some(_) => {
            return Err(ApiError::fields(vec![FieldError::new(
                "format",
                FieldErrorCode::UnknownExportFormat,
                "the register is exported as csv or json",
            )]));
        }
    };
    let period = period_of("period", &query.period, at)?;
    let (from, to) = period.bounds();
    let cases: Vec<CaseRow> = protection_cases::table
        .filter(protection_cases::agency_id.eq(&user.agency.id))
        .filter(protection_cases::opened_at.lt(to))
        .filter(protection_cases::closed_at.is_null().or(protection_cases::closed_at.ge(from)))
        .order((protection_cases::opened_at, protection_cases::id))
        .select(CaseRow::as_select())
        .load(tx.conn())?;
    let ids: Vec<&str> = cases.iter().map(|case| case.id.as_str()).collect();
    let mut measures: HashMap<String, Vec<CaseRegisterMeasure>> = HashMap::new();
    for measure in measures_of(tx, &ids)? {
        measures
            .entry(measure.case_id.to_string())
            .or_default()
            .push(CaseRegisterMeasure { measure: measure.measure, taken_on: tirana_day(measure.taken_at) });
    }
    let (names, sensitive) = (user.can(Permission::ChildrenReadNames), user.can(Permission::ChildrenReadSensitive));
    let managing_unit = agency_ref_of(tx, &user.agency.id)?;
    let mut entries = Vec::with_capacity(cases.len());
    for case in cases {
        let profile = find_row(tx, &case.profile_id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
        let referral: Option<(NaiveDateTime, Option<NaiveDateTime>, crate::ids::AgencyId)> = match &case.referral_id {
            Some(id) => referrals::table
                .find(id)
                .select((referrals::sent_at, referrals::made_at, referrals::origin_agency_id))
                .first(tx.conn())
                .optional()?,
            None => None,
        };
        let (referred_on, referred_by) = match referral {
            Some((sent_at, made_at, origin)) => {
                (Some(tirana_day(made_at.unwrap_or(sent_at))), Some(agency_ref_of(tx, &origin)?))
            }
            None => (None, None),
        };
        entries.push(CaseRegisterEntry {
            case_id: case.id.uuid()?,
            child_reference: profile.reference,
            given_name: profile.given_name.filter(|_| names),
            family_name: profile.family_name.filter(|_| names),
            sex: profile.sex,
            birth_year: profile.birth_year,
            birth_year_estimated: profile.birth_year_estimated,
            age_band_at_opening: case.age_band,
            nationality: profile.nationality,
            ethnicity: case.ethnicity.filter(|_| sensitive),
            residence_origin: profile.residence_origin,
            municipality: area_ref(index, &case.municipality_id),
            admin_unit: area_ref(index, &profile.admin_unit_id),
            managing_unit: managing_unit.clone(),
            opened_on: tirana_day(case.opened_at),
            identified_by: case.identified_by,
            referred_on,
            referred_by,
            risk_level: case.risk_level,
            primary_problem: case.primary_problem,
            measures: measures.remove(case.id.as_str()).unwrap_or_default(),
            closed_on: case.closed_at.map(tirana_day),
            closure_reason: case.closure_reason,
        });
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "case_register.export",
        "agency",
        user.agency.id.as_str(),
        json!({
            "period": period.label, "cases": entries.len(), "names_included": names,
            "ethnicity_included": sensitive, "format": if format == RegisterFormat::Csv { "csv" } else { "json" },
        }),
    )?;
    let filename = format!(
        "terren-regjistri-{}-{}.{}",
        managing_unit.code.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        period.label.replace("..", "_"),
        if format == RegisterFormat::Csv { "csv" } else { "json" }
    );
    Ok(Register { entries, format, filename })
}

/// The entries as CSV: UTF-8 with a byte-order mark, a header row in Albanian and English, one
/// row per case; measures as `code date` separated by `; `.
pub fn csv(entries: &[CaseRegisterEntry]) -> Vec<u8> {
    let mut writer =
        ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer("\u{feff}".as_bytes().to_vec());
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let day = |value: Option<chrono::NaiveDate>| value.map(|d| d.to_string()).unwrap_or_default();
    let rows = std::iter::once(COLUMNS.iter().map(|(_, sq, en)| format!("{sq} / {en}")).collect::<Vec<_>>()).chain(
        entries.iter().map(|entry| {
            vec![
                entry.case_id.to_string(),
                entry.child_reference.clone(),
                crate::reports::export::inert(&text(&entry.given_name)),
                crate::reports::export::inert(&text(&entry.family_name)),
                entry.sex.clone(),
                entry.birth_year.map(|y| y.to_string()).unwrap_or_default(),
                entry.birth_year_estimated.to_string(),
                entry.age_band_at_opening.clone(),
                text(&entry.nationality),
                text(&entry.ethnicity),
                text(&entry.residence_origin),
                entry.municipality.as_ref().map(|m| m.code.clone()).unwrap_or_default(),
                entry.municipality.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
                entry.admin_unit.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                entry.managing_unit.name.clone(),
                entry.opened_on.to_string(),
                entry.identified_by.clone(),
                day(entry.referred_on),
                entry.referred_by.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
                text(&entry.risk_level),
                text(&entry.primary_problem),
                entry.measures.iter().map(|m| format!("{} {}", m.measure, m.taken_on)).collect::<Vec<_>>().join("; "),
                day(entry.closed_on),
                text(&entry.closure_reason),
            ]
        }),
    );
    for row in rows {
        // Records of any length are written to memory: nothing can fail.
        if let Err(e) = writer.write_record(&row) {
            unreachable!("writing a CSV to memory: {e}");
        }
    }
    writer.into_inner().unwrap_or_else(|e| unreachable!("writing a CSV to memory: {}", e.error()))
}
