//! Query strings and paths: their errors as problems, and no NUL character reaching the database.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::QueryPayloadError;
use actix_web::middleware::Next;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;

use super::json::{NUL_CODE, NUL_MESSAGE};
use super::problem::{ApiError, ErrorCode};

/// A query string that did not deserialize: `invalid_query`, naming the parameter when the
/// message does (`` `at`: … ``, as the contract's parameter parsers write it).
pub fn query_error(error: QueryPayloadError) -> ApiError {
    let message = match &error {
        QueryPayloadError::Deserialize(inner) => inner.to_string(),
        other => other.to_string(),
    };
    let mut problem = ApiError::new(ErrorCode::InvalidQuery).with_detail(message.clone());
    if let Some((field, rest)) = message.strip_prefix('`').and_then(|m| m.split_once("`: ")) {
        problem.errors.push(FieldError {
            field: field.to_owned(),
            code: FieldErrorCode::InvalidFormat,
            message: rest.into(),
        });
    }
    problem
}

/// Refuses a NUL character (`%00`) in the path or the query string before any handler sees it:
/// PostgreSQL cannot store it, and both databases must answer alike. A path with one names no
/// record (404); a query parameter with one is `validation_failed` naming the parameter.
pub async fn reject_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(error) = nul_in(req.uri().path(), req.query_string()) {
        return Ok(req.error_response(error));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn nul_in(path: &str, query: &str) -> Option<ApiError> {
    // A URI cannot hold a raw NUL; only its percent-encoding.
    if path.contains("%00") {
        return Some(ApiError::not_found("resource"));
    }
    if !query.contains("%00") {
        return None;
    }
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query).ok()?.into_inner();
    pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| ApiError::field(name.replace('\0', "\\u0000"), NUL_CODE, NUL_MESSAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_path_or_query_is_refused_and_named() {
        assert!(nul_in("/api/v1/areas", "q=Tiran%C3%AB&limit=5").is_none());
        assert!(nul_in("/api/v1/areas", "q=100%25").is_none());
        let error = nul_in("/api/v1/areas", "level=county&q=a%00b").unwrap();
        assert_eq!(error.code, ErrorCode::ValidationFailed);
        assert_eq!((error.errors[0].field.as_str(), error.errors[0].code.as_str()), ("q", NUL_CODE.as_str()));
        assert_eq!(nul_in("/api/v1/agencies/a%00b", "").unwrap().code, ErrorCode::NotFound);
    }

    #[test]
    fn parameter_errors_name_the_parameter() {
        let inner = <serde::de::value::Error as serde::de::Error>::custom("`at`: an RFC 3339 instant");
        let error = query_error(QueryPayloadError::Deserialize(inner));
        assert_eq!(error.code, ErrorCode::InvalidQuery);
        assert_eq!((error.errors[0].field.as_str(), error.errors[0].code.as_str()), ("at", "invalid_format"));
    }
}
