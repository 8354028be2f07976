//! The person behind a request, as every rule sees them: who they are, their agency, roles,
//! permissions and the areas their agency serves. `http::auth` reads them from the bearer token.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use diesel::QueryResult;

use terren_contract::{Permission, Role};

use crate::accounts::model::{self, AgencyBrief};
use crate::audit::Actor;
use crate::auth::permissions::has_national_scope;
use crate::db::DbConnection;
use crate::http::{ApiError, ApiResult};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
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
            user_id: Some(self.user_id.clone()),
            device_id: Some(self.device_id.clone()),
            ip: Some(self.ip.clone()),
        }
    }
}

pub fn permission_name(permission: Permission) -> String {
    crate::vocabularies::codes::wire_code(permission)
}

/// A user's roles and an agency's areas, kept in memory per process. Every request reads its
/// session with the user's and the agency's `version` in one query, and an entry is used only
/// while its version is the one just read: whatever changes roles or areas bumps that version
/// (in any process), so the next request of that person reads them afresh.
#[derive(Default)]
pub struct CallerCache {
    roles: Versioned<BTreeSet<Role>>,
    areas: Versioned<Vec<(String, String)>>,
}

/// Values by key, each with the version it was read at.
type Versioned<T> = RwLock<HashMap<String, (i32, Arc<T>)>>;

impl CallerCache {
    pub fn roles(&self, conn: &mut DbConnection, user_id: &str, version: i32) -> QueryResult<Arc<BTreeSet<Role>>> {
        cached(&self.roles, user_id, version, || model::roles_of(conn, user_id))
    }

    /// Ids and codes of the areas the agency serves.
    pub fn areas(
        &self,
        conn: &mut DbConnection,
        agency_id: &str,
        version: i32,
    ) -> QueryResult<Arc<Vec<(String, String)>>> {
        cached(&self.areas, agency_id, version, || model::agency_area_scope(conn, agency_id))
    }
}

fn cached<T>(
    map: &Versioned<T>,
    key: &str,
    version: i32,
    load: impl FnOnce() -> QueryResult<T>,
) -> QueryResult<Arc<T>> {
    if let Some((seen, value)) = map.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(key)
        && *seen == version
    {
        return Ok(value.clone());
    }
    let value = Arc::new(load()?);
    map.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.to_owned(), (version, value.clone()));
    Ok(value)
}
