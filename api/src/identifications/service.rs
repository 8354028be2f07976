use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::areas::LocateMethod;
use terren_contract::identifications::{
    CreateIdentification, GridCell, Identification, IdentificationGrid, IdentificationListQuery, IdentificationPage,
    LocationPrecision, LocationView, PersonRef, ResolvedAreas,
};
use terren_contract::problem::FieldError;
use terren_contract::profiles::{ProfileCandidate, ProfileRef, SightingCounts};

use super::privacy::{COARSE_ACCURACY_M, age_band, coarse_cell, shown_point};
use crate::access::AuthUser;
use crate::access::scope_area_ids;
use crate::accounts::model::AgencyBrief;
use crate::accounts::service::agency_ref;
use crate::audit;
use crate::clock::to_utc;
use crate::config::ProfilesConfig;
use crate::db::DbConnection;
use crate::db::schema::{agencies, child_profiles, identification_links, identifications, users, vocabulary_entries};
use crate::http::{ApiError, ApiResult, ErrorCode, cursor};
use crate::ids::parse_uuid;
use crate::outbox;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;

/// A device clock may run this far ahead of the server's before `observed_at` is refused.
const MAX_CLOCK_AHEAD: Duration = Duration::minutes(15);
/// A phone may send a record this long after the sighting (offline for weeks); older is a clock
/// error.
const MAX_AGE_OF_RECORD: Duration = Duration::days(365);

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
    /// Fingerprint of the request as recorded: the same id sent again must carry the same record.
    pub content_hash: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The name the person gave in the field.
    pub name_as_told: Option<String>,
    /// When the retention job replaced the precise location by its coarse cell.
    pub location_coarsened_at: Option<NaiveDateTime>,
    pub round_id: Option<String>,
}

/// What is wrong with a fix the phone sent, the fields named under `field`.
pub fn fix_errors(field: &str, fix: &terren_contract::identifications::GeoFix, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut push = |name: &str, code: &str, message: &str| {
        errors.push(FieldError { field: format!("{field}.{name}"), code: code.into(), message: message.into() })
    };
    if !fix.lat.is_finite() || !(-90.0..=90.0).contains(&fix.lat) {
        push("lat", "out_of_range", "latitude must be between -90 and 90");
    }
    if !fix.lon.is_finite() || !(-180.0..=180.0).contains(&fix.lon) {
        push("lon", "out_of_range", "longitude must be between -180 and 180");
    }
    if !fix.accuracy_m.is_finite() || fix.accuracy_m <= 0.0 || fix.accuracy_m > 100_000.0 {
        push("accuracy_m", "out_of_range", "accuracy must be a positive number of metres");
    }
    if fix.altitude_m.is_some_and(|a| !a.is_finite() || !(-500.0..=9000.0).contains(&a)) {
        push("altitude_m", "out_of_range", "altitude must be between -500 and 9000 metres");
    }
    if fix.fix_time.is_some_and(|t| t > now + MAX_CLOCK_AHEAD) {
        push("fix_time", "in_future", "the fix time is in the future");
    }
    errors
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
        for error in fix_errors("location", fix, now) {
            push(error.field, &error.code, error.message);
        }
    }
    if request.observed_at > now + MAX_CLOCK_AHEAD {
        push("observed_at".into(), "in_future", "observed_at is in the future; check the phone's clock".into());
    }
    if request.observed_at < now - MAX_AGE_OF_RECORD {
        push("observed_at".into(), "too_old", "observed_at is more than a year ago; check the phone's clock".into());
    }
    if let (Some(age), Some(year)) = (request.estimated_age, request.birth_year)
        && (request.observed_at.year() - year - age).abs() > 2
    {
        push("birth_year".into(), "inconsistent", "the birth year and the estimated age disagree".into());
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
    if request.name_as_told.as_deref().is_some_and(|name| crate::territory::fold::fold(name).is_empty()) {
        push("name_as_told".into(), "blank", "a name needs letters".into());
    }
    check_nationality_and_languages(request.nationality.as_deref(), &request.languages, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// The estimated age, or the age implied by the birth year when seen.
fn derived_age(request: &CreateIdentification) -> Option<i32> {
    request.estimated_age.or_else(|| request.birth_year.map(|year| request.observed_at.year() - year))
}

/// ISO 3166-1 alpha-2 nationality and ISO 639 language codes, as both sightings and profiles
/// take them.
pub fn check_nationality_and_languages(nationality: Option<&str>, languages: &[String], errors: &mut Vec<FieldError>) {
    let mut invalid = |field: String, message: &str| {
        errors.push(FieldError { field, code: "invalid_format".into(), message: message.into() })
    };
    if nationality.is_some_and(|n| !n.chars().all(|c| c.is_ascii_uppercase())) {
        invalid("nationality".into(), "use an ISO 3166-1 alpha-2 code such as AL");
    }
    for (i, language) in languages.iter().enumerate() {
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_lowercase()) {
            invalid(format!("languages[{i}]"), "use an ISO 639 code such as sq");
        }
    }
}

/// A code list as stored: a JSON array.
pub fn codes(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

pub fn parse_codes(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The outcome of a create: the record, and whether it was new (201) or already there (200).
pub struct Created {
    pub identification: Identification,
    pub new: bool,
}

/// A sighting checked, located and matched against known children, ready to be written: the
/// part of a create that only reads, done before the write transaction so that writers wait
/// for each other as briefly as possible.
pub struct Prepared {
    row: IdentificationRow,
    candidates: Vec<ProfileCandidate>,
}

/// Checks a sighting against the vocabularies and rules, resolves its areas and finds the
/// profiles it may belong to. Reads only.
pub fn prepare(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    request: &CreateIdentification,
    now: DateTime<Utc>,
) -> ApiResult<Prepared> {
    user.require(Permission::IdentificationsCreate)?;
    validate(conn, request, now)?;
    let id = request.id.to_string();
    let content_hash = crate::http::idempotency::fingerprint(
        "identification",
        "",
        &serde_json::to_value(request).map_err(anyhow::Error::from)?,
    );
    let at = crate::clock::truncate(now);
    let location = request.location.as_ref().map(|fix| (fix, index.locate(fix.lat, fix.lon)));
    let area_id =
        |resolved: &Option<crate::territory::index::Resolved>| resolved.as_ref().map(|r| index.area(r.area).id.clone());
    let row = IdentificationRow {
        id: id.clone(),
        recorded_by: user.user_id.clone(),
        agency_id: user.agency.id.clone(),
        device_id: user.device_id.clone(),
        observed_at: crate::clock::truncate(request.observed_at),
        received_at: at,
        lat: request.location.as_ref().map(|f| f.lat),
        lon: request.location.as_ref().map(|f| f.lon),
        accuracy_m: request.location.as_ref().map(|f| f.accuracy_m),
        altitude_m: request.location.as_ref().and_then(|f| f.altitude_m),
        fix_time: request.location.as_ref().and_then(|f| f.fix_time).map(crate::clock::truncate),
        location_source: request.location.as_ref().map(|f| f.source.clone()),
        mock_location: request.location.as_ref().is_some_and(|f| f.mock_location),
        location_not_collected_reason: request.location_not_collected_reason.clone(),
        place_description: request.place_description.clone(),
        county_id: location.as_ref().and_then(|(_, l)| area_id(&l.county)),
        municipality_id: location.as_ref().and_then(|(_, l)| area_id(&l.municipality)),
        admin_unit_id: location.as_ref().and_then(|(_, l)| area_id(&l.admin_unit)),
        locate_method: location.as_ref().map_or(LocateMethod::Outside, |(_, l)| l.method()).as_str().to_owned(),
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
        content_hash,
        version: 1,
        created_at: at,
        updated_at: at,
        name_as_told: request.name_as_told.as_ref().map(|name| name.trim().to_owned()),
        location_coarsened_at: None,
        round_id: crate::rounds::field::round_for_sighting(
            conn,
            &user.user_id,
            request.round_id.map(|id| id.to_string()).as_deref(),
            request.observed_at.naive_utc(),
        )?,
    };
    let candidates = crate::profiles::candidates::for_sighting(conn, index, user, settings, &row, None)?;
    Ok(Prepared { row, candidates })
}

/// Records a prepared sighting. Runs inside the caller's write transaction, together with the
/// audit record, the emergency job and the idempotency answer.
pub fn create(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    prepared: Prepared,
) -> ApiResult<Created> {
    let Prepared { row, mut candidates } = prepared;
    let (id, at) = (row.id.clone(), row.received_at);
    if let Some(existing) = find_row(conn, &id)? {
        // The same person sending the same record again without its key: the record as it is,
        // with the candidates prepared for the same content, less the profile it is linked to.
        // Different content under an existing id is refused, never applied.
        if existing.recorded_by == user.user_id && existing.content_hash == row.content_hash {
            let mut identification = view(conn, index, user, &existing)?;
            audit_read(conn, user, at, "identification.read", &identification)?;
            let linked = identification.profile.as_ref().map(|p| p.id);
            candidates.retain(|candidate| Some(candidate.profile.id) != linked);
            identification.candidates = Some(candidates);
            return Ok(Created { identification, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different identification has this id"));
    }
    diesel::insert_into(identifications::table).values(&row).execute(conn)?;
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
    let mut identification = view(conn, index, user, &row)?;
    identification.candidates = Some(candidates);
    // Last: on PostgreSQL the audit chain is locked from here to the commit.
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.create",
        "identification",
        &id,
        serde_json::json!({ "municipality_id": row.municipality_id, "admin_unit_id": row.admin_unit_id, "emergency": row.emergency }),
    )?;
    Ok(Created { identification, new: true })
}

/// The sighting as the answer to a create shows it: with the profiles it may belong to.
fn with_candidates(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    row: &IdentificationRow,
    mut identification: Identification,
) -> ApiResult<Identification> {
    let linked = identification.profile.as_ref().map(|p| p.id.to_string());
    identification.candidates =
        Some(crate::profiles::candidates::for_sighting(conn, index, user, settings, row, linked.as_deref())?);
    Ok(identification)
}

pub fn find_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<IdentificationRow>> {
    identifications::table.find(id).select(IdentificationRow::as_select()).get_result(conn).optional()
}

/// Whether the reader's data scope covers the record: their own agency recorded it, or it lies
/// in an area their agency serves (or below one).
pub fn in_scope(index: &TerritoryIndex, user: &AuthUser, row: &IdentificationRow) -> bool {
    row.agency_id == user.agency.id || in_scope_within(&scope_area_ids(index, user), user, row)
}

/// `in_scope` with the reader's scope worked out once, for many sightings.
pub fn in_scope_within(scope: &HashSet<String>, user: &AuthUser, row: &IdentificationRow) -> bool {
    row.agency_id == user.agency.id
        || [&row.county_id, &row.municipality_id, &row.admin_unit_id].into_iter().flatten().any(|id| scope.contains(id))
}

/// One sighting the reader may see, or 404 (never 403: others' records are not confirmed). An
/// accepted referral that shares the details opens it to the receiving agency.
pub fn find_in_scope(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<IdentificationRow> {
    let Some(row) = find_row(conn, id)? else { return Err(ApiError::not_found("identification")) };
    if in_scope(index, user, &row) || crate::access::opens_identification(conn, user, id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found("identification"))
    }
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
    let row = find_in_scope(conn, index, user, id)?;
    let view = view(conn, index, user, &row)?;
    audit_read(conn, user, at, "identification.read", &view)?;
    Ok(view)
}

fn audit_read(
    conn: &mut DbConnection,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    view: &Identification,
) -> QueryResult<()> {
    let precision = view.location.as_ref().map(|l| l.precision);
    audit::record(
        conn,
        &user.actor(),
        at,
        action,
        "identification",
        &view.id.to_string(),
        serde_json::json!({ "location": precision, "withheld": view.withheld }),
    )
}

/// The answer to a replayed create: the record as its recorder may see it now (permissions may
/// have changed since), audited like any read. Stored answers hold only the id, so no personal
/// data sits in the idempotency table.
pub fn replay(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Identification> {
    user.require(Permission::IdentificationsCreate)?;
    let row = find_row(conn, id)?
        .filter(|row| row.recorded_by == user.user_id)
        .ok_or_else(|| ApiError::not_found("identification"))?;
    let view = view(conn, index, user, &row)?;
    audit_read(conn, user, at, "identification.replay", &view)?;
    with_candidates(conn, index, user, settings, &row, view)
}

/// Who recorded a page of sightings and for which agency, loaded once per page.
pub struct Lookups {
    people: HashMap<String, String>,
    agencies: HashMap<String, AgencyBrief>,
    profiles: HashMap<String, ProfileRef>,
}

impl Lookups {
    pub fn load(conn: &mut DbConnection, rows: &[IdentificationRow]) -> QueryResult<Lookups> {
        let user_ids: HashSet<&str> = rows.iter().map(|r| r.recorded_by.as_str()).collect();
        let agency_ids: HashSet<&str> = rows.iter().map(|r| r.agency_id.as_str()).collect();
        let people = users::table
            .filter(users::id.eq_any(user_ids))
            .select((users::id, users::display_name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        let agencies = agencies::table
            .filter(agencies::id.eq_any(agency_ids))
            .select((agencies::id, agencies::code, agencies::name))
            .load::<AgencyBrief>(conn)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut profiles = HashMap::new();
        let links: Vec<(String, String, String)> = identification_links::table
            .inner_join(child_profiles::table)
            .filter(identification_links::identification_id.eq_any(ids))
            .select((identification_links::identification_id, child_profiles::id, child_profiles::reference))
            .load(conn)?;
        for (identification_id, profile_id, reference) in links {
            if let Ok(id) = profile_id.parse() {
                profiles.insert(identification_id, ProfileRef { id, reference });
            }
        }
        Ok(Lookups { people, agencies, profiles })
    }
}

fn view(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &IdentificationRow,
) -> ApiResult<Identification> {
    let lookups = Lookups::load(conn, std::slice::from_ref(row))?;
    view_with(&lookups, index, user, row)
}

/// The record as this reader may see it.
/// Whether the reader is shown this sighting's exact location. After the retention period the
/// stored location is the coarse one, for everyone.
fn shows_exact(user: &AuthUser, row: &IdentificationRow) -> bool {
    user.can(Permission::LocationsReadPrecise) && row.location_coarsened_at.is_none()
}

pub fn view_with(
    lookups: &Lookups,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &IdentificationRow,
) -> ApiResult<Identification> {
    let recorder_name = lookups.people.get(&row.recorded_by).cloned().unwrap_or_default();
    let agency = lookups.agencies.get(&row.agency_id).ok_or_else(|| ApiError::not_found("agency"))?;
    let precise = user.can(Permission::LocationsReadPrecise);
    let names = user.can(Permission::ChildrenReadNames);
    let sensitive = user.can(Permission::ChildrenReadSensitive);
    let mut withheld = Vec::new();
    if !precise {
        withheld.push("location".to_owned());
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
    let mut gated = |allowed: bool, field: &str, value: Option<String>| {
        if allowed {
            value
        } else {
            withheld.push(field.to_owned());
            None
        }
    };
    let notes = gated(names, "notes", row.notes.clone());
    let name_as_told = gated(names, "name_as_told", row.name_as_told.clone());
    let place_description = gated(precise, "place_description", row.place_description.clone());
    let ethnicity = gated(sensitive, "ethnicity", row.ethnicity.clone());
    let mut sensitive_list = |field: &str, text: &str| {
        if sensitive {
            Some(parse_codes(text))
        } else {
            withheld.push(field.to_owned());
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
        name_as_told,
        profile: lookups.profiles.get(&row.id).cloned(),
        round_id: row.round_id.as_deref().map(parse_uuid).transpose()?,
        candidates: None,
        withheld,
        version: row.version,
    })
}

fn parse_bbox(text: &str) -> Option<(f64, f64, f64, f64)> {
    let parts: Vec<f64> = text.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().ok()?;
    let [min_lon, min_lat, max_lon, max_lat] = parts[..] else { return None };
    let valid_lon = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
    let valid_lat = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
    (valid_lon(min_lon)
        && valid_lon(max_lon)
        && valid_lat(min_lat)
        && valid_lat(max_lat)
        && min_lon <= max_lon
        && min_lat <= max_lat)
        .then_some((min_lon, min_lat, max_lon, max_lat))
}

fn is_code(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A list, map or grid request's filters, checked.
struct Filters {
    limit: u32,
    area: Option<usize>,
    bbox: Option<(f64, f64, f64, f64)>,
    cursor: Option<(NaiveDateTime, String)>,
}

fn parse_filters(
    index: &TerritoryIndex,
    query: &IdentificationListQuery,
    default_limit: u32,
    max_limit: u32,
) -> ApiResult<Filters> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, code: &str, message: String| {
        errors.push(FieldError { field: field.into(), code: code.into(), message })
    };
    let limit = query.limit.unwrap_or(default_limit);
    if !(1..=max_limit).contains(&limit) {
        bad("limit", "out_of_range", format!("limit must be between 1 and {max_limit}"));
    }
    let area = query.area.as_ref().and_then(|code| {
        let found = index.find_code(code);
        if found.is_none() {
            bad("area", "unknown_area", format!("no area with code {code}"));
        }
        found
    });
    let bbox = query.bbox.as_ref().and_then(|text| {
        let parsed = parse_bbox(text);
        if parsed.is_none() {
            bad("bbox", "invalid_format", "use min_lon,min_lat,max_lon,max_lat in WGS84".into());
        }
        parsed
    });
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        bad("to", "before_from", "to must be after from".into());
    }
    for (field, value) in [
        ("subject_type", &query.subject_type),
        ("risk_level", &query.risk_level),
        ("street_situation", &query.street_situation),
    ] {
        if value.as_deref().is_some_and(|v| !is_code(v)) {
            bad(field, "invalid_format", "not a vocabulary code".into());
        }
    }
    let cursor = query.cursor.as_ref().and_then(|text| {
        let decoded = cursor::decode(text);
        if decoded.is_none() {
            bad("cursor", "invalid_cursor", "use next_cursor from the previous page".into());
        }
        decoded
    });
    if errors.is_empty() { Ok(Filters { limit, area, bbox, cursor }) } else { Err(ApiError::fields(errors)) }
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// Which sightings a query may reach: the reader's scope, or the whole country for national
/// statistics (aggregates only).
#[derive(Clone, Copy, PartialEq)]
enum Reach {
    Scope,
    National,
}

/// Sightings resolved to any of these areas, at whichever level they were resolved.
pub fn located_in(
    area_ids: Vec<String>,
) -> Box<dyn BoxableExpression<identifications::table, Backend, SqlType = diesel::sql_types::Bool>> {
    Box::new(
        identifications::county_id
            .eq_any(area_ids.clone())
            .assume_not_null()
            .or(identifications::municipality_id.eq_any(area_ids.clone()).assume_not_null())
            .or(identifications::admin_unit_id.eq_any(area_ids).assume_not_null()),
    )
}

/// The sightings matching the filters within the reader's reach, as a query to refine further.
fn filtered(
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationListQuery,
    filters: &Filters,
    reach: Reach,
) -> identifications::BoxedQuery<'static, Backend> {
    let mut q = identifications::table.into_boxed();
    if reach == Reach::Scope {
        let scope: Vec<String> = scope_area_ids(index, user).into_iter().collect();
        q = q.filter(identifications::agency_id.eq(user.agency.id.clone()).or(located_in(scope)));
    }
    if let Some(area) = filters.area {
        let ids: Vec<String> = index.descendants(area).into_iter().map(|a| index.area(a).id.clone()).collect();
        q = q.filter(located_in(ids));
    }
    if let Some(bbox) = filters.bbox {
        let (min_lon, min_lat, max_lon, max_lat) =
            if user.can(Permission::LocationsReadPrecise) { bbox } else { super::privacy::widen_to_cells(bbox) };
        q = q
            .filter(identifications::lat.between(min_lat, max_lat).assume_not_null())
            .filter(identifications::lon.between(min_lon, max_lon).assume_not_null());
    }
    if let Some(from) = query.from {
        q = q.filter(identifications::observed_at.ge(from.naive_utc()));
    }
    if let Some(to) = query.to {
        q = q.filter(identifications::observed_at.lt(to.naive_utc()));
    }
    if let Some(value) = &query.subject_type {
        q = q.filter(identifications::subject_type.eq(value.clone()));
    }
    if let Some(value) = &query.risk_level {
        q = q.filter(identifications::risk_level.eq(value.clone()));
    }
    if let Some(value) = &query.street_situation {
        // Codes may hold `_`, a LIKE wildcard: match it literally.
        let literal = crate::db::like_literal(value);
        q = q.filter(identifications::street_situations.like(format!("%\"{literal}\"%")).escape('\\'));
    }
    if let Some(value) = query.emergency {
        q = q.filter(identifications::emergency.eq(value));
    }
    if query.mine == Some(true) {
        q = q.filter(identifications::recorded_by.eq(user.user_id.clone()));
    }
    if let Some(linked) = query.linked {
        let linked_ids = identification_links::table.select(identification_links::identification_id);
        q = if linked {
            q.filter(identifications::id.eq_any(linked_ids))
        } else {
            q.filter(identifications::id.ne_all(linked_ids))
        };
    }
    q
}

fn audit_shown(
    conn: &mut DbConnection,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    rows: &[IdentificationRow],
) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let precision = if rows.iter().any(|row| shows_exact(user, row)) { "exact" } else { "coarse" };
    audit::record(
        conn,
        &user.actor(),
        at,
        action,
        "identification",
        "list",
        serde_json::json!({ "ids": ids, "location": precision }),
    )
}

/// Sightings within the reader's scope, newest received first, with keyset paging that stays
/// stable while new sightings arrive. The listing itself is audited.
pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationListQuery,
    at: NaiveDateTime,
) -> ApiResult<IdentificationPage> {
    user.require(Permission::IdentificationsRead)?;
    let filters = parse_filters(index, query, 50, 200)?;
    let mut q = filtered(index, user, query, &filters, Reach::Scope);
    if let Some((received_at, id)) = filters.cursor.clone() {
        // The plain bound is what the index scan starts from; the `or` alone is only a filter.
        q = q.filter(identifications::received_at.le(received_at)).filter(
            identifications::received_at
                .lt(received_at)
                .or(identifications::received_at.eq(received_at).and(identifications::id.lt(id))),
        );
    }
    let limit = filters.limit as usize;
    let mut rows: Vec<IdentificationRow> = q
        .select(IdentificationRow::as_select())
        .order((identifications::received_at.desc(), identifications::id.desc()))
        .limit(i64::from(filters.limit) + 1)
        .load(conn)?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| cursor::encode(row.received_at, &row.id))
    } else {
        None
    };
    let lookups = Lookups::load(conn, &rows)?;
    let items = rows.iter().map(|row| view_with(&lookups, index, user, row)).collect::<ApiResult<Vec<_>>>()?;
    audit_shown(conn, user, at, "identification.list", &rows)?;
    Ok(IdentificationPage { items, next_cursor })
}

/// The same sightings as a GeoJSON FeatureCollection for a map: one point each (coarsened as
/// for the reader), newest first, at most `limit` (default 1000, at most 2000); `truncated`
/// says when there were more.
pub fn feature_collection(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationListQuery,
    at: NaiveDateTime,
) -> ApiResult<serde_json::Value> {
    user.require(Permission::IdentificationsRead)?;
    let filters = parse_filters(index, query, 1000, 2000)?;
    let limit = filters.limit as usize;
    let mut rows: Vec<IdentificationRow> = filtered(index, user, query, &filters, Reach::Scope)
        .filter(identifications::lat.is_not_null())
        .select(IdentificationRow::as_select())
        .order((identifications::received_at.desc(), identifications::id.desc()))
        .limit(i64::from(filters.limit) + 1)
        .load(conn)?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    let features: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|row| {
            let precise = shows_exact(user, row);
            let (lat, lon) = shown_point(row.lat?, row.lon?, precise);
            Some(serde_json::json!({
                "type": "Feature",
                "id": row.id,
                "geometry": { "type": "Point", "coordinates": [lon, lat] },
                "properties": {
                    "observed_at": to_utc(row.observed_at),
                    "subject_type": row.subject_type,
                    "age_band": row.age_band,
                    "risk_level": row.risk_level,
                    "emergency": row.emergency,
                    "precision": if precise { "exact" } else { "coarse" },
                }
            }))
        })
        .collect();
    audit_shown(conn, user, at, "identification.map", &rows)?;
    Ok(serde_json::json!({ "type": "FeatureCollection", "features": features, "truncated": truncated }))
}

/// Counts of sightings per grid cell, for heat maps that show no single point. Readers of
/// individual sightings count within their scope; holders of national statistics count the whole
/// country, and for them cells with fewer than `MIN_PUBLISHED_COUNT` sightings are left out.
pub fn grid(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationListQuery,
    zoom: u8,
    at: NaiveDateTime,
) -> ApiResult<IdentificationGrid> {
    let reach = statistics_reach(user)?;
    let max_zoom = if reach == Reach::National { MAX_NATIONAL_GRID_ZOOM } else { MAX_GRID_ZOOM };
    if !(MIN_GRID_ZOOM..=max_zoom).contains(&zoom) {
        return Err(ApiError::field(
            "zoom",
            "out_of_range",
            format!("zoom must be between {MIN_GRID_ZOOM} and {max_zoom}"),
        ));
    }
    // Paging does not apply to counts.
    let query = IdentificationListQuery { cursor: None, limit: None, ..query.clone() };
    if reach == Reach::National {
        national_filters_only(&query)?;
    }
    let filters = parse_filters(index, &query, 1, 1)?;
    let points: Vec<(Option<f64>, Option<f64>)> = filtered(index, user, &query, &filters, reach)
        .filter(identifications::lat.is_not_null())
        .select((identifications::lat, identifications::lon))
        .load(conn)?;
    let cell_deg = 180.0 / f64::from(1u32 << zoom);
    // Without precise locations, count each sighting at its coarse cell's centre: grid cells do
    // not line up with coarse cells, and counting exact points would narrow a sighting down.
    let precise = reach == Reach::Scope && user.can(Permission::LocationsReadPrecise);
    let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
    for (lat, lon) in points {
        if let (Some(lat), Some(lon)) = (lat, lon) {
            let (lat, lon) = shown_point(lat, lon, precise);
            *counts.entry(((lat / cell_deg).floor() as i64, (lon / cell_deg).floor() as i64)).or_default() += 1;
        }
    }
    let threshold = if reach == Reach::National { MIN_PUBLISHED_COUNT } else { 1 };
    let mut cells: Vec<GridCell> = counts
        .into_iter()
        .filter(|(_, count)| *count >= threshold)
        .map(|((row, col), count)| GridCell {
            min_lat: row as f64 * cell_deg,
            min_lon: col as f64 * cell_deg,
            max_lat: (row + 1) as f64 * cell_deg,
            max_lon: (col + 1) as f64 * cell_deg,
            count,
        })
        .collect();
    cells.sort_by(|a, b| a.min_lat.total_cmp(&b.min_lat).then(a.min_lon.total_cmp(&b.min_lon)));
    let total: i64 = cells.iter().map(|c| c.count).sum();
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.grid",
        "identification",
        "grid",
        serde_json::json!({ "zoom": zoom, "cells": cells.len(), "counted": total, "national": reach == Reach::National }),
    )?;
    Ok(IdentificationGrid { zoom, cell_size_deg: cell_deg, min_count: threshold, cells })
}

/// Readers of sightings count within their scope; holders of national statistics count the
/// whole country.
fn statistics_reach(user: &AuthUser) -> ApiResult<Reach> {
    if user.can(Permission::IdentificationsRead) {
        Ok(Reach::Scope)
    } else if user.can(Permission::StatisticsRead) && user.national_scope() {
        Ok(Reach::National)
    } else {
        Err(ApiError::forbidden("this needs identifications_read, or statistics_read with national scope"))
    }
}

/// Sightings counted two ways, so that repeat sightings and distinct children are both known:
/// every sighting, and the profiles they are linked to. Takes the list's filters; national
/// statistics take only area and whole days, and counts below three are left out.
pub fn counts(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &IdentificationListQuery,
    at: NaiveDateTime,
) -> ApiResult<SightingCounts> {
    let reach = statistics_reach(user)?;
    let query = IdentificationListQuery { cursor: None, limit: None, ..query.clone() };
    if reach == Reach::National {
        national_filters_only(&query)?;
    }
    let filters = parse_filters(index, &query, 1, 1)?;
    let identifications: i64 = filtered(index, user, &query, &filters, reach).count().get_result(conn)?;
    // The linked sightings' profiles, counted here: a boxed query can neither group nor be
    // nested in another query on a multi-backend connection.
    let linked_ids: Vec<String> = filtered(index, user, &query, &filters, reach)
        .filter(identifications::id.eq_any(identification_links::table.select(identification_links::identification_id)))
        .select(identifications::id)
        .load(conn)?;
    let mut sightings_per_child: HashMap<String, i64> = HashMap::new();
    for chunk in linked_ids.chunks(5000) {
        let profiles: Vec<String> = identification_links::table
            .filter(identification_links::identification_id.eq_any(chunk))
            .select(identification_links::profile_id)
            .load(conn)?;
        for profile_id in profiles {
            *sightings_per_child.entry(profile_id).or_default() += 1;
        }
    }
    let per_child: Vec<(String, i64)> = sightings_per_child.into_iter().collect();
    let linked: i64 = per_child.iter().map(|(_, n)| n).sum();
    let distinct_children = per_child.len() as i64;
    let mut counts = SightingCounts {
        identifications,
        linked,
        unlinked: identifications - linked,
        distinct_children,
        repeat_sightings: linked - distinct_children,
        children_seen_more_than_once: per_child.iter().filter(|(_, n)| *n > 1).count() as i64,
        min_count: 1,
        suppressed: Vec::new(),
    };
    if reach == Reach::National {
        counts.min_count = MIN_PUBLISHED_COUNT;
        // identifications = linked + unlinked and linked = distinct_children + repeat_sightings:
        // each is a group whose total is shown, so a hidden count takes another of its group
        // with it. Children seen more than once never outnumber the distinct children.
        let names = [
            "identifications",
            "linked",
            "unlinked",
            "distinct_children",
            "repeat_sightings",
            "children_seen_more_than_once",
        ];
        let values = [
            counts.identifications,
            counts.linked,
            counts.unlinked,
            counts.distinct_children,
            counts.repeat_sightings,
            counts.children_seen_more_than_once,
        ];
        let hidden = crate::access::suppress_groups(&values, &[vec![0, 1, 2], vec![1, 3, 4], vec![5]]);
        for (i, slot) in [
            &mut counts.identifications,
            &mut counts.linked,
            &mut counts.unlinked,
            &mut counts.distinct_children,
            &mut counts.repeat_sightings,
            &mut counts.children_seen_more_than_once,
        ]
        .into_iter()
        .enumerate()
        {
            if hidden[i] {
                *slot = 0;
                counts.suppressed.push(names[i].to_owned());
            }
        }
    }
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.counts",
        "identification",
        "counts",
        serde_json::json!({ "area": query.area, "national": reach == Reach::National }),
    )?;
    Ok(counts)
}

/// National statistics may only be cut by area and whole days: finer filters (a box, a risk
/// level, a time to the second) would let two queries differ by a single child.
fn national_filters_only(query: &IdentificationListQuery) -> ApiResult<()> {
    let mut errors = Vec::new();
    let refused = [
        ("bbox", query.bbox.is_some()),
        ("subject_type", query.subject_type.is_some()),
        ("risk_level", query.risk_level.is_some()),
        ("street_situation", query.street_situation.is_some()),
        ("emergency", query.emergency.is_some()),
        ("mine", query.mine.is_some()),
        ("linked", query.linked.is_some()),
    ];
    for (field, present) in refused {
        if present {
            errors.push(FieldError {
                field: field.into(),
                code: "not_allowed".into(),
                message: "national statistics are cut by area and whole days only".into(),
            });
        }
    }
    errors.extend(crate::access::off_midnight(&[
        ("from", query.from.map(|t| t.time())),
        ("to", query.to.map(|t| t.time())),
    ]));
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// Coarsest and finest grid: a cell is 180/2^zoom degrees, from 45° down to ~600 m (never finer
/// than the ~500 m cells of coarse locations).
pub const MIN_GRID_ZOOM: u8 = 2;
pub const MAX_GRID_ZOOM: u8 = 15;
/// National aggregates stop at ~5 km cells.
pub const MAX_NATIONAL_GRID_ZOOM: u8 = 12;
/// National aggregates leave out cells with fewer sightings than this, so that a single child
/// seen at one junction cannot be picked out (the floor of every published count).
pub use crate::access::MIN_PUBLISHED_COUNT;
