//! Which known children a new sighting may be: profiles with linked sightings near in space and
//! time, or with a name that sounds like the one told, scored on place, time, age, sex, name and
//! companions. The score ranks; the worker decides.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;
use geo::{Distance, Haversine, Point};
use terren_contract::Permission;
use terren_contract::identifications::AgeBand;
use terren_contract::profiles::{CandidateReason, CandidateReasonCode, ProfileCandidate, ProfileRef};

use super::names;
use super::store::ProfileRow;
use crate::access::AuthUser;
use crate::access::profiles::visible_within;
use crate::clock::to_utc;
use crate::config::ProfilesConfig;
use crate::db::DbConnection;
use crate::db::schema::{child_profile_name_keys, child_profile_names, child_profiles, identification_links};
use crate::http::ApiResult;
use crate::identifications::privacy::cells_around;
use crate::identifications::store::IdentificationRow;
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;

/// Weights of the signals; a full match on all of them scores 1.
const WEIGHT_PLACE_AND_TIME: f64 = 0.35;
const WEIGHT_NAME: f64 = 0.30;
const WEIGHT_AGE: f64 = 0.15;
const WEIGHT_SEX: f64 = 0.10;
const WEIGHT_COMPANIONS: f64 = 0.10;
/// Weaker candidates are not proposed.
const MIN_SCORE: f64 = 0.25;
/// A name this similar counts as a match.
const MIN_NAME_SIMILARITY: f64 = 0.5;
/// Bounds on the rows read per search, so that a crowded junction cannot make it slow.
const MAX_NEARBY_SIGHTINGS: i64 = 2000;
const MAX_PROFILES_BY_PLACE: usize = 50;
const MAX_NAME_MATCHES: i64 = 100;

/// Where and when a linked sighting was, and with whom.
#[derive(Queryable, Selectable)]
#[diesel(table_name = identification_links)]
struct LinkedPlace {
    profile_id: String,
    lat: Option<f64>,
    lon: Option<f64>,
    observed_at: NaiveDateTime,
    accompanied_by: Option<String>,
}

/// The closest linked sighting of a profile to the new one.
#[derive(Debug, Clone, Copy)]
struct Nearby {
    distance_m: f64,
    /// Positive when the profile's sighting came before the new one.
    earlier_by: Duration,
    same_companions: bool,
}

impl Nearby {
    fn closeness(&self, radius_m: f64, window: Duration) -> f64 {
        let place = (1.0 - self.distance_m / radius_m).max(0.0);
        let gap = self.earlier_by.num_seconds().abs() as f64 / window.num_seconds().max(1) as f64;
        place * (1.0 - 0.5 * gap.min(1.0))
    }
}

/// Candidates for a sighting, best first, leaving out the profile it is linked to already.
pub fn for_sighting(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    sighting: &IdentificationRow,
    linked_to: Option<&str>,
) -> ApiResult<Vec<ProfileCandidate>> {
    let window = Duration::days(settings.candidate_window_days);
    let mut nearby: HashMap<String, Nearby> = HashMap::new();
    // The sighting's own link, if any, points to `linked_to`, which is left out below; leaving the
    // identification id out of the query keeps it to one covering index.
    if let (Some(lat), Some(lon)) = (sighting.lat, sighting.lon) {
        // Inner cells first, so that where sightings crowd the row budget goes to the closest.
        let inner = cells_around(lat, lon, settings.candidate_radius_m / 3.0);
        let outer: Vec<String> =
            cells_around(lat, lon, settings.candidate_radius_m).into_iter().filter(|c| !inner.contains(c)).collect();
        let mut others: Vec<LinkedPlace> = Vec::new();
        for cells in [inner, outer] {
            let budget = MAX_NEARBY_SIGHTINGS - others.len() as i64;
            if budget <= 0 {
                break;
            }
            others.extend(
                identification_links::table
                    .filter(identification_links::cell_key.eq_any(cells))
                    .filter(
                        identification_links::observed_at
                            .between(sighting.observed_at - window, sighting.observed_at + window),
                    )
                    .select(LinkedPlace::as_select())
                    .limit(budget)
                    .load::<LinkedPlace>(conn)?,
            );
        }
        let here = Point::new(lon, lat);
        for other in others {
            let (Some(other_lat), Some(other_lon)) = (other.lat, other.lon) else { continue };
            let distance_m = Haversine.distance(here, Point::new(other_lon, other_lat));
            if distance_m > settings.candidate_radius_m {
                continue;
            }
            let found = Nearby {
                distance_m,
                earlier_by: sighting.observed_at - other.observed_at,
                same_companions: sighting
                    .accompanied_by
                    .as_ref()
                    .is_some_and(|mine| mine != "unknown" && other.accompanied_by.as_ref() == Some(mine)),
            };
            let best = nearby.entry(other.profile_id).or_insert(found);
            let companions = best.same_companions || found.same_companions;
            if found.closeness(settings.candidate_radius_m, window)
                > best.closeness(settings.candidate_radius_m, window)
            {
                *best = found;
            }
            best.same_companions = companions;
        }
    }
    // The closest profiles are plenty to fill a short list; a farther one with a name like the one
    // told comes in through the name search.
    let mut by_place: Vec<(&String, f64)> =
        nearby.iter().map(|(id, near)| (id, near.closeness(settings.candidate_radius_m, window))).collect();
    by_place.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    by_place.truncate(MAX_PROFILES_BY_PLACE);
    let told_keys = sighting.name_as_told.as_deref().map(names::sound_keys).unwrap_or_default();
    let told = sighting.name_as_told.as_deref().filter(|_| !told_keys.is_empty());
    let mut by_name: Vec<String> = Vec::new();
    if told.is_some() {
        // Children with a name that sounds alike, last seen within the window around the sighting,
        // most recent first. (For a sighting entered long after the fact, a child seen then and
        // again since is found by place, not by name.)
        by_name = child_profile_name_keys::table
            .filter(child_profile_name_keys::sound_key.eq_any(&told_keys))
            .filter(
                child_profile_name_keys::last_seen_at
                    .between(sighting.observed_at - window, sighting.observed_at + window),
            )
            .order(child_profile_name_keys::last_seen_at.desc())
            .select(child_profile_name_keys::profile_id)
            .limit(MAX_NAME_MATCHES)
            .load(conn)?;
    }
    let mut ids: HashSet<&String> = by_place.iter().map(|(id, _)| *id).chain(by_name.iter()).collect();
    if let Some(linked) = linked_to {
        ids.retain(|id| id.as_str() != linked);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let scope = crate::access::scope_area_ids(index, user);
    let latest_first_seen = sighting.observed_at + window;
    let profiles: Vec<ProfileRow> = child_profiles::table
        .filter(child_profiles::id.eq_any(ids))
        .select(ProfileRow::as_select())
        .load::<ProfileRow>(conn)?
        .into_iter()
        .filter(|p| p.merged_into.is_none() && p.first_seen_at <= latest_first_seen && visible_within(&scope, user, p))
        .collect();
    let mut names_of: HashMap<String, Vec<String>> = HashMap::new();
    if told.is_some() {
        let loaded: Vec<(String, String)> = child_profile_names::table
            .filter(child_profile_names::profile_id.eq_any(profiles.iter().map(|p| &p.id)))
            .select((child_profile_names::profile_id, child_profile_names::name))
            .load(conn)?;
        for (profile_id, name) in loaded {
            names_of.entry(profile_id).or_default().push(name);
        }
    }
    let show_names = user.can(Permission::ChildrenReadNames);
    let mut scored = Vec::new();
    for profile in &profiles {
        let names = names_of.get(&profile.id).map(Vec::as_slice).unwrap_or_default();
        let evidence = Evidence { nearby: nearby.get(&profile.id).copied(), told, names, show_names };
        if let Some((score, reasons)) = score(settings, window, sighting, profile, &evidence) {
            scored.push((score, profile, reasons));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.last_seen_at.cmp(&a.1.last_seen_at)));
    scored.truncate(settings.max_candidates);
    scored
        .into_iter()
        .map(|(score, profile, reasons)| {
            Ok(ProfileCandidate {
                profile: ProfileRef { id: parse_uuid(&profile.id)?, reference: profile.reference.clone() },
                score: (score * 100.0).round() / 100.0,
                reasons,
                sex: profile.sex.clone(),
                age_band: AgeBand::of_age(profile.birth_year.map(|born| sighting.observed_at.year() - born)),
                status: profile.status.clone(),
                display_name: show_names.then(|| display_name(profile, &names_of)).flatten(),
                last_seen_at: Some(to_utc(profile.last_seen_at)),
                sightings: profile.sightings_count,
            })
        })
        .collect()
}

struct Evidence<'a> {
    nearby: Option<Nearby>,
    told: Option<&'a str>,
    names: &'a [String],
    show_names: bool,
}

fn display_name(profile: &ProfileRow, names_of: &HashMap<String, Vec<String>>) -> Option<String> {
    let own: Vec<&str> =
        [profile.given_name.as_deref(), profile.family_name.as_deref()].into_iter().flatten().collect();
    if own.is_empty() {
        names_of.get(&profile.id).and_then(|names| names.first().cloned())
    } else {
        Some(own.join(" "))
    }
}

fn reason(code: CandidateReasonCode, detail: String) -> CandidateReason {
    CandidateReason { code, detail }
}

/// The birth year a sighting implies, from a stated year or an estimated age.
/// The birth year a sighting gives: the one told, or the estimated age at the time seen.
pub(super) fn birth_year_of(sighting: &IdentificationRow) -> Option<i32> {
    sighting.birth_year.or_else(|| sighting.estimated_age.map(|age| sighting.observed_at.year() - age))
}

fn describe_gap(earlier_by: Duration) -> String {
    let span = earlier_by.abs();
    let amount = if span >= Duration::days(2) {
        format!("{} days", span.num_days())
    } else if span >= Duration::hours(2) {
        format!("{} hours", span.num_hours())
    } else {
        format!("{} minutes", span.num_minutes())
    };
    if earlier_by >= Duration::zero() { format!("{amount} earlier") } else { format!("{amount} later") }
}

/// The score and reasons for one profile, or `None` when it cannot be the same person (another
/// sex, or an age too far apart) or the evidence is too thin.
fn score(
    settings: &ProfilesConfig,
    window: Duration,
    sighting: &IdentificationRow,
    profile: &ProfileRow,
    evidence: &Evidence,
) -> Option<(f64, Vec<CandidateReason>)> {
    let mut total = 0.0;
    let mut reasons = Vec::new();
    if super::store::sexes_conflict(&sighting.sex, &profile.sex) {
        return None;
    }
    if sighting.sex == profile.sex && sighting.sex != "unknown" {
        total += WEIGHT_SEX;
        reasons.push(reason(CandidateReasonCode::SameSex, sighting.sex.clone()));
    } else {
        total += WEIGHT_SEX / 2.0;
    }
    match (birth_year_of(sighting), profile.birth_year) {
        (Some(seen), Some(recorded)) => {
            // Ages guessed by eye are rough: three years either way is still the same child.
            let exact = sighting.birth_year.is_some() && !profile.birth_year_estimated;
            let tolerance = if exact { 1 } else { 3 };
            let gap = (seen - recorded).abs();
            if gap > tolerance {
                return None;
            }
            if gap <= 1 {
                total += WEIGHT_AGE;
                reasons.push(reason(CandidateReasonCode::SameAge, format!("born around {recorded}")));
            } else {
                total += WEIGHT_AGE / 2.0;
                let detail = format!("born around {recorded}, {gap} years apart");
                reasons.push(reason(CandidateReasonCode::CompatibleAge, detail));
            }
        }
        _ => total += WEIGHT_AGE / 3.0,
    }
    if let Some(near) = evidence.nearby {
        total += WEIGHT_PLACE_AND_TIME * near.closeness(settings.candidate_radius_m, window);
        reasons.push(reason(
            CandidateReasonCode::NearInSpaceAndTime,
            format!("seen {:.0} m away, {}", near.distance_m, describe_gap(near.earlier_by)),
        ));
        if near.same_companions
            && let Some(companions) = &sighting.accompanied_by
        {
            total += WEIGHT_COMPANIONS;
            reasons.push(reason(CandidateReasonCode::SameCompanions, companions.clone()));
        }
    }
    if let Some(told) = evidence.told {
        let best =
            evidence.names.iter().map(|name| (names::similarity(told, name), name)).max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((similarity, name)) = best.filter(|(similarity, _)| *similarity >= MIN_NAME_SIMILARITY) {
            total += WEIGHT_NAME * similarity;
            let code = if names::sound_alike(told, name) {
                CandidateReasonCode::NameSoundsAlike
            } else {
                CandidateReasonCode::SimilarName
            };
            let detail = if evidence.show_names {
                format!("{told} ~ {name}")
            } else {
                "the name told is like one the child is known by".to_owned()
            };
            reasons.push(reason(code, detail));
        }
    }
    // Place and time, or a name: sex and age alone fit too many children.
    let has_evidence = reasons.iter().any(|r| {
        matches!(
            r.code,
            CandidateReasonCode::NearInSpaceAndTime
                | CandidateReasonCode::SimilarName
                | CandidateReasonCode::NameSoundsAlike
        )
    });
    (has_evidence && total >= MIN_SCORE).then_some((total, reasons))
}
