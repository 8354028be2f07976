use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    County,
    Municipality,
    AdminUnit,
}

impl AreaLevel {
    pub const ALL: [AreaLevel; 3] = [AreaLevel::County, AreaLevel::Municipality, AreaLevel::AdminUnit];

    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::County => "county",
            AreaLevel::Municipality => "municipality",
            AreaLevel::AdminUnit => "admin_unit",
        }
    }

    pub fn parse(code: &str) -> Option<AreaLevel> {
        AreaLevel::ALL.into_iter().find(|level| level.as_str() == code)
    }
}

/// What an area is, within its level: an administrative unit may be one of Tirana's urban units or
/// lagje.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    /// Qark.
    County,
    /// Bashki.
    Municipality,
    /// Njësi administrative.
    AdministrativeUnit,
    /// Njësi bashkiake, one of Tirana's urban units.
    UrbanUnit,
    /// Lagje.
    Neighbourhood,
}

impl AreaKind {
    /// The kind of an area of the level unless it says otherwise.
    pub fn of_level(level: AreaLevel) -> AreaKind {
        match level {
            AreaLevel::County => AreaKind::County,
            AreaLevel::Municipality => AreaKind::Municipality,
            AreaLevel::AdminUnit => AreaKind::AdministrativeUnit,
        }
    }
}

/// A county (qark), municipality (bashki) or administrative unit (njësi administrative, also
/// Tirana's urban units and lagje).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Area {
    pub id: Uuid,
    /// ISO 3166-2 for counties (`AL-11`), Eurostat LAU for municipalities (`AL221`),
    /// `{municipality}-{NN}` for administrative units.
    pub code: String,
    pub level: AreaLevel,
    pub kind: AreaKind,
    /// Official Albanian name with diacritics.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_code: Option<String>,
    pub centroid: LatLon,
    /// True where the centroid is an estimate (e.g. Tirana's urban units).
    pub centroid_approximate: bool,
    /// True once a boundary has been imported for this area.
    pub has_boundary: bool,
    pub aliases: Vec<String>,
    /// Sub-areas, when the tree is requested.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub children: Vec<Area>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AreaListQuery {
    /// Only areas of this level.
    pub level: Option<AreaLevel>,
    /// Only direct children of the area with this code.
    pub parent: Option<String>,
    /// Name, alias or code fragment; diacritics and case are ignored (`kamez` finds Kamëz).
    pub q: Option<String>,
    /// Return counties with their municipalities and units nested (`tree=true`), ignoring
    /// `level`.
    pub tree: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateQuery {
    /// Latitude, WGS84, −90..90.
    pub lat: f64,
    /// Longitude, WGS84, −180..180.
    pub lon: f64,
}

/// How a level of the answer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocateMethod {
    /// An imported boundary contains the point.
    Boundary,
    /// No boundary decided it: the area with the nearest centroid (within the boundary of the
    /// level above, when there is one).
    NearestCentroid,
    /// The point lies outside every boundary of Albania (e.g. at sea): nothing is assigned.
    Outside,
}

impl LocateMethod {
    pub const ALL: [LocateMethod; 3] = [LocateMethod::Boundary, LocateMethod::NearestCentroid, LocateMethod::Outside];

    pub fn as_str(self) -> &'static str {
        match self {
            LocateMethod::Boundary => "boundary",
            LocateMethod::NearestCentroid => "nearest_centroid",
            LocateMethod::Outside => "outside",
        }
    }

    pub fn parse(code: &str) -> Option<LocateMethod> {
        LocateMethod::ALL.into_iter().find(|method| method.as_str() == code)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocatedArea {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub method: LocateMethod,
    /// Distance to the centroid, for `nearest_centroid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

/// The county, municipality and administrative unit for a point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocateResponse {
    pub point: LatLon,
    pub county: Option<LocatedArea>,
    pub municipality: Option<LocatedArea>,
    pub admin_unit: Option<LocatedArea>,
    /// `boundary` when every level was decided by a boundary, `nearest_centroid` when any level
    /// fell back to centroids, `outside` when the point is in no area.
    pub method: LocateMethod,
}
