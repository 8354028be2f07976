//! The daily coverage check: a 24/7 rota with nobody on duty ahead raises an alert to the
//! agency's coordinators, one open alert per rota until it is resolved.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use terren_contract::Role;
use terren_contract::alerts::{AlertSource, EscalationPolicyBody, EscalationStep, Severity, Target};

use super::service::{self, NewAlert};
use crate::audit::Actor;
use crate::db::schema::{agencies, schedules};
use crate::db::{PooledConn, Tx, backend};
use crate::http::ApiResult;
use crate::ids::{AgencyId, ScheduleId};
use crate::outbox::{self, JobPayload, kinds};
use crate::rota::service as rota;

/// When the check runs each day, in Tirana.
const CHECK_AT: NaiveTime = match NaiveTime::from_hms_opt(7, 0, 0) {
    Some(time) => time,
    None => NaiveTime::MIN,
};
/// Minutes coordinators have before they are reminded.
const COORDINATOR_WAIT_MINUTES: u32 = 60;

/// The daily coverage check, for the day (in Tirana) it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageCheck {
    pub day: NaiveDate,
}

impl JobPayload for CoverageCheck {
    const KIND: &'static str = kinds::COVERAGE_CHECK;

    fn dedup_key(&self) -> String {
        format!("coverage:{}", self.day)
    }
}

/// Schedules the next check (07:00 Tirana time after `now`) unless it is already scheduled.
pub fn enqueue_next(tx: &mut Tx<'_>, now: DateTime<Utc>, at: NaiveDateTime) -> QueryResult<bool> {
    outbox::enqueue_daily(tx, |day| CoverageCheck { day }, CHECK_AT, now, at)
}

pub fn coordinators_only() -> EscalationPolicyBody {
    EscalationPolicyBody {
        steps: vec![EscalationStep {
            targets: vec![Target::Role { role: Role::Coordinator }],
            wait_minutes: COORDINATOR_WAIT_MINUTES,
            only_when: Vec::new(),
        }],
        repeat: 1,
        fallback: Vec::new(),
    }
}

/// Checks every rota of every 24/7 agency for gaps in the next `days` and schedules tomorrow's
/// check. Returns the alerts raised.
pub fn run(conn: &mut PooledConn, now: DateTime<Utc>, days: i64) -> ApiResult<usize> {
    let at = crate::clock::truncate(now);
    backend::write_transaction(conn, |tx| {
        let rotas: Vec<(ScheduleId, AgencyId, String, String)> = schedules::table
            .inner_join(agencies::table)
            .filter(agencies::is_24_7.eq(true))
            .filter(agencies::active.eq(true))
            .filter(schedules::archived_at.is_null())
            .select((schedules::id, schedules::agency_id, schedules::name, schedules::time_zone))
            .load(tx.conn())?;
        let mut raised = 0;
        for (schedule_id, agency_id, name, zone) in rotas {
            let loaded = rota::load(tx, &schedule_id)?;
            let gaps = rota::gaps_ahead(tx, &loaded, now, days)?;
            let Some(first) = gaps.first() else { continue };
            let tz = crate::rota::layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
            let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
            let listed: Vec<String> = gaps.iter().map(|g| format!("{} – {}", local(g.start), local(g.end))).collect();
            let new = NewAlert {
                severity: Severity::High,
                source: AlertSource::ScheduleGap,
                agency_id,
                area_id: None,
                title: format!("Rota pa mbulim / Rota not covered: {name}, {}", local(first.start)),
                details: Some(format!("Pa mbulim / Not covered ({zone}):\n{}", listed.join("\n"))),
                dedup_key: Some(format!("schedule-gap:{schedule_id}")),
                identification_id: None,
                profile_id: None,
                referral_id: None,
                policy: Some(coordinators_only()),
            };
            if service::raise(tx, &Actor::system(), new, at)?.1 {
                raised += 1;
            }
        }
        enqueue_next(tx, now, at)?;
        Ok(raised)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn the_coverage_check_keeps_its_stored_form() {
        let check = CoverageCheck { day: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap() };
        assert_stored_form(r#"{"day":"2026-12-03"}"#, &check);
        assert_eq!(check.dedup_key(), "coverage:2026-12-03");
    }
}
