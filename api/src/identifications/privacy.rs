//! Pure rules about people and places: age bands, and coarse locations for readers who may not
//! see precise ones.

/// Size of a coarse cell: 0.0045° of latitude (~500 m) by 0.006° of longitude (~500 m at
/// Albania's latitude, 39.6°–42.7° N).
const CELL_LAT_DEG: f64 = 0.0045;
const CELL_LON_DEG: f64 = 0.006;
/// The accuracy reported with a coarse location: the cell's half-diagonal, rounded up.
pub const COARSE_ACCURACY_M: f64 = 400.0;

/// The national reports' age band for an age in whole years; 18 and over is `adult`.
pub fn age_band(age: Option<i32>) -> &'static str {
    match age {
        Some(0..=3) => "0-3",
        Some(4..=6) => "4-6",
        Some(7..=9) => "7-9",
        Some(10..=12) => "10-12",
        Some(13..=15) => "13-15",
        Some(16..=17) => "16-18",
        Some(18..) => "adult",
        _ => "unknown",
    }
}

/// The coarse cell a point falls in, as a stable key (`"9180:3303"`), and its centre.
pub fn coarse_cell(lat: f64, lon: f64) -> (String, f64, f64) {
    let row = (lat / CELL_LAT_DEG).floor();
    let col = (lon / CELL_LON_DEG).floor();
    let centre_lat = (row + 0.5) * CELL_LAT_DEG;
    let centre_lon = (col + 0.5) * CELL_LON_DEG;
    (format!("{row:.0}:{col:.0}"), round6(centre_lat), round6(centre_lon))
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_bands_follow_the_national_reports() {
        let bands: Vec<&str> = [0, 3, 4, 9, 10, 12, 13, 15, 16, 17, 18, 40].map(|a| age_band(Some(a))).to_vec();
        assert_eq!(
            bands,
            ["0-3", "0-3", "4-6", "7-9", "10-12", "10-12", "13-15", "13-15", "16-18", "16-18", "adult", "adult"]
        );
        assert_eq!(age_band(None), "unknown");
        assert_eq!(age_band(Some(-1)), "unknown");
    }

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
}
