//! The quarter's sightings and the child profiles they are linked to: made where and when children
//! are found, then written profiles first, sightings in batches of 10,000 with their links.

use std::time::Instant;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use terren_api::db::DbConnection;
use terren_api::db::schema::{child_profiles, identification_links, identifications, profile_reference_counters};
use terren_api::identifications::privacy::coarse_cell;
use terren_api::identifications::store::IdentificationRow;
use terren_api::profiles::store::ProfileRow;
use terren_api::territory::index::TerritoryIndex;
use terren_api::vocabularies::wire_code;
use terren_contract::identifications::AgeBand;

use super::places::{HotPlace, Refs, central, centroid, nearest_unit, urban};
use super::{Sizes, now};
use crate::support::Random;

/// One sighting, before it becomes a row: where, when, its areas (indices in the territory
/// index) and the profile it is linked to.
pub(super) struct Seen {
    at: (f64, f64),
    pub(super) observed_at: NaiveDateTime,
    areas: [Option<usize>; 3],
    profile: Option<usize>,
}

/// A profile's sightings, gathered before the profile is written.
#[derive(Clone, Default)]
struct Seens {
    count: i32,
    first: Option<NaiveDateTime>,
    last: Option<NaiveDateTime>,
    areas: [Option<usize>; 3],
}

/// An instant in the quarter, mostly by day.
/// The counter of Tirana's 2026 profile references.
const REFERENCE_COUNTER: &str = "TR-2026";

fn observed_at(random: &mut Random, now: NaiveDateTime, days: i64) -> NaiveDateTime {
    loop {
        let at = now - Duration::seconds((random.unit() * (days * 86_400) as f64) as i64);
        // 06:00–19:00 UTC is 07:00–20:00 in Tirana in winter; night hours are seven times rarer.
        let day = (6..19).contains(&chrono::Timelike::hour(&at));
        if day || random.unit() < 1.0 / 7.0 {
            return at;
        }
    }
}

fn sighting_row(ctx: &Refs, index: &TerritoryIndex, id: String, seen: &Seen, age: i32) -> IdentificationRow {
    let area_id = |area: Option<usize>| area.map(|a| index.area(a).id.clone());
    let (lat, lon) = seen.at;
    let in_tirana = seen.areas[1] == Some(ctx.tirana);
    IdentificationRow {
        id,
        recorded_by: if in_tirana { ctx.qkt_users[0].clone() } else { ctx.others_user.clone() },
        agency_id: if in_tirana { ctx.qkt.clone() } else { ctx.others.clone() },
        device_id: super::DEVICE.into(),
        observed_at: seen.observed_at,
        received_at: seen.observed_at,
        lat: Some(lat),
        lon: Some(lon),
        accuracy_m: Some(15.0),
        altitude_m: None,
        fix_time: None,
        location_source: Some("gps".into()),
        mock_location: false,
        location_not_collected_reason: None,
        place_description: None,
        county_id: area_id(seen.areas[0]),
        municipality_id: area_id(seen.areas[1]),
        admin_unit_id: area_id(seen.areas[2]),
        locate_method: "nearest_centroid".into(),
        cell_key: Some(coarse_cell(lat, lon).0),
        subject_type: "child".into(),
        estimated_age: Some(age),
        birth_year: None,
        age_band: wire_code(AgeBand::of_age(Some(age))),
        sex: if age % 2 == 0 { "female".into() } else { "male".into() },
        nationality: Some("AL".into()),
        languages: "[\"sq\"]".into(),
        ethnicity: None,
        residence_origin: None,
        street_situations: "[\"begging\"]".into(),
        accompanied_by: Some(["alone", "parent", "other_adult", "group_of_children"][age as usize % 4].into()),
        risk_factors: "[]".into(),
        exploitation_indicators: "[]".into(),
        visible_conditions: "[]".into(),
        immediate_needs: "[]".into(),
        actions_taken: "[]".into(),
        consent_given_by: None,
        risk_level: "medium".into(),
        emergency: false,
        notes: None,
        content_hash: "bench".into(),
        version: 1,
        created_at: seen.observed_at,
        updated_at: seen.observed_at,
        name_as_told: None,
        location_coarsened_at: None,
        round_id: None,
        provisional: false,
    }
}

/// Regulars per hot place, scattered children around Tirana, children elsewhere.
const REGULARS: usize = 30;
const TIRANA_CHILDREN: usize = 30_000;
const OTHER_CHILDREN: usize = 20_000;

pub(super) fn sightings(
    ctx: &Refs,
    index: &TerritoryIndex,
    sizes: &Sizes,
    places: &[HotPlace],
) -> anyhow::Result<Vec<Seen>> {
    let now = now()?;
    let mut random = Random(0x5eed_0000_0006_0002);
    // Zipf-like shares: the busiest place is about seventeen times as busy as the quietest.
    let weights: Vec<f64> = (0..places.len()).map(|n| 1.0 / (n as f64 + 10.0)).collect();
    let total_weight: f64 = weights.iter().sum();
    let pick_place = |random: &mut Random| {
        let mut left = random.unit() * total_weight;
        for (n, weight) in weights.iter().enumerate() {
            left -= weight;
            if left <= 0.0 {
                return n;
            }
        }
        weights.len() - 1
    };
    let rural: Vec<usize> = ctx.units.iter().copied().filter(|&u| !urban(index, u)).collect();
    let tirana_children = places.len() * REGULARS;
    let other_children = tirana_children + TIRANA_CHILDREN;
    let mut seen = Vec::with_capacity(sizes.identifications + sizes.others);
    for _ in 0..sizes.identifications {
        let (at, regular_of) = if random.unit() < 1.0 - sizes.scattered {
            let place = pick_place(&mut random);
            (random.scatter(places[place].at, places[place].spread_m), Some(place))
        } else if random.unit() < 0.85 {
            (central(&mut random), None)
        } else {
            let unit = rural[random.below(rural.len())];
            (random.scatter(centroid(index, unit), 1500.0), None)
        };
        let profile = (random.unit() < 0.5).then(|| match regular_of {
            Some(place) => place * REGULARS + random.below(REGULARS),
            None => tirana_children + random.below(TIRANA_CHILDREN),
        });
        let unit = nearest_unit(index, &ctx.units, at);
        seen.push(Seen {
            at,
            observed_at: observed_at(&mut random, now, sizes.quarter_days),
            areas: [ctx.county, Some(ctx.tirana), Some(unit)],
            profile,
        });
    }
    for _ in 0..sizes.others {
        let municipality = ctx.elsewhere[random.below(ctx.elsewhere.len())];
        let at = random.scatter(centroid(index, municipality), 2000.0);
        let located = index.locate(at.0, at.1);
        let area = |resolved: Option<terren_api::territory::index::Resolved>| resolved.map(|r| r.area);
        seen.push(Seen {
            at,
            observed_at: observed_at(&mut random, now, sizes.quarter_days),
            areas: [area(located.county), area(located.municipality), area(located.admin_unit)],
            profile: (random.unit() < 0.5).then(|| other_children + random.below(OTHER_CHILDREN)),
        });
    }
    Ok(seen)
}

/// Writes the profiles (those seen at least once) and then the sightings with their links, in the
/// order seen; returns how many profiles were written.
pub(super) fn write(
    conn: &mut DbConnection,
    ctx: &Refs,
    index: &TerritoryIndex,
    sizes: &Sizes,
    seen: &[Seen],
    random: &mut Random,
    began: Instant,
) -> anyhow::Result<usize> {
    // Profiles first (links refer to them), with what their sightings say about them.
    let children = sizes.hot_places * REGULARS + TIRANA_CHILDREN + OTHER_CHILDREN;
    let mut of_child = vec![Seens::default(); children];
    for sighting in seen {
        if let Some(child) = sighting.profile {
            let seens = &mut of_child[child];
            seens.count += 1;
            seens.first = Some(seens.first.map_or(sighting.observed_at, |t| t.min(sighting.observed_at)));
            seens.last = Some(seens.last.map_or(sighting.observed_at, |t| t.max(sighting.observed_at)));
            if seens.count == 1 {
                seens.areas = sighting.areas;
            }
        }
    }
    let profile_ids: Vec<String> = (0..children).map(|_| random.uuid()).collect();
    let ages: Vec<i32> = (0..children).map(|_| 4 + random.below(13) as i32).collect();
    // Numbered after the demo's own profiles, and the counter moved past them, as the service would.
    let numbered: i32 = profile_reference_counters::table
        .find(REFERENCE_COUNTER)
        .select(profile_reference_counters::last_value)
        .get_result(conn)
        .optional()?
        .unwrap_or(0);
    let mut profiles = Vec::new();
    for (child, seens) in of_child.iter().enumerate() {
        let (Some(first), Some(last)) = (seens.first, seens.last) else { continue };
        let area_id = |area: Option<usize>| area.map(|a| index.area(a).id.clone());
        profiles.push(ProfileRow {
            id: profile_ids[child].clone(),
            reference: format!("{REFERENCE_COUNTER}-{:06}", numbered + child as i32 + 1),
            subject_type: "child".into(),
            status: "identified".into(),
            given_name: None,
            family_name: None,
            sex: if ages[child] % 2 == 0 { "female".into() } else { "male".into() },
            birth_year: Some(2026 - ages[child]),
            birth_year_estimated: true,
            nationality: Some("AL".into()),
            languages: "[\"sq\"]".into(),
            residence_origin: None,
            family_contacts: None,
            municipality_id: area_id(seens.areas[1]),
            admin_unit_id: area_id(seens.areas[2]),
            agency_id: if seens.areas[1] == Some(ctx.tirana) { ctx.qkt.clone() } else { ctx.others.clone() },
            created_by: ctx.coordinator.clone(),
            merged_into: None,
            sightings_count: seens.count,
            first_seen_at: first,
            last_seen_at: last,
            version: 1,
            created_at: first,
            updated_at: last,
        });
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in profiles.chunks(500) {
            insert_rows!(conn, diesel::insert_into(child_profiles::table).values(chunk))?;
        }
        let last = numbered + children as i32;
        diesel::delete(profile_reference_counters::table.find(REFERENCE_COUNTER)).execute(conn)?;
        diesel::insert_into(profile_reference_counters::table)
            .values((
                profile_reference_counters::prefix.eq(REFERENCE_COUNTER),
                profile_reference_counters::last_value.eq(last),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    eprintln!("  {} child profiles ({:.0} s)", profiles.len(), began.elapsed().as_secs_f64());

    let linked_at = now()?;
    for (batch, chunk) in seen.chunks(10_000).enumerate() {
        let rows: Vec<IdentificationRow> = chunk
            .iter()
            .map(|sighting| {
                let age = sighting.profile.map_or_else(|| 4 + random.below(13) as i32, |child| ages[child]);
                sighting_row(ctx, index, random.uuid_at(sighting.observed_at), sighting, age)
            })
            .collect();
        let links: Vec<_> = rows
            .iter()
            .zip(chunk)
            .filter_map(|(row, sighting)| {
                let child = sighting.profile?;
                Some((
                    identification_links::identification_id.eq(row.id.clone()),
                    identification_links::profile_id.eq(profile_ids[child].clone()),
                    identification_links::cell_key.eq(row.cell_key.clone()),
                    identification_links::lat.eq(row.lat),
                    identification_links::lon.eq(row.lon),
                    identification_links::accompanied_by.eq(row.accompanied_by.clone()),
                    identification_links::observed_at.eq(row.observed_at),
                    identification_links::linked_by.eq(ctx.coordinator.clone()),
                    identification_links::linked_at.eq(linked_at),
                ))
            })
            .collect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for rows in rows.chunks(500) {
                insert_rows!(conn, diesel::insert_into(identifications::table).values(rows))?;
            }
            for links in links.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(identification_links::table).values(links))?;
            }
            Ok(())
        })?;
        if batch % 5 == 4 {
            eprintln!("  {} identifications ({:.0} s)", (batch + 1) * 10_000, began.elapsed().as_secs_f64());
        }
    }
    Ok(profiles.len())
}
