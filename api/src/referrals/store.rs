//! A referral as stored: its row, its deadlines, and loading one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::referrals::{DeadlineState, Priority, ReferralStatus};

use super::routing::Place;
use crate::db::DbConnection;
use crate::db::schema::{referral_deadlines, referrals};
use crate::http::{ApiError, ApiResult};
use crate::identifications::store::parse_codes;
use crate::ids::{AgencyId, ReferralId};
use crate::vocabularies::parse_wire_code;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referrals)]
pub struct ReferralRow {
    pub id: ReferralId,
    pub chain_id: ReferralId,
    pub origin_agency_id: AgencyId,
    pub origin_user_id: String,
    pub forwarded_from: Option<ReferralId>,
    pub forwarded_to: Option<ReferralId>,
    pub identification_id: Option<String>,
    pub profile_id: Option<String>,
    pub subject_type: String,
    pub age_band: String,
    pub sex: String,
    pub municipality_id: Option<String>,
    pub admin_unit_id: Option<String>,
    pub street_situations: String,
    pub risk_level: Option<String>,
    pub from_agency_id: AgencyId,
    pub to_agency_id: AgencyId,
    pub routing_method: String,
    pub route_id: Option<String>,
    pub priority: String,
    pub reasons: String,
    pub services: String,
    pub notes: Option<String>,
    pub share: String,
    pub consent_given_by: Option<String>,
    pub consent_override_reason: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub decline_reason: Option<String>,
    pub suggested_agency_id: Option<AgencyId>,
    pub created_by: String,
    pub device_id: String,
    pub made_at: Option<NaiveDateTime>,
    pub sent_at: NaiveDateTime,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub responded_by: Option<String>,
    pub responded_at: Option<NaiveDateTime>,
    pub contacted_at: Option<NaiveDateTime>,
    pub ended_by: Option<String>,
    pub ended_at: Option<NaiveDateTime>,
    pub next_due_at: Option<NaiveDateTime>,
    pub content_hash: String,
    pub version: i32,
    pub updated_at: NaiveDateTime,
}

impl ReferralRow {
    pub(super) fn status(&self) -> ApiResult<ReferralStatus> {
        parse_wire_code(&self.status)
    }

    pub(super) fn priority(&self) -> ApiResult<Priority> {
        parse_wire_code(&self.priority)
    }

    pub(super) fn services(&self) -> Vec<String> {
        parse_codes(&self.services)
    }

    pub(super) fn place(&self) -> Place {
        Place { municipality_id: self.municipality_id.clone(), admin_unit_id: self.admin_unit_id.clone() }
    }

    /// Accepted at some point (a forwarded or closed referral may have been).
    pub fn was_accepted(&self) -> bool {
        self.responded_at.is_some() && self.decline_reason.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = referral_deadlines)]
pub struct DeadlineRow {
    pub referral_id: ReferralId,
    pub kind: String,
    pub due_at: NaiveDateTime,
    pub met_at: Option<NaiveDateTime>,
    pub breached_at: Option<NaiveDateTime>,
    pub void_at: Option<NaiveDateTime>,
}

impl DeadlineRow {
    /// Met late, or not met by its time (the referral still open or ended after it), is a
    /// breach, whether or not the checker ran yet.
    pub fn state(&self, now: NaiveDateTime) -> DeadlineState {
        let by_then = |at: NaiveDateTime, state| if at <= self.due_at { state } else { DeadlineState::Breached };
        match (self.met_at, self.breached_at, self.void_at) {
            (_, Some(_), _) => DeadlineState::Breached,
            (Some(met), None, _) => by_then(met, DeadlineState::Met),
            (None, None, Some(void)) => by_then(void, DeadlineState::Void),
            (None, None, None) => by_then(now, DeadlineState::Pending),
        }
    }
}

pub fn find(conn: &mut DbConnection, id: &ReferralId) -> QueryResult<Option<ReferralRow>> {
    referrals::table.filter(referrals::id.eq(id)).select(ReferralRow::as_select()).get_result(conn).optional()
}

pub fn load(conn: &mut DbConnection, id: &ReferralId) -> ApiResult<ReferralRow> {
    find(conn, id)?.ok_or_else(|| ApiError::not_found("referral"))
}
