//! The routing table's rules: the national ones shipped with Terren, and the rules coordinators
//! list, create, replace and delete for the country or their municipality.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{PutRoutingRule, RoutedSubject, RoutingRule};
use uuid::Uuid;

use super::routing::{RuleRow, candidate, route_key, takes};
use super::shelters::{SHELTER, SHELTER_PLACEMENT};
use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{referral_routes, referrals};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::{AgencyId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::{is_active_code, parse_wire_code, wire_code};

/// The national rules shipped with Terren: a child to the child-protection unit of the place,
/// an adult to the needs-assessment unit, a shelter place to a shelter with room.
pub fn default_rules() -> Vec<(RoutedSubject, Option<&'static str>, Vec<&'static str>)> {
    use RoutedSubject::{Adult, Child};
    vec![
        (Child, None, vec!["child_protection_unit", "needs_assessment_unit", "social_services_directorate"]),
        (Adult, None, vec!["needs_assessment_unit", "social_services_directorate", "community_centre"]),
        (Child, Some(SHELTER_PLACEMENT), vec![SHELTER, "child_protection_unit"]),
        (Adult, Some(SHELTER_PLACEMENT), vec![SHELTER, "needs_assessment_unit"]),
    ]
}

/// Adds the shipped national rules that are not there yet; returns how many were added.
pub fn seed_default_rules(tx: &mut Tx<'_>, at: NaiveDateTime) -> QueryResult<usize> {
    let mut added = 0;
    for (subject, service, types) in default_rules() {
        let key = route_key(None, subject, service);
        let exists: i64 =
            referral_routes::table.filter(referral_routes::route_key.eq(&key)).count().get_result(tx.conn())?;
        if exists > 0 {
            continue;
        }
        diesel::insert_into(referral_routes::table)
            .values((
                referral_routes::id.eq(Uuid::now_v7().to_string()),
                referral_routes::route_key.eq(&key),
                referral_routes::subject_type.eq(wire_code(subject)),
                referral_routes::service.eq(service),
                referral_routes::agency_types.eq(json!(types).to_string()),
                referral_routes::version.eq(1),
                referral_routes::created_at.eq(at),
                referral_routes::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
        added += 1;
    }
    Ok(added)
}

fn rule_view(conn: &mut DbConnection, index: &TerritoryIndex, row: &RuleRow) -> ApiResult<RoutingRule> {
    Ok(RoutingRule {
        id: parse_uuid(&row.id)?,
        municipality: area_ref(index, &row.municipality_id),
        subject_type: parse_wire_code(&row.subject_type)?,
        service: row.service.clone(),
        agency_types: row.agency_types(),
        agency: row.agency_id.as_ref().map(|id| crate::accounts::service::agency_ref_of(conn, id)).transpose()?,
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
        .ok_or_else(|| ApiError::field(field, FieldErrorCode::UnknownArea, format!("no municipality {code}")))
}

fn checked_rule(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    request: &PutRoutingRule,
) -> ApiResult<(Option<String>, Vec<String>, Option<AgencyId>)> {
    let mut errors: Vec<FieldError> = Vec::new();
    let error = |field: &str, code: FieldErrorCode, message: String| FieldError { field: field.into(), code, message };
    let municipality = match &request.municipality_code {
        Some(code) => match municipality_id(index, "municipality_code", code) {
            Ok(id) => Some(id),
            Err(e) => return Err(e),
        },
        None => None,
    };
    if let Some(service) = &request.service
        && !is_active_code(conn, "referral_service", service)?
    {
        errors.push(error("service", FieldErrorCode::UnknownCode, format!("{service} is not a referral_service code")));
    }
    for (i, agency_type) in request.agency_types.iter().enumerate() {
        if !is_active_code(conn, "agency_type", agency_type)? {
            errors.push(error(
                &format!("agency_types[{i}]"),
                FieldErrorCode::UnknownCode,
                format!("{agency_type} is not an agency type"),
            ));
        } else if !takes(agency_type, request.subject_type) {
            errors.push(error(
                &format!("agency_types[{i}]"),
                FieldErrorCode::AgencyDoesNotTakeCase,
                format!("{agency_type} does not take referrals about a {}", wire_code(request.subject_type)),
            ));
        }
    }
    let agency_id = request.agency_id.map(AgencyId::from);
    match (&agency_id, request.agency_types.is_empty()) {
        (Some(_), false) | (None, true) => {
            errors.push(error(
                "agency_types",
                FieldErrorCode::InvalidValue,
                "give agency_types or agency_id, not both".into(),
            ));
        }
        _ => {}
    }
    if let Some(id) = &agency_id {
        match candidate(conn, id)? {
            None => errors.push(error("agency_id", FieldErrorCode::UnknownAgency, "no such active agency".into())),
            Some(agency) if !takes(&agency.agency_type, request.subject_type) => errors.push(error(
                "agency_id",
                FieldErrorCode::AgencyDoesNotTakeCase,
                format!("{} does not take referrals about a {}", agency.code, wire_code(request.subject_type)),
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
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&str>,
    request: &PutRoutingRule,
    at: NaiveDateTime,
) -> ApiResult<(RoutingRule, bool)> {
    let (municipality_id, agency_types, agency_id) = checked_rule(tx, index, request)?;
    crate::access::may_manage_municipal_policy(tx, user, municipality_id.as_deref())?;
    let key = route_key(municipality_id.as_deref(), request.subject_type, request.service.as_deref());
    let holder: Option<String> = referral_routes::table
        .filter(referral_routes::route_key.eq(&key))
        .select(referral_routes::id)
        .get_result(tx.conn())
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
                    referral_routes::subject_type.eq(wire_code(request.subject_type)),
                    referral_routes::service.eq(&request.service),
                    referral_routes::agency_types.eq(&types),
                    referral_routes::agency_id.eq(&agency_id),
                    referral_routes::notes.eq(&request.notes),
                    referral_routes::version.eq(1),
                    referral_routes::updated_by.eq(&user.user_id),
                    referral_routes::created_at.eq(at),
                    referral_routes::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
            (rule_id, true)
        }
        Some(id) => {
            let current = load_rule(tx, id)?;
            crate::access::may_manage_municipal_policy(tx, user, current.municipality_id.as_deref())?;
            if request.version != Some(current.version) {
                let view = rule_view(tx, index, &current)?;
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
                referral_routes::subject_type.eq(wire_code(request.subject_type)),
                referral_routes::service.eq(&request.service),
                referral_routes::agency_types.eq(&types),
                referral_routes::agency_id.eq(&agency_id),
                referral_routes::notes.eq(&request.notes),
                referral_routes::version.eq(current.version + 1),
                referral_routes::updated_by.eq(&user.user_id),
                referral_routes::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
            if changed == 0 {
                let current = load_rule(tx, id)?;
                let view = rule_view(tx, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(view).map_err(anyhow::Error::from)?));
            }
            (id.to_owned(), false)
        }
    };
    audit::record(
        tx,
        &user.actor(),
        at,
        if created { "referral_route.create" } else { "referral_route.update" },
        "referral_route",
        &rule_id,
        json!({ "route_key": key, "agency_types": agency_types, "agency_id": agency_id }),
    )?;
    let row = load_rule(tx, &rule_id)?;
    Ok((rule_view(tx, index, &row)?, created))
}

pub fn delete(tx: &mut Tx<'_>, user: &AuthUser, id: &str, at: NaiveDateTime) -> ApiResult<()> {
    let current = load_rule(tx, id)?;
    crate::access::may_manage_municipal_policy(tx, user, current.municipality_id.as_deref())?;
    // Referrals it routed keep its key in their `sent` event; their link to it goes.
    diesel::update(referrals::table.filter(referrals::route_id.eq(id)))
        .set(referrals::route_id.eq(None::<String>))
        .execute(tx.conn())?;
    diesel::delete(referral_routes::table.filter(referral_routes::id.eq(id))).execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "referral_route.delete",
        "referral_route",
        id,
        json!({ "route_key": current.route_key }),
    )?;
    Ok(())
}
