//! Who may see a sighting, and how much of it. A sighting is seen by the agency that recorded
//! it, by the agencies that serve the area it lies in (or one above it), and by an agency that an
//! accepted referral sharing details opened it to; to anybody else it does not exist (404). Its
//! exact location, the names told and the sensitive fields are shown by permission; national
//! statistics count the whole country.

use std::collections::HashSet;

use diesel::prelude::*;
use terren_contract::Permission;

use crate::access::{AuthUser, opens_identification, scope_area_ids};
use crate::db::DbConnection;
use crate::db::schema::identifications;
use crate::http::{ApiError, ApiResult};
use crate::identifications::privacy::widen_to_cells;
use crate::identifications::store::{Backend, IdentificationRow, find_row};
use crate::ids::AgencyId;
use crate::territory::index::TerritoryIndex;

/// Whether the reader's data scope covers the record: their own agency recorded it, or it lies
/// in an area their agency serves (or below one).
pub fn in_scope(index: &TerritoryIndex, user: &AuthUser, row: &IdentificationRow) -> bool {
    row.agency_id == user.agency.id || in_scope_within(&scope_area_ids(index, user), user, row)
}

/// [`in_scope`] with the reader's scope worked out once, for many sightings.
pub fn in_scope_within(scope: &HashSet<String>, user: &AuthUser, row: &IdentificationRow) -> bool {
    row.agency_id == user.agency.id
        || [&row.county_id, &row.municipality_id, &row.admin_unit_id].into_iter().flatten().any(|id| scope.contains(id))
}

/// One sighting the reader may see, or 404 (never 403: others' records are not confirmed). An
/// accepted referral that shares the details opens it to the receiving agency.
pub fn find_in_scope(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<IdentificationRow> {
    let Some(row) = find_row(conn, id)? else { return Err(ApiError::not_found("identification")) };
    if in_scope(index, user, &row) || opens_identification(conn, user, id)? {
        Ok(row)
    } else {
        Err(ApiError::not_found("identification"))
    }
}

/// The rule of [`in_scope`] as a query filter, for lists, maps and counts within the reader's
/// scope.
pub fn scope_filter(
    index: &TerritoryIndex,
    user: &AuthUser,
) -> Box<dyn BoxableExpression<identifications::table, Backend, SqlType = diesel::sql_types::Bool>> {
    Box::new(scope_expression(index, user))
}

/// [`scope_filter`] unboxed, for a subquery (a boxed expression cannot be one on both backends).
pub fn scope_expression(index: &TerritoryIndex, user: &AuthUser) -> ScopeExpression {
    let scope: Vec<String> = scope_area_ids(index, user).into_iter().collect();
    recorded_by_or_located_in(user.agency.id.clone(), scope.clone(), scope.clone(), scope)
}

pub type ScopeExpression = recorded_by_or_located_in;

/// Sightings the agency recorded or lying in any of the areas, at whichever level they were
/// resolved (the same area ids, given once per level).
#[diesel::dsl::auto_type]
fn recorded_by_or_located_in(
    agency: AgencyId,
    counties: Vec<String>,
    municipalities: Vec<String>,
    units: Vec<String>,
) -> _ {
    identifications::agency_id
        .eq(agency)
        .or(identifications::county_id.eq_any(counties).assume_not_null())
        .or(identifications::municipality_id.eq_any(municipalities).assume_not_null())
        .or(identifications::admin_unit_id.eq_any(units).assume_not_null())
}

/// What of a sighting (or a profile) the reader is shown beyond its coarse facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// Exact locations and place descriptions (`locations_read_precise`); otherwise the centre
    /// of the ~500 m cell the point falls in.
    pub precise: bool,
    /// Names told and notes (`children_read_names`).
    pub names: bool,
    /// Ethnicity, risk factors, exploitation indicators and visible conditions
    /// (`children_read_sensitive`).
    pub sensitive: bool,
}

pub fn shown(user: &AuthUser) -> Shown {
    Shown {
        precise: user.can(Permission::LocationsReadPrecise),
        names: user.can(Permission::ChildrenReadNames),
        sensitive: user.can(Permission::ChildrenReadSensitive),
    }
}

/// Whether the reader is shown this sighting's exact location. After the retention period the
/// stored location is the coarse one, for everyone.
pub fn shows_exact(user: &AuthUser, row: &IdentificationRow) -> bool {
    shown(user).precise && row.location_coarsened_at.is_none()
}

/// A search box (min_lon, min_lat, max_lon, max_lat) as the reader may draw it: widened to whole
/// coarse cells unless they see precise locations, so that a box cannot narrow a sighting down.
pub fn search_box(user: &AuthUser, bbox: (f64, f64, f64, f64)) -> (f64, f64, f64, f64) {
    if shown(user).precise { bbox } else { widen_to_cells(bbox) }
}

/// Which sightings a query may reach: the reader's scope, or the whole country for national
/// statistics (aggregates only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Scope,
    National,
}

/// Readers of sightings count within their scope; holders of national statistics count the
/// whole country.
pub fn statistics_reach(user: &AuthUser) -> ApiResult<Reach> {
    if user.can(Permission::IdentificationsRead) {
        Ok(Reach::Scope)
    } else if user.can(Permission::StatisticsRead) && user.national_scope() {
        Ok(Reach::National)
    } else {
        Err(ApiError::forbidden("this needs identifications_read, or statistics_read with national scope"))
    }
}

#[cfg(test)]
mod tests {
    use terren_contract::{Permission, Role};

    use super::*;
    use crate::access::testing::user;

    #[test]
    fn readers_count_in_their_scope_national_statistics_count_the_country_others_not_at_all() {
        let reader = user(&[Role::FieldWorker], &[Permission::IdentificationsRead, Permission::StatisticsRead]);
        assert_eq!(statistics_reach(&reader).ok(), Some(Reach::Scope));
        let national = user(&[Role::SystemAdmin], &[Permission::StatisticsRead]);
        assert!(national.national_scope());
        assert_eq!(statistics_reach(&national).ok(), Some(Reach::National));
        let local = user(&[Role::FieldWorker], &[Permission::StatisticsRead]);
        assert!(statistics_reach(&local).is_err());
    }

    #[test]
    fn without_precise_locations_a_search_box_covers_whole_cells() {
        let tiny = (19.8200, 41.3250, 19.8202, 41.3252);
        let precise = user(&[Role::FieldWorker], &[Permission::LocationsReadPrecise]);
        assert_eq!(search_box(&precise, tiny), tiny);
        assert_eq!(shown(&precise), Shown { precise: true, names: false, sensitive: false });
        let coarse = user(&[Role::FieldWorker], &[Permission::ChildrenReadNames]);
        assert_eq!(search_box(&coarse, tiny), widen_to_cells(tiny));
        assert_eq!(shown(&coarse), Shown { precise: false, names: true, sensitive: false });
    }
}
