use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::identifications::PersonRef;
use terren_contract::problem::FieldError;
use terren_contract::profiles::{
    CandidateList, ChildProfile, ChildProfileUpdate, HistoryEntry, LinkIdentification, LinkResult, MergeProfiles,
    NewChildProfile, ProfileHistory, ProfileListQuery, ProfileMerge, ProfilePage, ProfileRef, UnmergeProfiles,
};
use uuid::Uuid;

use super::names;
use crate::access::AuthUser;
use crate::accounts::model::AgencyBrief;
use crate::accounts::service::agency_ref;
use crate::audit;
use crate::clock::to_utc;
use crate::config::ProfilesConfig;
use crate::db::schema::{
    agencies, area_aliases, child_profile_merges, child_profile_name_keys, child_profile_names, child_profiles,
    identification_links, identifications, profile_reference_counters, users,
};
use crate::db::{DbConnection, backend};
use crate::http::{ApiError, ApiResult, ErrorCode, cursor};
use crate::identifications::privacy::age_band;
use crate::identifications::service::{
    self as sightings, IdentificationRow, Lookups, check_nationality_and_languages, codes, parse_codes,
};
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::is_active_code;

type Backend = <DbConnection as diesel::Connection>::Backend;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = child_profiles)]
pub struct ProfileRow {
    pub id: String,
    pub reference: String,
    pub subject_type: String,
    pub status: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub sex: String,
    pub birth_year: Option<i32>,
    pub birth_year_estimated: bool,
    pub nationality: Option<String>,
    pub languages: String,
    pub residence_origin: Option<String>,
    pub family_contacts: Option<String>,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub agency_id: String,
    pub created_by: String,
    pub merged_into: Option<String>,
    pub sightings_count: i32,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Where a name came from: the child's own name, an alias, a name told in the field, or one that
/// arrived with a merge.
mod source {
    pub const GIVEN: &str = "given";
    pub const ALIAS: &str = "alias";
    pub const TOLD: &str = "told";
}

/// How far merges are followed before the chain is considered broken.
const MAX_MERGE_CHAIN: usize = 32;

/// Whether the reader may see the profile: their agency made it, or the child was first seen in
/// an area their agency serves.
pub fn visible(index: &TerritoryIndex, user: &AuthUser, row: &ProfileRow) -> bool {
    visible_within(&crate::access::scope_area_ids(index, user), user, row)
}

/// [`visible`], with the reader's scope (area ids) worked out once for many profiles.
pub fn visible_within(scope: &HashSet<String>, user: &AuthUser, row: &ProfileRow) -> bool {
    row.agency_id == user.agency.id
        || [&row.municipality_id, &row.admin_unit_id].into_iter().flatten().any(|id| scope.contains(id))
}

/// The same rule as [`visible`], as a query filter.
pub fn visible_filter(
    index: &TerritoryIndex,
    user: &AuthUser,
) -> Box<dyn BoxableExpression<child_profiles::table, Backend, SqlType = diesel::sql_types::Bool>> {
    let scope: Vec<String> = crate::access::scope_area_ids(index, user).into_iter().collect();
    Box::new(
        child_profiles::agency_id
            .eq(user.agency.id.clone())
            .or(child_profiles::municipality_id.eq_any(scope.clone()).assume_not_null())
            .or(child_profiles::admin_unit_id.eq_any(scope).assume_not_null()),
    )
}

fn find_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ProfileRow>> {
    child_profiles::table.find(id).select(ProfileRow::as_select()).get_result(conn).optional()
}

/// A profile the reader may see, or 404: a profile outside the reader's scope does not exist for
/// them. An accepted referral that shares the child's details opens it to the receiving agency.
pub fn find_visible(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<ProfileRow> {
    let Some(row) = find_row(conn, id)? else { return Err(ApiError::not_found("child profile")) };
    if visible(index, user, &row) || crate::access::opens_profile(conn, user, id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found("child profile"))
    }
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

/// Follows merges to the profile that holds the child's sightings now.
fn follow_merges(conn: &mut DbConnection, mut row: ProfileRow) -> ApiResult<ProfileRow> {
    for _ in 0..MAX_MERGE_CHAIN {
        let Some(next) = row.merged_into.clone() else { return Ok(row) };
        row = find_row(conn, &next)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    }
    Err(ApiError::internal(anyhow::anyhow!("merge chain of profile {} is too long", row.id)))
}

fn not_merged(row: &ProfileRow) -> ApiResult<()> {
    match &row.merged_into {
        Some(_) => Err(ApiError::conflict(format!(
            "{} was merged into another profile; use that one (see merged_into)",
            row.reference
        ))),
        None => Ok(()),
    }
}

/// The full name, as stored among the names for search.
fn full_name(given: Option<&str>, family: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [given, family].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Adds a name unless the profile already has it (compared folded); returns the folded form if
/// it was added.
fn add_name(
    conn: &mut DbConnection,
    profile_id: &str,
    name: &str,
    source: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let name = name.trim();
    let folded = crate::territory::fold::fold(name);
    if folded.is_empty() {
        return Ok(None);
    }
    let exists: i64 = child_profile_names::table
        .filter(child_profile_names::profile_id.eq(profile_id))
        .filter(child_profile_names::folded.eq(&folded))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(None);
    }
    diesel::insert_into(child_profile_names::table)
        .values((
            child_profile_names::profile_id.eq(profile_id),
            child_profile_names::folded.eq(&folded),
            child_profile_names::name.eq(name),
            child_profile_names::source.eq(source),
            child_profile_names::added_at.eq(at),
        ))
        .execute(conn)?;
    Ok(Some(folded))
}

/// Rebuilds the sound keys of a profile from its names.
fn rebuild_sound_keys(conn: &mut DbConnection, profile_id: &str) -> QueryResult<()> {
    diesel::delete(child_profile_name_keys::table.filter(child_profile_name_keys::profile_id.eq(profile_id)))
        .execute(conn)?;
    let last_seen_at: NaiveDateTime =
        child_profiles::table.find(profile_id).select(child_profiles::last_seen_at).get_result(conn)?;
    let names: Vec<String> = child_profile_names::table
        .filter(child_profile_names::profile_id.eq(profile_id))
        .select(child_profile_names::name)
        .load(conn)?;
    let keys: HashSet<String> = names.iter().flat_map(|n| names::sound_keys(n)).collect();
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort();
    for key in keys {
        diesel::insert_into(child_profile_name_keys::table)
            .values((
                child_profile_name_keys::sound_key.eq(key),
                child_profile_name_keys::profile_id.eq(profile_id),
                child_profile_name_keys::last_seen_at.eq(last_seen_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Recounts a profile's sightings and when it was first and last seen. A profile left without
/// sightings keeps the times it had.
fn refresh_sightings(conn: &mut DbConnection, profile_id: &str) -> QueryResult<()> {
    use diesel::dsl::{count_star, max, min};
    let (count, first, last): (i64, Option<NaiveDateTime>, Option<NaiveDateTime>) = identification_links::table
        .filter(identification_links::profile_id.eq(profile_id))
        .select((count_star(), min(identification_links::observed_at), max(identification_links::observed_at)))
        .get_result(conn)?;
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    let target = child_profiles::table.find(profile_id);
    match (first, last) {
        (Some(first), Some(last)) => {
            diesel::update(target)
                .set((
                    child_profiles::sightings_count.eq(count),
                    child_profiles::first_seen_at.eq(first),
                    child_profiles::last_seen_at.eq(last),
                ))
                .execute(conn)?;
            diesel::update(child_profile_name_keys::table.filter(child_profile_name_keys::profile_id.eq(profile_id)))
                .set(child_profile_name_keys::last_seen_at.eq(last))
                .execute(conn)?;
        }
        _ => {
            diesel::update(target).set(child_profiles::sightings_count.eq(0)).execute(conn)?;
        }
    }
    Ok(())
}

/// The municipality's two-letter code from its HASC code (`AL.TI.TR` → `TR`), or `AL` when the
/// child was seen where no municipality is known.
fn reference_prefix(conn: &mut DbConnection, municipality_id: Option<&str>) -> QueryResult<String> {
    let Some(municipality_id) = municipality_id else { return Ok("AL".to_owned()) };
    let codes: Vec<String> = area_aliases::table
        .filter(area_aliases::area_id.eq(municipality_id))
        .filter(area_aliases::is_code.eq(true))
        .select(area_aliases::alias)
        .load(conn)?;
    Ok(codes
        .iter()
        .filter_map(|code| match code.split('.').collect::<Vec<_>>()[..] {
            ["AL", _, short] if short.len() == 2 && short.chars().all(|c| c.is_ascii_uppercase()) => {
                Some(short.to_owned())
            }
            _ => None,
        })
        .min()
        .unwrap_or_else(|| "AL".to_owned()))
}

/// The next reference for a prefix and year, e.g. `TR-2026-000123`. Counters are locked for the
/// transaction, so two workers never get the same number.
fn next_reference(conn: &mut DbConnection, prefix: &str, year: i32) -> QueryResult<String> {
    backend::serialise_writers(conn, "profile_reference_counters")?;
    let counter = format!("{prefix}-{year}");
    let last: Option<i32> = profile_reference_counters::table
        .find(&counter)
        .select(profile_reference_counters::last_value)
        .get_result(conn)
        .optional()?;
    let next = last.unwrap_or(0) + 1;
    if last.is_some() {
        diesel::update(profile_reference_counters::table.find(&counter))
            .set(profile_reference_counters::last_value.eq(next))
            .execute(conn)?;
    } else {
        diesel::insert_into(profile_reference_counters::table)
            .values((profile_reference_counters::prefix.eq(&counter), profile_reference_counters::last_value.eq(next)))
            .execute(conn)?;
    }
    Ok(format!("{counter}-{next:06}"))
}

/// A name with no letters or digits in it ("-", "  ").
fn is_blank_name(name: &str) -> bool {
    crate::territory::fold::fold(name).is_empty()
}

fn blank_name(field: String) -> FieldError {
    FieldError { field, code: "blank".into(), message: "a name needs letters".into() }
}

fn check_aliases(field: &str, aliases: &[String], errors: &mut Vec<FieldError>) {
    for (i, alias) in aliases.iter().enumerate() {
        if alias.chars().count() > 100 || is_blank_name(alias) {
            errors.push(blank_name(format!("{field}[{i}]")));
        }
    }
}

fn check_names(new: &NewChildProfile, errors: &mut Vec<FieldError>) {
    for (field, value) in [("new_profile.given_name", &new.given_name), ("new_profile.family_name", &new.family_name)] {
        if value.as_deref().is_some_and(is_blank_name) {
            errors.push(blank_name(field.to_owned()));
        }
    }
    check_aliases("new_profile.aliases", &new.aliases, errors);
}

/// Makes a profile for a sighting: facts the phone did not send come from the sighting.
fn create_for_sighting(
    conn: &mut DbConnection,
    user: &AuthUser,
    sighting: &IdentificationRow,
    new: &NewChildProfile,
    at: NaiveDateTime,
) -> ApiResult<ProfileRow> {
    let mut errors = Vec::new();
    check_names(new, &mut errors);
    if new.birth_year.is_some_and(|year| year > at.year()) {
        errors.push(FieldError {
            field: "new_profile.birth_year".into(),
            code: "in_future".into(),
            message: "the birth year is in the future".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let has_names = new.given_name.is_some() || new.family_name.is_some() || !new.aliases.is_empty();
    if (has_names || new.family_contacts.is_some()) && !user.can(Permission::ChildrenReadNames) {
        return Err(ApiError::forbidden("names and family contacts need the permission children_read_names"));
    }
    let birth_year = new.birth_year.or_else(|| super::candidates::birth_year_of(sighting));
    let estimated = new.birth_year_estimated.unwrap_or(new.birth_year.is_none() && sighting.birth_year.is_none());
    let prefix = reference_prefix(conn, sighting.municipality_id.as_deref())?;
    let row = ProfileRow {
        id: new.id.to_string(),
        reference: next_reference(conn, &prefix, at.year())?,
        subject_type: sighting.subject_type.clone(),
        status: "identified".into(),
        given_name: new.given_name.as_ref().map(|n| n.trim().to_owned()),
        family_name: new.family_name.as_ref().map(|n| n.trim().to_owned()),
        sex: sighting.sex.clone(),
        birth_year,
        birth_year_estimated: birth_year.is_some() && estimated,
        nationality: sighting.nationality.clone(),
        languages: sighting.languages.clone(),
        residence_origin: sighting.residence_origin.clone(),
        family_contacts: new.family_contacts.clone(),
        municipality_id: sighting.municipality_id.clone(),
        admin_unit_id: sighting.admin_unit_id.clone(),
        agency_id: user.agency.id.clone(),
        created_by: user.user_id.clone(),
        merged_into: None,
        sightings_count: 0,
        first_seen_at: sighting.observed_at,
        last_seen_at: sighting.observed_at,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(child_profiles::table).values(&row).execute(conn)?;
    if let Some(name) = full_name(row.given_name.as_deref(), row.family_name.as_deref()) {
        add_name(conn, &row.id, &name, source::GIVEN, at)?;
    }
    for alias in &new.aliases {
        add_name(conn, &row.id, alias, source::ALIAS, at)?;
    }
    audit::record(
        conn,
        &user.actor(),
        at,
        "child_profile.create",
        "child_profile",
        &row.id,
        serde_json::json!({ "reference": row.reference, "identification_id": sighting.id }),
    )?;
    Ok(row)
}

/// Links a sighting to a child's profile, existing or new. Linking again to the same profile
/// changes nothing; a sighting already linked elsewhere is refused (a coordinator unlinks it).
/// Runs inside the caller's write transaction.
pub fn link(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    identification_id: &str,
    request: &LinkIdentification,
    at: NaiveDateTime,
) -> ApiResult<(LinkResult, bool)> {
    user.require(Permission::IdentificationsCreate)?;
    let sighting = sightings::find_in_scope(conn, index, user, identification_id)?;
    let existing: Option<String> = identification_links::table
        .find(identification_id)
        .select(identification_links::profile_id)
        .get_result(conn)
        .optional()?;
    let wanted = match (&request.profile_id, &request.new_profile) {
        (Some(profile_id), None) => {
            let row = find_visible(conn, index, user, &profile_id.to_string())?;
            let row = follow_merges(conn, row)?;
            if !visible(index, user, &row) {
                return Err(ApiError::not_found("child profile"));
            }
            Some(row)
        }
        (None, Some(new)) => find_row(conn, &new.id.to_string())?,
        _ => {
            return Err(ApiError::field("profile_id", "one_of_required", "send either profile_id or new_profile"));
        }
    };
    if let Some(current) = existing {
        // Linking again to the profile it is linked to changes nothing.
        return match wanted {
            Some(row) if row.id == current => {
                let profile = view_at(conn, index, user, &row, at)?;
                Ok((
                    LinkResult { identification_id: parse_uuid(&sighting.id)?, profile, created_profile: false },
                    false,
                ))
            }
            _ => Err(ApiError::new(ErrorCode::AlreadyLinked)
                .with_detail("this sighting is linked to another profile; a coordinator can unlink it")),
        };
    }
    let (target, created) = match (wanted, &request.new_profile) {
        (Some(row), None) => (row, false),
        (None, Some(new)) => (create_for_sighting(conn, user, &sighting, new, at)?, true),
        _ => return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a profile with this id exists")),
    };
    if sexes_conflict(&target.sex, &sighting.sex) {
        return Err(ApiError::field(
            "profile_id",
            "sex_mismatch",
            format!("{} is recorded as {}, this sighting as {}", target.reference, target.sex, sighting.sex),
        ));
    }
    diesel::insert_into(identification_links::table)
        .values((
            identification_links::identification_id.eq(&sighting.id),
            identification_links::profile_id.eq(&target.id),
            identification_links::cell_key.eq(&sighting.cell_key),
            identification_links::lat.eq(sighting.lat),
            identification_links::lon.eq(sighting.lon),
            identification_links::accompanied_by.eq(&sighting.accompanied_by),
            identification_links::observed_at.eq(sighting.observed_at),
            identification_links::linked_by.eq(&user.user_id),
            identification_links::linked_at.eq(at),
        ))
        .execute(conn)?;
    let told_name_added = match &sighting.name_as_told {
        Some(name) => add_name(conn, &target.id, name, source::TOLD, at)?.is_some(),
        None => false,
    };
    // Sound keys change only with the names: a new profile's, or a name heard for the first time.
    if created || told_name_added {
        rebuild_sound_keys(conn, &target.id)?;
    }
    refresh_sightings(conn, &target.id)?;
    // A child whose case was closed, back on the street, is open again.
    let reopened = target.status == "closed";
    if reopened {
        diesel::update(child_profiles::table.find(&target.id))
            .set((
                child_profiles::status.eq("identified"),
                child_profiles::version.eq(target.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.link",
        "identification",
        &sighting.id,
        serde_json::json!({ "profile_id": target.id, "reference": target.reference, "created_profile": created, "reopened": reopened }),
    )?;
    let row = find_row(conn, &target.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    let profile = view_at(conn, index, user, &row, at)?;
    Ok((LinkResult { identification_id: parse_uuid(&sighting.id)?, profile, created_profile: created }, true))
}

/// The answer to a repeated link request: the profile as the reader may see it now.
pub fn replayed_link(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    profile_id: &str,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    let row = find_visible(conn, index, user, profile_id)?;
    let profile = view_at(conn, index, user, &row, at)?;
    audit_profile_read(conn, user, at, "identification.link.replay", &profile)?;
    Ok(profile)
}

/// Two recorded sexes that rule out the same child: both known and different.
pub(super) fn sexes_conflict(a: &str, b: &str) -> bool {
    a != "unknown" && b != "unknown" && a != b
}

/// Removes a sighting's link (a coordinator correcting a wrong link). Audited.
pub fn unlink(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    identification_id: &str,
    at: NaiveDateTime,
) -> ApiResult<()> {
    user.require(Permission::ChildrenMerge)?;
    let sighting = sightings::find_in_scope(conn, index, user, identification_id)?;
    let profile_id: String = identification_links::table
        .find(&sighting.id)
        .select(identification_links::profile_id)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("link"))?;
    diesel::delete(identification_links::table.find(&sighting.id)).execute(conn)?;
    refresh_sightings(conn, &profile_id)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.unlink",
        "identification",
        &sighting.id,
        serde_json::json!({ "profile_id": profile_id }),
    )?;
    Ok(())
}

/// Names and agencies of a page of profiles, loaded once.
struct ProfileLookups {
    names: HashMap<String, Vec<(String, String)>>,
    agencies: HashMap<String, AgencyBrief>,
    references: HashMap<String, String>,
}

impl ProfileLookups {
    fn load(conn: &mut DbConnection, rows: &[ProfileRow]) -> QueryResult<ProfileLookups> {
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
fn band_in(year: i32, birth_year: Option<i32>) -> &'static str {
    age_band(birth_year.map(|born| year - born))
}

fn view_with(
    lookups: &ProfileLookups,
    index: &TerritoryIndex,
    user: &AuthUser,
    row: &ProfileRow,
    this_year: i32,
) -> ApiResult<ChildProfile> {
    let names_allowed = user.can(Permission::ChildrenReadNames);
    let mut withheld = Vec::new();
    let mut gated = |field: &str, value: Option<String>| {
        if names_allowed {
            value
        } else {
            withheld.push(field.to_owned());
            None
        }
    };
    let given_name = gated("given_name", row.given_name.clone());
    let family_name = gated("family_name", row.family_name.clone());
    let family_contacts = gated("family_contacts", row.family_contacts.clone());
    let aliases = if names_allowed {
        let names = lookups.names.get(&row.id).map(Vec::as_slice).unwrap_or_default();
        names.iter().filter(|(_, origin)| origin != source::GIVEN).map(|(name, _)| name.clone()).collect()
    } else {
        withheld.push("aliases".to_owned());
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
        age_band: band_in(this_year, row.birth_year).to_owned(),
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

fn audit_profile_read(
    conn: &mut DbConnection,
    user: &AuthUser,
    at: NaiveDateTime,
    action: &str,
    profile: &ChildProfile,
) -> QueryResult<()> {
    audit::record(
        conn,
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
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_visible(conn, index, user, id)?;
    let profile = view_at(conn, index, user, &row, at)?;
    audit_profile_read(conn, user, at, "child_profile.read", &profile)?;
    Ok(profile)
}

fn view_at(
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
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<ProfileHistory> {
    user.require(Permission::IdentificationsRead)?;
    let row = find_visible(conn, index, user, id)?;
    let profile = view_at(conn, index, user, &row, at)?;
    let rows: Vec<IdentificationRow> = identification_links::table
        .inner_join(identifications::table)
        .filter(identification_links::profile_id.eq(&row.id))
        .select(IdentificationRow::as_select())
        .order((identifications::observed_at.asc(), identifications::id.asc()))
        .load(conn)?;
    let lookups = Lookups::load(conn, &rows)?;
    let scope = crate::access::scope_area_ids(index, user);
    let mut shown = Vec::new();
    let mut entries = Vec::with_capacity(rows.len());
    for sighting in &rows {
        let identification = if sightings::in_scope_within(&scope, user, sighting) {
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
    let merges = merges_of(conn, &row.id)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "child_profile.history",
        "child_profile",
        &row.id,
        serde_json::json!({ "identifications_shown": shown, "withheld": profile.withheld }),
    )?;
    Ok(ProfileHistory { profile, sightings: entries, merges })
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = child_profile_merges)]
struct MergeRow {
    id: String,
    survivor_id: String,
    merged_id: String,
    moved_identifications: String,
    moved_names: String,
    reason: String,
    merged_by: String,
    merged_at: NaiveDateTime,
    unmerged_by: Option<String>,
    unmerged_at: Option<NaiveDateTime>,
    unmerge_reason: Option<String>,
}

fn merges_of(conn: &mut DbConnection, profile_id: &str) -> ApiResult<Vec<ProfileMerge>> {
    let rows: Vec<MergeRow> = child_profile_merges::table
        .filter(child_profile_merges::survivor_id.eq(profile_id).or(child_profile_merges::merged_id.eq(profile_id)))
        .select(MergeRow::as_select())
        .order((child_profile_merges::merged_at.asc(), child_profile_merges::id.asc()))
        .load(conn)?;
    rows.iter().map(|row| merge_view(conn, row)).collect()
}

fn merge_view(conn: &mut DbConnection, row: &MergeRow) -> ApiResult<ProfileMerge> {
    let profile_ids = [row.survivor_id.as_str(), row.merged_id.as_str()];
    let references: HashMap<String, String> = child_profiles::table
        .filter(child_profiles::id.eq_any(profile_ids))
        .select((child_profiles::id, child_profiles::reference))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let people: HashMap<String, String> = users::table
        .filter(users::id.eq_any([Some(&row.merged_by), row.unmerged_by.as_ref()].into_iter().flatten()))
        .select((users::id, users::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let profile_ref = |id: &str| -> ApiResult<ProfileRef> {
        Ok(ProfileRef { id: parse_uuid(id)?, reference: references.get(id).cloned().unwrap_or_default() })
    };
    let person = |id: &str| -> ApiResult<PersonRef> {
        Ok(PersonRef { id: parse_uuid(id)?, display_name: people.get(id).cloned().unwrap_or_default() })
    };
    Ok(ProfileMerge {
        id: parse_uuid(&row.id)?,
        survivor: profile_ref(&row.survivor_id)?,
        merged: profile_ref(&row.merged_id)?,
        identifications_moved: parse_codes(&row.moved_identifications).len(),
        reason: row.reason.clone(),
        merged_by: person(&row.merged_by)?,
        merged_at: to_utc(row.merged_at),
        unmerged_by: row.unmerged_by.as_deref().map(person).transpose()?,
        unmerged_at: row.unmerged_at.map(to_utc),
        unmerge_reason: row.unmerge_reason.clone(),
    })
}

/// Merges `request.from_profile_id` into `survivor_id`: its sightings and the names the survivor
/// lacks move over, and it points to the survivor from then on. The survivor keeps its own facts
/// and status. What moved is recorded so that the merge can be undone.
pub fn merge(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    survivor_id: &str,
    request: &MergeProfiles,
    at: NaiveDateTime,
) -> ApiResult<ProfileMerge> {
    user.require(Permission::ChildrenMerge)?;
    let survivor = find_visible(conn, index, user, survivor_id)?;
    let merged = find_visible(conn, index, user, &request.from_profile_id.to_string())?;
    if survivor.id == merged.id {
        return Err(ApiError::field("from_profile_id", "same_profile", "a profile cannot be merged into itself"));
    }
    not_merged(&survivor)?;
    not_merged(&merged)?;
    if sexes_conflict(&survivor.sex, &merged.sex) {
        return Err(ApiError::field(
            "from_profile_id",
            "sex_mismatch",
            format!(
                "{} and {} are recorded with different sex; correct one first",
                survivor.reference, merged.reference
            ),
        ));
    }
    let moved: Vec<String> = identification_links::table
        .filter(identification_links::profile_id.eq(&merged.id))
        .select(identification_links::identification_id)
        .order(identification_links::identification_id)
        .load(conn)?;
    diesel::update(identification_links::table.filter(identification_links::profile_id.eq(&merged.id)))
        .set(identification_links::profile_id.eq(&survivor.id))
        .execute(conn)?;
    let names: Vec<(String, String)> = child_profile_names::table
        .filter(child_profile_names::profile_id.eq(&merged.id))
        .select((child_profile_names::name, child_profile_names::source))
        .order(child_profile_names::added_at)
        .load(conn)?;
    let mut moved_names = Vec::new();
    for (name, origin) in names {
        // The merged child's own name is an alias of the survivor.
        let origin = if origin == source::GIVEN { source::ALIAS } else { origin.as_str() };
        moved_names.extend(add_name(conn, &survivor.id, &name, origin, at)?);
    }
    for (row, merged_into) in [(&merged, Some(survivor.id.clone())), (&survivor, None)] {
        diesel::update(child_profiles::table.find(&row.id))
            .set((
                child_profiles::merged_into.eq(merged_into),
                child_profiles::version.eq(row.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(conn)?;
        // Only the survivor's names change, and only when it took names it did not have.
        if row.id == survivor.id && !moved_names.is_empty() {
            rebuild_sound_keys(conn, &row.id)?;
        }
        refresh_sightings(conn, &row.id)?;
    }
    let record = MergeRow {
        id: Uuid::now_v7().to_string(),
        survivor_id: survivor.id.clone(),
        merged_id: merged.id.clone(),
        moved_identifications: codes(&moved),
        moved_names: codes(&moved_names),
        reason: request.reason.trim().to_owned(),
        merged_by: user.user_id.clone(),
        merged_at: at,
        unmerged_by: None,
        unmerged_at: None,
        unmerge_reason: None,
    };
    diesel::insert_into(child_profile_merges::table).values(&record).execute(conn)?;
    for (profile, other) in [(&survivor, &merged), (&merged, &survivor)] {
        audit::record(
            conn,
            &user.actor(),
            at,
            "child_profile.merge",
            "child_profile",
            &profile.id,
            serde_json::json!({ "merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id, "other": other.reference, "identifications_moved": moved }),
        )?;
    }
    merge_view(conn, &record)
}

/// Undoes a merge into `survivor_id`: the sightings it moved that are still with the survivor go
/// back, the names it brought are removed, and the merged profile stands on its own again.
pub fn unmerge(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    survivor_id: &str,
    request: &UnmergeProfiles,
    at: NaiveDateTime,
) -> ApiResult<ProfileMerge> {
    user.require(Permission::ChildrenMerge)?;
    let survivor = find_visible(conn, index, user, survivor_id)?;
    let record: MergeRow = child_profile_merges::table
        .find(request.merge_id.to_string())
        .filter(child_profile_merges::survivor_id.eq(&survivor.id))
        .select(MergeRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("merge"))?;
    if record.unmerged_at.is_some() {
        return Err(ApiError::conflict("this merge was undone already"));
    }
    if let Some(later) = &survivor.merged_into {
        return Err(ApiError::conflict(format!(
            "{} was merged into another profile ({later}) since; undo that merge first",
            survivor.reference
        )));
    }
    let merged = find_row(conn, &record.merged_id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    let moved: Vec<String> = parse_codes(&record.moved_identifications);
    diesel::update(
        identification_links::table
            .filter(identification_links::identification_id.eq_any(&moved))
            .filter(identification_links::profile_id.eq(&survivor.id)),
    )
    .set(identification_links::profile_id.eq(&merged.id))
    .execute(conn)?;
    let moved_names: Vec<String> = parse_codes(&record.moved_names);
    diesel::delete(
        child_profile_names::table
            .filter(child_profile_names::profile_id.eq(&survivor.id))
            .filter(child_profile_names::folded.eq_any(&moved_names))
            .filter(child_profile_names::source.ne(source::GIVEN)),
    )
    .execute(conn)?;
    for row in [&merged, &survivor] {
        diesel::update(child_profiles::table.find(&row.id))
            .set((
                child_profiles::merged_into.eq(None::<String>),
                child_profiles::version.eq(row.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(conn)?;
        // Only the survivor gives names back.
        if row.id == survivor.id && !moved_names.is_empty() {
            rebuild_sound_keys(conn, &row.id)?;
        }
        refresh_sightings(conn, &row.id)?;
    }
    let reason = request.reason.trim().to_owned();
    diesel::update(child_profile_merges::table.find(&record.id))
        .set((
            child_profile_merges::unmerged_by.eq(&user.user_id),
            child_profile_merges::unmerged_at.eq(at),
            child_profile_merges::unmerge_reason.eq(&reason),
        ))
        .execute(conn)?;
    for profile in [&survivor, &merged] {
        audit::record(
            conn,
            &user.actor(),
            at,
            "child_profile.unmerge",
            "child_profile",
            &profile.id,
            serde_json::json!({ "merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id }),
        )?;
    }
    let record = MergeRow {
        unmerged_by: Some(user.user_id.clone()),
        unmerged_at: Some(at),
        unmerge_reason: Some(reason),
        ..record
    };
    merge_view(conn, &record)
}

/// Edits the stable facts of a profile, against the version the editor read. Audited with the
/// names of the fields that changed (not their values).
pub fn update(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    update: &ChildProfileUpdate,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    crate::access::may_edit_profile(user, update.status.is_some())?;
    let touches_names = update.given_name.is_some()
        || update.family_name.is_some()
        || update.aliases.is_some()
        || update.family_contacts.is_some();
    if touches_names && !user.can(Permission::ChildrenReadNames) {
        return Err(ApiError::forbidden("names and family contacts need the permission children_read_names"));
    }
    let row = find_visible(conn, index, user, id)?;
    not_merged(&row)?;
    if update.version != row.version {
        let current = view_at(conn, index, user, &row, at)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
    }
    let mut errors = Vec::new();
    let mut unknown = |field: &str, vocabulary: &str, code: &str| {
        errors.push(FieldError {
            field: field.into(),
            code: "unknown_code".into(),
            message: format!("{code} is not in the {vocabulary} vocabulary"),
        })
    };
    for (field, vocabulary, value) in [
        ("sex", "sex", update.sex.as_deref()),
        ("status", "child_status", update.status.as_deref()),
        ("residence_origin", "residence_origin", update.residence_origin.as_ref().and_then(|v| v.as_deref())),
    ] {
        if let Some(code) = value
            && !is_active_code(conn, vocabulary, code)?
        {
            unknown(field, vocabulary, code);
        }
    }
    if update.birth_year.flatten().is_some_and(|year| year > at.year()) {
        errors.push(FieldError {
            field: "birth_year".into(),
            code: "in_future".into(),
            message: "the birth year is in the future".into(),
        });
    }
    check_nationality_and_languages(
        update.nationality.as_ref().and_then(|n| n.as_deref()),
        update.languages.as_deref().unwrap_or_default(),
        &mut errors,
    );
    for (field, value) in [("given_name", &update.given_name), ("family_name", &update.family_name)] {
        if value.as_ref().and_then(|v| v.as_deref()).is_some_and(is_blank_name) {
            errors.push(blank_name(field.to_owned()));
        }
    }
    check_aliases("aliases", update.aliases.as_deref().unwrap_or_default(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let trimmed = |value: &Option<Option<String>>| value.clone().map(|v| v.map(|s| s.trim().to_owned()));
    let given_name = trimmed(&update.given_name).unwrap_or_else(|| row.given_name.clone());
    let family_name = trimmed(&update.family_name).unwrap_or_else(|| row.family_name.clone());
    let changed: Vec<&str> = [
        ("given_name", update.given_name.is_some()),
        ("family_name", update.family_name.is_some()),
        ("aliases", update.aliases.is_some()),
        ("sex", update.sex.is_some()),
        ("birth_year", update.birth_year.is_some()),
        ("birth_year_estimated", update.birth_year_estimated.is_some()),
        ("nationality", update.nationality.is_some()),
        ("languages", update.languages.is_some()),
        ("residence_origin", update.residence_origin.is_some()),
        ("family_contacts", update.family_contacts.is_some()),
        ("status", update.status.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    let updated = diesel::update(child_profiles::table.find(&row.id).filter(child_profiles::version.eq(row.version)))
        .set((
            child_profiles::given_name.eq(&given_name),
            child_profiles::family_name.eq(&family_name),
            child_profiles::sex.eq(update.sex.as_ref().unwrap_or(&row.sex)),
            child_profiles::birth_year.eq(update.birth_year.unwrap_or(row.birth_year)),
            child_profiles::birth_year_estimated.eq(update.birth_year_estimated.unwrap_or(row.birth_year_estimated)),
            child_profiles::nationality.eq(update.nationality.clone().unwrap_or_else(|| row.nationality.clone())),
            child_profiles::languages.eq(update.languages.as_deref().map_or_else(|| row.languages.clone(), codes)),
            child_profiles::residence_origin
                .eq(update.residence_origin.clone().unwrap_or_else(|| row.residence_origin.clone())),
            child_profiles::family_contacts
                .eq(update.family_contacts.clone().unwrap_or_else(|| row.family_contacts.clone())),
            child_profiles::status.eq(update.status.as_ref().unwrap_or(&row.status)),
            child_profiles::version.eq(row.version + 1),
            child_profiles::updated_at.eq(at),
        ))
        .execute(conn)?;
    if updated != 1 {
        let current = find_row(conn, &row.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
        let current = view_at(conn, index, user, &current, at)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
    }
    if update.given_name.is_some() || update.family_name.is_some() {
        diesel::delete(
            child_profile_names::table
                .filter(child_profile_names::profile_id.eq(&row.id))
                .filter(child_profile_names::source.eq(source::GIVEN)),
        )
        .execute(conn)?;
        if let Some(name) = full_name(given_name.as_deref(), family_name.as_deref()) {
            add_name(conn, &row.id, &name, source::GIVEN, at)?;
        }
    }
    if let Some(aliases) = &update.aliases {
        diesel::delete(
            child_profile_names::table
                .filter(child_profile_names::profile_id.eq(&row.id))
                .filter(child_profile_names::source.eq(source::ALIAS)),
        )
        .execute(conn)?;
        for alias in aliases {
            add_name(conn, &row.id, alias, source::ALIAS, at)?;
        }
    }
    if update.given_name.is_some() || update.family_name.is_some() || update.aliases.is_some() {
        rebuild_sound_keys(conn, &row.id)?;
    }
    audit::record(
        conn,
        &user.actor(),
        at,
        "child_profile.update",
        "child_profile",
        &row.id,
        serde_json::json!({ "fields": changed, "status": update.status }),
    )?;
    let current = find_row(conn, &row.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    view_at(conn, index, user, &current, at)
}

/// Moves a child's status on when a referral does (`referred` when one is made,
/// `in_case_management` when one ends with a case opened), never backwards from case management;
/// audited like an edit of the status.
pub fn advance_status(
    conn: &mut DbConnection,
    actor: &audit::Actor,
    profile_id: &str,
    to: &str,
    referral_id: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let from: &[&str] = match to {
        "referred" => &["identified", "closed"],
        "in_case_management" => &["identified", "referred", "closed"],
        _ => &[],
    };
    let changed = diesel::update(
        child_profiles::table.filter(child_profiles::id.eq(profile_id)).filter(child_profiles::status.eq_any(from)),
    )
    .set((
        child_profiles::status.eq(to),
        child_profiles::version.eq(child_profiles::version + 1),
        child_profiles::updated_at.eq(at),
    ))
    .execute(conn)?;
    if changed == 1 {
        audit::record(
            conn,
            actor,
            at,
            "child_profile.update",
            "child_profile",
            profile_id,
            serde_json::json!({ "fields": ["status"], "status": to, "referral_id": referral_id }),
        )?;
    }
    Ok(changed == 1)
}

/// A reference as typed by a person: `tr-2026-123` is `TR-2026-000123`.
fn parse_reference(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [prefix, year, number] = parts[..] else { return None };
    let valid = prefix.len() == 2
        && prefix.chars().all(|c| c.is_ascii_alphabetic())
        && year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && (1..=6).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit());
    let number: u32 = number.parse().ok()?;
    valid.then(|| format!("{}-{year}-{number:06}", prefix.to_ascii_uppercase()))
}

/// The birth years that give an age band in a year.
fn birth_years_for_band(band: &str, year: i32) -> Option<(Option<i32>, Option<i32>)> {
    let (youngest, oldest) = match band {
        "0-3" => (0, Some(3)),
        "4-6" => (4, Some(6)),
        "7-9" => (7, Some(9)),
        "10-12" => (10, Some(12)),
        "13-15" => (13, Some(15)),
        "16-18" => (16, Some(17)),
        "adult" => (18, None),
        _ => return None,
    };
    Some((oldest.map(|age| year - age), Some(year - youngest)))
}

/// Profiles within the reader's scope, most recently seen first, searched by reference or name
/// fragment and filtered by area, age band, status and sex. The listing is audited.
pub fn list(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ProfileListQuery,
    at: NaiveDateTime,
) -> ApiResult<ProfilePage> {
    user.require(Permission::IdentificationsRead)?;
    let mut errors = Vec::new();
    let mut bad = |field: &str, code: &str, message: &str| {
        errors.push(FieldError { field: field.into(), code: code.into(), message: message.into() })
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        bad("limit", "out_of_range", "limit must be between 1 and 200");
    }
    let reference = query.q.as_deref().and_then(parse_reference);
    let name_fragment = match (&query.q, &reference) {
        (Some(q), None) => {
            let folded = crate::territory::fold::fold(q);
            if folded.chars().count() < 2 {
                bad("q", "too_short", "search with at least two letters, or a reference such as TR-2026-000123");
            }
            Some(folded)
        }
        _ => None,
    };
    let area = query.area.as_ref().and_then(|code| {
        let found = index.find_code(code);
        if found.is_none() {
            bad("area", "unknown_area", "no area with this code");
        }
        found
    });
    let band = query.age_band.as_ref().map(|band| {
        let years = birth_years_for_band(band, at.year());
        if years.is_none() && band != "unknown" {
            bad("age_band", "unknown_code", "not an age band");
        }
        years
    });
    let cursor = query.cursor.as_ref().and_then(|text| {
        let decoded = cursor::decode(text);
        if decoded.is_none() {
            bad("cursor", "invalid_cursor", "use next_cursor from the previous page");
        }
        decoded
    });
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    if name_fragment.is_some() && !user.can(Permission::ChildrenReadNames) {
        return Err(ApiError::forbidden("searching by name needs the permission children_read_names"));
    }
    let mut q = child_profiles::table.into_boxed().filter(visible_filter(index, user));
    match (&reference, &name_fragment) {
        (Some(reference), _) => q = q.filter(child_profiles::reference.eq(reference.clone())),
        (None, Some(fragment)) => {
            let literal = crate::db::like_literal(fragment);
            q = q.filter(child_profiles::merged_into.is_null()).filter(
                child_profiles::id.eq_any(
                    child_profile_names::table
                        .filter(child_profile_names::folded.like(format!("%{literal}%")).escape('\\'))
                        .select(child_profile_names::profile_id),
                ),
            );
        }
        (None, None) => q = q.filter(child_profiles::merged_into.is_null()),
    }
    if let Some(area) = area {
        let ids: Vec<String> = index.descendants(area).into_iter().map(|a| index.area(a).id.clone()).collect();
        let seen_there = identifications::table
            .filter(
                identifications::county_id
                    .eq_any(ids.clone())
                    .or(identifications::municipality_id.eq_any(ids.clone()))
                    .or(identifications::admin_unit_id.eq_any(ids)),
            )
            .select(identifications::id);
        let profiles_seen_there = identification_links::table
            .filter(identification_links::identification_id.eq_any(seen_there))
            .select(identification_links::profile_id);
        q = q.filter(child_profiles::id.eq_any(profiles_seen_there));
    }
    match band {
        Some(Some((oldest, youngest))) => {
            if let Some(year) = oldest {
                q = q.filter(child_profiles::birth_year.ge(year));
            }
            if let Some(year) = youngest {
                q = q.filter(child_profiles::birth_year.le(year));
            }
        }
        Some(None) => q = q.filter(child_profiles::birth_year.is_null()),
        None => {}
    }
    if let Some(status) = &query.status {
        q = q.filter(child_profiles::status.eq(status.clone()));
    }
    if let Some(sex) = &query.sex {
        q = q.filter(child_profiles::sex.eq(sex.clone()));
    }
    if let Some((last_seen, id)) = cursor {
        // The plain bound is what the index scan starts from; the `or` alone is only a filter.
        q = q.filter(child_profiles::last_seen_at.le(last_seen)).filter(
            child_profiles::last_seen_at
                .lt(last_seen)
                .or(child_profiles::last_seen_at.eq(last_seen).and(child_profiles::id.lt(id))),
        );
    }
    let mut rows: Vec<ProfileRow> = q
        .select(ProfileRow::as_select())
        .order((child_profiles::last_seen_at.desc(), child_profiles::id.desc()))
        .limit(i64::from(limit) + 1)
        .load(conn)?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| cursor::encode(row.last_seen_at, &row.id))
    } else {
        None
    };
    let lookups = ProfileLookups::load(conn, &rows)?;
    let items =
        rows.iter().map(|row| view_with(&lookups, index, user, row, at.year())).collect::<ApiResult<Vec<_>>>()?;
    if !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        audit::record(
            conn,
            &user.actor(),
            at,
            "child_profile.list",
            "child_profile",
            "list",
            serde_json::json!({ "ids": ids, "searched_by_name": name_fragment.is_some() }),
        )?;
    }
    Ok(ProfilePage { items, next_cursor })
}

/// The profile a sighting is linked to, for the sighting's view.
pub fn linked_profile(conn: &mut DbConnection, identification_id: &str) -> ApiResult<Option<ProfileRef>> {
    let found: Option<(String, String)> = identification_links::table
        .inner_join(child_profiles::table)
        .filter(identification_links::identification_id.eq(identification_id))
        .select((child_profiles::id, child_profiles::reference))
        .get_result(conn)
        .optional()?;
    found.map(|(id, reference)| Ok(ProfileRef { id: parse_uuid(&id)?, reference })).transpose()
}

/// The profiles a sighting may belong to, ranked, with the profile it is linked to already.
/// Audited: the list tells the reader which children were seen nearby.
pub fn candidates(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    identification_id: &str,
    at: NaiveDateTime,
) -> ApiResult<CandidateList> {
    user.require(Permission::IdentificationsRead)?;
    let sighting = sightings::find_in_scope(conn, index, user, identification_id)?;
    let linked_profile = linked_profile(conn, &sighting.id)?;
    let linked_id = linked_profile.as_ref().map(|p| p.id.to_string());
    let candidates = super::candidates::for_sighting(conn, index, user, settings, &sighting, linked_id.as_deref())?;
    let shown: Vec<String> = candidates.iter().map(|c| c.profile.id.to_string()).collect();
    audit::record(
        conn,
        &user.actor(),
        at,
        "identification.candidates",
        "identification",
        &sighting.id,
        serde_json::json!({ "profiles": shown }),
    )?;
    Ok(CandidateList {
        identification_id: parse_uuid(&sighting.id)?,
        linked_profile,
        candidates,
        radius_m: settings.candidate_radius_m,
        window_days: settings.candidate_window_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_the_way_people_type_them() {
        assert_eq!(parse_reference("tr-2026-123").as_deref(), Some("TR-2026-000123"));
        assert_eq!(parse_reference(" TR-2026-000123 ").as_deref(), Some("TR-2026-000123"));
        for bad in ["TR-26-1", "TRX-2026-1", "TR-2026-", "TR-2026-1234567", "ana", "T1-2026-1"] {
            assert_eq!(parse_reference(bad), None, "{bad}");
        }
    }

    #[test]
    fn age_bands_map_to_birth_years() {
        assert_eq!(birth_years_for_band("7-9", 2026), Some((Some(2017), Some(2019))));
        assert_eq!(birth_years_for_band("adult", 2026), Some((None, Some(2008))));
        assert_eq!(birth_years_for_band("16-18", 2026), Some((Some(2009), Some(2010))));
        for year in 2009..=2010 {
            assert_eq!(band_in(2026, Some(year)), "16-18");
        }
        assert_eq!(birth_years_for_band("unknown", 2026), None);
    }
}
