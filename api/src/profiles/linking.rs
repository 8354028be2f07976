//! Linking a sighting to a child's profile (an existing one, or a new one made from the
//! sighting), undoing a link, and the profiles a sighting may belong to.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::{CandidateList, ChildProfile, LinkIdentification, LinkResult, NewChildProfile};

use super::store::{
    ProfileRow, find_row, follow_merges, linked_profile, next_reference, reference_prefix, refresh_sightings,
    sexes_conflict, source,
};
use super::stored_names::{add_name, check_names, full_name, rebuild_sound_keys};
use super::views::{audit_profile_read, view_at};
use crate::access::AuthUser;
use crate::access::profiles::{find_visible, visible};
use crate::audit;
use crate::config::ProfilesConfig;
use crate::db::Tx;
use crate::db::schema::{child_profiles, identification_links};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::identifications::store::IdentificationRow;
use crate::ids::parse_uuid;
use crate::territory::index::TerritoryIndex;

/// Makes a profile for a sighting: facts the phone did not send come from the sighting.
pub(super) fn create_for_sighting(
    tx: &mut Tx<'_>,
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
            code: FieldErrorCode::InFuture,
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
    let prefix = reference_prefix(tx, sighting.municipality_id.as_deref())?;
    let row = ProfileRow {
        id: new.id.to_string(),
        reference: next_reference(tx, &prefix, at.year())?,
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
        created_by: user.user_id.to_string(),
        merged_into: None,
        sightings_count: 0,
        first_seen_at: sighting.observed_at,
        last_seen_at: sighting.observed_at,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    diesel::insert_into(child_profiles::table).values(&row).execute(tx.conn())?;
    if let Some(name) = full_name(row.given_name.as_deref(), row.family_name.as_deref()) {
        add_name(tx, &row.id, &name, source::GIVEN, at)?;
    }
    for alias in &new.aliases {
        add_name(tx, &row.id, alias, source::ALIAS, at)?;
    }
    audit::record(
        tx,
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
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    identification_id: &str,
    request: &LinkIdentification,
    at: NaiveDateTime,
) -> ApiResult<(LinkResult, bool)> {
    user.require(Permission::IdentificationsCreate)?;
    let sighting = crate::access::identifications::find_in_scope(tx, index, user, identification_id)?;
    let existing: Option<String> = identification_links::table
        .find(identification_id)
        .select(identification_links::profile_id)
        .get_result(tx.conn())
        .optional()?;
    let wanted = match (&request.profile_id, &request.new_profile) {
        (Some(profile_id), None) => {
            let row = find_visible(tx, index, user, &profile_id.to_string())?;
            let row = follow_merges(tx, row)?;
            if !visible(index, user, &row) {
                return Err(ApiError::not_found("child profile"));
            }
            Some(row)
        }
        (None, Some(new)) => find_row(tx, &new.id.to_string())?,
        _ => {
            return Err(ApiError::field(
                "profile_id",
                FieldErrorCode::OneOfRequired,
                "send either profile_id or new_profile",
            ));
        }
    };
    if let Some(current) = existing {
        // Linking again to the profile it is linked to changes nothing.
        return match wanted {
            Some(row) if row.id == current => {
                let profile = view_at(tx, index, user, &row, at)?;
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
        (None, Some(new)) => (create_for_sighting(tx, user, &sighting, new, at)?, true),
        _ => return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a profile with this id exists")),
    };
    if sexes_conflict(&target.sex, &sighting.sex) {
        return Err(ApiError::field(
            "profile_id",
            FieldErrorCode::SexMismatch,
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
        .execute(tx.conn())?;
    let told_name_added = match &sighting.name_as_told {
        Some(name) => add_name(tx, &target.id, name, source::TOLD, at)?.is_some(),
        None => false,
    };
    // Sound keys change only with the names: a new profile's, or a name heard for the first time.
    if created || told_name_added {
        rebuild_sound_keys(tx, &target.id)?;
    }
    refresh_sightings(tx, &target.id)?;
    // A child whose case was closed, back on the street, is open again.
    let reopened = target.status == "closed";
    if reopened {
        diesel::update(child_profiles::table.find(&target.id))
            .set((
                child_profiles::status.eq("identified"),
                child_profiles::version.eq(target.version + 1),
                child_profiles::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.link",
        "identification",
        &sighting.id,
        serde_json::json!({ "profile_id": target.id, "reference": target.reference, "created_profile": created, "reopened": reopened }),
    )?;
    let row = find_row(tx, &target.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    let profile = view_at(tx, index, user, &row, at)?;
    Ok((LinkResult { identification_id: parse_uuid(&sighting.id)?, profile, created_profile: created }, true))
}

/// The answer to a repeated link request: the profile as the reader may see it now.
pub fn replayed_link(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    profile_id: &str,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    let row = find_visible(tx, index, user, profile_id)?;
    let profile = view_at(tx, index, user, &row, at)?;
    audit_profile_read(tx, user, at, "identification.link.replay", &profile)?;
    Ok(profile)
}

/// Removes a sighting's link (a coordinator correcting a wrong link). Audited.
pub fn unlink(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    identification_id: &str,
    at: NaiveDateTime,
) -> ApiResult<()> {
    user.require(Permission::ChildrenMerge)?;
    let sighting = crate::access::identifications::find_in_scope(tx, index, user, identification_id)?;
    let profile_id: String = identification_links::table
        .find(&sighting.id)
        .select(identification_links::profile_id)
        .get_result(tx.conn())
        .optional()?
        .ok_or_else(|| ApiError::not_found("link"))?;
    diesel::delete(identification_links::table.find(&sighting.id)).execute(tx.conn())?;
    refresh_sightings(tx, &profile_id)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.unlink",
        "identification",
        &sighting.id,
        serde_json::json!({ "profile_id": profile_id }),
    )?;
    Ok(())
}

/// The profiles a sighting may belong to, ranked, with the profile it is linked to already.
/// Audited: the list tells the reader which children were seen nearby.
pub fn candidates(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    identification_id: &str,
    at: NaiveDateTime,
) -> ApiResult<CandidateList> {
    user.require(Permission::IdentificationsRead)?;
    let sighting = crate::access::identifications::find_in_scope(tx, index, user, identification_id)?;
    let linked_profile = linked_profile(tx, &sighting.id)?;
    let linked_id = linked_profile.as_ref().map(|p| p.id.to_string());
    let candidates = super::candidates::for_sighting(tx, index, user, settings, &sighting, linked_id.as_deref())?;
    let shown: Vec<String> = candidates.iter().map(|c| c.profile.id.to_string()).collect();
    audit::record(
        tx,
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
