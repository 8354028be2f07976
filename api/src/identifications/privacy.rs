//! Pure rules about places: coarse locations for readers who may not see precise ones.

/// Size of a coarse cell: 0.0045° of latitude (~500 m) by 0.006° of longitude (~500 m at
/// Albania's latitude, 39.6°–42.7° N).
const CELL_LAT_DEG: f64 = 0.0045;
const CELL_LON_DEG: f64 = 0.006;
/// The accuracy reported with a coarse location: the cell's half-diagonal, rounded up.
pub const COARSE_ACCURACY_M: f64 = 400.0;

/// The coarse cell a point falls in, as a stable key (`"9180:3303"`), and its centre.
pub fn coarse_cell(lat: f64, lon: f64) -> (String, f64, f64) {
    let row = (lat / CELL_LAT_DEG).floor();
    let col = (lon / CELL_LON_DEG).floor();
    let centre_lat = (row + 0.5) * CELL_LAT_DEG;
    let centre_lon = (col + 0.5) * CELL_LON_DEG;
    (format!("{row:.0}:{col:.0}"), round6(centre_lat), round6(centre_lon))
}

/// The point a reader is shown (and counted at): the exact one, or the centre of its coarse cell.
pub fn shown_point(lat: f64, lon: f64, precise: bool) -> (f64, f64) {
    if precise {
        (lat, lon)
    } else {
        let (_, lat, lon) = coarse_cell(lat, lon);
        (lat, lon)
    }
}

/// A bounding box (min_lon, min_lat, max_lon, max_lat) widened to whole coarse cells, so that a
/// reader who sees coarse locations cannot narrow a search below a cell and learn more.
pub fn widen_to_cells(bbox: (f64, f64, f64, f64)) -> (f64, f64, f64, f64) {
    let (min_lon, min_lat, max_lon, max_lat) = bbox;
    (
        (min_lon / CELL_LON_DEG).floor() * CELL_LON_DEG,
        (min_lat / CELL_LAT_DEG).floor() * CELL_LAT_DEG,
        ((max_lon / CELL_LON_DEG).floor() + 1.0) * CELL_LON_DEG,
        ((max_lat / CELL_LAT_DEG).floor() + 1.0) * CELL_LAT_DEG,
    )
}

/// The keys of every coarse cell that a circle of `radius_m` around a point touches.
pub fn cells_around(lat: f64, lon: f64, radius_m: f64) -> Vec<String> {
    const METRES_PER_DEG_LAT: f64 = 111_320.0;
    let dlat = radius_m / METRES_PER_DEG_LAT;
    let dlon = radius_m / (METRES_PER_DEG_LAT * lat.to_radians().cos().max(0.01));
    let rows = ((lat - dlat) / CELL_LAT_DEG).floor() as i64..=((lat + dlat) / CELL_LAT_DEG).floor() as i64;
    let cols = ((lon - dlon) / CELL_LON_DEG).floor() as i64..=((lon + dlon) / CELL_LON_DEG).floor() as i64;
    rows.flat_map(|row| cols.clone().map(move |col| format!("{row}:{col}"))).collect()
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_cells_are_stable_and_keep_the_point_within_half_a_kilometre() {
        // Skanderbeg Square and a point 50 m away share a cell; the centre is within 400 m.
        let (key, lat, lon) = coarse_cell(41.3275, 19.8187);
        let (other_key, _, _) = coarse_cell(41.32760, 19.81900);
        assert_eq!(key, other_key);
        let dy = (lat - 41.3275) * 111_320.0;
        let dx = (lon - 19.8187) * 111_320.0 * 41.3275_f64.to_radians().cos();
        assert!((dx * dx + dy * dy).sqrt() <= COARSE_ACCURACY_M, "{dx} {dy}");
        // A point 2 km away does not.
        assert_ne!(coarse_cell(41.3455, 19.8187).0, key);
    }

    #[test]
    fn the_cells_around_a_point_cover_the_circle() {
        let cells = cells_around(41.3275, 19.8187, 1500.0);
        // 3 km across is 6–7 cells each way.
        assert!((36..=64).contains(&cells.len()), "{}", cells.len());
        for (lat, lon) in [(41.3275, 19.8187), (41.3400, 19.8187), (41.3275, 19.8360), (41.3150, 19.8030)] {
            assert!(cells.contains(&coarse_cell(lat, lon).0), "{lat},{lon}");
        }
        assert!(!cells.contains(&coarse_cell(41.3500, 19.8187).0));
    }

    #[test]
    fn a_box_inside_a_cell_widens_to_the_whole_cell() {
        let tiny = (19.8200, 41.3250, 19.8202, 41.3252);
        let (min_lon, min_lat, max_lon, max_lat) = widen_to_cells(tiny);
        // Every point of the cell that holds the box is inside the widened box.
        let (_, centre_lat, centre_lon) = coarse_cell(41.3251, 19.8201);
        assert!(min_lat < centre_lat && centre_lat < max_lat && min_lon < centre_lon && centre_lon < max_lon);
        assert!((max_lat - min_lat - CELL_LAT_DEG).abs() < 1e-9 && (max_lon - min_lon - CELL_LON_DEG).abs() < 1e-9);
        assert!(min_lon <= 19.8187 + CELL_LON_DEG && 41.3275 <= max_lat);
    }
}
