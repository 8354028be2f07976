//! "Who is on call now", answered from [`OnCallCache`] while a schedule's version is unchanged
//! and resolved afresh otherwise.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use terren_contract::schedules::OnCall;

use super::cache::{Entry, NEXT_HANDOFF_DAYS, OnCallCache, WINDOWS_DAYS};
use super::resolve::Shift;
use super::service::{self, Loaded, people};
use super::shifts::{self, on_duty_list, source_view};
use crate::accounts::service::agency_ref_of;
use crate::db::DbConnection;
use crate::http::ApiResult;
use crate::ids::ScheduleId;

/// Where `at` falls among the stretches resolved over `[from, to)`: the current stretch, the next
/// one and when the current one began, when the stretches show what [`shifts::on_call_of`] would
/// (when the current stretch began, or that it began before the furthest it looks back; the next
/// handoff, or that there is none as far as it looks ahead).
struct Place {
    current: usize,
    next: Option<usize>,
    began: DateTime<Utc>,
}

fn place(shifts: &[Shift], (from, to): (DateTime<Utc>, DateTime<Utc>), at: DateTime<Utc>) -> Option<Place> {
    let horizon = Duration::days(NEXT_HANDOFF_DAYS);
    let current = shifts.iter().position(|s| s.start <= at && at < s.end)?;
    let next = match shifts.get(current + 1) {
        Some(next) if next.start < at + horizon => Some(current + 1),
        _ if to >= at + horizon => None,
        _ => return None,
    };
    // A stretch that began at the window's start may have begun earlier.
    let start = shifts[current].start;
    let began = if start > from {
        start.max(at - horizon)
    } else if from <= at - horizon {
        at - horizon
    } else {
        return None;
    };
    Some(Place { current, next, began })
}

impl Entry {
    /// What is kept of `shifts`, resolved over `window`, with the names and phones of their people.
    fn build(
        conn: &mut DbConnection,
        loaded: &Loaded,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        shifts: Vec<Shift>,
        now: DateTime<Utc>,
    ) -> ApiResult<Entry> {
        let everyone: BTreeSet<String> = shifts.iter().flat_map(|s| s.people.iter().cloned()).collect();
        Ok(Entry {
            version: loaded.row.version,
            built_at: now,
            from,
            to,
            known: people(conn, &everyone)?,
            shifts,
            schedule_id: loaded.row.id.uuid()?,
            schedule_name: loaded.row.name.clone(),
            agency: agency_ref_of(conn, &loaded.row.agency_id)?,
            time_zone: loaded.row.time_zone.clone(),
        })
    }

    /// The answer at `at`, when what is kept shows it (see [`place`]).
    fn answer(&self, at: DateTime<Utc>) -> Option<ApiResult<OnCall>> {
        let Place { current, next, began } = place(&self.shifts, (self.from, self.to), at)?;
        let (current, next) = (&self.shifts[current], next.map(|next| &self.shifts[next]));
        let is_gap = current.people.is_empty() && current.sources.is_empty();
        Some(current.sources.iter().map(source_view).collect::<ApiResult<Vec<_>>>().map(|sources| OnCall {
            schedule_id: self.schedule_id,
            schedule_name: self.schedule_name.clone(),
            agency: self.agency.clone(),
            time_zone: self.time_zone.clone(),
            at,
            on_duty: on_duty_list(&current.people, &self.known),
            sources,
            since: if is_gap { None } else { Some(began) },
            next_handoff: next.map(|next| next.start),
            next_on_duty: next.map(|next| on_duty_list(&next.people, &self.known)).unwrap_or_default(),
        }))
    }
}

impl OnCallCache {
    /// Whether what is kept for schedule `id`, whatever its version and age, answers for `at`.
    pub fn answers_from_memory(&self, id: &ScheduleId, at: DateTime<Utc>) -> bool {
        self.kept(id).is_some_and(|entry| entry.answer(at).is_some())
    }

    /// Who is on duty at `at` in schedule `id`, whose current version is `version`.
    pub fn on_call(
        &self,
        conn: &mut DbConnection,
        id: &ScheduleId,
        version: i32,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> ApiResult<OnCall> {
        if let Some(answer) = self.fresh(id, version, now).and_then(|entry| entry.answer(at)) {
            return answer;
        }
        let loaded = service::load(conn, id)?;
        for (before_days, after_days) in WINDOWS_DAYS {
            let window = (at - Duration::days(before_days), at + Duration::days(after_days));
            let shifts = loaded.resolve(conn, window.0, window.1)?;
            // Names, phones and the agency are read only for the window that answers.
            if place(&shifts, window, at).is_some() {
                let entry = Arc::new(Entry::build(conn, &loaded, window, shifts, now)?);
                let answer = entry.answer(at);
                self.keep(id, entry);
                if let Some(answer) = answer {
                    return answer;
                }
            }
        }
        // A stretch longer than the widest window: resolve further, without keeping it.
        shifts::on_call_of(conn, &loaded, at)
    }
}
