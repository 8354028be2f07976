//! A profile as the reader may see it, one or a page at a time, and its history of sightings
//! and merges; reads are audited.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::identifications::AgeBand;
use terren_contract::profiles::{ChildProfile, HistoryEntry, ProfileHistory, ProfileRef, WithheldProfileField};

use super::merge::merges_of;
use super::store::{ProfileRow, follow_merges, source};
use crate::access::AuthUser;
use crate::access::profiles::find_visible;
use crate::accounts::model::AgencyBrief;
use crate::accounts::service::agency_ref;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{agencies, child_profile_names, child_profiles, identification_links, identifications};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::identifications::read as sightings;
use crate::identifications::store::{IdentificationRow, Lookups, parse_codes};
use crate::ids::{AgencyId, parse_uuid};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;

/// Names and agencies of a page of profiles, loaded once.
pub(super) struct ProfileLookups {
    pub(super) names: HashMap<String, Vec<(String, String)>>,
    pub(super) agencies: HashMap<AgencyId, AgencyBrief>,
    pub(super) references: HashMap<String, String>,
}

impl ProfileLookups {
    pub(super) fn load(conn: &mut DbConnection, rows: &[ProfileRow]) -> QueryResult<ProfileLookups> {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut names: HashMap<String, Vec<(String, String)>> = HashMap::new();
        let loaded: Vec<(String, String, String)> = child_profile_names::table
            .filter(child_profile_names::profile_id.eq_any(&ids))
            .select((child_profile_names::profile_id, child_profile_names::name, child_profile_names::source))
            .order((child_profile_names::profile_id, child_profile_names::added_at, child_profile_names::folded))
            .load(conn)?;
        for (profile_id, name, source) in loaded {
            names.entry(profile_id).or_default().push((name, source));
        }
        let agency_ids: HashSet<&str> = rows.iter().map(|r| r.agency_id.as_str()).collect();
        let agencies = agencies::table
            .filter(agencies::id.eq_any(agency_ids))
            .select((agencies::id, agencies::code, agencies::name))
            .load::<AgencyBrief>(conn)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let merged_into: Vec<&str> = rows.iter().filter_map(|r| r.merged_into.as_deref()).collect();
        let references = child_profiles::table
            .filter(child_profiles::id.eq_any(merged_into))
            .select((child_profiles::id, child_profiles::reference))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        Ok(ProfileLookups { names, agencies, references })
    }
}

/// The age band a birth year gives in a year.
pub(super) fn band_in(year: i32, birth_year: Option<i32>) -> AgeBand {
    AgeBand::of_age(birth_year.map(|born| year - born))
}

pub(super) fn view_with(
    lookups: &ProfileLookups,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ProfileRow,
    this_year: i32,
) -> ApiResult<ChildProfile> {
    let names_allowed = user.can(Permission::ChildrenReadNames);
    let mut withheld = Vec::new();
    let mut gated = |field: WithheldProfileField, value: Option<String>| {
        if names_allowed {
            value
        } else {
            withheld.push(field);
            None
        }
    };
    let given_name = gated(WithheldProfileField::GivenName, row.given_name.clone());
    let family_name = gated(WithheldProfileField::FamilyName, row.family_name.clone());
    let family_contacts = gated(WithheldProfileField::FamilyContacts, row.family_contacts.clone());
    let aliases = if names_allowed {
        let names = lookups.names.get(&row.id).map(Vec::as_slice).unwrap_or_default();
        names.iter().filter(|(_, origin)| origin != source::GIVEN).map(|(name, _)| name.clone()).collect()
    } else {
        withheld.push(WithheldProfileField::Aliases);
        Vec::new()
    };
    let agency = lookups.agencies.get(&row.agency_id).ok_or_else(|| ApiError::not_found("agency"))?;
    let merged_into = match &row.merged_into {
        Some(id) => {
            Some(ProfileRef { id: parse_uuid(id)?, reference: lookups.references.get(id).cloned().unwrap_or_default() })
        }
        None => None,
    };
    Ok(ChildProfile {
        id: parse_uuid(&row.id)?,
        reference: row.reference.clone(),
        subject_type: row.subject_type.clone(),
        status: row.status.clone(),
        given_name,
        family_name,
        aliases,
        sex: row.sex.clone(),
        birth_year: row.birth_year,
        birth_year_estimated: row.birth_year_estimated,
        age_band: band_in(this_year, row.birth_year),
        nationality: row.nationality.clone(),
        languages: parse_codes(&row.languages),
        residence_origin: row.residence_origin.clone(),
        family_contacts,
        municipality: area_ref(index, &row.municipality_id),
        admin_unit: area_ref(index, &row.admin_unit_id),
        agency: agency_ref(agency)?,
        sightings: row.sightings_count,
        first_seen_at: Some(to_utc(row.first_seen_at)),
        last_seen_at: Some(to_utc(row.last_seen_at)),
        merged_into,
        withheld,
        version: row.version,
        created_at: to_utc(row.created_at),
        updated_at: to_utc(row.updated_at),
    })
}

pub(super) fn audit_profile_read(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    profile: &ChildProfile,
) -> QueryResult<()> {
    audit::record(
        tx,
        &user.actor(),
        at,
        action,
        "child_profile",
        &profile.id.to_string(),
        serde_json::json!({ "withheld": profile.withheld }),
    )
}

/// One profile; the read is audited.
pub fn read(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_visible(tx, index, user, id)?;
    let profile = view_at(tx, index, user, &row, at)?;
    audit_profile_read(tx, user, at, "child_profile.read", &profile)?;
    Ok(profile)
}

/// These profiles, as the reader may see them, ordered by id; the reading is audited as one
/// listing. The ids are ones the reader's scope was checked for (a sync's working set).
pub fn read_many(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    ids: &[String],
    at: NaiveDateTime,
    action: &str,
) -> ApiResult<Vec<ChildProfile>> {
    user.require(Permission::IdentificationsRead)?;
    let rows: Vec<ProfileRow> = child_profiles::table
        .filter(child_profiles::id.eq_any(ids))
        .select(ProfileRow::as_select())
        .order(child_profiles::id.asc())
        .load(tx.conn())?;
    let lookups = ProfileLookups::load(tx, &rows)?;
    let profiles =
        rows.iter().map(|row| view_with(&lookups, index, user, row, at.year())).collect::<ApiResult<Vec<_>>>()?;
    if !profiles.is_empty() {
        let shown: Vec<String> = profiles.iter().map(|p| p.id.to_string()).collect();
        audit::record(tx, &user.actor(), at, action, "child_profile", "list", serde_json::json!({ "ids": shown }))?;
    }
    Ok(profiles)
}

pub(super) fn view_at(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ProfileRow,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    let lookups = ProfileLookups::load(conn, std::slice::from_ref(row))?;
    view_with(&lookups, index, user, row, at.year())
}

/// A profile's sightings in the order they happened, each with its place, and its merges.
pub fn history(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<ProfileHistory> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_visible(tx, index, user, id)?;
    let profile = view_at(tx, index, user, &row, at)?;
    let rows: Vec<IdentificationRow> = identification_links::table
        .inner_join(identifications::table)
        .filter(identification_links::profile_id.eq(&row.id))
        .select(IdentificationRow::as_select())
        .order((identifications::observed_at.asc(), identifications::id.asc()))
        .load(tx.conn())?;
    let lookups = Lookups::load(tx, &rows)?;
    let scope = crate::access::scope_area_ids(index, user);
    let mut shown = Vec::new();
    let mut entries = Vec::with_capacity(rows.len());
    for sighting in &rows {
        let identification = if crate::access::identifications::in_scope_within(&scope, user, sighting) {
            shown.push(sighting.id.clone());
            Some(sightings::view_with(&lookups, index, user, sighting)?)
        } else {
            None
        };
        entries.push(HistoryEntry {
            identification_id: parse_uuid(&sighting.id)?,
            observed_at: to_utc(sighting.observed_at),
            municipality: area_ref(index, &sighting.municipality_id),
            admin_unit: area_ref(index, &sighting.admin_unit_id),
            identification,
        });
    }
    let merges = merges_of(tx, &row.id)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "child_profile.history",
        "child_profile",
        &row.id,
        serde_json::json!({ "identifications_shown": shown, "withheld": profile.withheld }),
    )?;
    Ok(ProfileHistory { profile, sightings: entries, merges })
}

/// The profile a referral is about: one the reader may see, followed through merges.
pub fn find_for_referral(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<ProfileRow> {
    let row = find_visible(conn, index, user, id)?;
    follow_merges(conn, row)
}
