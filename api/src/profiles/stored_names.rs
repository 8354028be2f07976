//! A profile's names as stored: each added once (compared folded) with its sound keys, and the
//! checks on names as people type them.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::NewChildProfile;

use super::names;
use crate::db::Tx;
use crate::db::schema::{child_profile_name_keys, child_profile_names, child_profiles};

/// The full name, as stored among the names for search.
pub(super) fn full_name(given: Option<&str>, family: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [given, family].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Adds a name unless the profile already has it (compared folded); returns the folded form if
/// it was added.
pub(super) fn add_name(
    tx: &mut Tx<'_>,
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
        .get_result(tx.conn())?;
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
        .execute(tx.conn())?;
    Ok(Some(folded))
}

/// Rebuilds the sound keys of a profile from its names.
pub(super) fn rebuild_sound_keys(tx: &mut Tx<'_>, profile_id: &str) -> QueryResult<()> {
    diesel::delete(child_profile_name_keys::table.filter(child_profile_name_keys::profile_id.eq(profile_id)))
        .execute(tx.conn())?;
    let last_seen_at: NaiveDateTime =
        child_profiles::table.find(profile_id).select(child_profiles::last_seen_at).get_result(tx.conn())?;
    let names: Vec<String> = child_profile_names::table
        .filter(child_profile_names::profile_id.eq(profile_id))
        .select(child_profile_names::name)
        .load(tx.conn())?;
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
            .execute(tx.conn())?;
    }
    Ok(())
}

/// A name with no letters or digits in it ("-", "  ").
pub(super) fn is_blank_name(name: &str) -> bool {
    crate::territory::fold::fold(name).is_empty()
}

pub(super) fn blank_name(field: String) -> FieldError {
    FieldError { field, code: FieldErrorCode::Blank, message: "a name needs letters".into() }
}

pub(super) fn check_aliases(field: &str, aliases: &[String], errors: &mut Vec<FieldError>) {
    for (i, alias) in aliases.iter().enumerate() {
        if alias.chars().count() > 100 || is_blank_name(alias) {
            errors.push(blank_name(format!("{field}[{i}]")));
        }
    }
}

pub(super) fn check_names(new: &NewChildProfile, errors: &mut Vec<FieldError>) {
    for (field, value) in [("new_profile.given_name", &new.given_name), ("new_profile.family_name", &new.family_name)] {
        if value.as_deref().is_some_and(is_blank_name) {
            errors.push(blank_name(field.to_owned()));
        }
    }
    check_aliases("new_profile.aliases", &new.aliases, errors);
}
