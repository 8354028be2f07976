//! One page of a sync: the working set on a full sync, then what changed in it.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use terren_contract::sync::{SyncChecksums, SyncPage, collection_checksum};
use uuid::Uuid;

use super::answer::Answer;
use super::collections::{COLLECTIONS, Collection, Context, Selection};
use super::cursor::{self, Position};
use super::members::MembersCache;
use crate::access::AuthUser;
use crate::auth::tokens::TokenKeys;
use crate::changes;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::rota::cache::OnCallCache;
use crate::territory::index::TerritoryIndex;

/// Records per page when the phone does not say.
pub const DEFAULT_LIMIT: u32 = 200;

/// Ids per query when the members among many candidates are looked up.
const LOOKUP_CHUNK: usize = 500;

/// What a page needs besides the caller.
pub struct Settings<'a> {
    pub keys: &'a TokenKeys,
    pub index: &'a TerritoryIndex,
    pub on_call: &'a OnCallCache,
    pub members: &'a MembersCache,
    /// Closed records and sightings made before this many days are not in the working set.
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
    let at = crate::clock::truncate(now);
    let cx = Context { index: settings.index, user, at, window_days: settings.window_days };
    let scope = cursor::scope_of(tx, user)?;
    let given = cursor.map(|text| cursor::read(settings.keys, user, text, now)).transpose()?;
    let (position, reset) = match given {
        // A sync made under another scope starts over: what the phone holds may be out of reach.
        Some(position) if position.scope == scope => (position, false),
        _ => (Position { seq: changes::head(tx)?, scope, synced_at: at.and_utc().timestamp(), full: Some(None) }, true),
    };
    let mut answer = Answer::default();
    let (next, has_more) = match &position.full {
        Some(after) => {
            let key = (user.user_id.to_string(), position.seq, position.scope.clone());
            let lists = settings.members.get_or_compute(key.clone(), || {
                COLLECTIONS.iter().map(|collection| collection.ids(tx, &cx, Selection::All)).collect()
            })?;
            match full_page(tx, &cx, &lists, after.as_ref(), limit, &mut answer)? {
                Some(last) => (Position { full: Some(Some(last)), ..position.clone() }, true),
                None => {
                    settings.members.forget(&key);
                    (Position { full: None, ..position.clone() }, false)
                }
            }
        }
        None => {
            if let Some(oldest) = changes::oldest_kept(tx)?
                && oldest > position.seq + 1
            {
                return Err(cursor::expired());
            }
            let since = DateTime::from_timestamp(position.synced_at, 0).map_or(at, |t| t.naive_utc());
            let (seq, more) = delta(tx, &cx, position.seq, since, limit, &mut answer)?;
            // Time's effects are settled on the last page of a delta, and counted from then on.
            let synced_at = if more { position.synced_at } else { at.and_utc().timestamp() };
            (Position { seq, synced_at, ..position.clone() }, more)
        }
    };
    let mut page = SyncPage {
        cursor: cursor::issue(settings.keys, user, next, now, Duration::days(settings.feed_days))?,
        has_more,
        reset,
        referrals: answer.referrals,
        alerts: answer.alerts,
        hotspots: answer.hotspots,
        identifications: answer.identifications,
        profiles: answer.profiles,
        rounds: answer.rounds,
        on_call: None,
        checksums: None,
        reference_etag: None,
    };
    if !has_more {
        page.checksums = Some(checksums(tx, &cx)?);
        page.on_call = Some(on_call(tx, settings.on_call, user, now)?);
        page.reference_etag = Some(super::reference::etag(&super::reference::load(tx, settings.index, user)?)?);
    }
    Ok(page)
}

/// The next `limit` members after `after`, collection by collection, from the members the full
/// sync began with; the last one sent when more follow.
fn full_page(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    lists: &[Vec<String>],
    after: Option<&(String, String)>,
    limit: u32,
    answer: &mut Answer,
) -> ApiResult<Option<(String, String)>> {
    let first =
        after.map_or(0, |(kind, _)| COLLECTIONS.iter().position(|c| c.kind() == kind).unwrap_or(COLLECTIONS.len()));
    let mut left = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut last: Option<(String, String)> = None;
    for (n, (collection, ids)) in COLLECTIONS.iter().zip(lists).enumerate().skip(first) {
        let kind = collection.kind();
        let from = match after {
            Some((after_kind, after_id)) if after_kind == kind => ids.partition_point(|id| id <= after_id),
            _ => 0,
        };
        let taken = &ids[from..(from + left).min(ids.len())];
        collection.put(tx, cx, taken, answer)?;
        left -= taken.len();
        if let Some(id) = taken.last() {
            last = Some((kind.to_owned(), id.clone()));
        }
        let more_here = from + taken.len() < ids.len();
        if left == 0 || more_here {
            let more_later = lists.iter().skip(n + 1).any(|later| !later.is_empty());
            return Ok((more_here || more_later).then_some(last).flatten());
        }
    }
    Ok(None)
}

/// What changed after `seq`, at most `limit` feed entries, and on the last page the records time
/// moved in or out of the working set since `since`: each put as the caller sees it now, or
/// removed when it is no longer in the set. Returns the last entry read and whether more follow.
fn delta(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    seq: i64,
    since: NaiveDateTime,
    limit: u32,
    answer: &mut Answer,
) -> ApiResult<(i64, bool)> {
    let entries = changes::since(tx, seq, i64::from(limit))?;
    let more = entries.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let last = entries.last().map_or(seq, |entry| entry.seq);
    for collection in COLLECTIONS {
        let mut candidates: BTreeSet<String> = entries
            .iter()
            .filter(|entry| entry.record_kind == collection.kind())
            .map(|entry| entry.record_id.clone())
            .collect();
        if !more {
            candidates.extend(collection.moved(tx, cx, since)?);
        }
        let candidates: Vec<String> = candidates.into_iter().collect();
        for chunk in candidates.chunks(LOOKUP_CHUNK) {
            settle(tx, cx, collection, chunk, answer)?;
        }
    }
    Ok((last, more))
}

/// Puts the candidates that are members, removes the others.
fn settle(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    collection: &dyn Collection,
    candidates: &[String],
    answer: &mut Answer,
) -> ApiResult<()> {
    let members = collection.ids(tx, cx, Selection::Only(candidates))?;
    let hidden = collection.put(tx, cx, &members, answer)?;
    for id in candidates.iter().filter(|id| members.binary_search(id).is_err()).chain(&hidden) {
        answer.remove(collection.kind(), id);
    }
    Ok(())
}

/// The checksum of every collection of the working set as it is now.
fn checksums(conn: &mut DbConnection, cx: &Context<'_>) -> ApiResult<SyncChecksums> {
    let mut sum = |collection: &dyn Collection| -> ApiResult<u32> {
        let ids = collection.ids(conn, cx, Selection::All)?;
        let ids: Vec<Uuid> = ids.iter().filter_map(|id| id.parse().ok()).collect();
        Ok(collection_checksum(&ids))
    };
    let [referrals, alerts, hotspots, identifications, profiles, rounds] = COLLECTIONS;
    Ok(SyncChecksums {
        referrals: sum(referrals)?,
        alerts: sum(alerts)?,
        hotspots: sum(hotspots)?,
        identifications: sum(identifications)?,
        profiles: sum(profiles)?,
        rounds: sum(rounds)?,
    })
}

/// Who is on duty now and next for the caller's agency.
fn on_call(
    conn: &mut DbConnection,
    cache: &OnCallCache,
    user: &AuthUser,
    now: DateTime<Utc>,
) -> ApiResult<Vec<terren_contract::schedules::OnCall>> {
    let live = crate::rota::service::live_schedules(conn, std::slice::from_ref(&user.agency.id))?;
    live.iter().map(|(_, id, version)| cache.on_call(conn, id, *version, now, now)).collect()
}
