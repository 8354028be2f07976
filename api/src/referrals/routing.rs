//! Which agency a referral goes to: the routing table of the place (municipality rules over
//! national ones, a rule for a requested service over a rule for any), agencies serving the
//! place (the smallest area first), what each kind of agency takes, and shelters' free places.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::auth::AgencyRef;
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{ReferralStatus, RoutedSubject};

use super::shelters::{SHELTER, SHELTER_PLACEMENT};
use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::{agencies, agency_areas, referral_routes, referrals};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::AgencyId;
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::wire_code;

const ANY: &str = "*";

/// Where the person was found: the areas a referral is routed by.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
}

impl Place {
    /// The place's areas from the smallest up (unit, municipality, county).
    fn chain(&self, index: &TerritoryIndex) -> Vec<String> {
        let start = self.admin_unit_id.as_ref().or(self.municipality_id.as_ref()).and_then(|id| index.find_id(id));
        let mut chain = Vec::new();
        let mut area = start;
        while let Some(a) = area {
            chain.push(index.area(a).id.clone());
            area = index.area(a).parent;
        }
        chain
    }
}

/// What a referral is about, as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub place: &'a Place,
    pub subject_type: &'a str,
    pub services: &'a [String],
}

/// `unknown_age` is routed as a child: safer to treat a person as a child until known.
pub fn routing_subject(subject_type: &str) -> RoutedSubject {
    if subject_type == "adult" { RoutedSubject::Adult } else { RoutedSubject::Child }
}

/// Whether an agency of this type takes referrals about this kind of person.
pub fn takes(agency_type: &str, subject: RoutedSubject) -> bool {
    match agency_type {
        "child_protection_unit" | "education" => subject == RoutedSubject::Child,
        "national_agency" | "helpline" | "court" => false,
        _ => true,
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct Candidate {
    pub id: AgencyId,
    pub code: String,
    pub name: String,
    pub agency_type: String,
    pub is_24_7: bool,
    pub capacity: Option<i32>,
    pub occupied: Option<i32>,
}

impl Candidate {
    pub fn as_ref(&self) -> ApiResult<AgencyRef> {
        Ok(AgencyRef { id: self.id.uuid()?, code: self.code.clone(), name: self.name.clone() })
    }
}

fn candidate_columns() -> (
    agencies::id,
    agencies::code,
    agencies::name,
    agencies::agency_type,
    agencies::is_24_7,
    agencies::capacity,
    agencies::occupied,
) {
    (
        agencies::id,
        agencies::code,
        agencies::name,
        agencies::agency_type,
        agencies::is_24_7,
        agencies::capacity,
        agencies::occupied,
    )
}

pub fn candidate(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<Option<Candidate>> {
    Ok(agencies::table
        .filter(agencies::id.eq(agency_id))
        .filter(agencies::active.eq(true))
        .select(candidate_columns())
        .get_result(conn)
        .optional()?)
}

/// Active agencies serving the place, the ones serving its smallest area first, then 24/7 ones.
pub fn serving(conn: &mut DbConnection, index: &TerritoryIndex, place: &Place) -> ApiResult<Vec<Candidate>> {
    let chain = place.chain(index);
    let rows: Vec<(String, Candidate)> = agency_areas::table
        .inner_join(agencies::table)
        .filter(agency_areas::area_id.eq_any(&chain))
        .filter(agencies::active.eq(true))
        .select((agency_areas::area_id, candidate_columns()))
        .load(conn)?;
    let mut best: HashMap<AgencyId, (usize, Candidate)> = HashMap::new();
    for (area_id, agency) in rows {
        let depth = chain.iter().position(|id| *id == area_id).unwrap_or(usize::MAX);
        let entry = best.entry(agency.id.clone()).or_insert((depth, agency.clone()));
        entry.0 = entry.0.min(depth);
    }
    let mut ranked: Vec<(usize, Candidate)> = best.into_values().collect();
    ranked.sort_by(|(da, a), (db, b)| (da, !a.is_24_7, &a.code).cmp(&(db, !b.is_24_7, &b.code)));
    Ok(ranked.into_iter().map(|(_, agency)| agency).collect())
}

/// Shelter places asked for and not yet answered (each holds a place until the shelter answers).
fn pending_placements(conn: &mut DbConnection, shelter_id: &str) -> QueryResult<i64> {
    referrals::table
        .filter(referrals::to_agency_id.eq(shelter_id))
        .filter(referrals::status.eq_any([wire_code(ReferralStatus::Sent), wire_code(ReferralStatus::Acknowledged)]))
        .filter(referrals::services.like(format!("%\"{SHELTER_PLACEMENT}\"%")))
        .count()
        .get_result(conn)
}

/// Whether a shelter can take one more person; shelters without a known capacity are assumed to.
pub fn has_free_place(conn: &mut DbConnection, agency: &Candidate) -> QueryResult<bool> {
    let Some(capacity) = agency.capacity else { return Ok(true) };
    let taken = i64::from(agency.occupied.unwrap_or(0)) + pending_placements(conn, &agency.id)?;
    Ok(taken < i64::from(capacity))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referral_routes)]
pub struct RuleRow {
    pub id: String,
    pub route_key: String,
    pub municipality_id: Option<String>,
    pub subject_type: String,
    pub service: Option<String>,
    pub agency_types: String,
    pub agency_id: Option<AgencyId>,
    pub notes: Option<String>,
    pub version: i32,
    pub updated_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl RuleRow {
    pub(super) fn agency_types(&self) -> Vec<String> {
        serde_json::from_str(&self.agency_types).unwrap_or_default()
    }
}

pub fn route_key(municipality_id: Option<&str>, subject: RoutedSubject, service: Option<&str>) -> String {
    format!("{}|{}|{}", municipality_id.unwrap_or(ANY), wire_code(subject), service.unwrap_or(ANY))
}

/// What routing chose, and the rule that chose it.
pub struct Routed {
    pub agency: Candidate,
    pub rule_id: String,
}

/// The routing table's choice for this person, place and services, or `None` when no rule
/// finds an agency. Agencies in `excluded` (e.g. ones that declined) are passed over.
pub fn route(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    case: Case<'_>,
    excluded: &[AgencyId],
) -> ApiResult<Option<Routed>> {
    let Case { place, subject_type, services } = case;
    let subject = routing_subject(subject_type);
    let municipality = place.municipality_id.as_deref();
    let mut keys = Vec::new();
    for service in services {
        keys.push(route_key(municipality, subject, Some(service)));
        keys.push(route_key(None, subject, Some(service)));
    }
    keys.push(route_key(municipality, subject, None));
    keys.push(route_key(None, subject, None));
    let rules: Vec<RuleRow> = referral_routes::table
        .filter(referral_routes::route_key.eq_any(&keys))
        .select(RuleRow::as_select())
        .load(conn)?;
    let serving = serving(conn, index, place)?;
    let wants_shelter = services.iter().any(|s| s == SHELTER_PLACEMENT);
    for key in &keys {
        let Some(rule) = rules.iter().find(|r| &r.route_key == key) else { continue };
        let mut options: Vec<Candidate> = Vec::new();
        if let Some(agency_id) = &rule.agency_id {
            options.extend(candidate(conn, agency_id)?);
        }
        for agency_type in rule.agency_types() {
            options.extend(serving.iter().filter(|a| a.agency_type == agency_type).cloned());
        }
        for agency in options {
            if excluded.contains(&agency.id) || !takes(&agency.agency_type, subject) {
                continue;
            }
            if wants_shelter && agency.agency_type == SHELTER && !has_free_place(conn, &agency)? {
                continue;
            }
            return Ok(Some(Routed { agency, rule_id: rule.id.clone() }));
        }
    }
    Ok(None)
}

/// Checks an agency a person picked: active, taking this kind of case, serving the place
/// (unless the person may route anywhere), with a free place when a shelter place is asked for.
pub fn check_choice(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    field: &str,
    agency_id: &AgencyId,
    case: Case<'_>,
) -> ApiResult<Candidate> {
    let Case { place, subject_type, services } = case;
    let agency = candidate(conn, agency_id)?
        .ok_or_else(|| ApiError::field(field, FieldErrorCode::UnknownAgency, "no such active agency"))?;
    if !takes(&agency.agency_type, routing_subject(subject_type)) {
        return Err(ApiError::field(
            field,
            FieldErrorCode::AgencyDoesNotTakeCase,
            format!("{} ({}) does not take referrals about a {subject_type}", agency.code, agency.agency_type),
        ));
    }
    if !user.can(Permission::ReferralsRouteAnywhere) && !serving(conn, index, place)?.iter().any(|a| a.id == agency.id)
    {
        return Err(ApiError::field(
            field,
            FieldErrorCode::AgencyOutsideArea,
            format!("{} does not serve the place; referrals_route_anywhere is needed", agency.code),
        ));
    }
    if services.iter().any(|s| s == SHELTER_PLACEMENT)
        && agency.agency_type == SHELTER
        && !has_free_place(conn, &agency)?
    {
        return Err(ApiError::new(ErrorCode::ShelterFull).with_detail(format!("{} has no free place", agency.code)));
    }
    Ok(agency)
}

/// Agencies serving the place that take this kind of person, best first.
pub fn alternatives(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    place: &Place,
    subject_type: &str,
) -> ApiResult<Vec<AgencyRef>> {
    let subject = routing_subject(subject_type);
    serving(conn, index, place)?.iter().filter(|a| takes(&a.agency_type, subject)).map(Candidate::as_ref).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_and_people_of_unknown_age_go_only_where_children_are_taken() {
        assert!(takes("child_protection_unit", routing_subject("child")));
        assert!(takes("child_protection_unit", routing_subject("unknown_age")));
        assert!(!takes("child_protection_unit", routing_subject("adult")));
        assert!(takes("needs_assessment_unit", routing_subject("adult")));
        assert!(!takes("national_agency", routing_subject("child")));
        assert_eq!(routing_subject("unknown_age"), RoutedSubject::Child);
    }
}
