//! One sighting, as the reader may see it: found within their scope (or 404), shown with the
//! location and fields their permissions allow, and the read audited.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::areas::LocateMethod;
use terren_contract::identifications::{
    Identification, LocationPrecision, LocationView, PersonRef, ResolvedAreas, WithheldIdentificationField,
};

use super::privacy::{COARSE_ACCURACY_M, shown_point};
use super::store::{IdentificationRow, Lookups, parse_codes};
use crate::access::AuthUser;
use crate::access::identifications::{Shown, find_in_scope, shown, shows_exact};
use crate::accounts::service::agency_ref;
use crate::audit;
use crate::clock::to_utc;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::parse_wire_code;

/// Reads one sighting, if the reader may; the read itself is audited.
pub fn read(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Identification> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_in_scope(tx, index, user, id)?;
    let view = view(tx, index, user, &row)?;
    audit_read(tx, user, at, "identification.read", &view)?;
    Ok(view)
}

pub(super) fn audit_read(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    view: &Identification,
) -> QueryResult<()> {
    let precision = view.location.as_ref().map(|l| l.precision);
    audit::record(
        tx,
        &user.actor(),
        at,
        action,
        "identification",
        &view.id.to_string(),
        serde_json::json!({ "location": precision, "withheld": view.withheld }),
    )
}

pub(super) fn view(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &IdentificationRow,
) -> ApiResult<Identification> {
    let lookups = Lookups::load(conn, std::slice::from_ref(row))?;
    view_with(&lookups, index, user, row)
}

/// The record as this reader may see it.
pub fn view_with(
    lookups: &Lookups,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &IdentificationRow,
) -> ApiResult<Identification> {
    let recorder_name = lookups.people.get(&row.recorded_by).cloned().unwrap_or_default();
    let agency = lookups.agencies.get(&row.agency_id).ok_or_else(|| ApiError::not_found("agency"))?;
    let Shown { precise, names, sensitive } = shown(user);
    let mut withheld = Vec::new();
    if !precise {
        withheld.push(WithheldIdentificationField::Location);
    }
    let exact = shows_exact(user, row);
    let location = match (row.lat, row.lon, row.accuracy_m) {
        (Some(lat), Some(lon), Some(accuracy_m)) => Some(if exact {
            LocationView {
                lat,
                lon,
                accuracy_m,
                altitude_m: row.altitude_m,
                fix_time: row.fix_time.map(to_utc),
                source: row.location_source.clone().unwrap_or_default(),
                mock_location: row.mock_location,
                precision: LocationPrecision::Exact,
            }
        } else {
            let (lat, lon) = shown_point(lat, lon, false);
            LocationView {
                lat,
                lon,
                accuracy_m: accuracy_m.max(COARSE_ACCURACY_M),
                altitude_m: None,
                fix_time: None,
                source: row.location_source.clone().unwrap_or_default(),
                mock_location: row.mock_location,
                precision: LocationPrecision::Coarse,
            }
        }),
        _ => None,
    };
    let area_ref = |id: &Option<String>| area_ref(index, id);
    // A field is withheld for lack of permission whether or not it holds anything: listing only
    // filled fields would tell the reader that, say, exploitation indicators were recorded.
    use WithheldIdentificationField as Field;
    let mut gated = |allowed: bool, field: Field, value: Option<String>| {
        if allowed {
            value
        } else {
            withheld.push(field);
            None
        }
    };
    let notes = gated(names, Field::Notes, row.notes.clone());
    let name_as_told = gated(names, Field::NameAsTold, row.name_as_told.clone());
    let place_description = gated(precise, Field::PlaceDescription, row.place_description.clone());
    let ethnicity = gated(sensitive, Field::Ethnicity, row.ethnicity.clone());
    let mut sensitive_list = |field: Field, text: &str| {
        if sensitive {
            Some(parse_codes(text))
        } else {
            withheld.push(field);
            None
        }
    };
    let risk_factors = sensitive_list(Field::RiskFactors, &row.risk_factors);
    let exploitation_indicators = sensitive_list(Field::ExploitationIndicators, &row.exploitation_indicators);
    let visible_conditions = sensitive_list(Field::VisibleConditions, &row.visible_conditions);
    Ok(Identification {
        id: parse_uuid(&row.id)?,
        observed_at: to_utc(row.observed_at),
        received_at: to_utc(row.received_at),
        recorded_by: PersonRef { id: parse_uuid(&row.recorded_by)?, display_name: recorder_name },
        agency: agency_ref(agency)?,
        location,
        location_not_collected_reason: row.location_not_collected_reason.clone(),
        place_description,
        areas: ResolvedAreas {
            county: area_ref(&row.county_id),
            municipality: area_ref(&row.municipality_id),
            admin_unit: area_ref(&row.admin_unit_id),
            method: LocateMethod::parse(&row.locate_method).unwrap_or(LocateMethod::Outside),
        },
        subject_type: row.subject_type.clone(),
        age_band: parse_wire_code(&row.age_band)?,
        estimated_age: row.estimated_age,
        birth_year: row.birth_year,
        sex: row.sex.clone(),
        nationality: row.nationality.clone(),
        languages: parse_codes(&row.languages),
        ethnicity,
        residence_origin: row.residence_origin.clone(),
        street_situations: parse_codes(&row.street_situations),
        accompanied_by: row.accompanied_by.clone(),
        risk_factors,
        exploitation_indicators,
        visible_conditions,
        immediate_needs: parse_codes(&row.immediate_needs),
        actions_taken: parse_codes(&row.actions_taken),
        consent_given_by: row.consent_given_by.clone(),
        risk_level: row.risk_level.clone(),
        emergency: row.emergency,
        notes,
        name_as_told,
        profile: lookups.profiles.get(&row.id).cloned(),
        round_id: row.round_id.as_deref().map(parse_uuid).transpose()?,
        candidates: None,
        withheld,
        version: row.version,
        provisional: row.provisional,
    })
}
