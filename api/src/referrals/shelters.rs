//! Shelters: the service that asks for a shelter place, and the count of places in use that a
//! shelter's own staff report (routing passes over a full shelter).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::problem::FieldErrorCode;

use crate::access::AuthUser;
use crate::audit;
use crate::db::Tx;
use crate::db::schema::agencies;
use crate::http::{ApiError, ApiResult};
use crate::ids::AgencyId;

/// The service that asks for a shelter place.
pub const SHELTER_PLACEMENT: &str = "shelter_placement";
pub const SHELTER: &str = "shelter";

/// A shelter's own count of places in use.
pub fn put_occupancy(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    agency_id: &AgencyId,
    occupied: i32,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let same_agency = user.agency.id == *agency_id;
    if !(user.is_system_admin()
        || (same_agency && (user.can(Permission::ReferralsRespond) || user.can(Permission::AgenciesManage))))
    {
        return Err(ApiError::forbidden("a shelter's occupancy is reported by its own staff"));
    }
    let (agency_type, capacity): (String, Option<i32>) = agencies::table
        .filter(agencies::id.eq(agency_id))
        .select((agencies::agency_type, agencies::capacity))
        .get_result(tx.conn())
        .optional()?
        .ok_or_else(|| ApiError::not_found("agency"))?;
    if agency_type != SHELTER {
        return Err(ApiError::field("occupied", FieldErrorCode::InvalidValue, "only shelters report occupancy"));
    }
    if capacity.is_some_and(|capacity| occupied > capacity) {
        return Err(ApiError::field("occupied", FieldErrorCode::OutOfRange, "more places in use than the shelter has"));
    }
    diesel::update(agencies::table.filter(agencies::id.eq(agency_id)))
        .set((agencies::occupied.eq(occupied), agencies::occupancy_updated_at.eq(at)))
        .execute(tx.conn())?;
    audit::record(tx, &user.actor(), at, "agency.occupancy", "agency", agency_id, json!({ "occupied": occupied }))?;
    Ok(())
}
