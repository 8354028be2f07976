//! The demo's field records: three days of the QKT field worker's sightings around central
//! Tirana, a child linked across two of them and referred, and the hotspot they cluster at. The
//! sightings go up as a phone uploads an offline shift (`sync::batch::apply`), the hotspot through
//! the coordinator's own service call, so they pass the checks a phone's and a coordinator's
//! requests do. A phone signing in as `tirana.field` then syncs a working set, and coordinators
//! have something on the map. A boy seen in the shift is in case management at Tirana's
//! child-protection unit, so the reports have a case to count. What is there already is not
//! added again.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use terren_contract::cases::OpenProtectionCase;
use terren_contract::hotspots::{HotspotShape, PutHotspot};
use terren_contract::profiles::LinkIdentification;

use crate::access::AuthUser;
use crate::db::backend;
use crate::db::schema::{hotspots, protection_cases, referrals};
use crate::http::lang::Lang;
use crate::state::AppState;

/// Where the sightings are made: Skanderbeg Square's traffic lights (the hotspot), the New
/// Bazaar, Blloku and the Zogu i Zi roundabout.
const PLACES: [(f64, f64, &str); 4] = [
    (41.3276, 19.8189, "semafori te Sheshi Skënderbej / traffic lights at Skanderbeg Square"),
    (41.3297, 19.8237, "Pazari i Ri / New Bazaar"),
    (41.3197, 19.8180, "Blloku, para kafeneve / Blloku, outside the cafés"),
    (41.3365, 19.8061, "rrethrrotullimi i Zogut të Zi / Zogu i Zi roundabout"),
];

const SIGHTINGS: usize = 8;
const PROFILE: &str = "019a2b3c-4d5e-7f00-8a1b-00000000f100";
const REFERRAL: &str = "019a2b3c-4d5e-7f00-8a1b-00000000f200";
const HOTSPOT: &str = "Semaforët e Sheshit Skënderbej (demo)";
/// The boy of the fifth sighting, and his protection case.
const CASE_PROFILE: &str = "019a2b3c-4d5e-7f00-8a1b-00000000f101";
const CASE: &str = "019a2b3c-4d5e-7f00-8a1b-00000000f300";

fn sighting_id(n: usize) -> String {
    format!("019a2b3c-4d5e-7f00-8a1b-00000000f{n:03}")
}

/// What was added: sightings (not those a replay of the shift found made), and hotspots.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FieldReport {
    pub sightings: usize,
    pub hotspots: usize,
    pub cases: usize,
}

/// Adds what is missing of the demo's field records. The shift is known by its last operation
/// (the referral): until that exists the whole shift is sent again, which its idempotency keys
/// make a replay of what went through, so a start that died half-way is finished by the next.
/// The hotspot is known by its name.
pub async fn seed_field(state: &AppState) -> anyhow::Result<FieldReport> {
    let (field, coordinator, shift_there, hotspot_there) = {
        let state = state.clone();
        actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut conn = state.db.get()?;
            let shift_there = referrals::table.find(REFERRAL).count().get_result::<i64>(&mut conn)? > 0;
            let hotspot_there =
                hotspots::table.filter(hotspots::name.eq(HOTSPOT)).count().get_result::<i64>(&mut conn)? > 0;
            let field = AuthUser::acting_as(&mut conn, "tirana.field", "demo-seed")
                .map_err(|e| anyhow::anyhow!("demo account tirana.field: {e:?}"))?;
            let coordinator = AuthUser::acting_as(&mut conn, "tirana.coord", "demo-seed")
                .map_err(|e| anyhow::anyhow!("demo account tirana.coord: {e:?}"))?;
            Ok((field, coordinator, shift_there, hotspot_there))
        })
        .await??
    };
    let mut report = FieldReport::default();
    if !shift_there {
        let outcome = crate::sync::batch::apply(state, &field, Lang::Sq, shift(state.clock.now())).await;
        let refused: Vec<String> = outcome
            .results
            .iter()
            .filter_map(|result| {
                result.problem.as_ref().map(|p| format!("#{} {} {:?}", result.index, p.title, p.errors))
            })
            .collect();
        anyhow::ensure!(refused.is_empty(), "demo field records refused: {}", refused.join("; "));
        report.sightings =
            outcome.results.iter().filter(|r| (r.index as usize) < SIGHTINGS && r.status == 201 && !r.replayed).count();
    }
    if !hotspot_there {
        let state = state.clone();
        actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<()> {
            let request = PutHotspot {
                name: HOTSPOT.into(),
                kind: "traffic_light_junction".into(),
                shape: HotspotShape::Circle { lat: PLACES[0].0, lon: PLACES[0].1, radius_m: 120.0 },
                notes: Some(
                    "Fëmijë që lypin te semaforët, sidomos pasdite / children begging at the lights, mostly afternoons"
                        .into(),
                ),
                active: true,
                version: None,
            };
            let (index, at) = (state.territory(), state.clock.now_naive());
            let mut conn = state.db.get()?;
            backend::write_transaction(&mut conn, |tx| {
                crate::hotspots::service::put(tx, &index, &coordinator, None, &request, at)
            })
            .map_err(|e| anyhow::anyhow!("demo hotspot: {:?} {}", e.code, e.detail.unwrap_or_default()))?;
            Ok(())
        })
        .await??;
        report.hotspots = 1;
    }
    report.cases = protection_case(state).await?;
    Ok(report)
}

/// Links the fifth sighting's boy to a profile and opens his case at Tirana's unit, unless the
/// case is there; both steps are replays when made before.
async fn protection_case(state: &AppState) -> anyhow::Result<usize> {
    let state = state.clone();
    actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = state.db.get()?;
        if protection_cases::table.find(CASE).count().get_result::<i64>(&mut conn)? > 0 {
            return Ok(0);
        }
        let account = |conn: &mut crate::db::PooledConn, name: &str| {
            AuthUser::acting_as(conn, name, "demo-seed").map_err(|e| anyhow::anyhow!("demo account {name}: {e:?}"))
        };
        let (field, pmf) = (account(&mut conn, "tirana.field")?, account(&mut conn, "tirana.pmf")?);
        let (index, at) = (state.territory(), state.clock.now_naive());
        let link: LinkIdentification = serde_json::from_value(json!({
            "new_profile": { "id": CASE_PROFILE, "given_name": "Besi", "birth_year": 2014, "birth_year_estimated": true }
        }))?;
        let opening: OpenProtectionCase = serde_json::from_value(json!({
            "id": CASE, "identified_by": "field_squad", "risk_level": "medium", "primary_problem": "street_situation",
        }))?;
        backend::write_transaction(&mut conn, |tx| {
            crate::profiles::linking::link(tx, &index, &field, &sighting_id(5), &link, at)?;
            crate::cases::service::open(tx, &index, &pmf, CASE_PROFILE, &opening, at)
        })
        .map_err(|e| anyhow::anyhow!("demo protection case: {:?} {}", e.code, e.detail.unwrap_or_default()))?;
        Ok(1)
    })
    .await?
}

/// The field worker's last three days, oldest first, as the phone would upload them.
fn shift(now: chrono::DateTime<Utc>) -> Vec<Value> {
    let mut operations = Vec::new();
    for n in 1..=SIGHTINGS {
        let (lat, lon, place) = PLACES[(n - 1) % PLACES.len()];
        let at = (now - Duration::hours(9 * (SIGHTINGS + 1 - n) as i64)).to_rfc3339();
        // The first two are the same girl, at the square on two days.
        let (age, sex) =
            if n <= 2 { (9, "female") } else { (7 + n as i32 % 8, if n % 2 == 0 { "male" } else { "female" }) };
        operations.push(json!({ "type": "record_sighting", "key": format!("demo-field-sighting-{n}"), "body": {
            "id": sighting_id(n), "observed_at": at,
            "location": { "lat": lat + n as f64 * 2e-5, "lon": lon, "accuracy_m": 12.0, "fix_time": at, "source": "gps" },
            "place_description": place, "subject_type": "child", "estimated_age": age, "sex": sex,
            "nationality": "AL", "languages": ["sq"], "residence_origin": "other_municipality",
            "street_situations": [if n % 3 == 0 { "selling_items" } else { "begging" }],
            "accompanied_by": if n % 4 == 0 { "alone" } else { "other_adult" },
            "actions_taken": ["food_or_water_given", "information_given"], "consent_given_by": "child",
            "risk_level": if n <= 2 { "high" } else { "medium" },
        }}));
    }
    operations.push(json!({ "type": "link_sighting", "key": "demo-field-link-1", "identification_id": sighting_id(1),
        "body": { "new_profile": { "id": PROFILE, "given_name": "Ana", "birth_year": 2017, "birth_year_estimated": true } } }));
    operations.push(json!({ "type": "link_sighting", "key": "demo-field-link-2", "identification_id": sighting_id(2),
        "body": { "profile_id": PROFILE } }));
    operations.push(json!({ "type": "send_referral", "key": "demo-field-referral", "body": {
        "id": REFERRAL, "identification_id": sighting_id(2), "priority": "high", "reasons": ["street_situation"],
        "services": ["child_protection_assessment"], "share": "details", "consent_given_by": "child",
        "notes": "E pamë dy herë te semaforët; thotë se e nëna shet në Pazar / seen twice at the lights; says her mother sells at the bazaar",
    }}));
    operations
}
