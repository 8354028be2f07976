//! "Who is on call now" from memory. A schedule's final stretches around now are resolved once
//! and kept while the schedule's version is unchanged (every edit, override and swap moves it on,
//! and the version is read on every request, so all instances see a change at once). Names and
//! phone numbers are kept for at most [`PEOPLE_TTL_SECONDS`]. Paging never uses this cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use terren_contract::auth::AgencyRef;
use terren_contract::schedules::OnDutyPerson;

use super::resolve::Shift;
use crate::ids::ScheduleId;

/// How far ahead `on-call` looks for the next handoff, and back for when the current stretch began.
pub(super) const NEXT_HANDOFF_DAYS: i64 = 60;
/// How long names and phone numbers are answered from memory.
pub(super) const PEOPLE_TTL_SECONDS: i64 = 60;
/// The stretches kept, in days before and after the instant asked about: the first window that
/// shows when the current stretch began and the next handoff (a daily rota needs the first, a
/// weekly one the second, a rota whose stretches outlast a month the last: it reaches as far as
/// an answer looks back and ahead, and a day further so that it serves for a day).
pub(super) const WINDOWS_DAYS: [(i64, i64); 3] = [(2, 3), (8, 8), (NEXT_HANDOFF_DAYS, NEXT_HANDOFF_DAYS + 1)];

pub(super) struct Entry {
    pub(super) version: i32,
    pub(super) built_at: DateTime<Utc>,
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    pub(super) shifts: Vec<Shift>,
    pub(super) known: HashMap<String, OnDutyPerson>,
    pub(super) schedule_id: uuid::Uuid,
    pub(super) schedule_name: String,
    pub(super) agency: AgencyRef,
    pub(super) time_zone: String,
}

#[derive(Default)]
pub struct OnCallCache {
    entries: Mutex<HashMap<ScheduleId, Arc<Entry>>>,
}

impl OnCallCache {
    pub(super) fn fresh(&self, id: &ScheduleId, version: i32, now: DateTime<Utc>) -> Option<Arc<Entry>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|e| e.version == version && now - e.built_at < Duration::seconds(PEOPLE_TTL_SECONDS))
            .cloned()
    }

    pub(super) fn kept(&self, id: &ScheduleId) -> Option<Arc<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    pub(super) fn keep(&self, id: &ScheduleId, entry: Arc<Entry>) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), entry);
    }
}
