//! Edits of a profile's stable facts against the version the editor read, and the status a
//! referral moves it on to.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::{ChildProfile, ChildProfileUpdate};

use super::store::{find_row, not_merged, source};
use super::stored_names::{add_name, blank_name, check_aliases, full_name, is_blank_name, rebuild_sound_keys};
use super::views::view_at;
use crate::access::AuthUser;
use crate::access::profiles::find_visible;
use crate::audit;
use crate::db::Tx;
use crate::db::schema::{child_profile_names, child_profiles};
use crate::http::{ApiError, ApiResult};
use crate::identifications::store::codes;
use crate::identifications::validate::check_nationality_and_languages;
use crate::ids::{CaseId, ReferralId};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::is_active_code;

/// Edits the stable facts of a profile, against the version the editor read. Audited with the
/// names of the fields that changed (not their values).
pub fn update(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    update: &ChildProfileUpdate,
    at: NaiveDateTime,
) -> ApiResult<ChildProfile> {
    crate::access::profiles::may_edit_profile(user, update.status.is_some())?;
    let touches_names = update.given_name.is_some()
        || update.family_name.is_some()
        || update.aliases.is_some()
        || update.family_contacts.is_some();
    if touches_names && !user.can(Permission::ChildrenReadNames) {
        return Err(ApiError::forbidden("names and family contacts need the permission children_read_names"));
    }
    let row = find_visible(tx, index, user, id)?;
    not_merged(&row)?;
    if update.version != row.version {
        let current = view_at(tx, index, user, &row, at)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
    }
    let mut errors = Vec::new();
    let mut unknown = |field: &str, vocabulary: &str, code: &str| {
        errors.push(FieldError {
            field: field.into(),
            code: FieldErrorCode::UnknownCode,
            message: format!("{code} is not in the {vocabulary} vocabulary"),
        })
    };
    for (field, vocabulary, value) in [
        ("sex", "sex", update.sex.as_deref()),
        ("status", "child_status", update.status.as_deref()),
        ("residence_origin", "residence_origin", update.residence_origin.as_ref().and_then(|v| v.as_deref())),
    ] {
        if let Some(code) = value
            && !is_active_code(tx, vocabulary, code)?
        {
            unknown(field, vocabulary, code);
        }
    }
    if update.birth_year.flatten().is_some_and(|year| year > at.year()) {
        errors.push(FieldError {
            field: "birth_year".into(),
            code: FieldErrorCode::InFuture,
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
        .execute(tx.conn())?;
    if updated != 1 {
        let current = find_row(tx, &row.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
        let current = view_at(tx, index, user, &current, at)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(current).unwrap_or_default()));
    }
    if update.given_name.is_some() || update.family_name.is_some() {
        diesel::delete(
            child_profile_names::table
                .filter(child_profile_names::profile_id.eq(&row.id))
                .filter(child_profile_names::source.eq(source::GIVEN)),
        )
        .execute(tx.conn())?;
        if let Some(name) = full_name(given_name.as_deref(), family_name.as_deref()) {
            add_name(tx, &row.id, &name, source::GIVEN, at)?;
        }
    }
    if let Some(aliases) = &update.aliases {
        diesel::delete(
            child_profile_names::table
                .filter(child_profile_names::profile_id.eq(&row.id))
                .filter(child_profile_names::source.eq(source::ALIAS)),
        )
        .execute(tx.conn())?;
        for alias in aliases {
            add_name(tx, &row.id, alias, source::ALIAS, at)?;
        }
    }
    if update.given_name.is_some() || update.family_name.is_some() || update.aliases.is_some() {
        rebuild_sound_keys(tx, &row.id)?;
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "child_profile.update",
        "child_profile",
        &row.id,
        serde_json::json!({ "fields": changed, "status": update.status }),
    )?;
    let current = find_row(tx, &row.id)?.ok_or_else(|| ApiError::not_found("child profile"))?;
    view_at(tx, index, user, &current, at)
}

/// What moved a child's status on, named in the audit record of the change.
pub enum StatusCause<'a> {
    Referral(&'a ReferralId),
    Case(&'a CaseId),
}

/// Moves a child's status on when a referral or a case does (`referred` when a referral is made,
/// `in_case_management` when one ends with a case opened or a case is opened, `closed` when the
/// case is closed), never backwards from case management by a referral; audited like an edit of
/// the status.
pub fn advance_status(
    tx: &mut Tx<'_>,
    actor: &audit::Actor,
    profile_id: &str,
    to: &str,
    cause: StatusCause<'_>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let from: &[&str] = match to {
        "referred" => &["identified", "closed"],
        "in_case_management" => &["identified", "referred", "closed"],
        "closed" => &["identified", "referred", "in_case_management"],
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
    .execute(tx.conn())?;
    if changed == 1 {
        audit::record(
            tx,
            actor,
            at,
            "child_profile.update",
            "child_profile",
            profile_id,
            match cause {
                StatusCause::Referral(id) => {
                    serde_json::json!({ "fields": ["status"], "status": to, "referral_id": id })
                }
                StatusCause::Case(id) => serde_json::json!({ "fields": ["status"], "status": to, "case_id": id }),
            },
        )?;
    }
    Ok(changed == 1)
}
