//! Who may see and change a child's profile. A profile is seen by the agency that made it and
//! by the agencies that serve the area where the child was first seen, and by an agency that an
//! accepted referral sharing details opened it to; to anybody else it does not exist (404).

use std::collections::HashSet;

use diesel::prelude::*;

use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::child_profiles;
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};
use crate::profiles::store::{Backend, ProfileRow, find_row};
use crate::territory::index::TerritoryIndex;
use terren_contract::Permission;

/// Whether the reader may see the profile: their agency made it, or the child was first seen in
/// an area their agency serves.
pub fn visible(index: &TerritoryIndex, user: &AuthUser, row: &ProfileRow) -> bool {
    visible_within(&super::scope_area_ids(index, user), user, row)
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
    let scope: Vec<String> = super::scope_area_ids(index, user).into_iter().collect();
    Box::new(
        child_profiles::agency_id
            .eq(user.agency.id.clone())
            .or(child_profiles::municipality_id.eq_any(scope.clone()).assume_not_null())
            .or(child_profiles::admin_unit_id.eq_any(scope).assume_not_null()),
    )
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
    if visible(index, user, &row) || super::opens_profile(conn, user, id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found("child profile"))
    }
}

/// A child's record is changed by those who work the case: the facts by those who record or
/// manage it (`children_edit`), the status by those who manage it (`children_status_set`). The
/// profile itself must be one the person may see; that is checked where it is loaded.
pub fn may_edit_profile(user: &AuthUser, changes_status: bool) -> ApiResult<()> {
    if !user.can(Permission::ChildrenEdit) {
        return Err(ApiError::new(ErrorCode::NotCaseWorker)
            .with_detail("a child's record is changed by those who record or manage the case"));
    }
    if changes_status && !user.can(Permission::ChildrenStatusSet) {
        return Err(ApiError::new(ErrorCode::NotCaseWorker)
            .with_detail("a child's status is set by the case manager or coordinator"));
    }
    Ok(())
}
