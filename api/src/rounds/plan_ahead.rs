//! The daily job that plans every round series ahead, at 03:00 in Tirana.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::Tx;
use crate::http::ApiResult;
use crate::outbox::{self, JobPayload, kinds};

/// When the daily planning of series runs, Tirana time.
const PLAN_AHEAD_AT: NaiveTime = match NaiveTime::from_hms_opt(3, 0, 0) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// The daily planning of series, for the day (in Tirana) it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAheadJob {
    pub day: NaiveDate,
}

impl JobPayload for PlanAheadJob {
    const KIND: &'static str = kinds::ROUNDS_PLAN_AHEAD;

    fn dedup_key(&self) -> String {
        format!("rounds-plan-ahead:{}", self.day)
    }
}

/// Makes sure the daily planning of series is scheduled.
pub fn enqueue_plan_ahead(tx: &mut Tx<'_>, now: DateTime<Utc>) -> QueryResult<bool> {
    outbox::enqueue_daily(tx, |day| PlanAheadJob { day }, PLAN_AHEAD_AT, now, crate::clock::truncate(now))
}

/// The daily job: plans every series ahead and schedules tomorrow's run.
pub fn run_plan_ahead(tx: &mut Tx<'_>, now: DateTime<Utc>) -> ApiResult<usize> {
    let planned = super::series::plan_ahead(tx, now)?;
    enqueue_plan_ahead(tx, now)?;
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn the_plan_ahead_job_keeps_its_stored_form() {
        let job = PlanAheadJob { day: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap() };
        assert_stored_form(r#"{"day":"2026-12-04"}"#, &job);
        assert_eq!(job.dedup_key(), "rounds-plan-ahead:2026-12-04");
    }
}
