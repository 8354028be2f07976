//! The quarter's HOTSPOTS hotspots kept by AL224-QKT: circles on every fifth hot place, the
//! others spread over Tirana's units, some rectangles, a few inactive.

use anyhow::anyhow;
use chrono::Duration;
use terren_api::hotspots::service::HotspotRow;
use terren_api::hotspots::shape::Shape;
use terren_api::territory::index::TerritoryIndex;
use terren_contract::hotspots::HotspotShape;

use super::places::{HotPlace, Refs, centroid, nearest_unit, urban};
use super::{Sizes, now};
use crate::support::Random;

fn hotspot_row(
    ctx: &Refs,
    index: &TerritoryIndex,
    random: &mut Random,
    name: String,
    shape: &HotspotShape,
    active: bool,
) -> anyhow::Result<HotspotRow> {
    let parsed = Shape::parse(shape).map_err(|e| anyhow!("bench hotspot shape: {e:?}"))?;
    let centre = parsed.centroid();
    let (min_lat, min_lon, max_lat, max_lon) = parsed.bounds();
    let unit = nearest_unit(index, &ctx.units, (centre.y(), centre.x()));
    let kinds = ["traffic_light_junction", "market", "station", "square_or_park", "place_of_worship", "tourist_area"];
    let created_at = now()? - Duration::days(200 + random.below(300) as i64);
    Ok(HotspotRow {
        id: random.uuid(),
        agency_id: ctx.qkt.clone(),
        name,
        kind: kinds[random.below(kinds.len())].into(),
        shape: serde_json::to_string(shape)?,
        centroid_lat: centre.y(),
        centroid_lon: centre.x(),
        min_lat,
        min_lon,
        max_lat,
        max_lon,
        municipality_id: Some(index.area(ctx.tirana).id.clone()),
        admin_unit_id: Some(index.area(unit).id.clone()),
        notes: None,
        active,
        version: 1,
        created_by: ctx.coordinator.clone(),
        created_at,
        updated_at: created_at,
    })
}

pub(super) fn hotspot_rows(
    ctx: &Refs,
    index: &TerritoryIndex,
    sizes: &Sizes,
    places: &[HotPlace],
) -> anyhow::Result<Vec<HotspotRow>> {
    let mut random = Random(0x5eed_0000_0006_0003);
    let mut rows = Vec::with_capacity(sizes.hotspots);
    for place in places.iter().step_by(5).take(sizes.hotspots) {
        let shape = HotspotShape::Circle { lat: place.at.0, lon: place.at.1, radius_m: 3.0 * place.spread_m };
        let name = format!("Vend i njohur {:03}", rows.len() + 1);
        rows.push(hotspot_row(ctx, index, &mut random, name, &shape, true)?);
    }
    let (urban_units, rural_units): (Vec<usize>, Vec<usize>) =
        ctx.units.iter().copied().partition(|&u| urban(index, u));
    while rows.len() < sizes.hotspots {
        let at = if random.unit() < 0.75 {
            let unit = urban_units[random.below(urban_units.len())];
            random.scatter(centroid(index, unit), 600.0)
        } else {
            let unit = rural_units[random.below(rural_units.len())];
            random.scatter(centroid(index, unit), 1500.0)
        };
        let shape = if random.unit() < 0.9 {
            HotspotShape::Circle { lat: at.0, lon: at.1, radius_m: random.between(40.0, 200.0).round() }
        } else {
            let (half_lat, half_lon) = (random.between(40.0, 90.0) / 111_320.0, random.between(50.0, 120.0) / 83_600.0);
            HotspotShape::Polygon {
                coordinates: vec![
                    [at.1 - half_lon, at.0 - half_lat],
                    [at.1 + half_lon, at.0 - half_lat],
                    [at.1 + half_lon, at.0 + half_lat],
                    [at.1 - half_lon, at.0 + half_lat],
                    [at.1 - half_lon, at.0 - half_lat],
                ],
            }
        };
        let name = format!("Pikë {:03}", rows.len() + 1);
        let active = random.unit() >= 0.05;
        rows.push(hotspot_row(ctx, index, &mut random, name, &shape, active)?);
    }
    Ok(rows)
}
