//! An alert as stored, and loading one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::alerts::EscalationPolicyBody;

use crate::db::DbConnection;
use crate::db::schema::alerts;
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, AlertId, ReferralId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: AlertId,
    pub agency_id: AgencyId,
    pub area_id: Option<String>,
    pub severity: String,
    pub source: String,
    pub state: String,
    pub title: String,
    pub details: Option<String>,
    pub dedup_key: Option<String>,
    pub open_key: Option<String>,
    pub identification_id: Option<String>,
    pub profile_id: Option<String>,
    pub referral_id: Option<ReferralId>,
    pub policy: String,
    pub escalation_step: i32,
    pub escalation_round: i32,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub closed_by: Option<String>,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i32,
    pub updated_at: NaiveDateTime,
    pub unreachable_at: Option<NaiveDateTime>,
}

impl AlertRow {
    pub fn policy(&self) -> ApiResult<EscalationPolicyBody> {
        serde_json::from_str(&self.policy)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored policy of alert {} is invalid: {e}", self.id)))
    }
}

pub fn load(conn: &mut DbConnection, id: &AlertId) -> ApiResult<AlertRow> {
    alerts::table
        .filter(alerts::id.eq(id))
        .select(AlertRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("alert"))
}
