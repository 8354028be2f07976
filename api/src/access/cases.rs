//! Who may see and work a child's protection case. A case is worked (opened, assessed, closed,
//! measures recorded) by the municipality's child-protection administration: a person of a
//! child-protection unit or social-services directorate who may set a child's status
//! (`children_status_set`: case managers, coordinators), and only for a case of their own agency.
//! What a case says (the assessed risk, a primary problem such as sexual violence) is for those who
//! work cases: it is seen by the agency managing it, and by those who read sensitive fields
//! (`children_read_sensitive`: case managers) and may see the child's profile; the community
//! (ethnicity) only with `children_read_sensitive`. To anybody else a case does not exist.

use diesel::prelude::*;
use terren_contract::Permission;

use super::MUNICIPAL_CHILD_PROTECTION_TYPES;
use super::profiles::find_visible;
use crate::access::AuthUser;
use crate::cases::store::{CaseRow, find};
use crate::db::DbConnection;
use crate::db::schema::agencies;
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};
use crate::profiles::store::ProfileRow;
use crate::territory::index::TerritoryIndex;

/// The caller works cases at all: the permission, and an agency of the municipal
/// child-protection administration.
pub fn may_work_cases(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<()> {
    if !user.can(Permission::ChildrenStatusSet) {
        return Err(ApiError::new(ErrorCode::NotCaseWorker)
            .with_detail("a protection case is worked by a case manager or coordinator"));
    }
    let agency_type: String = agencies::table.find(&user.agency.id).select(agencies::agency_type).get_result(conn)?;
    if !MUNICIPAL_CHILD_PROTECTION_TYPES.contains(&agency_type.as_str()) {
        return Err(ApiError::new(ErrorCode::NotChildProtectionUnit));
    }
    Ok(())
}

/// Whether the caller may see a case of a child whose profile they may see.
pub fn may_see_case(user: &AuthUser, case: &CaseRow) -> bool {
    case.agency_id == user.agency.id || user.can(Permission::ChildrenReadSensitive)
}

/// A case the caller may see, with its profile, or 404.
pub fn find_visible_case(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<(CaseRow, ProfileRow)> {
    user.require(Permission::IdentificationsRead)?;
    let Some(case) = find(conn, id)?.filter(|case| may_see_case(user, case)) else {
        return Err(ApiError::not_found("protection case"));
    };
    let profile = match find_visible(conn, index, user, &case.profile_id) {
        Ok(profile) => profile,
        Err(e) if e.code == ErrorCode::NotFound && case.agency_id == user.agency.id => {
            crate::profiles::store::find_row(conn, &case.profile_id)?
                .ok_or_else(|| ApiError::not_found("child profile"))?
        }
        Err(e) if e.code == ErrorCode::NotFound => return Err(ApiError::not_found("protection case")),
        Err(e) => return Err(e),
    };
    Ok((case, profile))
}

/// A case the caller may change: one they may see, of their own agency, and they work cases.
pub fn find_workable_case(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<(CaseRow, ProfileRow)> {
    let (case, profile) = find_visible_case(conn, index, user, id)?;
    may_work_cases(conn, user)?;
    if case.agency_id != user.agency.id {
        return Err(ApiError::new(ErrorCode::NotYourAgency).with_detail("the case is managed by another unit"));
    }
    Ok((case, profile))
}
