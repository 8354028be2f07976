//! Where the quarter happens: the agencies, people and areas the fill refers to, Tirana's units,
//! and the hot places where children are found.

use anyhow::Context;
use terren_api::db::DbConnection;
use terren_api::ids::AgencyId;
use terren_api::territory::index::TerritoryIndex;

use super::Sizes;
use crate::support::{Random, agency_id, user_id};

/// The rows the fill refers to.
pub(super) struct Refs {
    pub(super) qkt: AgencyId,
    pub(super) njmf: AgencyId,
    pub(super) coordinator: String,
    /// Users of each agency, to make team members.
    pub(super) qkt_users: Vec<String>,
    pub(super) njmf_users: Vec<String>,
    /// Who records the sightings outside Tirana: another municipality's unit, so that they are
    /// outside a Tirana worker's scope as they would be.
    pub(super) others: AgencyId,
    pub(super) others_user: String,
    /// Index of Tirana, its county and its 27 units in the territory index.
    pub(super) tirana: usize,
    pub(super) county: Option<usize>,
    pub(super) units: Vec<usize>,
    /// Index of the other municipalities in the territory index.
    pub(super) elsewhere: Vec<usize>,
}

fn user_ids(conn: &mut DbConnection, names: &[&str]) -> anyhow::Result<Vec<String>> {
    names.iter().map(|name| user_id(conn, name)).collect()
}

pub(super) fn refs(conn: &mut DbConnection, index: &TerritoryIndex) -> anyhow::Result<Refs> {
    let tirana = index.find_code("AL224").context("Tirana")?;
    let units: Vec<usize> = index.descendants(tirana).into_iter().filter(|&a| a != tirana).collect();
    anyhow::ensure!(units.len() == 27, "Tirana has 27 administrative units, found {}", units.len());
    let elsewhere: Vec<usize> = (100..400)
        .map(|n| format!("AL{n}"))
        .filter(|code| code != "AL224")
        .filter_map(|code| index.find_code(&code))
        .collect();
    anyhow::ensure!(elsewhere.len() == 60, "the other 60 municipalities");
    Ok(Refs {
        qkt: agency_id(conn, "AL224-QKT")?,
        njmf: agency_id(conn, "AL224-NJMF")?,
        coordinator: user_id(conn, "tirana.coord")?,
        qkt_users: user_ids(conn, &["tirana.field", "tirana.duty", "tirana.coord"])?,
        njmf_users: user_ids(conn, &["tirana.pmf", "tirana.admin"])?,
        others: agency_id(conn, "AL221-NJMF")?,
        others_user: user_id(conn, "kamez.field")?,
        tirana,
        county: index.area(tirana).parent,
        units,
        elsewhere,
    })
}

pub(super) fn centroid(index: &TerritoryIndex, area: usize) -> (f64, f64) {
    let point = index.area(area).centroid;
    (point.y(), point.x())
}

/// Whether a unit of Tirana is urban (Njësia 1–11, Lagjja 12–14) rather than a rural unit.
pub(super) fn urban(index: &TerritoryIndex, unit: usize) -> bool {
    let code = &index.area(unit).code;
    code.contains("-U") || code.contains("-L")
}

/// The unit of Tirana with the nearest centroid.
pub(super) fn nearest_unit(index: &TerritoryIndex, units: &[usize], (lat, lon): (f64, f64)) -> usize {
    let distance = |unit: usize| {
        let (c_lat, c_lon) = centroid(index, unit);
        ((c_lat - lat) * 111_320.0).powi(2) + ((c_lon - lon) * 83_600.0).powi(2)
    };
    units.iter().copied().min_by(|&a, &b| distance(a).total_cmp(&distance(b))).unwrap_or(units[0])
}

/// A point uniformly in central Tirana.
pub(super) fn central(random: &mut Random) -> (f64, f64) {
    (random.between(41.30, 41.36), random.between(19.76, 19.86))
}

pub(super) struct HotPlace {
    pub(super) at: (f64, f64),
    pub(super) spread_m: f64,
}

/// HOT_PLACES places, four out of five in central Tirana, the others near a rural unit's
/// centroid, each with a spread of 12–40 m.
pub(super) fn hot_places(random: &mut Random, ctx: &Refs, index: &TerritoryIndex, sizes: &Sizes) -> Vec<HotPlace> {
    let rural: Vec<usize> = ctx.units.iter().copied().filter(|&u| !urban(index, u)).collect();
    (0..sizes.hot_places)
        .map(|_| {
            let at = if random.unit() < 0.8 {
                central(random)
            } else {
                let unit = rural[random.below(rural.len())];
                random.scatter(centroid(index, unit), 1000.0)
            };
            HotPlace { at, spread_m: random.between(12.0, 40.0) }
        })
        .collect()
}
