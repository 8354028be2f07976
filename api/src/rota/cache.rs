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

/// How long names and phone numbers are answered from memory.
pub(super) const PEOPLE_TTL_SECONDS: i64 = 60;
/// The stretches kept: from this long before the instant asked about …
pub(super) const BEFORE_DAYS: i64 = 2;
/// … to this long after it.
pub(super) const AFTER_DAYS: i64 = 3;

pub(super) struct Entry {
    pub(super) version: i32,
    pub(super) built_at: DateTime<Utc>,
    pub(super) from: DateTime<Utc>,
    pub(super) shifts: Vec<Shift>,
    pub(super) known: HashMap<String, OnDutyPerson>,
    pub(super) schedule_id: uuid::Uuid,
    pub(super) schedule_name: String,
    pub(super) agency: AgencyRef,
    pub(super) time_zone: String,
}

#[derive(Default)]
pub struct OnCallCache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl OnCallCache {
    pub(super) fn fresh(&self, id: &str, version: i32, now: DateTime<Utc>) -> Option<Arc<Entry>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|e| e.version == version && now - e.built_at < Duration::seconds(PEOPLE_TTL_SECONDS))
            .cloned()
    }

    pub(super) fn keep(&self, id: &str, entry: Arc<Entry>) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), entry);
    }
}
