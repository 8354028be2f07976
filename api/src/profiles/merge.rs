//! Merging two profiles of the same child, and undoing a merge, with what moved recorded.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::identifications::PersonRef;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::{MergeProfiles, ProfileMerge, ProfileRef, UnmergeProfiles};
use uuid::Uuid;

use super::store::{find_row, not_merged, refresh_sightings, sexes_conflict, source};
use super::stored_names::{add_name, rebuild_sound_keys};
use crate::access::AuthUser;
use crate::access::profiles::find_visible;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{child_profile_merges, child_profile_names, child_profiles, identification_links, users};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::identifications::store::{codes, parse_codes};
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = child_profile_merges)]
pub(super) struct MergeRow {
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

pub(super) fn merges_of(conn: &mut DbConnection, profile_id: &str) -> ApiResult<Vec<ProfileMerge>> {
    let rows: Vec<MergeRow> = child_profile_merges::table
        .filter(child_profile_merges::survivor_id.eq(profile_id).or(child_profile_merges::merged_id.eq(profile_id)))
        .select(MergeRow::as_select())
        .order((child_profile_merges::merged_at.asc(), child_profile_merges::id.asc()))
        .load(conn)?;
    rows.iter().map(|row| merge_view(conn, row)).collect()
}

pub(super) fn merge_view(conn: &mut DbConnection, row: &MergeRow) -> ApiResult<ProfileMerge> {
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
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    survivor_id: &str,
    request: &MergeProfiles,
    at: NaiveDateTime,
) -> ApiResult<ProfileMerge> {
    user.require(Permission::ChildrenMerge)?;
    let survivor = find_visible(tx, index, user, survivor_id)?;
    let merged = find_visible(tx, index, user, &request.from_profile_id.to_string())?;
    if survivor.id == merged.id {
        return Err(ApiError::field(
            "from_profile_id",
            FieldErrorCode::SameProfile,
            "a profile cannot be merged into itself",
        ));
    }
    not_merged(&survivor)?;
    not_merged(&merged)?;
    if sexes_conflict(&survivor.sex, &merged.sex) {
        return Err(ApiError::field(
            "from_profile_id",
            FieldErrorCode::SexMismatch,
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
        .load(tx.conn())?;
    diesel::update(identification_links::table.filter(identification_links::profile_id.eq(&merged.id)))
        .set(identification_links::profile_id.eq(&survivor.id))
        .execute(tx.conn())?;
    let names: Vec<(String, String)> = child_profile_names::table
        .filter(child_profile_names::profile_id.eq(&merged.id))
        .select((child_profile_names::name, child_profile_names::source))
        .order(child_profile_names::added_at)
        .load(tx.conn())?;
    let mut moved_names = Vec::new();
    for (name, origin) in names {
        // The merged child's own name is an alias of the survivor.
        let origin = if origin == source::GIVEN { source::ALIAS } else { origin.as_str() };
        moved_names.extend(add_name(tx, &survivor.id, &name, origin, at)?);
    }
    for (row, merged_into) in [(&merged, Some(survivor.id.clone())), (&survivor, None)] {
        diesel::update(child_profiles::table.find(&row.id))
            .set((
                child_profiles::merged_into.eq(merged_into),
                child_profiles::version.eq(row.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
        // Only the survivor's names change, and only when it took names it did not have.
        if row.id == survivor.id && !moved_names.is_empty() {
            rebuild_sound_keys(tx, &row.id)?;
        }
        refresh_sightings(tx, &row.id)?;
    }
    let record = MergeRow {
        id: Uuid::now_v7().to_string(),
        survivor_id: survivor.id.clone(),
        merged_id: merged.id.clone(),
        moved_identifications: codes(&moved),
        moved_names: codes(&moved_names),
        reason: request.reason.trim().to_owned(),
        merged_by: user.user_id.to_string(),
        merged_at: at,
        unmerged_by: None,
        unmerged_at: None,
        unmerge_reason: None,
    };
    diesel::insert_into(child_profile_merges::table).values(&record).execute(tx.conn())?;
    for (profile, other) in [(&survivor, &merged), (&merged, &survivor)] {
        audit::record(
            tx,
            &user.actor(),
            at,
            "child_profile.merge",
            "child_profile",
            &profile.id,
            serde_json::json!({ "merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id, "other": other.reference, "identifications_moved": moved }),
        )?;
    }
    merge_view(tx, &record)
}

/// Undoes a merge into `survivor_id`: the sightings it moved that are still with the survivor go
/// back, the names it brought are removed, and the merged profile stands on its own again.
pub fn unmerge(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    survivor_id: &str,
    request: &UnmergeProfiles,
    at: NaiveDateTime,
) -> ApiResult<ProfileMerge> {
    user.require(Permission::ChildrenMerge)?;
    let survivor = find_visible(tx, index, user, survivor_id)?;
    let record: MergeRow = child_profile_merges::table
        .find(request.merge_id.to_string())
        .filter(child_profile_merges::survivor_id.eq(&survivor.id))
        .select(MergeRow::as_select())
        .get_result(tx.conn())
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
    let merged = find_row(tx, &record.merged_id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    let moved: Vec<String> = parse_codes(&record.moved_identifications);
    diesel::update(
        identification_links::table
            .filter(identification_links::identification_id.eq_any(&moved))
            .filter(identification_links::profile_id.eq(&survivor.id)),
    )
    .set(identification_links::profile_id.eq(&merged.id))
    .execute(tx.conn())?;
    let moved_names: Vec<String> = parse_codes(&record.moved_names);
    diesel::delete(
        child_profile_names::table
            .filter(child_profile_names::profile_id.eq(&survivor.id))
            .filter(child_profile_names::folded.eq_any(&moved_names))
            .filter(child_profile_names::source.ne(source::GIVEN)),
    )
    .execute(tx.conn())?;
    for row in [&merged, &survivor] {
        diesel::update(child_profiles::table.find(&row.id))
            .set((
                child_profiles::merged_into.eq(None::<String>),
                child_profiles::version.eq(row.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
        // Only the survivor gives names back.
        if row.id == survivor.id && !moved_names.is_empty() {
            rebuild_sound_keys(tx, &row.id)?;
        }
        refresh_sightings(tx, &row.id)?;
    }
    let reason = request.reason.trim().to_owned();
    diesel::update(child_profile_merges::table.find(&record.id))
        .set((
            child_profile_merges::unmerged_by.eq(&user.user_id),
            child_profile_merges::unmerged_at.eq(at),
            child_profile_merges::unmerge_reason.eq(&reason),
        ))
        .execute(tx.conn())?;
    for profile in [&survivor, &merged] {
        audit::record(
            tx,
            &user.actor(),
            at,
            "child_profile.unmerge",
            "child_profile",
            &profile.id,
            serde_json::json!({ "merge_id": record.id, "survivor_id": survivor.id, "merged_id": merged.id }),
        )?;
    }
    let record = MergeRow {
        unmerged_by: Some(user.user_id.to_string()),
        unmerged_at: Some(at),
        unmerge_reason: Some(reason),
        ..record
    };
    merge_view(tx, &record)
}
