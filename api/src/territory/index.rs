//! In-memory spatial index of Albania's areas: which county, municipality and administrative
//! unit a point is in.
//!
//! Each level is resolved by its own boundaries (an R-tree of bounding boxes, then an exact
//! point-in-polygon test), constrained to the level above so the answer is always a consistent
//! chain. Where no boundary decides — none imported, a gap between two sources' lines, or several
//! units sharing one outline like Tirana's urban units inside the city boundary — the nearest
//! centroid among the candidates answers, and says so.

use std::collections::HashMap;

use geo::{Contains, Distance, Haversine, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use terren_contract::areas::{AreaLevel, LocateMethod};

/// One area as the index sees it.
#[derive(Debug, Clone)]
pub struct IndexedArea {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: AreaLevel,
    pub parent: Option<usize>,
    pub centroid: Point<f64>,
    pub boundary: Option<usize>,
}

/// What the index is built from: areas (with parent and boundary keys) and boundaries.
pub struct AreaInput {
    pub id: String,
    pub code: String,
    pub name: String,
    pub level: AreaLevel,
    pub parent_id: Option<String>,
    pub centroid_lat: f64,
    pub centroid_lon: f64,
    pub boundary_id: Option<String>,
}

pub struct BoundaryInput {
    pub id: String,
    pub geometry: MultiPolygon<f64>,
}

struct IndexedBoundary {
    geometry: MultiPolygon<f64>,
    areas: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub area: usize,
    pub method: LocateMethod,
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub county: Option<Resolved>,
    pub municipality: Option<Resolved>,
    pub admin_unit: Option<Resolved>,
}

impl Location {
    pub fn method(&self) -> LocateMethod {
        let levels = [&self.county, &self.municipality, &self.admin_unit];
        if levels.iter().all(|l| l.is_none()) {
            LocateMethod::Outside
        } else if levels.iter().flat_map(|l| l.iter()).all(|r| r.method == LocateMethod::Boundary) {
            LocateMethod::Boundary
        } else {
            LocateMethod::NearestCentroid
        }
    }
}

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, usize>;

pub struct TerritoryIndex {
    areas: Vec<IndexedArea>,
    by_code: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    children: Vec<Vec<usize>>,
    boundaries: Vec<IndexedBoundary>,
    boundary_trees: [RTree<BoxEntry>; 3],
    /// Areas per level, for the centroid fallback when nothing is known above.
    by_level: [Vec<usize>; 3],
    /// Every county, or every municipality, has a boundary: a point in none of them is outside
    /// Albania. With only some boundaries imported, the rest of the country still answers by
    /// centroid.
    country_covered: bool,
    max_centroid_distance_m: f64,
}

fn level_slot(level: AreaLevel) -> usize {
    match level {
        AreaLevel::County => 0,
        AreaLevel::Municipality => 1,
        AreaLevel::AdminUnit => 2,
    }
}

impl TerritoryIndex {
    pub fn build(
        areas: Vec<AreaInput>,
        boundaries: Vec<BoundaryInput>,
        max_centroid_distance_km: f64,
    ) -> TerritoryIndex {
        let index_of_area: HashMap<String, usize> = areas.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        let index_of_boundary: HashMap<String, usize> =
            boundaries.iter().enumerate().map(|(i, b)| (b.id.clone(), i)).collect();
        let mut indexed_boundaries: Vec<IndexedBoundary> =
            boundaries.into_iter().map(|b| IndexedBoundary { geometry: b.geometry, areas: Vec::new() }).collect();
        let mut indexed = Vec::with_capacity(areas.len());
        let mut children = vec![Vec::new(); areas.len()];
        let mut by_level: [Vec<usize>; 3] = Default::default();
        let mut boundary_level: HashMap<usize, AreaLevel> = HashMap::new();
        for (i, area) in areas.into_iter().enumerate() {
            let parent = area.parent_id.as_ref().and_then(|p| index_of_area.get(p).copied());
            if let Some(parent) = parent {
                children[parent].push(i);
            }
            let boundary = area.boundary_id.as_ref().and_then(|b| index_of_boundary.get(b).copied());
            if let Some(b) = boundary {
                indexed_boundaries[b].areas.push(i);
                boundary_level.insert(b, area.level);
            }
            by_level[level_slot(area.level)].push(i);
            indexed.push(IndexedArea {
                id: area.id,
                code: area.code,
                name: area.name,
                level: area.level,
                parent,
                centroid: Point::new(area.centroid_lon, area.centroid_lat),
                boundary,
            });
        }
        let mut boxes: [Vec<BoxEntry>; 3] = Default::default();
        for (b, boundary) in indexed_boundaries.iter().enumerate() {
            let (Some(level), Some(rect)) =
                (boundary_level.get(&b), geo::BoundingRect::bounding_rect(&boundary.geometry))
            else {
                continue;
            };
            let rectangle = Rectangle::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
            boxes[level_slot(*level)].push(GeomWithData::new(rectangle, b));
        }
        let by_code = indexed.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
        let by_id = indexed.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        let level_covered = |level: AreaLevel| {
            let areas = &by_level[level_slot(level)];
            !areas.is_empty() && areas.iter().all(|a: &usize| indexed[*a].boundary.is_some())
        };
        let country_covered = level_covered(AreaLevel::County) || level_covered(AreaLevel::Municipality);
        let [counties, municipalities, units] = boxes;
        TerritoryIndex {
            areas: indexed,
            by_code,
            by_id,
            children,
            boundaries: indexed_boundaries,
            boundary_trees: [RTree::bulk_load(counties), RTree::bulk_load(municipalities), RTree::bulk_load(units)],
            by_level,
            country_covered,
            max_centroid_distance_m: max_centroid_distance_km * 1000.0,
        }
    }

    pub fn area(&self, index: usize) -> &IndexedArea {
        &self.areas[index]
    }

    pub fn find_code(&self, code: &str) -> Option<usize> {
        self.by_code.get(code).copied()
    }

    pub fn find_id(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// Number of areas that have a boundary.
    pub fn boundary_count(&self) -> usize {
        self.areas.iter().filter(|a| a.boundary.is_some()).count()
    }

    /// The area and all areas below it.
    pub fn descendants(&self, root: usize) -> Vec<usize> {
        let mut out = vec![root];
        let mut next = 0;
        while next < out.len() {
            out.extend_from_slice(&self.children[out[next]]);
            next += 1;
        }
        out
    }

    /// Areas at `level` whose boundary contains the point.
    fn containing(&self, level: AreaLevel, point: Point<f64>) -> Vec<usize> {
        let probe = AABB::from_point([point.x(), point.y()]);
        let mut hits = Vec::new();
        for entry in self.boundary_trees[level_slot(level)].locate_in_envelope_intersecting(&probe) {
            let boundary = &self.boundaries[entry.data];
            if boundary.geometry.contains(&point) {
                hits.extend(boundary.areas.iter().copied().filter(|a| self.areas[*a].level == level));
            }
        }
        hits
    }

    fn nearest(&self, candidates: &[usize], point: Point<f64>, capped: bool) -> Option<Resolved> {
        candidates
            .iter()
            .map(|&a| (a, Haversine.distance(point, self.areas[a].centroid)))
            .filter(|(_, d)| !capped || *d <= self.max_centroid_distance_m)
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(area, d)| Resolved { area, method: LocateMethod::NearestCentroid, distance_m: Some(d) })
    }

    /// Resolves one level below `parent` (or at the top when `parent` is `None`).
    fn resolve_level(&self, level: AreaLevel, parent: Option<&Resolved>, point: Point<f64>) -> Option<Resolved> {
        let hits = self.containing(level, point);
        let in_parent: Vec<usize> = match parent {
            Some(p) => hits.iter().copied().filter(|a| self.areas[*a].parent == Some(p.area)).collect(),
            None => hits.clone(),
        };
        let boundary_hit = |candidates: &[usize]| match candidates {
            [] => None,
            [only] => Some(Resolved { area: *only, method: LocateMethod::Boundary, distance_m: None }),
            // Several areas share one outline (Tirana's urban units): the centroid decides.
            several => self.nearest(several, point, false),
        };
        if let Some(found) = boundary_hit(&in_parent) {
            return Some(found);
        }
        match parent {
            // Inside the parent but no child's boundary says where: the nearest child centroid.
            Some(p) => self.nearest(&self.children[p.area], point, p.method != LocateMethod::Boundary),
            None => boundary_hit(&hits),
        }
    }

    pub fn locate(&self, lat: f64, lon: f64) -> Location {
        let point = Point::new(lon, lat);
        let county = self.resolve_level(AreaLevel::County, None, point);
        let mut municipality = self.resolve_level(AreaLevel::Municipality, county.as_ref(), point);
        if municipality.is_none() && county.is_none() {
            municipality = self.resolve_level(AreaLevel::Municipality, None, point);
        }
        let admin_unit = match &municipality {
            Some(m) => self.resolve_level(AreaLevel::AdminUnit, Some(m), point),
            None => self.resolve_level(AreaLevel::AdminUnit, None, point),
        };
        let mut location = Location { county, municipality, admin_unit };
        self.fill_upwards(&mut location);
        if location.county.is_none() && location.municipality.is_none() && location.admin_unit.is_none() {
            return self.centroid_only(point);
        }
        location
    }

    /// A level decided by a boundary below it implies the levels above.
    fn fill_upwards(&self, location: &mut Location) {
        if location.municipality.is_none()
            && let Some(unit) = &location.admin_unit
        {
            location.municipality =
                self.areas[unit.area].parent.map(|p| Resolved { area: p, method: unit.method, distance_m: None });
        }
        if location.county.is_none()
            && let Some(municipality) = &location.municipality
        {
            location.county = self.areas[municipality.area].parent.map(|p| Resolved {
                area: p,
                method: municipality.method,
                distance_m: None,
            });
        }
    }

    /// No boundary contains the point. If the boundaries cover the country, it is outside
    /// Albania (at sea, abroad); otherwise the nearest municipality centroid within the
    /// configured distance.
    fn centroid_only(&self, point: Point<f64>) -> Location {
        let outside = Location { county: None, municipality: None, admin_unit: None };
        if self.country_covered {
            return outside;
        }
        // Administrative units are dense (386 centroids against 61), so the nearest unit says
        // more about the municipality than the nearest municipality centroid does: central
        // Tirana is nearer Kamëz's centroid than the far-off centroid of the huge Tiranë.
        if let Some(unit) = self.nearest(&self.by_level[level_slot(AreaLevel::AdminUnit)], point, true) {
            let parent_of = |area: usize| {
                self.areas[area].parent.map(|p| Resolved {
                    area: p,
                    method: LocateMethod::NearestCentroid,
                    distance_m: None,
                })
            };
            let municipality = parent_of(unit.area);
            let county = municipality.as_ref().and_then(|m| parent_of(m.area));
            return Location { county, municipality, admin_unit: Some(unit) };
        }
        let Some(municipality) = self.nearest(&self.by_level[level_slot(AreaLevel::Municipality)], point, true) else {
            return outside;
        };
        let county = self.areas[municipality.area].parent.map(|p| Resolved {
            area: p,
            method: LocateMethod::NearestCentroid,
            distance_m: None,
        });
        Location { county, municipality: Some(municipality), admin_unit: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon};

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        )])
    }

    fn area(id: &str, level: AreaLevel, parent: Option<&str>, lat: f64, lon: f64, boundary: Option<&str>) -> AreaInput {
        AreaInput {
            id: id.into(),
            code: id.into(),
            name: id.into(),
            level,
            parent_id: parent.map(Into::into),
            centroid_lat: lat,
            centroid_lon: lon,
            boundary_id: boundary.map(Into::into),
        }
    }

    /// County C (0..2 × 0..2) with municipalities M1 (x<1) and M2 (x≥1); M1 has units U1, U2 that
    /// share M1's outline (like Tirana's urban units), M2 has unit U3 with no boundary.
    fn sample(with_boundaries: bool) -> TerritoryIndex {
        let b = |id: &'static str| with_boundaries.then_some(id);
        let areas = vec![
            area("C", AreaLevel::County, None, 1.0, 1.0, b("bC")),
            area("M1", AreaLevel::Municipality, Some("C"), 1.0, 0.5, b("bM1")),
            area("M2", AreaLevel::Municipality, Some("C"), 1.0, 1.5, b("bM2")),
            area("U1", AreaLevel::AdminUnit, Some("M1"), 0.5, 0.5, b("bM1u")),
            area("U2", AreaLevel::AdminUnit, Some("M1"), 1.5, 0.5, b("bM1u")),
            area("U3", AreaLevel::AdminUnit, Some("M2"), 1.0, 1.5, None),
        ];
        let boundaries = if with_boundaries {
            vec![
                BoundaryInput { id: "bC".into(), geometry: square(0.0, 0.0, 2.0, 2.0) },
                BoundaryInput { id: "bM1".into(), geometry: square(0.0, 0.0, 1.0, 2.0) },
                BoundaryInput { id: "bM2".into(), geometry: square(1.0, 0.0, 2.0, 2.0) },
                BoundaryInput { id: "bM1u".into(), geometry: square(0.0, 0.0, 1.0, 2.0) },
            ]
        } else {
            Vec::new()
        };
        TerritoryIndex::build(areas, boundaries, 500.0)
    }

    fn codes(index: &TerritoryIndex, location: &Location) -> [Option<String>; 3] {
        [&location.county, &location.municipality, &location.admin_unit]
            .map(|r| r.as_ref().map(|r| index.area(r.area).code.clone()))
    }

    #[test]
    fn boundaries_decide_and_shared_outlines_fall_back_to_centroids() {
        let index = sample(true);
        let location = index.locate(1.8, 0.3);
        assert_eq!(codes(&index, &location), [Some("C".into()), Some("M1".into()), Some("U2".into())]);
        assert_eq!(location.municipality.as_ref().unwrap().method, LocateMethod::Boundary);
        assert_eq!(location.admin_unit.as_ref().unwrap().method, LocateMethod::NearestCentroid);
        assert_eq!(location.method(), LocateMethod::NearestCentroid);
        // A unit without a boundary inside a municipality with one.
        let location = index.locate(0.2, 1.9);
        assert_eq!(codes(&index, &location), [Some("C".into()), Some("M2".into()), Some("U3".into())]);
    }

    #[test]
    fn outside_every_boundary_is_outside() {
        let index = sample(true);
        let location = index.locate(5.0, 5.0);
        assert_eq!(codes(&index, &location), [None, None, None]);
        assert_eq!(location.method(), LocateMethod::Outside);
    }

    #[test]
    fn without_boundaries_the_nearest_centroid_answers_within_the_cap() {
        let index = sample(false);
        let location = index.locate(1.1, 1.6);
        assert_eq!(codes(&index, &location), [Some("C".into()), Some("M2".into()), Some("U3".into())]);
        assert_eq!(location.method(), LocateMethod::NearestCentroid);
        // 500 km cap: a point 20° away is outside.
        assert_eq!(index.locate(21.0, 21.0).method(), LocateMethod::Outside);
    }

    #[test]
    fn a_partial_import_leaves_the_rest_of_the_country_to_centroids() {
        // Only M1 has an outline; a point in M2 is still located, by centroid.
        let areas = vec![
            area("C", AreaLevel::County, None, 1.0, 1.0, None),
            area("M1", AreaLevel::Municipality, Some("C"), 1.0, 0.5, Some("bM1")),
            area("M2", AreaLevel::Municipality, Some("C"), 1.0, 1.5, None),
        ];
        let boundaries = vec![BoundaryInput { id: "bM1".into(), geometry: square(0.0, 0.0, 1.0, 2.0) }];
        let index = TerritoryIndex::build(areas, boundaries, 500.0);
        let location = index.locate(1.0, 1.6);
        assert_eq!(codes(&index, &location)[1], Some("M2".into()));
        assert_eq!(location.method(), LocateMethod::NearestCentroid);
        let location = index.locate(1.0, 0.4);
        assert_eq!(location.municipality.unwrap().method, LocateMethod::Boundary);
    }

    #[test]
    fn descendants_include_the_root_and_everything_below() {
        let index = sample(false);
        let mut found: Vec<String> =
            index.descendants(index.find_code("M1").unwrap()).iter().map(|i| index.area(*i).code.clone()).collect();
        found.sort();
        assert_eq!(found, vec!["M1", "U1", "U2"]);
    }
}
