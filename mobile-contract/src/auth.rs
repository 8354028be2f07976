use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::common::{Permission, Role};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 64))]
    pub username: String,
    #[validate(length(min = 1, max = 256))]
    pub password: String,
    /// Stable identifier of the phone or browser, chosen by the app at install time.
    #[validate(length(min = 1, max = 128))]
    pub device_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[validate(length(min = 1, max = 256))]
    pub refresh_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[validate(length(min = 1, max = 256))]
    pub refresh_token: String,
}

/// Issued on login and on every refresh. The refresh token is single-use: each refresh returns a
/// new one, and presenting a used one ends the whole session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    pub session_id: Uuid,
    /// How to send an emergency by SMS when there is no data; absent when the service has no
    /// inbound number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifeline: Option<crate::lifeline::LifelineEnrolment>,
}

/// How to send the access token: `Authorization: Bearer <access_token>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TokenType {
    Bearer,
}

/// The signed-in person, their agency, roles and permissions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub agency: AgencyRef,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
    /// Codes of the areas whose data this person may see; empty with `national_scope`.
    pub area_codes: Vec<String>,
    /// True for roles that see the whole country (national viewers, system admins).
    pub national_scope: bool,
    pub must_change_password: bool,
    pub session_id: Uuid,
    pub device_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgencyRef {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}
