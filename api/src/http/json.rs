//! `ValidJson<T>`: a JSON body that parsed, had the right types and passed its validation rules.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use terren_contract::problem::{FieldError, FieldErrorCode};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::problem::{ApiError, ErrorCode};

pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok =
            req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json_content_type);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(
                    ApiError::new(ErrorCode::UnsupportedMediaType).with_detail("send the body as application/json")
                );
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(ErrorCode::PayloadTooLarge)
                } else {
                    ApiError::new(ErrorCode::BadRequest).with_detail(e.to_string())
                }
            })?;
            let value = parse_json::<T>(&bytes)?;
            value.validate().map_err(|errors| ApiError::fields(field_errors(&errors)))?;
            Ok(ValidJson(value))
        })
    }
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are 400 `malformed_json`; well-formed JSON of the wrong shape is 422 with the
/// path of the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(ErrorCode::MalformedJson).with_detail(inner.to_string());
        }
        let path = e.path().to_string();
        let message = inner.to_string();
        let (field, code) = classify_data_error(&path, &message);
        ApiError::field(field, code, strip_position(&message))
    })?;
    deserializer.end().map_err(|e| ApiError::new(ErrorCode::MalformedJson).with_detail(e.to_string()))?;
    Ok(value)
}

/// PostgreSQL cannot store U+0000 in text, so no string may carry one, on either database. Raw
/// control characters are already a syntax error in JSON: a NUL can only arrive as `\u0000`.
fn reject_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == br"\u0000") {
        return Ok(());
    }
    // Rare: walk the document to name the field (or learn that the match was an escaped `\\`).
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Ok(()) };
    match nul_path(&value, String::new()) {
        Some(path) => Err(ApiError::field(path, NUL_CODE, NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// The field error code of text containing U+0000.
pub const NUL_CODE: FieldErrorCode = FieldErrorCode::NulCharacter;
pub const NUL_MESSAGE: &str = "text must not contain the NUL character (U+0000)";

/// The path (`a.b[2]`, as for other field errors) of the first string or key containing U+0000.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_path(item, format!("{path}[{i}]")))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.contains('\0') { Some(here) } else { nul_path(item, here) }
        }),
        _ => None,
    }
}

fn classify_data_error(path: &str, message: &str) -> (String, FieldErrorCode) {
    let join = |name: &str| if path == "." || path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
    if let Some(name) = backticked_after(message, "missing field ") {
        return (join(name), FieldErrorCode::Required);
    }
    if let Some(name) = backticked_after(message, "unknown field ") {
        // The path already ends at the unknown key.
        let field = if path == "." || path.is_empty() { name.to_owned() } else { path.to_owned() };
        return (field, FieldErrorCode::UnknownField);
    }
    if message.starts_with("unknown variant") {
        return (path.to_owned(), FieldErrorCode::UnknownCode);
    }
    (if path == "." { String::new() } else { path.to_owned() }, FieldErrorCode::InvalidType)
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.strip_prefix('`')?.split('`').next()
}

fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

/// Checks a value with its validation rules (query parameters, which no extractor checks), with
/// the same field errors as a body.
pub fn check_rules<T: Validate>(value: &T) -> Result<(), ApiError> {
    value.validate().map_err(|errors| ApiError::fields(field_errors(&errors)))
}

/// The field errors of a value's validation rules, to answer together with the problems found
/// after them.
pub fn rule_errors<T: Validate>(value: &T) -> Vec<FieldError> {
    value.validate().err().map(|errors| field_errors(&errors)).unwrap_or_default()
}

/// Flattens validator's nested errors into `field.sub[2]` paths with stable codes.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    out.push(FieldError {
                        field: path.clone(),
                        code: stable_code(&error.code),
                        message: error.message.as_ref().map_or_else(|| describe(error), |m| m.to_string()),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// The field code of each rule the contract's `#[validate(...)]` attributes use; a rule without
/// one of its own is an invalid value.
fn stable_code(rule: &str) -> FieldErrorCode {
    match rule {
        "length" => FieldErrorCode::InvalidLength,
        "range" => FieldErrorCode::OutOfRange,
        "url" => FieldErrorCode::Url,
        other => FieldErrorCode::parse(other).unwrap_or(FieldErrorCode::InvalidValue),
    }
}

fn describe(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "invalid length".to_owned(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            _ => "out of range".to_owned(),
        },
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[validate(length(min = 2))]
        name: String,
        #[validate(range(min = -90.0, max = 90.0))]
        lat: f64,
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let err = parse_json::<Sample>(br#"{"name": "ab"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!((err.errors[0].field.as_str(), err.errors[0].code.as_str()), ("lat", "required"));

        let err = parse_json::<Sample>(br#"{"name": 5, "lat": 1}"#).unwrap_err();
        assert_eq!((err.errors[0].field.as_str(), err.errors[0].code.as_str()), ("name", "invalid_type"));

        let err = parse_json::<Sample>(br#"{"name": "ab", "lat": 1, "x": 1}"#).unwrap_err();
        assert_eq!((err.errors[0].field.as_str(), err.errors[0].code.as_str()), ("x", "unknown_field"));

        let err = parse_json::<Sample>(br#"{"name": "ab", "lat": "#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
    }

    #[test]
    fn rule_violations_are_flattened_with_stable_codes() {
        let sample: Sample = parse_json(br#"{"name": "a", "lat": 91}"#).unwrap();
        let errors = field_errors(&sample.validate().unwrap_err());
        let got: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(got, vec![("lat", "out_of_range"), ("name", "invalid_length")]);
    }

    /// Every request example of the contract, cut short at every byte: always a syntax error.
    #[test]
    fn truncated_bodies_are_malformed_json_at_every_byte() {
        use terren_contract::{
            agencies, alerts, auth, hotspots, identifications, profiles, referrals, rounds, schedules, users,
        };

        fn every_cut<T: DeserializeOwned>(name: &str, text: &str) {
            let compact = serde_json::from_str::<serde_json::Value>(text).unwrap().to_string();
            every_cut_of::<T>(name, text);
            every_cut_of::<T>(name, &compact);
        }
        fn every_cut_of<T: DeserializeOwned>(name: &str, text: &str) {
            let body = text.trim_end().as_bytes();
            parse_json::<T>(body).unwrap_or_else(|e| panic!("{name} itself fails: {e:?}"));
            for cut in 0..body.len() {
                let error = parse_json::<T>(&body[..cut]).err().unwrap_or_else(|| panic!("{name} cut at {cut} parsed"));
                assert_eq!(
                    error.code,
                    ErrorCode::MalformedJson,
                    "{name} cut at {cut}: {:?} {:?}",
                    String::from_utf8_lossy(&body[..cut]),
                    error.errors
                );
            }
        }
        macro_rules! examples {
            ($($file:literal => $ty:ty,)*) => {
                $(every_cut::<$ty>($file, include_str!(concat!("../../../mobile-contract/examples/", $file)));)*
            };
        }
        examples! {
            "login_request.json" => auth::LoginRequest,
            "refresh_request.json" => auth::RefreshRequest,
            "create_schedule_request.json" => schedules::CreateSchedule,
            "create_alert_request.json" => alerts::CreateAlert,
            "escalation_policy_request.json" => alerts::PutEscalationPolicy,
            "register_device_request.json" => alerts::RegisterDevice,
            "notification_rules.json" => alerts::NotificationRules,
            "create_referral_request.json" => referrals::CreateReferral,
            "decline_referral_request.json" => referrals::DeclineReferral,
            "close_referral_request.json" => referrals::CloseReferral,
            "routing_rule_request.json" => referrals::PutRoutingRule,
            "deadline_policy_request.json" => referrals::PutDeadlinePolicy,
            "create_hotspot_request.json" => hotspots::PutHotspot,
            "round_series_request.json" => rounds::PutRoundSeries,
            "check_in_request.json" => rounds::CheckIn,
            "change_password_request.json" => users::ChangePasswordRequest,
            "create_user_request.json" => users::CreateUserRequest,
            "agency_update.json" => agencies::AgencyUpdate,
            "create_agency_request.json" => agencies::CreateAgencyRequest,
            "create_identification_request.json" => identifications::CreateIdentification,
            "link_request_new_profile.json" => profiles::LinkIdentification,
            "link_request_existing_profile.json" => profiles::LinkIdentification,
            "child_profile_update.json" => profiles::ChildProfileUpdate,
            "merge_profiles_request.json" => profiles::MergeProfiles,
            "unmerge_profiles_request.json" => profiles::UnmergeProfiles,
        }
        // Tags after the fields they select, and times in both forms.
        every_cut::<hotspots::PutHotspot>(
            "tag last",
            r#"{"name": "Sheshi", "kind": "square", "shape": {"radius_m": 120.5, "lon": 19.8187, "lat": 41.3275, "type": "circle"}}"#,
        );
        every_cut::<alerts::PutEscalationPolicy>(
            "kind last",
            r#"{"policy": {"steps": [{"wait_minutes": 5, "targets": [{"role": "coordinator", "kind": "role"}]}], "repeat": 0}}"#,
        );
        every_cut::<rounds::UpdateRound>(
            "round times",
            r#"{"version": 2, "starts_at": "2026-03-03T13:00:00Z", "ends_at": "2026-03-03T17:00:00+01:00", "notes": "Fëmijë 🙂"}"#,
        );
    }

    #[test]
    fn nul_characters_are_refused_naming_the_field() {
        let err = parse_json::<Sample>(br#"{"name": "a\u0000b", "lat": 1}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!((err.errors[0].field.as_str(), err.errors[0].code.as_str()), ("name", NUL_CODE.as_str()));
        let nested: serde_json::Value = serde_json::json!({ "a": [1, { "b": "x\u{0}" }] });
        let err = parse_json::<serde_json::Value>(nested.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.errors[0].field, "a[1].b");
        // An escaped backslash followed by `u0000` is six ordinary characters.
        let sample: Sample = parse_json(br#"{"name": "a\\u0000", "lat": 1}"#).unwrap();
        assert_eq!(sample.name, "a\\u0000");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
    }
}
