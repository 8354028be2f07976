//! Areas as the wire names them.

use terren_contract::identifications::AreaRef;

use crate::territory::index::TerritoryIndex;

/// An area by id, as records name it.
pub fn area_ref(index: &TerritoryIndex, id: &Option<String>) -> Option<AreaRef> {
    id.as_ref().and_then(|id| index.find_id(id)).map(|a| area_ref_at(index, a))
}

/// The area at `area` in the territory index, as the wire names it.
pub fn area_ref_at(index: &TerritoryIndex, area: usize) -> AreaRef {
    let area = index.area(area);
    AreaRef { code: area.code.clone(), name: area.name.clone() }
}
