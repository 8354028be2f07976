//! What every request needs beyond its session, kept per process: kept apart from [`super::caller`]
//! so that the application state can hold it without depending on the HTTP layer.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use diesel::QueryResult;
use terren_contract::Role;

use crate::accounts::model;
use crate::db::DbConnection;
use crate::ids::AgencyId;

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
        agency_id: &AgencyId,
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
