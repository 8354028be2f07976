//! Opening, assessing and closing a child's protection case, and recording the measures taken in
//! it. Each change is audited with the names of the fields it set and moves the child's status
//! (`in_case_management` while a case is open, `closed` when it closes).

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use terren_contract::Permission;
use terren_contract::cases::{
    CloseProtectionCase, OpenProtectionCase, ProtectionCase, ProtectionCaseUpdate, ProtectionMeasure,
    RecordProtectionMeasure, WithheldCaseField,
};
use terren_contract::identifications::AgeBand;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::profiles::ProfileRef;

use super::store::{CaseRow, MeasureRow, find, find_measure, measures_of, of_profile, open_case_of};
use crate::access::AuthUser;
use crate::access::cases::{find_visible_case, find_workable_case, may_see_case, may_work_cases};
use crate::access::profiles::find_visible;
use crate::accounts::service::{agency_ref_of, person_refs};
use crate::audit;
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{agencies, protection_cases, protection_measures, referrals};
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, CaseId, ReferralId, parse_uuid};
use crate::profiles::store::ProfileRow;
use crate::profiles::update::{StatusCause, advance_status};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{is_active_code, parse_wire_code, wire_code};

/// How far ahead of the server's clock a given time may be (phones' clocks drift).
const CLOCK_SLACK_MINUTES: i64 = 5;

pub struct Written {
    pub case: ProtectionCase,
    /// False when the same request had already been applied.
    pub new: bool,
}

/// Opens a case for a child the caller may see, at the caller's unit.
pub fn open(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    profile_id: &str,
    request: &OpenProtectionCase,
    at: NaiveDateTime,
) -> ApiResult<Written> {
    may_work_cases(tx, user)?;
    let id = CaseId::from(request.id);
    let hash = content_hash(profile_id, request)?;
    if let Some(existing) = find(tx, &id)? {
        if existing.created_by == user.user_id && existing.content_hash == hash {
            let (case, profile) = find_visible_case(tx, index, user, &id)?;
            return Ok(Written { case: view(tx, index, user, &case, &profile)?, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different case has this id"));
    }
    let profile = find_visible(tx, index, user, profile_id)?;
    if profile.merged_into.is_some() {
        return Err(ApiError::conflict("the profile was merged into another: open the case there"));
    }
    let mut errors = Vec::new();
    check_code(tx, "identifier_type", "identified_by", Some(&request.identified_by), &mut errors)?;
    check_code(tx, "risk_level", "risk_level", request.risk_level.as_deref(), &mut errors)?;
    check_code(tx, "problem_category", "primary_problem", request.primary_problem.as_deref(), &mut errors)?;
    check_code(tx, "ethnicity", "ethnicity", request.ethnicity.as_deref(), &mut errors)?;
    let opened_at = request.opened_at.map_or(at, |t| t.naive_utc());
    not_ahead("opened_at", opened_at, at, &mut errors);
    if let Some(referral_id) = request.referral_id {
        let referral_profile: Option<Option<String>> = referrals::table
            .find(referral_id.to_string())
            .filter(referrals::to_agency_id.eq(&user.agency.id))
            .select(referrals::profile_id)
            .get_result(tx.conn())
            .optional()?;
        if referral_profile.flatten().as_deref() != Some(profile.id.as_str()) {
            errors.push(FieldError::new(
                "referral_id",
                FieldErrorCode::UnknownReferral,
                "not a referral of this child received by your unit",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if request.ethnicity.is_some() && !user.can(Permission::ChildrenReadSensitive) {
        return Err(ApiError::forbidden("ethnicity needs the permission children_read_sensitive"));
    }
    if open_case_of(tx, &profile.id)?.is_some() {
        return Err(ApiError::new(ErrorCode::CaseAlreadyOpen));
    }
    let row = CaseRow {
        id: id.clone(),
        profile_id: profile.id.clone(),
        agency_id: user.agency.id.clone(),
        municipality_id: unit_municipality(tx, user)?,
        referral_id: request.referral_id.map(|r| r.to_string()),
        opened_at,
        identified_by: request.identified_by.clone(),
        age_band: wire_code(age_band_at(&profile, opened_at)),
        ethnicity: request.ethnicity.clone(),
        risk_level: request.risk_level.clone(),
        primary_problem: request.primary_problem.clone(),
        closed_at: None,
        closure_reason: None,
        content_hash: hash,
        created_by: user.user_id.to_string(),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    let fields: Vec<&str> = [
        Some("identified_by"),
        request.risk_level.as_ref().map(|_| "risk_level"),
        request.primary_problem.as_ref().map(|_| "primary_problem"),
        request.ethnicity.as_ref().map(|_| "ethnicity"),
    ]
    .into_iter()
    .flatten()
    .collect();
    insert(tx, user, &row, &fields, at)?;
    advance_status(tx, &user.actor(), &profile.id, "in_case_management", StatusCause::Case(&row.id), at)?;
    Ok(Written { case: view(tx, index, user, &row, &profile)?, new: true })
}

/// Who identified or referred the child (`identifier_type`), as the type of the agency that
/// started a referral's chain tells it.
pub fn identifier_of_agency_type(agency_type: &str) -> &'static str {
    match agency_type {
        "police" => "police",
        "ngo" => "ngo",
        "field_outreach_centre" | "mobile_unit" => "field_squad",
        "child_protection_unit" | "social_services_directorate" | "needs_assessment_unit" => "child_protection_worker",
        "health" => "health",
        "education" => "school",
        "court" => "court",
        _ => "other",
    }
}

/// Opens the case a referral closed with a case opened stands for, when the closing unit works
/// cases and the child has none open: identified by the agency that started the referral's
/// chain, opened when the referral closed. The case worker assesses it afterwards.
pub fn open_from_referral(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    referral_id: &ReferralId,
    origin_agency_id: &AgencyId,
    profile_id: &str,
    at: NaiveDateTime,
) -> ApiResult<Option<CaseId>> {
    if may_work_cases(tx, user).is_err() || open_case_of(tx, profile_id)?.is_some() {
        return Ok(None);
    }
    let Some(profile) = crate::profiles::store::find_row(tx, profile_id)? else { return Ok(None) };
    if profile.merged_into.is_some() {
        return Ok(None);
    }
    let origin_type: String =
        agencies::table.find(origin_agency_id).select(agencies::agency_type).get_result(tx.conn())?;
    let id = CaseId::generate();
    let identified_by = identifier_of_agency_type(&origin_type);
    let row = CaseRow {
        id: id.clone(),
        profile_id: profile.id.clone(),
        agency_id: user.agency.id.clone(),
        municipality_id: unit_municipality(tx, user)?,
        referral_id: Some(referral_id.to_string()),
        opened_at: at,
        identified_by: identified_by.to_owned(),
        age_band: wire_code(age_band_at(&profile, at)),
        ethnicity: None,
        risk_level: None,
        primary_problem: None,
        closed_at: None,
        closure_reason: None,
        content_hash: crate::digest::hex(&Sha256::digest(referral_id.as_bytes())),
        created_by: user.user_id.to_string(),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    insert(tx, user, &row, &["identified_by"], at)?;
    Ok(Some(id))
}

/// Changes a case's assessed facts against the version the editor read.
pub fn update(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    update: &ProtectionCaseUpdate,
    at: NaiveDateTime,
) -> ApiResult<ProtectionCase> {
    let (case, profile) = open_at_version(tx, index, user, id, update.version)?;
    let mut errors = Vec::new();
    check_code(tx, "identifier_type", "identified_by", update.identified_by.as_deref(), &mut errors)?;
    check_code(tx, "risk_level", "risk_level", update.risk_level.clone().flatten().as_deref(), &mut errors)?;
    let problem = update.primary_problem.clone().flatten();
    check_code(tx, "problem_category", "primary_problem", problem.as_deref(), &mut errors)?;
    check_code(tx, "ethnicity", "ethnicity", update.ethnicity.clone().flatten().as_deref(), &mut errors)?;
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if update.ethnicity.is_some() && !user.can(Permission::ChildrenReadSensitive) {
        return Err(ApiError::forbidden("ethnicity needs the permission children_read_sensitive"));
    }
    let changed: Vec<&str> = [
        ("identified_by", update.identified_by.is_some()),
        ("risk_level", update.risk_level.is_some()),
        ("primary_problem", update.primary_problem.is_some()),
        ("ethnicity", update.ethnicity.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    let updated =
        diesel::update(protection_cases::table.find(&case.id).filter(protection_cases::version.eq(case.version)))
            .set((
                protection_cases::identified_by.eq(update.identified_by.as_ref().unwrap_or(&case.identified_by)),
                protection_cases::risk_level.eq(update.risk_level.clone().unwrap_or_else(|| case.risk_level.clone())),
                protection_cases::primary_problem
                    .eq(update.primary_problem.clone().unwrap_or_else(|| case.primary_problem.clone())),
                protection_cases::ethnicity.eq(update.ethnicity.clone().unwrap_or_else(|| case.ethnicity.clone())),
                protection_cases::version.eq(case.version + 1),
                protection_cases::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    changed_or_mismatch(tx, index, user, &case.id, &profile, updated)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.update",
        "protection_case",
        &case.id,
        serde_json::json!({ "profile_id": case.profile_id, "fields": changed }),
    )?;
    current(tx, index, user, &case.id, &profile)
}

/// Closes a case with its reason; the child's status becomes `closed`.
pub fn close(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &CloseProtectionCase,
    at: NaiveDateTime,
) -> ApiResult<ProtectionCase> {
    let (case, profile) = open_at_version(tx, index, user, id, request.version)?;
    let mut errors = Vec::new();
    check_code(tx, "case_closure_reason", "closure_reason", Some(&request.closure_reason), &mut errors)?;
    let closed_at = request.closed_at.map_or(at, |t| t.naive_utc());
    not_ahead("closed_at", closed_at, at, &mut errors);
    not_before_opening("closed_at", closed_at, &case, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let updated =
        diesel::update(protection_cases::table.find(&case.id).filter(protection_cases::version.eq(case.version)))
            .set((
                protection_cases::closed_at.eq(closed_at),
                protection_cases::closure_reason.eq(&request.closure_reason),
                protection_cases::version.eq(case.version + 1),
                protection_cases::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    changed_or_mismatch(tx, index, user, &case.id, &profile, updated)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.close",
        "protection_case",
        &case.id,
        serde_json::json!({ "profile_id": case.profile_id, "closure_reason": request.closure_reason }),
    )?;
    advance_status(tx, &user.actor(), &profile.id, "closed", StatusCause::Case(&case.id), at)?;
    current(tx, index, user, &case.id, &profile)
}

/// Records a protection measure taken in an open case; the same measure sent again changes
/// nothing.
pub fn record_measure(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    request: &RecordProtectionMeasure,
    at: NaiveDateTime,
) -> ApiResult<Written> {
    let (case, profile) = find_workable_case(tx, index, user, id)?;
    let measure_id = request.id.to_string();
    if let Some(existing) = find_measure(tx, &measure_id)? {
        let taken_at = request.taken_at.map(|t| t.naive_utc());
        if existing.case_id == case.id
            && existing.measure == request.measure
            && taken_at.is_none_or(|t| t == existing.taken_at)
        {
            return Ok(Written { case: view(tx, index, user, &case, &profile)?, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different measure has this id"));
    }
    if case.closed_at.is_some() {
        return Err(ApiError::new(ErrorCode::CaseClosed));
    }
    let mut errors = Vec::new();
    check_code(tx, "protection_measure", "measure", Some(&request.measure), &mut errors)?;
    let taken_at = request.taken_at.map_or(at, |t| t.naive_utc());
    not_ahead("taken_at", taken_at, at, &mut errors);
    not_before_opening("taken_at", taken_at, &case, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let row = MeasureRow {
        id: measure_id,
        case_id: case.id.clone(),
        measure: request.measure.clone(),
        taken_at,
        recorded_by: user.user_id.to_string(),
        recorded_at: at,
    };
    diesel::insert_into(protection_measures::table).values(&row).execute(tx.conn())?;
    diesel::update(protection_cases::table.find(&case.id))
        .set((protection_cases::version.eq(protection_cases::version + 1), protection_cases::updated_at.eq(at)))
        .execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.measure",
        "protection_case",
        &case.id,
        serde_json::json!({ "profile_id": case.profile_id, "measure": row.measure, "measure_id": row.id }),
    )?;
    Ok(Written { case: current(tx, index, user, &case.id, &profile)?, new: true })
}

/// One case, audited as a read of the child's record.
pub fn read(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<ProtectionCase> {
    let (case, profile) = find_visible_case(tx, index, user, id)?;
    let view = view(tx, index, user, &case, &profile)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.read",
        "protection_case",
        &case.id,
        serde_json::json!({ "profile_id": case.profile_id }),
    )?;
    Ok(view)
}

/// A child's cases the reader may see, oldest first, audited as a read of the child's record.
pub fn list_for_profile(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    profile_id: &str,
    at: NaiveDateTime,
) -> ApiResult<Vec<ProtectionCase>> {
    user.require(Permission::IdentificationsRead)?;
    let profile = find_visible(tx, index, user, profile_id)?;
    let cases: Vec<CaseRow> = of_profile(tx, &profile.id)?.into_iter().filter(|c| may_see_case(user, c)).collect();
    let views = views(tx, index, user, &cases, &profile)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.list",
        "child_profile",
        &profile.id,
        serde_json::json!({ "cases": cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>() }),
    )?;
    Ok(views)
}

/// The municipality a unit's cases are reported for: the unit's own.
fn unit_municipality(tx: &mut Tx<'_>, user: &AuthUser) -> ApiResult<Option<String>> {
    Ok(agencies::table.find(&user.agency.id).select(agencies::municipality_id).get_result(tx.conn())?)
}

/// Writes a new case and the audit record of its opening, naming the fields it was opened with.
fn insert(tx: &mut Tx<'_>, user: &AuthUser, row: &CaseRow, fields: &[&str], at: NaiveDateTime) -> ApiResult<()> {
    diesel::insert_into(protection_cases::table).values(row).execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "protection_case.open",
        "protection_case",
        &row.id,
        serde_json::json!({ "profile_id": row.profile_id, "fields": fields, "referral_id": row.referral_id }),
    )?;
    Ok(())
}

fn content_hash(profile_id: &str, request: &OpenProtectionCase) -> ApiResult<String> {
    let body = serde_json::to_vec(&(profile_id, request)).map_err(anyhow::Error::from)?;
    Ok(crate::digest::hex(&Sha256::digest(&body)))
}

fn check_code(
    tx: &mut Tx<'_>,
    vocabulary: &str,
    field: &str,
    code: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    if let Some(code) = code
        && !is_active_code(tx, vocabulary, code)?
    {
        errors.push(FieldError::new(
            field,
            FieldErrorCode::UnknownCode,
            format!("{code} is not in the {vocabulary} vocabulary"),
        ));
    }
    Ok(())
}

fn not_ahead(field: &str, t: NaiveDateTime, now: NaiveDateTime, errors: &mut Vec<FieldError>) {
    if t > now + chrono::Duration::minutes(CLOCK_SLACK_MINUTES) {
        errors.push(FieldError::new(field, FieldErrorCode::InFuture, format!("{field} is later than now")));
    }
}

fn not_before_opening(field: &str, t: NaiveDateTime, case: &CaseRow, errors: &mut Vec<FieldError>) {
    if t < case.opened_at {
        errors.push(FieldError::new(
            field,
            FieldErrorCode::BeforeOpened,
            format!("{field} is before the case was opened"),
        ));
    }
}

/// The child's age band on a day, from the profile's birth year.
fn age_band_at(profile: &ProfileRow, at: NaiveDateTime) -> AgeBand {
    AgeBand::of_age(profile.birth_year.map(|born| at.year() - born))
}

/// An open case the caller works, as it was at the version they read: 409 when it is closed, 412
/// with the case as it is now when it changed since.
fn open_at_version(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    version: i32,
) -> ApiResult<(CaseRow, ProfileRow)> {
    let (case, profile) = find_workable_case(tx, index, user, id)?;
    if case.closed_at.is_some() {
        return Err(ApiError::new(ErrorCode::CaseClosed));
    }
    if version != case.version {
        let current = view(tx, index, user, &case, &profile)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
    }
    Ok((case, profile))
}

/// A conditional update that changed nothing lost a race with another edit: 412 with the case as
/// it is now.
fn changed_or_mismatch(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &CaseId,
    profile: &ProfileRow,
    updated: usize,
) -> ApiResult<()> {
    if updated == 1 {
        return Ok(());
    }
    let now = current(tx, index, user, id, profile)?;
    Err(ApiError::version_mismatch(serde_json::to_value(now).unwrap_or_default()))
}

fn current(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &CaseId,
    profile: &ProfileRow,
) -> ApiResult<ProtectionCase> {
    let case = find(tx, id)?.ok_or_else(|| ApiError::not_found("protection case"))?;
    view(tx, index, user, &case, profile)
}

fn view(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    case: &CaseRow,
    profile: &ProfileRow,
) -> ApiResult<ProtectionCase> {
    let mut views = views(tx, index, user, std::slice::from_ref(case), profile)?;
    views.pop().ok_or_else(|| ApiError::not_found("protection case"))
}

/// Cases of one profile as the reader may see them.
fn views(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    cases: &[CaseRow],
    profile: &ProfileRow,
) -> ApiResult<Vec<ProtectionCase>> {
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let measures = measures_of(tx, &ids)?;
    let people: BTreeSet<String> =
        cases.iter().map(|c| c.created_by.clone()).chain(measures.iter().map(|m| m.recorded_by.clone())).collect();
    let people = person_refs(tx, &people)?;
    let person = |id: &str| people.get(id).cloned().ok_or_else(|| ApiError::not_found("user"));
    let mut by_case: HashMap<&str, Vec<ProtectionMeasure>> = HashMap::new();
    for m in &measures {
        by_case.entry(m.case_id.as_str()).or_default().push(ProtectionMeasure {
            id: parse_uuid(&m.id)?,
            measure: m.measure.clone(),
            taken_at: to_utc(m.taken_at),
            recorded_by: person(&m.recorded_by)?,
        });
    }
    let sensitive = user.can(Permission::ChildrenReadSensitive);
    let mut agencies: HashMap<AgencyId, terren_contract::auth::AgencyRef> = HashMap::new();
    let mut views = Vec::with_capacity(cases.len());
    for case in cases {
        let agency = match agencies.get(&case.agency_id) {
            Some(agency) => agency.clone(),
            None => {
                let agency = agency_ref_of(tx, &case.agency_id)?;
                agencies.insert(case.agency_id.clone(), agency.clone());
                agency
            }
        };
        let withheld =
            if sensitive || case.ethnicity.is_none() { Vec::new() } else { vec![WithheldCaseField::Ethnicity] };
        views.push(ProtectionCase {
            id: case.id.uuid()?,
            profile: ProfileRef { id: parse_uuid(&profile.id)?, reference: profile.reference.clone() },
            agency,
            municipality: area_ref(index, &case.municipality_id),
            referral_id: case.referral_id.as_deref().map(parse_uuid).transpose()?,
            opened_at: to_utc(case.opened_at),
            identified_by: case.identified_by.clone(),
            age_band: parse_wire_code(&case.age_band)?,
            ethnicity: if sensitive { case.ethnicity.clone() } else { None },
            risk_level: case.risk_level.clone(),
            primary_problem: case.primary_problem.clone(),
            measures: by_case.remove(case.id.as_str()).unwrap_or_default(),
            closed_at: case.closed_at.map(to_utc),
            closure_reason: case.closure_reason.clone(),
            withheld,
            created_by: person(&case.created_by)?,
            version: case.version,
            created_at: to_utc(case.created_at),
            updated_at: to_utc(case.updated_at),
        });
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    #[test]
    fn a_time_more_than_the_slack_ahead_is_refused() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap().naive_utc();
        let mut errors = Vec::new();
        not_ahead("opened_at", now + chrono::Duration::minutes(CLOCK_SLACK_MINUTES), now, &mut errors);
        assert!(errors.is_empty());
        not_ahead("opened_at", now + chrono::Duration::minutes(CLOCK_SLACK_MINUTES + 1), now, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, FieldErrorCode::InFuture);
    }
}
