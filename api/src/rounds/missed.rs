//! Missed rounds: when a round is planned or moved, a check is queued for its start plus the
//! agency's grace; a round still planned then is missed, and the agency's coordinators are alerted.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertSource, Severity};
use terren_contract::rounds::{PlanningPolicy, RoundStatus};

use super::store::{self, RoundRow};
use super::teams;
use crate::alerts::service::{NewAlert, raise};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{round_stops, rounds};
use crate::hotspots::service as hotspot_service;
use crate::http::ApiResult;
use crate::outbox::{self, JobPayload, kinds};
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::wire_code;

/// What the missed-round check carries: the start it was planned for, so that a round moved
/// later is judged by its new start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedCheck {
    pub round_id: String,
    pub starts_at: NaiveDateTime,
}

impl JobPayload for MissedCheck {
    const KIND: &'static str = kinds::ROUND_MISSED_CHECK;

    fn dedup_key(&self) -> String {
        format!("round:{}:missed:{}", self.round_id, self.starts_at.and_utc().timestamp())
    }
}

pub(super) fn schedule_missed_check(tx: &mut Tx<'_>, row: &RoundRow, policy: &PlanningPolicy) -> QueryResult<bool> {
    let due = row.starts_at + chrono::Duration::minutes(i64::from(policy.missed_after_minutes));
    let check = MissedCheck { round_id: row.id.clone(), starts_at: row.starts_at };
    outbox::enqueue_job(tx, &check, due, row.created_at)
}

/// The missed-round check: still planned at its start plus the agency's grace, the round is
/// missed and the agency's coordinators are alerted.
pub fn check_missed(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    check: &MissedCheck,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    let at = crate::clock::truncate(now);
    let missed = diesel::update(
        rounds::table
            .filter(rounds::id.eq(&check.round_id))
            .filter(rounds::starts_at.eq(check.starts_at))
            .filter(rounds::status.eq(wire_code(RoundStatus::Planned))),
    )
    .set((
        rounds::status.eq(wire_code(RoundStatus::Missed)),
        rounds::missed_at.eq(at),
        rounds::version.eq(rounds::version + 1),
        rounds::updated_at.eq(at),
    ))
    .execute(tx.conn())?;
    if missed == 0 {
        return Ok(false);
    }
    let row = store::load(tx, &check.round_id)?;
    let team = teams::load(tx, &row.team_id)?;
    let first_area: Option<String> = round_stops::table
        .filter(round_stops::round_id.eq(&row.id))
        .order(round_stops::position.asc())
        .select(round_stops::area_id)
        .first::<Option<String>>(tx.conn())
        .optional()?
        .flatten();
    let tz = hotspot_service::agency_zone(tx, &row.agency_id)?;
    let local = to_utc(row.starts_at).with_timezone(&tz).format("%Y-%m-%d %H:%M");
    let new = NewAlert {
        severity: Severity::Normal,
        source: AlertSource::RoundMissed,
        agency_id: row.agency_id.clone(),
        area_id: first_area.filter(|id| index.find_id(id).is_some()),
        title: format!("Dalje e humbur / Round missed: {}, {local}", team.name),
        details: Some("Askush nuk u regjistrua në kohë / Nobody checked in in time".into()),
        dedup_key: Some(format!("round:{}:missed", row.id)),
        identification_id: None,
        profile_id: None,
        referral_id: None,
        policy: Some(crate::alerts::coverage::coordinators_only()),
    };
    raise(tx, &Actor::system(), new, at)?;
    audit::record(tx, &Actor::system(), at, "round.missed", "round", &row.id, json!({ "team_id": row.team_id }))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn the_missed_round_check_keeps_its_stored_form() {
        let starts_at = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap().and_hms_opt(8, 0, 0).unwrap();
        let check = MissedCheck { round_id: "r1".into(), starts_at };
        assert_stored_form(r#"{"round_id":"r1","starts_at":"2026-12-03T08:00:00"}"#, &check);
        assert_eq!(check.dedup_key(), "round:r1:missed:1796284800");
        let with_millis = MissedCheck { starts_at: starts_at + chrono::Duration::milliseconds(250), ..check };
        assert_stored_form(r#"{"round_id":"r1","starts_at":"2026-12-03T08:00:00.250"}"#, &with_millis);
    }
}
