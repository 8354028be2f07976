use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::AgencyRef;
use crate::common::Role;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Lower-case letters, digits, `.`, `_` and `-`; unique.
    #[validate(length(min = 3, max = 64))]
    pub username: String,
    #[validate(length(min = 1, max = 128))]
    pub display_name: String,
    /// Agency code (e.g. `AL221-NJMF`); agency admins may only create users of their own agency.
    #[validate(length(min = 1, max = 64))]
    pub agency_code: String,
    #[validate(length(min = 1))]
    pub roles: Vec<Role>,
    #[validate(length(max = 32))]
    pub phone: Option<String>,
    #[validate(length(max = 254))]
    pub email: Option<String>,
    /// Initial password; the user must change it at first login.
    #[validate(length(min = 10, max = 256))]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// New temporary password; all sessions of the user end and they must change it at login.
    #[validate(length(min = 10, max = 256))]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[validate(length(min = 1, max = 256))]
    pub current_password: String,
    #[validate(length(min = 10, max = 256))]
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub agency: AgencyRef,
    pub roles: Vec<Role>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub disabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Password guesses being held back: an account from one address, or (without `username`) an
/// address trying many accounts, which is held back for accounts that never signed in from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Lockout {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub address: String,
    /// Wrong passwords counted.
    pub failures: u32,
    /// Attempts are refused (429) until then.
    pub until: DateTime<Utc>,
}

/// Lift a lockout: the account's failures from that address, or (without `username`) the
/// address's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct LiftLockout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 64))]
    pub username: Option<String>,
    #[validate(length(min = 1, max = 64))]
    pub address: String,
}
