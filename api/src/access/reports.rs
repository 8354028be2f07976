//! Who may read reports, over which areas, and how exactly. Reports are aggregates
//! (`statistics_read`): those who also read individual records (`identifications_read`:
//! coordinators, case managers) get exact counts for the municipalities their agency serves;
//! readers of aggregates only get small numbers hidden (`reports::suppress`): agency
//! administrators for their agency's municipalities, national viewers and system administrators
//! for any area and the whole country. The DHIS2 mapping reports are exported with is for system
//! administrators only.

use terren_contract::Permission;

use crate::access::AuthUser;
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;

/// How a reader reads reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportReach {
    /// Counts are shown exactly; otherwise small numbers are hidden.
    pub exact: bool,
    /// Any area and the whole country; otherwise the agency's municipalities.
    pub national: bool,
}

pub fn report_reach(user: &AuthUser) -> ApiResult<ReportReach> {
    user.require(Permission::StatisticsRead)?;
    let national = user.national_scope();
    Ok(ReportReach { exact: !national && user.can(Permission::IdentificationsRead), national })
}

/// Refuses a report over municipalities (by index) outside the reader's reach.
pub fn check_report_area(
    index: &TerritoryIndex,
    user: &AuthUser,
    reach: ReportReach,
    municipalities: Option<&[usize]>,
) -> ApiResult<()> {
    if reach.national {
        return Ok(());
    }
    let outside = || ApiError::new(ErrorCode::AreaOutsideScope);
    let Some(municipalities) = municipalities else { return Err(outside()) };
    let served = super::scope_area_ids(index, user);
    if municipalities.iter().all(|&m| served.contains(&index.area(m).id)) { Ok(()) } else { Err(outside()) }
}

/// The mapping of report codes to DHIS2 ids says what the country's systems receive: it is read
/// and changed by system administrators only.
pub fn may_manage_dhis2_mapping(user: &AuthUser) -> ApiResult<()> {
    if user.is_system_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("only a system administrator may read or change the DHIS2 mapping"))
    }
}
