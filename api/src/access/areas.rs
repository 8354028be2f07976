//! The areas a person's agency serves: the place-based half of every "may this caller see it".

use std::collections::HashSet;

use crate::access::AuthUser;
use crate::territory::index::TerritoryIndex;

/// Ids of the areas the reader's agency serves and every area below them.
pub fn scope_area_ids(index: &TerritoryIndex, user: &AuthUser) -> HashSet<String> {
    user.areas
        .iter()
        .filter_map(|(id, _)| index.find_id(id))
        .flat_map(|root| index.descendants(root))
        .map(|a| index.area(a).id.clone())
        .collect()
}

/// The areas a person's agency serves (and every area below them), to test places against;
/// everything, with national scope.
pub struct ServedAreas {
    national: bool,
    areas: HashSet<String>,
}

impl ServedAreas {
    pub fn of(index: &TerritoryIndex, user: &AuthUser) -> ServedAreas {
        let national = user.national_scope();
        ServedAreas { national, areas: if national { HashSet::new() } else { scope_area_ids(index, user) } }
    }

    /// Whether any of the areas (a place's municipality, its unit, …) is served.
    pub fn cover(&self, area_ids: &[&Option<String>]) -> bool {
        self.national || area_ids.iter().any(|id| id.as_ref().is_some_and(|id| self.areas.contains(id)))
    }
}
