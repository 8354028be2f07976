//! One page of a sync: the working set on a full sync, then what changed in it.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use terren_contract::sync::SyncPage;
use uuid::Uuid;

use super::answer::Answer;
use super::collections::{COLLECTIONS, Collection, Context, Selection};
use super::cursor::{self, Position};
use super::replicas::{Key, Replica, ReplicaCache};
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
    pub replicas: &'a ReplicaCache,
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
    let key = |position: &Position| Key {
        user: user.user_id.to_string(),
        scope: position.scope.clone(),
        seq: position.seq,
        synced_at: position.synced_at,
    };
    let (next, has_more, replica) = match &position.full {
        Some(after) => {
            let replica = settings.replicas.get_or_compute(key(&position), || live_replica(tx, &cx))?;
            let FullPage { last, hidden } = full_page(tx, &cx, &replica, after.as_ref(), limit, &mut answer)?;
            // What could not be shown after all was not sent: the phone does not hold it.
            let replica = if hidden.is_empty() {
                replica
            } else {
                settings.replicas.update(key(&position), replica, |copy| {
                    for (n, id) in &hidden {
                        copy.drop_id(*n, id);
                    }
                })
            };
            match last {
                Some(last) => (Position { full: Some(Some(last)), ..position.clone() }, true, None),
                None => (Position { full: None, ..position.clone() }, false, Some(replica)),
            }
        }
        None => {
            if let Some(oldest) = changes::oldest_kept(tx)?
                && oldest > position.seq + 1
            {
                return Err(cursor::expired());
            }
            let since = DateTime::from_timestamp(position.synced_at, 0).map_or(at, |t| t.naive_utc());
            let mut copy = settings.replicas.get(&key(&position)).map(|kept| (*kept).clone());
            let (seq, more) = delta(tx, &cx, position.seq, since, limit, &mut answer, copy.as_mut())?;
            // Time's effects are settled on the last page of a delta, and counted from then on.
            let synced_at = if more { position.synced_at } else { at.and_utc().timestamp() };
            let next = Position { seq, synced_at, ..position.clone() };
            let copy = match copy {
                Some(copy) => Some(copy),
                // Without a copy of what the phone held, the last page works out what it holds now.
                None if !more => Some(live_replica(tx, &cx)?),
                None => None,
            };
            let replica = copy.map(|copy| settings.replicas.insert(key(&next), copy));
            (next, more, replica.filter(|_| !more))
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
    if let Some(replica) = replica {
        page.checksums = Some(replica.checksums());
        page.on_call = Some(on_call(tx, settings.on_call, user, now)?);
        page.reference_etag = Some(super::reference::etag(&super::reference::load(tx, settings.index, user)?)?);
    }
    Ok(page)
}

/// What a page of a full sync sent.
struct FullPage {
    /// The last member sent (kind, id), when more follow.
    last: Option<(String, String)>,
    /// Members that could not be shown after all (collection index, id).
    hidden: Vec<(usize, Uuid)>,
}

/// The next `limit` members after `after`, collection by collection, from the members the full
/// sync began with.
fn full_page(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    replica: &Replica,
    after: Option<&(String, String)>,
    limit: u32,
    answer: &mut Answer,
) -> ApiResult<FullPage> {
    let first =
        after.map_or(0, |(kind, _)| COLLECTIONS.iter().position(|c| c.kind() == kind).unwrap_or(COLLECTIONS.len()));
    let after_id = after.and_then(|(_, id)| id.parse::<Uuid>().ok());
    let mut left = usize::try_from(limit).unwrap_or(usize::MAX);
    let (mut last, mut hidden) = (None::<(String, String)>, Vec::new());
    for (n, (collection, ids)) in COLLECTIONS.iter().zip(&replica.lists).enumerate().skip(first) {
        let kind = collection.kind();
        let from = match (after, after_id) {
            (Some((after_kind, _)), Some(after_id)) if after_kind == kind => ids.partition_point(|id| *id <= after_id),
            _ => 0,
        };
        let taken: Vec<String> = ids[from..(from + left).min(ids.len())].iter().map(Uuid::to_string).collect();
        for id in collection.put(tx, cx, &taken, answer)? {
            hidden.extend(id.parse().ok().map(|id| (n, id)));
        }
        left -= taken.len();
        if let Some(id) = taken.last() {
            last = Some((kind.to_owned(), id.clone()));
        }
        let more_here = from + taken.len() < ids.len();
        if left == 0 || more_here {
            let more_later = replica.lists.iter().skip(n + 1).any(|later| !later.is_empty());
            return Ok(FullPage { last: (more_here || more_later).then_some(last).flatten(), hidden });
        }
    }
    Ok(FullPage { last: None, hidden })
}

/// What changed after `seq`, at most `limit` feed entries, and on the last page the records time
/// moved in or out of the working set since `since`: each put as the caller sees it now, or
/// removed when it is no longer in the set, and so in `replica`, the copy of what the phone holds,
/// when there is one. Returns the last entry read and whether more follow.
fn delta(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    seq: i64,
    since: NaiveDateTime,
    limit: u32,
    answer: &mut Answer,
    mut replica: Option<&mut Replica>,
) -> ApiResult<(i64, bool)> {
    let entries = changes::since(tx, seq, i64::from(limit))?;
    let more = entries.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    let last = entries.last().map_or(seq, |entry| entry.seq);
    for (n, collection) in COLLECTIONS.iter().enumerate() {
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
            let held = settle(tx, cx, *collection, chunk, answer)?;
            if let Some(replica) = replica.as_deref_mut() {
                for id in chunk {
                    let Ok(uuid) = id.parse::<Uuid>() else { continue };
                    if held.contains(id) {
                        replica.hold(n, uuid);
                    } else {
                        replica.drop_id(n, &uuid);
                    }
                }
            }
        }
    }
    Ok((last, more))
}

/// Puts the candidates that are members, removes the others; returns those put.
fn settle(
    tx: &mut Tx<'_>,
    cx: &Context<'_>,
    collection: &dyn Collection,
    candidates: &[String],
    answer: &mut Answer,
) -> ApiResult<HashSet<String>> {
    let members = collection.ids(tx, cx, Selection::Only(candidates))?;
    let hidden: HashSet<String> = collection.put(tx, cx, &members, answer)?.into_iter().collect();
    for id in candidates.iter().filter(|id| members.binary_search(id).is_err() || hidden.contains(*id)) {
        answer.remove(collection.kind(), id);
    }
    Ok(members.into_iter().filter(|id| !hidden.contains(id)).collect())
}

/// Every member of every collection as it is now.
fn live_replica(conn: &mut DbConnection, cx: &Context<'_>) -> ApiResult<Replica> {
    let lists =
        COLLECTIONS.iter().map(|collection| collection.ids(conn, cx, Selection::All)).collect::<Result<_, _>>()?;
    Ok(Replica::from_ids(lists))
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
