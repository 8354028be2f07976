//! Which agency a referral goes to: the routing table of the place (municipality rules over
//! national ones, a rule for a requested service over a rule for any), agencies serving the
//! place (the smallest area first), what each kind of agency takes, and shelters' free places.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::auth::AgencyRef;
use terren_contract::problem::FieldError;
use terren_contract::referrals::{PutRoutingRule, ReferralStatus, RoutingRule};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{agencies, agency_areas, referral_routes, referrals};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{is_active_code, wire_code};

/// The service that asks for a shelter place.
pub const SHELTER_PLACEMENT: &str = "shelter_placement";
pub const SHELTER: &str = "shelter";
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
pub fn routing_subject(subject_type: &str) -> &str {
    if subject_type == "adult" { "adult" } else { "child" }
}

/// Whether an agency of this type takes referrals about this kind of person.
pub fn takes(agency_type: &str, subject_type: &str) -> bool {
    match agency_type {
        "child_protection_unit" | "education" => routing_subject(subject_type) == "child",
        "national_agency" | "helpline" | "court" => false,
        _ => true,
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct Candidate {
    pub id: String,
    pub code: String,
    pub name: String,
    pub agency_type: String,
    pub is_24_7: bool,
    pub capacity: Option<i32>,
    pub occupied: Option<i32>,
}

impl Candidate {
    pub fn as_ref(&self) -> ApiResult<AgencyRef> {
        Ok(AgencyRef { id: parse_uuid(&self.id)?, code: self.code.clone(), name: self.name.clone() })
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

pub fn candidate(conn: &mut DbConnection, agency_id: &str) -> ApiResult<Option<Candidate>> {
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
    let mut best: HashMap<String, (usize, Candidate)> = HashMap::new();
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
    pub agency_id: Option<String>,
    pub notes: Option<String>,
    pub version: i32,
    pub updated_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl RuleRow {
    fn agency_types(&self) -> Vec<String> {
        serde_json::from_str(&self.agency_types).unwrap_or_default()
    }
}

pub fn route_key(municipality_id: Option<&str>, subject_type: &str, service: Option<&str>) -> String {
    format!("{}|{subject_type}|{}", municipality_id.unwrap_or(ANY), service.unwrap_or(ANY))
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
    excluded: &[String],
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
            if excluded.contains(&agency.id) || !takes(&agency.agency_type, subject_type) {
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
    agency_id: &str,
    case: Case<'_>,
) -> ApiResult<Candidate> {
    let Case { place, subject_type, services } = case;
    let agency =
        candidate(conn, agency_id)?.ok_or_else(|| ApiError::field(field, "unknown_agency", "no such active agency"))?;
    if !takes(&agency.agency_type, subject_type) {
        return Err(ApiError::field(
            field,
            "agency_does_not_take_case",
            format!("{} ({}) does not take referrals about a {subject_type}", agency.code, agency.agency_type),
        ));
    }
    if !user.can(Permission::ReferralsRouteAnywhere) && !serving(conn, index, place)?.iter().any(|a| a.id == agency.id)
    {
        return Err(ApiError::field(
            field,
            "agency_outside_area",
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
    serving(conn, index, place)?.iter().filter(|a| takes(&a.agency_type, subject_type)).map(Candidate::as_ref).collect()
}

/// The national rules shipped with Terren: a child to the child-protection unit of the place,
/// an adult to the needs-assessment unit, a shelter place to a shelter with room.
pub fn default_rules() -> Vec<(&'static str, Option<&'static str>, Vec<&'static str>)> {
    vec![
        ("child", None, vec!["child_protection_unit", "needs_assessment_unit", "social_services_directorate"]),
        ("adult", None, vec!["needs_assessment_unit", "social_services_directorate", "community_centre"]),
        ("child", Some(SHELTER_PLACEMENT), vec![SHELTER, "child_protection_unit"]),
        ("adult", Some(SHELTER_PLACEMENT), vec![SHELTER, "needs_assessment_unit"]),
    ]
}

/// Adds the shipped national rules that are not there yet; returns how many were added.
pub fn seed_default_rules(conn: &mut DbConnection, at: NaiveDateTime) -> QueryResult<usize> {
    let mut added = 0;
    for (subject, service, types) in default_rules() {
        let key = route_key(None, subject, service);
        let exists: i64 =
            referral_routes::table.filter(referral_routes::route_key.eq(&key)).count().get_result(conn)?;
        if exists > 0 {
            continue;
        }
        diesel::insert_into(referral_routes::table)
            .values((
                referral_routes::id.eq(Uuid::now_v7().to_string()),
                referral_routes::route_key.eq(&key),
                referral_routes::subject_type.eq(subject),
                referral_routes::service.eq(service),
                referral_routes::agency_types.eq(json!(types).to_string()),
                referral_routes::version.eq(1),
                referral_routes::created_at.eq(at),
                referral_routes::updated_at.eq(at),
            ))
            .execute(conn)?;
        added += 1;
    }
    Ok(added)
}

fn rule_view(conn: &mut DbConnection, index: &TerritoryIndex, row: &RuleRow) -> ApiResult<RoutingRule> {
    Ok(RoutingRule {
        id: parse_uuid(&row.id)?,
        municipality: area_ref(index, &row.municipality_id),
        subject_type: row.subject_type.clone(),
        service: row.service.clone(),
        agency_types: row.agency_types(),
        agency: row.agency_id.as_deref().map(|id| crate::accounts::service::agency_ref_of(conn, id)).transpose()?,
        notes: row.notes.clone(),
        version: row.version,
        updated_at: to_utc(row.updated_at),
    })
}

/// The national rules, and the municipality's when one is named.
pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    municipality: Option<&str>,
) -> ApiResult<Vec<RoutingRule>> {
    user.require(Permission::ReferenceRead)?;
    let municipality_id = match municipality {
        Some(code) => Some(municipality_id(index, "municipality", code)?),
        None => None,
    };
    let mut q = referral_routes::table.select(RuleRow::as_select()).into_boxed();
    q = match &municipality_id {
        Some(id) => q.filter(referral_routes::municipality_id.is_null().or(referral_routes::municipality_id.eq(id))),
        None => q.filter(referral_routes::municipality_id.is_null()),
    };
    let mut rows: Vec<RuleRow> = q.load(conn)?;
    rows.sort_by(|a, b| {
        (a.municipality_id.is_none(), &a.subject_type, a.service.is_none(), &a.service).cmp(&(
            b.municipality_id.is_none(),
            &b.subject_type,
            b.service.is_none(),
            &b.service,
        ))
    });
    rows.iter().map(|row| rule_view(conn, index, row)).collect()
}

fn municipality_id(index: &TerritoryIndex, field: &str, code: &str) -> ApiResult<String> {
    index
        .find_code(code)
        .map(|a| index.area(a))
        .filter(|a| a.level == terren_contract::areas::AreaLevel::Municipality)
        .map(|a| a.id.clone())
        .ok_or_else(|| ApiError::field(field, "unknown_area", format!("no municipality {code}")))
}

fn checked_rule(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    request: &PutRoutingRule,
) -> ApiResult<(Option<String>, Vec<String>, Option<String>)> {
    let mut errors: Vec<FieldError> = Vec::new();
    let error =
        |field: &str, code: &str, message: String| FieldError { field: field.into(), code: code.into(), message };
    let municipality = match &request.municipality_code {
        Some(code) => match municipality_id(index, "municipality_code", code) {
            Ok(id) => Some(id),
            Err(e) => return Err(e),
        },
        None => None,
    };
    if !matches!(request.subject_type.as_str(), "child" | "adult") {
        errors.push(error("subject_type", "invalid_value", "child or adult".into()));
    }
    if let Some(service) = &request.service
        && !is_active_code(conn, "referral_service", service)?
    {
        errors.push(error("service", "unknown_code", format!("{service} is not a referral_service code")));
    }
    for (i, agency_type) in request.agency_types.iter().enumerate() {
        if !is_active_code(conn, "agency_type", agency_type)? {
            errors.push(error(
                &format!("agency_types[{i}]"),
                "unknown_code",
                format!("{agency_type} is not an agency type"),
            ));
        } else if !takes(agency_type, &request.subject_type) {
            errors.push(error(
                &format!("agency_types[{i}]"),
                "agency_does_not_take_case",
                format!("{agency_type} does not take referrals about a {}", request.subject_type),
            ));
        }
    }
    let agency_id = request.agency_id.map(|id| id.to_string());
    match (&agency_id, request.agency_types.is_empty()) {
        (Some(_), false) | (None, true) => {
            errors.push(error("agency_types", "invalid_value", "give agency_types or agency_id, not both".into()));
        }
        _ => {}
    }
    if let Some(id) = &agency_id {
        match candidate(conn, id)? {
            None => errors.push(error("agency_id", "unknown_agency", "no such active agency".into())),
            Some(agency) if !takes(&agency.agency_type, &request.subject_type) => errors.push(error(
                "agency_id",
                "agency_does_not_take_case",
                format!("{} does not take referrals about a {}", agency.code, request.subject_type),
            )),
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok((municipality, request.agency_types.clone(), agency_id))
    } else {
        Err(ApiError::fields(errors))
    }
}

fn load_rule(conn: &mut DbConnection, id: &str) -> ApiResult<RuleRow> {
    referral_routes::table
        .filter(referral_routes::id.eq(id))
        .select(RuleRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("routing rule"))
}

/// Creates a rule (`id` absent) or replaces one (at the `version` read).
pub fn put(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&str>,
    request: &PutRoutingRule,
    at: NaiveDateTime,
) -> ApiResult<(RoutingRule, bool)> {
    let (municipality_id, agency_types, agency_id) = checked_rule(conn, index, request)?;
    crate::access::may_manage_municipal_policy(conn, user, municipality_id.as_deref())?;
    let key = route_key(municipality_id.as_deref(), &request.subject_type, request.service.as_deref());
    let holder: Option<String> = referral_routes::table
        .filter(referral_routes::route_key.eq(&key))
        .select(referral_routes::id)
        .get_result(conn)
        .optional()?;
    let types = json!(agency_types).to_string();
    let (rule_id, created) = match id {
        None => {
            if holder.is_some() {
                return Err(ApiError::new(ErrorCode::AlreadyExists)
                    .with_detail("a rule for this municipality, person and service exists; replace it"));
            }
            let rule_id = Uuid::now_v7().to_string();
            diesel::insert_into(referral_routes::table)
                .values((
                    referral_routes::id.eq(&rule_id),
                    referral_routes::route_key.eq(&key),
                    referral_routes::municipality_id.eq(&municipality_id),
                    referral_routes::subject_type.eq(&request.subject_type),
                    referral_routes::service.eq(&request.service),
                    referral_routes::agency_types.eq(&types),
                    referral_routes::agency_id.eq(&agency_id),
                    referral_routes::notes.eq(&request.notes),
                    referral_routes::version.eq(1),
                    referral_routes::updated_by.eq(&user.user_id),
                    referral_routes::created_at.eq(at),
                    referral_routes::updated_at.eq(at),
                ))
                .execute(conn)?;
            (rule_id, true)
        }
        Some(id) => {
            let current = load_rule(conn, id)?;
            crate::access::may_manage_municipal_policy(conn, user, current.municipality_id.as_deref())?;
            if request.version != Some(current.version) {
                let view = rule_view(conn, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(view).map_err(anyhow::Error::from)?));
            }
            if holder.as_deref().is_some_and(|h| h != id) {
                return Err(ApiError::new(ErrorCode::AlreadyExists)
                    .with_detail("another rule holds this municipality, person and service"));
            }
            let changed = diesel::update(
                referral_routes::table
                    .filter(referral_routes::id.eq(id))
                    .filter(referral_routes::version.eq(current.version)),
            )
            .set((
                referral_routes::route_key.eq(&key),
                referral_routes::municipality_id.eq(&municipality_id),
                referral_routes::subject_type.eq(&request.subject_type),
                referral_routes::service.eq(&request.service),
                referral_routes::agency_types.eq(&types),
                referral_routes::agency_id.eq(&agency_id),
                referral_routes::notes.eq(&request.notes),
                referral_routes::version.eq(current.version + 1),
                referral_routes::updated_by.eq(&user.user_id),
                referral_routes::updated_at.eq(at),
            ))
            .execute(conn)?;
            if changed == 0 {
                let current = load_rule(conn, id)?;
                let view = rule_view(conn, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(view).map_err(anyhow::Error::from)?));
            }
            (id.to_owned(), false)
        }
    };
    audit::record(
        conn,
        &user.actor(),
        at,
        if created { "referral_route.create" } else { "referral_route.update" },
        "referral_route",
        &rule_id,
        json!({ "route_key": key, "agency_types": agency_types, "agency_id": agency_id }),
    )?;
    let row = load_rule(conn, &rule_id)?;
    Ok((rule_view(conn, index, &row)?, created))
}

pub fn delete(conn: &mut DbConnection, user: &AuthUser, id: &str, at: NaiveDateTime) -> ApiResult<()> {
    let current = load_rule(conn, id)?;
    crate::access::may_manage_municipal_policy(conn, user, current.municipality_id.as_deref())?;
    // Referrals it routed keep its key in their `sent` event; their link to it goes.
    diesel::update(referrals::table.filter(referrals::route_id.eq(id)))
        .set(referrals::route_id.eq(None::<String>))
        .execute(conn)?;
    diesel::delete(referral_routes::table.filter(referral_routes::id.eq(id))).execute(conn)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "referral_route.delete",
        "referral_route",
        id,
        json!({ "route_key": current.route_key }),
    )?;
    Ok(())
}

/// A shelter's own count of places in use.
pub fn put_occupancy(
    conn: &mut DbConnection,
    user: &AuthUser,
    agency_id: &str,
    occupied: i32,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let same_agency = user.agency.id == agency_id;
    if !(user.is_system_admin()
        || (same_agency && (user.can(Permission::ReferralsRespond) || user.can(Permission::AgenciesManage))))
    {
        return Err(ApiError::forbidden("a shelter's occupancy is reported by its own staff"));
    }
    let (agency_type, capacity): (String, Option<i32>) = agencies::table
        .filter(agencies::id.eq(agency_id))
        .select((agencies::agency_type, agencies::capacity))
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("agency"))?;
    if agency_type != SHELTER {
        return Err(ApiError::field("occupied", "invalid_value", "only shelters report occupancy"));
    }
    if capacity.is_some_and(|capacity| occupied > capacity) {
        return Err(ApiError::field("occupied", "out_of_range", "more places in use than the shelter has"));
    }
    diesel::update(agencies::table.filter(agencies::id.eq(agency_id)))
        .set((agencies::occupied.eq(occupied), agencies::occupancy_updated_at.eq(at)))
        .execute(conn)?;
    audit::record(conn, &user.actor(), at, "agency.occupancy", "agency", agency_id, json!({ "occupied": occupied }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_and_people_of_unknown_age_go_only_where_children_are_taken() {
        assert!(takes("child_protection_unit", "child"));
        assert!(takes("child_protection_unit", "unknown_age"));
        assert!(!takes("child_protection_unit", "adult"));
        assert!(takes("needs_assessment_unit", "adult"));
        assert!(!takes("national_agency", "child"));
        assert_eq!(routing_subject("unknown_age"), "child");
    }
}
