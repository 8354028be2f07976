//! The person behind a request, as every rule sees them: who they are, their agency, roles,
//! permissions and the areas their agency serves. `http::auth` reads them from the bearer token.

use std::collections::BTreeSet;

use terren_contract::{Permission, Role};

use crate::accounts::model::{self, AgencyBrief};
use crate::audit::Actor;
use crate::auth::permissions::{has_national_scope, permissions_for};
use crate::db::DbConnection;
use crate::http::{ApiError, ApiResult};
use crate::ids::UserId;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub agency: AgencyBrief,
    pub roles: BTreeSet<Role>,
    pub permissions: BTreeSet<Permission>,
    /// Areas the agency serves (ids, codes).
    pub areas: Vec<(String, String)>,
    pub session_id: String,
    pub device_id: String,
    pub must_change_password: bool,
    pub ip: String,
}

impl AuthUser {
    /// A person as a request of theirs would see them, for work done on their behalf without one
    /// (the demo data, fixtures): their roles and their agency's areas as stored now, under a
    /// session and device named `on_behalf`.
    pub fn acting_as(conn: &mut DbConnection, username: &str, on_behalf: &str) -> ApiResult<AuthUser> {
        let user = model::find_user_by_username(conn, username)?.ok_or_else(|| ApiError::not_found("user"))?;
        let roles = model::roles_of(conn, &user.id)?;
        Ok(AuthUser {
            permissions: permissions_for(&roles),
            roles,
            areas: model::agency_area_scope(conn, &user.agency_id)?,
            agency: model::agency_brief(conn, &user.agency_id)?,
            user_id: UserId::from_stored(user.id),
            username: user.username,
            display_name: user.display_name,
            session_id: on_behalf.to_owned(),
            device_id: on_behalf.to_owned(),
            must_change_password: false,
            ip: "127.0.0.1".to_owned(),
        })
    }

    /// The person behind a live session, as a request under it sees them: their roles and their
    /// agency's areas from the cache while their versions are those just read.
    pub fn of_session(
        conn: &mut DbConnection,
        callers: &super::caller_cache::CallerCache,
        session: model::SessionRow,
        user: model::UserRow,
        agency: AgencyBrief,
        agency_version: i32,
        ip: String,
    ) -> ApiResult<AuthUser> {
        let roles = callers.roles(conn, &user.id, user.version)?;
        Ok(AuthUser {
            permissions: permissions_for(&roles),
            roles: (*roles).clone(),
            areas: (*callers.areas(conn, &agency.id, agency_version)?).clone(),
            agency,
            user_id: UserId::from_stored(user.id),
            username: user.username,
            display_name: user.display_name,
            session_id: session.id,
            device_id: session.device_id,
            must_change_password: user.must_change_password,
            ip,
        })
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this needs the permission {}", permission_name(permission))))
        }
    }

    pub fn national_scope(&self) -> bool {
        has_national_scope(&self.roles)
    }

    pub fn is_system_admin(&self) -> bool {
        self.roles.contains(&Role::SystemAdmin)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id.to_string()),
            device_id: Some(self.device_id.clone()),
            ip: Some(self.ip.clone()),
        }
    }
}

pub fn permission_name(permission: Permission) -> String {
    crate::vocabularies::codes::wire_code(permission)
}
