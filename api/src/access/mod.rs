//! Access: who the caller is and what they may see and change, for every kind of record, in
//! one place. Permissions (`auth::permissions`) say what a role may do at all; the rules here add
//! the scope (own agency, the areas it serves, its municipality, the country) and how much of a
//! record is shown. `docs/security.md` holds the same rules as one table, and the permission-walk
//! test (`api/tests/it/permissions/`) checks them over HTTP.
//!
//! - `caller`: the person behind a request (`AuthUser`); `areas`: the areas their agency serves.
//! - `identifications`: which sightings a reader may see (one, or as a list filter), precise or
//!   coarse location, names and sensitive fields, and the reach of statistics.
//! - `profiles`: which child profiles a reader may see, and who may change them.
//! - `cases`: who may see a child's protection case and who works it.
//! - `referrals`: which referrals a reader may see (one, or as a list filter), and whether they
//!   are shown the person the referral is about.
//! - `shared_records`: sightings and profiles an accepted referral opened to another agency.
//! - `alerts`: who may raise, read and answer alerts.
//! - `reports`: who may read reports, over which areas, and how exactly.
//! - here: municipal policy authority, and the floor and suppression of published counts.

use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;

use crate::db::DbConnection;
use crate::db::schema::agencies;
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};

pub mod alerts;
pub mod areas;
pub mod caller;
pub mod caller_cache;
pub mod cases;
pub mod identifications;
pub mod profiles;
pub mod referrals;
pub mod reports;
pub mod shared_records;

pub use areas::{ServedAreas, scope_area_ids};
pub use caller::AuthUser;
pub use shared_records::{opens_identification, opens_profile};

/// Agency types that make up a municipality's social-services / child-protection administration:
/// the municipal directorate of social services and the child-protection unit (NJMF).
pub const MUNICIPAL_CHILD_PROTECTION_TYPES: [&str; 2] = ["social_services_directorate", "child_protection_unit"];

/// Statistics read by someone without access to the individual records behind them leave out
/// counts below this (reported as 0 and named as suppressed).
pub const MIN_PUBLISHED_COUNT: i64 = 3;

/// Deadline policies and referral routes decide how a municipality protects its children: they
/// are changed by the administrators of that municipality's social services or child-protection
/// unit, and by system administrators; national defaults by system administrators only.
pub fn may_manage_municipal_policy(
    conn: &mut DbConnection,
    user: &AuthUser,
    municipality_id: Option<&str>,
) -> ApiResult<()> {
    if user.is_system_admin() {
        return Ok(());
    }
    let refuse = |detail: &str| Err(ApiError::new(ErrorCode::NotMunicipalAuthority).with_detail(detail));
    let Some(municipality_id) = municipality_id else {
        return refuse("national defaults are changed by a system administrator");
    };
    if !user.can(Permission::AgenciesManage) {
        return refuse(
            "a municipality's deadlines and routing are changed by the administrators of its social services",
        );
    }
    let (agency_type, own_municipality): (String, Option<String>) = agencies::table
        .filter(agencies::id.eq(&user.agency.id))
        .select((agencies::agency_type, agencies::municipality_id))
        .get_result(conn)?;
    if own_municipality.as_deref() == Some(municipality_id)
        && MUNICIPAL_CHILD_PROTECTION_TYPES.contains(&agency_type.as_str())
    {
        Ok(())
    } else {
        refuse("only the administrators of the municipality's social services or child-protection unit may")
    }
}

/// Statistics-only readers count whole days, so that two windows cannot differ by one
/// sighting's minutes: every window edge off midnight UTC is refused (`not_whole_day`).
pub fn off_midnight(edges: &[(&str, Option<chrono::NaiveTime>)]) -> Vec<terren_contract::problem::FieldError> {
    edges
        .iter()
        .filter(|(_, time)| time.is_some_and(|t| t != chrono::NaiveTime::MIN))
        .map(|(field, _)| terren_contract::problem::FieldError {
            field: (*field).to_owned(),
            code: FieldErrorCode::NotWholeDay,
            message: "use midnight UTC (whole days) for statistics".into(),
        })
        .collect()
}

/// Suppresses small counts within a group of cells whose total is published or can be worked
/// out: every count of 1 or 2 is hidden, then, if anything was hidden, the smallest other
/// non-zero cells too until at least two are hidden and they add up to at least the floor, so
/// that no hidden cell can be recovered by subtraction from the total. Marks the cells in
/// `hidden` (cells already marked stay hidden); the caller reports hidden cells as 0.
pub fn suppress_group(values: &[i64], hidden: &mut [bool]) {
    for (value, hide) in values.iter().zip(hidden.iter_mut()) {
        if (1..MIN_PUBLISHED_COUNT).contains(value) {
            *hide = true;
        }
    }
    loop {
        let hidden_count = hidden.iter().filter(|h| **h).count();
        let hidden_sum: i64 = values.iter().zip(hidden.iter()).filter(|(_, h)| **h).map(|(v, _)| *v).sum();
        if hidden_count == 0 || (hidden_count >= 2 && hidden_sum >= MIN_PUBLISHED_COUNT) {
            return;
        }
        let next = values
            .iter()
            .enumerate()
            .filter(|(i, v)| !hidden[*i] && **v > 0)
            .min_by_key(|(i, v)| (**v, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            None => return,
        }
    }
}

/// Suppresses small counts in a table whose groups (rows, columns, any set of cells with a
/// derivable total) overlap: applies [`suppress_group`] to every group until nothing changes.
pub fn suppress_groups(values: &[i64], groups: &[Vec<usize>]) -> Vec<bool> {
    let mut hidden = vec![false; values.len()];
    loop {
        let before = hidden.clone();
        for group in groups {
            let group_values: Vec<i64> = group.iter().map(|&i| values[i]).collect();
            let mut group_hidden: Vec<bool> = group.iter().map(|&i| hidden[i]).collect();
            suppress_group(&group_values, &mut group_hidden);
            for (&i, h) in group.iter().zip(group_hidden) {
                hidden[i] |= h;
            }
        }
        if hidden == before {
            return hidden;
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use terren_contract::{Permission, Role};

    use super::AuthUser;
    use crate::accounts::model::AgencyBrief;

    /// A caller of the agency `agency-1` with these roles and permissions.
    pub(crate) fn user(roles: &[Role], permissions: &[Permission]) -> AuthUser {
        AuthUser {
            user_id: crate::ids::UserId::from_stored("user-1"),
            username: "user".into(),
            display_name: "User".into(),
            agency: AgencyBrief {
                id: crate::ids::AgencyId::from_stored("agency-1"),
                code: "A1".into(),
                name: "Agency".into(),
            },
            roles: roles.iter().copied().collect(),
            permissions: permissions.iter().copied().collect(),
            areas: Vec::new(),
            session_id: "session-1".into(),
            device_id: "device-1".into(),
            must_change_password: false,
            ip: "127.0.0.1".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_cell_takes_a_second_one_with_it_so_the_total_does_not_give_it_away() {
        let mut hidden = vec![false; 4];
        suppress_group(&[1, 10, 7, 0], &mut hidden);
        assert_eq!(hidden, [true, false, true, false]);
        // Two small cells hidden together still add up to less than the floor: one more goes.
        let mut hidden = vec![false; 4];
        suppress_group(&[1, 1, 9, 4], &mut hidden);
        assert_eq!(hidden, [true, true, false, true]);
        let mut hidden = vec![false; 3];
        suppress_group(&[5, 9, 0], &mut hidden);
        assert_eq!(hidden, [false, false, false]);
    }

    #[test]
    fn overlapping_groups_are_suppressed_until_no_row_or_column_gives_a_cell_away() {
        // 2×2 table, rows and columns have derivable totals.
        let values = [1, 8, 6, 9];
        let groups = vec![vec![0, 1], vec![2, 3], vec![0, 2], vec![1, 3]];
        let hidden = suppress_groups(&values, &groups);
        assert_eq!(hidden, [true, true, true, true]);
        for group in &groups {
            let count = group.iter().filter(|&&i| hidden[i]).count();
            assert!(count == 0 || count >= 2, "{group:?}");
        }
    }
}
