//! The sync cursor: where a phone's sync stands, signed by the server so that it cannot be forged
//! or carried to another account, and told apart from access tokens by its audience.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::access::AuthUser;
use crate::auth::tokens::TokenKeys;
use crate::db::DbConnection;
use crate::db::schema::team_members;
use crate::digest::hex;
use crate::http::problem::{ApiError, ApiResult, ErrorCode};

const AUDIENCE: &str = "terren-sync";

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Changes after this place in the change feed are owed to the phone.
    pub seq: i64,
    /// What the caller could see when the cursor was made ([`scope_of`]).
    pub scope: String,
    /// When the working set was last brought up to date (Unix seconds): records that time moved
    /// into or out of it since are owed to the phone.
    pub synced_at: i64,
    /// While a full sync is under way: the last member sent (kind, id); `Some(None)` before the
    /// first.
    pub full: Option<Option<(String, String)>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    #[serde(flatten)]
    position: Position,
}

/// Signs `position` for `user`; the cursor is good for `lifetime` (the change feed's retention).
pub fn issue(
    keys: &TokenKeys,
    user: &AuthUser,
    position: Position,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> ApiResult<String> {
    let claims = Claims {
        iss: keys.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user.user_id.to_string(),
        iat: now.timestamp(),
        exp: (now + lifetime).timestamp(),
        position,
    };
    keys.sign(&claims).map_err(ApiError::internal)
}

/// Reads a cursor back: refused when it is not this server's, belongs to someone else, or is
/// older than the change feed keeps.
pub fn read(keys: &TokenKeys, user: &AuthUser, cursor: &str, now: DateTime<Utc>) -> ApiResult<Position> {
    let claims: Claims = keys.verify_claims(cursor, AUDIENCE).map_err(|_| {
        ApiError::new(ErrorCode::SyncCursorInvalid).with_detail("give back the cursor of the last answer as it came")
    })?;
    if claims.sub != user.user_id.as_str() {
        return Err(ApiError::new(ErrorCode::SyncCursorNotYours));
    }
    if claims.exp <= now.timestamp() {
        return Err(expired());
    }
    Ok(claims.position)
}

pub fn expired() -> ApiError {
    ApiError::new(ErrorCode::SyncCursorExpired)
}

/// What decides a caller's working set: agency, roles, the agency's areas and the caller's
/// teams. A cursor made under another scope means a full sync.
pub fn scope_of(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<String> {
    use diesel::prelude::*;
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(user.agency.id.as_bytes());
    for role in &user.roles {
        hasher.update(b"\x00role:");
        hasher.update(role.as_str().as_bytes());
    }
    let mut areas: Vec<&str> = user.areas.iter().map(|(id, _)| id.as_str()).collect();
    areas.sort_unstable();
    for area in areas {
        hasher.update(b"\x00area:");
        hasher.update(area.as_bytes());
    }
    let teams: Vec<String> = team_members::table
        .filter(team_members::user_id.eq(user.user_id.clone()))
        .select(team_members::team_id)
        .order(team_members::team_id.asc())
        .load(conn)?;
    for team in teams {
        hasher.update(b"\x00team:");
        hasher.update(team.as_bytes());
    }
    Ok(hex(&hasher.finalize()[..16]))
}
