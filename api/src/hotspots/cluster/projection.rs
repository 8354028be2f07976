//! Distances for clustering: an equirectangular projection to metres around the points' mean
//! latitude, where neighbours are found by comparing squared distances.

use std::f64::consts::PI;

use super::Point;

/// Mean Earth radius (IUGG), the one `geo`'s haversine uses, so that projected and haversine
/// distances agree.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
const METRES_PER_DEGREE_LATITUDE: f64 = EARTH_RADIUS_M * PI / 180.0;

/// Into [-180, 180); a longitude already there is left exactly as it is.
pub(super) fn wrap_degrees(degrees: f64) -> f64 {
    if (-180.0..180.0).contains(&degrees) { degrees } else { (degrees + 180.0).rem_euclid(360.0) - 180.0 }
}

/// Equirectangular projection to metres, east and north of a reference point: one cosine for the
/// whole set instead of trigonometry for every pair, and squared distances that a uniform grid
/// can index. Taking the scale of longitude at the mean latitude errs by about tan(latitude) times
/// the latitude span in radians: at 42° and 20 km from the mean latitude, 0.3%, or 3 m at a
/// 1 km distance, negligible for finding clusters. Longitudes are measured the short way round,
/// so a city on the antimeridian stays in one piece.
pub(super) struct LocalProjection {
    origin: Point,
    metres_per_degree_longitude: f64,
}

impl LocalProjection {
    /// At the mean latitude of the finite points and the longitude of the first; `None` if no
    /// point is finite.
    pub(super) fn around(points: &[Point]) -> Option<Self> {
        let mut finite = points.iter().copied().filter(|p| p.is_finite());
        let first = finite.next()?;
        let (lat_sum, count) = finite.fold((first.lat, 1_usize), |(sum, count), p| (sum + p.lat, count + 1));
        let mean_lat = lat_sum / count as f64;
        Some(Self {
            origin: Point { lat: mean_lat, lon: first.lon },
            metres_per_degree_longitude: METRES_PER_DEGREE_LATITUDE * mean_lat.to_radians().cos(),
        })
    }

    /// Metres east and north of the origin; `None` for a point without finite coordinates.
    pub(super) fn to_metres(&self, point: Point) -> Option<(f64, f64)> {
        point.is_finite().then(|| {
            (
                wrap_degrees(point.lon - self.origin.lon) * self.metres_per_degree_longitude,
                (point.lat - self.origin.lat) * METRES_PER_DEGREE_LATITUDE,
            )
        })
    }
}

/// Whether two projected positions are at most `sqrt(eps_squared)` metres apart.
pub(super) fn within(a: (f64, f64), b: (f64, f64), eps_squared: f64) -> bool {
    let (dx, dy) = (a.0 - b.0, a.1 - b.1);
    dx * dx + dy * dy <= eps_squared
}

/// Tirana's centre, where the tests put their points.
#[cfg(test)]
pub(super) const TIRANA: Point = Point { lat: 41.3275, lon: 19.8187 };

/// The point `east_m` east and `north_m` north of `origin`, on the sphere's local tangent.
#[cfg(test)]
pub(super) fn offset(origin: Point, east_m: f64, north_m: f64) -> Point {
    Point {
        lat: origin.lat + north_m / METRES_PER_DEGREE_LATITUDE,
        lon: wrap_degrees(origin.lon + east_m / (METRES_PER_DEGREE_LATITUDE * origin.lat.to_radians().cos())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::haversine_m;
    use super::*;

    #[test]
    fn projected_distances_match_haversine_at_city_scale() {
        // Points up to 10 km either side of the mean latitude, pairs 1 km apart.
        let points: Vec<Point> = (-10..=10)
            .flat_map(|north_km| {
                let from = offset(TIRANA, 0.0, 1000.0 * f64::from(north_km));
                [from, offset(from, 600.0, 800.0)]
            })
            .collect();
        let projection = LocalProjection::around(&points).unwrap();

        for pair in points.chunks(2) {
            let (a, b) = (projection.to_metres(pair[0]).unwrap(), projection.to_metres(pair[1]).unwrap());
            let projected = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
            let haversine = haversine_m(pair[0], pair[1]);
            assert!((projected - haversine).abs() < 2.0, "{pair:?}: {projected} m projected, {haversine} m");
        }
    }
}
