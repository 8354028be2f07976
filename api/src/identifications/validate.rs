//! What makes a sighting acceptable: the phone's fix and clock, the coded fields against the
//! vocabularies, and the rules between fields.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, Utc};
use diesel::prelude::*;
use terren_contract::identifications::CreateIdentification;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;

use crate::db::DbConnection;
use crate::db::schema::vocabulary_entries;
use crate::http::{ApiError, ApiResult};

/// A device clock may run this far ahead of the server's before `observed_at` is refused.
const MAX_CLOCK_AHEAD: Duration = Duration::minutes(15);
/// A phone may send a record this long after the sighting (offline for weeks); older is a clock
/// error.
const MAX_AGE_OF_RECORD: Duration = Duration::days(365);

/// What is wrong with a fix the phone sent, the fields named under `field`.
pub fn fix_errors(field: &str, fix: &terren_contract::identifications::GeoFix, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut push = |name: &str, code: FieldErrorCode, message: &str| {
        errors.push(FieldError { field: format!("{field}.{name}"), code, message: message.into() })
    };
    if !fix.lat.is_finite() || !(-90.0..=90.0).contains(&fix.lat) {
        push("lat", FieldErrorCode::OutOfRange, "latitude must be between -90 and 90");
    }
    if !fix.lon.is_finite() || !(-180.0..=180.0).contains(&fix.lon) {
        push("lon", FieldErrorCode::OutOfRange, "longitude must be between -180 and 180");
    }
    if !fix.accuracy_m.is_finite() || fix.accuracy_m <= 0.0 || fix.accuracy_m > 100_000.0 {
        push("accuracy_m", FieldErrorCode::OutOfRange, "accuracy must be a positive number of metres");
    }
    if fix.altitude_m.is_some_and(|a| !a.is_finite() || !(-500.0..=9000.0).contains(&a)) {
        push("altitude_m", FieldErrorCode::OutOfRange, "altitude must be between -500 and 9000 metres");
    }
    if fix.fix_time.is_some_and(|t| t > now + MAX_CLOCK_AHEAD) {
        push("fix_time", FieldErrorCode::InFuture, "the fix time is in the future");
    }
    errors
}

/// Checks every coded field against the active vocabulary entries and the cross-field rules.
pub(super) fn validate(conn: &mut DbConnection, request: &CreateIdentification, now: DateTime<Utc>) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut push =
        |field: String, code: FieldErrorCode, message: String| errors.push(FieldError { field, code, message });

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
            push(
                field.to_owned(),
                FieldErrorCode::UnknownCode,
                format!("{code} is not in the {vocabulary} vocabulary"),
            );
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
        (None, None) => push(
            "location".into(),
            FieldErrorCode::Required,
            "send a location, or location_not_collected_reason".into(),
        ),
        (Some(_), Some(_)) => push(
            "location_not_collected_reason".into(),
            FieldErrorCode::Conflicting,
            "a location was sent, so it was collected".into(),
        ),
        _ => {}
    }
    if let Some(fix) = &request.location {
        for error in fix_errors("location", fix, now) {
            push(error.field, error.code, error.message);
        }
    }
    if request.observed_at > now + MAX_CLOCK_AHEAD {
        push(
            "observed_at".into(),
            FieldErrorCode::InFuture,
            "observed_at is in the future; check the phone's clock".into(),
        );
    }
    if request.observed_at < now - MAX_AGE_OF_RECORD {
        push(
            "observed_at".into(),
            FieldErrorCode::TooOld,
            "observed_at is more than a year ago; check the phone's clock".into(),
        );
    }
    if let (Some(age), Some(year)) = (request.estimated_age, request.birth_year)
        && (request.observed_at.year() - year - age).abs() > 2
    {
        push("birth_year".into(), FieldErrorCode::Inconsistent, "the birth year and the estimated age disagree".into());
    }
    if let Some(year) = request.birth_year
        && year > request.observed_at.year()
    {
        push("birth_year".into(), FieldErrorCode::InFuture, "born after being seen".into());
    }
    let age = derived_age(request);
    match (request.subject_type.as_str(), age) {
        ("child", Some(age)) if age >= 18 => push(
            "estimated_age".into(),
            FieldErrorCode::Inconsistent,
            "a child is under 18; record an adult instead".into(),
        ),
        ("adult", Some(age)) if age < 18 => push(
            "estimated_age".into(),
            FieldErrorCode::Inconsistent,
            "under 18 is a child; record a child instead".into(),
        ),
        _ => {}
    }
    if request.name_as_told.as_deref().is_some_and(|name| crate::territory::fold::fold(name).is_empty()) {
        push("name_as_told".into(), FieldErrorCode::Blank, "a name needs letters".into());
    }
    check_nationality_and_languages(request.nationality.as_deref(), &request.languages, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::fields(errors)) }
}

/// The estimated age, or the age implied by the birth year when seen.
pub(super) fn derived_age(request: &CreateIdentification) -> Option<i32> {
    request.estimated_age.or_else(|| request.birth_year.map(|year| request.observed_at.year() - year))
}

/// ISO 3166-1 alpha-2 nationality and ISO 639 language codes, as both sightings and profiles
/// take them.
pub fn check_nationality_and_languages(nationality: Option<&str>, languages: &[String], errors: &mut Vec<FieldError>) {
    let mut invalid = |field: String, message: &str| {
        errors.push(FieldError { field, code: FieldErrorCode::InvalidFormat, message: message.into() })
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
