//! Density-based clustering (DBSCAN) of places on the map, used to find groups of recent sightings
//! that could become hotspots. Pure and in memory: the caller chooses the points and the distance.
//!
//! A point with at least `min_points` points within `eps_m` of it (itself included) is a core
//! point; core points within `eps_m` of each other share a cluster, and a point that is not core
//! joins the cluster of the first core point that reaches it, or is noise. Points are projected to
//! metres (`projection`) and bucketed in a grid of cells (`grid`), so that only nearby points are
//! compared.

mod grid;
mod projection;

use geo::{Distance, Haversine};

use grid::Grid;
use projection::{LocalProjection, within, wrap_degrees};

/// A WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    fn is_finite(self) -> bool {
        self.lat.is_finite() && self.lon.is_finite()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Two points are neighbours when at most this many metres apart.
    pub eps_m: f64,
    /// How many neighbours, the point itself included, make a point a core point.
    pub min_points: usize,
}

impl Params {
    /// A negative or NaN distance makes only identical points neighbours.
    fn eps_squared(self) -> f64 {
        let eps = self.eps_m.max(0.0);
        eps * eps
    }
}

/// A circle on the map: centre and radius in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub centre: Point,
    pub radius_m: f64,
}

/// Clusters `points` with DBSCAN. Returns one label per point, in input order: `Some(cluster)`,
/// numbered from 0 in the order of each cluster's first core point in the input, or `None` for
/// noise. Points without finite coordinates are noise and nobody's neighbour.
///
/// Distances are measured on an equirectangular projection around the points' mean latitude,
/// meant for a city, not a continent: at mid latitudes and within 20 km of the mean latitude,
/// distances err by less than 0.5%.
pub fn dbscan(points: &[Point], params: Params) -> Vec<Option<usize>> {
    let mut labels = vec![None; points.len()];
    let Some(projection) = LocalProjection::around(points) else {
        return labels;
    };
    let grid = Grid::new(points.iter().map(|p| projection.to_metres(*p)).collect(), params);
    let is_core = grid.core_points(params.min_points);
    // Inside a dense cluster, most cells around a core point have nobody left to label, and an
    // expansion skips them without measuring a single distance.
    let mut unlabelled_in_cell: Vec<usize> = grid.cells.iter().map(|cell| cell.members.len()).collect();

    let mut next_cluster = 0;
    let mut to_expand = Vec::new();
    for seed in 0..points.len() {
        if labels[seed].is_some() || !is_core[seed] {
            continue;
        }
        let cluster = next_cluster;
        next_cluster += 1;
        // The seed is its own neighbour: expanding it labels it.
        to_expand.push(seed);
        // A cluster is complete before the next one starts, so the order of expansion within a
        // cluster does not change the result: a border point goes to the lowest-numbered cluster
        // with a core point in reach.
        while let Some(core) = to_expand.pop() {
            let Some((cell, here)) = grid.placement[core] else { continue };
            for &around in &grid.cells[cell].around {
                if unlabelled_in_cell[around] == 0 {
                    continue;
                }
                for member in &grid.cells[around].members {
                    if labels[member.index].is_none() && within(here, member.position, grid.eps_squared) {
                        labels[member.index] = Some(cluster);
                        unlabelled_in_cell[around] -= 1;
                        if is_core[member.index] && member.index != core {
                            to_expand.push(member.index);
                        }
                    }
                }
            }
        }
    }
    labels
}

/// The centroid of the `members` of `points` and the haversine distance from it to the farthest
/// member; `None` without members. The centre's longitude is in [-180, 180), and a group that
/// straddles the antimeridian has its centre there rather than on the other side of the world.
///
/// # Panics
///
/// If a member is not an index into `points`.
pub fn centroid_and_radius(points: &[Point], members: &[usize]) -> Option<Circle> {
    let reference = points[*members.first()?];
    let (lat_sum, lon_offset_sum) = members
        .iter()
        .map(|&i| points[i])
        .fold((0.0, 0.0), |(lat_sum, lon_sum), p| (lat_sum + p.lat, lon_sum + wrap_degrees(p.lon - reference.lon)));
    let count = members.len() as f64;
    let centre = Point { lat: lat_sum / count, lon: wrap_degrees(reference.lon + lon_offset_sum / count) };
    let radius_m = members.iter().map(|&i| haversine_m(centre, points[i])).fold(0.0, f64::max);
    Some(Circle { centre, radius_m })
}

fn haversine_m(a: Point, b: Point) -> f64 {
    Haversine.distance(geo::Point::new(a.lon, a.lat), geo::Point::new(b.lon, b.lat))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, VecDeque};
    use std::f64::consts::PI;

    use proptest::prelude::*;

    use super::projection::{TIRANA, offset};
    use super::*;

    fn params(eps_m: f64, min_points: usize) -> Params {
        Params { eps_m, min_points }
    }

    /// Members of each cluster, by cluster number.
    fn clusters(labels: &[Option<usize>]) -> Vec<Vec<usize>> {
        let mut clusters: Vec<Vec<usize>> = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            if let Some(cluster) = *label {
                if clusters.len() <= cluster {
                    clusters.resize(cluster + 1, Vec::new());
                }
                clusters[cluster].push(i);
            }
        }
        clusters
    }

    fn noise(labels: &[Option<usize>]) -> Vec<usize> {
        labels.iter().enumerate().filter(|(_, label)| label.is_none()).map(|(i, _)| i).collect()
    }

    /// Textbook DBSCAN: neighbours by comparing every pair, breadth-first expansion, seeds in
    /// input order. Shares only the projection and the distance test with `dbscan`.
    fn naive_dbscan(points: &[Point], params: Params) -> Vec<Option<usize>> {
        let mut labels = vec![None; points.len()];
        let Some(projection) = LocalProjection::around(points) else {
            return labels;
        };
        let positions: Vec<_> = points.iter().map(|p| projection.to_metres(*p)).collect();
        let neighbours = |i: usize| -> Vec<usize> {
            let Some(here) = positions[i] else { return Vec::new() };
            (0..points.len())
                .filter(|&j| positions[j].is_some_and(|there| within(here, there, params.eps_squared())))
                .collect()
        };
        let is_core = |i: usize| positions[i].is_some() && neighbours(i).len() >= params.min_points;
        let mut next_cluster = 0;
        for seed in 0..points.len() {
            if labels[seed].is_some() || !is_core(seed) {
                continue;
            }
            labels[seed] = Some(next_cluster);
            let mut queue = VecDeque::from([seed]);
            while let Some(core) = queue.pop_front() {
                for neighbour in neighbours(core) {
                    if labels[neighbour].is_none() {
                        labels[neighbour] = Some(next_cluster);
                        if is_core(neighbour) {
                            queue.push_back(neighbour);
                        }
                    }
                }
            }
            next_cluster += 1;
        }
        labels
    }

    #[test]
    fn two_blobs_among_scattered_noise_are_two_clusters() {
        let blob_a = [(0.0, 0.0), (10.0, 5.0), (-8.0, 12.0), (15.0, -10.0), (-20.0, -5.0), (5.0, 25.0)];
        let blob_b = [(2000.0, 1500.0), (2010.0, 1490.0), (1995.0, 1520.0), (2025.0, 1505.0), (1980.0, 1480.0)];
        let scattered = [(-3000.0, 0.0), (0.0, 3000.0), (3000.0, -3000.0), (-2000.0, -2500.0), (1000.0, 700.0)];
        // Interleaved, so that members are found by index and not by position in the input.
        let mut points = Vec::new();
        let (mut expected_a, mut expected_b, mut expected_noise) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..6 {
            for (group, expected) in
                [(&blob_a[..], &mut expected_a), (&scattered[..], &mut expected_noise), (&blob_b[..], &mut expected_b)]
            {
                if let Some(&(east, north)) = group.get(i) {
                    expected.push(points.len());
                    points.push(offset(TIRANA, east, north));
                }
            }
        }

        let labels = dbscan(&points, params(50.0, 4));

        assert_eq!(clusters(&labels), vec![expected_a, expected_b]);
        assert_eq!(noise(&labels), expected_noise);
    }

    #[test]
    fn a_chain_of_neighbours_is_one_cluster() {
        // Each point is 40 m from the next: the ends are 1.6 km apart but density-reachable.
        let points: Vec<Point> = (0..41).map(|i| offset(TIRANA, 40.0 * f64::from(i), 0.0)).collect();

        let labels = dbscan(&points, params(50.0, 3));

        assert_eq!(labels, vec![Some(0); points.len()]);
        // The interior points have three neighbours each, themselves included, so need 3 to be core.
        assert_eq!(dbscan(&points, params(50.0, 4)), vec![None; points.len()]);
    }

    #[test]
    fn a_point_with_exactly_min_points_neighbours_counting_itself_is_core() {
        // The middle point reaches both others; each end point reaches only the middle one.
        let points = [offset(TIRANA, -30.0, 0.0), TIRANA, offset(TIRANA, 30.0, 0.0)];

        assert_eq!(dbscan(&points, params(40.0, 3)), vec![Some(0), Some(0), Some(0)]);
        assert_eq!(dbscan(&points, params(40.0, 4)), vec![None, None, None]);
        assert_eq!(dbscan(&points, params(40.0, 1)), vec![Some(0), Some(0), Some(0)]);
        assert_eq!(dbscan(&points, params(20.0, 1)), vec![Some(0), Some(1), Some(2)]);
        assert_eq!(dbscan(&points, params(20.0, 2)), vec![None, None, None]);
    }

    #[test]
    fn a_border_point_joins_the_first_cluster_that_reaches_it() {
        // Two groups of four core points, 100 m apart, with a point in between that reaches one
        // core point of each but has too few neighbours to be core itself.
        let left = [(-50.0, 0.0), (-80.0, 10.0), (-80.0, -10.0), (-100.0, 0.0)];
        let right = [(50.0, 0.0), (80.0, 10.0), (80.0, -10.0), (100.0, 0.0)];
        let points_with = |first: &[(f64, f64)], second: &[(f64, f64)]| -> Vec<Point> {
            first.iter().chain(second).chain(&[(0.0, 0.0)]).map(|&(east, north)| offset(TIRANA, east, north)).collect()
        };

        let labels = dbscan(&points_with(&left, &right), params(55.0, 4));
        assert_eq!(labels, vec![Some(0), Some(0), Some(0), Some(0), Some(1), Some(1), Some(1), Some(1), Some(0)]);

        let labels = dbscan(&points_with(&right, &left), params(55.0, 4));
        assert_eq!(labels, vec![Some(0), Some(0), Some(0), Some(0), Some(1), Some(1), Some(1), Some(1), Some(0)]);
    }

    #[test]
    fn no_points_no_labels() {
        assert_eq!(dbscan(&[], params(100.0, 1)), Vec::<Option<usize>>::new());
        assert_eq!(centroid_and_radius(&[TIRANA], &[]), None);
    }

    #[test]
    fn identical_points_are_one_cluster_or_all_noise() {
        let points = vec![TIRANA; 5];

        assert_eq!(dbscan(&points, params(10.0, 5)), vec![Some(0); 5]);
        assert_eq!(dbscan(&points, params(0.0, 5)), vec![Some(0); 5]);
        assert_eq!(dbscan(&points, params(-1.0, 5)), vec![Some(0); 5]);
        assert_eq!(dbscan(&points, params(10.0, 6)), vec![None; 5]);
    }

    #[test]
    fn a_zero_distance_groups_only_identical_points() {
        let elsewhere = offset(TIRANA, 0.01, 0.0);
        let points = [TIRANA, elsewhere, TIRANA, elsewhere, offset(TIRANA, 0.0, 0.01)];

        assert_eq!(dbscan(&points, params(0.0, 2)), vec![Some(0), Some(1), Some(0), Some(1), None]);
    }

    #[test]
    fn pairs_just_within_eps_are_neighbours_wherever_they_fall_on_the_grid() {
        let eps = 100.0;
        for step in 0..60 {
            let start = offset(TIRANA, 7.3 * f64::from(step), -4.1 * f64::from(step));
            for direction in 0..16 {
                let angle = f64::from(direction) * PI / 8.0;
                let end_at = |distance: f64| offset(start, distance * angle.cos(), distance * angle.sin());

                let near = dbscan(&[start, end_at(0.99 * eps)], params(eps, 2));
                assert_eq!(near, vec![Some(0), Some(0)], "step {step}, direction {direction}");
                let far = dbscan(&[start, end_at(1.01 * eps)], params(eps, 2));
                assert_eq!(far, vec![None, None], "step {step}, direction {direction}");
            }
        }
    }

    #[test]
    fn labels_are_deterministic_and_numbered_by_first_core_point() {
        let blob = |centre: Point| -> Vec<Point> {
            [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)].iter().map(|&(e, n)| offset(centre, e, n)).collect()
        };
        let west = blob(offset(TIRANA, -1000.0, 0.0));
        let east = blob(offset(TIRANA, 1000.0, 0.0));
        // A lone noise point first, then the east blob's first point before any west point.
        let mut points = vec![TIRANA, east[0]];
        points.extend(&west);
        points.extend(&east[1..]);

        let labels = dbscan(&points, params(20.0, 4));

        assert_eq!(labels, vec![None, Some(0), Some(1), Some(1), Some(1), Some(1), Some(0), Some(0), Some(0)]);
        for _ in 0..5 {
            assert_eq!(dbscan(&points, params(20.0, 4)), labels);
        }
    }

    #[test]
    fn a_cluster_across_the_antimeridian_stays_whole() {
        let suva_ish = Point { lat: -17.0, lon: 179.9999 };
        let points: Vec<Point> = (0..6).map(|i| offset(suva_ish, 5.0 * f64::from(i), 0.0)).collect();
        assert!(points.iter().any(|p| p.lon < 0.0) && points.iter().any(|p| p.lon > 0.0));

        assert_eq!(dbscan(&points, params(6.0, 3)), vec![Some(0); 6]);

        let circle = centroid_and_radius(&points, &[0, 1, 2, 3, 4, 5]).unwrap();
        assert!(haversine_m(circle.centre, offset(suva_ish, 12.5, 0.0)) < 0.01, "{circle:?}");
        assert!((circle.radius_m - 12.5).abs() < 0.01, "{circle:?}");
    }

    #[test]
    fn points_without_finite_coordinates_are_noise_and_nobodys_neighbours() {
        let nowhere = Point { lat: f64::NAN, lon: 19.8 };
        let points = [nowhere, TIRANA, Point { lat: 41.3, lon: f64::INFINITY }, TIRANA];

        assert_eq!(dbscan(&points, params(10.0, 2)), vec![None, Some(0), None, Some(0)]);
        assert_eq!(dbscan(&points, params(10.0, 0)), vec![None, Some(0), None, Some(0)]);
        assert_eq!(dbscan(&[nowhere, nowhere], params(10.0, 0)), vec![None, None]);
    }

    #[test]
    fn haversine_uses_the_mean_earth_radius() {
        let one_degree = haversine_m(Point { lat: 0.0, lon: 0.0 }, Point { lat: 1.0, lon: 0.0 });
        assert!((one_degree - 6_371_008.8 * PI / 180.0).abs() < 1e-6, "{one_degree}");
    }

    #[test]
    fn centroid_and_radius_of_members() {
        let points = [
            offset(TIRANA, 0.0, 100.0),
            offset(TIRANA, 5000.0, 0.0),
            offset(TIRANA, 0.0, -100.0),
            offset(TIRANA, 60.0, 0.0),
            offset(TIRANA, -60.0, 0.0),
        ];

        let circle = centroid_and_radius(&points, &[0, 2, 3, 4]).unwrap();

        assert!(haversine_m(circle.centre, TIRANA) < 0.01, "{circle:?}");
        assert!((circle.radius_m - 100.0).abs() < 0.01, "{circle:?}");
        let lone = centroid_and_radius(&points, &[1]).unwrap();
        assert_eq!(lone, Circle { centre: points[1], radius_m: 0.0 });
    }

    /// A point within about 500 m of `centre`: anywhere, or on a 50 m lattice so that some
    /// points coincide and some pairs lie exactly a lattice multiple apart.
    fn nearby(centre: Point) -> impl Strategy<Value = Point> {
        prop_oneof![
            (-500.0..500.0, -500.0..500.0),
            (-10_i32..=10, -10_i32..=10).prop_map(|(e, n)| (50.0 * f64::from(e), 50.0 * f64::from(n))),
        ]
        .prop_map(move |(east, north)| offset(centre, east, north))
    }

    fn cloud() -> impl Strategy<Value = Vec<Point>> {
        // Any longitude, so that some clouds straddle the antimeridian.
        (-60.0..60.0, -180.0..180.0)
            .prop_flat_map(|(lat, lon)| prop::collection::vec(nearby(Point { lat, lon }), 0..=60))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The grid finds exactly the neighbours a comparison of every pair finds: same clusters,
        /// same numbering, same noise.
        #[test]
        fn grid_dbscan_equals_naive_dbscan(
            points in cloud(),
            eps_m in prop_oneof![20.0..300.0, prop::sample::select(vec![50.0, 100.0, 150.0, 200.0, 250.0])],
            min_points in 1_usize..=5,
        ) {
            let params = Params { eps_m, min_points };
            let labels = dbscan(&points, params);
            let expected = naive_dbscan(&points, params);

            let as_sets = |labels: &[Option<usize>]| -> (BTreeSet<Vec<usize>>, Vec<usize>) {
                (clusters(labels).into_iter().collect(), noise(labels))
            };
            prop_assert_eq!(as_sets(&labels), as_sets(&expected));
            prop_assert_eq!(labels, expected);
        }
    }
}
