//! A hotspot's shape: checked, measured (centroid, bounding box) and asked whether a point lies
//! in it.

use geo::{BoundingRect, Centroid, Closest, ClosestPoint, Contains, Distance, Haversine, LineString, Point, Polygon};
use terren_contract::hotspots::HotspotShape;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;

const MIN_RADIUS_M: f64 = 10.0;
const MAX_RADIUS_M: f64 = 2_000.0;
const MAX_CORNERS: usize = 500;
/// Corners of the polygon a circle is drawn as on a map.
const CIRCLE_CORNERS: u32 = 32;
/// Metres per degree of latitude, for bounding boxes of circles.
const METRES_PER_DEGREE: f64 = 111_320.0;

/// A shape ready for containment tests.
#[derive(Debug, Clone)]
pub enum Shape {
    Circle { center: Point<f64>, radius_m: f64 },
    Polygon(Polygon<f64>),
}

fn error(field: &str, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), code, message: message.into() }
}

fn valid_point(lat: f64, lon: f64) -> bool {
    lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

impl Shape {
    pub fn parse(shape: &HotspotShape) -> Result<Shape, Vec<FieldError>> {
        match shape {
            HotspotShape::Circle { lat, lon, radius_m } => {
                let mut errors = Vec::new();
                if !valid_point(*lat, *lon) {
                    errors.push(error("shape", FieldErrorCode::OutOfRange, "lat −90..90, lon −180..180"));
                }
                if !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(radius_m) {
                    errors.push(error("shape.radius_m", FieldErrorCode::OutOfRange, "10 to 2,000 metres"));
                }
                if errors.is_empty() {
                    Ok(Shape::Circle { center: Point::new(*lon, *lat), radius_m: *radius_m })
                } else {
                    Err(errors)
                }
            }
            HotspotShape::Polygon { coordinates } => {
                let mut corners: Vec<(f64, f64)> = coordinates.iter().map(|[lon, lat]| (*lon, *lat)).collect();
                if corners.len() > 1 && corners.first() == corners.last() {
                    corners.pop();
                }
                if corners.iter().any(|(lon, lat)| !valid_point(*lat, *lon)) {
                    return Err(vec![error(
                        "shape.coordinates",
                        FieldErrorCode::OutOfRange,
                        "[lon, lat] pairs in range",
                    )]);
                }
                if corners.len() < 3 || corners.len() > MAX_CORNERS {
                    return Err(vec![error(
                        "shape.coordinates",
                        FieldErrorCode::InvalidValue,
                        "3 to 500 distinct corners",
                    )]);
                }
                let polygon = Polygon::new(LineString::from(corners), Vec::new());
                let area = geo::Area::unsigned_area(&polygon);
                if area <= 0.0 {
                    return Err(vec![error(
                        "shape.coordinates",
                        FieldErrorCode::InvalidValue,
                        "the corners enclose no area",
                    )]);
                }
                let shape = Shape::Polygon(polygon);
                let (min_lat, min_lon, max_lat, max_lon) = shape.bounds();
                let across = Haversine.distance(Point::new(min_lon, min_lat), Point::new(max_lon, max_lat));
                if across > 2.0 * MAX_RADIUS_M {
                    return Err(vec![error(
                        "shape.coordinates",
                        FieldErrorCode::OutOfRange,
                        "a hotspot is a place, at most 4 km corner to corner; use areas for more",
                    )]);
                }
                Ok(shape)
            }
        }
    }

    pub fn centroid(&self) -> Point<f64> {
        match self {
            Shape::Circle { center, .. } => *center,
            Shape::Polygon(polygon) => polygon.centroid().unwrap_or_else(|| Point::new(0.0, 0.0)),
        }
    }

    /// (min lat, min lon, max lat, max lon).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        match self {
            Shape::Circle { center, radius_m } => {
                let dlat = radius_m / METRES_PER_DEGREE;
                let dlon = radius_m / (METRES_PER_DEGREE * center.y().to_radians().cos().max(0.01));
                (center.y() - dlat, center.x() - dlon, center.y() + dlat, center.x() + dlon)
            }
            Shape::Polygon(polygon) => match polygon.bounding_rect() {
                Some(rect) => (rect.min().y, rect.min().x, rect.max().y, rect.max().x),
                None => (0.0, 0.0, 0.0, 0.0),
            },
        }
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let point = Point::new(lon, lat);
        match self {
            Shape::Circle { center, radius_m } => Haversine.distance(*center, point) <= *radius_m,
            Shape::Polygon(polygon) => polygon.contains(&point),
        }
    }

    /// The outline as a closed GeoJSON ring of `[lon, lat]`: a polygon's corners, or a circle as a
    /// 32-gon (RFC 7946 has no circles). Counterclockwise, as RFC 7946 wants exterior rings,
    /// whichever way the corners were drawn.
    pub fn ring(&self) -> Vec<[f64; 2]> {
        let mut ring: Vec<[f64; 2]> = match self {
            Shape::Circle { center, radius_m } => (0..CIRCLE_CORNERS)
                .map(|i| {
                    let bearing = 360.0 * f64::from(i) / f64::from(CIRCLE_CORNERS);
                    let corner = geo::Destination::destination(&Haversine, *center, bearing, *radius_m);
                    [corner.x(), corner.y()]
                })
                .collect(),
            Shape::Polygon(polygon) => polygon.exterior().points().map(|p| [p.x(), p.y()]).collect(),
        };
        if ring.first() != ring.last()
            && let Some(first) = ring.first().copied()
        {
            ring.push(first);
        }
        if signed_area(&ring) < 0.0 {
            ring.reverse();
        }
        ring
    }

    /// Metres from the shape (0 inside it).
    pub fn distance_m(&self, lat: f64, lon: f64) -> f64 {
        let point = Point::new(lon, lat);
        match self {
            Shape::Circle { center, radius_m } => (Haversine.distance(*center, point) - radius_m).max(0.0),
            Shape::Polygon(polygon) if polygon.contains(&point) => 0.0,
            // The nearest point of the outline, found in degrees: close enough at a hotspot's size.
            Shape::Polygon(polygon) => match polygon.exterior().closest_point(&point) {
                Closest::Intersection(nearest) | Closest::SinglePoint(nearest) => Haversine.distance(nearest, point),
                Closest::Indeterminate => f64::INFINITY,
            },
        }
    }
}

/// Twice the signed area of a closed ring (shoelace): positive when it runs counterclockwise.
fn signed_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2).map(|pair| pair[0][0] * pair[1][1] - pair[1][0] * pair[0][1]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> HotspotShape {
        // About 110 m × 85 m around the Skanderbeg Square lights.
        HotspotShape::Polygon {
            coordinates: vec![[19.8180, 41.3270], [19.8190, 41.3270], [19.8190, 41.3280], [19.8180, 41.3280]],
        }
    }

    #[test]
    fn rings_run_counterclockwise_however_they_were_drawn() {
        let circle = Shape::parse(&HotspotShape::Circle { lat: 41.3275, lon: 19.8187, radius_m: 100.0 }).unwrap();
        let HotspotShape::Polygon { coordinates } = square() else { unreachable!() };
        let mut clockwise = coordinates.clone();
        clockwise.reverse();
        for shape in [
            circle,
            Shape::parse(&square()).unwrap(),
            Shape::parse(&HotspotShape::Polygon { coordinates: clockwise }).unwrap(),
        ] {
            let ring = shape.ring();
            assert_eq!(ring.first(), ring.last(), "closed");
            assert!(signed_area(&ring) > 0.0, "counterclockwise: {ring:?}");
        }
    }

    #[test]
    fn circles_and_polygons_contain_what_lies_inside() {
        let circle = Shape::parse(&HotspotShape::Circle { lat: 41.3275, lon: 19.8187, radius_m: 100.0 }).unwrap();
        assert!(circle.contains(41.3275, 19.8187));
        assert!(circle.contains(41.3283, 19.8187), "about 89 m north");
        assert!(!circle.contains(41.3285, 19.8187), "about 111 m north");
        let polygon = Shape::parse(&square()).unwrap();
        assert!(polygon.contains(41.3275, 19.8185));
        assert!(!polygon.contains(41.3285, 19.8185));
        let (min_lat, min_lon, max_lat, max_lon) = polygon.bounds();
        assert_eq!((min_lat, min_lon, max_lat, max_lon), (41.3270, 19.8180, 41.3280, 19.8190));
        let (lat, lon) = (polygon.centroid().y(), polygon.centroid().x());
        assert!((lat - 41.3275).abs() < 1e-9 && (lon - 19.8185).abs() < 1e-9);
    }

    #[test]
    fn distances_are_to_the_nearest_edge() {
        let polygon = Shape::parse(&square()).unwrap();
        assert_eq!(polygon.distance_m(41.3275, 19.8185), 0.0, "inside");
        // 0.0010° of latitude (about 111 m) north of the middle of the northern edge, whose
        // corners are about 121 m away.
        let north = polygon.distance_m(41.3290, 19.8185);
        assert!((north - 111.2).abs() < 0.5, "{north}");
        let circle = Shape::parse(&HotspotShape::Circle { lat: 41.3275, lon: 19.8187, radius_m: 100.0 }).unwrap();
        let beyond = circle.distance_m(41.3295, 19.8187);
        assert!((beyond - 122.4).abs() < 0.5, "{beyond}");
    }

    #[test]
    fn outlines_are_closed_rings_on_the_shape_s_edge() {
        let circle = Shape::parse(&HotspotShape::Circle { lat: 41.3275, lon: 19.8187, radius_m: 100.0 }).unwrap();
        let ring = circle.ring();
        assert_eq!(ring.len(), 33);
        assert_eq!(ring.first(), ring.last());
        for [lon, lat] in &ring {
            let distance = Haversine.distance(Point::new(19.8187, 41.3275), Point::new(*lon, *lat));
            assert!((distance - 100.0).abs() < 0.01, "{distance}");
        }
        assert_eq!(Shape::parse(&square()).unwrap().ring().len(), 5);
    }

    #[test]
    fn a_circle_s_box_holds_the_circle() {
        let circle = Shape::parse(&HotspotShape::Circle { lat: 41.3275, lon: 19.8187, radius_m: 500.0 }).unwrap();
        let (min_lat, min_lon, max_lat, max_lon) = circle.bounds();
        for bearing in 0..36 {
            let angle = f64::from(bearing * 10).to_radians();
            let lat = 41.3275 + 0.99 * 500.0 / METRES_PER_DEGREE * angle.cos();
            let lon = 19.8187 + 0.99 * 500.0 / (METRES_PER_DEGREE * 41.3275_f64.to_radians().cos()) * angle.sin();
            assert!(circle.contains(lat, lon), "{bearing}");
            assert!((min_lat..=max_lat).contains(&lat) && (min_lon..=max_lon).contains(&lon), "{bearing}");
        }
    }

    #[test]
    fn bad_shapes_are_named() {
        let codes = |shape: HotspotShape| -> Vec<String> {
            Shape::parse(&shape).err().unwrap_or_default().into_iter().map(|e| e.code.as_str().to_owned()).collect()
        };
        assert_eq!(codes(HotspotShape::Circle { lat: 41.3, lon: 19.8, radius_m: 5.0 }), ["out_of_range"]);
        assert_eq!(codes(HotspotShape::Circle { lat: 141.3, lon: 19.8, radius_m: 50.0 }), ["out_of_range"]);
        assert_eq!(
            codes(HotspotShape::Polygon { coordinates: vec![[19.8, 41.3], [19.9, 41.3], [19.9, 41.4]] }),
            ["out_of_range"],
            "a triangle 8 km across"
        );
        assert_eq!(
            codes(HotspotShape::Polygon { coordinates: vec![[19.8, 41.3], [19.9, 41.3], [19.8, 41.3]] }),
            ["invalid_value"],
            "two corners once the ring is opened"
        );
        assert_eq!(
            codes(HotspotShape::Polygon { coordinates: vec![[19.8, 41.3], [19.9, 41.3], [20.0, 41.3]] }),
            ["invalid_value"],
            "a straight line encloses nothing"
        );
        assert!(codes(square()).is_empty());
    }
}
