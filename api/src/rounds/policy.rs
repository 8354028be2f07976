//! An agency's rules for rounds: whether people on duty may go out, when a round counts as
//! missed, how far from its stops a check-in may be without a reason.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::rounds::PlanningPolicy;

use crate::access::AuthUser;
use crate::audit;
use crate::db::schema::planning_policies;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::AgencyId;

pub fn default_policy() -> PlanningPolicy {
    PlanningPolicy { forbid_rounds_while_on_duty: false, missed_after_minutes: 30, far_check_in_km: 30.0 }
}

pub fn policy_of(conn: &mut DbConnection, agency_id: &AgencyId) -> ApiResult<PlanningPolicy> {
    let stored: Option<String> = planning_policies::table
        .filter(planning_policies::agency_id.eq(agency_id))
        .select(planning_policies::policy)
        .get_result(conn)
        .optional()?;
    match stored {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored planning policy of {agency_id}: {e}"))),
        None => Ok(default_policy()),
    }
}

pub fn put_policy(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    agency_id: &AgencyId,
    policy: &PlanningPolicy,
    at: NaiveDateTime,
) -> ApiResult<PlanningPolicy> {
    user.require(Permission::PlanningManage)?;
    if user.agency.id != *agency_id {
        return Err(ApiError::forbidden("an agency's planning policy is set by its own planners"));
    }
    let text = serde_json::to_string(policy).map_err(anyhow::Error::from)?;
    let exists: i64 =
        planning_policies::table.filter(planning_policies::agency_id.eq(agency_id)).count().get_result(tx.conn())?;
    if exists > 0 {
        diesel::update(planning_policies::table.filter(planning_policies::agency_id.eq(agency_id)))
            .set((
                planning_policies::policy.eq(&text),
                planning_policies::version.eq(planning_policies::version + 1),
                planning_policies::updated_by.eq(&user.user_id),
                planning_policies::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    } else {
        diesel::insert_into(planning_policies::table)
            .values((
                planning_policies::agency_id.eq(agency_id),
                planning_policies::policy.eq(&text),
                planning_policies::version.eq(1),
                planning_policies::updated_by.eq(&user.user_id),
                planning_policies::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    }
    audit::record(tx, &user.actor(), at, "planning_policy.put", "agency", agency_id, json!(policy))?;
    Ok(policy.clone())
}
