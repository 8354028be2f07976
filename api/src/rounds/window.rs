//! A round's window: from local wall-clock times or instants to UTC, DST-safe, at most a day
//! long, and not in the past.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use terren_contract::problem::FieldErrorCode;
use terren_contract::time::LocalOrInstant;

use crate::http::{ApiError, ApiResult};
use crate::rota::resolve::{end_instant, start_instant};

/// The longest round.
const MAX_ROUND_HOURS: i64 = 24;
/// A window in UTC from local wall-clock times in `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub local_date: NaiveDate,
}

fn local_window(tz: Tz, starts: NaiveDateTime, ends: NaiveDateTime) -> ApiResult<Window> {
    if ends <= starts {
        return Err(ApiError::field("ends_at", FieldErrorCode::EndsBeforeStart, "the round ends after it starts"));
    }
    if ends - starts > chrono::Duration::hours(MAX_ROUND_HOURS) {
        return Err(ApiError::field("ends_at", FieldErrorCode::OutOfRange, "a round lasts at most 24 hours"));
    }
    Ok(window_at(tz, starts, ends))
}

/// The window of a round as the client sent it: local wall-clock times, or instants with an
/// offset (kept exactly, so that a round read from the API can be written back unchanged), or
/// one of each.
pub(super) fn round_window(tz: Tz, starts: LocalOrInstant, ends: LocalOrInstant) -> ApiResult<Window> {
    if let (LocalOrInstant::Local(starts), LocalOrInstant::Local(ends)) = (starts, ends) {
        return local_window(tz, starts, ends);
    }
    let instant = |time: LocalOrInstant, local: fn(Tz, NaiveDateTime) -> DateTime<Utc>| match time {
        LocalOrInstant::Local(wall) => local(tz, wall),
        LocalOrInstant::Instant(at) => at.with_timezone(&Utc),
    };
    let starts_at = instant(starts, start_instant);
    let ends_at = instant(ends, end_instant);
    if ends_at <= starts_at {
        return Err(ApiError::field("ends_at", FieldErrorCode::EndsBeforeStart, "the round ends after it starts"));
    }
    if ends_at - starts_at > chrono::Duration::hours(MAX_ROUND_HOURS) {
        return Err(ApiError::field("ends_at", FieldErrorCode::OutOfRange, "a round lasts at most 24 hours"));
    }
    Ok(Window { starts_at, ends_at, local_date: starts_at.with_timezone(&tz).date_naive() })
}

/// The instants of a local window (`ends` after `starts`), DST-safe as rotas are: a start in a
/// spring gap moves to the gap's end, an ambiguous autumn hour counts from its first pass to its
/// second.
pub(super) fn window_at(tz: Tz, starts: NaiveDateTime, ends: NaiveDateTime) -> Window {
    let starts_at = start_instant(tz, starts);
    let mut ends_at = end_instant(tz, ends);
    if ends_at <= starts_at {
        // Wholly inside a spring gap the window would shrink to nothing: it keeps its length from
        // the end of the gap instead.
        ends_at = starts_at + (ends - starts);
    }
    Window { starts_at, ends_at, local_date: starts.date() }
}

pub(super) fn in_past(window: &Window, now: DateTime<Utc>) -> ApiResult<()> {
    if window.starts_at < now {
        return Err(ApiError::field("starts_at", FieldErrorCode::InPast, "a round is planned from now on"));
    }
    Ok(())
}
