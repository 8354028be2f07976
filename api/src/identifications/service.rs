use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::areas::LocateMethod;
use terren_contract::identifications::{
    AreaRef, CreateIdentification, Identification, LocationPrecision, LocationView, PersonRef, ResolvedAreas,
};
use terren_contract::problem::FieldError;

use super::privacy::{COARSE_ACCURACY_M, age_band, coarse_cell};
use crate::accounts::service::{agency_ref, parse_uuid};
use crate::audit;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{agencies, identifications, users, vocabulary_entries};
use crate::http::{ApiError, ApiResult, AuthUser, ErrorCode};
use crate::outbox;
use crate::territory::index::TerritoryIndex;

/// A device clock may run this far ahead of the server's before `observed_at` is refused.
const MAX_CLOCK_AHEAD: Duration = Duration::minutes(15);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identifications)]
pub struct IdentificationRow {
    pub id: String,
    pub recorded_by: String,
    pub agency_id: String,
    pub device_id: String,
    pub observed_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    pub fix_time: Option<NaiveDateTime>,
    pub location_source: Option<String>,
    pub mock_location: bool,
    pub location_not_collected_reason: Option<String>,
    pub place_description: Option<String>,
    pub county_id: Option<String>,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub locate_method: String,
    pub cell_key: Option<String>,
    pub subject_type: String,
    pub estimated_age: Option<i32>,
    pub birth_year: Option<i32>,
    pub age_band: String,
    pub sex: String,
    pub nationality: Option<String>,
    pub languages: String,
    pub ethnicity: Option<String>,
    pub residence_origin: Option<String>,
    pub street_situations: String,
    pub accompanied_by: Option<String>,
    pub risk_factors: String,
    pub exploitation_indicators: String,
    pub visible_conditions: String,
    pub immediate_needs: String,
    pub actions_taken: String,
    pub consent_given_by: Option<String>,
    pub risk_level: String,
    pub emergency: bool,
    pub notes: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Checks every coded field against the active vocabulary entries and the cross-field rules.
fn validate(conn: &mut DbConnection, request: &CreateIdentification, now: DateTime<Utc>) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut push =
        |field: String, code: &str, message: String| errors.push(FieldError { field, code: code.into(), message });

    let rows: Vec<(String, String)> = vocabulary_entries::table
        .filter(vocabulary_entries::active.eq(true))
        .select((vocabulary_entries::vocabulary, vocabulary_entries::code))
        .load(conn)?;
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    for (vocabulary, code) in rows {
        known.entry(vocabulary).or_default().insert(code);
    }
    let mut check = |field: &str, vocabulary: &str, code: &str| {
        if !known.get(vocabulary).is_some_and(|codes| codes.contains(code)) {
            push(field.to_owned(), "unknown_code", format!("{code} is not in the {vocabulary} vocabulary"));
        }
    };
    check("subject_type", "subject_type", &request.subject_type);
    check("sex", "sex", &request.sex);
    check("risk_level", "risk_level", &request.risk_level);
    let optional = [
        ("location_not_collected_reason", "location_not_collected_reason", &request.location_not_collected_reason),
        ("ethnicity", "ethnicity", &request.ethnicity),
        ("residence_origin", "residence_origin", &request.residence_origin),
        ("accompanied_by", "accompanied_by", &request.accompanied_by),
        ("consent_given_by", "consent_given_by", &request.consent_given_by),
    ];
    for (field, vocabulary, value) in optional {
        if let Some(code) = value {
            check(field, vocabulary, code);
        }
    }
    let lists = [
        ("street_situations", "street_situation", &request.street_situations),
        ("risk_factors", "trafficking_risk_factor", &request.risk_factors),
        ("exploitation_indicators", "exploitation_form", &request.exploitation_indicators),
        ("visible_conditions", "visible_condition", &request.visible_conditions),
        ("immediate_needs", "immediate_need", &request.immediate_needs),
        ("actions_taken", "action_taken", &request.actions_taken),
    ];
    for (field, vocabulary, codes) in lists {
        for (i, code) in codes.iter().enumerate() {
            check(&format!("{field}[{i}]"), vocabulary, code);
        }
    }
    if let Some(fix) = &request.location {
        check("location.source", "location_source", &fix.source);
    }

    match (&request.location, &request.location_not_collected_reason) {
        (None, None) => push("location".into(), "required", "send a location, or location_not_collected_reason".into()),
        (Some(_), Some(_)) => push(
            "location_not_collected_reason".into(),
            "conflicting",
            "a location was sent, so it was collected".into(),
        ),
        _ => {}
    }
    if let Some(fix) = &request.location {
        if !fix.lat.is_finite() || !(-90.0..=90.0).contains(&fix.lat) {
            push("location.lat".into(), "out_of_range", "latitude must be between -90 and 90".into());
        }
        if !fix.lon.is_finite() || !(-180.0..=180.0).contains(&fix.lon) {
            push("location.lon".into(), "out_of_range", "longitude must be between -180 and 180".into());
        }
        if !fix.accuracy_m.is_finite() || fix.accuracy_m <= 0.0 || fix.accuracy_m > 100_000.0 {
            push("location.accuracy_m".into(), "out_of_range", "accuracy must be a positive number of metres".into());
        }
        if fix.altitude_m.is_some_and(|a| !a.is_finite() || !(-500.0..=9000.0).contains(&a)) {
            push("location.altitude_m".into(), "out_of_range", "altitude must be between -500 and 9000 metres".into());
        }
        if fix.fix_time.is_some_and(|t| t > now + MAX_CLOCK_AHEAD) {
            push("location.fix_time".into(), "in_future", "the fix time is in the future".into());
        }
    }
    if request.observed_at > now + MAX_CLOCK_AHEAD {
        push("observed_at".into(), "in_future", "observed_at is in the future; check the phone's clock".into());
    }
    if let Some(year) = request.birth_year
        && year > request.observed_at.year()
    {
        push("birth_year".into(), "in_future", "born after being seen".into());
    }
    let age = derived_age(request);
    match (request.subject_type.as_str(), age) {
        ("child", Some(age)) if age >= 18 => {
            push("estimated_age".into(), "inconsistent", "a child is under 18; record an adult instead".into())
        }
        ("adult", Some(age)) if age < 18 => {
            push("estimated_age".into(), "inconsistent", "under 18 is a child; record a child instead".into())
        }
        _ => {}
    }
    if let Some(nationality) = &request.nationality
        && !nationality.chars().all(|c| c.is_ascii_uppercase())
    {
        push("nationality".into(), "invalid_format", "use an ISO 3166-1 alpha-2 code such as AL".into());
    }
    for (i, language) in request.languages.iter().enumerate() {
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_lowercase()) {
            push(format!("languages[{i}]"), "invalid_format", "use an ISO 639 code such as sq".into());
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// The estimated age, or the age implied by the birth year when seen.
fn derived_age(request: &CreateIdentification) -> Option<i32> {
    request.estimated_age.or_else(|| request.birth_year.map(|year| request.observed_at.year() - year))
}

fn codes(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn parse_codes(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The outcome of a create: the record, and whether it was new (201) or already there (200).
pub struct Created {
    pub identification: Identification,
    pub new: bool,
}

/// Records a sighting. Runs inside the caller's write transaction, together with the audit
/// record, the emergency job and the idempotency answer.
pub fn create(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &CreateIdentification,
    now: DateTime<Utc>,
) -> ApiResult<Created> {
    user.require(Permission::IdentificationsCreate)?;
    let id = request.id.to_string();
    if let Some(existing) = find_row(conn, &id)? {
        // The same phone sending the same record again without its key: same record.
        if existing.recorded_by == user.user_id {
            return Ok(Created { identification: view(conn, index, user, &existing)?, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("an identification with this id exists"));
    }
    validate(conn, request, now)?;

    let at = crate::clock::truncate(now);
    let location = request.location.as_ref().map(|fix| (fix, index.locate(fix.lat, fix.lon)));
    let area_id =
        |resolved: &Option<crate::territory::index::Resolved>| resolved.as_ref().map(|r| index.area(r.area).id.clone());
    let row = IdentificationRow {
        id: id.clone(),
        recorded_by: user.user_id.clone(),
        agency_id: user.agency.id.clone(),
        device_id: user.device_id.clone(),
        observed_at: request.observed_at.naive_utc(),
        received_at: at,
        lat: request.location.as_ref().map(|f| f.lat),
        lon: request.location.as_ref().map(|f| f.lon),
        accuracy_m: request.location.as_ref().map(|f| f.accuracy_m),
        altitude_m: request.location.as_ref().and_then(|f| f.altitude_m),
        fix_time: request.location.as_ref().and_then(|f| f.fix_time).map(|t| t.naive_utc()),
        location_source: request.location.as_ref().map(|f| f.source.clone()),
        mock_location: request.location.as_ref().is_some_and(|f| f.mock_location),
        location_not_collected_reason: request.location_not_collected_reason.clone(),
        place_description: request.place_description.clone(),
        county_id: location.as_ref().and_then(|(_, l)| area_id(&l.county)),
        municipality_id: location.as_ref().and_then(|(_, l)| area_id(&l.municipality)),
        admin_unit_id: location.as_ref().and_then(|(_, l)| area_id(&l.admin_unit)),
        locate_method: method_name(location.as_ref().map_or(LocateMethod::Outside, |(_, l)| l.method())).to_owned(),
        cell_key: request.location.as_ref().map(|f| coarse_cell(f.lat, f.lon).0),
        subject_type: request.subject_type.clone(),
        estimated_age: request.estimated_age,
        birth_year: request.birth_year,
        age_band: age_band(derived_age(request)).to_owned(),
        sex: request.sex.clone(),
        nationality: request.nationality.clone(),
        languages: codes(&request.languages),
        ethnicity: request.ethnicity.clone(),
        residence_origin: request.residence_origin.clone(),
        street_situations: codes(&request.street_situations),
        accompanied_by: request.accompanied_by.clone(),
        risk_factors: codes(&request.risk_factors),
        exploitation_indicators: codes(&request.exploitation_indicators),
        visible_conditions: codes(&request.visible_conditions),
        immediate_needs: codes(&request.immediate_needs),
        actions_taken: codes(&request.actions_taken),
        consent_given_by: request.consent_given_by.clone(),
        risk_level: request.risk_level.clone(),
        emergency: request.emergency,
        notes: request.notes.clone(),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(identifications::table).values(&row).execute(conn)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.create",
        "identification",
        &id,
        serde_json::json!({ "municipality_id": row.municipality_id, "admin_unit_id": row.admin_unit_id, "emergency": row.emergency }),
    )?;
    if row.emergency {
        let code =
            |id: &Option<String>| id.as_ref().and_then(|id| index.find_id(id)).map(|a| index.area(a).code.clone());
        outbox::enqueue(
            conn,
            outbox::kinds::IDENTIFICATION_EMERGENCY,
            &serde_json::json!({
                "identification_id": id,
                "municipality_code": code(&row.municipality_id),
                "admin_unit_code": code(&row.admin_unit_id),
                "risk_level": row.risk_level,
                "recorded_by": row.recorded_by,
            }),
            &format!("{}:{id}", outbox::kinds::IDENTIFICATION_EMERGENCY),
            at,
            at,
        )?;
    }
    Ok(Created { identification: view(conn, index, user, &row)?, new: true })
}

fn method_name(method: LocateMethod) -> &'static str {
    match method {
        LocateMethod::Boundary => "boundary",
        LocateMethod::NearestCentroid => "nearest_centroid",
        LocateMethod::Outside => "outside",
    }
}

fn find_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<IdentificationRow>> {
    identifications::table.find(id).select(IdentificationRow::as_select()).first(conn).optional()
}

/// Whether the reader's data scope covers the record: their own agency recorded it, or it lies
/// in an area their agency serves (or below one).
fn in_scope(index: &TerritoryIndex, user: &AuthUser, row: &IdentificationRow) -> bool {
    if row.agency_id == user.agency.id {
        return true;
    }
    let scope: HashSet<&str> = user
        .areas
        .iter()
        .filter_map(|(id, _)| index.find_id(id))
        .flat_map(|root| index.descendants(root))
        .map(|a| index.area(a).id.as_str())
        .collect();
    [&row.county_id, &row.municipality_id, &row.admin_unit_id]
        .into_iter()
        .flatten()
        .any(|id| scope.contains(id.as_str()))
}

/// Reads one sighting, if the reader may; the read itself is audited.
pub fn read(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Identification> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_row(conn, id)?
        .filter(|row| in_scope(index, user, row))
        .ok_or_else(|| ApiError::not_found("identification"))?;
    let view = view(conn, index, user, &row)?;
    let precision = view.location.as_ref().map(|l| l.precision);
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.read",
        "identification",
        id,
        serde_json::json!({ "location": precision, "withheld": view.withheld }),
    )?;
    Ok(view)
}

/// The record as this reader may see it.
fn view(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &IdentificationRow,
) -> ApiResult<Identification> {
    let (recorder_name,): (String,) = users::table.find(&row.recorded_by).select((users::display_name,)).first(conn)?;
    let agency = agencies::table
        .find(&row.agency_id)
        .select((agencies::id, agencies::code, agencies::name))
        .first::<crate::accounts::model::AgencyBrief>(conn)?;
    let precise = user.can(Permission::LocationsReadPrecise);
    let names = user.can(Permission::ChildrenReadNames);
    let sensitive = user.can(Permission::ChildrenReadSensitive);
    let mut withheld = Vec::new();
    let location = match (row.lat, row.lon, row.accuracy_m) {
        (Some(lat), Some(lon), Some(accuracy_m)) => Some(if precise {
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
            withheld.push("location".to_owned());
            let (_, lat, lon) = coarse_cell(lat, lon);
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
    let area_ref = |id: &Option<String>| {
        id.as_ref().and_then(|id| index.find_id(id)).map(|a| {
            let area = index.area(a);
            AreaRef { code: area.code.clone(), name: area.name.clone() }
        })
    };
    let mut gated = |allowed: bool, field: &str, value: Option<String>| {
        if value.is_some() && !allowed {
            withheld.push(field.to_owned());
            None
        } else {
            value
        }
    };
    let notes = gated(names, "notes", row.notes.clone());
    let place_description = gated(precise, "place_description", row.place_description.clone());
    let ethnicity = gated(sensitive, "ethnicity", row.ethnicity.clone());
    let mut sensitive_list = |field: &str, text: &str| {
        let codes = parse_codes(text);
        if sensitive {
            Some(codes)
        } else {
            if !codes.is_empty() {
                withheld.push(field.to_owned());
            }
            None
        }
    };
    let risk_factors = sensitive_list("risk_factors", &row.risk_factors);
    let exploitation_indicators = sensitive_list("exploitation_indicators", &row.exploitation_indicators);
    let visible_conditions = sensitive_list("visible_conditions", &row.visible_conditions);
    Ok(Identification {
        id: parse_uuid(&row.id)?,
        observed_at: to_utc(row.observed_at),
        received_at: to_utc(row.received_at),
        recorded_by: PersonRef { id: parse_uuid(&row.recorded_by)?, display_name: recorder_name },
        agency: agency_ref(&agency)?,
        location,
        location_not_collected_reason: row.location_not_collected_reason.clone(),
        place_description,
        areas: ResolvedAreas {
            county: area_ref(&row.county_id),
            municipality: area_ref(&row.municipality_id),
            admin_unit: area_ref(&row.admin_unit_id),
            method: match row.locate_method.as_str() {
                "boundary" => LocateMethod::Boundary,
                "nearest_centroid" => LocateMethod::NearestCentroid,
                _ => LocateMethod::Outside,
            },
        },
        subject_type: row.subject_type.clone(),
        age_band: row.age_band.clone(),
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
        withheld,
        version: row.version,
    })
}
