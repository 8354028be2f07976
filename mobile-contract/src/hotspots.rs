//! Hotspots: named places where children are found, and suggestions of new ones from where
//! sightings cluster.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::areas::LatLon;
use crate::auth::AgencyRef;
use crate::identifications::AreaRef;

/// The place: a circle around a point, or a polygon (one ring of `[lon, lat]` pairs, GeoJSON
/// order, closed or not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HotspotShape {
    Circle {
        lat: f64,
        lon: f64,
        /// 10–2,000 m.
        radius_m: f64,
    },
    Polygon {
        /// 3–500 distinct corners.
        coordinates: Vec<[f64; 2]>,
    },
}

/// Create or replace a hotspot (`planning_manage`). It must lie in the areas your agency serves.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutHotspot {
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    /// `hotspot_kind` code: `traffic_light_junction`, `market`, `station`...
    #[validate(length(min = 1, max = 64))]
    pub kind: String,
    pub shape: HotspotShape,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
    #[serde(default = "active")]
    pub active: bool,
    /// The `version` you read, when replacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

fn active() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HotspotRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Hotspot {
    pub id: Uuid,
    pub agency: AgencyRef,
    pub name: String,
    pub kind: String,
    pub shape: HotspotShape,
    pub centroid: LatLon,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_unit: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub active: bool,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HotspotListQuery {
    /// Area code: hotspots in this area or below it.
    pub area: Option<String>,
    /// Include inactive ones.
    pub include_inactive: Option<bool>,
}

/// Where recent sightings cluster and no active hotspot covers them.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// Area code (a municipality or an administrative unit).
    pub area: String,
    /// Sightings of the last `days` (1–365, default 60).
    pub days: Option<u32>,
    /// Two sightings this close (metres, 10–1,000, default 100) are neighbours.
    pub distance_m: Option<f64>,
    /// Sightings a cluster needs around one of its points (2–100, default 5).
    pub min_sightings: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HotspotSuggestion {
    pub centroid: LatLon,
    /// The farthest sighting of the cluster from its centroid.
    pub radius_m: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_unit: Option<AreaRef>,
    pub sightings: i64,
    /// Different child profiles among the sightings; sightings not linked to a profile are
    /// counted in `unlinked_sightings`.
    pub distinct_children: i64,
    pub unlinked_sightings: i64,
    /// Sightings per local hour of day, index 0 = 00:00–00:59.
    pub by_hour: Vec<i64>,
    /// Sightings per weekday, index 0 = Monday.
    pub by_weekday: Vec<i64>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HotspotSuggestions {
    pub area: AreaRef,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Sightings with a location in the area and period, and those already inside a hotspot.
    pub sightings_considered: i64,
    pub sightings_in_hotspots: i64,
    /// Largest cluster first.
    pub suggestions: Vec<HotspotSuggestion>,
}
