//! The reference data a phone works offline with: vocabularies, the areas the caller's agency
//! serves, and the active agencies with their phones, tagged so that an unchanged copy is not
//! sent again.

use std::collections::HashSet;

use terren_contract::agencies::AgencyListQuery;
use terren_contract::areas::AreaListQuery;
use terren_contract::sync::SyncReference;

use crate::access::{self, AuthUser};
use crate::db::DbConnection;
use crate::digest::hex;
use crate::http::ApiResult;
use crate::territory::index::TerritoryIndex;

pub fn load(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser) -> ApiResult<SyncReference> {
    let vocabularies = crate::vocabularies::load(conn)?.vocabularies;
    let mut areas = crate::territory::service::list_areas(conn, &AreaListQuery::default())?;
    if !user.national_scope() {
        let served = access::scope_area_ids(index, user);
        // The areas served, and those they lie in, so that a place can be named in full.
        let mut kept: HashSet<String> = HashSet::new();
        for id in &served {
            let mut at = index.find_id(id);
            while let Some(area) = at {
                if !kept.insert(index.area(area).id.clone()) {
                    break;
                }
                at = index.area(area).parent;
            }
        }
        areas.retain(|area| kept.contains(&area.id.to_string()));
    }
    let agencies = crate::agencies::service::list(conn, index, &AgencyListQuery::default())?;
    Ok(SyncReference { vocabularies, areas, agencies })
}

/// The entity tag of a copy of the reference data: it changes when anything in it does.
pub fn etag(reference: &SyncReference) -> ApiResult<String> {
    use sha2::{Digest, Sha256};
    let body = serde_json::to_vec(reference).map_err(anyhow::Error::from)?;
    Ok(format!("\"{}\"", hex(&Sha256::digest(&body)[..16])))
}
