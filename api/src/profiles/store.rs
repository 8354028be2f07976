//! A child's profile as stored, and what its use cases share: the row, following merges, the
//! sighting counts and times kept on it, and the numbering of references.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::profiles::ProfileRef;

use crate::db::schema::{
    area_aliases, child_profile_name_keys, child_profiles, identification_links, profile_reference_counters,
};
use crate::db::{DbConnection, Tx, backend};
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, parse_uuid};

pub(crate) type Backend = <DbConnection as diesel::Connection>::Backend;

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
    pub agency_id: AgencyId,
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
pub(super) mod source {
    pub const GIVEN: &str = "given";
    pub const ALIAS: &str = "alias";
    pub const TOLD: &str = "told";
}

/// How far merges are followed before the chain is considered broken.
pub(super) const MAX_MERGE_CHAIN: usize = 32;

pub(crate) fn find_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ProfileRow>> {
    child_profiles::table.find(id).select(ProfileRow::as_select()).get_result(conn).optional()
}

/// Follows merges to the profile that holds the child's sightings now.
pub(super) fn follow_merges(conn: &mut DbConnection, mut row: ProfileRow) -> ApiResult<ProfileRow> {
    for _ in 0..MAX_MERGE_CHAIN {
        let Some(next) = row.merged_into.clone() else { return Ok(row) };
        row = find_row(conn, &next)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    }
    Err(ApiError::internal(anyhow::anyhow!("merge chain of profile {} is too long", row.id)))
}

pub(super) fn not_merged(row: &ProfileRow) -> ApiResult<()> {
    match &row.merged_into {
        Some(_) => Err(ApiError::conflict(format!(
            "{} was merged into another profile; use that one (see merged_into)",
            row.reference
        ))),
        None => Ok(()),
    }
}

/// Recounts a profile's sightings and when it was first and last seen. A profile left without
/// sightings keeps the times it had.
pub(super) fn refresh_sightings(tx: &mut Tx<'_>, profile_id: &str) -> QueryResult<()> {
    use diesel::dsl::{count_star, max, min};
    let (count, first, last): (i64, Option<NaiveDateTime>, Option<NaiveDateTime>) = identification_links::table
        .filter(identification_links::profile_id.eq(profile_id))
        .select((count_star(), min(identification_links::observed_at), max(identification_links::observed_at)))
        .get_result(tx.conn())?;
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
                .execute(tx.conn())?;
            diesel::update(child_profile_name_keys::table.filter(child_profile_name_keys::profile_id.eq(profile_id)))
                .set(child_profile_name_keys::last_seen_at.eq(last))
                .execute(tx.conn())?;
        }
        _ => {
            diesel::update(target).set(child_profiles::sightings_count.eq(0)).execute(tx.conn())?;
        }
    }
    Ok(())
}

/// The municipality's two-letter code from its HASC code (`AL.TI.TR` → `TR`), or `AL` when the
/// child was seen where no municipality is known.
pub(super) fn reference_prefix(conn: &mut DbConnection, municipality_id: Option<&str>) -> QueryResult<String> {
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
pub(super) fn next_reference(tx: &mut Tx<'_>, prefix: &str, year: i32) -> QueryResult<String> {
    backend::serialise_writers(tx, "profile_reference_counters")?;
    let counter = format!("{prefix}-{year}");
    let last: Option<i32> = profile_reference_counters::table
        .find(&counter)
        .select(profile_reference_counters::last_value)
        .get_result(tx.conn())
        .optional()?;
    let next = last.unwrap_or(0) + 1;
    if last.is_some() {
        diesel::update(profile_reference_counters::table.find(&counter))
            .set(profile_reference_counters::last_value.eq(next))
            .execute(tx.conn())?;
    } else {
        diesel::insert_into(profile_reference_counters::table)
            .values((profile_reference_counters::prefix.eq(&counter), profile_reference_counters::last_value.eq(next)))
            .execute(tx.conn())?;
    }
    Ok(format!("{counter}-{next:06}"))
}

/// Two recorded sexes that rule out the same child: both known and different.
pub(super) fn sexes_conflict(a: &str, b: &str) -> bool {
    a != "unknown" && b != "unknown" && a != b
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
