//! One page of a sync: the working set on a full sync, then what changed in it.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use terren_contract::sync::{AlertChanges, HotspotChanges, ReferralChanges, SyncPage};
use uuid::Uuid;

use super::cursor::{self, Position};
use super::working_set::{self, COLLECTIONS, Member};
use crate::access::AuthUser;
use crate::auth::tokens::TokenKeys;
use crate::changes;
use crate::db::Tx;
use crate::http::{ApiError, ApiResult};
use crate::territory::index::TerritoryIndex;

/// Records per page when the phone does not say.
pub const DEFAULT_LIMIT: u32 = 200;
pub const MAX_LIMIT: u32 = 500;

/// What a page needs besides the caller.
pub struct Settings<'a> {
    pub keys: &'a TokenKeys,
    pub index: &'a TerritoryIndex,
    /// Closed records made before this many days are not in the working set.
    pub window_days: i64,
    /// How long the change feed keeps entries, and so how long a cursor is good for.
    pub feed_days: i64,
}

/// Answers one sync call.
pub fn page(
    tx: &mut Tx<'_>,
    settings: &Settings<'_>,
    user: &AuthUser,
    cursor: Option<&str>,
    limit: Option<u32>,
    now: DateTime<Utc>,
) -> ApiResult<SyncPage> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "out_of_range", format!("1 to {MAX_LIMIT}")));
    }
    let at = crate::clock::truncate(now);
    let scope = cursor::scope_of(user);
    let given = cursor.map(|text| cursor::read(settings.keys, user, text, now)).transpose()?;
    let window_from = window_start(settings, at);
    let (position, reset) = match given {
        // A sync made under another scope starts over: what the phone holds may be out of reach.
        Some(position) if position.scope == scope => (position, false),
        _ => (
            Position {
                seq: changes::head(tx)?,
                scope,
                window_from: window_from.and_utc().timestamp(),
                full: Some(None),
            },
            true,
        ),
    };
    let mut answer = Answer::default();
    let (next, has_more) = match &position.full {
        Some(after) => full_page(tx, settings, user, after.as_ref(), limit, at, &mut answer)?
            .map_or((Position { full: None, ..position.clone() }, false), |last| {
                (Position { full: Some(Some(last)), ..position.clone() }, true)
            }),
        None => {
            if let Some(oldest) = changes::oldest_kept(tx)?
                && oldest > position.seq + 1
            {
                return Err(cursor::expired());
            }
            let (seq, more) = delta(tx, settings, user, position.seq, limit, at, &mut answer)?;
            let left_from = DateTime::from_timestamp(position.window_from, 0).unwrap_or(now).naive_utc();
            for kind in COLLECTIONS {
                for id in working_set::left_window(tx, user, kind, left_from, window_from)? {
                    answer.remove(kind, &id);
                }
            }
            let window_from = window_from.and_utc().timestamp().max(position.window_from);
            (Position { seq, window_from, ..position.clone() }, more)
        }
    };
    Ok(SyncPage {
        cursor: cursor::issue(settings.keys, user, next, now, Duration::days(settings.feed_days))?,
        has_more,
        reset,
        referrals: answer.referrals,
        alerts: answer.alerts,
        hotspots: answer.hotspots,
    })
}

#[derive(Default)]
struct Answer {
    referrals: ReferralChanges,
    alerts: AlertChanges,
    hotspots: HotspotChanges,
}

impl Answer {
    fn put(&mut self, member: Member) {
        match member {
            Member::Referral(referral) => self.referrals.put.push(*referral),
            Member::Alert(alert) => self.alerts.put.push(*alert),
            Member::Hotspot(hotspot) => self.hotspots.put.push(*hotspot),
        }
    }

    fn remove(&mut self, kind: &str, id: &str) {
        let Ok(id) = id.parse::<Uuid>() else { return };
        let removed = match kind {
            changes::kinds::REFERRAL => &mut self.referrals.remove,
            changes::kinds::ALERT => &mut self.alerts.remove,
            changes::kinds::HOTSPOT => &mut self.hotspots.remove,
            _ => return,
        };
        if !removed.contains(&id) {
            removed.push(id);
        }
    }
}

fn window_start(settings: &Settings<'_>, at: NaiveDateTime) -> NaiveDateTime {
    at - Duration::days(settings.window_days)
}

/// The next `limit` members after `after`, collection by collection; the last one sent when
/// more follow.
fn full_page(
    tx: &mut Tx<'_>,
    settings: &Settings<'_>,
    user: &AuthUser,
    after: Option<&(String, String)>,
    limit: u32,
    at: NaiveDateTime,
    answer: &mut Answer,
) -> ApiResult<Option<(String, String)>> {
    let start = window_start(settings, at);
    let first = after.map_or(0, |(kind, _)| COLLECTIONS.iter().position(|k| k == kind).unwrap_or(COLLECTIONS.len()));
    let mut sent = 0;
    let mut last: Option<(String, String)> = None;
    for kind in COLLECTIONS.iter().skip(first) {
        let ids = working_set::ids(tx, settings.index, user, kind, start, None)?;
        let from = match after {
            Some((after_kind, after_id)) if after_kind == kind => ids.partition_point(|id| id <= after_id),
            _ => 0,
        };
        for id in &ids[from..] {
            if sent == limit {
                return Ok(last);
            }
            if let Some(member) = working_set::view(tx, settings.index, user, kind, id, at)? {
                answer.put(member);
            }
            sent += 1;
            last = Some(((*kind).to_owned(), id.clone()));
        }
    }
    Ok(None)
}

/// What changed after `seq`, at most `limit` feed entries: each record of a synced collection
/// put as the caller sees it now, or removed when it is no longer in the working set. Returns the
/// last entry read and whether more follow.
fn delta(
    tx: &mut Tx<'_>,
    settings: &Settings<'_>,
    user: &AuthUser,
    seq: i64,
    limit: u32,
    at: NaiveDateTime,
    answer: &mut Answer,
) -> ApiResult<(i64, bool)> {
    let entries = changes::since(tx, seq, i64::from(limit))?;
    let more = entries.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let last = entries.last().map_or(seq, |entry| entry.seq);
    let start = window_start(settings, at);
    let mut seen = std::collections::HashSet::new();
    for entry in &entries {
        let kind = entry.record_kind.as_str();
        if !COLLECTIONS.contains(&kind) || !seen.insert((kind, entry.record_id.as_str())) {
            continue;
        }
        let member = if working_set::ids(tx, settings.index, user, kind, start, Some(&entry.record_id))?.is_empty() {
            None
        } else {
            working_set::view(tx, settings.index, user, kind, &entry.record_id, at)?
        };
        match member {
            Some(member) => answer.put(member),
            None => answer.remove(kind, &entry.record_id),
        }
    }
    Ok((last, more))
}
