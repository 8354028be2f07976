//! Profiles listed: searched by reference or name, filtered by area, age band, status and sex,
//! most recently seen first.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::identifications::AgeBand;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::profiles::{ProfileListQuery, ProfilePage};

use super::store::ProfileRow;
use super::views::{ProfileLookups, view_with};
use crate::access::AuthUser;
use crate::access::profiles::visible_filter;
use crate::audit;
use crate::db::Tx;
use crate::db::schema::{child_profile_names, child_profiles, identification_links, identifications};
use crate::http::{ApiError, ApiResult, cursor};
use crate::territory::index::TerritoryIndex;

/// A reference as typed by a person: `tr-2026-123` is `TR-2026-000123`.
pub(super) fn parse_reference(text: &str) -> Option<String> {
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

/// The birth years that give an age band in a year; `None` for `unknown`.
pub(super) fn birth_years_for_band(band: AgeBand, year: i32) -> Option<(Option<i32>, Option<i32>)> {
    let (youngest, oldest) = band.ages()?;
    Some((oldest.map(|age| year - age), Some(year - youngest)))
}

/// Profiles within the reader's scope, most recently seen first, searched by reference or name
/// fragment and filtered by area, age band, status and sex. The listing is audited.
pub fn list(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ProfileListQuery,
    at: NaiveDateTime,
) -> ApiResult<ProfilePage> {
    user.require(Permission::IdentificationsRead)?;
    let mut errors = crate::http::json::rule_errors(query);
    let mut bad = |field: &str, code: FieldErrorCode, message: &str| {
        errors.push(FieldError { field: field.into(), code, message: message.into() })
    };
    let limit = query.limit.unwrap_or(50);
    let reference = query.q.as_deref().and_then(parse_reference);
    let name_fragment = match (&query.q, &reference) {
        (Some(q), None) => {
            let folded = crate::territory::fold::fold(q);
            if folded.chars().count() < 2 {
                bad(
                    "q",
                    FieldErrorCode::TooShort,
                    "search with at least two letters, or a reference such as TR-2026-000123",
                );
            }
            Some(folded)
        }
        _ => None,
    };
    let area = query.area.as_ref().and_then(|code| {
        let found = index.find_code(code);
        if found.is_none() {
            bad("area", FieldErrorCode::UnknownArea, "no area with this code");
        }
        found
    });
    let band = query.age_band.as_deref().and_then(|code| {
        let band = serde_json::from_value::<AgeBand>(code.into()).ok();
        if band.is_none() {
            bad("age_band", FieldErrorCode::UnknownCode, "not an age band");
        }
        band.map(|band| birth_years_for_band(band, at.year()))
    });
    let cursor = query.cursor.as_ref().and_then(|text| {
        let decoded = cursor::decode(text);
        if decoded.is_none() {
            bad("cursor", FieldErrorCode::InvalidCursor, "use next_cursor from the previous page");
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
        .load(tx.conn())?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|row| cursor::encode(row.last_seen_at, &row.id))
    } else {
        None
    };
    let lookups = ProfileLookups::load(tx, &rows)?;
    let items =
        rows.iter().map(|row| view_with(&lookups, index, user, row, at.year())).collect::<ApiResult<Vec<_>>>()?;
    if !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        audit::record(
            tx,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::views::band_in;

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
        assert_eq!(birth_years_for_band(AgeBand::Age7To9, 2026), Some((Some(2017), Some(2019))));
        assert_eq!(birth_years_for_band(AgeBand::Adult, 2026), Some((None, Some(2008))));
        assert_eq!(birth_years_for_band(AgeBand::Age16To18, 2026), Some((Some(2009), Some(2010))));
        for year in 2009..=2010 {
            assert_eq!(band_in(2026, Some(year)), AgeBand::Age16To18);
        }
        assert_eq!(birth_years_for_band(AgeBand::Unknown, 2026), None);
    }
}
