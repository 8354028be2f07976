use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// RFC 9457 problem details, returned for every error with `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI identifying the problem type (`about:blank` style, stable per `code`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short human-readable summary in the language chosen by `Accept-Language` (`sq` or `en`).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable snake_case identifier the app can switch on: one of the `ErrorCode` schema's values
    /// (new ones may be added; treat an unknown one by `status`).
    pub code: String,
    /// Per-field problems for validation errors (422).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `lat` or `roles[1]`.
    pub field: String,
    /// Stable snake_case code, e.g. `required`, `out_of_range`, `unknown_code`.
    pub code: String,
    /// Human-readable explanation (English).
    pub message: String,
}
