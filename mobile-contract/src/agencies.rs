use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

/// A body that acts on a child's situation: child-protection unit, needs-assessment unit, field
/// outreach centre, shelter, police, NGO, national agency...
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Agency {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub name_en: Option<String>,
    /// Code from the `agency_type` vocabulary.
    pub agency_type: String,
    /// LAU code of the municipality it belongs to; absent for national bodies.
    pub municipality_code: Option<String>,
    pub parent_code: Option<String>,
    /// Codes of the areas it serves.
    pub area_codes: Vec<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub hours: Option<String>,
    pub is_24_7: bool,
    /// Places for shelters.
    pub capacity: Option<i32>,
    /// Places in use, as the shelter reported them plus placements accepted since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupied: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupancy_updated_at: Option<DateTime<Utc>>,
    /// IANA time zone for rotas, deadlines and working hours.
    pub time_zone: String,
    pub notes: Option<String>,
    pub active: bool,
    /// Send back as `version` when updating; a stale version is refused with 412.
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgencyListQuery {
    /// Agency type code, e.g. `child_protection_unit`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub agency_type: Option<String>,
    /// Area code: agencies serving this area or any area above it (a municipality-wide
    /// agency serves each of its units).
    pub area: Option<String>,
    /// Municipality LAU code.
    pub municipality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_24_7: Option<bool>,
    /// Include inactive agencies (default false).
    pub include_inactive: Option<bool>,
    /// Name or code fragment; diacritics and case are ignored.
    pub q: Option<String>,
}

/// Changes to an agency. Absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AgencyUpdate {
    /// The version you read; the update is refused (412) if the agency changed since.
    pub version: i32,
    #[validate(length(min = 1, max = 256))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 256))]
    pub name_en: Option<Option<String>>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 512))]
    pub address: Option<Option<String>>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 32))]
    pub phone: Option<Option<String>>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 254))]
    pub email: Option<Option<String>>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 128))]
    pub hours: Option<Option<String>>,
    pub is_24_7: Option<bool>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i32>)]
    #[validate(range(min = 0, max = 100000))]
    pub capacity: Option<Option<i32>>,
    #[validate(length(min = 1, max = 64))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, with = "crate::common::double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    #[validate(length(max = 2000))]
    pub notes: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Replaces the list of served areas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area_codes: Option<Vec<String>>,
}

/// A new agency (system administrators only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateAgencyRequest {
    /// Stable upper-case code, e.g. `AL224-NJVNR-EXTRA`.
    #[validate(length(min = 2, max = 64))]
    pub code: String,
    #[validate(length(min = 1, max = 256))]
    pub name: String,
    #[validate(length(max = 256))]
    pub name_en: Option<String>,
    /// Code from the `agency_type` vocabulary.
    #[validate(length(min = 1, max = 64))]
    pub agency_type: String,
    /// LAU code of the municipality, absent for national bodies.
    pub municipality_code: Option<String>,
    pub parent_code: Option<String>,
    #[validate(length(min = 1))]
    pub area_codes: Vec<String>,
    #[validate(length(max = 512))]
    pub address: Option<String>,
    #[validate(length(max = 32))]
    pub phone: Option<String>,
    #[validate(length(max = 254))]
    pub email: Option<String>,
    #[validate(length(max = 128))]
    pub hours: Option<String>,
    #[serde(default)]
    pub is_24_7: bool,
    #[validate(range(min = 0, max = 100000))]
    pub capacity: Option<i32>,
    /// IANA zone; default `Europe/Tirane`.
    pub time_zone: Option<String>,
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
}
